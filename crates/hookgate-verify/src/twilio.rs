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
    let query = &url[memchr::memchr(b'?', url.as_bytes())? + 1..];
    // Most queries do not name it at all: one memmem search says so for less
    // than splitting the query (measured: 60-100 ns of Twilio's 1 µs). Only
    // the query is searched: a short one (the usual) is shorter than the
    // name, or searched in a few bytes; the whole URL cost a Rabin-Karp pass
    // over some 50 bytes.
    memchr::memmem::find(query.as_bytes(), name.as_bytes())?;
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// One form parameter as the body spells it: where its name and value
/// (still percent-encoded) are in the body. Decoding happens where the
/// bytes are used (comparing names while sorting, feeding the HMAC), so
/// reading a form allocates nothing per parameter. Offsets rather than
/// slices: a parameter of zeros is a valid (empty) one, so a [`Form`]'s
/// inline parameters start as one block of zeroed memory (the stores of an
/// empty slice's dangling pointer, field by field, showed in profiles).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Param {
    name_start: usize,
    name_end: usize,
    /// The value runs from after the name's `=` (when the pair has one,
    /// that is when `value_end` is past the name) to here.
    value_end: usize,
    /// The name's first eight bytes, big-endian, zero-padded: plain names
    /// (nearly all) mostly differ there, so sorting compares one word.
    key: u64,
    /// 1 when the name holds an escape (`%` or `+`), else 0: sorting
    /// compares a plain name as it is. (Words only, no `bool` or `Option`:
    /// a `Param` of zeros is then memory without padding, zeroed in bulk.)
    escaped_name: usize,
    /// 1 + where the value's first escape is, 0 when it has none: found
    /// while the form was read, so feeding a plain value (a long `Body`) to
    /// the HMAC needs no second search.
    value_escape: usize,
}

impl Param {
    fn name<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        &body[self.name_start..self.name_end]
    }

    fn value<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        if self.value_end > self.name_end {
            &body[self.name_end + 1..self.value_end]
        } else {
            &[]
        }
    }

    /// Twilio's order: by decoded name, then by decoded value.
    ///
    /// Plain names whose first eight bytes differ (most pairs of a form)
    /// are ordered here, inline in the sort, by their words; the rest by
    /// [`Param::decoded_cmp_bytes`].
    #[inline]
    fn decoded_cmp(&self, other: &Self, body: &[u8]) -> Ordering {
        if self.escaped_name | other.escaped_name == 0 && self.key != other.key {
            // Where the words differ, so do the names, at the same byte.
            return self.key.cmp(&other.key);
        }
        self.decoded_cmp_bytes(other, body)
    }

    /// [`Param::decoded_cmp`] by the names' and values' bytes.
    #[inline(never)]
    fn decoded_cmp_bytes(&self, other: &Self, body: &[u8]) -> Ordering {
        let names = if self.escaped_name | other.escaped_name == 0 {
            // Where the words differ, so do the names, at the same byte
            // (a zero of the padding is a name that ended: the shorter).
            self.key
                .cmp(&other.key)
                .then_with(|| self.name(body).cmp(other.name(body)))
        } else {
            decoded(self.name(body)).cmp(decoded(other.name(body)))
        };
        names.then_with(|| decoded(self.value(body)).cmp(decoded(other.value(body))))
    }
}

/// Whether `byte` starts an escape of a form: `+` (a space) or `%XX`.
fn is_escape(byte: &u8) -> bool {
    *byte == b'%' || *byte == b'+'
}

/// The decoded signed content on its way to the HMAC, gathered into pieces
/// of up to [`Batch::SIZE`] bytes: each `update` of the HMAC costs about 100
/// instructions besides the hashing, and a form is a dozen short names and
/// values (fed one by one, with every escape's byte on its own, they cost
/// the HMAC some 1,300 instructions, 5% of its hashing).
///
/// The HMAC is only ever given whole 64-byte blocks until the end (the
/// remainder stays here): its own block buffer then stays empty, so each
/// update is one `compress` call over the blocks where they lie, where an
/// update that crossed a block boundary cost a copy into that buffer and a
/// `compress` call of its own. A long plain run (a message's `Body`) first
/// tops the batch up to a block boundary, then goes to the HMAC directly in
/// whole blocks, uncopied; only its tail is kept.
struct Batch {
    mac: HmacSha1,
    buffer: [u8; Batch::SIZE],
    len: usize,
}

