//! Pattern 2: spans made by workflow code, kept in a deterministic buffer and sent by an
//! activity.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sgp_trace::{Id, SpanContext, SpanStatus, SpanType, Timestamp};
use temporalio_common::RetryPolicy;
use temporalio_sdk::{ActivityOptions, SyncWorkflowContext, WorkflowContext};
use temporalio_workflow::WorkflowContextFuture;

use crate::flush::{BufferedSpan, SpanActivities, UpsertSpans};
use crate::workflow::CurrentSpan;

/// Where a [`SpanBuffer`] takes ids and times from: deterministic sources only, so that a
/// replayed workflow rebuilds exactly the same buffer. Implemented for the workflow contexts
/// (`uuid4()` and `workflow_time()`); implement it for a fake clock in unit tests.
pub trait WorkflowClock {
    /// A new unique, deterministic id.
    fn uuid4(&self) -> String;
    /// The workflow's current time.
    fn now(&self) -> SystemTime;
}

impl<W> WorkflowClock for WorkflowContext<W> {
    fn uuid4(&self) -> String {
        WorkflowContext::uuid4(self)
    }

    fn now(&self) -> SystemTime {
        self.workflow_time().unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

impl<W> WorkflowClock for SyncWorkflowContext<W> {
    fn uuid4(&self) -> String {
        SyncWorkflowContext::uuid4(self)
    }

    fn now(&self) -> SystemTime {
        self.workflow_time().unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

fn nanos(clock: &impl WorkflowClock) -> u64 {
    Timestamp::from(clock.now()).as_nanos()
}

/// The context a child of `span` continues; ids the buffer made itself are always valid.
fn context_of(span: &BufferedSpan) -> SpanContext {
    SpanContext {
        trace_id: Id::new(&span.trace_id).unwrap_or_else(|_| Id::random()),
        span_id: Id::new(&span.id).unwrap_or_else(|_| Id::random()),
        group_id: span.group_id.as_deref().and_then(|g| Id::new(g).ok()),
    }
}

/// A handle on a span in a [`SpanBuffer`]: its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BufferedSpanId(pub String);

/// When a [`SpanBuffer`] flushes and how its flush activity runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlushPolicy {
    /// [`SpanBuffer::flush_if_due`] flushes once this many spans wait.
    pub max_pending: usize,
    /// ... or once this much workflow time has passed since the last flush.
    pub interval: Duration,
    /// The flush activity's start-to-close timeout.
    pub timeout: Duration,
    /// Attempts of the flush activity for retryable failures (0: unlimited).
    pub max_attempts: u32,
    /// The task queue of the flush activity; the workflow's own when `None`.
    pub task_queue: Option<String>,
}

impl Default for FlushPolicy {
    fn default() -> FlushPolicy {
        FlushPolicy {
            max_pending: 100,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            max_attempts: 8,
            task_queue: None,
        }
    }
}

/// Why a flush did not deliver its spans. The spans are dropped (and counted in
/// [`SpanBuffer::dropped`]) rather than kept, since a refused batch would be refused again and
/// tracing must never hold a workflow back.
#[derive(Debug)]
pub struct FlushError {
    /// How many spans were dropped.
    pub spans: usize,
    /// The activity's failure.
    pub reason: String,
}

impl std::fmt::Display for FlushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} buffered spans were not sent: {}",
            self.spans, self.reason
        )
    }
}

impl std::error::Error for FlushError {}

