//! Writing spans: upsert semantics, validation and rejections, over real HTTP.

mod common;

use common::{item, Api};
use serde_json::{json, Value};
use sgp_trace_collector::{Collector, CollectorConfig};

fn ids(spans: &[Value]) -> Vec<&str> {
    spans.iter().map(|s| s["id"].as_str().unwrap()).collect()
}

#[test]
fn upsert_keeps_the_completed_span_whatever_the_order() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    // Start then end.
    assert_eq!(
        api.upsert(vec![item("t1", "a", None, "root", 0, None)])
            .status,
        200
    );
    assert_eq!(
        api.upsert(vec![item("t1", "a", None, "root", 0, Some(5))])
            .status,
        200
    );
    // End then start: the late start event must not overwrite the end.
    assert_eq!(
        api.upsert(vec![item("t2", "b", None, "root", 0, Some(5))])
            .status,
        200
    );
    let late = api.upsert(vec![item("t2", "b", None, "root", 0, None)]);
    assert_eq!(late.status, 200);
    assert_eq!(
        late.json["items"][0]["end_timestamp"],
        "2024-05-01T10:00:05.000000Z"
    );
    // Only the end event.
    assert_eq!(
        api.upsert(vec![item("t3", "c", None, "root", 0, Some(5))])
            .status,
        200
    );
    // Both events in one batch, end first.
    let both = api.upsert(vec![
        item("t4", "d", None, "root", 0, Some(5)),
        item("t4", "d", None, "root", 0, None),
    ]);
    assert_eq!(both.status, 200);
    assert_eq!(both.json["items"].as_array().unwrap().len(), 2);

    let spans = c.spans("acct");
    assert_eq!(spans.len(), 4);
    for s in &spans {
        assert_eq!(s["end_timestamp"], "2024-05-01T10:00:05.000000Z", "{s}");
        assert_eq!(s["status"], "SUCCESS");
        assert_eq!(s["account_id"], "acct");
        assert_eq!(s["object"], "span");
        assert_eq!(s["type"], "TRACER");
    }
}

#[test]
fn the_answer_is_a_list_of_spans_and_a_missing_id_gets_a_uuid() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    let mut it = item("t", "x", None, "root", 0, Some(1));
    it.as_object_mut().unwrap().remove("id");
    it["metadata"] = json!({"k": "v"});
    it["type"] = json!("AGENT_WORKFLOW");
    it["obs_trace_id"] = json!("0123456789abcdef0123456789abcdef");
    it["obs_span_id"] = json!("0123456789abcdef");
    let a = api.upsert(vec![it]);
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["object"], "list");
    let span = &a.json["items"][0];
    assert_eq!(
        uuid::Uuid::parse_str(span["id"].as_str().unwrap())
            .unwrap()
            .get_version_num(),
        4
    );
    assert_eq!(span["metadata"], json!({"k": "v"}));
    assert_eq!(span["type"], "AGENT_WORKFLOW");
    assert_eq!(span["obs_span_id"], "0123456789abcdef");
}

#[test]
fn credentials_are_required_and_accounts_are_isolated() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let one = Api::new(&c.base_url(), "one");
    let two = Api::new(&c.base_url(), "two");
    let mut none = Api::new(&c.base_url(), "one").with_key(None);
    assert_eq!(
        none.upsert(vec![item("t", "a", None, "r", 0, None)]).status,
        401
    );
    none = Api::new(&c.base_url(), "one");
    none.account = None;
    let a = none.upsert(vec![item("t", "a", None, "r", 0, None)]);
    assert_eq!(a.status, 401);
    assert_eq!(a.json["error"]["field"], "x-selected-account-id");
    assert_eq!(
        Api::new(&c.base_url(), "one")
            .with_key(Some(""))
            .upsert(vec![])
            .status,
        401
    );

    assert_eq!(
        one.upsert(vec![item("t", "a", None, "r", 0, Some(1))])
            .status,
        200
    );
    assert_eq!(
        two.upsert(vec![item("t", "a", None, "other", 0, None)])
            .status,
        200
    );
    assert_eq!(c.spans("one")[0]["name"], "r");
    assert_eq!(c.spans("two")[0]["name"], "other");
    assert_eq!(two.send("GET", "/v5/spans/a", None).json["name"], "other");
    assert_eq!(
        Api::new(&c.base_url(), "three")
            .send("GET", "/v5/spans/a", None)
            .status,
        404
    );
    assert!(c.spans("three").is_empty());
}

