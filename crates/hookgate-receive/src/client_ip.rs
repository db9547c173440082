//! Client addresses: CIDR ranges, per-source allow-lists, and the client
//! behind a chain of trusted proxies.
//!
//! A source with [`allow_ips`](crate::SourceBuilder::allow_ips) accepts
//! deliveries only from clients inside one of its ranges; anything else is
//! refused with 403 before the body is read. The client is the socket's peer
//! (passed by each integration in [`RequestHead::peer`](crate::RequestHead)),
//! unless that peer is one of the receiver's
//! [`trusted_proxies`](crate::ReceiverBuilder::trusted_proxies): then the
//! forwarding headers it added are read right to left, skipping further
//! trusted hops, and the first address that is not a trusted proxy is the
//! client.
//!
//! What a forwarding header says is believed only as far as trusted proxies
//! wrote it: from a peer that is not trusted, `X-Forwarded-For` and
//! `Forwarded` are ignored (anyone can send them). Both headers are read
//! (`X-Forwarded-For: 203.0.113.7, 10.0.0.2` and RFC 7239's
//! `Forwarded: for=203.0.113.7, for="[2001:db8::1]:4711"`); when both are
//! present they must name the same client, since a proxy that appends to
//! one passes the other through unchanged from whoever sent it.
//!
//! Refused (403, "the client address could not be determined") rather than
//! guessed: no peer address at all, an entry reached on the walk that is not
//! an IP address (`unknown`, an obfuscated `_node`, garbage, a quoted string
//! holding a comma), a header that is not visible ASCII, and more than
//! [`MAX_FORWARDED_HOPS`] entries walked. The walk never reads past the
//! first untrusted address, so what a client writes to the left of it
//! cannot matter.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, header};

use crate::{Rejection, RejectionKind};

/// The most forwarding entries read (right to left) to find the client:
/// more trusted hops than this is refused, so a client cannot make the
/// receiver walk a header of thousands of entries.
pub const MAX_FORWARDED_HOPS: usize = 16;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// A range of IP addresses in CIDR notation: `192.30.252.0/22`,
/// `2001:db8::/32`, or a single address (`203.0.113.7`, the same as `/32`,
/// or `/128` for IPv6).
///
/// An IPv4 address received as IPv4-mapped IPv6 (`::ffff:192.0.2.1`, what a
/// dual-stack socket reports) is matched as the IPv4 address it is.
///
/// ```
/// use hookgate_receive::Cidr;
///
/// let github: Cidr = "192.30.252.0/22".parse()?;
/// assert!(github.contains("192.30.253.1".parse()?));
/// assert!(github.contains("::ffff:192.30.255.255".parse()?));
/// assert!(!github.contains("192.30.251.255".parse()?));
/// // Bits past the prefix are a typo, not a range.
/// assert!("192.30.252.1/22".parse::<Cidr>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a CIDR range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    /// The part before `/` is not an IP address.
    #[error("{0:?} is not an IP address or CIDR range")]
    Address(String),
    /// The prefix length is not a number within the address's width.
    #[error("prefix length of {0:?} must be 0 to 32 for IPv4, 0 to 128 for IPv6")]
    Prefix(String),
    /// The address has bits set past the prefix (`192.30.252.1/22`), which
    /// is usually a typo for the network (`192.30.252.0/22`).
    #[error("{given:?} has bits set past its prefix; the range is {network}")]
    HostBits {
        /// The range as written.
        given: String,
        /// The network it would mean.
        network: Cidr,
    },
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(v4.to_bits()), 32),
        IpAddr::V6(v6) => (v6.to_bits(), 128),
    }
}

/// The mask of the first `prefix` bits of a `width`-bit address, in the low
/// `width` bits.
fn mask(prefix: u8, width: u8) -> u128 {
    let all = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    match prefix {
        0 => 0,
        // A shift by the whole width would overflow.
        p if p >= width => all,
        p => all & !(all >> p),
    }
}

impl Cidr {
    /// The range of `prefix` leading bits of `network`; fails when the prefix
    /// is wider than the address or `network` has bits set past it.
    pub fn new(network: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        let (value, width) = bits(network);
        if prefix > width {
            return Err(CidrError::Prefix(format!("{network}/{prefix}")));
        }
        if value & !mask(prefix, width) != 0 {
            let masked = Self::truncating(network, prefix);
            return Err(CidrError::HostBits {
                given: format!("{network}/{prefix}"),
                network: masked,
            });
        }
        Ok(Self { network, prefix })
    }

