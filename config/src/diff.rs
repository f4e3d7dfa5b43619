//! What a reload changes: the running configuration against a new one,
//! tunnel by tunnel (by name), so the daemon touches only what changed
//! and says so.

use crate::model::{Config, TunnelSection};
use ipnet::IpNet;
use std::collections::BTreeSet;

/// The differences between two configurations that the daemon can apply
/// live, and those that need a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Tunnels only in the new file.
    pub added: Vec<String>,
    /// Tunnels only in the old file.
    pub removed: Vec<String>,
    /// Tunnels whose outer addresses, transport or keying method changed:
    /// removed and added again.
    pub replaced: Vec<String>,
    /// Tunnels whose IKE settings (PSK, proposals, identities, timers)
    /// changed: the next IKE SA uses them; the current one stays.
    pub ike: Vec<String>,
    /// Tunnels whose static routes changed.
    pub routes: Vec<String>,
    /// Tunnels whose BGP session settings changed (or that gained or lost
    /// a session).
    pub sessions: Vec<String>,
    /// `[bgp]` settings every session uses (ASN, router ID, timers, kernel
    /// table): every session restarts.
    pub bgp_global: bool,
    /// What we advertise (`advertise`, `prepend`): UPDATEs only.
    pub advertise: bool,
    /// `[liveness]` or the IKE responder limits of `[daemon]`.
    pub endpoint: bool,
    /// Changes that take effect only at a restart, as the operator reads
    /// them ("[tun] mtu").
    pub restart: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

fn tunnel<'a>(c: &'a Config, name: &str) -> Option<(usize, &'a TunnelSection)> {
    c.tunnels
        .iter()
        .enumerate()
        .find(|(_, t)| t.get_ref().name == name)
        .map(|(i, t)| (i, t.get_ref()))
}

fn routes(t: &TunnelSection) -> BTreeSet<IpNet> {
    t.routes.iter().map(|r| *r.get_ref()).collect()
}

/// A session's settings as one comparable value.
fn session(c: &Config, t: &TunnelSection) -> Option<impl PartialEq> {
    let s = t.bgp.as_ref()?;
    Some((
        *s.peer.get_ref(),
        s.remote_as,
        s.local(c),
        s.passive,
        s.failover,
        s.import_prefixes(),
        s.max_prefixes,
        s.ttl,
        s.md5_password.as_ref().map(|p| p.get_ref().0.clone()),
    ))
}

