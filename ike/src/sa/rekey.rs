//! Rekeying a Child SA with CREATE_CHILD_SA (RFC 7296 §1.3.3, §2.8), both
//! roles, with optional PFS.
//!
//! ```text
//! Initiator                         Responder
//! HDR, SK {N(REKEY_SA), SA, Ni, [KEi], TSi, TSr}  -->
//!                              <--  HDR, SK {SA, Nr, [KEr], TSi, TSr}
//! ```
//!
//! Make-before-break: each side installs the new pair as soon as it has
//! the keys (inbound first, then outbound switches), and the rekey's
//! initiator then deletes the old pair (§2.8). Old inbound SAs linger for
//! [`IkeConfig::rekey_grace`](super::IkeConfig) so packets in flight on them
//! still arrive.
//!
//! Collisions (§2.8.1): a request to rekey the Child SA we are rekeying
//! ourselves is answered as usual, and the nonce rule then picks the
//! redundant SA (see [`super::collision`]).

use super::collision::Created;
use super::ike_sa::{IkeSa, Pending};
use super::negotiate::{accepted_esp, esp_answer, esp_sa_payload, select_esp, EspChoice};
use super::selectors::narrow;
use crate::crypto::{DhGroup, DhKeyPair};
use crate::wire::{
    ExchangeType, KeyExchange, Nonce, Notify, NotifyType, Payload, ProtocolId, Spi,
    TrafficSelectors,
};
use std::time::{Duration, Instant};

const NONCE_LEN: usize = 32;

/// Our outstanding rekey of a Child SA.
pub(crate) struct RekeyState {
    /// The old pair's inbound SPI.
    pub(super) old_inbound: u32,
    /// The new pair's inbound SPI.
    new_spi: u32,
    ni: Vec<u8>,
    dh: Option<DhKeyPair>,
}

/// What a CREATE_CHILD_SA message carries.
#[derive(Default)]
struct CreateChild<'a> {
    rekey_spi: Option<u32>,
    sa: Option<&'a crate::wire::Sa>,
    nonce: Option<&'a Nonce>,
    ke: Option<&'a KeyExchange>,
    tsi: Option<&'a TrafficSelectors>,
    tsr: Option<&'a TrafficSelectors>,
    error: Option<NotifyType>,
}

fn collect(payloads: &[Payload]) -> CreateChild<'_> {
    let mut c = CreateChild::default();
    for p in payloads {
        match p {
            Payload::Notify(n) if n.notify_type == NotifyType::RekeySa => {
                if let Spi::Ipsec(spi) = n.spi {
                    c.rekey_spi = Some(spi);
                }
            }
            Payload::Notify(n) if n.notify_type.is_error() => c.error = Some(n.notify_type),
            Payload::Sa(s) => c.sa = Some(s),
            Payload::Nonce(n) => c.nonce = Some(n),
            Payload::Ke(k) => c.ke = Some(k),
            Payload::TsI(t) => c.tsi = Some(t),
            Payload::TsR(t) => c.tsr = Some(t),
            _ => {}
        }
    }
    c
}

fn notify(t: NotifyType) -> Payload {
    Payload::Notify(Notify::new(t, Vec::new()))
}

impl IkeSa {
    fn random(&mut self, n: usize) -> Option<Vec<u8>> {
        let mut b = vec![0u8; n];
        self.rng.fill(&mut b).ok()?;
        Some(b)
    }

    /// When the current Child SA is due for a rekey: the configured time
    /// less up to 10% jitter.
    pub(super) fn next_rekey(&mut self, now: Instant) -> Option<Instant> {
        let after = self.cfg.child_rekey_after?;
        let r = self
            .random(2)
            .map_or(0, |b| u64::from(u16::from_be_bytes([b[0], b[1]])));
        let jitter = after.mul_f64(0.1 * r as f64 / f64::from(u16::MAX));
        Some(now + after - jitter)
    }

    /// Asks again in a few seconds (after TEMPORARY_FAILURE or a failure).
    fn retry_rekey(&mut self, now: Instant) {
        let r = self.random(1).map_or(0, |b| u64::from(b[0]));
        self.rekey_at = Some(now + Duration::from_millis(1000 + r * 8));
    }

