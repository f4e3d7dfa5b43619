//! Sending routes: UPDATE messages packed up to 4,096 octets (RFC 4271
//! §4.3), IPv6 in MP_REACH_NLRI (RFC 4760 §3), and End-of-RIB (RFC 4724
//! §2) after the initial table. Prefixes with equal attributes share
//! UPDATEs.

use super::{ConnState, Negotiated, Session};
use crate::wire::Afi;
use crate::wire::{
    nlri_len, AsPath, AsSegment, Message, MpReach, MpUnreach, Origin, PathAttributes, Safi, Update,
    MAX_MESSAGE_LEN,
};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What we send with one prefix. Our own prefixes use
/// [`ExportRoute::originated`]; a route passed on from another session
/// (vwand: an Azure prefix to an on-premises router, or an on-premises
/// prefix to Azure) keeps the path it was learned with.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExportRoute {
    /// The path as learned; on eBGP our AS goes in front (RFC 4271
    /// §5.1.2), on iBGP it is sent as it is.
    pub as_path: AsPath,
    pub origin: Origin,
    /// MULTI_EXIT_DISC (RFC 4271 §5.1.4).
    pub med: Option<u32>,
    /// LOCAL_PREF (RFC 4271 §5.1.5): sent to iBGP peers only (100 when
    /// unset), never to eBGP peers.
    pub local_pref: Option<u32>,
    /// COMMUNITIES (RFC 1997).
    pub communities: Vec<u32>,
}

impl ExportRoute {
    /// A prefix we originate: an empty path, ORIGIN IGP.
    pub fn originated() -> Self {
        Self::default()
    }
}

/// RFC 4271 §5.1.5: LOCAL_PREF on iBGP when nothing else is set.
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Room for NLRI in one UPDATE after the header, both length fields, the
/// attributes (ORIGIN 4, AS_PATH 4 + 4 per AS and 2 per segment, NEXT_HOP
/// 7, MED 7, LOCAL_PREF 7, COMMUNITIES 4 + 4 each) and an MP_REACH header
/// with two IPv6 next hops (4 + 5 + 32).
fn nlri_budget(path_len: usize, communities: usize) -> usize {
    let attrs = 4 + 4 + 6 * path_len + 7 + 7 + 7 + 4 + 4 * communities + 41 + 8;
    (MAX_MESSAGE_LEN - 19 - 4).saturating_sub(attrs).max(64)
}

/// The AS_PATH we send: on eBGP, `own` copies of our AS in front of the
/// learned path (merged into its leading AS_SEQUENCE when there is room).
fn outgoing_path(learned: &AsPath, local_as: u32, own: usize) -> AsPath {
    if own == 0 {
        return learned.clone();
    }
    let mut segments = learned.segments.clone();
    match segments.first_mut() {
        Some(AsSegment::Sequence(v)) if v.len() + own <= 255 => {
            v.splice(0..0, std::iter::repeat_n(local_as, own));
        }
        _ => segments.insert(0, AsSegment::Sequence(vec![local_as; own])),
    }
    AsPath { segments }
}

/// Splits prefixes into runs that fit one message each.
fn chunks(prefixes: &[IpNet], budget: usize) -> Vec<Vec<IpNet>> {
    let mut out: Vec<Vec<IpNet>> = Vec::new();
    let mut used = budget;
    for p in prefixes {
        let n = nlri_len(p);
        if used + n > budget {
            out.push(Vec::new());
            used = 0;
        }
        used += n;
        if let Some(last) = out.last_mut() {
            last.push(*p);
        }
    }
    out
}

impl Session {
    fn up_conn(&self) -> Option<(super::ConnId, Negotiated)> {
        self.conns
            .iter()
            .find(|c| c.state == ConnState::Established)
            .and_then(|c| c.neg.map(|n| (c.id, n)))
    }

    /// Which of our prefixes this session can carry, and why not.
    fn exportable(&self, neg: &Negotiated, p: &IpNet) -> bool {
        match p {
            IpNet::V4(_) => neg.ipv4 && self.cfg.next_hop_v4.is_some(),
            IpNet::V6(_) => neg.ipv6 && self.cfg.next_hop_v6.is_some(),
        }
    }

    /// Brings the Adj-RIB-Out in line with the export set. With `full`,
    /// everything is announced again (new session, new prepend) and
    /// End-of-RIB follows.
    pub(super) fn sync_export(&mut self, full: bool) {
        let Some((id, neg)) = self.up_conn() else {
            return;
        };
        let mut want: BTreeMap<IpNet, ExportRoute> = BTreeMap::new();
        let mut skipped: Vec<IpNet> = Vec::new();
        for (p, r) in &self.export {
            if self.exportable(&neg, p) {
                want.insert(*p, r.clone());
            } else {
                skipped.push(*p);
            }
        }
        if let Some(first) = skipped.first() {
            tracing::warn!(session = %self.cfg.name, count = skipped.len(), first = %first,
                "prefixes not advertised: their address family or next hop is not available on this session");
        }
        let gone: Vec<IpNet> = self
            .adj_out
            .keys()
            .filter(|p| !want.contains_key(p))
            .copied()
            .collect();
        let new: Vec<(IpNet, ExportRoute)> = want
            .iter()
            .filter(|(p, r)| full || self.adj_out.get(p) != Some(r))
            .map(|(p, r)| (*p, r.clone()))
            .collect();
        self.withdraw(id, neg, &gone);
        self.announce(id, neg, &new);
        if full {
            for (on, afi) in [(neg.ipv4, Afi::Ipv4), (neg.ipv6, Afi::Ipv6)] {
                if on {
                    self.send(id, &Message::Update(Update::end_of_rib(afi)), Some(neg));
                }
            }
        }
        if !gone.is_empty() || !new.is_empty() {
            tracing::info!(session = %self.cfg.name, announced = new.len(), withdrawn = gone.len(),
                total = want.len(), "BGP advertisements sent");
        }
        self.adj_out = want;
    }

