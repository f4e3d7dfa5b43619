//! `[bgp]` and `[tunnel.bgp]`: the embedded BGP speaker, and the
//! encryption guard that compares VPN advertisements with ExpressRoute's.

use crate::bgp_lan::{LanSection, RoutingMode};
use crate::error::ConfigError;
use crate::model::{Config, TextSecret, TunnelSection};
use bgp::guard::{self, Overlap};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use toml::Spanned;

/// The speaker as a whole.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpSection {
    /// Our AS (Azure's own is 65515, and the private range is usual).
    pub asn: Spanned<u32>,
    /// BGP identifier; defaults to the first IPv4 address of the TUN.
    pub router_id: Option<Ipv4Addr>,
    /// On-premises prefixes advertised over the VPN (every session).
    #[serde(default)]
    pub advertise: Vec<Spanned<IpNet>>,
    /// On-premises prefixes advertised over ExpressRoute, by the routers
    /// of the circuit. vwand never sends these; it compares them with
    /// `advertise` (see the encryption guard in the README).
    #[serde(default)]
    pub expressroute_prefixes: Vec<Spanned<IpNet>>,
    /// Proposed hold time; Azure uses 180 s.
    #[serde(default = "default_hold")]
    pub hold_time: Spanned<u16>,
    #[serde(default = "default_connect_retry")]
    pub connect_retry_seconds: u64,
    /// Kernel routing table and metric for learned prefixes.
    #[serde(default = "default_table")]
    pub route_table: u32,
    #[serde(default = "default_metric")]
    pub route_metric: u32,
    /// `encrypt` (the default) or `failover` (ExpressRoute primary).
    #[serde(default = "default_mode")]
    pub mode: Spanned<RoutingMode>,
    /// On-premises routers (`[[bgp.lan]]`).
    #[serde(default)]
    pub lan: Vec<LanSection>,
}

fn default_mode() -> Spanned<RoutingMode> {
    Spanned::new(0..0, RoutingMode::Encrypt)
}

fn default_hold() -> Spanned<u16> {
    Spanned::new(0..0, bgp::AZURE_HOLD_TIME)
}

fn default_connect_retry() -> u64 {
    5
}

fn default_table() -> u32 {
    254
}

fn default_metric() -> u32 {
    100
}

fn default_remote_as() -> u32 {
    bgp::AZURE_ASN
}

/// A hub advertises its address space and connected VNets: hundreds, not
/// thousands. Above this, something is wrong upstream.
fn default_max_prefixes() -> usize {
    10_000
}

/// The default prepend in failover mode.
pub const FAILOVER_PREPEND: u8 = 3;

fn no_prepend() -> Spanned<u8> {
    Spanned::new(0..0, 0)
}

fn default_ttl() -> u8 {
    255
}

/// One session, carried by its tunnel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelBgpSection {
    /// The instance's BGP address (Azure: `BgpPeeringAddresses`). Its host
    /// route goes into this tunnel and no other.
    pub peer: Spanned<IpAddr>,
    #[serde(default = "default_remote_as")]
    pub remote_as: u32,
    /// Our BGP address (a TUN address); defaults to the router ID.
    pub local_address: Option<IpAddr>,
    /// Only accept connections (Azure dials when our address is routable).
    #[serde(default)]
    pub passive: bool,
    /// Extra copies of our AS on every advertisement of this session.
    #[serde(default = "no_prepend")]
    pub prepend: Spanned<u8>,
    /// The session carries the same prefixes as ExpressRoute on purpose
    /// (VPN as a backup path): identical prefixes are allowed.
    #[serde(default)]
    pub failover: bool,
    /// Learned prefixes must lie within these (RFC 8212: none, nothing is
    /// installed). Typically the hub address space and connected VNets.
    #[serde(default)]
    pub import: Vec<Spanned<IpNet>>,
    /// Tear the session down above this many learned prefixes.
    #[serde(default = "default_max_prefixes")]
    pub max_prefixes: usize,
    /// IP TTL of our BGP packets (eBGP multihop; the peer is never on the
    /// same subnet over a VPN).
    #[serde(default = "default_ttl")]
    pub ttl: u8,
    /// TCP-MD5 (RFC 2385) password.
    pub md5_password: Option<Spanned<TextSecret>>,
}

impl TunnelBgpSection {
    pub fn local(&self, c: &Config) -> Option<IpAddr> {
        self.local_address
            .or_else(|| c.bgp.as_ref().and_then(|b| b.router_id(c)).map(IpAddr::V4))
    }
}

impl BgpSection {
    pub fn router_id(&self, c: &Config) -> Option<Ipv4Addr> {
        self.router_id.or_else(|| {
            c.tun.addresses.iter().find_map(|a| match a.addr() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
        })
    }

    pub fn advertised(&self) -> Vec<IpNet> {
        self.advertise.iter().map(|p| p.get_ref().trunc()).collect()
    }
}

impl TunnelBgpSection {
    /// AS-path prepends: as configured, or 3 in failover mode when unset,
    /// so that Azure prefers the circuit for the same prefix.
    pub fn prepend_count(&self, b: &BgpSection) -> u8 {
        match (*self.prepend.get_ref(), *b.mode.get_ref()) {
            (0, RoutingMode::Failover) => FAILOVER_PREPEND,
            (n, _) => n,
        }
    }

