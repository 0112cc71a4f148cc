//! [`JsonWriter`]: where payload JSON is written, in place while small.

use crate::json::digits::{decimal_len, write_digits, MAX_DIGITS};
use crate::json::escape::write_escaped;
use crate::json::object::INLINE_BYTES;
use crate::json::plain::Proof;
use crate::json::JsonObject;

/// Payload JSON being written: in place while it is small, in the thread's reusable scratch
/// buffer once it outgrows that. A small payload (the usual few arguments or a return
/// value) then costs no thread-local access and no buffer hand-over; a large one is copied
/// into its shared [`JsonObject`] in one allocation, instead of a growing `Vec` allocated
/// and freed for every span.
#[derive(Debug)]
pub(crate) struct JsonWriter {
    small: [u8; SMALL_BYTES],
    /// Bytes written to `small`, or [`IN_LARGE`] once the text moved to `large`: one
    /// comparison then tells whether a write fits in place.
    len: usize,
    large: Vec<u8>,
}

/// Room for the largest inline payload with the `{"value":` wrapper and closing brace.
const SMALL_BYTES: usize = 64;

/// The writer's `len` once its text is in `large`: past `SMALL_BYTES`, so no write fits
/// in place, and far below `usize::MAX`, so adding a length to it cannot overflow.
const IN_LARGE: usize = usize::MAX / 2;

impl JsonWriter {
    #[inline]
    pub(crate) fn new() -> JsonWriter {
        JsonWriter {
            small: [0; SMALL_BYTES],
            len: 0,
            large: Vec::new(),
        }
    }

    #[inline]
    fn is_small(&self) -> bool {
        self.len <= SMALL_BYTES
    }

    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        if self.is_small() {
            &self.small[..self.len]
        } else {
            &self.large
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        if self.is_small() {
            self.len
        } else {
            self.large.len()
        }
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        if self.is_small() {
            self.len = self.len.min(len);
        } else {
            self.large.truncate(len);
        }
    }

    /// The text written after its first `skip` bytes, as a [`JsonObject`] that skips the
    /// credential scan when `proof` holds. A small text is handed over as a fixed-size copy
    /// of the writer's room (the bytes past its end are never read), where a copy of its
    /// exact length is a `memcpy` call.
    #[inline(always)]
    pub(crate) fn to_object(&self, skip: usize, proof: Proof) -> JsonObject {
        if self.is_small() && self.len - skip <= INLINE_BYTES && skip + INLINE_BYTES <= SMALL_BYTES
        {
            debug_assert!(std::str::from_utf8(&self.small[skip..self.len]).is_ok());
            let mut bytes = [0; INLINE_BYTES];
            bytes.copy_from_slice(&self.small[skip..skip + INLINE_BYTES]);
            JsonObject::inline(bytes, self.len - skip, proof.holds())
        } else {
            JsonObject::from_written(&self.as_bytes()[skip..], proof.holds())
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, byte: u8) {
        self.extend(&[byte]);
    }

    /// Inlined, so that the writes of a constant length serde_json makes (quotes, commas,
    /// colons) compile to a store rather than a `memcpy` call.
    #[inline(always)]
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if end <= SMALL_BYTES {
            copy_short(&mut self.small[self.len..end], bytes);
            self.len = end;
        } else {
            self.extend_large(bytes);
        }
    }

    /// Writes `text` as a JSON string, byte for byte as serde_json writes it. The bytes
    /// between escapes are found many at a time (see
    /// [`next_escape`](crate::json::escape::next_escape)) and copied as one run, where
    /// serde_json looks at every byte.
    pub(crate) fn string(&mut self, text: &str) {
        // `len` is past the room once the text is large, so this also sends every string of
        // a large payload the long way.
        if self.len + text.len() + 2 > SMALL_BYTES {
            return self.long_string(text.as_bytes());
        }
        self.push(b'"');
        write_escaped(text.as_bytes(), |piece| self.extend(piece));
        self.push(b'"');
    }

