//! The harness the `responder` and `initiator` fuzz targets share.
//!
//! An IKE SA under test ([`IkeSa`], one role) talks to a *scripted peer*
//! ([`Peer`]) that the fuzzer's input steers. The peer speaks IKEv2 itself,
//! with a fixed Diffie-Hellman key per group: once IKE_SA_INIT has
//! completed it holds the same SK keys as the SA, so it can seal whatever
//! the input asks for (well-formed IKE_AUTH messages with a valid AUTH,
//! INFORMATIONAL and CREATE_CHILD_SA requests, or arbitrary plaintext) and
//! the fuzzer reaches the code behind the integrity check, which random
//! bytes never do.
//!
//! Every input replays on its own: the SA and the peer draw from the seeded
//! `InsecureTestRng`, and time is virtual.
//!
//! # Invariants checked on every run
//!
//! - nothing panics (the main point);
//! - every datagram the SA sends decodes with `Message::decode`, names the
//!   SA's SPIi and sets the I flag as its role says (or those of the old
//!   SA, after an IKE SA rekey); an SK payload that the peer's keys open
//!   holds a payload chain that decodes;
//! - events come in a sane order: `Established` at most once, `ChildUp`
//!   only after it, `ChildActivate` only for a Child SA that is up and was
//!   installed waiting for it, `ChildDown` only for a Child SA that is up,
//!   `Down` at most once, and after `Down` the SA is closed, has no timer,
//!   and sends and reports nothing more, whatever is called on it (a
//!   sans-IO owner may well call `handle_timeout` on every SA it holds);
//! - `handle_timeout` makes progress: called again at the same `now`, a
//!   few calls at most leave no deadline at or before `now` (an owner
//!   looping on `poll_timeout` would spin);
//! - when the peer's keys are confirmed (they opened a message the SA
//!   sealed), the first Child SA's keys are those RFC 7296 §2.17 derives,
//!   in the right directions, and so are those of a Child SA that a
//!   CREATE_CHILD_SA between the SA and the peer created, whichever side
//!   started it, with or without PFS;
//! - with two real SAs ([`pair`]), every Child SA both installed (matched
//!   by SPI) has mirrored SPIs, transforms and keys, and if both are
//!   established they agree on the suite.
//!
//! # Input
//!
//! A byte stream read front to back by [`Input`]; reading past the end
//! yields zeros, and every structured choice is arranged so that zeros mean
//! "well-formed", so a short input already goes a long way. Datagrams and
//! other blobs are length-prefixed: a big-endian `u16` length, then that
//! many bytes (fewer if the input ends). The stream after the setup is a
//! sequence of operations ([`Harness::run`]), at most [`MAX_OPS`] of them.

pub mod endpoint;

use ike::crypto::{
    psk_auth, ChildKeys, DhGroup, DhKeyPair, EspProposal, IkeProposal, IkeSaKeys, InsecureTestRng,
    LegacyAlgorithms, SkCipher,
};
use ike::sa::cookie::Verdict;
use ike::sa::{
    nat, negotiate, selectors, Accepted, ChildSa, CookieGate, DownReason, Event, IkeConfig, IkeSa,
    RetransmitConfig, Role, Transmit,
};
use ike::wire::{
    self, decode_payload_chain, encode_payload_chain, AddressRange, Auth, AuthMethod, Delete,
    Encrypted, EncryptedLayout, ExchangeType, Flags, Header, IdType, Identification, KeyExchange,
    Message, Nonce, Notify, NotifyType, Payload, PayloadType, ProtocolId, Spi, TrafficSelector,
    TrafficSelectors,
};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Whether to print what happens (`IKE_FUZZ_TRACE=1`), for replaying an
/// input by hand: `cargo fuzz run <target> <input>`.
pub fn tracing() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("IKE_FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if tracing() {
            eprintln!($($arg)*);
        }
    };
}

/// A one-line summary of a message, for the trace.
fn summary(data: &[u8]) -> String {
    match Message::decode(data) {
        Ok(m) => format!(
            "{:?} id {} flags {:#04x} {:?}",
            m.header.exchange_type,
            m.header.message_id,
            m.header.flags.0,
            m.payloads
                .iter()
                .map(|p| p.payload_type())
                .collect::<Vec<_>>()
        ),
        Err(e) => format!("undecodable ({e:?}), {} bytes", data.len()),
    }
}

/// Operations per input, after the setup.
pub const MAX_OPS: usize = 48;
/// Datagrams kept for replay, per direction.
const HISTORY: usize = 16;
/// Timer expiries run after the operations.
const SETTLE_STEPS: usize = 8;

/// The PSK both sides are configured with.
pub const PSK: &[u8] = b"vwand fuzzing shared secret";
/// The IKE proposals of every configuration, in order.
pub const IKE_PROPOSALS: [&str; 2] = ["aes256gcm16-prfsha384-ecp384", "aes256-sha256-modp2048"];
/// The ESP proposal of every configuration...
pub const ESP_PROPOSAL: &str = "aes256gcm16";
/// ... or, with bit 5 of the variant, this one: PFS when rekeying.
pub const ESP_PFS_PROPOSAL: &str = "aes256gcm16-ecp384";
/// The ESP SPI the peer offers for its inbound Child SA.
pub const PEER_CHILD_SPI: u32 = 0xc0de_0001;
/// The peer's IKE SPI in the role of initiator (unless the input picks one).
pub const PEER_SPI_I: u64 = 0x1122_3344_5566_7788;
/// The peer's IKE SPI in the role of responder (unless the input picks one).
pub const PEER_SPI_R: u64 = 0x8877_6655_4433_2211;
/// Seed of the SA's RNG.
pub const SA_SEED: u64 = 2;
/// Seed of the peer's RNG (IVs, nothing secret).
const PEER_SEED: u64 = 7;

