//! Which payloads may skip the export thread's credential scan: the one rule, owned by
//! [`Proof`].
//!
//! The export thread looks through every payload for values under keys that name a
//! credential and redacts them. A payload its writer *proved* plain skips that scan: an
//! object whose every key holds no fragment of a credential word and whose every value is
//! a scalar (string, number, boolean, null), such as most `#[traced]` arguments. The proof
//! is fail-closed: a payload is scanned unless every key was followed by a value its writer
//! showed to be a scalar ([`Shape::Scalar`]), so a new way of writing a payload that proves
//! nothing leaves it scanned, never unscanned.

/// What a written value is, as far as the credential scan cares. Returned by every write
/// of the payload serializer, so each way of writing a value says which it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Shape {
    /// A string, number, boolean or null.
    Scalar,
    /// An array or object, or a value written by serde_json (nothing is known of it).
    Structured,
}

/// The proof, built as a payload object is written, that it is plain. Starts as an empty
/// object's (plain); each key must be followed by a value before the proof holds again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) struct Proof {
    holds: bool,
    awaiting_value: bool,
}

impl Proof {
    /// An object with no entry yet.
    pub(crate) const EMPTY_OBJECT: Proof = Proof {
        holds: true,
        awaiting_value: false,
    };

    /// No proof: a payload written with it is scanned.
    pub(crate) const NONE: Proof = Proof {
        holds: false,
        awaiting_value: false,
    };

    /// `{"value": ...}`, the wrapper of a payload that is not an object.
    #[inline]
    pub(crate) fn wrapped(value: Shape) -> Proof {
        Proof::EMPTY_OBJECT.key(true).value(value)
    }

    /// A key was written; `names_no_credential` from [`names_no_credential`].
    #[inline(always)]
    pub(crate) fn key(self, names_no_credential: bool) -> Proof {
        Proof {
            holds: self.holds && names_no_credential && !self.awaiting_value,
            awaiting_value: true,
        }
    }

    /// The value of the last key was written.
    #[inline(always)]
    pub(crate) fn value(self, shape: Shape) -> Proof {
        Proof {
            holds: self.holds && self.awaiting_value && shape == Shape::Scalar,
            awaiting_value: false,
        }
    }

    /// Whether the payload is proven plain: every key named no credential and was followed
    /// by a scalar.
    #[inline(always)]
    pub(crate) fn holds(self) -> bool {
        self.holds && !self.awaiting_value
    }
}

/// Whether an object key names no credential for certain: it holds no fragment of a
/// credential word. A `const fn`, so the keys of `#[traced]` arguments are judged as the
/// program compiles.
pub(crate) const fn names_no_credential(key: &[u8]) -> bool {
    !holds_credential_fragment(key)
}

/// Whether `key` holds, in any case, a fragment of a credential word: `key`, `secret`,
/// `pass`, `pwd`, `token`, `auth`, `credential` or `cookie`. One pass that follows which
/// of the last three bytes could begin a fragment ([`FRAGMENT_LETTERS`]); only where all
/// three could is the fragment compared. A `const fn`, so the keys of `#[traced]` arguments
/// are judged as the program compiles.
pub(crate) const fn holds_credential_fragment(key: &[u8]) -> bool {
    // Bit `i`: each of the last `i + 1` bytes is a letter some fragment has in that place
    // (not always the same fragment: `begins_fragment` decides).
    let mut could_begin = 0u8;
    let mut at = 0;
    while at < key.len() {
        could_begin = ((could_begin << 1) | 1) & FRAGMENT_LETTERS[key[at] as usize];
        at += 1;
        // Bit 2 needs three bytes read: the fragment would start at `at - 3`.
        if could_begin & 0b100 != 0 && begins_fragment(key, at - 3) {
            return true;
        }
    }
    false
}

