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
    v["items"]
        .as_array()
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

    let all = &get(&c, "/ui/api/traces?account=acct")["items"];
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
    // Several metadata filters must all match (on any span of the trace).
    assert_eq!(listed(&c, "&meta=env%3Dprod&meta=env%3Dprod"), ["ta"]);
    assert!(listed(&c, "&meta=env%3Dprod&meta=env%3Ddev").is_empty());
    // A time range on the root's start (inclusive), and sorting by duration.
    assert_eq!(
        listed(&c, "&from=2024-05-01T10:00:10Z&to=2024-05-01T10:00:30Z"),
        ["tb"]
    );
    assert_eq!(
        listed(&c, "&from=2024-05-01T10:00:00Z&to=2024-05-01T10:00:00Z"),
        ["ta"]
    );
    assert_eq!(
        listed(&c, "&sort=duration"),
        ["ta", "tb"],
        "running sorts shortest"
    );
    assert_eq!(listed(&c, "&sort=duration&order=asc"), ["tb", "ta"]);
    assert_eq!(listed(&c, "&order=asc"), ["ta", "tb"]);
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

fn status_and_field(c: &Collector, path: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(format!("{}{}", c.base_url(), path))
        .call()
        .unwrap();
    let v: Value = r.body_mut().read_json().unwrap();
    (r.status().as_u16(), v["error"]["field"].clone())
}

#[test]
fn the_traces_list_pages_with_cursors_past_one_page() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    // 450 traces, one a second, so that newest first is t449 .. t000.
    let items: Vec<Value> = (0..450)
        .map(|i| item(&format!("t{i:03}"), "root", None, "job", i, Some(i + 1)))
        .collect();
    assert_eq!(api.upsert(items).status, 200);
    let page = |q: &str| get(&c, &format!("/ui/api/traces?account=acct{q}"));
    let ids = |p: &Value| -> Vec<String> {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["root"]["trace_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let want = |from: u32, to: u32| -> Vec<String> {
        (to..from).rev().map(|i| format!("t{i:03}")).collect()
    };
    let first = page("");
    assert_eq!(ids(&first), want(450, 250), "200 rows by default");
    assert_eq!(first["has_more"], true);
    let after = first["next_cursor"].as_str().unwrap();
    let second = page(&format!("&after={after}"));
    assert_eq!(ids(&second), want(250, 50));
    let third = page(&format!(
        "&after={}",
        second["next_cursor"].as_str().unwrap()
    ));
    assert_eq!(ids(&third), want(50, 0));
    assert_eq!(third["has_more"], false);
    // Back from the third page: the 200 rows before it, and more before those.
    let back = page(&format!(
        "&before={}",
        third["prev_cursor"].as_str().unwrap()
    ));
    assert_eq!(ids(&back), want(250, 50));
    assert_eq!(back["has_more"], true);
    let small = page("&limit=7&order=asc");
    assert_eq!(
        ids(&small),
        (0..7).map(|i| format!("t{i:03}")).collect::<Vec<_>>()
    );

    // Malformed parameters are a 422 naming the parameter, for the page to show.
    for (q, field) in [
        ("&meta=novalue", "meta"),
        ("&from=yesterday", "from"),
        ("&sort=name", "sort"),
        ("&after=c1.zz.zz", "after"),
        ("&before=unknown", "before"),
        ("&limit=5000", "limit"),
    ] {
        assert_eq!(
            status_and_field(&c, &format!("/ui/api/traces?account=acct{q}")),
            (422, json!(field)),
            "{q}"
        );
    }
}

#[test]
fn a_trace_or_span_id_finds_its_trace() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    api.upsert(vec![
        item("trace-x", "root-x", None, "r", 0, Some(3)),
        item("trace-x", "child-x", Some("root-x"), "c", 1, Some(2)),
    ]);
    assert_eq!(
        get(&c, "/ui/api/find?account=acct&id=trace-x"),
        json!({"trace_id": "trace-x", "span_id": null})
    );
    assert_eq!(
        get(&c, "/ui/api/find?account=acct&id=%20child-x%20"),
        json!({"trace_id": "trace-x", "span_id": "child-x"})
    );
    for path in [
        "/ui/api/find?account=acct&id=nothing",
        "/ui/api/find?account=other&id=child-x",
    ] {
        assert_eq!(status_and_field(&c, path), (404, json!("id")), "{path}");
    }
}
