//! What a signature covers. Each scheme's signed layout is written once,
//! here ([`SignedContent::of`]); the verifier computes the tag it expects with
//! [`SignedContent::mac`] and the signer the tag it sends with the same call,
//! so the two cannot drift apart. A custom scheme's layout is a template in
//! the same terms (`{timestamp}.{body}` and the like).

use std::borrow::Cow;

use hmac::Mac as _;

use crate::key::HmacSha256;
use crate::parse::Tag;
use crate::{ConfigError, Scheme};

/// One piece of the signed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Literal(Cow<'static, [u8]>),
    Id,
    Timestamp,
    Body,
}

/// The pieces of one delivery a signature may cover, each exactly as sent
/// (the timestamp is the header's text, not a re-formatted number). A
/// scheme's layout ignores the pieces it does not sign.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    pub(crate) id: &'a [u8],
    pub(crate) timestamp: &'a [u8],
    pub(crate) body: &'a [u8],
}

impl<'a> Fields<'a> {
    /// Only the body: enough for the schemes that sign nothing else.
    pub(crate) fn body_only(body: &'a [u8]) -> Self {
        Self {
            id: b"",
            timestamp: b"",
            body,
        }
    }
}

/// What a scheme signs: literal bytes and the delivery's id, timestamp and
/// body, in order, fed to the HMAC piece by piece (never copied into one
/// buffer). Parsed from a template: the placeholders `{id}`, `{timestamp}`,
/// `{body}`; `{{` and `}}` stand for braces; `{body}` appears exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedContent {
    pub(crate) parts: Cow<'static, [Part]>,
}

const fn literal(bytes: &'static [u8]) -> Part {
    Part::Literal(Cow::Borrowed(bytes))
}

/// `{id}.{timestamp}.{body}`
const ID_DOT_TIMESTAMP_DOT_BODY: &[Part] = &[
    Part::Id,
    literal(b"."),
    Part::Timestamp,
    literal(b"."),
    Part::Body,
];
/// `{timestamp}.{body}`
const TIMESTAMP_DOT_BODY: &[Part] = &[Part::Timestamp, literal(b"."), Part::Body];
/// `v0:{timestamp}:{body}`
const SLACK_V0: &[Part] = &[literal(b"v0:"), Part::Timestamp, literal(b":"), Part::Body];
/// `{timestamp}:{body}`
const TIMESTAMP_COLON_BODY: &[Part] = &[Part::Timestamp, literal(b":"), Part::Body];
/// `{timestamp}{body}`
const TIMESTAMP_BODY: &[Part] = &[Part::Timestamp, Part::Body];
/// `{id}{timestamp}{body}`
const ID_TIMESTAMP_BODY: &[Part] = &[Part::Id, Part::Timestamp, Part::Body];
/// `{body}`
const BODY: &[Part] = &[Part::Body];

