//! Dotted event names: `claim.created`, `customer.subscription.deleted`, `push`.

use std::borrow::{Borrow, Cow};
use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest event name accepted from a single string, in bytes.
///
/// Every sender we know stays far below this; the bound keeps a hostile or
/// corrupted payload from turning into an unbounded key in logs and metrics.
pub const MAX_EVENT_NAME_LEN: usize = 255;

/// A validated, dotted event name such as `claim.label_added`.
///
/// A name is one or more *segments* separated by `.`. Each segment is
/// non-empty and made of printable ASCII other than `.` and `*` (the wildcard
/// of [`Pattern`](crate::Pattern)); the whole name is at most
/// [`MAX_EVENT_NAME_LEN`] bytes. Names are case-sensitive.
///
/// The last segment is the [`action`](Self::action), everything before it the
/// [`resource`](Self::resource): `customer.subscription.deleted` is the action
/// `deleted` on the resource `customer.subscription`. A single-segment name
/// (GitHub's `push`) is a resource without an action.
///
/// ```
/// use hookgate_events::EventName;
///
/// let name: EventName = "claim.label_added".parse()?;
/// assert_eq!(name.resource(), "claim");
/// assert_eq!(name.action(), Some("label_added"));
/// assert!("claim..created".parse::<EventName>().is_err());
/// # Ok::<(), hookgate_events::InvalidEventName>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventName(Cow<'static, str>);

/// Why a string is not an [`EventName`].
///
/// `Display` quotes the name with Rust's escapes (`"claim\ncreated"`), so the
/// message stays on one line whatever the string holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event name {name:?}: {reason}")]
pub struct InvalidEventName {
    name: String,
    reason: NameProblem,
}

impl InvalidEventName {
    /// The rejected string, truncated to [`MAX_EVENT_NAME_LEN`] bytes.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What is wrong with it.
    pub fn problem(&self) -> NameProblem {
        self.reason
    }

    pub(crate) fn new(name: &str, reason: NameProblem) -> Self {
        let mut end = name.len().min(MAX_EVENT_NAME_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            name: name[..end].to_owned(),
            reason,
        }
    }
}

/// What is wrong with a rejected event name or pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameProblem {
    /// The string is empty.
    #[error("it is empty")]
    Empty,
    /// The string is longer than [`MAX_EVENT_NAME_LEN`] bytes.
    #[error("it is longer than {MAX_EVENT_NAME_LEN} bytes")]
    TooLong,
    /// Two dots in a row, or a dot at either end.
    #[error("it has an empty segment")]
    EmptySegment,
    /// A character other than printable ASCII (or `*` in a name, or `*` inside
    /// a pattern segment).
    #[error("it contains a character not allowed there")]
    InvalidCharacter,
}

/// Checks the grammar shared by names and patterns; `allow_star` lets a whole
/// segment be `*`.
pub(crate) const fn check(s: &str, allow_star: bool) -> Result<(), NameProblem> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(NameProblem::Empty);
    }
    if bytes.len() > MAX_EVENT_NAME_LEN {
        return Err(NameProblem::TooLong);
    }
    let mut segment_start = 0;
    let mut i = 0;
    while i <= bytes.len() {
        if i == bytes.len() || bytes[i] == b'.' {
            let len = i - segment_start;
            if len == 0 {
                return Err(NameProblem::EmptySegment);
            }
            segment_start = i + 1;
        } else {
            let b = bytes[i];
            if b == b'*' {
                let whole_segment =
                    i == segment_start && (i + 1 == bytes.len() || bytes[i + 1] == b'.');
                if !(allow_star && whole_segment) {
                    return Err(NameProblem::InvalidCharacter);
                }
            } else if !b.is_ascii_graphic() {
                return Err(NameProblem::InvalidCharacter);
            }
        }
        i += 1;
    }
    Ok(())
}

/// What an `Unknown` variant keeps: any string a sender sends as a name,
/// exactly as sent, except the empty string, which names nothing.
pub(crate) fn raw_name(raw: &str) -> Result<String, InvalidEventName> {
    if raw.is_empty() {
        Err(InvalidEventName::new(raw, NameProblem::Empty))
    } else {
        Ok(raw.to_owned())
    }
}

impl EventName {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidEventName> {
        let name = name.into();
        match check(&name, false) {
            Ok(()) => Ok(Self(Cow::Owned(name))),
            Err(reason) => Err(InvalidEventName::new(&name, reason)),
        }
    }

