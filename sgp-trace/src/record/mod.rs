//! The recording stage: what runs on the program's threads when it makes a span.
//!
//! [`span`] builds spans and holds their handles; [`context`] is each thread's stack of
//! current spans and the [`SpanContext`](context::SpanContext) that carries one elsewhere;
//! [`propagate`] carries it into threads, tasks and child processes; [`macro_support`] is
//! what `#[traced]` expands to; [`external`] records items built elsewhere.
//!
//! May use every other stage: it asks the `runtime` whether to record (reading the
//! environment at the first span) and puts events on the `queue`.

pub(crate) mod context;
pub(crate) mod external;
pub mod macro_support;
pub mod propagate;
pub(crate) mod span;
