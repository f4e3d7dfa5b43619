//! What vwand passes between its two sides: Azure's prefixes (learned over
//! the tunnels) to the on-premises routers, and on-premises prefixes
//! (configured, or learned from those routers) to Azure.
//!
//! Two deployment modes decide the preferences:
//!
//! - [`Mode::Encrypt`]: every packet between on-premises and Azure must
//!   cross the VPN. On-premises routers must prefer vwand over the
//!   ExpressRoute path for Azure's prefixes (a LOCAL_PREF above the
//!   default 100 on iBGP, MED or communities on eBGP), and Azure must
//!   prefer the tunnels for on-premises prefixes, which it does only for
//!   prefixes more specific than the ExpressRoute ones: a prefix identical
//!   to an ExpressRoute prefix is refused by the encryption guard.
//! - [`Mode::Failover`]: ExpressRoute is primary and the VPN a backup. The
//!   same prefixes go both ways, prepended toward Azure and with a low
//!   preference toward on-premises, so each side uses the tunnels only
//!   when the circuit's routes vanish.

use crate::guard::{self, Finding, Overlap};
use crate::rib::Route;
use crate::session::{ExportRoute, DEFAULT_LOCAL_PREF};
use crate::wire::Origin;
use ipnet::IpNet;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Encrypt,
    Failover,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Encrypt => "encrypt",
            Mode::Failover => "failover",
        }
    }

    /// The LOCAL_PREF sent to iBGP routers unless configured: above the
    /// default in encrypt mode, below it in failover mode.
    pub fn default_local_pref(self) -> u32 {
        match self {
            Mode::Encrypt => 200,
            Mode::Failover => 50,
        }
    }
}

/// How Azure's prefixes are sent to one on-premises router.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LanExport {
    /// Sent on iBGP only.
    pub local_pref: u32,
    /// MULTI_EXIT_DISC, e.g. for an eBGP router.
    pub med: Option<u32>,
    /// COMMUNITIES for the router's import policy to match.
    pub communities: Vec<u32>,
}

/// Azure → on-premises: each prefix that a tunnel's session learned,
/// with the best of those routes' paths (RFC 4271 §9.1.2.2 a and b), and
/// `policy`'s preferences. Nothing is sent for a prefix no tunnel carries.
pub fn to_lan<'a>(
    learned: impl IntoIterator<Item = (&'a IpNet, &'a Route)>,
    policy: &LanExport,
) -> BTreeMap<IpNet, ExportRoute> {
    let mut best: BTreeMap<IpNet, &Route> = BTreeMap::new();
    let key = |r: &Route| (r.as_path.path_len(), r.origin.unwrap_or(Origin::Incomplete));
    for (p, r) in learned {
        match best.get(p) {
            Some(b) if key(b) <= key(r) => {}
            _ => {
                best.insert(*p, r);
            }
        }
    }
    best.into_iter()
        .map(|(p, r)| {
            let e = ExportRoute {
                as_path: r.as_path.clone(),
                origin: r.origin.unwrap_or(Origin::Incomplete),
                med: policy.med,
                local_pref: Some(policy.local_pref),
                communities: policy.communities.clone(),
            };
            (p, e)
        })
        .collect()
}

/// On-premises → Azure, and what the encryption guard held back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureExport {
    pub routes: BTreeMap<IpNet, ExportRoute>,
    /// Learned prefixes not sent: identical to an ExpressRoute prefix in
    /// encrypt mode (Azure would send their traffic over the circuit, in
    /// clear).
    pub refused: Vec<Finding>,
    /// Learned prefixes sent although they contain an ExpressRoute prefix
    /// (the contained part still crosses the circuit in clear).
    pub shadowed: Vec<Finding>,
    /// Learned prefixes left out above Azure's limit of 4,000.
    pub over_limit: usize,
}

/// On-premises → Azure: the configured prefixes (originated by us), then
/// those learned from on-premises routers, less what the guard refuses.
/// Learned routes keep their AS path (an iBGP router's is empty). At most
/// [`crate::AZURE_MAX_PREFIXES`] in all: Azure drops a session above it.
pub fn to_azure<'a>(
    configured: &[IpNet],
    learned: impl IntoIterator<Item = (&'a IpNet, &'a Route)>,
    expressroute: &[IpNet],
    mode: Mode,
) -> AzureExport {
    let mut out = AzureExport::default();
    for p in configured {
        out.routes.insert(p.trunc(), ExportRoute::originated());
    }
    let mut learned_best: BTreeMap<IpNet, &Route> = BTreeMap::new();
    for (p, r) in learned {
        let shorter = learned_best
            .get(p)
            .is_none_or(|b| r.as_path.path_len() < b.as_path.path_len());
        if shorter {
            learned_best.insert(*p, r);
        }
    }
    for (p, r) in learned_best {
        if out.routes.contains_key(&p) {
            continue;
        }
        let findings = guard::check(&[p], expressroute);
        if let Some(f) = findings.iter().find(|f| f.overlap == Overlap::Identical) {
            if mode == Mode::Encrypt {
                out.refused.push(*f);
                continue;
            }
        }
        out.shadowed.extend(
            findings
                .iter()
                .filter(|f| f.overlap == Overlap::LessSpecific),
        );
        if out.routes.len() >= crate::AZURE_MAX_PREFIXES {
            out.over_limit += 1;
            continue;
        }
        let e = ExportRoute {
            as_path: r.as_path.clone(),
            origin: r.origin.unwrap_or(Origin::Incomplete),
            ..ExportRoute::default()
        };
        out.routes.insert(p, e);
    }
    out
}

