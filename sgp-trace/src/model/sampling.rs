//! Head sampling: whether a trace is kept is decided from its trace id alone, so every span
//! of the trace, in every thread and process, makes the same decision without being told.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::model::Id;

/// Traces whose id hashes below this are kept; `u64::MAX` keeps all.
static THRESHOLD: AtomicU64 = AtomicU64::new(u64::MAX);

/// Whether unsampled traces are still recorded, to be kept if one of their spans fails.
static KEEP_ERROR_TRACES: AtomicBool = AtomicBool::new(false);

/// Applies a configuration's sampling settings.
pub(crate) fn configure(rate: f64, keep_error_traces: bool) {
    let threshold = if rate >= 1.0 {
        u64::MAX
    } else {
        (rate.max(0.0) * u64::MAX as f64) as u64
    };
    THRESHOLD.store(threshold, Relaxed);
    KEEP_ERROR_TRACES.store(keep_error_traces, Relaxed);
}

/// What to do with a span of this trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Record and send it.
    Keep,
    /// Record it, but let the export thread send it only if its trace has an error.
    HoldUnlessError,
    /// Make a no-op span.
    Drop,
}

#[inline]
pub(crate) fn decide(trace_id: &Id) -> Decision {
    let threshold = THRESHOLD.load(Relaxed);
    if threshold == u64::MAX || trace_hash(trace_id) < threshold {
        Decision::Keep
    } else if KEEP_ERROR_TRACES.load(Relaxed) {
        Decision::HoldUnlessError
    } else {
        Decision::Drop
    }
}

/// A well-mixed 64-bit hash of the id that is the same in every process and version.
fn trace_hash(id: &Id) -> u64 {
    let folded = match id.as_uuid() {
        Some(uuid) => {
            let value = uuid.as_u128();
            (value >> 64) as u64 ^ value as u64
        }
        // FNV-1a: stable, unlike the standard library's seeded hasher.
        None => id
            .to_string()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            }),
    };
    splitmix64(folded)
}

fn splitmix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_and_spread() {
        let id = Id::new("order-42").unwrap();
        assert_eq!(trace_hash(&id), trace_hash(&Id::new("order-42").unwrap()));
        let below_half = (0..10_000)
            .filter(|_| trace_hash(&Id::random()) < u64::MAX / 2)
            .count();
        assert!(
            (4_500..5_500).contains(&below_half),
            "{below_half} of 10000 below the middle"
        );
    }
}