#[test]
fn a_required_api_key_rejects_others() {
    let c = Collector::start(CollectorConfig::default().api_key("sekrit")).unwrap();
    let wrong = Api::new(&c.base_url(), "acct");
    assert_eq!(
        wrong
            .upsert(vec![item("t", "a", None, "r", 0, None)])
            .status,
        401
    );
    let right = Api::new(&c.base_url(), "acct").with_key(Some("sekrit"));
    assert_eq!(
        right
            .upsert(vec![item("t", "a", None, "r", 0, None)])
            .status,
        200
    );
}

#[test]
fn validation_errors_name_the_field_and_the_span() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");

    let too_many: Vec<Value> = (0..1001)
        .map(|i| item("t", &format!("s{i}"), None, "n", 0, None))
        .collect();
    let a = api.upsert(too_many);
    assert_eq!(a.status, 422);
    assert_eq!(a.json["error"]["field"], "items");
    let exactly: Vec<Value> = (0..1000)
        .map(|i| item("big", &format!("s{i}"), None, "n", 0, None))
        .collect();
    assert_eq!(api.upsert(exactly).status, 200);

    let a = api.upsert(vec![
        item("t", "ok", None, "n", 0, None),
        item("t", "bad", None, "n", 10, Some(5)),
    ]);
    assert_eq!(a.status, 422);
    assert_eq!(a.json["error"]["field"], "end_timestamp");
    assert_eq!(a.json["error"]["span_id"], "bad");
    assert_eq!(a.json["error"]["index"], 1);
    assert!(a.json["detail"].as_str().unwrap().contains("bad"));

    let long = "x".repeat(257);
    let a = api.upsert(vec![item("t", &long, None, "n", 0, None)]);
    assert_eq!(
        (a.status, a.json["error"]["field"].as_str()),
        (422, Some("id"))
    );
    let mut g = item("t", "g", None, "n", 0, None);
    g["group_id"] = json!("y".repeat(257));
    assert_eq!(api.upsert(vec![g]).json["error"]["field"], "group_id");
    let a = api.upsert(vec![item("t", &"x".repeat(256), None, "n", 0, None)]);
    assert_eq!(a.status, 200);

    let a = api.upsert(vec![item("t", "nul\u{0}id", None, "n", 0, None)]);
    assert_eq!(
        (a.status, a.json["error"]["field"].as_str()),
        (400, Some("id"))
    );
    let a = api.upsert(vec![item("t\u{0}", "id", None, "n", 0, None)]);
    assert_eq!(
        (a.status, a.json["error"]["field"].as_str()),
        (400, Some("trace_id"))
    );

    // Invalid UTF-8 bytes inside an id.
    let mut raw = br#"{"items":[{"trace_id":"t","id":"bad"#.to_vec();
    raw.extend_from_slice(&[0xff, 0xfe]);
    raw.extend_from_slice(br#"","name":"n","start_timestamp":"2024-05-01T10:00:00Z"}]}"#);
    let a = api.send_raw("PUT", "/v5/spans/batch", Some(&raw)).unwrap();
    assert_eq!(
        (a.status, a.json["error"]["field"].as_str()),
        (400, Some("id"))
    );
    // A lone surrogate escape.
    let raw = br#"{"items":[{"trace_id":"t","id":"a\ud800","name":"n","start_timestamp":"2024-05-01T10:00:00Z"}]}"#;
    let a = api.send_raw("PUT", "/v5/spans/batch", Some(raw)).unwrap();
    assert_eq!(
        (a.status, a.json["error"]["field"].as_str()),
        (400, Some("id"))
    );

    let mut arr = item("t", "arr", None, "n", 0, None);
    arr["input"] = json!([1, 2]);
    let a = api.upsert(vec![arr]);
    assert_eq!(
        (a.status, a.json["error"]["field"].as_str()),
        (422, Some("input"))
    );
    let mut st = item("t", "st", None, "n", 0, None);
    st["status"] = json!("DONE");
    assert_eq!(api.upsert(vec![st]).status, 422);
    let mut ty = item("t", "ty", None, "n", 0, None);
    ty["type"] = json!("NOPE");
    assert_eq!(api.upsert(vec![ty]).status, 422);
    let mut obs = item("t", "obs", None, "n", 0, None);
    obs["obs_span_id"] = json!("0123456789abcdef");
    assert_eq!(api.upsert(vec![obs]).json["error"]["field"], "obs_span_id");
    let mut noname = item("t", "nn", None, "n", 0, None);
    noname.as_object_mut().unwrap().remove("name");
    assert_eq!(api.upsert(vec![noname]).json["error"]["field"], "name");
    assert_eq!(
        api.send_raw("PUT", "/v5/spans/batch", Some(b"{not json"))
            .unwrap()
            .status,
        422
    );

    // Nothing of a rejected batch was stored.
    let stored = c.spans("acct");
    assert_eq!(
        stored.len(),
        1001,
        "only the 1000-item batch and the 256-byte id"
    );
}

