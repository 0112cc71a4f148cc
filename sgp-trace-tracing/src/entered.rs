//! Which `tracing` spans are entered on this thread, each holding the SGP context it made
//! current: a layer's `on_enter` and `on_exit` are separate calls, so the guard that keeps
//! a span current in the runtime cannot live on the stack between them.

use std::cell::RefCell;

use sgp_trace::ContextGuard;
use tracing_core::span::Id;

thread_local! {
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

struct Entered {
    id: Id,
    /// Dropped when the span is exited: the runtime's current span goes back to the one
    /// below.
    _context: ContextGuard,
    /// Whether the thread was already unwinding when the span was entered.
    panicking_at_enter: bool,
}

/// Keeps `context` current on this thread until `exit(id)`.
pub(crate) fn enter(id: &Id, context: ContextGuard) {
    let entered = Entered {
        id: id.clone(),
        _context: context,
        panicking_at_enter: std::thread::panicking(),
    };
    // During thread teardown the list may be gone: the guard then drops here, at once.
    let _ = ENTERED.try_with(|stack| stack.borrow_mut().push(entered));
}

/// Leaves the innermost entry of span `id` on this thread; `true` when a panic began while
/// it was entered (the span's own code panicked).
pub(crate) fn exit(id: &Id) -> bool {
    let left = ENTERED
        .try_with(|stack| {
            let mut stack = stack.borrow_mut();
            // Spans are usually exited in the reverse order of entering.
            if stack.last().is_some_and(|entered| entered.id == *id) {
                return stack.pop();
            }
            let index = stack.iter().rposition(|entered| entered.id == *id)?;
            Some(stack.remove(index))
        })
        .ok()
        .flatten();
    // Dropped here, after the list is released: leaving the context touches the runtime.
    left.is_some_and(|entered| !entered.panicking_at_enter && std::thread::panicking())
}
