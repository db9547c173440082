//! What every typed event offers the router and the receivers.

use http::HeaderMap;

use crate::{EventName, ParseError};

/// A typed event: it knows its dotted name, and its id when the payload has one.
///
/// Implemented by every payload type of this crate and by [`AnyEvent`](crate::AnyEvent),
/// so a [`Router`](crate::Router) can be generic over the event type.
pub trait Event {
    /// The dotted name the event routes under, e.g. `claim.created` or, for
    /// Claravine, `template.created` built from `event` and `operation`.
    fn event_name(&self) -> EventName;

    /// The sender's id for this event, when the payload or headers carry one.
    fn event_id(&self) -> Option<&str> {
        None
    }

    /// Whether the event name is one this crate has a variant for. `false`
    /// means the sender added something new: it arrives as the `Unknown`
    /// variant with its raw value. Senders whose catalogue this crate does not
    /// model (Stripe, GitHub, ...) have no unknown variant and report `true`.
    fn is_known(&self) -> bool {
        true
    }
}

/// A typed event that can be read from a verified delivery's headers and body.
pub trait FromDelivery: Sized {
    /// Parses the body (and the headers, for senders that put the event name
    /// there). Call this only on bytes whose signature was verified.
    fn from_delivery(headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError>;
}
