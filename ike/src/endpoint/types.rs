//! What an [`super::Endpoint`] is configured with and what it reports.

use crate::sa::{DownReason, Event, IkeConfig, RetransmitConfig};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The owner's name for one tunnel: a peer, its IKE SA and Child SAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TunnelId(pub usize);

impl std::fmt::Display for TunnelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One tunnel: who we are, who the peer is, and how to negotiate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelConfig {
    /// Our outer address: IKE and ESP leave from it.
    pub local: IpAddr,
    /// The peer's outer address.
    pub peer: IpAddr,
    pub ike: IkeConfig,
    /// Start the IKE SA, and start it again when it fails; otherwise only
    /// answer the peer.
    pub initiate: bool,
}

/// How quickly the endpoint notices a dead path and gives a tunnel back
/// its flows. The defaults move traffic off a dead instance in well under
/// a second, and stay quiet on an idle or lossy link: an idle tunnel is
/// never checked this way (only by the SA's `dpd_interval`), and a check
/// needs four unanswered sends before the tunnel is suspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessConfig {
    /// ESP went out and nothing authentic came back for this long: start
    /// a liveness check (RFC 7296 §2.4). Should exceed the path's round
    /// trip.
    pub quiet: Duration,
    /// The check's retransmissions; when they run out the IKE SA is dead.
    pub probe: RetransmitConfig,
    /// The check has had no answer for this long: the tunnel is suspect
    /// and gives up its flows, while the check goes on.
    pub suspect_after: Duration,
    /// A tunnel that comes back (an answer while suspect, or a new IKE SA
    /// after a failure) takes its flows back this long later.
    pub rejoin_hold: Duration,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self {
            quiet: Duration::from_millis(250),
            // Sends at 0, 80, 200, 380, 650, 1055, 1660, 2570 ms; dead at
            // about 3.6 s.
            probe: RetransmitConfig {
                initial: Duration::from_millis(80),
                factor_percent: 150,
                max_interval: Duration::from_secs(1),
                retransmits: 7,
            },
            suspect_after: Duration::from_millis(500),
            rejoin_hold: Duration::from_secs(2),
        }
    }
}

/// The endpoint as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// RFC 7296 §2.6: IKE_SA_INIT requests need a cookie once this many
    /// responder SAs, all tunnels together, are half-open (0: always).
    pub cookie_threshold: usize,
    /// No new half-open responder SA at this many.
    pub half_open_max: usize,
    /// An initiator whose IKE SA failed tries again after this long,
    /// doubling each time up to `retry_max`.
    pub retry_first: Duration,
    pub retry_max: Duration,
    pub liveness: LivenessConfig,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            cookie_threshold: 8,
            half_open_max: 64,
            retry_first: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            liveness: LivenessConfig::default(),
        }
    }
}

/// A datagram to send, from one of our addresses. IKE on port 4500
/// carries the non-ESP marker, which the owner adds (RFC 3948 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub data: Vec<u8>,
}

/// Why a datagram led to nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Not an IKE header.
    Undecodable,
    /// It names an SA we do not have.
    UnknownSpi,
    /// An IKE_SA_INIT request from an address no tunnel is configured for.
    Unconfigured,
    /// An IKE_SA_INIT request at the half-open cap (§2.6).
    HalfOpenCap,
    /// The peer's IKE_SA_INIT while ours is under way and we keep ours.
    SimultaneousStart,
    /// Neither routable to an SA nor an IKE_SA_INIT request.
    Unexpected,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Undecodable => "not an IKE message",
            Self::UnknownSpi => "unknown IKE SPI",
            Self::Unconfigured => "IKE_SA_INIT from an unconfigured peer",
            Self::HalfOpenCap => "too many half-open IKE SAs",
            Self::SimultaneousStart => "both sides started at once; ours goes on",
            Self::Unexpected => "neither for a known SA nor a new one",
        })
    }
}

/// What [`super::Endpoint::handle`] did with a datagram (quinn-proto's
/// `DatagramEvent`): the datagrams and events it caused are queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatagramEvent {
    /// Handed to an SA of this tunnel.
    Routed(TunnelId),
    /// An IKE_SA_INIT request that made a new (half-open) responder SA.
    NewSa(TunnelId),
    /// An IKE_SA_INIT request answered with a cookie; nothing kept.
    Cookie,
    /// An IKE_SA_INIT request refused statelessly, with an error notify.
    Refused(TunnelId, DownReason),
    Dropped(Dropped),
}

/// Why a tunnel left the forwarding set while its IKE SA lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suspicion {
    /// A liveness check went unanswered.
    NoAnswer,
    /// The owner saw the path fail: a local send error, or the route or
    /// link to the peer gone.
    PathDown,
}

/// Whether a tunnel should carry flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No Child SA.
    Down,
    /// Carries flows.
    Up,
    /// Carries no flows while another tunnel can; IKE keeps checking.
    Suspect(Suspicion),
    /// Back, and takes its flows back at `at` (the hold-down).
    Rejoining { at: Instant },
}

impl Health {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::Up => "up",
            Self::Suspect(_) => "suspect",
            Self::Rejoining { .. } => "rejoining",
        }
    }
}

/// What the owner must act on, per tunnel.
#[derive(Debug, Clone)]
pub enum TunnelEvent {
    /// We start an IKE SA (attempt `attempt` since the last success).
    Connecting { attempt: u32 },
    /// An event of the tunnel's IKE SA: Child SAs to install, activate or
    /// remove, and the SA's end.
    Sa(Event),
    /// The tunnel's health changed.
    Health(Health),
    /// An ESP lifetime or sequence event made us rekey the Child SA.
    Rekeying { spi: u32 },
    /// The peer's new IKE SA authenticated and replaced ours (it
    /// restarted, or won a simultaneous start).
    Replaced { was_established: bool },
    /// The tunnel was removed ([`super::Endpoint::remove_tunnel`]) and its
    /// IKE SA is gone: nothing more comes from it.
    Removed,
    /// A half-open SA from the peer's IKE_SA_INIT failed in IKE_AUTH; the
    /// tunnel's own SA is untouched. (Anyone can get this far: it proves
    /// nothing about the peer.)
    IncomingFailed(DownReason),
}

/// A tunnel as the endpoint sees it, for status.
#[derive(Debug, Clone)]
pub struct TunnelInfo {
    pub health: Health,
    /// When the health last changed.
    pub since: Instant,
    /// The last liveness check's round trip.
    pub rtt: Option<Duration>,
    /// Whether an IKE SA is established.
    pub established: bool,
    /// Failed attempts since the last success.
    pub failures: u32,
    /// When we next try, after a failure.
    pub retry_at: Option<Instant>,
    /// Half-open responder SAs of this tunnel.
    pub half_open: usize,
    /// When the Child SA and the IKE SA are next rekeyed by time.
    pub child_rekey_at: Option<Instant>,
    pub ike_rekey_at: Option<Instant>,
}

/// Counters of the whole endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    pub routed: u64,
    pub new_sas: u64,
    pub refused: u64,
    pub undecodable: u64,
    pub unknown_spi: u64,
    /// IKE_SA_INIT requests from addresses no tunnel is configured for.
    pub unconfigured: u64,
    pub simultaneous_start: u64,
    pub unexpected: u64,
    /// Half-open responder SAs dropped without IKE_AUTH.
    pub half_open_expired: u64,
    pub liveness_checks: u64,
    pub suspects: u64,
}