#[test]
fn a_body_over_the_limit_is_413() {
    let c = Collector::start(CollectorConfig::default().max_body_bytes(4096)).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    let mut big = item("t", "a", None, "n", 0, None);
    big["input"] = json!({"text": "z".repeat(5000)});
    let a = api.upsert(vec![big]);
    assert_eq!(a.status, 413);
    assert_eq!(a.json["error"]["code"], "payload_too_large");
    // A body far over the limit is read to its end, so the client sees the 413.
    let mut huge = item("t", "a", None, "n", 0, None);
    huge["input"] = json!({"text": "z".repeat(8 << 20)});
    assert_eq!(api.upsert(vec![huge]).status, 413);
    assert_eq!(
        api.upsert(vec![item("t", "a", None, "n", 0, None)]).status,
        200
    );
    let log = c.requests();
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![413, 413, 200]);
    assert!(log[1].body_bytes > 8 << 20);
}

#[test]
fn a_parent_in_another_trace_is_409_within_the_batch_and_against_stored_spans() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    let a = api.upsert(vec![
        item("t1", "p", None, "root", 0, None),
        item("t2", "c", Some("p"), "child", 1, None),
    ]);
    assert_eq!(a.status, 409);
    assert_eq!(a.json["error"]["code"], "parent_in_other_trace");
    assert_eq!(a.json["error"]["span_id"], "c");
    assert!(c.spans("acct").is_empty(), "the whole batch fails");

    assert_eq!(
        api.upsert(vec![item("t1", "p", None, "root", 0, None)])
            .status,
        200
    );
    let a = api.upsert(vec![item("t2", "c", Some("p"), "child", 1, None)]);
    assert_eq!(a.status, 409);
    // The same ids in the right trace are fine, and so is a parent not yet sent.
    assert_eq!(
        api.upsert(vec![item("t1", "c", Some("p"), "child", 1, None)])
            .status,
        200
    );
    assert_eq!(
        api.upsert(vec![item("t3", "orphan", Some("later"), "child", 1, None)])
            .status,
        200
    );
    // Another account's span of that id does not count.
    let other = Api::new(&c.base_url(), "other");
    assert_eq!(
        other
            .upsert(vec![item("t9", "c2", Some("p"), "child", 1, None)])
            .status,
        200
    );
}

#[test]
fn parent_cycles_are_409_within_the_batch_and_against_stored_spans() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    let a = api.upsert(vec![item("t", "self", Some("self"), "n", 0, None)]);
    assert_eq!(
        (a.status, a.json["error"]["code"].as_str()),
        (409, Some("parent_cycle"))
    );
    let a = api.upsert(vec![
        item("t", "a", Some("c"), "n", 0, None),
        item("t", "b", Some("a"), "n", 0, None),
        item("t", "c", Some("b"), "n", 0, None),
    ]);
    assert_eq!(
        (a.status, a.json["error"]["code"].as_str()),
        (409, Some("parent_cycle"))
    );
    assert!(c.spans("acct").is_empty());

    assert_eq!(
        api.upsert(vec![
            item("t", "a", None, "n", 0, None),
            item("t", "b", Some("a"), "n", 0, None)
        ])
        .status,
        200
    );
    assert_eq!(
        api.upsert(vec![item("t", "c", Some("b"), "n", 0, None)])
            .status,
        200
    );
    // Re-parenting the root under its grandchild closes a loop through stored spans.
    let a = api.upsert(vec![item("t", "a", Some("c"), "n", 0, None)]);
    assert_eq!(
        (a.status, a.json["error"]["code"].as_str()),
        (409, Some("parent_cycle"))
    );
    assert_eq!(ids(&c.spans("acct")), vec!["a", "b", "c"]);
    assert!(c.spans("acct")[0].get("parent_id").is_none());
}

