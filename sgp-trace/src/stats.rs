//! Counters of what happened to span events, kept by the hot path and the export thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
    /// Events still unsent when the shutdown bound ran out.
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

/// The live counters. Lanes add their events to `enqueued` and `coalesced` when they ship,
/// so the hot path touches no shared counter per event; `stats` adds what waits in lanes.
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
        }
    }

    pub(crate) fn add(counter: &AtomicU64, events: usize) {
        counter.fetch_add(events as u64, Relaxed);
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

    /// Adds a shipped lane's counts to the process's counters.
    pub(crate) fn settle(self) {
        Counters::add(&COUNTERS.enqueued, self.accepted as usize);
        Counters::add(&COUNTERS.coalesced, self.coalesced as usize);
        Counters::add(&COUNTERS.starts_skipped, self.starts_skipped as usize);
        Counters::add(&COUNTERS.dropped_queue_full, self.dropped as usize);
    }
}
