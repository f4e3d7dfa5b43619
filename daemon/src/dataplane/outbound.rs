//! TUN → ESP, one worker per TUN queue. [`Outbound::run`] is the walk of
//! a packet out, four stages, each in one file:
//!
//! 1. **read and split**: one TUN read, a super-packet split into segments
//!    in the batch's slots (`tun/src/offload/gso.rs`, `SegmentReader`);
//! 2. **route**: MSS clamping, the prefix's paths (longest prefix) and the
//!    tunnel by the flow's hash ([`Outbound::route`] → `route.rs`);
//! 3. **seal**: ESP in place with the tunnel's SA, taking its next
//!    sequence number ([`Outbound::seal`] → `esp/src/sa.rs`);
//! 4. **send**: one `sendmmsg` per socket, runs of equal-sized ESP-in-UDP
//!    datagrams as one UDP GSO message ([`Outbound::send`] → `socket.rs`).

use super::report::{is_unreachable, Activities, SaReport, SaReports};
use super::route::{choose, flow_hash, Carry, Fib, Tunnels};
use super::socket::{Outgoing, TransportSocket, BATCH};
use super::{icmp, ip, mss};
use crate::droplog::DropLog;
use crate::status::{self, Board, TunCounters};
use esp::{EncapError, OutboundSa, MAX_HEADROOM, MAX_TAILROOM};
use ipnet::IpNet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tun::offload::{SegmentReader, VNET_HDR_LEN};
use tun::AsyncTun;

/// What the offloading reader saw since the last batch, into the
/// counters; its drops are logged at a rate limit.
fn read_figures(c: &mut TunCounters, reader: &mut SegmentReader, drops: &mut DropLog) {
    let s = reader.stats;
    c.tun_reads = s.reads;
    c.super_packets = s.super_packets;
    if s.dropped > c.offload_dropped {
        c.offload_dropped = s.dropped;
        if let Some(e) = reader.last_error.take() {
            if drops.allow() {
                tracing::warn!(error = %e, "TUN super-packet dropped");
            }
        }
    }
}

/// Largest packet a TUN read returns (without GSO), and the largest
/// segment of a super-packet.
const MAX_PACKET: usize = 65535;
/// With TUN offloads one read fills up to a batch of segments.
const SEGMENTS: usize = 2 * BATCH;

/// Flows seen in an interval, by linear counting over a bitmap of flow
/// hashes (one bit set per packet; no per-flow state).
#[derive(Debug, Default, Clone, Copy)]
pub struct Interval {
    pub packets: u64,
    bits: [u64; 4],
}

impl Interval {
    /// Adds another queue's interval (its packets, and its flows' bits).
    pub fn merge(&mut self, o: &Interval) {
        self.packets += o.packets;
        for (a, b) in self.bits.iter_mut().zip(o.bits) {
            *a |= b;
        }
    }

    #[inline]
    fn count(&mut self, flow: u64) {
        self.packets += 1;
        let b = (flow >> 56) as usize;
        self.bits[b / 64] |= 1 << (b % 64);
    }

    /// Estimated distinct flows: m·ln(m / zero bits), m = 256.
    pub fn flows(&self) -> u64 {
        let ones: u32 = self.bits.iter().map(|w| w.count_ones()).sum();
        if ones == 0 {
            return 0;
        }
        let zeros = f64::from(256 - ones).max(0.5);
        (256.0 * (256.0 / zeros).ln()).round() as u64
    }
}

#[derive(Clone)]
pub struct OutTunnel {
    pub name: String,
    /// `None` until IKE installs an SA; shared by every queue's worker.
    pub sa: Option<Arc<OutboundSa>>,
    pub socket: usize,
    pub dest: SocketAddr,
    /// Up (Active), or suspect or rejoining (Standby); the control plane
    /// sets it from the tunnel's health.
    pub health: Carry,
    pub interval: Interval,
    /// The largest inner packet that fits the underlay once encrypted.
    max_inner: usize,
    /// Removed by a reload: its slot stays so indices don't move.
    removed: bool,
    /// Packets of the batch being sent.
    batch: u64,
}

