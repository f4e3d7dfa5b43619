//! The harness of the `session` fuzz target.
//!
//! A [`Session`] (vwand's side, AS 65010) talks to a *fake peer* that the
//! input steers. The peer answers every OPEN the session sends with its own
//! OPEN and a KEEPALIVE, built with the crate's own encoder, so each
//! connection reaches Established at once (again after every restart);
//! from then on the peer's octets are the input's TCP stream, delivered in
//! pieces the input chooses, between timer expiries and commands the input
//! also chooses. Time is virtual, so every input replays on its own.
//!
//! # Invariants checked after every call
//!
//! - nothing panics (the main point);
//! - every `Send` holds whole messages that decode with the negotiated
//!   context, and goes to a connection the session opened (by `Connect`
//!   or `handle_incoming`) and has not closed;
//! - events are consistent with the RIB: a model built only from
//!   `RouteUpdated` and `RouteWithdrawn` equals `Session::rib()` after
//!   every call; a `RouteWithdrawn` names a prefix that a `RouteUpdated`
//!   announced and no `RouteWithdrawn` removed since; routes are learned
//!   only while Established; `Established` and `Down` alternate, and
//!   `Down` comes after every learned route was withdrawn;
//! - the RIB never holds more than the maximum-prefix limit, and holds
//!   nothing unless the session is Established;
//! - `handle_timeout(now)` leaves no deadline at or before `now` (an owner
//!   looping on `poll_timeout` would spin).
//!
//! # Input
//!
//! | octets | meaning |
//! |--------|---------|
//! | 0 | peer: bit 0 4-octet AS capability, bit 1 IPv6 unicast, bit 2 route refresh, bit 3 a 4-octet AS number (with bit 0), bit 4 passive session, bits 5–7 the peer's Hold Time ([`HOLD_TIMES`]) |
//! | 1 | maximum-prefix limit |
//! | 2 | `n`, the number of operations |
//! | 3 .. 3+n | operations, one octet each ([`Harness::op`]) |
//! | rest | the peer's TCP stream, after its OPEN and KEEPALIVE |
//!
//! Missing octets read as zero. When the operations are done, the rest of
//! the stream is delivered at once. So a raw capture of BGP messages behind
//! three zero octets is a useful input.
//!
//! Replay an input with `BGP_FUZZ_TRACE=1` to see every step on stderr.

use bgp::wire::{frame, Capability, Context, Message, Open, Safi};
use bgp::{Action, ConnId, Event, ImportPolicy, Route, Session, SessionConfig, State};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The Hold Times the peer proposes (ours is 90 s). 1 is refused (RFC
/// 4271 §6.2), 0 turns keepalives off.
pub const HOLD_TIMES: [u16; 8] = [90, 0, 3, 4, 30, 180, u16::MAX, 1];
const LOCAL_AS: u32 = 65010;
const PEER_AS_2: u32 = 65515;
const PEER_AS_4: u32 = 4_200_000_000;
const PEER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn tracing() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("BGP_FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if tracing() {
            eprintln!($($arg)*);
        }
    };
}

/// The peer, as octet 0 describes it.
#[derive(Debug, Clone, Copy)]
struct Peer {
    four_octet_as: bool,
    ipv6: bool,
    refresh: bool,
    asn: u32,
    hold: u16,
}

impl Peer {
    fn new(b: u8) -> Self {
        let four_octet_as = b & 1 != 0;
        Self {
            four_octet_as,
            ipv6: b & 2 != 0,
            refresh: b & 4 != 0,
            asn: match (four_octet_as, b & 8 != 0) {
                (true, true) => PEER_AS_4,
                // iBGP (vwand toward an on-premises router).
                (false, true) => LOCAL_AS,
                _ => PEER_AS_2,
            },
            hold: HOLD_TIMES[usize::from(b >> 5)],
        }
    }

    /// The peer's OPEN and KEEPALIVE, encoded by the crate itself.
    fn greeting(&self) -> Vec<u8> {
        let mut caps = vec![Capability::Multiprotocol {
            afi: 1,
            safi: Safi::UNICAST,
        }];
        if self.ipv6 {
            caps.push(Capability::Multiprotocol {
                afi: 2,
                safi: Safi::UNICAST,
            });
        }
        if self.refresh {
            caps.push(Capability::RouteRefresh);
        }
        let open = if self.four_octet_as {
            Open::new(self.asn, self.hold, PEER_ID, caps)
        } else {
            // An OLD speaker (RFC 6793): no 4-octet AS capability.
            Open {
                version: 4,
                my_as: u16::try_from(self.asn).unwrap_or(bgp::wire::AS_TRANS),
                hold_time: self.hold,
                router_id: PEER_ID,
                capabilities: caps,
            }
        };
        let ctx = Context::default();
        let mut out = Message::Open(open).to_bytes(&ctx);
        Message::Keepalive.encode(&ctx, &mut out);
        out
    }
}

