//! A body read as a JSON object once, for every question asked of it.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor,
};
use serde_json::value::RawValue;

use crate::Sender;
use crate::error::{ParseError, from_body};

/// A delivery's body, read as a JSON object at most once, on first use.
///
/// A receiver asks several things of one body (whether required fields are
/// there, which event it names), and each used to parse it anew. A
/// `JsonBody` reads it once, on the first call to [`member`](Self::member) or
/// [`is_object`](Self::is_object), keeping each top-level member as its raw
/// JSON text (nothing is built from the values), and answers every later
/// question from those: [`Sender::event_name_in`] then reads only the
/// members that name the event. Asked first (or alone), it reads the name
/// straight from the body, which costs less than reading every member first;
/// a sender whose name is in a header (Shopify) does not read the body at all.
///
/// ```
/// use hookgate_events::{JsonBody, Sender};
///
/// let body = JsonBody::new(br#"{"event":"list","operation":"updated","version":2,"meta":null}"#);
/// assert_eq!(body.member("version"), Some("2"));
/// assert_eq!(body.member("meta"), Some("null"));
/// assert_eq!(body.member("token"), None);
/// let name = Sender::Claravine.event_name_in(&http::HeaderMap::new(), &body)?;
/// assert_eq!(name, "list.updated");
/// assert!(!JsonBody::new(b"[1, 2]").is_object());
/// # Ok::<(), hookgate_events::ParseError>(())
/// ```
pub struct JsonBody<'a> {
    bytes: &'a [u8],
    members: OnceCell<Option<Members<'a>>>,
}

/// The top-level members of an object, in order, duplicates included.
type Members<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

impl fmt::Debug for JsonBody<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body may hold a secret (Claravine's and Slack's `token`).
        f.debug_struct("JsonBody")
            .field("len", &self.bytes.len())
            .field("read", &self.members.get().is_some())
            .finish()
    }
}

impl<'a> JsonBody<'a> {
    /// Wraps `bytes`; nothing is read yet.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            members: OnceCell::new(),
        }
    }

    /// The raw body.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether the body is one JSON object (read now if it was not yet).
    pub fn is_object(&self) -> bool {
        self.members().is_some()
    }

    /// The raw JSON text of the top-level member `key` (`"2"`, `"null"`,
    /// `"\"x\""`, `"{…}"`), or `None` when the body is not a JSON object or
    /// has no such member. A member that appears twice counts by its last
    /// value, as in a `serde_json::Value`.
    pub fn member(&self, key: &str) -> Option<&'a str> {
        self.members()?
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, raw)| raw.get())
    }

    /// The members, read on first use; `None` when the body is not one JSON object.
    fn members(&self) -> Option<&Members<'a>> {
        self.members
            .get_or_init(|| {
                let mut de = serde_json::Deserializer::from_slice(self.bytes);
                let members = de.deserialize_map(MembersVisitor).ok()?;
                de.end().ok()?;
                Some(members)
            })
            .as_ref()
    }

    /// Deserializes `T`, a struct of a few top-level fields that lets other
    /// members pass (every event-name reader here; one that denied unknown
    /// fields would not see them). When the members have been read, from
    /// those it names, without reading the body again; otherwise straight
    /// from the body (one struct costs less than every member). Where the
    /// members do not give a `T`, the body itself is deserialized, so that a
    /// result and an error are exactly what [`from_body`] gives (a struct
    /// also reads from a JSON array; errors carry the body's line and column).
    pub(crate) fn read<T: DeserializeOwned>(&self, sender: Sender) -> Result<T, ParseError> {
        if let Some(Some(members)) = self.members.get()
            && let Ok(value) = T::deserialize(MembersDeserializer(members))
        {
            return Ok(value);
        }
        from_body(sender, self.bytes)
    }
}

/// Reads a JSON object's members as (key, raw value) pairs.
struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            members.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(members)
    }
}

/// An object key, borrowed from the body unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// The members as a map to deserialize from. A struct is handed only the
/// members it has fields for, in order and duplicates included (so that a
/// duplicate field is still an error); the others, which it would skip, are
/// not read again.
struct MembersDeserializer<'m, 'de>(&'m Members<'de>);

impl<'de> Deserializer<'de> for MembersDeserializer<'_, 'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(MembersAccess {
            members: self.0.iter(),
            fields: None,
            value: None,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_map(MembersAccess {
            members: self.0.iter(),
            fields: Some(fields),
            value: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

struct MembersAccess<'m, 'de> {
    members: std::slice::Iter<'m, (Cow<'de, str>, &'de RawValue)>,
    fields: Option<&'static [&'static str]>,
    value: Option<&'de RawValue>,
}

impl<'de> MapAccess<'de> for MembersAccess<'_, 'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let fields = self.fields;
        let wanted = |(key, _): &&(Cow<'de, str>, &'de RawValue)| {
            fields.is_none_or(|fields| fields.contains(&key.as_ref()))
        };
        let Some((key, raw)) = self.members.by_ref().find(wanted) else {
            return Ok(None);
        };
        self.value = Some(raw);
        seed.deserialize(key.as_ref().into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let raw = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a value asked for before its key"))?;
        seed.deserialize(raw)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[test]
    fn members_are_read_once_and_by_their_last_value() {
        let body = JsonBody::new(br#" { "a" : 1 , "b":{"a":2}, "tok\u0065n": "t", "a": [3] } "#);
        assert!(format!("{body:?}").contains("read: false"));
        assert_eq!(body.member("a"), Some("[3]"));
        assert_eq!(body.member("b"), Some(r#"{"a":2}"#));
        assert_eq!(body.member("token"), Some(r#""t""#));
        assert_eq!(body.member("c"), None);
        assert!(format!("{body:?}").contains("read: true"));
        for not_an_object in [&b"[1]"[..], b"", b"{", br#"{"a":1} x"#, br#"{"a":tru}"#] {
            let body = JsonBody::new(not_an_object);
            assert!(!body.is_object());
            assert_eq!(body.member("a"), None);
        }
    }

    /// What the members give a struct is what the body gives it: the same
    /// value or the same error, duplicates and arrays included.
    #[test]
    fn a_struct_reads_from_the_members_as_from_the_body() {
        #[derive(Debug, PartialEq, serde::Deserialize)]
        struct Names {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            nested: Option<Inner>,
        }
        #[derive(Debug, PartialEq, serde::Deserialize)]
        struct Inner {
            id: u32,
        }
        for body in [
            &br#"{"type":"a.b","other":{"x":[1,2]},"nested":{"id":7,"more":true}}"#[..],
            br#"{"other":1,"type":"a.b"}"#,
            br#"{"type":"a.b","type":"c.d"}"#,
            br#"{"type":5}"#,
            br#"{"nested":{"id":7}}"#,
            br#"{"type":"a\u002eb","nested":null}"#,
            br#"["a.b", {"id": 1}]"#,
            br#"{"type":"a.b"} trailing"#,
            b"not json",
        ] {
            let json = JsonBody::new(body);
            // Read the members first, as a receiver's context check does.
            json.is_object();
            let members = json.read::<Names>(Sender::Standard);
            let direct = from_body::<Names>(Sender::Standard, body);
            // An object that reads is read from its members, not again from the body.
            if let (Some(read), Ok(_)) = (json.members(), &direct) {
                assert!(Names::deserialize(MembersDeserializer(read)).is_ok());
            }
            match (members, direct) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("{}: {a:?} / {b:?}", String::from_utf8_lossy(body)),
            }
        }
    }
}
