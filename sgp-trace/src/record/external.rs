//! Spans built outside the span API, by integrations that choose their own ids and times
//! (a Temporal workflow's spans are replayed, so their ids and times must be deterministic).

use crate::model::SpanItem;
use crate::runtime;

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
