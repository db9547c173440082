//! Header parsing: pure functions over header bytes, fuzzed in `fuzz/`.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{Malformed, VerifyErrorKind};

/// An HMAC-SHA256 tag.
pub(crate) type Tag = [u8; 32];

/// The value of `name` as text: absent, non-ASCII and blank values are errors.
pub(crate) fn header_str<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<&'a str, VerifyErrorKind> {
    header_text(name, headers.get(name))
}

/// Up to this many header values, [`find_headers`] compares names instead of
/// hashing them.
const SCAN_LIMIT: usize = 32;

/// The first value of each of `names`, as [`HeaderMap::get`] would return it.
///
/// `HeaderMap` hashes a name that is not a standard one with FNV, a byte at a
/// time: about 25 ns for `x-hub-signature-256`, paid again for each name a
/// scheme reads. One pass comparing the request's names (most differ in
/// length) finds them all for less in any request of up to a few dozen
/// headers; past [`SCAN_LIMIT`] values the map's index is cheaper again.
pub(crate) fn find_headers<'a, const N: usize>(
    headers: &'a HeaderMap,
    names: [&HeaderName; N],
) -> [Option<&'a HeaderValue>; N] {
    // A name asked twice would be found only in its first slot.
    debug_assert!(
        names
            .iter()
            .enumerate()
            .all(|(i, name)| !names[..i].contains(name)),
        "find_headers asked for a name twice"
    );
    // The pass walks values, so it is their number that bounds it.
    if headers.len() > SCAN_LIMIT {
        return names.map(|name| headers.get(name));
    }
    let mut found = [None; N];
    let mut missing = N;
    // The map yields a name's first value before its others, so the first
    // value seen for a name is the one `get` returns.
    for (name, value) in headers {
        let Some(slot) = names.iter().position(|wanted| *wanted == name) else {
            continue;
        };
        if found[slot].is_none() {
            found[slot] = Some(value);
            missing -= 1;
            if missing == 0 {
                break;
            }
        }
    }
    found
}

/// [`header_str`] for a value already looked up.
pub(crate) fn header_text<'a>(
    name: &HeaderName,
    value: Option<&'a HeaderValue>,
) -> Result<&'a str, VerifyErrorKind> {
    let value = value.ok_or_else(|| VerifyErrorKind::MissingHeader {
        header: name.clone(),
    })?;
    // `to_str` lets only visible ASCII, space and tab through: trimming ASCII
    // whitespace is trimming all of it.
    let text = value
        .to_str()
        .map_err(|_| malformed(name, Malformed::NotText))?
        .trim_ascii();
    if text.is_empty() {
        return Err(malformed(name, Malformed::Empty));
    }
    Ok(text)
}

pub(crate) fn malformed(header: &HeaderName, reason: Malformed) -> VerifyErrorKind {
    VerifyErrorKind::MalformedHeader {
        header: header.clone(),
        reason,
    }
}

