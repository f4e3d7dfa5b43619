//! What the control plane does with each of the endpoint's events: logs,
//! status, data-plane commands and the BGP sessions' tunnel state.

use super::Control;
use crate::dataplane::outbound::OutCommand;
use crate::dataplane::route::Carry;
use ike::endpoint::{Health, Suspicion, TunnelEvent};
use ike::sa::{DownReason, Event};

/// Why a tunnel is suspect, for status.
pub(super) fn health_reason(h: &Health) -> String {
    match h {
        Health::Suspect(Suspicion::NoAnswer) => "liveness check unanswered".into(),
        Health::Suspect(Suspicion::PathDown) => "path to the peer down".into(),
        _ => String::new(),
    }
}

impl Control {
    pub(super) async fn event(&mut self, tunnel: usize, ev: TunnelEvent) {
        let Some(t) = self.tunnels.get_mut(tunnel).and_then(Option::as_mut) else {
            return;
        };
        match ev {
            TunnelEvent::Connecting { attempt } => {
                tracing::info!(tunnel = %t.name, peer = %t.peer, attempt, "initiating IKE SA");
                t.status.state = "connecting".into();
            }
            TunnelEvent::Health(h) => {
                let carry = match h {
                    Health::Up => Carry::Active,
                    _ => Carry::Standby,
                };
                match h {
                    Health::Suspect(_) => {
                        tracing::warn!(tunnel = %t.name, reason = %health_reason(&h), "tunnel suspect: its flows move to the other tunnels")
                    }
                    Health::Rejoining { .. } => {
                        tracing::info!(tunnel = %t.name, "tunnel answers again; it takes its flows back after the hold-down")
                    }
                    Health::Up => tracing::info!(tunnel = %t.name, "tunnel carries flows"),
                    Health::Down => tracing::info!(tunnel = %t.name, "tunnel down"),
                }
                let _ = self
                    .out_commands
                    .send(OutCommand::Health { tunnel, carry })
                    .await;
            }
            TunnelEvent::Rekeying { spi } => {
                t.status.lifetime_rekeys += 1;
                tracing::info!(tunnel = %t.name, spi = format_args!("{spi:#010x}"), "ESP lifetime reached: rekeying the Child SA");
            }
            TunnelEvent::Replaced { was_established } => {
                if was_established {
                    tracing::info!(tunnel = %t.name, "the peer started a new IKE SA; it replaces the old one");
                }
            }
            TunnelEvent::IncomingFailed(reason) => {
                // Anyone can get a half-open SA this far, so this is logged
                // at a rate limit and kept apart from the tunnel's own
                // error.
                let established = t.status.state == "established";
                if self.init_log.allow() {
                    if established {
                        tracing::warn!(tunnel = %t.name, %reason, "a second IKE SA from the peer failed; the established one stays");
                    } else {
                        tracing::error!(tunnel = %t.name, peer = %t.peer, %reason, "IKE SA failed");
                    }
                }
                t.status.last_incoming_error = reason.to_string();
            }
            TunnelEvent::Sa(e) => self.sa_event(tunnel, e).await,
            TunnelEvent::Removed => self.removed(tunnel),
        }
    }

    async fn sa_event(&mut self, tunnel: usize, e: Event) {
        let Some(t) = self.tunnels.get_mut(tunnel).and_then(Option::as_mut) else {
            return;
        };
        match e {
            Event::Established {
                spi_i,
                spi_r,
                suite,
                nat,
            } => {
                tracing::info!(tunnel = %t.name, %suite, nat, spi_i = format_args!("{spi_i:016x}"), spi_r = format_args!("{spi_r:016x}"), "IKE SA established");
                t.status.state = "established".into();
                t.status.spi_i = format!("{spi_i:016x}");
                t.status.spi_r = format!("{spi_r:016x}");
                t.status.suite = suite;
                t.status.nat = nat;
                t.status.established_count += 1;
                t.status.established_ms = crate::status::unix_ms(std::time::SystemTime::now());
                t.status.last_error.clear();
            }
            Event::ChildUp(c) => {
                t.status.child_sas += 1;
                t.status.child_installed_ms = crate::status::unix_ms(std::time::SystemTime::now());
                self.install(tunnel, *c).await;
                self.tell_bgp(tunnel, true);
            }
            Event::IkeRekeyed { spi_i, spi_r } => {
                tracing::info!(tunnel = %t.name, spi_i = format_args!("{spi_i:016x}"), spi_r = format_args!("{spi_r:016x}"), "IKE SA rekeyed");
                t.status.spi_i = format!("{spi_i:016x}");
                t.status.spi_r = format!("{spi_r:016x}");
                t.status.ike_rekeys += 1;
            }
            Event::ChildActivate { inbound_spi } => self.activate(tunnel, inbound_spi).await,
            Event::ChildDown {
                inbound_spi,
                outbound_spi,
            } => self.remove(tunnel, inbound_spi, outbound_spi).await,
            Event::Down(reason) => {
                let level_error = matches!(
                    reason,
                    DownReason::AuthenticationFailed
                        | DownReason::NoProposalChosen
                        | DownReason::InvalidKe { .. }
                );
                if level_error {
                    tracing::error!(tunnel = %t.name, peer = %t.peer, %reason, "IKE SA failed");
                } else {
                    tracing::warn!(tunnel = %t.name, peer = %t.peer, %reason, "IKE SA down");
                }
                t.status.state = "down".into();
                t.status.last_error = reason.to_string();
                self.tell_bgp(tunnel, false);
            }
        }
    }
}
