//! The OTLP exporter against a loopback OTLP receiver: what arrives, and what answers mean.

mod support;

use std::time::Duration;

use sgp_trace::{create_span, create_trace, Batch, Config, ExportError, Exporter, SpanType};
use sgp_trace_otel::opentelemetry_proto::tonic::common::v1::any_value::Value;
use sgp_trace_otel::opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use sgp_trace_otel::{map_span, otlp_span_id, Compression, OtlpExporter};
use support::{attribute, hex, text, Answer, OtlpSink};

#[test]
fn a_trace_arrives_as_otlp_with_links_statuses_resource_and_headers() {
    let sink = OtlpSink::start();
    let exporter = OtlpExporter::builder()
        .endpoint(&sink.base_url)
        .header("x-license-key", "lk-1")
        .header("x-project", "demo")
        .service_name("otel-test")
        .service_version("9.9.9")
        .build()
        .unwrap();
    let guard = sgp_trace::init(Config::builder().exporter(exporter).build().unwrap());
    let trace_id;
    {
        let trace = create_trace("handle request").input(&"q").start();
        trace_id = trace.context().unwrap().trace_id;
        let mut step = create_span("retrieve")
            .span_type(SpanType::KbRetrieval)
            .metadata("k", &3)
            .start();
        step.set_output(&vec!["doc-1"]);
        {
            let mut failing = create_span("rerank").start();
            failing.set_error("Timeout", "took too long", "platform");
        }
    }
    sgp_trace::flush_queue().unwrap();

    let received = sink.received();
    assert!(!received.is_empty());
    let first = &received[0];
    assert_eq!(first.header("x-license-key"), Some("lk-1"));
    assert_eq!(first.header("x-project"), Some("demo"));
    assert_eq!(first.header("content-type"), Some("application/x-protobuf"));
    let resource = first.request.resource_spans[0].resource.as_ref().unwrap();
    let resource: Vec<(&str, String)> = resource
        .attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(text)) => text.clone(),
                other => format!("{other:?}"),
            };
            (kv.key.as_str(), value)
        })
        .collect();
    assert!(resource.contains(&("service.name", "otel-test".into())));
    assert!(resource.contains(&("service.version", "9.9.9".into())));

    let mut spans = sink.spans();
    assert_eq!(spans.len(), 3, "only ended spans, each once: {spans:#?}");
    spans.sort_by_key(|span| span.start_time_unix_nano);
    let [root, step, rerank] = &spans[..] else {
        unreachable!()
    };
    let uuid = trace_id.as_uuid().unwrap();
    for span in &spans {
        assert_eq!(
            span.trace_id,
            uuid.as_bytes(),
            "one trace id, the UUID's bytes"
        );
        assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    }
    assert!(root.parent_span_id.is_empty());
    assert_eq!(step.parent_span_id, root.span_id);
    assert_eq!(rerank.parent_span_id, step.span_id);
    assert_eq!(
        hex(&root.span_id),
        format!(
            "{:016x}",
            otlp_span_id(&text(root, "sgp.span_id").parse().unwrap())
        )
    );
    assert_eq!(
        (root.name.as_str(), step.name.as_str(), rerank.name.as_str()),
        ("handle request", "retrieve", "rerank")
    );
    assert_eq!(text(root, "sgp.span_type"), "TRACER");
    assert_eq!(text(root, "sgp.input"), r#"{"value":"q"}"#);
    assert_eq!(text(step, "sgp.span_type"), "KB_RETRIEVAL");
    assert_eq!(text(step, "sgp.output"), r#"{"value":["doc-1"]}"#);
    assert_eq!(attribute(step, "sgp.metadata.k"), Some(&Value::IntValue(3)));
    let ok = StatusCode::Ok as i32;
    assert_eq!(root.status.as_ref().unwrap().code, ok);
    assert_eq!(step.status.as_ref().unwrap().code, ok);
    let status = rerank.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "took too long");
    assert_eq!(text(rerank, "error"), "took too long");
    assert_eq!(
        attribute(rerank, "sgp.metadata.error"),
        Some(&Value::BoolValue(true))
    );
    assert_eq!(text(rerank, "error.type"), "Timeout");
    assert_eq!(text(rerank, "sgp.metadata.error_category"), "platform");
    drop(guard);
}

