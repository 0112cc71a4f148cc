//! What happens to a span's payloads on the export thread before they leave the process:
//! credential redaction, the user's masking hook, and size limits. Never on the hot path.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::json::escape::string_end;
use crate::json::plain::holds_credential_fragment;
use crate::json::JsonObject;
use crate::model::SpanItem;

/// The largest `input`, `output` or `metadata` sent as is, in bytes of JSON (64 KiB).
pub const DEFAULT_MAX_FIELD_BYTES: usize = 64 * 1024;

/// What replaces a value under a credential-named key, as the SGP server writes it.
pub const REDACTED: &str = "[REDACTED:credential]";

/// Which payload of a span a [`Mask`] is looking at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The span's `input`.
    Input,
    /// The span's `output`.
    Output,
    /// The span's `metadata`.
    Metadata,
}

impl Field {
    /// The field's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::Input => "input",
            Field::Output => "output",
            Field::Metadata => "metadata",
        }
    }
}

/// A user hook that rewrites a payload before it leaves the process (to remove secrets or
/// personal data). It runs on the export thread. An `Err` or a panic drops that field, which
/// is replaced by `{"masking_error": reason}`; the span and the thread carry on.
///
/// ```
/// use sgp_trace::{Config, Field};
/// let config = Config::builder()
///     .mask(|_field: Field, value: &mut serde_json::Value| {
///         if let Some(email) = value.get_mut("email") {
///             *email = "<email>".into();
///         }
///         Ok(())
///     })
///     .build()
///     .unwrap();
/// # drop(config);
/// ```
pub type Mask = Arc<dyn Fn(Field, &mut Value) -> Result<(), String> + Send + Sync>;

/// The payload settings of the export thread.
#[derive(Clone)]
pub(crate) struct Controls {
    pub(crate) max_field_bytes: usize,
    pub(crate) redact_credentials: bool,
    pub(crate) mask: Option<Mask>,
}

impl fmt::Debug for Controls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controls")
            .field("max_field_bytes", &self.max_field_bytes)
            .field("redact_credentials", &self.redact_credentials)
            .field("mask", &self.mask.is_some())
            .finish()
    }
}

/// What [`Controls::apply`] did to one span, for the counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Applied {
    pub(crate) truncated: usize,
    pub(crate) redacted: usize,
    pub(crate) mask_failures: usize,
}

impl Controls {
    /// Redacts, masks and limits the span's payloads in place.
    pub(crate) fn apply(&self, item: &mut SpanItem) -> Applied {
        let mut applied = Applied::default();
        // The sizes of truncated payloads, by field; made only when one is truncated (an
        // empty map made and dropped for every span costs more than the rest of a small
        // span's checks).
        let mut original_sizes: Option<Map<String, Value>> = None;
        let mut note_size = |field: Field, original: Option<usize>| {
            if let Some(bytes) = original {
                original_sizes
                    .get_or_insert_with(Map::new)
                    .insert(field.as_str().into(), bytes.into());
            }
        };
        for (field, slot) in [
            (Field::Input, &mut item.input),
            (Field::Output, &mut item.output),
        ] {
            if let Some(object) = slot {
                let (processed, original) = self.process(field, object, &mut applied);
                note_size(field, original);
                if let Some(processed) = processed {
                    *object = processed;
                }
            }
        }
        if let Some(metadata) = &mut item.metadata {
            let object = JsonObject::new(&**metadata);
            let before = applied;
            let (processed, original) = self.process(Field::Metadata, &object, &mut applied);
            note_size(Field::Metadata, original);
            // Parse back only what changed; most metadata passes untouched.
            if applied != before {
                let object = processed.unwrap_or(object);
                *metadata = Arc::new(match object.to_value() {
                    Value::Object(map) => map,
                    _ => Map::new(),
                });
            }
        }
        if let Some(original_sizes) = original_sizes {
            let metadata = item.metadata_mut();
            metadata.insert("truncated_fields".into(), Value::Object(original_sizes));
        }
        applied
    }

