//! Reading a request body under the source's cap and deadline.

use bytes::Bytes;
use hookgate_receive::{Reception, Rejection, RejectionKind};
use http_body::Body;
use http_body_util::BodyExt;

/// Reads the whole body into the reception's collector; 413 past the limit,
/// 408 past the read deadline, 400 when the connection fails mid-body.
pub(crate) async fn read_body<B>(reception: &Reception, body: B) -> Result<Bytes, Rejection>
where
    B: Body<Data = Bytes>,
{
    let mut collector = reception.body_collector();
    let read = async {
        let mut body = std::pin::pin!(body);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| {
                Rejection::new(
                    RejectionKind::BodyUnreadable,
                    "the request body could not be read",
                )
            })?;
            if let Ok(data) = frame.into_data() {
                collector.push(data)?;
            }
        }
        Ok(())
    };
    match tokio::time::timeout_at(reception.read_deadline(), read).await {
        Ok(Ok(())) => Ok(collector.finish()),
        Ok(Err(rejection)) => Err(rejection),
        Err(_elapsed) => Err(reception.read_timed_out()),
    }
}
