//! Client address policy (edge-protocol.md §4, E26–E29).
//!
//! Two addresses matter: the **requester** (who sent the request, after trusted proxies)
//! and the **client** (whom the answer is for: the requester, or `ip=` when the requester
//! may ask for someone else). Both are normalised: `::ffff:a.b.c.d` never reaches the
//! netblock or ASN look-ups, which hold IPv4 as IPv4 (E26).
//!
//! Nothing here fails a request except an honoured but unusable `ip=` (E28, E29): a broken
//! `X-Forwarded-For` falls back to the peer and is only counted.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mirrorfleet_snapshot::net::{Prefix, normalise};

use super::query::{has_control, quote};

/// The walk through `X-Forwarded-For` stops being trusted after this many elements (E27):
/// no real proxy chain is that long, and it bounds the work per request.
pub const MAX_XFF_WALK: usize = 32;

/// Which networks may speak for others (`server.trusted_proxies`,
/// `server.ip_param_networks`, E27–E28). Both default to empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyPolicy {
    /// Peers whose `X-Forwarded-For` is read, and elements skipped while walking it.
    pub trusted_proxies: Vec<Prefix>,
    /// Requesters whose `ip=` is honoured.
    pub ip_param_networks: Vec<Prefix>,
}

/// Where the client address came from (explain's `client.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The TCP peer.
    Peer,
    /// An element of `X-Forwarded-For`.
    XForwardedFor,
    /// The `ip=` parameter.
    IpParam,
}

impl Source {
    /// `peer`, `x_forwarded_for` or `ip_param`, as explain and metrics write it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Peer => "peer",
            Source::XForwardedFor => "x_forwarded_for",
            Source::IpParam => "ip_param",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to `X-Forwarded-For` or `ip=` when present (`None` in
/// [`ClientAddr`] means absent). Counted by `client_address_events_total` (E77).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrEvent {
    /// Read and used.
    Used,
    /// `X-Forwarded-For` from a peer not in `trusted_proxies`: ignored.
    UntrustedPeer,
    /// `ip=` from a requester not in `ip_param_networks`: ignored.
    NotAllowed,
    /// `X-Forwarded-For` unusable: the peer is the requester.
    Malformed,
}

impl AddrEvent {
    /// `used`, `untrusted_peer`, `not_allowed` or `malformed`, the metric label.
    pub fn as_str(&self) -> &'static str {
        match self {
            AddrEvent::Used => "used",
            AddrEvent::UntrustedPeer => "untrusted_peer",
            AddrEvent::NotAllowed => "not_allowed",
            AddrEvent::Malformed => "malformed",
        }
    }
}

impl fmt::Display for AddrEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of E26–E28 for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// Who sent the request: the peer, or the `X-Forwarded-For` element E27 picked.
    pub requester: IpAddr,
    /// Whom the answer is for: the requester, or an honoured `ip=`.
    pub client: IpAddr,
    /// Where `client` came from.
    pub source: Source,
    /// `X-Forwarded-For` outcome; `None` when the header is absent.
    pub xff_event: Option<AddrEvent>,
    /// `ip=` outcome; `None` when the parameter is absent.
    pub ip_event: Option<AddrEvent>,
}

/// An honoured `ip=` that cannot be used (E28, with E14 for control characters): HTTP 400,
/// `Display` is the spec's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Not an IPv4 or IPv6 literal; carries the first 64 characters of the value.
    #[error("error: invalid ip \"{0}\"")]
    InvalidIp(String),
    /// The value holds a byte below 0x20 or 0x7F (E14 applies once `ip` is checked).
    #[error("error: control characters are not allowed in \"ip\"")]
    ControlCharacters,
}

impl ClientError {
    /// The HTTP status of every client-address error.
    pub fn status(&self) -> u16 {
        400
    }
}

fn in_any(networks: &[Prefix], addr: IpAddr) -> bool {
    networks.iter().any(|p| p.contains(addr))
}

