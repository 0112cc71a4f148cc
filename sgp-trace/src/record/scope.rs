//! Work run inside a span that records how it ended, as `#[traced]` does: a closure
//! ([`SpanBuilder::in_scope`]) or a future ([`SpanBuilder::instrument`]). The names follow
//! `tracing`'s.
//!
//! A generic method cannot choose, as the macro does for the concrete types it sees,
//! between `Serialize`, `Debug` and a placeholder for a value: the value to record must be
//! `Serialize`, and `try_` methods take a `Result` apart (its error needs only `Display`).

use std::fmt::Display;
use std::future::Future;

use serde::Serialize;

use crate::json::JsonObject;
use crate::model::ErrorCategory;
use crate::record::macro_support::{call_sync, Instrumented, Outcome};
use crate::record::span::SpanBuilder;

impl SpanBuilder {
    /// Runs `f` inside the span, made current on this thread, and ends the span when `f`
    /// returns: its return value becomes the output. A panic ends it `ERROR` (with the
    /// panic's message) and goes on unwinding.
    ///
    /// ```
    /// let docs = sgp_trace::create_span("retrieve").in_scope(|| vec!["doc-1", "doc-2"]);
    /// assert_eq!(docs.len(), 2);
    /// ```
    pub fn in_scope<R: Serialize>(self, f: impl FnOnce() -> R) -> R {
        let mut span = self.start_detached();
        let value = call_sync(&mut span, f);
        if span.is_recording() {
            Outcome::output(JsonObject::new(&value)).end(&mut span);
        }
        value
    }

    /// [`in_scope`](Self::in_scope) for work that can fail: `Ok` becomes the output; `Err`
    /// ends the span `ERROR` with the error's type, its `Display` text as the message and the
    /// category `application`.
    ///
    /// ```
    /// let parsed = sgp_trace::create_span("parse").try_in_scope(|| "42".parse::<u32>());
    /// assert_eq!(parsed, Ok(42));
    /// ```
    pub fn try_in_scope<T, E>(self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        T: Serialize,
        E: Display,
    {
        let mut span = self.start_detached();
        let result = call_sync(&mut span, f);
        if span.is_recording() {
            outcome_of(&result).end(&mut span);
        }
        result
    }

    /// Runs `future` inside the span: the span is current during every poll, wherever the
    /// future is polled, and ends when it completes, with its output recorded. A future
    /// dropped before it completes ends the span `CANCELED`; a panic ends it `ERROR`.
    ///
    /// ```
    /// # async fn fetch() -> u32 { 7 }
    /// # async fn run() {
    /// let count = sgp_trace::create_span("fetch").instrument(fetch()).await;
    /// # }
    /// ```
    pub fn instrument<F>(self, future: F) -> impl Future<Output = F::Output>
    where
        F: Future,
        F::Output: Serialize,
    {
        let span = self.start_detached();
        let recording = span.is_recording();
        Instrumented::new(span, async move {
            let value = future.await;
            let outcome = if recording {
                Outcome::output(JsonObject::new(&value))
            } else {
                Outcome::none()
            };
            (value, outcome)
        })
    }

    /// [`instrument`](Self::instrument) for a future that can fail: its `Err` ends the span
    /// `ERROR`, as [`try_in_scope`](Self::try_in_scope) does.
    ///
    /// ```
    /// # async fn read_config() -> Result<String, std::io::Error> { Ok("x".into()) }
    /// # async fn run() -> Result<(), std::io::Error> {
    /// let config = sgp_trace::create_span("read config")
    ///     .try_instrument(read_config())
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn try_instrument<F, T, E>(self, future: F) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        T: Serialize,
        E: Display,
    {
        let span = self.start_detached();
        let recording = span.is_recording();
        Instrumented::new(span, async move {
            let result = future.await;
            let outcome = if recording {
                outcome_of(&result)
            } else {
                Outcome::none()
            };
            (result, outcome)
        })
    }
}

/// How a fallible piece of work ended.
fn outcome_of<T: Serialize, E: Display>(result: &Result<T, E>) -> Outcome {
    match result {
        Ok(value) => Outcome::output(JsonObject::new(value)),
        Err(error) => Outcome::error(
            std::any::type_name::<E>(),
            error.to_string(),
            ErrorCategory::Application,
        ),
    }
}
