//! The `#[traced]` attribute macro of [`sgp-trace`](https://docs.rs/sgp-trace): records each
//! call of a function as an SGP span. Use it through `sgp_trace::traced`.
//!
//! ```
//! use sgp_trace::traced;
//!
//! #[traced(type = "COMPLETION")]
//! fn complete(prompt: &str, temperature: f32) -> String {
//!     format!("echo: {prompt}")
//! }
//!
//! # #[derive(Debug)] struct Answer;
//! #[traced(name = "plan", type = "AGENT_WORKFLOW", skip(api_key))]
//! async fn plan(question: String, api_key: &str) -> Result<Answer, std::io::Error> {
//!     Ok(Answer)
//! }
//! # let _ = complete("hi", 0.2);
//! ```
//!
//! # Grammar
//!
//! ```text
//! #[traced]
//! #[traced(option, option, ...)]
//!
//! option := name = "span name"          the span's name (default: the function's path)
//!         | type = "SPAN_TYPE"          one of the 26 SGP span types (default: STANDALONE,
//!                                       or TRACER with `root`)
//!         | skip(arg, arg, ...)         leave these arguments out of the input
//!         | skip_all                    record no input at all
//!         | record_self                 record `self` too (left out by default)
//!         | no_output                   do not record the return value (errors still are)
//!         | metadata(key = expr, "other-key" = expr, ...)
//!                                       metadata entries; each `expr` is any `Serialize`
//!                                       expression, evaluated when the span is recorded
//!         | root                        start a new trace instead of a child span
//!         | root(group_id = expr)       ... linked to a group; `expr` is any `Display`
//! ```
//!
//! Each option may be given once. `skip` and `skip_all` conflict, as do `record_self` and
//! `skip_all` or `skip(self)`. Misuse is a compile error pointing at the offending token.
//!
//! # What is recorded
//!
//! - **Name**: the function's path, `my_crate::module::function`, `my_crate::module::Type::method`
//!   or `<my_crate::Type as my_crate::Trait>::method`, unless `name` is given.
//! - **Input**: an object of argument name to value. Arguments in patterns are recorded by
//!   the names they bind. A value is serialized with `serde` when its type implements
//!   `Serialize`, else recorded as its `Debug` text, else as a placeholder naming its type
//!   (`"<my_crate::Connection>"`); no trait bound is needed. Nothing is serialized unless the
//!   span is recorded: with tracing off or no trace in scope (and no `root`), the call pays
//!   one check.
//! - **Output**: the return value, recorded like the arguments (a value that is not a JSON
//!   object becomes `{"value": ...}`); `()` and `Ok(())` record nothing. An output the body
//!   set itself (`sgp_trace::with_current_span(|span| span.set_output(..))`) is kept.
//! - **Errors**: a function returning a `Result` (any type named `Result`) records `Ok` as
//!   the output; `Err` sets status `ERROR` and the metadata `error: true`, `error_type` (the
//!   error's type name), `error_message` (its `Display`, else `Debug`) and `error_category`
//!   (`application`, unless the error type implements `sgp_trace::CategorizeError`).
//! - **Panics**: the span ends with status `ERROR`, `error_type` "panic" and the panic's
//!   message, and the panic continues unchanged.
//!
//! # Async functions
//!
//! An `async fn` becomes a function returning `impl Future`: the span starts when the
//! function is called, as a child of the span current there, even when the future is
//! polled later or on another thread. Each poll makes the span current for the body and
//! restores the previous context afterwards, so nothing leaks to other tasks on the worker
//! thread. A future dropped before it completes (a timeout, `select!`) ends its span with
//! status `CANCELED` at that moment.
//!
//! Methods of `#[async_trait]` impls work too: put `#[traced]` on the method, inside the
//! `#[async_trait]` impl, and the boxed future is instrumented.
//!
//! # Limits
//!
//! - The body of a synchronous function runs in a closure (to see its return value through
//!   `return` and `?`); labels and `break` cannot cross it, which Rust forbids anyway.
//! - `async fn` arguments whose type hides a lifetime (`Formatter` instead of
//!   `Formatter<'_>`) must write it out.
//! - `const fn` cannot be traced.

mod attr;
mod expand;
mod sig;

use proc_macro::TokenStream;
use quote::quote;

/// Records each call of the function as an SGP span; see the [crate docs](crate) for the
/// options.
///
/// ```
/// use sgp_trace::traced;
///
/// struct Retriever;
///
/// impl Retriever {
///     #[traced(type = "KB_RETRIEVAL", metadata(index = "docs-v2"))]
///     fn search(&self, query: &str, limit: usize) -> Vec<String> {
///         vec![format!("result for {query}"); limit]
///     }
/// }
///
/// #[traced(root, type = "AGENT_WORKFLOW")]
/// fn handle(question: &str) -> Result<String, std::fmt::Error> {
///     let documents = Retriever.search(question, 2);
///     Ok(documents.join("\n"))
/// }
/// # handle("what is SGP?").unwrap();
/// ```
#[proc_macro_attribute]
pub fn traced(args: TokenStream, item: TokenStream) -> TokenStream {
    let original: proc_macro2::TokenStream = item.clone().into();
    let expanded = syn::parse::<attr::Args>(args).and_then(|args| {
        let function = syn::parse::<expand::MaybeItemFn>(item)?;
        expand::expand(args, function)
    });
    match expanded {
        Ok(tokens) => tokens.into(),
        // The function is kept as written, so that the only errors are the macro's own.
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#error #original).into()
        }
    }
}

/// The span type names `type = "..."` accepts, as a `[&str; 26]` expression. Not API: it
/// lets a test check that the macro, the runtime's `SpanType` and the collector agree.
#[doc(hidden)]
#[proc_macro]
pub fn __span_type_names(input: TokenStream) -> TokenStream {
    if let Some(token) = proc_macro2::TokenStream::from(input).into_iter().next() {
        return syn::Error::new(token.span(), "`__span_type_names!()` takes no arguments")
            .to_compile_error()
            .into();
    }
    let names = attr::SPAN_TYPES;
    quote!([#(#names),*]).into()
}
