//! A real BIRD 2 BGP speaker inside a test namespace, standing in for the
//! Azure VPN gateway's BGP side (AS 65515) or for an on-premises router.
//!
//! One `bird -f` runs per instance as a foreground child of the test (killed
//! by PID when dropped), with a config generated from [`BirdOptions`], its
//! own control socket, pidfile and log file in a scratch directory. It is
//! driven with `birdc -s <socket>`; a unix socket is a path, so `birdc` runs
//! in the root namespace and needs no `ip netns exec`.
//!
//! ```no_run
//! use netns::bird::{Bird, BirdOptions, BgpNeighbor};
//! use netns::{scratch_dir, veth_pair, Netns};
//! use std::time::Duration;
//!
//! let dir = scratch_dir();
//! let hub = Netns::new("bird_hub");
//! let site = Netns::new("bird_site");
//! veth_pair(&hub, "ul0", "192.0.2.1/24", &site, "ul0", "192.0.2.2/24");
//! hub.add_addr("ul0", "fd00:2::1/64"); // IPv6 next hop for the ipv6 channel
//! site.add_addr("ul0", "fd00:2::2/64");
//!
//! let mut h = BirdOptions::new("192.0.2.1");
//! h.neighbors.push(BgpNeighbor::new("site", "192.0.2.2", 65010));
//! h.static4 = vec!["10.51.0.0/16".into()];
//! let hub_bird = Bird::start(&hub, h, &dir.join("hub"));
//!
//! let mut s = BirdOptions::new("192.0.2.2");
//! s.local_as = 65010;
//! s.neighbors.push(BgpNeighbor::new("hub", "192.0.2.1", 65515));
//! let site_bird = Bird::start(&site, s, &dir.join("site"));
//!
//! site_bird.wait_established("hub", Duration::from_secs(30));
//! let routes = site_bird.wait_routes("hub", "the hub prefix", Duration::from_secs(10), |r| {
//!     r.iter().any(|r| r.prefix == "10.51.0.0/16")
//! });
//! assert_eq!(routes[0].as_path, [65515]);
//! ```
//!
//! # Behaviour of BIRD 2.0.12 (Debian 12, measured here)
//!
//! * **Session start.** A BGP protocol waits `connect delay time` (BIRD's
//!   default 5 s) before its first connect and `connect retry time` (default
//!   120 s) between attempts; after an error it stays down for `error wait
//!   time` (default 60-300 s). The harness defaults to 1 s / 5 s / 1-10 s
//!   ([`BgpNeighbor::new`]) so sessions come up in about a second.
//! * **eBGP needs explicit filters** (RFC 8212): the generated channels say
//!   `import all` and export only the static routes.
//! * **Next hops.** The `ipv6` channel over an IPv4 session uses the IPv6
//!   address of the interface towards the neighbor as next hop (plus its
//!   link-local, a 32-byte next hop). Without an IPv6 address there the
//!   channel logs "Missing next hop address" and sends no IPv6 routes; set
//!   [`BgpNeighbor::ipv6_next_hop`] for multihop sessions. A received route
//!   whose next hop is not directly connected is dropped ("Invalid NEXT_HOP")
//!   on a direct session. On a multihop session next hops resolve
//!   recursively through BIRD's own table, which holds no kernel routes
//!   (there is no `protocol kernel`): routes are imported but shown as
//!   `unreachable` unless the next hop is on a connected subnet.
//! * **Capabilities sent by default**: multiprotocol (per channel), route
//!   refresh, graceful restart (aware, restart time 120), 4-octet AS,
//!   enhanced route refresh (always on, no option in 2.0.12), long-lived GR
//!   (aware). `enable extended messages` and `advertise hostname` are
//!   opt-in ([`BgpNeighbor::extended_messages`], [`BirdOptions::hostname`]).
//! * **TCP-MD5** (`password`) works with this kernel.
//! * Timing (2 vCPUs, measured by the self-test): the control socket answers
//!   ~80 ms after spawn; a session is Established ~1 s after both started
//!   (the 1 s connect delay); a static reconfigure reaches the peer in ~100
//!   ms; 11,000 prefixes arrive in ~0.7 s; SIGTERM exit takes ~25 ms and the
//!   peer withdraws ~75 ms later; a SIGKILLed peer is noticed at once
//!   ("Socket: Connection closed"), as the kernel closes the connection.
//! * `birdc configure` answers "Reconfigured" once done. Changing a static
//!   protocol only updates its routes; changing a BGP protocol restarts
//!   that session. `disable` sends a NOTIFICATION Cease/Administrative
//!   Shutdown; SIGTERM shuts every protocol down the same way and exits.
//! * BIRD logs protocol state changes only with `debug protocols`; the
//!   generated config enables `states, events` (plus `packets` with
//!   [`BirdOptions::debug_packets`]) into `bird.log`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub use crate::bird_config::{
    ipv4_prefixes, ipv6_prefixes, BgpNeighbor, BirdOptions, STATIC4, STATIC6,
};
pub use crate::bird_output::{
    parse_protocol, parse_route_count, parse_routes, ProtocolInfo, Route,
};
use crate::netns::Netns;
use crate::poll::poll_until;
use crate::process::{describe_output, pid_alive, run_with_timeout, ChildGuard};
use crate::scratch::daemon_dir;