/// A Unix timestamp in whole seconds: ASCII digits only (no sign, no fraction),
/// at most 20 of them, fitting in a `u64`.
pub(crate) fn parse_timestamp(text: impl AsRef<[u8]>) -> Option<u64> {
    let digits = text.as_ref();
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    if digits.len() < 20 {
        // Nineteen digits or fewer fit in a `u64` whatever they are: no
        // overflow checks (a Unix time in milliseconds has 13).
        // Eight digits at a time in a word (a 10-digit Unix time is one word
        // and two digits instead of ten digits one by one).
        let mut value = 0u64;
        let mut invalid = false;
        let mut words = digits.chunks_exact(8);
        for word in &mut words {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            let (eight, digits_only) = eight_digits(u64::from_le_bytes(bytes));
            invalid |= !digits_only;
            value = value.wrapping_mul(100_000_000).wrapping_add(eight);
        }
        for &byte in words.remainder() {
            let digit = byte.wrapping_sub(b'0');
            invalid |= digit > 9;
            value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        }
        return (!invalid).then_some(value);
    }
    digits.iter().try_fold(0u64, |value, &byte| {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// The value of eight ASCII decimal digits read little-endian from a word
/// (its first byte is the most significant digit), and whether all eight
/// are digits; the value is meaningless when they are not.
#[inline(always)]
fn eight_digits(word: u64) -> (u64, bool) {
    // A byte is a digit when its high half is 3 (0x30..=0x3f) and adding 6
    // keeps it there (up to 0x39); no lane carries into the next.
    let digits_only = word & splat(0xf0) == splat(0x30)
        && word.wrapping_add(splat(0x06)) & splat(0xf0) == splat(0x30);
    let lanes = word.wrapping_sub(splat(b'0'));
    // Neighbouring lanes combined in pairs, then fours, then eight: each
    // step's sums stay below its lane's width (99, 9999, 99999999).
    let pairs = lanes.wrapping_mul(10).wrapping_add(lanes >> 8) & 0x00ff_00ff_00ff_00ff;
    let fours = pairs.wrapping_mul(100).wrapping_add(pairs >> 16) & 0x0000_ffff_0000_ffff;
    let eight = fours.wrapping_mul(10_000).wrapping_add(fours >> 32) & 0xffff_ffff;
    (eight, digits_only)
}

/// An RFC 3339 date-time (`2023-07-19T14:56:51.634234626Z`, or with an
/// offset such as `+02:00`) as whole Unix seconds, the fraction dropped: the
/// form of Twitch's `Twitch-Eventsub-Message-Timestamp`. Anything else, a
/// date before 1970 among them, is `None`. At most 9 fraction digits (Twitch
/// sends nanoseconds); a leap second (`:60`) counts as the next second.
pub(crate) fn parse_rfc3339(text: impl AsRef<[u8]>) -> Option<u64> {
    let bytes = text.as_ref();
    // `YYYY-MM-DDTHH:MM:SS` is 19 bytes; then a fraction and the offset.
    if bytes.len() < 20 || bytes.len() > 40 {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |value, &byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    let punctuation = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if punctuation.iter().any(|&(at, byte)| bytes[at] != byte) || !matches!(bytes[10], b'T' | b't')
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &bytes[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let [h1, h2, m1, m2] = digits.map(|d| i64::from(d - b'0'));
            let (hours, minutes) = (h1 * 10 + h2, m1 * 10 + m2);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'+' { seconds } else { -seconds }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let local = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    u64::try_from(local - offset).ok()
}

/// Unix seconds as RFC 3339 in UTC (`2019-11-16T10:11:12Z`): the inverse of
/// [`parse_rfc3339`] for whole seconds, for the signer.
pub(crate) fn format_rfc3339(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(i64::MAX / 2);
    let seconds = unix % 86_400;
    // Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn is_leap_year(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// 64 lowercase hex digits into a tag; anything else is `None`.
///
/// Every sender emits lowercase; refusing uppercase keeps one spelling per
/// signature, so any changed byte of a signature header is refused.
///
/// Eight digits are decoded at a time in a `u64` (see [`hex_word`]): a digit
/// at a time, through a table, decoding took about 4% of a whole GitHub
/// verification at 1 KiB.
pub(crate) fn decode_hex_tag(text: impl AsRef<[u8]>) -> Option<Tag> {
    let digits: &[u8; 64] = text.as_ref().try_into().ok()?;
    let mut tag = [0u8; 32];
    let mut invalid = 0;
    for (out, chunk) in tag.chunks_exact_mut(4).zip(digits.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let (bytes, bad) = hex_word(u64::from_le_bytes(word));
        invalid |= bad;
        out.copy_from_slice(&bytes.to_le_bytes()[..4]);
    }
    // Any byte outside `0-9a-f` is refused once, at the end.
    (invalid == 0).then_some(tag)
}

/// `byte` in each of the eight bytes of a `u64`.
const fn splat(byte: u8) -> u64 {
    u64::from_le_bytes([byte; 8])
}

/// Eight hex digits, the first in the lowest byte (as `u64::from_le_bytes`
/// loads them), into the four bytes they spell, in the low 32 bits, also
/// lowest first; and a word that is nonzero when any digit is not `0-9a-f`.
fn hex_word(digits: u64) -> (u64, u64) {
    const HIGH: u64 = splat(0x80);
    // For bytes below 0x80, adding `0x80 - k` sets a byte's high bit exactly
    // when it is at least `k`, and never carries into the next byte. Bytes at
    // 0x80 or above make the word invalid, whatever these masks say.
    let at_least = |k: u8| digits.wrapping_add(splat(0x80 - k)) & HIGH;
    let digit = at_least(b'0') & !at_least(b'9' + 1);
    let letter = at_least(b'a') & !at_least(b'f' + 1);
    let invalid = (digits & HIGH) | ((digit | letter) ^ HIGH);
    // `0`-`9` are 0x30-0x39 and `a`-`f` 0x61-0x66: the low four bits are the
    // value of a digit, and one less than 10 + the value of a letter.
    let nibbles = (digits & splat(0x0f)) + (letter >> 7) * 9;
    // Each byte's value joins its successor's: high nibble first, then the
    // four 16-bit lanes close up into 32 bits.
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00ff_00ff_00ff_00ff;
    let quads = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    ((quads | (quads >> 16)) & 0xffff_ffff, invalid)
}

/// 64 hex digits in either case into a tag, for the custom scheme: senders
/// without a published scheme differ in the case they write. The tag is
/// still compared on its decoded bytes, in constant time.
pub(crate) fn decode_hex_tag_any_case(text: &str) -> Option<Tag> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut lower = [0u8; 64];
    for (out, digit) in lower.iter_mut().zip(bytes) {
        *out = digit.to_ascii_lowercase();
    }
    // Lowercased ASCII stays ASCII, so this is still text.
    std::str::from_utf8(&lower).ok().and_then(decode_hex_tag)
}

/// Standard (padded) base64 of exactly 32 bytes into a tag: 43 characters of
/// the standard alphabet then one `=`, in the canonical spelling only (the two
/// bits past the 32nd byte are zero), exactly what the `base64` crate's
/// standard engine accepts for a 32-byte value. Written out for that one
/// length, it costs a fraction of the general decoder.
pub(crate) fn decode_base64_tag(text: impl AsRef<[u8]>) -> Option<Tag> {
    decode_padded_base64(text.as_ref())
}

/// Standard (padded) base64 of exactly 20 bytes (an HMAC-SHA1 tag, Twilio's):
/// 28 characters, the last one `=`, in the canonical spelling only, as
/// [`decode_base64_tag`] (the `base64` crate's general decoder took about 4%
/// of a Twilio verification at 1 KiB).
pub(crate) fn decode_base64_sha1_tag(text: impl AsRef<[u8]>) -> Option<[u8; 20]> {
    decode_padded_base64(text.as_ref())
}

/// Standard base64 of exactly `N` bytes, `N` being two more than a multiple
/// of three (32 and 20 are): `N / 3` groups of four characters, then three
/// characters for the last two bytes (18 bits, the 2 spare ones zero) and one
/// `=`.
fn decode_padded_base64<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    const { assert!(N % 3 == 2) };
    let groups = N / 3;
    if bytes.len() != 4 * groups + 4 || bytes[4 * groups + 3] != b'=' {
        return None;
    }
    let mut tag = [0u8; N];
    let mut invalid = 0;
    for (out, group) in tag.chunks_exact_mut(3).zip(bytes.chunks_exact(4)) {
        let [a, b, c, d] = [0, 1, 2, 3].map(|i| BASE64[usize::from(group[i])]);
        invalid |= a | b | c | d;
        let word = (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(c) << 6) | u32::from(d);
        out.copy_from_slice(&word.to_be_bytes()[1..]);
    }
    let [a, b, c] = [0, 1, 2].map(|i| BASE64[usize::from(bytes[4 * groups + i])]);
    invalid |= a | b | c;
    let word = (u32::from(a) << 12) | (u32::from(b) << 6) | u32::from(c);
    if invalid & 0x80 != 0 || word & 0b11 != 0 {
        return None;
    }
    tag[N - 2] = (word >> 10) as u8;
    tag[N - 1] = (word >> 2) as u8;
    Some(tag)
}

/// The value of each character of the standard base64 alphabet, 0x80 for
/// every other byte (the padding `=` among them).
const BASE64: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [0x80u8; 256];
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// How many tags are kept without allocating; senders send one, or two
/// during a rotation.
const INLINE_TAGS: usize = 4;

/// Signatures found in a header, before any comparison.
#[derive(Debug, Default)]
pub(crate) struct Signatures {
    inline: [Tag; INLINE_TAGS],
    inline_len: usize,
    /// Tags beyond the inline ones (rare; never dropped: any valid one passes).
    spilled: Vec<Tag>,
    /// Whether any entry claimed the supported version (even if badly encoded).
    pub(crate) saw_supported: bool,
}

impl Signatures {
    /// One well-formed signature.
    pub(crate) fn of(tag: Tag) -> Self {
        let mut found = Self::default();
        found.push(Some(tag));
        found
    }

    pub(crate) fn push(&mut self, decoded: Option<Tag>) {
        self.saw_supported = true;
        if let Some(tag) = decoded {
            if self.inline_len < INLINE_TAGS {
                self.inline[self.inline_len] = tag;
                self.inline_len += 1;
            } else {
                self.spilled.push(tag);
            }
        }
    }

    fn all(&self) -> impl Iterator<Item = &Tag> {
        self.inline[..self.inline_len].iter().chain(&self.spilled)
    }

    /// Well-formed signatures of the supported version, or the precise reason
    /// there are none. Borrowed, so the tags are never copied.
    pub(crate) fn tags(&self, header: &HeaderName) -> Result<Tags<'_>, VerifyErrorKind> {
        if self.inline_len > 0 {
            Ok(Tags(self))
        } else if self.saw_supported {
            Err(malformed(header, Malformed::InvalidSignature))
        } else {
            Err(VerifyErrorKind::NoSupportedSignature {
                header: header.clone(),
            })
        }
    }
}

/// At least one well-formed signature.
#[derive(Debug)]
pub(crate) struct Tags<'a>(&'a Signatures);

impl Tags<'_> {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.0.all()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.inline_len + self.0.spilled.len()
    }
}

