use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::{RequestBody, ResponseBody};

/// What the webhook work decided: answer now, or hand on to the inner service.
pub(crate) enum Step<B> {
    Respond(Response<Bytes>),
    Forward(Request<RequestBody<B>>),
}

type Receiving<B> = Pin<Box<dyn Future<Output = Step<B>> + Send>>;

pin_project! {
    /// Response future of [`Webhook`](super::Webhook).
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<RequestBody<B>>>,
    {
        #[pin]
        state: State<S::Future, B>,
        inner: Option<S>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] fut: F },
        Respond { res: Option<Response<Bytes>> },
        Receiving { fut: Receiving<B> },
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Inner { .. } => "inner",
            State::Respond { .. } => "respond",
            State::Receiving { .. } => "receiving",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>>,
{
    pub(crate) fn inner(fut: S::Future) -> Self {
        Self {
            state: State::Inner { fut },
            inner: None,
        }
    }

    pub(crate) fn respond(res: Response<Bytes>) -> Self {
        Self {
            state: State::Respond { res: Some(res) },
            inner: None,
        }
    }

    pub(crate) fn receiving(fut: Receiving<B>, inner: Option<S>) -> Self {
        Self {
            state: State::Receiving { fut },
            inner,
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { fut } => {
                    let res = ready!(fut.poll(cx))?;
                    return Poll::Ready(Ok(res.map(ResponseBody::inner)));
                }
                StateProj::Respond { res } => {
                    let res = res.take().expect("polled after completion");
                    return Poll::Ready(Ok(res.map(ResponseBody::buffered)));
                }
                StateProj::Receiving { fut } => match ready!(fut.as_mut().poll(cx)) {
                    Step::Respond(res) => {
                        this.state.set(State::Respond { res: Some(res) });
                    }
                    Step::Forward(req) => {
                        let mut inner = this
                            .inner
                            .take()
                            .expect("inline mode keeps the inner service");
                        let fut = inner.call(req);
                        this.state.set(State::Inner { fut });
                    }
                },
            }
        }
    }
}