    /// The import policy's prefixes.
    pub fn import_prefixes(&self) -> Vec<IpNet> {
        self.import.iter().map(|p| *p.get_ref()).collect()
    }
}

/// Whole-file checks; warnings are returned, refusals are errors.
pub(crate) fn check(
    c: &Config,
    err: &impl Fn(usize, String) -> ConfigError,
) -> Result<Vec<ConfigError>, ConfigError> {
    let mut warnings = Vec::new();
    let sessions: Vec<(&TunnelSection, &TunnelBgpSection, usize)> = c
        .tunnels
        .iter()
        .filter_map(|t| {
            let t2 = t.get_ref();
            t2.bgp.as_ref().map(|b| (t2, b, t.span().start))
        })
        .collect();
    let Some(b) = &c.bgp else {
        if let Some((t, _, at)) = sessions.first() {
            return Err(err(
                *at,
                format!(
                    "tunnel {:?} has [tunnel.bgp] but there is no [bgp] section",
                    t.name
                ),
            ));
        }
        return Ok(warnings);
    };
    let asn = *b.asn.get_ref();
    if asn == 0 || asn == 23456 || asn == bgp::AZURE_ASN {
        return Err(err(
            b.asn.span().start,
            format!("asn {asn} cannot be used (0 and 23456 are reserved; 65515 is Azure's own)"),
        ));
    }
    let hold = *b.hold_time.get_ref();
    if hold != 0 && hold < 3 {
        return Err(err(
            b.hold_time.span().start,
            format!("hold_time {hold} must be 0 or at least 3 (RFC 4271 §4.2)"),
        ));
    }
    if b.router_id(c).is_none() {
        return Err(err(
            0,
            "[bgp] needs router_id, or an IPv4 address on the TUN".into(),
        ));
    }
    // Azure drops a session that receives more than 4,000 prefixes, so
    // refuse to send that many.
    if b.advertise.len() > bgp::AZURE_MAX_PREFIXES {
        let at = b.advertise[bgp::AZURE_MAX_PREFIXES].span().start;
        return Err(err(
            at,
            format!(
                "advertise lists {} prefixes; Azure drops a BGP session above {} (summarise them)",
                b.advertise.len(),
                bgp::AZURE_MAX_PREFIXES
            ),
        ));
    }
    let er: Vec<IpNet> = b
        .expressroute_prefixes
        .iter()
        .map(|p| *p.get_ref())
        .collect();
    let all_failover = *b.mode.get_ref() == RoutingMode::Failover
        || (!sessions.is_empty() && sessions.iter().all(|(_, s, _)| s.failover));
    for p in &b.advertise {
        for f in guard::check(&[*p.get_ref()], &er) {
            match f.overlap {
                Overlap::Identical if !all_failover => {
                    return Err(err(p.span().start, format!("encryption guard: {f}")))
                }
                Overlap::Identical => warnings.push(err(
                    p.span().start,
                    format!("failover session: {} is advertised over both ExpressRoute and the VPN; the VPN carries it only when ExpressRoute withdraws it", f.vpn),
                )),
                Overlap::LessSpecific => {
                    warnings.push(err(p.span().start, format!("encryption guard: {f}")))
                }
            }
        }
    }
    for p in b.advertise.iter().chain(&b.expressroute_prefixes) {
        crate::validate::exact(p, "prefix", err)?;
    }
    let mut peers = std::collections::BTreeMap::new();
    for (t, s, at) in &sessions {
        let peer = *s.peer.get_ref();
        for p in &s.import {
            crate::validate::exact(p, "import prefix", err)?;
        }
        if let Some(p) = b.advertise.iter().find(|p| p.get_ref().contains(&peer)) {
            return Err(err(s.peer.span().start, format!("tunnel {:?}: BGP peer {peer} lies inside {}, which we advertise as on-premises; the session would be routed on-premises, not into the tunnel", t.name, p.get_ref())));
        }
        if let Some(other) = peers.insert(peer, t.name.as_str()) {
            return Err(err(s.peer.span().start, format!("BGP peer {peer} is already the peer of tunnel {other:?}; each instance's BGP address belongs to its own tunnel")));
        }
        if peer == t.peer {
            warnings.push(err(s.peer.span().start, format!("tunnel {:?}: the BGP peer is the tunnel's outer address; Azure's BGP address is BgpPeeringAddresses, not IpAddresses", t.name)));
        }
        let Some(local) = s.local(c) else {
            return Err(err(
                *at,
                format!("tunnel {:?}: no local BGP address", t.name),
            ));
        };
        if local.is_ipv4() != peer.is_ipv4() {
            return Err(err(s.peer.span().start, format!("tunnel {:?}: local BGP address {local} and peer {peer} are of different families", t.name)));
        }
        if !c.tun.addresses.iter().any(|a| a.addr() == local) {
            warnings.push(err(
                *at,
                format!(
                    "tunnel {:?}: local BGP address {local} is not an address of the TUN",
                    t.name
                ),
            ));
        }
        if s.remote_as == asn {
            return Err(err(
                *at,
                format!(
                    "tunnel {:?}: remote_as equals our asn; vwand speaks eBGP only",
                    t.name
                ),
            ));
        }
        if *s.prepend.get_ref() > 10 {
            return Err(err(
                s.prepend.span().start,
                "prepend must be at most 10".into(),
            ));
        }
        if s.import.is_empty() {
            warnings.push(err(*at, format!("tunnel {:?}: [tunnel.bgp] import is empty, so no learned prefix is installed (RFC 8212)", t.name)));
        }
        if s.max_prefixes == 0 {
            return Err(err(
                *at,
                format!("tunnel {:?}: max_prefixes must be at least 1", t.name),
            ));
        }
        if s.failover
            && *b.mode.get_ref() == RoutingMode::Encrypt
            && !er.is_empty()
            && *s.prepend.get_ref() == 0
        {
            warnings.push(err(*at, format!("tunnel {:?}: failover = true without prepend; consider prepend so that the VPN path is the longer one", t.name)));
        }
    }
    crate::bgp_lan::check(c, b, err, &mut warnings)?;
    Ok(warnings)
}
