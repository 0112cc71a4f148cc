//! Where spans go: the [`Exporter`] trait, and the HTTP exporter to the SGP API.

mod http;

use std::fmt;
use std::time::Duration;

use serde_json::value::RawValue;

pub use self::http::HttpExporter;
use crate::SpanItem;

/// Sends batches of spans somewhere; the counterpart of the Python SDK's `export_fn`.
///
/// It is called on the export thread only, one batch at a time, so it may block. What it
/// returns decides what happens to the batch: see [`ExportError`]. A panic in an exporter is
/// caught, counted as a failed batch, and does not stop the export thread.
///
/// Closures work as exporters:
///
/// ```
/// use sgp_trace::{Batch, Config, ExportError};
/// let config = Config::builder()
///     .exporter(|batch: &Batch<'_>| -> Result<(), ExportError> {
///         for span in batch.items() {
///             println!("{} {}", span.name, span.id);
///         }
///         Ok(())
///     })
///     .build()
///     .unwrap();
/// assert!(config.can_export());
/// ```
pub trait Exporter: Send + Sync + 'static {
    /// Delivers one batch.
    fn export(&self, batch: &Batch<'_>) -> Result<(), ExportError>;
}

impl<F> Exporter for F
where
    F: Fn(&Batch<'_>) -> Result<(), ExportError> + Send + Sync + 'static,
{
    fn export(&self, batch: &Batch<'_>) -> Result<(), ExportError> {
        self(batch)
    }
}

/// Why a batch was not delivered, which decides what the export thread does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportError {
    /// Worth trying again (408, 429, 5xx, connection failures, timeouts): retried with
    /// exponential backoff, or after `retry_after` when the server said so.
    Transient {
        /// What went wrong.
        reason: String,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The server refused the data (400, 409, 422) and would refuse it again: the batch is
    /// split until the spans at fault are found; only those are dropped and counted.
    Rejected {
        /// The server's reason.
        reason: String,
    },
    /// The request was too large (413): the batch is split and sent in parts.
    TooLarge {
        /// The server's reason.
        reason: String,
    },
    /// The credentials were refused (401, 403): export stops with one error, and every
    /// span from then on is counted as dropped.
    Unauthorized {
        /// The server's reason.
        reason: String,
    },
    /// Any other failure: the batch is dropped and counted.
    Failed {
        /// What went wrong.
        reason: String,
    },
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Transient { reason, .. } => write!(f, "transient failure: {reason}"),
            ExportError::Rejected { reason } => write!(f, "rejected: {reason}"),
            ExportError::TooLarge { reason } => write!(f, "too large: {reason}"),
            ExportError::Unauthorized { reason } => write!(f, "unauthorized: {reason}"),
            ExportError::Failed { reason } => write!(f, "failed: {reason}"),
        }
    }
}

impl std::error::Error for ExportError {}

/// A span ready to send: the item and its JSON, encoded once on the export thread.
#[derive(Debug, Clone)]
pub(crate) struct EncodedSpan {
    pub(crate) item: SpanItem,
    pub(crate) json: Box<RawValue>,
}

impl EncodedSpan {
    pub(crate) fn new(item: SpanItem) -> EncodedSpan {
        let json = match serde_json::value::to_raw_value(&item) {
            Ok(json) => json,
            // Every field is plain data already turned into JSON on the hot path, so this is
            // unreachable in practice; keep the span with its payloads replaced rather than
            // lose it or stop the thread.
            Err(error) => {
                let mut item = item.clone();
                let replacement = crate::JsonObject::serialization_error(&error);
                item.input = Some(replacement.clone());
                item.output = Some(replacement);
                item.metadata = None;
                serde_json::value::to_raw_value(&item).expect("a span of plain fields serializes")
            }
        };
        EncodedSpan { item, json }
    }

    /// The bytes this span adds to a request body, its separating comma included.
    pub(crate) fn wire_len(&self) -> usize {
        self.json.get().len() + 1
    }
}

/// A batch of spans handed to an [`Exporter`].
pub struct Batch<'a> {
    spans: &'a [EncodedSpan],
}

impl<'a> Batch<'a> {
    pub(crate) fn new(spans: &'a [EncodedSpan]) -> Batch<'a> {
        Batch { spans }
    }

    /// How many spans the batch holds.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the batch holds no span.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The spans.
    pub fn items(&self) -> impl ExactSizeIterator<Item = &'a SpanItem> + 'a {
        self.spans.iter().map(|span| &span.item)
    }

    /// The request body for `PUT /v5/spans/batch`: `{"items":[...]}`.
    pub fn to_json(&self) -> Vec<u8> {
        let size = 12 + self.spans.iter().map(EncodedSpan::wire_len).sum::<usize>();
        let mut body = Vec::with_capacity(size);
        body.extend_from_slice(b"{\"items\":[");
        for (index, span) in self.spans.iter().enumerate() {
            if index > 0 {
                body.push(b',');
            }
            body.extend_from_slice(span.json.get().as_bytes());
        }
        body.extend_from_slice(b"]}");
        body
    }
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("len", &self.spans.len())
            .finish()
    }
}
