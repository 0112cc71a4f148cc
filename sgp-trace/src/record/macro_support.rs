//! What the `#[traced]` macro's expansion calls. Not a public API: it may change in any
//! release.
//!
//! The expansion records arguments and return values through three-level autoref
//! specialization: `(&&&Wrap(&value)).sgp_input()` uses `Serialize` when the type has it
//! (written by our own serializer, see the `json` module), else
//! `Debug`, else a placeholder naming the type, all without a compile error. Errors are
//! described the same way, in three levels.

use std::any::Any;
use std::borrow::Cow;
use std::fmt::{self, Debug, Display};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use serde::Serialize;

use crate::json::plain::{names_no_credential, Proof, Shape};
use crate::json::{JsonObject, JsonWriter};
use crate::model::{CategorizeError, ErrorCategory, Id, SpanStatus};
use crate::record::span::{Span, SpanBuilder};

/// Whether a span started now would be recorded: tracing is on, and either it starts a new
/// trace or a span is current on this thread. The macro checks this before serializing the
/// arguments, so no-op spans cost no serialization.
#[inline]
pub fn would_record(new_trace: bool) -> bool {
    crate::record::span::can_record(new_trace)
}

/// The builder of a span that [`would_record`] allowed (or of a trace when `new_trace`).
#[inline]
pub fn recorded_builder(name: impl Into<Cow<'static, str>>, new_trace: bool) -> SpanBuilder {
    SpanBuilder::decided(name.into(), new_trace, true)
}

/// The suffix the expansion's marker function adds to the traced function's path.
const MARKER: &str = "::__sgp_trace_fn";

/// The path of the traced function from the type name of a marker function declared in its
/// body: `crate::module::Type::method` (or `<crate::Type as crate::Trait>::method`), with
/// the generic arguments of types left out (`Type<'_>::method` becomes `Type::method`).
///
/// Worked out at the function's first call and kept in the function's own `cache`: a path
/// rewritten without its generic arguments is leaked once, a few bytes per function.
pub fn function_path<F>(cache: &'static OnceLock<&'static str>, _marker: F) -> &'static str {
    cache.get_or_init(|| {
        let path = std::any::type_name::<F>();
        let path = path.strip_suffix(MARKER).unwrap_or(path);
        match without_generic_arguments(path) {
            Cow::Borrowed(path) => path,
            Cow::Owned(path) => Box::leak(path.into_boxed_str()),
        }
    })
}

