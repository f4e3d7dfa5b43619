//! systemd integration beyond READY=1: a one-line STATUS= summary when it
//! changes, and WATCHDOG=1 at half the unit's `WatchdogSec=` while the
//! control plane is alive (it stamps the status board on every pass
//! through its loop, at least every 20 ms).

use crate::notify::notify;
use crate::status::{Board, Status};
use std::time::Duration;

/// The control plane counts as stuck after this long without a pass.
const STUCK: Duration = Duration::from_secs(5);

/// "2/2 tunnels up, 2/2 BGP established".
pub fn summary(s: &Status) -> String {
    let up = s.tunnels.values().filter(|t| t.health == "up").count();
    let sessions: Vec<_> = s.tunnels.values().filter_map(|t| t.bgp.as_ref()).collect();
    let established = sessions.iter().filter(|b| b.state == "Established").count();
    let mut line = format!("{up}/{} tunnels up", s.tunnels.len());
    if !sessions.is_empty() {
        line.push_str(&format!(
            ", {established}/{} BGP established",
            sessions.len()
        ));
    }
    line
}

/// The watchdog interval systemd asked for, if any (sd_watchdog_enabled).
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Some(pid) = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
    {
        if pid != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Runs until aborted.
pub async fn run(board: Board) {
    let watchdog = watchdog_interval();
    let every = watchdog.map_or(Duration::from_secs(1), |w| {
        (w / 2).min(Duration::from_secs(1))
    });
    let mut tick = tokio::time::interval(every);
    let mut last = String::new();
    loop {
        tick.tick().await;
        let (line, alive) = {
            let s = board.lock().unwrap_or_else(|p| p.into_inner());
            let alive = s.control_pass.is_some_and(|t| t.elapsed() < STUCK);
            (summary(&s), alive)
        };
        if line != last {
            notify(&format!("STATUS={line}"));
            last = line;
        }
        if watchdog.is_some() {
            if alive {
                notify("WATCHDOG=1");
            } else {
                tracing::error!(
                    "the control plane has not run for {STUCK:?}; withholding the watchdog"
                );
            }
        }
    }
}
