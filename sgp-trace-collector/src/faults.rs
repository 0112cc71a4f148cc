//! Faults on demand, for testing how clients cope with a failing server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
struct FailPlan {
    remaining: usize,
    status: u16,
    retry_after: Option<Duration>,
}

#[derive(Debug, Default)]
struct Inner {
    fail: Mutex<FailPlan>,
    delay_us: AtomicU64,
    close_remaining: AtomicU64,
}

/// The fault switches of one collector. Cheap to clone; all clones share state.
///
/// - [`fail_next`](Faults::fail_next) answers span-write requests
///   (`PUT`/`POST /v5/spans/batch`, `POST /v5/spans`) with an error status;
/// - [`delay`](Faults::delay) holds every `/v5/` answer back;
/// - [`close_next`](Faults::close_next) drops the connection of `/v5/` requests
///   without answering.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

/// A status chosen by [`Faults::fail_next`] for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    pub status: u16,
    pub retry_after: Option<Duration>,
}

impl Faults {
    /// Answers the next `n` span-write requests with `status` (and a
    /// `Retry-After` header in whole seconds, rounded up, when `retry_after` is
    /// set). Replaces any earlier plan; `n = 0` cancels it.
    pub fn fail_next(&self, n: usize, status: u16, retry_after: Option<Duration>) {
        let mut plan = self.inner.fail.lock().expect("fault lock");
        *plan = FailPlan {
            remaining: n,
            status,
            retry_after,
        };
    }

    /// Delays every answer to a `/v5/` request by `d` (`Duration::ZERO` stops it).
    pub fn delay(&self, d: Duration) {
        self.inner.delay_us.store(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// Drops the connection without answering for the next `n` `/v5/` requests
    /// (after reading their bodies). Replaces any earlier count.
    pub fn close_next(&self, n: usize) {
        self.inner.close_remaining.store(n as u64, Ordering::SeqCst);
    }

    /// Turns every fault off.
    pub fn clear(&self) {
        self.fail_next(0, 503, None);
        self.delay(Duration::ZERO);
        self.close_next(0);
    }

    /// How many failures [`fail_next`](Faults::fail_next) still has to answer.
    pub fn pending_failures(&self) -> usize {
        self.inner.fail.lock().expect("fault lock").remaining
    }

    /// How many connections [`close_next`](Faults::close_next) still has to drop.
    pub fn pending_closes(&self) -> usize {
        self.inner.close_remaining.load(Ordering::SeqCst) as usize
    }

    pub(crate) fn current_delay(&self) -> Duration {
        Duration::from_micros(self.inner.delay_us.load(Ordering::SeqCst))
    }

    pub(crate) fn take_close(&self) -> bool {
        self.inner
            .close_remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn take_failure(&self) -> Option<Failure> {
        let mut plan = self.inner.fail.lock().expect("fault lock");
        if plan.remaining == 0 {
            return None;
        }
        plan.remaining -= 1;
        Some(Failure {
            status: plan.status,
            retry_after: plan.retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_count_down_and_clear() {
        let f = Faults::default();
        f.fail_next(2, 429, Some(Duration::from_secs(3)));
        f.close_next(1);
        assert_eq!(f.take_failure().map(|x| x.status), Some(429));
        assert!(f.take_failure().is_some());
        assert_eq!(f.take_failure(), None);
        assert!(f.take_close());
        assert!(!f.take_close());
        f.fail_next(5, 503, None);
        f.delay(Duration::from_millis(5));
        f.clear();
        assert_eq!(f.pending_failures(), 0);
        assert_eq!(f.current_delay(), Duration::ZERO);
    }
}
