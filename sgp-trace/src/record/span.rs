//! Creating spans: builders, the [`Span`] handle that ends on drop, and the [`SpanGuard`]
//! that also makes the span current.

use std::borrow::{Borrow, BorrowMut, Cow};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::json::JsonObject;
use crate::model::sampling::{self, Decision};
use crate::model::{ErrorCategory, Id, SpanItem, SpanStatus, SpanType, Timestamp};
use crate::queue::lane::{ItemToMove, SpanSlot};
use crate::queue::Pipeline;
use crate::record::annotate;
use crate::record::context::{self, ContextGuard, Entry, SpanContext};
use crate::runtime;

/// Starts a new trace: its root span, of type `TRACER` unless set otherwise.
///
/// ```
/// let trace = sgp_trace::create_trace("handle request").start();
/// let child = sgp_trace::create_span("look up user").input(&"user-7").start();
/// # drop(child); drop(trace);
/// ```
pub fn create_trace(name: impl Into<Cow<'static, str>>) -> SpanBuilder {
    SpanBuilder::new(name.into(), true)
}

/// Starts a span under the current span (or the parent given with
/// [`SpanBuilder::parent`]). With no span in scope and no parent or trace given, the span is
/// a no-op, as in the Python SDK: no orphan is sent.
#[inline]
pub fn create_span(name: impl Into<Cow<'static, str>>) -> SpanBuilder {
    SpanBuilder::new(name.into(), false)
}

/// Describes a span before it starts; made by [`create_trace`] and [`create_span`].
///
/// Whether the span can be recorded is decided when the builder is made, as the Python
/// SDK's `create_span` decides in its one call: tracing is on, and the builder starts a
/// trace or a recorded span is current. Giving a [`parent`](SpanBuilder::parent) or a
/// [`trace_id`](SpanBuilder::trace_id) decides again. A builder that cannot record
/// serializes nothing, and its `start` is a few instructions.
#[must_use = "a span builder does nothing until `start` is called"]
#[derive(Debug, Clone)]
pub struct SpanBuilder {
    name: Cow<'static, str>,
    new_trace: bool,
    span_type: Option<SpanType>,
    input: Option<JsonObject>,
    /// The settings most spans never use, boxed so the common builder stays small: it is
    /// moved by every chained call.
    extras: Option<Box<Extras>>,
    /// Whether the span can be recorded (see above).
    recordable: bool,
}

#[derive(Debug, Clone, Default)]
struct Extras {
    span_id: Option<Id>,
    trace_id: Option<Id>,
    parent: Option<SpanContext>,
    group_id: Option<Id>,
    output: Option<JsonObject>,
    /// Shared with other spans when given by [`SpanBuilder::metadata_shared`]; copied on
    /// the first entry added to it.
    metadata: Option<Arc<Map<String, Value>>>,
}

impl SpanBuilder {
    #[inline]
    fn new(name: Cow<'static, str>, new_trace: bool) -> SpanBuilder {
        SpanBuilder::decided(name, new_trace, can_record(new_trace))
    }

    /// A builder whose `recordable` was worked out by the caller: `#[traced]` checks before
    /// it serializes the arguments, and need not check twice.
    #[inline]
    pub(crate) fn decided(name: Cow<'static, str>, new_trace: bool, recordable: bool) -> Self {
        SpanBuilder {
            name,
            new_trace,
            span_type: None,
            input: None,
            extras: None,
            recordable,
        }
    }

    fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Default::default)
    }

    #[inline]
    fn extras(&self) -> Option<&Extras> {
        self.extras.as_deref()
    }

    #[inline]
    fn trace_id_given(&self) -> Option<&Id> {
        self.extras()?.trace_id.as_ref()
    }

    #[inline]
    fn parent_given(&self) -> Option<&SpanContext> {
        self.extras()?.parent.as_ref()
    }

    fn group_id_given(&self) -> Option<Id> {
        self.extras()?.group_id.clone()
    }

    /// The span's type (default: `TRACER` for a trace, `STANDALONE` for a span).
    pub fn span_type(mut self, span_type: SpanType) -> Self {
        self.span_type = Some(span_type);
        self
    }

    /// The span's input; see [`JsonObject`] for how values become JSON objects.
    ///
    /// The value is serialized here, only if the span can be recorded (tracing on, and a
    /// recorded trace to go under), so give [`parent`](SpanBuilder::parent) or
    /// [`trace_id`](SpanBuilder::trace_id) first when you use them.
    #[inline(always)]
    pub fn input<T: Serialize + ?Sized>(self, input: &T) -> Self {
        // The no-op builder is handed back untouched: with the change in the same branch,
        // the compiler copied the whole builder from one stack slot to the next, in pieces
        // the CPU could not forward from store to load, which a no-op span felt.
        if !self.recordable {
            return self;
        }
        self.input_object(JsonObject::new(input))
    }

    /// The span's input, already a JSON object (what `#[traced]` records; see also
    /// [`ObjectWriter`](crate::ObjectWriter)). Made before the call whether or not the span
    /// can be recorded: check [`can_record`](SpanBuilder::can_record) first when it is
    /// costly.
    #[inline]
    pub fn input_object(mut self, input: JsonObject) -> Self {
        self.input = Some(input);
        self
    }

    /// Whether the span can be recorded (see above), so that a payload the builder would
    /// drop need not be made.
    ///
    /// ```
    /// // No span is current: a plain span would be a no-op.
    /// assert!(!sgp_trace::create_span("child").can_record());
    /// ```
    #[inline]
    pub fn can_record(&self) -> bool {
        self.recordable
    }

    /// The span's output, when known before it starts.
    #[inline]
    pub fn output<T: Serialize + ?Sized>(mut self, output: &T) -> Self {
        // Handed back untouched when no-op, as in `input`.
        if !self.recordable {
            return self;
        }
        self.extras_mut().output = Some(JsonObject::new(output));
        self
    }

    /// Adds one metadata entry.
    #[inline]
    pub fn metadata<T: Serialize + ?Sized>(mut self, key: impl Into<String>, value: &T) -> Self {
        // Handed back untouched when no-op, as in `input`.
        if !self.recordable {
            return self;
        }
        let value = annotate::metadata_value(value);
        let metadata = self
            .extras_mut()
            .metadata
            .get_or_insert_with(Default::default);
        Arc::make_mut(metadata).insert(key.into(), value);
        self
    }

    /// Starts the span's metadata with `metadata`, shared rather than copied: for entries
    /// that many spans carry alike, such as where they were made, built once. Entries added
    /// later, here or on the started span, go into the span's own copy; the shared map is
    /// never changed. Given after other entries, it is shared no longer: its entries are
    /// added to them, replacing those of the same key.
    #[inline]
    pub fn metadata_shared(mut self, metadata: Arc<Map<String, Value>>) -> Self {
        // Handed back untouched when no-op, as in `input`.
        if !self.recordable {
            return self;
        }
        match &mut self.extras_mut().metadata {
            Some(given) => Arc::make_mut(given).extend(
                metadata
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone())),
            ),
            empty @ None => *empty = Some(metadata),
        }
        self
    }

    /// Uses this span id instead of a random UUID.
    pub fn span_id(mut self, id: Id) -> Self {
        self.extras_mut().span_id = Some(id);
        self
    }

    /// For a trace: uses this trace id instead of a random UUID. For a span: places it at the
    /// top of that trace, with no parent (prefer [`SpanBuilder::parent`] when the parent span
    /// is known).
    pub fn trace_id(mut self, id: Id) -> Self {
        self.extras_mut().trace_id = Some(id);
        self.recordable = runtime::is_recording();
        self
    }

    /// Makes the span a child of `parent`, in the parent's trace, instead of the current
    /// span. Ignored by [`create_trace`], which always starts a new trace.
    pub fn parent(mut self, parent: SpanContext) -> Self {
        self.extras_mut().parent = Some(parent);
        self.recordable = runtime::is_recording();
        self
    }

    /// Links the trace to others of the same group. Spans inherit their parent's group.
    pub fn group_id(mut self, id: Id) -> Self {
        self.extras_mut().group_id = Some(id);
        self
    }

    /// Starts the span and makes it current on this thread until the guard drops.
    #[inline(always)]
    pub fn start(self) -> SpanGuard {
        // The no-op guard is made here, in place: made by `start_detached` and then moved
        // into a guard, the whole span was copied for nothing.
        if !self.recordable {
            self.discard();
            return SpanGuard::noop();
        }
        self.start_entered()
    }

    /// Drops a builder that will not start a span. Most hold nothing to free (a name given as
    /// a `&'static str`, no payload, no extras) and are forgotten after three checks inlined
    /// here, where their drop glue was a call.
    #[inline]
    fn discard(self) {
        let holds_nothing =
            matches!(self.name, Cow::Borrowed(_)) && self.input.is_none() && self.extras.is_none();
        if holds_nothing {
            std::mem::forget(self);
        } else {
            drop_builder(self);
        }
    }

    /// [`start`](SpanBuilder::start) for a span that may be recorded: kept out of line so
    /// that the no-op check above is all a caller inlines.
    #[inline(never)]
    fn start_entered(self) -> SpanGuard {
        SpanGuard::enter(self.start_recording())
    }

    /// Starts the span without making it current: for a span that moves to another thread or
    /// lives inside a future, entered where it runs with [`Span::enter`].
    #[inline]
    pub fn start_detached(self) -> Span {
        // The no-op cases first, inlined where the span is made: tracing off, or a plain
        // span with nothing current to go under.
        if !self.recordable {
            return Span::noop();
        }
        self.start_recording()
    }

    #[inline(never)]
    fn start_recording(mut self) -> Span {
        let Some(pipeline) = runtime::recording_pipeline() else {
            return Span::noop();
        };
        let Some((placement, root, parent_sampled)) = self.placement() else {
            return Span::noop();
        };
        if !parent_sampled {
            // Under a trace the sampler dropped: the dropped span above stays current.
            return Span::noop();
        }
        let held = match sampling::decide(&placement.trace_id) {
            Decision::Keep => false,
            Decision::HoldUnlessError => true,
            Decision::Drop => return Span::unsampled(placement, root),
        };
        let span_type = self.span_type.unwrap_or(if self.new_trace {
            SpanType::Tracer
        } else {
            SpanType::Standalone
        });
        // Taken apart only when given: a default `Extras` made and dropped for every span
        // costs more than this whole match.
        let (span_id, output, metadata) = match self.extras.take() {
            None => (Id::random(), None, None),
            Some(extras) => {
                let Extras {
                    span_id,
                    output,
                    metadata,
                    ..
                } = *extras;
                (span_id.unwrap_or_else(Id::random), output, metadata)
            }
        };
        let now = Timestamp::now();
        // Cloned from the placement before it moves into the item: cloned from the item,
        // the ids were read back in wider pieces than they had just been written in, which
        // the CPU cannot forward from store to load.
        let entry = Entry {
            context: SpanContext {
                trace_id: placement.trace_id.clone(),
                span_id: span_id.clone(),
                group_id: placement.group_id.clone(),
            },
            root: root.unwrap_or_else(|| span_id.clone()),
            sampled: true,
            slot: None,
        };
        let mut item = ManuallyDrop::new(SpanItem {
            name: self.name,
            trace_id: placement.trace_id,
            id: span_id,
            parent_id: placement.parent_id,
            group_id: placement.group_id,
            start_timestamp: now,
            end_timestamp: None,
            status: None,
            span_type,
            input: self.input,
            output,
            metadata,
            observability: crate::model::correlation::current(),
        });
        // SAFETY: `item` is not used after this.
        let item = unsafe { ItemToMove::new(&mut item) };
        let Some(slot) = pipeline.start(item, now.as_nanos(), held) else {
            return Span::noop();
        };
        let mut entry = entry;
        entry.slot = Some(slot);
        Span {
            state: State::Recording(Recording { entry, pipeline }),
        }
    }

    /// Where the span goes: its trace, parent and group, and the outermost known span of its
    /// trace (`None` when the span is that one). `None` overall means "no trace in scope".
    fn placement(&self) -> Option<(Placement, Option<Id>, bool)> {
        if self.new_trace {
            // In a child process that continues its parent's trace, a top-level trace joins
            // it under the parent's span, so the whole run is one tree.
            if let (None, Some(inherited)) = (self.trace_id_given(), context::inherited_parent()) {
                let (placement, root) = child_placement(&inherited, self.group_id_given());
                return Some((placement, root, inherited.sampled));
            }
            let placement = Placement {
                trace_id: self.trace_id_given().cloned().unwrap_or_else(Id::random),
                parent_id: None,
                group_id: self.group_id_given(),
            };
            return Some((placement, None, true));
        }
        if let Some(parent) = self.parent_given() {
            let placement = Placement {
                trace_id: parent.trace_id.clone(),
                parent_id: Some(parent.span_id.clone()),
                group_id: self.group_id_given().or_else(|| parent.group_id.clone()),
            };
            return Some((placement, Some(parent.span_id.clone()), true));
        }
        if let Some(trace_id) = self.trace_id_given() {
            let placement = Placement {
                trace_id: trace_id.clone(),
                parent_id: None,
                group_id: self.group_id_given(),
            };
            return Some((placement, None, true));
        }
        context::with_current(|current| {
            let current = current?;
            let (placement, root) = child_placement(current, self.group_id_given());
            Some((placement, root, current.sampled))
        })
    }
}

