//! Reading one top-level string field of a JSON object body.
//!
//! The delivery ids of clarife and Stripe live in the body. Parsing a whole
//! body to read it would cost more than the HMAC over it, so this scanner walks
//! the object's top level and stops at the field: for clarife's envelope,
//! where `id` comes first, that is a few bytes. Nested values are skipped by
//! counting brackets (no recursion, so no stack to exhaust). The body is only
//! read after its signature matched.
//!
//! Claravine's `token` is read by [`checked_top_level_string`] instead: its
//! body must be JSON as a whole, and the token comes last, after long
//! strings, which the scanner walks a byte at a time.

use std::borrow::Cow;

/// The string value of the top-level `field` of a JSON object, if the scan finds
/// it before anything it does not understand. Escaped strings are decoded with
/// `serde_json` when the `json` feature is on, else ignored.
pub(crate) fn top_level_string<'a>(body: &'a [u8], field: &str) -> Option<Cow<'a, str>> {
    let mut scan = Scanner {
        bytes: body,
        pos: 0,
    };
    scan.skip_whitespace();
    scan.expect(b'{')?;
    scan.skip_whitespace();
    if scan.peek()? == b'}' {
        return None;
    }
    loop {
        let (key, key_escaped) = scan.string()?;
        scan.skip_whitespace();
        scan.expect(b':')?;
        scan.skip_whitespace();
        if !key_escaped && key == field.as_bytes() {
            let (value, escaped) = scan.string()?;
            return decode(value, escaped);
        }
        scan.skip_value()?;
        scan.skip_whitespace();
        match scan.next()? {
            b',' => scan.skip_whitespace(),
            _ => return None,
        }
    }
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

/// The body is not a JSON object (or not JSON at all).
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotAnObject;

/// The string value of the top-level `field` of a JSON object body, reading
/// the whole body with `serde_json` (a body that is not one JSON object is
/// refused) without building it: the other members are skipped, not kept, so
/// nothing is allocated but an escaped value. `Ok(None)` when the object has
/// no such member or its value is not a string; when the member appears more
/// than once, the last one counts (as in a `serde_json::Value`).
#[cfg(feature = "json")]
pub(crate) fn checked_top_level_string<'a>(
    body: &'a [u8],
    field: &str,
) -> Result<Option<Cow<'a, str>>, NotAnObject> {
    use serde_core::de::DeserializeSeed;

    let mut de = serde_json::Deserializer::from_slice(body);
    let found = checked::Member(field)
        .deserialize(&mut de)
        .map_err(|_| NotAnObject)?;
    de.end().map_err(|_| NotAnObject)?;
    Ok(found)
}

/// The visitors of [`checked_top_level_string`].
#[cfg(feature = "json")]
mod checked {
    use std::borrow::Cow;
    use std::fmt;

    use serde_core::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

    /// The string value of one top-level member of an object.
    pub(super) struct Member<'f>(pub(super) &'f str);

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
            let mut found = None;
            while let Some(wanted) = map.next_key_seed(KeyIs(self.0))? {
                if wanted {
                    found = map.next_value_seed(StringOrNone)?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
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
    if !escaped {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
    }
    #[cfg(feature = "json")]
    {
        // `raw` excludes the quotes; serde_json needs the whole string token.
        let mut quoted = Vec::with_capacity(raw.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(raw);
        quoted.push(b'"');
        serde_json::from_slice::<String>(&quoted)
            .ok()
            .map(Cow::Owned)
    }
    #[cfg(not(feature = "json"))]
    {
        None
    }
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
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    /// A string token: returns its raw contents and whether it holds escapes.
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

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
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

/// Where the first `"` or `\\` of `bytes` is. Eight bytes at a time: ids and
/// keys are a few dozen bytes, and a byte-at-a-time loop over them cost more
/// than the rest of reading the id.
fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `word` equal to `byte`, exact up to the
    // first such byte (a borrow can only flag bytes above a match), which is
    // all `trailing_zeros` reads.
    let equal = |word: u64, byte: u8| {
        let x = word ^ (ONES * u64::from(byte));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let found = equal(word, b'"') | equal(word, b'\\');
        if found != 0 {
            // Little-endian: the lowest flagged byte is the first in order.
            return Some(offset + found.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    let rest = chunks.remainder();
    rest.iter()
        .position(|&byte| byte == b'"' || byte == b'\\')
        .map(|at| offset + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_first_and_later_fields() {
        let body = br#"{"id":"evt_1","type":"document.updated","data":{"id":"inner"}}"#;
        assert_eq!(top_level_string(body, "id").as_deref(), Some("evt_1"));
        assert_eq!(
            top_level_string(body, "type").as_deref(),
            Some("document.updated")
        );
        let nested_first =
            br#" { "data" : {"id":"inner","x":[1,{"y":"}"}]}, "n": -1.5e3, "id" : "evt_2" } "#;
        assert_eq!(
            top_level_string(nested_first, "id").as_deref(),
            Some("evt_2")
        );
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

    #[test]
    fn missing_or_non_string_fields_are_none() {
        assert_eq!(top_level_string(br#"{"id":5}"#, "id"), None);
        assert_eq!(top_level_string(br#"{}"#, "id"), None);
        assert_eq!(top_level_string(br#"[{"id":"x"}]"#, "id"), None);
        assert_eq!(top_level_string(b"", "id"), None);
        assert_eq!(top_level_string(br#"{"a":"#, "id"), None);
        assert_eq!(top_level_string(br#"{"a":1 "id":"x"}"#, "id"), None);
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

    #[cfg(feature = "json")]
    #[test]
    fn checked_reads_agree_with_a_parsed_value() {
        // What `serde_json::Value` says: the reader must say the same.
        let parsed = |body: &[u8]| match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => Ok(map
                .get("token")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)),
            _ => Err(NotAnObject),
        };
        for body in [
            &br#"{"token":"t"}"#[..],
            br#" { "a" : [1, {"token": 2}], "token" : "t\u00e9" , "b": null } "#,
            br#"{"tok\u0065n":"escaped key"}"#,
            br#"{"token":"first","token":"last"}"#,
            br#"{"token":5}"#,
            br#"{"token":{"token":"nested"}}"#,
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
            assert_eq!(read, parsed(body), "{}", String::from_utf8_lossy(body));
        }
        let body = br#"{"token":"plain"}"#;
        assert!(matches!(
            checked_top_level_string(body, "token"),
            Ok(Some(Cow::Borrowed("plain")))
        ));
    }

    #[cfg(feature = "json")]
    #[test]
    fn escaped_values_are_decoded() {
        assert_eq!(
            top_level_string(br#"{"id":"a\"b\u00e9"}"#, "id").as_deref(),
            Some("a\"b\u{e9}")
        );
    }
}
