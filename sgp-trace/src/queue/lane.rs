//! Lanes: where spans wait between the thread that makes them and the export thread.
//!
//! Each thread owns a lane behind an uncontended lock. A started span's item is written
//! once, among the lane's events, and waits there while it runs: the span's handle holds
//! only its place ([`SpanSlot`]), setters change the item there, and a span that ends
//! before the lane ships ends in place, its end taking its start's place (the start counts
//! as coalesced). So most spans' items are never copied on the program's thread. A span
//! still running when its lane ships sends its item as its start event (so live views show
//! it running) and keeps a copy in its seat, moved to the events when it ends.
//!
//! A lane leaves for the export thread as one shipment on the bounded channel when it holds
//! [`MAX_LANE_EVENTS`] events (ended spans and unsent starts), when an event arrives
//! [`MAX_AGE_NANOS`] after its oldest one, and when the export thread takes the lanes of idle
//! threads itself (see [`ship_all`]). Shipping through one channel under the lane's lock
//! keeps a span's start before its end, whichever thread ends it. Compared with one channel
//! operation per event, this takes the shared cache lines off the hot path: a span touches
//! only its own thread's lane.

use std::cell::UnsafeCell;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::model::SpanItem;
use crate::queue::event::Event;
use crate::stats::{LaneCounts, COUNTERS};

/// The most events a lane holds before it ships; smaller when the queue is smaller.
pub(crate) const MAX_LANE_EVENTS: usize = 64;

/// Seats a lane keeps once no span runs on it; beyond this, the seats of a burst of open
/// spans (many tasks started on one thread, say) are given back.
const MAX_KEPT_SEATS: usize = 1024;

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

/// Used when the thread's own lane is gone (a span starting during thread teardown).
static SHARED_LANE: Lane = Lane::new();

thread_local! {
    static THREAD_LANE: ThreadLane = ThreadLane::acquire();
}

/// One thread's spans: those running and the events ready to ship.
#[derive(Debug)]
pub(crate) struct Lane {
    state: LaneLock<LaneState>,
}

#[derive(Debug)]
struct LaneState {
    /// What leaves with the next shipment, in the order it arrived: spans started since the
    /// last shipment (ended in place, or still running: then their start), the ends of
    /// older spans, and recorded items.
    events: Vec<Event>,
    /// Spans started here that have not ended, by [`SpanSlot::index`].
    open: Vec<Seat>,
    /// Free indices of `open`.
    free: Vec<u32>,
    /// Seats of the running spans whose item waits in `events`, as (index, generation).
    /// Entries of spans that ended since are stale (their seat's generation moved on) and
    /// are dropped at the next shipment.
    unsent_starts: Vec<(u32, u32)>,
    /// Copies of the items of spans still running at a shipment, made before it goes and
    /// seated once it went; kept for its capacity.
    start_copies: Vec<(u32, Event)>,
    /// Events ended since the last shipment: the next one's [`Event::end_order`].
    ends: u32,
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

/// A place for one running span; its generation counts the spans it held, so a stale
/// [`SpanSlot`] cannot reach the next span seated there.
#[derive(Debug)]
struct Seat {
    generation: u32,
    span: Place,
}

/// The seat at `index` if it still holds the span of `generation`: a seat's generation
/// moves on when its span ends, so a stale slot or entry reaches nothing. Takes the seats
/// alone, so that a caller may reach the events beside them.
#[inline]
fn seat_holding(open: &mut [Seat], index: u32, generation: u32) -> Option<&mut Seat> {
    open.get_mut(index as usize)
        .filter(|seat| seat.generation == generation)
}

/// Where a running span's item waits.
///
/// Seats are reused span after span, so a seated item is kept in place rather than boxed:
/// a box would be an allocation for every span that outlives a shipment.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Place {
    /// No span runs in the seat.
    Empty,
    /// Among the lane's events, at this index: the span started since the lane last
    /// shipped, and its start has not been sent. It ends there.
    InEvents(u32),
    /// In the seat: the span's start was sent or skipped.
    Seated(SeatedSpan),
}

/// A running span whose item waits in its seat.
#[derive(Debug)]
struct SeatedSpan {
    /// The span's item as its end event, to be moved as it is into the events.
    event: Event,
    start: Start,
}

