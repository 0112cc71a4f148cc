//! What the pass cases share: the runtime exporting into memory, and the spans it ended.
//! Each case includes it with `#[path = "../capture.rs"] mod capture;`.

#![allow(dead_code)]

use std::sync::Mutex;

use sgp_trace::{Batch, Config, ExportError, SpanItem, TracingGuard};

static ENDED: Mutex<Vec<SpanItem>> = Mutex::new(Vec::new());

/// Starts the runtime with an exporter that keeps every ended span in memory.
pub fn start() -> TracingGuard {
    let keep = |batch: &Batch<'_>| -> Result<(), ExportError> {
        let ended = batch.items().iter().filter(|item| item.is_complete());
        ENDED.lock().unwrap().extend(ended.cloned());
        Ok(())
    };
    sgp_trace::init(
        Config::builder()
            .exporter(keep)
            .build()
            .expect("a valid config"),
    )
}

/// Every span ended so far, once the queue is flushed.
pub fn ended() -> Vec<SpanItem> {
    sgp_trace::flush_queue().expect("the queue flushes");
    ENDED.lock().unwrap().clone()
}

/// The one span whose name ends with `suffix` (a default name is the function's full path).
pub fn named<'a>(spans: &'a [SpanItem], suffix: &str) -> &'a SpanItem {
    let mut found = spans.iter().filter(|span| span.name.ends_with(suffix));
    let span = found
        .next()
        .unwrap_or_else(|| panic!("no span named *{suffix} in {spans:#?}"));
    assert!(found.next().is_none(), "two spans named *{suffix}");
    span
}

/// A span's input as JSON text, `""` when it has none.
pub fn input(span: &SpanItem) -> &str {
    span.input.as_ref().map_or("", |input| input.as_str())
}

/// A span's output as JSON text, `""` when it has none.
pub fn output(span: &SpanItem) -> &str {
    span.output.as_ref().map_or("", |output| output.as_str())
}

/// A span's metadata entry as JSON text, `""` when absent.
pub fn metadata(span: &SpanItem, key: &str) -> String {
    let entry = span
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.get(key));
    entry.map_or_else(String::new, ToString::to_string)
}

/// Runs a future to completion on this thread; the cases' futures need no reactor.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}
