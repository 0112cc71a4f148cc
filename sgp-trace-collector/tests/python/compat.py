"""Compatibility check: the official `scale-gp-beta` client against the collector.

Run by tests/python_client.rs with SGP_CLIENT_BASE_URL pointing at a collector,
inside a venv that has `scale-gp-beta` installed. Exits non-zero on any failure.
"""

import datetime
import os
import sys
import uuid

from scale_gp_beta import SGPClient, APIStatusError
from scale_gp_beta.pagination import SyncCursorPage
from scale_gp_beta.types import Span
from scale_gp_beta.types.api_list_span import APIListSpan
from scale_gp_beta.types.span_create_param import SpanCreateParam
from scale_gp_beta.types.span_search_params import SpanSearchParams
from scale_gp_beta.types.span_update_params import SpanUpdateParams

# Span fields the collector never fills: it keeps no identities and no token
# usage (as an account on SGP's legacy trace store answers them).
NEVER_FILLED = {"created_by", "input_tokens", "output_tokens"}


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def status_of(call):
    """The HTTP status of an APIStatusError raised by call(), or None."""
    try:
        call()
    except APIStatusError as e:
        return e.status_code, e.body.get("error", {}).get("field") if isinstance(e.body, dict) else None
    return None


def check_span_fields(span, sent, what):
    """Checks every field of the client's Span model against what was sent."""
    check(not span.model_extra, f"{what}: no field outside the Span model ({span.model_extra})")
    for field in Span.model_fields:
        got = getattr(span, field)
        if field in sent:
            want = sent[field]
        elif field == "account_id":
            want = os.environ["SGP_ACCOUNT_ID"]
        elif field == "object":
            want = "span"
        elif field in NEVER_FILLED:
            want = None
        else:
            check(False, f"{what}: the check knows Span field {field}")
        check(got == want, f"{what}: {field} is {want!r} (got {got!r})")


def as_stored(item):
    """What the collector stores of an item: the fields it was sent, a type
    when it was sent none (TRACER for a root, STANDALONE below one), the other
    fields of SpanCreateParam unset."""
    unset = dict.fromkeys(SpanCreateParam.__annotations__)
    unset["type"] = "STANDALONE" if item.get("parent_id") else "TRACER"
    return {**unset, **item}


def check_search_page(page, sent, what):
    """Checks that a search answer is the client's cursor page of Span and
    every field of each span it lists against what was sent (by id)."""
    check(type(page) is SyncCursorPage[Span],
          f"{what}: the answer parses as SyncCursorPage[Span] ({type(page).__name__})")
    by_id = {item["id"]: item for item in sent}
    for span in page.items:
        check(isinstance(span, Span), f"{what}: {span.id} parses as Span")
        check_span_fields(span, as_stored(by_id[span.id]), f"{what}: {span.id}")


def full_item(t0, **over):
    """A span item with every field of the client's SpanCreateParam."""
    item = {
        "name": "every field", "trace_id": str(uuid.uuid4()), "id": str(uuid.uuid4()),
        "start_timestamp": t0, "end_timestamp": t0 + datetime.timedelta(milliseconds=1500),
        "parent_id": "a-parent-not-yet-sent", "group_id": "group-7", "status": "SUCCESS",
        "type": "COMPLETION", "input": {"messages": [{"role": "user", "content": "hi"}]},
        "output": {"text": "hello"}, "metadata": {"model": "m", "n": [1, 2.5, None]},
        "expected": {"text": "hello!"}, "obs_trace_id": "0af7651916cd43dd8448eb211c80319c",
        "obs_span_id": "b7ad6b7169203331", "application_interaction_id": "interaction-1",
        "application_variant_id": "variant-1",
    }
    item.update(over)
    return item


def check_create_and_batch(client, t0):
    item = full_item(t0)
    check(set(item) == set(SpanCreateParam.__annotations__),
          f"the item covers SpanCreateParam ({sorted(set(SpanCreateParam.__annotations__) ^ set(item))})")
    created = client.spans.create(**item)
    check(isinstance(created, Span), "create answer parses as Span")
    check_span_fields(created, item, "create")
    check_span_fields(client.spans.retrieve(item["id"]), item, "retrieve after create")
    found = client.spans.search(span_ids=[item["id"]])
    check([s.id for s in found.items] == [item["id"]], "search finds the created span")
    check_search_page(found, [item], "search after create")
    check(status_of(lambda: client.spans.create(**item)) == (409, "id"), "create of an existing span is a 409")

    items = [full_item(t0, name=f"batch {i}") for i in range(2)]
    listed = client.spans.batch(items=items)
    check(isinstance(listed, APIListSpan) and listed.object == "list", "batch answer parses as APIListSpan")
    for span, sent in zip(listed.items, items):
        check_span_fields(span, sent, f"batch {sent['name']}")
    check(status_of(lambda: client.spans.batch(items=items[:1])) == (409, "id"), "batch insert of an existing span is a 409")
    upserted = client.spans.upsert_batch(items=[dict(items[0], output={"text": "again"})])
    check_span_fields(upserted.items[0], dict(items[0], output={"text": "again"}), "upsert_batch replacing a span")
    check(status_of(lambda: client.spans.retrieve("no-such-span")) == (404, "span_id"), "retrieve of an unknown span is a 404")


