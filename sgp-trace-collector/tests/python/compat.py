"""Compatibility check: the official `scale-gp-beta` client against the collector.

Run by tests/python_client.rs with SGP_CLIENT_BASE_URL pointing at a collector,
inside a venv that has `scale-gp-beta` installed. Exits non-zero on any failure.
"""

import datetime
import os
import sys
import uuid

from scale_gp_beta import SGPClient, APIStatusError
from scale_gp_beta.types import Span
from scale_gp_beta.types.api_list_span import APIListSpan


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


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
    ended = client.spans.upsert_batch(
        items=[
            {"name": "retrieve", "trace_id": trace_id, "id": child_id, "parent_id": root_id,
             "start_timestamp": t0 + datetime.timedelta(seconds=1),
             "end_timestamp": t0 + datetime.timedelta(seconds=3), "status": "SUCCESS",
             "type": "KB_RETRIEVAL", "output": {"docs": 3}},
            {"name": "agent run", "trace_id": trace_id, "id": root_id, "start_timestamp": t0,
             "end_timestamp": t0 + datetime.timedelta(seconds=5), "status": "SUCCESS", "type": "TRACER",
             "input": {"question": "capital of France?"}, "output": {"answer": "Paris"},
             "metadata": {"env": "compat"}},
        ]
    )
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
