//! Who may use the admin listener, and the headers every answer carries.
//!
//! - With a token: a request carries `Authorization: Bearer TOKEN`, or the
//!   session cookie the console's login form sets; anything else is 401.
//! - Without one (loopback only, checked at start): the `Host` must be an IP
//!   address or `localhost`, so a web page cannot reach the console through
//!   DNS rebinding.
//! - Every `POST` not authenticated by the `Authorization` header (which a
//!   browser never adds by itself) carries the CSRF token, in the
//!   `X-CSRF-Token` header or a form's `csrf` field.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::Shared;
use crate::api::problem;

/// The console's session cookie.
pub(crate) const SESSION_COOKIE: &str = "hookgate_admin_session";
/// The header carrying the CSRF token on API `POST`s.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The secrets of one admin listener's life, made at start.
#[derive(Debug)]
pub(crate) struct Secrets {
    /// The bearer token, when one is configured.
    pub(crate) token: Option<String>,
    /// The session cookie's value (random; a restart logs everyone out).
    pub(crate) session: String,
    /// The CSRF token embedded in the console's pages.
    pub(crate) csrf: String,
}

/// 32 random bytes in hex.
pub(crate) fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

impl Secrets {
    pub(crate) fn new(token: Option<String>) -> Self {
        Self {
            token,
            session: random_hex(),
            csrf: random_hex(),
        }
    }

    /// Whether `headers` carry the bearer token.
    fn bearer(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return false;
        };
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| equal(given.trim(), token))
    }

    /// Whether `headers` carry this life's session cookie.
    fn session(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == SESSION_COOKIE && equal(value, &self.session))
    }

    /// Whether `given` is the CSRF token.
    pub(crate) fn csrf_ok(&self, given: Option<&str>) -> bool {
        given.is_some_and(|given| equal(given, &self.csrf))
    }

    /// Whether `given` is the bearer token (the login form).
    pub(crate) fn token_ok(&self, given: &str) -> bool {
        self.token
            .as_deref()
            .is_some_and(|token| equal(given, token))
    }
}

/// Whether the `Host` header names an IP address or `localhost`.
fn host_is_local_name(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        // HTTP/1.0 without Host: not a browser.
        return true;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, _port)| name)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

/// The admin listener's gate: authentication, CSRF on `POST`, and the
/// security headers on every answer.
pub(crate) async fn gate(
    State(shared): State<crate::Admin>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = check(&shared.inner, request, next).await;
    secure_headers(response.headers_mut());
    response
}

async fn check(shared: &Shared, request: Request, next: Next) -> Response {
    let secrets = &shared.secrets;
    let headers = request.headers();
    let by_header = secrets.bearer(headers);
    let path = request.uri().path();
    // The login form and the console's script and style (public, no data)
    // are served without a session: the login page uses the style.
    let open = path == "/login" || path.starts_with("/assets/");
    if secrets.token.is_some() {
        if !(by_header || open || secrets.session(headers)) {
            return unauthorized(&request, shared);
        }
    } else if !host_is_local_name(headers) {
        return problem(
            StatusCode::FORBIDDEN,
            "the admin listener answers only to an IP address or localhost in Host",
        );
    }
    if request.method() == Method::POST && !by_header {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let in_header = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        // Forms carry the token in their body, which their handler checks.
        if !is_form && !secrets.csrf_ok(in_header) {
            return problem(
                StatusCode::FORBIDDEN,
                "missing or wrong X-CSRF-Token (use the token of the console page, or authenticate with Authorization: Bearer)",
            );
        }
    }
    next.run(request).await
}

fn unauthorized(request: &Request, shared: &Shared) -> Response {
    let wants_html = request.method() == Method::GET
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
    let mut response = if wants_html {
        (
            StatusCode::UNAUTHORIZED,
            crate::console::login_page(shared, false),
        )
            .into_response()
    } else {
        problem(
            StatusCode::UNAUTHORIZED,
            "this admin listener needs Authorization: Bearer TOKEN",
        )
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"hookgate admin\""),
    );
    response
}

/// The Content-Security-Policy of every answer: scripts, styles and
/// connections from this origin only, nothing inline, no frames.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn secure_headers(headers: &mut HeaderMap) {
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ] {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_that_name_no_domain_pass() {
        let host = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, value.parse().unwrap());
            host_is_local_name(&headers)
        };
        assert!(host("127.0.0.1:8081"));
        assert!(host("[::1]:8081"));
        assert!(host("localhost:8081"));
        assert!(host("10.0.0.5"));
        assert!(!host("evil.example:8081"));
        assert!(!host("127.0.0.1.evil.example"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let secrets = Secrets::new(Some("t".repeat(20)));
        let mut headers = HeaderMap::new();
        let cookie = format!("a=b; {SESSION_COOKIE}={}", secrets.session);
        headers.insert(header::COOKIE, cookie.parse().unwrap());
        assert!(secrets.session(&headers));
        headers.insert(
            header::COOKIE,
            format!("{SESSION_COOKIE}=x").parse().unwrap(),
        );
        assert!(!secrets.session(&headers));
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {}", "t".repeat(20)).parse().unwrap(),
        );
        assert!(secrets.bearer(&headers));
    }
}
