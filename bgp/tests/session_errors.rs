//! RFC 7606 outcomes end to end: a `Session` fed hand-built UPDATEs.

mod octets;

use bgp::wire::{frame, Message, NotificationCode};
use bgp::{Action, ConnId, DownReason, Event, ImportPolicy, Session, SessionConfig, State};
use ipnet::IpNet;
use octets::*;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

// ---- the same through a Session ----

/// A session (AS 65010) whose peer (AS 65515) is this test: OPEN and
/// KEEPALIVE are answered by hand, then every message goes in as octets.
struct Peered {
    s: Session,
    now: Instant,
    conn: ConnId,
    sent: Vec<Message>,
    closed: bool,
    events: Vec<Event>,
}

impl Peered {
    fn new() -> Self {
        let cfg = SessionConfig {
            name: "wire_errors".into(),
            local_as: 65010,
            remote_as: PEER_AS,
            router_id: Ipv4Addr::new(192, 0, 2, 2),
            hold_time: 90,
            connect_retry: Duration::from_secs(5),
            idle_hold: Duration::from_secs(1),
            passive: false,
            ipv4: true,
            ipv6: true,
            import: ImportPolicy {
                allow: nets(&["0.0.0.0/0", "::/0"]),
                protect: vec![],
                max_prefixes: 100,
            },
            next_hop_v4: Some(Ipv4Addr::new(192, 0, 2, 2)),
            next_hop_v6: None,
        };
        let now = Instant::now();
        let mut s = Session::new(cfg);
        s.start(now);
        let Some(Action::Connect(conn)) = s.poll_action() else {
            panic!("the session does not dial");
        };
        s.handle_connected(now, conn);
        let mut p = Self {
            s,
            now,
            conn,
            sent: Vec::new(),
            closed: false,
            events: Vec::new(),
        };
        let caps = [2, 6, 1, 4, 0, 1, 0, 1, 2, 6, 1, 4, 0, 2, 0, 1];
        p.feed(
            &[
                open(
                    4,
                    65515,
                    90,
                    [192, 0, 2, 1],
                    &[&caps[..], &CAP_AS4].concat(),
                ),
                message(4, &[]),
            ]
            .concat(),
        );
        assert_eq!(p.s.state(), State::Established);
        assert!(matches!(
            p.events[..],
            [Event::Established {
                peer_as: PEER_AS,
                ..
            }]
        ));
        p.events.clear();
        p.sent.clear();
        p
    }

    /// Delivers octets in two pieces, then collects actions and events.
    fn feed(&mut self, data: &[u8]) {
        let (a, b) = data.split_at(data.len() / 2);
        self.s.handle_data(self.now, self.conn, a);
        self.s.handle_data(self.now, self.conn, b);
        while let Some(act) = self.s.poll_action() {
            match act {
                Action::Send(id, bytes) => {
                    assert_eq!(id, self.conn);
                    assert!(!self.closed, "sent after close");
                    let mut rest = &bytes[..];
                    while let Ok(Some(len)) = frame(rest) {
                        self.sent
                            .push(Message::decode(&rest[..len], &FOUR).unwrap());
                        rest = &rest[len..];
                    }
                }
                Action::Close(id) => {
                    assert_eq!(id, self.conn);
                    self.closed = true;
                }
                Action::Connect(_) => panic!("unexpected dial"),
            }
        }
        while let Some(e) = self.s.poll_event() {
            self.events.push(e);
        }
    }

    fn learned(&self) -> Vec<IpNet> {
        self.s.rib().iter().map(|(p, _)| *p).collect()
    }

    /// Learns 10.51.231.0/24, 10.51.232.0/24 and fd51::/48.
    fn learn(&mut self) {
        self.feed(&update(&[], &mandatory(), &NLRI));
        self.feed(&update(
            &[],
            &[mp_reach_v6(), origin(0), as_path(&[PEER_AS])].concat(),
            &[],
        ));
        assert_eq!(
            self.learned(),
            nets(&["10.51.231.0/24", "10.51.232.0/24", "fd51::/48"])
        );
        self.events.clear();
    }
}

#[test]
fn treat_as_withdraw_removes_the_route_and_keeps_the_session() {
    let mut p = Peered::new();
    p.learn();
    // 10.51.231.0/24 again, with a MED of 3 octets.
    let attrs = [mandatory(), attr(OPTIONAL, 4, &[0, 0, 1])].concat();
    p.feed(&update(&[], &attrs, &[24, 10, 51, 231]));
    assert_eq!(
        p.events,
        vec![Event::RouteWithdrawn {
            prefix: "10.51.231.0/24".parse().unwrap()
        }]
    );
    assert_eq!(p.learned(), nets(&["10.51.232.0/24", "fd51::/48"]));
    assert_eq!(p.s.state(), State::Established);
    assert_eq!(p.s.stats().treat_as_withdraw, 1);
    assert!(p.sent.is_empty(), "no NOTIFICATION: {:?}", p.sent);
    assert!(!p.closed);
    // A good UPDATE brings it back.
    p.events.clear();
    p.feed(&update(&[], &mandatory(), &[24, 10, 51, 231]));
    assert_eq!(p.learned().len(), 3);
    assert!(matches!(p.events[..], [Event::RouteUpdated { .. }]));
}

#[test]
fn a_session_reset_sends_the_notification_and_withdraws_everything() {
    let cases = [
        (
            "prefix length 33",
            update(&[], &mandatory(), &[33, 10, 51, 231, 0, 0]),
            10,
        ),
        (
            "repeated MP_REACH_NLRI",
            update(
                &[],
                &[mp_reach_v6(), mp_reach_v6(), origin(0), as_path(&[PEER_AS])].concat(),
                &[],
            ),
            1,
        ),
        (
            "unknown well-known attribute",
            update(
                &[],
                &[mandatory(), attr(WELL_KNOWN, 99, &[])].concat(),
                &NLRI,
            ),
            2,
        ),
    ];
    for (what, msg, subcode) in cases {
        let mut p = Peered::new();
        p.learn();
        p.feed(&msg);
        let [Message::Notification(n)] = &p.sent[..] else {
            panic!("{what}: sent {:?}", p.sent);
        };
        assert_eq!(
            (n.code, n.subcode),
            (NotificationCode::Update, subcode),
            "{what}"
        );
        assert!(p.closed, "{what}: connection closed");
        assert!(p.learned().is_empty(), "{what}");
        let mut withdrawn: Vec<IpNet> = p
            .events
            .iter()
            .filter_map(|e| match e {
                Event::RouteWithdrawn { prefix } => Some(*prefix),
                _ => None,
            })
            .collect();
        withdrawn.sort();
        assert_eq!(
            withdrawn,
            nets(&["10.51.231.0/24", "10.51.232.0/24", "fd51::/48"]),
            "{what}"
        );
        assert_eq!(
            p.events.last(),
            Some(&Event::Down(DownReason::NotificationSent(n.clone()))),
            "{what}"
        );
        assert_ne!(p.s.state(), State::Established, "{what}");
    }
}