    /// [`string`](Self::string) for text that does not fit in place: written straight into
    /// the large buffer, with room made once for the text, not checked for at every piece
    /// between escapes (a chat's text has a line break every line).
    #[inline(never)]
    fn long_string(&mut self, bytes: &[u8]) {
        if self.is_small() {
            self.spill();
        }
        let out = &mut self.large;
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        write_escaped(bytes, |piece| out.extend_from_slice(piece));
        out.push(b'"');
    }

    /// Writes an unsigned integer as JSON.
    #[inline]
    pub(crate) fn unsigned(&mut self, value: u64) {
        self.number(value, false);
    }

    /// Writes a signed integer as JSON.
    #[inline]
    pub(crate) fn signed(&mut self, value: i64) {
        self.number(value.unsigned_abs(), value < 0);
    }

    /// Writes a number straight into its place, its digits right to left, after a minus
    /// sign when `negative`. Digits written to a buffer of their own and then copied over as
    /// one block were read back in wider pieces than they were written, which the CPU cannot
    /// forward from store to load.
    #[inline(always)]
    fn number(&mut self, value: u64, negative: bool) {
        let len = usize::from(negative) + decimal_len(value);
        let end = self.len + len;
        if end <= SMALL_BYTES {
            let text = &mut self.small[self.len..end];
            if negative {
                text[0] = b'-';
            }
            write_digits(text, value);
            self.len = end;
        } else {
            let mut text = [b'-'; 1 + MAX_DIGITS];
            write_digits(&mut text[..len], value);
            self.extend(&text[..len]);
        }
    }

    /// Every write of a large payload comes here, not only the first past the room in place.
    #[inline(never)]
    fn extend_large(&mut self, bytes: &[u8]) {
        if self.is_small() {
            self.spill();
        }
        if let [byte] = bytes {
            // The quotes, commas and colons of the text: a `memcpy` call costs more.
            self.large.push(*byte);
        } else {
            self.large.extend_from_slice(bytes);
        }
    }

    /// Moves the text to `large`, once it outgrows the room in place.
    #[cold]
    fn spill(&mut self) {
        self.large = scratch::take();
        self.large.extend_from_slice(&self.small[..self.len]);
        self.len = IN_LARGE;
    }
}

/// Copies `from` into `to`, as long, with at most two loads and stores when it is 16 bytes or
/// shorter (the keys, numbers and short strings of payloads), instead of a `memcpy` call
/// whose dispatch costs more than the copy.
#[inline(always)]
fn copy_short(to: &mut [u8], from: &[u8]) {
    let len = from.len();
    if (8..=16).contains(&len) {
        // Two words that overlap when the length is under 16.
        to[..8].copy_from_slice(&from[..8]);
        to[len - 8..].copy_from_slice(&from[len - 8..]);
    } else if (4..8).contains(&len) {
        to[..4].copy_from_slice(&from[..4]);
        to[len - 4..].copy_from_slice(&from[len - 4..]);
    } else if len < 4 {
        for (to, from) in to.iter_mut().zip(from) {
            *to = *from;
        }
    } else {
        to.copy_from_slice(from);
    }
}

impl std::io::Write for JsonWriter {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.extend(bytes);
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.extend(bytes);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for JsonWriter {
    #[inline]
    fn drop(&mut self) {
        if !self.is_small() {
            scratch::give_back(std::mem::take(&mut self.large));
        }
    }
}

/// One reusable buffer per thread for payloads too large for a [`JsonWriter`]'s own room.
mod scratch {
    use std::cell::Cell;

    /// A buffer that grew larger than this is not kept, so one huge payload does not pin
    /// its memory to the thread.
    const MAX_KEPT_BYTES: usize = 64 * 1024;

    thread_local! {
        static BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }

    /// The thread's buffer, empty; a new one when it is in use (a `Serialize` impl that
    /// records a span) or the thread is ending.
    pub(super) fn take() -> Vec<u8> {
        BUFFER.try_with(Cell::take).unwrap_or_default()
    }

