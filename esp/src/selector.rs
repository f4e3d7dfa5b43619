//! Traffic selectors as the SA enforces them (RFC 4301 §4.4.1, §5.1, §5.2).
//!
//! IKE negotiates, per Child SA, which inner packets it may carry: the
//! local side's selectors (our addresses, protocols and ports) and the
//! remote side's. RFC 4301 §5.1: an outbound packet enters the SA only if
//! its source matches a local selector and its destination a remote one.
//! §5.2 step 4: an inbound packet, once decrypted, must match the SA's
//! selectors the other way round, or it is dropped.
//!
//! Route-based peers such as Azure negotiate `0.0.0.0/0` both ways; an SA
//! whose selectors cover everything answers every check without parsing
//! the packet.

use std::net::IpAddr;

/// IP protocols whose first four payload octets are the source and
/// destination ports.
const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// One selector: an address range, an IP protocol (0: any) and a port
/// range (RFC 7296 §3.13.1; for ICMP the port is Type × 256 + Code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub start: IpAddr,
    pub end: IpAddr,
    pub protocol: u8,
    pub start_port: u16,
    pub end_port: u16,
}

impl Selector {
    /// Every address of `start`'s family, any protocol and port.
    pub fn any(v6: bool) -> Self {
        let (start, end) = if v6 {
            (IpAddr::from([0u16; 8]), IpAddr::from([u16::MAX; 8]))
        } else {
            (IpAddr::from([0u8; 4]), IpAddr::from([255u8; 4]))
        };
        Self {
            start,
            end,
            protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
        }
    }

    fn all_ports(&self) -> bool {
        self.start_port == 0 && self.end_port == u16::MAX
    }

    fn is_any(&self) -> bool {
        self.protocol == 0 && self.all_ports() && (*self == Self::any(self.start.is_ipv6()))
    }

    fn matches(&self, addr: IpAddr, protocol: u8, port: Option<u16>) -> bool {
        let in_range = match (self.start, self.end, addr) {
            (IpAddr::V4(s), IpAddr::V4(e), IpAddr::V4(a)) => s <= a && a <= e,
            (IpAddr::V6(s), IpAddr::V6(e), IpAddr::V6(a)) => s <= a && a <= e,
            _ => false,
        };
        let protocol_ok = self.protocol == 0 || self.protocol == protocol;
        // §4.4.1.1: a packet whose ports are unknown (a later fragment, a
        // protocol without ports) matches only "any port".
        let port_ok =
            self.all_ports() || port.is_some_and(|p| self.start_port <= p && p <= self.end_port);
        in_range && protocol_ok && port_ok
    }
}

/// The fields of an inner packet the selectors look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    src_port: Option<u16>,
    dst_port: Option<u16>,
}

fn fields(p: &[u8]) -> Option<Fields> {
    let (src, dst, protocol, payload, fragment) = match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p.first()? & 0x0f) * 4;
            let src: [u8; 4] = p.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            let frag = u16::from_be_bytes(p.get(6..8)?.try_into().ok()?);
            // More Fragments or a fragment offset: ports may be absent.
            let fragment = frag & 0x3fff != 0;
            (
                IpAddr::from(src),
                IpAddr::from(dst),
                *p.get(9)?,
                p.get(ihl..),
                fragment,
            )
        }
        6 => {
            let src: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            // Extension headers are not walked: their protocol is what the
            // selector sees, which only an any-protocol selector accepts.
            (
                IpAddr::from(src),
                IpAddr::from(dst),
                *p.get(6)?,
                p.get(40..),
                false,
            )
        }
        _ => return None,
    };
    let ports = match (protocol, payload, fragment) {
        (_, _, true) | (_, None, _) => None,
        (TCP | UDP | SCTP, Some(b), false) => Some((
            u16::from_be_bytes(b.get(0..2)?.try_into().ok()?),
            u16::from_be_bytes(b.get(2..4)?.try_into().ok()?),
        )),
        (ICMP | ICMPV6, Some(b), false) => {
            let tc = u16::from_be_bytes(b.get(0..2)?.try_into().ok()?);
            Some((tc, tc))
        }
        _ => None,
    };
    Some(Fields {
        src,
        dst,
        protocol,
        src_port: ports.map(|p| p.0),
        dst_port: ports.map(|p| p.1),
    })
}

/// An SA's negotiated selectors: ours (`local`) and the peer's (`remote`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selectors {
    local: Vec<Selector>,
    remote: Vec<Selector>,
    /// Both sides cover every IPv4 and IPv6 packet (or nothing was
    /// negotiated): no packet needs to be parsed.
    any: bool,
}

impl Selectors {
    /// No restriction (manually keyed SAs, and Azure's `0.0.0.0/0` plus
    /// `::/0`).
    pub fn any() -> Self {
        Self {
            local: Vec::new(),
            remote: Vec::new(),
            any: true,
        }
    }