fn without_generic_arguments(path: &'static str) -> Cow<'static, str> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let has_arguments = path
        .char_indices()
        .any(|(at, c)| c == '<' && path[..at].chars().next_back().is_some_and(is_ident));
    if !has_arguments {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut depth = 0usize;
    let mut previous = ' ';
    for c in path.chars() {
        if depth > 0 {
            match c {
                '<' => depth += 1,
                '>' => depth -= 1,
                _ => {}
            }
        } else if c == '<' && is_ident(previous) {
            depth = 1;
        } else {
            out.push(c);
        }
        previous = c;
    }
    Cow::Owned(out)
}

/// Turns the `group_id` expression of `#[traced(root(group_id = ...))]` into an id; an
/// invalid one is reported and left out.
pub fn group_id(value: impl Display) -> Option<Id> {
    match Id::new(value.to_string()) {
        Ok(id) => Some(id),
        Err(error) => {
            crate::diag::warn(format_args!(
                "#[traced]: the group id is not valid ({error}); the trace starts without a group"
            ));
            None
        }
    }
}

/// The input of a traced function: argument names and their JSON, written straight into
/// one object as each argument is recorded.
#[derive(Debug)]
pub struct Input {
    json: JsonWriter,
    /// That the input is plain, so far: every argument a scalar under a name that names no
    /// credential.
    proof: Proof,
}

impl Input {
    /// An empty input: written in place while small, in the thread's scratch buffer once
    /// large.
    #[allow(clippy::new_without_default)]
    #[inline]
    pub fn new() -> Input {
        let mut json = JsonWriter::new();
        json.push(b'{');
        Input {
            json,
            proof: Proof::EMPTY_OBJECT,
        }
    }

    #[inline(always)]
    fn key(&mut self, key: Key) {
        if self.json.len() > 1 {
            self.json.push(b',');
        }
        self.proof = self.proof.key(key.names_no_credential);
        self.json.extend(key.json.as_bytes());
    }

    /// Adds an argument that implements `Serialize`, written as serde_json writes it (see
    /// the `json` stage). One that fails to serialize is recorded as the error's text.
    #[inline]
    pub fn push_serialize<T: Serialize + ?Sized>(&mut self, key: Key, value: &T) {
        let (mark, proof) = (self.json.len(), self.proof);
        self.key(key);
        match crate::json::serializer::write(value, &mut self.json) {
            Ok(shape) => self.proof = self.proof.value(shape),
            Err(error) => {
                self.json.truncate(mark);
                self.proof = proof;
                self.push_text(key, &format!("serialization error: {error}"));
            }
        }
    }

    /// Adds an argument recorded as text.
    pub fn push_text(&mut self, key: Key, text: &str) {
        self.key(key);
        self.json.string(text);
        self.proof = self.proof.value(Shape::Scalar);
    }

    /// The finished object. By reference: moved into the call, the writer was copied in
    /// wider pieces than it had just been written in, which the CPU cannot forward from
    /// store to load.
    #[inline]
    pub fn finish(&mut self) -> JsonObject {
        self.json.push(b'}');
        self.json.to_object(0, self.proof)
    }
}

/// An argument's name as the JSON key the input object holds it under, `"name":`, written
/// by the expansion as a literal: copied as it is, instead of escaped byte by byte for every
/// call (argument names are identifiers, which need no escapes).
#[derive(Debug, Clone, Copy)]
pub struct Key {
    json: &'static str,
    /// Whether the name holds no fragment of a credential word, so that an input with only
    /// such keys and scalar values needs no look for credentials on the export thread.
    names_no_credential: bool,
}

impl Key {
    /// The key `json`, checked when the constant is evaluated: `"name":` with no quote,
    /// backslash or control character in the name.
    pub const fn new(json: &'static str) -> Key {
        let bytes = json.as_bytes();
        let len = bytes.len();
        assert!(len >= 3 && bytes[0] == b'"' && bytes[len - 2] == b'"' && bytes[len - 1] == b':');
        let mut at = 1;
        while at < len - 2 {
            let byte = bytes[at];
            assert!(
                byte >= 0x20 && byte != b'"' && byte != b'\\',
                "a key needs no escapes"
            );
            at += 1;
        }
        Key {
            json,
            // The quotes and the colon are no letters: they join no fragment of the name.
            names_no_credential: names_no_credential(bytes),
        }
    }
}

/// A borrowed value whose recording method is chosen by autoref specialization.
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

fn placeholder<T: ?Sized>() -> String {
    format!("<{}>", std::any::type_name::<T>())
}

/// First choice: the value implements `Serialize`.
pub trait ViaSerialize {
    /// Records the value in the input under `key`.
    fn sgp_input(&self, input: &mut Input, key: Key);
    /// The value as a span output.
    fn sgp_output(&self) -> JsonObject;
}

impl<T: Serialize + ?Sized> ViaSerialize for &&Wrap<'_, T> {
    fn sgp_input(&self, input: &mut Input, key: Key) {
        input.push_serialize(key, self.0);
    }

    fn sgp_output(&self) -> JsonObject {
        JsonObject::new(self.0)
    }
}

/// Next choice: the value implements `Debug`; recorded as its `{:?}` text.
pub trait ViaDebug {
    /// Records the value in the input under `key`.
    fn sgp_input(&self, input: &mut Input, key: Key);
    /// The value as a span output.
    fn sgp_output(&self) -> JsonObject;
}

impl<T: Debug + ?Sized> ViaDebug for &Wrap<'_, T> {
    fn sgp_input(&self, input: &mut Input, key: Key) {
        input.push_text(key, &format!("{:?}", self.0));
    }

    fn sgp_output(&self) -> JsonObject {
        JsonObject::new(&format!("{:?}", self.0))
    }
}

/// Last choice: a placeholder naming the type, such as `"<my_crate::Connection>"`.
pub trait ViaPlaceholder {
    /// Records the value in the input under `key`.
    fn sgp_input(&self, input: &mut Input, key: Key);
    /// The value as a span output.
    fn sgp_output(&self) -> JsonObject;
}

