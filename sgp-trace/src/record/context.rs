//! The current span: a per-thread stack that span guards push and pop.
//!
//! Only the ids live here, so entering and leaving a span costs a few word copies. Futures
//! and other threads carry a [`SpanContext`] and [`attach`](SpanContext::attach) it where
//! they run.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::model::{Id, InvalidId};
use crate::queue::lane::SpanSlot;

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
            sampled: true,
            slot: None,
        })
    }
}

/// The version tag that starts a context's compact text form.
const COMPACT_VERSION: &str = "sgp1";

/// The compact text form, for message payloads, HTTP headers and environment variables:
/// `sgp1;<trace_id>;<span_id>[;<group_id>]`, each id percent-encoded where it holds `%`,
/// `;` or anything but visible ASCII, so the text is always a valid header value. UUID ids
/// pass through as they are.
///
/// ```
/// use sgp_trace::{Id, SpanContext};
/// let context = SpanContext {
///     trace_id: Id::new("order 42").unwrap(),
///     span_id: Id::new("step;1").unwrap(),
///     group_id: None,
/// };
/// let text = context.to_string();
/// assert_eq!(text, "sgp1;order%2042;step%3B1");
/// assert_eq!(text.parse::<SpanContext>().unwrap(), context);
/// ```
impl fmt::Display for SpanContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(COMPACT_VERSION)?;
        for id in [
            Some(&self.trace_id),
            Some(&self.span_id),
            self.group_id.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            f.write_str(";")?;
            write_escaped(f, &id.to_string())?;
        }
        Ok(())
    }
}

fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for byte in text.bytes() {
        if byte.is_ascii_graphic() && byte != b'%' && byte != b';' {
            f.write_str(std::str::from_utf8(&[byte]).map_err(|_| fmt::Error)?)?;
        } else {
            write!(f, "%{byte:02X}")?;
        }
    }
    Ok(())
}

impl FromStr for SpanContext {
    type Err = InvalidSpanContext;

    fn from_str(text: &str) -> Result<SpanContext, InvalidSpanContext> {
        let mut parts = text.trim().split(';');
        if parts.next() != Some(COMPACT_VERSION) {
            return Err(InvalidSpanContext::Format(format!(
                "it does not start with {COMPACT_VERSION:?}"
            )));
        }
        let ids = parts.map(unescape_id).collect::<Result<Vec<Id>, _>>()?;
        let mut ids = ids.into_iter();
        match (ids.next(), ids.next(), ids.next(), ids.next()) {
            (Some(trace_id), Some(span_id), group_id, None) => Ok(SpanContext {
                trace_id,
                span_id,
                group_id,
            }),
            _ => Err(InvalidSpanContext::Format(
                "expected a trace id, a span id and an optional group id".into(),
            )),
        }
    }
}

fn unescape_id(text: &str) -> Result<Id, InvalidSpanContext> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(byte) = rest.next() {
        if byte != b'%' {
            bytes.push(byte);
            continue;
        }
        let hex = [rest.next(), rest.next()];
        let digits = match hex {
            [Some(high), Some(low)] => std::str::from_utf8(&[high, low])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
            _ => None,
        };
        bytes.push(
            digits.ok_or_else(|| InvalidSpanContext::Format(format!("bad escape in {text:?}")))?,
        );
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| InvalidSpanContext::Format("an id is not UTF-8".into()))?;
    Id::new(text).map_err(InvalidSpanContext::Id)
}

/// Why a context's compact text form could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidSpanContext {
    /// The text is not `sgp1;<trace_id>;<span_id>[;<group_id>]`.
    Format(String),
    /// One of the ids is not a valid id.
    Id(InvalidId),
}

impl fmt::Display for InvalidSpanContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidSpanContext::Format(reason) => write!(f, "invalid span context: {reason}"),
            InvalidSpanContext::Id(error) => write!(f, "invalid span context: {error}"),
        }
    }
}

impl std::error::Error for InvalidSpanContext {}

/// One level of the stack: a span's context and the outermost span of its trace known here.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) context: SpanContext,
    pub(crate) root: Id,
    /// `false` when the sampler dropped this trace: spans under it are no-ops.
    pub(crate) sampled: bool,
    /// Where the span's item waits, when the span is recorded in this process: how
    /// [`with_current_span`](crate::with_current_span) reaches it, wherever the entry was
    /// carried. `None` for a context from elsewhere (attached, inherited, unsampled).
    pub(crate) slot: Option<SpanSlot>,
}

/// One level of a thread's stack: an entry and the token of the guard that pushed it.
#[derive(Debug)]
struct Level {
    token: u64,
    entry: Entry,
}

