//! The simulated network shared by the sans-IO IKE tests: deterministic
//! randomness, two endpoints, virtual time, loss, duplication and
//! reordering (quinn's `Pair::drive()` idea).
#![allow(dead_code)]

use esp::{InboundSa, OutboundSa, MAX_HEADROOM, MAX_TAILROOM};
use ike::crypto::{EspProposal, IkeProposal, LegacyAlgorithms, Rng, RngFailure};
use ike::sa::cookie::Verdict;
use ike::sa::{
    selectors, Accepted, ChildSa, CookieGate, DownReason, Event, IkeConfig, IkeSa,
    RetransmitConfig, Transmit,
};
use ike::wire::{Identification, Message};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Deterministic randomness: SHA-256 of a seed and a counter.
pub struct TestRng {
    seed: u64,
    n: u64,
}

impl Rng for TestRng {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), RngFailure> {
        for chunk in out.chunks_mut(32) {
            self.n += 1;
            let mut input = self.seed.to_be_bytes().to_vec();
            input.extend_from_slice(&self.n.to_be_bytes());
            let d = ring::digest::digest(&ring::digest::SHA256, &input);
            chunk.copy_from_slice(&d.as_ref()[..chunk.len()]);
        }
        Ok(())
    }
}

pub fn rng(seed: u64) -> Box<TestRng> {
    Box::new(TestRng { seed, n: 0 })
}

pub const A: &str = "192.0.2.1:500";
pub const B: &str = "192.0.2.2:500";

pub fn config(ike: &str, esp: &str, psk: &str, me: &str) -> IkeConfig {
    IkeConfig {
        local_id: Identification::ip(me.parse::<SocketAddr>().unwrap().ip()),
        remote_id: None,
        psk: esp::SecretBytes::new(psk.as_bytes().to_vec()),
        ike_proposals: vec![IkeProposal::parse(ike, LegacyAlgorithms::Refuse).unwrap()],
        esp_proposals: vec![EspProposal::parse(esp, LegacyAlgorithms::Refuse).unwrap()],
        local_ts: vec![selectors::any_v4()],
        remote_ts: vec![selectors::any_v4()],
        retransmit: RetransmitConfig {
            initial: Duration::from_millis(500),
            factor_percent: 200,
            max_interval: Duration::from_secs(2),
            retransmits: 3,
        },
        dpd_interval: Some(Duration::from_secs(10)),
        force_encap: false,
        replay_window: 1024,
        child_rekey_after: None,
        rekey_grace: Duration::from_secs(1),
        ike_rekey_after: None,
        child_rekey_bytes: None,
        fragment_size: Some(ike::sa::DEFAULT_FRAGMENT_SIZE),
        half_open_timeout: ike::sa::DEFAULT_HALF_OPEN_TIMEOUT,
        log_messages: true,
    }
}

/// The network: what each side has received, with faults.
pub struct Net {
    pub now: Instant,
    /// Drop every n-th datagram (0: none).
    pub drop_every: usize,
    /// Deliver every datagram twice.
    pub duplicate: bool,
    /// Deliver each burst of datagrams (say, every fragment of a message)
    /// in reverse order.
    pub reverse: bool,
    pub sent: usize,
    /// Varies both sides' randomness (nonces, SPIs, keys).
    pub seed: u64,
    /// Every datagram sent, A's and B's, in order, before any fault.
    pub log: Vec<(char, Vec<u8>)>,
    /// B's cookie gate (RFC 7296 §2.6), for requests that would create
    /// its SA.
    pub gate: Option<CookieGate>,
}

pub struct Side {
    pub sa: Option<IkeSa>,
    pub events: Vec<Event>,
}

impl Side {
    pub fn child(&self) -> Option<&ChildSa> {
        self.events.iter().find_map(|e| match e {
            Event::ChildUp(c) => Some(c.as_ref()),
            _ => None,
        })
    }
    pub fn down(&self) -> Option<&DownReason> {
        self.events.iter().find_map(|e| match e {
            Event::Down(r) => Some(r),
            _ => None,
        })
    }
    pub fn established(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::Established { .. }))
    }
}

/// Runs until both sides are quiet, in virtual time.
impl Net {
    /// Counts one datagram sent and says how many copies of it arrive: 0
    /// when it is the drop_every-th, 2 when duplicating, else 1.
    fn copies(&mut self) -> usize {
        self.sent += 1;
        if self.drop_every > 0 && self.sent.is_multiple_of(self.drop_every) {
            0
        } else if self.duplicate {
            2
        } else {
            1
        }
    }

    /// Turns these faults on from now, counting datagrams afresh.
    pub fn faults(&mut self, drop_every: usize, duplicate: bool, reverse: bool) {
        self.drop_every = drop_every;
        self.duplicate = duplicate;
        self.reverse = reverse;
        self.sent = 0;
    }

