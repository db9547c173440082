//! Reading a body under a size cap: the rules, independent of the framework's body type.

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http::header::CONTENT_LENGTH;

use crate::Rejection;

/// Checks the announced `Content-Length` against `limit` before a byte is read.
///
/// A missing or unparsable header passes: the cap is then enforced while
/// reading (see [`BodyCollector`]).
pub fn check_content_length(headers: &HeaderMap, limit: usize) -> Result<(), Rejection> {
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match announced {
        Some(len) if len > limit as u64 => Err(Rejection::too_large(limit)),
        _ => Ok(()),
    }
}

/// Accumulates body chunks and refuses as soon as they exceed the limit, so an
/// oversize body without `Content-Length` is cut off after `limit` bytes
/// rather than buffered whole.
///
/// ```
/// use bytes::Bytes;
/// use hookgate_receive::BodyCollector;
///
/// let mut body = BodyCollector::new(8);
/// body.push(Bytes::from_static(b"hello")).unwrap();
/// let err = body.push(Bytes::from_static(b" world")).unwrap_err();
/// assert_eq!(err.status(), 413);
/// ```
#[derive(Debug)]
pub struct BodyCollector {
    limit: usize,
    first: Option<Bytes>,
    rest: Option<BytesMut>,
    len: usize,
}

impl BodyCollector {
    /// A collector that accepts at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            first: None,
            rest: None,
            len: 0,
        }
    }

    /// Adds a chunk; refuses with 413 once the total exceeds the limit.
    pub fn push(&mut self, chunk: Bytes) -> Result<(), Rejection> {
        self.len = self.len.saturating_add(chunk.len());
        if self.len > self.limit {
            return Err(Rejection::too_large(self.limit));
        }
        if chunk.is_empty() {
            return Ok(());
        }
        // Most bodies arrive in one chunk: keep it without copying.
        match (&mut self.first, &mut self.rest) {
            (None, None) => self.first = Some(chunk),
            (Some(first), None) => {
                let mut buf = BytesMut::with_capacity(first.len() + chunk.len());
                buf.extend_from_slice(first);
                buf.extend_from_slice(&chunk);
                self.first = None;
                self.rest = Some(buf);
            }
            (_, Some(buf)) => buf.extend_from_slice(&chunk),
        }
        Ok(())
    }

    /// Bytes collected so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole body.
    pub fn finish(self) -> Bytes {
        match (self.first, self.rest) {
            (_, Some(buf)) => buf.freeze(),
            (Some(first), None) => first,
            (None, None) => Bytes::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn announced_length_over_the_limit_is_refused_before_reading() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("17"));
        assert_eq!(
            check_content_length(&headers, 16).unwrap_err().status(),
            413
        );
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("16"));
        assert!(check_content_length(&headers, 16).is_ok());
        headers.remove(CONTENT_LENGTH);
        assert!(check_content_length(&headers, 16).is_ok());
    }

    #[test]
    fn chunks_are_joined_in_order_up_to_the_limit() {
        let mut body = BodyCollector::new(11);
        assert!(body.is_empty());
        for part in [&b"hello"[..], b"", b" ", b"world"] {
            body.push(Bytes::copy_from_slice(part)).unwrap();
        }
        assert_eq!(body.len(), 11);
        assert_eq!(body.finish(), Bytes::from_static(b"hello world"));
        assert_eq!(BodyCollector::new(0).finish(), Bytes::new());
    }
}
