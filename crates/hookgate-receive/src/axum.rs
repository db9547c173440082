//! `IntoResponse` for [`Rejection`], so axum handlers and extractors can return it.

use axum::response::{IntoResponse, Response};

use crate::{ProblemJson, Rejection, RespondToRejection};

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        ProblemJson.respond(&self).map(axum::body::Body::from)
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
