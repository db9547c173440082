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

#[test]
fn unknown_sender_is_a_usage_error() {
    let out = hookgate(&["inspect", "--sender", "mailchimp"], b"{}");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown sender `mailchimp`"));
}
