//! Starts the example and sends it a signed request, as the README's first
//! command would see it.

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use hookgate_verify::{Scheme, Signer};

#[tokio::test]
async fn the_example_answers_a_signed_request_with_200_and_a_forged_one_with_401() {
    let dir = std::env::temp_dir().join(format!("example-axum-receiver-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-axum-receiver"))
        .env("HOOKGATE_ADDR", "127.0.0.1:0")
        .env("HOOKGATE_QUEUE", dir.join("queue.db"))
        .env("HOOKGATE_SECRET_GITHUB", "example-test-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let base = loop {
        let mut line = String::new();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "the example exited"
        );
        if let Some(base) = line.trim().strip_prefix("listening on ") {
            break base.to_owned();
        }
    };

    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#.to_vec();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let headers = Signer::new(Scheme::Github, "example-test-secret")
        .unwrap()
        .sign("delivery-1", now, &body)
        .unwrap();
    let client = reqwest::Client::new();
    let signed = client
        .post(format!("{base}/hooks/github"))
        .headers(headers)
        .header("x-github-event", "ping")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let forged = client
        .post(format!("{base}/hooks/github"))
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .header("x-github-event", "ping")
        .body(body)
        .send()
        .await
        .unwrap();

    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(signed.status(), 200);
    assert_eq!(forged.status(), 401);
}