    pub fn new(local: Vec<Selector>, remote: Vec<Selector>) -> Self {
        let covers_all = |s: &[Selector]| {
            let v4 = s.iter().any(|x| x.is_any() && x.start.is_ipv4());
            let v6 = s.iter().any(|x| x.is_any() && x.start.is_ipv6());
            v4 && v6
        };
        let any = covers_all(&local) && covers_all(&remote);
        Self { local, remote, any }
    }

    pub fn is_any(&self) -> bool {
        self.any
    }

    pub fn local(&self) -> &[Selector] {
        &self.local
    }

    pub fn remote(&self) -> &[Selector] {
        &self.remote
    }

    /// RFC 4301 §5.1: may this inner packet leave through the SA?
    #[inline]
    pub fn allows_outbound(&self, packet: &[u8]) -> bool {
        self.any || self.check(packet, false)
    }

    /// RFC 4301 §5.2: may this decrypted inner packet enter through it?
    #[inline]
    pub fn allows_inbound(&self, packet: &[u8]) -> bool {
        self.any || self.check(packet, true)
    }

    fn check(&self, packet: &[u8], inbound: bool) -> bool {
        let Some(f) = fields(packet) else {
            return false;
        };
        // Outbound: our side is the source. Inbound: the peer's is.
        let (ours, theirs, our_port, their_port) = if inbound {
            (f.dst, f.src, f.dst_port, f.src_port)
        } else {
            (f.src, f.dst, f.src_port, f.dst_port)
        };
        self.local
            .iter()
            .any(|s| s.matches(ours, f.protocol, our_port))
            && self
                .remote
                .iter()
                .any(|s| s.matches(theirs, f.protocol, their_port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(start: &str, end: &str) -> Selector {
        Selector {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
            protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
        }
    }

    /// A minimal IPv4 packet with a UDP header.
    fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[9] = UDP;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p
    }

    #[test]
    fn any_needs_no_parsing() {
        let s = Selectors::new(
            vec![Selector::any(false), Selector::any(true)],
            vec![Selector::any(false), Selector::any(true)],
        );
        assert!(s.is_any());
        assert!(s.allows_outbound(&[]));
        assert!(Selectors::any().allows_inbound(b"garbage"));
        // IPv4 only is not "any": an IPv6 packet must be refused.
        let v4 = Selectors::new(vec![Selector::any(false)], vec![Selector::any(false)]);
        assert!(!v4.is_any());
        let mut v6 = vec![0u8; 48];
        v6[0] = 0x60;
        v6[6] = UDP;
        assert!(!v4.allows_outbound(&v6));
        assert!(v4.allows_outbound(&udp4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)));
    }

    #[test]
    fn narrowed_addresses_both_ways() {
        // Ours: 172.24.0.0/16; the peer's (narrowed): 10.51.231.0/24.
        let s = Selectors::new(
            vec![sel("172.24.0.0", "172.24.255.255")],
            vec![sel("10.51.231.0", "10.51.231.255")],
        );
        let out_ok = udp4([172, 24, 1, 1], [10, 51, 231, 9], 1000, 53);
        let out_bad = udp4([172, 24, 1, 1], [10, 51, 232, 9], 1000, 53);
        assert!(s.allows_outbound(&out_ok));
        assert!(!s.allows_outbound(&out_bad));
        let in_ok = udp4([10, 51, 231, 9], [172, 24, 1, 1], 53, 1000);
        let in_bad = udp4([10, 51, 232, 9], [172, 24, 1, 1], 53, 1000);
        assert!(s.allows_inbound(&in_ok));
        assert!(!s.allows_inbound(&in_bad));
        assert!(!s.allows_inbound(&out_ok), "directions are not symmetric");
        assert!(!s.allows_outbound(&[0x45, 0, 0]), "truncated");
    }

    #[test]
    fn protocol_and_ports() {
        let mut dns = sel("10.0.0.0", "10.255.255.255");
        dns.protocol = UDP;
        dns.start_port = 53;
        dns.end_port = 53;
        let s = Selectors::new(vec![Selector::any(false)], vec![dns]);
        assert!(s.allows_outbound(&udp4([1, 1, 1, 1], [10, 0, 0, 1], 4000, 53)));
        assert!(!s.allows_outbound(&udp4([1, 1, 1, 1], [10, 0, 0, 1], 4000, 54)));
        let mut tcp = udp4([1, 1, 1, 1], [10, 0, 0, 1], 4000, 53);
        tcp[9] = TCP;
        assert!(!s.allows_outbound(&tcp));
        // A later fragment has no ports: only "any port" matches it.
        let mut frag = udp4([1, 1, 1, 1], [10, 0, 0, 1], 4000, 53);
        frag[7] = 1;
        assert!(!s.allows_outbound(&frag));
    }
}
