//! Dotted event names: `claim.created`, `customer.subscription.deleted`, `push`.

use std::borrow::{Borrow, Cow};
use std::fmt;
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event name `{name}`: {reason}")]
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

impl EventName {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidEventName> {
        let name = name.into();
        match check(&name, false) {
            Ok(()) => Ok(Self(Cow::Owned(name))),
            Err(reason) => Err(InvalidEventName::new(&name, reason)),
        }
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

    /// The same name in ASCII lowercase (still a valid name).
    pub(crate) fn to_ascii_lowercase(&self) -> Self {
        Self(Cow::Owned(self.0.to_ascii_lowercase()))
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
            "invalid event name `claim..x`: it has an empty segment"
        );
    }

    #[test]
    fn serde_validates() {
        let name: EventName = serde_json::from_str(r#""list.updated""#).unwrap();
        assert_eq!(name, "list.updated");
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""list.updated""#);
        assert!(serde_json::from_str::<EventName>(r#""list..updated""#).is_err());
    }
}
