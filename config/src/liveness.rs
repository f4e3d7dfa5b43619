//! The `[liveness]` section: how quickly a dead hub instance loses its
//! flows, and how a tunnel comes back. Defaults move traffic off a dead
//! instance in under a second and never check an idle tunnel.

use crate::error::ConfigError;
use crate::model::Config;
use ike::endpoint::{EndpointConfig, LivenessConfig, TunnelConfig};
use ike::sa::RetransmitConfig;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivenessSection {
    /// ESP went out and nothing came back for this long: send a liveness
    /// check (an empty INFORMATIONAL). Keep it above the round trip.
    #[serde(default = "quiet")]
    pub quiet_ms: Spanned<u64>,
    /// The check's first retransmission; each later one waits 1.5 times
    /// longer (at most 1 s).
    #[serde(default = "probe")]
    pub probe_ms: Spanned<u64>,
    /// Retransmissions of the check before the IKE SA is declared dead.
    #[serde(default = "probe_retransmits")]
    pub probe_retransmits: u32,
    /// No answer this long after the check started: the tunnel is suspect
    /// and its flows move to the other tunnels.
    #[serde(default = "suspect")]
    pub suspect_ms: Spanned<u64>,
    /// A tunnel that comes back takes its flows back this long later.
    #[serde(default = "rejoin_hold")]
    pub rejoin_hold_ms: u64,
    /// After an IKE SA fails, an initiator tries again this long later,
    /// doubling up to `retry_max_seconds`.
    #[serde(default = "retry")]
    pub retry_ms: Spanned<u64>,
    #[serde(default = "retry_max")]
    pub retry_max_seconds: u64,
}

fn quiet() -> Spanned<u64> {
    Spanned::new(0..0, 250)
}
fn probe() -> Spanned<u64> {
    Spanned::new(0..0, 80)
}
fn probe_retransmits() -> u32 {
    7
}
fn suspect() -> Spanned<u64> {
    Spanned::new(0..0, 500)
}
fn rejoin_hold() -> u64 {
    2000
}
fn retry() -> Spanned<u64> {
    Spanned::new(0..0, 500)
}
fn retry_max() -> u64 {
    30
}

impl Default for LivenessSection {
    fn default() -> Self {
        Self {
            quiet_ms: quiet(),
            probe_ms: probe(),
            probe_retransmits: probe_retransmits(),
            suspect_ms: suspect(),
            rejoin_hold_ms: rejoin_hold(),
            retry_ms: retry(),
            retry_max_seconds: retry_max(),
        }
    }
}

impl LivenessSection {
    pub(crate) fn check(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let at =
            |s: &Spanned<u64>, reason: String| ConfigError::at(path, text, s.span().start, reason);
        if !(20..=60_000).contains(self.quiet_ms.get_ref()) {
            return Err(at(
                &self.quiet_ms,
                "[liveness] quiet_ms must be 20..=60000".into(),
            ));
        }
        if !(10..=10_000).contains(self.probe_ms.get_ref()) {
            return Err(at(
                &self.probe_ms,
                "[liveness] probe_ms must be 10..=10000".into(),
            ));
        }
        if self.suspect_ms.get_ref() <= self.probe_ms.get_ref() {
            return Err(at(
                &self.suspect_ms,
                format!(
                    "[liveness] suspect_ms ({}) must exceed probe_ms ({}): a check needs a retransmission before the tunnel is suspect",
                    self.suspect_ms.get_ref(),
                    self.probe_ms.get_ref()
                ),
            ));
        }
        if !(1..=20).contains(&self.probe_retransmits) {
            return Err(ConfigError::whole_file(
                path,
                "[liveness] probe_retransmits must be 1..=20",
            ));
        }
        if *self.retry_ms.get_ref() == 0 || self.retry_max_seconds == 0 {
            return Err(at(
                &self.retry_ms,
                "[liveness] retry_ms and retry_max_seconds must be above 0".into(),
            ));
        }
        Ok(())
    }

    pub fn to_ike(&self) -> LivenessConfig {
        LivenessConfig {
            quiet: Duration::from_millis(*self.quiet_ms.get_ref()),
            probe: RetransmitConfig {
                initial: Duration::from_millis(*self.probe_ms.get_ref()),
                factor_percent: 150,
                max_interval: Duration::from_secs(1)
                    .max(Duration::from_millis(*self.probe_ms.get_ref())),
                retransmits: self.probe_retransmits,
            },
            suspect_after: Duration::from_millis(*self.suspect_ms.get_ref()),
            rejoin_hold: Duration::from_millis(self.rejoin_hold_ms),
        }
    }
}

impl Config {
    /// The IKE endpoint's configuration: responder DoS protection from
    /// `[daemon]`, failover from `[liveness]`.
    pub fn endpoint_config(&self) -> EndpointConfig {
        let l = &self.liveness;
        EndpointConfig {
            cookie_threshold: self.daemon.ike_cookie_threshold,
            half_open_max: self.daemon.ike_half_open_max,
            retry_first: Duration::from_millis(*l.retry_ms.get_ref()),
            retry_max: Duration::from_secs(l.retry_max_seconds),
            liveness: l.to_ike(),
        }
    }

    /// Tunnel `i`'s IKE configuration, if it is keyed by IKE.
    pub fn tunnel_config(&self, i: usize) -> Option<TunnelConfig> {
        let t = self.tunnels.get(i)?.get_ref();
        let mut s = t.ike_settings()?;
        s.config.half_open_timeout = Duration::from_secs(self.daemon.ike_half_open_seconds);
        Some(TunnelConfig {
            local: t.local,
            peer: t.peer,
            ike: s.config,
            initiate: s.initiate,
        })
    }
}
