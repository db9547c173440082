//! Reading one top-level string field of a JSON object body.
//!
//! The delivery ids of clarife and Stripe live in the body. Building a whole
//! `serde_json::Value` to read it would cost more than the HMAC over it, so
//! this scanner walks the object's top level without building anything:
//! nested values are skipped by counting brackets (no recursion, so no stack
//! to exhaust), strings eight bytes at a time. The body is only read after its
//! signature matched.
//!
//! The scan goes on past the field to the object's end: a body that names the
//! field twice at the top level (`{"id":"a","id":"b"}`, or with the second key
//! spelled `"\u0069d"`) is refused, since a typed payload would then read
//! either value or fail, and the value verification read must be the one the
//! handler reads. Where the rest of the body holds neither the field's name
//! nor a backslash, no key there can spell it, and two SIMD searches say so
//! instead of the walk.
//!
//! Claravine's `token` is read by [`checked_top_level_string`] instead: its
//! body must be JSON as a whole, and the token comes last, after long
//! strings, which the scanner walks a byte at a time.

use std::borrow::Cow;

/// The field appears more than once at the top level of the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DuplicateField;

/// A top-level field verification reads from the body, with the searcher
/// for its name built once (per verifier) rather than on every delivery.
#[derive(Debug, Clone)]
pub(crate) struct BodyField {
    name: &'static str,
    finder: memchr::memmem::Finder<'static>,
}

impl BodyField {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            finder: memchr::memmem::Finder::new(name),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Whether no key of `rest` (the body after the field's first value)
    /// can spell the field: a key spelling it needs its letters or an
    /// escape. Where the rest has neither, two SIMD searches (tens of bytes
    /// a step) prove there is no second one without walking the rest member
    /// by member, which cost a third of the HMAC on a 1 KiB Paddle body;
    /// where it has either, the walk decides.
    fn cannot_be_named_in(&self, rest: &[u8]) -> bool {
        memchr::memchr(b'\\', rest).is_none() && self.finder.find(rest).is_none()
    }
}

/// The text of a string value read by [`body_field_string`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldText<'a> {
    /// Written without escapes, in ASCII: the raw bytes are the text. Told
    /// apart with a word-at-a-time check rather than `str::from_utf8`, which
    /// walks a short, unaligned id a byte at a time (about 110 instructions
    /// for Paddle's 28-byte `event_id`).
    Ascii(&'a [u8]),
    /// Anything else, decoded as [`top_level_string`] decodes it.
    Text(Cow<'a, str>),
}

impl<'a> FieldText<'a> {
    fn of(raw: &'a [u8], escaped: bool) -> Option<Self> {
        if !escaped && raw.is_ascii() {
            Some(Self::Ascii(raw))
        } else {
            decode(raw, escaped).map(Self::Text)
        }
    }

    /// The text's bytes: UTF-8, whichever the variant.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Ascii(bytes) => bytes,
            Self::Text(text) => text.as_bytes(),
        }
    }
}

/// [`top_level_string`] of a [`BodyField`], the value as [`FieldText`].
pub(crate) fn body_field_string<'a>(
    body: &'a [u8],
    field: &BodyField,
) -> Result<Option<FieldText<'a>>, DuplicateField> {
    top_level_string_of(
        body,
        field.name,
        |rest| field.cannot_be_named_in(rest),
        FieldText::of,
    )
}

/// The string value of the top-level `field` of a JSON object, if the scan finds
/// it before anything it does not understand (`Ok(None)` otherwise, or when its
/// value is not a string). Escaped strings (keys and values) are decoded.
///
/// # Errors
///
/// [`DuplicateField`] when the scan finds the field twice at the top level.
/// A body the scan stops understanding after the field keeps its first value:
/// it is not JSON, so no JSON parser reads a second one from it.
/// (Verifiers read a [`BodyField`] with [`body_field_string`].)
#[cfg(test)]
pub(crate) fn top_level_string<'a>(
    body: &'a [u8],
    field: &str,
) -> Result<Option<Cow<'a, str>>, DuplicateField> {
    top_level_string_of(body, field, |rest| cannot_name_again(rest, field), decode)
}

/// [`top_level_string`], with `cannot_name` saying whether the rest of the
/// body after the field's first value cannot name it again, and `text`
/// reading a string value (its raw contents and whether it holds escapes).
fn top_level_string_of<'a, T>(
    body: &'a [u8],
    field: &str,
    cannot_name: impl Fn(&[u8]) -> bool,
    text: impl Fn(&'a [u8], bool) -> Option<T>,
) -> Result<Option<T>, DuplicateField> {
    let mut scan = Scanner {
        bytes: body,
        pos: 0,
    };
    // `None`: not found yet; `Some(value)`: found once, with its string value
    // if it is a string.
    let mut found: Option<Option<T>> = None;
    let walked = scan.members(|scan, key, key_escaped| {
        if !is_key(key, key_escaped, field) {
            return scan.skip_value().ok_or(Stop::NotUnderstood);
        }
        if found.is_some() {
            return Err(Stop::Duplicate);
        }
        let value = if scan.peek() == Some(b'"') {
            let (value, escaped) = scan.string().ok_or(Stop::NotUnderstood)?;
            text(value, escaped)
        } else {
            scan.skip_value().ok_or(Stop::NotUnderstood)?;
            None
        };
        found = Some(value);
        if cannot_name(scan.bytes.get(scan.pos..).unwrap_or_default()) {
            return Err(Stop::NoSecond);
        }
        Ok(())
    });
    match walked {
        Err(Stop::Duplicate) => Err(DuplicateField),
        Ok(()) | Err(Stop::NotUnderstood | Stop::NoSecond) => Ok(found.flatten()),
    }
}

/// [`BodyField::cannot_be_named_in`] with a searcher built for this call,
/// for a rest of at least [`SHORT_REST`] bytes; a shorter rest is left to
/// the walk (`false`), which decides the same.
#[cfg(any(test, feature = "json"))]
fn cannot_name_again(rest: &[u8], field: &str) -> bool {
    rest.len() >= SHORT_REST
        && memchr::memchr(b'\\', rest).is_none()
        && memchr::memmem::find(rest, field.as_bytes()).is_none()
}