    /// Starts something (a rekey) on both sides at the same virtual
    /// instant, as their timers would.
    pub fn at_once(&self, a: &mut Side, b: &mut Side, start: impl Fn(&mut IkeSa, Instant)) {
        for sa in [&mut a.sa, &mut b.sa].into_iter().flatten() {
            start(sa, self.now);
            sa.handle_timeout(self.now);
        }
    }

    /// Takes what one side sends now, logs it, and orders it for delivery.
    pub fn burst(&mut self, who: char, out: impl Iterator<Item = Transmit>) -> Vec<Transmit> {
        let mut burst: Vec<Transmit> = out.collect();
        self.log.extend(burst.iter().map(|t| (who, t.data.clone())));
        if self.reverse {
            burst.reverse();
        }
        burst
    }
}

/// Passes an IKE_SA_INIT request through the responder's cookie gate, if
/// it has one (with no half-open SA held): a COOKIE reply goes straight
/// back to A. Returns whether B may accept it.
fn gate_admits(
    net: &mut Net,
    a: &mut Side,
    b_addr: SocketAddr,
    from: SocketAddr,
    data: &[u8],
) -> bool {
    let (Some(gate), Ok(msg)) = (net.gate.as_mut(), Message::decode(data)) else {
        return true;
    };
    match gate.check(net.now, b_addr, from, &msg, 0) {
        Verdict::Accept => true,
        Verdict::Cookie(reply) => {
            if let Some(sa) = a.sa.as_mut() {
                sa.handle_datagram(net.now, b_addr, &reply.data);
            }
            false
        }
        Verdict::Refuse => false,
    }
}

pub fn drive(net: &mut Net, a: &mut Side, b: &mut Side, b_cfg: &IkeConfig, until: Duration) {
    let end = net.now + until;
    let (a_addr, b_addr): (SocketAddr, SocketAddr) = (A.parse().unwrap(), B.parse().unwrap());
    loop {
        let mut progressed = false;
        // A -> B
        let burst = net.burst('a', std::iter::from_fn(|| a.sa.as_mut()?.poll_transmit()));
        for t in burst {
            progressed = true;
            for _ in 0..net.copies() {
                let from = SocketAddr::new(a_addr.ip(), t.local_port);
                match &mut b.sa {
                    Some(sa) => sa.handle_datagram(net.now, from, &t.data),
                    None => {
                        if !gate_admits(net, a, b_addr, from, &t.data) {
                            continue;
                        }
                        match IkeSa::accept(
                            b_cfg.clone(),
                            b_addr,
                            from,
                            &t.data,
                            net.now,
                            rng(2 + 2 * net.seed),
                        ) {
                            Accepted::Sa(sa) => b.sa = Some(*sa),
                            Accepted::Refused { reply, reason } => {
                                b.events.push(Event::Down(reason));
                                if let Some(sa) = a.sa.as_mut() {
                                    sa.handle_datagram(net.now, b_addr, &reply.data);
                                }
                            }
                            Accepted::Ignored => {}
                        }
                    }
                }
            }
        }
        // B -> A
        let burst = net.burst('b', std::iter::from_fn(|| b.sa.as_mut()?.poll_transmit()));
        for t in burst {
            progressed = true;
            let from = SocketAddr::new(b_addr.ip(), t.local_port);
            for _ in 0..net.copies() {
                if let Some(sa) = a.sa.as_mut() {
                    sa.handle_datagram(net.now, from, &t.data);
                }
            }
        }
        for side in [&mut *a, &mut *b] {
            while let Some(e) = side.sa.as_mut().and_then(|s| s.poll_event()) {
                side.events.push(e);
            }
        }
        if progressed {
            continue;
        }
        let next = [&a.sa, &b.sa]
            .into_iter()
            .flatten()
            .filter_map(|s| s.poll_timeout())
            .min();
        match next {
            Some(t) if t <= end => {
                net.now = net.now.max(t);
                for s in [&mut a.sa, &mut b.sa].into_iter().flatten() {
                    s.handle_timeout(net.now);
                }
            }
            _ => return,
        }
    }
}

pub fn establish(
    ike_a: &str,
    esp_a: &str,
    ike_b: &str,
    esp_b: &str,
    psk_b: &str,
    net: &mut Net,
) -> (Side, Side) {
    let a_cfg = config(ike_a, esp_a, "shared secret", A);
    let b_cfg = config(ike_b, esp_b, psk_b, B);
    establish_with(a_cfg, b_cfg, net)
}

