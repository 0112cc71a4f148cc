//! The export stage: everything that runs on the export thread (`sgp-trace-export`).
//!
//! The [`worker`] receives shipments from the queue, coalesces a span's start with its end,
//! cuts batches and sends them through an [`Exporter`] with retries; [`controls`] redact,
//! mask and truncate payloads before they leave; [`held`] keeps the traces the sampler
//! dropped until an error decides them; [`encode`] writes the request body; [`http`] is the
//! default exporter, to the SGP API.
//!
//! May use: `json`, `model`, `stats`, `queue`. Never reached from the program's threads but
//! through the queue.

pub(crate) mod controls;
pub(crate) mod encode;
pub(crate) mod exporter;
pub(crate) mod held;
pub(crate) mod http;
pub(crate) mod settings;
pub(crate) mod worker;

pub use controls::{Field, Mask, DEFAULT_MAX_FIELD_BYTES, REDACTED};
pub use exporter::{Batch, ExportError, Exporter};
pub use http::HttpExporter;
