//! The export thread: receives span events, coalesces and batches them, and sends them with
//! retries, splitting batches the server refuses to find the spans at fault.
//!
//! It owns all of its state, so nothing here is shared with the hot path but the channel
//! and the counters.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};
use serde_json::Value;

use crate::diag;
use crate::export::encode::write_span;
use crate::export::exporter::{EncodedBatch, ExportError, Exporter};
use crate::export::held::Held;
use crate::export::settings::Settings;
use crate::model::{Id, SpanItem, SpanStatus, Timestamp};
use crate::queue::event::Event;
use crate::queue::lane::{self, Shipment};
use crate::queue::Pipeline;
use crate::stats::{Counters, Stats, COUNTERS};

/// The wait when there is nothing to do, so the periodic drop report still runs.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// How often the export thread ships the lanes of idle threads while any holds events.
const LANE_LOOK_INTERVAL: Duration = Duration::from_millis(100);

/// The most rounds of shipping lanes and emptying the channel a flush makes, so threads
/// that keep making spans cannot hold it forever.
const MAX_SHIP_ROUNDS: usize = 64;

/// A flush under way: it takes the queue a buffer's worth at a time (see
/// [`Worker::flush_round`]).
#[derive(Debug, Clone, Copy, Default)]
struct Flushing {
    /// Times it shipped every lane into the channel.
    rounds: usize,
    /// Whether the last of those shipped every lane: once the channel is dry after that,
    /// everything queued before the flush has been taken.
    lanes_shipped: bool,
}

/// The least time between two reports of dropped spans.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// What the export thread is told besides span events.
pub(crate) enum Control {
    /// Send everything received so far, then answer; the caller waits until the deadline.
    Flush { done: Sender<()>, deadline: Instant },
    /// Send everything, give up at the deadline, answer and stop.
    Shutdown { deadline: Instant, done: Sender<()> },
    /// New settings and exporter from a second `init`.
    Reconfigure(Settings, Arc<dyn Exporter>),
}

/// A span's identity on the server.
type SpanKey = (Id, Id);

/// Maps keyed by span on the export thread; ids are random, so a fast hash is enough.
type SpanMap<V> = rustc_hash::FxHashMap<SpanKey, V>;

fn key_of(item: &SpanItem) -> SpanKey {
    (item.trace_id.clone(), item.id.clone())
}

/// Events waiting to be cut into batches. A span's end event replaces its start event
/// while both wait here, so only the final state is sent.
#[derive(Default)]
struct Pending {
    items: Vec<SpanItem>,
    /// Where the start events that may still be replaced sit in `items`.
    starts: SpanMap<usize>,
    /// When the oldest waiting event arrived.
    since: Option<Instant>,
}

