//! The status board and its read-only Unix socket.
//!
//! Data-plane tasks publish their counters here a few times a second (never
//! per packet). A client that connects gets one JSON document and the
//! connection closes; clients are served one at a time with a deadline.

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;

#[derive(Debug, Clone, Default, Serialize)]
pub struct OutboundCounters {
    pub spi: String,
    pub packets: u64,
    pub bytes: u64,
    pub refused: u64,
    pub last_seq: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct InboundCounters {
    pub spi: String,
    pub packets: u64,
    pub bytes: u64,
    pub replay: u64,
    pub too_old: u64,
    pub icv_failure: u64,
    pub bad_padding: u64,
    pub malformed: u64,
    pub expired: u64,
    pub dummy: u64,
    /// Decrypted, but the inner source is not behind this tunnel.
    pub policy: u64,
    /// Authentic ESP from an address other than the tunnel's peer.
    pub wrong_peer: u64,
    /// Authentic, but outside the negotiated traffic selectors.
    pub selectors: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TunnelStatus {
    pub peer: String,
    pub transport: String,
    /// Whether it carries flows: "up", "suspect", "rejoining" or "down".
    pub health: String,
    /// Why, when suspect.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_reason: String,
    /// When the health last changed (Unix time, ms), and how long ago.
    pub health_since_ms: u64,
    pub health_age_s: f64,
    /// Round trip of the last liveness check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_rtt_ms: Option<f64>,
    /// ESP packets sent and received over the tunnel's life.
    pub esp_packets_out: u64,
    pub esp_packets_in: u64,
    /// Packets sent in the last second, and the distinct flows among them
    /// (estimated).
    pub interval_packets: u64,
    pub interval_flows: u64,
    /// Each TUN queue's share of the last interval.
    #[serde(skip)]
    pub queue_intervals: Vec<crate::dataplane::outbound::Interval>,
    pub transform: String,
    pub esn: bool,
    /// The current Child SA's negotiated traffic selectors.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub selectors: String,
    pub outbound: OutboundCounters,
    pub inbound: InboundCounters,
    /// For IKE-keyed tunnels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ike: Option<IkeStatus>,
    /// For tunnels that carry a BGP session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bgp: Option<BgpStatus>,
}

/// The status lists at most this many learned prefixes per session (the
/// count is always complete).
pub const MAX_LISTED_ROUTES: usize = 1000;

#[derive(Debug, Clone, Default, Serialize)]
pub struct BgpStatus {
    /// The RFC 4271 state: Idle, Connect, Active, OpenSent, OpenConfirm
    /// or Established.
    pub state: String,
    pub peer: String,
    pub peer_id: String,
    pub peer_as: u32,
    pub hold_time: u16,
    pub established_count: u64,
    /// Unix ms of the last state change to or from Established.
    pub since_ms: u64,
    pub last_error: String,
    /// Prefixes we send.
    pub advertised: Vec<String>,
    pub advertised_count: usize,
    /// Learned prefix → AS path (the first MAX_LISTED_ROUTES).
    pub learned: BTreeMap<String, String>,
    pub learned_count: usize,
    /// Announced to us but refused by the import policy.
    pub filtered: u64,
    pub treat_as_withdraw: u64,
    pub updates_received: u64,
    pub updates_sent: u64,
    /// Learned prefixes in the kernel (all sessions).
    pub kernel_routes: usize,
    pub kernel_errors: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IkeStatus {
    /// "connecting", "established" or "down".
    pub state: String,
    pub spi_i: String,
    pub spi_r: String,
    pub suite: String,
    pub nat: bool,
    pub encap: bool,
    /// Why our own IKE SA (or an authenticated one) last failed.
    pub last_error: String,
    /// Why the last IKE SA that the peer's address started failed before
    /// it authenticated. Anyone who can spoof that address can cause it,
    /// so it never overwrites `last_error`.
    pub last_incoming_error: String,
    pub established_count: u64,
    pub ike_rekeys: u64,
    /// Child SAs installed (the first and every rekey), and the rekeys an
    /// ESP lifetime or the sequence space started.
    pub child_sas: u64,
    pub lifetime_rekeys: u64,
    /// Unix ms: when the IKE SA was established and the current Child SA
    /// installed, and when each is next rekeyed by time.
    pub established_ms: u64,
    pub ike_rekey_at_ms: u64,
    pub child_installed_ms: u64,
    pub child_rekey_at_ms: u64,
}

/// Per transport socket: what arrived that no SA claimed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TransportCounters {
    pub datagrams: u64,
    pub unknown_spi: u64,
    pub malformed: u64,
    pub non_esp: u64,
    pub nat_keepalives: u64,
    /// IKE messages handed to the control plane (UDP 4500).
    pub ike_forwarded: u64,
    pub tun_write_errors: u64,
    /// TCP SYNs from the peer whose MSS was lowered.
    pub mss_clamped: u64,
    /// TUN writes, and packets merged into another's write (GRO).
    pub tun_writes: u64,
    pub gro_merged: u64,
    /// Receives that returned several datagrams coalesced (UDP GRO).
    pub gro_received: u64,
}

/// The TUN side: what went out.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TunCounters {
    pub packets_read: u64,
    pub no_route: u64,
    pub malformed: u64,
    pub refused: u64,
    /// The tunnel has no SA yet (IKE not established).
    pub no_sa: u64,
    /// Outside every candidate SA's traffic selectors (RFC 4301 §5.1).
    pub selectors: u64,
    pub send_errors: u64,
    /// Too big for the tunnel with DF set: answered with ICMP.
    pub too_big: u64,
    /// TCP SYNs whose MSS was lowered (both directions).
    pub mss_clamped: u64,
    /// With TUN offloads: reads, the super-packets among them (split into
    /// `packets_read` packets in all), and reads dropped as malformed.
    pub tun_reads: u64,
    pub super_packets: u64,
    pub offload_dropped: u64,
}

impl TunCounters {
    /// The queues' counters added up.
    pub fn sum(queues: &[TunCounters]) -> TunCounters {
        let mut t = TunCounters::default();
        for q in queues {
            t.packets_read += q.packets_read;
            t.no_route += q.no_route;
            t.malformed += q.malformed;
            t.refused += q.refused;
            t.no_sa += q.no_sa;
            t.selectors += q.selectors;
            t.send_errors += q.send_errors;
            t.too_big += q.too_big;
            t.mss_clamped += q.mss_clamped;
            t.tun_reads += q.tun_reads;
            t.super_packets += q.super_packets;
            t.offload_dropped += q.offload_dropped;
        }
        t
    }
}

/// One path of a prefix.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RoutePath {
    pub tunnel: String,
    /// 0: the multipath set; higher: backups.
    pub tier: u8,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RouteStatus {
    pub paths: Vec<RoutePath>,
    /// The tunnels that carry it now: the best tier's up tunnels.
    pub carried_by: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub version: &'static str,
    /// The daemon's process ID (`vwand reload` signals it).
    pub pid: u32,
    /// All TUN queues together.
    pub tun: TunCounters,
    /// Each TUN queue's own (one entry with one queue).
    pub tun_queues: Vec<TunCounters>,
    pub tunnels: BTreeMap<String, TunnelStatus>,
    pub transports: BTreeMap<String, TransportCounters>,
    /// The IKE responder's DoS protection, all tunnels together.
    pub ike: IkeResponderStatus,
    /// Prefixes routed into the tunnels (static and learned; the first
    /// MAX_LISTED_ROUTES), with their paths.
    pub routes: BTreeMap<String, RouteStatus>,
    pub routes_count: usize,
    /// On-premises routers (`[[bgp.lan]]`), by address.
    pub bgp_lan: BTreeMap<String, BgpStatus>,
    /// The mode, the encryption guard on learned prefixes, and which path
    /// on-premises routers prefer for each Azure prefix.
    pub routing: RoutingStatus,
    /// The control plane's last pass through its loop (the watchdog).
    #[serde(skip)]
    pub control_pass: Option<std::time::Instant>,
}

/// A prefix the encryption guard acted on, and why.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct GuardNote {
    pub prefix: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RoutingStatus {
    /// `encrypt` or `failover`.
    pub mode: String,
    pub lan_sessions: usize,
    pub lan_established: usize,
    /// Prefixes learned on-premises and not advertised to Azure.
    pub refused: Vec<GuardNote>,
    /// Prefixes learned on-premises, advertised, and partly shadowed by
    /// a more specific ExpressRoute prefix.
    pub shadowed: Vec<GuardNote>,
    /// Learned prefixes left out above Azure's 4,000.
    pub over_limit: usize,
    /// Prefixes we advertise to Azure (configured and learned).
    pub advertised_to_azure: usize,
    /// Azure's prefixes (learned over the tunnels; the first
    /// MAX_LISTED_ROUTES) and which path on-premises routers prefer:
    /// `vpn`, `expressroute`, `router policy` or `not sent`.
    pub azure_prefixes: BTreeMap<String, String>,
    pub azure_prefixes_count: usize,
}

/// RFC 7296 §2.6: half-open responder SAs and the cookies that guard them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IkeResponderStatus {
    /// Responder SAs that answered IKE_SA_INIT and wait for IKE_AUTH.
    pub half_open: usize,
    /// Whether IKE_SA_INIT requests need a cookie now.
    pub cookies_required: bool,
    pub cookies_sent: u64,
    pub cookies_verified: u64,
    pub cookies_invalid: u64,
    /// Requests dropped at `ike_half_open_max`.
    pub half_open_refused: u64,
    /// Half-open SAs dropped because IKE_AUTH never came.
    pub half_open_expired: u64,
    /// IKE datagrams dropped before reaching an SA.
    pub undecodable: u64,
    pub unknown_spi: u64,
    /// IKE_SA_INIT requests from addresses no tunnel is configured for.
    pub unconfigured: u64,
    /// IKE_SA_INIT requests refused with a notify (no proposal chosen,
    /// INVALID_KE_PAYLOAD, a bad public value): no state kept.
    pub refused: u64,
    /// Datagrams no SA or exchange expected (a response to nothing, a
    /// request while the tunnel closes).
    pub unexpected: u64,
    pub simultaneous_start: u64,
    /// Liveness checks started because ESP went out unanswered, and the
    /// times a tunnel became suspect.
    pub liveness_checks: u64,
    pub suspects: u64,
    /// Data-plane changes the control plane waited for longer than
    /// expected (each is applied anyway: the channel never drops).
    pub dataplane_slow_acks: u64,
}

