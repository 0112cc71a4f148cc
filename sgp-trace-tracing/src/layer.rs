//! The layer: each `tracing` span it sees becomes an SGP span, made, entered, annotated and
//! ended through the runtime's public API.

use std::sync::Arc;

use serde_json::Value;
use sgp_trace::{
    create_span, create_trace, ErrorCategory, JsonObject, Span, SpanBuilder, SpanType,
};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::callsite::{self, Callsite};
use crate::entered;
use crate::events::Events;
use crate::fields::{self, Fields, SPAN_TYPE_FIELD};
use crate::gen_ai;

/// How many events a span keeps in its metadata by default.
pub const DEFAULT_MAX_EVENTS: usize = 32;

/// The metadata key under which a field that could not be used is explained.
pub const FIELD_ERROR_KEY: &str = "sgp.field_error";

/// A [`Layer`] that records `tracing` spans as SGP spans; made by [`layer()`](crate::layer).
///
/// The layer only records: the runtime's one export thread sends what it records, with its
/// batching, sampling, redaction and payload limits. Compose it with filters as any layer
/// (`layer().with_filter(EnvFilter::new("my_app=debug"))`): a span the filter turns away is
/// not recorded, and spans under it go under its nearest recorded ancestor.
#[derive(Debug, Clone)]
pub struct SgpLayer {
    start_traces: bool,
    max_events: usize,
    source_metadata: bool,
}

impl Default for SgpLayer {
    fn default() -> SgpLayer {
        SgpLayer {
            start_traces: true,
            max_events: DEFAULT_MAX_EVENTS,
            source_metadata: true,
        }
    }
}

impl SgpLayer {
    /// Whether a `tracing` span with no SGP span above it starts a trace (the default), or
    /// is left out, with the spans under it, unless a trace is in scope (an SGP span is
    /// current, or its `tracing` parent was recorded).
    pub fn start_traces(mut self, start: bool) -> SgpLayer {
        self.start_traces = start;
        self
    }

    /// How many events a span keeps in its `events` metadata (default
    /// [`DEFAULT_MAX_EVENTS`]); those after are counted in `events_left_out`.
    pub fn max_events_per_span(mut self, max: usize) -> SgpLayer {
        self.max_events = max;
        self
    }

    /// Whether each span's metadata tells where it was made: `tracing.target`,
    /// `tracing.level`, `tracing.module_path`, `tracing.file`, `tracing.line` (the default).
    /// They are built once per callsite and shared by its spans.
    pub fn source_metadata(mut self, record: bool) -> SgpLayer {
        self.source_metadata = record;
        self
    }

    /// The SGP span for a new `tracing` span, or `None` when it is left out.
    fn start_span<S>(&self, attrs: &Attributes<'_>, ctx: &Context<'_, S>) -> Option<Boxed>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let metadata = attrs.metadata();
        let callsite = callsite::of(metadata);
        // Most callsites declare only plain fields: their input is written straight from
        // the attributes, with nothing sorted out or copied first.
        let mut sorted = callsite.declares_sgp_fields.then(|| {
            let mut fields = Fields::default();
            attrs.record(&mut fields);
            fields
        });
        // An explicit parent is entered in the runtime while the span starts, so the span
        // goes under it whoever is current (and stays a no-op if its trace was sampled out).
        let mut _parent_entered = None;
        let under_parent = if attrs.is_contextual() {
            sgp_trace::has_current_span()
        } else if let Some(parent) = attrs.parent() {
            _parent_entered = enter_recorded_ancestor(parent, ctx);
            _parent_entered.is_some()
        } else {
            false
        };
        let builder = if under_parent {
            create_span(metadata.name())
        } else if self.start_traces {
            create_trace(metadata.name())
        } else {
            return None;
        };
        let llm = sorted
            .as_mut()
            .filter(|_| gen_ai::declares_gen_ai(metadata))
            .map(|fields| {
                gen_ai::LlmFields::new(
                    std::mem::take(&mut fields.values).into_map(),
                    std::mem::take(&mut fields.gen_ai),
                )
            });
        let input = match sorted {
            Some(fields) => Input::Sorted(fields),
            // Not written for a span that will not be recorded.
            None => Input::Plain(
                builder
                    .can_record()
                    .then(|| fields::plain_input(attrs.values(), &callsite.keys))
                    .flatten(),
            ),
        };
        let builder = describe(builder, callsite, input, llm.as_ref(), self.source_metadata);
        let mut span = builder.start_detached();
        if let Some(llm) = &llm {
            llm.record_on(&mut span);
        }
        Some(Box::new(Recorded {
            span,
            llm,
            events: Events::default(),
            failed: false,
            panicked: false,
        }))
    }
}

/// Returns the layer to add to a subscriber:
/// `tracing_subscriber::registry().with(sgp_trace_tracing::layer())`.
pub fn layer() -> SgpLayer {
    SgpLayer::default()
}

/// What the layer keeps in a `tracing` span's extensions: boxed, although the registry
/// boxes each extension too, so that the registry's insert and remove, and the layer's
/// calls, move a pointer rather than the whole span. Moved whole it was copied five times
/// per span, and those copies cost more than the second small allocation.
type Boxed = Box<Recorded>;