impl Pending {
    /// Adds an event; returns whether it replaced its span's start event. `follows_start`
    /// tells whether that start may be here (see [`Event::follows_start`]).
    #[inline]
    fn push(&mut self, item: SpanItem, follows_start: bool, now: Instant) -> bool {
        self.since.get_or_insert(now);
        if item.is_complete() {
            // Most ends follow no start (their lane sent the end alone), and hashing the
            // key for nothing cost more than the rest of this function.
            let start = if follows_start && !self.starts.is_empty() {
                self.starts.remove(&key_of(&item))
            } else {
                None
            };
            if let Some(index) = start {
                self.items[index] = item;
                return true;
            }
        } else {
            self.starts.insert(key_of(&item), self.items.len());
        }
        self.items.push(item);
        false
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn take(&mut self) -> Vec<SpanItem> {
        self.starts.clear();
        self.since = None;
        std::mem::take(&mut self.items)
    }
}

/// A caller of `flush_queue`, answered once every batch cut up to `target` is settled.
struct FlushWaiter {
    /// `None` while the flush is still taking the events queued before it.
    target: Option<u64>,
    done: Sender<()>,
    deadline: Instant,
}

/// A batch on its way out.
struct Outgoing {
    spans: EncodedBatch,
    /// Sequence number of the cut that made it, shared by the parts of a split batch; a
    /// flush waits for every number up to the last one cut before it.
    number: u64,
    /// Failed attempts so far, not counting answers with `Retry-After`.
    failures: u32,
    /// When the first attempt failed.
    first_failure: Option<Instant>,
    not_before: Instant,
}

/// Spans whose start was sent but whose end has not arrived, with their last known state,
/// so shutdown can close them. At most this many are tracked (a leaked guard must not grow
/// memory forever).
const MAX_TRACKED_OPEN_SPANS: usize = 10_000;

pub(crate) struct Worker {
    /// This thread's run in the counters' books: its counts stand until shutdown closes it.
    run: u64,
    pipeline: &'static Pipeline,
    events: Receiver<Shipment>,
    /// When the lanes of idle threads are shipped next, if any holds events.
    next_lane_look: Instant,
    control: Receiver<Control>,
    exporter: Arc<dyn Exporter>,
    settings: Settings,
    held: Held,
    /// Above this many pending events, stop taking more from the channel, so that a stalled
    /// backend makes the channel fill and the hot path drop (and count) instead of this
    /// thread growing without bound.
    pending_limit: usize,
    pending: Pending,
    outgoing: VecDeque<Outgoing>,
    open: SpanMap<SpanItem>,
    /// Reused buffer for the JSON of a span that moves on to the next batch.
    scratch: Vec<u8>,
    /// Emptied batches whose buffers the next batches reuse: a fresh batch of a few hundred
    /// kilobytes costs the export thread page faults on every first touch of its memory.
    spare_batches: Vec<EncodedBatch>,
    cuts: u64,
    flush_waiters: Vec<FlushWaiter>,
    flushing: Option<Flushing>,
    /// Set when the server refused the credentials: export has stopped.
    unauthorized: bool,
    reported: LossReport,
}

impl Worker {
    pub(crate) fn new(
        run: u64,
        pipeline: &'static Pipeline,
        control: Receiver<Control>,
        exporter: Arc<dyn Exporter>,
        settings: Settings,
        pending_limit: usize,
    ) -> Worker {
        Worker {
            run,
            pipeline,
            events: pipeline.receiver.clone(),
            next_lane_look: Instant::now(),
            control,
            exporter,
            settings,
            held: Held::default(),
            pending_limit,
            pending: Pending::default(),
            outgoing: VecDeque::new(),
            open: SpanMap::default(),
            scratch: Vec::with_capacity(1024),
            spare_batches: Vec::new(),
            cuts: 0,
            flush_waiters: Vec::new(),
            flushing: None,
            unauthorized: false,
            reported: LossReport::new(),
        }
    }

    pub(crate) fn run(mut self) {
        loop {
            if COUNTERS.is_closed(self.run) {
                // Shutdown gave up on this thread and took over its events; the queue may
                // be a later export thread's now.
                return;
            }
            let wait = self.next_wake(Instant::now());
            let taking_events = self.pending.len() < self.pending_limit;
            let never = crossbeam_channel::never();
            let events = if taking_events { &self.events } else { &never };
            select! {
                recv(events) -> shipment => {
                    if let Ok(shipment) = shipment {
                        self.accept_all(shipment, Instant::now());
                        self.take_ready_events();
                    }
                }
                recv(self.control) -> message => match message {
                    Ok(Control::Shutdown { deadline, done }) => {
                        self.shut_down(deadline);
                        let _ = done.send(());
                        return;
                    }
                    Ok(message) => self.handle(message),
                    // The runtime dropped its handle without a shutdown: stop quietly.
                    Err(_) => return,
                },
                default(wait) => {}
            }
            self.look_at_lanes(Instant::now());
            self.flush_round();
            self.step(Instant::now());
            self.answer_flush_waiters();
            self.reported.report_if_due(Instant::now());
        }
    }