pub type Board = Arc<Mutex<Status>>;

pub fn new_board() -> Board {
    Arc::new(Mutex::new(Status {
        version: env!("CARGO_PKG_VERSION"),
        pid: std::process::id(),
        ..Status::default()
    }))
}

/// Runs `f` on the board. A poisoned lock (a panicked publisher) still
/// holds valid counters, so it is used as is.
pub fn update(board: &Board, f: impl FnOnce(&mut Status)) {
    let mut guard = board.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard);
}

/// The board as compact JSON, for the final log line.
pub fn compact_json(board: &Board) -> String {
    let guard = board.lock().unwrap_or_else(|p| p.into_inner());
    serde_json::to_string(&*guard).unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The board with what depends on the moment: ages, and which tunnels
/// carry each prefix now.
fn snapshot(board: &Board) -> String {
    let mut s = {
        let guard = board.lock().unwrap_or_else(|p| p.into_inner());
        guard.clone()
    };
    let now = unix_ms(std::time::SystemTime::now());
    for t in s.tunnels.values_mut() {
        t.health_age_s = now.saturating_sub(t.health_since_ms) as f64 / 1000.0;
    }
    let up = |name: &str| s.tunnels.get(name).is_some_and(|t| t.health == "up");
    let carried: Vec<Vec<String>> = s
        .routes
        .values()
        .map(|r| {
            let best = r
                .paths
                .iter()
                .filter(|p| up(&p.tunnel))
                .map(|p| p.tier)
                .min();
            r.paths
                .iter()
                .filter(|p| Some(p.tier) == best && up(&p.tunnel))
                .map(|p| p.tunnel.clone())
                .collect()
        })
        .collect();
    for (r, c) in s.routes.values_mut().zip(carried) {
        r.carried_by = c;
    }
    serde_json::to_string_pretty(&s).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Binds the status socket, replacing a stale socket file. It is created
/// with mode 0660 (a umask of 0117 around `bind`), so it is never
/// reachable by others, not even between `bind` and a `chmod`. Called at
/// start, before any other thread creates files.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use nix::sys::stat::{umask, Mode};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let old = umask(Mode::from_bits_truncate(0o117));
    let listener = UnixListener::bind(path);
    umask(old);
    listener
}

/// After a failed `accept` (e.g. out of file descriptors) the loops wait
/// this long, doubling up to [`ACCEPT_BACKOFF_MAX`], instead of spinning.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The wait after `failures` accept errors in a row (0: none).
pub fn accept_backoff(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        n => ACCEPT_BACKOFF
            .saturating_mul(1 << (n - 1).min(10))
            .min(ACCEPT_BACKOFF_MAX),
    }
}