/// Where the SA under test lives.
pub fn sa_addr() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 2], 500))
}

/// Where the peer lives, as far as the SA's configuration knows.
pub fn peer_addr() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 500))
}

/// Where the peer's datagrams may appear to come from (NAT rebinding,
/// RFC 7296 §2.23).
fn peer_source(choice: u8, port: u16) -> SocketAddr {
    match choice % 5 {
        0 => peer_addr(),
        1 => SocketAddr::from(([192, 0, 2, 1], 4500)),
        2 => SocketAddr::from(([198, 51, 100, 9], 4500)),
        3 => SocketAddr::from(([198, 51, 100, 9], port)),
        _ => SocketAddr::from((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 500)),
    }
}

/// Virtual time starts here; only differences matter.
pub fn start_time() -> Instant {
    static T: OnceLock<Instant> = OnceLock::new();
    *T.get_or_init(Instant::now)
}

/// The SA's randomness, fixed by [`SA_SEED`].
pub fn sa_rng(seed: u64) -> Box<InsecureTestRng> {
    Box::new(InsecureTestRng::from_seed(seed))
}

/// The fuzzer's input, read front to back; zeros past the end.
pub struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self(data)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        (u64::from(self.u32()) << 32) | u64::from(self.u32())
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }

    /// A length-prefixed blob: a big-endian `u16` length, then the bytes.
    pub fn chunk(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.bytes(n)
    }
}

/// A configuration like the daemon's, varied by the bits of `variant`:
/// 0 requires the peer's ID, 1 and 7 together swap the IKE proposals (so
/// an initiator sends MODP-2048 first: slow, hence two bits), 2 turns DPD
/// off, 3 forces UDP encapsulation, 7 rekeys the IKE SA every 7 s (less
/// jitter),
/// 4 rekeys the Child SA every 5 s (less jitter), 5 adds ECP-384 PFS to the
/// ESP proposal (used when rekeying), 6 makes the rekey grace period zero.
pub fn config(me: SocketAddr, peer: SocketAddr, variant: u8) -> IkeConfig {
    let mut ike: Vec<IkeProposal> = IKE_PROPOSALS
        .iter()
        .map(|p| IkeProposal::parse(p, LegacyAlgorithms::Refuse).expect("IKE proposal"))
        .collect();
    if variant & 0x82 == 0x82 {
        ike.reverse();
    }
    IkeConfig {
        local_id: Identification::ip(me.ip()),
        remote_id: (variant & 1 != 0).then(|| Identification::ip(peer.ip())),
        psk: esp::SecretBytes::new(PSK.to_vec()),
        ike_proposals: ike,
        esp_proposals: vec![esp_proposal(if variant & 0x20 != 0 {
            ESP_PFS_PROPOSAL
        } else {
            ESP_PROPOSAL
        })],
        local_ts: vec![selectors::any_v4()],
        remote_ts: vec![selectors::any_v4()],
        retransmit: RetransmitConfig {
            initial: Duration::from_millis(500),
            factor_percent: 200,
            max_interval: Duration::from_secs(2),
            retransmits: 3,
        },
        dpd_interval: (variant & 4 == 0).then(|| Duration::from_secs(10)),
        force_encap: variant & 8 != 0,
        replay_window: 1024,
        child_rekey_after: (variant & 0x10 != 0).then(|| Duration::from_secs(5)),
        ike_rekey_after: (variant & 0x80 != 0).then(|| Duration::from_secs(7)),
        child_rekey_bytes: None,
        rekey_grace: if variant & 0x40 != 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(2)
        },
        fragment_size: (variant & 0x02 != 0).then_some(300),
        half_open_timeout: ike::sa::DEFAULT_HALF_OPEN_TIMEOUT,
        log_messages: true,
    }
}

fn esp_proposal(p: &str) -> EspProposal {
    EspProposal::parse(p, LegacyAlgorithms::Refuse).expect("ESP proposal")
}

/// The peer's key pair for each group: fixed, so that its public values are
/// computed once per process rather than once per input.
fn peer_dh(group: DhGroup) -> &'static DhKeyPair {
    static KEYS: OnceLock<Vec<DhKeyPair>> = OnceLock::new();
    KEYS.get_or_init(|| {
        DhGroup::ALL
            .iter()
            .map(|&g| {
                let mut rng = InsecureTestRng::from_seed(0x5eed_0000 + u64::from(g.id()));
                DhKeyPair::generate(g, &mut rng).expect("peer key pair")
            })
            .collect()
    })
    .iter()
    .find(|k| k.group() == group)
    .expect("a key pair for every group")
}

/// The peer's shared secret with a public value. The SA's randomness is
/// seeded, so the same public values come back run after run: caching
/// saves a scalar multiplication (or a modular exponentiation) per input.
fn peer_shared(group: DhGroup, public: &[u8]) -> Option<esp::SecretBytes> {
    type Cache = Vec<(DhGroup, Vec<u8>, esp::SecretBytes)>;
    thread_local! {
        static CACHE: std::cell::RefCell<Cache> = const { std::cell::RefCell::new(Vec::new()) };
    }
    if let Some(s) = CACHE.with_borrow(|c| {
        c.iter()
            .find(|(g, p, _)| *g == group && p == public)
            .map(|e| e.2.clone())
    }) {
        return Some(s);
    }
    let secret = peer_dh(group).shared_secret(public).ok()?;
    CACHE.with_borrow_mut(|c| {
        if c.len() == 32 {
            c.remove(0);
        }
        c.push((group, public.to_vec(), secret.clone()));
    });
    Some(secret)
}

pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 7296 §3.5: the ID payload's body after the generic header, which
/// AUTH covers (RESERVED as sent).
fn id_body(id: &Identification) -> Vec<u8> {
    let mut b = vec![id.id_type.value()];
    b.extend_from_slice(&id.reserved);
    b.extend_from_slice(&id.data);
    b
}

/// Flips, truncates or extends `data` as the input says.
fn mutate(data: &mut Vec<u8>, input: &mut Input) {
    match input.u8() % 4 {
        0 => {
            for _ in 0..=input.u8() % 4 {
                if !data.is_empty() {
                    let at = usize::from(input.u16()) % data.len();
                    data[at] ^= input.u8().max(1);
                }
            }
        }
        1 => data.truncate(usize::from(input.u16()) % (data.len() + 1)),
        2 => data.extend_from_slice(input.chunk()),
        _ => *data = input.chunk().to_vec(),
    }
}

/// Payloads decoded from the input, to append to a structured message.
/// SK and SKF payloads are left out: they must come last.
fn extras(input: &mut Input) -> Vec<Payload> {
    let first = PayloadType::from(input.u8());
    let bytes = input.chunk();
    let mut payloads = decode_payload_chain(first, bytes).unwrap_or_default();
    payloads.retain(|p| !p.is_encrypted());
    payloads
}

/// Traffic selectors as the input picks them; 0 is `0.0.0.0/0`.
fn traffic_selectors(choice: u8, input: &mut Input) -> Vec<TrafficSelector> {
    let v6_any = TrafficSelector::Ipv6(AddressRange::any_port(
        Ipv6Addr::UNSPECIFIED,
        Ipv6Addr::from(u128::MAX),
    ));
    match choice % 7 {
        0 => vec![selectors::any_v4()],
        1 => selectors::prefix(IpAddr::from([10, 1, 2, 3]), input.u8() % 33)
            .into_iter()
            .collect(),
        2 => vec![v6_any],
        3 => vec![],
        4 => vec![TrafficSelector::Ipv4(AddressRange {
            ip_protocol: input.u8(),
            start_port: input.u16(),
            end_port: input.u16(),
            start: [10, 0, 0, input.u8()].into(),
            end: [10, 0, input.u8(), 255].into(),
        })],
        5 => vec![v6_any, selectors::any_v4()],
        _ => vec![
            selectors::prefix(IpAddr::from([192, 168, 0, 0]), 16).expect("prefix"),
            selectors::prefix(IpAddr::from([172, 16, 0, 0]), 12).expect("prefix"),
        ],
    }
}

