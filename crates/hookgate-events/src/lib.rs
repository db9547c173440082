//! Typed webhook events: each sender's payloads, dotted event names, patterns
//! and a router.
//!
//! hookgate verifies a delivery's raw bytes first; this crate then reads those
//! verified bytes, once, into a typed event:
//!
//! * [`Sender`] names a sender (`claravine`, `clarife`, `claimable`,
//!   `standard`, `svix`, `stripe`, `github`, `slack`, `shopify`, `clarity`, `linear`,
//!   `gitlab`, `paddle`, `zoom`, `twitch`, `meta`, `discord`, `dropbox`,
//!   `msgraph`, `twilio`);
//!   [`Sender::parse`] gives an [`AnyEvent`], [`Sender::event_name`] just the
//!   name (cheap, for filtering before enqueueing).
//! * Each sender has its own type ([`ClaravineEvent`], [`ClarifeEvent`],
//!   [`ClaimableEvent`], [`StandardEvent`], [`StripeEvent`], [`GitHubEvent`],
//!   [`SlackEvent`], [`ShopifyEvent`], [`ClarityEvent`], [`LinearEvent`], [`GitLabEvent`],
//!   [`PaddleEvent`], [`ZoomEvent`], [`TwitchEvent`], [`MetaEvent`],
//!   [`DiscordInteraction`], [`DropboxEvent`], [`GraphEvent`],
//!   [`TwilioEvent`]); senders whose catalogue is too large to
//!   model take the data type as a parameter (JSON by default). Each reads
//!   itself from a delivery with [`FromDelivery`].
//! * **Forward compatible**: an event name, operation or field a sender adds
//!   tomorrow is kept (an `Unknown` variant or an `extra` map), never an error.
//!   Only bytes that are not the sender's payload at all fail, with a
//!   [`ParseError`] naming the field and position.
//! * Every event implements [`Event`]: a dotted [`EventName`] (`claim.created`,
//!   and `template.created` for Claravine), and its id when it has one.
//! * [`Pattern`]s (`claim.*`, `*.deleted`, `*`) select events, in an
//!   [`EventFilter`] (an allow-list) or a [`Router`], which runs every
//!   matching async handler and tells the queue worker, through
//!   [`HandlerError`], whether to retry or give up.
//!
//! * The [`handshake`] messages senders send to check an endpoint (Slack's
//!   `url_verification`, Meta's `hub.challenge` ...), which receivers answer
//!   rather than queue.
//!
//! Secrets that senders repeat in bodies (Claravine's `token`, Slack's legacy
//! `token`) are never printed by `Debug` and never serialized.
//!
//! ```
//! use hookgate_events::{
//!     AnyEvent, DeliveryInfo, Event, EventFilter, HandlerError, Router, Sender,
//! };
//! use std::time::SystemTime;
//!
//! // A verified Claravine delivery.
//! let body = br#"{"event": "submission", "event_time": 1770914863,
//!     "object_id": "26679e11-820c-407b-9c5a-17ed1181a81a",
//!     "href": "https://api.claravine.com/v1/datasets/fe11a4d2-7f4c-498e-819e-19c5081e997d/transactions/26679e11-820c-407b-9c5a-17ed1181a81a/data",
//!     "operation": "Completed", "version": 1, "token": "client-secret"}"#;
//! let headers = http::HeaderMap::new();
//!
//! // Before enqueueing: keep only the events the receiver wants.
//! let filter = EventFilter::new(["submission.*"])?;
//! let name = Sender::Claravine.event_name(&headers, body)?;
//! assert!(filter.allows(&name));
//!
//! // In the worker: parse and dispatch.
//! async fn on_completed(event: AnyEvent, info: DeliveryInfo) -> Result<(), HandlerError> {
//!     let AnyEvent::Claravine(event) = event else {
//!         return Err(HandlerError::give_up("not a Claravine event"));
//!     };
//!     assert_eq!(event.version, Some(1));
//!     assert_eq!(info.attempt, 1);
//!     Ok(())
//! }
//! let router = Router::new().on("submission.completed", on_completed);
//! let event = Sender::Claravine.parse(&headers, body)?;
//! assert_eq!(event.event_name(), "submission.completed");
//! let info = DeliveryInfo::new("claravine", "d-1", SystemTime::now(), 1);
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let report = router.dispatch(event, info).await.map_err(HandlerError::into_error)?;
//! assert_eq!(report.handlers(), 1);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! # }).map_err(|e| e.to_string())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod event;
mod handler;
pub mod handshake;
mod json;
mod name;
mod pattern;
mod router;
mod secret;
mod sender;
mod senders;

pub use error::{ParseError, ParseErrorKind};
pub use event::{Event, FromDelivery};
pub use handler::{BoxError, DeliveryInfo, Disposition, HandlerError};
pub use handshake::{
    DiscordPing, DropboxChallenge, GraphValidation, HandshakeMessage, InvalidHandshake,
    MAX_ECHO_LEN, MetaSubscribe, SlackUrlVerification, TwitchCallbackVerification,
    ZoomUrlValidation, check_echo,
};
pub use json::JsonBody;
pub use name::{EventName, InvalidEventName, MAX_EVENT_NAME_LEN, NameProblem};
pub use pattern::{EventFilter, InvalidPattern, Pattern};
pub use router::{DispatchReport, HandlerFailures, Router};
pub use secret::Token;
pub use sender::{AnyEvent, Sender, UnknownSender};
pub use senders::claimable::{
    ClaimableEvent, ClaimableEventName, ClaimablePerformer, ClaimableSource,
};
pub use senders::claravine::{ClaravineEvent, ClaravineObject, ClaravineOperation};
pub use senders::clarife::{ClarifeData, ClarifeDocument, ClarifeEvent, ClarifeEventType};
pub use senders::clarity::ClarityEvent;
pub use senders::discord::DiscordInteraction;
pub use senders::dropbox::DropboxEvent;
pub use senders::github::GitHubEvent;
pub use senders::gitlab::GitLabEvent;
pub use senders::linear::LinearEvent;
pub use senders::meta::MetaEvent;
pub use senders::msgraph::{GraphEvent, GraphNotification};
pub use senders::paddle::PaddleEvent;
pub use senders::shopify::ShopifyEvent;
pub use senders::slack::{SlackEvent, SlackInnerEvent};
pub use senders::standard::StandardEvent;
pub use senders::stripe::{StripeEvent, StripeEventData};
pub use senders::twilio::{TwilioEvent, TwilioFormat};
pub use senders::twitch::TwitchEvent;
pub use senders::zoom::ZoomEvent;
