//! Who may log in: ctld's `initiator-name` and `initiator-portal` lists of an auth-group,
//! checked against the initiator's name and the address its connection comes from.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An `initiator-portal` entry: an address and how many leading bits of it must match.
/// `prefix` equal to the address length (32 or 128) admits that one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InitiatorNetwork {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// Why an `initiator-portal` value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkError {
    /// Not an IPv4 or IPv6 address.
    Address,
    /// Not a number, or longer than the address.
    Prefix,
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkError::Address => write!(f, "not an IP address"),
            NetworkError::Prefix => write!(f, "prefix length out of range"),
        }
    }
}

impl std::error::Error for NetworkError {}

/// An address as an initiator reaches us over a dual-stack socket: `::ffff:a.b.c.d` is the
/// IPv4 host a.b.c.d, so it is compared as one.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn width(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// Whether the first `bits` bits of `a` and `b` are equal.
fn leading_bits_equal(a: &[u8], b: &[u8], bits: u8) -> bool {
    let whole = usize::from(bits / 8);
    let rest = bits % 8;
    if a.get(..whole) != b.get(..whole) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (a.get(whole), b.get(whole)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

impl InitiatorNetwork {
    /// A network of `prefix` bits; `None` if the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        (prefix <= width(addr)).then_some(Self { addr, prefix })
    }

    /// Exactly one address.
    pub fn host(addr: IpAddr) -> Self {
        Self {
            addr,
            prefix: width(addr),
        }
    }

    /// Whether a connection from `from` is inside this network. IPv4-mapped IPv6 addresses,
    /// on either side, are compared as the IPv4 addresses they carry; an IPv4 network never
    /// admits a native IPv6 address or the reverse. A prefix longer than the address (the
    /// fields are public) counts as the whole address, so it can only narrow, never widen.
    pub fn matches(&self, from: IpAddr) -> bool {
        let (net, prefix) = match self.addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                // ::ffff:0:0/96 is the IPv4 space; the remaining bits are the IPv4 prefix.
                Some(v4) => (IpAddr::V4(v4), self.prefix.saturating_sub(96)),
                None => (self.addr, self.prefix),
            },
            v4 => (v4, self.prefix),
        };
        let prefix = prefix.min(width(net));
        match (net, canonical(from)) {
            (IpAddr::V4(n), IpAddr::V4(f)) => leading_bits_equal(&n.octets(), &f.octets(), prefix),
            (IpAddr::V6(n), IpAddr::V6(f)) => leading_bits_equal(&n.octets(), &f.octets(), prefix),
            _ => false,
        }
    }
}

/// ctl.conf's `initiator-portal` syntax: `addr[/prefix]`, an IPv6 address optionally in
/// brackets (`[2001:db8::]/32`).
impl FromStr for InitiatorNetwork {
    type Err = NetworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let addr: IpAddr = addr.parse().map_err(|_| NetworkError::Address)?;
        match prefix {
            None => Ok(Self::host(addr)),
            Some(p) => {
                // Digits only: u8::from_str would also take "+8".
                if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(NetworkError::Prefix);
                }
                let p: u8 = p.parse().map_err(|_| NetworkError::Prefix)?;
                Self::new(addr, p).ok_or(NetworkError::Prefix)
            }
        }
    }
}

impl fmt::Display for InitiatorNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V6(v6) => write!(f, "[{v6}]/{}", self.prefix),
            IpAddr::V4(v4) => write!(f, "{v4}/{}", self.prefix),
        }
    }
}

/// `initiator-name`: an empty list admits every initiator. iSCSI names are compared without
/// regard to case (RFC 7143 §4.2.7.1 has them normalised to lower case).
pub fn initiator_name_allowed(allowed: &[String], initiator: &str) -> bool {
    allowed.is_empty() || allowed.iter().any(|a| a.eq_ignore_ascii_case(initiator))
}

/// `initiator-portal`: an empty list admits every address.
pub fn initiator_portal_allowed(allowed: &[InitiatorNetwork], from: IpAddr) -> bool {
    allowed.is_empty() || allowed.iter().any(|n| n.matches(from))
}