    fn truncating(network: IpAddr, prefix: u8) -> Self {
        let (value, width) = bits(network);
        let kept = value & mask(prefix, width);
        let network = match network {
            // `kept` has at most 32 significant bits here.
            IpAddr::V4(_) => IpAddr::from(std::net::Ipv4Addr::from_bits(kept as u32)),
            IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::from_bits(kept)),
        };
        Self { network, prefix }
    }

    /// The first address of the range.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The number of leading bits that every address of the range shares.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address is matched
    /// as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let (value, width) = bits(ip);
        let (network, network_width) = bits(self.network);
        width == network_width && value & mask(self.prefix, width) == network
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match s.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| CidrError::Address(s.to_owned()))?;
        let prefix = match prefix {
            None => bits(network).1,
            // `u8::from_str` accepts a leading `+`; a prefix is digits only.
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| CidrError::Prefix(s.to_owned()))?
            }
            Some(_) => return Err(CidrError::Prefix(s.to_owned())),
        };
        Self::new(network, prefix).map_err(|e| match e {
            CidrError::Prefix(_) => CidrError::Prefix(s.to_owned()),
            CidrError::HostBits { network, .. } => CidrError::HostBits {
                given: s.to_owned(),
                network,
            },
            other => other,
        })
    }
}

fn any_contains(ranges: &[Cidr], ip: IpAddr) -> bool {
    ranges.iter().any(|range| range.contains(ip))
}

/// A source's allow-list and the receiver's trusted proxies, attached to
/// each source that has an allow-list when the receiver is built.
#[derive(Debug, Clone)]
pub(crate) struct ClientPolicy {
    pub(crate) allow: Vec<Cidr>,
    pub(crate) trusted_proxies: Arc<[Cidr]>,
}

impl ClientPolicy {
    /// Admits the request's client, or refuses it with 403.
    pub(crate) fn admit(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<(), Rejection> {
        let client = client_address(peer, headers, &self.trusted_proxies).map_err(|why| {
            Rejection::new(
                RejectionKind::ClientNotAllowed,
                format!("the client address could not be determined: {why}"),
            )
        })?;
        if any_contains(&self.allow, client) {
            return Ok(());
        }
        Err(Rejection::new(
            RejectionKind::ClientNotAllowed,
            format!(
                "client address {} is not allowed on this webhook route",
                client.to_canonical()
            ),
        ))
    }
}

/// Why the client's address is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// The integration passed no peer address.
    NoPeer,
    /// An entry reached on the walk is not an address, or the header is not text.
    Malformed(&'static str),
    /// More than [`MAX_FORWARDED_HOPS`] trusted entries.
    TooManyHops(&'static str),
    /// `X-Forwarded-For` and `Forwarded` name different clients.
    Conflicting,
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPeer => f.write_str("the server passed no peer address"),
            Self::Malformed(header) => write!(f, "malformed {header} header"),
            Self::TooManyHops(header) => write!(
                f,
                "{header} has more than {MAX_FORWARDED_HOPS} trusted proxy entries"
            ),
            Self::Conflicting => {
                f.write_str("X-Forwarded-For and Forwarded name different clients")
            }
        }
    }
}

/// The client's address: `peer`, or, when `peer` is a trusted proxy, the
/// first untrusted address of its forwarding headers read right to left.
pub(crate) fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted_proxies: &[Cidr],
) -> Result<IpAddr, Unresolved> {
    let peer = peer.ok_or(Unresolved::NoPeer)?.to_canonical();
    if !any_contains(trusted_proxies, peer) {
        // Whatever forwarding headers an untrusted peer sent are its own words.
        return Ok(peer);
    }
    let by_xff = walk(
        peer,
        headers,
        &X_FORWARDED_FOR,
        "X-Forwarded-For",
        xff_entry,
        trusted_proxies,
    );
    let by_forwarded = walk(
        peer,
        headers,
        &header::FORWARDED,
        "Forwarded",
        forwarded_entry,
        trusted_proxies,
    );
    match (by_xff, by_forwarded) {
        (None, None) => Ok(peer),
        (Some(one), None) | (None, Some(one)) => one,
        (Some(xff), Some(forwarded)) => {
            let (xff, forwarded) = (xff?, forwarded?);
            if xff == forwarded {
                Ok(xff)
            } else {
                Err(Unresolved::Conflicting)
            }
        }
    }
}

