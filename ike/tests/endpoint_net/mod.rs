//! Two IKE endpoints on a simulated network in virtual time, with a
//! stand-in for the ESP data plane: a packet stream whose counters feed
//! the endpoints' liveness (as the daemon samples its data plane), loss,
//! latency and blackouts.
#![allow(dead_code)]

#[path = "../util/mod.rs"]
mod util;

pub use util::{config, rng};

use ike::endpoint::{
    Datagram, DatagramEvent, Endpoint, EndpointConfig, Health, TunnelConfig, TunnelEvent, TunnelId,
};
use ike::sa::Event;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub const T: TunnelId = TunnelId(0);
pub const ADDR: [&str; 2] = ["192.0.2.1", "192.0.2.2"];

pub struct Node {
    pub ep: Endpoint,
    pub addr: IpAddr,
    /// Every event, with when it happened.
    pub events: Vec<(Instant, TunnelEvent)>,
    /// What the endpoint said of each datagram it handled.
    pub handled: Vec<DatagramEvent>,
    /// ESP packet counters of the tunnel, as a data plane keeps them.
    pub tx: u64,
    pub rx: u64,
    /// Installed Child SAs: (inbound SPI, outbound SPI).
    pub children: Vec<(u32, u32)>,
}

impl Node {
    pub fn health(&self) -> Health {
        self.ep.tunnel(T).map_or(Health::Down, |t| t.health)
    }

    /// Health changes, in order, with their times.
    pub fn health_log(&self) -> Vec<(Instant, Health)> {
        self.events
            .iter()
            .filter_map(|(at, e)| match e {
                TunnelEvent::Health(h) => Some((*at, *h)),
                _ => None,
            })
            .collect()
    }

    pub fn count(&self, f: impl Fn(&TunnelEvent) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| f(e)).count()
    }

    pub fn established(&self) -> bool {
        self.ep.tunnel(T).is_some_and(|t| t.established)
    }
}

/// A one-way or two-way packet stream over the tunnel.
#[derive(Debug, Clone, Copy)]
pub struct Traffic {
    pub from: usize,
    pub every: Duration,
    pub two_way: bool,
}

pub struct World {
    pub now: Instant,
    pub nodes: [Node; 2],
    /// (deliver at, to, datagram), in order.
    pub in_flight: VecDeque<(Instant, usize, Datagram)>,
    pub latency: Duration,
    /// Percent of datagrams and ESP packets lost, both ways.
    pub loss_percent: u32,
    lcg: u64,
    /// Everything dropped, both ways.
    pub blackhole: bool,
    pub traffic: Option<Traffic>,
    next_packet: Instant,
    /// How often the data plane's counters are sampled.
    pub observe_every: Duration,
    next_observe: Instant,
    /// Datagrams sent, each way.
    pub sent: [usize; 2],
}

pub fn tunnel(me: usize, initiate: bool) -> TunnelConfig {
    let local: IpAddr = ADDR[me].parse().unwrap();
    let peer: IpAddr = ADDR[1 - me].parse().unwrap();
    TunnelConfig {
        local,
        peer,
        ike: config(
            "aes256gcm16-prfsha384-ecp384",
            "aes256gcm16",
            "endpoint test psk",
            &format!("{local}:500"),
        ),
        initiate,
    }
}

impl World {
    /// Two endpoints with one tunnel each to the other; `initiate` says
    /// which start their IKE SA.
    pub fn new(seed: u64, ep: EndpointConfig, initiate: [bool; 2]) -> World {
        Self::with_tunnels(seed, ep, [tunnel(0, initiate[0]), tunnel(1, initiate[1])])
    }

    pub fn with_tunnels(seed: u64, ep: EndpointConfig, cfgs: [TunnelConfig; 2]) -> World {
        let now = Instant::now();
        let node = |i: usize, cfg: TunnelConfig| {
            let mut n = 0u64;
            let source = Box::new(move || {
                n += 1;
                rng(seed * 1000 + i as u64 * 100 + n) as Box<dyn ike::crypto::Rng + Send>
            });
            let mut ep = Endpoint::new(ep.clone(), now, source).unwrap();
            let addr = cfg.local;
            ep.add_tunnel(T, cfg, now);
            Node {
                ep,
                addr,
                events: Vec::new(),
                handled: Vec::new(),
                tx: 0,
                rx: 0,
                children: Vec::new(),
            }
        };
        let [c0, c1] = cfgs;
        let mut w = World {
            now,
            nodes: [node(0, c0), node(1, c1)],
            in_flight: VecDeque::new(),
            latency: Duration::from_millis(1),
            loss_percent: 0,
            lcg: seed.wrapping_mul(6364136223846793005).wrapping_add(1),
            blackhole: false,
            traffic: None,
            next_packet: now,
            observe_every: Duration::from_millis(25),
            next_observe: now,
            sent: [0; 2],
        };
        w.collect();
        w
    }

