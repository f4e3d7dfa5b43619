//! The control plane: one task that runs every tunnel's IKE SA, carries
//! its datagrams over UDP 500 and 4500, and installs the Child SAs it
//! negotiates into the data-plane tasks.

mod half_open;

use crate::bgp_plane::BgpCommand;
use crate::dataplane::inbound::{IkeDatagram, InCommand};
use crate::dataplane::mmsg::Outgoing;
use crate::dataplane::outbound::OutCommand;
use crate::dataplane::transport::{Kind, TransportSocket};
use crate::droplog::DropLog;
use crate::run::{BoxError, Dataplane};
use crate::status::{self, Board, IkeStatus};
use config::{Config, IkeSettings, Transport};
use esp::{InboundSa, OutboundSa};
use ike::crypto::SystemRng;
use ike::sa::{Accepted, ChildSa, Event, IkeSa, Transmit, IKE_PORT, NAT_T_PORT};
use ike::wire::{ExchangeType, FixedHeader};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Back-off between attempts to bring a failed IKE SA back.
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(30);

struct Installed {
    inbound: u32,
    socket: usize,
    /// Held back until the IKE SA says the peer is ready for it.
    pending_outbound: Option<(OutboundSa, SocketAddr)>,
}

struct IkeTunnel {
    index: usize,
    name: String,
    local: IpAddr,
    peer: IpAddr,
    raw: bool,
    settings: IkeSettings,
    sa: Option<IkeSa>,
    /// Responder SAs for the peer's IKE_SA_INIT requests, half-open: one
    /// replaces `sa` only once it authenticates, so an unauthenticated
    /// (possibly spoofed) IKE_SA_INIT cannot tear a tunnel down
    /// (see `half_open`).
    incoming: Vec<IkeSa>,
    retry_at: Option<Instant>,
    retry_wait: Duration,
    /// Installed Child SAs; the last is current, older ones await removal.
    children: Vec<Installed>,
    status: IkeStatus,
    /// The current Child SA's transform and ESN, for the status board.
    transform: (String, bool),
}

pub struct Control {
    tunnels: Vec<IkeTunnel>,
    udp500: BTreeMap<IpAddr, Arc<UdpSocket>>,
    sockets: Vec<Arc<TransportSocket>>,
    socket_index: BTreeMap<(Kind, IpAddr), usize>,
    in_commands: Vec<mpsc::Sender<InCommand>>,
    out_commands: mpsc::Sender<OutCommand>,
    ike_rx: mpsc::Receiver<IkeDatagram>,
    readers: Vec<JoinHandle<()>>,
    board: Board,
    /// Outbound switches the data plane has not confirmed yet.
    switching: Vec<oneshot::Receiver<()>>,
    /// Tunnel up/down, for the BGP sessions they carry.
    bgp: Option<mpsc::UnboundedSender<BgpCommand>>,
    /// Cookies and the cap on half-open responder SAs (RFC 7296 §2.6).
    gate: half_open::Gate,
    /// IKE_SA_INIT requests refused or ignored: a flood must not flood
    /// the log.
    init_log: DropLog,
}

