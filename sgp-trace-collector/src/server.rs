//! The HTTP server: an accept loop serving HTTP/1.1 connections with hyper, a
//! front layer that reads bodies, logs requests and injects faults, and the
//! axum router behind it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::error::ApiError;
use crate::faults::Faults;
use crate::store::Store;

/// How much of a too-large body is read (and dropped) before the 413 is sent.
const DRAIN_LIMIT: usize = 256 * 1024 * 1024;

/// One request the collector received, as logged by [`crate::Collector::requests`].
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// HTTP method, e.g. `"PUT"`.
    pub method: String,
    /// Request path without the query string, e.g. `"/v5/spans/batch"`.
    pub path: String,
    /// The status answered; `0` when the connection was closed without an answer.
    pub status: u16,
    /// Whether the connection was dropped without an answer (a `close_next` fault).
    pub closed: bool,
    /// Number of items in a batch body (`{"items": [...]}`), when it parsed.
    pub item_count: Option<usize>,
    /// Size of the request body in bytes.
    pub body_bytes: usize,
    /// The `x-selected-account-id` header, if any.
    pub account_id: Option<String>,
    /// When the request head was received.
    pub received_at: Instant,
}

/// State shared by the server, its handlers and the [`crate::Collector`] handle.
pub(crate) struct Shared {
    pub store: Store,
    pub faults: Faults,
    pub log: Mutex<VecDeque<RequestRecord>>,
    pub log_capacity: usize,
    pub api_key: Option<String>,
    pub max_body_bytes: usize,
}

impl Shared {
    pub fn record(&self, r: RequestRecord) {
        let mut log = self.log.lock().expect("request log lock");
        if self.log_capacity > 0 && log.len() >= self.log_capacity {
            log.pop_front();
        }
        log.push_back(r);
    }
}

/// Item count a handler found in a batch body, passed to the request log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ItemCount(pub usize);

/// The error a connection is dropped with (a `close_next` fault, or a body that
/// could not be read).
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

fn is_span_write(method: &Method, path: &str) -> bool {
    (method == Method::PUT && path == "/v5/spans/batch")
        || (method == Method::POST && (path == "/v5/spans/batch" || path == "/v5/spans"))
        || (method == Method::PATCH && path.starts_with("/v5/spans/"))
}

fn count_items(body: &[u8]) -> Option<usize> {
    #[derive(serde::Deserialize)]
    struct Batch {
        items: Vec<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Batch>(body)
        .ok()
        .map(|b| b.items.len())
}

async fn handle(
    shared: Arc<Shared>,
    router: Router,
    req: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let received_at = Instant::now();
    let path = req.uri().path().to_owned();
    if !path.starts_with("/v5/") {
        let resp = router
            .oneshot(req.map(Body::new))
            .await
            .unwrap_or_else(|e: Infallible| match e {});
        return Ok(resp);
    }
    let method = req.method().clone();
    let account_id = req
        .headers()
        .get("x-selected-account-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let record = |status: u16, closed: bool, item_count: Option<usize>, body_bytes: usize| {
        shared.record(RequestRecord {
            method: method.to_string(),
            path: path.clone(),
            status,
            closed,
            item_count,
            body_bytes,
            account_id: account_id.clone(),
            received_at,
        })
    };

    let (parts, body) = req.into_parts();
    let limit = shared.max_body_bytes;
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is over {limit} bytes: send smaller batches"),
        )
        .field("body")
    };
    // Read the body; past the limit keep reading (and dropping) up to
    // DRAIN_LIMIT so that the client, still sending, gets to read the 413.
    let mut body = body;
    let mut over = declared.is_some_and(|n| n > limit as u64);
    let mut buf: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            record(0, true, None, total);
            return Err(DropConnection);
        };
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total > limit && !over {
                over = true;
                buf = Vec::new();
            }
            if !over {
                buf.extend_from_slice(&data);
            } else if total > DRAIN_LIMIT {
                break;
            }
        }
    }
    if over {
        record(413, false, None, total);
        let mut resp = too_large().into_response();
        resp.headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
        return Ok(resp);
    }
    let bytes = axum::body::Bytes::from(buf);
    let body_bytes = bytes.len();

    let delay = shared.faults.current_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if shared.faults.take_close() {
        record(0, true, count_items(&bytes), body_bytes);
        return Err(DropConnection);
    }
    if is_span_write(&method, &path) {
        if let Some(f) = shared.faults.take_failure() {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut err = ApiError::new(
                status,
                "injected_fault",
                format!("fault injected by the collector: {}", f.status),
            );
            err.retry_after_secs = f
                .retry_after
                .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
            record(status.as_u16(), false, count_items(&bytes), body_bytes);
            return Ok(err.into_response());
        }
    }

    let req = Request::from_parts(parts, Body::from(bytes));
    let resp = router
        .oneshot(req)
        .await
        .unwrap_or_else(|e: Infallible| match e {});
    let item_count = resp.extensions().get::<ItemCount>().map(|c| c.0);
    record(resp.status().as_u16(), false, item_count, body_bytes);
    Ok(resp)
}

/// Serves `router` on `listener` until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    log::warn!("sgp-trace-collector: accept failed: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let router = router.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req| handle(shared.clone(), router.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}