/// Walks the entries of `name` right to left from the trusted `peer`;
/// `None` when the request has no such header.
fn walk(
    peer: IpAddr,
    headers: &HeaderMap,
    name: &HeaderName,
    display: &'static str,
    entry: fn(&str) -> Option<IpAddr>,
    trusted_proxies: &[Cidr],
) -> Option<Result<IpAddr, Unresolved>> {
    let mut lines = headers.get_all(name).iter().rev().peekable();
    lines.peek()?;
    let mut client = peer;
    let mut walked = 0;
    for line in lines {
        let Ok(line) = line.to_str() else {
            return Some(Err(Unresolved::Malformed(display)));
        };
        for item in line.rsplit(',') {
            walked += 1;
            if walked > MAX_FORWARDED_HOPS {
                return Some(Err(Unresolved::TooManyHops(display)));
            }
            let Some(ip) = entry(item.trim_matches([' ', '\t'])) else {
                return Some(Err(Unresolved::Malformed(display)));
            };
            client = ip.to_canonical();
            if !any_contains(trusted_proxies, client) {
                return Some(Ok(client));
            }
        }
    }
    // Every hop is a trusted proxy: the leftmost is as far as anyone can tell.
    Some(Ok(client))
}

/// An `X-Forwarded-For` entry: an address, with or without a port
/// (`192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`).
fn xff_entry(item: &str) -> Option<IpAddr> {
    node(item)
}

/// A node as `Forwarded`'s `for=` writes it (`192.0.2.1`, `192.0.2.1:4711`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`), or a bare IPv6 address.
fn node(item: &str) -> Option<IpAddr> {
    if let Some(rest) = item.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || port(after.strip_prefix(':')?)) {
            return None;
        }
        return v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::from);
    }
    if let Ok(ip) = item.parse::<IpAddr>() {
        return Some(ip);
    }
    let (v4, p) = item.split_once(':')?;
    if !port(p) {
        return None;
    }
    v4.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::from)
}

fn port(p: &str) -> bool {
    // Digits only: `u16::from_str` would take a leading `+`.
    p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
}