/// Serves one client at a time, each with a write deadline.
pub async fn serve(listener: UnixListener, board: Board) {
    let mut failures = 0u32;
    loop {
        let mut stream = match listener.accept().await {
            Ok((stream, _)) => {
                failures = 0;
                stream
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                if failures == 1 {
                    tracing::warn!(error = %e, "status socket: accept failed; backing off");
                }
                tokio::time::sleep(accept_backoff(failures)).await;
                continue;
            }
        };
        let doc = snapshot(&board);
        let write = async {
            stream.write_all(doc.as_bytes()).await?;
            stream.write_all(b"\n").await?;
            stream.shutdown().await
        };
        if let Err(e) = tokio::time::timeout(Duration::from_secs(2), write).await {
            tracing::debug!(error = %e, "status client too slow");
        }
    }
}

/// `vwand status`: reads the document from a running daemon.
pub fn query(path: &PathBuf) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn the_socket_is_born_0660_and_the_umask_is_restored() {
        let dir = std::env::temp_dir().join(format!("vwand-status-{}", std::process::id()));
        let path = dir.join("status.sock");
        let before = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
        let l = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        let now = nix::sys::stat::umask(before);
        assert_eq!(now.bits(), 0o022, "bind put the umask back");
        // A second bind replaces the stale file.
        drop(l);
        assert!(bind(&path).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn accept_backoff_doubles_to_a_cap() {
        assert_eq!(accept_backoff(0), Duration::ZERO);
        assert_eq!(accept_backoff(1), Duration::from_millis(50));
        assert_eq!(accept_backoff(3), Duration::from_millis(200));
        assert_eq!(accept_backoff(40), ACCEPT_BACKOFF_MAX);
    }
}
