//! SpanItem validation and the stored Span JSON.

use chrono::{DateTime, NaiveDateTime};
use serde::Deserialize;
use serde_json::value::RawValue;

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
    use chrono::{Datelike, Timelike};
    match DateTime::from_timestamp_micros(us) {
        Some(dt) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.timestamp_subsec_micros() % 1_000_000
        ),
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

/// One span item as raw JSON fields, parsed lazily so that only what is
/// needed is allocated and `input`/`output`/`metadata`/`expected` are kept as
/// their JSON text.
#[derive(Deserialize)]
struct RawItem<'a> {
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    trace_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    parent_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    group_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    start_timestamp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    end_timestamp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "type")]
    span_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    output: Option<&'a RawValue>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    expected: Option<&'a RawValue>,
    #[serde(borrow, default)]
    obs_trace_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    obs_span_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    application_interaction_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    application_variant_id: Option<&'a RawValue>,
}

fn present(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get() != "null")
}

/// Decodes a raw JSON string; `Err(None)` when it is not a string, `Err(Some)`
/// when its escapes do not make text (a lone surrogate).
fn decode_str(raw: &RawValue) -> Result<String, Option<String>> {
    let t = raw.get();
    if !t.starts_with('"') {
        return Err(None);
    }
    if !t.contains('\\') {
        return Ok(t[1..t.len() - 1].to_owned());
    }
    serde_json::from_str::<String>(t).map_err(|e| Some(e.to_string()))
}

/// Reads the id fields leniently, only to name the span in an error.
fn lenient(raw: Option<&RawValue>) -> Option<String> {
    present(raw).and_then(|r| decode_str(r).ok())
}

fn opt_string(
    ctx: &Ctx<'_>,
    field: &str,
    raw: Option<&RawValue>,
) -> Result<Option<String>, ApiError> {
    let Some(r) = present(raw) else {
        return Ok(None);
    };
    match decode_str(r) {
        Ok(s) => Ok(Some(s)),
        Err(None) => Err(ctx.err(
            ApiError::validation(format!("{field} must be a string")),
            field,
        )),
        Err(Some(e)) => Err(ctx.err(
            ApiError::bad_request(format!("{field} is not valid text: {e}")),
            field,
        )),
    }
}

/// Walks a JSON document as `serde_json::Value` parsing would, without building
/// it: numbers and strings are decoded (so a number out of range or a lone
/// surrogate escape fails as it does there), the rest is skipped.
struct Readable;

impl<'de> Deserialize<'de> for Readable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Readable, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Readable;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Readable, E> {
                Ok(Readable)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Readable, E> {
                Ok(Readable)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Readable, E> {
                Ok(Readable)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Readable, E> {
                Ok(Readable)
            }
            fn visit_str<E>(self, _: &str) -> Result<Readable, E> {
                Ok(Readable)
            }
            fn visit_unit<E>(self) -> Result<Readable, E> {
                Ok(Readable)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Readable, A::Error> {
                while seq.next_element::<Readable>()?.is_some() {}
                Ok(Readable)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Readable, A::Error> {
                while map.next_entry::<Readable, Readable>()?.is_some() {}
                Ok(Readable)
            }
        }
        d.deserialize_any(V)
    }
}

fn opt_object<'a>(
    ctx: &Ctx<'_>,
    field: &str,
    raw: Option<&'a RawValue>,
) -> Result<Option<&'a str>, ApiError> {
    let Some(r) = present(raw) else {
        return Ok(None);
    };
    if !r.get().starts_with('{') {
        return Err(ctx.err(
            ApiError::validation(format!("{field} must be a JSON object")),
            field,
        ));
    }
    // The raw text is JSON by grammar, but a number out of range (`1e400`), a lone
    // surrogate escape or nesting past 128 levels would make every later read of
    // the span fail (search, `Collector::spans`), so the walk is worth its cost
    // (a good part of a parse; the figure is in the benchmarks' README).
    if let Err(e) = serde_json::from_str::<Readable>(r.get()) {
        return Err(ctx.err(
            ApiError::validation(format!("{field} cannot be stored as JSON: {e}")),
            field,
        ));
    }
    Ok(Some(r.get()))
}

fn push_str(buf: &mut Vec<u8>, key: &str, value: &str) {
    buf.push(b'"');
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\":");
    serde_json::to_writer(&mut *buf, value).expect("writing to a Vec cannot fail");
    buf.push(b',');
}

