//! Payload JSON: how inputs, outputs and metadata are written once, on the program's
//! thread, as the text the API takes.
//!
//! - [`writer`]: the buffer payloads are written into, in place while small;
//! - [`serializer`]: our serde `Serializer`, which writes what serde_json would;
//! - [`escape`]: the one scan for the bytes a JSON string escapes, many at a time;
//! - [`object`]: [`JsonObject`], the written payload;
//! - [`object_writer`]: [`ObjectWriter`], an object written entry by entry under keys made
//!   once;
//! - [`plain`]: the one rule for which payloads may skip the export thread's credential
//!   scan (fail-closed: only those their writer proved plain);
//! - [`digits`]: decimal digits written in place.
//!
//! Knows nothing of spans. May use: nothing else of the crate.

pub(crate) mod digits;
pub(crate) mod escape;
pub(crate) mod object;
pub(crate) mod object_writer;
pub(crate) mod plain;
pub(crate) mod serializer;
pub(crate) mod writer;

pub use object::JsonObject;
pub use object_writer::{ObjectKey, ObjectWriter};
pub(crate) use writer::JsonWriter;