/// The Azure custom policy both ways with the same PSK; returns the
/// responder's configuration too, for [`drive`].
pub fn establish_default(net: &mut Net) -> (Side, Side, IkeConfig) {
    let (ike, esp) = ("aes256gcm16-prfsha384-ecp384", "aes256gcm16");
    let (a, b) = establish(ike, esp, ike, esp, "shared secret", net);
    (a, b, config(ike, esp, "shared secret", B))
}

pub fn establish_with(a_cfg: IkeConfig, b_cfg: IkeConfig, net: &mut Net) -> (Side, Side) {
    let mut a = Side {
        sa: Some(IkeSa::initiate(
            a_cfg,
            A.parse().unwrap(),
            B.parse().unwrap(),
            net.now,
            rng(1 + 2 * net.seed),
        )),
        events: vec![],
    };
    let mut b = Side {
        sa: None,
        events: vec![],
    };
    drive(net, &mut a, &mut b, &b_cfg, Duration::from_secs(3));
    (a, b)
}

pub fn net() -> Net {
    Net {
        now: Instant::now(),
        drop_every: 0,
        duplicate: false,
        reverse: false,
        sent: 0,
        seed: 0,
        log: Vec::new(),
        gate: None,
    }
}

/// Both sides authenticated, and their first Child SA carries traffic.
pub fn assert_up(a: &Side, b: &Side, label: &str) {
    let up = a.established() && b.established();
    assert!(up, "{label}: {:?} / {:?}", a.events, b.events);
    let (ca, cb) = (a.child(), b.child());
    assert_esp_works(ca.expect("A's Child SA"), cb.expect("B's Child SA"));
}

/// The pair's keys carry a packet each way.
pub fn assert_esp_works(a: &ChildSa, b: &ChildSa) {
    assert_eq!(a.outbound.spi, b.inbound.spi);
    assert_eq!(a.inbound.spi, b.outbound.spi);
    let now = Instant::now();
    for (out, inb) in [(&a.outbound, &b.inbound), (&b.outbound, &a.inbound)] {
        let o = OutboundSa::new(out, now).unwrap();
        let mut i = InboundSa::new(inb, now).unwrap();
        let mut pkt = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 2, 3, 4, 0, 8,
            0, 0,
        ];
        let len = pkt.len();
        let mut buf = vec![0u8; MAX_HEADROOM + len + MAX_TAILROOM];
        buf[MAX_HEADROOM..MAX_HEADROOM + len].copy_from_slice(&pkt);
        let r = o
            .encapsulate(&mut buf, MAX_HEADROOM..MAX_HEADROOM + len, 4)
            .unwrap();
        let d = i.decapsulate(&mut buf[r.clone()]).unwrap();
        pkt.truncate(len);
        assert_eq!(&buf[r][d.inner], &pkt[..]);
    }
}

pub fn children_up(s: &Side) -> Vec<&ChildSa> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::ChildUp(c) => Some(c.as_ref()),
            _ => None,
        })
        .collect()
}

pub fn children_down(s: &Side) -> Vec<u32> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::ChildDown { inbound_spi, .. } => Some(*inbound_spi),
            _ => None,
        })
        .collect()
}

pub fn ike_rekeys(s: &Side) -> Vec<(u64, u64)> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::IkeRekeyed { spi_i, spi_r } => Some((*spi_i, *spi_r)),
            _ => None,
        })
        .collect()
}

/// Both sides' configurations for the collision tests: no DPD, a 2 s
/// grace period after a rekey.
pub fn collision_configs() -> (IkeConfig, IkeConfig) {
    let mut a = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "k", A);
    let mut b = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "k", B);
    for c in [&mut a, &mut b] {
        c.dpd_interval = None;
        c.rekey_grace = Duration::from_secs(2);
    }
    (a, b)
}

/// The faults the collision tests also run through: (drop every n-th,
/// duplicate, reverse bursts).
pub const FAULTS: [(usize, bool, bool); 5] = [
    (3, false, false),
    (4, true, true),
    (5, false, true),
    (0, true, true),
    (0, false, true),
];

/// Runs a collision (`collide(seed, drop_every, duplicate, reverse)`,
/// returning whether A's SA survived) for `seeds` on a clean network, and
/// asserts the nonces let either side win.
pub fn either_side_wins(seeds: u64, mut collide: impl FnMut(u64, usize, bool, bool) -> bool) {
    let winners: Vec<bool> = (0..seeds).map(|s| collide(s, 0, false, false)).collect();
    assert!(
        winners.contains(&true) && winners.contains(&false),
        "either side's SA survives, by the nonces: {winners:?}"
    );
}

/// Runs a collision for `seeds` with each of [`FAULTS`].
pub fn through_faults(seeds: u64, mut collide: impl FnMut(u64, usize, bool, bool) -> bool) {
    for seed in 0..seeds {
        for (drop_every, duplicate, reverse) in FAULTS {
            collide(seed, drop_every, duplicate, reverse);
        }
    }
}
