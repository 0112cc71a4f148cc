//! The fan-out exporter: the same batches to several exporters (SGP and OTLP, say), each
//! behind its own bounded queue, worker thread and retry state.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, RecvTimeoutError, Sender, TrySendError};
use sgp_trace::{Batch, ExportError, Exporter, SpanItem};

/// Batches a downstream may hold before new ones are dropped (and counted).
pub const DEFAULT_QUEUE_BATCHES: usize = 256;

/// Sends every batch to several exporters at once, so that one backend's outage or
/// slowness never stalls the others.
///
/// Each downstream has a bounded queue of batches and one worker thread that sends them
/// with its own retry state: [`ExportError::Transient`] is retried with exponential backoff
/// (from 0.4 s, doubling up to 20 s, 4 attempts, as the SGP Python SDK; a server's
/// `Retry-After` wins), [`ExportError::Rejected`] and [`ExportError::TooLarge`] split the
/// batch to find the spans at fault, [`ExportError::Unauthorized`] stops that downstream
/// only, [`ExportError::Failed`] drops the batch. [`export`](Exporter::export) only copies
/// the batch into the queues and returns `Ok`, so the runtime's export thread never waits
/// for a backend; a full queue drops the batch for that downstream only. Every span lost
/// is counted in [`stats`](FanOutExporter::stats) per downstream.
///
/// The handle is cheap to clone: keep one to [`flush`](FanOutExporter::flush) and to
/// [`shutdown`](FanOutExporter::shutdown) after the runtime's guard, so what the queues
/// hold is delivered before the process exits.
///
/// ```no_run
/// use std::time::Duration;
/// use sgp_trace::{Config, HttpExporter};
/// use sgp_trace_otel::{FanOutExporter, OtlpExporter};
///
/// let sgp = Config::from_env().unwrap();
/// let fanout = FanOutExporter::builder()
///     .exporter("sgp", HttpExporter::new(&sgp))
///     .exporter("otlp", OtlpExporter::from_env().unwrap())
///     .build();
/// let guard = sgp_trace::init(Config::builder().exporter(fanout.clone()).build().unwrap());
/// // ... spans ...
/// drop(guard); // the runtime hands over what it holds
/// fanout.shutdown(Duration::from_secs(5)).ok(); // each backend gets what its queue holds
/// ```
#[derive(Clone)]
pub struct FanOutExporter {
    shared: Arc<Shared>,
}

struct Shared {
    downstreams: Vec<Downstream>,
    drain_timeout: Duration,
}

struct Downstream {
    name: String,
    jobs: Sender<Job>,
    /// Carries the shutdown deadline to the worker, also while it waits out a backoff.
    stop: Sender<Instant>,
    counters: Arc<Counters>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

enum Job {
    Batch(Arc<Part>),
    Flush(Sender<()>),
}

/// A batch owned by the fan-out: its spans and their SGP body.
struct Part {
    items: Vec<SpanItem>,
    json: Vec<u8>,
}

impl Part {
    fn new(items: Vec<SpanItem>) -> Part {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            items: &'a [SpanItem],
        }
        // SpanItem's serde form is the runtime's wire form.
        let json = serde_json::to_vec(&Body { items: &items }).unwrap_or_default();
        Part { items, json }
    }

    fn halves(&self) -> (Part, Part) {
        let (first, second) = self.items.split_at(self.items.len() / 2);
        (Part::new(first.to_vec()), Part::new(second.to_vec()))
    }
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    warned_full: AtomicBool,
}

/// What one downstream of a [`FanOutExporter`] did so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownstreamStats {
    /// The name given to [`FanOutBuilder::exporter`].
    pub name: String,
    /// Spans the exporter accepted.
    pub delivered: u64,
    /// Spans dropped because this downstream's queue was full (or it had shut down).
    pub dropped: u64,
    /// Spans given up: retries exhausted, refused, unauthorized, failed, or still queued
    /// when shutdown's time ran out.
    pub failed: u64,
    /// Attempts repeated after a transient failure.
    pub retries: u64,
    /// Batches waiting in the queue now.
    pub queued_batches: usize,
}

/// Why [`FanOutExporter::flush`] or [`FanOutExporter::shutdown`] returned before every
/// downstream was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOutTimeout {
    /// The downstreams that were still busy.
    pub pending: Vec<String>,
}