    /// One payload: redacted and masked (parsing it only when needed), then limited.
    /// Returns the new payload, `None` when it passes as it is, and when it was truncated
    /// its size before.
    fn process(
        &self,
        field: Field,
        object: &JsonObject,
        applied: &mut Applied,
    ) -> (Option<JsonObject>, Option<usize>) {
        let scan = if object.is_plain() {
            // Scalars under keys that name no credential: nothing to look for.
            Scan {
                depth: 1,
                credential_key: false,
            }
        } else {
            scan(object.as_str())
        };
        if scan.depth > MAX_DEPTH {
            // Deeper than JSON parsers accept (serde_json and the server stop at 128): the
            // value could be neither redacted nor stored, so a preview stands in for it.
            applied.truncated += 1;
            let size = object.as_str().len();
            return (
                Some(preview(object, self.max_field_bytes, "nested too deep")),
                Some(size),
            );
        }
        let needs_redaction = self.redact_credentials && scan.credential_key;
        let changed = (needs_redaction || self.mask.is_some()).then(|| {
            let mut value = object.to_value();
            if needs_redaction {
                applied.redacted += redact(&mut value);
            }
            match self
                .mask
                .as_ref()
                .map(|mask| run_mask(mask, field, &mut value))
            {
                Some(Err(reason)) => {
                    applied.mask_failures += 1;
                    JsonObject::error_marker("masking_error", &reason)
                }
                _ => JsonObject::new(&value),
            }
        });
        let current = changed.as_ref().unwrap_or(object);
        let size = current.as_str().len();
        if size <= self.max_field_bytes {
            return (changed, None);
        }
        applied.truncated += 1;
        (Some(truncate(current, self.max_field_bytes)), Some(size))
    }
}

fn run_mask(mask: &Mask, field: Field, value: &mut Value) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| mask(field, value))) {
        Ok(result) => result,
        Err(_) => Err("the masking hook panicked".into()),
    }
}

/// Last words of a key that name a credential: `access_token`, `client_secret`,
/// `Authorization`, but not `max_tokens` or `token_count`.
const CREDENTIAL_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "auth",
    "credential",
    "credentials",
    "cookie",
    "apikey",
];

/// Words before a final `key` that make it a credential: `api_key`, `x-api-key`, `privateKey`.
const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "access",
    "private",
    "secret",
    "signing",
    "encryption",
];

/// What one pass over a payload's JSON text tells, without parsing it.
struct Scan {
    /// How deeply objects and arrays nest.
    depth: usize,
    /// Whether some key names a credential, so the payload must be parsed and redacted.
    credential_key: bool,
}

/// Walks the JSON text once: brackets outside strings give the depth, and each string
/// followed by `:` is a key, checked against the credential words. Inside a string only a
/// quote or a backslash matters, so it jumps from one to the next (see [`string_end`], many
/// bytes at a time) instead of looking at every byte of a long prompt or completion.
fn scan(json: &str) -> Scan {
    let mut result = Scan {
        depth: 0,
        credential_key: false,
    };
    let bytes = json.as_bytes();
    let mut depth = 0usize;
    let mut last_string = None::<(usize, usize)>;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        index += 1;
        match byte {
            b'"' => {
                let start = index;
                let Some(end) = string_end(bytes, start) else {
                    break;
                };
                last_string = Some((start, end));
                index = end + 1;
                continue;
            }
            b':' => {
                if let Some((start, end)) = last_string {
                    result.credential_key |= is_credential_key(&json[start..end]);
                }
            }
            b'{' | b'[' => {
                depth += 1;
                result.depth = result.depth.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if !byte.is_ascii_whitespace() {
            last_string = None;
        }
    }
    result
}

/// Whether a key names a credential, judged by its last word (and the one before `key`).
#[inline]
fn is_credential_key(key: &str) -> bool {
    // The export thread checks every key of every payload, and most keys (`count`,
    // `query`, `value`) hold no fragment of a credential word: they are told apart first,
    // without splitting the key into words.
    holds_credential_fragment(key.as_bytes()) && last_words_name_a_credential(key)
}

/// Whether the key's last word names a credential (or its last two, one ending in `key`).
/// Out of line: most keys never get here, and inlined it made every check pay for its
/// stack frame.
#[inline(never)]
fn last_words_name_a_credential(key: &str) -> bool {
    let words = key_words(key);
    match words.as_slice() {
        [.., qualifier, last] if last == "key" => KEY_QUALIFIERS.contains(&qualifier.as_str()),
        [.., last] => CREDENTIAL_WORDS.contains(&last.as_str()),
        [] => false,
    }
}

/// The lowercase words of a key, split at separators and camelCase humps.
fn key_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            words.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    words.extend((!word.is_empty()).then_some(word));
    words
}

