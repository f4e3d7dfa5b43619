//! The encryption guard: what the prefixes sent over the VPN do next to
//! those sent over ExpressRoute.
//!
//! Azure routes by longest prefix. When on-premises advertises the same
//! prefix over ExpressRoute and over the VPN, Azure prefers ExpressRoute,
//! and that traffic crosses the circuit **unencrypted**. A VPN prefix is
//! safe when it is more specific than an ExpressRoute prefix (the VPN
//! wins) or disjoint from all of them. A VPN prefix that *contains* an
//! ExpressRoute prefix is encrypted only outside that ExpressRoute prefix.

use ipnet::IpNet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// The same prefix both ways: Azure sends it over ExpressRoute, in
    /// clear. Refused unless the session is in failover mode.
    Identical,
    /// The VPN prefix contains a more specific ExpressRoute prefix: that
    /// part goes over ExpressRoute in clear. Warned.
    LessSpecific,
}

/// One VPN prefix that ExpressRoute shadows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub vpn: IpNet,
    pub expressroute: IpNet,
    pub overlap: Overlap,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.overlap {
            Overlap::Identical => write!(
                f,
                "{} is also advertised over ExpressRoute; Azure prefers ExpressRoute for the \
                 same prefix, so this traffic would cross the circuit unencrypted (advertise \
                 more specific prefixes over the VPN, or set [bgp] mode = \"failover\" if ExpressRoute \
                 is meant to be primary)",
                self.vpn
            ),
            Overlap::LessSpecific => write!(
                f,
                "{} contains {}, which is advertised over ExpressRoute; traffic to {} would \
                 cross the circuit unencrypted (advertise prefixes more specific than, or \
                 disjoint from, the ExpressRoute ones)",
                self.vpn, self.expressroute, self.expressroute
            ),
        }
    }
}

/// Every VPN prefix that is neither more specific than nor disjoint from
/// the ExpressRoute prefixes, in input order.
pub fn check(vpn: &[IpNet], expressroute: &[IpNet]) -> Vec<Finding> {
    let mut out = Vec::new();
    for v in vpn {
        let v = v.trunc();
        for e in expressroute {
            let e = e.trunc();
            let overlap = if v == e {
                Overlap::Identical
            } else if v.contains(&e) {
                Overlap::LessSpecific
            } else {
                continue;
            };
            out.push(Finding {
                vpn: v,
                expressroute: e,
                overlap,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|x| x.parse().unwrap()).collect()
    }

    #[test]
    fn identical_more_specific_disjoint_and_covering() {
        let er = nets(&["10.20.0.0/16", "fd00:20::/48"]);
        assert_eq!(
            check(&nets(&["10.20.0.0/16"]), &er)[0].overlap,
            Overlap::Identical
        );
        assert!(check(
            &nets(&["10.20.1.0/24", "10.30.0.0/16", "fd00:20:0:1::/64"]),
            &er
        )
        .is_empty());
        let f = check(&nets(&["10.0.0.0/8"]), &er);
        assert_eq!(f[0].overlap, Overlap::LessSpecific);
        assert_eq!(
            f[0].to_string(),
            "10.0.0.0/8 contains 10.20.0.0/16, which is advertised over ExpressRoute; traffic \
             to 10.20.0.0/16 would cross the circuit unencrypted (advertise prefixes more \
             specific than, or disjoint from, the ExpressRoute ones)"
        );
        // Host bits do not hide an identical prefix.
        assert_eq!(
            check(&nets(&["10.20.5.5/16"]), &er)[0].overlap,
            Overlap::Identical
        );
    }
}