impl Control {
    pub async fn new(cfg: &Config, dp: &Dataplane, board: Board) -> Result<Self, BoxError> {
        let mut tunnels = Vec::new();
        for (index, spanned) in cfg.tunnels.iter().enumerate() {
            let t = spanned.get_ref();
            let Some(mut settings) = t.ike_settings() else {
                continue;
            };
            settings.config.half_open_timeout =
                Duration::from_secs(cfg.daemon.ike_half_open_seconds);
            if settings.legacy {
                tracing::warn!(tunnel = %t.name, "legacy algorithms (MODP-1024) allowed: Azure's default policy, about 80-bit security");
            }
            tunnels.push(IkeTunnel {
                index,
                name: t.name.clone(),
                local: t.local,
                peer: t.peer,
                raw: t.transport == Transport::Raw,
                settings,
                sa: None,
                incoming: Vec::new(),
                retry_at: None,
                retry_wait: RETRY_MIN,
                children: Vec::new(),
                status: IkeStatus::default(),
                transform: (String::new(), false),
            });
        }
        let socket_index = dp
            .sockets
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.kind(), s.local_addr().ip()), i))
            .collect();
        let mut udp500 = BTreeMap::new();
        let mut readers = Vec::new();
        for t in &tunnels {
            if udp500.contains_key(&t.local) {
                continue;
            }
            let s = Arc::new(
                UdpSocket::bind(SocketAddr::new(t.local, IKE_PORT))
                    .await
                    .map_err(|e| format!("cannot bind IKE port {}:{IKE_PORT}: {e}", t.local))?,
            );
            readers.push(tokio::spawn(read_udp500(s.clone(), dp.ike_tx.clone())));
            udp500.insert(t.local, s);
        }
        Ok(Self {
            tunnels,
            udp500,
            sockets: dp.sockets.clone(),
            socket_index,
            in_commands: dp.in_commands.clone(),
            out_commands: dp.out_commands.clone(),
            ike_rx: mpsc::channel(1).1,
            readers,
            board,
            switching: Vec::new(),
            bgp: None,
            gate: half_open::Gate::new(&cfg.daemon, Instant::now())?,
            init_log: DropLog::new("IKE_SA_INIT not admitted"),
        })
    }

    pub fn with_bgp(mut self, tx: mpsc::UnboundedSender<BgpCommand>) -> Self {
        self.bgp = Some(tx);
        self
    }

    fn tell_bgp(&self, tunnel: usize, up: bool) {
        if let Some(tx) = &self.bgp {
            let _ = tx.send(BgpCommand::Tunnel { tunnel, up });
        }
    }

    /// Takes the receiving end of the IKE channel from the data plane.
    pub fn attach(mut self, rx: mpsc::Receiver<IkeDatagram>) -> Self {
        self.ike_rx = rx;
        self
    }

    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let now = Instant::now();
        for i in 0..self.tunnels.len() {
            if self.tunnels[i].settings.initiate {
                self.initiate(i, now);
            }
        }
        self.flush().await;
        loop {
            let deadline = self.next_deadline();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(d) = self.ike_rx.recv() => self.datagram(d),
                _ = sleep => self.timeouts(Instant::now()),
                _ = stop.changed() => break,
            }
            self.flush().await;
        }
        self.shutdown().await;
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.tunnels
            .iter()
            .flat_map(|t| {
                let incoming = t.incoming.iter().filter_map(IkeSa::poll_timeout).min();
                [
                    t.sa.as_ref().and_then(IkeSa::poll_timeout),
                    incoming,
                    t.retry_at,
                ]
            })
            .flatten()
            .min()
    }

    fn initiate(&mut self, i: usize, now: Instant) {
        let t = &mut self.tunnels[i];
        let local = SocketAddr::new(t.local, IKE_PORT);
        let remote = SocketAddr::new(t.peer, IKE_PORT);
        tracing::info!(tunnel = %t.name, peer = %remote, "initiating IKE SA");
        t.sa = Some(IkeSa::initiate(
            t.settings.config.clone(),
            local,
            remote,
            now,
            Box::new(SystemRng::new()),
        ));
        t.retry_at = None;
        t.status.state = "connecting".into();
    }

    fn timeouts(&mut self, now: Instant) {
        for i in 0..self.tunnels.len() {
            let t = &mut self.tunnels[i];
            for sa in t.sa.iter_mut().chain(&mut t.incoming) {
                sa.handle_timeout(now);
            }
            if self.tunnels[i].retry_at.is_some_and(|r| r <= now) {
                self.initiate(i, now);
            }
        }
    }

    fn datagram(&mut self, d: IkeDatagram) {
        let now = Instant::now();
        let Ok(h) = FixedHeader::decode_prefix(&d.data) else {
            return;
        };
        let h = h.header;
        // An SA we know, by its SPIs.
        let matches = |sa: &IkeSa| sa.owns(h.spi_i, h.spi_r);
        for t in &mut self.tunnels {
            for sa in t.sa.iter_mut().chain(&mut t.incoming) {
                if matches(sa) {
                    sa.handle_datagram(now, d.from, &d.data);
                    return;
                }
            }
        }
        // A new IKE SA from a configured peer.
        let is_init =
            h.exchange_type == ExchangeType::IkeSaInit && !h.flags.response() && h.spi_r == 0;
        let Some(i) = self
            .tunnels
            .iter()
            .position(|t| t.peer == d.from.ip() && t.local == d.local.ip())
        else {
            if is_init && self.init_log.allow() {
                tracing::warn!(from = %d.from, "IKE_SA_INIT from an unconfigured peer ignored");
            }
            return;
        };
        if !is_init {
            return;
        }
        let t = &self.tunnels[i];
        if let Some(sa) = &t.sa {
            // Both sides initiated at once: the lower address keeps its own.
            if !sa.is_established() && t.local < t.peer {
                return;
            }
        }
        if !self.admit(now, t.local, &d) {
            return;
        }
        let t = &mut self.tunnels[i];
        match IkeSa::accept(
            t.settings.config.clone(),
            d.local,
            d.from,
            &d.data,
            now,
            Box::new(SystemRng::new()),
        ) {
            Accepted::Sa(sa) => {
                tracing::debug!(tunnel = %t.name, peer = %d.from, "responding to IKE_SA_INIT");
                t.incoming.push(*sa);
            }
            Accepted::Refused { reply, reason } => {
                if self.init_log.allow() {
                    tracing::warn!(tunnel = %t.name, peer = %d.from, %reason, "IKE_SA_INIT refused");
                }
                t.status.last_error = reason.to_string();
                let local = t.local;
                self.send_now(local, reply);
            }
            Accepted::Ignored => {}
        }
    }

    async fn flush(&mut self) {
        let now = Instant::now();
        let mut out = Vec::new();
        for i in 0..self.tunnels.len() {
            let local = self.tunnels[i].local;
            let mut events = Vec::new();
            if let Some(sa) = self.tunnels[i].sa.as_mut() {
                while let Some(t) = sa.poll_transmit() {
                    out.push((local, t));
                }
                while let Some(e) = sa.poll_event() {
                    events.push(e);
                }
            }
            for e in events {
                self.event(i, e);
            }
            self.flush_incoming(i, &mut out);
            if self.tunnels[i].sa.as_ref().is_some_and(IkeSa::is_closed) {
                self.tunnels[i].sa = None;
                if self.tunnels[i].settings.initiate {
                    let t = &mut self.tunnels[i];
                    t.retry_at = Some(now + t.retry_wait);
                    t.retry_wait = (t.retry_wait * 2).min(RETRY_MAX);
                }
            }
        }
        // Make-before-break, in order: the data plane switches outbound
        // SAs before the peer hears that the old ones are gone.
        for done in std::mem::take(&mut self.switching) {
            let _ = tokio::time::timeout(Duration::from_millis(200), done).await;
        }
        for (local, t) in out {
            self.send(local, t).await;
        }
        self.publish();
    }

    fn send_now(&mut self, local: IpAddr, t: Transmit) {
        if let Some(s) = self.udp500.get(&local) {
            if let Err(e) = s.try_send_to(&t.data, t.remote) {
                tracing::debug!(error = %e, "IKE send failed");
            }
        }
    }

    async fn send(&mut self, local: IpAddr, t: Transmit) {
        if t.local_port == NAT_T_PORT {
            // RFC 3948 §2.2: IKE on 4500 carries the non-ESP marker.
            let Some(&s) = self
                .socket_index
                .get(&(Kind::Udp { port: NAT_T_PORT }, local))
            else {
                return;
            };
            let mut data = vec![0u8; 4];
            data.extend_from_slice(&t.data);
            self.sockets[s]
                .send_all(&[Outgoing {
                    data: &data,
                    to: t.remote,
                }])
                .await;
        } else if let Some(s) = self.udp500.get(&local) {
            if let Err(e) = s.send_to(&t.data, t.remote).await {
                tracing::debug!(error = %e, "IKE send failed");
            }
        }
    }

    fn event(&mut self, i: usize, e: Event) {
        let t = &mut self.tunnels[i];
        match e {
            Event::Established {
                spi_i,
                spi_r,
                suite,
                nat,
            } => {
                tracing::info!(tunnel = %t.name, %suite, nat, spi_i = format_args!("{spi_i:016x}"), spi_r = format_args!("{spi_r:016x}"), "IKE SA established");
                t.status.state = "established".into();
                t.status.spi_i = format!("{spi_i:016x}");
                t.status.spi_r = format!("{spi_r:016x}");
                t.status.suite = suite;
                t.status.nat = nat;
                t.status.established_count += 1;
                t.status.last_error.clear();
                t.retry_wait = RETRY_MIN;
            }
            Event::ChildUp(c) => {
                let index = t.index;
                self.install(i, *c);
                self.tell_bgp(index, true);
            }
            Event::IkeRekeyed { spi_i, spi_r } => {
                tracing::info!(tunnel = %t.name, spi_i = format_args!("{spi_i:016x}"), spi_r = format_args!("{spi_r:016x}"), "IKE SA rekeyed");
                t.status.spi_i = format!("{spi_i:016x}");
                t.status.spi_r = format!("{spi_r:016x}");
                t.status.ike_rekeys += 1;
            }
            Event::ChildActivate { inbound_spi } => {
                let index = t.index;
                let child = t.children.iter_mut().find(|c| c.inbound == inbound_spi);
                if let Some(c) = child {
                    if let Some((sa, dest)) = c.pending_outbound.take() {
                        tracing::info!(tunnel = %t.name, spi_out = format_args!("{:#010x}", sa.spi()), "outbound switched to the new Child SA");
                        let (tx, rx) = oneshot::channel();
                        self.switching.push(rx);
                        let _ = self.out_commands.try_send(OutCommand::Install {
                            tunnel: index,
                            sa: Box::new(sa),
                            socket: c.socket,
                            dest,
                            done: Some(tx),
                        });
                    }
                }
            }
            Event::ChildDown {
                inbound_spi,
                outbound_spi,
            } => {
                if let Some(pos) = t.children.iter().position(|c| c.inbound == inbound_spi) {
                    let c = t.children.remove(pos);
                    let _ =
                        self.in_commands[c.socket].try_send(InCommand::Remove { spi: inbound_spi });
                    // Removes the outbound SA only if it is still the current one.
                    let _ = self.out_commands.try_send(OutCommand::Remove {
                        tunnel: t.index,
                        spi: outbound_spi,
                    });
                    tracing::info!(tunnel = %t.name, spi_in = format_args!("{inbound_spi:#010x}"), "Child SA removed");
                }
            }
            Event::Down(reason) => {
                let level_error = matches!(
                    reason,
                    ike::sa::DownReason::AuthenticationFailed
                        | ike::sa::DownReason::NoProposalChosen
                );
                if level_error {
                    tracing::error!(tunnel = %t.name, peer = %t.peer, %reason, "IKE SA failed");
                } else {
                    tracing::warn!(tunnel = %t.name, peer = %t.peer, %reason, "IKE SA down");
                }
                t.status.state = "down".into();
                t.status.last_error = reason.to_string();
                let index = t.index;
                self.tell_bgp(index, false);
            }
        }
    }

    /// Make-before-break: the inbound SA goes in before the outbound one.
    fn install(&mut self, i: usize, c: ChildSa) {
        let now = Instant::now();
        let t = &mut self.tunnels[i];
        let encap = c.encap || !t.raw;
        let kind = if encap {
            Kind::Udp { port: NAT_T_PORT }
        } else {
            Kind::Raw
        };
        let socket = self
            .socket_index
            .get(&(kind, t.local))
            .or_else(|| {
                self.socket_index
                    .get(&(Kind::Udp { port: NAT_T_PORT }, t.local))
            })
            .copied();
        let (Some(socket), Ok(inbound), Ok(outbound)) = (
            socket,
            InboundSa::new(&c.inbound, now),
            OutboundSa::new(&c.outbound, now),
        ) else {
            tracing::error!(tunnel = %t.name, "cannot install the negotiated Child SA");
            return;
        };
        // ESP-in-UDP goes to the peer's NAT-T port: where its IKE floated
        // to (a NAT may have mapped it), never to port 500.
        let remote_port =
            t.sa.as_ref()
                .map(|sa| sa.remote().port())
                .filter(|&p| p != IKE_PORT)
                .unwrap_or(NAT_T_PORT);
        let dest = if encap {
            SocketAddr::new(t.peer, remote_port)
        } else {
            SocketAddr::new(t.peer, 0)
        };
        tracing::info!(tunnel = %t.name, transform = %c.inbound.transform, esn = c.inbound.esn, encap,
            spi_in = format_args!("{:#010x}", c.inbound.spi), spi_out = format_args!("{:#010x}", c.outbound.spi), "Child SA up");
        let _ = self.in_commands[socket].try_send(InCommand::Install {
            tunnel: t.index,
            sa: Box::new(inbound),
        });
        let pending_outbound = if c.activate {
            let (tx, rx) = oneshot::channel();
            self.switching.push(rx);
            let _ = self.out_commands.try_send(OutCommand::Install {
                tunnel: t.index,
                sa: Box::new(outbound),
                socket,
                dest,
                done: Some(tx),
            });
            None
        } else {
            Some((outbound, dest))
        };
        t.children.push(Installed {
            inbound: c.inbound.spi,
            socket,
            pending_outbound,
        });
        t.status.encap = encap;
        t.transform = (c.inbound.transform.to_string(), c.inbound.esn);
    }

    fn publish(&self) {
        let responder = self.gate.status(self.half_open());
        status::update(&self.board, |s| {
            s.ike = responder;
            for t in &self.tunnels {
                if let Some(e) = s.tunnels.get_mut(&t.name) {
                    e.ike = Some(t.status.clone());
                    e.transform.clone_from(&t.transform.0);
                    e.esn = t.transform.1;
                }
            }
        });
    }

    /// SIGTERM: DELETE every IKE SA and wait briefly for the answers.
    async fn shutdown(&mut self) {
        let now = Instant::now();
        for t in &mut self.tunnels {
            if let Some(sa) = t.sa.as_mut() {
                sa.close(now);
            }
        }
        self.flush().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while self
            .tunnels
            .iter()
            .any(|t| t.sa.as_ref().is_some_and(|s| !s.is_closed()))
        {
            tokio::select! {
                Some(d) = self.ike_rx.recv() => self.datagram(d),
                _ = tokio::time::sleep_until(deadline) => break,
            }
            for t in &mut self.tunnels {
                t.settings.initiate = false;
            }
            self.flush().await;
        }
        for r in &self.readers {
            r.abort();
        }
    }
}

/// Forwards what arrives on UDP 500 into the control plane's channel.
async fn read_udp500(socket: Arc<UdpSocket>, tx: mpsc::Sender<IkeDatagram>) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let mut buf = vec![0u8; 65535];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let Some(data) = buf.get(..n) else { continue };
                let d = IkeDatagram {
                    local,
                    from,
                    data: data.to_vec(),
                };
                if tx.send(d).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::debug!(error = %e, "IKE receive failed"),
        }
    }
}
