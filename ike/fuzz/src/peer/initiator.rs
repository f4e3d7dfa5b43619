//! The scripted peer as initiator: the SA under test responds.

use super::*;

impl Peer {
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
}
