//! A default LLM session for the LLM calls recorded on a thread: how an integration that
//! runs work on behalf of one conversation (a Temporal activity, a request handler) gives
//! every model call made inside it the session, at any depth, without the code inside
//! passing it along.
//!
//! Read when an [LLM helper](crate::llm::LlmSpanExt) marks a span as a model call, not when a
//! span starts: the span path stays as it was for the spans that are not model calls.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;

thread_local! {
    static DEFAULT_SESSION: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Makes `session_id` the LLM session (metadata [`llm.session`](crate::llm::keys::SESSION_ID),
/// `x-session-id` in the OTLP mapping of `sgp-trace-otel`) of every LLM call recorded on this
/// thread until the returned guard drops: of every span an [LLM
/// helper](crate::llm::LlmSpanExt) is called on, whoever started it, unless the span has a
/// session of its own. A session set on the span, before or after (with
/// [`set_llm_session`](crate::llm::LlmSpanExt::set_llm_session) or as builder metadata), wins.
/// Spans that record no LLM call are left as they are.
///
/// For a future, enter it in each poll beside the span, as a wrapper's `poll` does; an
/// `Arc<str>` given here is not copied, so entering it per poll costs no allocation.
/// Threads and tasks spawned meanwhile do not take the default.
/// Guards nest: dropping one brings back the session that was the default before it, so
/// drop them in the reverse order they were made.
///
/// ```
/// use sgp_trace::llm::{default_session, keys, LlmSpanExt};
///
/// let _session = default_session("conversation-42");
/// // LLM calls recorded here, in `#[traced]` functions too, carry
/// // `llm.session = "conversation-42"` unless they set their own.
/// let mut call = sgp_trace::create_span("chat").start();
/// call.set_llm_model("gpt-4o");
/// let mut own = sgp_trace::create_span("chat")
///     .metadata(keys::SESSION_ID, "another conversation")
///     .start();
/// own.set_llm_model("gpt-4o");
/// ```
pub fn default_session(session_id: impl Into<Arc<str>>) -> DefaultSessionGuard {
    let session = session_id.into();
    let previous = DEFAULT_SESSION
        .try_with(|default| default.borrow_mut().replace(session))
        .ok()
        .flatten();
    DefaultSessionGuard {
        previous,
        _not_send: PhantomData,
    }
}

/// Keeps a default session in place until dropped; see [`default_session`].
///
/// It must drop on the thread that made it, so it is neither `Send` nor `Sync`.
#[must_use = "the session is the default only while the guard lives"]
#[derive(Debug)]
pub struct DefaultSessionGuard {
    previous: Option<Arc<str>>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for DefaultSessionGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = DEFAULT_SESSION.try_with(|default| *default.borrow_mut() = previous);
    }
}

/// This thread's default session, if one is in place.
pub(crate) fn current_default() -> Option<Arc<str>> {
    DEFAULT_SESSION
        .try_with(|default| default.borrow().clone())
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_nest_and_take_their_session_with_them() {
        assert_eq!(current_default(), None);
        {
            let _outer = default_session("outer");
            {
                let _inner = default_session("inner");
                assert_eq!(current_default().as_deref(), Some("inner"));
            }
            assert_eq!(
                current_default().as_deref(),
                Some("outer"),
                "the outer one is back"
            );
        }
        assert_eq!(current_default(), None, "gone with its guard");
    }
}