/// Finds requester and client (E26–E28).
///
/// `xff_values` are the raw `X-Forwarded-For` field values in the order received (empty
/// when the header is absent); `ip_param` is the decoded `ip=` value, if any (an empty
/// value counts as absent, E13). Errors only for an honoured `ip=` that is not an address.
pub fn resolve_client(
    policy: &ProxyPolicy,
    peer: IpAddr,
    xff_values: &[&[u8]],
    ip_param: Option<&str>,
) -> Result<ClientAddr, ClientError> {
    let peer = normalise(peer);
    let (requester, source, xff_event) = if xff_values.is_empty() {
        (peer, Source::Peer, None)
    } else if !in_any(&policy.trusted_proxies, peer) {
        // Anyone can send the header; only a proxy we run may tell us who is behind it.
        (peer, Source::Peer, Some(AddrEvent::UntrustedPeer))
    } else {
        match walk_forwarded_for(&policy.trusted_proxies, xff_values) {
            Some(addr) => (addr, Source::XForwardedFor, Some(AddrEvent::Used)),
            None => (peer, Source::Peer, Some(AddrEvent::Malformed)),
        }
    };

    let mut found = ClientAddr {
        requester,
        client: requester,
        source,
        xff_event,
        ip_event: None,
    };
    let Some(value) = ip_param.filter(|v| !v.is_empty()) else {
        return Ok(found);
    };
    // Checked against the requester, not the peer: behind a trusted proxy the peer is the
    // proxy, and every request would otherwise inherit its rights.
    if !in_any(&policy.ip_param_networks, requester) {
        found.ip_event = Some(AddrEvent::NotAllowed);
        return Ok(found);
    }
    if has_control(value) {
        return Err(ClientError::ControlCharacters);
    }
    let addr: IpAddr = value
        .parse()
        .map_err(|_| ClientError::InvalidIp(quote(value)))?;
    found.client = normalise(addr);
    found.source = Source::IpParam;
    found.ip_event = Some(AddrEvent::Used);
    Ok(found)
}