/// What became of the start event of a seated span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Sent,
    /// Given way under pressure (counted in `starts_skipped`): the end alone stores the span.
    Skipped,
}

/// Where a running span's item waits: its lane and seat. A copy kept past the span's end
/// reaches nothing: the seat's generation has moved on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanSlot {
    lane: &'static Lane,
    index: u32,
    generation: u32,
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
                open: Vec::new(),
                free: Vec::new(),
                unsent_starts: Vec::new(),
                start_copies: Vec::new(),
                ends: 0,
                counts: LaneCounts::ZERO,
                oldest: 0,
                under_pressure: false,
                registered: false,
                retry_at: 0,
            }),
        }
    }

    #[inline]
    fn lock(&self) -> LaneGuard<'_, LaneState> {
        self.state.lock()
    }

    /// Places a started span's item among the events, where it waits as its start event
    /// (sent with the lane's next shipment if the span still runs then). When the channel
    /// was under pressure at the last shipment, or the lane is full and cannot ship, the
    /// start gives way (counted as skipped) and the item waits in the span's seat.
    #[inline(always)]
    fn start(&'static self, route: &Route<'_>, item: ItemToMove, held: bool, now: u64) -> SpanSlot {
        let mut state = self.lock();
        state.register(self);
        let (index, generation);
        if state.under_pressure || !state.make_room(route, now) {
            state.counts.starts_skipped += 1;
            (index, generation) = state.seat(Place::Seated(SeatedSpan {
                event: Event::start(item.take(), held),
                start: Start::Skipped,
            }));
        } else {
            state.note_arrival(route, now);
            state.counts.accepted += 1;
            let at = state.add_start(route, item, held);
            (index, generation) = state.seat(Place::InEvents(at));
            state.unsent_starts.push((index, generation));
            state.ship_if_due(route, now);
        }
        SpanSlot {
            lane: self,
            index,
            generation,
        }
    }

    /// Adds an event that replaces no start: dropped (and counted) when the lane is full
    /// and cannot ship.
    fn push(&'static self, route: &Route<'_>, event: Event, now: u64) {
        let mut state = self.lock();
        state.register(self);
        if !state.make_room(route, now) {
            state.counts.dropped += 1;
            return;
        }
        state.note_arrival(route, now);
        state.add_event(route, event);
        state.ship_if_due(route, now);
    }
}

impl LaneState {
    #[inline]
    fn register(&mut self, lane: &'static Lane) {
        if !self.registered {
            self.registered = true;
            register(lane);
        }
    }

    /// Events waiting to ship: ended spans and unsent starts.
    #[inline]
    fn waiting(&self) -> usize {
        self.events.len()
    }

    /// Whether one more event fits, shipping the lane first when it is full. A full lane
    /// whose shipment found the channel full tries again only every [`RETRY_NANOS`].
    fn make_room(&mut self, route: &Route<'_>, now: u64) -> bool {
        self.waiting() < route.lane_events || self.try_ship(route, now)
    }

    /// Ships unless a shipment found the channel full less than [`RETRY_NANOS`] ago;
    /// returns whether it shipped.
    fn try_ship(&mut self, route: &Route<'_>, now: u64) -> bool {
        if now < self.retry_at {
            return false;
        }
        let shipped = self.ship(route);
        if !shipped {
            self.retry_at = now + RETRY_NANOS;
        }
        shipped
    }

    /// Notes the time of the first event of an empty lane, and that the lane needs shipping.
    #[inline]
    fn note_arrival(&mut self, route: &Route<'_>, now: u64) {
        if self.waiting() == 0 {
            self.oldest = now;
            mark_dirty(Some(route));
        }
    }