impl SignedContent {
    /// What `scheme` signs: the one place a scheme's layout is written.
    ///
    /// The custom scheme's is its default, `{body}`, until
    /// `VerifierBuilder::signed_content` replaces it; token schemes sign
    /// nothing (their token is compared instead).
    pub(crate) const fn of(scheme: Scheme) -> Self {
        let parts: &'static [Part] = match scheme {
            Scheme::Standard | Scheme::Svix => ID_DOT_TIMESTAMP_DOT_BODY,
            Scheme::Stripe => TIMESTAMP_DOT_BODY,
            Scheme::Slack | Scheme::Zoom => SLACK_V0,
            Scheme::Paddle => TIMESTAMP_COLON_BODY,
            Scheme::Twitch => ID_TIMESTAMP_BODY,
            Scheme::Discord => TIMESTAMP_BODY,
            // clarife's `t=` is sent beside its signature, not in it (see the
            // security page); Linear's timestamp is inside the body.
            Scheme::Clarife
            | Scheme::GitHub
            | Scheme::Shopify
            | Scheme::Linear
            | Scheme::Meta
            | Scheme::Dropbox
            | Scheme::Custom => BODY,
            // Twilio's content is the URL and the form parameters: see
            // `twilio::signed_content`.
            Scheme::Claravine
            | Scheme::Clarity
            | Scheme::GitLab
            | Scheme::MsGraph
            | Scheme::Twilio => &[],
        };
        Self {
            parts: Cow::Borrowed(parts),
        }
    }

    /// The HMAC-SHA256 of this content over `fields`, under `key` (a keyed
    /// state, cloned so the key is not absorbed again). Allocates nothing.
    pub(crate) fn mac(&self, key: &HmacSha256, fields: Fields<'_>) -> Tag {
        let mut mac = key.clone();
        for part in self.parts.iter() {
            mac.update(match part {
                Part::Literal(bytes) => bytes,
                Part::Id => fields.id,
                Part::Timestamp => fields.timestamp,
                Part::Body => fields.body,
            });
        }
        mac.finalize().into_bytes().into()
    }

    /// This content over `fields` as one buffer: what an Ed25519 signature
    /// signs (its API takes the message whole).
    pub(crate) fn message(&self, fields: Fields<'_>) -> Vec<u8> {
        let piece = |part: &'_ Part| -> usize {
            match part {
                Part::Literal(bytes) => bytes.len(),
                Part::Id => fields.id.len(),
                Part::Timestamp => fields.timestamp.len(),
                Part::Body => fields.body.len(),
            }
        };
        let mut message = Vec::with_capacity(self.parts.iter().map(piece).sum());
        for part in self.parts.iter() {
            message.extend_from_slice(match part {
                Part::Literal(bytes) => bytes,
                Part::Id => fields.id,
                Part::Timestamp => fields.timestamp,
                Part::Body => fields.body,
            });
        }
        message
    }

    pub(crate) fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("{{") {
                literal.push('{');
                rest = after;
            } else if let Some(after) = rest.strip_prefix("}}") {
                literal.push('}');
                rest = after;
            } else if c == '{' {
                let end = rest.find('}').ok_or_else(|| {
                    ConfigError::InvalidTemplate("unclosed '{' (write {{ for a brace)".to_owned())
                })?;
                let part = match &rest[1..end] {
                    "id" => Part::Id,
                    "timestamp" => Part::Timestamp,
                    "body" => Part::Body,
                    other => {
                        return Err(ConfigError::InvalidTemplate(format!(
                            "unknown placeholder {{{other}}}; use {{id}}, {{timestamp}} or {{body}}"
                        )));
                    }
                };
                if !literal.is_empty() {
                    parts.push(Part::Literal(
                        std::mem::take(&mut literal).into_bytes().into(),
                    ));
                }
                parts.push(part);
                rest = &rest[end + 1..];
            } else if c == '}' {
                return Err(ConfigError::InvalidTemplate(
                    "unmatched '}' (write }} for a brace)".to_owned(),
                ));
            } else {
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal.into_bytes().into()));
        }
        if parts.iter().filter(|p| **p == Part::Body).count() != 1 {
            return Err(ConfigError::InvalidTemplate(
                "{body} must appear exactly once".to_owned(),
            ));
        }
        Ok(Self {
            parts: parts.into(),
        })
    }

    pub(crate) fn uses(&self, wanted: &Part) -> bool {
        self.parts.iter().any(|p| p == wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_placeholders_and_literals() {
        let t = SignedContent::parse("v0:{timestamp}:{body}").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Literal(b"v0:".to_vec().into()),
                Part::Timestamp,
                Part::Literal(b":".to_vec().into()),
                Part::Body
            ]
        );
        let braces = SignedContent::parse("{{{id}}}{body}").unwrap();
        assert_eq!(braces.parts[0], Part::Literal(b"{".to_vec().into()));
        assert_eq!(braces.parts[1], Part::Id);
        assert_eq!(braces.parts[2], Part::Literal(b"}".to_vec().into()));
    }

    /// The security page's "signed content" column is read back and compared
    /// with the layouts, so the page cannot drift from what is signed.
    #[test]
    fn the_security_page_shows_each_layout() {
        let page = include_str!("security.rs");
        for scheme in Scheme::ALL {
            let name = format!("`{}`", scheme.as_str());
            let row = page
                .lines()
                .find(|line| {
                    line.starts_with("//! | ")
                        && line
                            .split('|')
                            .nth(1)
                            .is_some_and(|names| names.contains(&name))
                })
                .unwrap_or_else(|| panic!("no row for {name}"));
            let column = row.split('|').nth(2).unwrap_or_default();
            let layout = SignedContent::of(scheme);
            if scheme == Scheme::Twilio {
                assert!(column.contains("URL"), "{row}");
            } else if layout.parts.is_empty() {
                assert!(column.contains("nothing"), "{row}");
            } else if scheme == Scheme::Custom {
                assert!(column.contains("configured template"), "{row}");
            } else {
                let template = column.split('`').nth(1).unwrap_or_default();
                assert_eq!(SignedContent::parse(template).unwrap(), layout, "{row}");
            }
        }
    }

    #[test]
    fn refuses_bad_templates() {
        for bad in [
            "{timestamp}",
            "{body}{body}",
            "{nope}{body}",
            "{body",
            "}{body}",
            "",
        ] {
            assert!(
                matches!(
                    SignedContent::parse(bad),
                    Err(ConfigError::InvalidTemplate(_))
                ),
                "{bad:?}"
            );
        }
    }
}
