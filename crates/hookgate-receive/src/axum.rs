//! axum support: `IntoResponse` for [`Rejection`], so axum handlers and
//! extractors can return it, and the inline-mode extractors
//! [`VerifiedBytes`] and [`Verified`] (re-exported by `hookgate-tower`).

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use hookgate_events::FromDelivery;
use http::request::Parts;

use crate::{ProblemJson, Rejection, RespondToRejection, Verified, VerifiedBytes};

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        ProblemJson.respond(&self).map(axum::body::Body::from)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedBytes {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_attached(parts.extensions.get())
    }
}

impl<T, S> FromRequestParts<S> for Verified<T>
where
    T: FromDelivery,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_attached(parts.extensions.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RejectionKind;

    #[test]
    fn rejection_is_a_problem_response() {
        let res =
            Rejection::new(RejectionKind::NotVerified, "no verified delivery").into_response();
        assert_eq!(res.status(), 500);
        assert_eq!(res.headers()["content-type"], crate::PROBLEM_JSON);
    }
}
