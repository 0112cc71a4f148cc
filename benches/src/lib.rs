//! Benchmarks of sgp-trace: the hot path against its peers (`benches/hot_path.rs`) and
//! whole-process export, memory and outage figures (`src/bin/export_bench.rs`). Results are
//! in `README.md`.

pub mod peers;
pub mod summary;

use sgp_trace::{Batch, Config, ConfigBuilder, ExportError};

/// A configuration whose exporter discards every batch: the export thread does all its work
/// (coalescing, JSON encoding) but sends nothing.
pub fn discarding() -> ConfigBuilder {
    Config::builder().exporter(|_batch: &Batch<'_>| -> Result<(), ExportError> { Ok(()) })
}

/// A chat as an LLM app records it: four messages with about 1 KB of text between them, a
/// line break every 52 bytes, as a `json!` value, so every string is nested in objects.
/// Made once and kept.
pub fn chat() -> &'static serde_json::Value {
    static CHAT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    CHAT.get_or_init(|| {
        let text = "The quick brown fox jumps over the lazy dog, twice.\n".repeat(5);
        let message = |role| serde_json::json!({"role": role, "content": text});
        serde_json::json!([
            message("system"),
            message("user"),
            message("assistant"),
            message("user"),
        ])
    })
}

/// fastrace collects spans per root: one root covers this many spans, so its cost and the
/// hand-over to fastrace's collector are counted but spread thin.
pub const FASTRACE_SPANS_PER_ROOT: u64 = 256;

/// Makes `count` fastrace spans with `span` (a call of a `#[fastrace::trace]` function), each
/// under a local parent, one root per [`FASTRACE_SPANS_PER_ROOT`]: the fast path fastrace is
/// compared on in both benches.
#[inline(always)]
pub fn fastrace_spans(count: u64, mut span: impl FnMut(u64)) {
    use fastrace::prelude::{Span, SpanContext};
    let mut left = count;
    while left > 0 {
        let batch = left.min(FASTRACE_SPANS_PER_ROOT);
        let root = Span::root("bench", SpanContext::random());
        let _parent = root.set_local_parent();
        for index in 0..batch {
            span(index);
        }
        left -= batch;
    }
}