impl Batch {
    /// SHA-1's block.
    const BLOCK: usize = 64;
    /// A whole number of blocks.
    const SIZE: usize = 4 * Self::BLOCK;

    fn new(mac: HmacSha1) -> Self {
        Self {
            mac,
            buffer: [0; Self::SIZE],
            len: 0,
        }
    }

    fn push(&mut self, byte: u8) {
        if self.len == Self::SIZE {
            // Full: a whole number of blocks.
            self.mac.update(&self.buffer);
            self.len = 0;
        }
        self.buffer[self.len] = byte;
        self.len += 1;
    }

    /// Bytes as they are.
    fn write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            // No `memcpy` call for nothing (the URL's unused pieces, a value
            // that starts with an escape): glibc's AVX-512 one took several
            // ns over zero bytes on the benches' AMD machine (skipping the
            // five of a Twilio verification saved 20-25 ns of its 900).
            return;
        }
        if bytes.len() <= Self::SIZE - self.len {
            self.buffer[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
            return;
        }
        self.write_past_the_end(bytes);
    }

    /// [`Batch::write`] of more than the buffer has room for: kept out of
    /// line so that the usual short write saves no registers for the HMAC
    /// updates (an inlined pair of them made every write cost ten
    /// instructions more).
    #[inline(never)]
    fn write_past_the_end(&mut self, bytes: &[u8]) {
        let room = Self::SIZE - self.len;
        // Up to the next block boundary, which the buffer has room for (its
        // size is a whole number of blocks), and `bytes` is longer than that
        // room.
        let (top_up, rest) = bytes.split_at(room % Self::BLOCK);
        self.buffer[self.len..self.len + top_up.len()].copy_from_slice(top_up);
        let gathered = self.len + top_up.len();
        if gathered > 0 {
            self.mac.update(&self.buffer[..gathered]);
        }
        let (blocks, tail) = rest.split_at(rest.len() - rest.len() % Self::BLOCK);
        if !blocks.is_empty() {
            self.mac.update(blocks);
        }
        self.buffer[..tail.len()].copy_from_slice(tail);
        self.len = tail.len();
    }

    /// A name or value of a form, decoded: the runs between escapes as they
    /// are, each escape as its byte.
    fn write_decoded(&mut self, text: &[u8]) {
        let mut rest = text;
        loop {
            // Short texts are searched a byte at a time: setting up memchr's
            // SIMD search costs more than that below a few dozen bytes.
            let plain = if rest.len() < 32 {
                rest.iter().position(is_escape)
            } else {
                memchr::memchr2(b'%', b'+', rest)
            }
            .unwrap_or(rest.len());
            self.write(&rest[..plain]);
            rest = &rest[plain..];
            if rest.is_empty() {
                return;
            }
            let (byte, used) = decode_escape(rest);
            self.push(byte);
            rest = &rest[used..];
        }
    }

    fn finalize(mut self) -> Sha1Tag {
        self.mac.update(&self.buffer[..self.len]);
        self.mac.finalize().into_bytes().into()
    }
}

/// Parameters a [`Form`] holds without allocating: Twilio's messaging
/// webhooks send about 20, its voice webhooks about 26.
const INLINE_PARAMS: usize = 32;

/// The form parameters of a body, sorted and deduplicated: see
/// [`form_params`]. Kept on the stack up to [`INLINE_PARAMS`]: a `Vec` of
/// them cost an allocation above the size glibc's per-thread cache serves
/// (1,032 bytes), on every request.
#[derive(Debug)]
pub(crate) struct Form<'a> {
    /// The body the parameters are read from.
    body: &'a [u8],
    inline: [Param; INLINE_PARAMS],
    len: usize,
    /// Every parameter instead, when there are more.
    spilled: Vec<Param>,
}

impl Default for Form<'_> {
    fn default() -> Self {
        Self {
            body: &[],
            inline: [Param::default(); INLINE_PARAMS],
            len: 0,
            spilled: Vec::new(),
        }
    }
}

impl<'a> Form<'a> {
    fn push(&mut self, param: Param) {
        if self.spilled.is_empty() && self.len < INLINE_PARAMS {
            self.inline[self.len] = param;
            self.len += 1;
            return;
        }
        if self.spilled.is_empty() {
            self.spilled.reserve(2 * INLINE_PARAMS);
            self.spilled.extend_from_slice(&self.inline);
        }
        self.spilled.push(param);
    }

