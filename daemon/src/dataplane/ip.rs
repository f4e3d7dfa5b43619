//! Just enough IP header reading for forwarding decisions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// ESP Next Header for an inner packet (4 or 41), from its version.
pub fn next_header(p: &[u8]) -> Option<u8> {
    match p.first()? >> 4 {
        4 if p.len() >= 20 => Some(esp::next_header::IPV4),
        6 if p.len() >= 40 => Some(esp::next_header::IPV6),
        _ => None,
    }
}

pub fn destination(p: &[u8]) -> Option<IpAddr> {
    address(p, 16, 24)
}

pub fn source(p: &[u8]) -> Option<IpAddr> {
    address(p, 12, 8)
}

fn address(p: &[u8], v4_at: usize, v6_at: usize) -> Option<IpAddr> {
    match p.first()? >> 4 {
        4 => {
            let b: [u8; 4] = p.get(v4_at..v4_at + 4)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        6 => {
            let b: [u8; 16] = p.get(v6_at..v6_at + 16)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}
