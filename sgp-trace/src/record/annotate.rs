//! The setters of a running span, written once for every handle on it: a [`Span`], a
//! [`SpanGuard`](crate::SpanGuard), and the [`CurrentSpan`](crate::CurrentSpan) that
//! [`with_current_span`](crate::with_current_span) hands out. Each serializes its value
//! first (a `Serialize` impl may make spans too) and then changes the item in its lane, so
//! what it sets reaches the server as if set through any other handle.

use std::borrow::BorrowMut;

use serde::Serialize;
use serde_json::Value;

use crate::json::JsonObject;
use crate::model::{SpanItem, SpanStatus};
use crate::queue::lane::{self, SpanSlot};
use crate::record::span::Span;

/// What every handle on a running span can set: implemented for [`Span`],
/// [`SpanGuard`](crate::SpanGuard) and [`CurrentSpan`](crate::CurrentSpan), so helpers
/// (such as the [LLM helpers](crate::llm::LlmSpanExt)) work on each.
///
/// ```
/// use sgp_trace::{Annotate, SpanStatus};
///
/// fn mark_cached(span: &mut impl Annotate) {
///     span.set_metadata("cache", &"hit");
///     span.set_status(SpanStatus::Success);
/// }
/// mark_cached(&mut sgp_trace::Span::noop());
/// ```
pub trait Annotate {
    /// Whether what is set will be sent; `false` for a no-op span.
    fn is_recording(&self) -> bool;
    /// Replaces the input; sent when the span ends.
    fn set_input<T: Serialize + ?Sized>(&mut self, input: &T);
    /// Sets the output; sent when the span ends.
    fn set_output<T: Serialize + ?Sized>(&mut self, output: &T);
    /// Adds or replaces one metadata entry.
    fn set_metadata<T: Serialize + ?Sized>(&mut self, key: impl Into<String>, value: &T);
    /// Adds one metadata entry unless the span has one under `key`: a default that what is
    /// set under `key`, before or after, overrides.
    fn set_metadata_default<T: Serialize + ?Sized>(&mut self, key: impl Into<String>, value: &T);
    /// Sets how the span ended; without it a span ends as `SUCCESS`.
    fn set_status(&mut self, status: SpanStatus);
    /// Marks the span failed, as [`Span::set_error`] does.
    fn set_error(&mut self, error_type: &str, message: &str, category: &str);
}

/// A [`Span`], and whatever holds one for you to borrow: a
/// [`SpanGuard`](crate::SpanGuard), a `&mut Span`, a `Box<Span>`.
impl<S: BorrowMut<Span>> Annotate for S {
    fn is_recording(&self) -> bool {
        self.borrow().is_recording()
    }
    fn set_input<T: Serialize + ?Sized>(&mut self, input: &T) {
        self.borrow_mut().set_input(input);
    }
    fn set_output<T: Serialize + ?Sized>(&mut self, output: &T) {
        self.borrow_mut().set_output(output);
    }
    fn set_metadata<T: Serialize + ?Sized>(&mut self, key: impl Into<String>, value: &T) {
        self.borrow_mut().set_metadata(key, value);
    }
    fn set_metadata_default<T: Serialize + ?Sized>(&mut self, key: impl Into<String>, value: &T) {
        self.borrow_mut().set_metadata_default(key, value);
    }
    fn set_status(&mut self, status: SpanStatus) {
        self.borrow_mut().set_status(status);
    }
    fn set_error(&mut self, error_type: &str, message: &str, category: &str) {
        self.borrow_mut().set_error(error_type, message, category);
    }
}

/// Replaces the input of the span at `slot`.
pub(crate) fn set_input<T: Serialize + ?Sized>(slot: &SpanSlot, input: &T) -> bool {
    let input = JsonObject::new(input);
    lane::with_open(slot, |item| item.input = Some(input)).is_some()
}

/// Sets the output of the span at `slot`.
pub(crate) fn set_output<T: Serialize + ?Sized>(slot: &SpanSlot, output: &T) -> bool {
    let output = JsonObject::new(output);
    lane::with_open(slot, |item| item.output = Some(output)).is_some()
}

/// Adds or replaces one metadata entry of the span at `slot`.
pub(crate) fn set_metadata<T: Serialize + ?Sized>(slot: &SpanSlot, key: String, value: &T) -> bool {
    let value = metadata_value(value);
    lane::with_open(slot, |item| {
        item.metadata_mut().insert(key, value);
    })
    .is_some()
}

/// Adds one metadata entry to the span at `slot` unless it has one under `key`.
pub(crate) fn set_metadata_default<T: Serialize + ?Sized>(
    slot: &SpanSlot,
    key: String,
    value: &T,
) -> bool {
    let value = metadata_value(value);
    lane::with_open(slot, |item| {
        item.metadata_mut().entry(key).or_insert(value);
    })
    .is_some()
}

/// Sets the status of the span at `slot`.
pub(crate) fn set_status(slot: &SpanSlot, status: SpanStatus) -> bool {
    lane::with_open(slot, |item| item.status = Some(status)).is_some()
}

/// Marks the span at `slot` failed.
pub(crate) fn set_error(slot: &SpanSlot, error_type: &str, message: &str, category: &str) -> bool {
    lane::with_open(slot, |item| {
        record_error(item, error_type, message, category)
    })
    .is_some()
}

/// Marks an item failed: status `ERROR` and the error metadata of the Python SDK.
pub(crate) fn record_error(item: &mut SpanItem, error_type: &str, message: &str, category: &str) {
    item.status = Some(SpanStatus::Error);
    let map = item.metadata_mut();
    map.insert("error".into(), Value::Bool(true));
    map.insert("error_type".into(), Value::String(error_type.to_owned()));
    map.insert("error_message".into(), Value::String(message.to_owned()));
    map.insert("error_category".into(), Value::String(category.to_owned()));
}

/// A metadata value; one that cannot be serialized is kept as the error's text.
pub(crate) fn metadata_value<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value)
        .unwrap_or_else(|error| Value::String(format!("serialization error: {error}")))
}
