//! Twilio's signed content: the full URL Twilio called, then the form
//! parameters sorted by name, each name followed by its value; for a JSON
//! body, the URL alone, which carries the body's SHA-256 in `bodySHA256`.
//! Written once, for the verifier and the signer, after Twilio's
//! `RequestValidator` (twilio-python), including its habit of accepting the
//! URL with and without the port (Twilio's own signing is not consistent
//! about it).

use std::cmp::Ordering;

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
    // Most URLs do not name it at all: one memmem search says so for less
    // than splitting the query (measured: 60-100 ns of Twilio's 1 µs).
    memchr::memmem::find(url.as_bytes(), name.as_bytes())?;
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// One form parameter as the body spells it: name and value still
/// percent-encoded. Decoding happens where the bytes are used (comparing
/// names while sorting, feeding the HMAC), so reading a form allocates
/// nothing per parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Param<'a> {
    name: Encoded<'a>,
    value: Encoded<'a>,
}

impl Param<'_> {
    /// Twilio's order: by decoded name, then by decoded value.
    fn decoded_cmp(&self, other: &Self) -> Ordering {
        self.name
            .decoded_cmp(&other.name)
            .then_with(|| self.value.decoded_cmp(&other.value))
    }
}

/// A name or value as the form spells it, with where its first escape (`+`
/// or `%`) is: looked for once, so that sorting compares plain texts as
/// they are and the HMAC takes a plain text in one piece.
#[derive(Debug, Clone, Copy)]
struct Encoded<'a> {
    text: &'a [u8],
    first_escape: Option<usize>,
}

impl<'a> Encoded<'a> {
    /// A name: a few bytes, where a plain loop costs less than setting up
    /// a SIMD search.
    fn name(text: &'a [u8]) -> Self {
        Self {
            text,
            first_escape: text.iter().position(|&byte| byte == b'%' || byte == b'+'),
        }
    }

    /// A value, which may be long (a message's `Body`).
    fn value(text: &'a [u8]) -> Self {
        Self {
            text,
            first_escape: memchr::memchr2(b'%', b'+', text),
        }
    }

    /// Orders two texts as their decoded bytes order.
    fn decoded_cmp(&self, other: &Self) -> Ordering {
        if self.first_escape.is_none() && other.first_escape.is_none() {
            self.text.cmp(other.text)
        } else {
            decoded(self.text).cmp(decoded(other.text))
        }
    }

    /// Feeds the decoded bytes to `mac`: the runs between escapes as they
    /// are, each escape as its byte.
    fn update(&self, mac: &mut HmacSha1) {
        let Some(first) = self.first_escape else {
            mac.update(self.text);
            return;
        };
        mac.update(&self.text[..first]);
        let mut rest = &self.text[first..];
        while !rest.is_empty() {
            let (byte, used) = decode_escape(rest);
            mac.update(&[byte]);
            rest = &rest[used..];
            let plain = memchr::memchr2(b'%', b'+', rest).unwrap_or(rest.len());
            mac.update(&rest[..plain]);
            rest = &rest[plain..];
        }
    }
}

/// The form parameters of a body sorted by decoded name then value,
/// duplicates dropped: the order and set Twilio's validator signs (`+` is a
/// space, `%XX` a byte).
pub(crate) fn form_params(body: &[u8]) -> Vec<Param<'_>> {
    // memchr finds each `&` and each value's escapes 16 or 32 bytes at a
    // time: a long `Body` parameter is most of a form, and walking it a byte
    // at a time cost about as much as its HMAC.
    // Room for the 10 to 20 parameters of Twilio's messaging and voice
    // webhooks without growing.
    let mut params = Vec::with_capacity(24);
    let mut start = 0;
    let ends = memchr::memchr_iter(b'&', body).chain(std::iter::once(body.len()));
    for end in ends {
        let pair = &body[start..end];
        start = end + 1;
        if pair.is_empty() {
            continue;
        }
        // The `=` ends the name, a few bytes in.
        let (name, value) = match pair.iter().position(|&byte| byte == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        params.push(Param {
            name: Encoded::name(name),
            value: Encoded::value(value),
        });
    }
    params.sort_unstable_by(Param::decoded_cmp);
    params.dedup_by(|later, earlier| later.decoded_cmp(earlier) == Ordering::Equal);
    params
}

/// The decoded byte at the start of `text` (which starts with `+` or `%`)
/// and how many bytes spell it: a `%` not followed by two hex digits stays
/// as it is.
fn decode_escape(text: &[u8]) -> (u8, usize) {
    let hex = |at: usize| text.get(at).and_then(|&byte| char::from(byte).to_digit(16));
    match text.first() {
        Some(b'+') => (b' ', 1),
        _ => match hex(1).zip(hex(2)) {
            // Two hex digits are at most 0xff.
            Some((high, low)) => (u8::try_from(high * 16 + low).unwrap_or_default(), 3),
            None => (b'%', 1),
        },
    }
}

/// `application/x-www-form-urlencoded` decoding of `text`, one byte at a
/// time: for comparing names, which are short.
fn decoded(text: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut rest = text;
    std::iter::from_fn(move || {
        let (&first, tail) = rest.split_first()?;
        if first == b'%' || first == b'+' {
            let (byte, used) = decode_escape(rest);
            rest = &rest[used..];
            Some(byte)
        } else {
            rest = tail;
            Some(first)
        }
    })
}

