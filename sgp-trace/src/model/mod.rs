//! The model: what a span is, as the API receives it.
//!
//! [`SpanItem`] (the wire item), [`Timestamp`] and the [`clock`] that reads it, [`Id`]s and
//! the [`random`] numbers they are made of, span [types and statuses](kind), the
//! [`error_category`] of a failure, the OpenTelemetry ids a span links to
//! ([`correlation`]), and the [`sampling`] decision taken from a trace id.
//!
//! May use: `json`.

pub(crate) mod clock;
pub(crate) mod correlation;
pub(crate) mod error_category;
pub(crate) mod id;
pub(crate) mod item;
pub(crate) mod kind;
pub(crate) mod random;
pub(crate) mod sampling;
pub(crate) mod timestamp;

pub use correlation::{set_observability_provider, ObservabilityIds, ObservabilityProvider};
pub use error_category::{CategorizeError, ErrorCategory};
pub use id::{Id, InvalidId, MAX_ID_BYTES};
pub use item::SpanItem;
pub use kind::{SpanStatus, SpanType, UnknownSpanType};
pub use timestamp::Timestamp;
