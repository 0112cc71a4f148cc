//! The [`Pipeline`]: the bounded queue from the program's threads to the export thread, and
//! the switch that says whether it takes events.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::model::SpanItem;
use crate::queue::event::Event;
use crate::queue::lane::{self, ItemToMove, Route, Shipment, SpanSlot, MAX_LANE_EVENTS};
use crate::stats::{Counters, COUNTERS};

/// Whether spans are recorded: the hot path's one check. Set by the runtime.
static RECORDING: AtomicBool = AtomicBool::new(false);

/// Turns recording on or off (init, shutdown, a disabled config).
pub(crate) fn set_recording(on: bool) {
    RECORDING.store(on, Ordering::Release);
}

/// Whether spans are recorded now.
#[inline]
pub(crate) fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// Emptied shipments kept for reuse at most. Enough for the lanes of many busy threads; a
/// burst that filled the whole queue does not leave its shipments (up to the queue's size in
/// events) held after it.
const MAX_SPARE_SHIPMENTS: usize = 256;

/// The bounded queue between the program's threads and the export thread: the threads'
/// lanes (see [`lane`]) and the channel their shipments travel on.
#[derive(Debug)]
pub(crate) struct Pipeline {
    sender: Sender<Shipment>,
    pub(crate) receiver: Receiver<Shipment>,
    /// Emptied shipments on their way back to the lanes.
    spare_sender: Sender<Shipment>,
    spare: Receiver<Shipment>,
    /// Events per lane and per shipment.
    lane_events: usize,
    /// The configured capacity, in events.
    capacity: usize,
}

impl Pipeline {
    pub(crate) fn new(capacity: usize) -> Pipeline {
        let lane_events = capacity.clamp(1, MAX_LANE_EVENTS);
        let shipments = (capacity / lane_events).max(1);
        let (sender, receiver) = bounded(shipments);
        let (spare_sender, spare) = bounded(shipments.min(MAX_SPARE_SHIPMENTS));
        Pipeline {
            sender,
            receiver,
            spare_sender,
            spare,
            lane_events,
            capacity,
        }
    }

    #[inline]
    pub(crate) fn route(&self) -> Route<'_> {
        Route {
            sender: &self.sender,
            spare: &self.spare,
            lane_events: self.lane_events,
        }
    }

    /// Ships every lane and empties the channel, once the books are closed: what the lanes
    /// hold is counted as dropped as it ships, and what the channel held was counted when the
    /// books closed.
    pub(crate) fn empty(&self) {
        lane::ship_all(&self.route());
        while let Ok(shipment) = self.receiver.try_recv() {
            self.recycle(shipment);
        }
    }

    /// Gives an emptied shipment back for a lane to reuse.
    pub(crate) fn recycle(&self, mut shipment: Shipment) {
        // Empty shipments that only woke the export thread have no room to reuse.
        if shipment.capacity() > 0 {
            shipment.clear();
            let _ = self.spare_sender.try_send(shipment);
        }
    }

    /// Queues one span event without ever blocking; a full queue drops it and counts it.
    pub(crate) fn send(&self, item: SpanItem) {
        if self.stopped(1) {
            return;
        }
        // Not the item's own times: a recorded item (a workflow's, say) may carry times far
        // from now, and the lane's age and retry decisions are about now.
        let now = crate::model::clock::now_nanos();
        // A recorded item may follow its own start, recorded before: the export thread
        // looks for it.
        let event = Event {
            item,
            held: false,
            follows_start: true,
            // Numbered by the lane as it takes the event.
            end_order: 0,
        };
        lane::push(&self.route(), event, now);
    }

    /// Seats a started span in this thread's lane; `None` when tracing stopped (the span
    /// is counted as dropped then).
    #[inline(always)]
    pub(crate) fn start(&self, item: ItemToMove<'_>, now: u64, held: bool) -> Option<SpanSlot> {
        if self.stopped(2) {
            item.discard();
            return None;
        }
        Some(lane::start(&self.route(), item, held, now))
    }

    /// Ends a running span at `now` (ns): `finish` sets its end time and status. Inlined
    /// with `lane::end`, so `finish` (which holds the span's output) is not copied on its way.
    #[inline]
    pub(crate) fn end(&self, slot: SpanSlot, now: u64, finish: impl FnOnce(&mut SpanItem)) {
        if tracing_stopped() {
            let given_up = lane::abandon(slot);
            Counters::add(&COUNTERS.dropped_while_stopped, given_up);
            return;
        }
        lane::end(&self.route(), slot, now, finish);
    }

    /// Whether tracing stopped since the span started: its events are counted, not queued.
    fn stopped(&self, events: usize) -> bool {
        let stopped = tracing_stopped();
        if stopped {
            Counters::add(&COUNTERS.dropped_while_stopped, events);
        }
        stopped
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Whether tracing stopped (shutdown, or turned off), so events are counted, not queued.
#[inline]
fn tracing_stopped() -> bool {
    !recording()
}
