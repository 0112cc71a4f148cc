//! What the benches share to run the peers they compare against: exporters that discard
//! what they are given, so every library does all its work but sends nothing, and the
//! `#[tracing::instrument]` function the `tracing` cases call.

use std::hint::black_box;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};

/// An OpenTelemetry exporter that discards every batch.
#[derive(Debug)]
pub struct DiscardSpans;

impl SpanExporter for DiscardSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

/// An OpenTelemetry provider whose batch processor hands every span to [`DiscardSpans`].
pub fn discarding_otel_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(DiscardSpans).build())
        .build()
}

/// A fastrace reporter that discards every span.
pub struct DiscardReporter;

impl fastrace::collector::Reporter for DiscardReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        black_box(spans);
    }
}

/// The `tracing` user's function of two arguments: one span per call.
#[inline]
#[tracing::instrument]
pub fn tracing_two_args(count: u64, label: &str) -> u64 {
    black_box(count) + label.len() as u64
}
