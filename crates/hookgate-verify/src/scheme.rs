//! The signature schemes hookgate knows, and their names.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::DEFAULT_TOLERANCE;

/// A way a sender proves a delivery is theirs.
///
/// The names returned by [`Scheme::as_str`] are the ones the `hookgate` command
/// accepts after `--scheme` and in its configuration file; [`FromStr`] parses
/// them back, ignoring ASCII case and surrounding spaces, and accepts a few
/// aliases (`standard-webhooks`, `clazar`, `header-token`, `custom-hmac`,
/// `facebook`, `instagram`, `whatsapp`, `twitch-eventsub`).
///
/// ```
/// use hookgate_verify::Scheme;
///
/// let scheme: Scheme = "clarife".parse().unwrap();
/// assert_eq!(scheme, Scheme::Clarife);
/// assert_eq!(" GitHub ".parse::<Scheme>().unwrap(), Scheme::GitHub);
/// assert_eq!(Scheme::Clarity.as_str(), "clarity");
/// assert_eq!("header-token".parse::<Scheme>().unwrap(), Scheme::Clarity);
/// let err = "md5".parse::<Scheme>().unwrap_err();
/// assert!(err.to_string().starts_with("unknown scheme \"md5\"; expected one of standard, svix, clarife,"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp` and a space-separated
    /// `webhook-signature` list of `v1,<base64>` over `{id}.{timestamp}.{body}`;
    /// `whsec_` + base64 secrets. Asymmetric `v1a,<base64>` Ed25519 entries
    /// over the same content verify with `whpk_` + base64 public keys and are
    /// signed with `whsk_` + base64 secret keys; a list may mix both, and
    /// each kind of key reads only its own entries.
    Standard,
    /// Svix (used by Clazar): Standard Webhooks with `svix-*` headers; the
    /// `webhook-*` headers are accepted too.
    Svix,
    /// clarife: `X-Clarife-Signature: t=<unix>,v1=<hex>`, HMAC-SHA256 of the raw
    /// body only; several `v1=` entries allowed. The delivery id is the body's
    /// envelope `id`.
    Clarife,
    /// Stripe: `Stripe-Signature: t=..,v1=..` over `{timestamp}.{body}`; the
    /// `whsec_…` string itself is the key. The delivery id is the event's `id`
    /// (`evt_…`) in the body.
    Stripe,
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body; no timestamp.
    GitHub,
    /// Slack: `X-Slack-Signature: v0=<hex>` over
    /// `v0:{X-Slack-Request-Timestamp}:{body}`.
    Slack,
    /// Shopify: `X-Shopify-Hmac-Sha256: <base64>` over the body (also
    /// `Shopify-Hmac-Sha256`); no timestamp.
    Shopify,
    /// Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>` over
    /// `{ts}:{body}`, several `h1` during a rotation; 5 seconds of tolerance
    /// by default, as Paddle's SDKs. The delivery id is the body's `event_id`.
    Paddle,
    /// Linear: `Linear-Signature: <hex>` over the body; the signed body's
    /// `webhookTimestamp` (milliseconds) within 60 seconds by default, as
    /// Linear's SDK. `Linear-Delivery` is the delivery id.
    Linear,
    /// Zoom: `x-zm-signature: v0=<hex>` over
    /// `v0:{x-zm-request-timestamp}:{body}`.
    Zoom,
    /// Twitch EventSub: `Twitch-Eventsub-Message-Signature: sha256=<hex>` over
    /// message id, timestamp (RFC 3339, as sent) and body, with nothing
    /// between them; 10 minutes of tolerance by default, as Twitch asks.
    Twitch,
    /// Meta (Facebook, Instagram, WhatsApp): `X-Hub-Signature-256:
    /// sha256=<hex>` over the body, under the app secret.
    Meta,
    /// Dropbox: `X-Dropbox-Signature: <hex>` over the body, under the app
    /// secret.
    Dropbox,
    /// Discord interactions: `X-Signature-Ed25519: <hex>`, an Ed25519
    /// signature of `{X-Signature-Timestamp}{body}`; verified with the
    /// application's public key (64 hex digits), signed with a 32-byte seed
    /// (64 hex digits). The delivery id is the interaction's `id`.
    Discord,
    /// Twilio: `X-Twilio-Signature`, the base64 HMAC-SHA1 (under the auth
    /// token) of the full URL Twilio called followed by the form parameters
    /// sorted by name, each name then its value; a JSON body is instead
    /// hashed into the URL's `bodySHA256` parameter, and the signature covers
    /// the URL alone. Needs the URL: see
    /// [`Verifier::verify_with`](crate::Verifier::verify_with).
    /// `I-Twilio-Idempotency-Token` is the delivery id.
    Twilio,
    /// Claravine: `Authorization: Bearer <token>` and the same token in the JSON
    /// body's top-level `token`; both must match.
    Claravine,
    /// A static token in a header, compared in constant time: Clarity's
    /// per-route `x-clarity-webhook-token` by default, and any sender that
    /// authenticates with a fixed token in a header of its choosing (set the
    /// header and an optional prefix on the builder).
    Clarity,
    /// GitLab: the secret token itself in `X-Gitlab-Token`, compared in
    /// constant time; `X-Gitlab-Event-UUID` is the delivery id.
    GitLab,
    /// Microsoft Graph change notifications: the `clientState` of every
    /// item of the body's `value` equals the secret (compared in constant
    /// time). Needs the `json` feature.
    MsGraph,
    /// HMAC-SHA256 described declaratively: header, prefix, encoding and a
    /// signed-content template over id, timestamp and body.
    Custom,
}