    /// Takes what already waits in the channel, without blocking, up to the pending limit.
    fn take_ready_events(&mut self) {
        let now = Instant::now();
        while self.pending.len() < self.pending_limit {
            match self.events.try_recv() {
                Ok(shipment) => self.accept_all(shipment, now),
                Err(_) => break,
            }
        }
    }

    /// Ships the lanes of threads that made spans and went quiet, so their events do not
    /// wait for the thread's next span.
    fn look_at_lanes(&mut self, now: Instant) {
        if !lane::any_waiting() || now < self.next_lane_look {
            return;
        }
        self.next_lane_look = now + LANE_LOOK_INTERVAL;
        if self.pending.len() < self.pending_limit {
            lane::ship_all(&self.pipeline.route());
            self.take_ready_events();
        }
    }

    /// One round of a flush, once the batches of the round before are sent: takes what is
    /// queued, in the channel and then in the lanes, up to the pending limit, and cuts it
    /// into batches at once. Taking the whole queue at once held it twice over (as pending
    /// events, then as batches) at the moment a flush or shutdown came after a burst: three
    /// times the queue's bound in RSS. In parts, each part's buffers carry the next.
    ///
    /// When the channel runs dry after every lane was shipped into it, everything queued
    /// before the flush has been taken, and its waiters wait for the batches cut so far.
    fn flush_round(&mut self) {
        let Some(mut flushing) = self.flushing else {
            return;
        };
        if !self.outgoing.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut all_taken = false;
        while self.pending.len() < self.pending_limit {
            if let Ok(shipment) = self.events.try_recv() {
                self.accept_all(shipment, now);
                continue;
            }
            if flushing.lanes_shipped || flushing.rounds == MAX_SHIP_ROUNDS {
                all_taken = true;
                break;
            }
            flushing.lanes_shipped = lane::ship_all(&self.pipeline.route());
            flushing.rounds += 1;
        }
        self.cut(now);
        if all_taken {
            self.flushing = None;
            for waiter in &mut self.flush_waiters {
                waiter.target.get_or_insert(self.cuts);
            }
        } else {
            self.flushing = Some(flushing);
        }
    }

    /// Drops what is still queued, in lanes, the channel and the pending buffer, and
    /// returns how many events that was: shutdown ran out of time before sending them.
    fn drop_queued(&mut self) -> usize {
        let mut dropped = self.pending.take().len();
        for _ in 0..MAX_SHIP_ROUNDS {
            let all_shipped = lane::ship_all(&self.pipeline.route());
            while let Ok(shipment) = self.events.try_recv() {
                dropped += shipment.len();
                self.pipeline.recycle(shipment);
            }
            if all_shipped {
                break;
            }
        }
        dropped
    }

    fn accept_all(&mut self, mut shipment: Shipment, now: Instant) {
        if !shipment.is_empty() {
            self.pending.since.get_or_insert(now);
        }
        if shipment.iter().any(|event| event.held) {
            // A held trace is settled by its root's end, so its spans must come in the
            // order they ended (see `Event::end_order`); stable, the starts stay in order.
            shipment.sort_by_key(|event| event.end_order);
        }
        for event in shipment.drain(..) {
            if !event.held && !event.follows_start && event.item.is_complete() {
                // The usual event, the end of a span whose start never came here: it has
                // nothing to replace or forget, so it goes straight in. Moved through
                // `accept`, `queue` and `Pending::push`, its 272 bytes were copied four times.
                self.pending.items.push(event.item);
            } else {
                self.accept(event, now);
            }
        }
        self.pipeline.recycle(shipment);
    }

    #[inline]
    fn accept(&mut self, event: Event, now: Instant) {
        if !event.held {
            self.queue(event.item, event.follows_start, now);
            return;
        }
        let outcome = self.held.accept(event.item);
        COUNTERS.count(self.run, &COUNTERS.sampled_out, outcome.discarded);
        for item in outcome.released {
            // Whether it follows its start is not kept through the hold: looked up.
            self.queue(item, true, now);
        }
    }