    pub(super) fn give_back(mut buffer: Vec<u8>) {
        if buffer.capacity() <= MAX_KEPT_BYTES {
            buffer.clear();
            let _ = BUFFER.try_with(|cell| cell.set(buffer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_json_writer_keeps_every_byte_across_its_spill() {
        let text: Vec<u8> = (0..150u8).collect();
        for split in [0, 1, 63, 64, 65, 100, 150] {
            let mut writer = JsonWriter::new();
            writer.extend(&text[..split]);
            writer.extend(&text[split..]);
            assert_eq!(writer.as_bytes(), &text[..], "split at {split}");
            writer.truncate(split);
            writer.push(b'!');
            assert_eq!(writer.len(), split + 1);
            assert_eq!(&writer.as_bytes()[..split], &text[..split]);
        }
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let mut texts: Vec<String> = (0..=0x7f_u8)
            .map(|byte| char::from(byte).to_string())
            .collect();
        texts.extend(["", "what is sgp?", "ünïcode ✓ 🚀", "\u{7f}\u{80}\u{ff}"].map(String::from));
        // Every byte that needs an escape at every place of a 40-character text, alone and
        // with a quote at every later place: across the sixteen-byte blocks, the eight-byte
        // words and the tail.
        let base: Vec<char> = "abcdefgh12345678ABCDEFGHé12345678 \u{80}~\u{7f}ij"
            .chars()
            .collect();
        for special in [
            '"', '\\', '\n', '\u{0}', '\u{1}', '\u{1f}', '\t', '\u{8}', '\u{c}', '\r',
        ] {
            for at in 0..base.len() {
                let mut text = base.clone();
                text[at] = special;
                texts.push(text.iter().collect());
                for later in at + 1..base.len() {
                    let mut text = text.clone();
                    text[later] = '"';
                    texts.push(text.iter().collect());
                }
                texts.push(text[..=at].iter().collect());
            }
        }
        texts.push("x".repeat(300) + "\"" + &"é".repeat(50));
        for text in texts {
            let expected = serde_json::to_string(&text).unwrap();
            // In place, and the long way: after enough bytes that the text cannot fit in place.
            for prefix in [0, SMALL_BYTES - 2] {
                let mut writer = JsonWriter::new();
                writer.extend(&vec![b' '; prefix]);
                writer.string(&text);
                assert_eq!(
                    &writer.as_bytes()[prefix..],
                    expected.as_bytes(),
                    "{text:?} after {prefix} bytes"
                );
            }
        }
    }

    #[test]
    fn integers_are_written_as_serde_json_writes_them() {
        let mut unsigned = vec![0, 9, 10, 99, 100, 101, 12_345, u64::MAX - 1, u64::MAX];
        unsigned.extend((0..64).map(|shift| 1u64 << shift));
        unsigned.extend((1..20).map(|power| 10u64.pow(power) - 1));
        let mut signed = vec![0, -1, 1, -9, -10, -99, -100, i64::MIN, i64::MAX];
        signed.extend(unsigned.iter().map(|&value| -((value >> 1) as i64)));
        // At every place, so both the in-place copy and the spill to the scratch buffer run.
        // Writes a number after `prefix` spaces and checks it against serde_json's text.
        let check = |prefix: usize, write: &dyn Fn(&mut JsonWriter), expected: Value| {
            let mut writer = JsonWriter::new();
            writer.extend(&vec![b' '; prefix]);
            write(&mut writer);
            writer.push(b'.');
            let expected = format!("{}{expected}.", " ".repeat(prefix));
            assert_eq!(writer.as_bytes(), expected.as_bytes());
        };
        for prefix in 0..SMALL_BYTES {
            for &value in &unsigned {
                check(prefix, &|writer| writer.unsigned(value), value.into());
            }
            for &value in &signed {
                check(prefix, &|writer| writer.signed(value), value.into());
            }
        }
    }
}
