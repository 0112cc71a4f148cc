//! Random numbers for generated ids: xoshiro256++ with one state per thread, seeded from
//! the operating system's randomness (through `uuid`) when the thread makes its first id.
//!
//! An id needs uniqueness, not secrecy: a span id is no capability. A ChaCha generator
//! (what `Uuid::new_v4` uses) is a visible part of a recorded span's cost; this one
//! costs a few adds, shifts and rotations. Its 256-bit state keeps the streams of two
//! threads from ever overlapping in practice, so ids stay as unique as random UUIDs.
//! As with `rand`'s own thread generator, a process that forks without `exec` continues
//! its parent's streams in the child.

use std::cell::Cell;

thread_local! {
    /// All zeros until seeded (a state xoshiro never reaches once seeded).
    static STATE: Cell<[u64; 4]> = const { Cell::new([0; 4]) };
}

/// 128 random bits, as two words.
pub(crate) fn words() -> [u64; 2] {
    STATE
        .try_with(|cell| {
            let mut state = cell.get();
            if state == [0; 4] {
                state = seed();
            }
            let words = [next(&mut state), next(&mut state)];
            cell.set(state);
            words
        })
        // During the thread's teardown: a freshly seeded draw.
        .unwrap_or_else(|_| {
            let mut state = seed();
            [next(&mut state), next(&mut state)]
        })
}

#[cold]
fn seed() -> [u64; 4] {
    let [a, b] = split(uuid::Uuid::new_v4().as_u128());
    let [c, d] = split(uuid::Uuid::new_v4().as_u128());
    let state = [a, b, c, d];
    if state == [0; 4] {
        // Not reachable with a working random source; xoshiro must not start at zero.
        [1, 2, 3, 4]
    } else {
        state
    }
}

fn split(value: u128) -> [u64; 2] {
    [(value >> 64) as u64, value as u64]
}

/// One step of xoshiro256++ (Blackman and Vigna, 2019).
#[inline]
fn next(state: &mut [u64; 4]) -> u64 {
    let result = state[0]
        .wrapping_add(state[3])
        .rotate_left(23)
        .wrapping_add(state[0]);
    let shifted = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= shifted;
    state[3] = state[3].rotate_left(45);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn matches_the_reference_sequence() {
        // The first outputs of the reference C implementation from state {1, 2, 3, 4}.
        let mut state = [1, 2, 3, 4];
        let outputs: Vec<u64> = (0..3).map(|_| next(&mut state)).collect();
        assert_eq!(outputs, [41_943_041, 58_720_359, 3_588_806_011_781_223]);
    }

    #[test]
    fn threads_draw_different_words() {
        let draws: Vec<[u64; 2]> = (0..8)
            .map(|_| std::thread::spawn(words).join().unwrap())
            .chain((0..1000).map(|_| words()))
            .collect();
        let distinct: HashSet<_> = draws.iter().collect();
        assert_eq!(distinct.len(), draws.len());
    }
}