impl<T: ?Sized> ViaPlaceholder for Wrap<'_, T> {
    fn sgp_input(&self, input: &mut Input, key: Key) {
        input.push_text(key, &placeholder::<T>());
    }

    fn sgp_output(&self) -> JsonObject {
        JsonObject::new(&placeholder::<T>())
    }
}

/// An error's message, first choice: `Display`.
pub trait MessageViaDisplay {
    /// The error message.
    fn sgp_error_message(&self) -> String;
}

impl<T: Display + ?Sized> MessageViaDisplay for &&Wrap<'_, T> {
    fn sgp_error_message(&self) -> String {
        self.0.to_string()
    }
}

/// An error's message, second choice: `Debug`.
pub trait MessageViaDebug {
    /// The error message.
    fn sgp_error_message(&self) -> String;
}

impl<T: Debug + ?Sized> MessageViaDebug for &Wrap<'_, T> {
    fn sgp_error_message(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// An error's message, last choice: the type's name.
pub trait MessageViaTypeName {
    /// The error message.
    fn sgp_error_message(&self) -> String;
}

impl<T: ?Sized> MessageViaTypeName for Wrap<'_, T> {
    fn sgp_error_message(&self) -> String {
        placeholder::<T>()
    }
}

/// An error's category, first choice: the error's own [`CategorizeError`] impl.
pub trait CategoryViaTrait {
    /// The error category.
    fn sgp_error_category(&self) -> ErrorCategory;
}

impl<T: CategorizeError + ?Sized> CategoryViaTrait for &Wrap<'_, T> {
    fn sgp_error_category(&self) -> ErrorCategory {
        self.0.error_category()
    }
}

/// An error's category, default: [`ErrorCategory::Application`].
pub trait CategoryByDefault {
    /// The error category.
    fn sgp_error_category(&self) -> ErrorCategory;
}

impl<T: ?Sized> CategoryByDefault for Wrap<'_, T> {
    fn sgp_error_category(&self) -> ErrorCategory {
        ErrorCategory::Application
    }
}

/// The type name of an error value, recorded as `error_type`.
pub fn type_name_of<T: ?Sized>(_value: &T) -> &'static str {
    std::any::type_name::<T>()
}

/// How a traced call ended, computed where the return value's type is known and applied to
/// the span afterwards.
#[derive(Debug, Default)]
#[must_use]
pub struct Outcome {
    output: Option<JsonObject>,
    error: Option<(&'static str, String, ErrorCategory)>,
}

impl Outcome {
    /// Nothing to record.
    pub fn none() -> Outcome {
        Outcome::default()
    }

    /// A return value to record as the output.
    pub fn output(output: JsonObject) -> Outcome {
        Outcome {
            output: Some(output),
            error: None,
        }
    }

    /// A returned error.
    pub fn error(error_type: &'static str, message: String, category: ErrorCategory) -> Outcome {
        Outcome {
            output: None,
            error: Some((error_type, message, category)),
        }
    }

    /// Records this outcome on the span and ends it; the span is a no-op afterwards. An
    /// output the body set itself (through `with_current_span`, say: an LLM's response)
    /// is kept over the return value.
    #[inline]
    pub fn end(self, span: &mut Span) {
        span.finish_with(|item| {
            if item.output.is_none() {
                item.output = self.output;
            }
            if let Some((error_type, message, category)) = self.error {
                crate::record::annotate::record_error(
                    item,
                    error_type,
                    &message,
                    category.as_str(),
                );
            }
        });
    }
}

/// The message of a panic payload: the `&str` or `String` given to `panic!`.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "Box<dyn Any>"
    }
}

fn record_panic(span: &mut Span, payload: &(dyn Any + Send)) {
    span.set_error(
        "panic",
        panic_message(payload),
        ErrorCategory::Application.as_str(),
    );
}

/// Runs a synchronous body with `span` current. A panic is recorded on the span (status
/// `ERROR`, `error_type` "panic", the message) and then resumed unchanged.
#[inline]
pub fn call_sync<R>(span: &mut Span, body: impl FnOnce() -> R) -> R {
    if !span.is_recording() {
        // Nothing to enter and nothing to record a panic on.
        return body();
    }
    let entered = span.enter();
    let result = panic::catch_unwind(AssertUnwindSafe(body));
    drop(entered);
    match result {
        Ok(value) => value,
        Err(payload) => {
            record_panic(span, &*payload);
            panic::resume_unwind(payload)
        }
    }
}

