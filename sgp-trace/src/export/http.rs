//! The default exporter: `PUT {base}/v5/spans/batch` on the SGP API, with a blocking client
//! that lives on the export thread (never an async client without a runtime).

use std::time::Duration;

use ureq::http::{HeaderMap, StatusCode};

use crate::export::exporter::{Batch, ExportError, Exporter};

/// The longest `Retry-After` honoured as given; a longer one falls back to the backoff, as
/// the Python client does, so one odd header cannot park the export thread for an hour.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How much of an error body is kept in a warning.
const MAX_REASON_CHARS: usize = 500;

/// Where and how the HTTP exporter connects: the part of [`Config`](crate::Config) it
/// uses, held by the config as it is.
#[derive(Clone)]
pub(crate) struct Connection {
    /// The API's base URL, without a trailing slash.
    pub(crate) base_url: String,
    pub(crate) api_key: Option<String>,
    pub(crate) account_id: Option<String>,
    pub(crate) custom_headers: Vec<(String, String)>,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
}

/// Sends batches to the SGP spans API.
pub struct HttpExporter {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
}

impl HttpExporter {
    /// An exporter for a connection's base URL, credentials, headers and timeouts; public
    /// as [`HttpExporter::new`], from a whole config.
    pub(crate) fn connect(config: &Connection) -> HttpExporter {
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.request_timeout))
            .timeout_connect(Some(config.connect_timeout))
            .user_agent(concat!("sgp-trace-rust/", env!("CARGO_PKG_VERSION")))
            .build();
        let mut headers = Vec::with_capacity(config.custom_headers.len() + 2);
        if let Some(key) = &config.api_key {
            headers.push(("x-api-key".to_owned(), key.clone()));
        }
        if let Some(account) = &config.account_id {
            headers.push(("x-selected-account-id".to_owned(), account.clone()));
        }
        headers.extend(config.custom_headers.iter().cloned());
        HttpExporter {
            agent: agent_config.into(),
            url: format!("{}/v5/spans/batch", config.base_url),
            headers,
        }
    }
}

impl Exporter for HttpExporter {
    fn export(&self, batch: &Batch<'_>) -> Result<(), ExportError> {
        let mut request = self.agent.put(&self.url).content_type("application/json");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let mut response = match request.send(batch.json()) {
            Ok(response) => response,
            Err(error) => {
                return Err(ExportError::Transient {
                    reason: error.to_string(),
                    retry_after: None,
                })
            }
        };
        let status = response.status();
        // Reading the answer to its end lets the agent reuse the connection for the next
        // batch instead of opening (and, against SGP, TLS-handshaking) a new one.
        let body = response.body_mut().read_to_string().unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        Err(classify(status, response.headers(), &body))
    }
}

/// What a failed answer means for the batch, per the table in the SGP API notes.
fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> ExportError {
    let reason = describe(status, body);
    let should_retry = headers
        .get("x-should-retry")
        .and_then(|value| value.to_str().ok())
        .map(|value| value.eq_ignore_ascii_case("true"));
    match (status.as_u16(), should_retry) {
        (_, Some(false)) => ExportError::Failed { reason },
        (401 | 403, _) => ExportError::Unauthorized { reason },
        (413, _) => ExportError::TooLarge { reason },
        (408 | 429 | 500..=599, _) | (_, Some(true)) => ExportError::Transient {
            reason,
            retry_after: retry_after(headers),
        },
        (400 | 409 | 422, _) => ExportError::Rejected { reason },
        _ => ExportError::Failed { reason },
    }
}

fn describe(status: StatusCode, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return format!("HTTP {status}");
    }
    let short: String = body.chars().take(MAX_REASON_CHARS).collect();
    format!("HTTP {status}: {short}")
}

/// The wait the server asked for: `retry-after-ms`, else `Retry-After` in seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let wait = if let Some(ms) = header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok())
    {
        ms / 1000.0
    } else {
        header("retry-after").and_then(|v| v.trim().parse::<f64>().ok())?
    };
    if !(0.0..=MAX_RETRY_AFTER.as_secs_f64()).contains(&wait) {
        return None;
    }
    Some(Duration::from_secs_f64(wait))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn classifies_statuses_per_the_api_table() {
        let none = HeaderMap::new();
        assert!(matches!(
            classify(status(400), &none, ""),
            ExportError::Rejected { .. }
        ));
        assert!(matches!(
            classify(status(409), &none, ""),
            ExportError::Rejected { .. }
        ));
        assert!(matches!(
            classify(status(422), &none, ""),
            ExportError::Rejected { .. }
        ));
        assert!(matches!(
            classify(status(413), &none, ""),
            ExportError::TooLarge { .. }
        ));
        assert!(matches!(
            classify(status(401), &none, ""),
            ExportError::Unauthorized { .. }
        ));
        assert!(matches!(
            classify(status(403), &none, ""),
            ExportError::Unauthorized { .. }
        ));
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(matches!(
                classify(status(code), &none, ""),
                ExportError::Transient { .. }
            ));
        }
        assert!(matches!(
            classify(status(404), &none, ""),
            ExportError::Failed { .. }
        ));
    }

    #[test]
    fn honours_retry_after_and_should_retry() {
        let err = classify(status(503), &headers(&[("retry-after", "2")]), "");
        assert_eq!(
            err,
            ExportError::Transient {
                reason: "HTTP 503 Service Unavailable".into(),
                retry_after: Some(Duration::from_secs(2))
            }
        );
        let err = classify(
            status(429),
            &headers(&[("retry-after-ms", "250"), ("retry-after", "9")]),
            "",
        );
        assert!(
            matches!(err, ExportError::Transient { retry_after: Some(d), .. } if d == Duration::from_millis(250))
        );
        let err = classify(status(503), &headers(&[("retry-after", "3600")]), "");
        assert!(matches!(
            err,
            ExportError::Transient {
                retry_after: None,
                ..
            }
        ));
        let err = classify(status(503), &headers(&[("x-should-retry", "false")]), "");
        assert!(matches!(err, ExportError::Failed { .. }));
        let err = classify(status(409), &headers(&[("x-should-retry", "true")]), "");
        assert!(matches!(err, ExportError::Transient { .. }));
    }

    #[test]
    fn reason_keeps_the_server_message() {
        let err = classify(
            status(409),
            &HeaderMap::new(),
            r#"{"detail":"parent in another trace"}"#,
        );
        assert!(err.to_string().contains("parent in another trace"), "{err}");
    }
}
