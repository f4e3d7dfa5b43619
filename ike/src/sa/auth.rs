//! IKE_AUTH (RFC 7296 §1.2) with pre-shared keys (§2.15), creating the
//! first Child SA (§1.3, §2.17).
//!
//! ```text
//! Initiator                         Responder
//! HDR, SK {IDi, AUTH, SAi2, TSi, TSr, N(INITIAL_CONTACT)}  -->
//!                              <--  HDR, SK {IDr, AUTH, SAr2, TSi, TSr}
//! ```

use super::collision::Activation;
use super::ike_sa::{IkeSa, Pending};
use super::negotiate::{accepted_esp, esp_answer, esp_sa_payload, select_esp, EspChoice};
use super::selectors::narrow;
use super::types::{ChildSa, DownReason, Event};
use crate::crypto::{psk_auth, verify_psk_auth, ChildKeys, EspKeys};
use crate::wire::{
    Auth, AuthMethod, ExchangeType, Identification, Notify, NotifyType, Payload, TrafficSelector,
    TrafficSelectors,
};
use esp::SaParams;
use std::time::Instant;

/// §3.5: the ID payload's body after the generic header, which AUTH covers.
fn id_body(id: &Identification) -> Vec<u8> {
    let mut b = vec![id.id_type.value(), 0, 0, 0];
    b.extend_from_slice(&id.data);
    b
}

pub(super) fn sa_params(spi: u32, c: EspChoice, keys: EspKeys, window: u32) -> SaParams {
    let mut p = SaParams::new(spi, c.transform, keys.encryption);
    p.integ_key = keys.integrity;
    p.esn = c.esn;
    p.replay_window = window;
    p
}

/// The parts of an IKE_AUTH message we use.
#[derive(Default)]
struct AuthPayloads<'a> {
    id_i: Option<&'a Identification>,
    id_r: Option<&'a Identification>,
    auth: Option<&'a Auth>,
    sa: Option<&'a crate::wire::Sa>,
    tsi: Option<&'a TrafficSelectors>,
    tsr: Option<&'a TrafficSelectors>,
    error: Option<NotifyType>,
}

fn collect(payloads: &[Payload]) -> AuthPayloads<'_> {
    let mut a = AuthPayloads::default();
    for p in payloads {
        match p {
            Payload::IdI(id) => a.id_i = Some(id),
            // An initiator may name the responder it wants (§3.5).
            Payload::IdR(id) => a.id_r = Some(id),
            Payload::Auth(x) => a.auth = Some(x),
            Payload::Sa(s) => a.sa = Some(s),
            Payload::TsI(t) => a.tsi = Some(t),
            Payload::TsR(t) => a.tsr = Some(t),
            Payload::Notify(n) if n.notify_type.is_error() => a.error = Some(n.notify_type),
            _ => {}
        }
    }
    a
}

impl IkeSa {
    pub(super) fn new_child_spi(&mut self) -> Option<u32> {
        let mut b = [0u8; 4];
        self.rng.fill(&mut b).ok()?;
        // SPIs below 256 are reserved (RFC 4303 §2.1).
        Some(u32::from_be_bytes(b).max(0x100))
    }

    fn expected_peer(&self, id: &Identification) -> bool {
        self.cfg
            .remote_id
            .as_ref()
            .is_none_or(|want| want.id_type == id.id_type && want.data == id.data)
    }

    pub(super) fn send_auth_request(&mut self, now: Instant) {
        let spi = self.new_child_spi();
        let (Some(keys), Some(spi)) = (self.keys.as_ref(), spi) else {
            return self.down(DownReason::Protocol("no keys"));
        };
        let id = self.cfg.local_id.clone();
        let octets = keys.initiator_signed_octets(&self.init_request, &self.nr, &id_body(&id));
        let auth = psk_auth(keys.suite().prf(), &self.cfg.psk, &octets);
        self.child_spi = spi;
        let payloads = vec![
            Payload::IdI(id),
            Payload::Auth(Auth {
                method: AuthMethod::SharedKeyMic,
                data: auth,
            }),
            Payload::Sa(esp_sa_payload(&self.cfg.esp_proposals, spi, false)),
            Payload::TsI(TrafficSelectors {
                selectors: self.cfg.local_ts.clone(),
            }),
            Payload::TsR(TrafficSelectors {
                selectors: self.cfg.remote_ts.clone(),
            }),
            Payload::Notify(Notify::new(NotifyType::InitialContact, Vec::new())),
        ];
        let id = self.ids.take_request_id();
        let header = self.header(ExchangeType::IkeAuth, false, id);
        match self.seal(header, &payloads) {
            Some(bytes) => self.request(now, Pending::Auth, id, bytes),
            None => self.down(DownReason::Protocol("cannot seal IKE_AUTH")),
        }
    }