/// Azure VPN gateway's BGP AS, the default [`BirdOptions::local_as`].
pub const AZURE_AS: u32 = 65515;

/// How long [`Bird::start`] waits for the control socket to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Time limit of one `birdc` invocation.
pub const BIRDC_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `bird -f` in a namespace.
///
/// Dropping it stops BIRD (SIGTERM by PID, so it sends Cease to its peers;
/// SIGKILL after 5 s). It may outlive its [`Netns`] (which kills it first).
#[derive(Debug)]
pub struct Bird {
    guard: ChildGuard,
    ns_name: String,
    opts: BirdOptions,
    dir: PathBuf,
    ctl: PathBuf,
    ready_after: Duration,
}

impl Bird {
    /// Writes `bird.conf` into `scratch` (created if missing; give each
    /// instance its own directory), spawns `bird -f -c bird.conf -s bird.ctl
    /// -P bird.pid` in `ns` and waits until `birdc show status` answers.
    ///
    /// Files in `scratch`: `bird.conf`, `bird.log` ([`Bird::log`]),
    /// `bird.stdout.log`, `bird.ctl`, `bird.pid`.
    ///
    /// # Panics
    /// On invalid options, or if BIRD exits (e.g. a config error) or does
    /// not answer within [`READY_TIMEOUT`]; the message holds its logs.
    pub fn start(ns: &Netns, opts: BirdOptions, scratch: &Path) -> Bird {
        opts.validate();
        let (dir, ctl) = daemon_dir(scratch, "bird.ctl");
        let conf = dir.join("bird.conf");
        let log = dir.join("bird.log");
        let _ = std::fs::remove_file(&log);
        write(&conf, &opts.config(&log));
        let path = |p: &Path| p.to_str().expect("scratch path must be UTF-8").to_string();
        let args = [
            "-f".to_string(),
            "-c".into(),
            path(&conf),
            "-s".into(),
            path(&ctl),
            "-P".into(),
            path(&dir.join("bird.pid")),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let spawned = Instant::now();
        let guard = ns.spawn("bird", &args, dir.join("bird.stdout.log"));
        let mut bird = Bird {
            guard,
            ns_name: ns.name().to_string(),
            opts,
            dir,
            ctl,
            ready_after: Duration::ZERO,
        };
        let ready = poll_until(READY_TIMEOUT, || {
            if !bird.guard.is_running() {
                return Some(false);
            }
            let out = bird.try_birdc(&["show", "status"], Duration::from_secs(5))?;
            String::from_utf8_lossy(&out.stdout)
                .contains("Daemon is up and running")
                .then_some(true)
        });
        match ready {
            Some(true) => {}
            Some(false) => panic!(
                "bird in {} exited during startup ({:?}):\n{}",
                bird.ns_name,
                bird.guard.try_wait(),
                bird.diagnostics()
            ),
            None => panic!(
                "bird in {} did not answer on {} within {READY_TIMEOUT:?}:\n{}",
                bird.ns_name,
                bird.ctl.display(),
                bird.diagnostics()
            ),
        }
        bird.ready_after = spawned.elapsed();
        tracing::debug!(netns = %bird.ns_name, pid = bird.pid(), "BIRD started");
        bird
    }

    /// PID of `bird`.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// The options currently configured.
    pub fn options(&self) -> &BirdOptions {
        &self.opts
    }

    /// Directory holding the config, logs and control socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The control socket (for `birdc -s`).
    pub fn ctl_socket(&self) -> &Path {
        &self.ctl
    }

    /// Name of the namespace BIRD runs in.
    pub fn netns_name(&self) -> &str {
        &self.ns_name
    }

    /// Time from spawning until the control socket answered.
    pub fn startup_time(&self) -> Duration {
        self.ready_after
    }

    /// `true` while BIRD is alive.
    pub fn is_running(&self) -> bool {
        pid_alive(self.pid())
    }

    fn try_birdc(&self, args: &[&str], timeout: Duration) -> Option<Output> {
        let mut cmd = Command::new("birdc");
        cmd.arg("-s").arg(&self.ctl).args(args);
        run_with_timeout(&mut cmd, timeout).ok()
    }

    /// Runs `birdc -s <ctl> <args>` and returns its stdout (birdc exits 0
    /// even when BIRD answers with an error).
    ///
    /// # Panics
    /// If birdc fails to connect or runs longer than [`BIRDC_TIMEOUT`].
    pub fn birdc(&self, args: &[&str]) -> String {
        let out = self.try_birdc(args, BIRDC_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "birdc {args:?} ({}) did not finish within {BIRDC_TIMEOUT:?}\n{}",
                self.ns_name,
                self.diagnostics()
            )
        });
        assert!(
            out.status.success(),
            "birdc {args:?} failed: {}\n{}",
            describe_output(&out),
            self.diagnostics()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `show protocols all <name>`, parsed; `None` if there is no such
    /// protocol or BIRD does not answer.
    pub fn protocol(&self, name: &str) -> Option<ProtocolInfo> {
        let out = self.try_birdc(&["show", "protocols", "all", name], Duration::from_secs(10))?;
        parse_protocol(&String::from_utf8_lossy(&out.stdout))
    }

    /// Polls `show protocols all <name>` until the BGP session is
    /// Established, and returns it.
    ///
    /// # Panics
    /// On timeout or if BIRD dies; the message holds the protocol state and
    /// the log tail.
    pub fn wait_established(&self, name: &str, timeout: Duration) -> ProtocolInfo {
        self.wait_protocol(name, "Established", timeout, ProtocolInfo::established)
    }

    /// Polls until protocol `name` satisfies `f`; `what` names the wait.
    ///
    /// # Panics
    /// On timeout or if BIRD dies.
    pub fn wait_protocol(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&ProtocolInfo) -> bool,
    ) -> ProtocolInfo {
        let what = format!("protocol {name} {what}");
        self.wait(&what, timeout, || self.protocol(name).filter(|p| f(p)))
    }

