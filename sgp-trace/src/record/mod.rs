//! The recording stage: what runs on the program's threads when it makes a span.
//!
//! [`span`] builds spans and holds their handles; [`context`] is each thread's stack of
//! current spans and the [`SpanContext`](context::SpanContext) that carries one elsewhere;
//! [`propagate`] carries it into threads, tasks and child processes; [`macro_support`] is
//! what `#[traced]` expands to; [`external`] records items built elsewhere; [`current`]
//! reaches the span a thread or task is in, and [`annotate`] holds the setters every
//! handle on a span shares, which the [`llm`] helpers build on; [`session`] is a thread's
//! default LLM session, which the LLM calls recorded there take.
//!
//! May use every other stage: it asks the `runtime` whether to record (reading the
//! environment at the first span) and puts events on the `queue`.

pub(crate) mod annotate;
pub(crate) mod context;
pub(crate) mod current;
pub(crate) mod external;
pub mod llm;
pub mod macro_support;
pub mod propagate;
pub(crate) mod scope;
pub(crate) mod session;
pub(crate) mod span;
