//! Correlation (feature `opentelemetry`): an SGP span started inside an OpenTelemetry span
//! records its W3C ids, in SGP and in OTLP.

mod support;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use sgp_trace::{create_span, create_trace, Config};
use sgp_trace_collector::{Collector, CollectorConfig};
use support::{hex, text, OtlpSink};

const ACCOUNT: &str = "correlation-account";

#[test]
fn sgp_spans_record_the_opentelemetry_span_they_start_in() {
    assert!(sgp_trace_otel::install_correlation());
    assert!(!sgp_trace_otel::install_correlation(), "once per process");
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let sink = OtlpSink::start();
    let fanout = support::fan_out(&collector, ACCOUNT, &sink);
    let guard = sgp_trace::init(Config::builder().exporter(fanout.clone()).build().unwrap());

    let infrastructure = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    {
        let _outside = create_trace("before any OpenTelemetry span").start();
    }
    {
        let _attached = Context::current()
            .with_remote_span_context(infrastructure)
            .attach();
        let _trace = create_trace("business").start();
        let _step = create_span("business step").start();
    }
    drop(guard);
    fanout.shutdown(std::time::Duration::from_secs(30)).unwrap();

    let stored = collector.spans(ACCOUNT);
    assert_eq!(stored.len(), 3);
    for span in &stored {
        if span["name"] == "before any OpenTelemetry span" {
            assert!(span.get("obs_trace_id").is_none(), "{span}");
        } else {
            assert_eq!(span["obs_trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_eq!(span["obs_span_id"], "00f067aa0ba902b7");
        }
    }
    let spans = sink.spans();
    let business = spans.iter().find(|span| span.name == "business").unwrap();
    assert_eq!(
        text(business, "sgp.obs_trace_id"),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(text(business, "sgp.obs_span_id"), "00f067aa0ba902b7");
    assert_eq!(
        hex(&business.links[0].trace_id),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(hex(&business.links[0].span_id), "00f067aa0ba902b7");
}