fn one_ended_span() -> Vec<sgp_trace::SpanItem> {
    // A span made through the runtime's public wire type.
    vec![sgp_trace::SpanItem {
        name: "one".into(),
        trace_id: sgp_trace::Id::random(),
        id: sgp_trace::Id::random(),
        parent_id: None,
        group_id: None,
        start_timestamp: sgp_trace::Timestamp::from_nanos(1_000),
        end_timestamp: Some(sgp_trace::Timestamp::from_nanos(2_000)),
        status: Some(sgp_trace::SpanStatus::Success),
        span_type: SpanType::Custom,
        input: None,
        output: None,
        metadata: None,
        observability: None,
    }]
}

#[test]
fn answers_map_onto_export_errors() {
    let sink = OtlpSink::start();
    let exporter = OtlpExporter::builder()
        .endpoint(&sink.base_url)
        .build()
        .unwrap();
    let items = one_ended_span();
    let batch = Batch::new(&items, b"");
    let answer = |status, retry_after| Answer {
        status,
        retry_after,
    };
    sink.script([
        answer(503, Some(2)),
        answer(429, None),
        answer(401, None),
        answer(413, None),
        answer(400, None),
        answer(500, None),
    ]);
    assert_eq!(
        exporter.export(&batch),
        Err(ExportError::Transient {
            reason: "OTLP HTTP 503 Service Unavailable".into(),
            retry_after: Some(Duration::from_secs(2)),
        })
    );
    assert!(matches!(
        exporter.export(&batch),
        Err(ExportError::Transient {
            retry_after: None,
            ..
        })
    ));
    assert!(matches!(
        exporter.export(&batch),
        Err(ExportError::Unauthorized { .. })
    ));
    assert!(matches!(
        exporter.export(&batch),
        Err(ExportError::TooLarge { .. })
    ));
    assert!(matches!(
        exporter.export(&batch),
        Err(ExportError::Rejected { .. })
    ));
    assert!(matches!(
        exporter.export(&batch),
        Err(ExportError::Failed { .. })
    ));
    assert_eq!(exporter.export(&batch), Ok(()));
    assert_eq!(sink.spans().len(), 1);
    assert_eq!(
        sink.spans()[0],
        map_span(&items[0]).unwrap(),
        "the wire form is map_span's"
    );
}

#[test]
fn gzip_compresses_http_bodies() {
    let sink = OtlpSink::start();
    let exporter = OtlpExporter::builder()
        .endpoint(&sink.base_url)
        .compression(Compression::Gzip)
        .build()
        .unwrap();
    let items = one_ended_span();
    assert_eq!(exporter.export(&Batch::new(&items, b"")), Ok(()));
    let received = sink.received();
    assert_eq!(received[0].header("content-encoding"), Some("gzip"));
    assert_eq!(received[0].spans(), [map_span(&items[0]).unwrap()]);
}

#[test]
fn an_unreachable_receiver_is_transient_and_running_spans_send_nothing() {
    // Bind, then close, a loopback port: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let exporter = OtlpExporter::builder()
        .endpoint(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let items = one_ended_span();
    assert!(matches!(
        exporter.export(&Batch::new(&items, b"")),
        Err(ExportError::Transient { .. })
    ));
    let mut running = one_ended_span();
    running[0].end_timestamp = None;
    running[0].status = None;
    assert_eq!(
        exporter.export(&Batch::new(&running, b"")),
        Ok(()),
        "no request at all for spans that have not ended"
    );
}