    /// Routes learned by protocol `name`, from both tables
    /// (`show route all protocol <name>`).
    pub fn routes(&self, name: &str) -> Vec<Route> {
        parse_routes(&self.birdc(&["show", "route", "all", "protocol", name]))
    }

    /// Number of routes of protocol `name` in all tables
    /// (`show route count protocol <name>`; cheap for large tables).
    pub fn route_count(&self, name: &str) -> usize {
        parse_route_count(&self.birdc(&["show", "route", "count", "protocol", name]))
    }

    /// Polls [`Bird::routes`] until `f` accepts them, and returns them.
    ///
    /// # Panics
    /// On timeout or if BIRD dies; `what` names the wait.
    pub fn wait_routes(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&[Route]) -> bool,
    ) -> Vec<Route> {
        let what = format!("routes of {name}: {what}");
        self.wait(&what, timeout, || {
            let out = self.try_birdc(
                &["show", "route", "all", "protocol", name],
                Duration::from_secs(20),
            )?;
            let routes = parse_routes(&String::from_utf8_lossy(&out.stdout));
            f(&routes).then_some(routes)
        })
    }

    /// Polls [`Bird::route_count`] until it equals `count`.
    ///
    /// # Panics
    /// On timeout or if BIRD dies.
    pub fn wait_route_count(&self, name: &str, count: usize, timeout: Duration) {
        let what = format!("{count} routes from {name}");
        self.wait(&what, timeout, || {
            let out = self.try_birdc(
                &["show", "route", "count", "protocol", name],
                Duration::from_secs(10),
            )?;
            (parse_route_count(&String::from_utf8_lossy(&out.stdout)) == count).then_some(())
        });
    }

    fn wait<T>(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let mut dead = false;
        let found = poll_until(timeout, || {
            if !self.is_running() {
                dead = true;
                return None;
            }
            f()
        });
        match found {
            Some(v) => v,
            None if dead => panic!(
                "bird in {} died while waiting for {what}\n{}",
                self.ns_name,
                self.diagnostics()
            ),
            None => panic!(
                "timed out after {timeout:?} waiting for {what} in {}\n{}",
                self.ns_name,
                self.diagnostics()
            ),
        }
    }

    /// Rewrites `bird.conf` from `opts` and runs `birdc configure`; returns
    /// once BIRD answered "Reconfigured". Static routes added or removed
    /// are announced or withdrawn; a changed BGP block restarts its session.
    ///
    /// # Panics
    /// On invalid options or if BIRD rejects the config (the old one stays
    /// active then).
    pub fn reconfigure(&mut self, opts: BirdOptions) {
        opts.validate();
        let log = self.dir.join("bird.log");
        write(&self.dir.join("bird.conf"), &opts.config(&log));
        let out = self.birdc(&["configure"]);
        assert!(
            out.contains("Reconfigured") || out.contains("Reconfiguration in progress"),
            "birdc configure in {} failed:\n{out}\n{}",
            self.ns_name,
            self.diagnostics()
        );
        self.opts = opts;
    }

    /// `birdc disable <name>`: the session is shut down with a NOTIFICATION
    /// Cease (Administrative Shutdown).
    pub fn disable(&self, name: &str) {
        self.protocol_cmd("disable", name, &["disabled"]);
    }

    /// `birdc enable <name>`.
    pub fn enable(&self, name: &str) {
        self.protocol_cmd("enable", name, &["enabled"]);
    }

    /// `birdc reload in <name>`: asks the peer for a ROUTE-REFRESH.
    pub fn reload_in(&self, name: &str) {
        self.protocol_cmd_args(&["reload", "in", name], name, &["reloading"]);
    }

    /// `birdc restart <name>`: drops and re-opens the session.
    pub fn restart(&self, name: &str) {
        self.protocol_cmd("restart", name, &["restarted"]);
    }

    fn protocol_cmd(&self, cmd: &str, name: &str, ok: &[&str]) {
        self.protocol_cmd_args(&[cmd, name], name, ok);
    }

    fn protocol_cmd_args(&self, args: &[&str], name: &str, ok: &[&str]) {
        let out = self.birdc(args);
        assert!(
            ok.iter()
                .chain(&["already"])
                .any(|w| out.contains(&format!("{name}: {w}"))),
            "birdc {args:?} in {}:\n{out}",
            self.ns_name
        );
    }

    /// Graceful stop by PID: SIGTERM (BIRD sends Cease to every peer and
    /// exits), wait up to 10 s. Returns how long it took, or `None` if it
    /// had to be SIGKILLed.
    pub fn stop(&mut self) -> Option<Duration> {
        let t = Instant::now();
        self.guard
            .terminate_and_wait(Duration::from_secs(10))
            .map(|_| t.elapsed())
    }

    /// SIGKILL by PID and reap: peers see the TCP connection close without
    /// a NOTIFICATION.
    pub fn kill(&mut self) {
        self.guard.signal(libc::SIGKILL);
        if self.guard.wait_timeout(Duration::from_secs(5)).is_none() {
            panic!("bird (pid {}) survived SIGKILL for 5 s", self.pid());
        }
    }

    /// Path of `bird.log`.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("bird.log")
    }

    /// Current contents of `bird.log`.
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Protocol states, stdout/stderr and the tail of the log, for panic
    /// messages.
    pub fn diagnostics(&self) -> String {
        let protocols = if self.is_running() {
            self.try_birdc(&["show", "protocols", "all"], Duration::from_secs(5))
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_else(|| "<birdc timed out>".into())
        } else {
            "<bird not running>".into()
        };
        let log = self.log();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "--- birdc show protocols all:\n{protocols}\n--- stdout/stderr ({}):\n{}\n\
             --- last lines of {}:\n{}",
            self.guard.log_path().display(),
            self.guard.log(),
            self.log_path().display(),
            tail.join("\n")
        )
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const ROUTES: &str = "BIRD 2.0.12 ready.
Table master4:
10.52.0.0/16         unicast [peer1 03:45:08.621] * (100) [AS65515i]
\tvia 192.0.2.1 on ul0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 65515 65515 65515
\tBGP.next_hop: 192.0.2.1
\tBGP.local_pref: 100
                     unicast [peer2 03:45:09.000] (100) [AS65020?]
