//! OTLP over gRPC: tonic's channel and client, driven by a current-thread tokio runtime that
//! only runs while the export thread waits on a request. Requests go out as the protobuf
//! bytes the mapping wrote; answers are decoded as `ExportTraceServiceResponse`.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use sgp_trace::ExportError;
use tokio::runtime::Runtime;
use tonic::client::Grpc;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, GrpcMethod, Status};
use tonic_types::StatusExt;

use crate::mapping::report_partial_success;
use crate::settings::{Compression, OtlpConfigError, TransportSettings, MAX_RETRY_DELAY};

/// Sends requests to one gRPC server.
pub(crate) struct GrpcTransport {
    /// `None` only while dropping (see `Drop`).
    runtime: Option<Runtime>,
    client: Grpc<Channel>,
    metadata: MetadataMap,
    timeout: Duration,
    url: String,
}

impl GrpcTransport {
    pub(crate) fn new(settings: TransportSettings) -> Result<GrpcTransport, OtlpConfigError> {
        let metadata = metadata(&settings.headers)?;
        let mut endpoint = Endpoint::from_shared(settings.url.clone())
            .map_err(|_| OtlpConfigError::InvalidEndpoint(settings.url.clone()))?
            .user_agent(concat!("sgp-trace-otel/", env!("CARGO_PKG_VERSION")))
            .map_err(|error| OtlpConfigError::Transport(error.to_string()))?
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout);
        if settings.url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_enabled_roots();
            if let Some(pem) = &settings.ca_certificate {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|error| OtlpConfigError::Transport(error.to_string()))?;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("sgp-trace-otel-grpc")
            .build()
            .map_err(|error| OtlpConfigError::Transport(error.to_string()))?;
        // The channel spawns its connection tasks on the runtime it is made in; they run
        // whenever an export waits on the runtime.
        let channel = {
            let _entered = runtime.enter();
            endpoint.connect_lazy()
        };
        let mut client = Grpc::new(channel);
        if settings.compression == Compression::Gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        Ok(GrpcTransport {
            runtime: Some(runtime),
            client,
            metadata,
            timeout: settings.timeout,
            url: settings.url,
        })
    }

    /// Sends an encoded `ExportTraceServiceRequest`.
    pub(crate) fn send(&self, request: Vec<u8>) -> Result<(), ExportError> {
        let Some(runtime) = &self.runtime else {
            return Err(ExportError::Failed {
                reason: "the OTLP gRPC transport is shut down".into(),
            });
        };
        let mut call = tonic::Request::new(request);
        *call.metadata_mut() = self.metadata.clone();
        call.set_timeout(self.timeout);
        call.extensions_mut()
            .insert(GrpcMethod::new(SERVICE, "Export"));
        let mut client = self.client.clone();
        let export = async move {
            client
                .ready()
                .await
                .map_err(|error| Status::unavailable(format!("not ready: {error}")))?;
            let path = PathAndQuery::from_static(EXPORT_PATH);
            client.unary(call, path, EncodedRequests).await
        };
        match runtime.block_on(export) {
            Ok(answer) => {
                report_partial_success(answer.get_ref());
                Ok(())
            }
            Err(status) => Err(classify(&self.url, &status)),
        }
    }
}

const SERVICE: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The codec of the export call: the request is already protobuf, the answer is decoded.
#[derive(Clone, Copy)]
struct EncodedRequests;

impl Codec for EncodedRequests {
    type Encode = Vec<u8>;
    type Decode = ExportTraceServiceResponse;
    type Encoder = EncodedRequests;
    type Decoder = EncodedRequests;

    fn encoder(&mut self) -> EncodedRequests {
        *self
    }

    fn decoder(&mut self) -> EncodedRequests {
        *self
    }
}

impl Encoder for EncodedRequests {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl Decoder for EncodedRequests {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|error| Status::internal(format!("an unreadable answer: {error}")))
    }
}

