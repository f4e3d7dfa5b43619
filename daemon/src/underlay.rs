//! Watches the underlay path to every tunnel's peer: when a link, address
//! or route changes, each peer is looked up again, and a tunnel whose path
//! appears or disappears is reported to the control plane, which takes
//! its flows off at once (or checks it again) instead of waiting for a
//! liveness check to time out.

use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tun::RouteWatch;

/// Changes arriving together (a link going down removes several routes)
/// are looked at once, after this pause.
const SETTLE: Duration = Duration::from_millis(5);

/// A tunnel's underlay path appeared or disappeared.
#[derive(Debug, Clone)]
pub struct PathChange {
    pub tunnel: usize,
    pub reachable: bool,
    pub why: String,
}

/// One tunnel's outer addresses.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints {
    pub tunnel: usize,
    pub local: IpAddr,
    pub peer: IpAddr,
}

/// Runs until the channel closes. At start every path is taken to be up
/// (IKE finds out otherwise); only changes are reported.
pub async fn watch(mut w: RouteWatch, tunnels: Vec<Endpoints>, tx: mpsc::Sender<PathChange>) {
    let mut up = vec![true; tunnels.len()];
    while w.changed().await.is_some() {
        tokio::time::sleep(SETTLE).await;
        w.drain();
        for (i, t) in tunnels.iter().enumerate() {
            let r = w.check(t.local, t.peer).await;
            let reachable = r.is_ok();
            if reachable == up[i] {
                continue;
            }
            up[i] = reachable;
            let why = r.err().map(|e| e.to_string()).unwrap_or_default();
            let change = PathChange {
                tunnel: t.tunnel,
                reachable,
                why,
            };
            if tx.send(change).await.is_err() {
                return;
            }
        }
    }
    tracing::warn!(
        "the netlink notification socket closed; underlay changes are no longer watched"
    );
}