fn config(b: u8, max_prefixes: u8, peer: &Peer) -> SessionConfig {
    let net = |s: &str| s.parse::<IpNet>().unwrap_or_default();
    SessionConfig {
        name: "fuzz".into(),
        local_as: LOCAL_AS,
        remote_as: peer.asn,
        router_id: Ipv4Addr::new(192, 0, 2, 2),
        hold_time: 90,
        connect_retry: Duration::from_secs(5),
        idle_hold: Duration::from_secs(1),
        passive: b & 0x10 != 0,
        ipv4: true,
        ipv6: true,
        import: ImportPolicy {
            allow: vec![net("0.0.0.0/0"), net("::/0")],
            protect: vec!["198.51.100.1"
                .parse()
                .unwrap_or(std::net::IpAddr::V4(PEER_ID))],
            max_prefixes: usize::from(max_prefixes),
        },
        next_hop_v4: Some(Ipv4Addr::new(192, 0, 2, 2)),
        next_hop_v6: "fd00:2::2".parse().ok(),
    }
}

/// The prefixes a `set_export` operation advertises.
fn export_set() -> Vec<IpNet> {
    ["172.24.0.0/17", "172.24.128.0/17", "fd00:24::/48"]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Reads the input front to back; past the end, zeros.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.data.split_first() else {
            return 0;
        };
        self.data = rest;
        b
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }
}

/// The session under test, the model of what its events said, and the
/// connections it has open.
pub struct Harness<'a> {
    session: Session,
    peer: Peer,
    limit: usize,
    start: Instant,
    now: Instant,
    /// Connections the session opened and has not closed.
    open: BTreeSet<ConnId>,
    /// Where the stream goes: the connection the peer last greeted.
    current: Option<ConnId>,
    /// The RIB as the events tell it.
    model: BTreeMap<IpNet, Route>,
    up: bool,
    stream: &'a [u8],
}

impl<'a> Harness<'a> {
    pub fn new(input: &mut Input<'a>) -> Self {
        let b = input.u8();
        let peer = Peer::new(b);
        let limit = input.u8();
        let start = Instant::now();
        let session = Session::new(config(b, limit, &peer));
        trace!(
            "peer {peer:?}, passive {}, max_prefixes {limit}",
            b & 0x10 != 0
        );
        Self {
            session,
            peer,
            limit: usize::from(limit),
            start,
            now: start,
            open: BTreeSet::new(),
            current: None,
            model: BTreeMap::new(),
            up: false,
            stream: &[],
        }
    }

    /// Starts the session, runs the operations, then delivers the rest of
    /// the stream.
    pub fn run(&mut self, input: &mut Input<'a>) {
        let n = usize::from(input.u8());
        let ops = input.take(n);
        self.stream = input.take(usize::MAX);
        self.session.start(self.now);
        if self.session.config().passive {
            self.incoming();
        }
        self.drain();
        for &op in ops {
            self.op(op);
        }
        let rest = std::mem::take(&mut self.stream);
        self.deliver(rest);
    }

    /// One operation:
    ///
    /// - `0x00..=0x7f`: the next `op + 1` octets of the stream (none while
    ///   no connection is up);
    /// - `0x80..=0xbf`: time moves on by `v²/4` seconds (`v` the low six
    ///   bits: 0 to 992 s), then `handle_timeout`;
    /// - `0xc0..`: a command, by the low four bits: jump to the next
    ///   deadline, peer closes the connection, `stop`, `start`,
    ///   `transport_down`, `transport_up`, `route_refresh`, export three
    ///   prefixes, export them with a prepend of 3, export nothing, the
    ///   peer connects again (`handle_incoming`), a KEEPALIVE on the
    ///   connection, the rest of the stream at once.
    pub fn op(&mut self, op: u8) {
        match op {
            // With no connection up, the stream waits for the next one.
            0x00..=0x7f if self.current.is_some() => {
                let n = usize::from(op) + 1;
                let (chunk, rest) = self.stream.split_at(n.min(self.stream.len()));
                self.stream = rest;
                self.deliver(chunk);
            }
            0x00..=0x7f => {}
            0x80..=0xbf => {
                let v = u64::from(op & 0x3f);
                self.advance(self.now + Duration::from_secs(v * v / 4));
            }
            _ => self.command(op & 0x0f),
        }
    }