def check_update(client, t0):
    item = full_item(t0, end_timestamp=None, status=None, output=None, name="to update")
    item = {k: v for k, v in item.items() if v is not None}
    client.spans.upsert_batch(items=[item])
    update = {"name": "updated", "output": {"answer": 42}, "metadata": {"k": "v"},
              "status": "ERROR", "end_timestamp": t0 + datetime.timedelta(seconds=3)}
    check(set(update) == set(SpanUpdateParams.__annotations__), "the update covers SpanUpdateParams")
    updated = client.spans.update(item["id"], **update)
    check(isinstance(updated, Span), "update answer parses as Span")
    check_span_fields(updated, dict(item, **update), "update")
    check_span_fields(client.spans.retrieve(item["id"]), dict(item, **update), "retrieve after update")
    partial = client.spans.update(item["id"], status="SUCCESS")
    check_span_fields(partial, {**item, **update, "status": "SUCCESS"}, "update of one field")

    before = client.spans.retrieve(item["id"])
    check(status_of(lambda: client.spans.update(item["id"], status="DONE")) == (422, "status"), "update to an invalid status is a 422")
    check(status_of(lambda: client.spans.update(item["id"], name="x", end_timestamp=t0 - datetime.timedelta(seconds=1)))
          == (422, "end_timestamp"), "update to an end before the start is a 422")
    check(client.spans.retrieve(item["id"]) == before, "a refused update changes nothing")
    check(status_of(lambda: client.spans.update("no-such-span", name="x")) == (404, "span_id"), "update of an unknown span is a 404")
    other = SGPClient(max_retries=0, account_id="another-account")
    check(status_of(lambda: other.spans.update(item["id"], name="stolen")) == (404, "span_id"), "update of another account's span is a 404")
    check(client.spans.retrieve(item["id"]).name == "updated", "another account's update changed nothing")


