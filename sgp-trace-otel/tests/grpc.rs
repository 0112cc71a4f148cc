//! The OTLP exporter over gRPC against a real tonic receiver on loopback: metadata, gzip,
//! what status codes mean, and a backend that is down then up.

#[path = "support/grpc_sink.rs"]
mod grpc_sink;
mod support;

use std::time::Duration;

use grpc_sink::{free_port, Failure, GrpcSink, ReservedPort};
use sgp_trace::{create_span, create_trace, Batch, Config, ExportError, Exporter, SpanType};
use sgp_trace_otel::{map_span, Compression, OtlpExporter, OtlpExporterBuilder, Protocol};
use tonic::Code;

const WAIT: Duration = Duration::from_secs(30);

/// The guide's authentication headers, sent as gRPC metadata.
const GUIDE_HEADERS: [(&str, &str); 4] = [
    ("ifuser", "alice"),
    ("iflicensekey", "lk-123"),
    ("ifproject", "agents"),
    ("ifsystem", "sgp"),
];

fn exporter(url: &str, compression: Compression) -> OtlpExporterBuilder {
    let mut builder = OtlpExporter::builder()
        .protocol(Protocol::Grpc)
        .endpoint(url)
        .compression(compression)
        .service_name("grpc-test");
    for (name, value) in GUIDE_HEADERS {
        builder = builder.header(name, value);
    }
    builder
}

fn one_ended_span(name: &'static str) -> Vec<sgp_trace::SpanItem> {
    vec![sgp_trace::SpanItem {
        name: name.into(),
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

/// One span through the exporter as configured, checked as the receiver got it.
fn sends_with(compression: Compression, expected_encoding: Option<&str>) {
    let sink = GrpcSink::start();
    let exporter = exporter(&sink.url(), compression).build().unwrap();
    let items = one_ended_span("over grpc");
    assert_eq!(exporter.export(&Batch::new(&items, b"")), Ok(()));
    let received = sink.received();
    assert_eq!(received.len(), 1);
    for (name, value) in GUIDE_HEADERS {
        assert_eq!(received[0].metadata(name), Some(value), "metadata {name}");
    }
    assert_eq!(received[0].metadata("grpc-encoding"), expected_encoding);
    assert_eq!(
        received[0].spans(),
        [map_span(&items[0]).unwrap()],
        "the wire form is map_span's"
    );
    let resource = received[0].request.resource_spans[0].resource.clone();
    let service = resource
        .unwrap()
        .attributes
        .into_iter()
        .find(|kv| kv.key == "service.name");
    assert!(format!("{service:?}").contains("grpc-test"));
}

#[test]
fn spans_arrive_with_the_headers_as_metadata() {
    sends_with(Compression::None, None);
}

#[test]
fn gzip_compresses_grpc_messages() {
    sends_with(Compression::Gzip, Some("gzip"));
}

#[test]
fn the_environment_selects_grpc_and_gzip() {
    let sink = GrpcSink::start();
    let url = sink.url();
    let exporter = OtlpExporterBuilder::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" => Some("grpc".into()),
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(url.clone()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("ifuser=bob,ifproject=p%201".into()),
        "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("gzip".into()),
        _ => None,
    })
    .build()
    .unwrap();
    assert_eq!(exporter.protocol(), Protocol::Grpc);
    let items = one_ended_span("from env");
    assert_eq!(exporter.export(&Batch::new(&items, b"")), Ok(()));
    let received = &sink.received()[0];
    assert_eq!(received.metadata("ifuser"), Some("bob"));
    assert_eq!(received.metadata("ifproject"), Some("p 1"));
    assert_eq!(received.metadata("grpc-encoding"), Some("gzip"));
}

#[test]
fn status_codes_map_onto_export_errors() {
    let sink = GrpcSink::start();
    let exporter = exporter(&sink.url(), Compression::None).build().unwrap();
    let items = one_ended_span("statuses");
    let batch = Batch::new(&items, b"");
    let failure = |code, retry_delay| Failure { code, retry_delay };
    sink.script([
        failure(Code::Unavailable, None),
        failure(Code::ResourceExhausted, Some(Duration::from_millis(1500))),
        failure(Code::ResourceExhausted, None),
        failure(Code::InvalidArgument, None),
        failure(Code::Unauthenticated, None),
        failure(Code::PermissionDenied, None),
        failure(Code::Internal, None),
    ]);
    let url = sink.url();
    assert_eq!(
        exporter.export(&batch),
        Err(ExportError::Transient {
            reason: format!("OTLP gRPC {url}: Unavailable: scripted"),
            retry_after: None,
        })
    );
    assert!(matches!(
        exporter.export(&batch),
        Err(ExportError::Transient { retry_after: Some(delay), .. })
            if delay == Duration::from_millis(1500)
    ));
    assert!(matches!(
        exporter.export(&batch),
        Err(ExportError::Failed { .. })
    ));
    assert!(matches!(
        exporter.export(&batch),
        Err(ExportError::Rejected { .. })
    ));
    for _ in 0..2 {
        assert!(matches!(
            exporter.export(&batch),
            Err(ExportError::Unauthorized { .. })
        ));
    }
    assert!(matches!(
        exporter.export(&batch),
        Err(ExportError::Failed { .. })
    ));
    assert_eq!(exporter.export(&batch), Ok(()));
    assert_eq!(sink.spans().len(), 1);
}

#[test]
fn a_receiver_that_is_down_is_transient() {
    let exporter = exporter(
        &format!("http://127.0.0.1:{}", free_port()),
        Compression::None,
    )
    .timeout(Duration::from_secs(2))
    .build()
    .unwrap();
    let items = one_ended_span("nobody listens");
    assert!(matches!(
        exporter.export(&Batch::new(&items, b"")),
        Err(ExportError::Transient { .. })
    ));
}

#[test]
fn a_slow_receiver_times_out_as_transient() {
    let sink = GrpcSink::start();
    sink.delay_answers(Duration::from_secs(5));
    let exporter = exporter(&sink.url(), Compression::None)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let items = one_ended_span("too slow");
    let started = std::time::Instant::now();
    let outcome = exporter.export(&Batch::new(&items, b""));
    assert!(
        matches!(outcome, Err(ExportError::Transient { .. })),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout bounds the call: {:?}",
        started.elapsed()
    );
    assert_eq!(sink.arrived(), 1);
}

#[test]
fn a_backend_down_then_up_loses_nothing_within_the_queue_bound() {
    const SPANS: usize = 60;
    let reserved = ReservedPort::new();
    let exporter = exporter(
        &format!("http://127.0.0.1:{}", reserved.port),
        Compression::Gzip,
    )
    .build()
    .unwrap();
    let guard = sgp_trace::init(
        Config::builder()
            .exporter(exporter)
            .flush_interval(Duration::from_millis(50))
            .max_attempts(100)
            .backoff(Duration::from_millis(50), Duration::from_millis(200))
            .build()
            .unwrap(),
    );
    {
        let _trace = create_trace("while down").start();
        for index in 0..SPANS - 1 {
            let mut step = create_span("step").start();
            step.set_metadata("index", &index);
        }
    }
    // Let the export thread fail against the closed port a few times.
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        sgp_trace::stats().exported == 0,
        "nothing can be delivered yet"
    );

    let sink = GrpcSink::start_on(reserved.release());
    sgp_trace::flush_queue_within(WAIT).unwrap();
    let spans = sink.wait_for_spans(SPANS, WAIT);
    assert_eq!(spans.len(), SPANS, "every span, once");
    assert!(spans.iter().any(|span| span.name == "while down"));
    let mut indexes: Vec<String> = spans
        .iter()
        .filter(|span| span.name == "step")
        .map(|span| format!("{:?}", support::attribute(span, "sgp.metadata.index")))
        .collect();
    indexes.sort();
    indexes.dedup();
    assert_eq!(indexes.len(), SPANS - 1);
    let stats = sgp_trace::stats();
    assert_eq!(stats.lost(), 0, "{stats:?}");
    drop(guard);
}

/// A CA and a `localhost` certificate it signed, as PEM: (CA, chain, key).
fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &Issuer::new(ca_params, ca_key))
        .unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