    /// Gives `events` a buffer when it has none (it left with the last shipment): an
    /// emptied shipment from the export thread, or a new one.
    #[inline]
    fn ready_events(&mut self, route: &Route<'_>) {
        if self.events.capacity() == 0 {
            self.events = route
                .spare
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(route.lane_events));
        }
    }

    #[inline]
    fn add_event(&mut self, route: &Route<'_>, mut event: Event) {
        event.end_order = self.next_end();
        self.ready_events(route);
        self.events.push(event);
        self.counts.accepted += 1;
    }

    /// The [`Event::end_order`] of an event ending now.
    #[inline]
    fn next_end(&mut self) -> u32 {
        self.ends += 1;
        self.ends
    }

    /// Adds a started span's item to the events as its start; returns its index. Written
    /// in place: this is the hot path's one copy of the item.
    #[inline(always)]
    fn add_start(&mut self, route: &Route<'_>, item: ItemToMove, held: bool) -> u32 {
        self.ready_events(route);
        self.events.reserve(1);
        let at = self.events.len();
        // SAFETY: `reserve` made room for one event at `at`, written here before the length
        // takes it in.
        unsafe {
            std::ptr::write(
                self.events.as_mut_ptr().add(at),
                Event::start(item.take(), held),
            );
            self.events.set_len(at + 1);
        }
        at as u32
    }

    /// Gives a running span a seat, holding `place`; returns the seat's index and generation.
    #[inline(always)]
    fn seat(&mut self, place: Place) -> (u32, u32) {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.open.push(Seat {
                    generation: 0,
                    span: Place::Empty,
                });
                (self.open.len() - 1) as u32
            }
        };
        let seat = &mut self.open[index as usize];
        debug_assert!(matches!(seat.span, Place::Empty));
        // A free seat is `Empty`, which owns nothing: forgotten, not dropped with a call.
        std::mem::forget(std::mem::replace(&mut seat.span, place));
        (index, seat.generation)
    }

    /// Frees the seat of a span that ended among the events (its place owns nothing).
    #[inline]
    fn clear_seat(&mut self, index: u32) {
        let seat = &mut self.open[index as usize];
        debug_assert!(matches!(seat.span, Place::InEvents(_)));
        std::mem::forget(std::mem::replace(&mut seat.span, Place::Empty));
        self.free_seat(index);
    }

    /// Where the span of seat `index` waits, if the seat still holds the one of
    /// `generation`.
    #[inline]
    fn place_at(&mut self, index: u32, generation: u32) -> Option<&mut Place> {
        let seat = seat_holding(&mut self.open, index, generation)?;
        if matches!(seat.span, Place::Empty) {
            return None;
        }
        Some(&mut seat.span)
    }

    /// The item of a running span, wherever it waits.
    fn open_item(&mut self, slot: &SpanSlot) -> Option<&mut SpanItem> {
        // The seat alone borrowed (not through `place_at`), so the events stay reachable.
        let seat = seat_holding(&mut self.open, slot.index, slot.generation)?;
        match &mut seat.span {
            Place::InEvents(at) => Some(&mut self.events[*at as usize].item),
            Place::Seated(span) => Some(&mut span.event.item),
            Place::Empty => None,
        }
    }

    /// Takes a span out of its seat, freeing the seat for the next span; its item, when
    /// among the events, is left there for the caller to deal with.
    fn vacate(&mut self, slot: &SpanSlot) -> Option<Place> {
        let place = std::mem::replace(self.place_at(slot.index, slot.generation)?, Place::Empty);
        self.free_seat(slot.index);
        Some(place)
    }

    /// Removes the event at `at`, the item of a span given up before its start was sent.
    /// The last event takes its place; when that is a running span's, its seat follows.
    fn remove_event(&mut self, at: u32) {
        let last = (self.events.len() - 1) as u32;
        drop(self.events.swap_remove(at as usize));
        if at == last {
            return;
        }
        for &(index, generation) in &self.unsent_starts {
            let seat = seat_holding(&mut self.open, index, generation);
            if let Some(Place::InEvents(moved)) = seat.map(|seat| &mut seat.span) {
                if *moved == last {
                    *moved = at;
                    return;
                }
            }
        }
    }

    /// Moves a seated span's event to the end of the events and frees its seat, with one
    /// copy of the event: moving it through `Option::take`, a return value and `Vec::push`
    /// made six copies of its 280 bytes. The caller checked the slot.
    fn move_to_events(&mut self, slot: &SpanSlot, route: &Route<'_>) {
        self.ready_events(route);
        self.events.reserve(1);
        let seat = &mut self.open[slot.index as usize];
        let Place::Seated(span) = &mut seat.span else {
            return;
        };
        let len = self.events.len();
        // SAFETY: `reserve` made room for one event at `len`, where the seat's event is
        // copied bitwise; the seat is then overwritten with `Empty` without dropping what it
        // held, so the event has exactly one owner, `events`. Nothing in between can panic.
        unsafe {
            std::ptr::copy_nonoverlapping(&span.event, self.events.as_mut_ptr().add(len), 1);
            self.events.set_len(len + 1);
            std::ptr::write(&mut seat.span, Place::Empty);
        }
        self.events[len].end_order = self.next_end();
        self.counts.accepted += 1;
        self.free_seat(slot.index);
    }

    #[inline]
    fn free_seat(&mut self, index: u32) {
        let seat = &mut self.open[index as usize];
        seat.generation = seat.generation.wrapping_add(1);
        self.free.push(index);
        if self.free.len() == self.open.len() && self.open.capacity() > MAX_KEPT_SEATS {
            self.give_back_seats();
        }
    }

    /// No span runs here any more: gives back the seats of a past burst. No slot can point
    /// at them (a slot lives only as long as its span), and no start is unsent.
    #[cold]
    fn give_back_seats(&mut self) {
        self.open = Vec::new();
        self.free = Vec::new();
        self.unsent_starts = Vec::new();
    }

    #[inline]
    fn ship_if_due(&mut self, route: &Route<'_>, now: u64) {
        let due =
            self.waiting() >= route.lane_events || now.saturating_sub(self.oldest) > MAX_AGE_NANOS;
        if due {
            self.try_ship(route, now);
        }
    }

    /// Sends the events as one shipment; returns `false` when the channel is full
    /// (everything stays here). The items of spans still running go as their starts, and
    /// copies of them stay in their seats for their ends.
    #[inline(never)]
    fn ship(&mut self, route: &Route<'_>) -> bool {
        if self.events.is_empty() {
            self.unsent_starts.clear();
            return true;
        }
        let mut copies = std::mem::take(&mut self.start_copies);
        for &(index, generation) in &self.unsent_starts {
            let seat = seat_holding(&mut self.open, index, generation);
            if let Some(Place::InEvents(at)) = seat.map(|seat| &seat.span) {
                let event = &self.events[*at as usize];
                copies.push((index, Event::start(event.item.clone(), event.held)));
            }
        }
        let shipment = std::mem::take(&mut self.events);
        // Sent and counted under one hold of the books, so shutdown's closing count sees
        // both or neither. Once shutdown closed the export thread's run nothing takes the
        // channel: the shipment is dropped here and counted.
        let books = COUNTERS.books();
        let mut dropped = 0;
        let sent = if books.open() {
            route.sender.try_send(shipment)
        } else {
            dropped = shipment.len();
            Ok(())
        };
        let shipped = match sent {
            Ok(()) => {
                for (index, event) in copies.drain(..) {
                    self.open[index as usize].span = Place::Seated(SeatedSpan {
                        event,
                        start: Start::Sent,
                    });
                }
                self.unsent_starts.clear();
                self.ends = 0;
                std::mem::replace(&mut self.counts, LaneCounts::ZERO).settle(dropped);
                let capacity = route.sender.capacity().unwrap_or(0);
                self.under_pressure = route.sender.len() * 2 > capacity;
                true
            }
            Err(TrySendError::Full(shipment)) | Err(TrySendError::Disconnected(shipment)) => {
                copies.clear();
                self.events = shipment;
                self.under_pressure = true;
                mark_dirty(None);
                false
            }
        };
        self.start_copies = copies;
        shipped
    }
}

