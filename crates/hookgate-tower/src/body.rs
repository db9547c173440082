//! The request and response bodies of [`Webhook`](crate::Webhook).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The request body the inner service sees: the original one for requests
    /// that are not webhooks, or the verified bytes, restored, in inline mode.
    #[derive(Debug)]
    pub struct RequestBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    /// The response body of [`Webhook`](crate::Webhook): the inner service's,
    /// or a rejection or acknowledgement built by the middleware.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Buffered { data: Option<Bytes> },
        Inner { #[pin] body: B },
    }
}

impl<B> Kind<B> {
    fn buffered(data: Bytes) -> Self {
        Kind::Buffered {
            data: (!data.is_empty()).then_some(data),
        }
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    pub(crate) fn buffered(data: Bytes) -> Self {
        Self {
            kind: Kind::buffered(data),
        }
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    pub(crate) fn buffered(data: Bytes) -> Self {
        Self {
            kind: Kind::buffered(data),
        }
    }
}

fn poll_kind<B>(
    kind: Pin<&mut Kind<B>>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, B::Error>>>
where
    B: Body<Data = Bytes>,
{
    match kind.project() {
        KindProj::Buffered { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        KindProj::Inner { body } => body.poll_frame(cx),
    }
}

fn kind_is_end_stream<B: Body>(kind: &Kind<B>) -> bool {
    match kind {
        Kind::Buffered { data } => data.is_none(),
        Kind::Inner { body } => body.is_end_stream(),
    }
}

fn kind_size_hint<B: Body>(kind: &Kind<B>) -> SizeHint {
    match kind {
        Kind::Buffered { data } => {
            SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
        }
        Kind::Inner { body } => body.size_hint(),
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        poll_kind(self.project().kind, cx)
    }

    fn is_end_stream(&self) -> bool {
        kind_is_end_stream(&self.kind)
    }

    fn size_hint(&self) -> SizeHint {
        kind_size_hint(&self.kind)
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        poll_kind(self.project().kind, cx)
    }

    fn is_end_stream(&self) -> bool {
        kind_is_end_stream(&self.kind)
    }

    fn size_hint(&self) -> SizeHint {
        kind_size_hint(&self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};

    #[tokio::test]
    async fn buffered_body_yields_its_bytes_once() {
        let body = RequestBody::<Empty<Bytes>>::buffered(Bytes::from_static(b"abc"));
        assert_eq!(body.size_hint().exact(), Some(3));
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(collected, Bytes::from_static(b"abc"));

        let empty = ResponseBody::<Empty<Bytes>>::buffered(Bytes::new());
        assert!(empty.is_end_stream());
    }
}
