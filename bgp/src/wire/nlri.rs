//! Prefixes on the wire (RFC 4271 §4.3, RFC 4760 §5): a length in bits,
//! then just enough octets to hold it.

use super::{NotificationCode, Reader, WireError};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Address Family Identifiers (IANA "Address Family Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Afi {
    Ipv4,
    Ipv6,
}

impl Afi {
    pub fn code(self) -> u16 {
        match self {
            Afi::Ipv4 => 1,
            Afi::Ipv6 => 2,
        }
    }

    pub fn from_code(c: u16) -> Option<Afi> {
        match c {
            1 => Some(Afi::Ipv4),
            2 => Some(Afi::Ipv6),
            _ => None,
        }
    }

    pub fn of(net: &IpNet) -> Afi {
        match net {
            IpNet::V4(_) => Afi::Ipv4,
            IpNet::V6(_) => Afi::Ipv6,
        }
    }

    fn max_len(self) -> u8 {
        match self {
            Afi::Ipv4 => 32,
            Afi::Ipv6 => 128,
        }
    }
}

/// Subsequent AFI: only unicast (1) is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Safi;

impl Safi {
    pub const UNICAST: u8 = 1;
}

/// RFC 7606 §5.3: a prefix longer than the family allows, or a field that
/// overruns, makes the whole field malformed; the session is reset because
/// the NLRI cannot be located reliably.
pub(super) fn decode_prefixes(field: &[u8], afi: Afi) -> Result<Vec<IpNet>, WireError> {
    let bad = || WireError::new(NotificationCode::Update, 10, "invalid network field");
    let mut r = Reader::new(field);
    let mut out = Vec::new();
    while !r.is_empty() {
        let len = r.u8().ok_or_else(bad)?;
        if len > afi.max_len() {
            return Err(bad());
        }
        let octets = r.take(usize::from(len).div_ceil(8)).ok_or_else(bad)?;
        out.push(prefix_from(afi, octets, len).ok_or_else(bad)?);
    }
    Ok(out)
}

fn prefix_from(afi: Afi, octets: &[u8], len: u8) -> Option<IpNet> {
    // Trailing bits past the length are irrelevant (RFC 4271 §4.3): mask.
    Some(match afi {
        Afi::Ipv4 => {
            let mut a = [0u8; 4];
            a.get_mut(..octets.len())?.copy_from_slice(octets);
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).ok()?.trunc())
        }
        Afi::Ipv6 => {
            let mut a = [0u8; 16];
            a.get_mut(..octets.len())?.copy_from_slice(octets);
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).ok()?.trunc())
        }
    })
}

/// Octets that `net` takes on the wire.
pub fn encoded_len(net: &IpNet) -> usize {
    1 + usize::from(net.prefix_len()).div_ceil(8)
}

pub(super) fn encode_prefix(net: &IpNet, out: &mut Vec<u8>) {
    let len = net.prefix_len();
    out.push(len);
    let n = usize::from(len).div_ceil(8);
    match net.trunc() {
        IpNet::V4(v4) => out.extend_from_slice(&v4.addr().octets()[..n]),
        IpNet::V6(v6) => out.extend_from_slice(&v6.addr().octets()[..n]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_round_trip_and_mask_host_bits() {
        let nets: Vec<IpNet> = ["10.0.0.0/8", "192.168.1.0/24", "0.0.0.0/0", "10.1.2.3/32"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let mut b = Vec::new();
        for n in &nets {
            encode_prefix(n, &mut b);
        }
        assert_eq!(decode_prefixes(&b, Afi::Ipv4).unwrap(), nets);
        // 10.129.0.0/9 with stray bits decodes as 10.128.0.0/9.
        assert_eq!(
            decode_prefixes(&[9, 10, 0x81], Afi::Ipv4).unwrap(),
            vec!["10.128.0.0/9".parse::<IpNet>().unwrap()]
        );
    }

    #[test]
    fn overlong_or_overrun_prefixes_are_refused() {
        assert!(decode_prefixes(&[33, 1, 2, 3, 4, 5], Afi::Ipv4).is_err());
        assert!(decode_prefixes(&[24, 10, 0], Afi::Ipv4).is_err());
        assert!(decode_prefixes(&[129], Afi::Ipv6).is_err());
        assert!(decode_prefixes(&[64, 0xfd, 0, 0, 0, 0, 0, 0, 1], Afi::Ipv6).is_ok());
    }
}
