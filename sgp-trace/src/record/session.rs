//! A default LLM session for the spans a thread starts: how an integration that runs work
//! on behalf of one conversation (a Temporal activity, a request handler) gives every span
//! made inside it the session, at any depth, without the code inside passing it along.
//!
//! Kept apart from the context stack: most spans never run under a default session, and
//! the stack's entries are copied on every enter.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::record::llm::keys::SESSION_ID;

thread_local! {
    static DEFAULT_SESSION: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Makes `session_id` the LLM session (metadata [`llm.session`](crate::llm::keys::SESSION_ID),
/// `x-session-id` in the OTLP mapping of `sgp-trace-otel`) of every span started on this
/// thread until the returned guard drops, unless the span is given its own session when it
/// is built. A session set later on the span (with
/// [`set_llm_session`](crate::llm::LlmSpanExt::set_llm_session)) replaces it too.
///
/// For a future, enter it in each poll beside the span, as a wrapper's `poll` does; an
/// `Arc<str>` given here is not copied, so entering it per poll costs no allocation. A
/// `#[traced]` async fn starts its span when it is called, so call it inside the scope.
/// Threads and tasks spawned meanwhile do not take the default.
/// Guards nest: dropping one brings back the session that was the default before it, so
/// drop them in the reverse order they were made.
///
/// ```
/// use sgp_trace::llm::{default_session, keys};
///
/// let _session = default_session("conversation-42");
/// // Spans started here, by `#[traced]` functions too, carry
/// // `llm.session = "conversation-42"` unless they set their own.
/// let _call = sgp_trace::create_span("chat").start();
/// let _own = sgp_trace::create_span("chat")
///     .metadata(keys::SESSION_ID, "another conversation")
///     .start();
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

/// Adds the thread's default session to a starting span's metadata when it has none.
#[inline]
pub(crate) fn apply_default(metadata: &mut Option<Arc<Map<String, Value>>>) {
    let _ = DEFAULT_SESSION.try_with(|default| {
        let default = default.borrow();
        let Some(session) = default.as_deref() else {
            return;
        };
        if metadata
            .as_ref()
            .is_some_and(|m| m.contains_key(SESSION_ID))
        {
            return;
        }
        Arc::make_mut(metadata.get_or_insert_with(Default::default))
            .insert(SESSION_ID.to_owned(), Value::String(session.to_owned()));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_of(metadata: &Option<Arc<Map<String, Value>>>) -> Option<&str> {
        metadata.as_ref()?.get(SESSION_ID)?.as_str()
    }

    #[test]
    fn the_default_fills_in_only_a_missing_session_and_guards_nest() {
        let mut none = None;
        apply_default(&mut none);
        assert_eq!(session_of(&none), None, "no default, nothing added");
        {
            let _outer = default_session("outer");
            {
                let _inner = default_session("inner");
                let mut empty = None;
                apply_default(&mut empty);
                assert_eq!(session_of(&empty), Some("inner"));
            }
            let mut own = Some(Arc::new(Map::from_iter([(
                SESSION_ID.to_owned(),
                Value::String("own".into()),
            )])));
            apply_default(&mut own);
            assert_eq!(session_of(&own), Some("own"), "a span's own session wins");
            let mut empty = None;
            apply_default(&mut empty);
            assert_eq!(session_of(&empty), Some("outer"), "the outer one is back");
        }
        let mut after = None;
        apply_default(&mut after);
        assert_eq!(session_of(&after), None, "gone with its guard");
    }
}