/// Seats a started span in this thread's lane (see [`Lane::start`]).
#[inline(always)]
pub(crate) fn start(route: &Route<'_>, item: ItemToMove, held: bool, now: u64) -> SpanSlot {
    thread_lane().start(route, item, held, now)
}

/// A span item on its way into its seat, passed by reference.
///
/// Passed by value, the item (a few hundred bytes) was copied once per function it went
/// through, inlining or not: four copies where one will do. This hands over the caller's
/// item instead, to be moved exactly once into the seat with [`ItemToMove::take`].
pub(crate) struct ItemToMove<'a>(&'a mut ManuallyDrop<SpanItem>);

impl<'a> ItemToMove<'a> {
    /// Takes charge of `item`.
    ///
    /// # Safety
    ///
    /// The caller must not use `item` afterwards (its `ManuallyDrop` keeps it from being
    /// dropped): the item is moved out of it.
    pub(crate) unsafe fn new(item: &'a mut ManuallyDrop<SpanItem>) -> ItemToMove<'a> {
        ItemToMove(item)
    }

    #[inline(always)]
    fn take(self) -> SpanItem {
        // SAFETY: `self` is consumed, so the item is read out once, and the caller does not
        // use its `ManuallyDrop` again (the contract of `new`), so it is not dropped twice.
        unsafe { ManuallyDrop::take(self.0) }
    }

    /// Drops the item without seating it.
    pub(crate) fn discard(self) {
        drop(self.take());
    }
}

/// Changes a running span's item; `None` when the slot is stale (never, for a live
/// [`Span`](crate::Span)).
pub(crate) fn with_open<R>(slot: &SpanSlot, change: impl FnOnce(&mut SpanItem) -> R) -> Option<R> {
    let mut state = slot.lane.lock();
    state.open_item(slot).map(change)
}

/// Ends a running span: `finish` sets its end. A span whose item waits among the events
/// ends there, its end taking its start's place (the start counts as coalesced), and always
/// fits; a seated one's item moves to the events, or is dropped (and counted) when the lane
/// is full and cannot ship.
#[inline]
pub(crate) fn end(route: &Route<'_>, slot: SpanSlot, now: u64, finish: impl FnOnce(&mut SpanItem)) {
    let mut state = slot.lane.lock();
    let state = &mut *state;
    let Some(seat) = seat_holding(&mut state.open, slot.index, slot.generation) else {
        return;
    };
    // One call of `finish` for both places: called in two, it was not inlined.
    let (event, seated_start) = match &mut seat.span {
        Place::Empty => return,
        Place::InEvents(at) => (&mut state.events[*at as usize], None),
        Place::Seated(span) => (&mut span.event, Some(span.start)),
    };
    finish(&mut event.item);
    match seated_start {
        None => {
            // `next_end` by hand: `event` still borrows the events.
            state.ends += 1;
            event.end_order = state.ends;
            state.counts.coalesced += 1;
            state.counts.accepted += 1;
            state.clear_seat(slot.index);
        }
        Some(start) => {
            event.follows_start = start == Start::Sent;
            if !state.make_room(route, now) {
                state.counts.dropped += 1;
                state.vacate(&slot);
                return;
            }
            state.note_arrival(route, now);
            state.move_to_events(&slot, route);
        }
    }
    state.ship_if_due(route, now);
}

/// Frees a running span's seat without sending anything (tracing stopped meanwhile), and
/// returns how many events that gives up: its end, and its start when that was not sent
/// (taken back out of the lane's events and accepted count, which have not shipped since).
pub(crate) fn abandon(slot: SpanSlot) -> usize {
    let mut state = slot.lane.lock();
    match state.vacate(&slot) {
        Some(Place::InEvents(at)) => {
            state.remove_event(at);
            state.counts.accepted -= 1;
            2
        }
        _ => 1,
    }
}

/// Queues an event with no start to replace, in this thread's lane.
pub(crate) fn push(route: &Route<'_>, event: Event, now: u64) {
    thread_lane().push(route, event, now);
}

/// This thread's lane; a shared one while the thread is being torn down.
fn thread_lane() -> &'static Lane {
    THREAD_LANE.try_with(|lane| lane.0).unwrap_or(&SHARED_LANE)
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
        if self.0.lock().waiting() > 0 {
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

    #[inline]
    fn lock(&self) -> LaneGuard<'_, T> {
        if self.locked.swap(true, Ordering::Acquire) {
            self.lock_contended();
        }
        LaneGuard { lock: self }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                spins += 1;
                if spins < 100 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
        }
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
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::mem::ManuallyDrop;