impl fmt::Display for FanOutTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fan-out downstreams still busy when time ran out: {}",
            self.pending.join(", ")
        )
    }
}

impl std::error::Error for FanOutTimeout {}

/// How a downstream retries transient failures.
#[derive(Debug, Clone, Copy)]
struct RetryPolicy {
    max_attempts: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
}

impl RetryPolicy {
    fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.backoff_initial
            .saturating_mul(1 << doublings)
            .min(self.backoff_max)
    }
}

/// Builds a [`FanOutExporter`].
pub struct FanOutBuilder {
    exporters: Vec<(String, Arc<dyn Exporter>)>,
    queue_batches: usize,
    /// Queue sizes set for one downstream, over `queue_batches`.
    queue_overrides: Vec<(String, usize)>,
    retry: RetryPolicy,
    drain_timeout: Duration,
}

impl fmt::Debug for FanOutBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOutBuilder")
            .field(
                "exporters",
                &self
                    .exporters
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("queue_batches", &self.queue_batches)
            .field("queue_overrides", &self.queue_overrides)
            .field("retry", &self.retry)
            .field("drain_timeout", &self.drain_timeout)
            .finish()
    }
}

impl FanOutBuilder {
    /// Adds a downstream; `name` appears in logs and [`DownstreamStats`].
    pub fn exporter(mut self, name: impl Into<String>, exporter: impl Exporter) -> Self {
        self.exporters.push((name.into(), Arc::new(exporter)));
        self
    }

    /// How many batches each downstream may hold (default [`DEFAULT_QUEUE_BATCHES`]).
    pub fn queue_batches(mut self, batches: usize) -> Self {
        self.queue_batches = batches.max(1);
        self
    }

    /// How many batches the downstream `name` may hold, over
    /// [`queue_batches`](Self::queue_batches).
    pub fn queue_batches_for(mut self, name: impl Into<String>, batches: usize) -> Self {
        self.queue_overrides.push((name.into(), batches.max(1)));
        self
    }

    /// Attempts per batch on transient failures (default 4, at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.retry.max_attempts = attempts.max(1);
        self
    }

    /// The wait after the first transient failure, doubling up to `max` (default 0.4 s
    /// and 20 s).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.retry.backoff_initial = initial;
        self.retry.backoff_max = max.max(initial);
        self
    }

    /// How long dropping the last handle lets the downstreams deliver what they hold
    /// (default 5 s); [`FanOutExporter::shutdown`] takes its own.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Starts one worker thread per downstream.
    pub fn build(self) -> FanOutExporter {
        let downstreams = self
            .exporters
            .into_iter()
            .map(|(name, exporter)| {
                let capacity = self
                    .queue_overrides
                    .iter()
                    .rev()
                    .find(|(named, _)| *named == name)
                    .map_or(self.queue_batches, |(_, batches)| *batches);
                let (jobs, job_receiver) = bounded(capacity);
                let (stop, stop_receiver) = bounded(1);
                let counters = Arc::new(Counters::default());
                let worker = Worker {
                    name: name.clone(),
                    exporter,
                    jobs: job_receiver,
                    stop: stop_receiver,
                    retry: self.retry,
                    counters: Arc::clone(&counters),
                    deadline: None,
                    unauthorized: false,
                };
                let thread = std::thread::Builder::new()
                    .name(format!("sgp-fanout-{name}"))
                    .spawn(move || worker.run())
                    .map_err(|error| {
                        log::error!(
                            "sgp-trace-otel fan-out [{name}]: could not start its thread \
                             ({error}); its spans are dropped"
                        )
                    })
                    .ok();
                Downstream {
                    name,
                    jobs,
                    stop,
                    counters,
                    thread: Mutex::new(thread),
                }
            })
            .collect();
        FanOutExporter {
            shared: Arc::new(Shared {
                downstreams,
                drain_timeout: self.drain_timeout,
            }),
        }
    }
}

impl FanOutExporter {
    /// A builder with no downstream yet.
    pub fn builder() -> FanOutBuilder {
        FanOutBuilder {
            exporters: Vec::new(),
            queue_batches: DEFAULT_QUEUE_BATCHES,
            queue_overrides: Vec::new(),
            retry: RetryPolicy {
                max_attempts: 4,
                backoff_initial: Duration::from_millis(400),
                backoff_max: Duration::from_secs(20),
            },
            drain_timeout: Duration::from_secs(5),
        }
    }

