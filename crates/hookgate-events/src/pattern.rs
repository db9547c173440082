//! Patterns over event names (`claim.*`, `*.deleted`, `*`) and allow-lists of them.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::name::{EventName, MAX_EVENT_NAME_LEN, NameProblem, check};

/// A pattern over [`EventName`]s: dotted segments, each a literal or `*`.
///
/// A `*` segment stands for **one or more** whole segments, so
///
/// | pattern | matches | does not match |
/// |---|---|---|
/// | `claim.created` | `claim.created` | `claim.closed` |
/// | `claim.*` | `claim.created`, `claim.label.added` | `claim`, `contact.created` |
/// | `*.deleted` | `list.deleted`, `customer.subscription.deleted` | `deleted` |
/// | `*` | every name | |
///
/// `*` never matches part of a segment (`claim.label_*` is rejected), and
/// matching is case-sensitive. Matching allocates nothing.
///
/// ```
/// use hookgate_events::{EventName, Pattern};
///
/// let pattern: Pattern = "*.deleted".parse()?;
/// assert!(pattern.matches(&EventName::from_static("list.deleted")));
/// assert!(!pattern.matches(&EventName::from_static("list.updated")));
/// # Ok::<(), hookgate_events::InvalidPattern>(())
/// ```
#[derive(Clone)]
pub struct Pattern {
    raw: Box<str>,
    segments: Box<[Segment]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// A literal segment, as a byte range of `raw`.
    Literal(Range<usize>),
    /// `*`: one or more segments.
    Star,
}

/// Why a string is not a [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event pattern {pattern:?}: {problem}")]
pub struct InvalidPattern {
    pattern: String,
    problem: NameProblem,
}

impl InvalidPattern {
    /// The rejected string, truncated to [`MAX_EVENT_NAME_LEN`] bytes.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// What is wrong with it.
    pub fn problem(&self) -> NameProblem {
        self.problem
    }
}

impl Pattern {
    /// Parses a pattern.
    pub fn new(pattern: &str) -> Result<Self, InvalidPattern> {
        if let Err(problem) = check(pattern, true) {
            let mut end = pattern.len().min(MAX_EVENT_NAME_LEN);
            while !pattern.is_char_boundary(end) {
                end -= 1;
            }
            return Err(InvalidPattern {
                pattern: pattern[..end].to_owned(),
                problem,
            });
        }
        let mut segments = Vec::new();
        let mut start = 0;
        for part in pattern.split('.') {
            segments.push(if part == "*" {
                Segment::Star
            } else {
                Segment::Literal(start..start + part.len())
            });
            start += part.len() + 1;
        }
        Ok(Self {
            raw: pattern.into(),
            segments: segments.into_boxed_slice(),
        })
    }

    /// `*`, which matches every event.
    pub fn any() -> Self {
        Self {
            raw: "*".into(),
            segments: Box::new([Segment::Star]),
        }
    }

