//! `PATCH /v5/spans/{id}`: a partial update of a stored span's mutable fields.
//!
//! The update is merged into the stored span as raw JSON text (so numbers and
//! strings keep their exact form) and the result is validated as a new span
//! would be, so an update can never store what a create would refuse.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::model::{parse_item, NewSpan};

/// The fields an update may change, as the official client sends them.
pub(crate) const UPDATABLE_FIELDS: &[&str] =
    &["name", "output", "metadata", "status", "end_timestamp"];

/// The fields of a JSON object as raw text, by key.
fn raw_fields(text: &str) -> Result<BTreeMap<String, &RawValue>, serde_json::Error> {
    serde_json::from_str(text)
}

/// Parses an update body: a JSON object holding only [`UPDATABLE_FIELDS`].
pub(crate) fn parse_update(body: &[u8]) -> Result<BTreeMap<String, Box<RawValue>>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the request body is not valid UTF-8").field("body"))?;
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    if !text.trim_start().starts_with('{') {
        return Err(ApiError::validation("the update must be a JSON object").field("body"));
    }
    let fields = raw_fields(text).map_err(|e| {
        ApiError::validation(format!("the request body is not valid JSON: {e}")).field("body")
    })?;
    if let Some(key) = fields
        .keys()
        .find(|k| !UPDATABLE_FIELDS.contains(&k.as_str()))
    {
        return Err(ApiError::validation(format!(
            "{key} cannot be updated; an update may change {}",
            UPDATABLE_FIELDS.join(", ")
        ))
        .field(key.clone()));
    }
    Ok(fields.into_iter().map(|(k, v)| (k, v.to_owned())).collect())
}

/// Applies `update` to the stored Span JSON `stored` and validates the result
/// as a span item of `account_id`.
pub(crate) fn apply_update(
    stored: &str,
    update: &BTreeMap<String, Box<RawValue>>,
    account_id: &str,
) -> Result<NewSpan, ApiError> {
    let mut fields = raw_fields(stored)
        .map_err(|e| ApiError::internal(format!("a stored span is not JSON: {e}")))?;
    for (key, value) in update {
        fields.insert(key.clone(), &**value);
    }
    let mut item = String::with_capacity(stored.len() + 64);
    item.push('{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            item.push(',');
        }
        item.push_str(&serde_json::to_string(key).expect("a string serializes"));
        item.push(':');
        item.push_str(value.get());
    }
    item.push('}');
    parse_item(None, &item, account_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const STORED: &str = r#"{"id":"a","account_id":"acc","trace_id":"t","name":"n","type":"TRACER","start_timestamp":"2024-01-01T00:00:00.000000Z","metadata":{"big":123456789012345678901234567890},"object":"span"}"#;

    #[test]
    fn an_update_changes_only_its_fields_and_keeps_numbers_exact() {
        let update =
            parse_update(br#"{"status":"SUCCESS","end_timestamp":"2024-01-01T00:00:02Z"}"#)
                .unwrap();
        let span = apply_update(STORED, &update, "acc").unwrap();
        assert_eq!(span.status.as_deref(), Some("SUCCESS"));
        assert_eq!(span.end_us, Some(span.start_us + 2_000_000));
        assert!(span.body.contains("123456789012345678901234567890"));
        let v: Value = serde_json::from_str(&span.body).unwrap();
        assert_eq!(v["name"], "n");
        assert_eq!(v["type"], "TRACER");
    }

    #[test]
    fn updates_are_validated_as_creates() {
        let bad = |body: &str| {
            parse_update(body.as_bytes()).and_then(|u| apply_update(STORED, &u, "acc"))
        };
        for (body, field) in [
            (r#"{"status":"DONE"}"#, "status"),
            (
                r#"{"end_timestamp":"2023-12-31T00:00:00Z"}"#,
                "end_timestamp",
            ),
            (r#"{"output":[1]}"#, "output"),
            (r#"{"name":null}"#, "name"),
            (r#"{"input":{}}"#, "input"),
            (r#"[]"#, "body"),
        ] {
            let e = bad(body).unwrap_err();
            assert_eq!(
                (e.status(), e.field.as_deref()),
                (422, Some(field)),
                "{body}"
            );
        }
    }
}
