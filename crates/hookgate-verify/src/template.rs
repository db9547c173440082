//! Signed-content templates of custom HMAC schemes: `{timestamp}.{body}` and the like.

use crate::ConfigError;

/// One piece of the signed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Literal(Box<[u8]>),
    Id,
    Timestamp,
    Body,
}

/// A parsed template: literal text and the placeholders `{id}`, `{timestamp}`,
/// `{body}`; `{{` and `}}` stand for braces. `{body}` must appear exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) parts: Vec<Part>,
}

impl Template {
    pub(crate) fn body_only() -> Self {
        Self {
            parts: vec![Part::Body],
        }
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
        Ok(Self { parts })
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
        let t = Template::parse("v0:{timestamp}:{body}").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Literal(b"v0:".to_vec().into()),
                Part::Timestamp,
                Part::Literal(b":".to_vec().into()),
                Part::Body
            ]
        );
        let braces = Template::parse("{{{id}}}{body}").unwrap();
        assert_eq!(braces.parts[0], Part::Literal(b"{".to_vec().into()));
        assert_eq!(braces.parts[1], Part::Id);
        assert_eq!(braces.parts[2], Part::Literal(b"}".to_vec().into()));
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
                matches!(Template::parse(bad), Err(ConfigError::InvalidTemplate(_))),
                "{bad:?}"
            );
        }
    }
}
