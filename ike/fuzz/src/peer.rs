//! The scripted peer: an IKEv2 speaker with fixed Diffie-Hellman keys that
//! the fuzzer's input steers (see the crate docs).

use super::*;

/// A request the SA sent, as the peer saw it.
#[derive(Debug, Clone)]
pub struct SaRequest {
    pub exchange: ExchangeType,
    pub message_id: u32,
    /// The inner payloads, if the peer's keys opened the SK payload.
    pub payloads: Option<Vec<Payload>>,
}

/// The scripted peer: the other end of the IKE SA under test.
pub struct Peer {
    /// Whether the peer is the original initiator (the SA the responder).
    pub is_initiator: bool,
    pub spi_i: u64,
    pub spi_r: u64,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// The IKE_SA_INIT messages as sent, for AUTH.
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    /// The group of the KE the peer sent as initiator.
    sent_group: Option<DhGroup>,
    pub keys: Option<IkeSaKeys>,
    send: Option<SkCipher>,
    recv: Option<SkCipher>,
    /// The keys opened a message the SA sealed.
    pub confirmed: bool,
    rng: InsecureTestRng,
    /// ID of the peer's next request.
    pub next_request: u32,
    /// The SA's latest request.
    pub sa_request: Option<SaRequest>,
    /// The SA's latest IKE_SA_INIT message (request or response).
    pub sa_init: Option<Vec<u8>>,
    /// The SA's latest response that the peer could open: its message ID
    /// and payloads.
    pub sa_response: Option<(u32, Vec<Payload>)>,
    /// The Child SA the datagram about to be delivered should create.
    pub expect: Option<ExpectedChild>,
    /// The next ESP SPI the peer picks for a Child SA.
    next_child_spi: u32,
}

/// A Child SA a CREATE_CHILD_SA exchange should create, and what its keys
/// derive from (RFC 7296 §2.17).
#[derive(Debug, Clone)]
pub struct ExpectedChild {
    /// The SPI the peer picked: the SA's outbound SPI.
    pub peer_spi: u32,
    /// Whether the SA initiated the exchange.
    pub sa_initiated: bool,
    /// The exchange's message ID.
    pub message_id: u32,
    pub ni: Vec<u8>,
    /// Known at once when the peer responds; otherwise taken from the SA's
    /// response.
    pub nr: Option<Vec<u8>>,
    /// The PFS secret, or the group the peer sent a KE of.
    pub g_ir: Option<esp::SecretBytes>,
    pub pfs_group: Option<DhGroup>,
}

impl Peer {
    pub fn new(is_initiator: bool, spi_i: u64, spi_r: u64) -> Self {
        Self {
            is_initiator,
            spi_i,
            spi_r,
            ni: Vec::new(),
            nr: Vec::new(),
            init_request: Vec::new(),
            init_response: Vec::new(),
            sent_group: None,
            keys: None,
            send: None,
            recv: None,
            confirmed: false,
            rng: InsecureTestRng::from_seed(PEER_SEED),
            next_request: if is_initiator { 1 } else { 0 },
            sa_request: None,
            sa_init: None,
            sa_response: None,
            expect: None,
            next_child_spi: PEER_CHILD_SPI.wrapping_add(1),
        }
    }

    pub(crate) fn set_keys(&mut self, keys: IkeSaKeys) {
        let (i, r) = (keys.initiator_cipher().ok(), keys.responder_cipher().ok());
        (self.send, self.recv) = if self.is_initiator { (i, r) } else { (r, i) };
        self.keys = Some(keys);
        self.confirmed = false;
    }

    pub(crate) fn header(&self, exchange: ExchangeType, response: bool, message_id: u32) -> Header {
        Header::new(
            self.spi_i,
            self.spi_r,
            exchange,
            Flags::new(self.is_initiator, response),
            message_id,
        )
    }

    /// A message whose SK payload protects `plain`, as RFC 7296 §3.14 says.
    pub(crate) fn seal_raw(
        &mut self,
        header: Header,
        first: PayloadType,
        plain: &[u8],
    ) -> Option<Vec<u8>> {
        let cipher = self.send.as_ref()?;
        let sealed_len = cipher.sealed_len(plain.len());
        let placeholder = Message::new(
            header,
            vec![Payload::Encrypted(Encrypted {
                first_payload: first,
                data: vec![0; sealed_len],
            })],
        );
        let mut bytes = placeholder.encode().ok()?;
        bytes.truncate(bytes.len().checked_sub(sealed_len)?);
        cipher.seal_append(&mut bytes, plain, &mut self.rng).ok()?;
        Some(bytes)
    }

