//! SpanItem validation and the stored Span JSON.

use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The span types the API accepts in `type`.
pub const SPAN_TYPES: &[&str] = &[
    "TEXT_INPUT",
    "TEXT_OUTPUT",
    "COMPLETION_INPUT",
    "COMPLETION",
    "KB_RETRIEVAL",
    "KB_INPUT",
    "RERANKING",
    "EXTERNAL_ENDPOINT",
    "PROMPT_ENGINEERING",
    "DOCUMENT_INPUT",
    "MAP_REDUCE",
    "DOCUMENT_SEARCH",
    "DOCUMENT_PROMPT",
    "CUSTOM",
    "CODE_EXECUTION",
    "DATA_MANIPULATION",
    "EVALUATION",
    "FILE_RETRIEVAL",
    "KB_ADD_CHUNK",
    "KB_MANAGEMENT",
    "GUARDRAIL",
    "OUTPUT_GUARDRAIL",
    "TRACER",
    "AGENT_TRACER",
    "AGENT_WORKFLOW",
    "STANDALONE",
];

/// The span statuses the API accepts in `status`.
pub const SPAN_STATUSES: &[&str] = &["SUCCESS", "ERROR", "CANCELED"];

/// Longest accepted `id`, `trace_id`, `parent_id` and `group_id`.
pub const MAX_ID_LEN: usize = 256;

/// Most items accepted in one batch request.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// One validated span, ready to store.
#[derive(Debug, Clone)]
pub(crate) struct NewSpan {
    pub trace_id: String,
    pub id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub span_type: String,
    pub status: Option<String>,
    pub group_id: Option<String>,
    pub start_us: i64,
    pub end_us: Option<i64>,
    /// The Span JSON as answered (stored item plus `account_id` and `object`).
    pub body: String,
}

/// Parses an ISO 8601 timestamp (with an offset, or naive meaning UTC) into
/// microseconds since the Unix epoch.
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.timestamp_micros());
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    None
}

/// Formats microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub(crate) fn format_timestamp(us: i64) -> String {
    match DateTime::from_timestamp_micros(us) {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => us.to_string(),
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

struct Ctx<'a> {
    index: Option<usize>,
    trace_id: Option<&'a str>,
    id: Option<&'a str>,
}

impl Ctx<'_> {
    fn err(&self, e: ApiError, field: &str) -> ApiError {
        e.field(field).span(self.index, self.trace_id, self.id)
    }
}

/// Checks one identifier field: text without NUL or replacement characters
/// (invalid UTF-8), at most 256 characters (else 422) and 256 bytes (else 400).
fn check_id(ctx: &Ctx<'_>, field: &str, v: &str) -> Result<(), ApiError> {
    if v.contains('\0') {
        return Err(ctx.err(
            ApiError::bad_request(format!("{field} contains a NUL byte")),
            field,
        ));
    }
    if v.contains('\u{FFFD}') {
        return Err(ctx.err(
            ApiError::bad_request(format!("{field} is not valid UTF-8 text")),
            field,
        ));
    }
    if v.chars().count() > MAX_ID_LEN {
        return Err(ctx.err(
            ApiError::validation(format!("{field} is longer than {MAX_ID_LEN} characters")),
            field,
        ));
    }
    if v.len() > MAX_ID_LEN {
        return Err(ctx.err(
            ApiError::bad_request(format!(
                "{field} is longer than {MAX_ID_LEN} bytes in UTF-8"
            )),
            field,
        ));
    }
    Ok(())
}

fn opt_string(
    ctx: &Ctx<'_>,
    obj: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ctx.err(
            ApiError::validation(format!("{field} must be a string")),
            field,
        )),
    }
}

