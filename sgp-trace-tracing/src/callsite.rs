//! What the layer knows of a callsite, the same for every span made there, so built once
//! per callsite and shared by its spans: where it is (`tracing.target`, `tracing.level`,
//! `tracing.module_path`, `tracing.file`, `tracing.line`), whether it declares fields that
//! mean something to SGP, and its field names as JSON keys.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::{Map, Value};
use tracing_core::Metadata;

use crate::fields::{self, InputKeys};

/// The source entries of one callsite.
pub(crate) type SourceEntries = Arc<Map<String, Value>>;

/// What is known of one callsite.
pub(crate) struct Callsite {
    /// Where it is, as the five `tracing.*` metadata entries.
    pub(crate) source: SourceEntries,
    /// Whether it declares `sgp.type` or a `gen_ai.*` field.
    pub(crate) declares_sgp_fields: bool,
    /// Its field names as input keys.
    pub(crate) keys: InputKeys,
}

/// A callsite, by the address of its `'static` metadata: one per callsite, for good.
type CallsiteKey = usize;

/// Each callsite's entry is made once and kept for good, as its `'static` metadata is, so
/// it is handed out by reference, with no count to keep.
type ByCallsite = HashMap<CallsiteKey, &'static Callsite, BuildHasherDefault<AddressHasher>>;

/// Every callsite's entry, shared by all threads; written once per callsite.
static ALL: RwLock<Option<ByCallsite>> = RwLock::new(None);

thread_local! {
    /// The entries this thread has used, so a span takes no lock.
    static SEEN: RefCell<ByCallsite> = RefCell::default();
}

/// What is known of `metadata`'s callsite.
pub(crate) fn of(metadata: &'static Metadata<'static>) -> &'static Callsite {
    let key = metadata as *const Metadata<'static> as CallsiteKey;
    SEEN.try_with(|seen| {
        if let Some(callsite) = seen.borrow().get(&key) {
            return *callsite;
        }
        let callsite = shared(key, metadata);
        seen.borrow_mut().insert(key, callsite);
        callsite
    })
    // During thread teardown the cache may be gone: the shared map still serves.
    .unwrap_or_else(|_| shared(key, metadata))
}

/// The callsite's entry from the shared map, built on the callsite's first span.
#[cold]
fn shared(key: CallsiteKey, metadata: &'static Metadata<'static>) -> &'static Callsite {
    let known = ALL
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(|all| all.get(&key).copied());
    if let Some(callsite) = known {
        return callsite;
    }
    let mut all = ALL.write().unwrap_or_else(PoisonError::into_inner);
    all.get_or_insert_with(ByCallsite::default)
        .entry(key)
        .or_insert_with(|| {
            Box::leak(Box::new(Callsite {
                source: Arc::new(source_entries(metadata)),
                declares_sgp_fields: fields::declares_sgp_fields(metadata),
                keys: InputKeys::of(metadata),
            }))
        })
}

fn source_entries(metadata: &Metadata<'_>) -> Map<String, Value> {
    let mut entries = Map::new();
    entries.insert("tracing.target".into(), metadata.target().into());
    entries.insert("tracing.level".into(), metadata.level().as_str().into());
    if let Some(module) = metadata.module_path() {
        entries.insert("tracing.module_path".into(), module.into());
    }
    if let Some(file) = metadata.file() {
        entries.insert("tracing.file".into(), file.into());
    }
    if let Some(line) = metadata.line() {
        entries.insert("tracing.line".into(), line.into());
    }
    entries
}

/// Hashes a callsite's address: the default hasher resists keys chosen by an attacker, which
/// the addresses of `'static` callsites cannot be, so a multiply spreads them well enough.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(FIBONACCI);
        }
    }

    fn write_usize(&mut self, address: usize) {
        self.0 = (address as u64).wrapping_mul(FIBONACCI);
    }

    fn finish(&self) -> u64 {
        // hashbrown takes its buckets from the low bits and its tags from the top ones:
        // fold the well-mixed high half down.
        self.0 ^ (self.0 >> 32)
    }
}

/// 2^64 divided by the golden ratio: multiplying by it spreads aligned addresses.
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;