    /// Adds an event to the pending buffer. `follows_start` tells whether the span's start
    /// may have come before it (see [`Event::follows_start`]).
    #[inline]
    fn queue(&mut self, item: SpanItem, follows_start: bool, now: Instant) {
        if follows_start && item.is_complete() && !self.open.is_empty() {
            self.open.remove(&key_of(&item));
        }
        if self.pending.push(item, follows_start, now) {
            COUNTERS.count(self.run, &COUNTERS.coalesced, 1);
        }
    }

    fn handle(&mut self, message: Control) {
        match message {
            Control::Flush { done, deadline } => {
                // Taken and cut by `flush_round`, in the loop, a part at a time.
                self.flushing = Some(Flushing::default());
                self.flush_waiters.push(FlushWaiter {
                    target: None,
                    done,
                    deadline,
                });
            }
            Control::Reconfigure(settings, exporter) => {
                // The buffer follows the new batch size, or larger batches would never fill.
                self.pending_limit = settings.pending_limit(self.pipeline.capacity());
                self.settings = settings;
                self.exporter = exporter;
                self.unauthorized = false;
            }
            Control::Shutdown { .. } => unreachable!("handled by the loop"),
        }
    }

    /// How long the loop may sleep before something is due.
    fn next_wake(&self, now: Instant) -> Duration {
        let wait = match self.outgoing.front() {
            Some(front) => front.not_before.saturating_duration_since(now),
            // A flush's next round is due at once.
            None if self.flushing.is_some() => Duration::ZERO,
            None => self
                .cut_due()
                .map_or(IDLE_WAIT, |due| due.saturating_duration_since(now)),
        };
        if lane::any_waiting() {
            wait.min(self.next_lane_look.saturating_duration_since(now))
        } else {
            wait
        }
    }

    /// When the pending events are due to be cut into batches: as soon as `flush_at` of
    /// them wait, else when the oldest has waited `flush_interval`; `None` when none waits.
    fn cut_due(&self) -> Option<Instant> {
        let since = self.pending.since?;
        if self.pending.len() >= self.settings.flush_at {
            Some(since)
        } else {
            Some(since + self.settings.flush_interval)
        }
    }

    /// Cuts pending events into batches when a trigger fired, then sends one due batch.
    fn step(&mut self, now: Instant) {
        let due = self.cut_due().is_some_and(|due| now >= due);
        if due && self.outgoing.is_empty() {
            self.cut(now);
        }
        if self
            .outgoing
            .front()
            .is_some_and(|front| front.not_before <= now)
        {
            self.send_front(now, None);
        }
    }

    /// Moves every pending event into batches of at most `max_batch_items` spans and
    /// `max_batch_bytes` of JSON. A single span over the byte limit goes alone.
    ///
    /// Each span is limited and encoded where it waits, then moved once, into its batch:
    /// moved out for each step, its 272 bytes were copied five times.
    fn cut(&mut self, now: Instant) {
        let mut items = self.pending.take();
        if items.is_empty() {
            return;
        }
        self.cuts += 1;
        let mut batches = Vec::new();
        let mut left = items.len();
        let mut batch = self.new_batch(left);
        let (max_items, max_bytes) = (self.settings.max_batch_items, self.settings.max_batch_bytes);
        for item in &mut items {
            left -= 1;
            let applied = self.settings.controls.apply(item);
            Counters::add(&COUNTERS.truncated_fields, applied.truncated);
            Counters::add(&COUNTERS.redacted_values, applied.redacted);
            Counters::add(&COUNTERS.mask_failures, applied.mask_failures);
            // A running span may never send its end: remember its state for shutdown. Its
            // end, if it comes, arrives after this and removes it.
            if !item.is_complete() && self.open.len() < MAX_TRACKED_OPEN_SPANS {
                self.open.insert(key_of(item), item.clone());
            }
            batch.write_json(|body| write_span(body, item));
            if batch.len() > 1 && batch.exceeds(max_items, max_bytes) {
                // The span moves on to the next batch, which it begins.
                batch.pop_json(&mut self.scratch);
                let ready = std::mem::replace(&mut batch, self.new_batch(left + 1));
                batches.push(ready);
                batch.push_json(&self.scratch);
            }
        }
        batches.push(batch);
        let mut spans = items.drain(..);
        for mut batch in batches {
            let count = batch.len();
            batch.add_items(spans.by_ref().take(count));
            self.queue_batch(batch, now);
        }
        drop(spans);
        // The emptied buffer keeps its room for the next events.
        self.pending.items = items;
    }

