//! The export thread's [`Settings`].

use std::time::Duration;

use crate::export::controls::Controls;

/// What the export thread is told: batching, flushing, retries and payload controls. The
/// [`Config`](crate::Config) holds this struct as it is, and a second `init` hands the
/// running thread a new one.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) max_batch_items: usize,
    pub(crate) max_batch_bytes: usize,
    pub(crate) flush_at: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) max_retry_time: Duration,
    pub(crate) controls: Controls,
}

impl Settings {
    /// How many events the export thread buffers beyond the channel: a few batches' worth,
    /// enough to coalesce and fill batches, so that memory stays bounded by the channel.
    pub(crate) fn pending_limit(&self, capacity: usize) -> usize {
        capacity.min((8 * self.max_batch_items).max(self.flush_at))
    }

    /// The wait before attempt `attempt + 1`, after `attempt` failures.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.backoff_initial
            .saturating_mul(1 << doublings)
            .min(self.backoff_max)
    }
}
