//! A reload, for the BGP plane: sessions are matched to the new file by
//! their tunnel. A session that is gone stops (Cease) and withdraws its
//! routes; a new one starts; one whose peer, addresses, timers or keys
//! changed restarts; one whose import policy changed keeps running,
//! withdraws what the new policy refuses and asks the peer for its routes
//! again (RFC 2918); new advertisements go out as UPDATEs.

use super::spec::PeerKey;
use super::{BgpPlane, PeerSpec, Redistribution};
use ipnet::IpNet;
use std::collections::BTreeMap;

/// What the BGP plane runs after a reload.
pub struct Reconfig {
    pub specs: Vec<PeerSpec>,
    pub redistribution: Redistribution,
    pub statics: Vec<(IpNet, usize)>,
    /// Tunnel names by index (removed tunnels' slots empty).
    pub names: Vec<String>,
    /// `[bgp]` itself changed (ASN, router ID, timers): every session
    /// restarts.
    pub restart_all: bool,
}

impl BgpPlane {
    pub(super) fn reconfigure(&mut self, r: Reconfig) {
        self.routes.set_names(r.names.clone());
        self.names = r.names;
        self.routes.set_statics(r.statics);
        if self.redist != r.redistribution {
            tracing::info!(
                mode = r.redistribution.mode.name(),
                "reload: routing mode or ExpressRoute prefixes changed"
            );
            self.redist = r.redistribution;
            self.lan_dirty = true;
            self.azure_dirty = true;
        }
        let mut wanted: BTreeMap<PeerKey, PeerSpec> =
            r.specs.into_iter().map(|s| (s.key(), s)).collect();
        for slot in 0..self.peers.len() {
            let Some(p) = self.peers[slot].as_mut() else {
                continue;
            };
            let name = p.spec.session.name.clone();
            match wanted.remove(&p.spec.key()) {
                None => {
                    tracing::info!(session = %name, "reload: BGP session removed (Cease)");
                    self.remove_peer(slot);
                }
                Some(spec) if r.restart_all || p.spec.needs_restart(&spec) => {
                    tracing::info!(session = %name, "reload: BGP session settings changed; it restarts");
                    self.remove_peer(slot);
                    if let Err(e) = self.add_peer(spec) {
                        tracing::error!(session = %name, error = %e, "reload: the BGP session cannot restart");
                    }
                }
                Some(spec) => {
                    let (old, new) = (&p.spec.session.import, &spec.session.import);
                    if old != new {
                        let configured =
                            (&old.allow, old.max_prefixes) != (&new.allow, new.max_prefixes);
                        let asked = p.session.set_import(new.clone());
                        // The protected endpoints change with the tunnels;
                        // only the operator's own settings are news.
                        if configured {
                            tracing::info!(session = %name, route_refresh = asked, "reload: import policy changed");
                        }
                    }
                    if (&spec.export, spec.prepend) != (&p.spec.export, p.spec.prepend) {
                        tracing::info!(session = %name, "reload: advertisements changed");
                        self.azure_dirty = true;
                    }
                    if spec.side != p.spec.side {
                        tracing::info!(session = %name, "reload: preferences sent to the router changed");
                        self.lan_dirty = true;
                    }
                    p.spec = spec;
                }
            }
        }
        for spec in wanted.into_values() {
            let name = spec.session.name.clone();
            match self.add_peer(spec) {
                Ok(_) => tracing::info!(session = %name, "reload: BGP session added"),
                Err(e) => {
                    tracing::error!(session = %name, error = %e, "reload: the BGP session cannot start")
                }
            }
        }
        self.dirty = true;
    }
}
