//! A real OTLP/gRPC receiver on loopback for the tests (tonic's server and the generated
//! `TraceService`): it records every request with its metadata, answers scripted statuses,
//! and can start late on a port chosen before, to play a backend that is down then up.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sgp_trace_otel::opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use sgp_trace_otel::opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use sgp_trace_otel::opentelemetry_proto::tonic::trace::v1::Span;
use tonic::codec::CompressionEncoding;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One request the receiver accepted.
#[derive(Debug, Clone)]
pub struct GrpcReceived {
    pub metadata: Vec<(String, String)>,
    pub request: ExportTraceServiceRequest,
}

impl GrpcReceived {
    pub fn metadata(&self, name: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(key, _)| key == name)
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

/// A scripted failure: the code, and the delay of a `RetryInfo` detail when given.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    pub code: Code,
    pub retry_delay: Option<Duration>,
}

#[derive(Default)]
struct State {
    received: Vec<GrpcReceived>,
    script: VecDeque<Failure>,
    arrived: usize,
    /// How long each answer waits.
    delay: Duration,
}

#[derive(Clone, Default)]
struct Service {
    state: Arc<Mutex<State>>,
}

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let metadata = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or("<binary>").to_owned(),
                )
            })
            .collect();
        let delay = {
            let mut state = self.state.lock().unwrap();
            state.arrived += 1;
            state.delay
        };
        tokio::time::sleep(delay).await;
        let mut state = self.state.lock().unwrap();
        if let Some(failure) = state.script.pop_front() {
            return Err(match failure.retry_delay {
                Some(delay) => Status::with_error_details(
                    failure.code,
                    "scripted",
                    ErrorDetails::with_retry_info(Some(delay)),
                ),
                None => Status::new(failure.code, "scripted"),
            });
        }
        state.received.push(GrpcReceived {
            metadata,
            request: request.into_inner(),
        });
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The receiver; it stops when dropped.
pub struct GrpcSink {
    service: Service,
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GrpcSink {
    /// A receiver on a free loopback port, serving now.
    pub fn start() -> GrpcSink {
        GrpcSink::start_on(free_port())
    }

    /// A receiver on `port`, serving once it is bound (this returns then).
    pub fn start_on(port: u16) -> GrpcSink {
        GrpcSink::serve(port, None)
    }

    /// A receiver over TLS with this certificate chain and key (PEM), on a free port.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> GrpcSink {
        let identity = tonic::transport::Identity::from_pem(cert_pem, key_pem);
        GrpcSink::serve(free_port(), Some(identity))
    }

    fn serve(port: u16, identity: Option<tonic::transport::Identity>) -> GrpcSink {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let service = Service::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, is_bound) = std::sync::mpsc::channel();
        let serving = service.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
                bound.send(()).unwrap();
                let server =
                    TraceServiceServer::new(serving).accept_compressed(CompressionEncoding::Gzip);
                let mut builder = tonic::transport::Server::builder();
                if let Some(identity) = identity {
                    builder = builder
                        .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                        .unwrap();
                }
                builder
                    .add_service(server)
                    .serve_with_incoming_shutdown(
                        tokio_stream::wrappers::TcpListenerStream::new(listener),
                        async {
                            let _ = stopped.await;
                        },
                    )
                    .await
                    .unwrap();
            });
        });
        is_bound.recv().expect("the receiver binds its port");
        GrpcSink {
            service,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Fails the next requests with these, then accepts.
    pub fn script(&self, failures: impl IntoIterator<Item = Failure>) {
        self.service.state.lock().unwrap().script.extend(failures);
    }

    /// Makes every answer wait this long.
    pub fn delay_answers(&self, delay: Duration) {
        self.service.state.lock().unwrap().delay = delay;
    }

    pub fn received(&self) -> Vec<GrpcReceived> {
        self.service.state.lock().unwrap().received.clone()
    }

    pub fn arrived(&self) -> usize {
        self.service.state.lock().unwrap().arrived
    }

    pub fn spans(&self) -> Vec<Span> {
        self.received()
            .iter()
            .flat_map(GrpcReceived::spans)
            .collect()
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
}

impl Drop for GrpcSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A loopback port held without listening on it, until [`ReservedPort::release`]: a
/// connection to it is refused, as to a closed port, and no other test's server can take it
/// meanwhile (a port closed at once was free for any of them while the test waited).
pub struct ReservedPort {
    socket: socket2::Socket,
    pub port: u16,
}

impl ReservedPort {
    /// A port of its own, bound and not listening.
    pub fn new() -> ReservedPort {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let any_port: SocketAddr = ([127, 0, 0, 1], 0).into();
        socket.bind(&any_port.into()).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        ReservedPort { socket, port }
    }

    /// Lets the port go, for a server to listen on it now.
    pub fn release(self) -> u16 {
        drop(self.socket);
        self.port
    }
}

/// A loopback port nothing listens on (bound, then closed).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