    pub(crate) fn seal(&mut self, header: Header, payloads: &[Payload]) -> Option<Vec<u8>> {
        let (first, plain) = encode_payload_chain(payloads).ok()?;
        self.seal_raw(header, first, &plain)
    }

    pub(crate) fn open(&self, data: &[u8]) -> Option<Vec<u8>> {
        let cipher = self.recv.as_ref()?;
        let layout = EncryptedLayout::locate(data).ok()?;
        cipher
            .open(
                data.get(..layout.iv_start)?,
                data.get(layout.iv_start..layout.end)?,
            )
            .ok()
    }

    /// Takes in a datagram the SA sent, checking that it is well-formed.
    pub(crate) fn observe(&mut self, sa: &IkeSa, data: &[u8]) {
        let _ = sa;
        // drain_sa checked that it decodes and whose it is.
        let Ok(msg) = Message::decode(data) else {
            return;
        };
        let h = msg.header;
        if h.exchange_type == ExchangeType::IkeSaInit {
            self.sa_init = Some(data.to_vec());
            return;
        }
        let sk = msg.encrypted();
        let payloads = sk.zip(self.open(data)).map(|(sk, plain)| {
            self.confirmed = true;
            decode_payload_chain(sk.first_payload, &plain).unwrap_or_else(|e| {
                panic!(
                    "the SA sealed payloads that do not decode ({e:?}): {}",
                    hex(&plain)
                )
            })
        });
        if !h.flags.response() {
            self.sa_request = Some(SaRequest {
                exchange: h.exchange_type,
                message_id: h.message_id,
                payloads,
            });
        } else if let Some(p) = payloads {
            self.sa_response = Some((h.message_id, p));
        }
    }

    // ---- The peer as initiator (the SA under test responds) ----

    /// Our IKE_SA_INIT request, shaped by the input (zeros: well-formed,
    /// with the SA's first proposal and its group).
    pub fn init_request(&mut self, input: &mut Input, cfg: &IkeConfig) -> Option<Vec<u8>> {
        let (c, d) = (input.u8(), input.u8());
        let all = &cfg.ike_proposals;
        let offered: Vec<IkeProposal> = match c & 3 {
            0 => all.clone(),
            1 => all[..1].to_vec(),
            2 => all[1..].to_vec(),
            _ => all.iter().rev().cloned().collect(),
        };
        let first_group = offered.first()?.dh().first().copied()?;
        let group = match (c >> 2) & 3 {
            0 => first_group,
            1 => *all
                .iter()
                .flat_map(|p| p.dh())
                .find(|&&g| g != first_group)?,
            2 => DhGroup::Ecp256,
            _ => DhGroup::ALL[usize::from(input.u8()) % DhGroup::ALL.len()],
        };
        let mut ke_data = peer_dh(group).public_value().to_vec();
        if c & 0x10 != 0 {
            mutate(&mut ke_data, input);
        }
        self.sent_group = Some(group);
        self.ni = if c & 0x20 != 0 {
            let n = usize::from(input.u8());
            input.bytes(n).to_vec()
        } else {
            vec![0x4e; 32]
        };
        self.spi_i = if d & 0x80 != 0 {
            input.u64()
        } else {
            PEER_SPI_I
        };
        self.spi_r = 0;
        let mut payloads = Vec::new();
        if d & 0x20 != 0 {
            let n = usize::from(input.u8() % 65);
            let cookie = input.bytes(n).to_vec();
            payloads.push(Payload::Notify(Notify::new(NotifyType::Cookie, cookie)));
        }
        payloads.push(Payload::Sa(negotiate::ike_sa_payload(&offered)));
        payloads.push(Payload::Ke(KeyExchange {
            group: group.id().into(),
            data: ke_data,
        }));
        payloads.push(Payload::Nonce(Nonce(self.ni.clone())));
        let nat_d = nat::notifies(self.spi_i, 0, peer_addr(), sa_addr(), c & 0x40 != 0);
        match (c >> 7, d & 3) {
            (_, 1) => {}
            (_, 2) => payloads.push(Payload::Notify(nat_d[1].clone())),
            _ => payloads.extend(nat_d.map(Payload::Notify)),
        }
        if d & 0x10 != 0 {
            payloads.reverse();
        }
        if d & 0x40 != 0 {
            payloads.extend(extras(input));
        }
        let header = Header::new(
            self.spi_i,
            0,
            ExchangeType::IkeSaInit,
            Flags::new(true, false),
            0,
        );
        let bytes = Message::new(header, payloads).encode().ok()?;
        self.init_request = bytes.clone();
        Some(bytes)
    }

