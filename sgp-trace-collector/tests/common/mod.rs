//! Helpers for the integration tests: a small HTTP client over ureq.
#![allow(dead_code)]

use serde_json::{json, Value};

/// An answer: status, JSON body (Null when not JSON) and `Retry-After`.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub json: Value,
    pub retry_after: Option<String>,
}

/// A client of one collector with one set of credentials.
pub struct Api {
    pub base: String,
    pub key: Option<String>,
    pub account: Option<String>,
    agent: ureq::Agent,
}

impl Api {
    pub fn new(base: &str, account: &str) -> Api {
        Api {
            base: base.to_owned(),
            key: Some("test-key".into()),
            account: Some(account.into()),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }

    pub fn with_key(mut self, key: Option<&str>) -> Api {
        self.key = key.map(str::to_owned);
        self
    }

    pub fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Answer, ureq::Error> {
        let url = format!("{}{}", self.base, path);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(k) = &self.key {
            req = req.header("x-api-key", k);
        }
        if let Some(a) = &self.account {
            req = req.header("x-selected-account-id", a);
        }
        req = req.header("content-type", "application/json");
        let mut resp = match body {
            Some(b) => self.agent.run(req.body(b.to_vec()).unwrap())?,
            None => self.agent.run(req.body(()).unwrap())?,
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        Ok(Answer {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            retry_after,
        })
    }

    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
        self.send_raw(method, path, bytes.as_deref())
            .expect("request failed")
    }

    pub fn upsert(&self, items: Vec<Value>) -> Answer {
        self.send("PUT", "/v5/spans/batch", Some(&json!({ "items": items })))
    }

    pub fn search(&self, body: Value) -> Answer {
        self.send("POST", "/v5/spans/search", Some(&body))
    }
}

/// A span item with a start timestamp `start_s` seconds after a fixed instant.
pub fn item(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    name: &str,
    start_s: u32,
    end_s: Option<u32>,
) -> Value {
    let ts = |s: u32| format!("2024-05-01T10:{:02}:{:02}.000000Z", s / 60, s % 60);
    let mut v = json!({
        "trace_id": trace,
        "id": id,
        "name": name,
        "start_timestamp": ts(start_s),
    });
    if let Some(p) = parent {
        v["parent_id"] = json!(p);
    }
    if let Some(e) = end_s {
        v["end_timestamp"] = json!(ts(e));
        v["status"] = json!("SUCCESS");
    }
    v
}
