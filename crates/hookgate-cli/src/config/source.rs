//! `[sources.NAME]`: a route hookgate receives on, and its verifier.

use std::fmt;
use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use toml::Spanned;

use hookgate_events::{EventFilter, Pattern, Sender};
use hookgate_receive::{Handshake, ReplayGuard, Source};
use hookgate_tower::{Cidr, RateLimit};
use hookgate_verify::{Scheme, SignatureEncoding, Verifier, VerifierBuilder};

use super::action::{Action, RawAction, check_action};
use super::error::{ConfigError, Ctx, Location};
use super::server::cidr;
use super::values::Whole;
use crate::duration::HumanDuration;

/// Where a source's secrets come from.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SecretSpec {
    /// Environment variables, each one secret (several during a rotation).
    pub(crate) env: Vec<String>,
    /// A secret written in the file, allowed for development only.
    dev_secret: Option<String>,
    location: Location,
}

impl fmt::Debug for SecretSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSpec")
            .field("env", &self.env)
            .field(
                "dev_secret",
                &self.dev_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

/// The options a scheme's verifier takes besides secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct VerifierOptions {
    tolerance: Option<Duration>,
    header: Option<String>,
    prefix: Option<String>,
    encoding: Option<SignatureEncoding>,
    signed_content: Option<String>,
    timestamp_header: Option<String>,
    id_header: Option<String>,
}

/// One `[sources.NAME]` table: a route hookgate receives on.
#[derive(Debug, Clone)]
pub(crate) struct SourceConfig {
    /// The source name, used in the queue, logs and metrics.
    pub(crate) name: String,
    /// The route path, `/hooks/NAME` by default.
    pub(crate) path: String,
    /// The signature scheme.
    pub(crate) scheme: Scheme,
    /// The payload format, for event names and the filter.
    pub(crate) sender: Option<Sender>,
    /// Events to accept; others get 200 and are not queued. Empty: all.
    pub(crate) events: Vec<Pattern>,
    /// Deadline of the enqueue before answering 503.
    pub(crate) ack_budget: Option<Duration>,
    /// Largest accepted body.
    pub(crate) body_limit: Option<usize>,
    /// Deadline for receiving the body.
    pub(crate) read_timeout: Option<Duration>,
    /// Accepted methods.
    pub(crate) methods: Vec<Method>,
    /// The status of an accepted delivery.
    pub(crate) status: Option<StatusCode>,
    /// Context fields every delivery must carry (Clarity routes).
    pub(crate) required_context: Vec<String>,
    /// The client ranges accepted; `None`: every client.
    pub(crate) allow_ips: Option<Vec<Cidr>>,
    /// Requests of the source received at once, when limited (`max_in_flight`).
    pub(crate) max_in_flight: Option<usize>,
    /// How fast requests of the source may come, when limited (`rate`, `burst`).
    pub(crate) rate_limit: Option<RateLimit>,
    /// What the queue deduplicates deliveries on (`replay_guard`).
    pub(crate) replay_guard: ReplayGuard,
    /// What to do with each event.
    pub(crate) action: Action,
    /// Where the secrets come from.
    pub(crate) secrets: SecretSpec,
    /// The environment variable holding Meta's verify token (`verify_token_env`),
    /// for the `GET ?hub.mode=subscribe` handshake.
    pub(crate) verify_token_env: Option<String>,
    options: VerifierOptions,
    places: Places,
}

/// Where the keys that hookgate-receive checks are written, so that its
/// errors name the place to fix instead of being checked twice.
#[derive(Debug, Clone)]
struct Places {
    /// The `[sources.NAME]` table.
    table: Location,
    /// `path`, or the table's name when the path is the default one.
    path: Location,
    status: Option<Location>,
    body_limit: Option<Location>,
    ack_budget: Option<Location>,
    read_timeout: Option<Location>,
}

impl SourceConfig {
    fn builder(&self) -> Result<VerifierBuilder, hookgate_verify::ConfigError> {
        let o = &self.options;
        let mut builder = Verifier::builder(self.scheme);
        if let Some(tolerance) = o.tolerance {
            builder = builder.tolerance(tolerance);
        }
        if let Some(header) = &o.header {
            builder = builder.header(header)?;
        }
        if let Some(prefix) = &o.prefix {
            builder = builder.prefix(prefix)?;
        }
        if let Some(encoding) = o.encoding {
            builder = builder.encoding(encoding)?;
        }
        if let Some(template) = &o.signed_content {
            builder = builder.signed_content(template)?;
        }
        if let Some(header) = &o.timestamp_header {
            builder = builder.timestamp_header(header)?;
        }
        if let Some(header) = &o.id_header {
            builder = builder.id_header(header)?;
        }
        Ok(builder)
    }

