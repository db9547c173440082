//! How headers and times are stored in Redis values.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

/// Microseconds since the Unix epoch; times before it are stored as 0.
pub(crate) fn micros(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

pub(crate) fn from_micros(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}

/// The latest time, and the longest duration, sent to Redis in
/// milliseconds (about 35,000 years): Lua numbers are doubles, exact up to
/// 2^53, and `PX` refuses what overflows the server's clock.
pub(crate) const MAX_MILLIS: u64 = 1 << 50;

/// Milliseconds since the Unix epoch, at most [`MAX_MILLIS`].
pub(crate) fn millis(time: SystemTime) -> u64 {
    (micros(time) / 1000).min(MAX_MILLIS)
}

/// A duration in milliseconds for a script argument: at least 1, at most
/// [`MAX_MILLIS`], so a huge one means "for ever" instead of failing.
pub(crate) fn duration_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_MILLIS)
}

pub(crate) fn from_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

/// Headers as `(u32 BE name length, name, u32 BE value length, value)*`, in
/// the map's order, so repeated headers and non-UTF-8 values survive.
pub(crate) fn encode_headers(headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        for part in [name.as_str().as_bytes(), value.as_bytes()] {
            let len = u32::try_from(part.len()).expect("header parts are far below 4 GiB");
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

pub(crate) fn decode_headers(mut blob: &[u8]) -> Option<HeaderMap> {
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

    #[test]
    fn headers_round_trip_and_truncation_is_detected() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.insert("x-bin", HeaderValue::from_bytes(&[0xff, 0x80]).unwrap());
        let blob = encode_headers(&headers);
        assert_eq!(decode_headers(&blob), Some(headers));
        assert_eq!(decode_headers(&blob[..blob.len() - 1]), None);
        assert_eq!(decode_headers(&[]), Some(HeaderMap::new()));
    }

    #[test]
    fn times_round_trip() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(from_micros(micros(t)), t);
        assert_eq!(micros(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(
            from_millis(millis(t)),
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
        );
    }
}
