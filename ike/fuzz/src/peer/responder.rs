//! The scripted peer as responder: the SA under test initiates.

use super::*;

impl Peer {
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
}
