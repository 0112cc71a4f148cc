//! Counters of what happened to span events, kept by the hot path and the export thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

/// What happened to the span events of this process so far; from [`stats()`](crate::stats()).
///
/// A span makes two events, its start and its end. Every event the queue accepted ends up in
/// exactly one of `exported`, `coalesced`, `dropped_after_retries`, `rejected`,
/// `dropped_unauthorized`, `failed`, `dropped_at_shutdown` or `sampled_out`, or is still
/// [`waiting`](Stats::waiting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events accepted onto the queue.
    pub enqueued: u64,
    /// Events delivered to the backend.
    pub exported: u64,
    /// Start events replaced by their span's end event before sending; not a loss.
    pub coalesced: u64,
    /// Events dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Events dropped after every retry of their batch failed.
    pub dropped_after_retries: u64,
    /// Events the server refused as invalid (the poison spans of a 400, 409, 422 or 413).
    pub rejected: u64,
    /// Events dropped because the server refused the credentials (401, 403).
    pub dropped_unauthorized: u64,
    /// Events lost to other failures: an unexpected answer, a panicking exporter.
    pub failed: u64,
    /// Events still unsent when the shutdown bound ran out: queued, held or in flight when
    /// [`shutdown`](crate::shutdown) returned.
    pub dropped_at_shutdown: u64,
    /// Events made while no export thread ran (after shutdown or while tracing was turned
    /// off), never enqueued.
    pub dropped_while_stopped: u64,
    /// Events of traces the sampler dropped that were held for
    /// [`keep_error_traces`](crate::ConfigBuilder::keep_error_traces) and then discarded
    /// because the trace had no error; not a loss.
    pub sampled_out: u64,
    /// Payloads (input, output, metadata) cut to `max_field_bytes`.
    pub truncated_fields: u64,
    /// Values replaced by `[REDACTED:credential]`.
    pub redacted_values: u64,
    /// Payloads dropped because the masking hook failed on them.
    pub mask_failures: u64,
    /// Start events not queued because the queue was more than half full; the span's end
    /// event still stores the whole span, so this is not a loss (the span is just not shown
    /// running while it runs).
    pub starts_skipped: u64,
}

impl Stats {
    /// Events accepted but not yet delivered or dropped.
    pub fn waiting(&self) -> u64 {
        self.enqueued.saturating_sub(
            self.exported
                + self.coalesced
                + self.dropped_after_retries
                + self.rejected
                + self.dropped_unauthorized
                + self.failed
                + self.dropped_at_shutdown
                + self.sampled_out,
        )
    }

    /// Every event lost, whatever the reason.
    pub fn lost(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_after_retries
            + self.rejected
            + self.dropped_unauthorized
            + self.failed
            + self.dropped_at_shutdown
            + self.dropped_while_stopped
    }
}

/// The process's counters.
pub(crate) static COUNTERS: Counters = Counters::new();

/// The standing run once shutdown closed the last one: no export thread takes events.
const CLOSED: u64 = u64::MAX;

/// The live counters. Lanes add their events to `enqueued` and `coalesced` when they ship,
/// so the hot path touches no shared counter per event; `stats` adds what waits in lanes.
///
/// Events shipped and not yet in a bucket are the export thread's, counted by it as they
/// settle. When shutdown gives up on that thread it closes the thread's run: what was left
/// counts as `dropped_at_shutdown` at once, and the thread's later counts are not added.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) enqueued: AtomicU64,
    pub(crate) exported: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_after_retries: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) dropped_unauthorized: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped_at_shutdown: AtomicU64,
    pub(crate) dropped_while_stopped: AtomicU64,
    pub(crate) sampled_out: AtomicU64,
    pub(crate) truncated_fields: AtomicU64,
    pub(crate) redacted_values: AtomicU64,
    pub(crate) mask_failures: AtomicU64,
    pub(crate) starts_skipped: AtomicU64,
    /// The run of the export thread whose counts stand; [`CLOSED`] once shutdown closed it,
    /// 0 before the first.
    standing_run: AtomicU64,
    /// The last run given out. Held shared while events move between the queue and the
    /// buckets (a lane's shipment, an export thread's count), and exclusively while a run
    /// opens or closes, so closing sees each of those moves whole or not at all.
    books: RwLock<u64>,
}

