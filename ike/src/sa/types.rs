//! What an IKE SA is configured with, and what it hands its owner.

use super::retransmit::RetransmitConfig;
use crate::crypto::{EspProposal, IkeProposal};
use crate::wire::{Identification, NotifyType, TrafficSelector};
use esp::{SaParams, SecretBytes};
use std::net::SocketAddr;
use std::time::Duration;

/// Everything one IKE SA (and its first Child SA) is negotiated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeConfig {
    pub local_id: Identification,
    /// The peer must authenticate as this ID; `None` accepts any.
    pub remote_id: Option<Identification>,
    pub psk: SecretBytes,
    /// In order of preference; the first proposal's first group is the KE
    /// sent in IKE_SA_INIT.
    pub ike_proposals: Vec<IkeProposal>,
    pub esp_proposals: Vec<EspProposal>,
    /// Traffic selectors: ours and the peer's side. Azure's route-based
    /// gateways expect 0.0.0.0/0 on both.
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub retransmit: RetransmitConfig,
    /// Send an empty INFORMATIONAL after this long without hearing from
    /// the peer (RFC 7296 §2.4).
    pub dpd_interval: Option<Duration>,
    /// UDP-encapsulate ESP and move IKE to port 4500 even without a NAT.
    pub force_encap: bool,
    pub replay_window: u32,
    /// Rekey the Child SA this long after it was created, less up to 10%
    /// jitter so two peers with the same setting rarely collide (§2.8).
    pub child_rekey_after: Option<Duration>,
    /// Rekey the IKE SA this long after it was created (less up to 10%).
    pub ike_rekey_after: Option<Duration>,
    /// Rekey a Child SA once this many inner bytes crossed it in either
    /// direction (RFC 4301 §4.4.2.1 soft lifetime, Azure's "SA data
    /// size"); it stops passing traffic 10% later (the hard lifetime).
    pub child_rekey_bytes: Option<u64>,
    /// After a rekey, the old inbound SA stays this long for packets in
    /// flight (make-before-break).
    pub rekey_grace: Duration,
    /// RFC 7383: announce IKE fragmentation, and once both sides have,
    /// split encrypted messages whose IP datagram would exceed this many
    /// octets. `None`: neither announced nor accepted.
    pub fragment_size: Option<usize>,
    /// A responder drops an SA whose IKE_AUTH has not come this long
    /// after its IKE_SA_INIT response (a half-open SA).
    pub half_open_timeout: Duration,
    /// Keep a line per message sent and received (`wire::summary`), for
    /// the owner's debug log: [`super::IkeSa::poll_message_log`].
    pub log_messages: bool,
}

/// strongSwan's default for the same (`charon.half_open_timeout`).
pub const DEFAULT_HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// A datagram to send. IKE on port 4500 carries the non-ESP marker, which
/// the owner adds (RFC 3948 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub local_port: u16,
    pub remote: SocketAddr,
    pub data: Vec<u8>,
}

/// A negotiated Child SA pair, ready for the ESP data plane.
#[derive(Debug, Clone)]
pub struct ChildSa {
    pub inbound: SaParams,
    pub outbound: SaParams,
    /// ESP goes in UDP 4500 (a NAT was detected, or encapsulation forced).
    pub encap: bool,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// Send on it at once. `false` when we answered the peer's rekey: the
    /// inbound SA goes in now, and outbound switches on
    /// [`Event::ChildActivate`], once the peer has installed its side.
    pub activate: bool,
}

/// Why an IKE SA ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// The peer deleted it.
    PeerDeleted,
    /// Requests went unanswered (§2.4).
    Dead,
    /// We closed it.
    Closed,
    /// The peer's AUTH did not verify, or it refused ours.
    AuthenticationFailed,
    /// No common IKE or ESP proposal.
    NoProposalChosen,
    /// §1.2 INVALID_KE_PAYLOAD. As responder: the initiator's KE was not
    /// in the group we chose, and we asked for this one (it normally
    /// retries). As initiator: the responder asked for a group we do not
    /// offer (`None`: it named none we know).
    InvalidKe { group: Option<u16>, we_asked: bool },
    /// The peer refused the traffic selectors.
    TsUnacceptable,
    /// The peer answered with another error notify.
    PeerError(NotifyType),
    /// The peer broke the protocol.
    Protocol(&'static str),
    /// We answered IKE_SA_INIT, and IKE_AUTH never came.
    HalfOpenExpired,
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PeerDeleted => f.write_str("deleted by the peer"),
            Self::Dead => f.write_str("peer not responding"),
            Self::Closed => f.write_str("closed"),
            Self::AuthenticationFailed => f.write_str("authentication failed"),
            Self::NoProposalChosen => f.write_str("no proposal chosen"),
            Self::InvalidKe {
                group: Some(g),
                we_asked: true,
            } => write!(
                f,
                "the initiator's KE payload was not for the chosen DH group; INVALID_KE_PAYLOAD sent asking for group {g}"
            ),
            Self::InvalidKe {
                group: Some(g),
                we_asked: false,
            } => write!(
                f,
                "the responder asked for DH group {g} (INVALID_KE_PAYLOAD), which our proposals do not offer"
            ),
            Self::InvalidKe { group: None, .. } => {
                f.write_str("INVALID_KE_PAYLOAD naming no DH group we know")
            }
            Self::TsUnacceptable => f.write_str("traffic selectors unacceptable"),
            Self::PeerError(n) => write!(f, "peer sent {n:?}"),
            Self::Protocol(what) => write!(f, "protocol error: {what}"),
            Self::HalfOpenExpired => f.write_str("IKE_AUTH never came (half-open SA expired)"),
        }
    }
}

/// What the owner must act on.
#[derive(Debug, Clone)]
pub enum Event {
    /// IKE_AUTH completed.
    Established {
        spi_i: u64,
        spi_r: u64,
        suite: String,
        nat: bool,
    },
    /// Install this Child SA into the data plane.
    ChildUp(Box<ChildSa>),
    /// The IKE SA was rekeyed and goes on under these SPIs.
    IkeRekeyed { spi_i: u64, spi_r: u64 },
    /// Start sending on this (already installed) Child SA.
    ChildActivate { inbound_spi: u32 },
    /// Remove the Child SA with these SPIs.
    ChildDown { inbound_spi: u32, outbound_spi: u32 },
    /// The IKE SA is gone; its Child SAs with it.
    Down(DownReason),
}
