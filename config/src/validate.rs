//! Whole-file checks that a single field's parser cannot make.

use crate::error::ConfigError;
use crate::model::{Config, ManualSa, ManualSection, TunnelSection};
use esp::{OutboundSa, SaParams};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use toml::Spanned;

/// RFC 4303 §2.1: SPIs 1 to 255 are reserved, and 0 means none.
const MIN_SPI: u32 = 256;

/// A prefix must name a network: `172.24.1.0/17` has host bits set,
/// which would otherwise be dropped silently.
pub(crate) fn exact(
    n: &Spanned<IpNet>,
    what: &str,
    err: &impl Fn(usize, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let net = n.get_ref();
    if net.trunc() == *net {
        return Ok(());
    }
    Err(err(
        n.span().start,
        format!(
            "{what} {net} has host bits set; did you mean {}?",
            net.trunc()
        ),
    ))
}

pub(crate) fn check(c: &Config, path: &Path, text: &str) -> Result<(), ConfigError> {
    let err = |offset: usize, reason: String| ConfigError::at(path, text, offset, reason);

    if !(576..=9000).contains(&c.tun.mtu) {
        return Err(ConfigError::whole_file(
            path,
            format!("[tun] mtu {} is outside 576..=9000", c.tun.mtu),
        ));
    }
    if !(576..=9000).contains(&c.tun.underlay_mtu) {
        return Err(ConfigError::whole_file(
            path,
            format!(
                "[tun] underlay_mtu {} is outside 576..=9000",
                c.tun.underlay_mtu
            ),
        ));
    }
    if c.tun.mss_clamp != 0 && !(536..=9000).contains(&c.tun.mss_clamp) {
        return Err(ConfigError::whole_file(
            path,
            format!(
                "[tun] mss_clamp {} must be 0 (off) or 536..=9000",
                c.tun.mss_clamp
            ),
        ));
    }
    if !(1..=64).contains(&c.tun.queues) {
        return Err(ConfigError::whole_file(
            path,
            format!("[tun] queues {} is outside 1..=64", c.tun.queues),
        ));
    }
    if c.tun.name.is_empty() || c.tun.name.len() > 15 {
        return Err(ConfigError::whole_file(
            path,
            "[tun] name must be 1 to 15 characters",
        ));
    }
    let d = &c.daemon;
    if d.ike_half_open_max == 0 || !(1..=3600).contains(&d.ike_half_open_seconds) {
        return Err(ConfigError::whole_file(
            path,
            "[daemon] ike_half_open_max must be at least 1 and ike_half_open_seconds 1..=3600",
        ));
    }
    if c.tunnels.is_empty() {
        return Err(ConfigError::whole_file(path, "no [[tunnel]] is configured"));
    }

    let mut names = BTreeMap::new();
    let mut peers = BTreeMap::new();
    let mut inbound_spis = BTreeMap::new();
    for spanned in &c.tunnels {
        let t = spanned.get_ref();
        let at = spanned.span().start;
        if let Some(prev) = names.insert(t.name.as_str(), at) {
            let _ = prev;
            return Err(err(at, format!("tunnel name {:?} is used twice", t.name)));
        }
        if let Some(other) = peers.insert(t.peer, t.name.as_str()) {
            return Err(err(
                at,
                format!(
                    "tunnels {other:?} and {:?} both go to peer {}; one tunnel per hub instance",
                    t.name, t.peer
                ),
            ));
        }
        for r in &t.routes {
            exact(r, "route", &err)?;
            let covered = c
                .tunnels
                .iter()
                .map(|x| x.get_ref().peer)
                .find(|p| r.get_ref().contains(p));
            if let Some(p) = covered {
                return Err(err(
                    r.span().start,
                    format!(
                        "route {} covers tunnel peer {p}: ESP to it would loop into the TUN; route the prefix's other parts",
                        r.get_ref()
                    ),
                ));
            }
        }
        if t.local.is_ipv4() != t.peer.is_ipv4() {
            return Err(err(
                at,
                format!(
                    "tunnel {:?}: local and peer are of different IP families",
                    t.name
                ),
            ));
        }
        if t.routes.is_empty() && t.bgp.is_none() {
            return Err(err(
                at,
                format!(
                    "tunnel {:?}: routes is empty (and no BGP session learns any)",
                    t.name
                ),
            ));
        }
        match (&t.manual, &t.ike) {
            (Some(m), None) => {
                check_manual(t, m, &err)?;
                let spi = m.inbound.spi.get_ref();
                if let Some(other) = inbound_spis.insert(*spi, t.name.as_str()) {
                    return Err(err(
                        m.inbound.spi.span().start,
                        format!("inbound SPI {spi:#x} is already used by tunnel {other:?}"),
                    ));
                }
            }
            (None, Some(i)) => crate::ike::check(t, at, i, &err)?,
            (Some(_), Some(_)) => {
                return Err(err(
                    at,
                    format!(
                        "tunnel {:?} has both [tunnel.manual] and [tunnel.ike]; pick one",
                        t.name
                    ),
                ))
            }
            (None, None) => {
                return Err(err(
                    at,
                    format!(
                        "tunnel {:?} needs [tunnel.ike] (or [tunnel.manual] keys)",
                        t.name
                    ),
                ))
            }
        }
    }
    Ok(())
}

fn check_manual(
    t: &TunnelSection,
    m: &ManualSection,
    err: &impl Fn(usize, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let w = *m.replay_window.get_ref();
    if !(64..=esp::replay::MAX_WINDOW).contains(&w) {
        return Err(err(
            m.replay_window.span().start,
            format!(
                "replay_window {w} is outside 64..={}",
                esp::replay::MAX_WINDOW
            ),
        ));
    }
    for (dir, sa) in [("outbound", &m.outbound), ("inbound", &m.inbound)] {
        let spi = *sa.spi.get_ref();
        if spi < MIN_SPI {
            return Err(err(
                sa.spi.span().start,
                format!("{dir} SPI {spi:#x} is reserved (RFC 4303 §2.1); use 0x100 or above"),
            ));
        }
        // Key lengths depend on the transform: let the esp crate judge.
        if let Err(e) = OutboundSa::new(&sa_params(t, m, sa), Instant::now()) {
            let place = match e {
                esp::KeyError::EncryptionKeyLength { .. } => sa.key.span().start,
                _ => sa
                    .auth_key
                    .as_ref()
                    .map_or(sa.key.span().start, |k| k.span().start),
            };
            return Err(err(place, format!("{dir} SA of tunnel {:?}: {e}", t.name)));
        }
    }
    Ok(())
}

/// The esp parameters of one direction of a manually keyed tunnel.
pub fn sa_params(_t: &TunnelSection, m: &ManualSection, sa: &ManualSa) -> SaParams {
    let mut p = SaParams::new(
        *sa.spi.get_ref(),
        m.transform.get_ref().0,
        sa.key.get_ref().0.clone(),
    );
    p.integ_key = sa.auth_key.as_ref().map(|k| k.get_ref().0.clone());
    p.esn = m.esn;
    p.replay_window = *m.replay_window.get_ref();
    p
}

impl ManualSection {
    pub fn outbound_params(&self, t: &TunnelSection) -> SaParams {
        sa_params(t, self, &self.outbound)
    }

    pub fn inbound_params(&self, t: &TunnelSection) -> SaParams {
        sa_params(t, self, &self.inbound)
    }
}
