//! What the configuration asks of the BGP plane: one session per tunnel
//! with `[tunnel.bgp]`, what each advertises, and the static routes. Built
//! at start and again at each reload, where the plane reconciles its
//! sessions with it.

use bgp::{ImportPolicy, SessionConfig};
use config::Config;
use esp::SecretBytes;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// One session as configured.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    /// The tunnel that carries it (the daemon's tunnel index).
    pub tunnel: usize,
    pub session: SessionConfig,
    pub addr: IpAddr,
    pub local: IpAddr,
    pub ttl: u8,
    pub md5: Option<SecretBytes>,
    /// What it advertises, and the extra copies of our AS.
    pub export: Vec<IpNet>,
    pub prepend: u8,
    /// The tunnel is keyed by hand: the session starts at once.
    pub manual: bool,
}

impl PeerSpec {
    /// Whether a session built from `self` must be replaced to become
    /// `other` (as opposed to a new import policy or export, applied live).
    pub fn needs_restart(&self, other: &PeerSpec) -> bool {
        let mut a = self.session.clone();
        a.import = other.session.import.clone();
        a != other.session
            || (self.addr, self.local, self.ttl) != (other.addr, other.local, other.ttl)
            || self.md5 != other.md5
    }
}

/// Everything the BGP plane runs, from `cfg`; `index` gives each tunnel's
/// index by its position in the file.
pub fn specs(cfg: &Config, index: &impl Fn(usize) -> usize) -> Vec<PeerSpec> {
    let Some(b) = &cfg.bgp else {
        return Vec::new();
    };
    let router_id = b.router_id(cfg).unwrap_or(Ipv4Addr::UNSPECIFIED);
    let protect: Vec<IpAddr> = cfg
        .tunnels
        .iter()
        .flat_map(|t| [t.get_ref().peer, t.get_ref().local])
        .collect();
    // The IPv6 next hop when the session runs over IPv4.
    let v6_local = cfg.tun.addresses.iter().find_map(|a| match a.addr() {
        IpAddr::V6(v6) => Some(v6),
        IpAddr::V4(_) => None,
    });
    let mut out = Vec::new();
    for (ti, t) in cfg.tunnels.iter().enumerate() {
        let t = t.get_ref();
        let Some(s) = &t.bgp else { continue };
        let local = s.local(cfg).unwrap_or(IpAddr::V4(router_id));
        let session = SessionConfig {
            name: t.name.clone(),
            local_as: *b.asn.get_ref(),
            remote_as: s.remote_as,
            router_id,
            hold_time: *b.hold_time.get_ref(),
            connect_retry: Duration::from_secs(b.connect_retry_seconds.max(1)),
            idle_hold: Duration::from_secs(1),
            passive: s.passive,
            ipv4: true,
            ipv6: true,
            import: ImportPolicy {
                allow: s.import_prefixes(),
                protect: protect.clone(),
                max_prefixes: s.max_prefixes,
            },
            next_hop_v4: match local {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            },
            next_hop_v6: match local {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => v6_local,
            },
        };
        out.push(PeerSpec {
            tunnel: index(ti),
            session,
            addr: *s.peer.get_ref(),
            local,
            ttl: s.ttl,
            md5: s.md5_password.as_ref().map(|p| p.get_ref().0.clone()),
            export: b.advertised(),
            prepend: *s.prepend.get_ref(),
            manual: t.manual.is_some(),
        });
    }
    out
}

/// Routes into the TUN from the file: each tunnel's `routes`, and the host
/// route of its BGP peer, pinned to that tunnel.
pub fn static_routes(cfg: &Config, index: &impl Fn(usize) -> usize) -> Vec<(IpNet, usize)> {
    let mut out = Vec::new();
    for (ti, t) in cfg.tunnels.iter().enumerate() {
        let t = t.get_ref();
        out.extend(t.routes.iter().map(|r| (r.get_ref().trunc(), index(ti))));
        if let Some(b) = &t.bgp {
            out.push((IpNet::from(*b.peer.get_ref()), index(ti)));
        }
    }
    out
}