    use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

    use super::*;
    use crate::model::Timestamp;

    /// A lane of its own and the channels it ships on, apart from any runtime.
    struct TestLane {
        lane: &'static Lane,
        sender: Sender<Shipment>,
        shipments: Receiver<Shipment>,
        spare: Receiver<Shipment>,
    }

    impl TestLane {
        fn new() -> TestLane {
            let (sender, shipments) = bounded(4);
            let (_, spare) = unbounded();
            TestLane {
                lane: Box::leak(Box::new(Lane::new())),
                sender,
                shipments,
                spare,
            }
        }

        fn route(&self) -> Route<'_> {
            Route {
                sender: &self.sender,
                spare: &self.spare,
                lane_events: MAX_LANE_EVENTS,
            }
        }

        fn start(&self, name: &'static str) -> SpanSlot {
            let mut item = ManuallyDrop::new(SpanItem::minimal(name));
            // SAFETY: `item` is not used after this.
            let item = unsafe { ItemToMove::new(&mut item) };
            self.lane.start(&self.route(), item, false, 1)
        }

        fn end(&self, slot: SpanSlot) {
            end(&self.route(), slot, 2, |item| {
                item.end_timestamp = Some(Timestamp::from_nanos(2));
            });
        }

        fn name_of(&self, slot: &SpanSlot) -> String {
            with_open(slot, |item| item.name.to_string()).expect("the span runs")
        }

