//! The header names each scheme reads and the signer writes.

use http::HeaderName;

/// Standard Webhooks message id.
pub const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
/// Standard Webhooks timestamp (Unix seconds).
pub const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
/// Standard Webhooks signature list.
pub const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");
/// Svix message id.
pub const SVIX_ID: HeaderName = HeaderName::from_static("svix-id");
/// Svix timestamp (Unix seconds).
pub const SVIX_TIMESTAMP: HeaderName = HeaderName::from_static("svix-timestamp");
/// Svix signature list.
pub const SVIX_SIGNATURE: HeaderName = HeaderName::from_static("svix-signature");
/// clarife signature: `t=<unix>,v1=<hex>`.
pub const CLARIFE_SIGNATURE: HeaderName = HeaderName::from_static("x-clarife-signature");
/// Stripe signature: `t=<unix>,v1=<hex>…`.
pub const STRIPE_SIGNATURE: HeaderName = HeaderName::from_static("stripe-signature");
/// GitHub signature: `sha256=<hex>`.
pub const GITHUB_SIGNATURE_256: HeaderName = HeaderName::from_static("x-hub-signature-256");
/// GitHub delivery id.
pub const GITHUB_DELIVERY: HeaderName = HeaderName::from_static("x-github-delivery");
/// Slack signature: `v0=<hex>`.
pub const SLACK_SIGNATURE: HeaderName = HeaderName::from_static("x-slack-signature");
/// Slack timestamp (Unix seconds).
pub const SLACK_REQUEST_TIMESTAMP: HeaderName =
    HeaderName::from_static("x-slack-request-timestamp");
/// Shopify signature (base64).
pub const SHOPIFY_HMAC_SHA256: HeaderName = HeaderName::from_static("x-shopify-hmac-sha256");
/// Shopify signature, newer spelling without `X-`.
pub const SHOPIFY_HMAC_SHA256_UNPREFIXED: HeaderName =
    HeaderName::from_static("shopify-hmac-sha256");
/// Shopify delivery id.
pub const SHOPIFY_WEBHOOK_ID: HeaderName = HeaderName::from_static("x-shopify-webhook-id");
/// Shopify delivery id, newer spelling without `X-`.
pub const SHOPIFY_WEBHOOK_ID_UNPREFIXED: HeaderName = HeaderName::from_static("shopify-webhook-id");
/// Claravine's bearer token.
pub const AUTHORIZATION: HeaderName = http::header::AUTHORIZATION;
/// Clarity's per-route token, the default header of [`Scheme::Clarity`](crate::Scheme::Clarity).
pub const CLARITY_WEBHOOK_TOKEN: HeaderName = HeaderName::from_static("x-clarity-webhook-token");
/// Paddle signature: `ts=<unix>;h1=<hex>…`.
pub const PADDLE_SIGNATURE: HeaderName = HeaderName::from_static("paddle-signature");
/// Linear signature: hex HMAC-SHA256 of the body.
pub const LINEAR_SIGNATURE: HeaderName = HeaderName::from_static("linear-signature");
/// Linear delivery id.
pub const LINEAR_DELIVERY: HeaderName = HeaderName::from_static("linear-delivery");
/// Linear event type (`Issue`, `Comment`…).
pub const LINEAR_EVENT: HeaderName = HeaderName::from_static("linear-event");
/// Zoom signature: `v0=<hex>`.
pub const ZOOM_SIGNATURE: HeaderName = HeaderName::from_static("x-zm-signature");
/// Zoom timestamp (Unix seconds).
pub const ZOOM_REQUEST_TIMESTAMP: HeaderName = HeaderName::from_static("x-zm-request-timestamp");
/// Twitch EventSub message id (the delivery id, signed).
pub const TWITCH_MESSAGE_ID: HeaderName = HeaderName::from_static("twitch-eventsub-message-id");
/// Twitch EventSub timestamp (RFC 3339, signed as sent).
pub const TWITCH_MESSAGE_TIMESTAMP: HeaderName =
    HeaderName::from_static("twitch-eventsub-message-timestamp");
/// Twitch EventSub signature: `sha256=<hex>`.
pub const TWITCH_MESSAGE_SIGNATURE: HeaderName =
    HeaderName::from_static("twitch-eventsub-message-signature");
/// Twitch EventSub message type (`notification`, `webhook_callback_verification`, `revocation`).
pub const TWITCH_MESSAGE_TYPE: HeaderName = HeaderName::from_static("twitch-eventsub-message-type");
/// Meta (Facebook, Instagram, WhatsApp) signature: `sha256=<hex>`; the same
/// header as GitHub's.
pub const META_SIGNATURE_256: HeaderName = HeaderName::from_static("x-hub-signature-256");
/// Dropbox signature: hex HMAC-SHA256 of the body.
pub const DROPBOX_SIGNATURE: HeaderName = HeaderName::from_static("x-dropbox-signature");
/// Discord's Ed25519 signature (128 hex digits).
pub const DISCORD_SIGNATURE: HeaderName = HeaderName::from_static("x-signature-ed25519");
/// Discord's timestamp (Unix seconds), signed.
pub const DISCORD_TIMESTAMP: HeaderName = HeaderName::from_static("x-signature-timestamp");
/// Twilio's signature: base64 HMAC-SHA1 of the URL and form parameters.
pub const TWILIO_SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-signature");
/// Twilio's delivery id, the same on every retry.
pub const TWILIO_IDEMPOTENCY_TOKEN: HeaderName =
    HeaderName::from_static("i-twilio-idempotency-token");
/// GitLab's secret token, sent in clear.
pub const GITLAB_TOKEN: HeaderName = HeaderName::from_static("x-gitlab-token");
/// GitLab delivery id.
pub const GITLAB_EVENT_UUID: HeaderName = HeaderName::from_static("x-gitlab-event-uuid");
