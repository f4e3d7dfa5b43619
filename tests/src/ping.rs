//! Reachability checks with `ping` from inside a namespace.

use std::process::Output;
use std::time::Duration;

use crate::netns::Netns;
use crate::poll::poll_until;

/// Runs `ping -c count -W 1 -i 0.2 [-I src] dst`, killing it if it
/// outlives its expected run by 10 s. `None` on timeout.
fn run_ping(ns: &Netns, src: Option<&str>, dst: &str, count: u32) -> Option<Output> {
    let count_s = count.to_string();
    let family = if dst.contains(':') { "-6" } else { "-4" };
    let limit = Duration::from_millis(u64::from(count) * 200 + 11_000);
    let mut argv = vec![
        "ping", family, "-n", "-q", "-c", &count_s, "-W", "1", "-i", "0.2",
    ];
    if let Some(src) = src {
        argv.extend(["-I", src]);
    }
    argv.push(dst);
    ns.exec_timeout(&argv, limit).ok()
}

/// Pings `dst` (IPv4 or IPv6) `count` times from `ns`; `true` if at least
/// one reply came back.
pub fn ping(ns: &Netns, dst: &str, count: u32) -> bool {
    run_ping(ns, None, dst, count.max(1)).is_some_and(|out| out.status.success())
}

/// Like [`ping`] but `true` only if every one of the `count` echo requests
/// was answered.
pub fn ping_all(ns: &Netns, dst: &str, count: u32) -> bool {
    let count = count.max(1);
    run_ping(ns, None, dst, count).is_some_and(|out| {
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains(&format!(" {count} received"))
    })
}

/// Like [`ping`] but from source address `src` (`ping -I src`), e.g. an
/// address on a TUN, so the reply must come back to it.
pub fn ping_from(ns: &Netns, src: &str, dst: &str, count: u32) -> bool {
    run_ping(ns, Some(src), dst, count.max(1)).is_some_and(|out| out.status.success())
}

/// Polls with single pings until `dst` answers from `ns`.
///
/// # Panics
/// If no reply arrives within `timeout`; the message shows the route used.
pub fn wait_ping(ns: &Netns, dst: &str, timeout: Duration) {
    if poll_until(timeout, || ping(ns, dst, 1).then_some(())).is_none() {
        let route = ns.exec(&["ip", "route", "get", dst]);
        panic!(
            "timed out after {timeout:?} waiting for {dst} to answer ping from {}; route: {}{}",
            ns.name(),
            String::from_utf8_lossy(&route.stdout),
            String::from_utf8_lossy(&route.stderr)
        );
    }
}
