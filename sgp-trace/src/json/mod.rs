//! Payload JSON: how inputs, outputs and metadata are written once, on the program's
//! thread, as the text the API takes.
//!
//! - [`writer`]: the buffer payloads are written into, in place while small;
//! - [`serializer`]: our serde `Serializer`, which writes what serde_json would;
//! - [`escape`]: the one scan for the bytes a JSON string escapes, many at a time;
//! - [`object`]: [`JsonObject`], the written payload;
//! - [`plain`]: the one rule for which payloads may skip the export thread's credential
//!   scan (fail-closed: only those their writer proved plain);
//! - [`digits`]: decimal digits written in place.
//!
//! Knows nothing of spans. May use: nothing else of the crate.

pub(crate) mod digits;
pub(crate) mod escape;
pub(crate) mod object;
pub(crate) mod plain;
pub(crate) mod serializer;
pub(crate) mod writer;

pub use object::JsonObject;
pub(crate) use writer::JsonWriter;