impl Drop for GrpcTransport {
    fn drop(&mut self) {
        // Dropping a runtime blocks on its tasks, which panics inside an async context (an
        // exporter built and dropped in `async fn main`); shutting down in the background
        // never blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Headers as gRPC metadata: lowercase ASCII names, printable ASCII values.
fn metadata(headers: &[(String, String)]) -> Result<MetadataMap, OtlpConfigError> {
    let mut map = MetadataMap::with_capacity(headers.len());
    for (name, value) in headers {
        let key: AsciiMetadataKey = name
            .to_ascii_lowercase()
            .parse()
            .map_err(|_| OtlpConfigError::InvalidHeader(name.clone()))?;
        let value: AsciiMetadataValue = value
            .parse()
            .map_err(|_| OtlpConfigError::InvalidHeader(name.clone()))?;
        map.insert(key, value);
    }
    Ok(map)
}

/// What a failed call means for the batch, per the OTLP/gRPC specification: the codes it
/// lists as retryable are transient, `RESOURCE_EXHAUSTED` only when the server sent a
/// `RetryInfo` (then its delay is honoured); `INVALID_ARGUMENT` is a refusal of the data,
/// `UNAUTHENTICATED` and `PERMISSION_DENIED` of the credentials; the rest fail the batch.
pub(crate) fn classify(url: &str, status: &Status) -> ExportError {
    let reason = format!("OTLP gRPC {url}: {:?}: {}", status.code(), status.message());
    let delay = retry_delay(status);
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => ExportError::Unauthorized { reason },
        Code::InvalidArgument => ExportError::Rejected { reason },
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => ExportError::Transient {
            reason,
            retry_after: delay,
        },
        Code::ResourceExhausted if delay.is_some() => ExportError::Transient {
            reason,
            retry_after: delay,
        },
        _ => ExportError::Failed { reason },
    }
}

/// The delay of the `google.rpc.RetryInfo` among the status details, when reasonable.
fn retry_delay(status: &Status) -> Option<Duration> {
    status
        .get_details_retry_info()?
        .retry_delay
        .filter(|delay| *delay <= MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use tonic_types::{ErrorDetails, StatusExt};

    use super::*;

    fn class(code: Code, delay: Option<Duration>) -> ExportError {
        let status = match delay {
            Some(delay) => {
                Status::with_error_details(code, "busy", ErrorDetails::with_retry_info(Some(delay)))
            }
            None => Status::new(code, "busy"),
        };
        classify("http://collector:4317", &status)
    }

    #[test]
    fn classifies_codes_per_the_otlp_specification() {
        for code in [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unavailable,
            Code::DataLoss,
        ] {
            assert_eq!(
                class(code, None),
                ExportError::Transient {
                    reason: format!("OTLP gRPC http://collector:4317: {code:?}: busy"),
                    retry_after: None
                }
            );
        }
        let delay = Some(Duration::from_millis(1500));
        assert!(matches!(
            class(Code::Unavailable, delay),
            ExportError::Transient { retry_after, .. } if retry_after == delay
        ));
        assert!(matches!(
            class(Code::ResourceExhausted, delay),
            ExportError::Transient { retry_after, .. } if retry_after == delay
        ));
        assert!(matches!(
            class(Code::ResourceExhausted, None),
            ExportError::Failed { .. }
        ));
        assert!(matches!(
            class(Code::ResourceExhausted, Some(Duration::from_secs(3600))),
            ExportError::Failed { .. }
        ));
        assert!(matches!(
            class(Code::InvalidArgument, None),
            ExportError::Rejected { .. }
        ));
        for code in [Code::Unauthenticated, Code::PermissionDenied] {
            assert!(matches!(
                class(code, None),
                ExportError::Unauthorized { .. }
            ));
        }
        for code in [
            Code::Unknown,
            Code::NotFound,
            Code::Unimplemented,
            Code::Internal,
        ] {
            assert!(matches!(class(code, None), ExportError::Failed { .. }));
        }
    }

    #[test]
    fn headers_must_be_valid_metadata() {
        let map = metadata(&[("IfUser".into(), "alice".into())]).unwrap();
        assert_eq!(map.get("ifuser").unwrap(), "alice");
        assert!(metadata(&[("bad name".into(), "x".into())]).is_err());
        assert!(metadata(&[("ok".into(), "line\nbreak".into())]).is_err());
    }
}