    /// Per-downstream counters, in the order the downstreams were added.
    pub fn stats(&self) -> Vec<DownstreamStats> {
        self.shared
            .downstreams
            .iter()
            .map(|downstream| {
                let counters = &downstream.counters;
                DownstreamStats {
                    name: downstream.name.clone(),
                    delivered: counters.delivered.load(Ordering::Relaxed),
                    dropped: counters.dropped.load(Ordering::Relaxed),
                    failed: counters.failed.load(Ordering::Relaxed),
                    retries: counters.retries.load(Ordering::Relaxed),
                    queued_batches: downstream.jobs.len(),
                }
            })
            .collect()
    }

    /// Waits until every downstream has dealt with (delivered or given up) each batch it
    /// was handed before this call, or `timeout` passes. Call
    /// [`sgp_trace::flush_queue`] first so the runtime has handed over what it holds.
    pub fn flush(&self, timeout: Duration) -> Result<(), FanOutTimeout> {
        let deadline = Instant::now() + timeout;
        let mut waiting = Vec::new();
        let mut pending = Vec::new();
        for downstream in &self.shared.downstreams {
            let (done, answer) = bounded(1);
            let left = deadline.saturating_duration_since(Instant::now());
            match downstream.jobs.send_timeout(Job::Flush(done), left) {
                Ok(()) => waiting.push((downstream, answer)),
                Err(_) => pending.push(downstream.name.clone()),
            }
        }
        for (downstream, answer) in waiting {
            let left = deadline.saturating_duration_since(Instant::now());
            if answer.recv_timeout(left).is_err() {
                pending.push(downstream.name.clone());
            }
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(FanOutTimeout { pending })
        }
    }

    /// Lets every downstream deliver what it holds until `timeout`, then stops its thread;
    /// what is left is counted as failed. Batches exported afterwards are dropped and
    /// counted. Call it after dropping the runtime's guard.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), FanOutTimeout> {
        self.shared.shutdown(timeout)
    }
}

