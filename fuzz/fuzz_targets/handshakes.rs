//! Handshakes: the readers behind hookgate-receive's answers to senders'
//! endpoint checks (hookgate-events' handshake messages, which
//! `hookgate_receive::Handshake` calls): Meta's, Dropbox's and Microsoft
//! Graph's from a fuzzed query; Slack's `url_verification`, Zoom's
//! `endpoint.url_validation`, Twitch's `webhook_callback_verification` (with
//! a fuzzed message type header) and Discord's PING from a fuzzed body.
//!
//! Whatever a reader accepts is echoed to the sender, so it must pass
//! `check_echo`, the only guard between a sender's value and the answer; and
//! a signed handshake read from the body must be what a JSON parser reads
//! there.
#![no_main]

use hookgate_events::{
    DiscordPing, DropboxChallenge, GraphValidation, JsonBody, MetaSubscribe, SlackUrlVerification,
    TwitchCallbackVerification, ZoomUrlValidation, check_echo,
};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

fn echoable(value: &str) {
    assert!(check_echo(value).is_ok(), "would echo {value:?}");
}

fuzz_target!(|data: &[u8]| {
    let (values, body) = common::split(data, 2);
    let query = String::from_utf8_lossy(values.first().copied().unwrap_or_default());
    if let Some(Ok(subscribe)) = MetaSubscribe::from_query(&query) {
        assert_eq!(subscribe.mode, "subscribe");
        echoable(&subscribe.challenge);
    }
    if let Some(Ok(challenge)) = DropboxChallenge::from_query(&query) {
        echoable(&challenge.challenge);
    }
    if let Some(Ok(validation)) = GraphValidation::from_query(&query) {
        echoable(&validation.validation_token);
    }

    let json = JsonBody::new(body);
    // What serde_json reads, for comparison (a repeated key keeps its last
    // value in both).
    let parsed = || serde_json::from_slice::<serde_json::Value>(body).ok();
    if let Some(Ok(slack)) = SlackUrlVerification::from_json(&json) {
        echoable(&slack.challenge);
        let parsed = parsed().expect("a url_verification is JSON");
        assert_eq!(parsed["type"], "url_verification");
        assert_eq!(parsed["challenge"], slack.challenge.as_str());
    }
    if let Some(Ok(zoom)) = ZoomUrlValidation::from_json(&json) {
        echoable(&zoom.plain_token);
        let parsed = parsed().expect("an endpoint.url_validation is JSON");
        assert_eq!(parsed["event"], "endpoint.url_validation");
        assert_eq!(parsed["payload"]["plainToken"], zoom.plain_token.as_str());
    }
    let headers = common::headers(
        &["twitch-eventsub-message-type"],
        values.get(1..).unwrap_or_default(),
    );
    if let Some(Ok(twitch)) = TwitchCallbackVerification::from_delivery(&headers, &json) {
        echoable(&twitch.challenge);
        let parsed = parsed().expect("a webhook_callback_verification is JSON");
        assert_eq!(parsed["challenge"], twitch.challenge.as_str());
    }
    if DiscordPing::from_json(&json).is_some() {
        let parsed = parsed().expect("a PING is JSON");
        assert_eq!(parsed["type"], 1);
    }
});
