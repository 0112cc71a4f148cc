//! Writes a span's JSON by hand on the export thread: payloads are already JSON text and are
//! copied as they are, ids and timestamps are formatted without going through `fmt`.

use std::cell::Cell;

use crate::export::exporter::{Batch, EncodedBatch};
use crate::json::escape::next_escape;
use crate::model::timestamp::SecondText;
use crate::model::{Id, SpanItem, Timestamp};

/// Appends `item` as one JSON object.
pub(crate) fn write_span(out: &mut Vec<u8>, item: &SpanItem) {
    out.extend_from_slice(b"{\"name\":");
    write_str(out, &item.name);
    out.extend_from_slice(b",\"trace_id\":");
    write_id(out, &item.trace_id);
    out.extend_from_slice(b",\"id\":");
    write_id(out, &item.id);
    if let Some(parent) = &item.parent_id {
        out.extend_from_slice(b",\"parent_id\":");
        write_id(out, parent);
    }
    if let Some(group) = &item.group_id {
        out.extend_from_slice(b",\"group_id\":");
        write_id(out, group);
    }
    out.extend_from_slice(b",\"start_timestamp\":");
    write_timestamp(out, item.start_timestamp);
    if let Some(end) = item.end_timestamp {
        out.extend_from_slice(b",\"end_timestamp\":");
        write_timestamp(out, end);
    }
    if let Some(status) = item.status {
        out.extend_from_slice(b",\"status\":\"");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(item.span_type.as_str().as_bytes());
    out.push(b'"');
    for (key, payload) in [
        (&b",\"input\":"[..], &item.input),
        (b",\"output\":", &item.output),
    ] {
        if let Some(payload) = payload {
            out.extend_from_slice(key);
            out.extend_from_slice(payload.as_str().as_bytes());
        }
    }
    if let Some(metadata) = &item.metadata {
        out.extend_from_slice(b",\"metadata\":");
        // A map of JSON values with string keys always serializes.
        let _ = serde_json::to_writer(&mut *out, &**metadata);
    }
    if let Some(ids) = &item.observability {
        out.extend_from_slice(b",\"obs_trace_id\":\"");
        out.extend_from_slice(ids.trace_id_hex().as_bytes());
        out.extend_from_slice(b"\",\"obs_span_id\":\"");
        out.extend_from_slice(ids.span_id_hex().as_bytes());
        out.push(b'"');
    }
    out.push(b'}');
}

fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    // Names and ids seldom need an escape: found so, they are copied at once, where
    // serde_json looks at every byte.
    if next_escape(bytes, 0) == bytes.len() {
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    } else {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

fn write_id(out: &mut Vec<u8>, id: &Id) {
    match id.uuid_text() {
        Some(text) => {
            out.push(b'"');
            out.extend_from_slice(&text);
            out.push(b'"');
        }
        None => id.with_text(|text| write_str(out, text)),
    }
}

thread_local! {
    /// The last second formatted on this thread and its text. The spans of a batch mostly
    /// start and end within the same few seconds, so most timestamps only need their
    /// microseconds formatted.
    static LAST_SECOND: Cell<Option<(u64, SecondText)>> = const { Cell::new(None) };
}

fn write_timestamp(out: &mut Vec<u8>, timestamp: Timestamp) {
    let second = timestamp.second();
    let second_text = match LAST_SECOND.with(Cell::get) {
        Some((last, text)) if last == second => text,
        _ => {
            let text = timestamp.second_text();
            LAST_SECOND.with(|last| last.set(Some((second, text))));
            text
        }
    };
    let mut quoted = [b'"'; 29];
    quoted[1..28].copy_from_slice(&timestamp.rfc3339_in(&second_text));
    out.extend_from_slice(&quoted);
}

impl Batch<'_> {
    /// Encodes `items` into one `PUT /v5/spans/batch` body and calls `send` with the batch,
    /// for code that sends spans itself instead of through the export thread (for example
    /// an [`Exporter`](crate::Exporter) called from a Temporal activity). Keep `items` under
    /// [`API_MAX_BATCH_ITEMS`](crate::API_MAX_BATCH_ITEMS).
    ///
    /// ```
    /// use sgp_trace::{Batch, Id, SpanItem, SpanType, Timestamp};
    /// let item = SpanItem {
    ///     name: "step".into(),
    ///     trace_id: Id::new("t-1").unwrap(),
    ///     id: Id::new("s-1").unwrap(),
    ///     parent_id: None,
    ///     group_id: None,
    ///     start_timestamp: Timestamp::from_nanos(0),
    ///     end_timestamp: None,
    ///     status: None,
    ///     span_type: SpanType::Tracer,
    ///     input: None,
    ///     output: None,
    ///     metadata: None,
    ///     observability: None,
    /// };
    /// let body = Batch::encode(&[item], |batch| batch.json().to_vec());
    /// assert!(body.starts_with(br#"{"items":[{"name":"step""#));
    /// ```
    pub fn encode<R>(items: &[SpanItem], send: impl FnOnce(&Batch<'_>) -> R) -> R {
        let mut batch = EncodedBatch::new();
        let mut json = Vec::with_capacity(512);
        for item in items {
            json.clear();
            write_span(&mut json, item);
            batch.push(item.clone(), &json);
        }
        send(&batch.as_batch())
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use super::*;
    use crate::json::JsonObject;
    use crate::model::{SpanStatus, SpanType};

    #[test]
    fn matches_the_serde_form() {
        let mut metadata = serde_json::Map::new();
        metadata.insert("k\"ey".into(), serde_json::json!([1, "two"]));
        let item = SpanItem {
            name: Cow::Borrowed("na\"me\n"),
            trace_id: Id::new("trace ✓").unwrap(),
            id: Id::random(),
            parent_id: Some(Id::random()),
            group_id: Some(Id::new("g").unwrap()),
            start_timestamp: Timestamp::from_nanos(1_795_305_599_123_456_789),
            end_timestamp: Some(Timestamp::from_nanos(1_795_305_600_000_000_000)),
            status: Some(SpanStatus::Error),
            span_type: SpanType::KbRetrieval,
            input: Some(JsonObject::new(&serde_json::json!({"q": "é"}))),
            output: Some(JsonObject::new(&3)),
            metadata: Some(Arc::new(metadata)),
            observability: Some(crate::model::ObservabilityIds {
                trace_id: 0xabc,
                span_id: 0x12,
            }),
        };
        let mut out = Vec::new();
        write_span(&mut out, &item);
        let by_hand: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(by_hand, serde_json::to_value(&item).unwrap());
        assert_eq!(by_hand["start_timestamp"], "2026-11-21T23:59:59.123456Z");
        assert_eq!(by_hand["obs_trace_id"], "00000000000000000000000000000abc");
        assert_eq!(by_hand["obs_span_id"], "0000000000000012");
    }

    #[test]
    fn timestamps_within_and_across_seconds_read_as_rfc3339() {
        let second = 1_795_305_599_000_000_000;
        for nanos in [
            second,
            second + 999_999_999,
            second + 1_000_000_000,
            second + 1_000_000_001,
            second + 7,
            second + 86_400_000_000_123,
            second + 86_400_000_000_124,
            0,
        ] {
            let timestamp = Timestamp::from_nanos(nanos);
            let mut out = Vec::new();
            write_timestamp(&mut out, timestamp);
            assert_eq!(out, format!("\"{timestamp}\"").into_bytes(), "{nanos}");
        }
    }

    #[test]
    fn leaves_out_what_a_running_span_lacks() {
        let item = SpanItem::minimal("running");
        let mut out = Vec::new();
        write_span(&mut out, &item);
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 5, "{keys:?}");
    }
}
