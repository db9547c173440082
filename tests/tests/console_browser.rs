//! The admin console in a real browser: headless Chromium driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`). Skipped, with the
//! reason printed, when they are not installed, unless
//! `HOOKGATE_REQUIRE_SERVICES=1`.
//!
//! `HOOKGATE_UPDATE_SCREENSHOT=1` writes the screenshot the README shows
//! (`docs/console.png`).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;

use admin_common::{PATIENCE, Sink, eventually, start};
use base64::Engine as _;
use serde_json::{Value, json};

mod admin_common;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether the browser and its driver are installed; if not, the test
/// skips (or fails under `HOOKGATE_REQUIRE_SERVICES=1`).
fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let reason = format!(
        "{} not installed (apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
    if std::env::var("HOOKGATE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{reason}, and HOOKGATE_REQUIRE_SERVICES=1");
    }
    eprintln!("skipped: {reason} (set HOOKGATE_REQUIRE_SERVICES=1 to fail instead)");
    false
}

/// A WebDriver session on a chromedriver this test started; both end on drop.
///
/// The few W3C WebDriver commands the test needs, over reqwest: a client
/// crate (fantoccini) would bring a TLS back-end and the webdriver protocol
/// crate for what is a handful of JSON requests to localhost.
struct Browser {
    http: reqwest::Client,
    session: String,
    driver: tokio::process::Child,
}

impl Browser {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        eventually_async("chromedriver is ready", || async {
            match http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            }
        })
        .await;
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1100"],
            },
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        Self {
            http,
            session: format!("{base}/session/{session}"),
            driver,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Runs `script` in the page (`return …` gives its value).
    async fn run(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.command(reqwest::Method::POST, "/execute/sync", Some(body))
            .await
    }

    async fn click(&self, css: &str) {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        let id = found[ELEMENT].as_str().unwrap().to_owned();
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Waits until `script` returns `true`.
    async fn until(&self, what: &str, script: &str) {
        eventually_async(what, || async {
            self.run(script).await == Value::Bool(true)
        })
        .await;
    }

    async fn screenshot(&self) -> Vec<u8> {
        let png = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap()
    }

    async fn quit(mut self) {
        let _ = self.http.delete(&self.session).send().await;
        let _ = self.driver.kill().await;
    }
}

async fn eventually_async<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    tokio::time::timeout(PATIENCE, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: not within {PATIENCE:?}"));
}

/// The text of the feed's rows, newest first.
const FEED_TEXT: &str = "return Array.from(document.querySelectorAll('#feed tbody tr')).map(r => r.textContent).join('\\n')";

#[tokio::test]
async fn the_console_shows_deliveries_live_replays_and_runs_no_sender_script() {
    if !browser_available() {
        return;
    }
    let sink = Sink::default();
    let serve = start(sink.start().await, "127.0.0.1:0", &[]).await;
    let console = format!("http://{}/", serve.admin);
    let browser = Browser::start().await;
    browser.goto(&console).await;
    browser
        .until(
            "the live stream connects",
            "return document.getElementById('live').textContent === 'live'",
        )
        .await;

    // A delivery sent a moment ago appears in the feed without reloading.
    assert_eq!(serve.deliver(1, true).await, 200);
    browser
        .until(
            "d-1 appears in the feed",
            &format!("{FEED_TEXT}.includes('d-1')"),
        )
        .await;
    browser
        .until(
            "d-1 is processed",
            "return document.querySelector('#feed tbody tr').dataset.outcome === 'processed'",
        )
        .await;

    // Script injection: body and headers carry markup; it shows as text and never runs.
    let hostile_body = r#"{"action":"opened","title":"</pre><script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"}"#;
    let status = serve
        .deliver_body(
            "d-xss",
            hostile_body,
            &[(
                "x-note",
                "<img src=x onerror=\"window.__pwned=3\"><script>window.__pwned=4</script>",
            )],
        )
        .await;
    assert_eq!(status, 200);
    browser
        .until(
            "d-xss appears in the feed",
            &format!("{FEED_TEXT}.includes('d-xss')"),
        )
        .await;
    browser.click("#feed tbody tr").await;
    browser
        .until("the detail opens", "return !document.getElementById('detail').hidden && document.getElementById('detail-body').textContent.includes('__pwned')")
        .await;
    let shown = browser
        .run("return document.getElementById('detail-body').textContent")
        .await;
    assert!(
        shown
            .as_str()
            .unwrap()
            .contains("\"title\": \"</pre><script>window.__pwned = 1</script>"),
        "the body is pretty-printed as text: {shown}"
    );
    let header = browser
        .run("return document.getElementById('detail-headers').textContent")
        .await;
    assert!(
        header
            .as_str()
            .unwrap()
            .contains("<script>window.__pwned=4</script>"),
        "{header}"
    );
    // A reload renders the same values server-side: escaped there too.
    browser.goto(&console).await;
    browser
        .until(
            "the page is back",
            &format!("{FEED_TEXT}.includes('d-xss')"),
        )
        .await;
    let outcome = browser
        .run("return [typeof window.__pwned, document.querySelectorAll('img').length, document.scripts.length]")
        .await;
    assert_eq!(
        outcome,
        json!(["undefined", 0, 1]),
        "nothing the sender sent became markup"
    );

    // A dead letter, replayed with its button, reaches the user's service.
    sink.failing.store(true, Ordering::SeqCst);
    assert_eq!(serve.deliver(2, true).await, 200);
    let dead = || async {
        serve.get("/api/dead-letters").await["dead_letters"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    };
    eventually_async("d-2 is a dead letter", dead).await;
    sink.failing.store(false, Ordering::SeqCst);
    browser.goto(&console).await;
    browser.until("the dead letter is listed", "return document.querySelector('#dead-letters') !== null && document.querySelector('#dead-letters').textContent.includes('d-2')").await;
    browser.click("#dead-letters button.replay").await;
    browser
        .until("the replay is confirmed", "return document.getElementById('flash') !== null && document.getElementById('flash').textContent === 'Replayed 1 dead letter.'")
        .await;
    eventually("the replayed delivery reaches the service", || {
        sink.accepted.lock().unwrap().iter().any(|id| id == "d-2")
    })
    .await;

    // The picture in the README: a few more deliveries, one refused.
    for n in 3..8 {
        serve.deliver(n, true).await;
    }
    serve.deliver(8, false).await;
    browser.goto(&console).await;
    browser
        .until(
            "the feed is filled",
            &format!("{FEED_TEXT}.includes('d-7')"),
        )
        .await;
    browser.click("#feed tbody tr:nth-child(3)").await;
    browser.until("the detail opens", "return !document.getElementById('detail').hidden && document.getElementById('detail-body').textContent.length > 0").await;
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"));
    if std::env::var("HOOKGATE_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console.png");
        std::fs::write(&path, &png).unwrap();
    }
    browser.quit().await;
    let _: SocketAddr = serve.admin;
}