thread_local! {
    static STACK: RefCell<Vec<Level>> = const { RefCell::new(Vec::new()) };
    /// The last token given to a guard on this thread.
    static LAST_TOKEN: Cell<u64> = const { Cell::new(0) };
    /// Whether the innermost entry of `STACK` is sampled, kept beside it for the no-op
    /// path: a `Cell` with no destructor is read with one load, where `STACK` needs a check
    /// of its lifecycle and a borrow.
    static INNERMOST: Cell<Innermost> = const { Cell::new(Innermost::None) };
}

#[derive(Clone, Copy)]
enum Innermost {
    None,
    Sampled,
    Unsampled,
}

impl Innermost {
    fn of(stack: &[Level]) -> Innermost {
        match stack.last() {
            None => Innermost::None,
            Some(level) if level.entry.sampled => Innermost::Sampled,
            Some(_) => Innermost::Unsampled,
        }
    }
}

/// The environment variable through which a parent process hands its current span to a
/// child process, in the [compact form](SpanContext#impl-Display-for-SpanContext)
/// `sgp1;<trace_id>;<span_id>[;<group_id>]`. Set by
/// [`CommandExt::propagate_context`](crate::propagate::CommandExt::propagate_context) and
/// read by `init` (or the first span) in the child.
pub const PARENT_ENV_VAR: &str = "SGP_TRACE_PARENT";

/// Set to `0` beside [`PARENT_ENV_VAR`] when the parent's trace was not sampled, so the
/// child follows the parent's decision whatever its own sample rate.
pub const PARENT_SAMPLED_ENV_VAR: &str = "SGP_TRACE_SAMPLED";

/// The context this process continues, from [`PARENT_ENV_VAR`]: the bottom of every
/// thread's stack, so the process's top-level spans are children of the parent's span.
static PROCESS_PARENT: OnceLock<Option<Entry>> = OnceLock::new();

/// Reads [`PARENT_ENV_VAR`], once, when a span or a context first looks for its parent. A
/// malformed value gets one warning and is ignored: the process then starts fresh traces.
fn adopt_process_parent() -> Option<Entry> {
    let text = std::env::var(PARENT_ENV_VAR).ok()?;
    match text.parse::<SpanContext>() {
        Ok(context) => {
            let root = context.span_id.clone();
            let sampled =
                std::env::var(PARENT_SAMPLED_ENV_VAR).map_or(true, |flag| flag.trim() != "0");
            Some(Entry {
                context,
                root,
                sampled,
                slot: None,
            })
        }
        Err(error) => {
            crate::diag::warn(format_args!(
                    "{PARENT_ENV_VAR} is set but unusable ({error}); this process starts its own traces"
                ));
            None
        }
    }
}

#[inline]
fn process_parent() -> Option<&'static Entry> {
    PROCESS_PARENT.get_or_init(adopt_process_parent).as_ref()
}

/// The context inherited from the parent process, when this thread has no span of its own.
pub(crate) fn inherited_parent() -> Option<Entry> {
    let stack_empty = STACK
        .try_with(|stack| stack.borrow().is_empty())
        .unwrap_or(true);
    if stack_empty {
        process_parent().cloned()
    } else {
        None
    }
}

/// The innermost entry on this thread (or the inherited one), to carry elsewhere.
pub(crate) fn current_entry() -> Option<Entry> {
    with_current(|entry| entry.cloned())
}

/// The context of the innermost span entered on this thread, if any.
pub fn current_span() -> Option<SpanContext> {
    with_current(|entry| entry.map(|entry| entry.context.clone()))
}

/// Whether a span is current on this thread (or inherited from the parent process):
/// `current_span().is_some()`, without copying the context.
///
/// ```
/// use sgp_trace::{has_current_span, Id, SpanContext};
/// assert!(!has_current_span());
/// let remote = SpanContext { trace_id: Id::random(), span_id: Id::random(), group_id: None };
/// let _attached = remote.attach();
/// assert!(has_current_span());
/// ```
pub fn has_current_span() -> bool {
    with_current(|entry| entry.is_some())
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

/// Whether a span is current here (on this thread, or inherited from the parent process)
/// under which new spans are recorded; the cheapest check on the no-op path.
#[inline]
pub(crate) fn has_recording_parent() -> bool {
    match INNERMOST.with(Cell::get) {
        Innermost::Sampled => true,
        Innermost::Unsampled => false,
        Innermost::None => process_parent().is_some_and(|entry| entry.sampled),
    }
}

/// Runs `f` with the innermost entry, else the context inherited from the parent process.
/// During thread teardown the stack may be gone; that reads as "no span", never as a panic.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Entry>) -> R) -> R {
    let mut f = Some(f);
    let result = STACK.try_with(|stack| {
        let stack = stack.borrow();
        let current = match stack.last() {
            Some(level) => Some(&level.entry),
            None => process_parent(),
        };
        (f.take().expect("called once"))(current)
    });
    match result {
        Ok(value) => value,
        Err(_) => (f.take().expect("not called when the stack is gone"))(process_parent()),
    }
}

