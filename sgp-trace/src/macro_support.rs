//! What the `#[traced]` macro's expansion calls. Not a public API: it may change in any
//! release.

/// Whether a span started now would be recorded: tracing is on, and either it starts a new
/// trace or a span is current on this thread. The macro checks this before serializing the
/// arguments, so no-op spans cost no serialization.
pub fn would_record(new_trace: bool) -> bool {
    crate::runtime::is_recording() && (new_trace || crate::context::has_current())
}
