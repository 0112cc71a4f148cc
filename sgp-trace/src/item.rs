//! The wire item: one span as `PUT /v5/spans/batch` receives it.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::{Id, ObservabilityIds, SpanStatus, SpanType};

/// A span as it travels to SGP: the body of one entry of `{"items": [...]}`.
///
/// The export thread receives these and a custom [`Exporter`](crate::Exporter) sees them.
/// A span is sent at most twice: once when it starts (no `end_timestamp`, no `status`, so live
/// views show it running) and once when it ends; when both wait in the same batch only the
/// final state is sent.
#[derive(Debug, Clone, Serialize)]
pub struct SpanItem {
    /// The span's name.
    pub name: Cow<'static, str>,
    /// The trace the span belongs to.
    pub trace_id: Id,
    /// The span's own id.
    pub id: Id,
    /// The parent span; absent on a trace's root span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Id>,
    /// Links independent traces together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Id>,
    /// When the span started.
    pub start_timestamp: Timestamp,
    /// When the span ended; absent while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_timestamp: Option<Timestamp>,
    /// How the span ended; absent while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<SpanStatus>,
    /// The kind of work.
    #[serde(rename = "type")]
    pub span_type: SpanType,
    /// What the work received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<JsonObject>,
    /// What the work produced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<JsonObject>,
    /// Free-form facts about the span, among them the error fields of a failed span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Arc<Map<String, Value>>>,
    /// The OpenTelemetry span this span ran in (`obs_trace_id`, `obs_span_id`); see
    /// [`set_observability_provider`](crate::set_observability_provider).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub observability: Option<ObservabilityIds>,
}

impl SpanItem {
    /// Whether this is the final state of the span (it has ended).
    pub fn is_complete(&self) -> bool {
        self.end_timestamp.is_some()
    }
}

#[cfg(test)]
impl SpanItem {
    /// A running span with a name, new ids and a start at the epoch, and nothing else.
    pub(crate) fn minimal(name: &'static str) -> SpanItem {
        SpanItem {
            name: Cow::Borrowed(name),
            trace_id: Id::random(),
            id: Id::random(),
            parent_id: None,
            group_id: None,
            start_timestamp: Timestamp::from_nanos(0),
            end_timestamp: None,
            status: None,
            span_type: SpanType::Tracer,
            input: None,
            output: None,
            metadata: None,
            observability: None,
        }
    }
}

/// A JSON object already serialized, shared between the start and end events of a span.
///
/// The SGP API takes `input`, `output` and `metadata` as objects only, so a value that
/// serializes to anything else (a string, a number, an array) is wrapped as
/// `{"value": ...}`. A value that cannot be serialized at all (a map with non-string keys,
/// a failing `Serialize` impl) becomes `{"serialization_error": "..."}`: the span is kept
/// and the reason is visible where the data would have been.
///
/// ```
/// use sgp_trace::JsonObject;
/// assert_eq!(JsonObject::new(&"hi").as_str(), r#"{"value":"hi"}"#);
/// assert_eq!(JsonObject::new(&serde_json::json!({"q": 1})).as_str(), r#"{"q":1}"#);
/// ```
#[derive(Clone)]
pub struct JsonObject(Text);

/// The most bytes a payload keeps inline, sized so a [`JsonObject`] is 40 bytes.
const INLINE_BYTES: usize = 38;

/// A payload's JSON text. A small one (a few short arguments, a number, a flag) is kept in
/// place: the program's thread allocates nothing for it, and the export thread, which drops
/// it, frees nothing (with glibc, memory freed by another thread is slow to come back and
/// fresh memory costs page faults on the hot path).
///
/// Each knows whether it is plain (see [`JsonObject::is_plain`]).
#[derive(Clone)]
enum Text {
    Inline {
        len: InlineLen,
        bytes: [u8; INLINE_BYTES],
    },
    Shared {
        text: Arc<str>,
        plain: bool,
    },
}

/// An inline text's length, with whether the text is plain in its top bit: a byte of its
/// own would leave room for one byte less of text, and a common two-argument input would
/// no longer fit.
#[derive(Clone, Copy)]
struct InlineLen(u8);

impl InlineLen {
    const PLAIN: u8 = 0x80;

    #[inline]
    fn new(len: usize, plain: bool) -> InlineLen {
        debug_assert!(len <= INLINE_BYTES);
        InlineLen(len as u8 | if plain { InlineLen::PLAIN } else { 0 })
    }

    #[inline]
    fn len(self) -> usize {
        usize::from(self.0 & !InlineLen::PLAIN)
    }

