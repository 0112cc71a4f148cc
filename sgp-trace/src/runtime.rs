//! The process-wide runtime: whether spans are recorded, the queue they go onto, and the
//! export thread's lifecycle (init, flush, shutdown).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use std::{fmt, thread};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::diag;
use crate::export::{Exporter, HttpExporter};
use crate::lane::{self, ItemToMove, Route, Shipment, SpanSlot, MAX_LANE_EVENTS};
use crate::stats::{Counters, Stats};
use crate::worker::{Control, Settings, Worker};
use crate::{Config, SpanItem};

/// How long [`flush_queue`] waits at most.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

static RUNTIME: Runtime = Runtime {
    configured: AtomicBool::new(false),
    recording: AtomicBool::new(false),
    pipeline: OnceLock::new(),
    worker: Mutex::new(None),
};

pub(crate) static COUNTERS: Counters = Counters::new();

/// Live [`TracingGuard`]s: tracing stops when the last one drops, so the guard of a second
/// `init` (in a library, say) does not stop the program's tracing early.
static LIVE_GUARDS: AtomicUsize = AtomicUsize::new(0);

struct Runtime {
    /// Set once `init` ran or the environment was read; until then the first span reads it.
    configured: AtomicBool,
    /// The hot path's one check: record spans, or make no-ops.
    recording: AtomicBool,
    /// Made by the first configuration that can export, and kept for the life of the
    /// process, so a span can hold a plain `&'static` to it.
    pipeline: OnceLock<Pipeline>,
    /// The export thread, when one runs.
    worker: Mutex<Option<WorkerHandle>>,
}

/// Emptied shipments kept for reuse at most. Enough for the lanes of many busy threads; a
/// burst that filled the whole queue does not leave its shipments (up to the queue's size in
/// events) held after it.
const MAX_SPARE_SHIPMENTS: usize = 256;

/// One span event on its way to the export thread.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) item: SpanItem,
    /// The trace was not sampled: the export thread sends it only if the trace has an error.
    pub(crate) held: bool,
    /// Whether an earlier event of the same span may have reached the export thread: its
    /// start, sent while it ran. Only then can the export thread hold a start to replace or
    /// an open span to forget, so only then does it look them up. `false` for a start, and
    /// for the end of a span whose start was coalesced or skipped in its lane.
    pub(crate) follows_start: bool,
    /// Which end of its lane this is, counted from the lane's last shipment;
    /// [`Event::START`] for a start. A lane keeps the spans it started together in the
    /// order they started, so the export thread puts a shipment with held events back in
    /// end order: deciding on a held trace depends on it (the root's end settles it).
    pub(crate) end_order: u32,
}

impl Event {
    /// The [`end_order`](Event::end_order) of a start event: after every end.
    pub(crate) const START: u32 = u32::MAX;

    /// A span's start event: its item as the span began.
    #[inline(always)]
    pub(crate) fn start(item: SpanItem, held: bool) -> Event {
        Event {
            item,
            held,
            follows_start: false,
            end_order: Event::START,
        }
    }
}

/// The bounded queue between the program's threads and the export thread: the threads'
/// lanes (see [`lane`](crate::lane)) and the channel their shipments travel on.
#[derive(Debug)]
pub(crate) struct Pipeline {
    sender: Sender<Shipment>,
    pub(crate) receiver: Receiver<Shipment>,
    /// Emptied shipments on their way back to the lanes.
    spare_sender: Sender<Shipment>,
    spare: Receiver<Shipment>,
    /// Events per lane and per shipment.
    lane_events: usize,
    /// The configured capacity, in events.
    capacity: usize,
}

impl Pipeline {
    fn new(capacity: usize) -> Pipeline {
        let lane_events = capacity.clamp(1, MAX_LANE_EVENTS);
        let shipments = (capacity / lane_events).max(1);
        let (sender, receiver) = bounded(shipments);
        let (spare_sender, spare) = bounded(shipments.min(MAX_SPARE_SHIPMENTS));
        Pipeline {
            sender,
            receiver,
            spare_sender,
            spare,
            lane_events,
            capacity,
        }
    }