    /// A batch sized for up to `spans` more spans, within the batch limits: an emptied one
    /// when there is one.
    fn new_batch(&mut self, spans: usize) -> EncodedBatch {
        let items = spans.min(self.settings.max_batch_items);
        // A small span's JSON is about 300 bytes; the body grows past that if needed.
        let bytes = (items * 320).min(self.settings.max_batch_bytes);
        match self.spare_batches.pop() {
            Some(mut batch) => {
                batch.reserve(items, bytes);
                batch
            }
            None => EncodedBatch::with_capacity(items, bytes),
        }
    }

    /// Keeps a sent batch's buffers for a later batch, up to 4 MiB of them: room for the
    /// handful of batches one cut makes when the export thread catches up (6 to 13 full
    /// batches at the default limits, by the size of their spans' JSON), small beside the
    /// queue's own bound.
    fn recycle(&mut self, mut batch: EncodedBatch) {
        const SPARE_BYTES: usize = 4 << 20;
        let kept: usize = self.spare_batches.iter().map(EncodedBatch::room).sum();
        if kept + batch.room() <= SPARE_BYTES {
            batch.clear();
            self.spare_batches.push(batch);
        }
    }

    fn queue_batch(&mut self, spans: EncodedBatch, now: Instant) {
        self.outgoing.push_back(Outgoing {
            spans,
            number: self.cuts,
            failures: 0,
            first_failure: None,
            not_before: now,
        });
    }

    /// Sends the front batch once and decides what its answer means. With a `deadline`
    /// (shutdown), a retry that would start after it is given up instead.
    fn send_front(&mut self, now: Instant, deadline: Option<Instant>) {
        let Some(mut batch) = self.outgoing.pop_front() else {
            return;
        };
        let count = batch.spans.len();
        if self.unauthorized {
            COUNTERS.count(self.run, &COUNTERS.dropped_unauthorized, count);
            return;
        }
        let exporter = &self.exporter;
        let result = catch_unwind(AssertUnwindSafe(|| {
            exporter.export(&batch.spans.as_batch())
        }))
        .unwrap_or_else(|_| {
            Err(ExportError::Failed {
                reason: "the exporter panicked".into(),
            })
        });
        match result {
            Ok(()) => {
                COUNTERS.count(self.run, &COUNTERS.exported, count);
                self.recycle(batch.spans);
            }
            Err(ExportError::Transient {
                reason,
                retry_after,
            }) => {
                let first_failure = *batch.first_failure.get_or_insert(now);
                // A server that says when to come back is up and asking for patience: that
                // answer does not use up an attempt, only the time budget.
                let wait = match retry_after {
                    Some(wait) => wait,
                    None => {
                        batch.failures += 1;
                        self.settings.backoff(batch.failures)
                    }
                };
                let retry_at = now + wait;
                let out_of_attempts = batch.failures >= self.settings.max_attempts;
                let out_of_time =
                    retry_at.duration_since(first_failure) > self.settings.max_retry_time;
                let too_late = deadline.is_some_and(|deadline| retry_at > deadline);
                if out_of_attempts || out_of_time || too_late {
                    COUNTERS.count(self.run, &COUNTERS.dropped_after_retries, count);
                    self.reported.note(reason);
                } else {
                    batch.not_before = retry_at;
                    self.outgoing.push_front(batch);
                }
            }
            Err(ExportError::Rejected { reason }) | Err(ExportError::TooLarge { reason }) => {
                self.isolate_refused(batch, &reason, now);
            }
            Err(ExportError::Unauthorized { reason }) => {
                self.unauthorized = true;
                COUNTERS.count(self.run, &COUNTERS.dropped_unauthorized, count);
                diag::error(format_args!(
                    "the SGP API refused the credentials ({reason}); export has stopped and spans \
                     are dropped. Check SGP_API_KEY and SGP_ACCOUNT_ID, then call `sgp_trace::init` again"
                ));
            }
            Err(ExportError::Failed { reason }) => {
                COUNTERS.count(self.run, &COUNTERS.failed, count);
                self.reported.note(reason);
            }
        }
    }

