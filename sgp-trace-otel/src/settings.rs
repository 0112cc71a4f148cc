//! The OTLP exporter's choices (protocol, compression), the errors of bad settings, and what
//! a transport is built from.

use std::fmt;
use std::time::Duration;

/// How spans travel to the OTLP receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Protobuf over HTTP/1.1 (`POST {endpoint}/v1/traces`), port 4318 by default.
    #[default]
    HttpProtobuf,
    /// Protobuf over gRPC (`TraceService/Export`), port 4317 by default.
    Grpc,
}

impl Protocol {
    /// The protocol an `OTEL_EXPORTER_OTLP_PROTOCOL` value names, when this exporter speaks
    /// it (`http/json` is not spoken).
    pub fn from_name(name: &str) -> Option<Protocol> {
        match name.trim() {
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "grpc" => Some(Protocol::Grpc),
            _ => None,
        }
    }
}

/// Whether request bodies are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Sent as they are.
    #[default]
    None,
    /// gzip: `Content-Encoding: gzip` over HTTP, `grpc-encoding: gzip` over gRPC.
    Gzip,
}

impl Compression {
    /// The compression an `OTEL_EXPORTER_OTLP_COMPRESSION` value names.
    pub fn from_name(name: &str) -> Option<Compression> {
        match name.trim() {
            "none" => Some(Compression::None),
            "gzip" => Some(Compression::Gzip),
            _ => None,
        }
    }
}

/// Why an [`OtlpExporterBuilder`](crate::OtlpExporterBuilder) could not build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtlpConfigError {
    /// The endpoint is not an `http://` or `https://` URL.
    InvalidEndpoint(String),
    /// A header entry is not `name=value`, or not a valid HTTP header or gRPC metadata entry.
    InvalidHeader(String),
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` asks for a protocol this exporter does not speak.
    UnsupportedProtocol(String),
    /// `OTEL_EXPORTER_OTLP_COMPRESSION` asks for a compression other than `gzip` or `none`.
    UnsupportedCompression(String),
    /// `OTEL_EXPORTER_OTLP_TIMEOUT` is not a number of milliseconds.
    InvalidTimeout(String),
    /// The trusted certificate (`OTEL_EXPORTER_OTLP_CERTIFICATE`) cannot be read, or is set
    /// for the HTTP transport, which trusts the webpki roots only.
    InvalidCertificate(String),
    /// The gRPC channel could not be set up (its TLS settings or its runtime).
    Transport(String),
}

impl fmt::Display for OtlpConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtlpConfigError::InvalidEndpoint(url) => {
                write!(f, "OTLP endpoint {url:?} is not an http:// or https:// URL")
            }
            OtlpConfigError::InvalidHeader(entry) => {
                write!(f, "OTLP header {entry:?} is not a valid name=value")
            }
            OtlpConfigError::UnsupportedProtocol(protocol) => write!(
                f,
                "OTLP protocol {protocol:?} is not supported: sgp-trace-otel sends \
                 http/protobuf or grpc"
            ),
            OtlpConfigError::UnsupportedCompression(compression) => write!(
                f,
                "OTLP compression {compression:?} is not supported: use gzip or none"
            ),
            OtlpConfigError::InvalidTimeout(value) => {
                write!(f, "OTLP timeout {value:?} is not a number of milliseconds")
            }
            OtlpConfigError::InvalidCertificate(reason) => {
                write!(f, "OTLP certificate: {reason}")
            }
            OtlpConfigError::Transport(reason) => {
                write!(f, "OTLP gRPC channel: {reason}")
            }
        }
    }
}

impl std::error::Error for OtlpConfigError {}

/// What a transport is built from: settings checked by the builder.
#[derive(Debug, Clone)]
pub(crate) struct TransportSettings {
    /// Where requests go: the full URL for HTTP, the server's URL for gRPC.
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) compression: Compression,
    /// A PEM certificate to trust for `https://` endpoints, beside the usual roots.
    pub(crate) ca_certificate: Option<Vec<u8>>,
}

/// The longest retry delay a receiver may ask for and have honoured as given.
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
