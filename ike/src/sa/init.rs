//! IKE_SA_INIT (RFC 7296 §1.2), both roles, with the COOKIE (§2.6) and
//! INVALID_KE_PAYLOAD (§1.2) retries and NAT detection (§2.23).
//!
//! ```text
//! Initiator                         Responder
//! HDR, SAi1, KEi, Ni, N(NAT-D)  -->
//!                              <--  HDR, SAr1, KEr, Nr, N(NAT-D)
//! ```

use super::ike_sa::{IkeSa, Pending, Role, State, NAT_T_PORT};
use super::nat;
use super::negotiate::{accepted_ike, ike_answer, ike_sa_payload, select_ike};
use super::types::{DownReason, IkeConfig, Transmit};
use super::window::MessageIds;
use crate::crypto::{DhGroup, DhKeyPair, IkeSaKeys, Rng};
use crate::wire::{
    ExchangeType, FixedHeader, Flags, Header, KeyExchange, Message, Nonce, Notify, NotifyType,
    Payload, WireError,
};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

/// Nonce length: at least half the PRF's key size (§2.10); 32 covers all.
const NONCE_LEN: usize = 32;

fn random_bytes(rng: &mut dyn Rng, n: usize) -> Option<Vec<u8>> {
    let mut b = vec![0u8; n];
    rng.fill(&mut b).ok()?;
    Some(b)
}

fn fragmentation_supported() -> Notify {
    Notify::new(NotifyType::Ikev2FragmentationSupported, Vec::new())
}

fn random_spi(rng: &mut dyn Rng) -> Option<u64> {
    let b = random_bytes(rng, 8)?;
    let spi = u64::from_be_bytes(b.try_into().ok()?);
    Some(spi.max(1))
}

/// What the owner does with an IKE_SA_INIT request from an unknown peer.
pub enum Accepted {
    /// A new responder SA; its response is queued in it.
    Sa(Box<IkeSa>),
    /// A stateless answer (an error notify); no SA is kept.
    Refused { reply: Transmit, reason: DownReason },
    /// Not an IKE_SA_INIT request: ignore it.
    Ignored,
}

/// A stateless, unencrypted answer to an IKE_SA_INIT request carrying one
/// notify (§2.6, §2.21): the initiator's SPI, SPIr zero, message ID 0.
pub(super) fn stateless_reply(
    local: SocketAddr,
    remote: SocketAddr,
    spi_i: u64,
    notify: Notify,
) -> Option<Transmit> {
    let header = Header::new(
        spi_i,
        0,
        ExchangeType::IkeSaInit,
        Flags::new(false, true),
        0,
    );
    let data = Message::new(header, vec![Payload::Notify(notify)])
        .encode()
        .ok()?;
    Some(Transmit {
        local_port: local.port(),
        remote,
        data,
    })
}

fn refusal(
    local: SocketAddr,
    remote: SocketAddr,
    spi_i: u64,
    notify: Notify,
    reason: DownReason,
) -> Accepted {
    match stateless_reply(local, remote, spi_i, notify) {
        Some(reply) => Accepted::Refused { reply, reason },
        None => Accepted::Ignored,
    }
}

/// Whether a header is that of an initiator's first IKE_SA_INIT request.
pub fn is_init_request(h: &Header) -> bool {
    h.exchange_type == ExchangeType::IkeSaInit
        && !h.flags.response()
        && h.flags.initiator()
        && h.message_id == 0
        && h.spi_r == 0
}

/// RFC 7296 §2.5: an IKE_SA_INIT request with a critical payload we do
/// not know is refused, unencrypted, with UNSUPPORTED_CRITICAL_PAYLOAD
/// naming the payload type. Anything else undecodable is dropped: there is
/// nothing authentic to answer (§2.21.1).
fn refuse_undecodable(
    local: SocketAddr,
    remote: SocketAddr,
    data: &[u8],
    e: &WireError,
) -> Accepted {
    let WireError::UnsupportedCriticalPayload(t) = e else {
        return Accepted::Ignored;
    };
    match FixedHeader::decode_prefix(data) {
        Ok(fixed) if is_init_request(&fixed.header) => refusal(
            local,
            remote,
            fixed.header.spi_i,
            Notify::new(NotifyType::UnsupportedCriticalPayload, vec![*t]),
            DownReason::Protocol("unsupported critical payload in IKE_SA_INIT"),
        ),
        _ => Accepted::Ignored,
    }
}

