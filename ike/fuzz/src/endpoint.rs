//! The harness of the `endpoint` fuzz target: two real [`Endpoint`]s (A
//! at 192.0.2.1, B at 192.0.2.2) with a tunnel to each other, and A with a
//! second tunnel to a peer that never answers, through a network the
//! input controls (delivery, loss, duplication, corruption, replay,
//! strangers' datagrams, ports), with virtual time and the owner's inputs
//! that only the endpoint sees: data-plane counters, path failures, ESP
//! lifetime events, shutdown.
//!
//! # Invariants checked on every run
//!
//! - nothing panics;
//! - every datagram an endpoint sends has an IKE header, from a local
//!   address of one of its tunnels, on port 500 or 4500;
//! - the half-open responder SAs never exceed the cap;
//! - `handle_timeout` makes progress: a few calls at the same `now` leave
//!   no deadline at or before it;
//! - a tunnel's health is `Down` exactly when its last SA event was
//!   `Down` (until a later Child SA), and `Up`, `Suspect` or `Rejoining`
//!   only while it has a Child SA;
//! - a Child SA is removed only if it was installed.

use crate::{config, start_time, Input, MAX_OPS};
use ike::crypto::InsecureTestRng;
use ike::endpoint::{
    Datagram, Endpoint, EndpointConfig, Health, TunnelConfig, TunnelEvent, TunnelId,
};
use ike::sa::Event;
use ike::wire::FixedHeader;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const A: [u8; 4] = [192, 0, 2, 1];
const B: [u8; 4] = [192, 0, 2, 2];
/// A's second tunnel goes here; nobody answers.
const SILENT: [u8; 4] = [192, 0, 2, 9];
const STRANGER: [u8; 4] = [203, 0, 113, 7];
const HALF_OPEN_MAX: usize = 4;

struct Node {
    ep: Endpoint,
    locals: Vec<IpAddr>,
    /// Per tunnel: installed inbound SPIs (outbound SPI alongside).
    children: Vec<Vec<(u32, u32)>>,
    /// Per tunnel: whether its last SA-level news was `Down`.
    down: Vec<bool>,
    tx: u64,
    rx: u64,
}

fn tunnel(me: [u8; 4], peer: [u8; 4], initiate: bool, variant: u8) -> TunnelConfig {
    let (me, peer) = (IpAddr::from(me), IpAddr::from(peer));
    TunnelConfig {
        local: me,
        peer,
        ike: config(
            SocketAddr::new(me, 500),
            SocketAddr::new(peer, 500),
            variant,
        ),
        initiate,
    }
}

fn node(seed: u64, now: Instant, tunnels: Vec<TunnelConfig>, cookie_threshold: usize) -> Node {
    let mut n = 0u64;
    let source = Box::new(move || {
        n += 1;
        Box::new(InsecureTestRng::from_seed(seed * 1000 + n)) as Box<dyn ike::crypto::Rng + Send>
    });
    let cfg = EndpointConfig {
        cookie_threshold,
        half_open_max: HALF_OPEN_MAX,
        ..EndpointConfig::default()
    };
    let Ok(mut ep) = Endpoint::new(cfg, now, source) else {
        unreachable!("the test RNG never fails");
    };
    let locals = tunnels.iter().map(|t| t.local).collect();
    let count = tunnels.len();
    for (i, t) in tunnels.into_iter().enumerate() {
        ep.add_tunnel(TunnelId(i), t, now);
    }
    Node {
        ep,
        locals,
        children: vec![Vec::new(); count],
        down: vec![true; count],
        tx: 0,
        rx: 0,
    }
}

impl Node {
    /// Takes what the endpoint produced and checks it.
    fn drain(&mut self, out: &mut VecDeque<Datagram>, history: &mut Vec<Datagram>) {
        while let Some(d) = self.ep.poll_transmit() {
            assert!(
                FixedHeader::decode_prefix(&d.data).is_ok(),
                "an endpoint sent something that is not IKE"
            );
            assert!(self.locals.contains(&d.local.ip()), "sent from {}", d.local);
            assert!(
                matches!(d.local.port(), 500 | 4500),
                "port {}",
                d.local.port()
            );
            if history.len() < 32 {
                history.push(d.clone());
            }
            out.push_back(d);
        }
        while let Some((TunnelId(t), e)) = self.ep.poll_event() {
            match e {
                TunnelEvent::Sa(Event::ChildUp(c)) => {
                    self.children[t].push((c.inbound.spi, c.outbound.spi));
                    self.down[t] = false;
                }
                TunnelEvent::Sa(Event::ChildDown { inbound_spi, .. }) => {
                    let before = self.children[t].len();
                    self.children[t].retain(|c| c.0 != inbound_spi);
                    assert_eq!(
                        self.children[t].len() + 1,
                        before,
                        "removed an unknown Child SA"
                    );
                }
                TunnelEvent::Sa(Event::Down(_)) => {
                    self.down[t] = true;
                }
                _ => {}
            }
        }
        assert!(self.ep.half_open() <= HALF_OPEN_MAX);
        for (t, down) in self.down.iter().enumerate() {
            let Some(info) = self.ep.tunnel(TunnelId(t)) else {
                continue;
            };
            if *down {
                assert_eq!(info.health, Health::Down, "tunnel {t} after Down");
            }
            if info.health != Health::Down {
                assert!(
                    info.established,
                    "tunnel {t} {:?} without an IKE SA",
                    info.health
                );
            }
        }
    }

