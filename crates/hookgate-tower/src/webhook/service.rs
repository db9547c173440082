use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hookgate_receive::{
    Decision, Mode, ProblemJson, Receiver, Reception, RequestHead, RespondToRejection,
};
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use tower_service::Service;

use super::future::{ResponseFuture, Step};
use crate::body::RequestBody;

/// Receives webhooks in front of an inner service; see the [module docs](crate::webhook).
#[derive(Debug)]
pub struct Webhook<S, R = ProblemJson> {
    inner: S,
    receiver: Receiver,
    respond: Arc<R>,
}

impl<S: Clone, R> Clone for Webhook<S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            receiver: self.receiver.clone(),
            respond: Arc::clone(&self.respond),
        }
    }
}

impl<S> Webhook<S> {
    /// Wraps `inner`, receiving the sources of `receiver`.
    pub fn new(inner: S, receiver: Receiver) -> Self {
        Self::from_parts(inner, receiver, Arc::new(ProblemJson))
    }

    /// A [`WebhookLayer`](super::WebhookLayer) for `receiver`.
    pub fn layer(receiver: Receiver) -> super::WebhookLayer {
        super::WebhookLayer::new(receiver)
    }
}

impl<S, R> Webhook<S, R> {
    pub(crate) fn from_parts(inner: S, receiver: Receiver, respond: Arc<R>) -> Self {
        Self {
            inner,
            receiver,
            respond,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Webhook<S, R>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    R: RespondToRejection,
    ReqBody: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<crate::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(mut reception) = self.receiver.start(req.uri().path()) else {
            return ResponseFuture::inner(self.inner.call(req.map(RequestBody::inner)));
        };
        let peer = peer_ip(req.extensions());
        if let Err(rejection) = reception.check_head(req.method(), req.headers(), peer) {
            let rejection = reception.refuse(rejection);
            return ResponseFuture::respond(self.respond.respond(&rejection));
        }
        // Inline mode hands the request on later: keep the instance that
        // `poll_ready` prepared and leave a fresh clone in its place.
        let inner = match reception.source().mode() {
            Mode::Inline => {
                let clone = self.inner.clone();
                Some(std::mem::replace(&mut self.inner, clone))
            }
            _ => None,
        };
        let respond = Arc::clone(&self.respond);
        let span = reception.span().clone();
        let step = async move { receive(reception, req, &*respond).await };
        ResponseFuture::receiving(Box::pin(tracing::Instrument::instrument(step, span)), inner)
    }
}

/// The peer's address: from [`Server`](crate::Server), or from axum's
/// `ConnectInfo` (`into_make_service_with_connect_info::<SocketAddr>()`).
fn peer_ip(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    if let Some(crate::PeerAddr(addr)) = extensions.get() {
        return Some(addr.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        return Some(addr.ip());
    }
    None
}

async fn receive<B, R>(reception: Reception, req: Request<B>, respond: &R) -> Step<B>
where
    B: Body<Data = Bytes> + Send + 'static,
    R: RespondToRejection,
{
    let (mut parts, body) = req.into_parts();
    let head = RequestHead {
        method: &parts.method,
        query: parts.uri.query(),
        headers: &parts.headers,
        peer: peer_ip(&parts.extensions),
    };
    match reception
        .receive(head, body.into_data_stream(), respond)
        .await
    {
        Decision::Respond(res) => Step::Respond(res),
        // Inline mode: the application answers.
        Decision::PassOn { delivery, body } => {
            parts.extensions.insert(delivery);
            Step::Forward(Request::from_parts(parts, RequestBody::buffered(body)))
        }
    }
}