/// Drops a no-op builder that holds something to free (an owned name, or extras such as a
/// span id); out of line, as the rare case.
#[inline(never)]
fn drop_builder(builder: SpanBuilder) {
    drop(builder);
}

/// Whether a span started now could be recorded: tracing is on, and it starts a trace or a
/// recorded span is current (on this thread, or inherited from the parent process).
#[inline]
pub(crate) fn can_record(new_trace: bool) -> bool {
    runtime::is_recording() && (new_trace || context::has_recording_parent())
}

/// A child of `parent`: its trace, its group unless one is given, and its trace's root.
fn child_placement(parent: &Entry, group_id: Option<Id>) -> (Placement, Option<Id>) {
    let placement = Placement {
        trace_id: parent.context.trace_id.clone(),
        parent_id: Some(parent.context.span_id.clone()),
        group_id: group_id.or_else(|| parent.context.group_id.clone()),
    };
    (placement, Some(parent.root.clone()))
}

struct Placement {
    trace_id: Id,
    parent_id: Option<Id>,
    group_id: Option<Id>,
}

/// A started span. It ends when dropped (or with [`Span::end`]), and its setters change what
/// is sent when it ends. A no-op span (tracing off, or no trace in scope) ignores them all.
///
/// `Span` is `Send`: it may end on another thread than the one that started it.
#[derive(Debug)]
#[must_use = "a span ends as soon as it is dropped"]
pub struct Span {
    /// Kept in place rather than boxed: a span is moved a few times at most, and an
    /// allocation per span would cost more.
    state: State,
}