pin_project! {
    /// A traced async function's future: the span is current during every poll of the body
    /// (on whichever thread polls it) and only then. The span ends when the body completes
    /// (with the body's outcome), panics (`ERROR`), or is dropped first (`CANCELED`).
    #[must_use = "futures do nothing unless polled"]
    pub struct Instrumented<F> {
        // `None` once the span ended.
        span: Option<Span>,
        // `None` once the body completed.
        #[pin]
        future: Option<F>,
    }

    impl<F> PinnedDrop for Instrumented<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let Some(mut span) = this.span.take() else {
                return;
            };
            if this.future.is_some() {
                span.set_status(SpanStatus::Canceled);
                // The body's own drop code (and the spans it ends) runs inside the span.
                let _entered = span.enter();
                this.future.set(None);
            }
        }
    }
}

impl<F> Instrumented<F> {
    /// Wraps the body's future, whose output is the return value and its [`Outcome`].
    pub fn new(span: Span, future: F) -> Instrumented<F> {
        Instrumented {
            span: Some(span),
            future: Some(future),
        }
    }
}

impl<F> fmt::Debug for Instrumented<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented")
            .field("span", &self.span)
            .field("completed", &self.future.is_none())
            .finish()
    }
}

impl<F, T> Future for Instrumented<F>
where
    F: Future<Output = (T, Outcome)>,
{
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut this = self.project();
        let entered = this.span.as_ref().map(Span::enter);
        let future = this
            .future
            .as_mut()
            .as_pin_mut()
            .expect("a #[traced] future polled after it completed");
        let polled = panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready((value, outcome))) => {
                // Dropped in place while the span is still current.
                this.future.set(None);
                drop(entered);
                if let Some(span) = this.span.as_mut() {
                    outcome.end(span);
                }
                *this.span = None;
                Poll::Ready(value)
            }
            Err(payload) => {
                drop(entered);
                if let Some(mut span) = this.span.take() {
                    record_panic(&mut span, &*payload);
                }
                panic::resume_unwind(payload)
            }
        }
    }
}

/// Lets an `impl Future` return type name the lifetimes of a desugared `async fn`'s
/// arguments, which an edition 2021 `impl Trait` would not capture otherwise.
pub trait Captures<T: ?Sized> {}