    #[inline]
    fn plain(self) -> bool {
        self.0 & InlineLen::PLAIN != 0
    }
}

impl JsonObject {
    /// Serializes a value into an object, wrapping or replacing it as described above.
    pub fn new<T: Serialize + ?Sized>(value: &T) -> JsonObject {
        // Written once behind room for the wrapper, which is kept only for a non-object.
        const WRAPPER: &[u8] = b"{\"value\":";
        let mut json = JsonWriter::new();
        json.extend(WRAPPER);
        if let Err(error) = crate::json::write(value, &mut json) {
            return JsonObject::serialization_error(&error);
        }
        if json.as_bytes().get(WRAPPER.len()) == Some(&b'{') {
            return json.to_object(WRAPPER.len());
        }
        json.push(b'}');
        json.to_object(0)
    }

    /// An object `{"serialization_error": message}` that stands for a value that could not be
    /// turned into JSON.
    pub fn serialization_error(error: &dyn fmt::Display) -> JsonObject {
        JsonObject::error_marker("serialization_error", &error.to_string())
    }

    /// An object `{key: text}` standing in for a value that could not be kept.
    pub(crate) fn error_marker(key: &str, text: &str) -> JsonObject {
        let mut json = Vec::with_capacity(key.len() + text.len() + 8);
        // Writing strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut json, &serde_json::json!({ key: text }));
        JsonObject::from_json(&json)
    }

    /// Wraps JSON text that serde_json or a [`JsonWriter`] wrote (with ASCII punctuation
    /// around it), so it is valid JSON and UTF-8.
    #[inline]
    pub(crate) fn from_json(json: &[u8]) -> JsonObject {
        JsonObject::from_written(json, false)
    }

    /// [`from_json`](Self::from_json), for text whose writer knows whether it is plain.
    #[inline]
    fn from_written(json: &[u8], plain: bool) -> JsonObject {
        debug_assert!(std::str::from_utf8(json).is_ok());
        // SAFETY: serde_json writes only UTF-8 (its own `to_string` relies on that);
        // `JsonWriter::string` copies a `&str` in pieces cut before and after ASCII bytes
        // (char boundaries) and adds ASCII escapes; callers add only ASCII.
        let text = unsafe { std::str::from_utf8_unchecked(json) };
        if text.len() <= INLINE_BYTES {
            let mut bytes = [0; INLINE_BYTES];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            JsonObject(Text::Inline {
                len: InlineLen::new(text.len(), plain),
                bytes,
            })
        } else {
            JsonObject(Text::Shared {
                text: Arc::from(text),
                plain,
            })
        }
    }

    /// The object's JSON text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Text::Inline { len, bytes } => {
                let text = &bytes[..len.len()];
                // SAFETY: the first `len` bytes are JSON text a writer wrote, copied whole
                // (`from_written`) or as the writer's room (`JsonWriter::to_object`).
                unsafe { std::str::from_utf8_unchecked(text) }
            }
            Text::Shared { text, .. } => text,
        }
    }

    /// Whether the object is plain: scalar values under keys that name no credential (an
    /// argument's name, or the `value` of a wrapped scalar), as its writer saw. The export
    /// thread then need not look for credential keys or deep nesting in it. Text from
    /// anywhere else is not plain and is looked at.
    pub(crate) fn is_plain(&self) -> bool {
        match self.0 {
            Text::Inline { len, .. } => len.plain(),
            Text::Shared { plain, .. } => plain,
        }
    }

    /// The object parsed into a [`serde_json::Value`].
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.as_str()).unwrap_or(Value::Null)
    }
}

