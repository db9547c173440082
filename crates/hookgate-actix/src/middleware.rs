//! The actix-web middleware.

use std::fmt;
use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage};
use futures_util::future::LocalBoxFuture;
use hookgate_receive::{Decision, ProblemJson, Receiver, RequestHead, RespondToRejection};

use crate::actix_response;

/// Receives webhooks in front of an actix-web app or scope: wrap it with
/// `App::new().wrap(Webhook::new(receiver))`.
///
/// Requests whose path belongs to no source go on untouched. For a webhook
/// route: method (405), `Content-Length` (413), the source's admission
/// control (503 with `Retry-After`), body read with a cap (413)
/// and the read deadline (408), verification (400/401), context fields (422),
/// filter (200), then in **queue mode** the enqueue under the ACK budget
/// (2xx, duplicate 200, or 503 with `Retry-After`; the app's handler is not
/// called), or in **inline mode** the app's handler with the payload restored
/// and a [`VerifiedDelivery`](hookgate_receive::VerifiedDelivery) extension.
///
/// `R` turns refusals into responses; swap it with
/// [`rejection_response`](Self::rejection_response).
pub struct Webhook<R = ProblemJson> {
    receiver: Receiver,
    respond: Arc<R>,
}

impl<R> Clone for Webhook<R> {
    fn clone(&self) -> Self {
        Self {
            receiver: self.receiver.clone(),
            respond: Arc::clone(&self.respond),
        }
    }
}

impl<R> fmt::Debug for Webhook<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("receiver", &self.receiver)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// Receives the sources of `receiver`, answering refusals with problem+json.
    pub fn new(receiver: Receiver) -> Self {
        Self {
            receiver,
            respond: Arc::new(ProblemJson),
        }
    }
}

impl<R> Webhook<R> {
    /// Answers refusals with `respond` instead (any `Fn(&Rejection) -> http::Response<Bytes>`).
    #[must_use]
    pub fn rejection_response<R2: RespondToRejection>(self, respond: R2) -> Webhook<R2> {
        Webhook {
            receiver: self.receiver,
            respond: Arc::new(respond),
        }
    }
}

impl<S, B, R> Transform<S, ServiceRequest> for Webhook<R>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    R: RespondToRejection,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = WebhookMiddleware<S, R>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(WebhookMiddleware {
            service: Rc::new(service),
            receiver: self.receiver.clone(),
            respond: Arc::clone(&self.respond),
        }))
    }
}

/// The service [`Webhook`] wraps around the app.
pub struct WebhookMiddleware<S, R = ProblemJson> {
    service: Rc<S>,
    receiver: Receiver,
    respond: Arc<R>,
}

impl<S, R> fmt::Debug for WebhookMiddleware<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookMiddleware")
            .field("receiver", &self.receiver)
            .finish_non_exhaustive()
    }
}

/// actix-web 4 uses `http` 0.2; the shared decisions take `http` 1.x headers.
/// (The method is converted by [`Reception::check_raw_head`], which refuses
/// one that does not convert.)
fn http_headers(req: &ServiceRequest) -> http::HeaderMap {
    let mut headers = http::HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

impl<S, B, R> Service<ServiceRequest> for WebhookMiddleware<S, R>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    R: RespondToRejection,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let Some(mut reception) = self.receiver.start(req.path()) else {
            let fut = self.service.call(req);
            return Box::pin(async move { Ok(fut.await?.map_into_left_body()) });
        };
        let service = Rc::clone(&self.service);
        let respond = Arc::clone(&self.respond);
        let span = reception.span().clone();
        let work = async move {
            let headers = http_headers(&req);
            let peer = req.peer_addr().map(|addr| addr.ip());
            let method =
                match reception.check_raw_head(req.method().as_str().as_bytes(), &headers, peer) {
                    Ok(method) => method,
                    Err(rejection) => {
                        let res = respond.respond(&reception.refuse(rejection));
                        return Ok(req.into_response(actix_response(res)).map_into_right_body());
                    }
                };
            let payload = req.take_payload();
            let head = RequestHead {
                method: &method,
                query: Some(req.query_string()).filter(|q| !q.is_empty()),
                headers: &headers,
                peer,
            };
            match reception.receive(head, payload, &*respond).await {
                Decision::Respond(res) => {
                    Ok(req.into_response(actix_response(res)).map_into_right_body())
                }
                // Inline mode: the application answers.
                Decision::PassOn { delivery, body } => {
                    req.set_payload(Payload::from(body));
                    req.extensions_mut().insert(delivery);
                    Ok(service.call(req).await?.map_into_left_body())
                }
            }
        };
        Box::pin(tracing::Instrument::instrument(work, span))
    }
}
