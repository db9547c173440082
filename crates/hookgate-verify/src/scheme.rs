//! The signature schemes hookgate knows.

use std::fmt;
use std::str::FromStr;

/// A way a sender proves a delivery is theirs.
///
/// The names returned by [`Scheme::as_str`] are the ones the `hookgate` command
/// accepts after `--scheme`, and [`FromStr`] parses them back.
///
/// ```
/// use hookgate_verify::Scheme;
///
/// let scheme: Scheme = "clarife".parse().unwrap();
/// assert_eq!(scheme, Scheme::Clarife);
/// assert_eq!(Scheme::HeaderToken.as_str(), "clarity");
/// assert!("md5".parse::<Scheme>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp` and a space-separated
    /// `webhook-signature` list of `v1,<base64>` over `{id}.{timestamp}.{body}`;
    /// `whsec_` + base64 secrets.
    Standard,
    /// Svix (used by Clazar): Standard Webhooks with `svix-*` headers; the
    /// `webhook-*` headers are accepted too.
    Svix,
    /// clarife: `X-Clarife-Signature: t=<unix>,v1=<hex>`, HMAC-SHA256 of the raw
    /// body only; several `v1=` entries allowed.
    Clarife,
    /// Stripe: `Stripe-Signature: t=..,v1=..` over `{t}.{body}`; the `whsec_…`
    /// string itself is the key.
    Stripe,
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body; no timestamp.
    Github,
    /// Slack: `X-Slack-Signature: v0=<hex>` over
    /// `v0:{X-Slack-Request-Timestamp}:{body}`.
    Slack,
    /// Shopify: `X-Shopify-Hmac-Sha256: <base64>` over the body (also
    /// `Shopify-Hmac-Sha256`); no timestamp.
    Shopify,
    /// Claravine: `Authorization: Bearer <token>` and the same token in the JSON
    /// body's top-level `token`; both must match.
    Claravine,
    /// A per-route token in a named header; `x-clarity-webhook-token` (Clarity)
    /// unless configured otherwise.
    HeaderToken,
    /// HMAC-SHA256 described declaratively: header, prefix, encoding and a
    /// signed-content template over id, timestamp and body.
    CustomHmac,
}

impl Scheme {
    /// Every scheme, in the order of the documentation.
    pub const ALL: [Scheme; 10] = [
        Scheme::Standard,
        Scheme::Svix,
        Scheme::Clarife,
        Scheme::Stripe,
        Scheme::Github,
        Scheme::Slack,
        Scheme::Shopify,
        Scheme::Claravine,
        Scheme::HeaderToken,
        Scheme::CustomHmac,
    ];

    /// The scheme's name as the `hookgate` command spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Standard => "standard",
            Scheme::Svix => "svix",
            Scheme::Clarife => "clarife",
            Scheme::Stripe => "stripe",
            Scheme::Github => "github",
            Scheme::Slack => "slack",
            Scheme::Shopify => "shopify",
            Scheme::Claravine => "claravine",
            Scheme::HeaderToken => "clarity",
            Scheme::CustomHmac => "custom",
        }
    }

    /// Whether the scheme authenticates with a shared token rather than an HMAC.
    pub const fn is_token(self) -> bool {
        matches!(self, Scheme::Claravine | Scheme::HeaderToken)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown scheme name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scheme {name:?}; expected one of standard, svix, clarife, stripe, github, slack, shopify, claravine, clarity, custom"
)]
pub struct UnknownScheme {
    name: String,
}

impl UnknownScheme {
    /// The name that was not recognised.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let scheme = match lower.as_str() {
            "standard" | "standard-webhooks" => Scheme::Standard,
            "svix" | "clazar" => Scheme::Svix,
            "clarife" => Scheme::Clarife,
            "stripe" => Scheme::Stripe,
            "github" => Scheme::Github,
            "slack" => Scheme::Slack,
            "shopify" => Scheme::Shopify,
            "claravine" => Scheme::Claravine,
            "clarity" | "header-token" => Scheme::HeaderToken,
            "custom" | "custom-hmac" => Scheme::CustomHmac,
            _ => {
                return Err(UnknownScheme { name: s.to_owned() });
            }
        };
        Ok(scheme)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scheme in Scheme::ALL {
            assert_eq!(scheme.as_str().parse::<Scheme>().unwrap(), scheme);
            assert_eq!(scheme.to_string(), scheme.as_str());
        }
    }

    #[test]
    fn unknown_name_is_reported() {
        let err = "sha1".parse::<Scheme>().unwrap_err();
        assert_eq!(err.name(), "sha1");
        assert!(err.to_string().contains("\"sha1\""));
    }
}