\tvia 192.0.2.3 on ul0
\tBGP.origin: Incomplete
\tBGP.as_path: 65020 {65030 65031}
\tBGP.next_hop: 192.0.2.3
\tBGP.med: 7

Table master6:
fd51::/48            unicast [peer1 03:45:08.621 from 192.0.2.1] * (100) [AS65515i]
\tvia fd00:2::1 on ul0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 65515
\tBGP.next_hop: fd00:2::1 fe80::8ca5:b7ff:fe06:5ec6
\tBGP.local_pref: 100
";

    #[test]
    fn parses_routes_of_both_tables() {
        let r = parse_routes(ROUTES);
        assert_eq!(r.len(), 3, "{r:#?}");
        assert_eq!(r[0].table, "master4");
        assert_eq!(r[0].prefix, "10.52.0.0/16");
        assert_eq!(r[0].protocol, "peer1");
        assert!(r[0].primary);
        assert_eq!(r[0].as_path, [65515, 65515, 65515]);
        assert_eq!(r[0].next_hop, ["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(r[0].iface.as_deref(), Some("ul0"));
        assert_eq!(r[0].local_pref, Some(100));
        assert_eq!(r[1].prefix, "10.52.0.0/16");
        assert_eq!(r[1].protocol, "peer2");
        assert!(!r[1].primary);
        assert_eq!(r[1].as_path, [65020, 65030, 65031]);
        assert_eq!(r[1].med, Some(7));
        assert_eq!(r[2].table, "master6");
        assert!(r[2].is_ipv6());
        assert_eq!(r[2].from, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(r[2].next_hop.len(), 2);
        assert_eq!(r[2].via, Some("fd00:2::1".parse().unwrap()));
    }

    #[test]
    fn parses_protocol() {
        let text = "BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
peer1      BGP        ---        up     03:45:08.577  Established   
  BGP state:          Established
    Neighbor address: 192.0.2.2
    Neighbor AS:      65010
    Local AS:         65515
    Neighbor ID:      192.0.2.2
    Local capabilities
      Multiprotocol
        AF announced: ipv4 ipv6
      Route refresh
      4-octet AS numbers
    Neighbor capabilities
      Multiprotocol
        AF announced: ipv4 ipv6
      Route refresh
    Session:          external AS4
    Hold timer:       160.533/180
    Keepalive timer:  51.720/60
  Channel ipv4
    State:          UP
";
        let p = parse_protocol(text).unwrap();
        assert_eq!((p.name.as_str(), p.proto.as_str()), ("peer1", "BGP"));
        assert_eq!(p.state, "up");
        assert_eq!(p.info, "Established");
        assert!(p.established());
        assert_eq!(p.neighbor_as, Some(65010));
        assert_eq!(p.neighbor_id.as_deref(), Some("192.0.2.2"));
        assert_eq!((p.hold_time, p.keepalive_time), (Some(180), Some(60)));
        assert_eq!(
            p.local_caps,
            ["Multiprotocol", "Route refresh", "4-octet AS numbers"]
        );
        assert_eq!(p.neighbor_caps, ["Multiprotocol", "Route refresh"]);
        let down = "Name       Proto      Table      State  Since         Info
peer1      BGP        ---        start  03:45:12.749  Passive       Received: Administrative shutdown
  BGP state:          Passive
    Last error:       Received: Administrative shutdown
";
        let p = parse_protocol(down).unwrap();
        assert_eq!(p.info, "Passive Received: Administrative shutdown");
        assert!(!p.established());
        assert_eq!(
            p.last_error.as_deref(),
            Some("Received: Administrative shutdown")
        );
        assert!(parse_protocol("BIRD 2.0.12 ready.\nsyntax error\n").is_none());
    }

    #[test]
    fn route_count() {
        let text = "BIRD 2.0.12 ready.
1 of 3 routes for 3 networks in table master4
1 of 2 routes for 2 networks in table master6
Total: 2 of 5 routes for 5 networks in 2 tables
";
        assert_eq!(parse_route_count(text), 2);
    }

    #[test]
    fn prefix_generators() {
        assert_eq!(
            ipv4_prefixes("10.128.0.0", 24, 3),
            ["10.128.0.0/24", "10.128.1.0/24", "10.128.2.0/24"]
        );
        let many = ipv4_prefixes("10.128.0.0", 24, 10_000);
        assert_eq!(many.last().unwrap(), "10.167.15.0/24");
        assert_eq!(
            ipv6_prefixes("fd51::", 64, 2),
            ["fd51::/64", "fd51:0:0:1::/64"]
        );
        assert!(ipv6_prefixes("fd51::", 64, 0).is_empty());
    }

    #[test]
    #[should_panic(expected = "overflow")]
    fn prefix_overflow() {
        ipv4_prefixes("255.255.255.0", 24, 2);
    }

    #[test]
    fn config_has_the_essentials() {
        let mut o = BirdOptions::new("192.0.2.1");
        let mut n = BgpNeighbor::new("site", "192.0.2.2", 65010);
        n.passive = true;
        n.multihop = Some(4);
        n.password = Some("pw".into());
        n.export_prepend = 2;
        n.ipv6_next_hop = Some("fd00::1".into());
        o.neighbors.push(n);
        o.static4 = vec!["10.51.0.0/16".into()];
        o.static6 = vec!["fd51::/48".into()];
        o.validate();
        let c = o.config(Path::new("/tmp/x/bird.log"));
        for want in [
            "router id 192.0.2.1;",
            "log \"/tmp/x/bird.log\" all;",
            "route 10.51.0.0/16 blackhole;",
            "route fd51::/48 blackhole;",
            "protocol bgp site {",
            "local as 65515;",
            "neighbor 192.0.2.2 as 65010;",
            "passive on;",
            "multihop 4;",
            "hold time 180;",
            "keepalive time 60;",
            "password \"pw\";",
            "enable route refresh on;",
            "bgp_path.prepend(65515); bgp_path.prepend(65515); accept;",
            "next hop address fd00::1;",
        ] {
            assert!(c.contains(want), "missing {want:?} in:\n{c}");
        }
    }
}
