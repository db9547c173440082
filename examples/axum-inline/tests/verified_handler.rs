//! Starts the example and checks that a signed delivery reaches the
//! `Verified<ClarifeEvent>` handler and a forged one is refused before it.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate_verify::{Scheme, Signer};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A hang guard, not a performance expectation.
const PATIENCE: Duration = Duration::from_secs(60);

const BODY: &str = include_str!("../../../samples/clarife.json");

/// The running example, killed when dropped.
struct Example {
    _child: Child,
    base: String,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Example {
    async fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_example-axum-inline"))
            .env("HOOKGATE_ADDR", "127.0.0.1:0")
            .env_remove("HOOKGATE_SECRET_CLARIFE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(PATIENCE, stdout.next_line())
            .await
            .expect("the example did not start")
            .unwrap()
            .expect("the example exited before listening");
        let base = line.strip_prefix("listening on ").unwrap().to_owned();
        Self {
            _child: child,
            base,
            stdout,
        }
    }

    async fn post(&self, secret: &str) -> reqwest::Response {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let headers = Signer::new(Scheme::Clarife, secret)
            .unwrap()
            .sign("", now, BODY.as_bytes())
            .unwrap();
        reqwest::Client::new()
            .post(format!("{}/hooks/clarife", self.base))
            .headers(headers)
            .header("content-type", "application/json")
            .body(BODY)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_handler_gets_a_signed_delivery_and_never_a_forged_one() {
    let mut example = Example::start().await;

    let forged = example.post("whsec_guessed").await;
    assert_eq!(forged.status(), 401);
    assert_eq!(forged.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = forged.json().await.unwrap();
    assert_eq!(problem["type"], "urn:hookgate:problem:unauthenticated");
    assert_eq!(problem["status"], 401);

    // The documented development secret; 204 is the handler's own answer.
    let signed = example.post("whsec_sample").await;
    assert_eq!(signed.status(), 204);
    let handled = tokio::time::timeout(PATIENCE, example.stdout.next_line())
        .await
        .expect("the handler printed nothing")
        .unwrap()
        .expect("the example exited");
    // The first line after "listening": the forged delivery never reached it.
    assert_eq!(
        handled,
        "document.updated (delivery evt_a1b2c3d4-5678-90ab-cdef-1234567890ab, signed with key #0)"
    );
}
