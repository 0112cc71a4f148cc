//! A local SGP-compatible span server with a traces page.
//!
//! It speaks the spans API of the Scale GP platform (`PUT /v5/spans/batch`,
//! `POST /v5/spans/batch`, `POST /v5/spans`, `GET /v5/spans/{id}`,
//! `PATCH /v5/spans/{id}`, `POST /v5/spans/search`), stores spans in one SQLite file, serves a traces
//! page at `/`, and can inject faults for tests.
//!
//! Library mode runs a collector in-process on an ephemeral port, from plain
//! synchronous code:
//!
//! ```
//! use sgp_trace_collector::{Collector, CollectorConfig};
//!
//! let collector = Collector::start(CollectorConfig::default()).unwrap();
//! let url = format!("{}/v5/spans/batch", collector.base_url());
//! // ... send `PUT {url}` with `x-api-key` and `x-selected-account-id` ...
//! # let _ = url;
//! assert!(collector.spans("account").is_empty());
//! collector.faults().fail_next(2, 503, Some(std::time::Duration::from_secs(1)));
//! drop(collector); // stops the server and joins its thread
//! ```

mod api;
mod collector;
mod error;
mod faults;
#[doc(hidden)]
pub mod fuzzing;
mod ids;
mod model;
mod patch;
mod query;
mod search;
mod server;
mod store;
mod trace_list;
mod ui;

pub use collector::{Collector, CollectorConfig, DEFAULT_MAX_BODY_BYTES};
pub use faults::Faults;
pub use model::{MAX_BATCH_ITEMS, MAX_ID_LEN, SPAN_STATUSES, SPAN_TYPES};
pub use search::{DEFAULT_LIMIT, MAX_LIMIT};
pub use server::RequestRecord;