/// An ID the peer may claim: its address (what a `remote_id` wants), a
/// name, or anything.
fn peer_id(choice: u8, input: &mut Input) -> Identification {
    match choice % 4 {
        0 => Identification::ip(peer_addr().ip()),
        1 => Identification::fqdn("peer.vwand.example"),
        2 => {
            let t = IdType::from(input.u8());
            let n = usize::from(input.u8());
            Identification::new(t, input.bytes(n).to_vec())
        }
        _ => {
            let mut id = Identification::ip(peer_addr().ip());
            id.reserved = [input.u8(), input.u8(), input.u8()];
            id
        }
    }
}

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

    fn set_keys(&mut self, keys: IkeSaKeys) {
        let (i, r) = (keys.initiator_cipher().ok(), keys.responder_cipher().ok());
        (self.send, self.recv) = if self.is_initiator { (i, r) } else { (r, i) };
        self.keys = Some(keys);
        self.confirmed = false;
    }

    fn header(&self, exchange: ExchangeType, response: bool, message_id: u32) -> Header {
        Header::new(
            self.spi_i,
            self.spi_r,
            exchange,
            Flags::new(self.is_initiator, response),
            message_id,
        )
    }

    /// A message whose SK payload protects `plain`, as RFC 7296 §3.14 says.
    fn seal_raw(&mut self, header: Header, first: PayloadType, plain: &[u8]) -> Option<Vec<u8>> {
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

    fn seal(&mut self, header: Header, payloads: &[Payload]) -> Option<Vec<u8>> {
        let (first, plain) = encode_payload_chain(payloads).ok()?;
        self.seal_raw(header, first, &plain)
    }

    fn open(&self, data: &[u8]) -> Option<Vec<u8>> {
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
    fn observe(&mut self, sa: &IkeSa, data: &[u8]) {
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
        let psk = if c & 4 != 0 {
            esp::SecretBytes::new(b"another secret".to_vec())
        } else {
            cfg.psk.clone()
        };
        let mut auth = psk_auth(prf, &psk, &octets);
        if c & 8 != 0 {
            mutate(&mut auth, input);
        }
        let method = if c & 0x10 != 0 {
            AuthMethod::from(input.u8())
        } else {
            AuthMethod::SharedKeyMic
        };
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
        let psk = if c & 4 != 0 {
            esp::SecretBytes::new(b"another secret".to_vec())
        } else {
            cfg.psk.clone()
        };
        let mut auth = psk_auth(prf, &psk, &octets);
        if c & 8 != 0 {
            mutate(&mut auth, input);
        }
        let method = if c & 0x10 != 0 {
            AuthMethod::from(input.u8())
        } else {
            AuthMethod::SharedKeyMic
        };
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

    fn take_request_id(&mut self) -> u32 {
        let id = self.next_request;
        self.next_request = id.wrapping_add(1);
        id
    }

    /// A message ID for a request: the next one (0), the last one (1), or
    /// any (2, 3).
    fn request_id(&mut self, input: &mut Input) -> u32 {
        match input.u8() % 4 {
            0 => self.take_request_id(),
            1 => self.next_request.wrapping_sub(1),
            _ => input.u32(),
        }
    }

    /// A request with arbitrary plaintext in its SK payload.
    fn raw_request(&mut self, input: &mut Input) -> Option<Vec<u8>> {
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
    fn raw_response(&mut self, input: &mut Input) -> Option<Vec<u8>> {
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
    fn informational(&mut self, input: &mut Input, child: Option<&ChildSa>) -> Option<Vec<u8>> {
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
    fn create_child_sa(
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
    fn rekey_response(&mut self, req: &SaRequest, cfg: &IkeConfig) -> Option<Vec<u8>> {
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
    fn answer(&mut self, cfg: &IkeConfig) -> Option<Vec<u8>> {
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

/// What one SA reported, with the order checks of the module docs.
#[derive(Default)]
pub struct Watch {
    pub established: Option<String>,
    pub down: Option<DownReason>,
    /// Every Child SA installed, in order.
    pub child_ups: Vec<ChildSa>,
    /// SPIs (inbound, outbound) of the Child SAs up now.
    pub live: Vec<(u32, u32)>,
    /// Inbound SPIs of Child SAs up but not yet sending.
    pub inactive: Vec<u32>,
    /// Every SPIi the SA has gone by, with its role under it: after an IKE
    /// SA rekey (§2.18) the old SA still sends its DELETE.
    pub identities: Vec<(u64, Role)>,
    /// The SPIs of each IKE SA rekey.
    pub rekeyed: Vec<(u64, u64)>,
}

impl Watch {
    fn event(&mut self, e: Event) {
        assert!(self.down.is_none(), "an event after Down: {e:?}");
        match e {
            Event::Established { suite, .. } => {
                assert!(self.established.is_none(), "Established twice");
                self.established = Some(suite);
            }
            Event::ChildUp(c) => {
                assert!(self.established.is_some(), "ChildUp before Established");
                let spis = (c.inbound.spi, c.outbound.spi);
                assert!(
                    !self.live.iter().any(|l| l.0 == spis.0),
                    "ChildUp with an inbound SPI already up: {spis:x?}"
                );
                self.live.push(spis);
                if !c.activate {
                    self.inactive.push(spis.0);
                }
                self.child_ups.push(*c);
            }
            Event::ChildActivate { inbound_spi } => {
                assert!(
                    self.live.iter().any(|l| l.0 == inbound_spi),
                    "ChildActivate for a Child SA not up: {inbound_spi:x} (up: {:x?})",
                    self.live
                );
                let at = self.inactive.iter().position(|&s| s == inbound_spi);
                let at = at.unwrap_or_else(|| {
                    panic!("ChildActivate for a Child SA not waiting for it: {inbound_spi:x}")
                });
                self.inactive.remove(at);
            }
            Event::ChildDown {
                inbound_spi,
                outbound_spi,
            } => {
                let spis = (inbound_spi, outbound_spi);
                let at = self.live.iter().position(|l| *l == spis);
                let at = at.unwrap_or_else(|| {
                    panic!(
                        "ChildDown for a Child SA not up: {spis:x?} (up: {:x?})",
                        self.live
                    )
                });
                self.live.remove(at);
                self.inactive.retain(|&s| s != inbound_spi);
            }
            Event::IkeRekeyed { spi_i, spi_r } => {
                assert!(self.established.is_some(), "IkeRekeyed before Established");
                self.rekeyed.push((spi_i, spi_r));
            }
            Event::Down(r) => self.down = Some(r),
        }
    }
}

/// Drains one SA's transmits and events after a call; `closed_before`
/// says whether it had reported `Down` before that call.
fn drain_sa(
    sa: &mut IkeSa,
    watch: &mut Watch,
    closed_before: bool,
    mut on_transmit: impl FnMut(&IkeSa, Transmit),
) -> Vec<ChildSa> {
    let mut ups = Vec::new();
    let me = (sa.spi_i(), sa.role());
    if !watch.identities.contains(&me) {
        watch.identities.push(me);
    }
    while let Some(t) = sa.poll_transmit() {
        trace!("  {:?} sends {}", sa.role(), summary(&t.data));
        assert!(!closed_before, "a transmit after Down: {}", hex(&t.data));
        let msg = Message::decode(&t.data).unwrap_or_else(|e| {
            panic!(
                "the SA sent a message that does not decode ({e:?}): {}",
                hex(&t.data)
            )
        });
        let h = msg.header;
        let role = if h.flags.initiator() {
            Role::Initiator
        } else {
            Role::Responder
        };
        // Besides its own identities, an SA speaks for the new IKE SA a
        // simultaneous rekey made redundant (RFC 7296 §2.8.2): it deletes
        // it, or answers its deletion.
        let redundant = sa.owns(h.spi_i, h.spi_r) || h.flags.response();
        assert!(
            watch.identities.contains(&(h.spi_i, role)) || redundant,
            "the SA sent SPIi {:#x} as {role:?}, not one of its identities {:x?}",
            h.spi_i,
            watch.identities
        );
        on_transmit(sa, t);
    }
    while let Some(e) = sa.poll_event() {
        trace!("  {:?} event {e:?}", sa.role());
        if let Event::ChildUp(c) = &e {
            ups.push(c.as_ref().clone());
        }
        watch.event(e);
    }
    if watch.down.is_some() {
        assert!(sa.is_closed(), "Down reported but the SA is not closed");
        assert_eq!(sa.poll_timeout(), None, "a closed SA wants a timer");
    }
    ups
}

/// Calls to `handle_timeout(now)` after which a deadline may still be due:
/// an owner looping on `poll_timeout` wakes up once more, no harm done, but
/// more than this would be a spin.
const TIMEOUT_CALLS: usize = 4;

/// Whether the SA still wants a timer at or before `now`; panics if it
/// does after `calls` calls to `handle_timeout(now)`.
fn still_due(sa: &IkeSa, now: Instant, calls: usize) -> bool {
    let due = sa.poll_timeout().filter(|&t| t <= now);
    if let Some(t) = due {
        assert!(
            calls < TIMEOUT_CALLS,
            "handle_timeout spins: a deadline {:?} before now is still due after {calls} calls",
            now - t
        );
    }
    due.is_some()
}

/// The SA under test, its scripted peer and the network between them.
pub struct Harness {
    pub sa: IkeSa,
    pub peer: Peer,
    pub cfg: IkeConfig,
    pub now: Instant,
    /// Where the peer's datagrams come from.
    pub from: SocketAddr,
    pub watch: Watch,
    sa_sent: Vec<Vec<u8>>,
    peer_sent: Vec<Vec<u8>>,
}

impl Harness {
    pub fn new(sa: IkeSa, peer: Peer, cfg: IkeConfig, now: Instant) -> Self {
        let mut h = Self {
            sa,
            peer,
            cfg,
            now,
            from: peer_addr(),
            watch: Watch::default(),
            sa_sent: Vec::new(),
            peer_sent: Vec::new(),
        };
        h.drain(false, None);
        h
    }

    fn drain(&mut self, closed_before: bool, expect: Option<&ExpectedChild>) {
        let (peer, sent) = (&mut self.peer, &mut self.sa_sent);
        let first = self.watch.child_ups.is_empty();
        let ups = drain_sa(&mut self.sa, &mut self.watch, closed_before, |sa, t| {
            peer.observe(sa, &t.data);
            keep(sent, t.data);
        });
        for (i, c) in ups.iter().enumerate() {
            if first && i == 0 {
                let (ni, nr) = (&self.peer.ni, &self.peer.nr);
                self.check_child_keys(c, None, ni, nr, self.sa.role() == Role::Initiator);
            } else if let Some(e) = expect.filter(|e| e.peer_spi == c.outbound.spi) {
                trace!(
                    "  checking the keys of {:x}/{:x}",
                    c.inbound.spi,
                    c.outbound.spi
                );
                self.check_rekeyed_child(c, e);
            }
        }
    }

    /// The keys of a Child SA a CREATE_CHILD_SA created.
    fn check_rekeyed_child(&self, c: &ChildSa, e: &ExpectedChild) {
        let (nr, g_ir) = if e.sa_initiated {
            (e.nr.clone(), e.g_ir.clone())
        } else {
            // From the SA's response to our request.
            let Some((id, payloads)) = &self.peer.sa_response else {
                return;
            };
            if *id != e.message_id {
                return;
            }
            let nr = payloads.iter().rev().find_map(|p| match p {
                Payload::Nonce(n) => Some(n.0.clone()),
                _ => None,
            });
            let ke = payloads.iter().rev().find_map(|p| match p {
                Payload::Ke(k) => Some(k),
                _ => None,
            });
            let g_ir = match (e.pfs_group, ke) {
                (Some(g), Some(ke)) => peer_shared(g, &ke.data),
                _ => None,
            };
            (nr, g_ir)
        };
        let Some(nr) = nr else { return };
        self.check_child_keys(c, g_ir.as_ref(), &e.ni, &nr, e.sa_initiated);
    }

    /// With confirmed keys, a Child SA's keys are KEYMAT's (§2.17), in the
    /// directions of the exchange that created it.
    fn check_child_keys(
        &self,
        c: &ChildSa,
        g_ir: Option<&esp::SecretBytes>,
        ni: &[u8],
        nr: &[u8],
        sa_initiated: bool,
    ) {
        let (Some(keys), true) = (&self.peer.keys, self.peer.confirmed) else {
            return;
        };
        let k = ChildKeys::derive(keys, c.inbound.transform, g_ir, ni, nr).expect("child keys");
        let (inbound, outbound) = if sa_initiated {
            (k.responder_to_initiator, k.initiator_to_responder)
        } else {
            (k.initiator_to_responder, k.responder_to_initiator)
        };
        assert_eq!(c.inbound.transform, c.outbound.transform);
        assert_eq!(c.inbound.enc_key, inbound.encryption, "inbound key");
        assert_eq!(
            c.inbound.integ_key, inbound.integrity,
            "inbound integrity key"
        );
        assert_eq!(c.outbound.enc_key, outbound.encryption, "outbound key");
        assert_eq!(
            c.outbound.integ_key, outbound.integrity,
            "outbound integrity key"
        );
    }

    /// Hands a datagram from the peer to the SA.
    pub fn deliver(&mut self, data: Vec<u8>) {
        let closed = self.watch.down.is_some();
        let expect = self.peer.expect.take();
        trace!(
            "{:?} peer -> SA from {}: {}",
            self.now - start_time(),
            self.from,
            summary(&data)
        );
        self.sa.handle_datagram(self.now, self.from, &data);
        keep(&mut self.peer_sent, data);
        self.drain(closed, expect.as_ref());
    }

    fn timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        for calls in 1.. {
            let closed = self.watch.down.is_some();
            trace!("{:?} timeout", self.now - start_time());
            self.sa.handle_timeout(self.now);
            self.drain(closed, None);
            if !still_due(&self.sa, self.now, calls) {
                break;
            }
        }
    }

    /// The newest Child SA up, or the oldest.
    fn child(&self, newest: bool) -> Option<ChildSa> {
        let live = if newest {
            self.watch.live.last()?
        } else {
            self.watch.live.first()?
        };
        self.watch
            .child_ups
            .iter()
            .find(|c| c.inbound.spi == live.0)
            .cloned()
    }

    /// A datagram as raw bytes, with the SPIs, length or message ID put
    /// right if the input asks.
    fn raw(&mut self, input: &mut Input) -> Vec<u8> {
        let fix = input.u8();
        let mut data = input.chunk().to_vec();
        if fix & 1 != 0 && data.len() >= 16 {
            data[..8].copy_from_slice(&self.sa.spi_i().to_be_bytes());
            data[8..16].copy_from_slice(&self.sa.spi_r().to_be_bytes());
        }
        if fix & 2 != 0 && data.len() >= 28 {
            let len = u32::try_from(data.len()).unwrap_or(0);
            data[24..28].copy_from_slice(&len.to_be_bytes());
        }
        if fix & 4 != 0 && data.len() >= 24 {
            data[20..24].copy_from_slice(&self.peer.next_request.to_be_bytes());
        }
        if fix & 8 != 0 && data.len() >= 20 {
            data[17] = 0x20;
        }
        data
    }

    /// Replays a datagram either side sent, perhaps modified.
    fn replay(&mut self, input: &mut Input) -> Option<Vec<u8>> {
        let c = input.u8();
        let list = if c & 1 == 0 {
            &self.peer_sent
        } else {
            &self.sa_sent
        };
        let back = usize::from(input.u8()) % list.len().max(1);
        let mut data = list.len().checked_sub(back + 1).map(|i| list[i].clone())?;
        if c & 2 != 0 {
            mutate(&mut data, input);
        }
        if c & 4 != 0 && data.len() >= 28 {
            let len = u32::try_from(data.len()).unwrap_or(0);
            data[24..28].copy_from_slice(&len.to_be_bytes());
        }
        Some(data)
    }

    /// The role-specific structured exchange: IKE_AUTH request (peer
    /// initiator); IKE_SA_INIT or IKE_AUTH response (peer responder).
    fn exchange(&mut self, input: &mut Input) -> Option<Vec<u8>> {
        if self.peer.is_initiator {
            self.peer.auth_request(input, &self.cfg)
        } else if self.peer.keys.is_none()
            || self
                .peer
                .sa_request
                .as_ref()
                .is_none_or(|r| r.exchange != ExchangeType::IkeAuth)
        {
            self.peer.init_response(input, &self.cfg)
        } else {
            self.peer.auth_response(input, &self.cfg)
        }
    }

    /// Runs the operations the input describes, then lets the timers run.
    ///
    /// Each operation is one byte (modulo 12) and its arguments:
    ///
    /// | op | what |
    /// |----|------|
    /// | 0  | raw datagram: fix flags, length-prefixed bytes |
    /// | 1  | time passes: 100 ms × byte, then `handle_timeout` |
    /// | 2  | time jumps to `poll_timeout()` |
    /// | 3  | sealed request, arbitrary plaintext |
    /// | 4  | sealed response, arbitrary plaintext |
    /// | 5  | INFORMATIONAL request (liveness, DELETE, notifies) |
    /// | 6  | the role's exchange (IKE_AUTH / IKE_SA_INIT response) |
    /// | 7  | replay of an earlier datagram, perhaps modified |
    /// | 8  | the peer's source address changes |
    /// | 9  | the owner closes (DELETE) or abandons the SA |
    /// | 10 | the peer answers the SA's latest request properly |
    /// | 11 | CREATE_CHILD_SA request |
    pub fn run(&mut self, input: &mut Input) {
        for _ in 0..MAX_OPS {
            if input.is_empty() {
                break;
            }
            let op = input.u8() % 12;
            trace!("op {op}");
            let datagram = match op {
                0 => Some(self.raw(input)),
                1 => {
                    let t = self.now + Duration::from_millis(100) * u32::from(input.u8());
                    self.timeout(t);
                    None
                }
                2 => {
                    if let Some(t) = self.sa.poll_timeout() {
                        self.timeout(t);
                    }
                    None
                }
                3 => self.peer.raw_request(input),
                4 => self.peer.raw_response(input),
                5 => {
                    // DELETE is for the old pair after a rekey.
                    let child = self.child(false);
                    self.peer.informational(input, child.as_ref())
                }
                6 => self.exchange(input),
                7 => self.replay(input),
                8 => {
                    let (c, port) = (input.u8(), input.u16());
                    self.from = peer_source(c, port);
                    None
                }
                9 => {
                    let closed = self.watch.down.is_some();
                    if input.u8() & 1 == 0 {
                        self.sa.close(self.now);
                    } else {
                        self.sa.abandon();
                    }
                    self.drain(closed, None);
                    None
                }
                10 => self.peer.answer(&self.cfg),
                _ => {
                    let child = self.child(true);
                    self.peer.create_child_sa(input, &self.cfg, child.as_ref())
                }
            };
            match datagram {
                Some(d) => self.deliver(d),
                None => self.peer.expect = None,
            }
        }
        for _ in 0..SETTLE_STEPS {
            match self.sa.poll_timeout() {
                Some(t) => self.timeout(t),
                None => break,
            }
        }
    }
}

fn keep(list: &mut Vec<Vec<u8>>, data: Vec<u8>) {
    if list.len() == HISTORY {
        list.remove(0);
    }
    list.push(data);
}

/// Two real SAs, an initiator and a responder, through a network the input
/// controls: each operation delivers, drops, duplicates, reorders or
/// corrupts the next datagram in flight, moves the clock, or closes a side.
/// When the input runs out the network turns reliable for a while.
///
/// `variant` varies the initiator's configuration, the next input byte the
/// responder's.
pub fn pair(input: &mut Input, variant: u8) {
    let (a_addr, b_addr) = (peer_addr(), sa_addr());
    let b_cfg = config(b_addr, a_addr, input.u8());
    let mut now = start_time();
    let mut a = IkeSa::initiate(
        config(a_addr, b_addr, variant),
        a_addr,
        b_addr,
        now,
        sa_rng(1),
    );
    let mut b: Option<IkeSa> = None;
    let (mut wa, mut wb) = (Watch::default(), Watch::default());
    // Datagrams in flight: (to the responder, source, bytes).
    let mut flight: std::collections::VecDeque<(bool, SocketAddr, Vec<u8>)> = Default::default();

    fn collect(
        sa: &mut IkeSa,
        w: &mut Watch,
        closed: bool,
        to_b: bool,
        from_ip: IpAddr,
        flight: &mut std::collections::VecDeque<(bool, SocketAddr, Vec<u8>)>,
    ) {
        drain_sa(sa, w, closed, |_, t| {
            if flight.len() < 64 {
                flight.push_back((to_b, SocketAddr::new(from_ip, t.local_port), t.data));
            }
        });
    }
    collect(&mut a, &mut wa, false, true, a_addr.ip(), &mut flight);

    let mut auto_steps = 0;
    for _ in 0..2 * MAX_OPS {
        let op = if input.is_empty() {
            // Reliable network: deliver in order, else let time pass.
            auto_steps += 1;
            if auto_steps > 24 {
                break;
            }
            if flight.is_empty() {
                1
            } else {
                0
            }
        } else {
            input.u8() % 8
        };
        let (ca, cb) = (wa.down.is_some(), wb.down.is_some());
        match op {
            // Deliver the next datagram; 2: corrupted; 3: from elsewhere
            // (a NAT); 4: the last one instead (reordering); 5: and keep
            // it (duplication).
            0 | 2 | 3 | 4 | 5 => {
                let item = match op {
                    4 => flight.pop_back(),
                    5 => flight.front().cloned(),
                    _ => flight.pop_front(),
                };
                let Some((to_b, mut from, mut data)) = item else {
                    continue;
                };
                if op == 2 {
                    mutate(&mut data, input);
                }
                if op == 3 {
                    let (c, port) = (input.u8(), input.u16());
                    from = SocketAddr::new(peer_source(c, port).ip(), from.port());
                }
                trace!(
                    "{:?} op {op} to {}: {}",
                    now - start_time(),
                    if to_b { "responder" } else { "initiator" },
                    summary(&data)
                );
                if !to_b {
                    a.handle_datagram(now, from, &data);
                } else if let Some(b) = b.as_mut() {
                    b.handle_datagram(now, from, &data);
                } else {
                    match IkeSa::accept(b_cfg.clone(), b_addr, from, &data, now, sa_rng(SA_SEED)) {
                        Accepted::Sa(sa) => b = Some(*sa),
                        Accepted::Refused { reply, .. } => {
                            Message::decode(&reply.data).expect("a refusal decodes");
                            flight.push_back((false, b_addr, reply.data));
                        }
                        Accepted::Ignored => {}
                    }
                }
            }
            // Time passes to the next deadline, or by the input's amount.
            1 | 6 => {
                let next = [Some(&a), b.as_ref()]
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.poll_timeout())
                    .min();
                let t = if op == 1 {
                    next.unwrap_or(now)
                } else {
                    now + Duration::from_millis(100) * u32::from(input.u8())
                };
                now = now.max(t);
                for calls in 1.. {
                    let ca = wa.down.is_some();
                    a.handle_timeout(now);
                    collect(&mut a, &mut wa, ca, true, a_addr.ip(), &mut flight);
                    if !still_due(&a, now, calls) {
                        break;
                    }
                }
                if let Some(b) = b.as_mut() {
                    for calls in 1.. {
                        let cb = wb.down.is_some();
                        b.handle_timeout(now);
                        collect(b, &mut wb, cb, false, b_addr.ip(), &mut flight);
                        if !still_due(b, now, calls) {
                            break;
                        }
                    }
                }
            }
            // The owner closes (DELETE) or abandons a side.
            _ => {
                let c = input.u8();
                let sa = if c & 1 == 0 { Some(&mut a) } else { b.as_mut() };
                match (sa, c & 2 != 0) {
                    (Some(sa), false) => sa.close(now),
                    (Some(sa), true) => sa.abandon(),
                    (None, _) => {}
                }
            }
        }
        collect(&mut a, &mut wa, ca, true, a_addr.ip(), &mut flight);
        if let Some(b) = b.as_mut() {
            collect(b, &mut wb, cb, false, b_addr.ip(), &mut flight);
        }
    }

    // Whatever happened on the way, two SAs that both got this far agree.
    if let (Some(sa), Some(sb)) = (&wa.established, &wb.established) {
        assert_eq!(sa, sb, "the two sides established different suites");
    }
    // Every Child SA both installed (matched by SPI, rekeyed ones too).
    for ca in &wa.child_ups {
        let Some(cb) = wb
            .child_ups
            .iter()
            .find(|cb| cb.inbound.spi == ca.outbound.spi)
        else {
            continue;
        };
        for (x, y) in [(&ca.outbound, &cb.inbound), (&cb.outbound, &ca.inbound)] {
            assert_eq!(x.spi, y.spi, "Child SA SPIs disagree");
            assert_eq!(x.transform, y.transform, "Child SA transforms disagree");
            assert_eq!(x.enc_key, y.enc_key, "Child SA keys disagree");
            assert_eq!(x.integ_key, y.integ_key, "Child SA integrity keys disagree");
            assert_eq!(x.esn, y.esn, "Child SA ESN disagrees");
        }
    }
}

/// How a target sets the SA under test up before the operations run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// The first message comes raw from the input: an IKE_SA_INIT request
    /// to `accept` for the responder, a response for the initiator.
    Raw,
    /// The scripted peer builds the first message, shaped by the input.
    Scripted,
    /// Well-formed IKE_SA_INIT and IKE_AUTH first, so the operations start
    /// on an established SA.
    Auto,
}

/// RFC 7296 §2.6: the cookie gate sees the request first. It demands a
/// cookie when the request's length is 1 modulo 4 (never in `Auto`); its
/// answer must then be a stateless reply carrying only N(COOKIE).
fn cookie_gate_admits(first: &[u8], now: Instant, setup: Setup) -> bool {
    let Ok(msg) = Message::decode(first) else {
        return true;
    };
    let threshold = if setup != Setup::Auto && first.len() % 4 == 1 {
        0
    } else {
        8
    };
    let mut gate = CookieGate::new(now, threshold, 64, sa_rng(SA_SEED ^ 0xc0)).expect("test RNG");
    match gate.check(now, sa_addr(), peer_addr(), &msg, 0) {
        Verdict::Accept => true,
        Verdict::Cookie(reply) => {
            let r = Message::decode(&reply.data).expect("the COOKIE reply decodes");
            assert!(r.header.flags.response() && r.header.spi_r == 0);
            assert_eq!((r.header.spi_i, r.payloads.len()), (msg.header.spi_i, 1));
            assert!(r.notify(NotifyType::Cookie).is_some());
            false
        }
        Verdict::Refuse => panic!("refused with no half-open SA"),
    }
}

/// The responder target: an IKE_SA_INIT request to `accept`, then the
/// operations of [`Harness::run`].
pub fn responder(input: &mut Input, variant: u8, setup: Setup) {
    let cfg = config(sa_addr(), peer_addr(), variant);
    let now = start_time();
    let mut peer = Peer::new(true, 0, 0);
    let first = match setup {
        Setup::Raw => input.chunk().to_vec(),
        Setup::Scripted => match peer.init_request(input, &cfg) {
            Some(d) => d,
            None => return,
        },
        Setup::Auto => peer
            .init_request(&mut Input::new(&[]), &cfg)
            .expect("a well-formed IKE_SA_INIT request"),
    };
    if !cookie_gate_admits(&first, now, setup) {
        return;
    }
    let accepted = IkeSa::accept(
        cfg.clone(),
        sa_addr(),
        peer_addr(),
        &first,
        now,
        sa_rng(SA_SEED),
    );
    let sa = match accepted {
        Accepted::Sa(sa) => *sa,
        Accepted::Refused { reply, reason } => {
            assert!(
                setup != Setup::Auto,
                "a well-formed request refused: {reason:?}"
            );
            let msg = Message::decode(&reply.data).unwrap_or_else(|e| {
                panic!(
                    "a refusal ({reason:?}) does not decode ({e:?}): {}",
                    hex(&reply.data)
                )
            });
            assert!(msg.header.flags.response() && !msg.header.flags.initiator());
            assert_eq!(msg.header.exchange_type, ExchangeType::IkeSaInit);
            return;
        }
        Accepted::Ignored => {
            assert!(setup != Setup::Auto, "a well-formed request ignored");
            return;
        }
    };
    assert_eq!(sa.role(), Role::Responder);
    if setup == Setup::Raw {
        peer.spi_i = sa.spi_i();
        peer.spi_r = sa.spi_r();
    }
    let mut h = Harness::new(sa, peer, cfg, now);
    assert!(
        h.peer.sa_init.is_some(),
        "accept queued no IKE_SA_INIT response"
    );
    if setup != Setup::Raw {
        h.peer.complete_init_as_initiator(&h.cfg);
    }
    if setup == Setup::Auto {
        let d = h.peer.auth_request(&mut Input::new(&[]), &h.cfg);
        h.deliver(d.expect("a well-formed IKE_AUTH request"));
        assert!(h.peer.confirmed, "the SA's IKE_AUTH response did not open");
        assert!(
            h.watch.established.is_some() && h.watch.live.len() == 1,
            "a well-formed IKE_AUTH did not establish (variant {variant:#x}): {:?}",
            h.watch.down
        );
    }
    h.run(input);
}

/// The initiator target: `initiate`, then the operations of
/// [`Harness::run`] (after the scripted peer's IKE_SA_INIT response,
/// shaped by the input, unless `setup` is [`Setup::Raw`]).
pub fn initiator(input: &mut Input, variant: u8, setup: Setup) {
    let cfg = config(sa_addr(), peer_addr(), variant);
    let now = start_time();
    let sa = IkeSa::initiate(cfg.clone(), sa_addr(), peer_addr(), now, sa_rng(SA_SEED));
    assert_eq!(sa.role(), Role::Initiator);
    let peer = Peer::new(false, sa.spi_i(), 0);
    let mut h = Harness::new(sa, peer, cfg, now);
    assert!(
        h.peer.sa_init.is_some(),
        "initiate queued no IKE_SA_INIT request"
    );
    match setup {
        Setup::Raw => {
            let d = h.raw(input);
            h.deliver(d);
        }
        Setup::Scripted => {
            if let Some(d) = h.peer.init_response(input, &h.cfg) {
                h.deliver(d);
            }
        }
        Setup::Auto => {
            let d = h.peer.init_response(&mut Input::new(&[]), &h.cfg);
            h.deliver(d.expect("a well-formed IKE_SA_INIT response"));
            assert!(h.peer.confirmed, "the SA's IKE_AUTH request did not open");
            let d = h.peer.auth_response(&mut Input::new(&[]), &h.cfg);
            h.deliver(d.expect("a well-formed IKE_AUTH response"));
            assert!(
                h.watch.established.is_some() && h.watch.live.len() == 1,
                "a well-formed IKE_AUTH response did not establish (variant {variant:#x}): {:?}",
                h.watch.down
            );
        }
    }
    h.run(input);
}
