//! Where spans go: the [`Exporter`] trait, the [`Batch`] it is handed, and the
//! [`ExportError`] that tells the export thread what to do with a batch that failed.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use crate::model::SpanItem;

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

    /// Called by [`flush_queue`](crate::flush_queue) once every batch before it went through
    /// [`export`](Exporter::export): an exporter that keeps batches of its own (a fan-out to
    /// several backends) sends them now, within `timeout`. Does nothing by default.
    fn flush(&self, timeout: Duration) -> Result<(), ExportError> {
        let _ = timeout;
        Ok(())
    }

    /// Called once at shutdown, after the last batch, with what is left of the shutdown
    /// bound: send what is buffered and release resources. Does nothing by default.
    fn shutdown(&self, timeout: Duration) {
        let _ = timeout;
    }
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

/// Spans and the request body that carries them, encoded once on the export thread.
#[derive(Debug)]
pub(crate) struct EncodedBatch {
    items: Vec<SpanItem>,
    /// Always a complete body, `{"items":[...]}`.
    body: Vec<u8>,
    /// Where each span's JSON sits in `body`, to split the batch without encoding again.
    bounds: Vec<Range<usize>>,
}

const BODY_START: &[u8] = b"{\"items\":[";
const BODY_END: &[u8] = b"]}";

impl EncodedBatch {
    pub(crate) fn new() -> EncodedBatch {
        EncodedBatch::with_capacity(0, 4096)
    }

    /// An empty batch with room for `items` spans and `bytes` of JSON, so filling it does
    /// not grow (and copy) its buffers again and again.
    pub(crate) fn with_capacity(items: usize, bytes: usize) -> EncodedBatch {
        let mut batch = EncodedBatch {
            items: Vec::with_capacity(items),
            body: Vec::with_capacity(bytes.max(BODY_START.len() + BODY_END.len())),
            bounds: Vec::with_capacity(items),
        };
        batch.clear();
        batch
    }

    /// Makes room for `items` more spans and a body of `bytes` in all.
    pub(crate) fn reserve(&mut self, items: usize, bytes: usize) {
        self.items.reserve(items);
        self.bounds.reserve(items);
        self.body.reserve(bytes.saturating_sub(self.body.len()));
    }

    /// Empties the batch, keeping its buffers' room.
    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.bounds.clear();
        self.body.clear();
        self.body.extend_from_slice(BODY_START);
        self.body.extend_from_slice(BODY_END);
    }

    /// The bytes the batch's buffers hold room for.
    pub(crate) fn room(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<SpanItem>()
            + self.bounds.capacity() * std::mem::size_of::<Range<usize>>()
            + self.body.capacity()
    }

    /// The spans in the batch (their JSON, when their items are still to be added).
    pub(crate) fn len(&self) -> usize {
        self.bounds.len()
    }

    /// Whether the batch holds more than `max_items` spans or a body of more than
    /// `max_bytes`.
    pub(crate) fn exceeds(&self, max_items: usize, max_bytes: usize) -> bool {
        self.len() > max_items || self.body.len() > max_bytes
    }

    /// Adds a span and its JSON, as written by `encode::write_span`.
    pub(crate) fn push(&mut self, item: SpanItem, json: &[u8]) {
        self.push_json(json);
        self.items.push(item);
    }

    /// Adds a span's JSON alone; its item follows with [`add_items`](Self::add_items).
    pub(crate) fn push_json(&mut self, json: &[u8]) {
        self.write_json(|body| body.extend_from_slice(json));
    }

    /// Adds a span's JSON alone, written by `write` straight into the body (where a span
    /// written elsewhere first is copied twice); its item follows with
    /// [`add_items`](Self::add_items).
    pub(crate) fn write_json(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        self.body.truncate(self.body.len() - BODY_END.len());
        if !self.bounds.is_empty() {
            self.body.push(b',');
        }
        let start = self.body.len();
        write(&mut self.body);
        self.bounds.push(start..self.body.len());
        self.body.extend_from_slice(BODY_END);
    }

    /// Takes the JSON of the last span added with no item yet back out, into `json`: the
    /// span that made the batch exceed its limits moves to the next batch.
    pub(crate) fn pop_json(&mut self, json: &mut Vec<u8>) {
        debug_assert!(self.items.len() < self.bounds.len());
        let Some(bounds) = self.bounds.pop() else {
            return;
        };
        json.clear();
        json.extend_from_slice(&self.body[bounds.clone()]);
        // Back to the end of the span before, without its comma.
        let end = if self.bounds.is_empty() {
            bounds.start
        } else {
            bounds.start - 1
        };
        self.body.truncate(end);
        self.body.extend_from_slice(BODY_END);
    }

    /// Adds the items of the spans whose JSON [`push_json`](Self::push_json) added, in the
    /// same order.
    pub(crate) fn add_items(&mut self, items: impl Iterator<Item = SpanItem>) {
        self.items.extend(items);
        debug_assert_eq!(self.items.len(), self.bounds.len());
    }

    /// Two halves, for finding the spans a server refuses.
    pub(crate) fn split(self) -> (EncodedBatch, EncodedBatch) {
        let middle = self.items.len() / 2;
        let mut first = EncodedBatch::new();
        let mut second = EncodedBatch::new();
        for (index, (item, bounds)) in self.items.into_iter().zip(self.bounds).enumerate() {
            let half = if index < middle {
                &mut first
            } else {
                &mut second
            };
            half.push(item, &self.body[bounds]);
        }
        (first, second)
    }

    pub(crate) fn items(&self) -> &[SpanItem] {
        &self.items
    }

    pub(crate) fn as_batch(&self) -> Batch<'_> {
        Batch {
            items: &self.items,
            body: &self.body,
        }
    }
}