impl OutTunnel {
    pub fn new(name: String, sa: Option<Arc<OutboundSa>>, socket: usize, dest: SocketAddr) -> Self {
        // Manual SAs carry at once; IKE tunnels wait for their health.
        let health = if sa.is_some() {
            Carry::Active
        } else {
            Carry::Standby
        };
        Self {
            name,
            sa,
            socket,
            dest,
            health,
            interval: Interval::default(),
            max_inner: usize::MAX,
            removed: false,
            batch: 0,
        }
    }

    /// Sets the largest inner packet from the SA and where ESP goes.
    pub fn fit(&mut self, underlay_mtu: u16) {
        if let Some(sa) = &self.sa {
            let udp = self.dest.port() != 0;
            self.max_inner = max_inner(underlay_mtu, sa.transform(), udp, self.dest.is_ipv4());
        }
    }

    #[inline]
    fn carry(&self, packet: &[u8]) -> Carry {
        match &self.sa {
            Some(sa) if sa.admits(packet) => self.health,
            _ => Carry::Unable,
        }
    }
}

/// From the control plane. Every command that changes SAs is answered
/// once it is in effect, so the control plane can sequence IKE messages
/// after it (make-before-break). With several TUN queues every worker gets
/// each command (`queues::fan_out`), and "in effect" means in all.
pub enum OutCommand {
    /// Installing replaces the tunnel's SA, so traffic switches to a new SA
    /// at once (the peer's inbound SA was installed first).
    Install {
        tunnel: usize,
        sa: Arc<OutboundSa>,
        socket: usize,
        dest: SocketAddr,
        done: oneshot::Sender<()>,
    },
    /// Removes the tunnel's SA if it is still this one.
    Remove {
        tunnel: usize,
        spi: u32,
        done: oneshot::Sender<()>,
    },
    /// The tunnel's health: whether it carries flows.
    Health {
        tunnel: usize,
        carry: Carry,
    },
    /// Prefixes learned or lost: the paths of each.
    Routes(Vec<(IpNet, Tunnels)>),
    /// A reload added a tunnel (at the next index) or removed one (its
    /// slot stays, empty), or a socket for a new local address.
    AddTunnel(Box<OutTunnel>),
    RemoveTunnel {
        tunnel: usize,
    },
    AddSocket(Arc<TransportSocket>),
}

/// What the outbound path does besides ESP: MSS clamping and "packet too
/// big" answers.
#[derive(Debug, Clone, Copy)]
pub struct Shaping {
    /// Clamp TCP SYNs' MSS to this; 0: off.
    pub mss: u16,
    pub underlay_mtu: u16,
    /// Our addresses, as the source of ICMP errors.
    pub from_v4: Option<std::net::Ipv4Addr>,
    pub from_v6: Option<std::net::Ipv6Addr>,
}

/// The largest inner packet of a tunnel that fits `mtu` once in ESP:
/// outer IP (and UDP) header, ESP header and IV, padding to the block,
/// the two trailer octets and the ICV.
pub fn max_inner(mtu: u16, t: esp::Transform, udp: bool, v4: bool) -> usize {
    let outer = if v4 { 20 } else { 40 } + if udp { 8 } else { 0 };
    let room = usize::from(mtu).saturating_sub(outer + t.header_len() + t.icv_len());
    let block = t.encryption.block_len().max(4);
    (room / block * block).saturating_sub(2)
}

pub struct Outbound {
    /// Which TUN queue this worker reads (0 with one queue).
    pub queue: usize,
    pub shaping: Shaping,
    pub tun: Arc<AsyncTun>,
    pub sockets: Vec<Arc<TransportSocket>>,
    pub tunnels: Vec<OutTunnel>,
    pub fib: Fib,
    pub board: Board,
    pub commands: mpsc::Receiver<OutCommand>,
    pub activity: Activities,
    pub reports: SaReports,
    /// With several queues, the workers' turn to seal and send (shared;
    /// `None` with one queue). Sealing takes the next sequence number, so
    /// two workers sealing and sending at once would put packets on the
    /// wire out of sequence order by as much as one worker's stall: on 2
    /// vCPUs, preemption pushed thousands of packets past a 1,024-packet
    /// replay window (every TCP retransmit in the race was a `too_old`
    /// at the receiver). Reading, splitting and routing stay parallel.
    pub egress: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// "Packet too big" answers: at most 100 a second, and their buffer
/// (with room for a virtio-net header in front).
struct IcmpBudget {
    buf: Box<[u8; VNET_HDR_LEN + icmp::MAX_ERROR]>,
    window: std::time::Instant,
    sent: u32,
}

impl IcmpBudget {
    fn new() -> Self {
        Self {
            buf: Box::new([0; VNET_HDR_LEN + icmp::MAX_ERROR]),
            window: std::time::Instant::now(),
            sent: 0,
        }
    }

