//! The admin API against a real listener: every answer checked against the
//! OpenAPI file, the live stream, replay, the console's escaping, and the
//! token, CSRF and Host checks.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookgate_admin::{Admin, ConfigError, OPENAPI};
use hookgate_queue::{Delivery, HandlerError, MemoryQueue, Queue, WorkerPool};
use hookgate_receive::{Receiver, RequestHead, Source};
use hookgate_verify::{Scheme, Verifier};
use http::{HeaderMap, Method};
use serde_json::Value;

const TOKEN: &str = "route-token";

/// Checks `value` against `schema`, the subset of JSON Schema that
/// openapi.json uses (`type`, `required`, `properties`, `items`, `enum`,
/// `$ref`); returns where it does not match.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return check(doc, &doc["components"]["schemas"][name], value, at);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let type_of = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let fits = types.is_empty()
        || types.contains(&type_of)
        || (type_of == "integer" && types.contains(&"number"));
    if !fits {
        return Err(format!("{at}: {type_of}, expected {types:?}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not among {allowed:?}"));
    }
    if let Value::Object(fields) = value {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap();
            if !fields.contains_key(name) {
                return Err(format!("{at}: missing {name}"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, field) in fields {
            match properties.and_then(|p| p.get(name)) {
                Some(sub) => check(doc, sub, field, &format!("{at}.{name}"))?,
                None if properties.is_some() => {
                    return Err(format!("{at}: {name} is not documented"));
                }
                None => {}
            }
        }
    }
    if let Value::Array(items) = value
        && schema.get("items").is_some()
    {
        for (i, item) in items.iter().enumerate() {
            check(doc, &schema["items"], item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Checks a response against the documented one for `path` and `method`.
async fn documented(path: &str, method: &str, response: reqwest::Response) -> Value {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let status = response.status().as_u16().to_string();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let documented = &doc["paths"][path][method]["responses"][&status];
    assert!(
        documented.is_object(),
        "{method} {path} answered {status}, which is not documented"
    );
    let media = if content_type.starts_with("application/problem+json") {
        "application/problem+json"
    } else {
        "application/json"
    };
    let schema = &documented["content"][media]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {status}: {content_type} is not documented"
    );
    let body: Value = response.json().await.unwrap();
    if let Err(mismatch) = check(&doc, schema, &body, "$") {
        panic!("{method} {path} {status} does not match openapi.json: {mismatch}\n{body:#}");
    }
    body
}

/// An `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

struct Setup {
    admin: Admin,
    receiver: Receiver,
    pool: WorkerPool,
    base: String,
    client: reqwest::Client,
}

async fn setup() -> Setup {
    let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new());
    setup_with(queue, |q| {
        Admin::builder(q).sources(["clarity"]).build().unwrap()
    })
    .await
}

async fn setup_with(queue: Arc<dyn Queue>, make: impl FnOnce(Arc<dyn Queue>) -> Admin) -> Setup {
    let admin = make(Arc::clone(&queue));
    let receiver = Receiver::builder()
        .queue(queue.clone())
        .observer(admin.observer())
        .source(
            Source::builder(
                "clarity",
                "/hooks/clarity",
                Verifier::new(Scheme::Clarity, TOKEN).unwrap(),
            )
            .build()
            .unwrap(),
        )
        .build()
        .unwrap();
    let pool = WorkerPool::builder(queue, |d: Delivery| async move {
        if d.body.starts_with(b"{\"bad\"") && d.last_error.is_none() {
            Err(HandlerError::give_up("unknown schema <b>"))
        } else {
            Ok(())
        }
    })
    .observer(admin.observer())
    .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, admin.router()).into_future());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Setup {
        admin,
        receiver,
        pool,
        base,
        client,
    }
}

impl Setup {
    async fn deliver(&self, body: &'static str, signed: bool) {
        let mut headers = HeaderMap::new();
        if signed {
            headers.insert("x-clarity-webhook-token", TOKEN.parse().unwrap());
        }
        headers.insert("x-note", "<script>alert(1)</script>".parse().unwrap());
        let head = RequestHead {
            method: &Method::POST,
            query: None,
            headers: &headers,
            peer: None,
        };
        let _ = self
            .receiver
            .start("/hooks/clarity")
            .unwrap()
            .complete(head, Bytes::from_static(body.as_bytes()))
            .await;
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token of the console page.
    async fn csrf(&self) -> String {
        let page = self.get("/").await.text().await.unwrap();
        let start = page.find("name=\"csrf-token\" content=\"").unwrap() + 27;
        page[start..start + 64].to_owned()
    }
}

#[tokio::test]
async fn every_answer_matches_the_openapi_file() {
    let s = setup().await;
    s.deliver(r#"{"ok":1}"#, true).await;
    s.deliver(r#"{"bad":"<img src=x onerror=alert(1)>"}"#, true)
        .await;
    s.deliver(r#"{"ok":1}"#, true).await; // duplicate
    s.deliver(r#"{"unsigned":1}"#, false).await;

    let list = documented("/api/deliveries", "get", s.get("/api/deliveries").await).await;
    let outcomes: Vec<&str> = list["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["refused", "duplicate", "queued", "queued"]);
    let refused = &list["deliveries"][0];
    assert_eq!(refused["reason"], "malformed");
    assert_eq!(refused["delivery_id"], Value::Null);

    let seq = list["deliveries"][2]["seq"].as_u64().unwrap();
    let detail = documented(
        "/api/deliveries/{seq}",
        "get",
        s.get(&format!("/api/deliveries/{seq}?body=true")).await,
    )
    .await;
    assert_eq!(detail["body"], r#"{"bad":"<img src=x onerror=alert(1)>"}"#);
    let names: Vec<&str> = detail["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap())
        .collect();
    assert_eq!(names, ["x-note"], "the route token is never kept");
    let without_body = s.get(&format!("/api/deliveries/{seq}")).await;
    assert!(documented("/api/deliveries/{seq}", "get", without_body).await["body"].is_null());
    documented(
        "/api/deliveries/{seq}",
        "get",
        s.get("/api/deliveries/999").await,
    )
    .await;

    // The worker's outcome shows on the entry.
    assert_eq!(s.pool.process_ready().await.unwrap().dead_lettered, 1);
    let dead = documented("/api/dead-letters", "get", s.get("/api/dead-letters").await).await;
    assert_eq!(dead["dead_letters"][0]["error"], "unknown schema <b>");
    let list = documented(
        "/api/deliveries",
        "get",
        s.get("/api/deliveries?outcome=dead_lettered").await,
    )
    .await;
    assert_eq!(list["deliveries"][0]["attempts"], 1);

    // Replay: refused without the CSRF token, done with it.
    let id = dead["dead_letters"][0]["delivery_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = serde_json::json!({ "source": "clarity", "delivery_id": id });
    let url = format!("{}/api/dead-letters/replay", s.base);
    let forged = s.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    documented("/api/dead-letters/replay", "post", forged).await;
    let csrf = s.csrf().await;
    let replayed = s
        .client
        .post(&url)
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        documented("/api/dead-letters/replay", "post", replayed).await["replayed"],
        1
    );
    let again = s
        .client
        .post(&url)
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    documented("/api/dead-letters/replay", "post", again).await;
    assert_eq!(s.pool.process_ready().await.unwrap().handled, 1);

    let selection = format!("{}/api/dead-letters/replay-selection", s.base);
    let answer = s
        .client
        .post(&selection)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "source": "clarity", "since": "2020-01-01T00:00:00Z" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        documented("/api/dead-letters/replay-selection", "post", answer).await["replayed"],
        0
    );
    let answer = s
        .client
        .post(&selection)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "since": "last week" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    documented("/api/dead-letters/replay-selection", "post", answer).await;

    let stats = documented("/api/stats", "get", s.get("/api/stats").await).await;
    assert_eq!(stats["depth"], 0);
    let sources = documented("/api/sources", "get", s.get("/api/sources").await).await;
    let counts = &sources["sources"][0]["counts"];
    assert_eq!(counts["received"], 4);
    assert_eq!(counts["queued"], 2);
    assert_eq!(counts["refused"], 1);
    assert_eq!(counts["dead_lettered"], 1);
    assert_eq!(counts["processed"], 2);
    assert_eq!(counts["duplicate"], 1);
    let history = documented("/api/history", "get", s.get("/api/history").await).await;
    assert!(!history["minutes"].as_array().unwrap().is_empty());
}

/// Reads server-sent events until one of `kind` arrives.
async fn next_event(stream: &mut reqwest::Response, buffer: &mut String, kind: &str) -> Value {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    let event: Value = serde_json::from_str(data).unwrap();
                    if event["kind"] == kind {
                        return event;
                    }
                }
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn the_stream_tells_each_event_as_documented() {
    let s = setup().await;
    let mut stream = s.get("/api/events?source=clarity").await;
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let schema = serde_json::json!({ "$ref": "#/components/schemas/StreamEvent" });
    let mut buffer = String::new();
    s.deliver(r#"{"bad":1}"#, true).await;
    s.deliver(r#"{"x":1}"#, false).await;
    for kind in ["received", "queued", "refused"] {
        let event = next_event(&mut stream, &mut buffer, kind).await;
        check(&doc, &schema, &event, "$").unwrap();
        if kind == "refused" {
            assert_eq!(event["reason"], "malformed");
            assert_eq!(event["status"], 400);
        }
    }
    s.pool.process_ready().await.unwrap();
    let dead = next_event(&mut stream, &mut buffer, "dead_lettered").await;
    check(&doc, &schema, &dead, "$").unwrap();
    assert_eq!(dead["error"], "unknown schema <b>");
    assert_eq!(dead["attempt"], 1);
}

/// A graceful shutdown closes the streams: each ends cleanly (not broken
/// off) after the events that had gathered, and one opened later ends at once.
#[tokio::test]
async fn closed_streams_end_after_what_gathered() {
    let s = setup().await;
    let mut stream = s.get("/api/events").await;
    let mut buffer = String::new();
    s.deliver(r#"{"first":1}"#, true).await;
    next_event(&mut stream, &mut buffer, "queued").await;
    // Told before the close, not yet written: it is in the last frame.
    s.deliver(r#"{"second":2}"#, true).await;
    s.admin.close_streams();
    let mut rest = buffer;
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
        .await
        .expect("the stream ends within 10 s")
        .expect("the stream ends cleanly, not broken off")
    {
        rest.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(rest.contains(r#""kind":"queued""#), "{rest}");

    let later = s.get("/api/events").await;
    assert_eq!(later.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(10), later.bytes())
        .await
        .expect("a stream opened after the close ends at once")
        .unwrap();
    assert!(body.is_empty(), "{body:?}");
    // The API goes on answering.
    assert_eq!(s.get("/api/stats").await.status(), 200);
}

#[tokio::test]
async fn the_console_escapes_what_senders_sent_under_a_strict_policy() {
    let s = setup().await;
    s.deliver(r#"{"bad":"</td><script>alert(1)</script>"}"#, true)
        .await;
    s.pool.process_ready().await.unwrap();
    let page = s.get("/").await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the console's own script"
    );
    assert!(html.contains("unknown schema &lt;b&gt;"));
    assert!(html.contains("<form method=\"post\" action=\"/console/replay\">"));
    let script = s.get("/assets/console.js").await.text().await.unwrap();
    assert!(
        !script.contains("innerHTML"),
        "the script never parses markup"
    );
}

#[tokio::test]
async fn the_console_forms_need_the_csrf_token() {
    let s = setup().await;
    s.deliver(r#"{"bad":1}"#, true).await;
    s.pool.process_ready().await.unwrap();
    let id = hookgate_receive::derived_delivery_id(br#"{"bad":1}"#);
    let url = format!("{}/console/replay", s.base);
    let forged = s
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf", "0".repeat(64).as_str()),
            ("source", "clarity"),
            ("delivery_id", &id),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let csrf = s.csrf().await;
    let done = s
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf", csrf.as_str()),
            ("source", "clarity"),
            ("delivery_id", &id),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "/?replayed=1#dead");
}

#[tokio::test]
async fn a_token_is_required_off_loopback_and_then_on_every_request() {
    let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new());
    let open = Admin::builder(Arc::clone(&queue)).build().unwrap();
    let anywhere = "0.0.0.0:8081".parse().unwrap();
    assert_eq!(
        open.check_listen(anywhere),
        Err(ConfigError::TokenRequired(anywhere))
    );
    assert!(open.check_listen("[::1]:8081".parse().unwrap()).is_ok());
    assert_eq!(
        Admin::builder(Arc::clone(&queue))
            .token("short")
            .unwrap_err(),
        ConfigError::TokenTooShort(5)
    );

    let token = "a-long-enough-admin-token";
    let s = setup_with(queue, |q| {
        Admin::builder(q).token(token).unwrap().build().unwrap()
    })
    .await;
    let refused = s.get("/api/stats").await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        s.get("/assets/console.css").await.status(),
        200,
        "the login page's style"
    );
    assert_eq!(s.get("/api/deliveries").await.status(), 401);
    assert!(refused.headers().contains_key("www-authenticate"));
    documented("/api/stats", "get", refused).await;
    let wrong = s
        .client
        .get(format!("{}/api/stats", s.base))
        .bearer_auth("a-long-enough-admin-tokeX")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = s
        .client
        .get(format!("{}/api/stats", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    // Bearer-authenticated POSTs need no CSRF token: browsers never add the header.
    let replay = s
        .client
        .post(format!("{}/api/dead-letters/replay-selection", s.base))
        .bearer_auth(token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);

    // The console: a login form, then a session cookie.
    let login = s
        .client
        .get(format!("{}/", s.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 401);
    let page = login.text().await.unwrap();
    let start = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[start..start + 64].to_owned();
    let url = format!("{}/login", s.base);
    let bad = s
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", "nope"), ("csrf", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let good = s
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", token), ("csrf", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 303);
    let cookie = good.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap().to_owned();
    let console = s
        .client
        .get(format!("{}/", s.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(console.status(), 200);
}

#[tokio::test]
async fn without_a_token_only_local_host_names_are_answered() {
    let s = setup().await;
    let rebound = s
        .client
        .get(format!("{}/api/stats", s.base))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    documented("/api/stats", "get", rebound).await;
}
