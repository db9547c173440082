//! A name a sender starts sending tomorrow, spelled in a way no one foresaw
//! (a space, non-ASCII), is never an error: for every sender whose envelope
//! carries its own name, the payload parses, the name routes (under `*` and
//! its own escaped pattern), and the escaping keeps what was sent. Only an
//! empty name, which names nothing, is refused.

use hookgate_events::{Event, EventName, Pattern, Sender};
use http::{HeaderMap, HeaderValue};

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

#[test]
fn unforeseen_spellings_parse_and_route() {
    let standard = br#"{"type":"Invoice Paid","timestamp":"2026-03-28T12:00:00Z","data":{}}"#;
    let stripe =
        br#"{"id":"evt_1","object":"event","type":"invoice.paid ","created":1,"data":{"object":{}}}"#;
    let slack = r#"{"type":"event_callback","event":{"type":"réaction ajoutée"}}"#.as_bytes();
    let github = br#"{"action":"re opened"}"#;
    // Header values are visible ASCII, so the header-named senders get spaces.
    let cases: [(Sender, HeaderMap, &[u8], &str); 6] = [
        (Sender::Standard, HeaderMap::new(), standard, "Invoice Paid"),
        (Sender::Svix, HeaderMap::new(), standard, "Invoice Paid"),
        (Sender::Stripe, HeaderMap::new(), stripe, "invoice.paid "),
        (
            Sender::Slack,
            HeaderMap::new(),
            slack,
            // An `event_callback` is named by its inner event.
            "réaction ajoutée",
        ),
        (
            Sender::GitHub,
            headers(&[("x-github-event", "pull request")]),
            github,
            "pull request.re opened",
        ),
        (
            Sender::Shopify,
            headers(&[("x-shopify-topic", "orders/partially paid")]),
            b"{}",
            "orders.partially paid",
        ),
    ];
    for (sender, headers, body, sent) in cases {
        let name = sender
            .event_name(&headers, body)
            .unwrap_or_else(|e| panic!("{sender:?}: {e}"));
        let event = sender
            .parse(&headers, body)
            .unwrap_or_else(|e| panic!("{sender:?}: {e}"));
        assert_eq!(event.event_name(), name, "{sender:?}");
        // The routing name is the documented, reversible escape of what was sent.
        let escaped = sent
            .split('.')
            .map(|part| EventName::new_lossy(part).as_str().to_owned())
            .collect::<Vec<_>>()
            .join(".");
        assert_eq!(name.as_str(), escaped, "{sender:?}");
        assert_ne!(
            name.as_str(),
            sent,
            "{sender:?}: the spelling needed escaping"
        );
        assert!(Pattern::new("*").unwrap().matches(&name), "{sender:?}");
        assert!(
            Pattern::new(name.as_str()).unwrap().matches(&name),
            "{sender:?}"
        );
    }
}

#[test]
fn an_empty_name_is_still_refused() {
    let empty = br#"{"type":"","timestamp":"2026-03-28T12:00:00Z","data":{}}"#;
    assert!(Sender::Standard.parse(&HeaderMap::new(), empty).is_err());
    assert!(
        Sender::Shopify
            .parse(&headers(&[("x-shopify-topic", "")]), b"{}")
            .is_err()
    );
}