/// Below this many bytes, walking the rest of a body costs less than
/// proving it cannot name the field again: `memmem::find` searches a
/// haystack under 64 bytes with Rabin-Karp, a byte at a time (some 500
/// instructions for the 55 bytes after Linear's `webhookTimestamp`, where
/// walking its one remaining member costs about 200), and builds a whole
/// searcher for a longer one.
#[cfg(any(test, feature = "json"))]
const SHORT_REST: usize = 256;

/// Whether a key token (its raw contents and whether it holds escapes) spells
/// `field`.
#[inline(always)]
fn is_key(raw: &[u8], escaped: bool, field: &str) -> bool {
    if escaped {
        unescape(raw).is_some_and(|key| key == field)
    } else {
        raw == field.as_bytes()
    }
}

/// Why [`Scanner::members`] stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Something the scanner does not understand: not JSON.
    NotUnderstood,
    /// The field was found twice.
    Duplicate,
    /// The field was found, and the rest of the body cannot name it again.
    NoSecond,
}

/// Where the value of the top-level `field` (its key written without escapes)
/// sits in a JSON object body: `Some(Ok(range))` when found, `Some(Err(at))`
/// when the object has no such key, `at` being just after its `{`, and `None`
/// when the scan stops on something it does not understand.
#[cfg(feature = "json")]
pub(crate) fn top_level_value(
    body: &[u8],
    field: &str,
) -> Option<Result<std::ops::Range<usize>, usize>> {
    let mut scan = Scanner {
        bytes: body,
        pos: 0,
    };
    scan.skip_whitespace();
    scan.expect(b'{')?;
    let open = scan.pos;
    scan.skip_whitespace();
    if scan.peek()? == b'}' {
        return Some(Err(open));
    }
    loop {
        let (key, key_escaped) = scan.string()?;
        scan.skip_whitespace();
        scan.expect(b':')?;
        scan.skip_whitespace();
        let start = scan.pos;
        scan.skip_value()?;
        if !key_escaped && key == field.as_bytes() {
            return Some(Ok(start..scan.pos));
        }
        scan.skip_whitespace();
        match scan.next()? {
            b',' => scan.skip_whitespace(),
            b'}' => return Some(Err(open)),
            _ => return None,
        }
    }
}

/// A top-level member verification reads as it is written (Linear's
/// `webhookTimestamp`), with a searcher for its key, quotes included, built
/// once (per verifier) rather than on every delivery.
#[cfg(feature = "json")]
#[derive(Debug, Clone)]
pub(crate) struct TopLevelKey {
    name: &'static str,
    quoted: memchr::memmem::Finder<'static>,
}