    /// The parameters, in the order they are signed once [`Form::read`]
    /// has sorted them, each with its name and value.
    pub(crate) fn params(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8], &Param)> {
        let params = if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled[..]
        };
        let body = self.body;
        params
            .iter()
            .map(move |param| (param.name(body), param.value(body), param))
    }

    /// Sorts the parameters and drops the repeated ones.
    fn sort_and_dedup(&mut self) {
        let body = self.body;
        let params = if self.spilled.is_empty() {
            &mut self.inline[..self.len]
        } else {
            &mut self.spilled[..]
        };
        params.sort_unstable_by(|a, b| a.decoded_cmp(b, body));
        // `Vec::dedup_by`, on a slice: the first of equal neighbours stays.
        let mut kept = usize::from(!params.is_empty());
        for at in 1..params.len() {
            if params[at].decoded_cmp(&params[kept - 1], body) != Ordering::Equal {
                params[kept] = params[at];
                kept += 1;
            }
        }
        if self.spilled.is_empty() {
            self.len = kept;
        } else {
            self.spilled.truncate(kept);
        }
    }
}

/// The form parameters of a body sorted by decoded name then value,
/// duplicates dropped: the order and set Twilio's validator signs (`+` is a
/// space, `%XX` a byte). [`Form::read`] into a form of the caller's, without
/// moving it.
pub(crate) fn form_params(body: &[u8]) -> Form<'_> {
    let mut form = Form::default();
    form.read(body);
    form
}

impl<'a> Form<'a> {
    /// Reads the parameters of `body`, sorted and deduplicated as
    /// [`form_params`] says, in place of any read before.
    ///
    /// Each name is scanned eight bytes at a time (its end, its escapes and
    /// its sort word at once); each value is searched by memchr, 16 or 32
    /// bytes at a time, for its end or first escape, so a long `Body`
    /// without escapes is passed over once (walking it a byte at a time cost
    /// about as much as its HMAC).
    pub(crate) fn read(&mut self, body: &'a [u8]) {
        self.body = body;
        self.len = 0;
        self.spilled.clear();
        let mut start = 0;
        while start <= body.len() {
            let (at, plain_name, key) = scan_name(body, start);
            let (value_end, value_escape) = if body.get(at) == Some(&b'=') {
                let rest = &body[at + 1..];
                let (len, escape) = match memchr::memchr3(b'&', b'%', b'+', rest) {
                    Some(found) if rest[found] != b'&' => {
                        let end = memchr::memchr(b'&', &rest[found..])
                            .map_or(rest.len(), |end| found + end);
                        (end, Some(found))
                    }
                    found => (found.unwrap_or(rest.len()), None),
                };
                (at + 1 + len, escape)
            } else {
                (at, None)
            };
            // An empty pair (`&&`, a trailing `&`) is no parameter.
            if value_end > start {
                self.push(Param {
                    name_start: start,
                    name_end: at,
                    value_end,
                    key,
                    escaped_name: usize::from(!plain_name),
                    value_escape: value_escape.map_or(0, |at| at + 1),
                });
            }
            start = value_end + 1;
        }
        self.sort_and_dedup();
    }
}