/// A batch of spans handed to an [`Exporter`].
pub struct Batch<'a> {
    items: &'a [SpanItem],
    body: &'a [u8],
}

impl<'a> Batch<'a> {
    /// A batch of `items` whose SGP body is `json` (`{"items":[...]}`, what [`Batch::json`]
    /// gives): for exporters that hand batches on to other exporters, such as a fan-out
    /// that keeps its own copies. `json` is passed through unchecked.
    pub fn new(items: &'a [SpanItem], json: &'a [u8]) -> Batch<'a> {
        Batch { items, body: json }
    }

    /// How many spans the batch holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch holds no span.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The spans.
    pub fn items(&self) -> &'a [SpanItem] {
        self.items
    }

    /// The request body for `PUT /v5/spans/batch`: `{"items":[...]}`.
    pub fn json(&self) -> &'a [u8] {
        self.body
    }
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("len", &self.items.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::encode;

    fn filled(mut batch: EncodedBatch, names: &[&'static str]) -> EncodedBatch {
        for name in names {
            let item = SpanItem::minimal(name);
            let mut json = Vec::new();
            encode::write_span(&mut json, &item);
            batch.push(item, &json);
        }
        batch
    }

    fn names(batch: &EncodedBatch) -> Vec<String> {
        let body: serde_json::Value = serde_json::from_slice(batch.as_batch().json()).unwrap();
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_cleared_batch_is_refilled_like_a_new_one() {
        let mut used = filled(EncodedBatch::new(), &["a", "b", "c"]);
        let room = used.room();
        used.clear();
        assert_eq!(used.len(), 0);
        assert_eq!(used.as_batch().json(), b"{\"items\":[]}");
        assert_eq!(used.room(), room, "the buffers keep their room");
        used.reserve(2, 0);
        let refilled = filled(used, &["d", "e"]);
        assert_eq!(names(&refilled), ["d", "e"]);
        let (first, second) = refilled.split();
        assert_eq!(
            (names(&first), names(&second)),
            (vec!["d".into()], vec!["e".into()])
        );
    }

    #[test]
    fn the_span_that_overflows_a_batch_moves_to_the_next_whole() {
        let items: Vec<SpanItem> = ["a", "b", "c"].map(SpanItem::minimal).into();
        let mut batch = EncodedBatch::new();
        for item in &items {
            batch.write_json(|body| encode::write_span(body, item));
        }
        let mut moved = Vec::new();
        batch.pop_json(&mut moved);
        let mut next = EncodedBatch::new();
        next.push_json(&moved);
        let mut items = items.into_iter();
        batch.add_items(items.by_ref().take(2));
        next.add_items(items);
        assert_eq!(names(&batch), ["a", "b"]);
        assert_eq!(names(&next), ["c"]);
        assert_eq!(batch.items().len(), 2);
        // A batch whose only span moves on is an empty body, refilled like a new one.
        let mut single = EncodedBatch::new();
        single.push_json(&moved);
        single.pop_json(&mut moved);
        assert_eq!(single.as_batch().json(), b"{\"items\":[]}");
        assert_eq!(names(&filled(single, &["d"])), ["d"]);
    }
}