/// E27's walk: from the right, skip trusted elements; the first untrusted one is the
/// requester, else the leftmost. `None` when the header is malformed.
///
/// Field lines joined with `,` split exactly like each line split on its own, so the lines
/// are walked in place, without building the joined text.
fn walk_forwarded_for(trusted: &[Prefix], values: &[&[u8]]) -> Option<IpAddr> {
    let visible = |b: &u8| matches!(b, b'\t' | 0x20..=0x7E);
    if !values.iter().all(|v| v.iter().all(visible)) {
        return None;
    }
    let mut walked = 0;
    let mut leftmost = None;
    for value in values.iter().rev() {
        for element in value.rsplit(|&b| b == b',') {
            walked += 1;
            if walked > MAX_XFF_WALK {
                return None;
            }
            let addr = parse_element(trim(element))?;
            if !in_any(trusted, addr) {
                return Some(addr);
            }
            leftmost = Some(addr);
        }
    }
    leftmost
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// One element: `IPv4`, `IPv6`, `IPv4:port`, `[IPv6]` or `[IPv6]:port`. Anything else
/// (empty, zone ids, `unknown`, obfuscated identifiers of RFC 7239) is `None`.
fn parse_element(element: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(element).ok()?;
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let addr: Ipv6Addr = inside.parse().ok()?;
        if !after.is_empty() {
            parse_port(after.strip_prefix(':')?)?;
        }
        return Some(normalise(IpAddr::V6(addr)));
    }
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(normalise(addr));
    }
    // A bare IPv6 literal has already parsed above, so one `:` left means `IPv4:port`.
    let (host, port) = text.rsplit_once(':')?;
    let addr: Ipv4Addr = host.parse().ok()?;
    parse_port(port)?;
    Some(IpAddr::V4(addr))
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(text: &str) -> IpAddr {
        match text.parse() {
            Ok(addr) => addr,
            Err(_) => panic!("bad test address {text}"),
        }
    }

    fn nets(list: &[&str]) -> Vec<Prefix> {
        list.iter()
            .map(|t| match t.parse() {
                Ok(p) => p,
                Err(e) => panic!("bad test prefix {t}: {e}"),
            })
            .collect()
    }

    fn policy(trusted: &[&str], ip_param: &[&str]) -> ProxyPolicy {
        ProxyPolicy {
            trusted_proxies: nets(trusted),
            ip_param_networks: nets(ip_param),
        }
    }

    fn resolve(
        policy: &ProxyPolicy,
        peer: &str,
        xff: &[&[u8]],
        ip_param: Option<&str>,
    ) -> ClientAddr {
        match resolve_client(policy, ip(peer), xff, ip_param) {
            Ok(found) => found,
            Err(e) => panic!("refused: {e}"),
        }
    }

    /// Rule, peer, `X-Forwarded-For` lines, requester, source, event.
    type XffRow<'a> = (
        &'a str,
        &'a str,
        Vec<&'a [u8]>,
        &'a str,
        Source,
        Option<AddrEvent>,
    );

    /// The XFF rows of E26–E27: the policy trusts 10.0.0.0/8.
    #[rustfmt::skip]
    #[test]
    fn forwarded_for_rows() {
        use AddrEvent::*;
        use Source::*;
        let p = policy(&["10.0.0.0/8"], &[]);
        let forty = vec!["10.0.0.9"; 40].join(",");
        let thirty_two = format!("10.0.0.1,{}", vec!["10.0.0.9"; 31].join(","));
        let thirty_three = format!("192.0.2.1,{}", vec!["10.0.0.9"; 32].join(","));
        let rows: Vec<XffRow> = vec![
            ("E26", "::ffff:192.0.2.10", vec![], "192.0.2.10", Peer, None),
            ("E26", "::ffff:10.0.0.1", vec![b"192.0.2.7"], "192.0.2.7", XForwardedFor, Some(Used)),
            ("E27", "198.51.100.1", vec![b"203.0.113.5"], "198.51.100.1", Peer, Some(UntrustedPeer)),
            ("E27", "10.0.0.1", vec![], "10.0.0.1", Peer, None),
            ("E27", "10.0.0.1", vec![b"203.0.113.5,192.0.2.10"], "192.0.2.10", XForwardedFor, Some(Used)),
            ("E27", "10.0.0.1", vec![b"192.0.2.10, 10.0.0.7"], "192.0.2.10", XForwardedFor, Some(Used)),
            ("E27", "10.0.0.1", vec![b"[2001:db8:2000::1]:443"], "2001:db8:2000::1", XForwardedFor, Some(Used)),
            ("E27", "10.0.0.1", vec![b"203.0.113.5:80"], "203.0.113.5", XForwardedFor, Some(Used)),
            ("E27", "10.0.0.1", vec![b"[2001:db8::1]"], "2001:db8::1", XForwardedFor, Some(Used)),
            ("E27", "10.0.0.1", vec![b"2001:db8::1"], "2001:db8::1", XForwardedFor, Some(Used)),
            ("E27", "10.0.0.1", vec![b"::ffff:192.0.2.1"], "192.0.2.1", XForwardedFor, Some(Used)),
            ("E27", "10.0.0.1", vec![b" \t192.0.2.3\t "], "192.0.2.3", XForwardedFor, Some(Used)),
            // Lines joined with `,`, in order.
            ("E27", "10.0.0.1", vec![b"203.0.113.5", b"10.0.0.7"], "203.0.113.5", XForwardedFor, Some(Used)),
            ("E27", "10.0.0.1", vec![b"192.0.2.1, 203.0.113.5", b"10.0.0.7, 10.0.0.8"], "203.0.113.5", XForwardedFor, Some(Used)),
            // All trusted: the leftmost.
            ("E27", "10.0.0.1", vec![b"10.0.0.5, 10.0.0.7"], "10.0.0.5", XForwardedFor, Some(Used)),
            ("E27", "10.0.0.1", vec![thirty_two.as_bytes()], "10.0.0.1", XForwardedFor, Some(Used)),
            // Elements left of the requester are never parsed...
            ("E27", "10.0.0.1", vec![b"unknown, fe80::1%eth0, 192.0.2.9"], "192.0.2.9", XForwardedFor, Some(Used)),
            // ...but the whole header must be visible ASCII.
            ("E27", "10.0.0.1", vec![b"unknown, \xff, 192.0.2.9"], "10.0.0.1", Peer, Some(Malformed)),
            // Malformed: the peer, counted.
            ("E27", "10.0.0.1", vec![b"192.0.2.\xc3\xa9"], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![b"192.0.2.1\x00"], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![forty.as_bytes()], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![thirty_three.as_bytes()], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![b"unknown"], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![b"fe80::1%eth0"], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![b"192.0.2.1,,10.0.0.7"], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![b"192.0.2.1, "], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![b""], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![b"192.0.2.1:99999"], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![b"192.0.2.1:"], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![b"[2001:db8::1]80"], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![b"[192.0.2.1]"], "10.0.0.1", Peer, Some(Malformed)),
            ("E27", "10.0.0.1", vec![b"2001:db8::1:80:1:2:3:4:5"], "10.0.0.1", Peer, Some(Malformed)),
        ];
        for (rule, peer, xff, requester, source, event) in rows {
            let found = resolve(&p, peer, &xff, None);
            let want = ClientAddr {
                requester: ip(requester),
                client: ip(requester),
                source,
                xff_event: event,
                ip_event: None,
            };
            assert_eq!(found, want, "{rule}: peer {peer}, XFF {xff:?}");
        }
    }

    #[test]
    fn e26_peer_is_normalised() {
        let found = resolve(&ProxyPolicy::default(), "::ffff:192.0.2.10", &[], None);
        assert!(found.client.is_ipv4() && found.requester.is_ipv4());
        assert_eq!(found.client, ip("192.0.2.10"));
    }

    /// Peer, `X-Forwarded-For` lines, `ip=`, then client, source and event, or the message.
    type IpRow<'a> = (
        &'a str,
        &'a [&'a [u8]],
        &'a str,
        Result<(&'a str, Source, Option<AddrEvent>), &'a str>,
    );

    /// E28 rows: who may relocate themselves, and what an honoured value must be.
    #[rustfmt::skip]
    #[test]
    fn ip_param_rows() {
        use AddrEvent::*;
        let p = policy(&["10.0.0.0/8"], &["127.0.0.0/8", "192.0.2.0/24"]);
        let rows: Vec<IpRow> = vec![
            ("203.0.113.1", &[], "192.0.2.10", Ok(("203.0.113.1", Source::Peer, Some(NotAllowed)))),
            ("203.0.113.1", &[], "banana", Ok(("203.0.113.1", Source::Peer, Some(NotAllowed)))),
            ("127.0.0.1", &[], "192.0.2.10", Ok(("192.0.2.10", Source::IpParam, Some(Used)))),
            ("127.0.0.1", &[], "2001:db8::5", Ok(("2001:db8::5", Source::IpParam, Some(Used)))),
            ("127.0.0.1", &[], "::ffff:198.51.100.7", Ok(("198.51.100.7", Source::IpParam, Some(Used)))),
            ("127.0.0.1", &[], "", Ok(("127.0.0.1", Source::Peer, None))),
            ("127.0.0.1", &[], "banana", Err("error: invalid ip \"banana\"")),
            ("127.0.0.1", &[], "[2001:db8::1]", Err("error: invalid ip \"[2001:db8::1]\"")),
            ("127.0.0.1", &[], "192.0.2.1:80", Err("error: invalid ip \"192.0.2.1:80\"")),
            ("127.0.0.1", &[], " 192.0.2.1", Err("error: invalid ip \" 192.0.2.1\"")),
            ("127.0.0.1", &[], "192.0.2.1\n", Err("error: control characters are not allowed in \"ip\"")),
            // The requester, not the peer, decides: a trusted proxy does not lend its rights.
            ("10.0.0.1", &[b"192.0.2.50"], "203.0.113.9", Ok(("203.0.113.9", Source::IpParam, Some(Used)))),
            ("10.0.0.1", &[b"203.0.113.50"], "192.0.2.9", Ok(("203.0.113.50", Source::XForwardedFor, Some(NotAllowed)))),
        ];
        for (peer, xff, value, want) in rows {
            let got = resolve_client(&p, ip(peer), xff, Some(value));
            match (got, want) {
                (Ok(found), Ok((client, source, event))) => {
                    assert_eq!(
                        (found.client, found.source, found.ip_event),
                        (ip(client), source, event),
                        "peer {peer}, ip={value:?}"
                    );
                }
                (Err(e), Err(message)) => {
                    assert_eq!(e.to_string(), message, "peer {peer}, ip={value:?}");
                    assert_eq!(e.status(), 400);
                }
                (got, want) => panic!("peer {peer}, ip={value:?}: got {got:?}, want {want:?}"),
            }
        }
        let long = "x".repeat(100);
        let Err(e) = resolve_client(&p, ip("127.0.0.1"), &[], Some(&long)) else {
            panic!("accepted {long}");
        };
        assert_eq!(e, ClientError::InvalidIp("x".repeat(64)));
    }

    fn any_policy() -> impl Strategy<Value = ProxyPolicy> {
        prop_oneof![
            Just(policy(&["0.0.0.0/0", "::/0"], &["0.0.0.0/0", "::/0"])),
            Just(policy(&["10.0.0.0/8", "2001:db8::/32"], &["192.0.2.0/24"])),
            Just(ProxyPolicy::default()),
        ]
    }

    fn any_element() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            "[0-9a-f:.\\[\\]%, \t]{0,40}".prop_map(String::into_bytes),
            any::<std::net::Ipv4Addr>().prop_map(|a| a.to_string().into_bytes()),
            any::<std::net::Ipv6Addr>().prop_map(|a| format!("[{a}]:443").into_bytes()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// E29, E85: random header lines and `ip=` never panic, fail only through an
        /// honoured `ip=`, and never give a mapped address.
        #[test]
        fn never_panics(
            policy in any_policy(),
            peer in any::<IpAddr>(),
            lines in proptest::collection::vec(any_element(), 0..4),
            ip_param in proptest::option::of(".{0,80}"),
        ) {
            let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
            match resolve_client(&policy, peer, &lines, ip_param.as_deref()) {
                Ok(found) => {
                    for addr in [found.client, found.requester] {
                        prop_assert_eq!(addr, normalise(addr));
                    }
                }
                Err(_) => prop_assert!(ip_param.is_some_and(|v| !v.is_empty())),
            }
        }
    }
}
