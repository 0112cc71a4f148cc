//! Lanes: where span events wait between the thread that makes them and the export thread.
//!
//! Each thread owns a lane, a short buffer behind an uncontended lock. A span's start event
//! waits in the lane of the thread that started it, and its end event replaces it there when
//! the start has not left yet, so a short span costs one slot and reaches the export thread
//! as one event. A lane leaves for the export thread as one shipment on the bounded channel
//! when it is full or its oldest event is [`MAX_AGE_NANOS`] old; the export thread takes the
//! lanes of idle threads itself (see [`ship_all`]). Sending through one channel under the
//! lane's lock keeps a span's events in order, whichever thread ends it.
//!
//! Compared with one channel operation per event, this takes the shared cache lines off the
//! hot path: a span touches only its own thread's lane.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::runtime::{Event, COUNTERS};
use crate::stats::Counters;

/// The most events a lane holds before it ships; smaller when the queue is smaller.
pub(crate) const MAX_LANE_EVENTS: usize = 64;

/// A lane ships when an event arrives this long after its oldest one, so a busy thread's
/// spans do not wait for the lane to fill.
const MAX_AGE_NANOS: u64 = 20_000_000;

/// A batch of events taken from one lane.
pub(crate) type Shipment = Vec<Event>;

/// After a shipment found the channel full, the lane does not try again for this long: the
/// export thread frees a slot only after taking a whole shipment, and a try on every event
/// would put the channel's shared cache lines back on the hot path just when it is busiest.
const RETRY_NANOS: u64 = 20_000;

/// Set when a lane goes from empty to holding events, cleared by the export thread when it
/// ships the lanes: it looks at idle lanes only when something may wait there.
static LANES_DIRTY: AtomicBool = AtomicBool::new(false);

/// Every lane ever made. Lanes are never freed: a thread that ends gives its lane back for
/// the next thread, so there are at most as many as threads that ran at once.
static ALL_LANES: Mutex<Vec<&'static Lane>> = Mutex::new(Vec::new());

/// Lanes of threads that ended, ready for new threads.
static FREE_LANES: Mutex<Vec<&'static Lane>> = Mutex::new(Vec::new());

/// Used when the thread's own lane is gone (a span ending during thread teardown).
static SHARED_LANE: Lane = Lane::new();

thread_local! {
    static THREAD_LANE: ThreadLane = ThreadLane::acquire();
}

/// One thread's buffer of span events.
#[derive(Debug)]
pub(crate) struct Lane {
    state: LaneLock<LaneState>,
}

#[derive(Debug)]
struct LaneState {
    events: Vec<Event>,
    /// Counts the shipments that left this lane; a [`StartSlot`] is valid while this stays.
    generation: u64,
    /// What happened to events since the last shipment, added to the shared counters when
    /// the lane ships: counting here keeps the hot path off their cache line.
    counts: LaneCounts,
    /// Timestamp (ns) of the oldest event waiting.
    oldest: u64,
    /// Whether the channel was more than half full at the last shipment: start events give
    /// way then.
    under_pressure: bool,
    /// Whether this lane was counted as ever registered.
    registered: bool,
    /// When a full lane may try to ship again (see [`RETRY_NANOS`]).
    retry_at: u64,
}

/// Where a span's start event waits, so its end event can replace it.
#[derive(Debug)]
pub(crate) struct StartSlot {
    lane: &'static Lane,
    generation: u64,
    index: usize,
}

/// What a lane needs to ship: the channel, the size of a shipment, and the emptied
/// shipments the export thread gives back (reused, so a lane allocates nothing once warm).
pub(crate) struct Route<'a> {
    pub(crate) sender: &'a Sender<Shipment>,
    pub(crate) spare: &'a Receiver<Shipment>,
    pub(crate) lane_events: usize,
}

impl Lane {
    const fn new() -> Lane {
        Lane {
            state: LaneLock::new(LaneState {
                events: Vec::new(),
                generation: 0,
                counts: LaneCounts::ZERO,
                oldest: 0,
                under_pressure: false,
                registered: false,
                retry_at: 0,
            }),
        }
    }