    pub(super) fn on_auth_response(&mut self, now: Instant, payloads: &[Payload]) {
        let a = collect(payloads);
        if let Some(e) = a.error.filter(|_| a.auth.is_none()) {
            return self.down(match e {
                NotifyType::AuthenticationFailed => DownReason::AuthenticationFailed,
                other => DownReason::PeerError(other),
            });
        }
        let (Some(id), Some(auth), Some(keys)) = (a.id_r, a.auth, self.keys.as_ref()) else {
            return self.down(DownReason::Protocol("IKE_AUTH response lacks IDr or AUTH"));
        };
        let octets = keys.responder_signed_octets(&self.init_response, &self.ni, &id_body(id));
        let prf = keys.suite().prf();
        if auth.method != AuthMethod::SharedKeyMic
            || verify_psk_auth(prf, &self.cfg.psk, &octets, &auth.data).is_err()
            || !self.expected_peer(id)
        {
            return self.down(DownReason::AuthenticationFailed);
        }
        let suite = keys.suite().to_string();
        self.state = super::ike_sa::State::Established;
        self.ike_rekey_at = self.next_ike_rekey(now);
        self.events.push_back(Event::Established {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            suite,
            nat: self.nat,
        });
        // §2.21.2: the IKE SA stands even when the Child SA failed.
        if let Some(e) = a.error {
            return self.down(match e {
                NotifyType::NoProposalChosen => DownReason::NoProposalChosen,
                NotifyType::TsUnacceptable => DownReason::TsUnacceptable,
                other => DownReason::PeerError(other),
            });
        }
        let (Some(sa), Some(tsi), Some(tsr)) = (a.sa, a.tsi, a.tsr) else {
            return self.down(DownReason::Protocol("IKE_AUTH response lacks SA or TS"));
        };
        let Some((peer_spi, choice)) = accepted_esp(sa, &self.cfg.esp_proposals) else {
            return self.down(DownReason::NoProposalChosen);
        };
        let (ni, nr, spi) = (self.ni.clone(), self.nr.clone(), self.child_spi);
        let selectors = (tsi.selectors.clone(), tsr.selectors.clone());
        self.install_child(
            now,
            choice,
            (spi, peer_spi),
            None,
            (&ni, &nr),
            true,
            selectors,
            Activation::Usual,
        );
    }

