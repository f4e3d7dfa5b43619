//! `[bgp] mode` and `[[bgp.lan]]`: the on-premises side of the routing.
//! vwand passes Azure's prefixes to on-premises routers (next hop self,
//! only while a tunnel carries them) and may learn from them the
//! on-premises prefixes to advertise to Azure.

use crate::error::ConfigError;
use crate::model::{Config, TextSecret};
use bgp::redistribute::Mode;
use bgp::DEFAULT_LOCAL_PREF;
use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;
use toml::Spanned;

/// `[bgp] mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoutingMode {
    /// Everything between on-premises and Azure crosses the VPN.
    #[default]
    Encrypt,
    /// ExpressRoute is primary; the VPN carries traffic when it fails.
    Failover,
}

impl RoutingMode {
    pub fn mode(self) -> Mode {
        match self {
            RoutingMode::Encrypt => Mode::Encrypt,
            RoutingMode::Failover => Mode::Failover,
        }
    }
}

fn default_lan_max_prefixes() -> usize {
    1000
}

fn default_lan_ttl() -> u8 {
    1
}

/// One on-premises router.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanSection {
    /// The router's address.
    pub peer: Spanned<IpAddr>,
    /// Equal to `[bgp] asn` for iBGP.
    pub remote_as: Spanned<u32>,
    /// Our address toward the router, and the next hop we send (next hop
    /// self). Required: the LAN address is not the TUN's.
    pub local_address: Spanned<IpAddr>,
    /// Only accept the router's connection.
    #[serde(default)]
    pub passive: bool,
    /// Proposed hold time; defaults to `[bgp] hold_time`.
    pub hold_time: Option<u16>,
    /// IP TTL of our BGP packets (1: a directly connected router).
    #[serde(default = "default_lan_ttl")]
    pub ttl: u8,
    /// TCP-MD5 (RFC 2385) password.
    pub md5_password: Option<Spanned<TextSecret>>,
    /// On-premises prefixes to learn from this router and advertise to
    /// Azure (RFC 8212: none, nothing is learned). The encryption guard
    /// holds back any equal to an ExpressRoute prefix.
    #[serde(default)]
    pub import: Vec<Spanned<IpNet>>,
    #[serde(default = "default_lan_max_prefixes")]
    pub max_prefixes: usize,
    /// LOCAL_PREF of Azure's prefixes (iBGP only); defaults to 200 in
    /// encrypt mode and 50 in failover mode.
    pub local_pref: Option<Spanned<u32>>,
    /// MULTI_EXIT_DISC of Azure's prefixes.
    pub med: Option<u32>,
    /// Communities on Azure's prefixes, as `"asn:value"`.
    #[serde(default)]
    pub communities: Vec<Spanned<String>>,
}

impl LanSection {
    pub fn is_ibgp(&self, asn: u32) -> bool {
        *self.remote_as.get_ref() == asn
    }

    pub fn local_pref(&self, mode: RoutingMode) -> u32 {
        self.local_pref
            .as_ref()
            .map_or(mode.mode().default_local_pref(), |l| *l.get_ref())
    }

    /// The communities as 32-bit values (refused by `check` when not
    /// `asn:value` with both parts below 65536).
    pub fn community_values(&self) -> Vec<u32> {
        self.communities
            .iter()
            .filter_map(|c| parse_community(c.get_ref()))
            .collect()
    }

    pub fn import_prefixes(&self) -> Vec<IpNet> {
        self.import.iter().map(|p| *p.get_ref()).collect()
    }

    /// Everything that, changed, restarts the session (a reload).
    pub fn key(&self) -> impl PartialEq {
        (
            *self.peer.get_ref(),
            *self.remote_as.get_ref(),
            *self.local_address.get_ref(),
            self.passive,
            self.hold_time,
            self.ttl,
            self.md5_password.as_ref().map(|p| p.get_ref().0.clone()),
            self.import_prefixes(),
            self.max_prefixes,
            self.local_pref.as_ref().map(|l| *l.get_ref()),
            self.med,
            self.community_values(),
        )
    }
}

/// RFC 1997: `asn:value`, each part 16 bits.
pub fn parse_community(s: &str) -> Option<u32> {
    let (a, v) = s.split_once(':')?;
    let a: u16 = a.trim().parse().ok()?;
    let v: u16 = v.trim().parse().ok()?;
    Some(u32::from(a) << 16 | u32::from(v))
}