        /// Ships the lane; its events as (name, ended, follows its start, end order).
        fn ship(&self) -> Vec<(String, bool, bool, u32)> {
            assert!(self.lane.lock().ship(&self.route()));
            // An empty shipment only wakes the export thread (see `mark_dirty`).
            let mut shipments: Vec<Shipment> = self.shipments.try_iter().collect();
            shipments.retain(|shipment| !shipment.is_empty());
            assert_eq!(shipments.len(), 1, "one shipment");
            shipments[0]
                .iter()
                .map(|event| {
                    let item = &event.item;
                    let name = item.name.to_string();
                    (
                        name,
                        item.is_complete(),
                        event.follows_start,
                        event.end_order,
                    )
                })
                .collect()
        }
    }

    /// A span that ends before its lane ships ends where it started, among the events; one
    /// still running goes out as its start, and its end follows in a later shipment.
    #[test]
    fn spans_end_in_place_or_after_their_start_was_shipped() {
        let lane = TestLane::new();
        let outer = lane.start("outer");
        let inner = lane.start("inner");
        lane.end(inner);
        let first = lane.ship();
        let expected = [
            ("outer", false, false, Event::START),
            ("inner", true, false, 1),
        ];
        assert_eq!(first, expected.map(|(n, e, f, o)| (n.to_owned(), e, f, o)));
        assert_eq!(lane.name_of(&outer), "outer");
        lane.end(outer);
        assert_eq!(lane.ship(), [("outer".to_owned(), true, true, 1)]);
        let counts = lane.lane.lock().counts;
        assert_eq!(counts.accepted, 0, "settled at each shipment");
    }

    /// Spans given up (tracing stopped) before their starts shipped leave the events, in
    /// any order, and the others' setters still reach their own items.
    #[test]
    fn abandoned_spans_leave_the_events_and_the_rest_stay_reachable() {
        let lane = TestLane::new();
        let slots: Vec<SpanSlot> = ["a", "b", "c", "d"].map(|n| lane.start(n)).into();
        assert_eq!(abandon(slots[1]), 2);
        assert_eq!(lane.name_of(&slots[3]), "d");
        assert_eq!(lane.name_of(&slots[2]), "c");
        assert_eq!(abandon(slots[0]), 2);
        assert_eq!(lane.name_of(&slots[3]), "d");
        lane.end(slots[3]);
        assert_eq!(abandon(slots[1]), 1, "a stale slot reaches nothing");
        assert_eq!(
            lane.ship(),
            [
                ("c".to_owned(), false, false, Event::START),
                ("d".to_owned(), true, false, 1)
            ]
        );
        assert_eq!(abandon(slots[2]), 1, "its start was sent");
        assert_eq!(lane.lane.lock().waiting(), 0);
    }

    /// When the channel is full the shipment stays in the lane whole, running spans included,
    /// and goes with the next one.
    #[test]
    fn a_full_channel_keeps_the_events_in_place() {
        let lane = TestLane::new();
        for _ in 0..4 {
            lane.sender.try_send(Vec::new()).unwrap();
        }
        let running = lane.start("running");
        let ended = lane.start("ended");
        lane.end(ended);
        assert!(!lane.lane.lock().ship(&lane.route()));
        assert_eq!(lane.name_of(&running), "running");
        for _ in 0..4 {
            lane.shipments.try_recv().unwrap();
        }
        let shipped = lane.ship();
        assert_eq!(shipped.len(), 2);
        assert_eq!(lane.name_of(&running), "running");
        lane.end(running);
        assert_eq!(lane.ship(), [("running".to_owned(), true, true, 1)]);
    }
}