    /// Derives a Child SA's keys (§2.17) from the nonces (and PFS secret)
    /// of the exchange that created it, and hands the pair to the owner.
    /// `we_initiated`: we were the initiator of that exchange.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn install_child(
        &mut self,
        now: Instant,
        c: EspChoice,
        (our_spi, peer_spi): (u32, u32),
        g_ir: Option<&esp::SecretBytes>,
        (ni, nr): (&[u8], &[u8]),
        we_initiated: bool,
        (tsi, tsr): (Vec<TrafficSelector>, Vec<TrafficSelector>),
        mode: Activation,
    ) {
        let Some(keys) = self.keys.as_ref() else {
            return;
        };
        let Ok(k) = ChildKeys::derive(keys, c.transform, g_ir, ni, nr) else {
            return self.down(DownReason::Protocol("child key derivation failed"));
        };
        let window = self.cfg.replay_window;
        let (inbound_keys, outbound_keys, local_ts, remote_ts) = if we_initiated {
            (k.responder_to_initiator, k.initiator_to_responder, tsi, tsr)
        } else {
            (k.initiator_to_responder, k.responder_to_initiator, tsr, tsi)
        };
        let mut inbound = sa_params(our_spi, c, inbound_keys, window);
        let mut outbound = sa_params(peer_spi, c, outbound_keys, window);
        // Inbound sees our side as the destination: the same pair, read
        // the other way round by the SA.
        inbound.selectors = super::selectors::to_esp(&local_ts, &remote_ts);
        outbound.selectors = inbound.selectors.clone();
        if let Some(bytes) = self.cfg.child_rekey_bytes {
            let lifetime = esp::Lifetime {
                soft: esp::Limits {
                    bytes: Some(bytes),
                    ..Default::default()
                },
                hard: esp::Limits {
                    bytes: Some(bytes.saturating_add(bytes / 10)),
                    ..Default::default()
                },
            };
            inbound.lifetime = lifetime;
            outbound.lifetime = lifetime;
        }
        let child = ChildSa {
            inbound,
            outbound,
            encap: self.nat || self.cfg.force_encap,
            local_ts,
            remote_ts,
            // A rekey we answered: the peer installs its inbound side only
            // once it has our response, so wait for its DELETE.
            activate: we_initiated || self.children.is_empty(),
        };
        self.child_up(now, child, mode);
    }

    pub(super) fn on_auth_request(&mut self, now: Instant, id: u32, payloads: &[Payload]) {
        let a = collect(payloads);
        let refuse = |sa: &mut Self, n: NotifyType, reason: DownReason| {
            sa.respond(
                id,
                ExchangeType::IkeAuth,
                vec![Payload::Notify(Notify::new(n, Vec::new()))],
            );
            sa.down(reason);
        };
        let (Some(peer_id), Some(auth), Some(keys)) = (a.id_i, a.auth, self.keys.as_ref()) else {
            return refuse(
                self,
                NotifyType::InvalidSyntax,
                DownReason::Protocol("IKE_AUTH lacks IDi or AUTH"),
            );
        };
        let prf = keys.suite().prf();
        let octets = keys.initiator_signed_octets(&self.init_request, &self.nr, &id_body(peer_id));
        if auth.method != AuthMethod::SharedKeyMic
            || verify_psk_auth(prf, &self.cfg.psk, &octets, &auth.data).is_err()
            || !self.expected_peer(peer_id)
        {
            return refuse(
                self,
                NotifyType::AuthenticationFailed,
                DownReason::AuthenticationFailed,
            );
        }
        let my_id = self.cfg.local_id.clone();
        let octets = keys.responder_signed_octets(&self.init_response, &self.ni, &id_body(&my_id));
        let my_auth = psk_auth(prf, &self.cfg.psk, &octets);
        let suite = keys.suite().to_string();
        let mut out = vec![
            Payload::IdR(my_id),
            Payload::Auth(Auth {
                method: AuthMethod::SharedKeyMic,
                data: my_auth,
            }),
        ];
        self.state = super::ike_sa::State::Established;
        self.ike_rekey_at = self.next_ike_rekey(now);
        self.events.push_back(Event::Established {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            suite,
            nat: self.nat,
        });

        let choice =
            a.sa.and_then(|sa| select_esp(sa, &self.cfg.esp_proposals, false));
        let tsi = a
            .tsi
            .map(|t| narrow(&t.selectors, &self.cfg.remote_ts))
            .unwrap_or_default();
        let tsr = a
            .tsr
            .map(|t| narrow(&t.selectors, &self.cfg.local_ts))
            .unwrap_or_default();
        let (Some((number, peer_spi, c)), Some(spi)) = (choice, self.new_child_spi()) else {
            out.push(Payload::Notify(Notify::new(
                NotifyType::NoProposalChosen,
                Vec::new(),
            )));
            self.respond(id, ExchangeType::IkeAuth, out);
            return self.down(DownReason::NoProposalChosen);
        };
        if tsi.is_empty() || tsr.is_empty() {
            out.push(Payload::Notify(Notify::new(
                NotifyType::TsUnacceptable,
                Vec::new(),
            )));
            self.respond(id, ExchangeType::IkeAuth, out);
            return self.down(DownReason::TsUnacceptable);
        }
        self.child_spi = spi;
        out.push(Payload::Sa(esp_answer(number, spi, c)));
        out.push(Payload::TsI(TrafficSelectors {
            selectors: tsi.clone(),
        }));
        out.push(Payload::TsR(TrafficSelectors {
            selectors: tsr.clone(),
        }));
        self.respond(id, ExchangeType::IkeAuth, out);
        let (ni, nr) = (self.ni.clone(), self.nr.clone());
        self.install_child(
            now,
            c,
            (spi, peer_spi),
            None,
            (&ni, &nr),
            false,
            (tsi, tsr),
            Activation::Usual,
        );
    }
}