    #[inline]
    pub(crate) fn route(&self) -> Route<'_> {
        Route {
            sender: &self.sender,
            spare: &self.spare,
            lane_events: self.lane_events,
        }
    }

    /// Gives an emptied shipment back for a lane to reuse.
    pub(crate) fn recycle(&self, mut shipment: Shipment) {
        // Empty shipments that only woke the export thread have no room to reuse.
        if shipment.capacity() > 0 {
            shipment.clear();
            let _ = self.spare_sender.try_send(shipment);
        }
    }

    /// Queues one span event without ever blocking; a full queue drops it and counts it.
    pub(crate) fn send(&self, item: SpanItem) {
        if self.stopped(1) {
            return;
        }
        // Not the item's own times: a recorded item (a workflow's, say) may carry times far
        // from now, and the lane's age and retry decisions are about now.
        let now = crate::clock::now_nanos();
        // A recorded item may follow its own start, recorded before: the export thread
        // looks for it.
        let event = Event {
            item,
            held: false,
            follows_start: true,
            // Numbered by the lane as it takes the event.
            end_order: 0,
        };
        lane::push(&self.route(), event, now);
    }

    /// Seats a started span in this thread's lane; `None` when tracing stopped (the span
    /// is counted as dropped then).
    #[inline(always)]
    pub(crate) fn start(&self, item: ItemToMove<'_>, now: u64, held: bool) -> Option<SpanSlot> {
        if self.stopped(2) {
            item.discard();
            return None;
        }
        Some(lane::start(&self.route(), item, held, now))
    }

    /// Ends a running span at `now` (ns): `finish` sets its end time and status. Inlined
    /// with `lane::end`, so `finish` (which holds the span's output) is not copied on its way.
    #[inline]
    pub(crate) fn end(&self, slot: SpanSlot, now: u64, finish: impl FnOnce(&mut SpanItem)) {
        if tracing_stopped() {
            let given_up = lane::abandon(slot);
            Counters::add(&COUNTERS.dropped_while_stopped, given_up);
            return;
        }
        lane::end(&self.route(), slot, now, finish);
    }

    /// Whether tracing stopped since the span started: its events are counted, not queued.
    fn stopped(&self, events: usize) -> bool {
        let stopped = tracing_stopped();
        if stopped {
            Counters::add(&COUNTERS.dropped_while_stopped, events);
        }
        stopped
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Whether tracing stopped (shutdown, or turned off), so events are counted, not queued.
#[inline]
fn tracing_stopped() -> bool {
    !RUNTIME.recording.load(Ordering::Relaxed)
}

struct WorkerHandle {
    /// The thread's run in the counters' books (see [`Counters::open_run`]).
    run: u64,
    control: Sender<Control>,
    thread: JoinHandle<()>,
}

/// Whether spans are recorded now; reads the environment on first use when `init` was not
/// called.
#[inline]
pub(crate) fn is_recording() -> bool {
    if RUNTIME.recording.load(Ordering::Relaxed) {
        return true;
    }
    if !RUNTIME.configured.load(Ordering::Acquire) {
        configure_from_env();
        return RUNTIME.recording.load(Ordering::Relaxed);
    }
    false
}

/// The queue to send to, when spans are recorded.
pub(crate) fn recording_pipeline() -> Option<&'static Pipeline> {
    if is_recording() {
        RUNTIME.pipeline.get()
    } else {
        None
    }
}

fn configure_from_env() {
    let mut worker = lock_worker();
    if RUNTIME.configured.load(Ordering::Acquire) {
        return;
    }
    match Config::from_env() {
        Ok(config) => apply(config, &mut worker),
        Err(error) => {
            diag::warn(format_args!(
                "{error}; tracing is off until `sgp_trace::init` is called"
            ));
            RUNTIME.configured.store(true, Ordering::Release);
        }
    }
}

/// Starts tracing for this process and returns the guard that flushes and stops it.
///
/// The export thread starts once. A second call warns and updates what can change while it
/// runs (exporter, credentials, batching, flush and retry settings, disabled); the queue
/// capacity stays. With tracing disabled, or with neither credentials nor a custom exporter,
/// it warns once and every span is a no-op.
///
/// ```
/// let config = sgp_trace::Config::builder().disabled(true).build().unwrap();
/// let _guard = sgp_trace::init(config);
/// let trace = sgp_trace::create_trace("job").start();
/// assert!(!trace.is_recording());
/// ```
pub fn init(config: Config) -> TracingGuard {
    let shutdown_timeout = config.shutdown_timeout;
    let mut worker = lock_worker();
    apply(config, &mut worker);
    LIVE_GUARDS.fetch_add(1, Ordering::AcqRel);
    TracingGuard { shutdown_timeout }
}

