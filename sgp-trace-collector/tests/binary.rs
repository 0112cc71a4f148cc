//! The `sgp-trace-collector` binary: flags, the API and the admin endpoint.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{item, Api};
use serde_json::{json, Value};

struct Server {
    child: Child,
    url: String,
    admin: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sgp-trace-collector"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut admin) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("listening on ") {
            url = u.to_owned();
        }
        if let Some(a) = line.strip_prefix("admin on ") {
            admin = a.to_owned();
            break;
        }
    }
    assert!(
        !url.is_empty() && !admin.is_empty(),
        "the binary did not print its addresses"
    );
    Server { child, url, admin }
}

fn admin(agent: &ureq::Agent, url: &str, body: Value) -> Value {
    agent
        .post(url)
        .send_json(body)
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

#[test]
fn the_binary_serves_the_api_and_takes_faults_from_flags_and_admin() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("spans.db");
    let server = spawn(&[
        "--port",
        "0",
        "--db",
        db.to_str().unwrap(),
        "--fail-next",
        "1",
        "--retry-after",
        "3",
    ]);
    let api = Api::new(&server.url, "acct");
    let a = api.upsert(vec![item("t", "a", None, "r", 0, Some(1))]);
    assert_eq!((a.status, a.retry_after.as_deref()), (503, Some("3")));
    assert_eq!(
        api.upsert(vec![item("t", "a", None, "r", 0, Some(1))])
            .status,
        200
    );

    let agent = ureq::Agent::new_with_defaults();
    let state = admin(
        &agent,
        &format!("{}/faults/fail", server.admin),
        json!({"n": 2, "status": 429}),
    );
    assert_eq!(state["pending_failures"], 2);
    assert_eq!(
        api.upsert(vec![item("t", "b", None, "r", 0, None)]).status,
        429
    );
    admin(&agent, &format!("{}/faults/clear", server.admin), json!({}));
    assert_eq!(
        api.upsert(vec![item("t", "b", None, "r", 0, None)]).status,
        200
    );

    let log: Value = agent
        .get(format!("{}/requests", server.admin))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let statuses: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![503, 200, 429, 200]);
    assert_eq!(log[0]["item_count"], 1);

    let page = agent
        .get(format!("{}/", server.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(page.contains("<script src=\"/app.js\">"));
    drop(server);

    // The file keeps the spans for the next run.
    let again = spawn(&["--port", "0", "--db", db.to_str().unwrap()]);
    let got = Api::new(&again.url, "acct").send("GET", "/v5/spans/b", None);
    assert_eq!(got.status, 200);
}

#[test]
fn bad_flags_exit_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_sgp-trace-collector"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument"));
    let out = Command::new(env!("CARGO_BIN_EXE_sgp-trace-collector"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--fail-next"));
}