/// Spans made by workflow code, kept deterministically and sent by an activity (pattern 2).
///
/// Ids come from the workflow's `uuid4()` and times from `workflow_time()`, and nothing is
/// sent from workflow code: a replay rebuilds the same buffer, and the flush activities it
/// already ran are not run again. The buffer is plain data (`Serialize`, `Deserialize`), so it
/// can sit in workflow state, answer a query, or go into the next run's input at
/// continue-as-new.
///
/// The buffer has a root span, the parent of its spans by default. Its parent is
/// [`workflow_span_context`](crate::workflow_span_context) with [`SpanBuffer::for_workflow`]:
/// the workflow's own span when the interceptors are installed, else the caller's span from
/// the start headers; with neither, the root starts a trace. All spans share the root's trace
/// id, so a batch can never mix traces.
///
/// Flushes: [`flush_if_due`](SpanBuffer::flush_if_due) after steps (a size threshold, or an
/// interval of workflow time), [`flush`](SpanBuffer::flush) before continue-as-new, and
/// [`finish`](SpanBuffer::finish) at the end, which ends the root and sends it again with its
/// end time. A span is sent when it starts (at the next flush, so live views show it) and
/// again when it ends; the upsert keeps the final state.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use sgp_trace_temporal::{SpanBuffer, WorkflowClock};
///
/// struct Fake(std::cell::Cell<u64>);
/// impl WorkflowClock for Fake {
///     fn uuid4(&self) -> String { self.0.set(self.0.get() + 1); format!("id-{}", self.0.get()) }
///     fn now(&self) -> SystemTime { SystemTime::UNIX_EPOCH + Duration::from_secs(self.0.get()) }
/// }
/// let clock = Fake(Default::default());
/// let mut buffer = SpanBuffer::start(&clock, "agent", None);
/// let step = buffer.start_span(&clock, "plan", None);
/// buffer.set_output(&step, &"done");
/// buffer.end_span(&clock, &step);
/// let batch = buffer.take_batch();
/// assert_eq!(batch.len(), 2); // the root's start and the finished step
/// assert_eq!(batch[1].parent_id.as_deref(), Some(batch[0].id.as_str()));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanBuffer {
    root: BufferedSpan,
    root_sent: bool,
    root_end_sent: bool,
    /// Spans started and not ended, with whether their start was sent.
    open: Vec<(BufferedSpan, bool)>,
    /// Ended spans not sent yet.
    ended: Vec<BufferedSpan>,
    policy: FlushPolicy,
    last_flush_nanos: u64,
    dropped: usize,
}

impl SpanBuffer {
    /// A buffer whose root span `name` starts now, under `parent` (or starting a trace).
    pub fn start(
        clock: &impl WorkflowClock,
        name: impl Into<String>,
        parent: Option<SpanContext>,
    ) -> SpanBuffer {
        let id = clock.uuid4();
        let now = nanos(clock);
        let (trace_id, parent_id, group_id) = match parent {
            Some(parent) => (
                parent.trace_id.to_string(),
                Some(parent.span_id.to_string()),
                parent.group_id.map(|g| g.to_string()),
            ),
            None => (clock.uuid4(), None, None),
        };
        let span_type = if parent_id.is_some() {
            SpanType::Standalone
        } else {
            SpanType::Tracer
        };
        SpanBuffer {
            root: BufferedSpan {
                name: name.into(),
                trace_id,
                id,
                parent_id,
                group_id,
                start_nanos: now,
                end_nanos: None,
                status: None,
                span_type,
                input: None,
                output: None,
                metadata: None,
            },
            root_sent: false,
            root_end_sent: false,
            open: Vec::new(),
            ended: Vec::new(),
            policy: FlushPolicy::default(),
            last_flush_nanos: now,
            dropped: 0,
        }
    }

    /// A buffer for workflow code, under [`workflow_span_context`](crate::workflow_span_context).
    pub fn for_workflow<W>(ctx: &WorkflowContext<W>, name: impl Into<String>) -> SpanBuffer {
        SpanBuffer::start(ctx, name, crate::workflow_span_context(ctx))
    }

    /// Replaces the flush policy.
    pub fn with_policy(mut self, policy: FlushPolicy) -> SpanBuffer {
        self.policy = policy;
        self
    }

    /// The root span.
    pub fn root(&self) -> BufferedSpanId {
        BufferedSpanId(self.root.id.clone())
    }

    /// The trace every span of this buffer belongs to.
    pub fn trace_id(&self) -> &str {
        &self.root.trace_id
    }

    /// How many spans failed flushes have dropped.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// How many span events wait for the next flush.
    pub fn pending(&self) -> usize {
        self.ended.len()
            + self.open.iter().filter(|(_, sent)| !sent).count()
            + usize::from(self.root_waits())
    }

    /// Whether the root has a state not sent yet: its start, or its end.
    fn root_waits(&self) -> bool {
        !self.root_sent || (self.root.end_nanos.is_some() && !self.root_end_sent)
    }

    /// Starts a span named `name` under `parent` (the root when `None`).
    pub fn start_span(
        &mut self,
        clock: &impl WorkflowClock,
        name: impl Into<String>,
        parent: Option<&BufferedSpanId>,
    ) -> BufferedSpanId {
        let id = clock.uuid4();
        let parent_id = parent.map_or_else(|| self.root.id.clone(), |p| p.0.clone());
        self.open.push((
            BufferedSpan {
                name: name.into(),
                trace_id: self.root.trace_id.clone(),
                id: id.clone(),
                parent_id: Some(parent_id),
                group_id: self.root.group_id.clone(),
                start_nanos: nanos(clock),
                end_nanos: None,
                status: None,
                span_type: SpanType::Standalone,
                input: None,
                output: None,
                metadata: None,
            },
            false,
        ));
        BufferedSpanId(id)
    }