/// The items of a header list, separated by one ASCII byte, walked with a plain
/// loop: the lists are one or two short items, for which `str::split`'s
/// `memchr` search costs more than the search.
struct Items<'a> {
    text: &'a str,
    separator: u8,
    /// Where the next item starts; past the end when there is none.
    start: usize,
}

impl<'a> Items<'a> {
    fn new(text: &'a str, separator: u8) -> Self {
        // An ASCII separator keeps every split on a char boundary.
        debug_assert!(separator.is_ascii());
        Self {
            text,
            separator,
            start: 0,
        }
    }

    /// The usual signature item, `prefix` then `len` characters that
    /// `decode` accepts, when it comes next: taken without searching for its
    /// end (about 1% of a whole verification at 1 KiB). A tag that decodes
    /// holds no separator, so the item ends right after it exactly when the
    /// separator or the end of the list comes next.
    fn usual_tag(
        &mut self,
        prefix: &str,
        len: usize,
        decode: fn(&str) -> Option<Tag>,
    ) -> Option<Tag> {
        let rest = self.text.get(self.start..)?.strip_prefix(prefix)?;
        if rest
            .as_bytes()
            .get(len)
            .is_some_and(|&byte| byte != self.separator)
        {
            return None;
        }
        let tag = decode(rest.get(..len)?)?;
        self.start += prefix.len() + len + 1;
        Some(tag)
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.text.get(self.start..)?;
        let len = rest
            .bytes()
            .position(|byte| byte == self.separator)
            .unwrap_or(rest.len());
        self.start += len + 1;
        // The separator is ASCII, so `len` is a char boundary.
        rest.get(..len)
    }
}

/// `text.split_once(separator)`, with a plain loop (see [`Items`]).
fn split_once(text: &str, separator: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|byte| byte == separator)?;
    // The separator is ASCII, so `at` and `at + 1` are char boundaries.
    Some((text.get(..at)?, text.get(at + 1..)?))
}

/// A Standard Webhooks signature list: space-separated `<version>,<signature>`
/// entries, added to `found`. Entries of other versions (`v1a,` …) are
/// skipped; an entry that is not `<version>,…` at all is
/// [`Malformed::InvalidSyntax`].
pub(crate) fn standard_signatures(
    header: &HeaderName,
    text: &str,
    found: &mut Signatures,
) -> Result<(), VerifyErrorKind> {
    let mut entries = Items::new(text, b' ');
    loop {
        if let Some(tag) = entries.usual_tag("v1,", 44, |tag| decode_base64_tag(tag)) {
            found.push(Some(tag));
            continue;
        }
        let Some(entry) = entries.next() else {
            return Ok(());
        };
        match split_once(entry, b',') {
            _ if entry.is_empty() => {}
            Some(("v1", signature)) => found.push(decode_base64_tag(signature)),
            Some((version, _)) if !version.is_empty() => {}
            _ => return Err(malformed(header, Malformed::InvalidSyntax)),
        }
    }
}

/// How a `key=value` list of a timestamp and hex signatures is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyedList {
    /// Between two items.
    pub(crate) separator: u8,
    /// The key of the timestamp (the first one counts).
    pub(crate) timestamp: &'static str,
    /// The key of a signature, followed by `=`; as many as the sender likes.
    pub(crate) signature: &'static str,
}

/// clarife and Stripe: `t=<unix>,v1=<hex>,v1=<hex>`.
pub(crate) const T_V1: KeyedList = KeyedList {
    separator: b',',
    timestamp: "t",
    signature: "v1=",
};

/// Paddle: `ts=<unix>;h1=<hex>;h1=<hex>`.
pub(crate) const TS_H1: KeyedList = KeyedList {
    separator: b';',
    timestamp: "ts",
    signature: "h1=",
};

/// The most `v1a` (Ed25519) entries one Standard Webhooks signature list may
/// hold. Each costs a signature verification (tens of microseconds, not the
/// tens of nanoseconds of an HMAC comparison), so a longer list is refused
/// before any is checked: a sender signs with one key, or a few during a
/// rotation.
pub const MAX_ED25519_SIGNATURES: usize = 16;

/// An Ed25519 signature.
pub(crate) type Ed25519Signature = [u8; 64];

/// The `v1a,<base64>` entries of a Standard Webhooks signature list, decoded
/// (an entry that does not decode to 64 bytes is dropped, and reported by
/// `saw_supported` when no other is left). Entries of other versions are
/// skipped; the list's syntax is checked by [`standard_signatures`].
#[derive(Debug, Default)]
pub(crate) struct Ed25519Signatures {
    pub(crate) signatures: Vec<Ed25519Signature>,
    pub(crate) saw_supported: bool,
}

