//! The OTLP exporter: SGP spans as OTLP/HTTP protobuf, with a blocking client that lives
//! on the export thread.

use std::fmt;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use sgp_trace::{Batch, ExportError, Exporter};
use ureq::http::{HeaderMap, StatusCode};

use crate::attributes::push;
use crate::mapping;

/// Where spans go when nothing is configured: a local OpenTelemetry Collector.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

/// The path OTLP/HTTP receivers take traces on.
pub const TRACES_PATH: &str = "/v1/traces";

/// The request timeout when neither the builder nor `OTEL_EXPORTER_OTLP_TIMEOUT` sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest `Retry-After` honoured as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How much of an error body is kept in a reason.
const MAX_REASON_CHARS: usize = 500;

/// Sends batches of SGP spans as OTLP over HTTP/protobuf (`POST {endpoint}/v1/traces`,
/// `Content-Type: application/x-protobuf`), to an OpenTelemetry Collector or any OTLP
/// backend. Only ended spans are sent; see [`map_span`](crate::map_span) for why and the
/// crate docs for the mapping.
///
/// Answers map onto [`ExportError`] as the OTLP specification says: 429, 502, 503, 504 and
/// 408 are retried (honouring `Retry-After`), as are connection failures and timeouts; 401
/// and 403 are [`ExportError::Unauthorized`], 413 [`ExportError::TooLarge`], 400
/// [`ExportError::Rejected`] (the batch is split to find the span at fault), anything else
/// [`ExportError::Failed`]. A partial success (some spans rejected) is logged and not
/// retried.
///
/// ```no_run
/// use sgp_trace_otel::OtlpExporter;
/// let exporter = OtlpExporter::builder()
///     .endpoint("http://127.0.0.1:4318")
///     .header("x-license-key", "...")
///     .service_name("my-agent")
///     .build()
///     .unwrap();
/// let _guard = sgp_trace::init(sgp_trace::Config::builder().exporter(exporter).build().unwrap());
/// ```
pub struct OtlpExporter {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
    resource: Resource,
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("url", &self.url)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl OtlpExporter {
    /// A builder with the defaults, ignoring the environment.
    pub fn builder() -> OtlpExporterBuilder {
        OtlpExporterBuilder::default()
    }

    /// The exporter the standard `OTEL_*` variables describe (see
    /// [`OtlpExporterBuilder::from_env`]).
    pub fn from_env() -> Result<OtlpExporter, OtlpConfigError> {
        OtlpExporterBuilder::from_env().build()
    }

    /// The URL spans are posted to.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Exporter for OtlpExporter {
    fn export(&self, batch: &Batch<'_>) -> Result<(), ExportError> {
        let Some(request) = mapping::request(batch.items(), &self.resource) else {
            return Ok(());
        };
        let body = request.encode_to_vec();
        let mut call = self
            .agent
            .post(&self.url)
            .content_type("application/x-protobuf");
        for (name, value) in &self.headers {
            call = call.header(name, value);
        }
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
            report_partial_success(&bytes);
            return Ok(());
        }
        Err(classify(status, response.headers(), &bytes))
    }
}

fn report_partial_success(body: &[u8]) {
    let Ok(answer) = ExportTraceServiceResponse::decode(body) else {
        return;
    };
    if let Some(partial) = answer.partial_success {
        if partial.rejected_spans > 0 || !partial.error_message.is_empty() {
            log::warn!(
                "sgp-trace-otel: the OTLP backend rejected {} span(s): {}; they are not retried, \
                 check the backend's limits",
                partial.rejected_spans,
                partial.error_message
            );
        }
    }
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

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (0.0..=MAX_RETRY_AFTER.as_secs_f64())
        .contains(&seconds)
        .then(|| Duration::from_secs_f64(seconds))
}

