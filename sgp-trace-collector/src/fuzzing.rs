//! Entry points for the fuzz targets in `fuzz/`: the batch and single-span
//! parsers and validators of the write endpoints, with their errors flattened
//! to what a client sees. Not a stable API.

use crate::model;

/// A rejected body as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The HTTP status the API answers.
    pub status: u16,
    /// The `detail` of the JSON error answer.
    pub detail: String,
    /// The offending field (`error.field`), when the error names one.
    pub field: Option<String>,
}

fn rejection(e: crate::error::ApiError) -> Rejection {
    let detail = e.to_json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Rejection {
        status: e.status.as_u16(),
        detail,
        field: e.field.clone(),
    }
}

/// Parses and validates a `PUT`/`POST /v5/spans/batch` body for `account_id`,
/// as the handler does before it touches the store: the Span JSON of each item
/// that would be stored, or the rejection.
pub fn parse_batch(body: &[u8], account_id: &str) -> Result<Vec<String>, Rejection> {
    model::parse_batch(body, account_id)
        .map(|spans| spans.into_iter().map(|s| s.body).collect())
        .map_err(|(_, e)| rejection(e))
}

/// Parses and validates a `POST /v5/spans` body (one SpanItem) for `account_id`.
pub fn parse_single(body: &[u8], account_id: &str) -> Result<String, Rejection> {
    model::parse_single(body, account_id)
        .map(|s| s.body)
        .map_err(rejection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_batch_yields_its_spans_and_a_bad_one_a_rejection() {
        let body = br#"{"items":[{"name":"n","trace_id":"t","id":"a","start_timestamp":"2024-01-01T00:00:00Z"}]}"#;
        let spans = parse_batch(body, "acct").unwrap();
        assert_eq!(spans.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&spans[0]).unwrap();
        assert_eq!(
            (v["id"].as_str(), v["account_id"].as_str()),
            (Some("a"), Some("acct"))
        );

        let r = parse_batch(b"{not json", "acct").unwrap_err();
        assert_eq!((r.status, r.field.as_deref()), (422, Some("body")));
        assert!(
            r.detail.starts_with("the request body is not valid JSON"),
            "{}",
            r.detail
        );
        let r = parse_single(b"[]", "acct").unwrap_err();
        assert_eq!(r.status, 422);
        assert!(r.detail.contains("must be a JSON object"), "{}", r.detail);
    }
}