    /// Matches exactly `name`.
    pub fn exact(name: &EventName) -> Self {
        Self::new(name.as_str()).expect("an event name is a valid pattern")
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether this is `*`.
    pub fn is_any(&self) -> bool {
        matches!(*self.segments, [Segment::Star])
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &EventName) -> bool {
        self.matches_str(name.as_str())
    }

    /// Whether the dotted name `name` matches; `name` is not validated.
    pub fn matches_str(&self, name: &str) -> bool {
        // Greedy matching with a single backtrack point, as for file globs:
        // when a later literal fails, the most recent `*` swallows one more
        // segment and matching resumes after it. Earlier stars never need to
        // be revisited, so this is linear in practice and never allocates.
        fn after_first_segment(rest: &str) -> Option<&str> {
            rest.split_once('.').map(|(_, tail)| tail)
        }

        let mut p = 0;
        // The segments of `name` not yet consumed; `None` once all are.
        let mut rest = Some(name);
        // (pattern index after the last star, `rest` after what it consumed).
        let mut backtrack: Option<(usize, Option<&str>)> = None;
        loop {
            match (self.segments.get(p), rest) {
                (None, None) => return true,
                (Some(Segment::Star), Some(r)) => {
                    let after = after_first_segment(r);
                    backtrack = Some((p + 1, after));
                    p += 1;
                    rest = after;
                    continue;
                }
                (Some(Segment::Literal(range)), Some(r)) => {
                    let (head, after) = match r.split_once('.') {
                        Some((head, tail)) => (head, Some(tail)),
                        None => (r, None),
                    };
                    if head == &self.raw[range.clone()] {
                        p += 1;
                        rest = after;
                        continue;
                    }
                }
                _ => {}
            }
            match backtrack {
                Some((star_next, Some(consumed_to))) => {
                    let after = after_first_segment(consumed_to);
                    backtrack = Some((star_next, after));
                    p = star_next;
                    rest = after;
                }
                _ => return false,
            }
        }
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for Pattern {}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Pattern {
    type Err = InvalidPattern;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for Pattern {
    type Error = InvalidPattern;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<&EventName> for Pattern {
    fn from(name: &EventName) -> Self {
        Self::exact(name)
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

/// An allow-list of [`Pattern`]s: which events a receiver wants at all.
///
/// An empty filter allows every event, so "no filter configured" needs no
/// special case. Receivers use it to drop unwanted events before enqueueing
/// them (Claravine, for one, sends every object type with no way to choose).
/// It (de)serializes as a list of pattern strings, for configuration files.
///
/// ```
/// use hookgate_events::{EventFilter, EventName};
///
/// let filter = EventFilter::new(["submission.*", "template.created"])?;
/// assert!(filter.allows(&EventName::from_static("submission.completed")));
/// assert!(!filter.allows(&EventName::from_static("list.updated")));
/// assert!(EventFilter::allow_all().allows(&EventName::from_static("list.updated")));
/// # Ok::<(), hookgate_events::InvalidPattern>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventFilter {
    patterns: Vec<Pattern>,
}

impl EventFilter {
    /// A filter allowing the events that match any of `patterns`.
    pub fn new<I>(patterns: I) -> Result<Self, InvalidPattern>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let patterns = patterns
            .into_iter()
            .map(|p| Pattern::new(p.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// The filter that allows everything (the same as an empty list).
    pub fn allow_all() -> Self {
        Self::default()
    }

    /// Adds `pattern` to the allow-list.
    #[must_use]
    pub fn with(mut self, pattern: Pattern) -> Self {
        self.patterns.push(pattern);
        self
    }

    /// Whether `name` is allowed: the list is empty or a pattern matches it.
    pub fn allows(&self, name: &EventName) -> bool {
        self.allows_str(name.as_str())
    }

    /// Whether the dotted name `name` is allowed; `name` is not validated.
    pub fn allows_str(&self, name: &str) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches_str(name))
    }

    /// Whether this filter lets every event through.
    pub fn allows_all(&self) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(Pattern::is_any)
    }

    /// The patterns, in the order given.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }
}

impl FromIterator<Pattern> for EventFilter {
    fn from_iter<I: IntoIterator<Item = Pattern>>(iter: I) -> Self {
        Self {
            patterns: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(pattern: &str, name: &str) -> bool {
        Pattern::new(pattern).unwrap().matches_str(name)
    }

    #[test]
    fn documented_examples() {
        assert!(m("claim.created", "claim.created"));
        assert!(!m("claim.created", "claim.closed"));
        assert!(m("claim.*", "claim.created"));
        assert!(m("claim.*", "claim.label.added"));
        assert!(!m("claim.*", "claim"));
        assert!(!m("claim.*", "contact.created"));
        assert!(m("*.deleted", "list.deleted"));
        assert!(m("*.deleted", "customer.subscription.deleted"));
        assert!(!m("*.deleted", "deleted"));
        assert!(!m("*.deleted", "list.deleted.not"));
        assert!(m("*", "push"));
        assert!(m("*", "a.b.c"));
        assert!(m("a.*.c", "a.b.x.c"));
        assert!(!m("a.*.c", "a.c"));
        assert!(m("*.*", "a.b"));
        assert!(!m("*.*", "a"));
        assert!(!m("claim", "claim.created"));
    }

    #[test]
    fn rejects_bad_patterns() {
        for (bad, problem) in [
            ("", NameProblem::Empty),
            ("claim.", NameProblem::EmptySegment),
            ("claim.label_*", NameProblem::InvalidCharacter),
            ("**", NameProblem::InvalidCharacter),
            ("*a", NameProblem::InvalidCharacter),
            ("claim created", NameProblem::InvalidCharacter),
        ] {
            let err = Pattern::new(bad).unwrap_err();
            assert_eq!(err.problem(), problem, "{bad:?}");
        }
        assert_eq!(
            Pattern::new("claim.x*").unwrap_err().to_string(),
            r#"invalid event pattern "claim.x*": it contains a character not allowed there"#
        );
    }

    #[test]
    fn any_and_exact() {
        assert!(Pattern::any().is_any());
        assert_eq!(Pattern::any(), Pattern::new("*").unwrap());
        let name = EventName::from_static("list.updated");
        assert!(Pattern::exact(&name).matches(&name));
        assert!(!Pattern::new("list.*").unwrap().is_any());
    }

    #[test]
    fn filter_serde_and_all() {
        let filter: EventFilter = serde_json::from_str(r#"["claim.*", "*.deleted"]"#).unwrap();
        assert_eq!(filter.patterns().len(), 2);
        assert!(filter.allows_str("list.deleted"));
        assert!(!filter.allows_str("list.updated"));
        assert!(!filter.allows_all());
        assert_eq!(
            serde_json::to_string(&filter).unwrap(),
            r#"["claim.*","*.deleted"]"#
        );
        assert!(serde_json::from_str::<EventFilter>(r#"["claim.x*"]"#).is_err());
        assert!(EventFilter::allow_all().allows_all());
        assert!(EventFilter::allow_all().with(Pattern::any()).allows_all());
    }

    /// The definition, written as directly as possible: `*` consumes one or
    /// more segments, tried in every split.
    fn reference(pattern: &[&str], name: &[&str]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some((&"*", rest)) => (1..=name.len()).any(|n| reference(rest, &name[n..])),
            Some((literal, rest)) => name.first() == Some(literal) && reference(rest, &name[1..]),
        }
    }

    fn segment() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["a", "b", "c", "claim", "deleted"])
    }

    proptest! {
        #[test]
        fn agrees_with_reference(
            pattern in prop::collection::vec(
                prop_oneof![3 => segment(), 2 => Just("*")], 1..6),
            name in prop::collection::vec(segment(), 1..8),
        ) {
            let compiled = Pattern::new(&pattern.join(".")).unwrap();
            let name_str = name.join(".");
            prop_assert_eq!(compiled.matches_str(&name_str), reference(&pattern, &name));
        }

        #[test]
        fn a_name_matches_itself_and_star(name in prop::collection::vec(segment(), 1..8)) {
            let name = EventName::new(name.join(".")).unwrap();
            prop_assert!(Pattern::exact(&name).matches(&name));
            prop_assert!(Pattern::any().matches(&name));
        }
    }
}
