//! actix-web support: [`Rejection`] is a `ResponseError`, the shared
//! `http` 1.x responses convert to actix-web's own types (which use `http`
//! 0.2), and the inline-mode extractors [`VerifiedBytes`] and [`Verified`]
//! (re-exported by `hookgate-actix`).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode as ActixStatus;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;
use hookgate_events::FromDelivery;

use crate::{ProblemJson, Rejection, RespondToRejection, Verified, VerifiedBytes};

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

impl FromRequest for VerifiedBytes {
    type Error = Rejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Self::from_attached(req.extensions().get()))
    }
}

impl<T: FromDelivery> FromRequest for Verified<T> {
    type Error = Rejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Self::from_attached(req.extensions().get()))
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
