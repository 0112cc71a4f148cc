//! Hostile and broken clients, over real HTTP: malformed bodies are 4xx with a
//! clear message and store nothing, a wrong key is a 401 that writes nothing,
//! and one account never reads another's spans.

mod common;

use common::{item, Answer, Api};
use serde_json::{json, Value};
use sgp_trace_collector::{Collector, CollectorConfig};

/// Rows in the collector's SQLite file, read beside the server.
fn stored_rows(c: &Collector) -> i64 {
    let conn = rusqlite::Connection::open(c.db_path()).unwrap();
    conn.query_row("SELECT count(*) FROM spans", [], |r| r.get(0))
        .unwrap()
}

fn assert_rejected(a: &Answer, status: u16, field: &str, says: &str, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.json);
    assert_eq!(a.json["error"]["status"], status, "{what}");
    assert_eq!(a.json["error"]["field"], field, "{what}: {}", a.json);
    let detail = a.json["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(says), "{what}: {detail:?} lacks {says:?}");
}

#[test]
fn malformed_bodies_are_4xx_with_a_clear_message_and_store_nothing() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    let span = r#"{"name":"n","trace_id":"t","id":"a","start_timestamp":"2024-05-01T10:00:00Z"}"#;
    let with_metadata = |m: &str| {
        format!(
            r#"{{"items":[{{"name":"n","trace_id":"t","id":"a","start_timestamp":"2024-05-01T10:00:00Z","metadata":{m}}}]}}"#
        )
    };
    let mut not_utf8 = br#"{"items":[{"name":"caf"#.to_vec();
    not_utf8.extend_from_slice(&[0xe9, 0xff]);
    not_utf8.extend_from_slice(br#"","trace_id":"t","start_timestamp":"2024-05-01T10:00:00Z"}]}"#);
    let deep = with_metadata(&format!(
        "{}1{}",
        r#"{"a":"#.repeat(10_000),
        "}".repeat(10_000)
    ));

    // (body, status, field, what the message says)
    let cases: Vec<(Vec<u8>, u16, &str, &str)> = vec![
        (
            b"{not json".to_vec(),
            422,
            "body",
            "the request body is not valid JSON: key must be a string",
        ),
        (
            Vec::new(),
            422,
            "body",
            "the request body is not valid JSON: EOF while parsing",
        ),
        (
            br#"{"items":[{"name":"n","trace_id":"#.to_vec(),
            422,
            "body",
            "not valid JSON: EOF while parsing",
        ),
        (
            br#"{"items":[]} trailing"#.to_vec(),
            422,
            "body",
            "not valid JSON: trailing characters",
        ),
        (not_utf8, 400, "body", "the request body is not valid UTF-8"),
        (
            deep.into_bytes(),
            422,
            "metadata",
            "metadata cannot be stored as JSON: recursion limit exceeded",
        ),
        (b"{}".to_vec(), 422, "items", "items is required"),
        (
            br#"{"items":{"name":"n"}}"#.to_vec(),
            422,
            "items",
            "the body must be {\"items\": [...]}",
        ),
        (
            format!("[[{span}]]").into_bytes(),
            422,
            "items",
            "not a JSON array",
        ),
        (
            br#"{"items":[["n","t","a",null,null,"2024-05-01T10:00:00Z"]]}"#.to_vec(),
            422,
            "items",
            "a span item must be a JSON object",
        ),
        (
            br#"{"items":[42]}"#.to_vec(),
            422,
            "items",
            "a span item must be a JSON object",
        ),
        (
            with_metadata(r#"{"n":1e400}"#).into_bytes(),
            422,
            "metadata",
            "metadata cannot be stored as JSON: number out of range",
        ),
        (
            with_metadata(r#"{"s":"\ud800"}"#).into_bytes(),
            422,
            "metadata",
            "metadata cannot be stored as JSON: unexpected end of hex escape",
        ),
    ];
    for (body, status, field, says) in &cases {
        let what = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        for method in ["PUT", "POST"] {
            let a = api.send_raw(method, "/v5/spans/batch", Some(body)).unwrap();
            assert_rejected(&a, *status, field, says, &format!("{method} {what}"));
        }
    }
    // The single-span endpoint and search say the same of a body that is no JSON.
    for path in ["/v5/spans", "/v5/spans/search"] {
        let a = api.send_raw("POST", path, Some(b"{not json")).unwrap();
        assert_rejected(&a, 422, "body", "not valid JSON", path);
    }
    let a = api
        .send_raw("POST", "/v5/spans", Some(format!("[{span}]").as_bytes()))
        .unwrap();
    assert_rejected(
        &a,
        422,
        "items",
        "a span item must be a JSON object",
        "array span",
    );

    assert_eq!(stored_rows(&c), 0, "a rejected body stores nothing");
    assert!(c.requests().iter().all(|r| (400..500).contains(&r.status)));
    // The collector still serves, and reads back what it accepts.
    let mut ok = item("t", "a", None, "n", 0, Some(1));
    ok["metadata"] = json!({"big": 1e300, "tiny": 1.5e-300, "text": "\u{1F600}"});
    assert_eq!(api.upsert(vec![ok]).status, 200);
    assert_eq!(c.spans("acct")[0]["metadata"]["big"], 1e300);
    let found = api.search(json!({"search_texts": ["big"]}));
    assert_eq!(found.status, 200, "{}", found.json);
    assert_eq!(found.json["items"].as_array().unwrap().len(), 1);
}

#[test]
fn a_wrong_key_is_401_and_writes_nothing() {
    let c = Collector::start(CollectorConfig::default().api_key("sekrit")).unwrap();
    let batch = json!({"items": [item("t", "a", None, "root", 0, Some(1))]});
    let one = item("t", "b", None, "root", 0, Some(1));
    let writes: [(&str, &str, &Value); 3] = [
        ("PUT", "/v5/spans/batch", &batch),
        ("POST", "/v5/spans/batch", &batch),
        ("POST", "/v5/spans", &one),
    ];
    for (key, message) in [
        (Some("wrong"), "invalid API key"),
        (Some("sekri"), "invalid API key"),
        (Some("SEKRIT"), "invalid API key"),
        (Some(""), "missing x-api-key header"),
        (None, "missing x-api-key header"),
    ] {
        let api = Api::new(&c.base_url(), "acct").with_key(key);
        for (method, path, body) in writes {
            let a = api.send(method, path, Some(body));
            assert_rejected(&a, 401, "x-api-key", message, &format!("{key:?} {path}"));
            assert!(a.json.get("items").is_none());
        }
        // A malformed body behind a wrong key is still a 401: nothing is parsed.
        let a = api
            .send_raw("PUT", "/v5/spans/batch", Some(b"{not json"))
            .unwrap();
        assert_eq!(a.status, 401);
    }
    // The right key without an account writes nothing either.
    let mut no_account = Api::new(&c.base_url(), "acct").with_key(Some("sekrit"));
    no_account.account = None;
    let a = no_account.send("PUT", "/v5/spans/batch", Some(&batch));
    assert_rejected(
        &a,
        401,
        "x-selected-account-id",
        "missing x-selected-account-id",
        "no account",
    );

    assert_eq!(stored_rows(&c), 0, "a 401 writes nothing");
    assert!(c.spans("acct").is_empty());
    assert!(c.requests().iter().all(|r| r.status == 401));

    // Reads behind a wrong key answer nothing of what the right key wrote.
    let right = Api::new(&c.base_url(), "acct").with_key(Some("sekrit"));
    assert_eq!(
        right.send("PUT", "/v5/spans/batch", Some(&batch)).status,
        200
    );
    assert_eq!(stored_rows(&c), 1);
    let wrong = Api::new(&c.base_url(), "acct").with_key(Some("wrong"));
    for a in [
        wrong.send("GET", "/v5/spans/a", None),
        wrong.search(json!({})),
    ] {
        assert_eq!(a.status, 401);
        assert!(!a.json.to_string().contains("root"), "{}", a.json);
    }
}

/// Percent-encodes a guessed id for the request path.
fn path_of(id: &str) -> String {
    let mut out = String::from("/v5/spans/");
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[test]
fn one_account_never_reads_another_s_spans() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let alice = Api::new(&c.base_url(), "alice");
    let bob = Api::new(&c.base_url(), "bob");
    let trace = "6f1c7a52-2a7e-4c1e-9a8b-0d3f2b1e4c5a";
    let mut root = item(trace, "a-root", None, "alice run", 0, Some(9));
    root["group_id"] = json!("shared-group");
    root["metadata"] = json!({"owner": "alice", "secret": "s3cr3t"});
    let mut child = item(trace, "a-child", Some("a-root"), "alice step", 1, Some(2));
    child["input"] = json!({"prompt": "s3cr3t prompt"});
    // Bob's span has the id of one of Alice's, in another trace.
    let mut bobs = item("bob-trace", "a-root", None, "bob run", 5, Some(6));
    bobs["group_id"] = json!("shared-group");
    bobs["metadata"] = json!({"owner": "bob"});
    assert_eq!(alice.upsert(vec![root, child]).status, 200);
    assert_eq!(bob.upsert(vec![bobs]).status, 200);

    // What only Alice's spans hold (a 404 may echo the guessed id, nothing more).
    let leaks = |a: &Answer| {
        let text = a.json.to_string();
        text.contains("s3cr3t") || text.contains("alice")
    };

    // By id: Bob gets his own span of the shared id, never Alice's.
    let got = bob.send("GET", "/v5/spans/a-root", None);
    assert_eq!(
        (got.status, got.json["name"].as_str()),
        (200, Some("bob run"))
    );
    assert_eq!(got.json["account_id"], "bob");
    assert_eq!(
        alice.send("GET", "/v5/spans/a-root", None).json["name"],
        "alice run"
    );
    // Guessed ids: Alice's ids, her trace id, wildcards, SQL and encoding tricks.
    for guess in [
        "a-child",
        trace,
        "*",
        "%",
        "a-%",
        "a-_hild",
        "' OR '1'='1",
        "a-child' --",
        "a-child\u{0}",
        "a-child ",
        "A-CHILD",
        "a-child/..",
        "../a-child",
        "c1.36663163",
    ] {
        let a = bob.send("GET", &path_of(guess), None);
        assert!(
            a.status == 404 || a.status == 400,
            "{guess:?}: {} {}",
            a.status,
            a.json
        );
        assert!(!leaks(&a), "{guess:?} leaked {}", a.json);
    }

    // Search: every filter that names Alice's spans finds nothing for Bob.
    let all = bob.search(json!({}));
    assert_eq!(all.json["items"].as_array().unwrap().len(), 1);
    assert!(!leaks(&all), "{}", all.json);
    for filter in [
        json!({"trace_ids": [trace]}),
        json!({"span_ids": ["a-child"]}),
        json!({"spans": [{"trace_id": trace, "span_id": "a-root"}]}),
        json!({"parent_ids": ["a-root"]}),
        json!({"names": ["alice run", "alice step"]}),
        json!({"extra_metadata": {"owner": "alice"}}),
        json!({"search_texts": ["s3cr3t"]}),
        json!({"search_texts": [trace]}),
        json!({"group_id": "shared-group", "trace_ids": [trace]}),
    ] {
        let a = bob.search(filter.clone());
        assert_eq!(a.status, 200, "{filter}: {}", a.json);
        assert_eq!(a.json["items"], json!([]), "{filter}");
        assert_eq!(a.json["next_cursor"], Value::Null, "{filter}");
        assert!(!leaks(&a), "{filter} leaked {}", a.json);
    }
    let shared = bob.search(json!({"group_id": "shared-group"}));
    assert_eq!(shared.json["items"][0]["name"], "bob run");
    assert_eq!(shared.json["items"].as_array().unwrap().len(), 1);

    // Cursors: Alice's span ids and cursors do not page Bob into her spans.
    let page = alice.search(json!({"limit": 1, "sort_order": "asc"}));
    let cursor = page.json["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(
        alice
            .search(json!({"limit": 1, "sort_order": "asc", "starting_after": cursor}))
            .json["items"][0]["id"],
        "a-child"
    );
    for (key, value) in [
        ("starting_after", cursor.as_str()),
        ("ending_before", cursor.as_str()),
        ("starting_after", "a-child"),
    ] {
        let a = bob.search(json!({ key: value }));
        assert_eq!(a.status, 422, "{key}={value}: {}", a.json);
        assert!(!leaks(&a), "{key}={value} leaked {}", a.json);
    }

    // Account ids are compared exactly: near misses are other, empty accounts.
    for account in ["Alice", "alic", "alice2", "%", "*"] {
        let other = Api::new(&c.base_url(), account);
        let a = other.search(json!({}));
        assert_eq!(a.json["items"], json!([]), "{account:?}");
        assert_eq!(
            other.send("GET", "/v5/spans/a-child", None).status,
            404,
            "{account:?}"
        );
    }
    // The store agrees: each account holds only its own spans.
    let names = |acct: &str| -> Vec<String> {
        c.spans(acct)
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("alice"), ["alice run", "alice step"]);
    assert_eq!(names("bob"), ["bob run"]);
}