impl Shared {
    fn shutdown(&self, timeout: Duration) -> Result<(), FanOutTimeout> {
        let deadline = Instant::now() + timeout;
        for downstream in &self.downstreams {
            // A second shutdown finds the slot taken or the thread gone; either is fine.
            let _ = downstream.stop.try_send(deadline);
        }
        let mut pending = Vec::new();
        for downstream in &self.downstreams {
            let thread = downstream
                .thread
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if let Some(thread) = thread {
                // The worker stops at the deadline, or once an in-flight request returns
                // (bounded by that exporter's own timeout).
                if thread.join().is_err() {
                    pending.push(downstream.name.clone());
                }
            }
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(FanOutTimeout { pending })
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = self.shutdown(self.drain_timeout);
    }
}

impl fmt::Debug for FanOutExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOutExporter")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Exporter for FanOutExporter {
    fn export(&self, batch: &Batch<'_>) -> Result<(), ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        let part = Arc::new(Part {
            items: batch.items().to_vec(),
            json: batch.json().to_vec(),
        });
        let spans = part.items.len() as u64;
        for downstream in &self.shared.downstreams {
            let counters = &downstream.counters;
            match downstream.jobs.try_send(Job::Batch(Arc::clone(&part))) {
                Ok(()) => counters.warned_full.store(false, Ordering::Relaxed),
                Err(TrySendError::Full(_)) => {
                    counters.dropped.fetch_add(spans, Ordering::Relaxed);
                    if !counters.warned_full.swap(true, Ordering::Relaxed) {
                        log::warn!(
                            "sgp-trace-otel fan-out [{}]: queue full, dropping batches for this \
                             backend until it catches up (the others are unaffected); raise \
                             queue_batches or check the backend",
                            downstream.name
                        );
                    }
                }
                Err(TrySendError::Disconnected(_)) => {
                    counters.dropped.fetch_add(spans, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }
}

struct Worker {
    name: String,
    exporter: Arc<dyn Exporter>,
    jobs: Receiver<Job>,
    stop: Receiver<Instant>,
    retry: RetryPolicy,
    counters: Arc<Counters>,
    deadline: Option<Instant>,
    unauthorized: bool,
}

impl Worker {
    fn run(mut self) {
        loop {
            let job = match self.deadline {
                Some(deadline) => match self.jobs.try_recv() {
                    Ok(job) if Instant::now() < deadline => job,
                    Ok(job) => {
                        self.give_up(job);
                        continue;
                    }
                    Err(_) => return,
                },
                None => select! {
                    recv(self.jobs) -> job => match job {
                        Ok(job) => job,
                        Err(_) => return,
                    },
                    recv(self.stop) -> deadline => {
                        self.deadline = Some(deadline.unwrap_or_else(|_| Instant::now()));
                        continue;
                    }
                },
            };
            match job {
                Job::Flush(done) => {
                    let _ = done.send(());
                }
                Job::Batch(part) => self.deliver(part),
            }
        }
    }

    /// Counts a batch left in the queue after the deadline as failed.
    fn give_up(&self, job: Job) {
        match job {
            Job::Flush(done) => {
                let _ = done.send(());
            }
            Job::Batch(part) => {
                self.counters
                    .failed
                    .fetch_add(part.items.len() as u64, Ordering::Relaxed);
            }
        }
    }

    fn deliver(&mut self, batch: Arc<Part>) {
        let mut parts = vec![batch];
        while let Some(part) = parts.pop() {
            let spans = part.items.len() as u64;
            let mut failures = 0;
            loop {
                if self.unauthorized || self.deadline.is_some_and(|d| Instant::now() >= d) {
                    self.counters.failed.fetch_add(spans, Ordering::Relaxed);
                    break;
                }
                let batch = Batch::new(&part.items, &part.json);
                let result = catch_unwind(AssertUnwindSafe(|| self.exporter.export(&batch)))
                    .unwrap_or_else(|_| {
                        Err(ExportError::Failed {
                            reason: "the exporter panicked".into(),
                        })
                    });
                match result {
                    Ok(()) => {
                        self.counters.delivered.fetch_add(spans, Ordering::Relaxed);
                        break;
                    }
                    Err(ExportError::Transient {
                        reason,
                        retry_after,
                    }) => {
                        failures += 1;
                        if failures >= self.retry.max_attempts {
                            self.lose(
                                spans,
                                &format!("{failures} attempts failed, last: {reason}"),
                            );
                            break;
                        }
                        let wait = retry_after.unwrap_or_else(|| self.retry.backoff(failures));
                        if !self.wait(wait) {
                            self.lose(spans, &format!("shutdown before a retry ({reason})"));
                            break;
                        }
                        self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(ExportError::Rejected { .. } | ExportError::TooLarge { .. })
                        if part.items.len() > 1 =>
                    {
                        let (first, second) = part.halves();
                        parts.push(Arc::new(second));
                        parts.push(Arc::new(first));
                        break;
                    }
                    Err(ExportError::Unauthorized { reason }) => {
                        self.unauthorized = true;
                        log::error!(
                            "sgp-trace-otel fan-out [{}]: credentials refused ({reason}); this \
                             backend gets no more spans until restart, the others go on",
                            self.name
                        );
                        self.counters.failed.fetch_add(spans, Ordering::Relaxed);
                        break;
                    }
                    Err(error) => {
                        self.lose(spans, &error.to_string());
                        break;
                    }
                }
            }
        }
    }

    fn lose(&self, spans: u64, why: &str) {
        self.counters.failed.fetch_add(spans, Ordering::Relaxed);
        log::warn!(
            "sgp-trace-otel fan-out [{}]: dropped {spans} span(s): {why}",
            self.name
        );
    }

    /// Waits `wait` before a retry; `false` when shutdown's deadline comes first.
    fn wait(&mut self, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        loop {
            if let Some(deadline) = self.deadline {
                return until <= deadline && {
                    std::thread::sleep(until.saturating_duration_since(Instant::now()));
                    true
                };
            }
            match self
                .stop
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(deadline) => self.deadline = Some(deadline),
                Err(RecvTimeoutError::Timeout) => return true,
                Err(RecvTimeoutError::Disconnected) => self.deadline = Some(Instant::now()),
            }
        }
    }
}
