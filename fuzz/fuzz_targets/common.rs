// Shared by the targets: split the input into header values and a body, and
// build a header map from whatever values HTTP allows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate_verify::http::{HeaderMap, HeaderValue};

/// Splits `data` on 0xFF (never valid in a header value) into at most `n`
/// header values followed by the body.
pub fn split(data: &[u8], n: usize) -> (Vec<&[u8]>, &[u8]) {
    let mut parts = data.splitn(n + 1, |&b| b == 0xff);
    let values: Vec<&[u8]> = parts.by_ref().take(n).collect();
    (values, parts.next().unwrap_or_default())
}

pub fn headers(names: &[&'static str], values: &[&[u8]]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in names.iter().zip(values) {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.insert(*name, value);
        }
    }
    map
}

/// A fixed "now" close to the timestamps the fuzzer tends to find.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}