/// Why an [`OtlpExporterBuilder`] could not build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtlpConfigError {
    /// The endpoint is not an `http://` or `https://` URL.
    InvalidEndpoint(String),
    /// A header entry is not `name=value`.
    InvalidHeader(String),
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` asks for a protocol this exporter does not speak.
    UnsupportedProtocol(String),
    /// `OTEL_EXPORTER_OTLP_TIMEOUT` is not a number of milliseconds.
    InvalidTimeout(String),
}

impl fmt::Display for OtlpConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtlpConfigError::InvalidEndpoint(url) => {
                write!(f, "OTLP endpoint {url:?} is not an http:// or https:// URL")
            }
            OtlpConfigError::InvalidHeader(entry) => {
                write!(f, "OTLP header {entry:?} is not name=value")
            }
            OtlpConfigError::UnsupportedProtocol(protocol) => write!(
                f,
                "OTLP protocol {protocol:?} is not supported: sgp-trace-otel sends http/protobuf \
                 (point it at the receiver's HTTP port, 4318 by default)"
            ),
            OtlpConfigError::InvalidTimeout(value) => {
                write!(f, "OTLP timeout {value:?} is not a number of milliseconds")
            }
        }
    }
}

impl std::error::Error for OtlpConfigError {}

/// Settings of an [`OtlpExporter`]. Setters win over what [`from_env`](Self::from_env)
/// read.
#[derive(Debug, Clone, Default)]
pub struct OtlpExporterBuilder {
    endpoint: Option<String>,
    traces_endpoint: Option<String>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    service_name: Option<String>,
    service_version: Option<String>,
    resource: Vec<(String, String)>,
    error: Option<OtlpConfigError>,
}

impl OtlpExporterBuilder {
    /// Settings from the standard OpenTelemetry variables:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the full URL spans are posted to, used as it is |
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT` | the base URL; `/v1/traces` is appended (default `http://localhost:4318`) |
    /// | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS` | `name=value,name2=value2`, values percent-decoded; the traces list wins on a shared name |
    /// | `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` | request timeout in milliseconds (default 10000) |
    /// | `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` | must be `http/protobuf` when set |
    /// | `OTEL_SERVICE_NAME` | resource `service.name` |
    /// | `OTEL_RESOURCE_ATTRIBUTES` | more resource attributes, `key=value,...` |
    pub fn from_env() -> OtlpExporterBuilder {
        OtlpExporterBuilder::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup` (for tests and
    /// for configuration kept elsewhere).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> OtlpExporterBuilder {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut builder = OtlpExporterBuilder {
            endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            traces_endpoint: get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            service_name: get("OTEL_SERVICE_NAME"),
            ..OtlpExporterBuilder::default()
        };
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            if let Some(list) = get(name) {
                match parse_pairs(&list) {
                    Ok(pairs) => {
                        for (key, value) in pairs {
                            builder = builder.header(key, value);
                        }
                    }
                    Err(error) => builder.error = Some(error),
                }
            }
        }
        let timeout =
            get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT").or_else(|| get("OTEL_EXPORTER_OTLP_TIMEOUT"));
        if let Some(millis) = timeout {
            match millis.trim().parse::<u64>() {
                Ok(millis) => builder.timeout = Some(Duration::from_millis(millis)),
                Err(_) => builder.error = Some(OtlpConfigError::InvalidTimeout(millis)),
            }
        }
        let protocol = get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"));
        if let Some(protocol) = protocol {
            if protocol.trim() != "http/protobuf" {
                builder.error = Some(OtlpConfigError::UnsupportedProtocol(protocol));
            }
        }
        if let Some(list) = get("OTEL_RESOURCE_ATTRIBUTES") {
            match parse_pairs(&list) {
                Ok(pairs) => builder.resource.extend(pairs),
                Err(error) => builder.error = Some(error),
            }
        }
        builder
    }

    /// The receiver's base URL (`http://host:4318`); spans go to `{endpoint}/v1/traces`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self.traces_endpoint = None;
        self
    }

    /// The full URL spans are posted to, used as it is.
    pub fn traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.traces_endpoint = Some(url.into());
        self
    }

    /// Adds a header sent with every request (authentication, tenant, project); replaces
    /// one of the same name.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers
            .retain(|(existing, _)| !existing.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// The time one request may take, connection included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The resource's `service.name` (default: `OTEL_SERVICE_NAME`, else
    /// `unknown_service:<executable>` as the OpenTelemetry specification says).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The resource's `service.version`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// Adds a resource attribute (`deployment.environment.name`, ...).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// The exporter; fails on a bad endpoint, header, timeout or protocol.
    pub fn build(self) -> Result<OtlpExporter, OtlpConfigError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let url = match (self.traces_endpoint, self.endpoint) {
            (Some(url), _) => url,
            (None, Some(base)) => format!("{}{TRACES_PATH}", base.trim_end_matches('/')),
            (None, None) => format!("{DEFAULT_ENDPOINT}{TRACES_PATH}"),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(OtlpConfigError::InvalidEndpoint(url));
        }
        for (name, _) in &self.headers {
            if name.is_empty() || name.contains([' ', ':', '\n', '\r']) {
                return Err(OtlpConfigError::InvalidHeader(name.clone()));
            }
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("sgp-trace-otel/", env!("CARGO_PKG_VERSION")))
            .build();

        let mut attributes: Vec<KeyValue> = Vec::new();
        let service_name = self
            .service_name
            .or_else(|| {
                self.resource
                    .iter()
                    .find(|(key, _)| key == "service.name")
                    .map(|(_, value)| value.clone())
            })
            .unwrap_or_else(default_service_name);
        push(&mut attributes, "service.name", service_name);
        if let Some(version) = self.service_version {
            push(&mut attributes, "service.version", version);
        }
        for (key, value) in self.resource {
            if !attributes.iter().any(|kv| kv.key == key) {
                push(&mut attributes, &key, value);
            }
        }
        push(&mut attributes, "telemetry.sdk.name", "sgp-trace");
        push(&mut attributes, "telemetry.sdk.language", "rust");
        push(
            &mut attributes,
            "telemetry.sdk.version",
            env!("CARGO_PKG_VERSION"),
        );
        Ok(OtlpExporter {
            agent: agent_config.into(),
            url,
            headers: self.headers,
            resource: Resource {
                attributes,
                ..Default::default()
            },
        })
    }
}

