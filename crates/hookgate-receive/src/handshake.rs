//! Handshakes: the requests a sender makes to check an endpoint (before it
//! will deliver to it, or from time to time), answered synchronously by the
//! receiver and never queued.
//!
//! A source answers the handshake of its verifier's scheme without
//! configuration ([`Handshake::for_scheme`]); [`SourceBuilder::handshake`]
//! sets another (Meta's needs its verify token) and
//! [`SourceBuilder::no_handshake`] turns it off.
//!
//! Signed handshakes (Slack, Zoom, Twitch, Discord) are answered only once
//! the request passed verification: one that fails it is refused like any
//! delivery (Discord checks that an invalid signature gets 401). Unsigned
//! ones (Meta's and Dropbox's `GET`, Microsoft Graph's `validationToken`)
//! are answered before verification, as there is nothing to verify; Meta's
//! carries the verify token, compared in constant time (403 when it differs).
//!
//! An echoed value is checked first ([`hookgate_events::check_echo`]: at most
//! 1024 bytes of visible ASCII, no markup characters; 400 otherwise) and sent
//! as `text/plain` with `X-Content-Type-Options: nosniff` and
//! `Cache-Control: no-store`.
//!
//! [`SourceBuilder::handshake`]: crate::SourceBuilder::handshake
//! [`SourceBuilder::no_handshake`]: crate::SourceBuilder::no_handshake

use std::fmt;

use bytes::Bytes;
use hookgate_events::{
    DiscordPing, DropboxChallenge, GraphValidation, InvalidHandshake, JsonBody, MetaSubscribe,
    SlackUrlVerification, TwitchCallbackVerification, ZoomUrlValidation,
};
use hookgate_verify::{Scheme, Verifier};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::{ConfigError, Rejection, RejectionKind};

/// The handshake a source answers; see the [module docs](self).
///
/// ```
/// use hookgate_receive::Handshake;
/// use hookgate_verify::Scheme;
///
/// assert_eq!(Handshake::for_scheme(Scheme::Slack).unwrap().name(), "slack");
/// assert!(Handshake::for_scheme(Scheme::GitHub).is_none());
/// // Zoom's answer is signed with the verifier's secret.
/// let zoom = hookgate_verify::Verifier::new(Scheme::Zoom, "secret-token").unwrap();
/// assert_eq!(Handshake::for_verifier(&zoom).unwrap().name(), "zoom");
/// let meta = Handshake::meta("meatyhamhock")?;
/// assert!(meta.answers_get());
/// assert!(!format!("{meta:?}").contains("meatyhamhock"));
/// # Ok::<(), hookgate_receive::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Handshake {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Slack,
    /// Signs `plainToken` with the first secret of this (Zoom) verifier.
    Zoom(Verifier),
    Twitch,
    Discord,
    /// The SHA-256 of the verify token: compared in constant time whatever
    /// the length of the one presented; `None` refuses every subscription.
    Meta(Option<[u8; 32]>),
    Dropbox,
    Graph,
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Handshake");
        d.field("name", &self.name());
        match &self.kind {
            Kind::Zoom(_) => d.field("secret", &format_args!("[redacted]")),
            Kind::Meta(token) => d.field(
                "verify_token",
                &format_args!(
                    "{}",
                    if token.is_some() {
                        "[redacted]"
                    } else {
                        "none"
                    }
                ),
            ),
            _ => &mut d,
        };
        d.finish()
    }
}

impl Handshake {
    /// Slack's `url_verification` (Events API): answered with the challenge.
    pub fn slack() -> Self {
        Self { kind: Kind::Slack }
    }

    /// Zoom's `endpoint.url_validation`: answered with `plainToken` and its
    /// `encryptedToken`, the hex HMAC-SHA256 of it under `secret` (the
    /// app's secret token, the one its signatures use).
    pub fn zoom(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let verifier = Verifier::new(Scheme::Zoom, secret)
            .map_err(|_| ConfigError::EmptyHandshakeSecret("zoom"))?;
        Ok(Self {
            kind: Kind::Zoom(verifier),
        })
    }

    /// Twitch EventSub's `webhook_callback_verification`: answered with the
    /// challenge. (`revocation` messages are delivered as events.)
    pub fn twitch() -> Self {
        Self { kind: Kind::Twitch }
    }

    /// Discord's interaction `PING` (`{"type":1}`): answered `{"type":1}`.
    pub fn discord() -> Self {
        Self {
            kind: Kind::Discord,
        }
    }

    /// Meta's (Facebook, Instagram, WhatsApp) `GET ?hub.mode=subscribe`:
    /// answered with `hub.challenge` when `hub.verify_token` equals
    /// `verify_token`, 403 otherwise.
    pub fn meta(verify_token: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let token = verify_token.as_ref();
        if token.is_empty() {
            return Err(ConfigError::EmptyHandshakeSecret("meta"));
        }
        Ok(Self {
            kind: Kind::Meta(Some(Sha256::digest(token).into())),
        })
    }

