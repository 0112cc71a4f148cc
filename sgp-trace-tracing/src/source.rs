//! Where a span was made (`tracing.target`, `tracing.level`, `tracing.module_path`,
//! `tracing.file`, `tracing.line`): the same for every span of a callsite, so built once per
//! callsite and shared by its spans, instead of five keys and values made on every span.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::{Map, Value};
use tracing_core::Metadata;

/// The source entries of one callsite.
pub(crate) type SourceEntries = Arc<Map<String, Value>>;

/// A callsite, by the address of its `'static` metadata: one per callsite, for good.
type CallsiteKey = usize;

type ByCallsite = HashMap<CallsiteKey, SourceEntries, BuildHasherDefault<AddressHasher>>;

/// Every callsite's entries, shared by all threads; written once per callsite.
static ALL: RwLock<Option<ByCallsite>> = RwLock::new(None);

thread_local! {
    /// The entries this thread has used, so a span takes no lock.
    static SEEN: RefCell<ByCallsite> = RefCell::default();
}

/// The source entries of spans made at `metadata`'s callsite.
pub(crate) fn entries(metadata: &'static Metadata<'static>) -> SourceEntries {
    let key = metadata as *const Metadata<'static> as CallsiteKey;
    SEEN.try_with(|seen| {
        if let Some(entries) = seen.borrow().get(&key) {
            return Arc::clone(entries);
        }
        let entries = shared(key, metadata);
        seen.borrow_mut().insert(key, Arc::clone(&entries));
        entries
    })
    // During thread teardown the cache may be gone: the shared map still serves.
    .unwrap_or_else(|_| shared(key, metadata))
}

/// The callsite's entries from the shared map, built on the callsite's first span.
#[cold]
fn shared(key: CallsiteKey, metadata: &'static Metadata<'static>) -> SourceEntries {
    let known = ALL
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(|all| all.get(&key).cloned());
    if let Some(entries) = known {
        return entries;
    }
    let mut all = ALL.write().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(
        all.get_or_insert_with(ByCallsite::default)
            .entry(key)
            .or_insert_with(|| Arc::new(build(metadata))),
    )
}

fn build(metadata: &Metadata<'_>) -> Map<String, Value> {
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
