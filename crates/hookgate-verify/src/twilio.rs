//! Twilio's signed content: the full URL Twilio called, then the form
//! parameters sorted by name, each name followed by its value; for a JSON
//! body, the URL alone, which carries the body's SHA-256 in `bodySHA256`.
//! Written once, for the verifier and the signer, after Twilio's
//! `RequestValidator` (twilio-python), including its habit of accepting the
//! URL with and without the port (Twilio's own signing is not consistent
//! about it).

use std::borrow::Cow;

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

pub(crate) type HmacSha1 = Hmac<Sha1>;

/// An HMAC-SHA1 tag.
pub(crate) type Sha1Tag = [u8; 20];

/// Why a Twilio request cannot be checked, before any HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyHash {
    /// The URL has no `bodySHA256`: the body is form parameters.
    Absent,
    /// The URL's `bodySHA256` is the body's.
    Matches,
    /// The URL's `bodySHA256` is not the body's.
    Differs,
}

/// The value of the URL's `bodySHA256` query parameter compared with the
/// body's SHA-256, in constant time.
pub(crate) fn body_hash(url: &str, body: &[u8]) -> BodyHash {
    let Some(sent) = query_param(url, "bodySHA256") else {
        return BodyHash::Absent;
    };
    let digest = Sha256::digest(body);
    let mut expected = [0u8; 64];
    for (out, byte) in expected.chunks_exact_mut(2).zip(digest.iter()) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out[0] = HEX[usize::from(byte >> 4)];
        out[1] = HEX[usize::from(byte & 0x0f)];
    }
    // Twilio writes lowercase hex.
    let same = sent.len() == 64
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            &expected[..],
            sent.as_bytes(),
        ));
    if same {
        BodyHash::Matches
    } else {
        BodyHash::Differs
    }
}

/// The first value of query parameter `name` in `url`, undecoded.
fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// The form parameters of a body, percent-decoded (`+` is a space), sorted by
/// name then value, duplicates dropped: the order and set Twilio's validator
/// signs.
pub(crate) fn form_params(body: &[u8]) -> Vec<(Cow<'_, [u8]>, Cow<'_, [u8]>)> {
    let mut params: Vec<_> = body
        .split(|&byte| byte == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let at = pair.iter().position(|&byte| byte == b'=');
            let (key, value) = match at {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            (percent_decode(key), percent_decode(value))
        })
        .collect();
    params.sort_unstable();
    params.dedup();
    params
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; a `%` not followed by two hex digits stays as it is.
fn percent_decode(text: &[u8]) -> Cow<'_, [u8]> {
    if !text.iter().any(|&byte| byte == b'%' || byte == b'+') {
        return Cow::Borrowed(text);
    }
    let hex = |byte: u8| char::from(byte).to_digit(16);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let digits = text
                    .get(i + 1)
                    .copied()
                    .and_then(hex)
                    .zip(text.get(i + 2).copied().and_then(hex));
                if let Some((high, low)) = digits {
                    // Two hex digits are at most 0xff.
                    out.push(u8::try_from(high * 16 + low).unwrap_or_default());
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// The URL spelled the two ways Twilio's validator accepts: without a port
/// and with the scheme's default one (or its own), as twilio-python's
/// `remove_port` and `add_port` do. Equal when the URL cannot be read.
pub(crate) fn url_variants(url: &str) -> [Cow<'_, str>; 2] {
    let Some((scheme, rest)) = url.split_once("://") else {
        return [Cow::Borrowed(url), Cow::Borrowed(url)];
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // A port is digits after the last `:` that is not inside `[…]` (IPv6).
    let port_at = authority
        .rfind(':')
        .filter(|&at| !authority[at..].contains(']'))
        .filter(|&at| authority[at + 1..].bytes().all(|b| b.is_ascii_digit()));
    match port_at {
        Some(at) => {
            let without = format!("{scheme}://{}{tail}", &authority[..at]);
            [Cow::Owned(without), Cow::Borrowed(url)]
        }
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            let with = format!("{scheme}://{authority}:{port}{tail}");
            [Cow::Borrowed(url), Cow::Owned(with)]
        }
    }
}

/// The HMAC-SHA1 of `url` and `params` (each name then its value) under `key`.
pub(crate) fn mac(key: &HmacSha1, url: &str, params: &[(Cow<'_, [u8]>, Cow<'_, [u8]>)]) -> Sha1Tag {
    let mut mac = key.clone();
    mac.update(url.as_bytes());
    for (name, value) in params {
        mac.update(name);
        mac.update(value);
    }
    mac.finalize().into_bytes().into()
}

/// The keyed HMAC-SHA1 state of an auth token.
pub(crate) fn key(secret: &[u8]) -> Option<HmacSha1> {
    HmacSha1::new_from_slice(secret).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_parameters_decode_and_sort_as_twilios_validator_does() {
        let body =
            b"To=%2B14155551212&From=%2B14158675309&Body=Hello+world%21&Empty=&B=2&B=1&B=2&%zz=5";
        let params = form_params(body);
        let shown: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        let expected = [
            ("%zz", "5"),
            ("B", "1"),
            ("B", "2"),
            ("Body", "Hello world!"),
            ("Empty", ""),
            ("From", "+14158675309"),
            ("To", "+14155551212"),
        ];
        assert_eq!(
            shown,
            expected.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
        );
        assert!(form_params(b"").is_empty());
    }

    #[test]
    fn urls_are_tried_with_and_without_their_port() {
        let variants = |url| url_variants(url).map(Cow::into_owned);
        assert_eq!(
            variants("https://example.com/sms?x=1"),
            [
                "https://example.com/sms?x=1",
                "https://example.com:443/sms?x=1"
            ]
        );
        assert_eq!(
            variants("http://example.com:8080/sms"),
            ["http://example.com/sms", "http://example.com:8080/sms"]
        );
        assert_eq!(
            variants("http://[::1]/x"),
            ["http://[::1]/x", "http://[::1]:80/x"]
        );
        assert_eq!(variants("not a url"), ["not a url", "not a url"]);
    }

    #[test]
    fn the_body_hash_is_read_from_the_query() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let url = format!("https://example.com/myapp?bodySHA256={hash}");
        assert_eq!(body_hash(&url, body), BodyHash::Matches);
        assert_eq!(body_hash(&url, b"{}"), BodyHash::Differs);
        assert_eq!(
            body_hash("https://example.com/myapp", body),
            BodyHash::Absent
        );
    }
}