    fn command(&mut self, c: u8) {
        let now = self.now;
        trace!("command {c}");
        match c {
            0 => {
                if let Some(t) = self.session.poll_timeout() {
                    self.advance(t);
                }
            }
            1 => {
                if let Some(id) = self.current.take() {
                    self.open.remove(&id);
                    self.session.handle_closed(now, id);
                }
            }
            2 => self.session.stop(now),
            3 => self.session.start(now),
            4 => self.session.transport_down(now),
            5 => self.session.transport_up(now),
            6 => {
                let _ = self.session.route_refresh();
            }
            7 => self.session.set_export(export_set(), 0),
            8 => self.session.set_export(export_set(), 3),
            9 => self.session.set_export(Vec::new(), 0),
            10 => self.incoming(),
            // Pass the learned routes back with their own attributes (as
            // vwand passes Azure's to a LAN router).
            12 => {
                let policy = bgp::redistribute::LanExport {
                    local_pref: 200,
                    med: Some(7),
                    communities: vec![0xfdf2_00c8],
                };
                let routes = bgp::redistribute::to_lan(self.session.rib().iter(), &policy);
                self.session.set_export_routes(routes, 1);
            }
            11 => {
                let ka = Message::Keepalive.to_bytes(&Context::default());
                self.deliver(&ka);
            }
            _ => {
                let rest = std::mem::take(&mut self.stream);
                self.deliver(rest);
            }
        }
        self.drain();
    }

    fn incoming(&mut self) {
        if let Some(id) = self.session.handle_incoming(self.now) {
            trace!("incoming {id:?}");
            assert!(self.open.insert(id), "handle_incoming reused {id:?}");
        }
    }

    fn deliver(&mut self, data: &[u8]) {
        let Some(id) = self.current else {
            return;
        };
        trace!("data {id:?} {}", hex(data));
        self.session.handle_data(self.now, id, data);
        self.drain();
    }

    fn advance(&mut self, to: Instant) {
        self.now = to.max(self.now);
        trace!("timeout at +{:?}", self.now - self.start);
        self.session.handle_timeout(self.now);
        if let Some(t) = self.session.poll_timeout() {
            assert!(
                t > self.now,
                "handle_timeout at +{:?} leaves a deadline at +{:?}",
                self.now - self.start,
                t - self.start
            );
        }
        self.drain();
    }

    /// Carries out the session's actions and checks its events, until
    /// there are none; the peer greets every OPEN.
    fn drain(&mut self) {
        for _ in 0..1000 {
            let mut progress = false;
            while let Some(a) = self.session.poll_action() {
                progress = true;
                self.action(a);
            }
            while let Some(e) = self.session.poll_event() {
                self.event(e);
            }
            self.check();
            if !progress {
                return;
            }
        }
        panic!("the session never stops acting");
    }

    fn action(&mut self, a: Action) {
        match a {
            Action::Connect(id) => {
                trace!("connect {id:?}");
                assert!(self.open.insert(id), "Connect reused {id:?}");
                self.session.handle_connected(self.now, id);
            }
            Action::Close(id) => {
                trace!("close {id:?}");
                assert!(self.open.remove(&id), "Close of {id:?}, which is not open");
                if self.current == Some(id) {
                    self.current = None;
                }
            }
            Action::Send(id, bytes) => {
                assert!(self.open.contains(&id), "Send on {id:?}, which is not open");
                let ctx = Context {
                    four_octet_as: self.peer.four_octet_as,
                };
                let mut rest = &bytes[..];
                let mut greet = false;
                while !rest.is_empty() {
                    let len = match frame(rest) {
                        Ok(Some(len)) => len,
                        other => panic!("Send of a partial message: {other:?} {}", hex(&bytes)),
                    };
                    let m = Message::decode(&rest[..len], &ctx).unwrap_or_else(|e| {
                        panic!(
                            "the session sent what does not decode: {e}\n{}",
                            hex(&bytes)
                        )
                    });
                    trace!("sent {id:?} {m:?}");
                    greet |= matches!(m, Message::Open(_));
                    rest = &rest[len..];
                }
                if greet {
                    self.current = Some(id);
                    let hello = self.peer.greeting();
                    self.session.handle_data(self.now, id, &hello);
                }
            }
        }
    }

    fn event(&mut self, e: Event) {
        trace!("event {e:?}");
        match e {
            Event::Established { peer_as, .. } => {
                assert!(!self.up, "Established twice");
                assert_eq!(peer_as, self.peer.asn);
                self.up = true;
            }
            Event::Down(_) => {
                assert!(self.up, "Down while not Established");
                assert!(
                    self.model.is_empty(),
                    "Down before withdrawing {:?}",
                    self.model.keys()
                );
                self.up = false;
            }
            Event::RouteUpdated { prefix, route } => {
                assert!(self.up, "route {prefix} learned while not Established");
                self.model.insert(prefix, route);
            }
            Event::RouteWithdrawn { prefix } => {
                assert!(
                    self.model.remove(&prefix).is_some(),
                    "RouteWithdrawn {prefix} that was never learned (or already withdrawn)"
                );
            }
        }
    }

    fn check(&self) {
        let rib = self.session.rib();
        assert!(
            rib.len() <= self.limit,
            "{} routes in the RIB, the limit is {}",
            rib.len(),
            self.limit
        );
        let rib: BTreeMap<IpNet, Route> = rib.iter().map(|(p, r)| (*p, r.clone())).collect();
        assert_eq!(rib, self.model, "the RIB is not what the events said");
        assert_eq!(
            self.session.state() == State::Established,
            self.up,
            "state {:?} but the events say up = {}",
            self.session.state(),
            self.up
        );
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