/// Replaces every value under a credential-named key; returns how many.
fn redact(value: &mut Value) -> usize {
    match value {
        Value::Object(map) => map
            .iter_mut()
            .map(|(key, value)| {
                if is_credential_key(key) && !value.is_null() {
                    *value = Value::String(REDACTED.into());
                    1
                } else {
                    redact(value)
                }
            })
            .sum(),
        Value::Array(items) => items.iter_mut().map(redact).sum(),
        _ => 0,
    }
}

/// A payload cut to fit `max_bytes`: long strings are shortened where they are, keeping the
/// object's shape; when that is not enough, a preview of the JSON text stands in for it.
/// Either way the marker says how large it was.
fn truncate(object: &JsonObject, max_bytes: usize) -> JsonObject {
    let mut value = object.to_value();
    shorten_strings(&mut value, max_bytes / 4);
    let shortened = JsonObject::new(&value);
    if shortened.as_str().len() <= max_bytes {
        return shortened;
    }
    preview(object, max_bytes, "too large")
}

/// `{"truncated": true, "reason": ..., "original_bytes": N, "preview": "..."}`.
fn preview(object: &JsonObject, max_bytes: usize, reason: &str) -> JsonObject {
    let preview: String = object.as_str().chars().take(max_bytes / 2).collect();
    JsonObject::new(&serde_json::json!({
        "truncated": true,
        "reason": reason,
        "original_bytes": object.as_str().len(),
        "preview": preview,
    }))
}

/// The deepest nesting of objects and arrays kept as is.
const MAX_DEPTH: usize = 100;