    fn lost(&mut self) -> bool {
        if self.blackhole {
            return true;
        }
        self.lcg = self
            .lcg
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.lcg >> 33) % 100) < u64::from(self.loss_percent)
    }

    /// Takes every node's datagrams and events.
    fn collect(&mut self) {
        for i in 0..2 {
            while let Some(d) = self.nodes[i].ep.poll_transmit() {
                self.sent[i] += 1;
                if !self.lost() {
                    self.in_flight
                        .push_back((self.now + self.latency, 1 - i, d));
                }
            }
            while let Some((_, e)) = self.nodes[i].ep.poll_event() {
                let n = &mut self.nodes[i];
                match &e {
                    TunnelEvent::Sa(Event::ChildUp(c)) => {
                        n.children.push((c.inbound.spi, c.outbound.spi))
                    }
                    TunnelEvent::Sa(Event::ChildDown { inbound_spi, .. }) => {
                        n.children.retain(|c| c.0 != *inbound_spi)
                    }
                    _ => {}
                }
                n.events.push((self.now, e));
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let flight = self.in_flight.front().map(|f| f.0);
        let timers = self.nodes.iter().filter_map(|n| n.ep.poll_timeout()).min();
        let packet = self.traffic.map(|_| self.next_packet);
        [flight, timers, packet, Some(self.next_observe)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs until `end`, in virtual time.
    pub fn run_until(&mut self, end: Instant) {
        loop {
            self.collect();
            let next = match self.next_deadline() {
                Some(n) if n <= end => n,
                _ => {
                    self.now = self.now.max(end);
                    return;
                }
            };
            self.now = self.now.max(next);
            let now = self.now;
            while self.in_flight.front().is_some_and(|f| f.0 <= now) {
                let Some((_, to, d)) = self.in_flight.pop_front() else {
                    break;
                };
                let ev = self.nodes[to].ep.handle(now, d.remote, d.local, &d.data);
                self.nodes[to].handled.push(ev);
            }
            for n in &mut self.nodes {
                if n.ep.poll_timeout().is_some_and(|t| t <= now) {
                    n.ep.handle_timeout(now);
                }
            }
            if let Some(t) = self.traffic.filter(|_| self.next_packet <= now) {
                self.next_packet = now + t.every;
                self.packet(t.from, t.two_way);
            }
            if self.next_observe <= now {
                self.next_observe = now + self.observe_every;
                for n in &mut self.nodes {
                    n.ep.observe(now, T, n.tx, n.rx);
                }
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    /// One ESP packet from `from` (if it has a Child SA), and its answer.
    fn packet(&mut self, from: usize, two_way: bool) {
        if self.nodes[from].children.is_empty() {
            return;
        }
        self.nodes[from].tx += 1;
        if self.lost() || self.nodes[1 - from].children.is_empty() {
            return;
        }
        self.nodes[1 - from].rx += 1;
        if two_way {
            self.nodes[1 - from].tx += 1;
            if !self.lost() {
                self.nodes[from].rx += 1;
            }
        }
    }

    /// Runs until both tunnels are up, within `limit`.
    pub fn establish(&mut self, limit: Duration) {
        let end = self.now + limit;
        while self.now < end {
            self.run_for(Duration::from_millis(10));
            if self.nodes.iter().all(|n| n.health() == Health::Up) {
                return;
            }
        }
        panic!(
            "not up within {limit:?}: {:?} / {:?}",
            self.nodes[0].health(),
            self.nodes[1].health()
        );
    }

    /// Runs until `who`'s health is `h` (by name); returns when.
    pub fn wait_health(&mut self, who: usize, name: &str, limit: Duration) -> Instant {
        let end = self.now + limit;
        while self.now < end {
            self.run_for(Duration::from_millis(5));
            if self.nodes[who].health().name() == name {
                return self.now;
            }
        }
        panic!(
            "node {who} not {name} within {limit:?}: {:?}",
            self.nodes[who].health_log()
        );
    }

    /// Where node `i` sends from.
    pub fn local(&self, i: usize) -> SocketAddr {
        SocketAddr::new(self.nodes[i].addr, 500)
    }
}