    /// A refused batch would be refused again: split it until the spans at fault stand
    /// alone, deliver the rest, and drop only those.
    fn isolate_refused(&mut self, batch: Outgoing, reason: &str, now: Instant) {
        if batch.spans.len() == 1 {
            let span = &batch.spans.items()[0];
            COUNTERS.count(self.run, &COUNTERS.rejected, 1);
            diag::warn(format_args!(
                "the server refused span {} ({:?}) of trace {}; it is dropped: {reason}",
                span.id, span.name, span.trace_id
            ));
            return;
        }
        let (first, second) = batch.spans.split();
        for spans in [second, first] {
            self.outgoing.push_front(Outgoing {
                spans,
                number: batch.number,
                failures: 0,
                first_failure: None,
                not_before: now,
            });
        }
    }

    fn answer_flush_waiters(&mut self) {
        if self.flush_waiters.is_empty() {
            return;
        }
        let oldest_unsent = self.outgoing.iter().map(|batch| batch.number).min();
        let (finished, waiting): (Vec<FlushWaiter>, Vec<FlushWaiter>) =
            std::mem::take(&mut self.flush_waiters)
                .into_iter()
                .partition(|waiter| {
                    waiter
                        .target
                        .is_some_and(|target| oldest_unsent.is_none_or(|oldest| oldest > target))
                });
        self.flush_waiters = waiting;
        if let Some(deadline) = finished.iter().map(|waiter| waiter.deadline).max() {
            // An exporter with a queue of its own (a fan-out) sends it too.
            let exporter = &self.exporter;
            let timeout = deadline.saturating_duration_since(Instant::now());
            if let Err(error) =
                catch_unwind(AssertUnwindSafe(|| exporter.flush(timeout))).unwrap_or(Ok(()))
            {
                self.reported
                    .note(format!("the exporter's flush failed: {error}"));
            }
        }
        for waiter in finished {
            let _ = waiter.done.send(());
        }
    }

    /// Sends everything that waits, closing the spans still open, until the deadline. The
    /// queue is taken a part at a time, as a flush takes it.
    fn shut_down(&mut self, deadline: Instant) {
        self.flushing = Some(Flushing::default());
        while self.flushing.is_some() && Instant::now() < deadline {
            self.flush_round();
            self.send_until(deadline);
        }
        if self.flushing.is_none() {
            // Every cut moved the starts of running spans into `open`, and every end taken
            // removed its span, so the spans left there are the ones still running.
            self.close_open_spans();
            self.cut(Instant::now());
            self.send_until(deadline);
        }
        let unsent: usize = self.outgoing.drain(..).map(|batch| batch.spans.len()).sum();
        // Once shutdown gave up on this thread, what is queued is no longer its to drop.
        let queued = if COUNTERS.is_closed(self.run) {
            0
        } else {
            self.drop_queued()
        };
        COUNTERS.count(self.run, &COUNTERS.dropped_at_shutdown, unsent + queued);
        COUNTERS.count(self.run, &COUNTERS.sampled_out, self.held.discard_all());
        self.answer_flush_waiters();
        let exporter = &self.exporter;
        let timeout = deadline.saturating_duration_since(Instant::now());
        let _ = catch_unwind(AssertUnwindSafe(|| exporter.shutdown(timeout)));
        self.reported.report_now();
    }

