//! Correlation (feature `opentelemetry`): SGP spans record the ids of the OpenTelemetry
//! span they start in, as `obs_trace_id` / `obs_span_id`.

use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use sgp_trace::ObservabilityIds;

/// Installs the provider that makes every SGP span record the OpenTelemetry span current
/// where it starts (`opentelemetry::Context::current()`); once per process. Returns `false`
/// when a provider was installed already (the first one stays).
///
/// The current span is read through the `opentelemetry` crate of the version this crate
/// depends on (0.33): instrument your code with that version so both see the same context.
/// A span with an invalid context (no OpenTelemetry span active) records nothing.
///
/// ```
/// use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
/// use opentelemetry::Context;
///
/// sgp_trace_otel::install_correlation();
/// let remote = SpanContext::new(
///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
///     TraceFlags::SAMPLED,
///     true,
///     TraceState::default(),
/// );
/// let _attached = Context::current().with_remote_span_context(remote).attach();
/// let ids = sgp_trace_otel::current_otel_ids().unwrap();
/// assert_eq!(ids.span_id_hex(), "00f067aa0ba902b7");
/// ```
pub fn install_correlation() -> bool {
    sgp_trace::set_observability_provider(current_otel_ids)
}

/// The W3C ids of the OpenTelemetry span current on this thread, if it is valid.
pub fn current_otel_ids() -> Option<ObservabilityIds> {
    Context::map_current(|context| {
        let span = context.span();
        let span_context = span.span_context();
        span_context.is_valid().then(|| ObservabilityIds {
            trace_id: u128::from_be_bytes(span_context.trace_id().to_bytes()),
            span_id: u64::from_be_bytes(span_context.span_id().to_bytes()),
        })
    })
}
