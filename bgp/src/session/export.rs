//! Sending our prefixes: UPDATE messages packed up to 4,096 octets
//! (RFC 4271 §4.3), IPv6 in MP_REACH_NLRI (RFC 4760 §3), and End-of-RIB
//! (RFC 4724 §2) after the initial table.

use super::{ConnState, Negotiated, Session};
use crate::wire::Afi;
use crate::wire::{
    nlri_len, AsPath, Message, MpReach, MpUnreach, Origin, PathAttributes, Safi, Update,
    MAX_MESSAGE_LEN,
};
use ipnet::IpNet;
use std::net::IpAddr;

/// Room for NLRI in one UPDATE after the header, both length fields, the
/// attributes (ORIGIN 4, AS_PATH up to 4 + 4×256, NEXT_HOP 7) and an
/// MP_REACH header with two IPv6 next hops (4 + 5 + 32).
fn nlri_budget(path_len: usize) -> usize {
    MAX_MESSAGE_LEN - 19 - 4 - (4 + 4 + 4 * path_len + 7 + 41 + 8)
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
        let (want, skipped): (Vec<IpNet>, Vec<IpNet>) =
            self.export.iter().partition(|p| self.exportable(&neg, p));
        if let Some(first) = skipped.first() {
            tracing::warn!(session = %self.cfg.name, count = skipped.len(), first = %first,
                "prefixes not advertised: their address family or next hop is not available on this session");
        }
        let gone: Vec<IpNet> = self
            .adj_out
            .iter()
            .filter(|p| !want.contains(p))
            .copied()
            .collect();
        let new: Vec<IpNet> = if full {
            want.clone()
        } else {
            want.iter()
                .filter(|p| !self.adj_out.contains(p))
                .copied()
                .collect()
        };
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
        self.adj_out = want.into_iter().collect();
    }

    /// RFC 2918: the peer asked for one family again.
    pub(super) fn resend_family(&mut self, afi: Afi) {
        let Some((id, neg)) = self.up_conn() else {
            return;
        };
        let again: Vec<IpNet> = self
            .adj_out
            .iter()
            .filter(|p| Afi::of(p) == afi)
            .copied()
            .collect();
        self.announce(id, neg, &again);
        self.send(id, &Message::Update(Update::end_of_rib(afi)), Some(neg));
    }

    fn announce(&mut self, id: super::ConnId, neg: Negotiated, prefixes: &[IpNet]) {
        // RFC 4271 §5.1.2: eBGP prepends our AS; extra copies push this
        // path behind another (e.g. ExpressRoute primary, VPN failover).
        let path = vec![self.cfg.local_as; 1 + usize::from(self.prepend)];
        let budget = nlri_budget(path.len());
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(path)),
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
        let budget = nlri_budget(0);
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
        let runs = chunks(&prefixes, nlri_budget(4));
        assert_eq!(runs.iter().map(Vec::len).sum::<usize>(), 2000);
        for r in &runs {
            assert!(r.iter().map(nlri_len).sum::<usize>() <= nlri_budget(4));
        }
        assert!(chunks(&[], 100).is_empty());
    }
}