impl<T: ?Sized, U: ?Sized> Captures<T> for U {}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Key = Key::new("\"v\":");

    /// Fails after its first field is written: nothing of it may stay in the input.
    struct FailsHalfway;

    impl Serialize for FailsHalfway {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeStruct as _;
            let mut object = serializer.serialize_struct("FailsHalfway", 2)?;
            object.serialize_field("written", "yes")?;
            Err(serde::ser::Error::custom("the second field is gone"))
        }
    }

    #[test]
    fn an_argument_that_fails_halfway_is_recorded_as_its_error() {
        let mut input = Input::new();
        input.push_serialize(const { Key::new("\"a\":") }, &FailsHalfway);
        input.push_serialize(const { Key::new("\"b\":") }, &[1, 2]);
        assert_eq!(
            input.finish().to_value(),
            serde_json::json!({"a": "serialization error: the second field is gone", "b": [1, 2]})
        );
    }

    #[derive(Debug)]
    struct OnlyDebug(#[allow(dead_code)] u8);
    struct Opaque;

    /// The input object with one field recorded the way the expansion records it.
    #[allow(clippy::needless_borrow)] // the extra borrows are the specialization
    fn recorded(record: impl FnOnce(&mut Input)) -> String {
        let mut input = Input::new();
        record(&mut input);
        input.finish().as_str().to_owned()
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the extra borrows are the specialization
    fn autoref_specialization_picks_serialize_then_debug_then_placeholder() {
        assert_eq!(
            recorded(|input| (&&&Wrap(&5)).sgp_input(input, V)),
            r#"{"v":5}"#
        );
        assert_eq!(
            recorded(|input| (&&&Wrap(&Some(5))).sgp_input(input, V)),
            r#"{"v":5}"#
        );
        assert_eq!(
            recorded(|input| (&&&Wrap(&OnlyDebug(1))).sgp_input(input, V)),
            r#"{"v":"OnlyDebug(1)"}"#
        );
        assert_eq!(
            recorded(|input| (&&&Wrap(&Opaque)).sgp_input(input, V)),
            r#"{"v":"<sgp_trace::record::macro_support::tests::Opaque>"}"#
        );
        assert_eq!((&&&Wrap(&"no")).sgp_error_message(), "no");
        assert_eq!((&&&Wrap(&OnlyDebug(2))).sgp_error_message(), "OnlyDebug(2)");
        assert_eq!(
            (&&Wrap(&Opaque)).sgp_error_category(),
            ErrorCategory::Application
        );
    }

    #[test]
    fn generic_arguments_are_left_out_of_function_paths() {
        assert_eq!(without_generic_arguments("a::B::c"), "a::B::c");
        assert_eq!(without_generic_arguments("a::B<'_>::c"), "a::B::c");
        assert_eq!(
            without_generic_arguments("<a::B<u8, Vec<u8>> as a::T<i32>>::c"),
            "<a::B as a::T>::c"
        );
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the extra borrows are the specialization
    fn input_is_one_object_and_keeps_a_failing_argument_visible() {
        struct Refuses;
        impl Serialize for Refuses {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let mut input = Input::new();
        (&&&Wrap(&1)).sgp_input(&mut input, Key::new("\"a\":"));
        (&&&Wrap(&Refuses)).sgp_input(&mut input, Key::new("\"bad\":"));
        (&&&Wrap(&"x")).sgp_input(&mut input, Key::new("\"b\":"));
        assert_eq!(
            input.finish().as_str(),
            r#"{"a":1,"bad":"serialization error: no","b":"x"}"#
        );
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the extra borrows are the specialization
    fn plain_values_are_written_as_serde_json_writes_them() {
        fn both<T: Serialize + ?Sized>(value: &T) {
            let serde = serde_json::to_string(value).unwrap();
            assert_eq!(
                recorded(|input| (&&&Wrap(value)).sgp_input(input, V)),
                format!(r#"{{"v":{serde}}}"#)
            );
            assert_eq!(
                (&&&Wrap(value)).sgp_output().as_str(),
                format!(r#"{{"value":{serde}}}"#)
            );
        }
        both(&u64::MAX);
        both(&0u8);
        both(&i64::MIN);
        both(&-7i32);
        both(&usize::MAX);
        both(&true);
        both(&false);
        both("what is \"sgp\"?\n");
        both(&String::from(
            "ünïcode, and a long string to go past the inline payload",
        ));
        both(&&&"borrowed twice");
    }

    #[test]
    fn an_input_is_plain_while_its_keys_name_no_credential_and_its_values_are_scalars() {
        let plain = |record: &dyn Fn(&mut Input)| {
            let mut input = Input::new();
            record(&mut input);
            input.finish().is_plain()
        };
        let (count, label) = (Key::new(r#""count":"#), Key::new(r#""label":"#));
        assert!(plain(&|input| {
            input.push_serialize(count, &7);
            input.push_text(label, "what is sgp?");
        }));
        assert!(plain(&|_| {}));
        for key in [r#""password":"#, r#""apiKey":"#, r#""max_tokens":"#] {
            assert!(
                !plain(&|input| input.push_serialize(Key::new(key), &1)),
                "{key}"
            );
        }
        assert!(!plain(&|input| input.push_serialize(count, &[1, 2])));
        assert!(!plain(&|input| {
            input.push_serialize(count, &serde_json::json!({"token": 1}))
        }));
    }

    #[test]
    fn keys_are_checked_when_made() {
        let mut input = Input::new();
        input.push_text(const { Key::new("\"plain_ünïcode\":") }, "a");
        assert_eq!(input.finish().to_value()["plain_ünïcode"], "a");
        for bad in ["count", "\"count\"", "\"a\"b\":", "\"a\\\\b\":", "\"\n\":"] {
            assert!(std::panic::catch_unwind(|| Key::new(bad)).is_err(), "{bad}");
        }
    }
}