/// The running `old` against the new `new`.
pub fn diff(old: &Config, new: &Config) -> Changes {
    let mut c = Changes::default();
    for t in &old.tunnels {
        let name = &t.get_ref().name;
        if tunnel(new, name).is_none() {
            c.removed.push(name.clone());
        }
    }
    for (ni, t) in new.tunnels.iter().enumerate() {
        let n = t.get_ref();
        let Some((oi, o)) = tunnel(old, &n.name) else {
            c.added.push(n.name.clone());
            continue;
        };
        let outer = (o.local, o.peer, o.transport, o.udp_port)
            != (n.local, n.peer, n.transport, n.udp_port);
        let keying = o.manual.is_some() != n.manual.is_some();
        if outer || keying {
            c.replaced.push(n.name.clone());
            continue;
        }
        if n.manual.is_some() {
            // Manual keys change only with both ends at once: a restart.
            let (oc, nc) = (old.tunnel_config(oi), new.tunnel_config(ni));
            if oc.is_some() != nc.is_some() {
                c.restart.push(format!("tunnel {:?}: manual keys", n.name));
            }
        } else if old.tunnel_config(oi) != new.tunnel_config(ni) {
            c.ike.push(n.name.clone());
        }
        if routes(o) != routes(n) {
            c.routes.push(n.name.clone());
        }
        if session(old, o) != session(new, n) {
            c.sessions.push(n.name.clone());
        }
    }
    // A prepend change of a tunnel in both files (the others are added or
    // removed whole).
    let prepend = |cfg: &Config, name: &str| {
        let b = cfg.bgp.as_ref()?;
        tunnel(cfg, name).and_then(|(_, t)| t.bgp.as_ref().map(|s| s.prepend_count(b)))
    };
    let prepend_changed = new.tunnels.iter().any(|t| {
        let name = &t.get_ref().name;
        tunnel(old, name).is_some() && prepend(old, name) != prepend(new, name)
    });
    match (&old.bgp, &new.bgp) {
        (Some(o), Some(n)) => {
            let global = |b: &crate::BgpSection, cfg: &Config| {
                (
                    *b.asn.get_ref(),
                    b.router_id(cfg),
                    *b.hold_time.get_ref(),
                    b.connect_retry_seconds,
                    b.route_table,
                    b.route_metric,
                )
            };
            // The plane applies these live: LAN sessions are matched by
            // peer, the mode and the ExpressRoute prefixes change what
            // is advertised.
            let er = |b: &crate::BgpSection| -> Vec<_> {
                b.expressroute_prefixes
                    .iter()
                    .map(|p| *p.get_ref())
                    .collect()
            };
            for l in &n.lan {
                let old = o.lan.iter().find(|x| x.peer.get_ref() == l.peer.get_ref());
                if old.is_none_or(|x| x.key() != l.key()) {
                    c.sessions.push(format!("LAN {}", l.peer.get_ref()));
                }
            }
            for l in &o.lan {
                if !n.lan.iter().any(|x| x.peer.get_ref() == l.peer.get_ref()) {
                    c.sessions
                        .push(format!("LAN {} (removed)", l.peer.get_ref()));
                }
            }
            let routing_changed = o.mode.get_ref() != n.mode.get_ref() || er(o) != er(n);
            c.bgp_global = global(o, old) != global(n, new);
            c.advertise = o.advertised() != n.advertised() || prepend_changed || routing_changed;
        }
        (None, None) => {}
        _ => c.bgp_global = true,
    }
    c.endpoint = old.endpoint_config() != new.endpoint_config();
    let (ot, nt) = (&old.tun, &new.tun);
    let restart = [
        ("[tun] name", ot.name != nt.name),
        ("[tun] mtu", ot.mtu != nt.mtu),
        ("[tun] addresses", ot.addresses != nt.addresses),
        ("[tun] mss_clamp", ot.mss_clamp != nt.mss_clamp),
        ("[tun] underlay_mtu", ot.underlay_mtu != nt.underlay_mtu),
        ("[tun] offload", ot.offload != nt.offload),
        ("[tun] queues", ot.queues != nt.queues),
        (
            "[daemon] status_socket",
            old.daemon.status_socket != new.daemon.status_socket,
        ),
        (
            "[daemon] socket_buffer",
            old.daemon.socket_buffer != new.daemon.socket_buffer,
        ),
        (
            "[daemon] metrics_listen",
            old.daemon.metrics_listen != new.daemon.metrics_listen,
        ),
    ];
    c.restart
        .extend(restart.iter().filter(|r| r.1).map(|r| r.0.to_string()));
    c
}

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        let mut list = |what: &str, v: &[String]| {
            if !v.is_empty() {
                parts.push(format!("{what} {}", v.join(", ")));
            }
        };
        list("tunnels added:", &self.added);
        list("removed:", &self.removed);
        list("replaced (addresses or keying changed):", &self.replaced);
        list("IKE settings changed (used at the next IKE SA):", &self.ike);
        list("routes changed:", &self.routes);
        list("BGP sessions changed:", &self.sessions);
        if self.bgp_global {
            parts.push("[bgp] changed: every session restarts".into());
        }
        if self.advertise {
            parts.push("advertisements changed".into());
        }
        if self.endpoint {
            parts.push("failover and IKE responder limits changed".into());
        }
        if !self.restart.is_empty() {
            parts.push(format!(
                "at the next restart only: {}",
                self.restart.join(", ")
            ));
        }
        if parts.is_empty() {
            f.write_str("nothing changed")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}
