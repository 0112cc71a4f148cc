//! The process-wide runtime: configuration (from `init`, or from the environment at the
//! first span), the queue's one instance, and the export thread's lifecycle (init, flush,
//! shutdown). It wires the stages together and is used by the recording stage only.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use std::{fmt, thread};

use crossbeam_channel::{bounded, Sender};

use crate::config::Config;
use crate::diag;
use crate::export::settings::Settings;
use crate::export::worker::{Control, Worker};
use crate::export::{Exporter, HttpExporter};
use crate::model::sampling;
use crate::queue::{self, Pipeline};
use crate::stats::{Stats, COUNTERS};

/// How long [`flush_queue`] waits at most.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

static RUNTIME: Runtime = Runtime {
    configured: AtomicBool::new(false),
    pipeline: OnceLock::new(),
    worker: Mutex::new(None),
};

/// Live [`TracingGuard`]s: tracing stops when the last one drops, so the guard of a second
/// `init` (in a library, say) does not stop the program's tracing early.
static LIVE_GUARDS: AtomicUsize = AtomicUsize::new(0);

struct Runtime {
    /// Set once `init` ran or the environment was read; until then the first span reads it.
    configured: AtomicBool,
    /// Made by the first configuration that can export, and kept for the life of the
    /// process, so a span can hold a plain `&'static` to it.
    pipeline: OnceLock<Pipeline>,
    /// The export thread, when one runs.
    worker: Mutex<Option<WorkerHandle>>,
}

struct WorkerHandle {
    /// The thread's run in the counters' books (see
    /// [`Counters::open_run`](crate::stats::Counters::open_run)).
    run: u64,
    control: Sender<Control>,
    thread: JoinHandle<()>,
}

/// Whether spans are recorded now; reads the environment on first use when `init` was not
/// called.
#[inline]
pub(crate) fn is_recording() -> bool {
    if queue::recording() {
        return true;
    }
    if !RUNTIME.configured.load(Ordering::Acquire) {
        configure_from_env();
        return queue::recording();
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
    let was_configured = RUNTIME.configured.swap(true, Ordering::AcqRel);
    if config.disabled {
        queue::set_recording(false);
        diag::info(format_args!("tracing is disabled; spans are not recorded"));
        return;
    }
    if !config.can_export() {
        queue::set_recording(false);
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
    let settings = config.export.clone();
    sampling::configure(config.sample_rate, config.keep_error_traces);
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
    queue::set_recording(true);
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
        queue::set_recording(false);
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
    pipeline.empty();
}

/// What happened to this process's span events so far.
pub fn stats() -> Stats {
    queue::stats()
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