fn apply(config: Config, worker: &mut Option<WorkerHandle>) {
    crate::context::adopt_process_parent();
    let was_configured = RUNTIME.configured.swap(true, Ordering::AcqRel);
    if config.disabled {
        RUNTIME.recording.store(false, Ordering::Release);
        diag::info(format_args!("tracing is disabled; spans are not recorded"));
        return;
    }
    if !config.can_export() {
        RUNTIME.recording.store(false, Ordering::Release);
        diag::warn(format_args!(
            "no credentials ({} not set) and no custom exporter: spans are not recorded. \
             Set them, or pass a config with credentials or an exporter to `sgp_trace::init`",
            config.missing_credentials().join(", ")
        ));
        return;
    }
    let pipeline = RUNTIME
        .pipeline
        .get_or_init(|| Pipeline::new(config.queue_capacity));
    let exporter: Arc<dyn Exporter> = match &config.exporter {
        Some(exporter) => exporter.clone(),
        None => Arc::new(HttpExporter::new(&config)),
    };
    let settings = Settings::from(&config);
    crate::sampling::configure(config.sample_rate, config.keep_error_traces);
    match worker
        .as_ref()
        .filter(|handle| !handle.thread.is_finished())
    {
        Some(handle) => {
            if was_configured {
                diag::warn(format_args!(
                    "`sgp_trace::init` called again: exporter, batching, flush and retry settings \
                     updated; the queue capacity stays {}",
                    pipeline.capacity()
                ));
            }
            let _ = handle
                .control
                .send(Control::Reconfigure(settings, exporter));
        }
        None => match start_worker(pipeline, settings, exporter) {
            Ok(handle) => *worker = Some(handle),
            Err(error) => {
                diag::error(format_args!(
                    "could not start the export thread ({error}); spans are not recorded"
                ));
                return;
            }
        },
    }
    RUNTIME.recording.store(true, Ordering::Release);
}

fn start_worker(
    pipeline: &'static Pipeline,
    settings: Settings,
    exporter: Arc<dyn Exporter>,
) -> std::io::Result<WorkerHandle> {
    // Control messages are rare and small; a few slots is plenty.
    let (control, control_receiver) = bounded(64);
    let pending_limit = settings.pending_limit(pipeline.capacity());
    let run = COUNTERS.open_run();
    let worker = Worker::new(
        run,
        pipeline,
        control_receiver,
        exporter,
        settings,
        pending_limit,
    );
    let thread = thread::Builder::new()
        .name("sgp-trace-export".into())
        .spawn(move || worker.run())?;
    Ok(WorkerHandle {
        run,
        control,
        thread,
    })
}

fn lock_worker() -> MutexGuard<'static, Option<WorkerHandle>> {
    // A panic while holding this lock cannot leave the handle half-written; go on.
    RUNTIME
        .worker
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Flushes and stops tracing when dropped, waiting at most the configured
/// [`shutdown_timeout`](crate::ConfigBuilder::shutdown_timeout); returned by [`init`].
///
/// When `init` ran more than once, tracing stops with the last guard dropped.
#[must_use = "dropping the guard right away stops tracing; keep it until the end of main"]
#[derive(Debug)]
pub struct TracingGuard {
    shutdown_timeout: Duration,
}

impl TracingGuard {
    /// Stops tracing now, whatever other guards live; see [`shutdown`].
    pub fn shutdown(self) -> Result<(), ShutdownError> {
        let timeout = self.shutdown_timeout;
        std::mem::forget(self);
        LIVE_GUARDS.fetch_sub(1, Ordering::AcqRel);
        shutdown(timeout)
    }
}

impl Drop for TracingGuard {
    fn drop(&mut self) {
        if LIVE_GUARDS.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        if let Err(error) = shutdown(self.shutdown_timeout) {
            diag::warn(format_args!("{error}"));
        }
    }
}

/// Sends every span event queued before the call, waiting at most 30 s; see
/// [`flush_queue_within`].
pub fn flush_queue() -> Result<(), FlushError> {
    flush_queue_within(DEFAULT_FLUSH_TIMEOUT)
}

