//! A minimal OTLP/HTTP receiver on loopback for the tests: it decodes every request,
//! answers with scripted statuses, and can hold its answers until released.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use sgp_trace_otel::opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use sgp_trace_otel::opentelemetry_proto::tonic::common::v1::any_value::Value;
use sgp_trace_otel::opentelemetry_proto::tonic::trace::v1::Span;
use sgp_trace_otel::{FanOutExporter, OtlpExporter};

/// A fan-out to the collector (as `account`) and to the sink, each with default settings.
pub fn fan_out(
    collector: &sgp_trace_collector::Collector,
    account: &str,
    sink: &OtlpSink,
) -> FanOutExporter {
    let sgp = sgp_trace::Config::builder()
        .base_url(collector.base_url())
        .credentials("key", account)
        .build()
        .unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(&sink.base_url)
        .build()
        .unwrap();
    FanOutExporter::builder()
        .exporter("sgp", sgp_trace::HttpExporter::new(&sgp))
        .exporter("otlp", otlp)
        .build()
}

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub request: ExportTraceServiceRequest,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn spans(&self) -> Vec<Span> {
        self.request
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .flat_map(|scope| scope.spans.clone())
            .collect()
    }
}

/// What the sink answers.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<u32>,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Answers for the next requests, then 200.
    script: VecDeque<Answer>,
    /// Answer this to requests holding a span of this name (a "poisoned" span).
    refuse_span: Option<(String, u16)>,
    held: bool,
    /// Requests that arrived (whether answered or held).
    arrived: usize,
}

#[derive(Clone)]
pub struct OtlpSink {
    state: Arc<(Mutex<State>, Condvar)>,
    pub base_url: String,
}

impl OtlpSink {
    pub fn start() -> OtlpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let sink = OtlpSink {
            state: Arc::new((Mutex::new(State::default()), Condvar::new())),
            base_url,
        };
        let serving = sink.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let connection = serving.clone();
                std::thread::spawn(move || connection.serve(stream));
            }
        });
        sink
    }

    /// Answers the next requests with these, then 200.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.lock().script.extend(answers);
    }

    /// Answers `status` to every request holding a span named `name`.
    pub fn refuse_span(&self, name: &str, status: u16) {
        self.lock().refuse_span = Some((name.to_owned(), status));
    }

    /// Holds every answer until [`release`](Self::release).
    pub fn hold(&self) {
        self.lock().held = true;
    }

    pub fn release(&self) {
        self.lock().held = false;
        self.state.1.notify_all();
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    pub fn arrived(&self) -> usize {
        self.lock().arrived
    }

    /// Every span of every accepted request.
    pub fn spans(&self) -> Vec<Span> {
        self.received().iter().flat_map(Received::spans).collect()
    }

    /// Waits until `n` spans were accepted or `timeout` passes; returns the spans then.
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<Span> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if spans.len() >= n || Instant::now() >= deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until `n` requests arrived or `timeout` passes.
    pub fn wait_for_arrivals(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let arrived = self.arrived();
            if arrived >= n || Instant::now() >= deadline {
                return arrived;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.0.lock().unwrap()
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        loop {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                return;
            }
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.push((name.trim().to_lowercase(), value.trim().to_owned()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(name, _)| name == "content-length")
                .and_then(|(_, value)| value.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let answer = self.answer(headers, &body);
            let mut response = format!(
                "HTTP/1.1 {} X\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n",
                answer.status
            );
            if let Some(seconds) = answer.retry_after {
                response.push_str(&format!("retry-after: {seconds}\r\n"));
            }
            response.push_str("\r\n");
            if writer.write_all(response.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn answer(&self, headers: Vec<(String, String)>, body: &[u8]) -> Answer {
        let gzipped = headers
            .iter()
            .any(|(name, value)| name == "content-encoding" && value == "gzip");
        let mut unpacked = Vec::new();
        let body = if gzipped {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut unpacked)
                .expect("a valid gzip body");
            &unpacked[..]
        } else {
            body
        };
        let request = ExportTraceServiceRequest::decode(body).expect("a valid OTLP request");
        let received = Received { headers, request };
        let mut state = self.lock();
        state.arrived += 1;
        while state.held {
            state = self.state.1.wait(state).unwrap();
        }
        if let Some((name, status)) = &state.refuse_span {
            if received.spans().iter().any(|span| &span.name == name) {
                return Answer {
                    status: *status,
                    retry_after: None,
                };
            }
        }
        let answer = state.script.pop_front().unwrap_or(Answer {
            status: 200,
            retry_after: None,
        });
        if answer.status == 200 {
            state.received.push(received);
        }
        answer
    }
}

/// The attribute `key` of a span.
pub fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

/// The string attribute `key` of a span; panics when missing or of another type.
pub fn text<'a>(span: &'a Span, key: &str) -> &'a str {
    match attribute(span, key) {
        Some(Value::StringValue(text)) => text,
        other => panic!("attribute {key} of {}: {other:?}", span.name),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
