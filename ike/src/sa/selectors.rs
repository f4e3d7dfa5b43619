//! Traffic selector narrowing (RFC 7296 §2.9): the responder answers with
//! the parts of the initiator's selectors that its policy allows.

use crate::wire::{AddressRange, TrafficSelector};
use std::net::IpAddr;

/// `0.0.0.0/0` and `::/0`, any protocol and port: what route-based gateways
/// such as Azure's negotiate.
pub fn any_v4() -> TrafficSelector {
    TrafficSelector::Ipv4(AddressRange::any_port([0, 0, 0, 0].into(), [255; 4].into()))
}

/// A selector for one prefix, any protocol and port.
pub fn prefix(addr: IpAddr, len: u8) -> Option<TrafficSelector> {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            let start = bits & mask;
            Some(TrafficSelector::Ipv4(AddressRange::any_port(
                start.into(),
                (start | !mask).into(),
            )))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            let start = bits & mask;
            Some(TrafficSelector::Ipv6(AddressRange::any_port(
                start.into(),
                (start | !mask).into(),
            )))
        }
    }
}

fn intersect_range<A: Ord + Copy>(
    a: &AddressRange<A>,
    b: &AddressRange<A>,
) -> Option<AddressRange<A>> {
    let ip_protocol = match (a.ip_protocol, b.ip_protocol) {
        (0, p) | (p, 0) => p,
        (p, q) if p == q => p,
        _ => return None,
    };
    let start_port = a.start_port.max(b.start_port);
    let end_port = a.end_port.min(b.end_port);
    let start = a.start.max(b.start);
    let end = a.end.min(b.end);
    (start <= end && start_port <= end_port).then_some(AddressRange {
        ip_protocol,
        start_port,
        end_port,
        start,
        end,
    })
}

/// The intersection of two selectors, if any.
pub fn intersect(a: &TrafficSelector, b: &TrafficSelector) -> Option<TrafficSelector> {
    match (a, b) {
        (TrafficSelector::Ipv4(x), TrafficSelector::Ipv4(y)) => {
            intersect_range(x, y).map(TrafficSelector::Ipv4)
        }
        (TrafficSelector::Ipv6(x), TrafficSelector::Ipv6(y)) => {
            intersect_range(x, y).map(TrafficSelector::Ipv6)
        }
        _ => None,
    }
}

fn esp_selector(ts: &TrafficSelector) -> Option<esp::Selector> {
    let (start, end, r) = match ts {
        TrafficSelector::Ipv4(r) => (
            IpAddr::V4(r.start),
            IpAddr::V4(r.end),
            (r.ip_protocol, r.start_port, r.end_port),
        ),
        TrafficSelector::Ipv6(r) => (
            IpAddr::V6(r.start),
            IpAddr::V6(r.end),
            (r.ip_protocol, r.start_port, r.end_port),
        ),
        TrafficSelector::Other { .. } => return None,
    };
    Some(esp::Selector {
        start,
        end,
        protocol: r.0,
        start_port: r.1,
        end_port: r.2,
    })
}

/// The negotiated selectors as the ESP SA enforces them (RFC 4301 §5.1,
/// §5.2); selector types ESP cannot check are left out, so they match
/// nothing.
pub fn to_esp(local: &[TrafficSelector], remote: &[TrafficSelector]) -> esp::Selectors {
    esp::Selectors::new(
        local.iter().filter_map(esp_selector).collect(),
        remote.iter().filter_map(esp_selector).collect(),
    )
}

/// A selector as an operator reads it: a prefix when the range is one
/// (`10.51.231.0/24`), else `start-end`; then the protocol and ports if
/// they are restricted.
pub fn describe(ts: &TrafficSelector) -> String {
    fn range<A: Into<IpAddr> + Copy>(r: &AddressRange<A>) -> String {
        let (s, e): (IpAddr, IpAddr) = (r.start.into(), r.end.into());
        let addrs = match ipnet::IpNet::new(s, prefix_len(s, e)) {
            Ok(n) if n.network() == s && n.broadcast() == e => n.to_string(),
            _ => format!("{s}-{e}"),
        };
        let mut out = addrs;
        if r.ip_protocol != 0 {
            out.push_str(&format!(" proto {}", r.ip_protocol));
        }
        if r.start_port != 0 || r.end_port != u16::MAX {
            out.push_str(&format!(" port {}-{}", r.start_port, r.end_port));
        }
        out
    }
    match ts {
        TrafficSelector::Ipv4(r) => range(r),
        TrafficSelector::Ipv6(r) => range(r),
        TrafficSelector::Other { .. } => "(unsupported selector type)".into(),
    }
}

/// The prefix length a range would have if it were a prefix.
fn prefix_len(start: IpAddr, end: IpAddr) -> u8 {
    match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (u32::from(s) ^ u32::from(e)).leading_zeros() as u8,
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s) ^ u128::from(e)).leading_zeros() as u8,
        _ => 0,
    }
}

/// A list of selectors, comma-separated.
pub fn describe_all(ts: &[TrafficSelector]) -> String {
    ts.iter().map(describe).collect::<Vec<_>>().join(", ")
}

/// Every non-empty intersection of the peer's selectors with ours, in the
/// peer's order; empty means TS_UNACCEPTABLE.
pub fn narrow(peer: &[TrafficSelector], ours: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out = Vec::new();
    for p in peer {
        for o in ours {
            if let Some(i) = intersect(p, o) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        let net = prefix("10.51.231.7".parse().unwrap(), 24).unwrap();
        assert_eq!(describe(&net), "10.51.231.0/24");
        assert_eq!(describe(&any_v4()), "0.0.0.0/0");
        let TrafficSelector::Ipv4(mut r) = net else {
            unreachable!()
        };
        r.end = "10.51.231.9".parse().unwrap();
        r.ip_protocol = 17;
        r.start_port = 53;
        r.end_port = 53;
        assert_eq!(
            describe(&TrafficSelector::Ipv4(r)),
            "10.51.231.0-10.51.231.9 proto 17 port 53-53"
        );
    }

    #[test]
    fn narrowing() {
        let any = any_v4();
        let net = prefix("10.1.2.3".parse().unwrap(), 16).unwrap();
        let (any1, net1) = (std::slice::from_ref(&any), std::slice::from_ref(&net));
        assert_eq!(narrow(any1, net1), vec![net.clone()]);
        assert_eq!(narrow(net1, any1), vec![net.clone()]);
        let other = prefix("10.2.0.0".parse().unwrap(), 16).unwrap();
        assert!(narrow(&[net], &[other]).is_empty());
        let v6 = prefix("fd00::".parse().unwrap(), 8).unwrap();
        assert!(narrow(&[v6], &[any]).is_empty());
    }
}