    /// Whether the verifier falls back to the secret written in the file,
    /// given the environment `env`.
    pub(crate) fn uses_dev_secret(&self, env: &dyn Fn(&str) -> Option<String>) -> bool {
        self.secrets.dev_secret.is_some()
            && self
                .secrets
                .env
                .iter()
                .all(|name| env(name).is_none_or(|v| v.is_empty()))
    }

    /// The verifier, with secrets read through `env` (the process environment
    /// when serving; a map in tests).
    ///
    /// Every variable of `secret_env` must be set, unless none is and the
    /// source has an `insecure_dev_secret`, which is then used.
    pub(crate) fn verifier(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Verifier, ConfigError> {
        let at = &self.secrets.location;
        let wrap =
            |e: hookgate_verify::ConfigError| at.error(format!("sources.{}: {e}", self.name));
        let mut builder = self.builder().map_err(wrap)?;
        if self.uses_dev_secret(env) {
            let secret = self.secrets.dev_secret.as_deref().unwrap_or_default();
            builder = builder
                .secret_with_id("insecure_dev_secret", secret)
                .map_err(wrap)?;
        } else {
            for name in &self.secrets.env {
                let value = env(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                    at.error(format!(
                        "sources.{}: environment variable {name} is not set (it holds the source's secret)",
                        self.name
                    ))
                })?;
                builder = builder.secret_with_id(name.clone(), value).map_err(wrap)?;
            }
        }
        builder.build().map_err(wrap)
    }

    /// The receiving side's [`Source`], with the verifier's secrets read
    /// through `env`. hookgate-receive checks what it takes (the path's
    /// leading `/`, the success status, zero limits); its errors are placed
    /// on the key at fault.
    pub(crate) fn build(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Source, ConfigError> {
        let verifier = self.verifier(env)?;
        let mut builder =
            Source::builder(&self.name, &self.path, verifier).methods(self.methods.iter().cloned());
        if let Some(sender) = self.sender {
            builder = builder.sender(sender);
        }
        if !self.events.is_empty() {
            let filter = self
                .events
                .iter()
                .cloned()
                .fold(EventFilter::allow_all(), EventFilter::with);
            builder = builder.filter(filter);
        }
        if let Some(budget) = self.ack_budget {
            builder = builder.ack_budget(budget);
        }
        if let Some(limit) = self.body_limit {
            builder = builder.body_limit(limit);
        }
        if let Some(timeout) = self.read_timeout {
            builder = builder.read_timeout(timeout);
        }
        if let Some(status) = self.status {
            builder = builder.success_status(status).map_err(|e| self.place(&e))?;
        }
        if !self.required_context.is_empty() {
            builder = builder.require_context(self.required_context.iter().cloned());
        }
        if let Some(ranges) = &self.allow_ips {
            builder = builder.allow_ips(ranges.iter().copied());
        }
        if let Some(limit) = self.max_in_flight {
            builder = builder.max_in_flight(limit);
        }
        if let Some(limit) = self.rate_limit {
            builder = builder.rate_limit(limit);
        }
        if let Some(var) = &self.verify_token_env {
            let token = env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                self.places.table.error(format!(
                    "sources.{}: environment variable {var} is not set (it holds Meta's verify token, `verify_token_env`)",
                    self.name
                ))
            })?;
            let handshake = Handshake::meta(token).map_err(|e| self.place(&e))?;
            builder = builder.handshake(handshake);
        }
        builder = builder.replay_guard(self.replay_guard);
        builder.build().map_err(|e| self.place(&e))
    }

    /// hookgate-receive's `error` about this source, at the key it is about
    /// (the table when it is about no one key).
    pub(crate) fn place(&self, error: &hookgate_receive::ConfigError) -> ConfigError {
        use hookgate_receive::ConfigError as E;
        let places = &self.places;
        let at = match error {
            E::InvalidPath { .. } | E::DuplicatePath(_) => Some(&places.path),
            E::SuccessStatus(_) => places.status.as_ref(),
            E::Zero("body limit") => places.body_limit.as_ref(),
            E::Zero("ack budget") => places.ack_budget.as_ref(),
            E::Zero("read timeout") => places.read_timeout.as_ref(),
            _ => None,
        };
        at.unwrap_or(&places.table)
            .error(format!("sources.{}: {error}", self.name))
    }
}