fn push_raw(buf: &mut Vec<u8>, key: &str, raw: &str) {
    buf.push(b'"');
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\":");
    buf.extend_from_slice(raw.as_bytes());
    buf.push(b',');
}

/// Validates one SpanItem given as JSON text (`index` is its place in a
/// batch, if any) and builds the Span to store for `account_id`. A missing
/// `id` gets a new UUID.
pub(crate) fn parse_item(
    index: Option<usize>,
    item: &str,
    account_id: &str,
) -> Result<NewSpan, ApiError> {
    let bare = Ctx {
        index,
        trace_id: None,
        id: None,
    };
    // Checked first: serde would also read a struct from a JSON array, by position.
    if !item.trim_start().starts_with('{') {
        return Err(bare.err(
            ApiError::validation("a span item must be a JSON object"),
            "items",
        ));
    }
    let item: RawItem<'_> = match serde_json::from_str(item) {
        Ok(i) => i,
        Err(e) => {
            return Err(bare.err(
                ApiError::validation(format!("invalid span item: {e}")),
                "items",
            ))
        }
    };
    let id_hint = lenient(item.id);
    let trace_hint = lenient(item.trace_id);
    let ctx = Ctx {
        index,
        trace_id: trace_hint.as_deref(),
        id: id_hint.as_deref(),
    };

    let name = opt_string(&ctx, "name", item.name)?
        .ok_or_else(|| ctx.err(ApiError::validation("name is required"), "name"))?;
    let trace_id = opt_string(&ctx, "trace_id", item.trace_id)?
        .ok_or_else(|| ctx.err(ApiError::validation("trace_id is required"), "trace_id"))?;
    check_id(&ctx, "trace_id", &trace_id)?;
    if trace_id.is_empty() {
        return Err(ctx.err(
            ApiError::validation("trace_id must not be empty"),
            "trace_id",
        ));
    }
    let id = match opt_string(&ctx, "id", item.id)? {
        Some(id) => {
            check_id(&ctx, "id", &id)?;
            if id.is_empty() {
                return Err(ctx.err(ApiError::validation("id must not be empty"), "id"));
            }
            id
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let parent_id = opt_string(&ctx, "parent_id", item.parent_id)?;
    if let Some(p) = &parent_id {
        check_id(&ctx, "parent_id", p)?;
    }
    let group_id = opt_string(&ctx, "group_id", item.group_id)?;
    if let Some(g) = &group_id {
        check_id(&ctx, "group_id", g)?;
    }

    let ts = |field: &str, raw: Option<&RawValue>| -> Result<Option<i64>, ApiError> {
        match opt_string(&ctx, field, raw)? {
            None => Ok(None),
            Some(s) => parse_timestamp(&s).map(Some).ok_or_else(|| {
                ctx.err(
                    ApiError::validation(format!("{field} is not an ISO 8601 timestamp: {s:?}")),
                    field,
                )
            }),
        }
    };
    let start_us = ts("start_timestamp", item.start_timestamp)?.ok_or_else(|| {
        ctx.err(
            ApiError::validation("start_timestamp is required"),
            "start_timestamp",
        )
    })?;
    let end_us = ts("end_timestamp", item.end_timestamp)?;
    if end_us.is_some_and(|end| end < start_us) {
        return Err(ctx.err(
            ApiError::validation("end_timestamp precedes start_timestamp"),
            "end_timestamp",
        ));
    }

    let status = opt_string(&ctx, "status", item.status)?;
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
    let span_type = match opt_string(&ctx, "type", item.span_type)? {
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

    let obs_trace_id = opt_string(&ctx, "obs_trace_id", item.obs_trace_id)?;
    if obs_trace_id
        .as_deref()
        .is_some_and(|o| !is_lower_hex(o, 32))
    {
        return Err(ctx.err(
            ApiError::validation("obs_trace_id must be 32 lowercase hex characters"),
            "obs_trace_id",
        ));
    }
    let obs_span_id = opt_string(&ctx, "obs_span_id", item.obs_span_id)?;
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
    let app_interaction = opt_string(
        &ctx,
        "application_interaction_id",
        item.application_interaction_id,
    )?;
    let app_variant = opt_string(&ctx, "application_variant_id", item.application_variant_id)?;
    let input = opt_object(&ctx, "input", item.input)?;
    let output = opt_object(&ctx, "output", item.output)?;
    let metadata = opt_object(&ctx, "metadata", item.metadata)?;
    let expected = opt_object(&ctx, "expected", item.expected)?;

    let raw_len = [input, output, metadata, expected]
        .iter()
        .flatten()
        .map(|s| s.len())
        .sum::<usize>();
    let mut buf =
        Vec::with_capacity(256 + name.len() + 2 * id.len() + 2 * trace_id.len() + raw_len);
    buf.push(b'{');
    push_str(&mut buf, "id", &id);
    push_str(&mut buf, "account_id", account_id);
    push_str(&mut buf, "trace_id", &trace_id);
    if let Some(p) = &parent_id {
        push_str(&mut buf, "parent_id", p);
    }
    push_str(&mut buf, "name", &name);
    push_str(&mut buf, "type", &span_type);
    if let Some(s) = &status {
        push_str(&mut buf, "status", s);
    }
    push_str(&mut buf, "start_timestamp", &format_timestamp(start_us));
    if let Some(e) = end_us {
        push_str(&mut buf, "end_timestamp", &format_timestamp(e));
    }
    if let Some(g) = &group_id {
        push_str(&mut buf, "group_id", g);
    }
    for (key, raw) in [
        ("input", input),
        ("output", output),
        ("metadata", metadata),
        ("expected", expected),
    ] {
        if let Some(raw) = raw {
            push_raw(&mut buf, key, raw);
        }
    }
    for (key, v) in [
        ("obs_trace_id", &obs_trace_id),
        ("obs_span_id", &obs_span_id),
        ("application_interaction_id", &app_interaction),
        ("application_variant_id", &app_variant),
    ] {
        if let Some(v) = v {
            push_str(&mut buf, key, v);
        }
    }
    buf.extend_from_slice(b"\"object\":\"span\"}");
    let body = String::from_utf8(buf).expect("JSON written from text is text");
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

/// Parses a request body as JSON text: a body that is not UTF-8 is decoded
/// lossily (and `lossy` is set) so that the id holding the bad bytes can be
/// named; a body that is no JSON is a 422.
fn body_text(body: &[u8]) -> (std::borrow::Cow<'_, str>, bool) {
    match std::str::from_utf8(body) {
        Ok(s) => (std::borrow::Cow::Borrowed(s), false),
        Err(_) => (String::from_utf8_lossy(body), true),
    }
}

fn not_json(e: serde_json::Error) -> ApiError {
    ApiError::validation(format!("the request body is not valid JSON: {e}")).field("body")
}

fn not_utf8() -> ApiError {
    ApiError::bad_request("the request body is not valid UTF-8").field("body")
}

/// Parses and validates a batch body `{"items": [...]}`. On error, also
/// returns the item count when the list parsed.
pub(crate) fn parse_batch(
    body: &[u8],
    account_id: &str,
) -> Result<Vec<NewSpan>, (Option<usize>, ApiError)> {
    #[derive(Deserialize)]
    struct Batch<'a> {
        #[serde(borrow)]
        items: Option<Vec<&'a RawValue>>,
    }
    let (text, lossy) = body_text(body);
    let batch: Batch<'_> = match serde_json::from_str(&text) {
        // serde would also read the struct from a JSON array, by position.
        Ok(_) if !text.trim_start().starts_with('{') => {
            return Err((
                None,
                ApiError::validation("the body must be {\"items\": [...]}, not a JSON array")
                    .field("items"),
            ))
        }
        Ok(b) => b,
        Err(e) if e.is_data() => {
            return Err((
                None,
                ApiError::validation(format!("the body must be {{\"items\": [...]}}: {e}"))
                    .field("items"),
            ))
        }
        Err(e) => return Err((None, if lossy { not_utf8() } else { not_json(e) })),
    };
    let items = batch.items.ok_or((
        None,
        ApiError::validation("items is required").field("items"),
    ))?;
    let n = items.len();
    if n > MAX_BATCH_ITEMS {
        return Err((
            Some(n),
            ApiError::validation(format!(
                "at most {MAX_BATCH_ITEMS} items per request, got {n}"
            ))
            .field("items"),
        ));
    }
    let spans = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_item(Some(i), item.get(), account_id))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (Some(n), e))?;
    if lossy {
        return Err((Some(n), not_utf8()));
    }
    Ok(spans)
}

