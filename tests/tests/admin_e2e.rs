//! The admin listener of a real `hookgate serve`: the API, the event stream,
//! `hookgate tail`, replay of a dead letter to the user's service, and the
//! token rule off loopback.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;

use admin_common::{PATIENCE, SECRET, Sink, config, eventually, next_line, start};
use hookgate_tests::hookgate_bin;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

mod admin_common;

/// Follows `hookgate tail` (killed on drop).
struct Tail {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

fn tail(admin: SocketAddr, extra: &[&str]) -> Tail {
    let mut child = Command::new(hookgate_bin())
        .args(["tail", "--admin", &format!("http://{admin}")])
        .args(extra)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    Tail {
        _child: child,
        lines,
    }
}

impl Tail {
    /// Reads lines until one satisfies `wanted`.
    async fn until(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        loop {
            let line = next_line(&mut self.lines, "hookgate tail").await;
            if wanted(&line) {
                return line;
            }
        }
    }

    /// Reads lines until each of `wanted` has been satisfied, in whatever
    /// order the events come (a delivery may be processed before the next
    /// request is refused); the first line satisfying each, in `wanted`'s order.
    async fn until_each(&mut self, wanted: &[&dyn Fn(&str) -> bool]) -> Vec<String> {
        let mut found: Vec<Option<String>> = vec![None; wanted.len()];
        while found.iter().any(Option::is_none) {
            let line = next_line(&mut self.lines, "hookgate tail").await;
            for (slot, wanted) in found.iter_mut().zip(wanted) {
                if slot.is_none() && wanted(&line) {
                    *slot = Some(line.clone());
                }
            }
        }
        found.into_iter().flatten().collect()
    }
}

#[tokio::test]
async fn the_admin_api_stream_and_tail_follow_a_real_serve() {
    let sink = Sink::default();
    let serve = start(sink.start().await, "127.0.0.1:0", &[]).await;
    let mut json_tail = tail(serve.admin, &["--json"]);
    let mut human_tail = tail(serve.admin, &["--source", "github"]);
    // A tail is connected once it shows an event: deliver until both have.
    let (mut warmups, mut json_ready, mut human_ready) = (0, false, false);
    while !(json_ready && human_ready) {
        warmups += 1;
        assert!(warmups < 100, "hookgate tail never printed an event");
        assert_eq!(serve.deliver(1000 + warmups, true).await, 200);
        let wait = Duration::from_millis(300);
        for (tail, ready) in [
            (&mut json_tail, &mut json_ready),
            (&mut human_tail, &mut human_ready),
        ] {
            while let Ok(Ok(Some(_))) = tokio::time::timeout(wait, tail.lines.next_line()).await {
                *ready = true;
            }
        }
    }
    eventually("warm-ups handled", || {
        sink.accepted.lock().unwrap().len() == warmups
    })
    .await;

    assert_eq!(serve.deliver(1, true).await, 200);
    assert_eq!(serve.deliver(2, false).await, 400);
    // d-1 may be processed before d-2 is refused: each event in its own time.
    let seen = json_tail
        .until_each(&[
            &|l| l.contains("\"delivery_id\":\"d-1\"") && l.contains("\"queued\""),
            &|l| l.contains("\"refused\""),
            &|l| l.contains("\"d-1\"") && l.contains("\"processed\""),
        ])
        .await;
    let queued: Value = serde_json::from_str(&seen[0]).unwrap();
    assert_eq!(queued["source"], "github");
    assert_eq!(queued["event"], "issues.opened");
    let refused: Value = serde_json::from_str(&seen[1]).unwrap();
    assert_eq!(refused["status"], 400);
    let line = human_tail.until(|l| l.contains(" refused ")).await;
    assert!(line.contains("github") && line.contains("400"), "{line}");

    // A delivery the user's service fails becomes a dead letter (one attempt allowed).
    sink.failing.store(true, Ordering::SeqCst);
    assert_eq!(serve.deliver(3, true).await, 200);
    let dead = json_tail.until(|l| l.contains("\"dead_lettered\"")).await;
    assert!(dead.contains("\"d-3\""), "{dead}");

    let recent = serve.get("/api/deliveries?source=github&limit=5").await;
    let newest = &recent["deliveries"][0];
    assert_eq!(newest["delivery_id"], "d-3");
    assert_eq!(newest["outcome"], "dead_lettered");
    assert_eq!(newest["attempts"], 1);
    let seq = newest["seq"].as_u64().unwrap();
    let detail = serve.get(&format!("/api/deliveries/{seq}?body=true")).await;
    let names: Vec<&str> = detail["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap())
        .collect();
    assert!(names.contains(&"x-github-event"), "{names:?}");
    assert!(
        detail["body"]
            .as_str()
            .unwrap()
            .starts_with("{\"action\":\"opened\",\"n\":3")
    );
    let letters = serve.get("/api/dead-letters").await;
    assert_eq!(letters["dead_letters"][0]["delivery_id"], "d-3");
    assert_eq!(serve.get("/api/stats").await["dead"], 1);
    let sources = serve.get("/api/sources").await;
    assert_eq!(sources["sources"][0]["counts"]["dead_lettered"], 1);
    assert_eq!(sources["sources"][0]["counts"]["refused"], 1);

    // Replay it, with the console's CSRF token; it reaches the service.
    sink.failing.store(false, Ordering::SeqCst);
    let page = reqwest::get(format!("http://{}/", serve.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("name=\"csrf-token\" content=\"").unwrap() + 27;
    let csrf = &page[start..start + 64];
    let replayed = reqwest::Client::new()
        .post(format!("http://{}/api/dead-letters/replay", serve.admin))
        .header("x-csrf-token", csrf)
        .json(&serde_json::json!({ "source": "github", "delivery_id": "d-3" }))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 200);
    eventually("the replayed delivery reaches the service", || {
        sink.accepted.lock().unwrap().iter().any(|id| id == "d-3")
    })
    .await;
    json_tail
        .until(|l| l.contains("\"d-3\"") && l.contains("\"processed\""))
        .await;
}

/// SIGTERM stops the admin listener with the main one, gracefully: an admin
/// request in progress is answered, a `hookgate tail` sees its stream end
/// (not break off) after the events it was following, and the process exits
/// with success.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_drains_the_admin_listener_too() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let sink = Sink::default();
    let mut serve = start(sink.start().await, "127.0.0.1:0", &[]).await;
    let mut tail = Command::new(hookgate_bin())
        .args([
            "tail",
            "--json",
            "--admin",
            &format!("http://{}", serve.admin),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    // The tail is connected once it shows an event: deliver until it has.
    let mut warmups = 0;
    loop {
        warmups += 1;
        assert!(warmups < 100, "hookgate tail never printed an event");
        assert_eq!(serve.deliver(2000 + warmups, true).await, 200);
        let wait = Duration::from_millis(300);
        if let Ok(Ok(Some(_))) = tokio::time::timeout(wait, lines.next_line()).await {
            break;
        }
    }

    // An admin request in progress when the signal comes: its body half sent.
    let page = reqwest::get(format!("http://{}/", serve.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("name=\"csrf-token\" content=\"").unwrap() + 27;
    let csrf = &page[start..start + 64];
    let body = br#"{"source":"github","delivery_id":"no-such-letter"}"#;
    let head = format!(
        "POST /api/dead-letters/replay HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         x-csrf-token: {csrf}\r\ncontent-length: {}\r\n\r\n",
        serve.admin,
        body.len()
    );
    let mut request = tokio::net::TcpStream::connect(serve.admin).await.unwrap();
    request.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    request.write_all(first).await.unwrap();
    // Once the listener has started reading it, the signal arrives mid-body.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = serve.child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    request.write_all(rest).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, request.read_to_end(&mut answer))
        .await
        .expect("the admin request in progress was never answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("no such dead letter"), "{answer}");

    // The tail's stream ends cleanly: it says so and exits with success.
    while next_line_or_end(&mut lines).await.is_some() {}
    let status = tokio::time::timeout(PATIENCE, tail.wait())
        .await
        .expect("hookgate tail did not stop")
        .unwrap();
    let mut stderr = String::new();
    tail.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(stderr.contains("closed the stream"), "{stderr}");
    let status = tokio::time::timeout(PATIENCE, serve.child.wait())
        .await
        .expect("hookgate serve did not stop")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// The next line, or `None` at the end of the output.
async fn next_line_or_end(lines: &mut Lines<BufReader<ChildStdout>>) -> Option<String> {
    tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("nothing and no end within the patience")
        .unwrap()
}

#[tokio::test]
async fn off_loopback_the_admin_listener_needs_a_token_and_asks_for_it() {
    let sink = Sink::default().start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.toml");
    std::fs::write(&path, config(sink, "0.0.0.0:0")).unwrap();
    let refused = std::process::Command::new(hookgate_bin())
        .args(["serve", "--check", "--config"])
        .arg(&path)
        .env("ADMIN_E2E_SECRET", SECRET)
        .env_remove("HOOKGATE_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("not on loopback") && stderr.contains("HOOKGATE_ADMIN_TOKEN"),
        "{stderr}"
    );

    let token = "an-admin-token-for-the-e2e-test";
    let serve = start(sink, "0.0.0.0:0", &[("HOOKGATE_ADMIN_TOKEN", token)]).await;
    let url = format!("http://127.0.0.1:{}/api/stats", serve.admin.port());
    let client = reqwest::Client::new();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let with = client.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(with.status(), 200);
    // `hookgate tail` without the token says what to set.
    let out = Command::new(hookgate_bin())
        .args([
            "tail",
            "--admin",
            &format!("http://127.0.0.1:{}", serve.admin.port()),
        ])
        .env_remove("HOOKGATE_ADMIN_TOKEN")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set HOOKGATE_ADMIN_TOKEN"));
}
