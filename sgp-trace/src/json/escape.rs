//! Which bytes a JSON string escapes, found many bytes at a time: the one escape scan of the
//! crate. Its interface is [`next_escape`] and [`write_escaped`] (the payload writer, the
//! export thread's encoder) and [`string_end`] (the export thread's credential scan); the
//! SSE2 searches behind them stay inside.

/// Hands `put` the text of `bytes` as a JSON string writes it, without its quotes: the runs
/// between escapes (found many bytes at a time, see [`next_escape`]) and the escapes.
#[inline(always)]
pub(crate) fn write_escaped(bytes: &[u8], mut put: impl FnMut(&[u8])) {
    let mut written = 0;
    loop {
        let at = next_escape(bytes, written);
        put(&bytes[written..at]);
        if at == bytes.len() {
            return;
        }
        let (escape, len) = escape_of(bytes[at]);
        put(&escape[..len]);
        written = at + 1;
    }
}

/// The escape of a byte that needs one, as serde_json writes it, and its length.
#[inline]
fn escape_of(byte: u8) -> ([u8; 6], usize) {
    let short = |escaped: u8| ([b'\\', escaped, 0, 0, 0, 0], 2);
    match byte {
        b'"' => short(b'"'),
        b'\\' => short(b'\\'),
        b'\n' => short(b'n'),
        b'\r' => short(b'r'),
        b'\t' => short(b't'),
        0x08 => short(b'b'),
        0x0c => short(b'f'),
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let (high, low) = (HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]);
            ([b'\\', b'u', b'0', b'0', high, low], 6)
        }
    }
}

/// Where the first byte at or after `from` that a JSON string escapes is, or the text's
/// length when there is none: sixteen bytes at a time with SSE2 (part of every x86-64
/// CPU), then 8 to 15 left as two overlapping words in one SSE2 step; eight at a time with
/// word arithmetic elsewhere and where a word holds an escape, and the last few bytes as
/// one word too.
#[inline]
pub(crate) fn next_escape(bytes: &[u8], mut from: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    while from + 16 <= bytes.len() {
        // SAFETY: the sixteen bytes from `from` are in `bytes`.
        let flags = unsafe { sse2::escape_flags(bytes.as_ptr().add(from)) };
        if flags != 0 {
            return from + flags.trailing_zeros() as usize;
        }
        from += 16;
    }
    #[cfg(target_arch = "x86_64")]
    if (8..16).contains(&bytes.len().saturating_sub(from)) {
        // Fewer than sixteen bytes left (all of a label, a name, a key), usually with no
        // escape: their first and last eight bytes, overlapping, at once.
        let first = u64::from_le_bytes(bytes[from..from + 8].try_into().expect("eight bytes"));
        let last = u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().expect("eight bytes"));
        if sse2::escape_flags_of_words(first, last) == 0 {
            return bytes.len();
        }
    }
    while from + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[from..from + 8].try_into().expect("eight bytes"));
        let flags = escape_flags(word);
        if flags != 0 {
            return from + (flags.trailing_zeros() / 8) as usize;
        }
        from += 8;
    }
    if from == bytes.len() {
        return from;
    }
    if bytes.len() >= 8 {
        // The text's last eight bytes, those before `from` read as spaces.
        let start = bytes.len() - 8;
        let word = u64::from_le_bytes(bytes[start..].try_into().expect("eight bytes"));
        if escape_flags(word) == 0 {
            return bytes.len();
        }
        let flags = escape_flags(as_spaces(word, from - start));
        return if flags == 0 {
            bytes.len()
        } else {
            start + (flags.trailing_zeros() / 8) as usize
        };
    }
    let tail = &bytes[from..];
    if escape_flags(short_word(tail)) == 0 {
        return bytes.len();
    }
    from + tail
        .iter()
        .position(|&byte| needs_escape(byte))
        .expect("a byte needs an escape")
}

/// Where the string whose text starts at `from` ends (its closing quote), skipping escaped
/// characters; `None` when it is not closed.
///
/// Inside a string only a quote or a backslash matters: it jumps from one to the next
/// sixteen bytes at a time with SSE2, and looks at the last few bytes of the text one by
/// one. A raw control character, which valid JSON does not hold, is passed over.
pub(crate) fn string_end(bytes: &[u8], mut from: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    while from + 16 <= bytes.len() {
        // SAFETY: the sixteen bytes from `from` are in `bytes`.
        let flags = unsafe { sse2::quote_or_backslash_flags(bytes.as_ptr().add(from)) };
        if flags == 0 {
            from += 16;
            continue;
        }
        let at = from + flags.trailing_zeros() as usize;
        if bytes[at] == b'"' {
            return Some(at);
        }
        // A backslash escapes the next byte (for `\u00e9`, the `u`; the digits that follow
        // are neither quotes nor backslashes).
        from = at + 2;
    }
    while let Some(&byte) = bytes.get(from) {
        match byte {
            b'"' => return Some(from),
            b'\\' => from += 2,
            _ => from += 1,
        }
    }
    None
}

