//! The BGP plane's side of `bgp::redistribute`: after a change to what the
//! tunnels' sessions learned, the LAN sessions get Azure's prefixes again;
//! after a change to what the LAN sessions learned (or to the mode), the
//! tunnels' sessions get the on-premises prefixes again. The guard's
//! refusals are logged once each and shown in status.

use super::spec::Side;
use super::BgpPlane;
use crate::status::{self, GuardNote, RoutingStatus};
use bgp::guard::Finding;
use bgp::redistribute::{self, LanPreference};
use bgp::{ExportRoute, State};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};

impl BgpPlane {
    /// Recomputes what changed sides since the last call.
    pub(super) fn redistribute(&mut self) {
        if std::mem::take(&mut self.lan_dirty) {
            self.export_to_lan();
        }
        if std::mem::take(&mut self.azure_dirty) {
            self.export_to_azure();
        }
    }

    /// Azure → on-premises: each LAN router gets every prefix some tunnel
    /// carries, with its own preferences.
    fn export_to_lan(&mut self) {
        if !self.live().any(|p| p.spec.tunnel().is_none()) {
            return;
        }
        let learned: Vec<(&IpNet, &bgp::Route)> = self
            .live()
            .filter(|p| p.spec.tunnel().is_some())
            .flat_map(|p| p.session.rib().iter())
            .collect();
        let exports: Vec<(usize, BTreeMap<IpNet, ExportRoute>)> = self
            .peers
            .iter()
            .enumerate()
            .filter_map(|(slot, p)| match &p.as_ref()?.spec.side {
                Side::Lan(policy) => {
                    Some((slot, redistribute::to_lan(learned.iter().copied(), policy)))
                }
                Side::Tunnel(_) => None,
            })
            .collect();
        for (slot, routes) in exports {
            if let Some(p) = self.peers.get_mut(slot).and_then(Option::as_mut) {
                p.session.set_export_routes(routes, 0);
            }
        }
        self.dirty = true;
    }

    /// On-premises → Azure: the configured prefixes and what the LAN
    /// routers taught us, less what the guard refuses.
    fn export_to_azure(&mut self) {
        let learned: Vec<(&IpNet, &bgp::Route)> = self
            .live()
            .filter(|p| p.spec.tunnel().is_none())
            .flat_map(|p| p.session.rib().iter())
            .collect();
        // Every tunnel session advertises the same `[bgp] advertise`.
        let configured: Vec<IpNet> = self
            .live()
            .find(|p| p.spec.tunnel().is_some())
            .map(|p| p.spec.export.clone())
            .unwrap_or_default();
        let out = redistribute::to_azure(
            &configured,
            learned,
            &self.redist.expressroute,
            self.redist.mode,
        );
        self.note_guard(&out.refused, &out.shadowed, out.over_limit);
        for p in self.peers.iter_mut().flatten() {
            if p.spec.tunnel().is_some() {
                p.session
                    .set_export_routes(out.routes.clone(), p.spec.prepend);
            }
        }
        self.dirty = true;
    }

    /// Logs each new refusal once (and each lifted one), for status too.
    fn note_guard(&mut self, refused: &[Finding], shadowed: &[Finding], over_limit: usize) {
        let now: BTreeSet<IpNet> = refused.iter().map(|f| f.vpn).collect();
        for f in refused {
            if !self.refused.iter().any(|r| r.vpn == f.vpn) {
                tracing::warn!(prefix = %f.vpn, "encryption guard: a prefix learned on-premises is not advertised to Azure: {f}");
            }
        }
        for r in &self.refused {
            if !now.contains(&r.vpn) {
                tracing::info!(prefix = %r.vpn, "encryption guard: the refused prefix is gone");
            }
        }
        for f in shadowed {
            if !self.shadowed.iter().any(|r| r.vpn == f.vpn) {
                tracing::warn!(prefix = %f.vpn, "encryption guard: a prefix learned on-premises is advertised to Azure, but {f}");
            }
        }
        if over_limit > 0 && self.over_limit == 0 {
            tracing::error!(left_out = over_limit, limit = bgp::AZURE_MAX_PREFIXES,
                "more on-premises prefixes than Azure accepts; the rest are not advertised (summarise them on the routers)");
        }
        self.refused = refused.to_vec();
        self.shadowed = shadowed.to_vec();
        self.over_limit = over_limit;
    }

    /// The routing part of status: the mode, the guard's notes, and for
    /// each Azure prefix whether on-premises routers prefer the VPN.
    pub(super) fn routing_status(&self) -> RoutingStatus {
        let note = |f: &Finding| GuardNote {
            prefix: f.vpn.to_string(),
            reason: f.to_string(),
        };
        let lan_up: Vec<&super::Peer> = self
            .live()
            .filter(|p| p.spec.tunnel().is_none() && p.session.state() == State::Established)
            .collect();
        let mut azure = BTreeMap::new();
        let ribs = super::tunnel_ribs(&self.peers);
        for prefix in super::routes::merged(&ribs).take(status::MAX_LISTED_ROUTES) {
            let sent = lan_up.iter().filter_map(|p| {
                p.session
                    .advertised()
                    .get(&prefix)
                    .map(|r| (p.session.is_ibgp(), r.local_pref.unwrap_or(0)))
            });
            azure.insert(prefix.to_string(), LanPreference::of(sent).name().into());
        }
        let to_azure = self
            .live()
            .find(|p| p.spec.tunnel().is_some())
            .map_or(0, |p| p.session.exported().len());
        RoutingStatus {
            mode: self.redist.mode.name().into(),
            lan_sessions: self.live().filter(|p| p.spec.tunnel().is_none()).count(),
            lan_established: lan_up.len(),
            refused: self.refused.iter().map(note).collect(),
            shadowed: self.shadowed.iter().map(note).collect(),
            over_limit: self.over_limit,
            advertised_to_azure: to_azure,
            azure_prefixes: azure,
            azure_prefixes_count: super::routes::merged(&ribs).count(),
        }
    }
}