/// The fragments of credential words, lowercase: a key that holds none names no credential.
const FRAGMENTS: [&[u8]; 8] = [
    b"key",
    b"secret",
    b"pass",
    b"pwd",
    b"token",
    b"auth",
    b"credential",
    b"cookie",
];

/// For each byte, in which of the first three places of some fragment it stands (bit 0 the
/// first, bit 1 the second, bit 2 the third), in either case.
const FRAGMENT_LETTERS: [u8; 256] = {
    let mut letters = [0u8; 256];
    let mut fragment = 0;
    while fragment < FRAGMENTS.len() {
        let mut place = 0;
        while place < 3 {
            let letter = FRAGMENTS[fragment][place];
            letters[letter as usize] |= 1 << place;
            letters[letter.to_ascii_uppercase() as usize] |= 1 << place;
            place += 1;
        }
        fragment += 1;
    }
    letters
};

/// Whether a credential fragment begins at `from` in `key`, in any case.
const fn begins_fragment(key: &[u8], from: usize) -> bool {
    let mut fragment = 0;
    while fragment < FRAGMENTS.len() {
        if starts_with_letters(key, from, FRAGMENTS[fragment]) {
            return true;
        }
        fragment += 1;
    }
    false
}

/// A letter in lowercase; `| 0x20` turns only `A` and `a` into `a` (and so for every
/// letter), so any other byte stays unequal to every lowercase letter.
const fn lowercase_letter(byte: u8) -> u8 {
    byte | 0x20
}

/// Whether `text` holds the lowercase `letters`, in any case, from `from` on.
const fn starts_with_letters(text: &[u8], from: usize, letters: &[u8]) -> bool {
    if text.len() - from < letters.len() {
        return false;
    }
    let mut at = 0;
    while at < letters.len() {
        if lowercase_letter(text[from + at]) != letters[at] {
            return false;
        }
        at += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_holds_only_when_every_key_is_followed_by_a_scalar() {
        let plain = Proof::EMPTY_OBJECT.key(true).value(Shape::Scalar);
        assert!(plain.holds());
        assert!(Proof::EMPTY_OBJECT.holds());
        assert!(!Proof::NONE.holds());
        assert!(
            !Proof::EMPTY_OBJECT.key(true).holds(),
            "a key with no value proven"
        );
        assert!(!Proof::EMPTY_OBJECT.key(false).value(Shape::Scalar).holds());
        assert!(!plain.key(true).value(Shape::Structured).holds());
        assert!(!plain.key(true).key(true).value(Shape::Scalar).holds());
        assert!(
            !Proof::EMPTY_OBJECT.value(Shape::Scalar).holds(),
            "a value with no key"
        );
        assert!(Proof::wrapped(Shape::Scalar).holds());
        assert!(!Proof::wrapped(Shape::Structured).holds());
    }

    #[test]
    fn fragments_are_found_in_any_case_and_place() {
        const FRAGMENTS: [&str; 8] = [
            "key",
            "secret",
            "pass",
            "pwd",
            "token",
            "auth",
            "credential",
            "cookie",
        ];
        let holds_by_windows = |key: &str| {
            let lower = key.to_ascii_lowercase();
            FRAGMENTS.iter().any(|fragment| lower.contains(fragment))
        };
        let mut keys = vec![String::new(), "ke".into(), "valu".into(), "x_tok".into()];
        for fragment in FRAGMENTS {
            for (before, after) in [("", ""), ("a_", ""), ("", "_b"), ("xX", "Yy")] {
                keys.push(format!("{before}{fragment}{after}"));
                keys.push(format!("{before}{}{after}", fragment.to_ascii_uppercase()));
                // Cut short by one letter: no longer a fragment.
                keys.push(format!(
                    "{before}{}{after}",
                    &fragment[..fragment.len() - 1]
                ));
            }
        }
        for key in keys {
            assert_eq!(
                holds_credential_fragment(key.as_bytes()),
                holds_by_windows(&key),
                "{key}"
            );
        }
    }
}