    fn lock(&self) -> LaneGuard<'_, LaneState> {
        self.state.lock()
    }

    /// Adds an event; returns where it sits, or `None` when it was not taken: a start event
    /// under pressure (counted as skipped), or any event when the lane and the channel are
    /// both full (dropped and counted).
    fn push(
        &'static self,
        route: &Route<'_>,
        event: Event,
        now: u64,
        is_start: bool,
    ) -> Option<StartSlot> {
        let mut state = self.lock();
        if is_start && state.under_pressure {
            state.counts.starts_skipped += 1;
            return None;
        }
        if !state.registered {
            state.registered = true;
            register(self);
        }
        if state.events.len() >= route.lane_events {
            // The lane is full because the channel was: try again now and then, and until
            // it ships, drop (and count) the events that would not fit.
            if now < state.retry_at || !state.ship(route) {
                state.counts.dropped += 1;
                if now >= state.retry_at {
                    state.retry_at = now + RETRY_NANOS;
                }
                return None;
            }
        }
        if state.events.is_empty() {
            state.oldest = now;
            if state.events.capacity() == 0 {
                state.events = route
                    .spare
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(route.lane_events));
            }
            mark_dirty(Some(route));
        }
        let slot = StartSlot {
            lane: self,
            generation: state.generation,
            index: state.events.len(),
        };
        state.events.push(event);
        state.counts.accepted += 1;
        state.ship_if_due(route, now);
        Some(slot)
    }
}

impl LaneState {
    fn ship_if_due(&mut self, route: &Route<'_>, now: u64) {
        let due = self.events.len() >= route.lane_events
            || now.saturating_sub(self.oldest) > MAX_AGE_NANOS;
        if due && now >= self.retry_at && !self.ship(route) {
            self.retry_at = now + RETRY_NANOS;
        }
    }

    /// Sends the waiting events as one shipment; returns `false` when the channel is full
    /// (they stay here).
    fn ship(&mut self, route: &Route<'_>) -> bool {
        if self.events.is_empty() {
            return true;
        }
        let shipment = std::mem::take(&mut self.events);
        match route.sender.try_send(shipment) {
            Ok(()) => {
                self.generation += 1;
                std::mem::replace(&mut self.counts, LaneCounts::ZERO).settle();
                let capacity = route.sender.capacity().unwrap_or(0);
                self.under_pressure = route.sender.len() * 2 > capacity;
                true
            }
            Err(TrySendError::Full(shipment)) | Err(TrySendError::Disconnected(shipment)) => {
                self.events = shipment;
                self.under_pressure = true;
                mark_dirty(None);
                false
            }
        }
    }
}

/// Queues a span's start event in this thread's lane, unless the channel was more than half
/// full at the lane's last shipment: the end event alone stores the same span, so under
/// pressure the start gives way (counted in `starts_skipped`).
pub(crate) fn push_start(route: &Route<'_>, event: Event, now: u64) -> Option<StartSlot> {
    with_thread_lane(|lane| lane.push(route, event, now, true))
}

/// Queues an event with no start to replace, in this thread's lane.
pub(crate) fn push(route: &Route<'_>, event: Event, now: u64) {
    with_thread_lane(|lane| lane.push(route, event, now, false));
}

/// Queues a span's end event: in place of its start event when that still waits in its
/// lane, else after it in the same lane, so the end never overtakes the start.
///
/// Held events (see [`sampling`](crate::sampling)) are never replaced in place: the export
/// thread judges a held trace by the order its spans end in (an error before the root's end
/// keeps the trace), and an end moved up to its start's place would come before its
/// children's.
pub(crate) fn push_end(route: &Route<'_>, slot: StartSlot, event: Event, now: u64) {
    let lane = slot.lane;
    if !event.held {
        let mut state = lane.lock();
        if state.generation == slot.generation {
            state.events[slot.index] = event;
            state.counts.coalesced += 1;
            state.counts.accepted += 1;
            state.ship_if_due(route, now);
            return;
        }
    }
    lane.push(route, event, now, false);
}