fn shorten_strings(value: &mut Value, max_chars: usize) {
    match value {
        Value::String(text) if text.len() > max_chars => {
            let kept: String = text.chars().take(max_chars).collect();
            *text = format!("{kept}… [truncated from {} bytes]", text.len());
        }
        Value::Object(map) => map
            .values_mut()
            .for_each(|value| shorten_strings(value, max_chars)),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|value| shorten_strings(value, max_chars)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The scan as it was first written, a byte at a time: the reference for the one that
    /// jumps through strings.
    fn scan_bytewise(json: &str) -> Scan {
        let mut result = Scan {
            depth: 0,
            credential_key: false,
        };
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        let (mut string_start, mut last_string) = (0usize, None::<(usize, usize)>);
        for (index, byte) in json.bytes().enumerate() {
            if in_string {
                match (escaped, byte) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => {
                        in_string = false;
                        last_string = Some((string_start, index));
                    }
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => {
                    in_string = true;
                    string_start = index + 1;
                    continue;
                }
                b':' => {
                    if let Some((start, end)) = last_string {
                        result.credential_key |= is_credential_key(&json[start..end]);
                    }
                }
                b'{' | b'[' => {
                    depth += 1;
                    result.depth = result.depth.max(depth);
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if !byte.is_ascii_whitespace() {
                last_string = None;
            }
        }
        result
    }

    #[test]
    fn scanning_by_jumps_finds_what_scanning_every_byte_finds() {
        const PIECES: &[&str] = &[
            "\"", "\\", "\n", "\u{1f}", "{", "}", "[", "]", ":", " ", ",", "a", "token", "key",
            "api_", "é",
        ];
        // A fixed xorshift, so a failure reproduces.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(PIECES[(state % PIECES.len() as u64) as usize]);
            }
            let (fast, reference) = (scan(&text), scan_bytewise(&text));
            assert_eq!(fast.depth, reference.depth, "{text:?}");
            assert_eq!(fast.credential_key, reference.credential_key, "{text:?}");
        }
    }

    fn controls() -> Controls {
        Controls {
            max_field_bytes: 200,
            redact_credentials: true,
            mask: None,
        }
    }

    /// What `process` makes of `object`: the new payload, or the same one.
    fn processed(
        controls: &Controls,
        field: Field,
        object: &JsonObject,
        applied: &mut Applied,
    ) -> (JsonObject, Option<usize>) {
        let (new, original) = controls.process(field, object, applied);
        (new.unwrap_or_else(|| object.clone()), original)
    }

    #[test]
    fn credential_keys_are_redacted_at_any_depth() {
        let mut value = json!({"api_key": "sk-1", "nested": [{"Authorization": "Bearer x", "keep": 1}], "monkey": "ok", "x-session-id": null});
        assert_eq!(redact(&mut value), 2);
        assert_eq!(
            value,
            json!({"api_key": REDACTED, "nested": [{"Authorization": REDACTED, "keep": 1}], "monkey": "ok", "x-session-id": null})
        );
    }

    #[test]
    fn credential_keys_are_told_from_lookalikes() {
        for key in [
            "api_key",
            "x-api-key",
            "apiKey",
            "access_token",
            "client_secret",
            "Authorization",
            "password",
            "privateKey",
            "SESSION_COOKIE",
        ] {
            assert!(is_credential_key(key), "{key} is a credential");
        }
        for key in [
            "max_tokens",
            "prompt_tokens",
            "token_count",
            "monkey",
            "key",
            "keyword",
            "author",
            "sort_key",
            "passage",
        ] {
            assert!(!is_credential_key(key), "{key} is not a credential");
        }
    }

    #[test]
    fn one_scan_finds_depth_and_credential_keys() {
        assert_eq!(scan(r#"{"a":[{"b":"[[[{{"}]}"#).depth, 3);
        assert_eq!(scan(r#"{"a\\":"\\\"[","b":[["\\"]]}"#).depth, 3);
        assert!(scan(r#"{"x":"a\"b","token":1}"#).credential_key);
        assert!(!scan(r#"{"x":"token\"","y":2}"#).credential_key);
        assert_eq!(scan(r#"{"unclosed":"[[["#).depth, 1);
        assert_eq!(scan(r#"{"a":"\"[["}"#).depth, 1);
        assert!(scan(r#"{"q":"password","nested":{"api_key":1}}"#).credential_key);
        assert!(!scan(r#"{"q":"my password is","list":["token"],"max_tokens":3}"#).credential_key);
    }

    #[test]
    fn values_nested_too_deep_become_a_preview() {
        let mut deep = json!(1);
        for _ in 0..300 {
            deep = json!([deep]);
        }
        let object = JsonObject::new(&json!({ "v": deep }));
        let mut applied = Applied::default();
        let (cut, original) = processed(&controls(), Field::Input, &object, &mut applied);
        let value = cut.to_value();
        assert_eq!(value["reason"], "nested too deep");
        assert_eq!(original, Some(object.as_str().len()));
        assert_eq!(applied.truncated, 1);
    }

    #[test]
    fn long_strings_are_shortened_in_place() {
        let object = JsonObject::new(&json!({"prompt": "x".repeat(1000), "n": 1}));
        let cut = truncate(&object, 200);
        let value = cut.to_value();
        assert_eq!(value["n"], 1);
        assert!(value["prompt"]
            .as_str()
            .unwrap()
            .ends_with("[truncated from 1000 bytes]"));
        assert!(cut.as_str().len() <= 200);
    }

    #[test]
    fn many_small_values_fall_back_to_a_preview() {
        let object = JsonObject::new(&(0..500).collect::<Vec<_>>());
        let cut = truncate(&object, 200);
        let value = cut.to_value();
        assert_eq!(value["truncated"], true);
        assert_eq!(value["original_bytes"], object.as_str().len());
    }

    #[test]
    fn a_failing_mask_drops_only_that_field() {
        let mask: Mask = Arc::new(|field, _value: &mut Value| match field {
            Field::Output => panic!("hook bug"),
            _ => Ok(()),
        });
        let controls = Controls {
            mask: Some(mask),
            ..controls()
        };
        let (input, _) = processed(
            &controls,
            Field::Input,
            &JsonObject::new(&json!({"a": 1})),
            &mut Applied::default(),
        );
        let mut applied = Applied::default();
        let (output, _) = processed(
            &controls,
            Field::Output,
            &JsonObject::new(&json!({"b": 2})),
            &mut applied,
        );
        assert_eq!(input.to_value(), json!({"a": 1}));
        assert_eq!(
            output.to_value(),
            json!({"masking_error": "the masking hook panicked"})
        );
        assert_eq!(applied.mask_failures, 1);
    }
}
