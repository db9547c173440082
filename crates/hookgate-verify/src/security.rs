//! # Security: what each scheme proves, and what it does not
//!
//! This page is documentation only.
//!
//! ## What is signed
//!
//! | scheme | signed content | timestamp signed? | delivery id |
//! |---|---|---|---|
//! | `standard`, `svix` | `{id}.{timestamp}.{body}` | yes | `webhook-id` / `svix-id`, signed |
//! | `stripe` | `{timestamp}.{body}` | yes | event `id` in the body, signed |
//! | `slack` | `v0:{timestamp}:{body}` | yes | none |
//! | `zoom` | `v0:{timestamp}:{body}` | yes (`x-zm-request-timestamp`) | none |
//! | `paddle` | `{timestamp}:{body}` | yes (`ts=`; 5 s tolerance by default) | `event_id` in the body, signed |
//! | `twitch` | `{id}{timestamp}{body}` | yes (RFC 3339; 10 min tolerance by default) | `Twitch-Eventsub-Message-Id`, signed |
//! | `linear` | `{body}` | yes: `webhookTimestamp` (ms) inside the signed body, 60 s tolerance by default | `Linear-Delivery`, **not** signed |
//! | `meta`, `dropbox` | `{body}` | no timestamp at all | none |
//! | `discord` (Ed25519) | `{timestamp}{body}` | yes (`X-Signature-Timestamp`) | interaction `id` in the body, signed |
//! | `clarife` | `{body}` only | **no**: `t=` is sent beside the signature, not in it | envelope `id` in the body, signed |
//! | `github` | `{body}` | no timestamp at all | `X-GitHub-Delivery`, **not** signed |
//! | `shopify` | `{body}` | no timestamp at all | `X-Shopify-Webhook-Id`, **not** signed |
//! | `claravine` | nothing: a bearer token in `Authorization` and in the body | no | none |
//! | `clarity` (header token) | nothing: a per-route token in a header | no | none |
//! | `twilio` | the full URL, then each form parameter's name and value, sorted by name (a JSON body: the URL alone, with the body's SHA-256 in its `bodySHA256`) | no timestamp at all | `I-Twilio-Idempotency-Token`, **not** signed |
//! | `msgraph` | nothing: the secret (`clientState`) in each notification of the body | no | none |
//! | `gitlab` | nothing: the secret token in `X-Gitlab-Token` | no | `X-Gitlab-Event-UUID`, **not** signed |
//! | `custom` | the configured template | if the template has `{timestamp}` | the id header, signed if the template has `{id}` |
//!
//! `standard`'s `v1a` entries are Ed25519 signatures of the same content as
//! its `v1` ones. With Ed25519 (`v1a`, `discord`) the receiver holds only a
//! public key, which cannot sign: a leaked receiver configuration lets no one
//! forge deliveries. At most [`MAX_ED25519_SIGNATURES`] `v1a` entries are
//! read from one list (each costs a signature verification, about 50 µs):
//! a longer list is refused before any is checked, so a hostile list costs
//! a bounded amount of work.
//!
//! No scheme signs the method, the path or any header other than those listed.
//! Anyone who can see one delivery (a proxy log, for example) can replay it to
//! the same endpoint; what stops the replay is below.
//!
//! ## Replay window and clock skew
//!
//! A timestamp is accepted when it is at most [`past_tolerance`] old and at
//! most [`future_tolerance`] ahead of the receiver's clock; both default to
//! [`DEFAULT_TOLERANCE`] (5 minutes, what clarife, Stripe, Slack and Standard
//! Webhooks recommend). "Too old" and "in the future" are distinct errors. The
//! arithmetic saturates, so absurd timestamps cannot overflow. The window is
//! also the clock skew the receiver tolerates: a receiver whose clock is two
//! minutes slow still accepts fresh deliveries with the default window, but a
//! zero tolerance would refuse them.
//!
//! Inside the window, a captured delivery can be replayed. Deduplicate on
//! [`Verified::delivery_id`] for at least the window's length (the hookgate
//! queue does) to close it.
//!
//! - **clarife**: the timestamp is checked, but it is not signed, so an
//!   attacker replaying a captured body can put a fresh `t=` beside the old
//!   signature. The timestamp check only stops naive replays; dedup on the
//!   envelope `id` (which *is* signed) is the real protection, and it must
//!   remember ids for as long as a replay matters, not just 5 minutes.
//! - **Meta and Dropbox** send no timestamp and no delivery id: a captured
//!   delivery can be replayed forever, and only a hash of the body (or the
//!   ids inside the payload) can deduplicate it.
//! - **GitHub, Shopify and other body-only HMACs** (Meta's
//!   `X-Hub-Signature-256`, a custom scheme whose template is `{body}`) sign
//!   neither a timestamp nor their delivery id (`X-GitHub-Delivery`,
//!   `X-Shopify-Webhook-Id`). Deduplicating on that id stops only verbatim
//!   replays: a captured delivery sent again **with a fresh id** verifies,
//!   and is a new delivery, for as long as the secret is valid. To stop
//!   those, deduplicate on what is signed, the body: hookgate-receive's
//!   per-source `ReplayGuard::Body` (`replay_guard = "body"` in
//!   `hookgate.toml`) keys deliveries by the SHA-256 of the body. Its cost:
//!   two genuine deliveries with byte-identical bodies inside the dedup
//!   window are one.
//! - **Claravine, GitLab and header tokens** authenticate the caller, not the content:
//!   whoever holds the token can send anything. Serve them over HTTPS only and
//!   rotate tokens (several may be configured at once).
//!
//! ## Comparisons and secrets
//!
//! - Every comparison involving a secret is constant time (`subtle`). HMAC tags
//!   are decoded to 32 bytes first; an empty, truncated or odd-length signature
//!   is refused before any comparison and never matches. Tokens are compared
//!   through their SHA-256 digests, so neither the position of the first
//!   difference nor the token's length shows in the timing.
//! - Several secrets may be configured for rotation; [`Verified::key`] tells
//!   which one matched, so you know when the old one can be removed.
//! - Secrets are refused when empty or malformed, stored only as the keyed
//!   HMAC state or token (zeroized on drop), printed as `[redacted]` by `Debug`,
//!   and never appear in an error message: a [`VerifyError`]'s `Display` is safe
//!   to return to the sender.
//! - Verification reads bytes, never requires UTF-8 bodies, and reads the body
//!   (for clarife's and Stripe's ids or Claravine's token) only after the
//!   signature or header token matched. A body that names the field it reads
//!   twice at its top level (`{"token":"x","token":"y"}`, or the second key
//!   spelled `"tok\u0065n"`) is refused
//!   ([`DuplicateBodyField`](crate::VerifyErrorKind::DuplicateBodyField), 400):
//!   JSON parsers disagree on such a body (the first, the last, or an error),
//!   so the value verification checked could differ from the one a handler
//!   reads.
//!
//! [`MAX_ED25519_SIGNATURES`]: crate::MAX_ED25519_SIGNATURES
//! [`past_tolerance`]: crate::VerifierBuilder::past_tolerance
//! [`future_tolerance`]: crate::VerifierBuilder::future_tolerance
//! [`DEFAULT_TOLERANCE`]: crate::DEFAULT_TOLERANCE
//! [`Verified::delivery_id`]: crate::Verified::delivery_id
//! [`Verified::key`]: crate::Verified::key
//! [`VerifyError`]: crate::VerifyError