def check_every_search_filter(client):
    t1 = datetime.datetime(2024, 6, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
    at = lambda s: t1 + datetime.timedelta(seconds=s)
    trace_a, trace_b = str(uuid.uuid4()), str(uuid.uuid4())
    root, llm, kb, other = (str(uuid.uuid4()) for _ in range(4))
    obs_trace, obs_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    sent = [
        {"name": "search root", "trace_id": trace_a, "id": root, "start_timestamp": at(0), "end_timestamp": at(5),
         "status": "SUCCESS", "type": "TRACER", "group_id": "search-group", "input": {"q": "hello world"},
         "metadata": {"env": "prod", "tags": ["a", "b"]}, "application_variant_id": "variant-search",
         "obs_trace_id": obs_trace, "obs_span_id": obs_span},
        {"name": "llm call", "trace_id": trace_a, "id": llm, "parent_id": root, "start_timestamp": at(1),
         "end_timestamp": at(2), "status": "ERROR", "type": "COMPLETION"},
        {"name": "kb lookup", "trace_id": trace_a, "id": kb, "parent_id": root, "start_timestamp": at(3),
         "type": "KB_RETRIEVAL"},
        {"name": "other root", "trace_id": trace_b, "id": other, "start_timestamp": at(10),
         "end_timestamp": at(10.1), "status": "SUCCESS", "metadata": {"env": "dev"}},
    ]
    client.spans.upsert_batch(items=sent)
    both = [trace_a, trace_b]
    # Spans sent with some fields only: search still answers every field of
    # the client's Span, on a page past a cursor too (below).
    listed = client.spans.search(trace_ids=both)
    check({s.id for s in listed.items} == {item["id"] for item in sent}, "search lists the spans sent in part")
    check_search_page(listed, sent, "search of spans sent in part")
    everything = {root, llm, kb, other}

    def ids(**params):
        params.setdefault("trace_ids", both)
        return [s.id for s in client.spans.search(**params).items]

    def same(**params):
        return set(ids(**params))

    page1 = client.spans.search(trace_ids=both, sort_order="asc", limit=2)
    page2 = client.spans.search(trace_ids=both, sort_order="asc", limit=2, starting_after=page1.items[-1].id)
    check_search_page(page2, sent, "search past a cursor")
    unsupported = lambda field: status_of(lambda: client.spans.search(trace_ids=both, **{field: ["x"]})) == (422, field)
    checks = {
        "allow_partial_results": lambda: same(allow_partial_results=True) == everything,
        "limit": lambda: len(page1.items) == 2 and page1.has_more is True,
        "starting_after": lambda: [s.id for s in page2.items] == [kb, other] and page2.has_more is False,
        "ending_before": lambda: ids(sort_order="asc", limit=2, ending_before=page2.items[0].id) == [root, llm],
        "sort_order": lambda: ids(sort_order="desc") == [other, kb, llm, root],
        "sort_by": lambda: ids(sort_by="duration_ms", sort_order="desc") == [root, llm, other, kb]
        and status_of(lambda: ids(sort_by="input_tokens")) == (422, "sort_by"),
        "from_ts": lambda: same(from_ts=at(2.5)) == {kb, other},
        "to_ts": lambda: same(to_ts=at(2.5)) == {root, llm}
        and status_of(lambda: ids(from_ts=at(3), to_ts=at(1))) == (422, "from_ts"),
        "acp_types": lambda: unsupported("acp_types"),
        "agentex_agent_ids": lambda: unsupported("agentex_agent_ids"),
        "agentex_agent_names": lambda: unsupported("agentex_agent_names"),
        "application_variant_ids": lambda: same(application_variant_ids=["variant-search"]) == {root},
        "assessment_types": lambda: same(assessment_types=["accuracy"]) == set(),
        "excluded_span_ids": lambda: same(excluded_span_ids=[llm]) == everything - {llm},
        "excluded_spans": lambda: same(excluded_spans=[{"trace_id": trace_a, "span_id": llm},
                                                       {"trace_id": trace_b, "span_id": root}]) == everything - {llm},
        "excluded_trace_ids": lambda: same(excluded_trace_ids=[trace_b]) == {root, llm, kb},
        "extra_metadata": lambda: same(extra_metadata={"env": "prod", "tags": "a"}) == {root}
        and same(extra_metadata={"env": "dev"}) == {other},
        "group_id": lambda: same(group_id="search-group") == {root},
        "max_duration_ms": lambda: same(max_duration_ms=1000) == {llm, other},
        "min_duration_ms": lambda: same(min_duration_ms=2000) == {root},
        "names": lambda: same(names=["llm call", "kb lookup"]) == {llm, kb},
        "obs_span_ids": lambda: same(obs_span_ids=[obs_span]) == {root}
        and status_of(lambda: ids(obs_span_ids=["XYZ"])) == (422, "obs_span_ids"),
        "obs_trace_ids": lambda: same(obs_trace_ids=[obs_trace]) == {root}
        and status_of(lambda: ids(obs_trace_ids=["abc"])) == (422, "obs_trace_ids"),
        "parent_ids": lambda: same(parent_ids=[root]) == {llm, kb},
        "parents_only": lambda: same(parents_only=True) == {root, other},
        "search_texts": lambda: same(search_texts=["hello", "prod"]) == {root},
        "span_ids": lambda: same(span_ids=[llm, other]) == {llm, other},
        "spans": lambda: same(spans=[{"trace_id": trace_a, "span_id": llm},
                                     {"trace_id": trace_a, "span_id": other}]) == {llm},
        "statuses": lambda: same(statuses=["ERROR"]) == {llm},
        "trace_ids": lambda: same(trace_ids=[trace_b]) == {other},
        "types": lambda: same(types=["COMPLETION", "KB_RETRIEVAL"]) == {llm, kb},
        # Project-scoped listing is an account setting SGP turns on; it is off here.
        "x_project_id": lambda: same(x_project_id="project-1") == everything,
    }
    offered = set(SpanSearchParams.__annotations__)
    check(set(checks) == offered, f"every search parameter is checked ({sorted(offered ^ set(checks))})")
    for name, run in sorted(checks.items()):
        check(run(), f"search {name}")


def main():
    # Credentials and the URL come from the environment, as users set them.
    client = SGPClient(max_retries=0)
    t0 = datetime.datetime(2024, 5, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
    trace_id = str(uuid.uuid4())
    root_id, child_id = str(uuid.uuid4()), str(uuid.uuid4())

    # Start events, then end events, through upsert_batch.
    started = client.spans.upsert_batch(
        items=[
            {"name": "agent run", "trace_id": trace_id, "id": root_id, "start_timestamp": t0,
             "type": "TRACER", "input": {"question": "capital of France?"}, "metadata": {"env": "compat"}},
            {"name": "retrieve", "trace_id": trace_id, "id": child_id, "parent_id": root_id,
             "start_timestamp": t0 + datetime.timedelta(seconds=1), "type": "KB_RETRIEVAL"},
        ]
    )
    check(isinstance(started, APIListSpan) and len(started.items) == 2, "upsert_batch answer parses as APIListSpan")
    check(started.items[0].end_timestamp is None, "a started span has no end")
    end_events = [
        {"name": "retrieve", "trace_id": trace_id, "id": child_id, "parent_id": root_id,
         "start_timestamp": t0 + datetime.timedelta(seconds=1),
         "end_timestamp": t0 + datetime.timedelta(seconds=3), "status": "SUCCESS",
         "type": "KB_RETRIEVAL", "output": {"docs": 3}},
        {"name": "agent run", "trace_id": trace_id, "id": root_id, "start_timestamp": t0,
         "end_timestamp": t0 + datetime.timedelta(seconds=5), "status": "SUCCESS", "type": "TRACER",
         "input": {"question": "capital of France?"}, "output": {"answer": "Paris"},
         "metadata": {"env": "compat"}},
    ]
    ended = client.spans.upsert_batch(items=end_events)
    check(all(s.status == "SUCCESS" for s in ended.items), "end events stored")

    # retrieve: the client's own Span model.
    span = client.spans.retrieve(child_id)
    check(isinstance(span, Span), "retrieve answer parses as Span")
    check(span.id == child_id and span.parent_id == root_id and span.trace_id == trace_id, "retrieve ids")
    check(span.account_id == os.environ["SGP_ACCOUNT_ID"], "retrieve account_id")
    check(span.end_timestamp - span.start_timestamp == datetime.timedelta(seconds=2), "retrieve timestamps")
    check(span.output == {"docs": 3} and span.type == "KB_RETRIEVAL", "retrieve output and type")

    # search: filters in the body, paging in the query string; the client's cursor page.
    page = client.spans.search(trace_ids=[trace_id], sort_order="asc")
    ids = [s.id for s in page.items]
    check(ids == [root_id, child_id], f"search by trace ({ids})")
    check_search_page(page, end_events, "search by trace")
    roots = client.spans.search(trace_ids=[trace_id], parents_only=True)
    check([s.id for s in roots.items] == [root_id], "search parents_only")
    found = client.spans.search(extra_metadata={"env": "compat"}, search_texts=["paris"])
    check([s.id for s in found.items] == [root_id], "search extra_metadata and search_texts")

    # Auto-pagination over many spans, 7 per page.
    many_trace = str(uuid.uuid4())
    items = [{"name": f"s{i}", "trace_id": many_trace, "id": f"p{i:02d}",
              "start_timestamp": t0 + datetime.timedelta(seconds=i)} for i in range(20)]
    client.spans.upsert_batch(items=items)
    seen = [s.id for s in client.spans.search(trace_ids=[many_trace], limit=7, sort_order="asc")]
    check(seen == [f"p{i:02d}" for i in range(20)], f"auto-pagination visits every span once ({len(seen)})")

    # An error answer is an APIStatusError with our JSON body.
    try:
        client.spans.upsert_batch(items=[{"name": "bad", "trace_id": trace_id, "id": "bad",
                                          "start_timestamp": t0 + datetime.timedelta(seconds=9),
                                          "end_timestamp": t0}])
        check(False, "end before start is rejected")
    except APIStatusError as e:
        check(e.status_code == 422, f"end before start is a 422 ({e.status_code})")
        check(e.body["error"]["field"] == "end_timestamp", "the error names the field")

    check_create_and_batch(client, t0)
    check_update(client, t0)
    check_every_search_filter(client)

    # The tracing SDK sends to the collector too.
    from scale_gp_beta.lib import tracing
    tracing.init(client)
    with tracing.create_trace("sdk trace") as trace:
        with tracing.create_span("sdk span", input={"x": 1}) as s:
            s.output = {"y": 2}
    tracing.flush_queue()
    sdk = client.spans.search(trace_ids=[trace.trace_id], sort_order="asc")
    names = [(s.name, s.end_timestamp is not None) for s in sdk.items]
    check(names == [("sdk trace", True), ("sdk span", True)], f"tracing SDK spans arrive complete ({names})")
    print("compat: all checks passed")


if __name__ == "__main__":
    main()