    /// Sends the batches cut so far, waiting out their retry times, until the deadline.
    fn send_until(&mut self, deadline: Instant) {
        while let Some(front) = self.outgoing.front() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if front.not_before > now {
                std::thread::sleep(front.not_before.min(deadline) - now);
                continue;
            }
            self.send_front(now, Some(deadline));
        }
    }

    /// Queues the final state of every span still open: its last known state, ended now
    /// with status CANCELED and marked `open_at_shutdown`.
    fn close_open_spans(&mut self) {
        let now = Instant::now();
        let ended = Timestamp::now();
        for (_, mut item) in self.open.drain() {
            item.end_timestamp = Some(ended.max(item.start_timestamp));
            item.status = Some(SpanStatus::Canceled);
            let metadata = item.metadata_mut();
            metadata.insert("open_at_shutdown".into(), Value::Bool(true));
            // Counted as enqueued: it stands in for the end event the span never sent (that
            // end, if it comes, is counted as made while stopped), and follows its start.
            COUNTERS.count(self.run, &COUNTERS.enqueued, 1);
            if self.pending.push(item, true, now) {
                COUNTERS.count(self.run, &COUNTERS.coalesced, 1);
            }
        }
    }
}

/// Writes one summary line at most once per interval when spans were dropped, truncated or
/// rejected since the last one, so a failing backend gives a line every few seconds, not one
/// per span.
struct LossReport {
    last: Instant,
    reported: Stats,
    last_reason: Option<String>,
}

impl LossReport {
    fn new() -> LossReport {
        LossReport {
            last: Instant::now(),
            reported: Stats::default(),
            last_reason: None,
        }
    }

    /// Remembers the latest export failure, named in the next summary.
    fn note(&mut self, reason: String) {
        self.last_reason = Some(reason);
    }

    fn report_if_due(&mut self, now: Instant) {
        if now.duration_since(self.last) >= REPORT_INTERVAL {
            self.report_now();
        }
    }

    fn report_now(&mut self) {
        let now = crate::queue::stats();
        let before = self.reported;
        let parts: Vec<String> = [
            (
                now.dropped_queue_full - before.dropped_queue_full,
                "dropped: queue full",
            ),
            (
                now.dropped_after_retries - before.dropped_after_retries,
                "dropped after retries",
            ),
            (now.rejected - before.rejected, "rejected by the server"),
            (
                now.dropped_unauthorized - before.dropped_unauthorized,
                "dropped: credentials refused",
            ),
            (now.failed - before.failed, "lost to export failures"),
            (
                now.dropped_at_shutdown - before.dropped_at_shutdown,
                "unsent at the shutdown bound",
            ),
            (
                now.truncated_fields - before.truncated_fields,
                "payloads truncated",
            ),
            (
                now.mask_failures - before.mask_failures,
                "payloads dropped by a failing mask",
            ),
        ]
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, what)| format!("{count} {what}"))
        .collect();
        if !parts.is_empty() {
            let reason = self
                .last_reason
                .take()
                .map(|reason| format!("; last failure: {reason}"))
                .unwrap_or_default();
            diag::warn(format_args!(
                "span events since the last report: {}{reason} (see `sgp_trace::stats()`)",
                parts.join(", ")
            ));
        }
        self.reported = now;
        self.last = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::controls::Controls;

    fn settings() -> Settings {
        Settings {
            max_batch_items: 50,
            max_batch_bytes: 512 * 1024,
            flush_at: 200,
            flush_interval: Duration::from_secs(4),
            max_attempts: 4,
            backoff_initial: Duration::from_millis(400),
            backoff_max: Duration::from_secs(20),
            max_retry_time: Duration::from_secs(60),
            controls: Controls {
                max_field_bytes: 1024,
                redact_credentials: true,
                mask: None,
            },
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let settings = settings();
        let waits: Vec<_> = (1..=8)
            .map(|attempt| settings.backoff(attempt).as_millis())
            .collect();
        assert_eq!(waits, [400, 800, 1600, 3200, 6400, 12800, 20000, 20000]);
    }
}