#[cfg(feature = "json")]
impl TopLevelKey {
    /// A key of ASCII letters, digits and `_` that starts with a letter:
    /// [`TopLevelKey::find_quickly`]'s proof needs both (only a `\u` escape
    /// can then spell one of its bytes, and no JSON token ends just before
    /// its first).
    ///
    /// # Panics
    ///
    /// On any other name: a verifier's field names are constants.
    pub(crate) fn new(name: &'static str) -> Self {
        let letters = name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
        assert!(
            letters,
            "a top-level key of letters, digits and _: {name:?}"
        );
        Self {
            name,
            quoted: memchr::memmem::Finder::new(&format!("\"{name}\"")).into_owned(),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Where the key's value is, found without walking the members before
    /// it: `None` where this cannot prove the answer, which the walk then
    /// gives. Linear writes `webhookTimestamp` near the end of its body,
    /// after `data`, so the walk skips nearly every byte member by member
    /// (1,760 instructions of a 1 KiB body, 55% of what Linear's check costs
    /// beyond its HMAC); one SIMD search finds it instead.
    ///
    /// The proof, for a JSON object body (the body's signature has matched:
    /// the sender wrote it):
    /// - The search finds the first `"name"` in the body. Its first quote
    ///   opens a string (after a closing quote JSON allows only whitespace
    ///   and `:`, `,`, `}` or `]`, not a letter); without a backslash in it,
    ///   that string is the name. A `{` or `,` before it and a `:` after it
    ///   make it a key; a `\` before it (a string's escaped quote) does not.
    /// - No key before it spells the name: not literally (the search found
    ///   the first), and not with escapes, which need a `\u`: there is none
    ///   before it (a `\\u` counts too, which only sends the body to the walk).
    /// - Its object is the body's: the members after it, walked, are closed
    ///   by a `}` that only whitespace follows. A key in a nested object is
    ///   followed by at least its own `}` and its parent's.
    /// - No key after it spells the name: that walk compares every key, and
    ///   leaves a second one to the walk, which refuses it. (So a body with
    ///   the key first pays for walking every member after it, which the
    ///   walk may skip with its search of the rest; Linear's comes last.)
    ///
    /// On a body that is not JSON the two may differ: either may read a
    /// value, another value, none or a duplicate where the other does not
    /// (`{"a":1},"webhookTimestamp":5}` is `5` here, missing to the walk).
    /// Neither validates JSON (the walk takes any run of bytes for a
    /// number); a strict parser, such as the serde_json that typed events
    /// use, refuses such a body whichever read it, and only a body whose
    /// signature matched is read at all.
    fn find_quickly(&self, body: &[u8]) -> Option<std::ops::Range<usize>> {
        let at = self.quoted.find(body)?;
        let before = &body[..at];
        // `backslash + 1` is at most `at`, inside the body.
        if memchr::memchr_iter(b'\\', before).any(|backslash| body[backslash + 1] == b'u') {
            return None;
        }
        let opener = before.iter().rev().find(|&&byte| !is_whitespace(byte))?;
        if !matches!(opener, b'{' | b',') {
            return None;
        }
        let mut scan = Scanner {
            bytes: body,
            pos: at + self.name.len() + 2,
        };
        scan.skip_whitespace();
        scan.expect(b':')?;
        scan.skip_whitespace();
        let start = scan.pos;
        scan.skip_value()?;
        let value = start..scan.pos;
        scan.skip_whitespace();
        match scan.next()? {
            b',' => {
                scan.skip_whitespace();
                scan.members_from_key(|scan, key, escaped| {
                    if is_key(key, escaped, self.name) {
                        return Err(Stop::Duplicate);
                    }
                    scan.skip_value().ok_or(Stop::NotUnderstood)
                })
                .ok()?;
            }
            b'}' => {}
            _ => return None,
        }
        scan.skip_whitespace();
        (scan.pos == body.len()).then_some(value)
    }
}

/// JSON's whitespace.
fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

/// Where the value of the top-level `key` sits in a JSON object body, for
/// a field verification reads as it is written (Linear's `webhookTimestamp`):
/// `Ok(None)` when the object has no such key.
///
/// # Errors
///
/// [`Unreadable::Duplicate`] when the key appears twice at the top level
/// (keys compared decoded), [`Unreadable::NotAnObject`] when the scan does
/// not understand the body before it found the key.
#[cfg(feature = "json")]
pub(crate) fn unique_top_level_value(
    body: &[u8],
    key: &TopLevelKey,
) -> Result<Option<std::ops::Range<usize>>, Unreadable> {
    if let Some(value) = key.find_quickly(body) {
        return Ok(Some(value));
    }
    walk_to_unique_top_level_value(body, key.name)
}

/// [`unique_top_level_value`] by walking the object's members from its
/// start.
#[cfg(feature = "json")]
fn walk_to_unique_top_level_value(
    body: &[u8],
    field: &str,
) -> Result<Option<std::ops::Range<usize>>, Unreadable> {
    let mut scan = Scanner {
        bytes: body,
        pos: 0,
    };
    let mut found = None;
    let walked = scan.members(|scan, key, key_escaped| {
        let start = scan.pos;
        scan.skip_value().ok_or(Stop::NotUnderstood)?;
        if is_key(key, key_escaped, field) {
            if found.is_some() {
                return Err(Stop::Duplicate);
            }
            found = Some(start..scan.pos);
            if cannot_name_again(scan.bytes.get(scan.pos..).unwrap_or_default(), field) {
                return Err(Stop::NoSecond);
            }
        }
        Ok(())
    });
    match walked {
        Err(Stop::Duplicate) => Err(Unreadable::Duplicate),
        Err(Stop::NotUnderstood) if found.is_none() => Err(Unreadable::NotAnObject),
        Ok(()) | Err(Stop::NotUnderstood | Stop::NoSecond) => Ok(found),
    }
}

/// Why [`checked_top_level_string`] read no value.
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// The body is not a JSON object (or not JSON at all).
    NotAnObject,
    /// The object has the member more than once.
    Duplicate,
}

/// The string value of the top-level `field` of a JSON object body, reading
/// the whole body with `serde_json` (a body that is not one JSON object is
/// refused) without building it: the other members are skipped, not kept, so
/// nothing is allocated but an escaped value. `Ok(None)` when the object has
/// no such member or its value is not a string. Keys are compared decoded, so
/// `"tok\u0065n"` is `token`.
///
/// # Errors
///
/// [`Unreadable::Duplicate`] when the member appears more than once (where a
/// `serde_json::Value` keeps the last and a derived struct refuses the body,
/// so no reading of it is the one every reader agrees on), else
/// [`Unreadable::NotAnObject`] for a body that is not one JSON object.
#[cfg(feature = "json")]
pub(crate) fn checked_top_level_string<'a>(
    body: &'a [u8],
    field: &str,
) -> Result<Option<Cow<'a, str>>, Unreadable> {
    use serde_core::de::DeserializeSeed;

    let duplicate = std::cell::Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = checked::Member {
        field,
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|found| de.end().map(|()| found));
    found.map_err(|_| {
        if duplicate.get() {
            Unreadable::Duplicate
        } else {
            Unreadable::NotAnObject
        }
    })
}

/// The visitors of [`checked_top_level_string`].
#[cfg(feature = "json")]
mod checked {
    use std::borrow::Cow;
    use std::cell::Cell;
    use std::fmt;

    use serde_core::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

    /// The string value of one top-level member of an object; a second
    /// member of that name sets `duplicate` and stops the read with an error.
    pub(super) struct Member<'f> {
        pub(super) field: &'f str,
        pub(super) duplicate: &'f Cell<bool>,
    }

    impl<'de> DeserializeSeed<'de> for Member<'_> {
        type Value = Option<Cow<'de, str>>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Member<'_> {
        type Value = Option<Cow<'de, str>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            // `None`: not seen yet; `Some(value)`: seen, with its string value.
            let mut found = None;
            while let Some(wanted) = map.next_key_seed(KeyIs(self.field))? {
                if !wanted {
                    map.next_value::<IgnoredAny>()?;
                } else if found.is_some() {
                    self.duplicate.set(true);
                    return Err(de::Error::custom("duplicate member"));
                } else {
                    found = Some(map.next_value_seed(StringOrNone)?);
                }
            }
            Ok(found.flatten())
        }
    }

    /// Whether a key is the member's name, compared without keeping the key.
    struct KeyIs<'f>(&'f str);

    impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
        type Value = bool;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }

    impl<'de> Visitor<'de> for KeyIs<'_> {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object key")
        }

        fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
            Ok(key == self.0)
        }
    }

    /// A string value, borrowed when it has no escapes; any other value,
    /// skipped whole, is `None`.
    struct StringOrNone;

    impl<'de> DeserializeSeed<'de> for StringOrNone {
        type Value = Option<Cow<'de, str>>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for StringOrNone {
        type Value = Option<Cow<'de, str>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
}

fn decode(raw: &[u8], escaped: bool) -> Option<Cow<'_, str>> {
    if escaped {
        unescape(raw).map(Cow::Owned)
    } else {
        std::str::from_utf8(raw).ok().map(Cow::Borrowed)
    }
}