fn with_thread_lane<R>(f: impl FnOnce(&'static Lane) -> R) -> R {
    let mut f = Some(f);
    let result = THREAD_LANE.try_with(|lane| (f.take().expect("called once"))(lane.0));
    match result {
        Ok(value) => value,
        Err(_) => (f.take().expect("not called when the lane is gone"))(&SHARED_LANE),
    }
}

/// Ships every lane that holds events, for the export thread: on its periodic look at idle
/// lanes, and to flush or shut down. Returns `false` when the channel filled before every
/// lane was shipped; take from the channel and call again.
pub(crate) fn ship_all(route: &Route<'_>) -> bool {
    LANES_DIRTY.store(false, Ordering::Relaxed);
    let lanes: Vec<&'static Lane> = lock_list(&ALL_LANES).clone();
    lanes.iter().all(|lane| lane.lock().ship(route))
}

/// Notes that a lane holds events, writing the shared flag only when it changes. With a
/// route, the change also wakes the export thread with an empty shipment, so a span started
/// on a thread that then waits is seen within the export thread's lane look interval rather
/// than at its next idle wake-up; this happens at most once per look.
fn mark_dirty(route: Option<&Route<'_>>) {
    if !LANES_DIRTY.load(Ordering::Relaxed) {
        LANES_DIRTY.store(true, Ordering::Relaxed);
        if let Some(route) = route {
            let _ = route.sender.try_send(Vec::new());
        }
    }
}

/// Whether a lane may hold events the export thread has not seen.
pub(crate) fn any_waiting() -> bool {
    LANES_DIRTY.load(Ordering::Relaxed)
}

/// What lanes counted since their last shipment, for `stats`.
pub(crate) fn unshipped_counts() -> LaneCounts {
    let lanes: Vec<&'static Lane> = lock_list(&ALL_LANES).clone();
    let mut total = LaneCounts::ZERO;
    for lane in lanes {
        let counts = lane.lock().counts;
        total.accepted += counts.accepted;
        total.coalesced += counts.coalesced;
        total.starts_skipped += counts.starts_skipped;
        total.dropped += counts.dropped;
    }
    total
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
    const ZERO: LaneCounts = LaneCounts {
        accepted: 0,
        coalesced: 0,
        starts_skipped: 0,
        dropped: 0,
    };

    fn settle(self) {
        Counters::add(&COUNTERS.enqueued, self.accepted as usize);
        Counters::add(&COUNTERS.coalesced, self.coalesced as usize);
        Counters::add(&COUNTERS.starts_skipped, self.starts_skipped as usize);
        Counters::add(&COUNTERS.dropped_queue_full, self.dropped as usize);
    }
}

fn register(lane: &'static Lane) {
    lock_list(&ALL_LANES).push(lane);
}

fn lock_list(list: &'static Mutex<Vec<&'static Lane>>) -> MutexGuard<'static, Vec<&'static Lane>> {
    list.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A thread's hold on its lane, given back when the thread ends. What the lane still holds
/// then is shipped by the export thread's next look (the lane stays registered).
struct ThreadLane(&'static Lane);

impl ThreadLane {
    fn acquire() -> ThreadLane {
        let reused = lock_list(&FREE_LANES).pop();
        ThreadLane(reused.unwrap_or_else(|| Box::leak(Box::new(Lane::new()))))
    }
}

impl Drop for ThreadLane {
    fn drop(&mut self) {
        if !self.0.lock().events.is_empty() {
            mark_dirty(None);
        }
        lock_list(&FREE_LANES).push(self.0);
    }
}

/// The lock of a lane: almost always taken by the lane's own thread, so taking it is one
/// atomic exchange and giving it back a plain store (a `Mutex` pays a second atomic to
/// look for sleepers). Another thread takes it only to ship the lane or end a span that
/// moved, for a few instructions; a waiter spins briefly, then yields.
struct LaneLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a `LaneGuard`, and `locked` lets one guard
// exist at a time; its Acquire/Release pair orders the accesses of successive holders.
unsafe impl<T: Send> Sync for LaneLock<T> {}

impl<T> LaneLock<T> {
    const fn new(value: T) -> LaneLock<T> {
        LaneLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    fn lock(&self) -> LaneGuard<'_, T> {
        let mut spins = 0u32;
        while self.locked.swap(true, Ordering::Acquire) {
            while self.locked.load(Ordering::Relaxed) {
                spins += 1;
                if spins < 100 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
        LaneGuard { lock: self }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for LaneLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaneLock").finish_non_exhaustive()
    }
}

struct LaneGuard<'a, T> {
    lock: &'a LaneLock<T>,
}

impl<T> Deref for LaneGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for LaneGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, and `&mut self` makes this the only reference.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for LaneGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}
