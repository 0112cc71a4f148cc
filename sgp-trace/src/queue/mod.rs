//! The queue: how span events travel from the program's threads to the export thread.
//!
//! A thread writes its spans into its own [lane] and ships them as one
//! [`Shipment`](lane::Shipment) of [`Event`](event::Event)s on the bounded channel of the
//! [`Pipeline`]; the export thread receives them. Nothing here blocks, and whatever does not
//! fit is counted in [`stats()`](crate::stats()).
//!
//! May use: `json`, `model`, `stats`. Used by: `export` (the receiving end), `runtime`
//! and `record` (the sending end).

pub(crate) mod event;
pub(crate) mod lane;
pub(crate) mod pipeline;

pub(crate) use pipeline::{recording, set_recording, Pipeline};

use crate::stats::{Stats, COUNTERS};

/// What happened to this process's span events so far, with what waits in lanes.
pub(crate) fn stats() -> Stats {
    COUNTERS.snapshot(lane::unshipped_counts())
}