/// Decodes the contents of a JSON string token that holds escapes, as
/// serde_json does: `None` for an unknown escape, a lone surrogate, a raw
/// control character or bytes that are not UTF-8 (all of which serde_json
/// refuses too). Written out rather than borrowed from serde_json so that the
/// scanner decodes keys and ids without the `json` feature.
fn unescape(raw: &[u8]) -> Option<String> {
    if raw.iter().any(|&byte| byte < 0x20) {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.iter().position(|&byte| byte == b'\\') {
        out.extend_from_slice(&rest[..at]);
        let (&kind, after) = rest[at + 1..].split_first()?;
        rest = after;
        let byte = match kind {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let (unit, after) = hex4(rest)?;
                rest = after;
                let code = if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate: only with a low one after it.
                    let (low, after) = hex4(rest.strip_prefix(b"\\u")?)?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    rest = after;
                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    unit
                };
                // A lone low surrogate is no `char`.
                let decoded = char::from_u32(code)?;
                out.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            _ => return None,
        };
        out.push(byte);
    }
    out.extend_from_slice(rest);
    String::from_utf8(out).ok()
}

/// The four hex digits of a `\\u` escape, and what follows them.
fn hex4(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let digits = bytes.get(..4)?;
    let mut unit = 0;
    for &digit in digits {
        unit = (unit << 4) | char::from(digit).to_digit(16)?;
    }
    Some((unit, &bytes[4..]))
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn expect(&mut self, wanted: u8) -> Option<()> {
        (self.next()? == wanted).then_some(())
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(is_whitespace) {
            self.pos += 1;
        }
    }

    /// A string token: returns its raw contents and whether it holds escapes.
    #[inline(always)]
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        self.expect(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.pos += quote_or_backslash(self.bytes.get(self.pos..)?)?;
            match self.next()? {
                b'"' => return Some((&self.bytes[start..self.pos - 1], escaped)),
                _ => {
                    escaped = true;
                    self.next()?;
                }
            }
        }
    }

    /// Walks the members of the object the bytes start with, calling
    /// `member` with each key (its raw contents and whether it holds escapes)
    /// and the scanner at the key's value, which `member` must consume.
    fn members(
        &mut self,
        member: impl FnMut(&mut Self, &'a [u8], bool) -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        const NOT: Stop = Stop::NotUnderstood;
        self.skip_whitespace();
        self.expect(b'{').ok_or(NOT)?;
        self.skip_whitespace();
        if self.peek().ok_or(NOT)? == b'}' {
            return Ok(());
        }
        self.members_from_key(member)
    }

    /// [`Scanner::members`] from the key the bytes are at to the object's
    /// closing `}`.
    fn members_from_key(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a [u8], bool) -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        const NOT: Stop = Stop::NotUnderstood;
        loop {
            let (key, escaped) = self.string().ok_or(NOT)?;
            self.skip_whitespace();
            self.expect(b':').ok_or(NOT)?;
            self.skip_whitespace();
            member(self, key, escaped)?;
            self.skip_whitespace();
            match self.next().ok_or(NOT)? {
                b',' => self.skip_whitespace(),
                b'}' => return Ok(()),
                _ => return Err(NOT),
            }
        }
    }

    #[inline(always)]
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                self.pos = end_of_container(self.bytes, self.pos)?;
                Some(())
            }
            _ => {
                let start = self.pos;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                ) {
                    self.pos += 1;
                }
                (self.pos > start).then_some(())
            }
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` equal to `byte`, exact up to the first
/// such byte (a borrow can only flag bytes above a match), which is all
/// `trailing_zeros` reads: masks of several bytes may be or-ed.
#[inline(always)]
pub(crate) fn equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Where the first byte of `bytes` that `wanted` accepts is, eight bytes at a
/// time: `in_word` flags (as [`equal`] does) the bytes `wanted` accepts in a
/// little-endian word.
#[inline(always)]
fn first_of(
    bytes: &[u8],
    in_word: impl Fn(u64) -> u64,
    wanted: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let found = in_word(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        if found != 0 {
            // Little-endian: the lowest flagged byte is the first in order.
            return Some(offset + found.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    let rest = chunks.remainder();
    rest.iter()
        .position(|&byte| wanted(byte))
        .map(|at| offset + at)
}

/// Where the first `"` or `\\` of `bytes` is. Eight bytes at a time: ids and
/// keys are a few dozen bytes, and a byte-at-a-time loop over them cost more
/// than the rest of reading the id.
fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    first_of(
        bytes,
        |word| equal(word, b'"') | equal(word, b'\\'),
        |byte| byte == b'"' || byte == b'\\',
    )
}

/// The high bit of each byte of `word` equal to `byte`, exact for every
/// byte (no borrow crosses bytes), for words with several matches.
#[inline(always)]
fn each_equal(word: u64, byte: u8) -> u64 {
    const LOWS: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let x = word ^ (ONES * u64::from(byte));
    // Bit 7 of `(x & LOWS) + LOWS` is set when the low bits of a byte of `x`
    // are not all zero, and no sum carries out of its byte.
    !(((x & LOWS) + LOWS) | x | LOWS)
}