impl fmt::Debug for JsonObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JsonObject {
    /// Embeds the object as it is. The export thread writes spans without serde; this is for
    /// custom exporters that serialize [`SpanItem`]s themselves.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue =
            serde_json::from_str(self.as_str()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// Payload JSON being written: in place while it is small, in the thread's reusable scratch
/// buffer once it outgrows that. A small payload (the usual few arguments or a return
/// value) then costs no thread-local access and no buffer hand-over; a large one is copied
/// into its shared [`JsonObject`] in one allocation, instead of a growing `Vec` allocated
/// and freed for every span.
#[derive(Debug)]
pub(crate) struct JsonWriter {
    /// Whether what was written is plain (see [`JsonObject::is_plain`]): no array or object
    /// but the outer one, no key but argument names that hold no fragment of a credential
    /// word (and `value`), nothing written by serde_json. Never set back, even when a write
    /// is undone.
    plain: bool,
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
            plain: true,
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

    /// The text written after its first `skip` bytes, as a [`JsonObject`]. A small text is
    /// handed over as a fixed-size copy of the writer's room (the bytes past its end are
    /// never read), where a copy of its exact length is a `memcpy` call.
    #[inline(always)]
    pub(crate) fn to_object(&self, skip: usize) -> JsonObject {
        if self.is_small() && self.len - skip <= INLINE_BYTES && skip + INLINE_BYTES <= SMALL_BYTES
        {
            debug_assert!(std::str::from_utf8(&self.small[skip..self.len]).is_ok());
            let mut bytes = [0; INLINE_BYTES];
            bytes.copy_from_slice(&self.small[skip..skip + INLINE_BYTES]);
            JsonObject(Text::Inline {
                len: InlineLen::new(self.len - skip, self.plain),
                bytes,
            })
        } else {
            JsonObject::from_written(&self.as_bytes()[skip..], self.plain)
        }
    }

    /// Notes that what is written is not plain (see [`JsonObject::is_plain`]): an array or
    /// an object opens, a key not known to name no credential is written, or serde_json
    /// writes a value.
    #[inline]
    pub(crate) fn not_plain(&mut self) {
        self.plain = false;
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
    /// between escapes are found many at a time (see [`next_escape`]) and copied as one run,
    /// where serde_json looks at every byte.
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
    /// forward from store to load: `perf` put a fifth of a `#[traced]` span's time there.
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

/// Hands `put` the text of `bytes` as a JSON string writes it, without its quotes: the runs
/// between escapes (found many bytes at a time, see [`next_escape`]) and the escapes.
#[inline(always)]
fn write_escaped(bytes: &[u8], mut put: impl FnMut(&[u8])) {
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

/// The most digits a `u64` has (`18446744073709551615`).
const MAX_DIGITS: usize = 20;

/// How many decimal digits `value` has.
#[inline(always)]
fn decimal_len(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Writes `value`'s decimal digits at the end of `text`, two at a time, right to left;
/// `text` ends where the last digit goes and has room for all of them. Bytes before the
/// digits are left as they are, so a field of zeros comes out zero-padded.
#[inline(always)]
fn write_digits(text: &mut [u8], mut value: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut end = text.len();
    while value >= 100 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        text[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
        end -= 2;
    }
    if value >= 10 {
        let pair = value as usize * 2;
        text[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        text[end - 1] = b'0' + value as u8;
    }
}

/// `value` (below a million) as six digits, two at a time with multiplications: a loop
/// with a table, as [`write_digits`], cost more for the two timestamps of every span.
#[inline(always)]
fn six_digits(value: u32) -> [u8; 6] {
    // `pair * 103 >> 10` is `pair / 10` for every pair below 100.
    let two = |pair: u32| {
        let tens = (pair * 103) >> 10;
        [b'0' + tens as u8, b'0' + (pair - tens * 10) as u8]
    };
    let high = value / 10_000 % 100;
    let rest = value % 10_000;
    let middle = rest / 100;
    let (high, middle, low) = (two(high), two(middle), two(rest - middle * 100));
    [high[0], high[1], middle[0], middle[1], low[0], low[1]]
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

/// The SSE2 searches (SSE2 is part of every x86-64 CPU).
#[cfg(target_arch = "x86_64")]
pub(crate) mod sse2 {
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
    pub(crate) unsafe fn quote_or_backslash_flags(at: *const u8) -> u32 {
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

/// A point in time, kept as nanoseconds since the Unix epoch and sent as RFC 3339 in UTC
/// with microseconds (`2026-11-21T09:30:00.123456Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        Timestamp(crate::clock::now_nanos())
    }

    /// Nanoseconds since the Unix epoch.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// The timestamp from nanoseconds since the Unix epoch.
    pub fn from_nanos(nanos: u64) -> Timestamp {
        Timestamp(nanos)
    }
}

impl From<SystemTime> for Timestamp {
    /// Times before 1970 (a badly set clock) are clamped to the epoch.
    fn from(time: SystemTime) -> Timestamp {
        let nanos = time
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_nanos() as u64)
            .unwrap_or(0);
        Timestamp(nanos)
    }
}

/// RFC 3339 text up to the fraction, `YYYY-MM-DDTHH:MM:SS.`: the same for every timestamp
/// within one second.
pub(crate) type SecondText = [u8; 20];

impl Timestamp {
    /// The RFC 3339 text, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, written digit by digit because the
    /// export thread formats two of these per span.
    pub(crate) fn rfc3339(self) -> [u8; 27] {
        self.rfc3339_in(&self.second_text())
    }

    /// Whole seconds since the Unix epoch.
    pub(crate) fn second(self) -> u64 {
        self.0 / 1_000_000_000
    }

    /// The text of the second this timestamp falls in.
    pub(crate) fn second_text(self) -> SecondText {
        let seconds = self.second();
        let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
        let second_of_day = seconds % 86_400;
        // Every field fits its zeros (the year is clamped), which pad it.
        let mut text = *b"0000-00-00T00:00:00.";
        write_digits(&mut text[0..4], year.clamp(0, 9999) as u64);
        write_digits(&mut text[5..7], u64::from(month));
        write_digits(&mut text[8..10], u64::from(day));
        write_digits(&mut text[11..13], second_of_day / 3600);
        write_digits(&mut text[14..16], second_of_day / 60 % 60);
        write_digits(&mut text[17..19], second_of_day % 60);
        text
    }

    /// The RFC 3339 text, given the text of its second (`second_text`, which a caller
    /// formatting many timestamps of the same second keeps): only the microseconds are left
    /// to write.
    pub(crate) fn rfc3339_in(self, second: &SecondText) -> [u8; 27] {
        let mut text = [b'Z'; 27];
        text[..second.len()].copy_from_slice(second);
        text[20..26].copy_from_slice(&six_digits((self.0 % 1_000_000_000 / 1_000) as u32));
        text
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.rfc3339();
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Year, month and day of a day count since 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`), so formatting needs no date library.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            Timestamp::from_nanos(0).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        // 2000-02-29T12:34:56.789012Z, a leap day.
        let nanos = 951_827_696_789_012_345;
        assert_eq!(
            Timestamp::from_nanos(nanos).to_string(),
            "2000-02-29T12:34:56.789012Z"
        );
        // 2026-11-21T23:59:59Z
        let nanos = 1_795_305_599_000_000_000;
        assert_eq!(
            Timestamp::from_nanos(nanos).to_string(),
            "2026-11-21T23:59:59.000000Z"
        );
    }

    #[test]
    fn small_and_large_payloads_read_back_whole() {
        assert_eq!(std::mem::size_of::<Option<JsonObject>>(), 40);
        // `{"q":"..."}` is 8 bytes around the text: 30 bytes of text is the largest inline.
        let texts = [
            "",
            "a",
            &"a".repeat(30),
            &"é".repeat(15),
            &"a".repeat(31),
            &"é".repeat(99),
        ];
        for text in texts {
            let object = JsonObject::new(&serde_json::json!({ "q": text }));
            let inline = matches!(object.0, Text::Inline { .. });
            assert_eq!(inline, text.len() <= 30, "{text}");
            assert_eq!(object.to_value()["q"], text);
            assert_eq!(object.clone().as_str(), object.as_str());
        }
    }

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
    fn only_scalars_under_known_keys_are_plain() {
        #[derive(serde::Serialize)]
        enum Choice {
            Named(u8),
        }
        let raw = serde_json::value::RawValue::from_string("1".into()).unwrap();
        for (object, plain) in [
            (JsonObject::new(&"hi"), true),
            (JsonObject::new(&7), true),
            (JsonObject::new(&2.5), true),
            (JsonObject::new(&Some(3)), true),
            (JsonObject::new(&"x".repeat(100)), true),
            (JsonObject::new(&serde_json::json!({"q": 1})), false),
            (JsonObject::new(&[1, 2]), false),
            (JsonObject::new(&Choice::Named(1)), false),
            (JsonObject::new(&raw), false),
            (JsonObject::from_json(br#"{"value":1}"#), false),
            (JsonObject::serialization_error(&"no"), false),
        ] {
            assert_eq!(object.is_plain(), plain, "{object:?}");
            assert_eq!(object.clone().is_plain(), plain, "{object:?}");
        }
    }

    #[test]
    fn six_digits_are_every_microsecond_zero_padded() {
        for value in 0..1_000_000 {
            assert_eq!(
                six_digits(value),
                format!("{value:06}").as_bytes(),
                "{value}"
            );
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

    #[test]
    fn non_objects_are_wrapped() {
        assert_eq!(JsonObject::new(&[1, 2]).as_str(), r#"{"value":[1,2]}"#);
        assert_eq!(JsonObject::new(&f64::NAN).as_str(), r#"{"value":null}"#);
    }

    #[test]
    fn unserializable_values_become_a_visible_error() {
        let mut map = std::collections::HashMap::new();
        map.insert((1, 2), "tuple keys are not JSON");
        let object = JsonObject::new(&map);
        assert!(
            object.as_str().starts_with(r#"{"serialization_error":"#),
            "{object:?}"
        );
    }
}