    pub(super) fn start_child_rekey(&mut self, now: Instant) {
        self.rekey_at = None;
        let Some(current) = self.current_child() else {
            return;
        };
        let (Some(new_spi), Some(ni)) = (self.new_child_spi(), self.random(NONCE_LEN)) else {
            return;
        };
        // PFS when the first ESP proposal names a group.
        let group: Option<DhGroup> = self
            .cfg
            .esp_proposals
            .first()
            .and_then(|p| p.dh().first().copied());
        let dh = match group.map(|g| DhKeyPair::generate(g, self.rng.as_mut())) {
            Some(Ok(k)) => Some(k),
            Some(Err(_)) => return self.retry_rekey(now),
            None => None,
        };
        let mut rekey = Notify::new(NotifyType::RekeySa, Vec::new());
        rekey.protocol_id = ProtocolId::Esp;
        rekey.spi = Spi::Ipsec(current.inbound);
        let mut payloads = vec![
            Payload::Notify(rekey),
            Payload::Sa(esp_sa_payload(
                &self.cfg.esp_proposals,
                new_spi,
                dh.is_some(),
            )),
            Payload::Nonce(Nonce(ni.clone())),
        ];
        if let Some(k) = &dh {
            payloads.push(Payload::Ke(KeyExchange {
                group: k.group().id().into(),
                data: k.public_value().to_vec(),
            }));
        }
        payloads.push(Payload::TsI(TrafficSelectors {
            selectors: self.cfg.local_ts.clone(),
        }));
        payloads.push(Payload::TsR(TrafficSelectors {
            selectors: self.cfg.remote_ts.clone(),
        }));
        let id = self.ids.take_request_id();
        let header = self.header(ExchangeType::CreateChildSa, false, id);
        if let Some(bytes) = self.seal(header, &payloads) {
            self.rekey = Some(RekeyState {
                old_inbound: current.inbound,
                new_spi,
                ni,
                dh,
            });
            self.request(now, Pending::RekeyChild, id, bytes);
        }
    }

    pub(super) fn on_rekey_response(&mut self, now: Instant, payloads: &[Payload]) {
        let Some(state) = self.rekey.take() else {
            return;
        };
        let c = collect(payloads);
        if c.error.is_some() || c.sa.is_none() {
            // TEMPORARY_FAILURE (a collision) or a refusal: keep the old SA
            // and try again shortly.
            return self.retry_rekey(now);
        }
        let (Some(sa), Some(nonce)) = (c.sa, c.nonce) else {
            return self.retry_rekey(now);
        };
        let Some((peer_spi, choice)) = accepted_esp(sa, &self.cfg.esp_proposals) else {
            return self.retry_rekey(now);
        };
        let g_ir = match (&state.dh, c.ke) {
            (Some(k), Some(ke)) if ke.group.value() == k.group().id() => {
                match k.shared_secret(&ke.data) {
                    Ok(g) => Some(g),
                    Err(_) => return self.retry_rekey(now),
                }
            }
            (None, None) => None,
            _ => return self.retry_rekey(now),
        };
        let tsi = c
            .tsi
            .map(|t| t.selectors.clone())
            .unwrap_or_else(|| self.cfg.local_ts.clone());
        let tsr = c
            .tsr
            .map(|t| t.selectors.clone())
            .unwrap_or_else(|| self.cfg.remote_ts.clone());
        let nr = nonce.0.clone();
        // §2.8: the rekey's initiator deletes the old pair, a little later,
        // so that packets already sent on it are not dropped by the peer;
        // unless the peer rekeyed it too and ours is redundant (§2.8.1).
        let ours = Created {
            inbound: state.new_spi,
            ni: state.ni.clone(),
            nr: nr.clone(),
        };
        let mode = self.our_rekey_done(now, state.old_inbound, ours);
        self.install_child(
            now,
            choice,
            (state.new_spi, peer_spi),
            g_ir.as_ref(),
            (&state.ni, &nr),
            true,
            (tsi, tsr),
            mode,
        );
    }

    /// The peer confirmed our DELETE: the pair goes after the grace period.
    pub(super) fn on_delete_child_response(&mut self, now: Instant, payloads: &[Payload]) {
        let _ = payloads;
        if let Some(spi) = self.deleting_child.take() {
            self.retire_child(now, spi);
        }
    }