/// Where the object or array that opens at `bytes[start]` ends (just after
/// its closing bracket), brackets counted outside strings; `None` when the
/// bytes end first. It does not check the value is JSON.
///
/// The scan walks every nested value to the object's end, so this goes eight
/// bytes at a time: in a word without a backslash, the bytes inside strings
/// are those after an odd number of quotes (a prefix XOR), and the brackets
/// outside them are counted at once. A byte-at-a-time walk, and one that
/// stopped at each quote or bracket, cost 2 ns a byte on pretty-printed
/// Stripe events, three times their HMAC. A word holding a backslash, or
/// after one, and the last bytes are walked a byte at a time.
fn end_of_container(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut at = start;
    while at < bytes.len() {
        if !escaped && let Some(chunk) = bytes.get(at..at + 8) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            let backslashes = each_equal(word, b'\\');
            if in_string && backslashes | each_equal(word, b'"') == 0 {
                // Eight bytes of a long string: nothing to count, and the
                // string goes on to its next quote or backslash, which
                // memchr finds 16 or 32 bytes at a time. A string that never
                // ends leaves the container open.
                at += 8 + memchr::memchr2(b'"', b'\\', bytes.get(at + 8..)?)?;
                continue;
            }
            if backslashes == 0 {
                let mut odd = each_equal(word, b'"');
                odd ^= odd << 8;
                odd ^= odd << 16;
                odd ^= odd << 32;
                // Bytes in a string (an opening quote counts as in, a
                // closing one as out: neither is a bracket).
                let inside = if in_string { !odd & HIGHS } else { odd };
                in_string = inside >> 63 == 1;
                // Setting bit 5 turns `[` into `{` and `]` into `}`, and no
                // other byte into either.
                let folded = word | (ONES * 0x20);
                let opens = each_equal(folded, b'{') & !inside;
                let closes = each_equal(folded, b'}') & !inside;
                let closing = closes.count_ones() as usize;
                if closing < depth {
                    // Fewer closes than open brackets: the container cannot
                    // end in this word, whatever their order.
                    depth = depth + opens.count_ones() as usize - closing;
                } else {
                    let mut marks = opens | closes;
                    while marks != 0 {
                        let bit = marks & marks.wrapping_neg();
                        if opens & bit != 0 {
                            depth += 1;
                        } else {
                            // The first byte opens: depth is 1 or more here.
                            depth -= 1;
                            if depth == 0 {
                                return Some(at + bit.trailing_zeros() as usize / 8 + 1);
                            }
                        }
                        marks ^= bit;
                    }
                }
                at += 8;
                continue;
            }
        }
        let end = bytes.len().min(at + 8);
        for (offset, &byte) in bytes[at..end].iter().enumerate() {
            if in_string {
                match byte {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
            } else {
                match byte {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + offset + 1);
                        }
                    }
                    _ => {}
                }
            }
        }
        at = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "json")]
    use std::ops::Range;

    /// What [`top_level_string`] reads from a body without a duplicate.
    fn read(body: &[u8], field: &str) -> Option<String> {
        top_level_string(body, field)
            .expect("no duplicate")
            .map(Cow::into_owned)
    }

    #[test]
    fn body_fields_read_as_top_level_string_reads_them() {
        let field = BodyField::new("event_id");
        for body in [
            &br#"{"event_id":"evt_01h8bzakzx3hm2fmen703n5q45","data":{}}"#[..],
            br#"{"event_id":"evt_\u00e9t\u00e9"}"#,
            "{\"event_id\":\"evt_\u{e9}t\u{e9}\"}".as_bytes(),
            b"{\"event_id\":\"evt_\xff\"}",
            br#"{"event_id":"","x":1}"#,
            br#"{"event_id":7}"#,
            br#"{"event_id":"a","event_id":"b"}"#,
            br#"{"event_id":"a","event\u005fid":"b"}"#,
        ] {
            let read = body_field_string(body, &field);
            let expected = top_level_string(body, "event_id");
            assert_eq!(
                read.map(|text| text.map(|text| text.as_bytes().to_vec())),
                expected.map(|text| text.map(|text| text.as_bytes().to_vec())),
                "{body:?}"
            );
        }
        let ascii = br#"{"event_id":"evt_1"}"#;
        assert_eq!(
            body_field_string(ascii, &field),
            Ok(Some(FieldText::Ascii(b"evt_1")))
        );
    }

    #[test]
    fn finds_first_and_later_fields() {
        let body = br#"{"id":"evt_1","type":"document.updated","data":{"id":"inner"}}"#;
        assert_eq!(read(body, "id").as_deref(), Some("evt_1"));
        assert_eq!(read(body, "type").as_deref(), Some("document.updated"));
        let nested_first =
            br#" { "data" : {"id":"inner","x":[1,{"y":"}"}]}, "n": -1.5e3, "id" : "evt_2" } "#;
        assert_eq!(read(nested_first, "id").as_deref(), Some("evt_2"));
    }

    #[test]
    fn a_second_key_is_found_whether_or_not_the_rest_can_be_skipped() {
        // The rest names the field literally, through an escape in its key,
        // or only after an escape elsewhere: each is walked, and refused.
        for body in [
            &br#"{"event_id":"a","data":{"note":"x"},"event_id":"b"}"#[..],
            br#"{"event_id":"a","event\u005fid":"b"}"#,
            br#"{"event_id":"a","data":{"note":"\"q\""},"event_id":"b"}"#,
        ] {
            assert_eq!(top_level_string(body, "event_id"), Err(DuplicateField));
            #[cfg(feature = "json")]
            assert_eq!(unique(body, "event_id"), Err(Unreadable::Duplicate));
        }
        // Neither the name nor an escape after the first: one value, even
        // where the rest is not JSON (no parser reads a second value there).
        for (body, rest_is_json) in [
            (
                &br#"{"event_id":"a","data":{"note":"long long long text"}}"#[..],
                true,
            ),
            (
                br#"{"event_id":"a","data":{"nested_event_id_key":1}}"#,
                true,
            ),
            (br#"{"event_id":"a","data":"unterminated"#, false),
        ] {
            assert_eq!(
                read(body, "event_id").as_deref(),
                Some("a"),
                "{rest_is_json}"
            );
            #[cfg(feature = "json")]
            assert_eq!(unique(body, "event_id"), Ok(Some(12..15)));
        }
    }

    #[cfg(feature = "json")]
    fn unique(body: &[u8], field: &'static str) -> Result<Option<Range<usize>>, Unreadable> {
        unique_top_level_value(body, &TopLevelKey::new(field))
    }

    #[cfg(feature = "json")]
    #[test]
    fn a_top_level_key_is_found_by_search_only_where_that_is_proven() {
        let key = TopLevelKey::new("webhookTimestamp");
        // (body, whether the search alone proves the answer, the answer)
        let value = |body: &[u8], text: &str| {
            let at = memchr::memmem::rfind(body, text.as_bytes()).unwrap();
            Ok(Some(at..at + text.len()))
        };
        let cases: [(&[u8], bool, Result<Option<Range<usize>>, Unreadable>); 18] = [
            (
                br#"{"a":1,"webhookTimestamp":5}"#,
                true,
                value(br#"{"a":1,"webhookTimestamp":5}"#, "5"),
            ),
            (
                br#"{"webhookTimestamp":5,"b":{"c":[1]}}"#,
                true,
                Ok(Some(20..21)),
            ),
            (
                b"{\n \"a\": \"\\\\n\",\n \"webhookTimestamp\" : 7 \n}\n",
                true,
                value(
                    b"{\n \"a\": \"\\\\n\",\n \"webhookTimestamp\" : 7 \n}\n",
                    "7",
                ),
            ),
            // Escapes that cannot spell the key: before it, and in a key after it.
            (
                br#"{"a":"\/\"\\","webhookTimestamp":5}"#,
                true,
                value(br#"{"a":"\/\"\\","webhookTimestamp":5}"#, "5"),
            ),
            (
                br#"{"webhookTimestamp":5,"a\u0041":1}"#,
                true,
                Ok(Some(20..21)),
            ),
            (
                br#"{"webhookTimestamp":5,"webhookTimestam\u0070s":1}"#,
                true,
                Ok(Some(20..21)),
            ),
            // The first `"webhookTimestamp"` is nested, or a value, or the end
            // of a key holding an escaped quote: the walk decides.
            (
                br#"{"data":{"webhookTimestamp":1},"webhookTimestamp":2}"#,
                false,
                value(
                    br#"{"data":{"webhookTimestamp":1},"webhookTimestamp":2}"#,
                    "2",
                ),
            ),
            (br#"{"data":{"webhookTimestamp":1}}"#, false, Ok(None)),
            (
                br#"{"x":"webhookTimestamp","webhookTimestamp":2}"#,
                false,
                value(br#"{"x":"webhookTimestamp","webhookTimestamp":2}"#, "2"),
            ),
            (
                br#"{"a,\"webhookTimestamp":1,"webhookTimestamp":2}"#,
                false,
                value(br#"{"a,\"webhookTimestamp":1,"webhookTimestamp":2}"#, "2"),
            ),
            (br#"{"a,\"webhookTimestamp":1}"#, false, Ok(None)),
            (
                br#"[{"webhookTimestamp":1}]"#,
                false,
                Err(Unreadable::NotAnObject),
            ),
            (br#"{"webhookTimestamp":1}]"#, false, Ok(Some(20..21))),
            // A second key, spelled plainly or with an escape, before or after.
            (
                br#"{"webhookTimestamp":1,"webhookTimestamp":2}"#,
                false,
                Err(Unreadable::Duplicate),
            ),
            (
                br#"{"webhookTimestamp":1,"webhook\u0054imestamp":2}"#,
                false,
                Err(Unreadable::Duplicate),
            ),
            (
                br#"{"webhook\u0054imestamp":1,"webhookTimestamp":2}"#,
                false,
                Err(Unreadable::Duplicate),
            ),
            // A `\u` before it, even an escaped backslash's: the walk.
            (
                br#"{"a":"\\u","webhookTimestamp":7}"#,
                false,
                value(br#"{"a":"\\u","webhookTimestamp":7}"#, "7"),
            ),
            (br#"{"a":"x"}"#, false, Ok(None)),
        ];
        for (body, proven, answer) in cases {
            let shown = String::from_utf8_lossy(body);
            let quick = key.find_quickly(body);
            assert_eq!(quick.is_some(), proven, "{shown}");
            if let Some(quick) = quick {
                assert_eq!(Ok(Some(quick)), answer, "{shown}");
            }
            assert_eq!(unique_top_level_value(body, &key), answer, "{shown}");
            assert_eq!(
                walk_to_unique_top_level_value(body, key.name()),
                answer,
                "{shown}"
            );
        }
    }

    #[test]
    fn long_strings_are_skipped_to_their_end_inside_containers() {
        for len in 0..80 {
            let note = "x".repeat(len);
            let body = format!(r#"{{"data":{{"note":"{note}","n":[1]}},"id":"evt_1"}}"#);
            assert_eq!(read(body.as_bytes(), "id").as_deref(), Some("evt_1"));
            let open = format!(r#"{{"data":{{"note":"{note}"#);
            assert_eq!(end_of_container(open.as_bytes(), 8), None);
        }
    }

    #[test]
    fn the_first_quote_or_backslash_is_found_wherever_it_is() {
        // Every position in and around a word, with the other special byte,
        // bytes whose high bit is set, and bytes one off from the specials
        // (what a borrow in the word-at-a-time test could confuse) before it.
        for len in 0..40 {
            for at in 0..=len {
                for (special, filler) in [(b'"', b'!'), (b'\\', b'['), (b'"', 0x80), (b'\\', b']')]
                {
                    let mut bytes = vec![filler; len];
                    if at < len {
                        bytes[at] = special;
                        // A later match must not hide the first.
                        if at + 1 < len {
                            bytes[at + 1] = if special == b'"' { b'\\' } else { b'"' };
                        }
                    }
                    let expected = bytes.iter().position(|&b| b == b'"' || b == b'\\');
                    assert_eq!(quote_or_backslash(&bytes), expected, "{bytes:?}");
                }
            }
        }
    }

    /// [`end_of_container`] a byte at a time, as the scanner walked before.
    fn end_of_container_bytewise(bytes: &[u8], start: usize) -> Option<usize> {
        let mut depth = 0usize;
        let mut pos = start;
        loop {
            match bytes.get(pos)? {
                b'"' => {
                    pos += 1;
                    loop {
                        match bytes.get(pos)? {
                            b'"' => break,
                            b'\\' => pos += 1,
                            _ => {}
                        }
                        pos += 1;
                    }
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(pos + 1);
                    }
                }
                _ => {}
            }
            pos += 1;
        }
    }

    #[test]
    fn containers_end_where_a_byte_at_a_time_walk_ends_them() {
        // Every sequence up to 40 bytes long is too many; a fixed-seed
        // generator walks a million of them over the bytes that matter,
        // bytes one bit from them (`[` and `{` differ in bit 5) and filler.
        const ALPHABET: &[u8] = b"{}[]\"\\ax;{{}}\"\"\\\\[]";
        const DECOYS: &[u8] = &[b'{', b'[', b'"', 0x5b ^ 0x80, 0x7d ^ 0x01, 0x02, 0x3c, 0xfb];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..1_000_000 {
            let len = 1 + (next() % 40) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 8 == 0 {
                        DECOYS[(r >> 8) as usize % DECOYS.len()]
                    } else {
                        ALPHABET[(r >> 8) as usize % ALPHABET.len()]
                    }
                })
                .collect();
            bytes[0] = if next() % 2 == 0 { b'{' } else { b'[' };
            let start = 0;
            assert_eq!(
                end_of_container(&bytes, start),
                end_of_container_bytewise(&bytes, start),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn each_equal_flags_every_match() {
        for byte in 0..=u8::MAX {
            for pattern in 0..=u8::MAX {
                // Each bit of the pattern places `byte` or a neighbour.
                let bytes: [u8; 8] = std::array::from_fn(|i| {
                    if pattern >> i & 1 == 1 {
                        byte
                    } else {
                        byte ^ (1 << (i % 8))
                    }
                });
                let mask = each_equal(u64::from_le_bytes(bytes), byte);
                let expected = (0..8)
                    .filter(|&i| pattern >> i & 1 == 1)
                    .fold(0u64, |m, i| m | 0x80 << (8 * i));
                assert_eq!(mask, expected, "{bytes:?}");
            }
        }
    }

    #[test]
    fn missing_or_non_string_fields_are_none() {
        for body in [
            &br#"{"id":5}"#[..],
            br#"{}"#,
            br#"[{"id":"x"}]"#,
            b"",
            br#"{"a":"#,
            br#"{"a":1 "id":"x"}"#,
            br#"{"id":"\ud800"}"#,
            br#"{"id":"\q"}"#,
        ] {
            assert_eq!(read(body, "id"), None, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_field_named_twice_at_the_top_level_is_refused() {
        for body in [
            &br#"{"id":"evt_1","id":"evt_2"}"#[..],
            br#"{"id":"evt_1","data":{"id":"x"},"id":"evt_1"}"#,
            br#" { "id" : "a" , "\u0069d" : "b" } "#,
            br#"{"i\u0064":"a","id":"b"}"#,
            br#"{"id":5,"id":"b"}"#,
            br#"{"id":"","id":"b"}"#,
            // After the second key the body is not JSON: refused all the same.
            br#"{"id":"a","id":"#,
        ] {
            assert_eq!(
                top_level_string(body, "id"),
                Err(DuplicateField),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // Nested and differently spelled keys are other fields.
        assert_eq!(
            read(
                br#"{"id":"a","data":{"id":"b","id":"c"},"ID":"d","id ":"e"}"#,
                "id"
            )
            .as_deref(),
            Some("a")
        );
        // A scan that stops understanding the body keeps the first value: no
        // JSON parser reads a second one from what is not JSON.
        assert_eq!(
            read(br#"{"id":"a","x":1 "id":"b"}"#, "id").as_deref(),
            Some("a")
        );
    }

    #[test]
    fn escapes_are_decoded_as_serde_json_does() {
        for (raw, decoded) in [
            (&br#"a\"b\\c\/d"#[..], Some("a\"b\\c/d")),
            (br#"\b\f\n\r\t"#, Some("\u{8}\u{c}\n\r\t")),
            (
                br#"\u00e9\u00E9\ud83d\ude00"#,
                Some("\u{e9}\u{e9}\u{1f600}"),
            ),
            (br#"\u0000"#, Some("\0")),
            (br#"\ud83d"#, None),
            (br#"\ud83dx"#, None),
            (br#"\ud83d\u0041"#, None),
            (br#"\ude00"#, None),
            (br#"\u12"#, None),
            (br#"\u12g4"#, None),
            (br#"\x"#, None),
            (b"\\", None),
            (b"a\n\x01", None),
            (b"\\n\xff", None),
        ] {
            assert_eq!(
                unescape(raw).as_deref(),
                decoded,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[cfg(feature = "json")]
    #[test]
    fn value_ranges() {
        let body = br#" { "a" : [1, {"token": 2}], "token" : {"x": "}"} , "b": 3 }"#;
        let Some(Ok(range)) = top_level_value(body, "token") else {
            panic!()
        };
        assert_eq!(&body[range], br#"{"x": "}"}"#);
        let Some(Ok(range)) = top_level_value(body, "b") else {
            panic!()
        };
        assert_eq!(&body[range], b"3");
        assert_eq!(top_level_value(body, "c"), Some(Err(2)));
        assert_eq!(top_level_value(b"{}", "c"), Some(Err(1)));
        assert_eq!(top_level_value(b"[]", "c"), None);
        assert_eq!(top_level_value(br#"{"a":1 "#, "c"), None);
    }

    /// The top-level members of a JSON object as serde_json reads them, keys
    /// decoded and duplicates kept in order; `None` when the body is not one
    /// JSON object.
    #[cfg(feature = "json")]
    fn members(body: &[u8]) -> Option<Vec<(String, serde_json::Value)>> {
        use serde_core::de::{Deserialize, Deserializer, MapAccess, Visitor};

        struct Members(Vec<(String, serde_json::Value)>);
        struct Walk;
        impl<'de> Visitor<'de> for Walk {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut all = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    all.push(entry);
                }
                Ok(Members(all))
            }
        }
        impl<'de> Deserialize<'de> for Members {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map(Walk)
            }
        }
        serde_json::from_slice::<Members>(body).ok().map(|m| m.0)
    }

    /// What every reader of a JSON object must say about its member `field`:
    /// a duplicate when it appears twice, else its string value.
    #[cfg(feature = "json")]
    fn expected(
        members: &[(String, serde_json::Value)],
        field: &str,
    ) -> Result<Option<String>, DuplicateField> {
        let mut named = members.iter().filter(|(key, _)| key == field);
        let first = named.next();
        if named.next().is_some() {
            return Err(DuplicateField);
        }
        Ok(first.and_then(|(_, value)| value.as_str().map(str::to_owned)))
    }

    #[cfg(feature = "json")]
    #[test]
    fn checked_reads_agree_with_serde_json() {
        for body in [
            &br#"{"token":"t"}"#[..],
            br#" { "a" : [1, {"token": 2}], "token" : "t\u00e9" , "b": null } "#,
            br#"{"tok\u0065n":"escaped key"}"#,
            br#"{"token":"first","token":"last"}"#,
            br#"{"token":"first","tok\u0065n":"last"}"#,
            br#"{"token":5,"token":"t"}"#,
            br#"{"token":5}"#,
            br#"{"token":{"token":"nested","token":"twice"}}"#,
            br#"{"token":["t"]}"#,
            br#"{"token":null,"x":true,"y":-1.5e3}"#,
            br#"{}"#,
            br#"["t"]"#,
            br#""t""#,
            b"token=t",
            br#"{"token":"t",}"#,
            br#"{"token":"t"} trailing"#,
            br#"{"a":tru,"token":"t"}"#,
            b"",
        ] {
            let read = checked_top_level_string(body, "token").map(|v| v.map(Cow::into_owned));
            let wanted = match members(body) {
                Some(members) => expected(&members, "token").map_err(|_| Unreadable::Duplicate),
                None => Err(Unreadable::NotAnObject),
            };
            assert_eq!(read, wanted, "{}", String::from_utf8_lossy(body));
        }
        let body = br#"{"token":"plain"}"#;
        assert!(matches!(
            checked_top_level_string(body, "token"),
            Ok(Some(Cow::Borrowed("plain")))
        ));
    }

    #[test]
    fn escaped_values_are_decoded() {
        assert_eq!(
            read(br#"{"id":"a\"b\u00e9"}"#, "id").as_deref(),
            Some("a\"b\u{e9}")
        );
    }

    /// JSON objects whose keys are often the fields read, spelled plainly
    /// or with escapes, at the top level and nested.
    #[cfg(feature = "json")]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![escaped_key(), plain_key()]
        }

        /// Keys without a `\u` escape, which keep the search for a
        /// top-level key in play (a `\u` before the key sends the body to
        /// the walk).
        fn plain_key() -> impl Strategy<Value = String> {
            prop::sample::select(&[
                r#""id""#,
                r#""token""#,
                r#""ID""#,
                r#""id ""#,
                r#""x""#,
                r#""a,\"id""#,
                r#""\"token\"""#,
                r#""id\\""#,
            ])
            .prop_map(str::to_owned)
        }

        fn escaped_key() -> impl Strategy<Value = String> {
            prop::sample::select(&[
                r#""id""#,
                r#""\u0069d""#,
                r#""i\u0064""#,
                r#""token""#,
                r#""tok\u0065n""#,
                r#""ID""#,
                r#""id ""#,
                r#""x""#,
                // A key ending in the field's name after an escaped quote.
                r#""a,\"id""#,
            ])
            .prop_map(str::to_owned)
        }

        fn value_with<K: Strategy<Value = String> + 'static>(
            key: fn() -> K,
        ) -> impl Strategy<Value = String> {
            let leaf = prop::sample::select(&[
                r#""evt_1""#,
                r#""a\"b""#,
                r#""\u00e9\ud83d\ude00""#,
                r#""}]{[,:""#,
                r#""\\""#,
                r#""""#,
                // The field's name as a string value.
                r#""id""#,
                "5",
                "-1.5e3",
                "true",
                "null",
            ])
            .prop_map(str::to_owned);
            leaf.prop_recursive(3, 24, 4, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4)
                        .prop_map(|items| format!("[{}]", items.join(","))),
                    prop::collection::vec((key(), inner), 0..4).prop_map(|members| {
                        let members: Vec<String> =
                            members.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                        format!("{{{}}}", members.join(","))
                    }),
                ]
            })
        }

        fn object() -> impl Strategy<Value = String> {
            object_with(key)
        }

        fn object_with<K: Strategy<Value = String> + 'static>(
            key: fn() -> K,
        ) -> impl Strategy<Value = String> {
            let space = prop::sample::select(&["", " ", "\n\t "]);
            prop::collection::vec((space.clone(), key(), space, value_with(key)), 0..6).prop_map(
                |members| {
                    let members: Vec<String> = members
                        .iter()
                        .map(|(s, k, t, v)| format!("{s}{k}{t}:{s}{v}{t}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// On JSON objects, the scanner and the checked reader both read
            /// what serde_json reads, and both refuse a duplicate.
            #[test]
            fn readers_agree_with_serde_json(body in object()) {
                let members = members(body.as_bytes()).expect("the strategy writes JSON");
                for field in ["id", "token"] {
                    let wanted = expected(&members, field);
                    let scanned = top_level_string(body.as_bytes(), field)
                        .map(|v| v.map(Cow::into_owned));
                    prop_assert_eq!(&scanned, &wanted, "{}", body);
                    let checked = checked_top_level_string(body.as_bytes(), field)
                        .map(|v| v.map(Cow::into_owned));
                    prop_assert_eq!(checked, wanted.map_err(|_| Unreadable::Duplicate), "{}", body);
                }
            }

            /// The value's place is where serde_json reads the value, found
            /// by search or by walk alike; where the search alone answers, it
            /// finds the walk's place. Half the objects have no `\u` escape,
            /// so the search answers often.
            #[test]
            fn values_are_found_where_serde_json_reads_them(
                body in prop_oneof![object(), object_with(plain_key)],
            ) {
                let members = members(body.as_bytes()).expect("the strategy writes JSON");
                let body = body.as_bytes();
                for field in ["id", "token"] {
                    let mut named = members.iter().filter(|(key, _)| key == field);
                    let wanted = match (named.next(), named.next()) {
                        (_, Some(_)) => Err(Unreadable::Duplicate),
                        (first, None) => Ok(first.map(|(_, value)| value.clone())),
                    };
                    let read = |found: Result<Option<Range<usize>>, Unreadable>| {
                        found.map(|range| {
                            range.map(|range| {
                                serde_json::from_slice::<serde_json::Value>(&body[range])
                                    .expect("a whole value")
                            })
                        })
                    };
                    let shown = String::from_utf8_lossy(body);
                    let walked = walk_to_unique_top_level_value(body, field);
                    if let Some(found) = TopLevelKey::new(field).find_quickly(body) {
                        prop_assert_eq!(Ok(Some(found)), walked.clone(), "{}", shown);
                    }
                    prop_assert_eq!(read(unique(body, field)), wanted.clone(), "{}", shown);
                    prop_assert_eq!(
                        read(walk_to_unique_top_level_value(body, field)),
                        wanted,
                        "{}",
                        shown
                    );
                }
            }
        }
    }
}
