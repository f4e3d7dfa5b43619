//! The scripted peer: an IKEv2 speaker with fixed Diffie-Hellman keys that
//! the fuzzer's input steers (see the crate docs).

use super::*;

mod initiator;
mod responder;

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
