//! Spans built outside the span API, by integrations that choose their own ids and times
//! (a Temporal workflow's spans are replayed, so their ids and times must be deterministic).

use crate::export::encode;
use crate::export::EncodedBatch;
use crate::{runtime, Batch, SpanItem};

/// Queues a span event built by hand, as [`Span`](crate::Span) queues its own start and end
/// events. Returns `false`, and does nothing, when tracing is not recording.
///
/// The item is sent as it is: its ids, parent and timestamps are the caller's, and so is
/// keeping the parent in the same trace. Send the start event (no `end_timestamp`) and the
/// end event with the same `trace_id`, `id` and `start_timestamp`; the SGP upsert keeps the
/// completed one whichever arrives first.
pub fn record_item(item: SpanItem) -> bool {
    match runtime::recording_pipeline() {
        Some(pipeline) => {
            pipeline.send(item);
            true
        }
        None => false,
    }
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
            encode::write_span(&mut json, item);
            batch.push(item.clone(), &json);
        }
        send(&batch.as_batch())
    }
}
