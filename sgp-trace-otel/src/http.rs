//! OTLP over HTTP/protobuf, with a blocking client that lives on the export thread.

use std::io::Write;

use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use sgp_trace::ExportError;
use ureq::http::{HeaderMap, StatusCode};

use crate::mapping::report_partial_success;
use crate::settings::{Compression, OtlpConfigError, TransportSettings, MAX_RETRY_DELAY};

/// How much of an error body is kept in a reason.
const MAX_REASON_CHARS: usize = 500;

/// Posts requests to one URL.
pub(crate) struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
    compression: Compression,
}

impl HttpTransport {
    pub(crate) fn new(settings: TransportSettings) -> Result<HttpTransport, OtlpConfigError> {
        for (name, value) in &settings.headers {
            let valid = ureq::http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && ureq::http::HeaderValue::from_str(value).is_ok();
            if !valid {
                return Err(OtlpConfigError::InvalidHeader(name.clone()));
            }
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(settings.timeout))
            .user_agent(concat!("sgp-trace-otel/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(HttpTransport {
            agent: config.into(),
            url: settings.url,
            headers: settings.headers,
            compression: settings.compression,
        })
    }

    /// Posts an encoded `ExportTraceServiceRequest`.
    pub(crate) fn send(&self, request: Vec<u8>) -> Result<(), ExportError> {
        let mut call = self
            .agent
            .post(&self.url)
            .content_type("application/x-protobuf");
        for (name, value) in &self.headers {
            call = call.header(name, value);
        }
        let body = match self.compression {
            Compression::None => request,
            Compression::Gzip => {
                call = call.header("content-encoding", "gzip");
                gzip(&request)
            }
        };
        let mut response = match call.send(&body[..]) {
            Ok(response) => response,
            Err(error) => {
                return Err(ExportError::Transient {
                    reason: format!("OTLP {}: {error}", self.url),
                    retry_after: None,
                })
            }
        };
        let status = response.status();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        if status.is_success() {
            if let Ok(answer) = ExportTraceServiceResponse::decode(&bytes[..]) {
                report_partial_success(&answer);
            }
            return Ok(());
        }
        Err(classify(status, response.headers(), &bytes))
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// What a failed answer means for the batch, per the OTLP/HTTP specification.
fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ExportError {
    let reason = describe(status, body);
    match status.as_u16() {
        401 | 403 => ExportError::Unauthorized { reason },
        413 => ExportError::TooLarge { reason },
        400 => ExportError::Rejected { reason },
        408 | 429 | 502 | 503 | 504 => ExportError::Transient {
            reason,
            retry_after: retry_after(headers),
        },
        _ => ExportError::Failed { reason },
    }
}

fn describe(status: StatusCode, body: &[u8]) -> String {
    // OTLP errors are a protobuf `google.rpc.Status`, or text from proxies; keep what reads.
    let text = String::from_utf8_lossy(body);
    let printable: String = text
        .chars()
        .filter(|c| !c.is_control() || *c == ' ')
        .take(MAX_REASON_CHARS)
        .collect();
    let printable = printable.trim();
    if printable.is_empty() {
        format!("OTLP HTTP {status}")
    } else {
        format!("OTLP HTTP {status}: {printable}")
    }
}

fn retry_after(headers: &HeaderMap) -> Option<std::time::Duration> {
    let seconds: f64 = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (0.0..=MAX_RETRY_DELAY.as_secs_f64())
        .contains(&seconds)
        .then(|| std::time::Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn classifies_statuses_per_the_otlp_specification() {
        let none = HeaderMap::new();
        let class = |code: u16| classify(StatusCode::from_u16(code).unwrap(), &none, b"");
        for code in [408, 429, 502, 503, 504] {
            assert!(
                matches!(class(code), ExportError::Transient { .. }),
                "{code}"
            );
        }
        assert!(matches!(class(400), ExportError::Rejected { .. }));
        assert!(matches!(class(401), ExportError::Unauthorized { .. }));
        assert!(matches!(class(403), ExportError::Unauthorized { .. }));
        assert!(matches!(class(413), ExportError::TooLarge { .. }));
        assert!(matches!(class(404), ExportError::Failed { .. }));
        assert!(matches!(class(500), ExportError::Failed { .. }));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &headers, b"slow down"),
            ExportError::Transient {
                reason: "OTLP HTTP 429 Too Many Requests: slow down".into(),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let body = b"spans spans spans spans spans".repeat(10);
        let packed = gzip(&body);
        assert!(packed.len() < body.len());
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, body);
    }
}