/// Reads the `v1a` entries of a Standard Webhooks list: at most
/// [`MAX_ED25519_SIGNATURES`] of them, else [`Malformed::TooManySignatures`]
/// before any is decoded. Linear in the length of the list.
pub(crate) fn standard_ed25519_signatures(
    header: &HeaderName,
    text: &str,
) -> Result<Ed25519Signatures, VerifyErrorKind> {
    use base64::Engine as _;
    let mut found = Ed25519Signatures::default();
    let entries = || {
        Items::new(text, b' ').filter_map(|entry| match split_once(entry, b',') {
            Some(("v1a", signature)) => Some(signature),
            _ => None,
        })
    };
    if entries().nth(MAX_ED25519_SIGNATURES).is_some() {
        return Err(malformed(header, Malformed::TooManySignatures));
    }
    for signature in entries() {
        found.saw_supported = true;
        // 64 bytes are 88 characters of padded base64.
        if signature.len() != 88 {
            continue;
        }
        let mut decoded = [0u8; 66];
        if let Ok(64) = base64::engine::general_purpose::STANDARD
            .decode_slice(signature.as_bytes(), &mut decoded)
        {
            let mut bytes = [0u8; 64];
            bytes.copy_from_slice(&decoded[..64]);
            found.signatures.push(bytes);
        }
    }
    Ok(found)
}

/// 128 lowercase hex digits into an Ed25519 signature (Discord's
/// `X-Signature-Ed25519`).
pub(crate) fn decode_hex_signature(text: impl AsRef<[u8]>) -> Option<Ed25519Signature> {
    let digits = text.as_ref();
    if digits.len() != 128 {
        return None;
    }
    let mut signature = [0u8; 64];
    for (half, out) in digits.chunks_exact(64).zip(signature.chunks_exact_mut(32)) {
        out.copy_from_slice(&decode_hex_tag(half)?);
    }
    Some(signature)
}

/// Parses a `key=value` list written as `list` says (clarife and Stripe's
/// `t=…,v1=…`, Paddle's `ts=…;h1=…`), adding its signatures to `signatures`,
/// and answers its timestamp: the value exactly as sent (Stripe and Paddle
/// sign this text) and its value. The first timestamp counts; entries with
/// other keys (`v0=`, or any `k=v` a sender adds) and empty entries are
/// skipped. An entry that is not `key=value` at all (no `=`, an empty key) is
/// [`Malformed::InvalidSyntax`]: no sender sends one.
pub(crate) fn keyed_signatures<'a>(
    header: &HeaderName,
    text: &'a str,
    list: KeyedList,
    signatures: &mut Signatures,
) -> Result<(&'a str, u64), VerifyErrorKind> {
    let mut timestamp = None;
    let mut items = Items::new(text, list.separator);
    let signature_key = list.signature.strip_suffix('=').unwrap_or(list.signature);
    loop {
        if let Some(tag) = items.usual_tag(list.signature, 64, |tag| decode_hex_tag(tag)) {
            signatures.push(Some(tag));
            continue;
        }
        let Some(item) = items.next() else {
            break;
        };
        let item = item.trim_ascii();
        // Empty items (a trailing comma, `,,`) are skipped, as the senders'
        // own libraries do: refusing them would refuse genuine deliveries.
        if item.is_empty() {
            continue;
        }
        let (key, value) = match split_once(item, b'=') {
            Some((key, value)) if !key.is_empty() => (key, value),
            _ => return Err(malformed(header, Malformed::InvalidSyntax)),
        };
        if key == list.timestamp {
            if timestamp.is_none() {
                let parsed = parse_timestamp(value)
                    .ok_or_else(|| malformed(header, Malformed::InvalidTimestamp))?;
                timestamp = Some((value, parsed));
            }
        } else if key == signature_key {
            signatures.push(decode_hex_tag(value));
        }
    }
    timestamp.ok_or_else(|| malformed(header, Malformed::MissingTimestamp))
}

/// The usual `key=value` list of `list`'s form, read straight from the
/// header's bytes: exactly one timestamp then one signature (`ts=<digits>;
/// h1=<64 hex>`, `t=<digits>,v1=<64 hex>`), answered as
/// [`keyed_signatures`] would answer it: the timestamp as sent, its value,
/// and the tag. Digits and hex digits are visible ASCII with nothing to
/// trim, so the value needs neither [`header_text`]'s check (a byte at a
/// time over some 80 bytes) nor the general walk; any other value (a
/// rotation's second signature, an extra key, spaces) is `None` and takes
/// that way.
#[inline(always)]
pub(crate) fn usual_keyed_list(value: &[u8], list: KeyedList) -> Option<(&[u8], u64, Tag)> {
    let rest = value
        .strip_prefix(list.timestamp.as_bytes())?
        .strip_prefix(b"=")?;
    let end = rest.iter().position(|&byte| byte == list.separator)?;
    let (digits, rest) = rest.split_at(end);
    let timestamp = parse_timestamp(digits)?;
    let tag = decode_hex_tag(rest[1..].strip_prefix(list.signature.as_bytes())?)?;
    Some((digits, timestamp, tag))
}

/// A single `<prefix><hex>` signature (GitHub `sha256=`, Slack `v0=`).
pub(crate) fn prefixed_hex_signature(text: &str, prefix: &str) -> Signatures {
    let mut found = Signatures::default();
    if let Some(hex) = text.strip_prefix(prefix) {
        found.push(decode_hex_tag(hex));
    }
    found
}

/// The bytes of a header value after `prefix`, for decoding a tag straight
/// from them: a value that is exactly the prefix then a tag that decodes is
/// visible ASCII with nothing to trim, so `HeaderValue::to_str` would check
/// it for nothing. A value that does not decode takes the way through
/// [`header_text`], which also says precisely what is wrong with it.
///
/// The prefix (a few bytes, or none) is compared a byte at a time, not by
/// `strip_prefix`'s `memcmp`: with the empty prefix of Dropbox and Linear,
/// glibc's AVX-512 `memcmp` of zero bytes took some 40 ns per call on the
/// benches' AMD machine, nearly all of it on its masked load (`perf
/// record`: 5% of either verification).
pub(crate) fn after_prefix<'a>(value: Option<&'a HeaderValue>, prefix: &[u8]) -> Option<&'a [u8]> {
    let (head, rest) = value?.as_bytes().split_at_checked(prefix.len())?;
    head.iter().zip(prefix).all(|(a, b)| a == b).then_some(rest)
}

/// A single base64 signature (Shopify).
pub(crate) fn base64_signature(text: &str) -> Signatures {
    let mut found = Signatures::default();
    found.push(decode_base64_tag(text));
    found
}

