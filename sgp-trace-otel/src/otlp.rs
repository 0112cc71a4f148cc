//! The OTLP exporter and its builder: settings from the builder or the `OTEL_*` variables,
//! sent over the HTTP or the gRPC transport.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use sgp_trace::{Batch, ExportError, Exporter};

use crate::attributes::push;
use crate::grpc::GrpcTransport;
use crate::http::HttpTransport;
use crate::mapping::RequestWriter;
use crate::settings::{Compression, OtlpConfigError, Protocol, TransportSettings};

/// Where spans go when nothing is configured: a local OpenTelemetry Collector's OTLP/HTTP
/// port.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

/// Where spans go over gRPC when no endpoint is configured: a local OpenTelemetry
/// Collector's OTLP/gRPC port.
pub const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";

/// The path OTLP/HTTP receivers take traces on.
pub const TRACES_PATH: &str = "/v1/traces";

/// The request timeout when neither the builder nor `OTEL_EXPORTER_OTLP_TIMEOUT` sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends batches of SGP spans as OTLP to an OpenTelemetry Collector or any OTLP backend,
/// over HTTP/protobuf (`POST {endpoint}/v1/traces`, `Content-Type:
/// application/x-protobuf`) or gRPC (`TraceService/Export`, [`Protocol::Grpc`]), gzipped
/// when asked ([`Compression::Gzip`]). Only ended spans are sent; see
/// [`map_span`](crate::map_span) for why and the crate docs for the mapping.
///
/// Answers map onto [`ExportError`] as the OTLP specification says. Over HTTP: 429, 502,
/// 503, 504 and 408 are retried (honouring `Retry-After`), as are connection failures and
/// timeouts; 401 and 403 are [`ExportError::Unauthorized`], 413 [`ExportError::TooLarge`],
/// 400 [`ExportError::Rejected`] (the batch is split to find the span at fault), anything
/// else [`ExportError::Failed`]. Over gRPC: `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`,
/// `OUT_OF_RANGE`, `UNAVAILABLE` (connection failures too) and `DATA_LOSS` are retried, as
/// is `RESOURCE_EXHAUSTED` when the server sent a `RetryInfo`, after its delay;
/// `INVALID_ARGUMENT` is [`ExportError::Rejected`], `UNAUTHENTICATED` and
/// `PERMISSION_DENIED` are [`ExportError::Unauthorized`], anything else
/// [`ExportError::Failed`]. A partial success (some spans rejected) is logged and not
/// retried.
///
/// The gRPC transport runs tonic on a current-thread tokio runtime of its own, driven by the
/// export thread while it waits on a request: the program needs no runtime, and a program
/// that has one does not lend it.
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
    transport: Transport,
    protocol: Protocol,
    url: String,
    headers: Vec<(String, String)>,
    /// Only the export thread writes requests; the lock is never contended.
    writer: Mutex<RequestWriter>,
}

enum Transport {
    Http(HttpTransport),
    Grpc(Box<GrpcTransport>),
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("protocol", &self.protocol)
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

    /// The URL spans are posted to (HTTP), or of the gRPC server.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The protocol spans travel in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
}

impl Exporter for OtlpExporter {
    fn export(&self, batch: &Batch<'_>) -> Result<(), ExportError> {
        let request = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .request(batch.items());
        let Some(request) = request else {
            return Ok(());
        };
        match &self.transport {
            Transport::Http(http) => http.send(request),
            Transport::Grpc(grpc) => grpc.send(request),
        }
    }
}

/// Settings of an [`OtlpExporter`]. Setters win over what [`from_env`](Self::from_env)
/// read.
#[derive(Debug, Clone, Default)]
pub struct OtlpExporterBuilder {
    endpoint: Option<String>,
    traces_endpoint: Option<String>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    protocol: Option<Protocol>,
    compression: Option<Compression>,
    ca_certificate: Option<Vec<u8>>,
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
    /// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the full URL spans are posted to (gRPC: the server's URL), used as it is |
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT` | the base URL; over HTTP `/v1/traces` is appended (default `http://localhost:4318`, gRPC `http://localhost:4317`) |
    /// | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS` | `name=value,name2=value2`, values percent-decoded; the traces list wins on a shared name; gRPC metadata over gRPC |
    /// | `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` | request timeout in milliseconds (default 10000) |
    /// | `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` | `http/protobuf` (default) or `grpc` |
    /// | `OTEL_EXPORTER_OTLP_COMPRESSION`, `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION` | `gzip` or `none` (default) |
    /// | `OTEL_EXPORTER_OTLP_CERTIFICATE`, `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` | a PEM file of a certificate to trust for `https://` (gRPC only) |
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
        if let Some(name) = protocol {
            match Protocol::from_name(&name) {
                Some(protocol) => builder.protocol = Some(protocol),
                None => builder.error = Some(OtlpConfigError::UnsupportedProtocol(name)),
            }
        }
        let compression = get("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION")
            .or_else(|| get("OTEL_EXPORTER_OTLP_COMPRESSION"));
        if let Some(name) = compression {
            match Compression::from_name(&name) {
                Some(compression) => builder.compression = Some(compression),
                None => builder.error = Some(OtlpConfigError::UnsupportedCompression(name)),
            }
        }
        let certificate = get("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE")
            .or_else(|| get("OTEL_EXPORTER_OTLP_CERTIFICATE"));
        if let Some(path) = certificate {
            match std::fs::read(path.trim()) {
                Ok(pem) => builder.ca_certificate = Some(pem),
                Err(error) => {
                    builder.error = Some(OtlpConfigError::InvalidCertificate(format!(
                        "cannot read {path:?}: {error}"
                    )))
                }
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

    /// The receiver's base URL (`http://host:4318`); spans go to `{endpoint}/v1/traces`
    /// over HTTP, to the endpoint itself over gRPC (`http://host:4317`).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self.traces_endpoint = None;
        self
    }

    /// The full URL spans are posted to (over gRPC, the server's URL), used as it is.
    pub fn traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.traces_endpoint = Some(url.into());
        self
    }

