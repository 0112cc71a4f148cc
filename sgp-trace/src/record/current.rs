//! The span you are in: [`with_current_span`] reaches the innermost recording span of the
//! calling thread or task, whoever made it, to annotate it.

use serde::Serialize;

use crate::model::SpanStatus;
use crate::queue::lane::SpanSlot;
use crate::record::annotate::{self, Annotate};
use crate::record::context::{self, SpanContext};

/// Runs `f` on the innermost recording span of this thread or task, and returns what it
/// returns; `None`, without calling `f`, when no span is recording here.
///
/// The span may have been made by `#[traced]` (also an `async fn`, after any number of
/// `.await`s, on whichever worker polls it), by a [`SpanGuard`](crate::SpanGuard), by an entered
/// [`Span`](crate::Span), or by an integration (the Temporal activity interceptor); a future
/// wrapped with [`propagate`](crate::propagate::Propagate::propagate) reaches the span it
/// was made in. What `f` sets reaches the server as if set through the span's own handle,
/// also after the span's start was already sent. A context that only
/// [continues a trace](SpanContext::attach) from elsewhere, a span the sampler dropped,
/// and a span that has already ended are not recording here.
///
/// An output set here is kept over the return value that `#[traced]` or
/// [`in_scope`](crate::SpanBuilder::in_scope) would record.
///
/// When one span is entered on two threads at once, both reach the same span, and each
/// setter replaces what was set before it, whichever thread set it.
///
/// ```
/// use sgp_trace::{traced, with_current_span, TokenUsage, LlmSpanExt};
///
/// #[traced(type = "COMPLETION")]
/// fn complete(prompt: &str) -> String {
///     let answer = format!("echo: {prompt}");
///     with_current_span(|span| {
///         span.set_llm_model("echo-1");
///         span.set_llm_usage(TokenUsage::new(3, 4));
///     });
///     answer
/// }
/// # complete("hi");
/// ```
#[inline]
pub fn with_current_span<R>(f: impl FnOnce(&mut CurrentSpan) -> R) -> Option<R> {
    let mut span = current_recording()?;
    Some(f(&mut span))
}

/// The innermost entry's span, when it is recorded here and still running.
#[inline]
fn current_recording() -> Option<CurrentSpan> {
    if !context::has_recording_parent() {
        return None;
    }
    let span = context::with_current(|entry| {
        let entry = entry?;
        Some(CurrentSpan {
            slot: entry.slot?,
            context: entry.context.clone(),
        })
    })?;
    // A context carried past its span's end (a propagated future, say) reaches nothing.
    span.is_recording().then_some(span)
}

/// The span [`with_current_span`] hands out: the same setters as [`Span`](crate::Span),
/// without owning it (the span still ends where it was made).
///
/// ```
/// use sgp_trace::{create_span, with_current_span, SpanStatus};
///
/// let _guard = create_span("lookup").start();
/// // Under no trace the guard is a no-op, so nothing records and `f` is not called.
/// let found = with_current_span(|span| {
///     span.set_metadata("cache", &"miss");
///     span.set_status(SpanStatus::Success);
///     span.context().span_id.clone()
/// });
/// assert!(found.is_none());
/// ```
#[derive(Debug)]
pub struct CurrentSpan {
    slot: SpanSlot,
    context: SpanContext,
}

impl CurrentSpan {
    /// The span's context.
    pub fn context(&self) -> &SpanContext {
        &self.context
    }

    /// Whether the span is still running, so what is set reaches it.
    pub fn is_recording(&self) -> bool {
        crate::queue::lane::with_open(&self.slot, |_| ()).is_some()
    }

    /// Replaces the input; sent when the span ends.
    pub fn set_input<T: Serialize + ?Sized>(&mut self, input: &T) {
        annotate::set_input(&self.slot, input);
    }

    /// Sets the output; sent when the span ends.
    pub fn set_output<T: Serialize + ?Sized>(&mut self, output: &T) {
        annotate::set_output(&self.slot, output);
    }

    /// Adds or replaces one metadata entry.
    pub fn set_metadata<T: Serialize + ?Sized>(&mut self, key: impl Into<String>, value: &T) {
        annotate::set_metadata(&self.slot, key.into(), value);
    }

    /// Adds one metadata entry unless the span has one under `key`.
    pub fn set_metadata_default<T: Serialize + ?Sized>(
        &mut self,
        key: impl Into<String>,
        value: &T,
    ) {
        annotate::set_metadata_default(&self.slot, key.into(), value);
    }

    /// Sets how the span ends; without it a span ends as `SUCCESS`.
    pub fn set_status(&mut self, status: SpanStatus) {
        annotate::set_status(&self.slot, status);
    }

    /// Marks the span failed, as [`Span::set_error`](crate::Span::set_error) does.
    pub fn set_error(&mut self, error_type: &str, message: &str, category: &str) {
        annotate::set_error(&self.slot, error_type, message, category);
    }
}

impl Annotate for CurrentSpan {
    fn is_recording(&self) -> bool {
        CurrentSpan::is_recording(self)
    }
    fn set_input<T: Serialize + ?Sized>(&mut self, input: &T) {
        CurrentSpan::set_input(self, input);
    }
    fn set_output<T: Serialize + ?Sized>(&mut self, output: &T) {
        CurrentSpan::set_output(self, output);
    }
    fn set_metadata<T: Serialize + ?Sized>(&mut self, key: impl Into<String>, value: &T) {
        CurrentSpan::set_metadata(self, key, value);
    }
    fn set_metadata_default<T: Serialize + ?Sized>(&mut self, key: impl Into<String>, value: &T) {
        CurrentSpan::set_metadata_default(self, key, value);
    }
    fn set_status(&mut self, status: SpanStatus) {
        CurrentSpan::set_status(self, status);
    }
    fn set_error(&mut self, error_type: &str, message: &str, category: &str) {
        CurrentSpan::set_error(self, error_type, message, category);
    }
}