    /// The routing name of any non-empty string a sender puts where an event
    /// name belongs, so that a name no one foresaw still routes (under `*`,
    /// `list.*` or its own pattern) instead of failing.
    ///
    /// A valid name comes back unchanged. Otherwise each byte a name cannot
    /// hold (space, control, non-ASCII, `*`) is written `%XX` with its
    /// uppercase hex value, as in a URL, and so is each `.` that would leave
    /// a segment empty; the result is cut, between escapes, to
    /// [`MAX_EVENT_NAME_LEN`] bytes. The mapping is deterministic, so one raw
    /// name always routes the same way. The empty string, which no sender
    /// uses as a name (the payload types refuse it), becomes `_`.
    ///
    /// The payload types keep the raw string beside this name (their
    /// `Unknown` variants), so nothing of what was sent is lost.
    ///
    /// ```
    /// use hookgate_events::EventName;
    ///
    /// assert_eq!(EventName::new_lossy("list.updated"), "list.updated");
    /// assert_eq!(EventName::new_lossy("list.up dated"), "list.up%20dated");
    /// assert_eq!(EventName::new_lossy("claim.créé"), "claim.cr%C3%A9%C3%A9");
    /// assert_eq!(EventName::new_lossy("a..b*"), "a%2E%2Eb%2A");
    /// ```
    pub fn new_lossy(raw: &str) -> Self {
        if check(raw, false).is_ok() {
            return Self(Cow::Owned(raw.to_owned()));
        }
        if raw.is_empty() {
            return Self::from_static("_");
        }
        let bytes = raw.as_bytes();
        let mut out = String::with_capacity(bytes.len().min(MAX_EVENT_NAME_LEN));
        for (i, &byte) in bytes.iter().enumerate() {
            // A dot is kept only between two bytes that are not dots, each of
            // which writes at least one character that is not a dot: so no
            // segment of the result is empty.
            let keep = if byte == b'.' {
                i > 0 && i + 1 < bytes.len() && bytes[i - 1] != b'.' && bytes[i + 1] != b'.'
            } else {
                byte.is_ascii_graphic() && byte != b'*'
            };
            let width = if keep { 1 } else { 3 };
            if out.len() + width > MAX_EVENT_NAME_LEN {
                break;
            }
            if keep {
                out.push(char::from(byte));
            } else {
                let _ = write!(out, "%{byte:02X}");
            }
        }
        // The cut may have stopped right after a kept dot. The first byte
        // written is never a dot, so the name stays non-empty.
        while out.ends_with('.') {
            out.pop();
        }
        debug_assert!(check(&out, false).is_ok(), "{out:?}");
        Self(Cow::Owned(out))
    }

    /// A name known at compile time; no allocation.
    ///
    /// # Panics
    ///
    /// When `name` is not a valid event name (at compile time in a `const`).
    pub const fn from_static(name: &'static str) -> Self {
        match check(name, false) {
            Ok(()) => Self(Cow::Borrowed(name)),
            Err(_) => panic!("invalid static event name"),
        }
    }

