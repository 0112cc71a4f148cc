//! [`Event`]: one span event on its way from a lane to the export thread.

use crate::model::SpanItem;

/// One span event on its way to the export thread.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) item: SpanItem,
    /// The trace was not sampled: the export thread sends it only if the trace has an error.
    pub(crate) held: bool,
    /// Whether an earlier event of the same span may have reached the export thread: its
    /// start, sent while it ran. Only then can the export thread hold a start to replace or
    /// an open span to forget, so only then does it look them up. `false` for a start, and
    /// for the end of a span whose start was coalesced or skipped in its lane.
    pub(crate) follows_start: bool,
    /// Which end of its lane this is, counted from the lane's last shipment;
    /// [`Event::START`] for a start. A lane keeps the spans it started together in the
    /// order they started, so the export thread puts a shipment with held events back in
    /// end order: deciding on a held trace depends on it (the root's end settles it).
    pub(crate) end_order: u32,
}

impl Event {
    /// The [`end_order`](Event::end_order) of a start event: after every end.
    pub(crate) const START: u32 = u32::MAX;

    /// A span's start event: its item as the span began.
    #[inline(always)]
    pub(crate) fn start(item: SpanItem, held: bool) -> Event {
        Event {
            item,
            held,
            follows_start: false,
            end_order: Event::START,
        }
    }
}
