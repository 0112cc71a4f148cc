//! Links SGP spans to the OpenTelemetry spans they ran in: the `obs_trace_id` and
//! `obs_span_id` fields of the SGP API.
//!
//! The runtime does not depend on OpenTelemetry. An integration (such as an OpenTelemetry
//! bridge crate) installs a provider once; every span that starts afterwards asks it for
//! the ids of the OpenTelemetry span current on that thread.

use std::sync::OnceLock;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// The W3C ids of an OpenTelemetry span: a 128-bit trace id and a 64-bit span id, sent as
/// 32 and 16 lowercase hex digits.
///
/// Packed to 8-byte alignment: a `u128` would otherwise align every [`SpanItem`] that holds
/// these ids to 16 bytes and make it 16 bytes larger (read the fields by value).
///
/// [`SpanItem`]: crate::SpanItem
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(Rust, packed(8))]
pub struct ObservabilityIds {
    /// The W3C trace id; never zero.
    pub trace_id: u128,
    /// The W3C span id; never zero.
    pub span_id: u64,
}

impl ObservabilityIds {
    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        let trace_id = self.trace_id;
        format!("{trace_id:032x}")
    }

    /// The span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        let span_id = self.span_id;
        format!("{span_id:016x}")
    }
}

impl Serialize for ObservabilityIds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("obs_trace_id", &self.trace_id_hex())?;
        map.serialize_entry("obs_span_id", &self.span_id_hex())?;
        map.end()
    }
}

/// Gives the ids of the OpenTelemetry span current on the calling thread, if any.
pub type ObservabilityProvider = fn() -> Option<ObservabilityIds>;

static PROVIDER: OnceLock<ObservabilityProvider> = OnceLock::new();

/// Installs the provider asked at the start of every span; once per process. Returns
/// `false` (and keeps the first) when one was installed already.
///
/// ```
/// use sgp_trace::{set_observability_provider, ObservabilityIds};
/// fn from_my_otel_context() -> Option<ObservabilityIds> {
///     Some(ObservabilityIds { trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736, span_id: 0x00f067aa0ba902b7 })
/// }
/// assert!(set_observability_provider(from_my_otel_context));
/// ```
pub fn set_observability_provider(provider: ObservabilityProvider) -> bool {
    PROVIDER.set(provider).is_ok()
}

/// The current ids, when a provider is installed and knows them. Zero ids are invalid in
/// W3C and are left out.
pub(crate) fn current() -> Option<ObservabilityIds> {
    let ids = PROVIDER.get()?()?;
    (ids.trace_id != 0 && ids.span_id != 0).then_some(ids)
}