impl IkeSa {
    fn blank(
        cfg: IkeConfig,
        role: Role,
        local: SocketAddr,
        remote: SocketAddr,
        now: Instant,
        rng: Box<dyn Rng + Send>,
    ) -> Self {
        Self {
            cfg,
            role,
            state: State::InitSent,
            spi_i: 0,
            spi_r: 0,
            local,
            remote,
            nat: false,
            rng,
            dh: None,
            ni: Vec::new(),
            nr: Vec::new(),
            cookie: None,
            init_request: Vec::new(),
            init_response: Vec::new(),
            keys: None,
            send_cipher: None,
            recv_cipher: None,
            ids: MessageIds::default(),
            outstanding: None,
            last_response: None,
            fragmenting: false,
            reassembly: Default::default(),
            child_spi: 0,
            children: Vec::new(),
            rekey_at: None,
            rekey: None,
            activation: None,
            delete_old: None,
            deleting_child: None,
            child_rekeys: None,
            ike_rekey: None,
            ike_rekey_at: None,
            retired: Vec::new(),
            last_heard: now,
            last_answer: None,
            message_log: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Starts an IKE SA towards `remote` (port 500) from `local`.
    pub fn initiate(
        cfg: IkeConfig,
        local: SocketAddr,
        remote: SocketAddr,
        now: Instant,
        rng: Box<dyn Rng + Send>,
    ) -> Self {
        let mut sa = Self::blank(cfg, Role::Initiator, local, remote, now, rng);
        let group = sa
            .cfg
            .ike_proposals
            .first()
            .and_then(|p| p.dh().first().copied());
        match (
            group,
            random_spi(sa.rng.as_mut()),
            random_bytes(sa.rng.as_mut(), NONCE_LEN),
        ) {
            (Some(g), Some(spi), Some(ni)) => {
                sa.spi_i = spi;
                sa.ni = ni;
                sa.send_init_request(now, g);
            }
            _ => sa.down(DownReason::Protocol("no IKE proposal or no randomness")),
        }
        sa
    }

    fn send_init_request(&mut self, now: Instant, group: DhGroup) {
        let Ok(dh) = DhKeyPair::generate(group, self.rng.as_mut()) else {
            return self.down(DownReason::Protocol("key generation failed"));
        };
        let mut payloads = Vec::new();
        if let Some(c) = &self.cookie {
            payloads.push(Payload::Notify(Notify::new(NotifyType::Cookie, c.clone())));
        }
        payloads.push(Payload::Sa(ike_sa_payload(&self.cfg.ike_proposals)));
        payloads.push(Payload::Ke(KeyExchange {
            group: group.id().into(),
            data: dh.public_value().to_vec(),
        }));
        payloads.push(Payload::Nonce(Nonce(self.ni.clone())));
        let fake = self.cfg.force_encap;
        payloads.extend(
            nat::notifies(self.spi_i, 0, self.local, self.remote, fake).map(Payload::Notify),
        );
        // RFC 7383 §2.3: announce that we can take fragmented messages.
        if self.cfg.fragment_size.is_some() {
            payloads.push(Payload::Notify(fragmentation_supported()));
        }
        self.dh = Some(dh);
        let header = Header::new(
            self.spi_i,
            0,
            ExchangeType::IkeSaInit,
            Flags::new(true, false),
            0,
        );
        self.log_message(true, &header, &payloads);
        match Message::new(header, payloads).encode() {
            Ok(bytes) => {
                self.init_request = bytes.clone();
                self.request(now, Pending::Init, 0, vec![bytes]);
            }
            Err(_) => self.down(DownReason::Protocol("cannot encode IKE_SA_INIT")),
        }
    }

    pub(super) fn on_init_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message,
        data: &[u8],
    ) {
        if self.state != State::InitSent {
            return;
        }
        self.log_message(false, &msg.header, &msg.payloads);
        // §2.6: the responder wants proof of our address first.
        if let Some(c) = msg.notify(NotifyType::Cookie) {
            if self.cookie.is_none() {
                self.cookie = Some(c.data.clone());
                let group = self.dh.as_ref().map(|d| d.group());
                if let Some(g) = group {
                    self.send_init_request(now, g);
                }
            }
            return;
        }
        // §1.2: the responder prefers another group we also offered.
        if let Some(n) = msg.notify(NotifyType::InvalidKePayload) {
            let wanted = n.accepted_group().and_then(|g| DhGroup::from_id(g.value()));
            let offered =
                wanted.is_some_and(|g| self.cfg.ike_proposals.iter().any(|p| p.dh().contains(&g)));
            let current = self.dh.as_ref().map(|d| d.group());
            match wanted {
                Some(g) if offered && Some(g) != current => self.send_init_request(now, g),
                _ => self.down(DownReason::InvalidKe {
                    group: n.accepted_group().map(|g| g.value()),
                    we_asked: false,
                }),
            }
            return;
        }
        if let Some(n) = msg.notifies().find(|n| n.notify_type.is_error()) {
            let reason = match n.notify_type {
                NotifyType::NoProposalChosen => DownReason::NoProposalChosen,
                other => DownReason::PeerError(other),
            };
            return self.down(reason);
        }
        let (mut sa, mut ke, mut nonce) = (None, None, None);
        for p in &msg.payloads {
            match p {
                Payload::Sa(s) => sa = Some(s),
                Payload::Ke(k) => ke = Some(k),
                Payload::Nonce(n) => nonce = Some(n),
                _ => {}
            }
        }
        let (Some(sa), Some(ke), Some(nonce)) = (sa, ke, nonce) else {
            return self.down(DownReason::Protocol(
                "IKE_SA_INIT response lacks SA, KE or Nr",
            ));
        };
        let Some(suite) = accepted_ike(sa, &self.cfg.ike_proposals) else {
            return self.down(DownReason::NoProposalChosen);
        };
        let Some(dh) = self.dh.take() else { return };
        if suite.dh() != dh.group() || ke.group.value() != dh.group().id() {
            return self.down(DownReason::Protocol("responder chose another DH group"));
        }
        let Ok(g_ir) = dh.shared_secret(&ke.data) else {
            return self.down(DownReason::Protocol("bad KE public value"));
        };
        self.spi_r = msg.header.spi_r;
        self.nr = nonce.0.clone();
        self.init_response = data.to_vec();
        self.nat = nat::detected(self.spi_i, self.spi_r, self.local, from, msg.notifies());
        // RFC 7383 §2.3: fragmentation once both sides have announced it.
        self.fragmenting = self.cfg.fragment_size.is_some()
            && msg
                .notify(NotifyType::Ikev2FragmentationSupported)
                .is_some();
        let Ok(keys) =
            IkeSaKeys::from_ike_sa_init(suite, &g_ir, &self.ni, &self.nr, self.spi_i, self.spi_r)
        else {
            return self.down(DownReason::Protocol("key derivation failed"));
        };
        let (Ok(send), Ok(recv)) = (keys.initiator_cipher(), keys.responder_cipher()) else {
            return self.down(DownReason::Protocol("SK cipher setup failed"));
        };
        self.send_cipher = Some(send);
        self.recv_cipher = Some(recv);
        self.keys = Some(keys);
        self.outstanding = None;
        self.ids = MessageIds::after_init(true);
        // §2.23: after NAT detection, IKE moves to 4500 (and so does ESP).
        if self.nat || self.cfg.force_encap {
            self.nat = true;
            self.remote.set_port(NAT_T_PORT);
            self.local.set_port(NAT_T_PORT);
        }
        self.state = State::Authenticating;
        self.send_auth_request(now);
    }

    /// Handles an IKE_SA_INIT request from a peer with no SA yet.
    pub fn accept(
        cfg: IkeConfig,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
        now: Instant,
        rng: Box<dyn Rng + Send>,
    ) -> Accepted {
        let msg = match Message::decode(data) {
            Ok(msg) => msg,
            Err(e) => return refuse_undecodable(local, remote, data, &e),
        };
        let h = msg.header;
        if !is_init_request(&h) {
            return Accepted::Ignored;
        }
        let refuse =
            |notify: Notify, reason: DownReason| refusal(local, remote, h.spi_i, notify, reason);
        let (mut sa, mut ke, mut nonce) = (None, None, None);
        for p in &msg.payloads {
            match p {
                Payload::Sa(s) => sa = Some(s),
                Payload::Ke(k) => ke = Some(k),
                Payload::Nonce(n) => nonce = Some(n),
                _ => {}
            }
        }
        let (Some(sa), Some(ke), Some(nonce)) = (sa, ke, nonce) else {
            return refuse(
                Notify::new(NotifyType::InvalidSyntax, Vec::new()),
                DownReason::Protocol("IKE_SA_INIT lacks SA, KE or Ni"),
            );
        };
        let Some((number, suite)) = select_ike(sa, &cfg.ike_proposals) else {
            return refuse(
                Notify::new(NotifyType::NoProposalChosen, Vec::new()),
                DownReason::NoProposalChosen,
            );
        };
        if ke.group.value() != suite.dh().id() {
            return refuse(
                Notify::invalid_ke_payload(suite.dh().id().into()),
                DownReason::InvalidKe {
                    group: Some(suite.dh().id()),
                    we_asked: true,
                },
            );
        }
        let mut ike = Self::blank(cfg, Role::Responder, local, remote, now, rng);
        ike.log_message(false, &msg.header, &msg.payloads);
        ike.state = State::Authenticating;
        ike.spi_i = h.spi_i;
        ike.ni = nonce.0.clone();
        ike.init_request = data.to_vec();
        let (Some(spi_r), Some(nr)) = (
            random_spi(ike.rng.as_mut()),
            random_bytes(ike.rng.as_mut(), NONCE_LEN),
        ) else {
            return Accepted::Ignored;
        };
        ike.spi_r = spi_r;
        ike.nr = nr;
        let Ok(dh) = DhKeyPair::generate(suite.dh(), ike.rng.as_mut()) else {
            return Accepted::Ignored;
        };
        let Ok(g_ir) = dh.shared_secret(&ke.data) else {
            return refuse(
                Notify::new(NotifyType::InvalidSyntax, Vec::new()),
                DownReason::Protocol("bad KE public value"),
            );
        };
        ike.nat = ike.cfg.force_encap || nat::detected(ike.spi_i, 0, local, remote, msg.notifies());
        let Ok(keys) =
            IkeSaKeys::from_ike_sa_init(suite, &g_ir, &ike.ni, &ike.nr, ike.spi_i, ike.spi_r)
        else {
            return Accepted::Ignored;
        };
        let (Ok(send), Ok(recv)) = (keys.responder_cipher(), keys.initiator_cipher()) else {
            return Accepted::Ignored;
        };
        let mut payloads = vec![
            Payload::Sa(ike_answer(number, suite)),
            Payload::Ke(KeyExchange {
                group: suite.dh().id().into(),
                data: dh.public_value().to_vec(),
            }),
            Payload::Nonce(Nonce(ike.nr.clone())),
        ];
        let fake = ike.cfg.force_encap;
        payloads
            .extend(nat::notifies(ike.spi_i, ike.spi_r, local, remote, fake).map(Payload::Notify));
        // RFC 7383 §2.3: the responder announces support only if the
        // initiator did.
        ike.fragmenting = ike.cfg.fragment_size.is_some()
            && msg
                .notify(NotifyType::Ikev2FragmentationSupported)
                .is_some();
        if ike.fragmenting {
            payloads.push(Payload::Notify(fragmentation_supported()));
        }
        let header = Header::new(
            ike.spi_i,
            ike.spi_r,
            ExchangeType::IkeSaInit,
            Flags::new(false, true),
            0,
        );
        ike.log_message(true, &header, &payloads);
        let Ok(bytes) = Message::new(header, payloads).encode() else {
            return Accepted::Ignored;
        };
        ike.send_cipher = Some(send);
        ike.recv_cipher = Some(recv);
        ike.keys = Some(keys);
        ike.ids = MessageIds::after_init(false);
        ike.init_response = bytes.clone();
        ike.send(bytes);
        Accepted::Sa(Box::new(ike))
    }
}