/// A `Forwarded` element's `for=` node (RFC 7239: `for=192.0.2.60;proto=http`,
/// `for="[2001:db8:cafe::17]:4711"`). An element without exactly one `for`,
/// or whose node is `unknown` or obfuscated, names no address.
fn forwarded_entry(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in element.split(';') {
        let (name, value) = pair.trim_matches([' ', '\t']).split_once('=')?;
        if !name.eq_ignore_ascii_case("for") {
            continue;
        }
        if found.is_some() {
            return None;
        }
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"')?,
            None => value,
        };
        // RFC 7239: an IPv6 node is always in brackets.
        if !value.starts_with('[') && value.contains(':') && value.matches(':').count() > 1 {
            return None;
        }
        found = Some(node(value)?);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn ranges_parse_display_and_match() {
        let github: Cidr = "192.30.252.0/22".parse().unwrap();
        assert_eq!(github.to_string(), "192.30.252.0/22");
        assert!(github.contains(ip("192.30.252.0")));
        assert!(github.contains(ip("192.30.255.255")));
        assert!(!github.contains(ip("192.30.251.255")));
        assert!(!github.contains(ip("2001:db8::1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("192.30.252.1")));
        let single: Cidr = "203.0.113.7".parse().unwrap();
        assert_eq!(single.prefix(), 32);
        assert!(single.contains(ip("203.0.113.7")));
        assert!(!single.contains(ip("203.0.113.8")));
        assert!(single.contains(ip("::ffff:203.0.113.7")));
        let everything: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(everything.contains(ip("255.255.255.255")));
        assert!(!everything.contains(ip("::1")));
        let all_v6: Cidr = "::/0".parse().unwrap();
        assert!(all_v6.contains(ip("::1")));
    }

    #[test]
    fn malformed_ranges_are_refused_naming_the_value() {
        for bad in [
            "",
            "/8",
            "192.30.252.0/",
            "192.30.252.0/33",
            "2001:db8::/129",
            "192.30.252.0/+8",
            "192.30.252.0/ 8",
            "192.30.252/22",
            "github",
            "10.0.0.0/8/8",
            "10.0.0.0/0008",
        ] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert!(
                err.to_string().contains(&format!("{bad:?}")),
                "{bad}: {err}"
            );
        }
        let err = "192.30.252.1/22".parse::<Cidr>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"192.30.252.1/22\" has bits set past its prefix; the range is 192.30.252.0/22"
        );
    }

    #[test]
    fn an_untrusted_peers_forwarding_headers_are_ignored() {
        let spoofed = headers(&[
            ("x-forwarded-for", "192.30.252.1"),
            ("forwarded", "for=192.30.252.1"),
        ]);
        let trusted = cidrs(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(Some(ip("198.51.100.9")), &spoofed, &trusted),
            Ok(ip("198.51.100.9"))
        );
        // No trusted proxies at all: the peer, always.
        assert_eq!(
            client_address(Some(ip("198.51.100.9")), &spoofed, &[]),
            Ok(ip("198.51.100.9"))
        );
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_walked_right_to_left() {
        let trusted = cidrs(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        // The client wrote a first entry of its own; proxies appended theirs.
        let chain = headers(&[
            ("x-forwarded-for", "192.30.252.1, 203.0.113.7"),
            ("x-forwarded-for", "10.1.1.1"),
        ]);
        assert_eq!(
            client_address(Some(ip("10.2.2.2")), &chain, &trusted),
            Ok(ip("203.0.113.7"))
        );
        let forwarded = headers(&[(
            "forwarded",
            "for=192.30.252.1, for=\"[2001:db8::7]:4711\";proto=https, For=\"[2001:db8:ffff::1]\"",
        )]);
        assert_eq!(
            client_address(Some(ip("::ffff:10.2.2.2")), &forwarded, &trusted),
            Ok(ip("2001:db8::7"))
        );
        // A trusted peer with no forwarding header is the client itself.
        assert_eq!(
            client_address(Some(ip("10.2.2.2")), &HeaderMap::new(), &trusted),
            Ok(ip("10.2.2.2"))
        );
        // Every hop trusted: the leftmost.
        let internal = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(
            client_address(Some(ip("10.2.2.2")), &internal, &trusted),
            Ok(ip("10.9.9.9"))
        );
        // Ports, brackets and IPv4-mapped addresses in X-Forwarded-For.
        let ported = headers(&[(
            "x-forwarded-for",
            "[2001:db8::9]:443,::ffff:10.1.1.1, 10.3.3.3:80",
        )]);
        assert_eq!(
            client_address(Some(ip("10.2.2.2")), &ported, &trusted),
            Ok(ip("2001:db8::9"))
        );
    }

    #[test]
    fn what_cannot_be_read_is_refused_not_guessed() {
        let trusted = cidrs(&["10.0.0.0/8"]);
        let peer = Some(ip("10.0.0.1"));
        assert_eq!(
            client_address(None, &HeaderMap::new(), &trusted),
            Err(Unresolved::NoPeer)
        );
        for bad in [
            "unknown",
            "",
            "203.0.113.7 10.1.1.1",
            "203.0.113.7:99999",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "203.0.113.7:",
            "not-an-address",
        ] {
            assert_eq!(
                client_address(peer, &headers(&[("x-forwarded-for", bad)]), &trusted),
                Err(Unresolved::Malformed("X-Forwarded-For")),
                "{bad:?}"
            );
        }
        for bad in [
            "for=unknown",
            "for=_hidden",
            "proto=https",
            "for=203.0.113.7;for=203.0.113.8",
            "for=\"203.0.113.7",
            "for=2001:db8::1",
            "for=\"a,b\"",
            "garbage",
        ] {
            assert_eq!(
                client_address(peer, &headers(&[("forwarded", bad)]), &trusted),
                Err(Unresolved::Malformed("Forwarded")),
                "{bad:?}"
            );
        }
        // Garbage left of the first untrusted entry is never read.
        let tolerated = headers(&[("x-forwarded-for", "garbage, unknown, 203.0.113.7")]);
        assert_eq!(
            client_address(peer, &tolerated, &trusted),
            Ok(ip("203.0.113.7"))
        );
        let mut opaque = HeaderMap::new();
        opaque.insert(
            X_FORWARDED_FOR,
            http::HeaderValue::from_bytes(b"203.0.113.7\xff").unwrap(),
        );
        assert_eq!(
            client_address(peer, &opaque, &trusted),
            Err(Unresolved::Malformed("X-Forwarded-For"))
        );
    }

    #[test]
    fn the_walk_is_bounded_and_the_two_headers_must_agree() {
        let trusted = cidrs(&["10.0.0.0/8"]);
        let peer = Some(ip("10.0.0.1"));
        let hops = vec!["10.1.1.1"; MAX_FORWARDED_HOPS].join(",");
        assert_eq!(
            client_address(peer, &headers(&[("x-forwarded-for", &hops)]), &trusted),
            Ok(ip("10.1.1.1"))
        );
        let too_many = format!("203.0.113.7,{hops}");
        assert_eq!(
            client_address(peer, &headers(&[("x-forwarded-for", &too_many)]), &trusted),
            Err(Unresolved::TooManyHops("X-Forwarded-For"))
        );
        // The same bound across header lines.
        let mut lines = HeaderMap::new();
        for _ in 0..=MAX_FORWARDED_HOPS {
            lines.append(X_FORWARDED_FOR, "10.1.1.1".parse().unwrap());
        }
        assert_eq!(
            client_address(peer, &lines, &trusted),
            Err(Unresolved::TooManyHops("X-Forwarded-For"))
        );

        let agree = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=203.0.113.7"),
        ]);
        assert_eq!(
            client_address(peer, &agree, &trusted),
            Ok(ip("203.0.113.7"))
        );
        // A proxy appends to one; whoever sent the request wrote the other.
        let disagree = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=192.30.252.1"),
        ]);
        assert_eq!(
            client_address(peer, &disagree, &trusted),
            Err(Unresolved::Conflicting)
        );
    }

    #[test]
    fn the_policy_refuses_with_403_naming_the_address() {
        let policy = ClientPolicy {
            allow: cidrs(&["192.30.252.0/22", "2001:db8::/32"]),
            trusted_proxies: cidrs(&["10.0.0.0/8"]).into(),
        };
        assert!(
            policy
                .admit(Some(ip("192.30.252.9")), &HeaderMap::new())
                .is_ok()
        );
        assert!(
            policy
                .admit(Some(ip("2001:db8::5")), &HeaderMap::new())
                .is_ok()
        );
        let refused = policy
            .admit(Some(ip("::ffff:198.51.100.9")), &HeaderMap::new())
            .unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::ClientNotAllowed);
        assert_eq!(refused.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(
            refused.body_text(),
            "client address 198.51.100.9 is not allowed on this webhook route"
        );
        let unknown = policy.admit(None, &HeaderMap::new()).unwrap_err();
        assert_eq!(
            unknown.body_text(),
            "the client address could not be determined: the server passed no peer address"
        );
        let forwarded = headers(&[("x-forwarded-for", "192.30.252.9")]);
        assert!(policy.admit(Some(ip("10.0.0.1")), &forwarded).is_ok());
        assert!(policy.admit(Some(ip("198.51.100.9")), &forwarded).is_err());
    }

    /// Through the receiver: a refused client's body is never read and
    /// nothing is queued; an allowed one, behind a trusted proxy, is queued.
    #[tokio::test]
    async fn a_refused_client_is_answered_403_before_its_body_is_read() {
        use crate::{Decision, ProblemJson, Receiver, RequestHead, Source};
        use bytes::Bytes;
        use futures_util::StreamExt;
        use hookgate_verify::{Scheme, Verifier};

        let queue = std::sync::Arc::new(hookgate_queue::MemoryQueue::new());
        let receiver = Receiver::builder()
            .queue(queue.clone())
            .trusted_proxies(cidrs(&["10.0.0.0/8"]))
            .source(
                Source::builder(
                    "clarity",
                    "/hooks/clarity",
                    Verifier::new(Scheme::Clarity, "route-token").unwrap(),
                )
                .allow_ips(cidrs(&["192.30.252.0/22"]))
                .build()
                .unwrap(),
            )
            .build()
            .unwrap();
        let spoofed = headers(&[
            ("x-clarity-webhook-token", "route-token"),
            ("x-forwarded-for", "192.30.252.1"),
        ]);
        let head = |peer: &str, headers| RequestHead {
            method: &http::Method::POST,
            query: None,
            headers,
            peer: Some(ip(peer)),
        };
        let unread = futures_util::stream::once(async { panic!("the body was read") })
            .map(|b: Bytes| Ok::<_, std::io::Error>(b));
        let reception = receiver.start("/hooks/clarity").unwrap();
        let Decision::Respond(res) = reception
            .receive(head("198.51.100.9", &spoofed), unread, &ProblemJson)
            .await
        else {
            panic!("a refusal");
        };
        assert_eq!(res.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(res.headers()[header::CONTENT_TYPE], crate::PROBLEM_JSON);
        assert_eq!(
            hookgate_queue::Queue::stats(&*queue).await.unwrap().depth(),
            0
        );

        // The same headers from the trusted proxy: the forwarded client is allowed.
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"{}"))]);
        let reception = receiver.start("/hooks/clarity").unwrap();
        let Decision::Respond(res) = reception
            .receive(head("10.0.0.1", &spoofed), body, &ProblemJson)
            .await
        else {
            panic!("an acknowledgement");
        };
        assert_eq!(res.status(), http::StatusCode::OK);
        assert_eq!(
            hookgate_queue::Queue::stats(&*queue).await.unwrap().depth(),
            1
        );

        // `complete`, for integrations that read the body themselves, checks too.
        let reception = receiver.start("/hooks/clarity").unwrap();
        let refused = reception
            .complete(head("198.51.100.9", &spoofed), Bytes::from_static(b"{}"))
            .await
            .unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::ClientNotAllowed);
    }

    #[test]
    fn an_empty_allow_list_is_a_configuration_error() {
        use hookgate_verify::{Scheme, Verifier};
        let err = crate::Source::builder(
            "a",
            "/a",
            Verifier::new(Scheme::Clarity, "route-token").unwrap(),
        )
        .allow_ips([])
        .build()
        .unwrap_err();
        assert_eq!(err.to_string(), "source \"a\" has an empty allow_ips list");
    }

    /// Whether the first `prefix` bits of `a` and `b` agree, bit by bit.
    fn same_leading_bits(a: u128, b: u128, width: u8, prefix: u8) -> bool {
        (0..prefix).all(|i| {
            let shift = width - 1 - i;
            (a >> shift) & 1 == (b >> shift) & 1
        })
    }

    proptest! {
        #[test]
        fn v4_matching_is_the_comparison_of_leading_bits(net in any::<u32>(), probe in any::<u32>(), prefix in 0u8..=32) {
            let range = Cidr::truncating(IpAddr::from(std::net::Ipv4Addr::from_bits(net)), prefix);
            let expected = same_leading_bits(u128::from(net), u128::from(probe), 32, prefix);
            let probe_bits = probe;
            let probe = IpAddr::from(std::net::Ipv4Addr::from_bits(probe));
            prop_assert_eq!(range.contains(probe), expected);
            // The IPv4-mapped form of the same address matches the same way.
            let mapped = IpAddr::from(std::net::Ipv4Addr::from_bits(probe_bits).to_ipv6_mapped());
            prop_assert_eq!(range.contains(mapped), expected);
            // Display and parse round-trip.
            prop_assert_eq!(range.to_string().parse::<Cidr>(), Ok(range));
        }

        #[test]
        fn v6_matching_is_the_comparison_of_leading_bits(net in any::<u128>(), probe in any::<u128>(), prefix in 0u8..=128, shared in 0u8..=128) {
            // Half of the probes share `shared` leading bits with the network,
            // so matches are as frequent as misses.
            let probe = if shared > 64 {
                let keep = mask(shared, 128);
                (net & keep) | (probe & !keep)
            } else {
                probe
            };
            let range = Cidr::truncating(IpAddr::from(std::net::Ipv6Addr::from_bits(net)), prefix);
            let address = IpAddr::from(std::net::Ipv6Addr::from_bits(probe));
            let expected = same_leading_bits(net, probe, 128, prefix)
                // An IPv4-mapped probe is matched as IPv4, never by a v6 range.
                && address.to_canonical() == address;
            prop_assert_eq!(range.contains(address), expected);
            prop_assert_eq!(range.to_string().parse::<Cidr>(), Ok(range));
        }

        #[test]
        fn every_network_with_host_bits_is_refused(net in any::<u32>(), prefix in 0u8..32) {
            let host_bits = u128::from(net) & !mask(prefix, 32) != 0;
            let written = format!("{}/{prefix}", std::net::Ipv4Addr::from_bits(net));
            prop_assert_eq!(written.parse::<Cidr>().is_err(), host_bits);
        }

        #[test]
        fn no_forwarding_header_panics_or_escapes_the_bound(value in "[ -~]{0,200}", peer_trusted in any::<bool>()) {
            let trusted = cidrs(&["10.0.0.0/8"]);
            let peer = if peer_trusted { ip("10.0.0.1") } else { ip("198.51.100.1") };
            for name in ["x-forwarded-for", "forwarded"] {
                let mut map = HeaderMap::new();
                if let Ok(v) = http::HeaderValue::from_str(&value) {
                    map.insert(HeaderName::from_static(name), v);
                }
                let result = client_address(Some(peer), &map, &trusted);
                if !peer_trusted {
                    prop_assert_eq!(result, Ok(peer));
                }
            }
        }
    }
}
