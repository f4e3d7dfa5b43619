//! The `[tunnel.ike]` section: checked here, turned into the IKE crate's
//! configuration for the daemon.

use crate::error::ConfigError;
use crate::model::{IkeSection, Transport, TunnelSection};
use ike::crypto::{EspProposal, IkeProposal, LegacyAlgorithms};
use ike::sa::{selectors, IkeConfig, RetransmitConfig, MAX_FRAGMENT_SIZE, MIN_FRAGMENT_SIZE};
use ike::wire::{IdType, Identification};
use std::net::IpAddr;
use std::time::Duration;

/// A shorter pre-shared key is refused: guessing it offline from one
/// captured IKE_AUTH exchange must stay out of reach (RFC 7296 §2.15).
pub const MIN_PSK_LEN: usize = 16;

/// What the daemon needs to run one IKE tunnel.
pub struct IkeSettings {
    pub config: IkeConfig,
    pub initiate: bool,
}

/// An IKE identity as strongSwan writes it: an IP address, `keyid:text`
/// or `keyid:#hex` (ID_KEY_ID, RFC 7296 §3.5: opaque octets), or an FQDN
/// (a leading `@` is dropped).
pub(crate) fn identity(text: &str) -> Result<Identification, String> {
    if let Some(key) = text.strip_prefix("keyid:") {
        let data = match key.strip_prefix('#') {
            Some(hex) => {
                decode_hex(hex).ok_or_else(|| format!("{text:?}: bad hex after keyid:#"))?
            }
            None => key.as_bytes().to_vec(),
        };
        if data.is_empty() {
            return Err(format!("{text:?}: empty key ID"));
        }
        return Ok(Identification::new(IdType::KeyId, data));
    }
    Ok(match text.parse::<IpAddr>() {
        Ok(ip) => Identification::ip(ip),
        Err(_) => Identification::fqdn(text.strip_prefix('@').unwrap_or(text)),
    })
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = hex
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()?;
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    Some(digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

/// Traffic selectors for prefixes, any protocol and port.
fn ts(nets: &[toml::Spanned<ipnet::IpNet>]) -> Vec<ike::wire::TrafficSelector> {
    nets.iter()
        .filter_map(|n| selectors::prefix(n.get_ref().addr(), n.get_ref().prefix_len()))
        .collect()
}

fn legacy(i: &IkeSection) -> LegacyAlgorithms {
    if i.allow_legacy {
        LegacyAlgorithms::Allow
    } else {
        LegacyAlgorithms::Refuse
    }
}

/// One warning per tunnel that offers a legacy algorithm (only possible
/// with `allow_legacy`, or in a manually keyed tunnel), at the proposal
/// or transform that names it.
pub(crate) fn legacy_warnings(
    tunnels: &[toml::Spanned<TunnelSection>],
    err: &impl Fn(usize, String) -> ConfigError,
) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for t in tunnels.iter().map(toml::Spanned::get_ref) {
        let mut names: Vec<String> = Vec::new();
        let mut at = None;
        if let Some(i) = &t.ike {
            let ike = i.proposals.iter().map(|p| {
                let legacy = IkeProposal::parse(p.get_ref(), legacy(i)).map(|p| p.legacy());
                (p.span().start, legacy.unwrap_or_default())
            });
            let esp = i.esp_proposals.iter().map(|p| {
                let legacy = EspProposal::parse(p.get_ref(), legacy(i)).map(|p| p.legacy());
                (p.span().start, legacy.unwrap_or_default())
            });
            for (start, found) in ike.chain(esp) {
                if !found.is_empty() {
                    at.get_or_insert(start);
                }
                for n in found {
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
        }
        if let Some(m) = &t.manual {
            if m.transform.get_ref().0.is_legacy() {
                at.get_or_insert(m.transform.span().start);
                names.push(m.transform.get_ref().0.to_string());
            }
        }
        if let Some(at) = at {
            out.push(err(
                at,
                format!(
                    "tunnel {:?} offers legacy algorithms ({}) that RFC 8247 deprecates; keep \
                     them only for a peer that offers nothing better",
                    t.name,
                    names.join(", ")
                ),
            ));
        }
    }
    out
}

pub(crate) fn check(
    t: &TunnelSection,
    at: usize,
    i: &IkeSection,
    err: &impl Fn(usize, String) -> ConfigError,
) -> Result<(), ConfigError> {
    if i.proposals.is_empty() || i.esp_proposals.is_empty() {
        return Err(err(
            at,
            format!(
                "tunnel {:?}: proposals and esp_proposals may not be empty",
                t.name
            ),
        ));
    }
    for p in &i.proposals {
        IkeProposal::parse(p.get_ref(), legacy(i))
            .map_err(|e| err(p.span().start, e.to_string()))?;
    }
    for p in &i.esp_proposals {
        EspProposal::parse(p.get_ref(), legacy(i))
            .map_err(|e| err(p.span().start, e.to_string()))?;
    }
    let w = *i.replay_window.get_ref();
    if !(64..=esp::replay::MAX_WINDOW).contains(&w) {
        return Err(err(
            i.replay_window.span().start,
            format!(
                "replay_window {w} is outside 64..={}",
                esp::replay::MAX_WINDOW
            ),
        ));
    }
    for id in [&i.local_id, &i.remote_id].into_iter().flatten() {
        identity(id.get_ref()).map_err(|e| err(id.span().start, e))?;
    }
    for n in i.local_ts.iter().chain(&i.remote_ts) {
        if n.get_ref().trunc() != *n.get_ref() {
            return Err(err(
                n.span().start,
                format!(
                    "traffic selector {} has host bits set; did you mean {}?",
                    n.get_ref(),
                    n.get_ref().trunc()
                ),
            ));
        }
    }
    if i.local_ts.is_empty() || i.remote_ts.is_empty() {
        return Err(err(
            at,
            format!(
                "tunnel {:?}: local_ts and remote_ts may not be empty",
                t.name
            ),
        ));
    }
    let psk_len = i.psk.get_ref().0.len();
    if psk_len < MIN_PSK_LEN {
        return Err(err(
            i.psk.span().start,
            format!(
                "tunnel {:?}: the pre-shared key has {psk_len} characters; use at least {MIN_PSK_LEN} (Azure generates 32)",
                t.name
            ),
        ));
    }
    let f = *i.fragment_size.get_ref();
    if f != 0 && !(MIN_FRAGMENT_SIZE..=MAX_FRAGMENT_SIZE).contains(&f) {
        return Err(err(
            i.fragment_size.span().start,
            format!(
                "fragment_size {f} is outside {MIN_FRAGMENT_SIZE}..={MAX_FRAGMENT_SIZE} (0: off)"
            ),
        ));
    }
    if i.retransmit_ms == 0 || i.retransmits > 10 {
        return Err(err(
            at,
            format!(
                "tunnel {:?}: retransmit_ms must be > 0 and retransmits <= 10",
                t.name
            ),
        ));
    }
    Ok(())
}

impl TunnelSection {
    /// The IKE configuration of a tunnel with `[tunnel.ike]` (validated by
    /// `load`, so parsing cannot fail here; a failure yields `None`).
    pub fn ike_settings(&self) -> Option<IkeSettings> {
        let i = self.ike.as_ref()?;
        let ike_proposals = i
            .proposals
            .iter()
            .map(|p| IkeProposal::parse(p.get_ref(), legacy(i)).ok())
            .collect::<Option<Vec<_>>>()?;
        let esp_proposals = i
            .esp_proposals
            .iter()
            .map(|p| EspProposal::parse(p.get_ref(), legacy(i)).ok())
            .collect::<Option<Vec<_>>>()?;
        let local_id = i
            .local_id
            .as_ref()
            .map_or_else(
                || Ok(Identification::ip(self.local)),
                |s| identity(s.get_ref()),
            )
            .ok()?;
        let remote_id = i
            .remote_id
            .as_ref()
            .map_or_else(
                || Ok(Identification::ip(self.peer)),
                |s| identity(s.get_ref()),
            )
            .ok()?;
        let config = IkeConfig {
            local_id,
            remote_id: Some(remote_id),
            psk: i.psk.get_ref().0.clone(),
            ike_proposals,
            esp_proposals,
            // Route-based by default, as Azure expects: the routes decide
            // what enters; a policy-based peer may narrow (RFC 7296 §2.9).
            local_ts: ts(&i.local_ts),
            remote_ts: ts(&i.remote_ts),
            retransmit: RetransmitConfig {
                initial: Duration::from_millis(i.retransmit_ms),
                factor_percent: 200,
                max_interval: Duration::from_millis(i.retransmit_ms.saturating_mul(8)),
                retransmits: i.retransmits,
            },
            dpd_interval: (i.dpd_seconds > 0).then(|| Duration::from_secs(i.dpd_seconds)),
            force_encap: self.transport == Transport::Udp,
            replay_window: *i.replay_window.get_ref(),
            child_rekey_after: (i.child_rekey_seconds > 0)
                .then(|| Duration::from_secs(i.child_rekey_seconds)),
            rekey_grace: Duration::from_secs(2),
            ike_rekey_after: (i.ike_rekey_seconds > 0)
                .then(|| Duration::from_secs(i.ike_rekey_seconds)),
            child_rekey_bytes: (i.child_rekey_bytes > 0).then_some(i.child_rekey_bytes),
            fragment_size: (*i.fragment_size.get_ref() > 0).then(|| *i.fragment_size.get_ref()),
            // The daemon applies [daemon] ike_half_open_seconds.
            half_open_timeout: ike::sa::DEFAULT_HALF_OPEN_TIMEOUT,
            // The daemon turns it on when its debug log would show it.
            log_messages: false,
        };
        Some(IkeSettings {
            config,
            initiate: i.initiate,
        })
    }
}
