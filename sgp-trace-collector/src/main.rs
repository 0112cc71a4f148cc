//! `sgp-trace-collector`: run the collector as a server.
//!
//! Prints `listening on http://ADDR` and `admin on http://ADDR` on standard
//! output once both ports are bound, then serves until interrupted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sgp_trace_collector::{Collector, CollectorConfig};

const USAGE: &str = "\
sgp-trace-collector: a local SGP-compatible span server with a traces page

USAGE: sgp-trace-collector [OPTIONS]

OPTIONS:
  --bind ADDR            address to listen on (default 127.0.0.1)
  --port N               port to listen on (default 8091; 0 = any free port)
  --db PATH              SQLite file (default $SGP_COLLECTOR_DB, else
                         $XDG_DATA_HOME or ~/.local/share/sgp-trace-collector/spans.db)
  --api-key KEY          require this x-api-key (default: any non-empty key)
  --max-body-bytes N     largest request body, larger gets 413 (default 10485760)
  --admin-port N         loopback port of the admin endpoint (default 0 = any free port)
  --no-admin             do not serve the admin endpoint
  --fail-next N          answer the next N span writes with --fail-status
  --fail-status S        status for --fail-next (default 503)
  --retry-after SECS     Retry-After sent with --fail-next answers
  --delay-ms MS          delay every API answer by MS milliseconds
  --close-next N         drop the connection of the next N API requests unanswered
  -h, --help             print this help
";

struct Args {
    bind: IpAddr,
    port: u16,
    db: PathBuf,
    api_key: Option<String>,
    max_body_bytes: Option<usize>,
    admin_port: Option<u16>,
    fail_next: usize,
    fail_status: u16,
    retry_after: Option<u64>,
    delay_ms: u64,
    close_next: usize,
}

fn default_db() -> PathBuf {
    if let Some(p) = std::env::var_os("SGP_COLLECTOR_DB") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    match base {
        Some(b) => b.join("sgp-trace-collector").join("spans.db"),
        None => PathBuf::from("sgp-trace-collector.db"),
    }
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut a = Args {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 8091,
        db: default_db(),
        api_key: None,
        max_body_bytes: None,
        admin_port: Some(0),
        fail_next: 0,
        fail_status: 503,
        retry_after: None,
        delay_ms: 0,
        close_next: 0,
    };
    fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse()
            .map_err(|_| format!("{flag}: not a valid value: {v:?}"))
    }
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--bind" => a.bind = num("--bind", it.next())?,
            "--port" => a.port = num("--port", it.next())?,
            "--db" => a.db = PathBuf::from(it.next().ok_or("--db needs a path")?),
            "--api-key" => a.api_key = Some(it.next().ok_or("--api-key needs a value")?),
            "--max-body-bytes" => a.max_body_bytes = Some(num("--max-body-bytes", it.next())?),
            "--admin-port" => a.admin_port = Some(num("--admin-port", it.next())?),
            "--no-admin" => a.admin_port = None,
            "--fail-next" => a.fail_next = num("--fail-next", it.next())?,
            "--fail-status" => a.fail_status = num("--fail-status", it.next())?,
            "--retry-after" => a.retry_after = Some(num("--retry-after", it.next())?),
            "--delay-ms" => a.delay_ms = num("--delay-ms", it.next())?,
            "--close-next" => a.close_next = num("--close-next", it.next())?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !(100..=599).contains(&a.fail_status) {
        return Err(format!(
            "--fail-status must be an HTTP status, got {}",
            a.fail_status
        ));
    }
    Ok(Some(a))
}

struct Admin {
    collector: Arc<Collector>,
    started: Instant,
}

#[derive(Deserialize)]
struct FailBody {
    n: usize,
    #[serde(default = "default_status")]
    status: u16,
    #[serde(default)]
    retry_after_secs: Option<u64>,
}

fn default_status() -> u16 {
    503
}

#[derive(Deserialize)]
struct DelayBody {
    ms: u64,
}

#[derive(Deserialize)]
struct CloseBody {
    n: usize,
}

fn fault_state(admin: &Admin) -> Json<Value> {
    let f = admin.collector.faults();
    Json(json!({"pending_failures": f.pending_failures(), "pending_closes": f.pending_closes()}))
}