/// One name or a list of names.
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> de::Visitor<'de> for Visitor {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an environment variable name or a list of them")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(name.to_owned()))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element()? {
                    names.push(name);
                }
                Ok(OneOrMany::Many(names))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum EncodingName {
    Hex,
    Base64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    scheme: Spanned<String>,
    pub(super) path: Option<Spanned<String>>,
    secret_env: Option<Spanned<OneOrMany>>,
    insecure_dev_secret: Option<Spanned<String>>,
    sender: Option<Sender>,
    events: Option<Spanned<Vec<Pattern>>>,
    tolerance: Option<HumanDuration>,
    ack_budget: Option<Spanned<HumanDuration>>,
    body_limit: Option<Spanned<Whole<usize>>>,
    read_timeout: Option<Spanned<HumanDuration>>,
    methods: Option<Vec<Spanned<String>>>,
    status: Option<Spanned<Whole<u16>>>,
    required_context: Option<Vec<String>>,
    allow_ips: Option<Spanned<Vec<Spanned<String>>>>,
    max_in_flight: Option<Spanned<Whole<usize>>>,
    rate: Option<Spanned<String>>,
    burst: Option<Spanned<Whole<u32>>>,
    replay_guard: Option<Spanned<String>>,
    header: Option<String>,
    prefix: Option<String>,
    encoding: Option<EncodingName>,
    signed_content: Option<String>,
    timestamp_header: Option<String>,
    id_header: Option<String>,
    verify_token_env: Option<Spanned<String>>,
    pub(super) action: Option<Spanned<RawAction>>,
}