/// A URL as pieces to be signed one after the other, so that a respelling
/// (with or without the port) needs no new string.
pub(crate) type UrlPieces<'a> = [&'a str; 4];

/// The URL as the request gave it.
pub(crate) fn as_given(url: &str) -> UrlPieces<'_> {
    [url, "", "", ""]
}

/// The URL's other spelling, which Twilio's validator also accepts: without
/// its port when it has one, else with the scheme's default port, as
/// twilio-python's `remove_port` and `add_port` do. Worked out only when
/// the URL as given did not match (Twilio's own signing is not consistent
/// about the port, but most deliveries match as given). `None` when the URL
/// cannot be read.
pub(crate) fn other_spelling(url: &str) -> Option<UrlPieces<'_>> {
    let scheme_end = url.find("://")?;
    let scheme = &url[..scheme_end];
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| authority_start + at);
    let authority = &url[authority_start..authority_end];
    let tail = &url[authority_end..];
    // A port is digits after the last `:` that is not inside `[…]` (IPv6).
    let port_at = authority
        .rfind(':')
        .filter(|&at| !authority[at..].contains(']'))
        .filter(|&at| authority[at + 1..].bytes().all(|b| b.is_ascii_digit()));
    Some(match port_at {
        Some(at) => [&url[..authority_start + at], tail, "", ""],
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") {
                ":443"
            } else {
                ":80"
            };
            [&url[..authority_end], port, tail, ""]
        }
    })
}

/// The HMAC-SHA1 of the URL (its pieces in order) and `params` (each
/// decoded name then its decoded value) under `key`.
pub(crate) fn mac(key: &HmacSha1, url: &UrlPieces<'_>, params: &[Param<'_>]) -> Sha1Tag {
    let mut mac = key.clone();
    for piece in url.iter().filter(|piece| !piece.is_empty()) {
        mac.update(piece.as_bytes());
    }
    for param in params {
        param.name.update(&mut mac);
        param.value.update(&mut mac);
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
            b"To=%2B14155551212&From=%2B14158675309&Body=Hello+world%21&Empty=&B=2&B=1&B=%32&%zz=5";
        let params = form_params(body);
        let text = |encoded| String::from_utf8(decoded(encoded).collect()).unwrap();
        let shown: Vec<(String, String)> = params
            .iter()
            .map(|param| (text(param.name.text), text(param.value.text)))
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
        assert!(form_params(b"&&").is_empty());
    }

    #[test]
    fn the_mac_covers_the_url_then_each_decoded_name_and_value() {
        let key = key(b"12345").unwrap();
        let body = b"Digits=1234&To=%2B18005551212&Caller=%2B14158675310&Note=a+b%zz%4";
        let params = form_params(body);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let mut expected = key.clone();
        expected.update(url.as_bytes());
        expected.update(b"Caller+14158675310Digits1234Notea b%zz%4To+18005551212");
        let expected: Sha1Tag = expected.finalize().into_bytes().into();
        assert_eq!(mac(&key, &as_given(url), &params), expected);
        // The same URL given in two pieces signs the same.
        let pieces = ["https://mycompany.com", "/myapp.php?foo=1&bar=2", "", ""];
        assert_eq!(mac(&key, &pieces, &params), expected);
    }

    /// Twilio's signed content spelled out the plain way: every name and
    /// value decoded into its own buffer, the pairs sorted and deduplicated,
    /// then concatenated after the URL.
    fn signed_content_by_decoding_first(url: &str, body: &[u8]) -> Vec<u8> {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = body
            .split(|&byte| byte == b'&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let mut parts = pair.splitn(2, |&byte| byte == b'=');
                let name = parts.next().unwrap_or_default();
                let value = parts.next().unwrap_or_default();
                (decoded(name).collect(), decoded(value).collect())
            })
            .collect();
        pairs.sort();
        pairs.dedup();
        let mut content = url.as_bytes().to_vec();
        for (name, value) in pairs {
            content.extend(name);
            content.extend(value);
        }
        content
    }

    proptest::proptest! {
        /// Sorting and deduplicating the encoded parameters by their decoded
        /// bytes, and decoding them into the HMAC, sign what decoding every
        /// parameter first signs (forms made of the bytes that matter: the
        /// separators, escapes, hex digits and a few letters).
        #[test]
        fn the_mac_equals_the_mac_of_the_decoded_sorted_content(
            form in proptest::collection::vec(
                proptest::sample::select(b"&=%+2Bb0aF f".to_vec()), 0..48),
        ) {
            let key = key(b"12345").unwrap();
            let url = "https://example.com/sms";
            let mut expected = key.clone();
            expected.update(&signed_content_by_decoding_first(url, &form));
            let expected: Sha1Tag = expected.finalize().into_bytes().into();
            proptest::prop_assert_eq!(mac(&key, &as_given(url), &form_params(&form)), expected);
        }
    }

    #[test]
    fn urls_are_tried_with_and_without_their_port() {
        let variants = |url| {
            let other = other_spelling(url).map_or_else(|| url.to_owned(), |other| other.concat());
            [as_given(url).concat(), other]
        };
        assert_eq!(
            variants("https://example.com/sms?x=1"),
            [
                "https://example.com/sms?x=1",
                "https://example.com:443/sms?x=1"
            ]
        );
        assert_eq!(
            variants("http://example.com:8080/sms"),
            ["http://example.com:8080/sms", "http://example.com/sms"]
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