/// Whether on-premises routers take the encrypted path to an Azure
/// prefix, as far as vwand can tell from what it sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LanPreference {
    /// Sent to an iBGP router with a LOCAL_PREF above the default: the
    /// VPN wins over the circuit's path (LOCAL_PREF is compared first).
    Vpn,
    /// Sent with a LOCAL_PREF at or below the default: the circuit wins
    /// while it carries the prefix (failover mode).
    ExpressRoute,
    /// Sent over eBGP only: the router's own import policy decides (MED
    /// and communities are hints).
    RouterPolicy,
    /// No on-premises router has it: no tunnel carries it, or no LAN
    /// session is established.
    NotSent,
}

impl LanPreference {
    pub fn name(self) -> &'static str {
        match self {
            LanPreference::Vpn => "vpn",
            LanPreference::ExpressRoute => "expressroute",
            LanPreference::RouterPolicy => "router policy",
            LanPreference::NotSent => "not sent",
        }
    }

    /// From what went to each established router: (iBGP?, LOCAL_PREF).
    /// The weakest answer among iBGP routers counts (one router that
    /// prefers the circuit is enough for traffic to cross it).
    pub fn of(sent: impl IntoIterator<Item = (bool, u32)>) -> Self {
        let mut out = LanPreference::NotSent;
        for (ibgp, lp) in sent {
            let this = match ibgp {
                true if lp > DEFAULT_LOCAL_PREF => LanPreference::Vpn,
                true => LanPreference::ExpressRoute,
                false => LanPreference::RouterPolicy,
            };
            out = match (out, this) {
                (LanPreference::ExpressRoute, _) | (_, LanPreference::ExpressRoute) => {
                    LanPreference::ExpressRoute
                }
                (LanPreference::RouterPolicy, _) | (_, LanPreference::RouterPolicy) => {
                    LanPreference::RouterPolicy
                }
                _ => LanPreference::Vpn,
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::AsPath;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn route(path: Vec<u32>) -> Route {
        Route::new(crate::rib::RouteAttrs {
            as_path: AsPath::sequence(path),
            origin: Some(Origin::Igp),
            ..Default::default()
        })
    }

    #[test]
    fn lan_gets_the_shortest_learned_path_with_the_policy() {
        let (a, b) = (route(vec![65515, 65515]), route(vec![65515]));
        let learned = [(net("10.52.0.0/16"), &a), (net("10.52.0.0/16"), &b)];
        let policy = LanExport {
            local_pref: 200,
            med: Some(10),
            communities: vec![1],
        };
        let out = to_lan(learned.iter().map(|(p, r)| (p, *r)), &policy);
        let e = &out[&net("10.52.0.0/16")];
        assert_eq!(e.as_path, AsPath::sequence(vec![65515]));
        assert_eq!((e.local_pref, e.med), (Some(200), Some(10)));
        assert!(to_lan([], &policy).is_empty());
    }

    #[test]
    fn the_guard_refuses_learned_prefixes_identical_to_expressroute_in_encrypt_mode() {
        let r = route(vec![]);
        let learned = [
            (net("192.168.0.0/16"), &r),
            (net("192.168.10.0/24"), &r),
            (net("10.0.0.0/8"), &r),
        ];
        let er = [net("192.168.0.0/16"), net("10.1.0.0/16")];
        let enc = to_azure(
            &[net("172.24.0.0/17")],
            learned.iter().map(|(p, r)| (p, *r)),
            &er,
            Mode::Encrypt,
        );
        let sent: Vec<IpNet> = enc.routes.keys().copied().collect();
        assert_eq!(
            sent,
            vec![
                net("10.0.0.0/8"),
                net("172.24.0.0/17"),
                net("192.168.10.0/24")
            ]
        );
        assert_eq!(enc.refused.len(), 1);
        assert_eq!(enc.refused[0].vpn, net("192.168.0.0/16"));
        assert_eq!(enc.shadowed.len(), 1, "10.0.0.0/8 contains 10.1.0.0/16");
        let fo = to_azure(
            &[],
            learned.iter().map(|(p, r)| (p, *r)),
            &er,
            Mode::Failover,
        );
        assert!(fo.refused.is_empty());
        assert_eq!(fo.routes.len(), 3);
    }

    #[test]
    fn azure_gets_at_most_4000() {
        let r = route(vec![]);
        let nets: Vec<IpNet> = (0..4100u32)
            .map(|i| IpNet::V4(ipnet::Ipv4Net::new((0x0a00_0000 + (i << 8)).into(), 24).unwrap()))
            .collect();
        let out = to_azure(&[], nets.iter().map(|p| (p, &r)), &[], Mode::Encrypt);
        assert_eq!(out.routes.len(), crate::AZURE_MAX_PREFIXES);
        assert_eq!(out.over_limit, 100);
    }

    #[test]
    fn lan_preference_takes_the_weakest_router() {
        assert_eq!(LanPreference::of([]), LanPreference::NotSent);
        assert_eq!(LanPreference::of([(true, 200)]), LanPreference::Vpn);
        assert_eq!(
            LanPreference::of([(true, 200), (true, 100)]),
            LanPreference::ExpressRoute
        );
        assert_eq!(
            LanPreference::of([(true, 200), (false, 0)]),
            LanPreference::RouterPolicy
        );
    }
}