pub(super) fn check_source(
    ctx: &Ctx<'_>,
    name: Spanned<String>,
    raw: Spanned<RawSource>,
    default_action: Option<&Action>,
) -> Result<SourceConfig, ConfigError> {
    let source_span = raw.span();
    let name_span = name.span();
    let name = name.into_inner();
    let raw = raw.into_inner();
    let prefix = format!("sources.{name}");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ctx.at(
            name_span,
            format!("{prefix}: a source name is letters, digits, `-` and `_`"),
        ));
    }

    let scheme: Scheme = raw
        .scheme
        .get_ref()
        .parse()
        .map_err(|e| ctx.at(raw.scheme.span(), format!("{prefix}: {e}")))?;

    let path_place = ctx.location(raw.path.as_ref().map_or(name_span, Spanned::span));
    let path = raw
        .path
        .map_or_else(|| format!("/hooks/{name}"), Spanned::into_inner);

    let sender = raw
        .sender
        .or_else(|| hookgate_receive::default_sender(scheme));
    let events = match raw.events {
        Some(events) => {
            if sender.is_none() {
                return Err(ctx.at(
                    events.span(),
                    format!(
                        "{prefix}: `events` needs to know the payload format; add `sender = \"…\"` ({})",
                        Sender::ALL.map(Sender::as_str).join(", ")
                    ),
                ));
            }
            events.into_inner()
        }
        None => Vec::new(),
    };

    let env = match raw.secret_env {
        Some(env) => {
            let span = env.span();
            let names = match env.into_inner() {
                OneOrMany::One(name) => vec![name],
                OneOrMany::Many(names) => names,
            };
            for var in &names {
                if var.is_empty() || var.contains('=') || var.contains('\0') {
                    return Err(ctx.at(
                        span.clone(),
                        format!("{prefix}: {var:?} is not an environment variable name"),
                    ));
                }
            }
            names
        }
        None => Vec::new(),
    };
    let secret_location = ctx.location(source_span.clone());
    let dev_secret = raw.insecure_dev_secret.map(Spanned::into_inner);
    if env.is_empty() && dev_secret.is_none() {
        return Err(secret_location.error(format!(
            "{prefix}: needs `secret_env = \"VARIABLE\"` (the secret is read from the environment; secrets are not written in this file)"
        )));
    }

    let mut methods = Vec::new();
    for method in raw.methods.unwrap_or_default() {
        let parsed = match method.get_ref().to_ascii_uppercase().as_str() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            other => {
                return Err(ctx.at(
                    method.span(),
                    format!(
                        "{prefix}: method {other:?} is not supported; use GET, POST, PUT or PATCH"
                    ),
                ));
            }
        };
        methods.push(parsed);
    }
    if methods.is_empty() {
        methods.push(Method::POST);
    }

    // Which statuses a receiver may answer is hookgate-receive's rule,
    // checked when the source is built; here, that it is a status at all.
    let status = match &raw.status {
        Some(status) => Some(StatusCode::from_u16(status.get_ref().0).map_err(|_| {
            ctx.at(
                status.span(),
                format!(
                    "{prefix}: status {} is not an HTTP status code",
                    status.get_ref().0
                ),
            )
        })?),
        None => None,
    };

    let allow_ips = match raw.allow_ips {
        Some(list) => {
            let span = list.span();
            let ranges = list
                .into_inner()
                .into_iter()
                .map(|range| cidr(ctx, range, &format!("{prefix}: `allow_ips`")))
                .collect::<Result<Vec<_>, _>>()?;
            if ranges.is_empty() {
                return Err(ctx.at(
                    span,
                    format!(
                        "{prefix}: `allow_ips` lists no ranges (it would refuse every delivery)"
                    ),
                ));
            }
            Some(ranges)
        }
        None => None,
    };
    if let Some(limit) = &raw.max_in_flight
        && limit.get_ref().0 == 0
    {
        return Err(ctx.at(
            limit.span(),
            format!("{prefix}: `max_in_flight` must be at least 1 (leave it out for no limit)"),
        ));
    }
    let rate_limit = check_rate(ctx, &prefix, raw.rate, raw.burst)?;
    let replay_guard = match &raw.replay_guard {
        Some(guard) => guard.get_ref().parse::<ReplayGuard>().map_err(|_| {
            ctx.at(
                guard.span(),
                format!(
                    "{prefix}: `replay_guard` is {:?}; use \"id\" (deduplicate on the sender's delivery id, the default) or \"body\" (on the SHA-256 of the body)",
                    guard.get_ref()
                ),
            )
        })?,
        None => ReplayGuard::default(),
    };

    let verify_token_env = match raw.verify_token_env {
        Some(var) => {
            if scheme != Scheme::Meta {
                return Err(ctx.at(
                    var.span(),
                    format!(
                        "{prefix}: `verify_token_env` is for the meta scheme (its GET hub.challenge handshake), not {scheme}"
                    ),
                ));
            }
            let name = var.get_ref();
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(ctx.at(
                    var.span(),
                    format!("{prefix}: {name:?} is not an environment variable name"),
                ));
            }
            Some(var.into_inner())
        }
        None => None,
    };

    let action = match raw.action {
        Some(action) => check_action(ctx, action)?,
        None => default_action.cloned().ok_or_else(|| {
            ctx.at(
                source_span.clone(),
                format!("{prefix}: no action; add [sources.{name}.action] or a top-level [action]"),
            )
        })?,
    };

    let source = SourceConfig {
        name,
        path,
        scheme,
        sender,
        events,
        ack_budget: raw.ack_budget.as_ref().map(|d| d.get_ref().0),
        body_limit: raw.body_limit.as_ref().map(|l| l.get_ref().0),
        read_timeout: raw.read_timeout.as_ref().map(|d| d.get_ref().0),
        methods,
        status,
        required_context: raw.required_context.unwrap_or_default(),
        allow_ips,
        max_in_flight: raw.max_in_flight.map(|m| m.into_inner().0),
        rate_limit,
        replay_guard,
        action,
        secrets: SecretSpec {
            env,
            dev_secret,
            location: secret_location,
        },
        verify_token_env,
        options: VerifierOptions {
            tolerance: raw.tolerance.map(|d| d.0),
            header: raw.header,
            prefix: raw.prefix,
            encoding: raw.encoding.map(|e| match e {
                EncodingName::Hex => SignatureEncoding::Hex,
                EncodingName::Base64 => SignatureEncoding::Base64,
            }),
            signed_content: raw.signed_content,
            timestamp_header: raw.timestamp_header,
            id_header: raw.id_header,
        },
        places: Places {
            table: ctx.location(source_span.clone()),
            path: path_place,
            status: raw.status.map(|s| ctx.location(s.span())),
            body_limit: raw.body_limit.map(|l| ctx.location(l.span())),
            ack_budget: raw.ack_budget.map(|d| ctx.location(d.span())),
            read_timeout: raw.read_timeout.map(|d| ctx.location(d.span())),
        },
    };
    // The scheme's options are checked now, secrets only when serving.
    source
        .builder()
        .map_err(|e| ctx.at(source_span, format!("{prefix}: {e}")))?;
    Ok(source)
}

/// `rate = "100/s"` and `burst = 200`, read by hookgate-receive's
/// [`RateLimit`], whose errors are placed on the key at fault.
fn check_rate(
    ctx: &Ctx<'_>,
    prefix: &str,
    rate: Option<Spanned<String>>,
    burst: Option<Spanned<Whole<u32>>>,
) -> Result<Option<RateLimit>, ConfigError> {
    let Some(rate) = rate else {
        return match burst {
            Some(burst) => Err(ctx.at(
                burst.span(),
                format!("{prefix}: `burst` needs a `rate`, e.g. rate = \"100/s\""),
            )),
            None => Ok(None),
        };
    };
    let limit: RateLimit = rate
        .get_ref()
        .parse()
        .map_err(|e| ctx.at(rate.span(), format!("{prefix}: {e}")))?;
    match burst {
        Some(burst) => limit
            .with_burst(burst.get_ref().0)
            .map(Some)
            .map_err(|e| ctx.at(burst.span(), format!("{prefix}: {e}"))),
        None => Ok(Some(limit)),
    }
}