    /// Meta's handshake with no verify token: every `GET ?hub.mode=` is
    /// refused (403). What a Meta source answers until it is given one.
    pub fn meta_without_token() -> Self {
        Self {
            kind: Kind::Meta(None),
        }
    }

    /// Dropbox's `GET ?challenge=`: answered with the challenge.
    pub fn dropbox() -> Self {
        Self {
            kind: Kind::Dropbox,
        }
    }

    /// Microsoft Graph's `POST ?validationToken=`: answered with the decoded token.
    pub fn microsoft_graph() -> Self {
        Self { kind: Kind::Graph }
    }

    /// The handshake a source verified by `scheme` answers by default, when
    /// it needs nothing but the scheme: Slack's, Twitch's, Dropbox's,
    /// Discord's, Microsoft Graph's, and Meta's without a verify token (every subscription refused until
    /// [`Handshake::meta`] gives one). Zoom's needs the secret too: see
    /// [`for_verifier`](Self::for_verifier).
    pub fn for_scheme(scheme: Scheme) -> Option<Self> {
        match scheme {
            Scheme::Slack => Some(Self::slack()),
            Scheme::Twitch => Some(Self::twitch()),
            Scheme::Dropbox => Some(Self::dropbox()),
            Scheme::Meta => Some(Self::meta_without_token()),
            Scheme::Discord => Some(Self::discord()),
            Scheme::MsGraph => Some(Self::microsoft_graph()),
            _ => None,
        }
    }

    /// The handshake a source verified by `verifier` answers by default
    /// (what [`Source::builder`](crate::Source::builder) uses): the
    /// [scheme's](Self::for_scheme), and for Zoom, its
    /// `endpoint.url_validation` signed with the verifier's first secret.
    pub fn for_verifier(verifier: &Verifier) -> Option<Self> {
        match verifier.scheme() {
            Scheme::Zoom => Some(Self {
                kind: Kind::Zoom(verifier.clone()),
            }),
            scheme => Self::for_scheme(scheme),
        }
    }

    /// The sender whose handshake this is: `slack`, `zoom`, `twitch`,
    /// `discord`, `meta`, `dropbox` or `msgraph`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Slack => "slack",
            Kind::Zoom(_) => "zoom",
            Kind::Twitch => "twitch",
            Kind::Discord => "discord",
            Kind::Meta(_) => "meta",
            Kind::Dropbox => "dropbox",
            Kind::Graph => "msgraph",
        }
    }

    /// Whether the handshake comes as a `GET` (Meta, Dropbox): such a source
    /// accepts `GET` for it even when its deliveries are `POST` only.
    pub fn answers_get(&self) -> bool {
        matches!(self.kind, Kind::Meta(_) | Kind::Dropbox)
    }

    /// The answer to an unsigned handshake, looked for before verification:
    /// `None` when the request is not one.
    pub(crate) fn before_verification(
        &self,
        method: &Method,
        query: Option<&str>,
    ) -> Option<Result<Answer, Rejection>> {
        let query = query?;
        match &self.kind {
            Kind::Meta(expected) if *method == Method::GET => {
                let subscribe = match MetaSubscribe::from_query(query)? {
                    Ok(subscribe) => subscribe,
                    Err(invalid) => return Some(Err(invalid_handshake(&invalid))),
                };
                let presented: [u8; 32] = Sha256::digest(subscribe.verify_token.expose()).into();
                let matches = expected
                    .as_ref()
                    .is_some_and(|expected| bool::from(expected.ct_eq(&presented)));
                Some(if matches {
                    Ok(Answer::text(subscribe.challenge))
                } else {
                    Err(Rejection::new(
                        RejectionKind::HandshakeRefused,
                        if expected.is_some() {
                            "hub.verify_token does not match this source's verify token"
                        } else {
                            "this source has no verify token configured"
                        },
                    ))
                })
            }
            Kind::Dropbox if *method == Method::GET => Some(
                DropboxChallenge::from_query(query)?
                    .map(|m| Answer::text(m.challenge))
                    .map_err(|invalid| invalid_handshake(&invalid)),
            ),
            Kind::Graph if *method == Method::POST => Some(
                GraphValidation::from_query(query)?
                    .map(|m| Answer::text(m.validation_token))
                    .map_err(|invalid| invalid_handshake(&invalid)),
            ),
            _ => None,
        }
    }

    /// The answer to a signed handshake, looked for once the request is
    /// verified: `None` when the request is a delivery.
    pub(crate) fn after_verification(
        &self,
        headers: &HeaderMap,
        body: &JsonBody<'_>,
    ) -> Option<Result<Answer, Rejection>> {
        let answer = match &self.kind {
            Kind::Slack => {
                SlackUrlVerification::from_json(body)?.map(|m| Answer::text(m.challenge))
            }
            Kind::Twitch => TwitchCallbackVerification::from_delivery(headers, body)?
                .map(|m| Answer::text(m.challenge)),
            Kind::Zoom(verifier) => ZoomUrlValidation::from_json(body)?.map(|m| {
                // A Zoom verifier's secrets are HMAC keys.
                let encrypted = verifier
                    .hmac_sha256_hex(m.plain_token.as_bytes())
                    .unwrap_or_default();
                // Both values are hex or checked by `check_echo` (no quote,
                // no backslash, no control character): nothing to escape.
                Answer::json(format!(
                    r#"{{"plainToken":"{}","encryptedToken":"{encrypted}"}}"#,
                    m.plain_token
                ))
            }),
            Kind::Discord => {
                DiscordPing::from_json(body)?;
                Ok(Answer::json(DiscordPing::PONG.to_owned()))
            }
            Kind::Meta(_) | Kind::Dropbox | Kind::Graph => return None,
        };
        Some(answer.map_err(|invalid| invalid_handshake(&invalid)))
    }
}