/// A scheme's names: what it prints as, and what else parses as it.
struct Names {
    scheme: Scheme,
    name: &'static str,
    aliases: &'static [&'static str],
}

/// The one list of scheme names, in the order of the documentation: row `i`
/// is the variant whose discriminant is `i` (checked when compiling, by
/// [`Scheme::ALL`]). [`Scheme::ALL`], [`Scheme::as_str`], [`FromStr`] and
/// [`UnknownScheme`]'s message are all read from it, so a new scheme is one row.
const NAMES: [Names; 20] = [
    Names {
        scheme: Scheme::Standard,
        name: "standard",
        aliases: &["standard-webhooks"],
    },
    Names {
        scheme: Scheme::Svix,
        name: "svix",
        aliases: &["clazar"],
    },
    Names {
        scheme: Scheme::Clarife,
        name: "clarife",
        aliases: &[],
    },
    Names {
        scheme: Scheme::Stripe,
        name: "stripe",
        aliases: &[],
    },
    Names {
        scheme: Scheme::GitHub,
        name: "github",
        aliases: &[],
    },
    Names {
        scheme: Scheme::Slack,
        name: "slack",
        aliases: &[],
    },
    Names {
        scheme: Scheme::Shopify,
        name: "shopify",
        aliases: &[],
    },
    Names {
        scheme: Scheme::Paddle,
        name: "paddle",
        aliases: &[],
    },
    Names {
        scheme: Scheme::Linear,
        name: "linear",
        aliases: &[],
    },
    Names {
        scheme: Scheme::Zoom,
        name: "zoom",
        aliases: &[],
    },
    Names {
        scheme: Scheme::Twitch,
        name: "twitch",
        aliases: &["twitch-eventsub"],
    },
    Names {
        scheme: Scheme::Meta,
        name: "meta",
        aliases: &["facebook", "instagram", "whatsapp"],
    },
    Names {
        scheme: Scheme::Dropbox,
        name: "dropbox",
        aliases: &[],
    },
    Names {
        scheme: Scheme::Discord,
        name: "discord",
        aliases: &[],
    },
    Names {
        scheme: Scheme::Twilio,
        name: "twilio",
        aliases: &[],
    },
    Names {
        scheme: Scheme::Claravine,
        name: "claravine",
        aliases: &[],
    },
    Names {
        scheme: Scheme::Clarity,
        name: "clarity",
        aliases: &["header-token"],
    },
    Names {
        scheme: Scheme::GitLab,
        name: "gitlab",
        aliases: &[],
    },
    Names {
        scheme: Scheme::MsGraph,
        name: "msgraph",
        aliases: &["microsoft-graph"],
    },
    Names {
        scheme: Scheme::Custom,
        name: "custom",
        aliases: &["custom-hmac"],
    },
];

impl Scheme {
    /// Every scheme, in the order of the documentation.
    pub const ALL: [Scheme; NAMES.len()] = {
        let mut all = [Scheme::Standard; NAMES.len()];
        let mut i = 0;
        while i < NAMES.len() {
            // What makes `as_str` a plain index into the table.
            assert!(
                NAMES[i].scheme as usize == i,
                "NAMES must list the schemes in the order they are declared"
            );
            all[i] = NAMES[i].scheme;
            i += 1;
        }
        all
    };

