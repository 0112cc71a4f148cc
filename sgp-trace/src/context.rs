//! The current span: a per-thread stack that span guards push and pop.
//!
//! Only the ids live here, so entering and leaving a span costs a few word copies. Futures
//! and other threads carry a [`SpanContext`] and [`attach`](SpanContext::attach) it where
//! they run.

use std::cell::RefCell;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::Id;

/// Where a span sits: the one value that crosses threads, processes and job queues.
///
/// Giving a parent as one value keeps its trace and span ids together, so a span cannot be
/// made the child of a span in another trace by accident (SGP answers such a batch with
/// 409). Deserializing checks every id (see [`Id`]).
///
/// ```
/// use sgp_trace::SpanContext;
/// let json = r#"{"trace_id":"t-1","span_id":"s-1"}"#;
/// let context: SpanContext = serde_json::from_str(json).unwrap();
/// assert_eq!(context.trace_id.to_string(), "t-1");
/// assert!(context.group_id.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpanContext {
    /// The trace.
    pub trace_id: Id,
    /// The span, which becomes the parent of spans created under this context.
    pub span_id: Id,
    /// The group linking independent traces, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Id>,
}

impl SpanContext {
    /// Makes this context current on this thread until the returned guard drops, so spans
    /// created meanwhile become its children: how work continues a trace that began on
    /// another thread or in another process.
    ///
    /// ```
    /// use sgp_trace::{current_span, Id, SpanContext};
    /// let remote = SpanContext { trace_id: Id::random(), span_id: Id::random(), group_id: None };
    /// {
    ///     let _attached = remote.clone().attach();
    ///     assert_eq!(current_span(), Some(remote));
    /// }
    /// assert_eq!(current_span(), None);
    /// ```
    pub fn attach(self) -> ContextGuard {
        let root = self.span_id.clone();
        ContextGuard::push(Entry {
            context: self,
            root,
        })
    }
}

/// One level of the stack: a span's context and the outermost span of its trace known here.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) context: SpanContext,
    pub(crate) root: Id,
}

thread_local! {
    static STACK: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// The context of the innermost span entered on this thread, if any.
pub fn current_span() -> Option<SpanContext> {
    with_current(|entry| entry.map(|entry| entry.context.clone()))
}

/// The context of the current trace's outermost span on this thread: its root span when
/// the trace began in this process, else the span it was continued from.
pub fn current_trace() -> Option<SpanContext> {
    with_current(|entry| {
        entry.map(|entry| SpanContext {
            trace_id: entry.context.trace_id.clone(),
            span_id: entry.root.clone(),
            group_id: entry.context.group_id.clone(),
        })
    })
}

/// Whether any span is current on this thread; the cheapest check on the no-op path.
pub(crate) fn has_current() -> bool {
    STACK
        .try_with(|stack| !stack.borrow().is_empty())
        .unwrap_or(false)
}

/// Runs `f` with the innermost entry. During thread teardown the stack may be gone; that
/// reads as "no span", never as a panic.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Entry>) -> R) -> R {
    let mut f = Some(f);
    let result = STACK.try_with(|stack| {
        let stack = stack.borrow();
        (f.take().expect("called once"))(stack.last())
    });
    match result {
        Ok(value) => value,
        Err(_) => (f.take().expect("not called when the stack is gone"))(None),
    }
}

/// Keeps a context current until dropped; see [`SpanContext::attach`].
///
/// It must drop on the thread that made it, so it is neither `Send` nor `Sync`.
#[must_use = "the context is current only while the guard lives"]
#[derive(Debug)]
pub struct ContextGuard {
    /// `None` for the guard of a no-op span, which pushed nothing.
    span_id: Option<Id>,
    _not_send: PhantomData<*const ()>,
}

impl ContextGuard {
    pub(crate) fn push(entry: Entry) -> ContextGuard {
        let span_id = entry.context.span_id.clone();
        let _ = STACK.try_with(|stack| stack.borrow_mut().push(entry));
        ContextGuard {
            span_id: Some(span_id),
            _not_send: PhantomData,
        }
    }

    /// A guard that entered nothing, for a span that records nothing.
    pub(crate) fn inert() -> ContextGuard {
        ContextGuard {
            span_id: None,
            _not_send: PhantomData,
        }
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let Some(span_id) = &self.span_id else { return };
        let _ = STACK.try_with(|stack| {
            let mut stack = stack.borrow_mut();
            // Guards usually drop in reverse order; one dropped out of order is removed where
            // it is, leaving the others in place.
            if let Some(index) = stack
                .iter()
                .rposition(|entry| entry.context.span_id == *span_id)
            {
                stack.remove(index);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> SpanContext {
        SpanContext {
            trace_id: Id::random(),
            span_id: Id::random(),
            group_id: None,
        }
    }

    #[test]
    fn nested_attach_and_out_of_order_drop() {
        let outer = context();
        let inner = context();
        let outer_guard = outer.clone().attach();
        let inner_guard = inner.clone().attach();
        assert_eq!(current_span(), Some(inner.clone()));
        drop(outer_guard);
        assert_eq!(current_span(), Some(inner));
        drop(inner_guard);
        assert_eq!(current_span(), None);
    }

    #[test]
    fn current_trace_names_the_outermost_span() {
        let remote = context();
        let _guard = remote.clone().attach();
        assert_eq!(current_trace(), Some(remote));
    }
}