fn invalid_handshake(invalid: &InvalidHandshake) -> Rejection {
    Rejection::new(RejectionKind::InvalidHandshake, invalid.to_string())
}

/// What a handshake is answered with: 200, a content type and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    content_type: &'static str,
    body: Bytes,
}

impl Answer {
    fn text(echo: String) -> Self {
        Self {
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(echo),
        }
    }

    fn json(body: String) -> Self {
        Self {
            content_type: "application/json",
            body: Bytes::from(body),
        }
    }

    pub(crate) fn to_response(&self) -> Response<Bytes> {
        let mut res = Response::new(self.body.clone());
        *res.status_mut() = StatusCode::OK;
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(handshake: &Handshake, query: &str) -> Option<Result<Answer, Rejection>> {
        handshake.before_verification(&Method::GET, Some(query))
    }

    #[test]
    fn meta_compares_the_verify_token() {
        let meta = Handshake::meta("meatyhamhock").unwrap();
        let ok = get(
            &meta,
            "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock",
        )
        .unwrap()
        .unwrap();
        let res = ok.to_response();
        assert_eq!(res.status(), 200);
        assert_eq!(res.body(), "1158201444");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
        for wrong in ["meatyhamhoc", "meatyhamhockk", ""] {
            let query = format!("hub.mode=subscribe&hub.challenge=1&hub.verify_token={wrong}");
            let refused = get(&meta, &query).unwrap().unwrap_err();
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{wrong}");
        }
        let none = Handshake::meta_without_token();
        let refused = get(
            &none,
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=x",
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::HandshakeRefused);
        // Not a handshake: left to the method check.
        assert!(get(&meta, "other=1").is_none());
        assert!(meta.before_verification(&Method::GET, None).is_none());
        assert!(Handshake::meta("").is_err());
    }

    #[test]
    fn a_challenge_that_may_not_be_echoed_is_a_400() {
        let refused = get(&Handshake::dropbox(), "challenge=%3Cscript%3E")
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert_eq!(refused.kind(), RejectionKind::InvalidHandshake);
        assert!(!refused.body_text().contains("script"), "{refused}");
    }

    #[test]
    fn graph_answers_a_post_with_a_validation_token() {
        let graph = Handshake::microsoft_graph();
        assert!(get(&graph, "validationToken=abc").is_none());
        let ok = graph
            .before_verification(&Method::POST, Some("validationToken=a%20b+c"))
            .unwrap()
            .unwrap();
        assert_eq!(ok.to_response().body(), "a b c");
    }

    #[test]
    fn zoom_signs_the_plain_token() {
        // Zoom's documented example: secret token and plainToken.
        let zoom = Handshake::zoom("Wvs0_T9rQ_2oVTNrjLjFDw").unwrap();
        let body = JsonBody::new(
            br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#,
        );
        let answer = zoom
            .after_verification(&HeaderMap::new(), &body)
            .unwrap()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(answer.to_response().body()).unwrap();
        assert_eq!(json["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
        // HMAC-SHA256 computed apart (Python's hmac module).
        assert_eq!(
            json["encryptedToken"],
            "49a9765f5ae5f5e635183e90fd274671287fa2896a3106fd314501110f82b7f6"
        );
        assert!(!format!("{zoom:?}").contains("Wvs0"));
    }

    #[test]
    fn discord_pongs_a_ping_only() {
        let discord = Handshake::discord();
        let ping = JsonBody::new(br#"{"type":1,"id":"1"}"#);
        let answer = discord
            .after_verification(&HeaderMap::new(), &ping)
            .unwrap()
            .unwrap();
        assert_eq!(answer.to_response().body(), r#"{"type":1}"#);
        assert_eq!(
            answer.to_response().headers()["content-type"],
            "application/json"
        );
        let command = JsonBody::new(br#"{"type":2,"id":"1"}"#);
        assert!(
            discord
                .after_verification(&HeaderMap::new(), &command)
                .is_none()
        );
    }
}
