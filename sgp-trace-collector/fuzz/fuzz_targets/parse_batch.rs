//! Fuzzes the collector's write-body parser and validator (`PUT`/`POST
//! /v5/spans/batch` and `POST /v5/spans`) with arbitrary bytes.
//!
//! Properties, for every input:
//! - it never panics;
//! - a rejection is a 4xx with a non-empty message;
//! - an accepted body is UTF-8 JSON, holds at most 1000 items, and each stored
//!   Span is JSON that `serde_json::Value` reads back, carrying the item's own
//!   fields (name, ids, status, payload objects) plus `account_id` and
//!   `object: "span"`; fields the API does not know are ignored.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::Value;
use sgp_trace_collector::fuzzing::{parse_batch, parse_single, Rejection};
use sgp_trace_collector::{MAX_BATCH_ITEMS, SPAN_STATUSES, SPAN_TYPES};

const ACCOUNT: &str = "fuzz-account";

fn check_rejection(r: &Rejection) {
    assert!(
        (400..500).contains(&r.status),
        "a malformed body must be a 4xx, got {r:?}"
    );
    assert!(
        !r.detail.trim().is_empty(),
        "a rejection without a message: {r:?}"
    );
}

/// A body's JSON object as its raw fields: unknown fields are ignored by the
/// collector, so only the known ones are read as values.
type Fields<'a> = HashMap<String, &'a RawValue>;

fn field(item: &Fields<'_>, key: &str) -> Value {
    item.get(key).map_or(Value::Null, |raw| {
        serde_json::from_str(raw.get()).expect("an accepted field is JSON")
    })
}

/// Checks one stored Span against the item it was made from.
fn check_span(stored: &str, item: &Fields<'_>) {
    let span: Value = serde_json::from_str(stored).expect("a stored span is JSON");
    let obj = span.as_object().expect("a stored span is a JSON object");
    assert_eq!(obj["account_id"], ACCOUNT);
    assert_eq!(obj["object"], "span");
    for key in ["name", "trace_id", "parent_id", "group_id", "status"] {
        match field(item, key) {
            Value::Null => assert!(!obj.contains_key(key), "{key}"),
            v => assert_eq!(obj[key], v, "{key}"),
        }
    }
    for key in ["input", "output", "metadata", "expected"] {
        match field(item, key) {
            Value::Null => assert!(!obj.contains_key(key), "{key}"),
            v => {
                assert!(v.is_object(), "{key} accepted but not an object");
                assert_eq!(obj[key], v, "{key}");
            }
        }
    }
    let id = obj["id"].as_str().expect("id is a string");
    assert!(!id.is_empty());
    match field(item, "id") {
        Value::Null => {}
        v => assert_eq!(v, id),
    }
    for key in ["id", "trace_id", "parent_id", "group_id"] {
        if let Some(s) = obj.get(key).and_then(Value::as_str) {
            assert!(s.len() <= 256 && !s.contains('\0'), "{key}: {s:?}");
        }
    }
    let ty = obj["type"].as_str().expect("type is a string");
    assert!(SPAN_TYPES.contains(&ty), "{ty}");
    if let Some(s) = obj.get("status") {
        assert!(SPAN_STATUSES.contains(&s.as_str().expect("status is a string")));
    }
    assert!(obj["start_timestamp"].is_string());
}

fuzz_target!(|data: &[u8]| {
    match parse_batch(data, ACCOUNT) {
        Ok(spans) => {
            let text = std::str::from_utf8(data).expect("an accepted body is UTF-8");
            let body: Fields<'_> = serde_json::from_str(text).expect("an accepted body is JSON");
            let items: Vec<Fields<'_>> =
                serde_json::from_str(body["items"].get()).expect("items is a list of objects");
            assert_eq!(items.len(), spans.len());
            assert!(spans.len() <= MAX_BATCH_ITEMS);
            for (stored, item) in spans.iter().zip(&items) {
                check_span(stored, item);
            }
        }
        Err(r) => check_rejection(&r),
    }
    match parse_single(data, ACCOUNT) {
        Ok(stored) => {
            let text = std::str::from_utf8(data).expect("an accepted body is UTF-8");
            let item: Fields<'_> =
                serde_json::from_str(text).expect("an accepted span is an object");
            check_span(&stored, &item);
        }
        Err(r) => check_rejection(&r),
    }
});
