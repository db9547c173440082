//! How back-ends write a delivery's headers as bytes, and read them back.
//!
//! The format is `(u32 BE name length, name, u32 BE value length, value)*` in
//! the map's order, so repeated headers and non-UTF-8 values survive byte for
//! byte. `SqliteQueue` stores it in a column, the Redis
//! back-end in a stream field, and [`MemoryQueue`](crate::MemoryQueue) keeps
//! it next to the body in one allocation.
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use hookgate_queue::wire;
//!
//! let mut headers = HeaderMap::new();
//! headers.append("x-a", HeaderValue::from_static("1"));
//! headers.append("x-a", HeaderValue::from_static("2"));
//! let blob = wire::encode_headers(&headers);
//! assert_eq!(wire::decode_headers(&blob), Some(headers));
//! ```

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The encoded headers, in a new buffer.
pub fn encode_headers(headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(headers));
    encode_headers_into(headers, &mut out);
    out
}

/// How many bytes [`encode_headers`] writes for `headers`.
pub fn encoded_len(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| 8 + name.as_str().len() + value.len())
        .sum()
}

/// Appends the encoded headers to `out`.
pub fn encode_headers_into(headers: &HeaderMap, out: &mut Vec<u8>) {
    for (name, value) in headers {
        for part in [name.as_str().as_bytes(), value.as_bytes()] {
            // A part of 4 GiB cannot be written. Panicking refuses the
            // delivery before anything is stored (the SQLite writer answers
            // its batch `Unavailable`); a saturated length would store a
            // record that never reads back.
            let len = u32::try_from(part.len()).expect("header parts are far below 4 GiB");
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part);
        }
    }
}

/// Reads what [`encode_headers`] wrote; `None` when it is truncated or holds
/// a name or value that `http` refuses.
pub fn decode_headers(mut blob: &[u8]) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    while !blob.is_empty() {
        let name = take(&mut blob)?;
        let value = take(&mut blob)?;
        headers.append(
            HeaderName::from_bytes(name).ok()?,
            HeaderValue::from_bytes(value).ok()?,
        );
    }
    Some(headers)
}

/// [`decode_headers`] of `blob[range]` without copying the values: each one
/// is a slice of `blob`.
pub fn decode_headers_shared(blob: &Bytes, range: std::ops::Range<usize>) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    let mut rest = blob.get(range.clone())?;
    while !rest.is_empty() {
        let name = take(&mut rest)?;
        let value = take(&mut rest)?;
        // `value` lies inside `blob`: its offset turns it into a shared slice.
        let start = value.as_ptr() as usize - blob.as_ptr() as usize;
        headers.append(
            HeaderName::from_bytes(name).ok()?,
            HeaderValue::from_maybe_shared(blob.slice(start..start + value.len())).ok()?,
        );
    }
    Some(headers)
}

fn take<'a>(blob: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = blob.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    let (part, rest) = rest.split_at(len);
    *blob = rest;
    Some(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.insert("x-bin", HeaderValue::from_bytes(&[0xff, 0x80]).unwrap());
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers
    }

    #[test]
    fn headers_round_trip_and_truncation_is_detected() {
        let headers = sample();
        let blob = encode_headers(&headers);
        assert_eq!(blob.len(), encoded_len(&headers));
        assert_eq!(decode_headers(&blob), Some(headers));
        assert_eq!(decode_headers(&blob[..blob.len() - 1]), None);
        assert_eq!(decode_headers(&[]), Some(HeaderMap::new()));
    }

    #[test]
    fn shared_decoding_reads_a_range_and_points_into_the_buffer() {
        let headers = sample();
        let mut buffer = b"prefix".to_vec();
        encode_headers_into(&headers, &mut buffer);
        let end = buffer.len();
        buffer.extend_from_slice(b"suffix");
        let buffer = Bytes::from(buffer);
        let decoded = decode_headers_shared(&buffer, 6..end).expect("decodes");
        assert_eq!(decoded, headers);
        let value = decoded["content-type"].as_bytes().as_ptr() as usize;
        let start = buffer.as_ptr() as usize;
        assert!((start..start + buffer.len()).contains(&value));
        assert_eq!(decode_headers_shared(&buffer, 6..end - 1), None);
        assert_eq!(decode_headers_shared(&buffer, 6..buffer.len() + 1), None);
    }

    #[test]
    fn a_value_http_refuses_is_not_decoded() {
        let mut blob = Vec::new();
        for part in [&b"x-a"[..], b"bad\x7f"] {
            blob.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
            blob.extend_from_slice(part);
        }
        assert_eq!(decode_headers(&blob), None);
        assert_eq!(
            decode_headers_shared(&Bytes::from(blob.clone()), 0..blob.len()),
            None
        );
    }
}