    pub(super) fn on_create_child_sa(&mut self, now: Instant, id: u32, payloads: &[Payload]) {
        let c = collect(payloads);
        let Some(rekey_spi) = c.rekey_spi else {
            // §1.3.2: an SA payload proposing IKE is an IKE SA rekey.
            let ike = c.sa.is_some_and(|sa| {
                sa.proposals
                    .iter()
                    .any(|p| p.protocol_id == ProtocolId::Ike)
            });
            if ike {
                return self.on_ike_rekey_request(now, id, payloads);
            }
            // Only one Child SA per tunnel (route-based, 0/0 selectors).
            return self.respond(
                id,
                ExchangeType::CreateChildSa,
                vec![notify(NotifyType::NoAdditionalSas)],
            );
        };
        // The SPI is the one the requester expects inbound: our outbound.
        let Some(old) = self
            .children
            .iter()
            .find(|c| c.outbound == rekey_spi && c.retire_at.is_none())
            .copied()
        else {
            return self.respond(
                id,
                ExchangeType::CreateChildSa,
                vec![notify(NotifyType::ChildSaNotFound)],
            );
        };
        let (Some(sa), Some(nonce)) = (c.sa, c.nonce) else {
            return self.respond(
                id,
                ExchangeType::CreateChildSa,
                vec![notify(NotifyType::InvalidSyntax)],
            );
        };
        let Some((number, peer_spi, choice)) =
            select_esp(sa, &self.cfg.esp_proposals, c.ke.is_some())
        else {
            return self.respond(
                id,
                ExchangeType::CreateChildSa,
                vec![notify(NotifyType::NoProposalChosen)],
            );
        };
        let (Some(spi), Some(nr)) = (self.new_child_spi(), self.random(NONCE_LEN)) else {
            return;
        };
        let mut ke_out = None;
        let g_ir = match (choice.dh, c.ke) {
            (Some(g), Some(ke)) if ke.group.value() == g.id() => {
                let Ok(k) = DhKeyPair::generate(g, self.rng.as_mut()) else {
                    return;
                };
                let Ok(secret) = k.shared_secret(&ke.data) else {
                    return self.respond(
                        id,
                        ExchangeType::CreateChildSa,
                        vec![notify(NotifyType::InvalidSyntax)],
                    );
                };
                ke_out = Some(KeyExchange {
                    group: g.id().into(),
                    data: k.public_value().to_vec(),
                });
                Some(secret)
            }
            (Some(g), Some(_)) => {
                return self.respond(
                    id,
                    ExchangeType::CreateChildSa,
                    vec![Payload::Notify(Notify::invalid_ke_payload(g.id().into()))],
                );
            }
            _ => None,
        };
        let choice = EspChoice {
            dh: ke_out.as_ref().and(choice.dh),
            ..choice
        };
        let tsi = c
            .tsi
            .map(|t| narrow(&t.selectors, &self.cfg.remote_ts))
            .unwrap_or_default();
        let tsr = c
            .tsr
            .map(|t| narrow(&t.selectors, &self.cfg.local_ts))
            .unwrap_or_default();
        if tsi.is_empty() || tsr.is_empty() {
            return self.respond(
                id,
                ExchangeType::CreateChildSa,
                vec![notify(NotifyType::TsUnacceptable)],
            );
        }
        let mut out = vec![
            Payload::Sa(esp_answer(number, spi, choice)),
            Payload::Nonce(Nonce(nr.clone())),
        ];
        if let Some(k) = ke_out {
            out.push(Payload::Ke(k));
        }
        out.push(Payload::TsI(TrafficSelectors {
            selectors: tsi.clone(),
        }));
        out.push(Payload::TsR(TrafficSelectors {
            selectors: tsr.clone(),
        }));
        self.respond(id, ExchangeType::CreateChildSa, out);
        let ni = nonce.0.clone();
        let theirs = Created {
            inbound: spi,
            ni: ni.clone(),
            nr: nr.clone(),
        };
        let mode = self.their_rekey_done(now, old.inbound, theirs);
        self.install_child(
            now,
            choice,
            (spi, peer_spi),
            g_ir.as_ref(),
            (&ni, &nr),
            false,
            (tsi, tsr),
            mode,
        );
    }
}
