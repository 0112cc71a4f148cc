//! `POST /v5/spans/search`: filters, sorting and cursor pagination.

mod common;

use common::{item, Api};
use serde_json::{json, Value};
use sgp_trace_collector::{Collector, CollectorConfig};

fn names(a: &common::Answer) -> Vec<String> {
    a.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Two traces: t1 = root r1 (0..10 s) with children c1 (1..3 s, ERROR) and c2
/// (running); t2 = root r2 (20..21 s, group g) with child c3 (20..21 s).
fn seed(api: &Api) {
    let mut r1 = item("t1", "r1", None, "agent run", 0, Some(10));
    r1["metadata"] = json!({"env": "prod", "tags": ["a", "b"], "n": 3});
    r1["input"] = json!({"question": "What is the Capital of France?"});
    let mut c1 = item("t1", "c1", Some("r1"), "retrieve", 1, Some(3));
    c1["status"] = json!("ERROR");
    c1["type"] = json!("KB_RETRIEVAL");
    let c2 = item("t1", "c2", Some("r1"), "generate", 4, None);
    let mut r2 = item(
        "0b5c6a0e-8a7f-4c7e-9a65-3b3f7f0b7c11",
        "r2",
        None,
        "other run",
        20,
        Some(21),
    );
    r2["group_id"] = json!("g");
    r2["metadata"] = json!({"env": "dev"});
    let c3 = item(
        "0b5c6a0e-8a7f-4c7e-9a65-3b3f7f0b7c11",
        "c3",
        Some("r2"),
        "retrieve",
        20,
        Some(21),
    );
    assert_eq!(api.upsert(vec![r1, c1, c2, r2, c3]).status, 200);
}

#[test]
fn filters_select_spans() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    seed(&api);
    let asc = |mut body: Value| {
        body["sort_order"] = json!("asc");
        names(&api.search(body))
    };
    // Equal starts are ordered by trace id, then id.
    assert_eq!(asc(json!({})), ["r1", "c1", "c2", "c3", "r2"]);
    assert_eq!(asc(json!({"trace_ids": ["t1"]})), ["r1", "c1", "c2"]);
    assert_eq!(asc(json!({"span_ids": ["c2", "r2"]})), ["c2", "r2"]);
    assert_eq!(asc(json!({"parent_ids": ["r1"]})), ["c1", "c2"]);
    assert_eq!(asc(json!({"parents_only": true})), ["r1", "r2"]);
    assert_eq!(asc(json!({"names": ["retrieve"]})), ["c1", "c3"]);
    assert_eq!(asc(json!({"statuses": ["ERROR"]})), ["c1"]);
    assert_eq!(asc(json!({"types": ["TRACER"]})), ["r1", "r2"]);
    assert_eq!(asc(json!({"group_id": "g"})), ["r2"]);
    assert_eq!(asc(json!({"extra_metadata": {"env": "prod"}})), ["r1"]);
    assert_eq!(
        asc(json!({"extra_metadata": {"tags": "b", "n": 3}})),
        ["r1"]
    );
    assert_eq!(
        asc(json!({"extra_metadata": {"env": "qa"}})),
        Vec::<String>::new()
    );
    assert_eq!(asc(json!({"search_texts": ["capital", "france"]})), ["r1"]);
    assert_eq!(asc(json!({"search_texts": ["RETRIEVE"]})), ["c1", "c3"]);
    assert_eq!(
        asc(json!({"search_texts": ["0B5C6A0E-8A7F-4C7E-9A65-3B3F7F0B7C11"]})),
        ["c3", "r2"]
    );
    assert_eq!(asc(json!({"min_duration_ms": 2000})), ["r1", "c1"]);
    assert_eq!(asc(json!({"max_duration_ms": 1000})), ["c3", "r2"]);
    assert_eq!(
        asc(json!({"from_ts": "2024-05-01T10:00:04Z", "to_ts": "2024-05-01T10:00:20Z"})),
        ["c2", "c3", "r2"]
    );
    assert_eq!(
        asc(json!({"excluded_trace_ids": ["t1"], "excluded_span_ids": ["c3"]})),
        ["r2"]
    );
    assert_eq!(
        asc(
            json!({"spans": [{"trace_id": "t1", "span_id": "c1"}, {"trace_id": "t2", "span_id": "r1"}]})
        ),
        ["c1"]
    );
    assert_eq!(
        asc(json!({"trace_ids": ["t1"], "excluded_spans": [{"trace_id": "t1", "span_id": "c1"}]})),
        ["r1", "c2"]
    );
    assert_eq!(
        api.search(json!({"spans": [{"trace_id": "t1"}]})).status,
        422
    );
    // Another account sees nothing.
    assert!(names(&Api::new(&c.base_url(), "other").search(json!({}))).is_empty());
    // Bad input is a 422 naming the field.
    let a = api.search(json!({"sort_by": "colour"}));
    assert_eq!(
        (a.status, a.json["error"]["field"].as_str()),
        (422, Some("sort_by"))
    );
    assert_eq!(api.search(json!({"limit": 0})).status, 422);
    assert_eq!(api.search(json!({"search_texts": ["a"]})).status, 422);
}

#[test]
fn sorting_defaults_to_newest_first() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    seed(&api);
    assert_eq!(
        names(&api.search(json!({}))),
        ["r2", "c3", "c2", "c1", "r1"]
    );
    assert_eq!(
        names(&api.search(json!({"sort_by": "duration_ms", "sort_order": "desc"})))[0],
        "r1"
    );
    assert_eq!(
        names(&api.search(json!({"sort_by": "name", "sort_order": "asc"}))),
        ["r1", "c2", "r2", "c3", "c1"]
    );
}

#[test]
fn cursors_page_through_everything_once() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    let items: Vec<Value> = (0..25)
        .map(|i| item("t", &format!("s{i:02}"), None, "n", i, Some(i + 1)))
        .collect();
    assert_eq!(api.upsert(items).status, 200);

    // The official client's way: `starting_after` = last item's id, in the query string.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/v5/spans/search?limit=10&sort_order=asc&starting_after={a}"),
            None => "/v5/spans/search?limit=10&sort_order=asc".to_owned(),
        };
        let page = api.send("POST", &path, Some(&json!({})));
        assert_eq!(page.status, 200);
        let ids = names(&page);
        seen.extend(ids.clone());
        if !page.json["has_more"].as_bool().unwrap() {
            break;
        }
        after = ids.last().cloned();
    }
    let expected: Vec<String> = (0..25).map(|i| format!("s{i:02}")).collect();
    assert_eq!(seen, expected);

    // Opaque cursors in the body, newest first, then back with ending_before.
    let first = api.search(json!({"limit": 10}));
    assert_eq!(names(&first)[0], "s24");
    let second = api.search(json!({"limit": 10, "starting_after": first.json["next_cursor"]}));
    assert_eq!(
        names(&second),
        (5..15)
            .rev()
            .map(|i| format!("s{i:02}"))
            .collect::<Vec<_>>()
    );
    let back = api.search(json!({"limit": 10, "ending_before": second.json["prev_cursor"]}));
    assert_eq!(names(&back), names(&first));
    assert_eq!(
        api.search(json!({"starting_after": "no-such-span"})).status,
        422
    );
}