    fn span_mut(&mut self, id: &BufferedSpanId) -> Option<&mut BufferedSpan> {
        if self.root.id == id.0 {
            return Some(&mut self.root);
        }
        self.open
            .iter_mut()
            .map(|(span, _)| span)
            .find(|span| span.id == id.0)
    }

    /// Edits an open span (or the root); does nothing for an unknown or ended span.
    pub fn update(&mut self, id: &BufferedSpanId, edit: impl FnOnce(&mut BufferedSpan)) {
        if let Some(span) = self.span_mut(id) {
            edit(span);
        }
    }

    /// Sets a span's type.
    pub fn set_type(&mut self, id: &BufferedSpanId, span_type: SpanType) {
        self.update(id, |span| span.span_type = span_type);
    }

    /// Sets a span's input (a non-object value is wrapped as `{"value": ...}`).
    pub fn set_input<T: Serialize + ?Sized>(&mut self, id: &BufferedSpanId, input: &T) {
        let value = object(input);
        self.update(id, |span| span.input = Some(value));
    }

    /// Sets a span's output.
    pub fn set_output<T: Serialize + ?Sized>(&mut self, id: &BufferedSpanId, output: &T) {
        let value = object(output);
        self.update(id, |span| span.output = Some(value));
    }

    /// Adds a metadata entry to a span.
    pub fn set_metadata<T: Serialize + ?Sized>(
        &mut self,
        id: &BufferedSpanId,
        key: impl Into<String>,
        value: &T,
    ) {
        let value = serde_json::to_value(value)
            .unwrap_or_else(|error| Value::String(format!("serialization error: {error}")));
        self.update(id, |span| {
            span.metadata
                .get_or_insert_with(Map::new)
                .insert(key.into(), value);
        });
    }

    /// Marks a span failed: status ERROR and the SDK's error metadata.
    pub fn set_error(&mut self, id: &BufferedSpanId, error_type: &str, message: &str) {
        self.update(id, |span| {
            span.status = Some(SpanStatus::Error);
            let metadata = span.metadata.get_or_insert_with(Map::new);
            metadata.insert("error".into(), Value::Bool(true));
            metadata.insert("error_type".into(), Value::String(error_type.into()));
            metadata.insert("error_message".into(), Value::String(message.into()));
            metadata.insert("error_category".into(), Value::String("application".into()));
        });
    }

    /// Ends an open span now (status SUCCESS unless set); it is sent at the next flush.
    pub fn end_span(&mut self, clock: &impl WorkflowClock, id: &BufferedSpanId) {
        let Some(index) = self.open.iter().position(|(span, _)| span.id == id.0) else {
            return;
        };
        let (mut span, _) = self.open.remove(index);
        span.end_nanos = Some(nanos(clock).max(span.start_nanos));
        span.status.get_or_insert(SpanStatus::Success);
        self.ended.push(span);
    }

    /// The span context of a span, to parent work to it by hand (for example in an activity's
    /// input, as the SGP guide does) or with [`scope`](SpanBuffer::scope).
    pub fn context(&self, id: &BufferedSpanId) -> SpanContext {
        let span = if self.root.id == id.0 {
            Some(&self.root)
        } else {
            self.open
                .iter()
                .map(|(span, _)| span)
                .chain(&self.ended)
                .find(|span| span.id == id.0)
        };
        context_of(span.unwrap_or(&self.root))
    }

    /// Runs the future that `make` returns (typically `|| ctx.execute_activity(..)`) with
    /// span `id` as the parent of the activities, child workflows and signals it issues,
    /// through the workflow interceptor. `make` is called inside the scope because the SDK
    /// schedules an activity when its future is created, not when it is first polled.
    pub fn scope<W, F: std::future::Future>(
        &self,
        ctx: &WorkflowContext<W>,
        id: &BufferedSpanId,
        make: impl FnOnce() -> F,
    ) -> WorkflowContextFuture<F> {
        let context = self.context(id);
        let future = ctx.with_context_value_sync::<CurrentSpan, _>(context.clone(), make);
        ctx.with_context_value::<CurrentSpan, _>(context, future)
    }