fn default_service_name() -> String {
    let executable = std::env::current_exe()
        .ok()
        .and_then(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    format!("unknown_service:{executable}")
}

/// Parses the W3C-baggage-like lists of the OTLP variables: `key=value` entries separated
/// by commas, values percent-decoded.
fn parse_pairs(list: &str) -> Result<Vec<(String, String)>, OtlpConfigError> {
    list.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| OtlpConfigError::InvalidHeader(entry.to_owned()))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(OtlpConfigError::InvalidHeader(entry.to_owned()));
            }
            Ok((key.to_owned(), percent_decode(value.trim())))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let hex = |byte: u8| (byte as char).to_digit(16);
            if let (Some(high), Some(low)) = (hex(bytes[index + 1]), hex(bytes[index + 2])) {
                out.push((high * 16 + low) as u8);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn endpoints_follow_the_specification() {
        let exporter = OtlpExporterBuilder::from_lookup(lookup(&[]))
            .build()
            .unwrap();
        assert_eq!(exporter.url(), "http://localhost:4318/v1/traces");
        let exporter = OtlpExporterBuilder::from_lookup(lookup(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector:4318/",
        )]))
        .build()
        .unwrap();
        assert_eq!(exporter.url(), "http://collector:4318/v1/traces");
        let exporter = OtlpExporterBuilder::from_lookup(lookup(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other/custom"),
        ]))
        .build()
        .unwrap();
        assert_eq!(exporter.url(), "http://other/custom");
        let exporter = OtlpExporterBuilder::from_lookup(lookup(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://other/custom",
        )]))
        .endpoint("http://127.0.0.1:1")
        .build()
        .unwrap();
        assert_eq!(
            exporter.url(),
            "http://127.0.0.1:1/v1/traces",
            "setters win"
        );
        assert!(matches!(
            OtlpExporter::builder().endpoint("collector:4318").build(),
            Err(OtlpConfigError::InvalidEndpoint(_))
        ));
    }

    #[test]
    fn headers_are_parsed_and_decoded() {
        let exporter = OtlpExporterBuilder::from_lookup(lookup(&[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-user=alice, authorization=Bearer%20abc,x-project=p1",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-project=p2"),
        ]))
        .build()
        .unwrap();
        assert_eq!(
            exporter.headers,
            [
                ("x-user".to_owned(), "alice".to_owned()),
                ("authorization".to_owned(), "Bearer abc".to_owned()),
                ("x-project".to_owned(), "p2".to_owned()),
            ]
        );
        assert!(matches!(
            OtlpExporterBuilder::from_lookup(lookup(&[("OTEL_EXPORTER_OTLP_HEADERS", "novalue")]))
                .build(),
            Err(OtlpConfigError::InvalidHeader(_))
        ));
    }

    #[test]
    fn protocol_timeout_and_resource() {
        assert!(matches!(
            OtlpExporterBuilder::from_lookup(lookup(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]))
                .build(),
            Err(OtlpConfigError::UnsupportedProtocol(_))
        ));
        assert!(matches!(
            OtlpExporterBuilder::from_lookup(lookup(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")]))
                .build(),
            Err(OtlpConfigError::InvalidTimeout(_))
        ));
        let exporter = OtlpExporterBuilder::from_lookup(lookup(&[
            ("OTEL_SERVICE_NAME", "agent"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=ignored,deployment.environment.name=dev",
            ),
        ]))
        .service_version("1.2.3")
        .build()
        .unwrap();
        let attributes: Vec<(String, String)> = exporter
            .resource
            .attributes
            .iter()
            .map(|kv| {
                let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(text),
                    ) => text.clone(),
                    other => format!("{other:?}"),
                };
                (kv.key.clone(), value)
            })
            .collect();
        assert_eq!(attributes[0], ("service.name".into(), "agent".into()));
        assert_eq!(attributes[1], ("service.version".into(), "1.2.3".into()));
        assert_eq!(
            attributes[2],
            ("deployment.environment.name".into(), "dev".into())
        );
        let default = OtlpExporter::builder().build().unwrap();
        let name = &default.resource.attributes[0];
        assert_eq!(name.key, "service.name");
    }

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
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%20b%2Cc"), "a b,c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
