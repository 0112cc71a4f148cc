//! Library mode: a collector running on its own thread and tokio runtime.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use crate::faults::Faults;
use crate::server::{RequestRecord, Shared};
use crate::store::Store;

/// Default largest request body: 10 MiB (the Python docs advise batches under
/// 1 MB; 1000 spans of a few KiB each fit).
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// How a [`Collector`] (or the binary) is set up. Build it with the chained
/// setters from [`CollectorConfig::default`].
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub(crate) db_path: Option<PathBuf>,
    pub(crate) bind: SocketAddr,
    pub(crate) api_key: Option<String>,
    pub(crate) max_body_bytes: usize,
    pub(crate) request_log_capacity: usize,
    pub(crate) worker_threads: usize,
}

impl Default for CollectorConfig {
    /// A temporary SQLite file (deleted when the collector stops), bound to
    /// `127.0.0.1` on an ephemeral port, any non-empty credentials accepted.
    fn default() -> Self {
        CollectorConfig {
            db_path: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_log_capacity: 100_000,
            worker_threads: 2,
        }
    }
}

impl CollectorConfig {
    /// Stores spans in this SQLite file (created if missing, kept after stop).
    pub fn db_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.db_path = Some(path.into());
        self
    }

    /// Listens on this address (default `127.0.0.1:0`, an ephemeral port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Requires this `x-api-key`; requests with another key get 401.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Largest accepted request body; larger ones get 413. Default
    /// [`DEFAULT_MAX_BODY_BYTES`].
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// How many requests [`Collector::requests`] keeps (oldest dropped first;
    /// 0 keeps all). Default 100 000.
    pub fn request_log_capacity(mut self, n: usize) -> Self {
        self.request_log_capacity = n;
        self
    }

    /// Worker threads of the server's tokio runtime (default 2).
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.worker_threads = n.max(1);
        self
    }
}

/// A collector serving on its own thread with its own tokio runtime: start it
/// from plain synchronous code, send spans to [`base_url`](Collector::base_url),
/// read back what arrived. Dropping it stops the server and joins its thread.
///
/// ```
/// let collector = sgp_trace_collector::Collector::start(Default::default()).unwrap();
/// assert!(collector.base_url().starts_with("http://127.0.0.1:"));
/// assert!(collector.spans("my-account").is_empty());
/// ```
pub struct Collector {
    addr: SocketAddr,
    shared: Arc<Shared>,
    db_path: PathBuf,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    _tempdir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("addr", &self.addr)
            .field("db_path", &self.db_path)
            .finish()
    }
}

impl Collector {
    /// Opens the store, binds the listener and starts serving on a new thread.
    /// Returns once the port is bound.
    pub fn start(config: CollectorConfig) -> io::Result<Collector> {
        let (tempdir, db_path) = match &config.db_path {
            Some(p) => (None, p.clone()),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("sgp-trace-collector-")
                    .tempdir()?;
                let path = dir.path().join("spans.db");
                (Some(dir), path)
            }
        };
        let store = Store::open(&db_path).map_err(|e| {
            io::Error::other(format!(
                "sgp-trace-collector: cannot open the span store {}: {e}",
                db_path.display()
            ))
        })?;
        let shared = Arc::new(Shared {
            store,
            faults: Faults::default(),
            log: Mutex::new(Default::default()),
            log_capacity: config.request_log_capacity,
            api_key: config.api_key.clone(),
            max_body_bytes: config.max_body_bytes,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads)
            .thread_name("sgp-trace-collector")
            .thread_keep_alive(Duration::from_secs(60))
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind(config.bind)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let router = crate::api::router(shared.clone());
        let serve_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sgp-trace-collector".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(listener) => {
                            crate::server::serve(listener, serve_shared, router, shutdown_rx).await
                        }
                        Err(e) => {
                            log::error!("sgp-trace-collector: cannot register the listener: {e}")
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(2));
            })?;
        Ok(Collector {
            addr,
            shared,
            db_path,
            shutdown,
            thread: Some(thread),
            _tempdir: tempdir,
        })
    }

    /// The URL to send requests to, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The SQLite file the spans are stored in.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// All stored spans of an account as the API's Span JSON, ordered by
    /// `start_timestamp` (then trace id and id).
    ///
    /// # Panics
    /// If the SQLite file cannot be read (a test setup error).
    pub fn spans(&self, account_id: &str) -> Vec<Value> {
        self.shared
            .store
            .all_spans(account_id)
            .unwrap_or_else(|e| panic!("sgp-trace-collector: reading spans failed: {e}"))
    }

    /// Waits until the account has at least `n` spans stored, or `timeout`
    /// passes; returns the spans stored then (check the count).
    pub fn wait_for_spans(&self, account_id: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans(account_id);
            if spans.len() >= n || Instant::now() >= deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every `/v5/` request received so far (up to the log capacity), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared
            .log
            .lock()
            .expect("request log lock")
            .iter()
            .cloned()
            .collect()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.log.lock().expect("request log lock").clear();
    }

    /// The fault switches of this collector.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