/// Validates one SpanItem (`index` is its place in a batch, if any) and builds the
/// Span to store for `account_id`. A missing `id` gets a new UUID.
pub(crate) fn parse_item(
    index: Option<usize>,
    item: &Value,
    account_id: &str,
) -> Result<NewSpan, ApiError> {
    let mut ctx = Ctx {
        index,
        trace_id: None,
        id: None,
    };
    let Some(obj) = item.as_object() else {
        return Err(ctx.err(
            ApiError::validation("a span item must be a JSON object"),
            "items",
        ));
    };
    let id_raw = match obj.get("id") {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let trace_raw = match obj.get("trace_id") {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    ctx.id = id_raw;
    ctx.trace_id = trace_raw;

    let name = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            return Err(ctx.err(ApiError::validation("name is required"), "name"))
        }
        Some(_) => return Err(ctx.err(ApiError::validation("name must be a string"), "name")),
    };
    let trace_id = match obj.get("trace_id") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            return Err(ctx.err(ApiError::validation("trace_id is required"), "trace_id"))
        }
        Some(_) => {
            return Err(ctx.err(
                ApiError::validation("trace_id must be a string"),
                "trace_id",
            ))
        }
    };
    check_id(&ctx, "trace_id", &trace_id)?;
    if trace_id.is_empty() {
        return Err(ctx.err(
            ApiError::validation("trace_id must not be empty"),
            "trace_id",
        ));
    }
    let id = match opt_string(&ctx, obj, "id")? {
        Some(id) => {
            check_id(&ctx, "id", &id)?;
            if id.is_empty() {
                return Err(ctx.err(ApiError::validation("id must not be empty"), "id"));
            }
            id
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let parent_id = opt_string(&ctx, obj, "parent_id")?;
    if let Some(p) = &parent_id {
        check_id(&ctx, "parent_id", p)?;
    }
    let group_id = opt_string(&ctx, obj, "group_id")?;
    if let Some(g) = &group_id {
        check_id(&ctx, "group_id", g)?;
    }

    let ts = |field: &str| -> Result<Option<i64>, ApiError> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => parse_timestamp(s).map(Some).ok_or_else(|| {
                ctx.err(
                    ApiError::validation(format!("{field} is not an ISO 8601 timestamp: {s:?}")),
                    field,
                )
            }),
            Some(_) => Err(ctx.err(
                ApiError::validation(format!("{field} must be an ISO 8601 string")),
                field,
            )),
        }
    };
    let start_us = ts("start_timestamp")?.ok_or_else(|| {
        ctx.err(
            ApiError::validation("start_timestamp is required"),
            "start_timestamp",
        )
    })?;
    let end_us = ts("end_timestamp")?;
    if let Some(end) = end_us {
        if end < start_us {
            return Err(ctx.err(
                ApiError::validation("end_timestamp precedes start_timestamp"),
                "end_timestamp",
            ));
        }
    }

    let status = opt_string(&ctx, obj, "status")?;
    if let Some(s) = &status {
        if !SPAN_STATUSES.contains(&s.as_str()) {
            return Err(ctx.err(
                ApiError::validation(format!(
                    "status must be one of {}: {s:?}",
                    SPAN_STATUSES.join(", ")
                )),
                "status",
            ));
        }
    }
    let span_type = match opt_string(&ctx, obj, "type")? {
        Some(t) if SPAN_TYPES.contains(&t.as_str()) => t,
        Some(t) => {
            return Err(ctx.err(
                ApiError::validation(format!("type is not a span type: {t:?}")),
                "type",
            ))
        }
        None if parent_id.is_none() => "TRACER".to_owned(),
        None => "STANDALONE".to_owned(),
    };

    let obs_trace_id = opt_string(&ctx, obj, "obs_trace_id")?;
    if let Some(o) = &obs_trace_id {
        if !is_lower_hex(o, 32) {
            return Err(ctx.err(
                ApiError::validation("obs_trace_id must be 32 lowercase hex characters"),
                "obs_trace_id",
            ));
        }
    }
    let obs_span_id = opt_string(&ctx, obj, "obs_span_id")?;
    if let Some(o) = &obs_span_id {
        if !is_lower_hex(o, 16) {
            return Err(ctx.err(
                ApiError::validation("obs_span_id must be 16 lowercase hex characters"),
                "obs_span_id",
            ));
        }
        if obs_trace_id.is_none() {
            return Err(ctx.err(
                ApiError::validation("obs_span_id requires obs_trace_id"),
                "obs_span_id",
            ));
        }
    }
    let app_interaction = opt_string(&ctx, obj, "application_interaction_id")?;
    let app_variant = opt_string(&ctx, obj, "application_variant_id")?;

    let mut out = Map::new();
    out.insert("id".into(), Value::String(id.clone()));
    out.insert("account_id".into(), Value::String(account_id.to_owned()));
    out.insert("trace_id".into(), Value::String(trace_id.clone()));
    if let Some(p) = &parent_id {
        out.insert("parent_id".into(), Value::String(p.clone()));
    }
    out.insert("name".into(), Value::String(name.clone()));
    out.insert("type".into(), Value::String(span_type.clone()));
    if let Some(s) = &status {
        out.insert("status".into(), Value::String(s.clone()));
    }
    out.insert(
        "start_timestamp".into(),
        Value::String(format_timestamp(start_us)),
    );
    if let Some(e) = end_us {
        out.insert("end_timestamp".into(), Value::String(format_timestamp(e)));
    }
    if let Some(g) = &group_id {
        out.insert("group_id".into(), Value::String(g.clone()));
    }
    for field in ["input", "output", "metadata", "expected"] {
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(v @ Value::Object(_)) => {
                out.insert(field.into(), v.clone());
            }
            Some(_) => {
                return Err(ctx.err(
                    ApiError::validation(format!("{field} must be a JSON object")),
                    field,
                ))
            }
        }
    }
    for (field, v) in [
        ("obs_trace_id", obs_trace_id),
        ("obs_span_id", obs_span_id),
        ("application_interaction_id", app_interaction),
        ("application_variant_id", app_variant),
    ] {
        if let Some(v) = v {
            out.insert(field.into(), Value::String(v));
        }
    }
    out.insert("object".into(), Value::String("span".into()));
    let body = serde_json::to_string(&out).expect("a JSON map serializes");
    Ok(NewSpan {
        trace_id,
        id,
        parent_id,
        name,
        span_type,
        status,
        group_id,
        start_us,
        end_us,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_parse_in_the_forms_clients_send() {
        let z = parse_timestamp("2024-05-01T10:00:00Z").unwrap();
        assert_eq!(parse_timestamp("2024-05-01T10:00:00+00:00"), Some(z));
        assert_eq!(parse_timestamp("2024-05-01T12:00:00+02:00"), Some(z));
        assert_eq!(parse_timestamp("2024-05-01T10:00:00"), Some(z));
        assert_eq!(parse_timestamp("2024-05-01 10:00:00.000000"), Some(z));
        assert_eq!(parse_timestamp("2024-05-01T10:00:00.5Z"), Some(z + 500_000));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(format_timestamp(z + 1), "2024-05-01T10:00:00.000001Z");
    }

    #[test]
    fn a_root_defaults_to_tracer_and_a_child_to_standalone() {
        let root = parse_item(None, &json!({"name": "r", "trace_id": "t", "id": "a", "start_timestamp": "2024-01-01T00:00:00Z"}), "acc").unwrap();
        assert_eq!(root.span_type, "TRACER");
        let child = parse_item(None, &json!({"name": "c", "trace_id": "t", "id": "b", "parent_id": "a", "start_timestamp": "2024-01-01T00:00:00Z"}), "acc").unwrap();
        assert_eq!(child.span_type, "STANDALONE");
        let v: Value = serde_json::from_str(&child.body).unwrap();
        assert_eq!(v["account_id"], "acc");
        assert_eq!(v["object"], "span");
    }

    #[test]
    fn ids_are_checked_in_characters_then_bytes() {
        let base = |id: &str| json!({"name": "n", "trace_id": "t", "id": id, "start_timestamp": "2024-01-01T00:00:00Z"});
        assert!(parse_item(None, &base(&"a".repeat(256)), "a").is_ok());
        assert_eq!(
            parse_item(None, &base(&"a".repeat(257)), "a")
                .unwrap_err()
                .status(),
            422
        );
        assert_eq!(
            parse_item(None, &base(&"é".repeat(200)), "a")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            parse_item(None, &base("a\0b"), "a").unwrap_err().status(),
            400
        );
    }
}