/// Blocks until every span event queued before the call has been sent or has definitively
/// failed (see [`stats`]), or until `timeout` passes. Returns at once when tracing is off.
pub fn flush_queue_within(timeout: Duration) -> Result<(), FlushError> {
    let Some(control) = control_sender() else {
        return Ok(());
    };
    let (done, finished) = bounded(1);
    let deadline = Instant::now() + timeout;
    if control.send(Control::Flush { done, deadline }).is_err() {
        return Err(FlushError::Stopped);
    }
    finished
        .recv_timeout(timeout)
        .map_err(|_| FlushError::Timeout(timeout))
}

fn control_sender() -> Option<Sender<Control>> {
    let worker = lock_worker();
    worker
        .as_ref()
        .filter(|handle| !handle.thread.is_finished())
        .map(|handle| handle.control.clone())
}

/// Stops recording, sends what is queued and stops the export thread, waiting at most
/// `timeout`; the program's exit is never held longer.
///
/// Spans still open are sent as they are known, with status `CANCELED`, the shutdown time as
/// their end and metadata `open_at_shutdown: true`. What is still unsent when it returns is
/// counted in [`Stats::dropped_at_shutdown`], and events made after shutdown in
/// [`Stats::dropped_while_stopped`]. A later [`init`] starts tracing again.
pub fn shutdown(timeout: Duration) -> Result<(), ShutdownError> {
    let handle = {
        let mut worker = lock_worker();
        RUNTIME.recording.store(false, Ordering::Release);
        worker.take()
    };
    let Some(handle) = handle else {
        return Ok(());
    };
    let deadline = Instant::now() + timeout;
    let (done, finished) = bounded(1);
    let run = handle.run;
    let result = if handle
        .control
        .send(Control::Shutdown { deadline, done })
        .is_err()
    {
        Err(ShutdownError::Stopped)
    } else {
        match finished.recv_timeout(timeout) {
            Ok(()) => {
                let _ = handle.thread.join();
                Ok(())
            }
            // The thread is left to finish on its own; the process may exit under it.
            Err(_) => Err(ShutdownError::Timeout(timeout)),
        }
    };
    take_over_the_queue(run);
    result
}

/// Closes the books of the export thread of `run` and empties the queue, so that every event
/// is in a bucket when shutdown returns. What that thread still held (a batch in flight when
/// the bound ran out, say) and what waits in the channel count as dropped at shutdown, and
/// the thread's own later counts are not added; the lanes' events are counted as they ship.
fn take_over_the_queue(run: u64) {
    // Held so that no `init` opens a new run before the queue is empty.
    let _worker = lock_worker();
    COUNTERS.close_run(run);
    let Some(pipeline) = RUNTIME.pipeline.get() else {
        return;
    };
    lane::ship_all(&pipeline.route());
    while let Ok(shipment) = pipeline.receiver.try_recv() {
        pipeline.recycle(shipment);
    }
}

/// What happened to this process's span events so far.
pub fn stats() -> Stats {
    COUNTERS.snapshot(lane::unshipped_counts())
}

/// Why [`flush_queue`] returned before everything was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushError {
    /// Spans were still waiting (for a slow or failing backend) when the time ran out.
    Timeout(Duration),
    /// The export thread stopped while the flush waited.
    Stopped,
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlushError::Timeout(timeout) => {
                write!(
                    f,
                    "sgp-trace: flush did not finish within {timeout:?}; spans are still queued"
                )
            }
            FlushError::Stopped => {
                write!(f, "sgp-trace: the export thread stopped during the flush")
            }
        }
    }
}

impl std::error::Error for FlushError {}

/// Why [`shutdown`] returned before everything was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShutdownError {
    /// The export thread was still sending when the time ran out; what it had not sent is
    /// dropped and counted in [`Stats::dropped_at_shutdown`].
    Timeout(Duration),
    /// The export thread had already stopped.
    Stopped,
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownError::Timeout(timeout) => write!(
                f,
                "sgp-trace: shutdown did not finish within {timeout:?}; unsent spans are lost"
            ),
            ShutdownError::Stopped => write!(f, "sgp-trace: the export thread had already stopped"),
        }
    }
}

impl std::error::Error for ShutdownError {}