    /// The scheme's name as the `hookgate` command spells it.
    pub const fn as_str(self) -> &'static str {
        NAMES[self as usize].name
    }

    /// How far a signed timestamp may be from the receiver's clock, in either
    /// direction, unless the builder says otherwise: what the sender's own
    /// libraries check. 5 seconds for Paddle, 60 seconds for Linear, 10
    /// minutes for Twitch, [`DEFAULT_TOLERANCE`] (5 minutes) for the others.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hookgate_verify::{DEFAULT_TOLERANCE, Scheme};
    ///
    /// assert_eq!(Scheme::Linear.default_tolerance(), Duration::from_secs(60));
    /// assert_eq!(Scheme::Stripe.default_tolerance(), DEFAULT_TOLERANCE);
    /// ```
    pub const fn default_tolerance(self) -> Duration {
        match self {
            Scheme::Paddle => Duration::from_secs(5),
            Scheme::Linear => Duration::from_secs(60),
            Scheme::Twitch => Duration::from_secs(10 * 60),
            _ => DEFAULT_TOLERANCE,
        }
    }

    /// Whether verifying needs the URL the sender called
    /// ([`RequestContext::with_url`](crate::RequestContext::with_url)):
    /// Twilio signs it.
    pub const fn needs_url(self) -> bool {
        matches!(self, Scheme::Twilio)
    }

    /// Whether the scheme authenticates with a shared token rather than a
    /// signature.
    pub const fn is_token(self) -> bool {
        matches!(
            self,
            Scheme::Claravine | Scheme::Clarity | Scheme::GitLab | Scheme::MsGraph
        )
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown scheme name. Its message lists the
/// names [`Scheme::as_str`] gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scheme {name:?}; expected one of {}", OneOf(&NAMES))]
pub struct UnknownScheme {
    name: String,
}

impl UnknownScheme {
    /// The name that was not recognised.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The names of a table, comma-separated.
struct OneOf<'a>(&'a [Names]);

impl fmt::Display for OneOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, row) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(row.name)?;
        }
        Ok(())
    }
}

impl FromStr for Scheme {
    type Err = UnknownScheme;

    /// A name or alias of the table, ignoring ASCII case and surrounding
    /// whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        NAMES
            .iter()
            .find(|row| {
                std::iter::once(&row.name)
                    .chain(row.aliases)
                    .any(|name| name.eq_ignore_ascii_case(wanted))
            })
            .map(|row| row.scheme)
            .ok_or_else(|| UnknownScheme { name: s.to_owned() })
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
            let shouted = format!(" {}\t", scheme.as_str().to_ascii_uppercase());
            assert_eq!(shouted.parse::<Scheme>().unwrap(), scheme);
        }
    }

    #[test]
    fn aliases_parse_as_their_scheme() {
        for (alias, scheme) in [
            ("standard-webhooks", Scheme::Standard),
            ("Clazar", Scheme::Svix),
            ("header-token", Scheme::Clarity),
            ("CUSTOM-HMAC", Scheme::Custom),
            ("WhatsApp", Scheme::Meta),
            ("twitch-eventsub", Scheme::Twitch),
        ] {
            assert_eq!(alias.parse::<Scheme>().unwrap(), scheme);
        }
    }

    #[test]
    fn no_name_is_given_twice() {
        let mut all: Vec<&str> = NAMES
            .iter()
            .flat_map(|row| std::iter::once(row.name).chain(row.aliases.iter().copied()))
            .collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
    }

    #[test]
    fn unknown_name_is_reported_with_every_name() {
        let err = "sha1".parse::<Scheme>().unwrap_err();
        assert_eq!(err.name(), "sha1");
        let message = err.to_string();
        assert!(message.starts_with("unknown scheme \"sha1\"; expected one of standard, "));
        for scheme in Scheme::ALL {
            assert!(message.contains(scheme.as_str()), "{message}");
        }
        assert!(!message.contains("header-token"), "aliases are not listed");
        // The name is escaped, so a hostile one cannot forge lines.
        let hostile = "x\"\nERROR".parse::<Scheme>().unwrap_err().to_string();
        assert!(!hostile.contains('\n'), "{hostile}");
    }
}