/// The SSE2 searches (SSE2 is part of every x86-64 CPU).
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_set_epi64x,
    };

    /// One bit for each of the sixteen bytes at `at` (bit `i` for byte `i`) that is a
    /// quote, a backslash or a control character.
    ///
    /// # Safety
    ///
    /// The sixteen bytes from `at` must be readable.
    #[inline(always)]
    pub(super) unsafe fn escape_flags(at: *const u8) -> u32 {
        // SAFETY: SSE2 is part of x86-64; the caller vouches for the load.
        flags_of(unsafe { _mm_loadu_si128(at.cast()) })
    }

    /// [`escape_flags`] of the sixteen bytes of two words, `first`'s then `last`'s: the
    /// first and last eight bytes of a text of 8 to 16 bytes, looked at in one step.
    #[inline(always)]
    pub(super) fn escape_flags_of_words(first: u64, last: u64) -> u32 {
        // SAFETY: SSE2 is part of x86-64.
        flags_of(unsafe { _mm_set_epi64x(last as i64, first as i64) })
    }

    #[inline(always)]
    fn flags_of(chunk: __m128i) -> u32 {
        // SAFETY: SSE2 is part of x86-64.
        unsafe {
            // A byte is below 0x20 exactly when the smaller of it and 0x1f is itself.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(chunk, _mm_set1_epi8(0x1f)), chunk);
            _mm_movemask_epi8(_mm_or_si128(quotes_or_backslashes(chunk), control)) as u32
        }
    }

    /// One bit for each of the sixteen bytes at `at` (bit `i` for byte `i`) that is a quote
    /// or a backslash: the bytes that end or escape inside a JSON string.
    ///
    /// # Safety
    ///
    /// The sixteen bytes from `at` must be readable.
    #[inline(always)]
    pub(super) unsafe fn quote_or_backslash_flags(at: *const u8) -> u32 {
        // SAFETY: SSE2 is part of x86-64; the caller vouches for the load.
        unsafe { _mm_movemask_epi8(quotes_or_backslashes(_mm_loadu_si128(at.cast()))) as u32 }
    }

    /// The bytes of `chunk` that are a quote or a backslash, as all ones.
    #[inline(always)]
    fn quotes_or_backslashes(chunk: __m128i) -> __m128i {
        // SAFETY: SSE2 is part of x86-64.
        unsafe {
            let quote = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'\\' as i8));
            _mm_or_si128(quote, backslash)
        }
    }
}

/// A word made of the bytes of `bytes` (fewer than eight), some twice, and spaces: a byte
/// that needs an escape is in it exactly when it is in `bytes`.
#[inline(always)]
fn short_word(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    if len >= 4 {
        // Two four-byte loads that overlap when the length is under 8.
        let low = u32::from_le_bytes(bytes[..4].try_into().expect("four bytes"));
        let high = u32::from_le_bytes(bytes[len - 4..].try_into().expect("four bytes"));
        u64::from(low) | u64::from(high) << 32
    } else {
        let mut padded = [b' '; 8];
        for (to, from) in padded.iter_mut().zip(bytes) {
            *to = *from;
        }
        u64::from_le_bytes(padded)
    }
}

/// The high bit of each of the eight bytes of `word` that is a quote, a backslash or a
/// control character (below 0x20), the bytes a JSON string escapes; zero when there is none.
/// The lowest flag is exact, those above it may not be: each test is the classic "has a
/// byte below n" bit trick, whose borrows only spread above a byte that already matched.
#[inline(always)]
fn escape_flags(word: u64) -> u64 {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH_BITS: u64 = ONES * 0x80;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let is_quote = quote.wrapping_sub(ONES) & !quote;
    let is_backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | is_quote | is_backslash) & HIGH_BITS
}

/// Whether a JSON string escapes `byte`.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// `word` with its first `count` bytes (at most eight) replaced by spaces, which need no
/// escape.
#[inline(always)]
fn as_spaces(word: u64, count: usize) -> u64 {
    const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);
    let replaced = u64::MAX
        .checked_shl(8 * count as u32)
        .map_or(u64::MAX, |kept| !kept);
    (word & !replaced) | (SPACES & replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_detection_matches_byte_by_byte_checks() {
        let needs = |byte: u8| byte < 0x20 || byte == b'"' || byte == b'\\';
        for byte in 0..=u8::MAX {
            for at in 0..8 {
                for filler in [b'a', 0x80, 0xff, 0x21, b'!'] {
                    let mut word = [filler; 8];
                    word[at] = byte;
                    let flags = escape_flags(u64::from_le_bytes(word));
                    assert_eq!(
                        flags != 0,
                        needs(byte),
                        "{byte:#x} at {at} among {filler:#x}"
                    );
                    if needs(byte) {
                        // The lowest flag is the byte's, even with another escape above it.
                        assert_eq!(flags.trailing_zeros() / 8, at as u32);
                        word[7] = b'"';
                        let flags = escape_flags(u64::from_le_bytes(word));
                        assert_eq!(flags.trailing_zeros() / 8, at as u32);
                        let rest = as_spaces(u64::from_le_bytes(word), at + 1);
                        assert_eq!(escape_flags(rest) != 0, at < 7, "the quote after it");
                    }
                }
            }
        }
    }
}