fn admin_router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/faults", get(|State(a): State<Arc<Admin>>| async move { fault_state(&a) }))
        .route(
            "/faults/fail",
            post(|State(a): State<Arc<Admin>>, Json(b): Json<FailBody>| async move {
                if !(100..=599).contains(&b.status) {
                    return Err((StatusCode::UNPROCESSABLE_ENTITY, "status must be 100..=599"));
                }
                a.collector.faults().fail_next(b.n, b.status, b.retry_after_secs.map(Duration::from_secs));
                Ok(fault_state(&a))
            }),
        )
        .route(
            "/faults/delay",
            post(|State(a): State<Arc<Admin>>, Json(b): Json<DelayBody>| async move {
                a.collector.faults().delay(Duration::from_millis(b.ms));
                fault_state(&a)
            }),
        )
        .route(
            "/faults/close",
            post(|State(a): State<Arc<Admin>>, Json(b): Json<CloseBody>| async move {
                a.collector.faults().close_next(b.n);
                fault_state(&a)
            }),
        )
        .route(
            "/faults/clear",
            post(|State(a): State<Arc<Admin>>| async move {
                a.collector.faults().clear();
                fault_state(&a)
            }),
        )
        .route(
            "/requests",
            get(|State(a): State<Arc<Admin>>| async move {
                let list: Vec<Value> = a
                    .collector
                    .requests()
                    .iter()
                    .map(|r| {
                        json!({
                            "method": r.method, "path": r.path, "status": r.status, "closed": r.closed,
                            "item_count": r.item_count, "body_bytes": r.body_bytes, "account_id": r.account_id,
                            "received_ms": r.received_at.saturating_duration_since(a.started).as_secs_f64() * 1000.0,
                        })
                    })
                    .collect();
                Json(Value::Array(list))
            })
            .delete(|State(a): State<Arc<Admin>>| async move {
                a.collector.clear_requests();
                StatusCode::NO_CONTENT
            }),
        )
        .with_state(admin)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sgp-trace-collector: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = args.db.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!(
                "sgp-trace-collector: cannot create {}: {e}; pass --db PATH",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let mut config = CollectorConfig::default()
        .bind(SocketAddr::new(args.bind, args.port))
        .db_path(&args.db)
        .request_log_capacity(10_000);
    if let Some(k) = &args.api_key {
        config = config.api_key(k);
    }
    if let Some(n) = args.max_body_bytes {
        config = config.max_body_bytes(n);
    }
    let started = Instant::now();
    let collector = match Collector::start(config) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!(
                "sgp-trace-collector: cannot start on {}:{}: {e}",
                args.bind, args.port
            );
            return ExitCode::FAILURE;
        }
    };
    let faults = collector.faults();
    if args.fail_next > 0 {
        faults.fail_next(
            args.fail_next,
            args.fail_status,
            args.retry_after.map(Duration::from_secs),
        );
    }
    faults.delay(Duration::from_millis(args.delay_ms));
    faults.close_next(args.close_next);

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sgp-trace-collector: cannot start the admin runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        println!("listening on {}", collector.base_url());
        println!("traces page at {}/", collector.base_url());
        println!("spans stored in {}", collector.db_path().display());
        let admin = match args.admin_port {
            Some(port) => {
                let listener = match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("sgp-trace-collector: cannot bind the admin port {port}: {e}; pass --admin-port N or --no-admin");
                        return ExitCode::FAILURE;
                    }
                };
                match listener.local_addr() {
                    Ok(a) => println!("admin on http://{a}"),
                    Err(e) => eprintln!("sgp-trace-collector: admin address unknown: {e}"),
                }
                let router = admin_router(Arc::new(Admin { collector: collector.clone(), started }));
                Some(tokio::spawn(async move { axum::serve(listener, router).await }))
            }
            None => None,
        };
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("sgp-trace-collector: cannot wait for Ctrl-C: {e}");
        }
        if let Some(a) = admin {
            a.abort();
        }
        ExitCode::SUCCESS
    });
    drop(runtime);
    drop(collector);
    code
}
