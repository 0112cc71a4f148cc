//! OTLP export throughput (spans/s) of `OtlpExporter` over HTTP and gRPC, beside the
//! OpenTelemetry SDK's `opentelemetry-otlp` exporter fed the same spans, in the same run, to
//! the same loopback receivers that discard what they get.
//!
//! ```text
//! cargo bench -p sgp-trace-otel --bench otlp_throughput
//! ```
//!
//! Each exporter gets its native input: `OtlpExporter` a batch of SGP span items (it maps
//! them to OTLP as part of the export), `opentelemetry-otlp` `SpanData` carrying the very
//! attributes that mapping produces, so both put the same spans on the wire. Calls alternate
//! between the exporters (both meet the same load); the table reports the median round. `OTLP_BENCH_ROUNDS`
//! and `OTLP_BENCH_BATCHES` change the run's length.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter, SpanLinks};
use serde_json::json;
use sgp_trace::{Batch, Exporter, Id, JsonObject, SpanItem, SpanStatus, SpanType, Timestamp};
use sgp_trace_otel::opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use sgp_trace_otel::opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use sgp_trace_otel::opentelemetry_proto::tonic::common::v1::any_value;
use sgp_trace_otel::{map_span, otlp_span_id, otlp_trace_id, OtlpExporter, Protocol};

/// Spans per export call: the SDK's default batch size.
const BATCH: usize = 512;

fn main() {
    let rounds = setting("OTLP_BENCH_ROUNDS", 7);
    let batches = setting("OTLP_BENCH_BATCHES", 40);
    let items = span_items(BATCH);
    let span_data: Vec<SpanData> = items.iter().map(to_span_data).collect();

    let http = discarding_http_receiver();
    let grpc = discarding_grpc_receiver();
    let sdk_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    println!(
        "OTLP export, {BATCH} spans per call, {batches} calls per round, median of {rounds} rounds"
    );
    println!("| transport | sgp-trace-otel | opentelemetry-otlp | ratio |");
    println!("|---|---|---|---|");
    for (transport, protocol, url) in [
        ("HTTP/protobuf", Protocol::HttpProtobuf, http.clone()),
        ("gRPC", Protocol::Grpc, grpc.clone()),
    ] {
        let ours = OtlpExporter::builder()
            .protocol(protocol)
            .endpoint(&url)
            .build()
            .unwrap();
        let theirs = {
            let _entered = sdk_runtime.enter();
            match protocol {
                Protocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_endpoint(format!("{url}/v1/traces"))
                    .build(),
                Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(&url)
                    .build(),
            }
            .unwrap()
        };
        let mut ours_rates = Vec::new();
        let mut theirs_rates = Vec::new();
        // One warm-up round each, not counted: connections, first allocations.
        for round in 0..=rounds {
            let batch = Batch::new(&items, b"");
            let inputs: Vec<Vec<SpanData>> = (0..batches).map(|_| span_data.clone()).collect();
            // Calls alternate, so both exporters meet the same machine load.
            let (mut ours_time, mut theirs_time) = (Duration::ZERO, Duration::ZERO);
            for input in inputs {
                let started = Instant::now();
                ours.export(&batch).expect("the receiver accepts");
                ours_time += started.elapsed();
                let started = Instant::now();
                sdk_runtime
                    .block_on(theirs.export(input))
                    .expect("the receiver accepts");
                theirs_time += started.elapsed();
            }
            if round > 0 {
                ours_rates.push(rate(batches, ours_time));
                theirs_rates.push(rate(batches, theirs_time));
            }
        }
        let ours = median(&mut ours_rates);
        let theirs = median(&mut theirs_rates);
        println!(
            "| {transport} | {ours:.0} spans/s | {theirs:.0} spans/s | {:.2}x |",
            ours / theirs
        );
    }
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|value| *value > 0)
        .unwrap_or(default)
}

fn rate(batches: usize, elapsed: Duration) -> f64 {
    (batches * BATCH) as f64 / elapsed.as_secs_f64()
}

fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// Ended spans shaped like an agent's: one trace, a root and children with input, output
/// and a few metadata entries.
fn span_items(count: usize) -> Vec<SpanItem> {
    let trace_id = Id::random();
    let root = Id::random();
    (0..count)
        .map(|index| {
            let id = if index == 0 {
                root.clone()
            } else {
                Id::random()
            };
            let start = 1_700_000_000_000_000_000 + index as u64 * 1_000;
            let mut metadata = serde_json::Map::new();
            metadata.insert("step".into(), json!(index));
            metadata.insert("model".into(), json!("gpt-4o"));
            metadata.insert("cached".into(), json!(index % 2 == 0));
            SpanItem {
                name: format!("step {}", index % 16).into(),
                trace_id: trace_id.clone(),
                id,
                parent_id: (index > 0).then(|| root.clone()),
                group_id: None,
                start_timestamp: Timestamp::from_nanos(start),
                end_timestamp: Some(Timestamp::from_nanos(start + 750_000)),
                status: Some(SpanStatus::Success),
                span_type: SpanType::Custom,
                input: Some(JsonObject::new(
                    &json!({"question": "What is SGP?", "top_k": 3}),
                )),
                output: Some(JsonObject::new(
                    &json!({"answer": "Scale's GenAI platform.", "documents": ["doc-1", "doc-2"]}),
                )),
                metadata: Some(Arc::new(metadata)),
                observability: None,
            }
        })
        .collect()
}

/// The SDK's form of the span `map_span` makes of `item`: same ids, times and attributes.
fn to_span_data(item: &SpanItem) -> SpanData {
    let mapped = map_span(item).expect("an ended span");
    let attributes = mapped
        .attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|value| value.value.as_ref()) {
                Some(any_value::Value::StringValue(text)) => Value::from(text.clone()),
                Some(any_value::Value::BoolValue(flag)) => Value::from(*flag),
                Some(any_value::Value::IntValue(number)) => Value::from(*number),
                Some(any_value::Value::DoubleValue(number)) => Value::from(*number),
                other => Value::from(format!("{other:?}")),
            };
            KeyValue::new(kv.key.clone(), value)
        })
        .collect();
    let nanos =
        |timestamp: Timestamp| SystemTime::UNIX_EPOCH + Duration::from_nanos(timestamp.as_nanos());
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(otlp_trace_id(&item.trace_id).to_be_bytes()),
            SpanId::from_bytes(otlp_span_id(&item.id).to_be_bytes()),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: item
            .parent_id
            .as_ref()
            .map(|parent| SpanId::from_bytes(otlp_span_id(parent).to_be_bytes()))
            .unwrap_or(SpanId::INVALID),
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Owned(item.name.to_string()),
        start_time: nanos(item.start_timestamp),
        end_time: nanos(item.end_timestamp.expect("an ended span")),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Ok,
        instrumentation_scope: InstrumentationScope::builder("sgp-trace").build(),
    }
}

/// An OTLP/HTTP receiver (hyper) that reads each request's body and answers 200 without
/// decoding it. Like the gRPC receiver, one thread serves every connection, so both
/// exporters wait on the same thread for their answers.
fn discarding_http_receiver() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        receiver_runtime().block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let answer = hyper::service::service_fn(|request| async move {
                        let body = http_body_util::BodyExt::collect(request.into_body()).await?;
                        drop(body);
                        let answer = hyper::Response::builder()
                            .header("content-type", "application/x-protobuf")
                            .body(http_body_util::Empty::<bytes::Bytes>::new());
                        Ok::<_, hyper::Error>(answer.unwrap())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), answer)
                        .await;
                });
            }
        });
    });
    url
}

fn receiver_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[derive(Default)]
struct Discard;

#[tonic::async_trait]
impl TraceService for Discard {
    async fn export(
        &self,
        _request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC receiver (tonic) that decodes each request, as gRPC must, and drops it.
fn discarding_grpc_receiver() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        receiver_runtime().block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            // Answers go out at once (no Nagle delay waiting on the client's delayed ACK).
            let incoming = tokio_stream::StreamExt::map(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                |stream| {
                    stream.inspect(|stream| {
                        let _ = stream.set_nodelay(true);
                    })
                },
            );
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(Discard))
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
    });
    url
}
