//! Starts the example and calls its two routes as Clarity would: with the
//! route's token, a wrong token, and context fields missing, by POST and GET.

use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, Response};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A hang guard, not a performance expectation.
const PATIENCE: Duration = Duration::from_secs(60);

const PROVISION: &str = "dev-provision-token";
const REVOKE: &str = "dev-revoke-token";

/// The running example, killed when dropped.
struct Example {
    _child: Child,
    base: String,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Example {
    async fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_example-clarity-routes"))
            .env("HOOKGATE_ADDR", "127.0.0.1:0")
            .env_remove("HOOKGATE_TOKEN_PROVISION")
            // Empty counts as unset: the documented default still applies.
            .env("HOOKGATE_TOKEN_REVOKE", "")
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

    /// `method path` with `token`; a POST carries `body` as JSON.
    async fn call(&self, method: Method, path: &str, token: &str, body: &str) -> Response {
        let mut request = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", self.base))
            .header("x-clarity-webhook-token", token);
        if method == Method::POST {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        request.send().await.unwrap()
    }

    /// The worker's next line.
    async fn printed(&mut self) -> String {
        tokio::time::timeout(PATIENCE, self.stdout.next_line())
            .await
            .expect("the worker printed nothing")
            .unwrap()
            .expect("the example exited")
    }
}

/// Asserts a problem+json refusal with `status` and `type`, and returns it.
async fn problem(response: Response, status: u16, kind: &str) -> serde_json::Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["type"], format!("urn:hookgate:problem:{kind}"));
    assert_eq!(problem["status"], status);
    problem
}

#[tokio::test]
async fn each_route_takes_its_own_token_and_names_the_missing_fields_in_declared_order() {
    let mut example = Example::start().await;
    let full = r#"{"app_identifier":"salesforce","identity_id":"42","entitlement_id":"7"}"#;

    // A token is per route: the other route's is refused.
    let wrong = example
        .call(Method::POST, "/clarity/provision", REVOKE, full)
        .await;
    problem(wrong, 401, "unauthenticated").await;

    // POST: the fields are JSON members; those absent, in declared order.
    let partial = example
        .call(
            Method::POST,
            "/clarity/provision",
            PROVISION,
            r#"{"entitlement_id":"7","identity_id":"42"}"#,
        )
        .await;
    let refused = problem(partial, 422, "missing_context").await;
    assert_eq!(
        refused["missing_fields"],
        serde_json::json!(["app_identifier"])
    );
    let empty = example
        .call(Method::POST, "/clarity/revoke", REVOKE, "{}")
        .await;
    let refused = problem(empty, 422, "missing_context").await;
    assert_eq!(
        refused["missing_fields"],
        serde_json::json!(["identity_id", "entitlement_id"])
    );

    // GET: the fields are in the query string.
    let partial = example
        .call(Method::GET, "/clarity/revoke?entitlement_id=7", REVOKE, "")
        .await;
    let refused = problem(partial, 422, "missing_context").await;
    assert_eq!(
        refused["missing_fields"],
        serde_json::json!(["identity_id"])
    );
    let none = example
        .call(Method::GET, "/clarity/revoke", REVOKE, "")
        .await;
    let refused = problem(none, 422, "missing_context").await;
    assert_eq!(
        refused["missing_fields"],
        serde_json::json!(["identity_id", "entitlement_id"])
    );

    // Complete deliveries are accepted and reach the worker, which prints each.
    let accepted = example
        .call(Method::POST, "/clarity/provision", PROVISION, full)
        .await;
    assert!(accepted.status().is_success(), "{}", accepted.status());
    let line = example.printed().await;
    assert!(
        line.starts_with("clarity-provision trigger sha256:")
            && line.ends_with(&format!(": {full}")),
        "{line}"
    );
    let accepted = example
        .call(
            Method::GET,
            "/clarity/revoke?identity_id=42&entitlement_id=7",
            REVOKE,
            "",
        )
        .await;
    assert!(accepted.status().is_success(), "{}", accepted.status());
    let line = example.printed().await;
    assert!(
        line.starts_with("clarity-revoke trigger sha256:")
            && line.ends_with(": identity_id=42&entitlement_id=7"),
        "{line}"
    );
}
