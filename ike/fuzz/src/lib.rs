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

// After the macro: its scope is textual.
mod harness;
mod peer;

use harness::{drain_sa, still_due};
pub use harness::{Harness, Watch};
pub use peer::{ExpectedChild, Peer, SaRequest};

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

/// The peer's AUTH payload over `octets`: with our PSK or another one
/// (`c` bit 2), mutated (bit 3), under the PSK method or any (bit 4).
fn auth_payload(
    c: u8,
    input: &mut Input,
    cfg: &IkeConfig,
    prf: ike::crypto::Prf,
    octets: &[u8],
) -> (AuthMethod, Vec<u8>) {
    let psk = if c & 4 != 0 {
        esp::SecretBytes::new(b"another secret".to_vec())
    } else {
        cfg.psk.clone()
    };
    let mut auth = psk_auth(prf, &psk, octets);
    if c & 8 != 0 {
        mutate(&mut auth, input);
    }
    let method = if c & 0x10 != 0 {
        AuthMethod::from(input.u8())
    } else {
        AuthMethod::SharedKeyMic
    };
    (method, auth)
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
