//! actix-web support: [`Rejection`] is a `ResponseError`, and the shared
//! `http` 1.x responses convert to actix-web's own types (which use `http` 0.2).

use actix_web::http::StatusCode as ActixStatus;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use bytes::Bytes;

use crate::{ProblemJson, Rejection, RespondToRejection};

/// Converts a response built by this crate (or by a [`RespondToRejection`])
/// into an actix-web response, keeping status, headers and body.
pub fn actix_response(res: http::Response<Bytes>) -> HttpResponse {
    let (parts, body) = res.into_parts();
    let status =
        ActixStatus::from_u16(parts.status.as_u16()).unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR);
    let mut out = HttpResponse::with_body(status, body);
    let headers = out.headers_mut();
    for (name, value) in &parts.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    out.map_into_boxed_body()
}

impl ResponseError for Rejection {
    fn status_code(&self) -> ActixStatus {
        ActixStatus::from_u16(self.status().as_u16()).unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        actix_response(ProblemJson.respond(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RejectionKind;
    use std::time::Duration;

    #[test]
    fn rejection_keeps_status_and_headers_in_actix() {
        let r = Rejection::unavailable(
            RejectionKind::QueueUnavailable,
            "queue is full".to_owned(),
            Duration::from_secs(3),
        );
        let res = r.error_response();
        assert_eq!(res.status().as_u16(), 503);
        assert_eq!(res.headers().get("retry-after").unwrap(), "3");
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            crate::PROBLEM_JSON
        );
    }
}
