//! Wall-clock time for span timestamps, read from the CPU's time-stamp counter where the
//! kernel trusts it.
//!
//! Every span reads the clock twice, and `clock_gettime` is a good part of what a span costs.
//! On x86-64 Linux with the `tsc` clock source (the kernel checked that the counter is
//! invariant and in step across CPUs), a thread keeps an anchor: the wall clock and the
//! counter read together. A timestamp is the anchor's wall clock plus the cycles since,
//! converted at the rate measured against the monotonic clock over the process's first
//! [`CALIBRATION_NANOS`]. Each thread reads the real clock again every [`ANCHOR_NANOS`], so
//! clock adjustments (NTP) and rate error reach timestamps within that time, and the error
//! stays within microseconds. Anywhere else, and until the rate is measured, timestamps
//! come from [`SystemTime`].

use std::time::SystemTime;

use crate::model::Timestamp;

/// Nanoseconds since the Unix epoch now; 0 for a clock set before 1970.
#[inline]
pub(crate) fn now_nanos() -> u64 {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if let Some(nanos) = tsc::now_nanos() {
        return nanos;
    }
    system_nanos()
}

fn system_nanos() -> u64 {
    Timestamp::from(SystemTime::now()).as_nanos()
}

/// How long the counter's rate is measured before timestamps use it.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const CALIBRATION_NANOS: u64 = 200_000_000;

/// How often a thread reads the real clock again.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const ANCHOR_NANOS: u64 = 100_000_000;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tsc {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::Instant;

    use super::{system_nanos, ANCHOR_NANOS, CALIBRATION_NANOS};

    /// Nanoseconds per cycle as a 32.32 fixed-point number; 0 while not measured (or when
    /// the counter is not to be trusted, see [`Calibration`]).
    static RATE: AtomicU64 = AtomicU64::new(0);

    /// Where the rate is measured from, taken at the first timestamp; `None` when the
    /// kernel does not use the counter as its clock source.
    static CALIBRATION: OnceLock<Option<Calibration>> = OnceLock::new();

    struct Calibration {
        started: Instant,
        cycles: u64,
    }

    /// A thread's last reading of the real clock, and the counter at that moment.
    #[derive(Clone, Copy)]
    struct Anchor {
        cycles: u64,
        nanos: u64,
        rate: u64,
        /// The counter value after which the anchor is read again.
        until: u64,
    }

    thread_local! {
        static ANCHOR: Cell<Option<Anchor>> = const { Cell::new(None) };
    }

    fn cycles() -> u64 {
        // SAFETY: RDTSC exists on every x86-64 CPU and has no preconditions.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    #[inline]
    pub(super) fn now_nanos() -> Option<u64> {
        let now = cycles();
        match ANCHOR.try_with(Cell::get) {
            Ok(Some(anchor)) if now >= anchor.cycles && now < anchor.until => {
                let elapsed = (u128::from(now - anchor.cycles) * u128::from(anchor.rate)) >> 32;
                Some(anchor.nanos + elapsed as u64)
            }
            Ok(_) => reanchor(),
            Err(_) => None,
        }
    }

    /// Reads the real clock and, once the rate is known, anchors this thread to it.
    #[cold]
    fn reanchor() -> Option<u64> {
        let rate = rate()?;
        let nanos = system_nanos();
        let cycles = cycles();
        let anchor_cycles = (u128::from(ANCHOR_NANOS) << 32) / u128::from(rate);
        let anchor = Anchor {
            cycles,
            nanos,
            rate,
            until: cycles.saturating_add(anchor_cycles as u64),
        };
        let _ = ANCHOR.try_with(|cell| cell.set(Some(anchor)));
        Some(nanos)
    }

    /// The measured rate, measuring it when the calibration time has passed.
    fn rate() -> Option<u64> {
        let rate = RATE.load(Ordering::Relaxed);
        if rate != 0 {
            return Some(rate);
        }
        let calibration = CALIBRATION.get_or_init(Calibration::start).as_ref()?;
        let elapsed = calibration.started.elapsed().as_nanos() as u64;
        if elapsed < CALIBRATION_NANOS {
            return None;
        }
        let cycles = cycles().saturating_sub(calibration.cycles).max(1);
        let rate = ((u128::from(elapsed) << 32) / u128::from(cycles)) as u64;
        // A rate outside 0.1 to 20 GHz means the counter is not what it should be.
        let plausible = (1u64 << 32) / 20..=(10u64 << 32);
        if !plausible.contains(&rate) {
            return None;
        }
        RATE.store(rate, Ordering::Relaxed);
        Some(rate)
    }

    impl Calibration {
        fn start() -> Option<Calibration> {
            let source = std::fs::read_to_string(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            )
            .ok()?;
            (source.trim() == "tsc").then(|| Calibration {
                started: Instant::now(),
                cycles: cycles(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Timestamps from the counter agree with the system clock, before and after the rate
    /// is measured and across re-anchoring.
    #[test]
    fn timestamps_follow_the_system_clock() {
        let deadline = std::time::Instant::now() + Duration::from_millis(600);
        let mut previous = 0;
        while std::time::Instant::now() < deadline {
            let before = system_nanos();
            let now = now_nanos();
            let after = system_nanos();
            // Generous bounds: the anchor's error is microseconds; a preempted thread is not.
            assert!(now + 1_000_000 >= before, "{now} is before {before}");
            assert!(now <= after + 1_000_000, "{now} is after {after}");
            assert!(
                now + 1_000_000 >= previous,
                "went back from {previous} to {now}"
            );
            previous = now;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
