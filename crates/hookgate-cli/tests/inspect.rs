//! End-to-end tests of `hookgate inspect` through the built binary.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/clarife.json");

/// The Claravine documentation's `Completed` submission sample.
const CLARAVINE: &str = r#"{
  "event": "submission",
  "event_time": 1770914863,
  "object_id": "26679e11-820c-407b-9c5a-17ed1181a81a",
  "href": "https://api.claravine.com/v1/datasets/fe11a4d2-7f4c-498e-819e-19c5081e997d/transactions/26679e11-820c-407b-9c5a-17ed1181a81a/data",
  "operation": "Completed",
  "version": 1,
  "token": "client-secret"
}"#;

fn hookgate(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    // A command that fails before reading stdin closes it early.
    let _ = pipe.write_all(stdin);
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The single stdout line, parsed, after checking its keys come in the documented order.
fn json_line(out: &Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let order: Vec<usize> = ["\"event\":", "\"known\":", "\"id\":", "\"payload\":"]
        .iter()
        .map(|k| stdout.find(k).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{stdout}");
    value
}

#[test]
fn clarife_sample_from_a_file() {
    let out = hookgate(&["inspect", "--sender", "clarife", "--body", SAMPLE], b"");
    let value = json_line(&out);
    assert_eq!(value["event"], "document.updated");
    assert_eq!(value["known"], true);
    assert_eq!(value["id"], "evt_a1b2c3d4-5678-90ab-cdef-1234567890ab");
    assert_eq!(value["payload"]["data"]["title"], "Updated Document");
}

#[test]
fn claravine_from_stdin_leaves_the_token_out() {
    let out = hookgate(&["inspect", "--sender", "claravine"], CLARAVINE.as_bytes());
    let value = json_line(&out);
    assert_eq!(value["event"], "submission.completed");
    assert_eq!(value["known"], true);
    assert_eq!(value["id"], serde_json::Value::Null);
    assert_eq!(value["payload"]["operation"], "completed");
    assert!(!text(&out.stdout).contains("client-secret"));
}

#[test]
fn unknown_events_are_printed_as_unknown() {
    let body = br#"{"event_name": "claim.escalated", "source": "ui"}"#;
    let out = hookgate(&["inspect", "--sender", "claimable", "--body", "-"], body);
    let value = json_line(&out);
    assert_eq!(value["event"], "claim.escalated");
    assert_eq!(value["known"], false);
}

#[test]
fn github_takes_its_event_from_a_header() {
    let body = br#"{"action": "opened", "number": 7}"#;
    let out = hookgate(
        &[
            "inspect",
            "--sender",
            "github",
            "-H",
            "X-GitHub-Event: pull_request",
            "-H",
            "X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958",
        ],
        body,
    );
    let value = json_line(&out);
    assert_eq!(value["event"], "pull_request.opened");
    assert_eq!(value["id"], "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_eq!(value["payload"]["payload"]["number"], 7);

    let out = hookgate(&["inspect", "--sender", "github"], body);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing header `x-github-event`"));
}

#[test]
fn bytes_of_another_sender_exit_1_with_one_line() {
    let out = hookgate(&["inspect", "--sender", "claravine", "--body", SAMPLE], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not a claravine payload"), "{stderr}");
}

/// A Claravine body built from the documented sample with `field` replaced.
fn claravine_with(field: &str, value: serde_json::Value) -> Vec<u8> {
    let mut body: serde_json::Value = serde_json::from_str(CLARAVINE).unwrap();
    body[field] = value;
    body.to_string().into_bytes()
}

/// Exit 1, nothing on stdout, and one line on stderr without control characters.
fn one_line_refusal(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    let line = stderr.strip_suffix('\n').unwrap_or(&stderr);
    assert!(!line.chars().any(char::is_control), "{stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    line.to_owned()
}

#[test]
fn refusals_stay_on_one_line_whatever_the_body_holds() {
    // The uuid parser quotes the offending character as it is.
    for bad in ["\n", "\u{1b}[2J", "\r\n\t", "\u{2028}"] {
        let body = claravine_with("object_id", serde_json::Value::from(bad));
        let out = hookgate(&["inspect", "--sender", "claravine"], &body);
        let line = one_line_refusal(&out);
        assert!(
            line.contains("not a claravine payload at `object_id`"),
            "{line}"
        );
        assert!(!line.contains('\u{2028}'), "{line}");
    }
}

#[test]
fn a_mistyped_token_is_never_echoed() {
    for token in [
        serde_json::json!(918273645),
        serde_json::json!(["918273645"]),
        serde_json::json!({"918273645": true}),
    ] {
        let body = claravine_with("token", token);
        let out = hookgate(&["inspect", "--sender", "claravine"], &body);
        let line = one_line_refusal(&out);
        assert!(line.contains("at `token`"), "{line}");
        assert!(!line.contains("918273645"), "{line}");
    }
}

#[test]
fn an_unforeseen_event_header_is_escaped_not_refused() {
    let out = hookgate(
        &[
            "inspect",
            "--sender",
            "github",
            "-H",
            "X-GitHub-Event: pull\trequest",
        ],
        b"{}",
    );
    let value = json_line(&out);
    assert_eq!(value["event"], "pull%09request");
}

#[test]
fn unusual_event_names_are_printed_raw_and_routed() {
    let body = claravine_with("operation", serde_json::Value::from("Up Dated"));
    let value = json_line(&hookgate(&["inspect", "--sender", "claravine"], &body));
    assert_eq!(value["event"], "submission.up%20dated");
    assert_eq!(value["known"], false);
    assert_eq!(value["payload"]["operation"], "Up Dated");
}

#[test]
fn unknown_sender_is_a_usage_error() {
    let out = hookgate(&["inspect", "--sender", "mailchimp"], b"{}");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown sender \"mailchimp\""));
}

/// Every sample that ships reads as its sender's event, Clarity's included.
#[test]
fn clarity_sample_reads_as_a_trigger_with_its_context_in_order() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/clarity.json");
    let out = hookgate(&["inspect", "--sender", "clarity", "--body", sample], b"");
    let value = json_line(&out);
    assert_eq!(value["event"], "trigger");
    assert_eq!(value["known"], true);
    assert_eq!(value["id"], serde_json::Value::Null);
    assert_eq!(
        value["payload"]["identity_id"],
        "8f14e45f-ceea-467f-a8f5-1c3c3e0c2a9b"
    );
    // The context in the order Clarity requires it.
    let line = text(&out.stdout);
    let app = line.find("\"app_identifier\"").unwrap();
    let creator = line.find("\"creator_id\"").unwrap();
    assert!(app < creator, "{line}");
}

/// Every sender added with issue 14 reads its shipped sample.
#[test]
fn the_newer_senders_read_their_samples() {
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/");
    for (sender, headers, event, id) in [
        (
            "linear",
            &["Linear-Event: Issue", "Linear-Delivery: d-1"][..],
            "issue.create",
            serde_json::json!("d-1"),
        ),
        (
            "gitlab",
            &["X-Gitlab-Event-UUID: 13792a34-cac6-4fda-95a8-c58e00a3954e"],
            "merge_request.open",
            serde_json::json!("13792a34-cac6-4fda-95a8-c58e00a3954e"),
        ),
        (
            "paddle",
            &[],
            "transaction.completed",
            serde_json::json!("evt_01h8bzakzx3hm2fmen703n5q45"),
        ),
        ("zoom", &[], "meeting.started", serde_json::Value::Null),
        (
            "twitch",
            &["Twitch-Eventsub-Message-Type: notification"],
            "channel.follow",
            serde_json::Value::Null,
        ),
        (
            "meta",
            &[],
            "whatsapp_business_account.messages",
            serde_json::Value::Null,
        ),
        (
            "discord",
            &[],
            "application_command.cardsearch",
            serde_json::json!("786008729715212338"),
        ),
        (
            "dropbox",
            &[],
            "list_folder.changed",
            serde_json::Value::Null,
        ),
        ("msgraph", &[], "message.created", serde_json::Value::Null),
        (
            "twilio",
            &["I-Twilio-Idempotency-Token: AC3f8e2b-1"],
            "message.received",
            serde_json::json!("AC3f8e2b-1"),
        ),
    ] {
        // Twilio posts a form; the others JSON.
        let extension = if sender == "twilio" { "form" } else { "json" };
        let body = format!("{samples}{sender}.{extension}");
        let mut args = vec!["inspect", "--sender", sender, "--body", &body];
        for header in headers {
            args.extend(["-H", header]);
        }
        let out = hookgate(&args, b"");
        let line = json_line(&out);
        assert_eq!(line["event"], event, "{sender}");
        assert_eq!(line["known"], true, "{sender}");
        assert_eq!(line["id"], id, "{sender}");
    }
}

/// Twilio's form reads as its parameters, decoded; Microsoft Graph's
/// `clientState` (the secret) is left out; neither refuses a shape it does
/// not know.
#[test]
fn twilio_forms_and_graph_notifications_print_what_was_sent_but_secrets() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/twilio.form");
    let line = json_line(&hookgate(
        &["inspect", "--sender", "twilio", "--body", sample],
        b"",
    ));
    assert_eq!(line["payload"]["format"], "form");
    assert_eq!(line["payload"]["kind"], "message");
    assert_eq!(line["payload"]["status"], "received");
    assert_eq!(
        line["payload"]["payload"]["Body"],
        "Hello from Twilio! Ça va? 👋"
    );
    assert_eq!(line["payload"]["payload"]["From"], "+14155238886");

    let call = b"CallSid=CA1&CallStatus=no-answer&AccountSid=AC1";
    let line = json_line(&hookgate(&["inspect", "--sender", "twilio"], call));
    assert_eq!(line["event"], "call.no-answer");
    let unknown = b"Foo=bar";
    let line = json_line(&hookgate(&["inspect", "--sender", "twilio"], unknown));
    assert_eq!(line["event"], "webhook");
    assert_eq!(line["known"], false);

    let graph = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/msgraph.json");
    let out = hookgate(&["inspect", "--sender", "msgraph", "--body", graph], b"");
    let line = json_line(&out);
    assert_eq!(
        line["payload"]["value"][0]["tenantId"],
        "84bd8158-6d4d-4958-8b9f-9d6445542f95"
    );
    assert!(!text(&out.stdout).contains("SecretClientState"));
    let lifecycle =
        br#"{"value":[{"lifecycleEvent":"subscriptionRemoved","clientState":"s3cret"}]}"#;
    let out = hookgate(&["inspect", "--sender", "msgraph"], lifecycle);
    assert_eq!(json_line(&out)["event"], "lifecycle.subscription_removed");
    assert!(!text(&out.stdout).contains("s3cret"));
}

/// A body that is neither JSON nor a form is refused on one line, its
/// bytes not echoed.
#[test]
fn a_twilio_body_that_is_not_a_form_is_refused_on_one_line() {
    let out = hookgate(
        &["inspect", "--sender", "twilio"],
        b"Body=\x1b[31mred\n\nx y",
    );
    let message = one_line_refusal(&out);
    assert!(
        message.contains("not a twilio payload (line 1, column 6)"),
        "{message}"
    );
    assert!(!message.contains('\x1b'), "{message}");
}