    /// Called only for packets that are too big: reading the clock costs
    /// the good path nothing.
    fn allow(&mut self) -> bool {
        let now = std::time::Instant::now();
        if now.duration_since(self.window) >= Duration::from_secs(1) {
            self.window = now;
            self.sent = 0;
        }
        self.sent += 1;
        self.sent <= 100
    }
}

/// A packet of the batch: its slot, its bytes there (the inner packet once
/// routed, the ESP packet once sealed), its tunnel, ESP Next Header and
/// flow hash.
struct Done {
    slot: usize,
    start: usize,
    end: usize,
    tunnel: usize,
    nh: u8,
    flow: u64,
}

impl Outbound {
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let offload = self.tun.get_ref().offloads().vnet_hdr;
        let n_slots = if offload { SEGMENTS } else { BATCH };
        let mut slots: Vec<Vec<u8>> = (0..n_slots)
            .map(|_| vec![0u8; MAX_HEADROOM + MAX_PACKET + MAX_TAILROOM])
            .collect();
        let mut lens = [0usize; SEGMENTS];
        let mut reader = SegmentReader::default();
        let tun = self.tun.clone();
        let mut done: Vec<Done> = Vec::with_capacity(n_slots);
        let mut counters = TunCounters::default();
        let mut drops = DropLog::new("outbound");
        let mut errors = IcmpBudget::new();
        let mut publish = tokio::time::interval(Duration::from_millis(250));
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                // Commands first: an SA installed before our IKE response
                // left must be in place when the peer's first ESP arrives.
                biased;
                Some(cmd) = self.commands.recv() => self.command(cmd),
                r = async {
                    if offload {
                        tun.read_segments(&mut reader, &mut slots, MAX_HEADROOM, &mut lens).await
                    } else {
                        tun.read_batch(&mut slots, MAX_HEADROOM, &mut lens).await
                    }
                } => match r {
                    Ok(n) => {
                        counters.packets_read += n as u64;
                        if offload {
                            read_figures(&mut counters, &mut reader, &mut drops);
                        } else {
                            counters.tun_reads = counters.packets_read;
                        }
                        done.clear();
                        self.route(&mut slots, &lens[..n], &mut done, &mut counters, &mut drops, &mut errors);
                        // With several queues the workers take turns to seal
                        // and send, so each SA's packets leave in sequence
                        // order (see `egress`).
                        let turn = match &self.egress {
                            Some(m) => Some(Arc::clone(m).lock_owned().await),
                            None => None,
                        };
                        self.seal(&mut slots, &mut done, &mut counters, &mut drops);
                        self.send(&slots, &done, &mut counters).await;
                        drop(turn);
                        self.drain_events();
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "TUN read failed; data plane stops");
                        break;
                    }
                },
                _ = publish.tick() => self.publish(&counters),
                _ = interval.tick() => self.close_interval(),
                _ = shutdown.changed() => break,
            }
        }
        self.publish(&counters);
    }

    /// MSS clamping, the prefix's paths, the tunnel by the flow's hash and
    /// "packet too big": what needs no SA state, done outside the turn.
    fn route(
        &mut self,
        slots: &mut [Vec<u8>],
        lens: &[usize],
        done: &mut Vec<Done>,
        c: &mut TunCounters,
        drops: &mut DropLog,
        errors: &mut IcmpBudget,
    ) {
        for (i, &len) in lens.iter().enumerate() {
            let payload = MAX_HEADROOM..MAX_HEADROOM + len;
            if self.shaping.mss != 0 && mss::clamp(&mut slots[i][payload.clone()], self.shaping.mss)
            {
                c.mss_clamped += 1;
            }
            let pkt = &slots[i][payload.clone()];
            let (Some(nh), Some(dst)) = (ip::next_header(pkt), ip::destination(pkt)) else {
                c.malformed += 1;
                continue;
            };
            let paths = self.fib.lookup_all(dst);
            if paths.is_empty() {
                c.no_route += 1;
                if drops.allow() {
                    tracing::debug!(%dst, "no tunnel for destination");
                }
                continue;
            }
            let flow = flow_hash(pkt);
            let tunnels = &self.tunnels;
            let carry = |t: usize| tunnels.get(t).map_or(Carry::Unable, |x| x.carry(pkt));
            let Some(t) = choose(paths, flow, carry) else {
                // Some path has an SA that refuses the packet: outside the
                // negotiated selectors (RFC 4301 §5.1). Otherwise no SA yet.
                let has_sa = paths
                    .iter()
                    .any(|p| tunnels.get(p.tunnel).is_some_and(|x| x.sa.is_some()));
                if has_sa {
                    c.selectors += 1;
                } else {
                    c.no_sa += 1;
                }
                continue;
            };
            let tunnel = &self.tunnels[t];
            if len > tunnel.max_inner && icmp::wants_error(pkt) {
                c.too_big += 1;
                if errors.allow() {
                    let mtu = u16::try_from(tunnel.max_inner).unwrap_or(u16::MAX);
                    let sh = &self.shaping;
                    // An offloading TUN takes a (zero) virtio-net header first.
                    let tun = self.tun.get_ref();
                    let hdr = if tun.offloads().vnet_hdr {
                        VNET_HDR_LEN
                    } else {
                        0
                    };
                    if let Some(n) =
                        icmp::too_big(pkt, sh.from_v4, sh.from_v6, mtu, &mut errors.buf[hdr..])
                    {
                        let _ = tun.write_packet(&errors.buf[..hdr + n]);
                    }
                }
                continue;
            }
            if tunnel.sa.is_none() {
                continue;
            }
            done.push(Done {
                slot: i,
                start: payload.start,
                end: payload.end,
                tunnel: t,
                nh,
                flow,
            });
        }
    }

    /// Seals each routed packet in place with its tunnel's SA; a packet the
    /// SA refuses (exhausted or past its hard limit) leaves the batch.
    fn seal(
        &mut self,
        slots: &mut [Vec<u8>],
        done: &mut Vec<Done>,
        c: &mut TunCounters,
        drops: &mut DropLog,
    ) {
        done.retain_mut(|d| {
            let tunnel = &mut self.tunnels[d.tunnel];
            let Some(sa) = tunnel.sa.as_ref() else {
                return false;
            };
            match sa.encapsulate(&mut slots[d.slot], d.start..d.end, d.nh) {
                Ok(r) => {
                    tunnel.interval.count(d.flow);
                    tunnel.batch += 1;
                    d.start = r.start;
                    d.end = r.end;
                    true
                }
                Err(e) => {
                    c.refused += 1;
                    if drops.allow() {
                        tracing::warn!(tunnel = %tunnel.name, error = ?e, "packet not encapsulated");
                    }
                    debug_assert_ne!(e, EncapError::NoHeadroom);
                    false
                }
            }
        });
    }

    async fn send(&mut self, slots: &[Vec<u8>], done: &[Done], c: &mut TunCounters) {
        for (s, socket) in self.sockets.iter().enumerate() {
            let mut msgs = [Outgoing {
                data: &[],
                to: super::socket::UNSPECIFIED,
            }; SEGMENTS];
            let mut owner = [0usize; SEGMENTS];
            let mut n = 0;
            for d in done.iter().filter(|d| self.tunnels[d.tunnel].socket == s) {
                msgs[n] = Outgoing {
                    data: &slots[d.slot][d.start..d.end],
                    to: self.tunnels[d.tunnel].dest,
                };
                owner[n] = d.tunnel;
                n += 1;
            }
            if n == 0 {
                continue;
            }
            let tunnels = &mut self.tunnels;
            let activity = &self.activity;
            c.send_errors += socket
                .send_all(&msgs[..n], |i, e| {
                    let t = owner[i];
                    tunnels[t].batch = tunnels[t].batch.saturating_sub(1);
                    if is_unreachable(e) {
                        if let Some(a) = activity.get(t) {
                            a.unreachable.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
                .await;
        }
        for (t, tunnel) in self.tunnels.iter_mut().enumerate() {
            if let Some(a) = self.activity.get(t) {
                a.add_tx(std::mem::take(&mut tunnel.batch));
            }
        }
    }

    fn command(&mut self, cmd: OutCommand) {
        match cmd {
            OutCommand::Install {
                tunnel,
                sa,
                socket,
                dest,
                done,
            } => {
                if let Some(t) = self.tunnels.get_mut(tunnel) {
                    tracing::info!(tunnel = %t.name, spi = format_args!("{:#010x}", sa.spi()), %dest, "outbound SA installed");
                    t.sa = Some(sa);
                    t.socket = socket;
                    t.dest = dest;
                    t.fit(self.shaping.underlay_mtu);
                }
                let _ = done.send(());
            }
            OutCommand::Remove { tunnel, spi, done } => {
                if let Some(t) = self.tunnels.get_mut(tunnel) {
                    if t.sa.as_ref().is_some_and(|s| s.spi() == spi) {
                        tracing::info!(tunnel = %t.name, spi = format_args!("{spi:#010x}"), "outbound SA removed");
                        t.sa = None;
                    }
                }
                let _ = done.send(());
            }
            OutCommand::Health { tunnel, carry } => {
                if let Some(t) = self.tunnels.get_mut(tunnel) {
                    t.health = carry;
                }
            }
            OutCommand::Routes(changes) => {
                for (net, tunnels) in changes {
                    self.fib.set(net, tunnels);
                }
            }
            OutCommand::AddTunnel(mut t) => {
                t.fit(self.shaping.underlay_mtu);
                self.tunnels.push(*t);
            }
            OutCommand::RemoveTunnel { tunnel } => {
                if let Some(t) = self.tunnels.get_mut(tunnel) {
                    t.sa = None;
                    t.removed = true;
                    t.health = Carry::Unable;
                }
            }
            OutCommand::AddSocket(s) => self.sockets.push(s),
        }
    }

    /// Lifetime and sequence events go to the control plane.
    fn drain_events(&mut self) {
        for (t, tunnel) in self.tunnels.iter_mut().enumerate() {
            let Some(sa) = tunnel.sa.as_ref() else {
                continue;
            };
            while let Some(event) = sa.poll_event() {
                tracing::info!(tunnel = %tunnel.name, spi = format_args!("{:#010x}", event.spi), event = ?event.kind,
                    "outbound SA lifetime event");
                let _ = self.reports.send(SaReport { tunnel: t, event });
            }
        }
    }

    /// Publishes and resets the per-tunnel interval figures (this queue's
    /// share; the status adds the queues up).
    fn close_interval(&mut self) {
        let q = self.queue;
        let figures: Vec<(String, Interval)> = self
            .tunnels
            .iter_mut()
            .filter(|t| !t.removed)
            .map(|t| (t.name.clone(), std::mem::take(&mut t.interval)))
            .collect();
        status::update(&self.board, |s| {
            for (name, i) in figures {
                let e = s.tunnels.entry(name).or_default();
                if e.queue_intervals.len() <= q {
                    e.queue_intervals.resize(q + 1, Interval::default());
                }
                e.queue_intervals[q] = i;
                let mut all = Interval::default();
                for i in &e.queue_intervals {
                    all.merge(i);
                }
                e.interval_packets = all.packets;
                e.interval_flows = all.flows();
            }
        });
    }

    fn publish(&self, c: &TunCounters) {
        let q = self.queue;
        status::update(&self.board, |s| {
            if s.tun_queues.len() <= q {
                s.tun_queues.resize(q + 1, TunCounters::default());
            }
            s.tun_queues[q] = c.clone();
            s.tun = TunCounters::sum(&s.tun_queues);
            for t in self.tunnels.iter().filter(|t| !t.removed) {
                let e = s.tunnels.entry(t.name.clone()).or_default();
                let Some(sa) = &t.sa else {
                    e.outbound = Default::default();
                    continue;
                };
                let st = sa.stats();
                e.outbound.spi = format!("{:#010x}", sa.spi());
                e.outbound.packets = st.packets;
                e.outbound.bytes = st.bytes;
                e.outbound.refused = st.refused;
                e.outbound.last_seq = sa.last_seq();
            }
        });
    }
}