#[test]
fn post_inserts_only_and_get_reads_one_span() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    let a = api.send(
        "POST",
        "/v5/spans",
        Some(&item("t", "one", None, "root", 0, Some(2))),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["object"], "span");
    assert_eq!(
        api.send(
            "POST",
            "/v5/spans",
            Some(&item("t", "one", None, "root", 0, Some(2)))
        )
        .status,
        409
    );
    let batch = json!({"items": [item("t", "two", Some("one"), "c", 1, None), item("t", "one", None, "x", 0, None)]});
    let a = api.send("POST", "/v5/spans/batch", Some(&batch));
    assert_eq!(
        (a.status, a.json["error"]["span_id"].as_str()),
        (409, Some("one"))
    );
    let batch = json!({"items": [item("t", "two", Some("one"), "c", 1, None)]});
    assert_eq!(
        api.send("POST", "/v5/spans/batch", Some(&batch)).status,
        200
    );

    let got = api.send("GET", "/v5/spans/two", None);
    assert_eq!(got.status, 200);
    assert_eq!(got.json["parent_id"], "one");
    assert_eq!(got.json["type"], "STANDALONE");
    assert!(got.json.get("end_timestamp").is_none());
    let missing = api.send("GET", "/v5/spans/nope", None);
    assert_eq!(
        (missing.status, missing.json["error"]["span_id"].as_str()),
        (404, Some("nope"))
    );
}

#[test]
fn spans_survive_a_restart_on_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.db");
    {
        let c = Collector::start(CollectorConfig::default().db_path(&path)).unwrap();
        let api = Api::new(&c.base_url(), "acct");
        assert_eq!(
            api.upsert(vec![item("t", "a", None, "root", 0, Some(3))])
                .status,
            200
        );
    }
    let c = Collector::start(CollectorConfig::default().db_path(&path)).unwrap();
    let spans = c.spans("acct");
    assert_eq!(ids(&spans), vec!["a"]);
    let api = Api::new(&c.base_url(), "acct");
    assert_eq!(api.send("GET", "/v5/spans/a", None).json["name"], "root");
}

#[test]
fn concurrent_writers_all_land() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let base = c.base_url();
    std::thread::scope(|s| {
        for w in 0..4 {
            let base = base.clone();
            s.spawn(move || {
                let api = Api::new(&base, "acct");
                for b in 0..10 {
                    let trace = format!("w{w}b{b}");
                    let mut items = vec![item(&trace, "root", None, "root", 0, Some(9))];
                    items
                        .extend((0..49).map(|i| {
                            item(&trace, &format!("s{i}"), Some("root"), "s", 1, Some(2))
                        }));
                    assert_eq!(api.upsert(items).status, 200);
                }
            });
        }
    });
    assert_eq!(c.spans("acct").len(), 4 * 10 * 50);
    let log = c.requests();
    assert_eq!(log.len(), 40);
    assert!(log
        .iter()
        .all(|r| r.status == 200 && r.item_count == Some(50) && r.method == "PUT"));
}

#[test]
fn patch_updates_the_mutable_fields_and_refuses_the_rest() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    let mut running = item("t1", "a", None, "root", 0, None);
    running["input"] = json!({"q": 1});
    assert_eq!(api.upsert(vec![running]).status, 200);

    let done = api.send(
        "PATCH",
        "/v5/spans/a",
        Some(&json!({"status": "SUCCESS", "end_timestamp": "2024-05-01T10:00:04Z", "output": {"a": 2}})),
    );
    assert_eq!(done.status, 200, "{}", done.json);
    assert_eq!(done.json["end_timestamp"], "2024-05-01T10:00:04.000000Z");
    assert_eq!(
        done.json["input"],
        json!({"q": 1}),
        "fields not sent are kept"
    );
    assert_eq!(
        c.spans("acct")[0],
        done.json,
        "the answer is what is stored"
    );
    // The stored row changed too: a duration search finds the now complete span.
    let found = api.search(json!({"min_duration_ms": 4000}));
    assert_eq!(ids(found.json["items"].as_array().unwrap()), ["a"]);

    for (body, status, field) in [
        (&b"{\"input\": {}}"[..], 422, "input"),
        (b"{\"trace_id\": \"t2\"}", 422, "trace_id"),
        (b"[1]", 422, "body"),
        (b"{\"name\": ", 422, "body"),
        (b"{\"metadata\": \"text\"}", 422, "metadata"),
        (b"{\"name\": \"\xff\"}", 400, "body"),
    ] {
        let a = api.send_raw("PATCH", "/v5/spans/a", Some(body)).unwrap();
        assert_eq!(
            (a.status, a.json["error"]["field"].as_str()),
            (status, Some(field)),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(
        c.spans("acct")[0],
        done.json,
        "refused updates change nothing"
    );

    // A span write fault applies to updates as it does to other writes.
    c.faults().fail_next(1, 503, None);
    let faulted = api.send("PATCH", "/v5/spans/a", Some(&json!({"name": "x"})));
    assert_eq!(faulted.status, 503);
    assert_eq!(c.spans("acct")[0]["name"], "root");
}