    /// RFC 2918: the peer asked for one family again.
    pub(super) fn resend_family(&mut self, afi: Afi) {
        let Some((id, neg)) = self.up_conn() else {
            return;
        };
        let again: Vec<(IpNet, ExportRoute)> = self
            .adj_out
            .iter()
            .filter(|(p, _)| Afi::of(p) == afi)
            .map(|(p, r)| (*p, r.clone()))
            .collect();
        self.announce(id, neg, &again);
        self.send(id, &Message::Update(Update::end_of_rib(afi)), Some(neg));
    }

    /// Announces `routes`, one run of UPDATEs per set of equal attributes.
    fn announce(&mut self, id: super::ConnId, neg: Negotiated, routes: &[(IpNet, ExportRoute)]) {
        let mut groups: BTreeMap<&ExportRoute, Vec<IpNet>> = BTreeMap::new();
        for (p, r) in routes {
            groups.entry(r).or_default().push(*p);
        }
        let groups: Vec<(ExportRoute, Vec<IpNet>)> =
            groups.into_iter().map(|(r, ps)| (r.clone(), ps)).collect();
        for (r, prefixes) in groups {
            self.announce_group(id, neg, &r, &prefixes);
        }
    }

    fn announce_group(
        &mut self,
        id: super::ConnId,
        neg: Negotiated,
        r: &ExportRoute,
        prefixes: &[IpNet],
    ) {
        let ibgp = self.cfg.remote_as == self.cfg.local_as;
        // RFC 4271 §5.1.2: eBGP prepends our AS; extra copies push this
        // path behind another (e.g. ExpressRoute primary, VPN failover).
        // iBGP sends the path unchanged, with LOCAL_PREF (§5.1.5).
        let own = if ibgp {
            0
        } else {
            1 + usize::from(self.prepend)
        };
        let path = outgoing_path(&r.as_path, self.cfg.local_as, own);
        let budget = nlri_budget(path.path_len() + path.segments.len(), r.communities.len());
        let attrs = PathAttributes {
            origin: Some(r.origin),
            as_path: Some(path),
            med: r.med,
            local_pref: ibgp.then(|| r.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)),
            communities: r.communities.clone(),
            ..PathAttributes::default()
        };
        let (v4, v6): (Vec<IpNet>, Vec<IpNet>) =
            prefixes.iter().partition(|p| matches!(p, IpNet::V4(_)));
        for run in chunks(&v4, budget) {
            let u = Update {
                attrs: PathAttributes {
                    next_hop: self.cfg.next_hop_v4,
                    ..attrs.clone()
                },
                nlri: run,
                ..Update::default()
            };
            self.send_update(id, neg, u);
        }
        let Some(nh6) = self.cfg.next_hop_v6 else {
            return;
        };
        for run in chunks(&v6, budget) {
            let u = Update {
                attrs: attrs.clone(),
                mp_reach: Some(MpReach {
                    afi: Afi::Ipv6.code(),
                    safi: Safi::UNICAST,
                    next_hops: vec![IpAddr::V6(nh6)],
                    nlri: run,
                }),
                ..Update::default()
            };
            self.send_update(id, neg, u);
        }
    }

    fn withdraw(&mut self, id: super::ConnId, neg: Negotiated, prefixes: &[IpNet]) {
        let budget = nlri_budget(0, 0);
        let (v4, v6): (Vec<IpNet>, Vec<IpNet>) =
            prefixes.iter().partition(|p| matches!(p, IpNet::V4(_)));
        for run in chunks(&v4, budget) {
            let u = Update {
                withdrawn: run,
                ..Update::default()
            };
            self.send_update(id, neg, u);
        }
        for run in chunks(&v6, budget) {
            let u = Update {
                mp_unreach: Some(MpUnreach {
                    afi: Afi::Ipv6.code(),
                    safi: Safi::UNICAST,
                    withdrawn: run,
                }),
                ..Update::default()
            };
            self.send_update(id, neg, u);
        }
    }

    fn send_update(&mut self, id: super::ConnId, neg: Negotiated, u: Update) {
        self.stats.updates_sent += 1;
        self.send(id, &Message::Update(u), Some(neg));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_fit_the_budget() {
        let prefixes: Vec<IpNet> = (0..2000u32)
            .map(|i| IpNet::V4(ipnet::Ipv4Net::new((0x0a00_0000 + (i << 8)).into(), 24).unwrap()))
            .collect();
        let runs = chunks(&prefixes, nlri_budget(4, 0));
        assert_eq!(runs.iter().map(Vec::len).sum::<usize>(), 2000);
        for r in &runs {
            assert!(r.iter().map(nlri_len).sum::<usize>() <= nlri_budget(4, 0));
        }
        assert!(chunks(&[], 100).is_empty());
    }

    #[test]
    fn outgoing_path_prepends_our_as_on_ebgp_only() {
        let learned = AsPath::sequence(vec![65515]);
        assert_eq!(outgoing_path(&learned, 65010, 0), learned);
        assert_eq!(
            outgoing_path(&learned, 65010, 2),
            AsPath::sequence(vec![65010, 65010, 65515])
        );
        assert_eq!(
            outgoing_path(&AsPath::default(), 65010, 1),
            AsPath::sequence(vec![65010])
        );
        let set = AsPath {
            segments: vec![AsSegment::Set(vec![1, 2])],
        };
        assert_eq!(
            outgoing_path(&set, 65010, 1).segments,
            vec![AsSegment::Sequence(vec![65010]), AsSegment::Set(vec![1, 2])]
        );
    }
}
