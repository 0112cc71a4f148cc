//! A default LLM session for the spans a thread starts: how an integration that runs work
//! on behalf of one conversation (a Temporal activity, a request handler) gives every span
//! made inside it the session, at any depth, without the code inside passing it along.
//!
//! Kept apart from the context stack: most spans never run under a default session, and
//! the stack's entries are copied on every enter.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::record::llm::keys::SESSION_ID;

thread_local! {
    static DEFAULT_SESSION: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
    /// Whether `DEFAULT_SESSION` holds one, kept beside it for the span path: a `Cell` with
    /// no destructor is read with one load, where `DEFAULT_SESSION` needs a check of its
    /// lifecycle and a borrow.
    static HAS_DEFAULT: Cell<bool> = const { Cell::new(false) };
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
    HAS_DEFAULT.set(true);
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
        HAS_DEFAULT.set(previous.is_some());
        let _ = DEFAULT_SESSION.try_with(|default| *default.borrow_mut() = previous);
    }
}

/// Whether this thread has a default session: the one check on the span path, where most
/// spans have none.
#[inline]
pub(crate) fn has_default() -> bool {
    HAS_DEFAULT.get()
}

/// Gives a starting span's metadata the thread's default session when it has none.
#[cold]
#[inline(never)]
pub(crate) fn apply_default(metadata: &mut Option<Arc<Map<String, Value>>>) {
    let _ = DEFAULT_SESSION.try_with(|default| {
        if let Some(session) = default.borrow().as_deref() {
            add_session(metadata, session);
        }
    });
}

fn add_session(metadata: &mut Option<Arc<Map<String, Value>>>, session: &str) {
    if metadata
        .as_ref()
        .is_some_and(|m| m.contains_key(SESSION_ID))
    {
        return;
    }
    Arc::make_mut(metadata.get_or_insert_with(Default::default))
        .insert(SESSION_ID.to_owned(), Value::String(session.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_of(metadata: &Option<Arc<Map<String, Value>>>) -> Option<&str> {
        metadata.as_ref()?.get(SESSION_ID)?.as_str()
    }

    #[test]
    fn a_session_is_added_only_where_none_is_and_guards_nest() {
        let mut none = None;
        add_session(&mut none, "s-1");
        assert_eq!(session_of(&none), Some("s-1"));
        let mut own = Some(Arc::new(Map::from_iter([(
            SESSION_ID.to_owned(),
            Value::String("own".into()),
        )])));
        add_session(&mut own, "s-1");
        assert_eq!(session_of(&own), Some("own"), "a span's own session wins");

        assert!(!has_default());
        {
            let _outer = default_session("outer");
            {
                let _inner = default_session("inner");
                assert!(has_default());
                let inner = DEFAULT_SESSION.with(|d| d.borrow().clone());
                assert_eq!(inner.as_deref(), Some("inner"));
            }
            let outer = DEFAULT_SESSION.with(|d| d.borrow().clone());
            assert_eq!(outer.as_deref(), Some("outer"), "the outer one is back");
        }
        assert!(!has_default(), "gone with its guard");
    }
}
