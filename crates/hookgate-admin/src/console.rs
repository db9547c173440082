//! The console: one server-rendered page, a small script for the live parts,
//! and the forms' handlers. Every value that may come from a sender goes
//! through [`escape`] here and through `textContent` in the script.

use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use hookgate_queue::DeliveryKey;
use hookgate_queue::Replay;
use hookgate_queue::observe::EventKind;
use serde::Deserialize;

use crate::api::{MAX_LIST, problem};
use crate::auth::SESSION_COOKIE;
use crate::time::{parse_rfc3339, rfc3339};
use crate::{Admin, Shared};

const SCRIPT: &str = include_str!("../assets/console.js");
const STYLE: &str = include_str!("../assets/console.css");
/// Rows the page starts with; the stream adds the rest.
const FIRST_ROWS: usize = 100;

/// Escapes text for HTML content and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn head(out: &mut String, shared: &Shared, title: &str) {
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"csrf-token\" content=\"{csrf}\">\
         <title>{title}</title>\
         <link rel=\"stylesheet\" href=\"/assets/console.css\">\
         <script src=\"/assets/console.js\" defer></script></head><body>",
        csrf = escape(&shared.secrets.csrf),
        title = escape(title),
    );
}

/// The login form, for a listener with a token.
pub(crate) fn login_page(shared: &Shared, wrong: bool) -> Html<String> {
    let mut out = String::new();
    head(&mut out, shared, "hookgate admin: log in");
    out.push_str("<main class=\"login\"><h1>hookgate admin</h1>");
    if wrong {
        out.push_str("<p class=\"error\">That token is not the admin token.</p>");
    }
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Admin token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Log in</button></form></main></body></html>",
        escape(&shared.secrets.csrf)
    );
    Html(out)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    token: String,
    csrf: String,
}

/// `POST /login`: sets the session cookie when the token is right.
pub(crate) async fn login(State(admin): State<Admin>, Form(form): Form<LoginForm>) -> Response {
    let shared = &admin.inner;
    if !shared.secrets.csrf_ok(Some(&form.csrf)) {
        return problem(StatusCode::FORBIDDEN, "the form's CSRF token is wrong");
    }
    if !shared.secrets.token_ok(&form.token) {
        return (StatusCode::UNAUTHORIZED, login_page(shared, true)).into_response();
    }
    let mut response = Redirect::to("/").into_response();
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        shared.secrets.session
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    replayed: Option<u64>,
    error: Option<String>,
}

fn cell(out: &mut String, text: &str) {
    let _ = write!(out, "<td>{}</td>", escape(text));
}

fn optional<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(String::new, |v| v.to_string())
}