/// Where the name that starts at `body[start]` ends (at its `=` or `&`, or
/// the body's end), whether it holds no escape, and its sort word (see
/// [`Param`]): eight bytes at a time, since a byte-at-a-time walk over the
/// names was a fifth of reading a form.
fn scan_name(body: &[u8], start: usize) -> (usize, bool, u64) {
    use crate::json::equal;

    let mut at = start;
    let mut plain = true;
    let mut key = 0;
    while let Some(chunk) = body.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let stops = equal(word, b'=') | equal(word, b'&');
        let escapes = equal(word, b'%') | equal(word, b'+');
        if at == start {
            key = word.swap_bytes();
        }
        if stops != 0 {
            // The lowest flag of each is exact (see `equal`): the name ends
            // at the first stop, and holds an escape if one comes before.
            let len = stops.trailing_zeros() as usize / 8;
            plain &= escapes.trailing_zeros() > stops.trailing_zeros();
            if at == start {
                // Only the name's own bytes, zero-padded; `len` is below 8.
                key &= !(u64::MAX >> (8 * len));
            }
            return (at + len, plain, key);
        }
        plain &= escapes == 0;
        at += 8;
    }
    // The body's last few bytes.
    while let Some(&byte) = body.get(at) {
        if byte == b'=' || byte == b'&' {
            break;
        }
        plain &= !is_escape(&byte);
        if at - start < 8 {
            key |= u64::from(byte) << (56 - 8 * (at - start));
        }
        at += 1;
    }
    (at, plain, key)
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
pub(crate) fn mac(key: &HmacSha1, url: &UrlPieces<'_>, form: &Form<'_>) -> Sha1Tag {
    let mut batch = Batch::new(key.clone());
    for piece in url {
        batch.write(piece.as_bytes());
    }
    for (name, value, param) in form.params() {
        if param.escaped_name == 0 {
            batch.write(name);
        } else {
            batch.write_decoded(name);
        }
        match param.value_escape.checked_sub(1) {
            None => batch.write(value),
            Some(at) => {
                batch.write(&value[..at]);
                batch.write_decoded(&value[at..]);
            }
        }
    }
    batch.finalize()
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
            .params()
            .map(|(name, value, _)| (text(name), text(value)))
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
        assert_eq!(form_params(b"").params().count(), 0);
        assert_eq!(form_params(b"&&").params().count(), 0);
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

    #[test]
    fn forms_longer_than_the_inline_ones_sign_the_same() {
        // Past `INLINE_PARAMS` the parameters move to the heap: still sorted,
        // still deduplicated, whichever side of the move the repeats are.
        let key = key(b"12345").unwrap();
        let url = "https://example.com/voice";
        for count in [
            INLINE_PARAMS - 1,
            INLINE_PARAMS,
            INLINE_PARAMS + 1,
            3 * INLINE_PARAMS,
        ] {
            let body: Vec<String> = (0..count)
                .rev()
                .map(|i| format!("P{:03}=%2B{}", i % (INLINE_PARAMS + 5), i % 3))
                .collect();
            let body = body.join("&");
            let mut expected = key.clone();
            expected.update(&signed_content_by_decoding_first(url, body.as_bytes()));
            let expected: Sha1Tag = expected.finalize().into_bytes().into();
            let form = form_params(body.as_bytes());
            assert_eq!(mac(&key, &as_given(url), &form), expected, "{count}");
            let names: Vec<&[u8]> = form.params().map(|(name, _, _)| name).collect();
            assert!(names.is_sorted(), "{count}");
        }
    }

    #[test]
    fn runs_across_block_and_batch_boundaries_sign_as_decoded() {
        // Plain runs as long as the batch and longer, starting and ending at
        // every offset of a block (the URL's length moves where they start),
        // and escapes right after them.
        let key = key(b"12345").unwrap();
        for url_len in [1, 20, 63, 64, 65, 127] {
            let url = format!("https://example.com/{}", "u".repeat(url_len));
            for run in (0..140).chain(240..330).chain([511, 512, 513, 1000]) {
                let body = format!(
                    "Body={}%21&To=%2B1{}&A={}",
                    "x".repeat(run),
                    "5".repeat(run % 70),
                    "y".repeat(run / 3)
                );
                let mut expected = key.clone();
                expected.update(&signed_content_by_decoding_first(&url, body.as_bytes()));
                let expected: Sha1Tag = expected.finalize().into_bytes().into();
                let form = form_params(body.as_bytes());
                assert_eq!(
                    mac(&key, &as_given(&url), &form),
                    expected,
                    "{url_len} {run}"
                );
            }
        }
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
            the_mac_is_the_mac_of_the_decoded_sorted_content(&form)?;
        }

        /// The same over longer names and values (separators rarer), whose
        /// names span the eight-byte words they are scanned in.
        #[test]
        fn long_names_and_values_sign_as_decoded(
            form in proptest::collection::vec(
                proptest::sample::select(b"&=%+2Bb0aFfAaaBbbCcccDdddd".to_vec()), 0..160),
        ) {
            the_mac_is_the_mac_of_the_decoded_sorted_content(&form)?;
        }
    }

    fn the_mac_is_the_mac_of_the_decoded_sorted_content(
        form: &[u8],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let key = key(b"12345").unwrap();
        let url = "https://example.com/sms";
        let mut expected = key.clone();
        expected.update(&signed_content_by_decoding_first(url, form));
        let expected: Sha1Tag = expected.finalize().into_bytes().into();
        proptest::prop_assert_eq!(mac(&key, &as_given(url), &form_params(form)), expected);
        Ok(())
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