#[derive(Debug)]
enum State {
    /// A no-op span.
    Noop,
    Recording(Recording),
    /// The context of a span whose trace the sampler dropped: not recorded, but entered, so
    /// the spans under it know to be no-ops too.
    Unsampled(Entry),
}

/// A recorded span: its item waits in its lane (see [`lane`](crate::queue::lane)) until it ends.
#[derive(Debug)]
struct Recording {
    /// What entering the span makes current: its context, its trace's root and its slot
    /// (always there for a recorded span).
    entry: Entry,
    pipeline: &'static Pipeline,
}

impl Span {
    /// A span that records nothing.
    #[inline]
    pub fn noop() -> Span {
        Span { state: State::Noop }
    }

    fn unsampled(placement: Placement, root: Option<Id>) -> Span {
        let span_id = Id::random();
        let context = SpanContext {
            trace_id: placement.trace_id,
            span_id: span_id.clone(),
            group_id: placement.group_id,
        };
        let entry = Entry {
            context,
            root: root.unwrap_or(span_id),
            sampled: false,
            slot: None,
        };
        Span {
            state: State::Unsampled(entry),
        }
    }

    #[inline]
    fn is_noop(&self) -> bool {
        matches!(self.state, State::Noop)
    }

    /// Whether this span will be sent; `false` for a no-op span. Check it before computing
    /// an expensive value for a setter.
    #[inline]
    pub fn is_recording(&self) -> bool {
        matches!(self.state, State::Recording(_))
    }