/// Keeps a context current until dropped; see [`SpanContext::attach`].
///
/// It must drop on the thread that made it, so it is neither `Send` nor `Sync`.
#[must_use = "the context is current only while the guard lives"]
#[derive(Debug)]
pub struct ContextGuard {
    /// Which level this guard pushed (tokens count from 1 on each thread); 0 for the guard
    /// of a no-op span, which pushed nothing. A number rather than the span's id: cheaper
    /// to keep and compare, and exact when one span is entered twice.
    token: u64,
    _not_send: PhantomData<*const ()>,
}

impl ContextGuard {
    /// Pushes `entry`, moved in (`attach`, and contexts carried into threads and tasks).
    #[inline]
    pub(crate) fn push(entry: Entry) -> ContextGuard {
        let token = LAST_TOKEN.get() + 1;
        LAST_TOKEN.set(token);
        let _ = STACK.try_with(|stack| {
            let mut stack = stack.borrow_mut();
            stack.push(Level { token, entry });
            INNERMOST.set(Innermost::of(&stack));
        });
        ContextGuard {
            token,
            _not_send: PhantomData,
        }
    }

    /// Pushes a copy of `entry` (a span entered), cloned straight into the stack: a clone
    /// made first and then moved in, as `push` does, is written and read back through
    /// memory in pieces of different sizes that the CPU cannot forward from store to load.
    #[inline]
    pub(crate) fn push_clone(entry: &Entry) -> ContextGuard {
        let token = LAST_TOKEN.get() + 1;
        LAST_TOKEN.set(token);
        let _ = STACK.try_with(|stack| {
            let mut stack = stack.borrow_mut();
            stack.reserve(1);
            let len = stack.len();
            stack.spare_capacity_mut()[0].write(Level {
                token,
                entry: entry.clone(),
            });
            // SAFETY: the slot at `len` was reserved and has just been written.
            unsafe { stack.set_len(len + 1) };
            INNERMOST.set(if entry.sampled {
                Innermost::Sampled
            } else {
                Innermost::Unsampled
            });
        });
        ContextGuard {
            token,
            _not_send: PhantomData,
        }
    }

    /// A guard that entered nothing, for a span that records nothing.
    #[inline]
    pub(crate) fn inert() -> ContextGuard {
        ContextGuard {
            token: 0,
            _not_send: PhantomData,
        }
    }

    /// Whether the guard pushed nothing (that of a no-op span).
    #[inline]
    pub(crate) fn is_inert(&self) -> bool {
        self.token == 0
    }
}

impl Drop for ContextGuard {
    #[inline]
    fn drop(&mut self) {
        // A no-op span's guard pushed nothing: only this check is inlined where it drops.
        if self.token != 0 {
            leave(self.token);
        }
    }
}

/// Removes the level a guard pushed.
#[inline(never)]
fn leave(token: u64) {
    let _ = STACK.try_with(|stack| {
        let mut stack = stack.borrow_mut();
        // Guards usually drop in reverse order; one dropped out of order is removed where it
        // is, leaving the others in place.
        if stack.last().is_some_and(|level| level.token == token) {
            // Dropped where it lies: `pop` would first move the level out.
            let below = stack.len() - 1;
            stack.truncate(below);
        } else if let Some(index) = stack.iter().rposition(|level| level.token == token) {
            stack.remove(index);
        }
        INNERMOST.set(Innermost::of(&stack));
    });
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
        assert!(has_current_span());
        drop(inner_guard);
        assert_eq!(current_span(), None);
        assert!(!has_current_span());
    }

    #[test]
    fn compact_form_round_trips_and_refuses_garbage() {
        let with_group = SpanContext {
            group_id: Some(Id::new("g ✓").unwrap()),
            ..context()
        };
        assert_eq!(
            with_group.to_string().parse::<SpanContext>(),
            Ok(with_group.clone())
        );
        assert!(with_group.to_string().is_ascii());
        let plain = context();
        assert_eq!(plain.to_string().len(), "sgp1".len() + 2 * 37);
        for bad in [
            "",
            "sgp1",
            "sgp1;a",
            "sgp2;a;b",
            "sgp1;a;b;c;d",
            "sgp1;a;%zz",
            "sgp1;a;%00",
            "sgp1;;b",
        ] {
            assert!(
                bad.parse::<SpanContext>().is_err(),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn current_trace_names_the_outermost_span() {
        let remote = context();
        let _guard = remote.clone().attach();
        assert_eq!(current_trace(), Some(remote));
    }
}