/// A recorded span and what the layer gathers for it until it closes.
struct Recorded {
    span: Span,
    /// The span's `gen_ai.*` fields so far, when it is an LLM call.
    llm: Option<gen_ai::LlmFields>,
    events: Events,
    /// Whether an `#[instrument(err)]` error was recorded.
    failed: bool,
    /// Whether a panic unwound through the span while it was entered.
    panicked: bool,
}

impl Recorded {
    /// Ends the span where it lies in its box, which is not copied out first.
    fn end(mut self: Boxed) {
        if self.panicked && !self.failed {
            self.span.set_error(
                "panic",
                "panicked while the span was entered",
                ErrorCategory::Application.as_str(),
            );
        }
        std::mem::take(&mut self.events).write_to(&mut self.span);
        // Dropping the span ends it.
    }
}

/// A new span's fields: sorted out, or for a plain callsite already written as its input.
enum Input {
    Sorted(Fields),
    Plain(Option<JsonObject>),
}

/// The builder with the span's type, input and (when `source`) where it was made.
fn describe(
    mut builder: SpanBuilder,
    callsite: &Callsite,
    input: Input,
    llm: Option<&gen_ai::LlmFields>,
    source: bool,
) -> SpanBuilder {
    // First: the shared entries are copied when given after others.
    if source {
        builder = builder.metadata_shared(Arc::clone(&callsite.source));
    }
    let fields = match input {
        Input::Plain(plain) => {
            if let Some(plain) = plain {
                builder = builder.input_object(plain);
            }
            return builder;
        }
        Input::Sorted(fields) => fields,
    };
    match fields.span_type.map(|text| text.parse::<SpanType>()) {
        Some(Ok(span_type)) => builder = builder.span_type(span_type),
        Some(Err(error)) => {
            builder = builder.metadata(FIELD_ERROR_KEY, &format!("{SPAN_TYPE_FIELD}: {error}"))
        }
        None if llm.is_some() => builder = builder.span_type(SpanType::Completion),
        None => {}
    }
    match llm {
        Some(llm) => builder = builder.input(&llm.input()),
        None if !fields.values.is_empty() => builder = builder.input(&fields.values),
        None => {}
    }
    builder
}

/// Enters, in the runtime, the SGP span of `parent` or of its nearest recorded ancestor.
fn enter_recorded_ancestor<S>(parent: &Id, ctx: &Context<'_, S>) -> Option<sgp_trace::ContextGuard>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.span(parent)?.scope().find_map(|ancestor| {
        let extensions = ancestor.extensions();
        extensions
            .get::<Boxed>()
            .map(|recorded| recorded.span.enter())
    })
}

/// What an event inside a span means to it.
enum EventKind {
    /// `#[instrument(ret)]`'s return value.
    Return(Value),
    /// `#[instrument(err)]`'s error.
    Error(String),
    /// Anything else: kept in the span's event list.
    Other,
}

/// `#[instrument]` writes its return and error events with one field, `return` or `error`
/// (the latter at level `ERROR`), and no message.
fn kind_of(event: &Event<'_>, fields: &mut Fields) -> EventKind {
    if fields.span_type.is_some() || !fields.gen_ai.is_empty() {
        return EventKind::Other;
    }
    if let Some(value) = fields.values.take_only("return") {
        return EventKind::Return(value);
    }
    if *event.metadata().level() == Level::ERROR {
        if let Some(error) = fields.values.take_only("error") {
            return EventKind::Error(match error {
                Value::String(text) => text,
                other => other.to_string(),
            });
        }
    }
    EventKind::Other
}

impl<S> Layer<S> for SgpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(recorded) = self.start_span(attrs, &ctx) else {
            return;
        };
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(recorded);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Fields::default();
        values.record(&mut fields);
        let mut extensions = span.extensions_mut();
        let Some(recorded) = extensions.get_mut::<Boxed>() else {
            return;
        };
        if fields.span_type.is_some() {
            recorded.span.set_metadata(
                FIELD_ERROR_KEY,
                &format!("{SPAN_TYPE_FIELD} is read when the span is created, not recorded later"),
            );
        }
        for (key, value) in fields.values.0 {
            recorded.span.set_metadata(key, &value);
        }
        // Only a span that declares `gen_ai.*` fields can record them, and such a span has
        // its `LlmFields`.
        if let Some(llm) = &mut recorded.llm {
            if !fields.gen_ai.is_empty() {
                llm.record_later(fields.gen_ai, &mut recorded.span);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut extensions = span.extensions_mut();
        let Some(recorded) = extensions.get_mut::<Boxed>() else {
            return;
        };
        match kind_of(event, &mut fields) {
            EventKind::Return(value) => recorded.span.set_output(&value),
            EventKind::Error(message) => {
                recorded.failed = true;
                recorded
                    .span
                    .set_error("Err", &message, ErrorCategory::Application.as_str());
            }
            EventKind::Other => {
                recorded
                    .events
                    .push(self.max_events, event.metadata(), fields.into_all())
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let context = match span.extensions().get::<Boxed>() {
            Some(recorded) => recorded.span.enter(),
            None => return,
        };
        entered::enter(id, context);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if !entered::exit(id) {
            return;
        }
        if let Some(span) = ctx.span(id) {
            if let Some(recorded) = span.extensions_mut().get_mut::<Boxed>() {
                recorded.panicked = true;
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let recorded = span.extensions_mut().remove::<Boxed>();
        if let Some(recorded) = recorded {
            recorded.end();
        }
    }
}