/// `Authorization: Bearer <token>`: the scheme name is case-insensitive.
pub(crate) fn bearer_token(text: &str) -> Option<&str> {
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn name() -> HeaderName {
        HeaderName::from_static("x-test")
    }

    fn standard(text: &str) -> Result<Signatures, VerifyErrorKind> {
        let mut found = Signatures::default();
        standard_signatures(&name(), text, &mut found).map(|()| found)
    }

    struct Timestamped {
        timestamp: u64,
        signatures: Signatures,
    }

    fn timestamped(text: &str) -> Result<Timestamped, VerifyErrorKind> {
        let mut signatures = Signatures::default();
        let (_, timestamp) = keyed_signatures(&name(), text, T_V1, &mut signatures)?;
        Ok(Timestamped {
            timestamp,
            signatures,
        })
    }

    #[test]
    fn timestamps_are_plain_digits() {
        assert_eq!(parse_timestamp("1711612800"), Some(1_711_612_800));
        assert_eq!(parse_timestamp("0"), Some(0));
        for bad in [
            "",
            "+5",
            "-5",
            "1.5",
            " 1",
            "1e3",
            "99999999999999999999999",
            "18446744073709551616",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_timestamps_read_as_unix_seconds() {
        for (text, unix) in [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2019-11-16T10:11:12.634234626Z", Some(1_573_899_072)),
            ("2019-11-16T10:11:12.634234626z", Some(1_573_899_072)),
            ("2019-11-16t10:11:12Z", Some(1_573_899_072)),
            ("2019-11-16T12:11:12+02:00", Some(1_573_899_072)),
            ("2019-11-16T08:41:12.5-01:30", Some(1_573_899_072)),
            ("2024-02-29T00:00:00Z", Some(1_709_164_800)),
            ("2016-12-31T23:59:60Z", Some(1_483_228_800)),
            ("9999-12-31T23:59:59Z", Some(253_402_300_799)),
            ("1969-12-31T23:59:59Z", None),
            ("1970-01-01T00:30:00+01:00", None),
            ("2023-02-29T00:00:00Z", None),
            ("2023-13-01T00:00:00Z", None),
            ("2023-00-01T00:00:00Z", None),
            ("2023-01-32T00:00:00Z", None),
            ("2023-01-01T24:00:00Z", None),
            ("2023-01-01T00:60:00Z", None),
            ("2023-01-01T00:00:61Z", None),
            ("2023-01-01T00:00:00", None),
            ("2023-01-01 00:00:00Z", None),
            ("2023-01-01T00:00:00.Z", None),
            ("2023-01-01T00:00:00.1234567890Z", None),
            ("2023-01-01T00:00:00+0100", None),
            ("2023-01-01T00:00:00+24:00", None),
            ("+023-01-01T00:00:00Z", None),
            ("2023-01-01T00:00:00ZZ", None),
            ("", None),
        ] {
            assert_eq!(parse_rfc3339(text), unix, "{text}");
        }
        // Every day of four years, against counting days one by one.
        let mut expected = days_from_civil(2023, 1, 1) * 86_400;
        for year in 2023..2027 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    let text = format!("{year:04}-{month:02}-{day:02}T00:00:00Z");
                    assert_eq!(parse_rfc3339(&text), u64::try_from(expected).ok(), "{text}");
                    expected += 86_400;
                }
            }
        }
        assert_eq!(days_from_civil(2023, 1, 1), 19_358);
        for unix in [
            0,
            1_573_899_072,
            1_709_164_800,
            253_402_300_799,
            951_782_400,
        ] {
            assert_eq!(parse_rfc3339(format_rfc3339(unix)), Some(unix), "{unix}");
        }
        assert_eq!(format_rfc3339(1_573_899_072), "2019-11-16T10:11:12Z");
    }

    #[test]
    fn v1a_entries_are_read_beside_v1_ones_and_bounded() {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let list = format!(
            "v1,{} v1a,{} v2,x v1a,{} v1a,short",
            b64(&[1; 32]),
            b64(&[2; 64]),
            b64(&[3; 64])
        );
        let found = standard_ed25519_signatures(&name(), &list).unwrap();
        assert_eq!(found.signatures, vec![[2; 64], [3; 64]]);
        assert!(found.saw_supported);
        // And the v1 entry is the HMAC parser's, which skips the v1a ones.
        assert_eq!(standard(&list).unwrap().tags(&name()).unwrap().len(), 1);

        let none = standard_ed25519_signatures(&name(), &format!("v1,{}", b64(&[1; 32]))).unwrap();
        assert!(!none.saw_supported && none.signatures.is_empty());

        let entry = format!("v1a,{}", b64(&[4; 64]));
        let most = vec![entry.as_str(); MAX_ED25519_SIGNATURES].join(" ");
        assert_eq!(
            standard_ed25519_signatures(&name(), &most)
                .unwrap()
                .signatures
                .len(),
            MAX_ED25519_SIGNATURES
        );
        let thousand = vec![entry.as_str(); 1000].join(" ");
        assert!(matches!(
            standard_ed25519_signatures(&name(), &thousand),
            Err(VerifyErrorKind::MalformedHeader {
                reason: Malformed::TooManySignatures,
                ..
            })
        ));
    }

    #[test]
    fn discord_signatures_are_128_lowercase_hex_digits() {
        let hex = "0a".repeat(64);
        assert_eq!(decode_hex_signature(&hex), Some([0x0a; 64]));
        assert_eq!(decode_hex_signature(hex.to_uppercase()), None);
        assert_eq!(decode_hex_signature(&hex[..126]), None);
        assert_eq!(decode_hex_signature(format!("{}zz", &hex[..126])), None);
    }

    #[test]
    fn paddle_lists_take_the_first_ts_and_every_h1() {
        let hex = "00".repeat(32);
        let mut found = Signatures::default();
        let header = format!("ts=1671552777;h1={hex};h1={hex};x=1;ts=9");
        let (text, ts) = keyed_signatures(&name(), &header, TS_H1, &mut found).unwrap();
        assert_eq!((text, ts), ("1671552777", 1_671_552_777));
        assert_eq!(found.tags(&name()).unwrap().len(), 2);
        // Commas are not Paddle's separator: one item, not key=value.
        let mut found = Signatures::default();
        assert!(keyed_signatures(&name(), &format!("ts=1,h1={hex}"), TS_H1, &mut found).is_err());
    }

    #[test]
    fn the_usual_keyed_list_reads_as_the_general_walk_reads_it() {
        let hex = "0f".repeat(32);
        let tag = decode_hex_tag(&hex).unwrap();
        for list in [TS_H1, T_V1] {
            let ts = list.timestamp;
            let (sep, sig) = (char::from(list.separator), list.signature);
            let usual = format!("{ts}=1671552777{sep}{sig}{hex}");
            assert_eq!(
                usual_keyed_list(usual.as_bytes(), list),
                Some((&b"1671552777"[..], 1_671_552_777, tag))
            );
            let mut found = Signatures::default();
            let (text, parsed) = keyed_signatures(&name(), &usual, list, &mut found).unwrap();
            assert_eq!((text, parsed), ("1671552777", 1_671_552_777));
            assert_eq!(found.all().collect::<Vec<_>>(), [&tag]);
            // Anything else is left to the general walk, which may accept it
            // (a second signature, spaces, another key) or not.
            for other in [
                format!("{usual}{sep}{sig}{hex}"),
                format!("{usual} "),
                format!(" {usual}"),
                format!("{ts}=1671552777 {sep}{sig}{hex}"),
                format!("{sig}{hex}{sep}{ts}=1671552777"),
                format!("{ts}={sep}{sig}{hex}"),
                format!("{ts}=1a{sep}{sig}{hex}"),
                format!("{ts}=1{sep}{sig}{}", hex.to_uppercase()),
                format!("{ts}=1{sep}{sig}{hex}0"),
                format!("{ts}=1{sep}x{sig}{hex}"),
                format!("{ts}=1"),
                format!("{ts}=99999999999999999999{sep}{sig}{hex}"),
            ] {
                assert_eq!(usual_keyed_list(other.as_bytes(), list), None, "{other}");
            }
        }
    }

    #[test]
    fn hex_tags_need_exactly_64_digits() {
        let hex = "ab".repeat(32);
        assert_eq!(decode_hex_tag(&hex), Some([0xab; 32]));
        assert_eq!(decode_hex_tag(hex.to_uppercase()), None);
        assert_eq!(decode_hex_tag(&hex[..63]), None);
        assert_eq!(decode_hex_tag(&hex[..62]), None);
        assert_eq!(decode_hex_tag(""), None);
        assert_eq!(decode_hex_tag(format!("{}zz", &hex[..62])), None);
    }

    /// What the `base64` crate's standard engine makes of `text` as a tag
    /// of `N` bytes.
    fn reference_base64<const N: usize>(text: &str) -> Option<[u8; N]> {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?;
        decoded.try_into().ok()
    }

    /// Lowercase hex of exactly 64 digits, digit by digit.
    fn reference_hex(text: &str) -> Option<Tag> {
        let lowercase = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if text.len() != 64 || !text.bytes().all(lowercase) {
            return None;
        }
        let mut tag = [0u8; 32];
        for (out, i) in tag.iter_mut().zip((0..64).step_by(2)) {
            *out = u8::from_str_radix(&text[i..i + 2], 16).ok()?;
        }
        Some(tag)
    }

    #[test]
    fn found_headers_are_what_get_returns_whatever_the_number_of_headers() {
        let wanted = [
            HeaderName::from_static("x-a"),
            HeaderName::from_static("x-b"),
            HeaderName::from_static("x-absent"),
        ];
        // Below and above the scan limit, so both ways of finding are checked.
        for others in [0, 5, SCAN_LIMIT + 5] {
            let mut headers = HeaderMap::new();
            for i in 0..others / 2 {
                headers.insert(
                    HeaderName::try_from(format!("x-before-{i}")).unwrap(),
                    HeaderValue::from_static("v"),
                );
            }
            headers.append("x-b", HeaderValue::from_static("b-first"));
            headers.append("x-a", HeaderValue::from_static("a-first"));
            headers.append("x-b", HeaderValue::from_static("b-second"));
            headers.insert(http::header::HOST, HeaderValue::from_static("example.com"));
            for i in 0..others - others / 2 {
                headers.insert(
                    HeaderName::try_from(format!("x-after-{i}")).unwrap(),
                    HeaderValue::from_static("v"),
                );
            }
            let found = find_headers(&headers, [&wanted[0], &wanted[1], &wanted[2]]);
            assert_eq!(
                found,
                wanted.each_ref().map(|name| headers.get(name)),
                "{others}"
            );
            assert_eq!(found[1].unwrap(), "b-first");
            assert_eq!(
                find_headers(&headers, [&http::header::HOST]),
                [headers.get("host")]
            );
        }
    }

    #[test]
    fn timestamps_read_as_str_parse_reads_them() {
        for text in [
            "0",
            "7",
            "1711612800",
            "01711612800",
            "12345678",
            "123456789",
            "1234567812345678",
            "18446744073709551615",
            "00000000000000000001",
        ] {
            assert_eq!(parse_timestamp(text), text.parse().ok(), "{text}");
        }
        // One past `u64::MAX`, in either part of the parse.
        assert_eq!(parse_timestamp("18446744073709551616"), None);
        assert_eq!(parse_timestamp("99999999999999999999"), None);
        // Any non-digit byte (header bytes may be any but a few) in any
        // position of a 10-digit timestamp, in the word read eight digits at
        // a time or after it.
        for position in 0..10 {
            for byte in (0..=u8::MAX).filter(|byte| !byte.is_ascii_digit()) {
                let mut digits = *b"1711612800";
                digits[position] = byte;
                assert_eq!(parse_timestamp(digits), None, "{digits:?}");
            }
        }
    }

    #[test]
    fn every_ascii_byte_in_every_position_decodes_as_digit_by_digit() {
        let base = "0123456789abcdef".repeat(4).into_bytes();
        for position in 0..64 {
            for byte in 0..0x80u8 {
                let mut digits = base.clone();
                digits[position] = byte;
                let text = std::str::from_utf8(&digits).unwrap();
                assert_eq!(decode_hex_tag(text), reference_hex(text), "{text:?}");
            }
        }
    }

    #[test]
    fn a_byte_with_its_high_bit_set_invalidates_its_word_wherever_it_is() {
        let digits = u64::from_le_bytes(*b"0123abcd");
        assert_eq!(hex_word(digits), (0xcdab_2301, 0));
        for shift in (0..64).step_by(8) {
            for byte in 0x80..=u64::from(u8::MAX) {
                let word = (digits & !(0xff << shift)) | (byte << shift);
                assert_ne!(hex_word(word).1, 0, "{word:#x}");
            }
        }
    }

    /// Each item followed by its separator.
    fn each_followed_by(items: &[String], separators: &[String]) -> String {
        items
            .iter()
            .zip(separators)
            .flat_map(|(item, separator)| [item.as_str(), separator.as_str()])
            .collect()
    }

    /// An entry of a Standard Webhooks signature list: a good `v1` one, a near
    /// miss of one (a character changed, removed, or replaced by two), another
    /// version, no version, or nothing.
    fn standard_entry() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::{Strategy as _, any};
        let v1 = || {
            any::<[u8; 32]>().prop_map(|tag| {
                format!(
                    "v1,{}",
                    base64::engine::general_purpose::STANDARD.encode(tag)
                )
            })
        };
        proptest::prop_oneof![
            v1(),
            (v1(), 0usize..47, "[ -~]{0,2}").prop_map(|(mut entry, at, with)| {
                entry.replace_range(at..=at, &with);
                entry
            }),
            "v1a?,[A-Za-z0-9+/=]{0,4}",
            ",[a-z]{0,3}",
            proptest::strategy::Just(String::new()),
        ]
    }

    /// An item of a `t=…,v1=…` header: a timestamp, a good `v1` signature,
    /// a near miss of one, another key, no key, or blanks.
    fn timestamped_item() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::{Strategy as _, any};
        let v1 = || {
            any::<[u8; 32]>().prop_map(|tag| {
                let hex: String = tag.iter().map(|byte| format!("{byte:02x}")).collect();
                format!("v1={hex}")
            })
        };
        proptest::prop_oneof![
            "t=[0-9]{1,11}",
            "t=[0-9a ]{0,3}",
            v1(),
            (v1(), 0usize..67, "[ -~]{0,2}").prop_map(|(mut item, at, with)| {
                item.replace_range(at..=at, &with);
                item
            }),
            "v0=[0-9a-f]{0,4}",
            "=[a-z]{0,2}",
            " {0,2}",
        ]
    }

    proptest::proptest! {
        #[test]
        fn base64_decoder_agrees_with_the_base64_crate(
            bytes in proptest::prelude::any::<[u8; 32]>(),
            at in 0usize..44,
            with in proptest::prelude::any::<u8>(),
            noise in "[A-Za-z0-9+/=]{44}",
        ) {
            let good = base64::engine::general_purpose::STANDARD.encode(bytes);
            proptest::prop_assert_eq!(decode_base64_tag(&good), Some(bytes));
            let mut changed = good.into_bytes();
            changed[at] = with;
            if let Ok(text) = std::str::from_utf8(&changed) {
                proptest::prop_assert_eq!(decode_base64_tag(text), reference_base64(text));
            }
            proptest::prop_assert_eq!(decode_base64_tag(&noise), reference_base64(&noise));
        }

        #[test]
        fn sha1_base64_decoder_agrees_with_the_base64_crate(
            bytes in proptest::prelude::any::<[u8; 20]>(),
            at in 0usize..28,
            with in proptest::prelude::any::<u8>(),
            noise in "[A-Za-z0-9+/=]{28}",
        ) {
            let good = base64::engine::general_purpose::STANDARD.encode(bytes);
            proptest::prop_assert_eq!(decode_base64_sha1_tag(&good), Some(bytes));
            let mut changed = good.into_bytes();
            changed[at] = with;
            // Bytes that are not text too: the verifier decodes the header's
            // bytes before any text check.
            let reference = std::str::from_utf8(&changed).ok().and_then(reference_base64);
            proptest::prop_assert_eq!(decode_base64_sha1_tag(&changed), reference);
            proptest::prop_assert_eq!(decode_base64_sha1_tag(&noise), reference_base64(&noise));
        }

        #[test]
        fn hex_decoder_agrees_with_a_digit_by_digit_one(
            bytes in proptest::prelude::any::<[u8; 32]>(),
            at in 0usize..64,
            with in proptest::prelude::any::<u8>(),
        ) {
            let good: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            proptest::prop_assert_eq!(decode_hex_tag(&good), Some(bytes));
            let mut changed = good.into_bytes();
            changed[at] = with;
            if let Ok(text) = std::str::from_utf8(&changed) {
                proptest::prop_assert_eq!(decode_hex_tag(text), reference_hex(text));
                let any_case = reference_hex(&text.to_ascii_lowercase());
                proptest::prop_assert_eq!(decode_hex_tag_any_case(text), any_case);
            }
        }

        #[test]
        fn timestamps_parse_as_plain_digits_into_u64(text in "[0-9]{1,21}|[0-9+ a-]{0,22}") {
            let digits = text.bytes().all(|byte| byte.is_ascii_digit());
            let expected = if digits && text.len() <= 20 { text.parse().ok() } else { None };
            proptest::prop_assert_eq!(parse_timestamp(&text), expected);
        }

        #[test]
        fn timestamped_headers_parse_as_items_split_on_commas(
            items in proptest::collection::vec(timestamped_item(), 0..5),
            separators in proptest::collection::vec(", ?| ?,|,,", 5),
        ) {
            let text = each_followed_by(&items, &separators);
            // What the parser did before it walked bytes.
            let mut expected = Signatures::default();
            let mut expected_timestamp = None;
            let mut error = None;
            for item in text.split(',').filter(|item| !item.trim_ascii().is_empty()) {
                let Some((key, value)) = item.trim_ascii().split_once('=').filter(|(key, _)| !key.is_empty()) else {
                    error = Some(Malformed::InvalidSyntax);
                    break;
                };
                match key {
                    "t" if expected_timestamp.is_none() => match parse_timestamp(value) {
                        Some(parsed) => expected_timestamp = Some((value, parsed)),
                        None => {
                            error = Some(Malformed::InvalidTimestamp);
                            break;
                        }
                    },
                    "v1" => expected.push(decode_hex_tag(value)),
                    _ => {}
                }
            }
            if error.is_none() && expected_timestamp.is_none() {
                error = Some(Malformed::MissingTimestamp);
            }
            let mut found = Signatures::default();
            match keyed_signatures(&name(), &text, T_V1, &mut found) {
                Ok(parsed) => {
                    proptest::prop_assert_eq!(error, None, "{:?}", text);
                    proptest::prop_assert_eq!(Some(parsed), expected_timestamp);
                    proptest::prop_assert_eq!(found.saw_supported, expected.saw_supported);
                    proptest::prop_assert_eq!(
                        found.all().collect::<Vec<_>>(),
                        expected.all().collect::<Vec<_>>()
                    );
                }
                Err(VerifyErrorKind::MalformedHeader { reason, .. }) => {
                    proptest::prop_assert_eq!(Some(reason), error, "{:?}", text);
                }
                Err(other) => proptest::prop_assert!(false, "{other:?}"),
            }
        }

        #[test]
        fn standard_lists_parse_as_entries_split_on_spaces(
            entries in proptest::collection::vec(standard_entry(), 0..5),
            separators in proptest::collection::vec(" {1,2}", 5),
        ) {
            let text = each_followed_by(&entries, &separators);
            let mut expected = Signatures::default();
            let mut syntax_error = false;
            for entry in text.split(' ').filter(|entry| !entry.is_empty()) {
                match entry.split_once(',') {
                    Some(("v1", signature)) => expected.push(decode_base64_tag(signature)),
                    Some((version, _)) if !version.is_empty() => {}
                    _ => syntax_error = true,
                }
            }
            let parsed = standard(&text);
            proptest::prop_assert_eq!(parsed.is_err(), syntax_error, "{:?}", text);
            if let Ok(found) = parsed {
                proptest::prop_assert_eq!(found.saw_supported, expected.saw_supported);
                proptest::prop_assert_eq!(
                    found.all().collect::<Vec<_>>(),
                    expected.all().collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn base64_tags_need_exactly_32_bytes() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(decode_base64_tag(&b64), Some([7; 32]));
        assert_eq!(decode_base64_tag(&b64[..43]), None);
        assert_eq!(decode_base64_tag(""), None);
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
        assert_eq!(decode_base64_tag(&short), None);
        // Non-canonical: the two spare bits of the last character set.
        let mut spare = b64.clone().into_bytes();
        spare[42] = b'Z';
        let spare = String::from_utf8(spare).unwrap();
        assert_eq!(reference_base64::<32>(&spare), None);
        assert_eq!(decode_base64_tag(&spare), None);
        // Padding in the middle, or missing.
        assert_eq!(decode_base64_tag(format!("{}==", &b64[..42])), None);
        assert_eq!(decode_base64_tag(format!("{}A", &b64[..43])), None);
    }

    #[test]
    fn empty_v1_never_counts_as_a_signature() {
        let found = standard("v1,").unwrap();
        assert!(found.saw_supported);
        assert_eq!(found.inline_len, 0);
        assert!(matches!(
            found.tags(&name()),
            Err(VerifyErrorKind::MalformedHeader {
                reason: Malformed::InvalidSignature,
                ..
            })
        ));
        assert!(matches!(
            standard("v1a,abc v2,xyz").unwrap().tags(&name()),
            Err(VerifyErrorKind::NoSupportedSignature { .. })
        ));
    }

    #[test]
    fn entries_that_are_not_of_the_scheme_form_are_invalid_syntax() {
        let hex = "00".repeat(32);
        for bad in [
            format!("t=5,v1={hex},garbage"),
            format!("t=5,{hex}"),
            format!("t=5,={hex}"),
            "sha256".to_owned(),
        ] {
            assert!(
                matches!(
                    timestamped(&bad),
                    Err(VerifyErrorKind::MalformedHeader {
                        reason: Malformed::InvalidSyntax,
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        // Unknown `k=v` entries (and values holding `=`), and empty entries
        // (`,,`, a trailing comma), are fine.
        for header in [
            format!("t=5,v1={hex},scheme=x=y,v0=1"),
            format!("t=5,,v1={hex}"),
            format!("t=5,v1={hex},"),
        ] {
            let parsed = timestamped(&header).unwrap();
            assert_eq!(
                parsed.signatures.tags(&name()).unwrap().len(),
                1,
                "{header}"
            );
        }

        let b64 = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
        for bad in [format!("v1,{b64} garbage"), format!(",{b64}"), b64.clone()] {
            assert!(
                matches!(
                    standard(&bad),
                    Err(VerifyErrorKind::MalformedHeader {
                        reason: Malformed::InvalidSyntax,
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        // Double spaces and unknown versions are fine.
        let found = standard(&format!("v1a,xyz  v1,{b64} ")).unwrap();
        assert_eq!(found.tags(&name()).unwrap().len(), 1);
    }

    #[test]
    fn the_custom_decoder_takes_either_case() {
        let hex = "ab09".repeat(16);
        let tag = decode_hex_tag(&hex).unwrap();
        assert_eq!(decode_hex_tag_any_case(&hex), Some(tag));
        assert_eq!(decode_hex_tag_any_case(&hex.to_uppercase()), Some(tag));
        assert_eq!(decode_hex_tag_any_case(&"aB09".repeat(16)), Some(tag));
        assert_eq!(decode_hex_tag_any_case(&hex[..62]), None);
        assert_eq!(decode_hex_tag_any_case(&format!("{}gg", &hex[..62])), None);
    }

    #[test]
    fn timestamped_header_takes_first_t_and_every_v1() {
        let hex = "00".repeat(32);
        let header = format!("t=5, v1={hex},v0=zz,v1={hex},t=9");
        let parsed = timestamped(&header).unwrap();
        assert_eq!(parsed.timestamp, 5);
        assert_eq!(parsed.signatures.tags(&name()).unwrap().len(), 2);
        assert!(matches!(
            timestamped("v1=00"),
            Err(VerifyErrorKind::MalformedHeader {
                reason: Malformed::MissingTimestamp,
                ..
            })
        ));
        assert!(matches!(
            timestamped("t=abc,v1=00"),
            Err(VerifyErrorKind::MalformedHeader {
                reason: Malformed::InvalidTimestamp,
                ..
            })
        ));
    }

    #[test]
    fn every_signature_is_kept_beyond_the_inline_ones() {
        let list: Vec<String> = (0u8..7)
            .map(|i| {
                format!(
                    "v1,{}",
                    base64::engine::general_purpose::STANDARD.encode([i; 32])
                )
            })
            .collect();
        let signatures = standard(&list.join(" ")).unwrap();
        let tags = signatures.tags(&name()).unwrap();
        assert_eq!(tags.len(), 7);
        assert_eq!(tags.iter().last(), Some(&[6u8; 32]));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