#[test]
fn https_endpoints_use_tls_and_trust_the_given_certificate() {
    let (ca, chain, key) = certificates();
    let sink = GrpcSink::start_tls(&chain, &key);
    let url = format!("https://localhost:{}", sink.addr.port());
    let items = one_ended_span("over tls");

    let untrusting = exporter(&url, Compression::None).build().unwrap();
    assert!(
        matches!(
            untrusting.export(&Batch::new(&items, b"")),
            Err(ExportError::Transient { .. })
        ),
        "a certificate from an unknown CA is refused"
    );
    assert!(sink.received().is_empty());

    let dir = std::env::temp_dir().join(format!("sgp-trace-otel-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, &ca).unwrap();
    let trusting = OtlpExporterBuilder::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".into()),
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(url.clone()),
        "OTEL_EXPORTER_OTLP_CERTIFICATE" => Some(ca_path.display().to_string()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("iflicensekey=secret".into()),
        _ => None,
    })
    .build()
    .unwrap();
    assert_eq!(trusting.export(&Batch::new(&items, b"")), Ok(()));
    std::fs::remove_dir_all(&dir).unwrap();
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].metadata("iflicensekey"), Some("secret"));
    assert_eq!(received[0].spans()[0].name, "over tls");

    assert!(matches!(
        OtlpExporter::builder().ca_certificate(ca).build(),
        Err(sgp_trace_otel::OtlpConfigError::InvalidCertificate(_))
    ));
}
