//! What the configuration asks of the BGP plane: one session per tunnel
//! with `[tunnel.bgp]`, one per `[[bgp.lan]]` router, what each
//! advertises, the mode, and the static routes. Built at start and again
//! at each reload, where the plane reconciles its sessions with it.

use bgp::redistribute::{LanExport, Mode};
use bgp::{ImportPolicy, SessionConfig};
use config::Config;
use esp::SecretBytes;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Which side of vwand a session serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// An Azure instance, over this tunnel (the daemon's tunnel index).
    Tunnel(usize),
    /// An on-premises router: it gets Azure's prefixes with these
    /// preferences, and may teach us on-premises prefixes.
    Lan(LanExport),
}

/// How a session is matched across a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerKey {
    Tunnel(usize),
    Lan(IpAddr),
}

/// What passes between the sides (see `bgp::redistribute`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redistribution {
    pub mode: Mode,
    pub expressroute: Vec<IpNet>,
}

/// One session as configured.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    pub side: Side,
    pub session: SessionConfig,
    pub addr: IpAddr,
    pub local: IpAddr,
    pub ttl: u8,
    pub md5: Option<SecretBytes>,
    /// What it advertises of its own (tunnels: `[bgp] advertise`; LAN:
    /// nothing), and the extra copies of our AS.
    pub export: Vec<IpNet>,
    pub prepend: u8,
    /// The tunnel is keyed by hand: the session starts at once.
    pub manual: bool,
}

impl PeerSpec {
    pub fn key(&self) -> PeerKey {
        match self.side {
            Side::Tunnel(t) => PeerKey::Tunnel(t),
            Side::Lan(_) => PeerKey::Lan(self.addr),
        }
    }

    pub fn tunnel(&self) -> Option<usize> {
        match self.side {
            Side::Tunnel(t) => Some(t),
            Side::Lan(_) => None,
        }
    }

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
            side: Side::Tunnel(index(ti)),
            session,
            addr: *s.peer.get_ref(),
            local,
            ttl: s.ttl,
            md5: s.md5_password.as_ref().map(|p| p.get_ref().0.clone()),
            export: b.advertised(),
            prepend: s.prepend_count(b),
            manual: t.manual.is_some(),
        });
    }
    let mode = *b.mode.get_ref();
    for l in &b.lan {
        let local = *l.local_address.get_ref();
        let session = SessionConfig {
            name: format!("lan {}", l.peer.get_ref()),
            local_as: *b.asn.get_ref(),
            remote_as: *l.remote_as.get_ref(),
            router_id,
            hold_time: l.hold_time.unwrap_or(*b.hold_time.get_ref()),
            connect_retry: Duration::from_secs(b.connect_retry_seconds.max(1)),
            idle_hold: Duration::from_secs(1),
            passive: l.passive,
            ipv4: true,
            ipv6: true,
            import: ImportPolicy {
                allow: l.import_prefixes(),
                protect: protect.clone(),
                max_prefixes: l.max_prefixes,
            },
            next_hop_v4: match local {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            },
            next_hop_v6: match local {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            },
        };
        out.push(PeerSpec {
            side: Side::Lan(LanExport {
                local_pref: l.local_pref(mode),
                med: l.med,
                communities: l.community_values(),
            }),
            session,
            addr: *l.peer.get_ref(),
            local,
            ttl: l.ttl,
            md5: l.md5_password.as_ref().map(|p| p.get_ref().0.clone()),
            export: Vec::new(),
            prepend: 0,
            manual: true,
        });
    }
    out
}

/// The mode and the ExpressRoute prefixes, for the plane's guard.
pub fn redistribution(cfg: &Config) -> Redistribution {
    cfg.bgp
        .as_ref()
        .map(|b| Redistribution {
            mode: b.mode.get_ref().mode(),
            expressroute: b
                .expressroute_prefixes
                .iter()
                .map(|p| p.get_ref().trunc())
                .collect(),
        })
        .unwrap_or_default()
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