/// The LAN sessions and the mode, against the rest of the file.
pub(crate) fn check(
    c: &Config,
    b: &crate::BgpSection,
    err: &impl Fn(usize, String) -> ConfigError,
    warnings: &mut Vec<ConfigError>,
) -> Result<(), ConfigError> {
    let asn = *b.asn.get_ref();
    let mode = *b.mode.get_ref();
    let mode_at = b.mode.span().start;
    let er: Vec<IpNet> = b
        .expressroute_prefixes
        .iter()
        .map(|p| *p.get_ref())
        .collect();
    let tunnel_peers: Vec<IpAddr> = c
        .tunnels
        .iter()
        .filter_map(|t| t.get_ref().bgp.as_ref().map(|s| *s.peer.get_ref()))
        .collect();
    if mode == RoutingMode::Failover && er.is_empty() {
        warnings.push(err(mode_at, "mode = \"failover\" without expressroute_prefixes: nothing tells which prefixes ExpressRoute carries".into()));
    }
    if mode == RoutingMode::Failover {
        for p in &b.advertise {
            if er
                .iter()
                .any(|e| e.contains(p.get_ref()) && e != p.get_ref())
            {
                warnings.push(err(p.span().start, format!("mode = \"failover\": {} is more specific than an ExpressRoute prefix, so Azure sends its traffic over the VPN even while ExpressRoute is up (advertise the ExpressRoute prefixes themselves)", p.get_ref())));
            }
        }
    }
    for t in &c.tunnels {
        let t = t.get_ref();
        if let Some(s) = &t.bgp {
            if mode == RoutingMode::Encrypt && s.failover {
                warnings.push(err(s.peer.span().start, format!("tunnel {:?}: failover = true contradicts mode = \"encrypt\" (set mode = \"failover\" for ExpressRoute-primary designs)", t.name)));
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for l in &b.lan {
        let peer = *l.peer.get_ref();
        let at = l.peer.span().start;
        if !seen.insert(peer) {
            return Err(err(at, format!("LAN BGP peer {peer} is listed twice")));
        }
        if tunnel_peers.contains(&peer) {
            return Err(err(at, format!("LAN BGP peer {peer} is also a tunnel's BGP peer; Azure's BGP addresses are reached through the tunnels")));
        }
        let local = *l.local_address.get_ref();
        if local.is_ipv4() != peer.is_ipv4() {
            return Err(err(
                l.local_address.span().start,
                format!("LAN BGP peer {peer} and local_address {local} are of different families"),
            ));
        }
        let remote = *l.remote_as.get_ref();
        if remote == 0 || remote == 23456 || remote == bgp::AZURE_ASN {
            return Err(err(l.remote_as.span().start, format!("remote_as {remote} cannot be an on-premises router's AS (0 and 23456 are reserved; 65515 is Azure's)")));
        }
        if let Some(h) = l.hold_time {
            if h != 0 && h < 3 {
                return Err(err(
                    at,
                    format!("hold_time {h} must be 0 or at least 3 (RFC 4271 §4.2)"),
                ));
            }
        }
        if l.max_prefixes == 0 {
            return Err(err(at, "max_prefixes must be at least 1".into()));
        }
        for p in &l.import {
            crate::validate::exact(p, "import prefix", err)?;
        }
        for cm in &l.communities {
            if parse_community(cm.get_ref()).is_none() {
                return Err(err(
                    cm.span().start,
                    format!(
                        "community {:?} must be \"asn:value\", each a number below 65536",
                        cm.get_ref()
                    ),
                ));
            }
        }
        let ibgp = l.is_ibgp(asn);
        let lp = l.local_pref(mode);
        if let Some(lp_at) = l.local_pref.as_ref().map(|l| l.span().start) {
            if !ibgp {
                warnings.push(err(lp_at, format!("LAN BGP peer {peer} is eBGP: local_pref is not sent (LOCAL_PREF is for iBGP; use med or communities)")));
            } else if mode == RoutingMode::Encrypt && lp <= DEFAULT_LOCAL_PREF {
                warnings.push(err(lp_at, format!("local_pref {lp} is not above the default {DEFAULT_LOCAL_PREF}: the on-premises router may prefer ExpressRoute's path to Azure, in clear (mode = \"encrypt\")")));
            } else if mode == RoutingMode::Failover && lp >= DEFAULT_LOCAL_PREF {
                warnings.push(err(lp_at, format!("local_pref {lp} is not below the default {DEFAULT_LOCAL_PREF}: the on-premises router may prefer the VPN while ExpressRoute is up (mode = \"failover\")")));
            }
        }
        if !ibgp && mode == RoutingMode::Encrypt && l.communities.is_empty() && l.med.is_none() {
            warnings.push(err(at, format!("LAN BGP peer {peer} is eBGP: its own import policy decides whether it prefers the VPN over ExpressRoute; set communities (and match them there) or peer over iBGP")));
        }
    }
    Ok(())
}
