//! The JSON behind the traces page: the traces list with its filters and a
//! trace's spans.

mod common;

use common::{item, Api};
use serde_json::{json, Value};
use sgp_trace_collector::{Collector, CollectorConfig};

fn get(c: &Collector, path: &str) -> Value {
    ureq::get(format!("{}{}", c.base_url(), path))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

fn listed(c: &Collector, query: &str) -> Vec<String> {
    let v = get(c, &format!("/ui/api/traces?account=acct{query}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["root"]["trace_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_traces_list_filters_and_counts() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    let mut a_root = item("ta", "a", None, "Agent Run", 0, Some(9));
    a_root["metadata"] = json!({"env": "prod"});
    a_root["group_id"] = json!("g1");
    let mut a_child = item("ta", "a1", Some("a"), "retrieve", 1, Some(2));
    a_child["status"] = json!("ERROR");
    a_child["type"] = json!("KB_RETRIEVAL");
    a_child["input"] = json!({"q": "needle in a haystack"});
    let a_running = item("ta", "a2", Some("a"), "generate", 3, None);
    let mut b_root = item("tb", "b", None, "batch job", 20, None);
    b_root["metadata"] = json!({"env": "dev"});
    assert_eq!(
        api.upsert(vec![a_root, a_child, a_running, b_root]).status,
        200
    );
    assert_eq!(
        Api::new(&c.base_url(), "other")
            .upsert(vec![item("tc", "c", None, "x", 0, None)])
            .status,
        200
    );

    let all = get(&c, "/ui/api/traces?account=acct");
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(all[0]["root"]["trace_id"], "tb", "newest first");
    assert_eq!(
        (
            all[1]["span_count"].as_u64(),
            all[1]["running_count"].as_u64()
        ),
        (Some(3), Some(1))
    );
    assert_eq!(all[1]["error_count"], 1);
    assert_eq!(
        all[0]["running_count"], 1,
        "a root with only a start event is running"
    );

    assert_eq!(listed(&c, "&name=agent"), ["ta"]);
    assert_eq!(listed(&c, "&type=KB_RETRIEVAL"), ["ta"]);
    assert_eq!(listed(&c, "&status=ERROR"), ["ta"]);
    assert_eq!(listed(&c, "&group_id=g1"), ["ta"]);
    assert_eq!(listed(&c, "&meta=env%3Ddev"), ["tb"]);
    assert_eq!(listed(&c, "&text=HAYSTACK"), ["ta"]);
    assert!(listed(&c, "&text=absent").is_empty());

    let spans = get(&c, "/ui/api/trace?account=acct&trace_id=ta");
    let ids: Vec<&str> = spans
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "a1", "a2"]);
    assert_eq!(get(&c, "/ui/api/accounts"), json!(["acct", "other"]));
}

#[test]
fn a_collector_with_an_api_key_guards_the_page_data() {
    let c = Collector::start(CollectorConfig::default().api_key("sekrit")).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let status = |path: &str| {
        agent
            .get(format!("{}{}", c.base_url(), path))
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status("/ui/api/accounts"), 401);
    assert_eq!(status("/ui/api/traces?account=a&key=wrong"), 401);
    assert_eq!(status("/ui/api/accounts?key=sekrit"), 200);
    assert_eq!(status("/ui/api/trace?account=a&trace_id=t&key=sekrit"), 200);
    let with_header = agent
        .get(format!("{}/ui/api/traces?account=a", c.base_url()))
        .header("x-api-key", "sekrit")
        .call()
        .unwrap();
    assert_eq!(with_header.status(), 200);
    // The page itself loads; it passes its own ?key= on.
    assert_eq!(status("/"), 200);
}