/// Parses and validates a single SpanItem body (`POST /v5/spans`).
pub(crate) fn parse_single(body: &[u8], account_id: &str) -> Result<NewSpan, ApiError> {
    let (text, lossy) = body_text(body);
    let raw: &RawValue = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => return Err(if lossy { not_utf8() } else { not_json(e) }),
    };
    let span = parse_item(None, raw.get(), account_id)?;
    if lossy {
        return Err(not_utf8());
    }
    Ok(span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

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
        let root = parse_item(None, &serde_json::to_string(&json!({"name": "r", "trace_id": "t", "id": "a", "start_timestamp": "2024-01-01T00:00:00Z"})).unwrap(), "acc").unwrap();
        assert_eq!(root.span_type, "TRACER");
        let child = parse_item(None, &serde_json::to_string(&json!({"name": "c", "trace_id": "t", "id": "b", "parent_id": "a", "start_timestamp": "2024-01-01T00:00:00Z"})).unwrap(), "acc").unwrap();
        assert_eq!(child.span_type, "STANDALONE");
        let v: Value = serde_json::from_str(&child.body).unwrap();
        assert_eq!(v["account_id"], "acc");
        assert_eq!(v["object"], "span");
    }

    #[test]
    fn a_span_item_is_an_object_never_an_array() {
        let positional = r#"["n","t","a",null,null,"2024-01-01T00:00:00Z"]"#;
        for item in [positional, "[]", " 1", "\"x\""] {
            let e = parse_item(Some(3), item, "acc").unwrap_err();
            assert_eq!(e.status(), 422, "{item}");
            assert_eq!(e.message, "a span item must be a JSON object");
            assert_eq!(e.index, Some(3));
        }
        let batch = format!(r#"{{"items":[{positional}]}}"#);
        assert_eq!(
            parse_batch(batch.as_bytes(), "acc").unwrap_err().1.status(),
            422
        );
        // Nor is a batch body an array holding the item list.
        let batch = br#" [[{"name":"n","trace_id":"t","start_timestamp":"2024-01-01T00:00:00Z"}]]"#;
        let e = parse_batch(batch, "acc").unwrap_err().1;
        assert_eq!((e.status(), e.field.as_deref()), (422, Some("items")));
        assert!(e.message.contains("not a JSON array"), "{}", e.message);
    }

    #[test]
    fn payloads_that_json_readers_reject_are_refused() {
        let with_meta = |meta: &str| {
            format!(
                r#"{{"name":"n","trace_id":"t","id":"a","start_timestamp":"2024-01-01T00:00:00Z","metadata":{meta}}}"#
            )
        };
        for bad in [
            r#"{"a":1e400}"#,
            r#"{"a":[-1e309]}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"\udc00":1}"#,
        ] {
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
            let e = parse_item(None, &with_meta(bad), "acc").unwrap_err();
            assert_eq!(
                (e.status(), e.field.as_deref()),
                (422, Some("metadata")),
                "{bad}"
            );
            assert!(
                e.message.starts_with("metadata cannot be stored as JSON: "),
                "{}",
                e.message
            );
        }
        for good in [
            r#"{"a":1e300,"b":1.5e-400,"c":123456789012345678901234567890,"d":-0}"#,
            r#"{"s":"\ud83d\ude00\u0000","n":null,"t":[true,false,{}]}"#,
        ] {
            let span = parse_item(None, &with_meta(good), "acc").unwrap();
            let v: Value = serde_json::from_str(&span.body).unwrap();
            assert_eq!(v["metadata"], serde_json::from_str::<Value>(good).unwrap());
        }
    }

    #[test]
    fn ids_are_checked_in_characters_then_bytes() {
        let base = |id: &str| json!({"name": "n", "trace_id": "t", "id": id, "start_timestamp": "2024-01-01T00:00:00Z"});
        let base_s = |id: &str| serde_json::to_string(&base(id)).unwrap();
        assert!(parse_item(None, &base_s(&"a".repeat(256)), "a").is_ok());
        assert_eq!(
            parse_item(None, &base_s(&"a".repeat(257)), "a")
                .unwrap_err()
                .status(),
            422
        );
        assert_eq!(
            parse_item(None, &base_s(&"é".repeat(200)), "a")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            parse_item(None, &base_s("a\0b"), "a").unwrap_err().status(),
            400
        );
    }
}