    fn timeouts(&mut self, now: Instant) {
        for _ in 0..8 {
            match self.ep.poll_timeout() {
                Some(t) if t <= now => self.ep.handle_timeout(now),
                _ => return,
            }
        }
        assert!(
            self.ep.poll_timeout().is_none_or(|t| t > now),
            "handle_timeout makes no progress"
        );
    }
}

/// Runs one input.
pub fn endpoints(input: &mut Input, variant: u8) {
    let mut now = start_time();
    let initiate = input.u8();
    let cookies = usize::from(input.u8() % 3);
    let mut a = node(
        1,
        now,
        vec![
            tunnel(A, B, initiate & 1 != 0, variant),
            tunnel(A, SILENT, initiate & 2 != 0, variant),
        ],
        cookies,
    );
    let mut b = node(
        2,
        now,
        vec![tunnel(B, A, initiate & 4 != 0, variant)],
        cookies,
    );
    let mut to_b = VecDeque::new();
    let mut to_a = VecDeque::new();
    let mut history = Vec::new();
    a.drain(&mut to_b, &mut history);
    b.drain(&mut to_a, &mut history);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        match input.u8() % 12 {
            // Deliver, possibly corrupted, or lose.
            op @ 0..=3 => {
                let (queue, dest) = if op % 2 == 0 {
                    (&mut to_b, &mut b)
                } else {
                    (&mut to_a, &mut a)
                };
                let Some(mut d) = queue.pop_front() else {
                    continue;
                };
                if op >= 2 {
                    let at = usize::from(input.u16()) % d.data.len().max(1);
                    if let Some(byte) = d.data.get_mut(at) {
                        *byte ^= input.u8() | 1;
                    }
                }
                if !input.u8().is_multiple_of(8) {
                    dest.ep.handle(now, d.remote, d.local, &d.data);
                }
            }
            // A replay of something either side sent, to either side.
            4 => {
                let i = usize::from(input.u8());
                if let Some(d) = history.get(i % history.len().max(1)).cloned() {
                    let dest = if input.u8() & 1 == 0 { &mut a } else { &mut b };
                    dest.ep.handle(now, d.remote, d.local, &d.data);
                }
            }
            // Bytes from anyone to A, on either port.
            5 => {
                let from = match input.u8() % 3 {
                    0 => SocketAddr::from((B, 500)),
                    1 => SocketAddr::from((STRANGER, 500)),
                    _ => SocketAddr::from((B, 4500)),
                };
                let port = if input.u8() & 1 == 0 { 500 } else { 4500 };
                let data = input.chunk();
                a.ep.handle(now, SocketAddr::from((A, port)), from, data);
            }
            6 => {
                now += Duration::from_millis(u64::from(input.u16()) * 4);
                a.timeouts(now);
                b.timeouts(now);
            }
            // The data plane's counters: A sends, B receives (or not).
            7 => {
                a.tx += u64::from(input.u8());
                a.rx += u64::from(input.u8() % 2);
                a.ep.observe(now, TunnelId(0), a.tx, a.rx);
                b.rx += 1;
                b.ep.observe(now, TunnelId(0), b.tx, b.rx);
            }
            8 => match input.u8() % 3 {
                0 => a.ep.path_down(now, TunnelId(input.u8() as usize % 3)),
                1 => a.ep.path_up(now, TunnelId(input.u8() as usize % 3)),
                _ => a.ep.rekey_child(now, TunnelId(0)),
            },
            // An ESP event on the current Child SA, or any SPI.
            9 => {
                let spi = match (input.u8() & 1, a.children[0].last()) {
                    (0, Some(c)) => c.1,
                    _ => input.u32(),
                };
                let kind = match input.u8() % 4 {
                    0 => esp::SaEventKind::SoftExpired(esp::LimitKind::Bytes),
                    1 => esp::SaEventKind::HardExpired(esp::LimitKind::Packets),
                    2 => esp::SaEventKind::SequenceLow,
                    _ => esp::SaEventKind::SequenceExhausted,
                };
                a.ep.sa_event(now, TunnelId(0), esp::SaEvent { spi, kind });
            }
            10 => {
                if input.u8() & 1 == 0 {
                    a.ep.close_all(now);
                } else {
                    b.ep.close_all(now);
                }
            }
            // Let the network settle: deliver everything queued.
            _ => {
                for _ in 0..16 {
                    if to_a.is_empty() && to_b.is_empty() {
                        break;
                    }
                    while let Some(d) = to_b.pop_front() {
                        b.ep.handle(now, d.remote, d.local, &d.data);
                    }
                    b.drain(&mut to_a, &mut history);
                    while let Some(d) = to_a.pop_front() {
                        a.ep.handle(now, d.remote, d.local, &d.data);
                    }
                    a.drain(&mut to_b, &mut history);
                }
            }
        }
        a.drain(&mut to_b, &mut history);
        b.drain(&mut to_a, &mut history);
    }
}