    /// Derives the keys from the SA's IKE_SA_INIT response.
    pub fn complete_init_as_initiator(&mut self, cfg: &IkeConfig) -> Option<()> {
        let data = self.sa_init.clone()?;
        let resp = Message::decode(&data).ok()?;
        let (mut sa, mut ke, mut nonce) = (None, None, None);
        for p in &resp.payloads {
            match p {
                Payload::Sa(s) => sa = Some(s),
                Payload::Ke(k) => ke = Some(k),
                Payload::Nonce(n) => nonce = Some(n),
                _ => {}
            }
        }
        let (sa, ke, nonce) = (sa?, ke?, nonce?);
        let suite = negotiate::accepted_ike(sa, &cfg.ike_proposals)?;
        if self.sent_group != Some(suite.dh()) {
            return None;
        }
        let g_ir = peer_shared(suite.dh(), &ke.data)?;
        self.spi_r = resp.header.spi_r;
        self.nr = nonce.0.clone();
        self.init_response = data;
        let keys =
            IkeSaKeys::from_ike_sa_init(suite, &g_ir, &self.ni, &self.nr, self.spi_i, self.spi_r)
                .ok()?;
        self.set_keys(keys);
        Some(())
    }

    /// An IKE_AUTH request (zeros: well-formed, with a valid AUTH).
    pub fn auth_request(&mut self, input: &mut Input, cfg: &IkeConfig) -> Option<Vec<u8>> {
        let (c, omit) = (input.u8(), input.u8());
        let prf = self.keys.as_ref()?.suite().prf();
        let id = peer_id(c, input);
        let octets = self.keys.as_ref()?.initiator_signed_octets(
            &self.init_request,
            &self.nr,
            &id_body(&id),
        );
        let (method, auth) = auth_payload(c, input, cfg, prf, &octets);
        let offers: Vec<EspProposal> = match (c >> 5) & 3 {
            0 => cfg.esp_proposals.clone(),
            1 => vec![esp_proposal("aes256-sha256")],
            2 => vec![
                esp_proposal("chacha20poly1305-esn"),
                esp_proposal("aes256gcm16-esn"),
            ],
            _ => vec![
                esp_proposal("aes128-sha512-ecp384"),
                esp_proposal(ESP_PROPOSAL),
            ],
        };
        let sa = negotiate::esp_sa_payload(&offers, PEER_CHILD_SPI, c & 0x80 != 0);
        let tsi = traffic_selectors(if omit & 0x40 != 0 { input.u8() } else { 0 }, input);
        let tsr = traffic_selectors(if omit & 0x40 != 0 { input.u8() } else { 0 }, input);
        let all = [
            Payload::IdI(id),
            Payload::Auth(Auth { method, data: auth }),
            Payload::Sa(sa),
            Payload::TsI(TrafficSelectors { selectors: tsi }),
            Payload::TsR(TrafficSelectors { selectors: tsr }),
            Payload::Notify(Notify::new(NotifyType::InitialContact, Vec::new())),
        ];
        let mut payloads: Vec<Payload> = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| omit & (1 << i) == 0)
            .map(|(_, p)| p)
            .collect();
        if omit & 0x80 != 0 {
            // After IDi if there is one (§1.2: IDi, [IDr,] AUTH, ...).
            let at = payloads.len().min(1);
            payloads.insert(at, Payload::IdR(Identification::ip(sa_addr().ip())));
            payloads.extend(extras(input));
        }
        let id = self.take_request_id();
        let header = self.header(ExchangeType::IkeAuth, false, id);
        self.seal(header, &payloads)
    }

    // ---- The peer as responder (the SA under test initiates) ----

    /// Our IKE_SA_INIT response to the SA's latest request (zeros:
    /// well-formed, accepting its first proposal).
    pub fn init_response(&mut self, input: &mut Input, cfg: &IkeConfig) -> Option<Vec<u8>> {
        let request = self.sa_init.clone()?;
        let req = Message::decode(&request).ok()?;
        let (c, d) = (input.u8(), input.u8());
        let (mut sa, mut ke, mut nonce) = (None, None, None);
        for p in &req.payloads {
            match p {
                Payload::Sa(s) => sa = sa.or(Some(s)),
                Payload::Ke(k) => ke = ke.or(Some(k)),
                Payload::Nonce(n) => nonce = nonce.or(Some(n)),
                _ => {}
            }
        }
        self.spi_i = req.header.spi_i;
        self.spi_r = if d & 0x40 != 0 {
            input.u64()
        } else {
            PEER_SPI_R
        };
        let mut payloads = Vec::new();
        let mut suite = None;
        match c & 7 {
            4 => {
                let n = usize::from(input.u8() % 64) + 1;
                let cookie = input.bytes(n).to_vec();
                payloads.push(Payload::Notify(Notify::new(NotifyType::Cookie, cookie)));
                self.spi_r = 0;
            }
            5 => {
                let group: wire::DhGroup = match (c >> 3) & 3 {
                    0 => DhGroup::Ecp384.id().into(),
                    1 => DhGroup::Modp2048.id().into(),
                    2 => DhGroup::Ecp256.id().into(),
                    _ => input.u16().into(),
                };
                payloads.push(Payload::Notify(Notify::invalid_ke_payload(group)));
                self.spi_r = 0;
            }
            6 => {
                let t = if c & 8 != 0 {
                    NotifyType::from(input.u16())
                } else {
                    NotifyType::NoProposalChosen
                };
                payloads.push(Payload::Notify(Notify::new(t, input.chunk().to_vec())));
            }
            7 => payloads = extras(input),
            _ => {
                let (sa, ke, nonce) = (sa?, ke?, nonce?);
                let (number, chosen) = negotiate::select_ike(sa, &cfg.ike_proposals)?;
                let other = cfg
                    .ike_proposals
                    .iter()
                    .map(|p| p.preferred())
                    .find(|s| *s != chosen)
                    .unwrap_or(chosen);
                let answer = match (c >> 3) & 3 {
                    0 => negotiate::ike_answer(number, chosen),
                    1 => negotiate::ike_answer(number, other),
                    2 => {
                        let mut a = negotiate::ike_answer(number, chosen);
                        a.proposals
                            .extend(negotiate::ike_answer(number, other).proposals);
                        a
                    }
                    _ => negotiate::ike_sa_payload(&cfg.ike_proposals),
                };
                // The suite the SA will take from our answer, if any.
                suite = negotiate::accepted_ike(&answer, &cfg.ike_proposals);
                let group = match suite {
                    Some(s) if c & 0x20 == 0 => s.dh(),
                    _ => DhGroup::Ecp256,
                };
                let mut ke_data = peer_dh(group).public_value().to_vec();
                if c & 0x40 != 0 {
                    mutate(&mut ke_data, input);
                }
                self.ni = nonce.0.clone();
                self.nr = if c & 0x80 != 0 {
                    let n = usize::from(input.u8());
                    input.bytes(n).to_vec()
                } else {
                    vec![0x52; 32]
                };
                let full = [
                    Payload::Sa(answer),
                    Payload::Ke(KeyExchange {
                        group: group.id().into(),
                        data: ke_data,
                    }),
                    Payload::Nonce(Nonce(self.nr.clone())),
                ];
                payloads.extend(
                    full.into_iter()
                        .enumerate()
                        .filter(|(i, _)| d & (4 << i) == 0)
                        .map(|(_, p)| p),
                );
                let nat_d =
                    nat::notifies(self.spi_i, self.spi_r, peer_addr(), sa_addr(), d & 1 != 0);
                if d & 2 == 0 {
                    payloads.extend(nat_d.map(Payload::Notify));
                }
                if d & 0x20 != 0 {
                    payloads.extend(extras(input));
                }
                // What the SA derives if it accepts this.
                if let Some(s) = suite.filter(|s| ke.group.value() == s.dh().id()) {
                    let g_ir = peer_shared(s.dh(), &ke.data);
                    suite = g_ir.and_then(|g| {
                        let keys = IkeSaKeys::from_ike_sa_init(
                            s, &g, &self.ni, &self.nr, self.spi_i, self.spi_r,
                        )
                        .ok()?;
                        self.set_keys(keys);
                        Some(s)
                    });
                } else {
                    suite = None;
                }
            }
        }
        let message_id = if d & 0x80 != 0 { input.u32() } else { 0 };
        let header = Header::new(
            self.spi_i,
            self.spi_r,
            ExchangeType::IkeSaInit,
            Flags::new(false, true),
            message_id,
        );
        let bytes = Message::new(header, payloads).encode().ok()?;
        if suite.is_some() {
            self.init_request = request;
            self.init_response = bytes.clone();
            self.next_request = 0;
        }
        Some(bytes)
    }

    /// Our IKE_AUTH response to the SA's request (zeros: well-formed, with
    /// a valid AUTH, accepting its ESP proposal and selectors).
    pub fn auth_response(&mut self, input: &mut Input, cfg: &IkeConfig) -> Option<Vec<u8>> {
        let req = self.sa_request.clone()?;
        let (c, omit) = (input.u8(), input.u8());
        let prf = self.keys.as_ref()?.suite().prf();
        let (mut offer, mut tsi, mut tsr) = (None, None, None);
        for p in req.payloads.as_deref().unwrap_or_default() {
            match p {
                Payload::Sa(s) => offer = Some(s.clone()),
                Payload::TsI(t) => tsi = Some(t.clone()),
                Payload::TsR(t) => tsr = Some(t.clone()),
                _ => {}
            }
        }
        let id = peer_id(c, input);
        let octets = self.keys.as_ref()?.responder_signed_octets(
            &self.init_response,
            &self.ni,
            &id_body(&id),
        );
        let (method, auth) = auth_payload(c, input, cfg, prf, &octets);
        let ours = [esp_proposal(ESP_PROPOSAL)];
        let chosen = offer
            .as_ref()
            .and_then(|o| negotiate::select_esp(o, &ours, false));
        let answer = match ((c >> 5) & 3, chosen) {
            (0, Some((number, _, choice))) => negotiate::esp_answer(number, PEER_CHILD_SPI, choice),
            (1, _) | (0, None) => {
                negotiate::esp_sa_payload(&[esp_proposal("aes256-sha256")], PEER_CHILD_SPI, false)
            }
            (2, _) => offer.unwrap_or(wire::Sa { proposals: vec![] }),
            _ => negotiate::esp_sa_payload(
                &[esp_proposal("aes256gcm16-esn"), esp_proposal(ESP_PROPOSAL)],
                input.u32(),
                true,
            ),
        };
        let (tsi, tsr) = if omit & 0x40 == 0 {
            let none = || TrafficSelectors { selectors: vec![] };
            (tsi.unwrap_or_else(none), tsr.unwrap_or_else(none))
        } else {
            let (a, b) = (input.u8(), input.u8());
            (
                TrafficSelectors {
                    selectors: traffic_selectors(a, input),
                },
                TrafficSelectors {
                    selectors: traffic_selectors(b, input),
                },
            )
        };
        let all = [
            Payload::IdR(id),
            Payload::Auth(Auth { method, data: auth }),
            Payload::Sa(answer),
            Payload::TsI(tsi),
            Payload::TsR(tsr),
        ];
        let mut payloads: Vec<Payload> = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| omit & (1 << i) == 0)
            .map(|(_, p)| p)
            .collect();
        if omit & 0x20 != 0 {
            let t = match input.u8() % 5 {
                0 => NotifyType::TsUnacceptable,
                1 => NotifyType::NoProposalChosen,
                2 => NotifyType::AuthenticationFailed,
                3 => NotifyType::InternalAddressFailure,
                _ => NotifyType::from(input.u16()),
            };
            payloads.push(Payload::Notify(Notify::new(t, Vec::new())));
        }
        if omit & 0x80 != 0 {
            payloads.extend(extras(input));
        }
        let header = self.header(ExchangeType::IkeAuth, true, req.message_id);
        self.seal(header, &payloads)
    }

    // ---- Either role ----

    pub(crate) fn take_request_id(&mut self) -> u32 {
        let id = self.next_request;
        self.next_request = id.wrapping_add(1);
        id
    }

    /// A message ID for a request: the next one (0), the last one (1), or
    /// any (2, 3).
    pub(crate) fn request_id(&mut self, input: &mut Input) -> u32 {
        match input.u8() % 4 {
            0 => self.take_request_id(),
            1 => self.next_request.wrapping_sub(1),
            _ => input.u32(),
        }
    }

    /// A request with arbitrary plaintext in its SK payload.
    pub(crate) fn raw_request(&mut self, input: &mut Input) -> Option<Vec<u8>> {
        let exchange = match input.u8() % 4 {
            0 => ExchangeType::IkeAuth,
            1 => ExchangeType::CreateChildSa,
            2 => ExchangeType::Informational,
            _ => ExchangeType::from(input.u8()),
        };
        let id = self.request_id(input);
        let first = PayloadType::from(input.u8());
        let plain = input.chunk();
        let header = self.header(exchange, false, id);
        self.seal_raw(header, first, plain)
    }

    /// A response with arbitrary plaintext, to the SA's latest request.
    pub(crate) fn raw_response(&mut self, input: &mut Input) -> Option<Vec<u8>> {
        let (exchange, id) = match (&self.sa_request, input.u8() % 4) {
            (Some(r), 0 | 1) => (r.exchange, r.message_id),
            _ => (ExchangeType::from(input.u8()), input.u32()),
        };
        let first = PayloadType::from(input.u8());
        let plain = input.chunk();
        let header = self.header(exchange, true, id);
        self.seal_raw(header, first, plain)
    }

    /// An INFORMATIONAL request: liveness check, DELETE or notifies.
    pub(crate) fn informational(
        &mut self,
        input: &mut Input,
        child: Option<&ChildSa>,
    ) -> Option<Vec<u8>> {
        let c = input.u8();
        let mut payloads = Vec::new();
        match c % 6 {
            0 => {}
            1 => payloads.push(Payload::Delete(Delete::ike_sa())),
            2 => payloads.push(Payload::Delete(Delete {
                protocol_id: ProtocolId::Esp,
                spis: vec![child.map_or(0, |c| c.outbound.spi)],
            })),
            3 => {
                let n = input.u8() % 8;
                let spis = (0..n).map(|_| input.u32()).collect();
                payloads.push(Payload::Delete(Delete {
                    protocol_id: ProtocolId::from(input.u8()),
                    spis,
                }));
            }
            4 => {
                for _ in 0..=input.u8() % 3 {
                    let t = NotifyType::from(input.u16());
                    payloads.push(Payload::Notify(Notify::new(t, input.chunk().to_vec())));
                }
            }
            _ => {
                payloads.push(Payload::Delete(Delete {
                    protocol_id: ProtocolId::Esp,
                    spis: vec![child.map_or(0, |c| c.outbound.spi), input.u32()],
                }));
                payloads.push(Payload::Delete(Delete::ike_sa()));
            }
        }
        if c & 0x80 != 0 {
            payloads.extend(extras(input));
        }
        let id = if c & 0x40 != 0 {
            self.request_id(input)
        } else {
            self.take_request_id()
        };
        let header = self.header(ExchangeType::Informational, false, id);
        self.seal(header, &payloads)
    }

    /// A CREATE_CHILD_SA request: a new Child SA, a Child SA rekey
    /// (REKEY_SA) or an IKE SA rekey (§1.3).
    pub(crate) fn create_child_sa(
        &mut self,
        input: &mut Input,
        cfg: &IkeConfig,
        child: Option<&ChildSa>,
    ) -> Option<Vec<u8>> {
        let c = input.u8();
        let ike_rekey = c & 1 != 0;
        let pfs = c & 2 != 0;
        let mut payloads = Vec::new();
        let spi = self.next_child_spi;
        self.next_child_spi = spi.wrapping_add(1);
        let ni = vec![0x6e; 32];
        if c & 4 == 0 && !ike_rekey {
            let mut n = Notify::new(NotifyType::RekeySa, Vec::new());
            n.protocol_id = ProtocolId::Esp;
            n.spi = Spi::Ipsec(child.map_or_else(|| input.u32(), |c| c.outbound.spi));
            payloads.push(Payload::Notify(n));
        }
        let sa = if ike_rekey {
            let mut sa = negotiate::ike_sa_payload(&cfg.ike_proposals);
            let spi = input.u64() | 1;
            for p in &mut sa.proposals {
                p.spi = Spi::Ike(spi);
            }
            sa
        } else {
            let offers = if pfs {
                vec![esp_proposal(ESP_PFS_PROPOSAL)]
            } else {
                vec![esp_proposal(ESP_PROPOSAL)]
            };
            negotiate::esp_sa_payload(&offers, spi, pfs)
        };
        payloads.push(Payload::Sa(sa));
        payloads.push(Payload::Nonce(Nonce(ni.clone())));
        if pfs || ike_rekey {
            let g = peer_dh(DhGroup::Ecp384);
            payloads.push(Payload::Ke(KeyExchange {
                group: g.group().id().into(),
                data: g.public_value().to_vec(),
            }));
        }
        if !ike_rekey {
            let (a, b) = (input.u8(), input.u8());
            payloads.push(Payload::TsI(TrafficSelectors {
                selectors: traffic_selectors(a, input),
            }));
            payloads.push(Payload::TsR(TrafficSelectors {
                selectors: traffic_selectors(b, input),
            }));
        }
        if c & 0x80 != 0 {
            payloads.extend(extras(input));
        }
        let extra = c & 0x80 != 0;
        let id = if c & 0x40 != 0 {
            self.request_id(input)
        } else {
            self.take_request_id()
        };
        // Extra payloads might carry another nonce or KE: then the keys
        // are the SA's business.
        if !extra && !ike_rekey {
            self.expect = Some(ExpectedChild {
                peer_spi: spi,
                sa_initiated: false,
                message_id: id,
                ni,
                nr: None,
                g_ir: None,
                pfs_group: pfs.then_some(DhGroup::Ecp384),
            });
        }
        let header = self.header(ExchangeType::CreateChildSa, false, id);
        self.seal(header, &payloads)
    }

    /// Our answer to the SA's CREATE_CHILD_SA: the new Child SA it asks
    /// for, with PFS if it sent a KE.
    pub(crate) fn rekey_response(&mut self, req: &SaRequest, cfg: &IkeConfig) -> Option<Vec<u8>> {
        let (mut offer, mut ni, mut ke, mut tsi, mut tsr) = (None, None, None, None, None);
        for p in req.payloads.as_deref()? {
            match p {
                Payload::Sa(s) => offer = Some(s),
                Payload::Nonce(n) => ni = Some(n.0.clone()),
                Payload::Ke(k) => ke = Some(k),
                Payload::TsI(t) => tsi = Some(t.clone()),
                Payload::TsR(t) => tsr = Some(t.clone()),
                _ => {}
            }
        }
        let (number, _, mut choice) =
            negotiate::select_esp(offer?, &cfg.esp_proposals, ke.is_some())?;
        let spi = self.next_child_spi;
        self.next_child_spi = spi.wrapping_add(1);
        let nr = vec![0x72; 32];
        let mut g_ir = None;
        let mut ke_out = None;
        match (choice.dh, ke) {
            (Some(g), Some(ke)) if ke.group.value() == g.id() => {
                let k = peer_dh(g);
                g_ir = Some(peer_shared(g, &ke.data)?);
                ke_out = Some(Payload::Ke(KeyExchange {
                    group: g.id().into(),
                    data: k.public_value().to_vec(),
                }));
            }
            _ => choice.dh = None,
        }
        let mut payloads = vec![
            Payload::Sa(negotiate::esp_answer(number, spi, choice)),
            Payload::Nonce(Nonce(nr.clone())),
        ];
        payloads.extend(ke_out);
        payloads.push(Payload::TsI(tsi?));
        payloads.push(Payload::TsR(tsr?));
        self.expect = Some(ExpectedChild {
            peer_spi: spi,
            sa_initiated: true,
            message_id: req.message_id,
            ni: ni?,
            nr: Some(nr),
            g_ir,
            pfs_group: choice.dh,
        });
        let header = self.header(ExchangeType::CreateChildSa, true, req.message_id);
        self.seal(header, &payloads)
    }

    /// The answer a well-behaved peer gives to the SA's latest request.
    pub(crate) fn answer(&mut self, cfg: &IkeConfig) -> Option<Vec<u8>> {
        let req = self.sa_request.clone()?;
        match req.exchange {
            ExchangeType::IkeAuth if !self.is_initiator => {
                self.auth_response(&mut Input::new(&[]), cfg)
            }
            ExchangeType::CreateChildSa => self.rekey_response(&req, cfg),
            exchange => {
                // §1.4.1: a DELETE of a Child SA is answered with ours.
                let payloads: Vec<Payload> = req
                    .payloads
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| match p {
                        Payload::Delete(d) if d.protocol_id == ProtocolId::Esp => {
                            Some(Payload::Delete(Delete {
                                protocol_id: ProtocolId::Esp,
                                spis: vec![PEER_CHILD_SPI],
                            }))
                        }
                        _ => None,
                    })
                    .collect();
                let header = self.header(exchange, true, req.message_id);
                self.seal(header, &payloads)
            }
        }
    }
}