impl Counters {
    pub(crate) const fn new() -> Counters {
        Counters {
            enqueued: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_after_retries: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            dropped_unauthorized: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped_at_shutdown: AtomicU64::new(0),
            dropped_while_stopped: AtomicU64::new(0),
            sampled_out: AtomicU64::new(0),
            truncated_fields: AtomicU64::new(0),
            redacted_values: AtomicU64::new(0),
            mask_failures: AtomicU64::new(0),
            starts_skipped: AtomicU64::new(0),
            standing_run: AtomicU64::new(0),
            books: RwLock::new(0),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, events: usize) {
        counter.fetch_add(events as u64, Relaxed);
    }

    /// Opens the run of a new export thread, whose counts stand from now on; returns it.
    pub(crate) fn open_run(&self) -> u64 {
        let mut last = self.books.write().unwrap_or_else(PoisonError::into_inner);
        *last += 1;
        self.standing_run.store(*last, Relaxed);
        *last
    }

    /// Closes `run` at shutdown, taking over what its export thread did not settle: every
    /// event shipped and in no bucket yet (in the channel, pending, held or in flight) counts
    /// as dropped at shutdown. Lanes ship later shipments straight into that bucket.
    pub(crate) fn close_run(&self, run: u64) {
        let _books = self.books.write().unwrap_or_else(PoisonError::into_inner);
        if self.standing_run.load(Relaxed) != run {
            return;
        }
        self.standing_run.store(CLOSED, Relaxed);
        let settled = [
            &self.exported,
            &self.coalesced,
            &self.dropped_after_retries,
            &self.rejected,
            &self.dropped_unauthorized,
            &self.failed,
            &self.dropped_at_shutdown,
            &self.sampled_out,
        ]
        .iter()
        .map(|counter| counter.load(Relaxed))
        .sum::<u64>();
        let unsettled = self.enqueued.load(Relaxed).saturating_sub(settled);
        self.dropped_at_shutdown.fetch_add(unsettled, Relaxed);
    }

    /// Whether `run` was closed: its export thread's events were taken over.
    pub(crate) fn is_closed(&self, run: u64) -> bool {
        self.standing_run.load(Relaxed) != run
    }

    /// Adds `events` to `counter` for the export thread of `run`, unless shutdown closed that
    /// run (and counted them already).
    pub(crate) fn count(&self, run: u64, counter: &AtomicU64, events: usize) {
        let _books = self.books();
        if !self.is_closed(run) {
            Counters::add(counter, events);
        }
    }

    /// A shared hold on the books, for a lane's shipment: see [`Books`].
    pub(crate) fn books(&self) -> Books<'_> {
        Books {
            _hold: self.books.read().unwrap_or_else(PoisonError::into_inner),
            counters: self,
        }
    }

    /// The counters, plus what lanes accepted and coalesced but have not shipped yet.
    pub(crate) fn snapshot(&self, in_lanes: LaneCounts) -> Stats {
        Stats {
            enqueued: self.enqueued.load(Relaxed) + in_lanes.accepted,
            exported: self.exported.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed) + in_lanes.coalesced,
            dropped_queue_full: self.dropped_queue_full.load(Relaxed) + in_lanes.dropped,
            dropped_after_retries: self.dropped_after_retries.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            dropped_unauthorized: self.dropped_unauthorized.load(Relaxed),
            failed: self.failed.load(Relaxed),
            dropped_at_shutdown: self.dropped_at_shutdown.load(Relaxed),
            dropped_while_stopped: self.dropped_while_stopped.load(Relaxed),
            sampled_out: self.sampled_out.load(Relaxed),
            truncated_fields: self.truncated_fields.load(Relaxed),
            redacted_values: self.redacted_values.load(Relaxed),
            mask_failures: self.mask_failures.load(Relaxed),
            starts_skipped: self.starts_skipped.load(Relaxed) + in_lanes.starts_skipped,
        }
    }
}

/// Events a lane took, coalesced, skipped and dropped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LaneCounts {
    pub(crate) accepted: u64,
    pub(crate) coalesced: u64,
    pub(crate) starts_skipped: u64,
    pub(crate) dropped: u64,
}

impl LaneCounts {
    pub(crate) const ZERO: LaneCounts = LaneCounts {
        accepted: 0,
        coalesced: 0,
        starts_skipped: 0,
        dropped: 0,
    };

    /// Adds a shipped lane's counts; `dropped_at_shutdown` of its events were dropped.
    pub(crate) fn settle(self, dropped_at_shutdown: usize) {
        Counters::add(&COUNTERS.enqueued, self.accepted as usize);
        Counters::add(&COUNTERS.coalesced, self.coalesced as usize);
        Counters::add(&COUNTERS.starts_skipped, self.starts_skipped as usize);
        Counters::add(&COUNTERS.dropped_queue_full, self.dropped as usize);
        if dropped_at_shutdown > 0 {
            Counters::add(&COUNTERS.dropped_at_shutdown, dropped_at_shutdown);
        }
    }
}

/// A shared hold on the counters' books: a lane sends its shipment and counts it within one,
/// so a run cannot close between the two.
pub(crate) struct Books<'a> {
    _hold: RwLockReadGuard<'a, u64>,
    counters: &'a Counters,
}

impl Books<'_> {
    /// Whether an export thread's run is open to take shipments; when not, a shipment is
    /// dropped and counted as dropped at shutdown.
    pub(crate) fn open(&self) -> bool {
        self.counters.standing_run.load(Relaxed) != CLOSED
    }
}