    /// Whether [`flush_if_due`](SpanBuffer::flush_if_due) would flush now.
    pub fn is_flush_due(&self, clock: &impl WorkflowClock) -> bool {
        let waited = nanos(clock).saturating_sub(self.last_flush_nanos);
        let pending = self.pending();
        pending >= self.policy.max_pending.max(1)
            || (pending > 0 && waited >= self.policy.interval.as_nanos() as u64)
    }

    /// Takes what the next flush sends: ended spans, the starts of open spans not sent yet,
    /// and the root (its start once, and its final state once it has ended).
    pub fn take_batch(&mut self) -> Vec<BufferedSpan> {
        let mut batch = Vec::with_capacity(self.pending());
        if self.root_waits() {
            batch.push(self.root.clone());
            self.root_sent = true;
            self.root_end_sent = self.root.end_nanos.is_some();
        }
        for (span, sent) in &mut self.open {
            if !*sent {
                batch.push(span.clone());
                *sent = true;
            }
        }
        batch.append(&mut self.ended);
        batch
    }

    /// Sends what waits through the flush activity of [`SpanActivities`] now.
    pub async fn flush<W>(&mut self, ctx: &WorkflowContext<W>) -> Result<usize, FlushError> {
        self.last_flush_nanos = nanos(ctx);
        let spans = self.take_batch();
        if spans.is_empty() {
            return Ok(0);
        }
        let count = spans.len();
        let retry = RetryPolicy::builder()
            .initial_interval(Duration::from_millis(500))
            .maximum_interval(Duration::from_secs(30))
            .maximum_attempts(self.policy.max_attempts)
            .build();
        let options = ActivityOptions::with_start_to_close_timeout(self.policy.timeout)
            .retry_policy(retry)
            .maybe_task_queue(self.policy.task_queue.clone())
            .summary(format!("sgp-trace: upsert {count} spans"))
            .build();
        match ctx
            .execute_activity(SpanActivities::upsert_spans, UpsertSpans { spans }, options)
            .await
        {
            Ok(sent) => Ok(sent),
            Err(error) => {
                self.dropped += count;
                Err(FlushError {
                    spans: count,
                    reason: error.to_string(),
                })
            }
        }
    }

    /// Flushes when [`is_flush_due`](SpanBuffer::is_flush_due): enough spans wait, or the
    /// policy's interval of workflow time has passed since the last flush.
    pub async fn flush_if_due<W>(&mut self, ctx: &WorkflowContext<W>) -> Result<usize, FlushError> {
        if self.is_flush_due(ctx) {
            self.flush(ctx).await
        } else {
            Ok(0)
        }
    }

    /// Ends the spans still open (status CANCELED, metadata `open_at_finish`), ends the root
    /// with `status` and flushes, so the root is sent again with its end time.
    pub async fn finish<W>(
        &mut self,
        ctx: &WorkflowContext<W>,
        status: SpanStatus,
    ) -> Result<usize, FlushError> {
        self.end_all(ctx, status);
        self.flush(ctx).await
    }

    /// The synchronous part of [`finish`](SpanBuffer::finish): ends every open span and the
    /// root.
    pub fn end_all(&mut self, clock: &impl WorkflowClock, status: SpanStatus) {
        let now = nanos(clock);
        for (mut span, _) in self.open.drain(..) {
            span.end_nanos = Some(now.max(span.start_nanos));
            span.status.get_or_insert(SpanStatus::Canceled);
            span.metadata
                .get_or_insert_with(Map::new)
                .insert("open_at_finish".into(), Value::Bool(true));
            self.ended.push(span);
        }
        if self.root.end_nanos.is_none() {
            self.root.end_nanos = Some(now.max(self.root.start_nanos));
            self.root.status.get_or_insert(status);
        }
    }
}

