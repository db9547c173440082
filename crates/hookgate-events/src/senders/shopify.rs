//! Shopify: the topic from `X-Shopify-Topic`, the body as the resource.

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{header, required_header};
use crate::error::from_body;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A Shopify webhook delivery: the topic and ids from the headers, and the
/// body (the resource itself) as `D`.
///
/// The topic `orders/create` becomes the event name `orders.create`.
///
/// ```
/// use hookgate_events::{Event, FromDelivery, ShopifyEvent};
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-shopify-topic", "orders/create".parse()?);
/// let event: ShopifyEvent = ShopifyEvent::from_delivery(&headers, br#"{"id": 820982911946154508}"#)?;
/// assert_eq!(event.event_name(), "orders.create");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ShopifyEvent<D = Value> {
    /// The topic as an event name, e.g. `orders.create`.
    pub topic: EventName,
    /// `X-Shopify-Event-Id` (the same for every subscription to one event),
    /// else `X-Shopify-Webhook-Id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// `X-Shopify-Shop-Domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_domain: Option<String>,
    /// `X-Shopify-API-Version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The body: the resource the topic is about.
    pub payload: D,
}

impl<D> Event for ShopifyEvent<D> {
    fn event_name(&self) -> EventName {
        self.topic.clone()
    }

    fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }
}

fn topic(headers: &HeaderMap) -> Result<EventName, ParseError> {
    let raw = required_header(Sender::Shopify, headers, "x-shopify-topic")?;
    // `orders/create` routes as `orders.create`; a topic no one foresaw is
    // never refused for its spelling (see `EventName::new_lossy`).
    if raw.is_empty() {
        return EventName::new(raw)
            .map_err(|e| ParseError::invalid_header(Sender::Shopify, "x-shopify-topic", e));
    }
    Ok(EventName::new_lossy(&raw.replace('/', ".")))
}

impl<D: DeserializeOwned> FromDelivery for ShopifyEvent<D> {
    fn from_delivery(headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        let topic = topic(headers)?;
        let owned = |name| header(Sender::Shopify, headers, name).map(|v| v.map(str::to_owned));
        let event_id = match owned("x-shopify-event-id")? {
            Some(id) => Some(id),
            None => owned("x-shopify-webhook-id")?,
        };
        Ok(Self {
            topic,
            event_id,
            shop_domain: owned("x-shopify-shop-domain")?,
            api_version: owned("x-shopify-api-version")?,
            payload: from_body(Sender::Shopify, body)?,
        })
    }
}

/// Names the event from the header alone.
pub(crate) fn event_name(headers: &HeaderMap) -> Result<EventName, ParseError> {
    topic(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParseErrorKind;

    #[test]
    fn headers_and_body() {
        let mut headers = HeaderMap::new();
        headers.insert("x-shopify-topic", "orders/create".parse().unwrap());
        headers.insert(
            "x-shopify-webhook-id",
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".parse().unwrap(),
        );
        headers.insert(
            "x-shopify-shop-domain",
            "shop.myshopify.com".parse().unwrap(),
        );
        headers.insert("x-shopify-api-version", "2024-07".parse().unwrap());
        let body = br#"{"id": 820982911946154508, "email": "jon@example.com"}"#;
        let event = ShopifyEvent::<Value>::from_delivery(&headers, body).unwrap();
        assert_eq!(event.event_name(), "orders.create");
        assert_eq!(
            event.event_id(),
            Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
        );
        assert_eq!(event.shop_domain.as_deref(), Some("shop.myshopify.com"));
        assert_eq!(event.payload["email"], "jon@example.com");
        headers.insert(
            "x-shopify-event-id",
            "98880550-7158-44d4-b7cd-2c97c8a091b5".parse().unwrap(),
        );
        let event = ShopifyEvent::<Value>::from_delivery(&headers, body).unwrap();
        assert_eq!(
            event.event_id(),
            Some("98880550-7158-44d4-b7cd-2c97c8a091b5")
        );
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<ShopifyEvent>(&json).unwrap(), event);
        assert_eq!(super::event_name(&headers).unwrap(), "orders.create");
    }

    #[test]
    fn topic_is_required() {
        let err = ShopifyEvent::<Value>::from_delivery(&HeaderMap::new(), b"{}").unwrap_err();
        assert_eq!(
            err.kind(),
            &ParseErrorKind::MissingHeader {
                header: "x-shopify-topic"
            }
        );
        // A topic no one foresaw is kept, escaped, never refused ...
        let mut headers = HeaderMap::new();
        headers.insert("x-shopify-topic", "orders//create".parse().unwrap());
        let unforeseen = ShopifyEvent::<Value>::from_delivery(&headers, b"{}").unwrap();
        assert_eq!(unforeseen.topic, "orders%2E%2Ecreate");
        // ... but an empty one names nothing.
        headers.insert("x-shopify-topic", "".parse().unwrap());
        let err = ShopifyEvent::<Value>::from_delivery(&headers, b"{}").unwrap_err();
        assert!(matches!(err.kind(), ParseErrorKind::InvalidHeader { .. }));
    }
}