    /// Joins two validated names as `resource.action`.
    ///
    /// The result may exceed [`MAX_EVENT_NAME_LEN`] (each part is bounded, not
    /// their sum), which is harmless: the bound is against unbounded input.
    pub(crate) fn join(resource: &str, action: &str) -> Self {
        debug_assert!(check(resource, false).is_ok() && check(action, false).is_ok());
        Self(Cow::Owned(format!("{resource}.{action}")))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Everything before the last dot (`customer.subscription` in
    /// `customer.subscription.deleted`), or the whole name if it has one segment.
    pub fn resource(&self) -> &str {
        self.0
            .rsplit_once('.')
            .map_or(&self.0, |(resource, _)| resource)
    }

    /// The last segment (`deleted`), or `None` for a single-segment name.
    pub fn action(&self) -> Option<&str> {
        self.0.rsplit_once('.').map(|(_, action)| action)
    }

    /// The dot-separated segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl fmt::Debug for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventName {
    type Err = InvalidEventName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for EventName {
    type Error = InvalidEventName;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<&str> for EventName {
    type Error = InvalidEventName;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl AsRef<str> for EventName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for EventName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for EventName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EventName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for EventName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Deserializes the name a sender put in a field, for `#[serde(deserialize_with)]`:
/// any non-empty string, through [`EventName::new_lossy`], so that a name no one
/// foresaw (a space, non-ASCII) routes instead of failing the payload. The
/// escaping is reversible, so nothing of what was sent is lost (but for names
/// past [`MAX_EVENT_NAME_LEN`] bytes). An empty string names nothing: an error.
pub(crate) fn lossy<'de, D: Deserializer<'de>>(deserializer: D) -> Result<EventName, D::Error> {
    let s = Cow::<'de, str>::deserialize(deserializer)?;
    if s.is_empty() {
        return Err(serde::de::Error::custom(InvalidEventName::new(
            "",
            NameProblem::Empty,
        )));
    }
    Ok(EventName::new_lossy(&s))
}

/// [`lossy`] for an optional field.
pub(crate) fn lossy_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<EventName>, D::Error> {
    #[derive(Deserialize)]
    struct Lossy(#[serde(deserialize_with = "lossy")] EventName);
    Ok(Option::<Lossy>::deserialize(deserializer)?.map(|Lossy(name)| name))
}

impl<'de> Deserialize<'de> for EventName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(deserializer)?;
        Self::new(s.into_owned()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_and_action() {
        let name = EventName::from_static("customer.subscription.deleted");
        assert_eq!(name.resource(), "customer.subscription");
        assert_eq!(name.action(), Some("deleted"));
        let push = EventName::from_static("push");
        assert_eq!(push.resource(), "push");
        assert_eq!(push.action(), None);
        assert_eq!(
            name.segments().collect::<Vec<_>>(),
            ["customer", "subscription", "deleted"]
        );
    }

    #[test]
    fn rejects_malformed_names() {
        for (bad, problem) in [
            ("", NameProblem::Empty),
            (".", NameProblem::EmptySegment),
            ("claim.", NameProblem::EmptySegment),
            (".claim", NameProblem::EmptySegment),
            ("claim..created", NameProblem::EmptySegment),
            ("claim.*", NameProblem::InvalidCharacter),
            ("claim created", NameProblem::InvalidCharacter),
            ("claim.créé", NameProblem::InvalidCharacter),
        ] {
            let err = EventName::new(bad).unwrap_err();
            assert_eq!(err.problem(), problem, "{bad:?}");
            assert_eq!(err.name(), bad);
        }
        let long = "a".repeat(MAX_EVENT_NAME_LEN + 1);
        let err = EventName::new(long).unwrap_err();
        assert_eq!(err.problem(), NameProblem::TooLong);
        assert_eq!(err.name().len(), MAX_EVENT_NAME_LEN);
        assert!(EventName::new("a".repeat(MAX_EVENT_NAME_LEN)).is_ok());
    }

    #[test]
    fn accepts_the_senders_spellings() {
        for good in [
            "claim.label_added",
            "push",
            "pull_request.opened",
            "v2.core.account[requirements].updated",
            "app-mention",
        ] {
            assert_eq!(EventName::new(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn error_names_the_string() {
        let err = "claim..x".parse::<EventName>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid event name "claim..x": it has an empty segment"#
        );
        // Escaped, so a name never breaks a log line or a terminal.
        let err = "claim\n\u{1b}[2Jx".parse::<EventName>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid event name "claim\n\u{1b}[2Jx": it contains a character not allowed there"#
        );
    }

    #[test]
    fn lossy_names_are_valid_deterministic_and_keep_valid_names() {
        for good in ["claim.label_added", "push", "app-mention", "a%20b"] {
            assert_eq!(EventName::new_lossy(good), good);
        }
        for (raw, lossy) in [
            ("up dated", "up%20dated"),
            ("claim created", "claim%20created"),
            ("claim.créé", "claim.cr%C3%A9%C3%A9"),
            ("claim.*", "claim.%2A"),
            (".", "%2E"),
            ("..", "%2E%2E"),
            (".claim", "%2Eclaim"),
            ("claim.", "claim%2E"),
            ("claim..created", "claim%2E%2Ecreated"),
            ("a.b c.d", "a.b%20c.d"),
            ("tab\there", "tab%09here"),
            ("", "_"),
        ] {
            let name = EventName::new_lossy(raw);
            assert_eq!(name, lossy, "{raw:?}");
            assert!(EventName::new(name.as_str()).is_ok(), "{raw:?}");
            assert_eq!(EventName::new_lossy(raw), name, "{raw:?}");
        }
    }

    #[test]
    fn lossy_names_are_cut_between_escapes() {
        // 254 valid bytes then a space: the escape does not fit, so it is dropped whole.
        let raw = format!("{} x", "a".repeat(MAX_EVENT_NAME_LEN - 1));
        let name = EventName::new_lossy(&raw);
        assert_eq!(name.as_str(), "a".repeat(MAX_EVENT_NAME_LEN - 1));
        // Non-ASCII all the way: whole `%XX` escapes only.
        let name = EventName::new_lossy(&"é".repeat(200));
        assert_eq!(name.as_str().len(), MAX_EVENT_NAME_LEN);
        assert!(name.as_str().starts_with("%C3%A9"));
        assert!(EventName::new(name.as_str()).is_ok());
        // A cut right after a dot leaves no empty last segment.
        let raw = format!("{}.b c", "a".repeat(MAX_EVENT_NAME_LEN - 1));
        let name = EventName::new_lossy(&raw);
        assert_eq!(name.as_str(), "a".repeat(MAX_EVENT_NAME_LEN - 1));
        // Too long but otherwise valid.
        let name = EventName::new_lossy(&"b".repeat(MAX_EVENT_NAME_LEN + 10));
        assert_eq!(name.as_str(), "b".repeat(MAX_EVENT_NAME_LEN));
    }

    #[test]
    fn serde_validates() {
        let name: EventName = serde_json::from_str(r#""list.updated""#).unwrap();
        assert_eq!(name, "list.updated");
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""list.updated""#);
        assert!(serde_json::from_str::<EventName>(r#""list..updated""#).is_err());
    }
}