    /// Adds a header sent with every request (authentication, tenant, project), as gRPC
    /// metadata over gRPC; replaces one of the same name.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers
            .retain(|(existing, _)| !existing.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// The protocol spans travel in (default [`Protocol::HttpProtobuf`]).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Whether request bodies are compressed (default [`Compression::None`]).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// A certificate (PEM) to trust for an `https://` gRPC endpoint, beside the system's and
    /// the webpki roots: a private CA, a self-signed collector.
    pub fn ca_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificate = Some(pem.into());
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

    /// The exporter; fails on a bad endpoint, header, timeout, protocol or compression, or
    /// when the gRPC channel cannot be set up.
    pub fn build(self) -> Result<OtlpExporter, OtlpConfigError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let protocol = self.protocol.unwrap_or_default();
        let url = match (self.traces_endpoint, self.endpoint, protocol) {
            (Some(url), _, _) => url,
            (None, Some(base), Protocol::HttpProtobuf) => {
                format!("{}{TRACES_PATH}", base.trim_end_matches('/'))
            }
            (None, Some(base), Protocol::Grpc) => base,
            (None, None, Protocol::HttpProtobuf) => format!("{DEFAULT_ENDPOINT}{TRACES_PATH}"),
            (None, None, Protocol::Grpc) => DEFAULT_GRPC_ENDPOINT.to_owned(),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(OtlpConfigError::InvalidEndpoint(url));
        }
        for (name, _) in &self.headers {
            if name.is_empty() || name.contains([' ', ':', '\n', '\r']) {
                return Err(OtlpConfigError::InvalidHeader(name.clone()));
            }
        }
        let settings = TransportSettings {
            url: url.clone(),
            headers: self.headers.clone(),
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            compression: self.compression.unwrap_or_default(),
            ca_certificate: self.ca_certificate.clone(),
        };
        if protocol == Protocol::HttpProtobuf && settings.ca_certificate.is_some() {
            return Err(OtlpConfigError::InvalidCertificate(
                "a trusted certificate is supported over gRPC only".into(),
            ));
        }
        let transport = match protocol {
            Protocol::HttpProtobuf => Transport::Http(HttpTransport::new(settings)?),
            Protocol::Grpc => Transport::Grpc(Box::new(GrpcTransport::new(settings)?)),
        };

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
        let resource = Resource {
            attributes,
            ..Default::default()
        };
        let scope = InstrumentationScope {
            name: "sgp-trace".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        };
        Ok(OtlpExporter {
            transport,
            protocol,
            url,
            headers: self.headers,
            writer: Mutex::new(RequestWriter::new(&resource, &scope)),
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
    fn grpc_endpoints_are_used_as_they_are() {
        let grpc = |pairs| {
            OtlpExporterBuilder::from_lookup(lookup(pairs))
                .build()
                .unwrap()
        };
        let exporter = grpc(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert_eq!(exporter.protocol(), Protocol::Grpc);
        assert_eq!(exporter.url(), "http://localhost:4317");
        let exporter = grpc(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
        ]);
        assert_eq!(
            exporter.protocol(),
            Protocol::Grpc,
            "the traces variable wins"
        );
        assert_eq!(exporter.url(), "https://collector:4317");
        let exporter = OtlpExporter::builder()
            .endpoint("http://127.0.0.1:4317")
            .protocol(Protocol::Grpc)
            .compression(Compression::Gzip)
            .build()
            .unwrap();
        assert_eq!(exporter.url(), "http://127.0.0.1:4317");
        assert!(matches!(
            OtlpExporter::builder()
                .protocol(Protocol::Grpc)
                .header("ifuser", "line\nbreak")
                .build(),
            Err(OtlpConfigError::InvalidHeader(_))
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
            OtlpExporterBuilder::from_lookup(lookup(&[(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "http/json"
            )]))
            .build(),
            Err(OtlpConfigError::UnsupportedProtocol(_))
        ));
        assert!(matches!(
            OtlpExporterBuilder::from_lookup(lookup(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]))
                .build(),
            Err(OtlpConfigError::UnsupportedCompression(_))
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
        let resource = |exporter: &OtlpExporter| exporter.writer.lock().unwrap().resource();
        let attributes: Vec<(String, String)> = resource(&exporter)
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
        let name = &resource(&default).attributes[0];
        assert_eq!(name.key, "service.name");
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%20b%2Cc"), "a b,c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
