//! Two sessions joined by an in-memory "TCP" link with virtual time.
#![allow(dead_code)] // each test file that includes it uses a part of it

use bgp::{Action, ConnId, Event, ImportPolicy, Session, SessionConfig};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub fn config(
    name: &str,
    local_as: u32,
    remote_as: u32,
    id: [u8; 4],
    passive: bool,
) -> SessionConfig {
    SessionConfig {
        name: name.into(),
        local_as,
        remote_as,
        router_id: id.into(),
        hold_time: 180,
        connect_retry: Duration::from_secs(5),
        idle_hold: Duration::from_secs(1),
        passive,
        ipv4: true,
        ipv6: true,
        import: ImportPolicy {
            allow: vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()],
            protect: vec![],
            max_prefixes: 1000,
        },
        next_hop_v4: Some([id[0], id[1], id[2], id[3]].into()),
        next_hop_v6: Some("fd00::1".parse().unwrap()),
    }
}

/// A link: which connection of A is joined to which of B.
pub struct Pair {
    pub a: Session,
    pub b: Session,
    pub now: Instant,
    links: Vec<(ConnId, ConnId)>,
    pub events_a: Vec<Event>,
    pub events_b: Vec<Event>,
    /// Octets in flight: (to_b, conn on the receiving side, data).
    wire: VecDeque<(bool, ConnId, Vec<u8>)>,
    /// Drop everything sent (a dead link) when true.
    pub cut: bool,
}

impl Pair {
    pub fn new(a: SessionConfig, b: SessionConfig) -> Self {
        Self {
            a: Session::new(a),
            b: Session::new(b),
            now: Instant::now(),
            links: Vec::new(),
            events_a: Vec::new(),
            events_b: Vec::new(),
            wire: VecDeque::new(),
            cut: false,
        }
    }

    /// Moves actions and bytes until nothing is left to do now.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut progress = false;
            while let Some(act) = self.a.poll_action() {
                progress = true;
                self.act(true, act);
            }
            while let Some(act) = self.b.poll_action() {
                progress = true;
                self.act(false, act);
            }
            while let Some((to_b, conn, data)) = self.wire.pop_front() {
                progress = true;
                if to_b {
                    self.b.handle_data(self.now, conn, &data);
                } else {
                    self.a.handle_data(self.now, conn, &data);
                }
            }
            while let Some(e) = self.a.poll_event() {
                self.events_a.push(e);
            }
            while let Some(e) = self.b.poll_event() {
                self.events_b.push(e);
            }
            if !progress {
                return;
            }
        }
        panic!("the pair never settled");
    }

    fn act(&mut self, from_a: bool, act: Action) {
        match act {
            Action::Connect(c) => {
                if self.cut {
                    let s = if from_a { &mut self.a } else { &mut self.b };
                    s.handle_closed(self.now, c);
                    return;
                }
                let other = if from_a { &mut self.b } else { &mut self.a };
                match other.handle_incoming(self.now) {
                    Some(peer_conn) => {
                        self.links.push(if from_a {
                            (c, peer_conn)
                        } else {
                            (peer_conn, c)
                        });
                        let s = if from_a { &mut self.a } else { &mut self.b };
                        s.handle_connected(self.now, c);
                    }
                    None => {
                        let s = if from_a { &mut self.a } else { &mut self.b };
                        s.handle_closed(self.now, c);
                    }
                }
            }
            Action::Send(c, data) => {
                if self.cut {
                    return;
                }
                let Some(&(ca, cb)) =
                    self.links
                        .iter()
                        .find(|l| if from_a { l.0 == c } else { l.1 == c })
                else {
                    return;
                };
                // Deliver in two pieces to exercise reassembly.
                let mid = data.len() / 2;
                let to = if from_a { cb } else { ca };
                self.wire.push_back((from_a, to, data[..mid].to_vec()));
                self.wire.push_back((from_a, to, data[mid..].to_vec()));
            }
            Action::Close(c) => {
                let Some(pos) =
                    self.links
                        .iter()
                        .position(|l| if from_a { l.0 == c } else { l.1 == c })
                else {
                    return;
                };
                let (ca, cb) = self.links.remove(pos);
                // Deliver what is in flight first, then the FIN.
                let pending: Vec<_> = self.wire.drain(..).collect();
                for (to_b, conn, data) in pending {
                    if to_b {
                        self.b.handle_data(self.now, conn, &data);
                    } else {
                        self.a.handle_data(self.now, conn, &data);
                    }
                }
                if from_a {
                    self.b.handle_closed(self.now, cb);
                } else {
                    self.a.handle_closed(self.now, ca);
                }
            }
        }
    }

    /// Advances virtual time to the next deadline (at most `max`).
    pub fn advance(&mut self, max: Duration) {
        let limit = self.now + max;
        let next = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(limit)
            .min(limit);
        self.now = next.max(self.now);
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.settle();
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.advance(end - self.now);
        }
    }
}
