//! One IKE SA under test against the scripted [`Peer`], and the order
//! checks on what it reports ([`Watch`]).

use super::*;

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
    pub(crate) fn event(&mut self, e: Event) {
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
pub(crate) fn drain_sa(
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
pub(crate) const TIMEOUT_CALLS: usize = 4;

/// Whether the SA still wants a timer at or before `now`; panics if it
/// does after `calls` calls to `handle_timeout(now)`.
pub(crate) fn still_due(sa: &IkeSa, now: Instant, calls: usize) -> bool {
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

    pub(crate) fn drain(&mut self, closed_before: bool, expect: Option<&ExpectedChild>) {
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
    pub(crate) fn check_rekeyed_child(&self, c: &ChildSa, e: &ExpectedChild) {
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
    pub(crate) fn check_child_keys(
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

    pub(crate) fn timeout(&mut self, now: Instant) {
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
    pub(crate) fn child(&self, newest: bool) -> Option<ChildSa> {
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
    pub(crate) fn raw(&mut self, input: &mut Input) -> Vec<u8> {
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
    pub(crate) fn replay(&mut self, input: &mut Input) -> Option<Vec<u8>> {
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
    pub(crate) fn exchange(&mut self, input: &mut Input) -> Option<Vec<u8>> {
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

pub(crate) fn keep(list: &mut Vec<Vec<u8>>, data: Vec<u8>) {
    if list.len() == HISTORY {
        list.remove(0);
    }
    list.push(data);
}
