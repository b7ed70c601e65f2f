//! IP prefixes: the one place that parses and canonicalises CIDRs.
//!
//! The snapshot stores every network as a [`Prefix`]: an address (IPv4 kept as
//! its four bytes in an IPv4 prefix) and a length, host bits always zero.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A canonical IP network: host bits are zero, the length fits the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

/// Why a text is not a prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// Not `address/length` with a valid address and length.
    #[error("\"{0}\" is not an IP network")]
    Syntax(String),
    /// Valid, but the host bits are not zero.
    #[error("\"{text}\" has host bits set; did you mean \"{canonical}\"?")]
    HostBits {
        /// What was given.
        text: String,
        /// The network it lies in.
        canonical: Prefix,
    },
}

#[allow(clippy::len_without_is_empty)] // a prefix length, not a container size
impl Prefix {
    /// A prefix from an address and length; `None` when the length is too long or
    /// host bits are set.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        let p = Prefix::truncate(addr, len)?;
        (p.addr == normalise(addr)).then_some(p)
    }

    /// The network of `len` bits containing `addr` (host bits cleared).
    pub fn truncate(addr: IpAddr, len: u8) -> Option<Prefix> {
        match normalise(addr) {
            IpAddr::V4(a) if len <= 32 => {
                let bits = u32::from(a) & mask32(len);
                Some(Prefix {
                    addr: IpAddr::V4(Ipv4Addr::from(bits)),
                    len,
                })
            }
            IpAddr::V6(a) if len <= 128 => {
                let bits = u128::from(a) & mask128(len);
                Some(Prefix {
                    addr: IpAddr::V6(Ipv6Addr::from(bits)),
                    len,
                })
            }
            _ => None,
        }
    }

    /// The host prefix (/32 or /128) of one address.
    pub fn host(addr: IpAddr) -> Prefix {
        let addr = normalise(addr);
        let len = if addr.is_ipv4() { 32 } else { 128 };
        Prefix { addr, len }
    }

    /// Network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for `0.0.0.0/0` and `::/0`.
    pub fn is_default_route(&self) -> bool {
        self.len == 0
    }

    /// True when `ip` lies inside this network (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, normalise(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask32(self.len) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask128(self.len) == u128::from(n),
            _ => false,
        }
    }

    /// The address as 16 bytes (IPv4 as `::ffff:a.b.c.d`) and an IPv4 flag, the stored form.
    pub fn to_raw(&self) -> ([u8; 16], u8, bool) {
        match self.addr {
            IpAddr::V4(a) => (a.to_ipv6_mapped().octets(), self.len, true),
            IpAddr::V6(a) => (a.octets(), self.len, false),
        }
    }

    /// The inverse of [`Prefix::to_raw`]; `None` when it is not canonical.
    pub fn from_raw(bytes: [u8; 16], len: u8, v4: bool) -> Option<Prefix> {
        let v6 = Ipv6Addr::from(bytes);
        let addr = if v4 {
            IpAddr::V4(v6.to_ipv4_mapped()?)
        } else {
            IpAddr::V6(v6)
        };
        if !v4 && v6.to_ipv4_mapped().is_some() {
            return None;
        }
        Prefix::new(addr, len)
    }

    /// Parses `a.b.c.d/n`, `x::/n`, a bare address (a host prefix) or
    /// `a.b.c.d/255.255.0.0`. Host bits must be zero.
    pub fn parse_lenient(text: &str) -> Result<Prefix, PrefixError> {
        let syntax = || PrefixError::Syntax(text.to_string());
        let (addr, len) = match text.split_once('/') {
            None => {
                let addr: IpAddr = text.parse().map_err(|_| syntax())?;
                return Ok(Prefix::host(addr));
            }
            Some((a, l)) => {
                let addr: IpAddr = a.parse().map_err(|_| syntax())?;
                let len = if let Ok(mask) = l.parse::<Ipv4Addr>() {
                    if !addr.is_ipv4() {
                        return Err(syntax());
                    }
                    let m = u32::from(mask);
                    if m.leading_ones() + m.trailing_zeros() != 32 {
                        return Err(syntax());
                    }
                    m.leading_ones() as u8
                } else {
                    if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(syntax());
                    }
                    l.parse::<u8>().map_err(|_| syntax())?
                };
                (addr, len)
            }
        };
        let canonical = Prefix::truncate(addr, len).ok_or_else(syntax)?;
        if canonical.addr != normalise(addr) {
            return Err(PrefixError::HostBits {
                text: text.to_string(),
                canonical,
            });
        }
        Ok(canonical)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// Strict CIDR: `address/length`, host bits zero.
    fn from_str(text: &str) -> Result<Prefix, PrefixError> {
        if !text.contains('/') || text.split_once('/').is_some_and(|(_, l)| l.contains('.')) {
            return Err(PrefixError::Syntax(text.to_string()));
        }
        Prefix::parse_lenient(text)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// `::ffff:a.b.c.d` becomes `a.b.c.d`; everything else is unchanged.
pub fn normalise(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => addr,
        },
        v4 => v4,
    }
}

/// The netmask of an IPv4 prefix length (0..=32).
pub fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

/// The netmask of an IPv6 prefix length (0..=128).
pub fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            "192.0.2.0/24".parse::<Prefix>().unwrap().to_string(),
            "192.0.2.0/24"
        );
        assert_eq!(
            "2001:DB8::/32".parse::<Prefix>().unwrap().to_string(),
            "2001:db8::/32"
        );
        let err = "198.51.100.7/24".parse::<Prefix>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"198.51.100.7/24\" has host bits set; did you mean \"198.51.100.0/24\"?"
        );
        assert!("300.1.1.1/8".parse::<Prefix>().is_err());
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        assert!("10.0.0.0".parse::<Prefix>().is_err());
        assert_eq!(
            Prefix::parse_lenient("10.1.0.0/255.255.0.0")
                .unwrap()
                .to_string(),
            "10.1.0.0/16"
        );
        assert_eq!(
            Prefix::parse_lenient("10.1.2.3").unwrap().to_string(),
            "10.1.2.3/32"
        );
        assert!(Prefix::parse_lenient("10.1.0.0/255.0.255.0").is_err());
    }

    #[test]
    fn raw_round_trip_and_contains() {
        for t in ["0.0.0.0/0", "192.0.2.0/24", "::/0", "2001:db8:1000::/36"] {
            let p: Prefix = t.parse().unwrap();
            let (b, l, v4) = p.to_raw();
            assert_eq!(Prefix::from_raw(b, l, v4), Some(p));
        }
        let p: Prefix = "192.0.2.0/24".parse().unwrap();
        assert!(p.contains("192.0.2.200".parse().unwrap()));
        assert!(p.contains("::ffff:192.0.2.1".parse().unwrap()));
        assert!(!p.contains("192.0.3.1".parse().unwrap()));
        assert!(!p.contains("2001:db8::1".parse().unwrap()));
    }
}
