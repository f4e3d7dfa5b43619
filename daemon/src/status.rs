//! The status board and its read-only Unix socket.
//!
//! Data-plane tasks publish their counters here a few times a second (never
//! per packet). A client that connects gets one JSON document and the
//! connection closes; clients are served one at a time with a deadline.

use serde::Serialize;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
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
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TunnelStatus {
    pub peer: String,
    pub transport: String,
    pub transform: String,
    pub esn: bool,
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
    pub last_error: String,
    /// Prefixes we send.
    pub advertised: Vec<String>,
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
    pub last_error: String,
    pub established_count: u64,
    pub ike_rekeys: u64,
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
    pub send_errors: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub tun: TunCounters,
    pub tunnels: BTreeMap<String, TunnelStatus>,
    pub transports: BTreeMap<String, TransportCounters>,
    /// The IKE responder's DoS protection, all tunnels together.
    pub ike: IkeResponderStatus,
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
}

pub type Board = Arc<Mutex<Status>>;

pub fn new_board() -> Board {
    Arc::new(Mutex::new(Status {
        version: env!("CARGO_PKG_VERSION"),
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

fn snapshot(board: &Board) -> String {
    let guard = board.lock().unwrap_or_else(|p| p.into_inner());
    serde_json::to_string_pretty(&*guard).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Binds the status socket: mode 0660, replacing a stale socket file.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// Serves one client at a time, each with a write deadline.
pub async fn serve(listener: UnixListener, board: Board) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
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