    /// The span's context, to pass to other threads, processes or queues; `None` for a
    /// no-op span.
    pub fn context(&self) -> Option<SpanContext> {
        match &self.state {
            State::Recording(state) => Some(state.entry.context.clone()),
            _ => None,
        }
    }

    /// Makes the span current on this thread until the returned guard drops.
    #[inline]
    pub fn enter(&self) -> ContextGuard {
        match &self.state {
            State::Recording(state) => ContextGuard::push_clone(&state.entry),
            State::Unsampled(entry) => ContextGuard::push_clone(entry),
            State::Noop => ContextGuard::inert(),
        }
    }

    /// Where the span's item waits, when it is recorded.
    #[inline]
    fn slot(&self) -> Option<&SpanSlot> {
        match &self.state {
            State::Recording(state) => state.entry.slot.as_ref(),
            _ => None,
        }
    }

    /// Replaces the input; sent when the span ends.
    pub fn set_input<T: Serialize + ?Sized>(&mut self, input: &T) {
        if let Some(slot) = self.slot() {
            annotate::set_input(slot, input);
        }
    }

    /// Sets the output; sent when the span ends.
    pub fn set_output<T: Serialize + ?Sized>(&mut self, output: &T) {
        if let Some(slot) = self.slot() {
            annotate::set_output(slot, output);
        }
    }

    /// Adds or replaces one metadata entry.
    pub fn set_metadata<T: Serialize + ?Sized>(&mut self, key: impl Into<String>, value: &T) {
        if let Some(slot) = self.slot() {
            annotate::set_metadata(slot, key.into(), value);
        }
    }

    /// Adds one metadata entry unless the span has one under `key`: a default that what is
    /// set under `key`, before or after, overrides.
    pub fn set_metadata_default<T: Serialize + ?Sized>(
        &mut self,
        key: impl Into<String>,
        value: &T,
    ) {
        if let Some(slot) = self.slot() {
            annotate::set_metadata_default(slot, key.into(), value);
        }
    }

    /// Sets how the span ended; without it a span ends as `SUCCESS`.
    pub fn set_status(&mut self, status: SpanStatus) {
        if let Some(slot) = self.slot() {
            annotate::set_status(slot, status);
        }
    }

    /// Marks the span failed: status `ERROR` and the metadata the Python SDK records
    /// (`error: true`, `error_type`, `error_message`, `error_category`).
    ///
    /// ```
    /// # let mut span = sgp_trace::Span::noop();
    /// let error = std::io::Error::other("disk full");
    /// span.set_error("std::io::Error", &error.to_string(), "application");
    /// ```
    pub fn set_error(&mut self, error_type: &str, message: &str, category: &str) {
        if let Some(slot) = self.slot() {
            annotate::set_error(slot, error_type, message, category);
        }
    }

    /// Ends the span now.
    pub fn end(self) {}

    fn finish(&mut self) {
        if std::thread::panicking() {
            self.finish_with(record_unwinding);
        } else {
            self.finish_with(|_| {});
        }
    }