fn object<T: Serialize + ?Sized>(value: &T) -> Value {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(other) => {
            let mut map = Map::new();
            map.insert("value".into(), other);
            Value::Object(map)
        }
        Err(error) => {
            let mut map = Map::new();
            map.insert(
                "serialization_error".into(),
                Value::String(error.to_string()),
            );
            Value::Object(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Ids and times from a counter, like a workflow's deterministic sources.
    struct Clock(Cell<u64>);

    impl Clock {
        fn new() -> Clock {
            Clock(Cell::new(0))
        }
    }

    impl WorkflowClock for Clock {
        fn uuid4(&self) -> String {
            self.0.set(self.0.get() + 1);
            format!("00000000-0000-4000-8000-{:012}", self.0.get())
        }
        fn now(&self) -> SystemTime {
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + self.0.get())
        }
    }

    fn run(clock: &Clock) -> (SpanBuffer, Vec<Vec<BufferedSpan>>) {
        let parent = SpanContext {
            trace_id: Id::new("trace-from-client").unwrap(),
            span_id: Id::new("client-span").unwrap(),
            group_id: None,
        };
        let mut buffer = SpanBuffer::start(clock, "agent", Some(parent));
        let mut flushes = Vec::new();
        let plan = buffer.start_span(clock, "plan", None);
        buffer.set_input(&plan, &"question");
        flushes.push(buffer.take_batch());
        let tool = buffer.start_span(clock, "tool", Some(&plan));
        buffer.set_error(&tool, "Timeout", "too slow");
        buffer.end_span(clock, &tool);
        buffer.end_span(clock, &plan);
        buffer.end_all(clock, SpanStatus::Success);
        flushes.push(buffer.take_batch());
        (buffer, flushes)
    }

    #[test]
    fn the_same_sources_rebuild_the_same_buffer() {
        let (first, first_flushes) = run(&Clock::new());
        let (replayed, replayed_flushes) = run(&Clock::new());
        assert_eq!(first, replayed);
        assert_eq!(first_flushes, replayed_flushes);
    }

    #[test]
    fn flushes_send_starts_once_and_the_root_again_with_its_end() {
        let (buffer, flushes) = run(&Clock::new());
        let names = |batch: &[BufferedSpan]| {
            batch
                .iter()
                .map(|s| format!("{}{}", s.name, if s.end_nanos.is_some() { "." } else { "" }))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&flushes[0]), ["agent", "plan"]);
        assert_eq!(names(&flushes[1]), ["agent.", "tool.", "plan."]);
        assert_eq!(buffer.pending(), 0);
        let mut buffer = buffer;
        assert!(
            buffer.take_batch().is_empty(),
            "the root's end is sent once"
        );
        let root = &flushes[1][0];
        assert_eq!(
            root.start_nanos, flushes[0][0].start_nanos,
            "same storage identity"
        );
        assert_eq!(root.status, Some(SpanStatus::Success));
        assert_eq!(root.parent_id.as_deref(), Some("client-span"));
        let tool = &flushes[1][1];
        assert_eq!(tool.status, Some(SpanStatus::Error));
        assert_eq!(tool.parent_id, Some(flushes[0][1].id.clone()));
        for span in flushes.iter().flatten() {
            assert_eq!(
                span.trace_id, "trace-from-client",
                "one trace by construction"
            );
            span.to_item().expect("sendable");
        }
    }

    #[test]
    fn a_buffer_survives_serialization() {
        let clock = Clock::new();
        let mut buffer = SpanBuffer::start(&clock, "agent", None);
        let step = buffer.start_span(&clock, "step", None);
        buffer.set_metadata(&step, "k", &1);
        let json = serde_json::to_string(&buffer).unwrap();
        let back: SpanBuffer = serde_json::from_str(&json).unwrap();
        assert_eq!(back, buffer);
        assert_eq!(back.context(&step).trace_id.to_string(), buffer.trace_id());
    }

    #[test]
    fn flush_is_due_by_size_or_by_workflow_time() {
        let clock = Clock::new();
        let mut buffer = SpanBuffer::start(&clock, "agent", None).with_policy(FlushPolicy {
            max_pending: 2,
            interval: Duration::from_secs(100),
            ..FlushPolicy::default()
        });
        assert!(!buffer.is_flush_due(&clock), "one pending, no time passed");
        let a = buffer.start_span(&clock, "a", None);
        buffer.end_span(&clock, &a);
        assert!(
            buffer.is_flush_due(&clock),
            "root start and a ended make... {}",
            buffer.pending()
        );
        buffer.take_batch();
        buffer.last_flush_nanos = nanos(&clock);
        let b = buffer.start_span(&clock, "b", None);
        assert!(!buffer.is_flush_due(&clock));
        clock.0.set(clock.0.get() + 100);
        assert!(buffer.is_flush_due(&clock), "the interval passed");
        buffer.end_span(&clock, &b);
    }

    #[test]
    fn an_invalid_id_is_reported_not_sent() {
        let clock = Clock::new();
        let mut buffer = SpanBuffer::start(&clock, "agent", None);
        buffer.update(&buffer.root(), |span| span.id = "x".repeat(300));
        let batch = buffer.take_batch();
        assert!(batch[0].to_item().unwrap_err().contains("bad id"));
    }
}