/// `GET /`: the console.
pub(crate) async fn page(State(admin): State<Admin>, Query(query): Query<PageQuery>) -> Response {
    let shared = &*admin.inner;
    let mut out = String::with_capacity(32 * 1024);
    head(&mut out, shared, "hookgate console");
    out.push_str(
        "<header><h1>hookgate console</h1><span id=\"live\" class=\"live\">connecting</span></header><main>",
    );
    if let Some(n) = query.replayed {
        let _ = write!(
            out,
            "<p class=\"flash\" id=\"flash\">Replayed {n} dead letter{}.</p>",
            if n == 1 { "" } else { "s" }
        );
    }
    if let Some(error) = &query.error {
        let _ = write!(
            out,
            "<p class=\"flash error\" id=\"flash\">{}</p>",
            escape(error)
        );
    }

    // Queue counts, per-source counters, chart.
    out.push_str("<section class=\"overview\"><div><h2>Queue</h2><dl id=\"stats\">");
    match shared.queue.stats().await {
        Ok(stats) => {
            shared.recorder.sample_depth(stats.depth());
            for (name, value) in [
                ("depth", stats.depth()),
                ("ready", stats.ready),
                ("scheduled", stats.scheduled),
                ("leased", stats.leased),
                ("dead", stats.dead),
            ] {
                let _ = write!(out, "<dt>{name}</dt><dd data-stat=\"{name}\">{value}</dd>");
            }
        }
        Err(error) => {
            let _ = write!(
                out,
                "<dt>queue</dt><dd>{}</dd>",
                escape(&error.kind().to_string())
            );
        }
    }
    out.push_str("</dl></div><div><h2>Last hour</h2>\
        <svg id=\"chart\" viewBox=\"0 0 600 120\" role=\"img\" aria-label=\"received, processed and queue depth per minute\"></svg>\
        <p class=\"legend\"><span class=\"received\">received/min</span> <span class=\"processed\">processed/min</span> <span class=\"depth\">queue depth</span></p></div>");
    out.push_str("<div><h2>Sources</h2><table id=\"sources\"><thead><tr><th>source</th>");
    for kind in EventKind::ALL {
        let _ = write!(out, "<th>{}</th>", kind.as_str().replace('_', " "));
    }
    out.push_str("</tr></thead><tbody>");
    for (name, counts) in shared.recorder.counts() {
        let _ = write!(out, "<tr data-source=\"{}\">", escape(&name));
        cell(&mut out, &name);
        for (kind, count) in EventKind::ALL.iter().zip(counts) {
            let _ = write!(out, "<td data-kind=\"{}\">{count}</td>", kind.as_str());
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div></section>");

    // The live feed.
    out.push_str(
        "<section><h2>Live feed</h2><form id=\"filters\" class=\"filters\">\
        <label>Source <select id=\"filter-source\"><option value=\"\">all</option>",
    );
    for name in &shared.sources {
        let _ = write!(out, "<option>{}</option>", escape(name));
    }
    out.push_str("</select></label> <label>Outcome <select id=\"filter-outcome\"><option value=\"\">all</option>");
    for kind in EventKind::ALL.iter().filter(|k| **k != EventKind::Received) {
        let _ = write!(out, "<option>{}</option>", kind.as_str());
    }
    out.push_str("</select></label></form>\
        <table id=\"feed\" class=\"feed\"><thead><tr><th>time</th><th>source</th><th>delivery</th><th>event</th>\
        <th>outcome</th><th>status</th><th>latency</th><th>attempts</th><th>last error</th></tr></thead><tbody>");
    for entry in shared.recorder.recent(None, None, FIRST_ROWS) {
        let _ = write!(
            out,
            "<tr data-seq=\"{}\" data-source=\"{}\" data-outcome=\"{}\" tabindex=\"0\">",
            entry.seq,
            escape(&entry.source),
            entry.outcome
        );
        let at = rfc3339(entry.received_at);
        // `2026-12-03T13:24:11.123456Z` -> `13:24:11.123`, as the script writes it.
        let _ = write!(
            out,
            "<td class=\"time\" title=\"{at}\">{}</td>",
            at.get(11..23).unwrap_or(&at)
        );
        cell(&mut out, &entry.source);
        cell(&mut out, entry.delivery_id().unwrap_or(""));
        cell(&mut out, entry.event().unwrap_or(""));
        let _ = write!(out, "<td class=\"outcome\">{}</td>", entry.outcome);
        cell(&mut out, &optional(entry.status));
        cell(
            &mut out,
            &entry.latency.map_or_else(String::new, |l| {
                format!("{:.1} ms", l.as_secs_f64() * 1000.0)
            }),
        );
        let _ = write!(out, "<td class=\"attempts\">{}</td>", entry.attempts);
        let _ = write!(
            out,
            "<td class=\"error\">{}</td></tr>",
            escape(entry.last_error.as_deref().or(entry.reason).unwrap_or(""))
        );
    }
    out.push_str("</tbody></table></section>");
    out.push_str("<section id=\"detail\" hidden><h2>Delivery <span id=\"detail-title\"></span></h2>\
        <table id=\"detail-headers\" class=\"headers\"></table><pre id=\"detail-body\"></pre></section>");

    // Dead letters.
    out.push_str("<section id=\"dead\"><h2>Dead letters</h2>");
    let csrf = escape(&shared.secrets.csrf);
    match admin.dead_letters(None, MAX_LIST).await {
        Ok(letters) if letters.is_empty() => out.push_str("<p id=\"no-dead\">None.</p>"),
        Ok(letters) => {
            out.push_str("<table id=\"dead-letters\"><thead><tr><th>source</th><th>delivery</th><th>received</th>\
                <th>attempts</th><th>last error</th><th></th></tr></thead><tbody>");
            for letter in &letters {
                let text = |key: &str| letter[key].as_str().unwrap_or_default().to_owned();
                let (source, id) = (text("source"), text("delivery_id"));
                out.push_str("<tr>");
                cell(&mut out, &source);
                cell(&mut out, &id);
                cell(&mut out, &text("received_at"));
                cell(&mut out, &letter["attempts"].to_string());
                cell(&mut out, &text("error"));
                let _ = write!(
                    out,
                    "<td><form method=\"post\" action=\"/console/replay\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                     <input type=\"hidden\" name=\"source\" value=\"{}\">\
                     <input type=\"hidden\" name=\"delivery_id\" value=\"{}\">\
                     <button type=\"submit\" class=\"replay\">Replay</button></form></td></tr>",
                    escape(&source),
                    escape(&id)
                );
            }
            out.push_str("</tbody></table>");
        }
        Err(error) => {
            let _ = write!(
                out,
                "<p class=\"error\">{}</p>",
                escape(&error.kind().to_string())
            );
        }
    }
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/console/replay-selection\" id=\"replay-selection\" class=\"filters\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Source <select name=\"source\"><option value=\"\">all</option>"
    );
    for name in &shared.sources {
        let _ = write!(out, "<option>{}</option>", escape(name));
    }
    out.push_str("</select></label> <label>Received since <input name=\"since\" placeholder=\"2026-12-03T13:00:00Z\"></label> \
        <button type=\"submit\">Replay selection</button></form></section>");
    out.push_str("</main></body></html>");
    Html(out).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReplayForm {
    csrf: String,
    source: String,
    delivery_id: String,
}

fn back(result: Result<u64, String>) -> Response {
    let target = match result {
        Ok(n) => format!("/?replayed={n}#dead"),
        Err(error) => {
            let encoded: String = url_encode(&error);
            format!("/?error={encoded}#dead")
        }
    };
    Redirect::to(&target).into_response()
}

fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `POST /console/replay`: the Replay button of a dead letter.
pub(crate) async fn replay_one(
    State(admin): State<Admin>,
    Form(form): Form<ReplayForm>,
) -> Response {
    if !admin.inner.secrets.csrf_ok(Some(&form.csrf)) {
        return problem(StatusCode::FORBIDDEN, "the form's CSRF token is wrong");
    }
    let key = DeliveryKey::new(form.source, form.delivery_id);
    back(
        admin
            .inner
            .queue
            .replay(Replay::One(key))
            .await
            .map_err(|e| e.kind().to_string()),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct SelectionForm {
    csrf: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    since: String,
}

/// `POST /console/replay-selection`: replay of the dead letters of a source and/or since a time.
pub(crate) async fn replay_selection(
    State(admin): State<Admin>,
    Form(form): Form<SelectionForm>,
) -> Response {
    if !admin.inner.secrets.csrf_ok(Some(&form.csrf)) {
        return problem(StatusCode::FORBIDDEN, "the form's CSRF token is wrong");
    }
    let since = match form.since.trim() {
        "" => None,
        text => match parse_rfc3339(text) {
            Ok(since) => Some(since),
            Err(expected) => return back(Err(format!("since: {expected}"))),
        },
    };
    let source = Some(form.source.as_str()).filter(|s| !s.is_empty());
    back(
        admin
            .replay_selection(source, since)
            .await
            .map_err(|e| e.kind().to_string()),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /assets/console.js`
pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /assets/console.css`
pub(crate) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_that_could_open_markup_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(url_encode("a b/<c>"), "a%20b%2F%3Cc%3E");
    }
}