/// Whether two addresses are the same host, seeing IPv4-mapped IPv6 as IPv4 (for selecting
/// sessions by initiator address).
pub fn same_host(a: IpAddr, b: IpAddr) -> bool {
    canonical(a) == canonical(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> InitiatorNetwork {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_exact_and_prefix() {
        let host = net("192.0.2.10");
        assert_eq!(host.prefix, 32);
        assert!(host.matches(ip("192.0.2.10")));
        assert!(!host.matches(ip("192.0.2.11")));

        let lan = net("192.0.2.0/24");
        assert!(lan.matches(ip("192.0.2.200")));
        assert!(!lan.matches(ip("192.0.3.1")));

        // A prefix that is not a multiple of 8.
        let odd = net("10.0.0.0/9");
        assert!(odd.matches(ip("10.127.255.255")));
        assert!(!odd.matches(ip("10.128.0.0")));

        let any = net("0.0.0.0/0");
        assert!(any.matches(ip("203.0.113.7")));
        // Even /0 of IPv4 does not admit native IPv6.
        assert!(!any.matches(ip("2001:db8::1")));
    }

    #[test]
    fn ipv6_exact_and_prefix() {
        let host = net("[2001:db8::1]");
        assert_eq!(host.prefix, 128);
        assert!(host.matches(ip("2001:db8::1")));
        assert!(!host.matches(ip("2001:db8::2")));

        let site = net("2001:db8:1::/48");
        assert!(site.matches(ip("2001:db8:1:ffff::1")));
        assert!(!site.matches(ip("2001:db8:2::1")));
        assert!(!site.matches(ip("192.0.2.1")));

        let odd = net("[2001:db8::]/33");
        assert!(odd.matches(ip("2001:db8:7fff::1")));
        assert!(!odd.matches(ip("2001:db8:8000::1")));
    }

    #[test]
    fn ipv4_mapped_addresses_compare_as_ipv4() {
        let lan = net("192.0.2.0/24");
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 9).to_ipv6_mapped());
        assert!(lan.matches(mapped));
        let outside = IpAddr::V6(Ipv4Addr::new(198, 51, 100, 9).to_ipv6_mapped());
        assert!(!lan.matches(outside));
        // A network written in mapped form covers the IPv4 addresses.
        let mapped_net = net("[::ffff:192.0.2.0]/120");
        assert!(mapped_net.matches(ip("192.0.2.77")));
        assert!(!mapped_net.matches(ip("192.0.3.77")));
        assert!(same_host(ip("192.0.2.1"), ip("::ffff:192.0.2.1")));
        assert!(!same_host(ip("192.0.2.1"), ip("::1")));
    }

    #[test]
    fn oversized_prefix_in_a_hand_built_value_is_exact() {
        let n = InitiatorNetwork {
            addr: ip("192.0.2.1"),
            prefix: 200,
        };
        assert!(n.matches(ip("192.0.2.1")));
        assert!(!n.matches(ip("192.0.2.2")));
    }

    #[test]
    fn rejected_syntax() {
        for bad in [
            "",
            "192.0.2.1/",
            "192.0.2.1/33",
            "2001:db8::/129",
            "192.0.2.1/+8",
            "192.0.2.1/-1",
            "192.0.2.1/x",
            "host.example",
            "[192.0.2.1",
            "192.0.2.1:3260",
        ] {
            assert!(bad.parse::<InitiatorNetwork>().is_err(), "{bad}");
        }
        assert_eq!(
            "192.0.2.1/33".parse::<InitiatorNetwork>(),
            Err(NetworkError::Prefix)
        );
        assert_eq!(
            "nope".parse::<InitiatorNetwork>(),
            Err(NetworkError::Address)
        );
        assert_eq!(InitiatorNetwork::new(ip("::1"), 129), None);
    }

    #[test]
    fn display_round_trips() {
        for s in ["192.0.2.0/24", "[2001:db8::]/32"] {
            assert_eq!(net(s).to_string(), s);
            assert_eq!(net(&net(s).to_string()), net(s));
        }
    }

    #[test]
    fn name_lists() {
        assert!(initiator_name_allowed(&[], "iqn.x:any"));
        let list = vec!["iqn.2024-01.org.example:Host".to_string()];
        assert!(initiator_name_allowed(
            &list,
            "IQN.2024-01.ORG.EXAMPLE:host"
        ));
        assert!(!initiator_name_allowed(
            &list,
            "iqn.2024-01.org.example:other"
        ));
    }

    #[test]
    fn portal_lists() {
        assert!(initiator_portal_allowed(&[], ip("192.0.2.1")));
        let list = vec![net("192.0.2.0/24"), net("2001:db8::/32")];
        assert!(initiator_portal_allowed(&list, ip("192.0.2.1")));
        assert!(initiator_portal_allowed(&list, ip("2001:db8::5")));
        assert!(!initiator_portal_allowed(&list, ip("198.51.100.1")));
    }
}