    /// Ends the span now, after `change` made its last changes to the item: one visit to
    /// the span's lane instead of one for the change and one for the end; the span is then
    /// a no-op. `change` runs under the lane's lock, so it must not make spans.
    ///
    /// It works on the span in place: moving the state out first copied it whole.
    pub(crate) fn finish_with(&mut self, change: impl FnOnce(&mut SpanItem)) {
        if let State::Recording(Recording {
            entry: Entry {
                slot: Some(slot), ..
            },
            pipeline,
        }) = &self.state
        {
            let (pipeline, slot) = (*pipeline, *slot);
            let now = Timestamp::now();
            pipeline.end(slot, now.as_nanos(), |item| {
                change(item);
                // Never before the start, whatever the clock did meanwhile.
                item.end_timestamp = Some(now.max(item.start_timestamp));
                item.status.get_or_insert(SpanStatus::Success);
            });
            self.state = State::Noop;
        }
    }
}

/// Ends a span dropped while its thread unwinds from a panic as failed, unless its status
/// was set (`#[traced]` records the panic and its message itself). The message of the panic
/// cannot be had here without a panic hook, which the SDK does not install behind the
/// program's back.
#[cold]
fn record_unwinding(item: &mut SpanItem) {
    if item.status.is_none() {
        annotate::record_error(
            item,
            "panic",
            "the thread panicked while the span was open",
            ErrorCategory::Application.as_str(),
        );
    }
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        if !matches!(self.state, State::Noop) {
            self.finish();
        }
    }
}

/// A started span that is current on this thread until dropped; made by
/// [`SpanBuilder::start`]. Derefs to [`Span`] for the setters.
///
/// It must drop on the thread that made it, so it is not `Send`; use
/// [`SpanBuilder::start_detached`] for a span that moves.
#[must_use = "a span ends as soon as its guard is dropped"]
#[derive(Debug)]
pub struct SpanGuard {
    /// Both dropped by hand (see the `Drop` impl): the context is left before the span ends.
    entered: ManuallyDrop<ContextGuard>,
    span: ManuallyDrop<Span>,
    _not_send: PhantomData<*const ()>,
}

impl SpanGuard {
    #[inline]
    fn noop() -> SpanGuard {
        SpanGuard {
            entered: ManuallyDrop::new(ContextGuard::inert()),
            span: ManuallyDrop::new(Span::noop()),
            _not_send: PhantomData,
        }
    }

    #[inline]
    fn enter(span: Span) -> SpanGuard {
        SpanGuard {
            entered: ManuallyDrop::new(span.enter()),
            span: ManuallyDrop::new(span),
            _not_send: PhantomData,
        }
    }

    /// Leaves the context, then ends the span.
    #[inline(never)]
    fn leave_and_end(&mut self) {
        // SAFETY: called once, by `drop`; neither field is used after.
        unsafe {
            ManuallyDrop::drop(&mut self.entered);
            ManuallyDrop::drop(&mut self.span);
        }
    }

    /// Ends the span now.
    pub fn end(self) {}
}

impl Drop for SpanGuard {
    /// Only this check is inlined where a guard drops: the drop glue of its fields, called
    /// even for a no-op guard, cost a no-op `create_span` two calls.
    #[inline]
    fn drop(&mut self) {
        if !(self.span.is_noop() && self.entered.is_inert()) {
            self.leave_and_end();
        }
    }
}

impl Borrow<Span> for SpanGuard {
    fn borrow(&self) -> &Span {
        &self.span
    }
}

impl BorrowMut<Span> for SpanGuard {
    fn borrow_mut(&mut self) -> &mut Span {
        &mut self.span
    }
}

impl Deref for SpanGuard {
    type Target = Span;

    fn deref(&self) -> &Span {
        &self.span
    }
}

impl DerefMut for SpanGuard {
    fn deref_mut(&mut self) -> &mut Span {
        &mut self.span
    }
}
