//! A real strongSwan (charon) inside a test namespace, standing in for the
//! Azure hub gateway (or any other IKEv2 peer of vwand).
//!
//! The kernel here has no ESP, so charon runs with the **kernel-libipsec**
//! plugin: ESP is done in userspace and inner packets go through a TUN
//! device, `ipsec0` (MTU 1400, fixed in 5.9.8). One `charon-systemd` runs
//! per namespace, configured through `STRONGSWAN_CONF` pointing at a private
//! `strongswan.conf` (plugin list, log file, vici socket) and driven with
//! `swanctl --uri unix://<dir>/charon.vici`.
//!
//! ```no_run
//! use netns::strongswan::{HubOptions, StartAction, StrongswanHub};
//! use netns::{scratch_dir, veth_pair, Netns};
//! use std::time::Duration;
//!
//! let dir = scratch_dir();
//! let site = Netns::new("ss_site");
//! let hub = Netns::new("ss_hub");
//! veth_pair(&site, "ul0", "192.0.2.1/24", &hub, "ul0", "192.0.2.2/24");
//!
//! let mut h = HubOptions::new("192.0.2.2", "192.0.2.1", "not-secret");
//! h.local_ts = vec!["10.51.0.0/16".into()];
//! h.remote_ts = vec!["10.1.0.0/16".into()];
//! h.vnet_address = Some("10.51.0.1".into());
//! let hub_gw = StrongswanHub::start(&hub, h, &dir.join("hub"));
//!
//! let mut s = HubOptions::new("192.0.2.1", "192.0.2.2", "not-secret");
//! s.local_ts = vec!["10.1.0.0/16".into()];
//! s.remote_ts = vec!["10.51.0.0/16".into()];
//! s.vnet_address = Some("10.1.0.1".into());
//! s.start_action = StartAction::Start;
//! let site_gw = StrongswanHub::start(&site, s, &dir.join("site"));
//!
//! let sa = hub_gw.wait_established(Duration::from_secs(30));
//! assert_eq!(sa.children[0].encr_alg, "AES_GCM_16");
//! site_gw.wait_established(Duration::from_secs(30));
//! ```
//!
//! # Behaviour of strongSwan 5.9.8 with kernel-libipsec (measured here)
//!
//! * **Always NAT-T.** kernel-libipsec requires UDP encapsulation, so charon
//!   fakes its NAT-D payloads and "detects a NAT" on every SA (`nat-remote`,
//!   `nat-any` are `yes` in `--list-sas`). Consequences for a peer:
//!   IKE_SA_INIT runs on UDP 500, but IKE_AUTH and everything after it
//!   **float to UDP 4500** (RFC 7296 NAT-T port floating, independent of
//!   MOBIKE), and ESP is always ESP-in-UDP on 4500 (`encap = yes` in
//!   `--list-sas`), whatever [`HubOptions::encap`] says. `mobike = no` (the
//!   default here) only stops MOBIKE itself.
//! * **Routes, not policies.** There are no XFRM states or policies. For each
//!   CHILD_SA charon adds `ip rule` `220: from all lookup 220` and, in table
//!   220, `<remote_ts> dev ipsec0 proto static src <local address inside
//!   local_ts>`. Without an address inside the local traffic selector the
//!   CHILD_SA fails ("no local address found in traffic selector"), hence
//!   [`HubOptions::vnet_address`], which is put on `lo`.
//!   With the default selectors `0.0.0.0/0` both ways, table 220 instead
//!   gets `default dev ipsec0` plus an exclude route `throw <peer outer>`,
//!   so IKE/ESP to the peer still leaves through the underlay.
//! * **`start_action = trap` does not work** with kernel-libipsec 5.9.8: the
//!   CHILD_SA is `ROUTED` and the route is in table 220, but libipsec raises
//!   no acquire; packets are dropped ("could not find an outbound IPsec SA
//!   for reqid") until the SA is initiated explicitly.
//! * kernel-libipsec must come before kernel-netlink in the `load` list so
//!   it is the IPsec backend; kernel-netlink still handles addresses/routes.
//!   No XFRM states/policies appear (`ip xfrm state` stays empty).
//! * Timing (2 vCPUs, measured by the self-test): vici answers ~55-65 ms
//!   after spawn, [`StrongswanHub::start`] returns after ~120-180 ms; IKE_SA +
//!   CHILD_SA establish ~50-85 ms after the initiator's config load; SIGTERM
//!   exit (with DELETEs sent) takes < 30 ms. DPD with `dpd_delay = 1s` and
//!   `retransmit_timeout = 0.5, retransmit_base = 1.4, retransmit_tries = 2`
//!   clears a killed peer's SA after ~3 s (with the default retransmit
//!   settings it would take ~165 s).
//! * The hub's `remote_addrs = %any` works as a responder; its PSK secret is
//!   then written with only the local ID, which matches any peer ID.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::netns::Netns;
use crate::poll::poll_until;
use crate::process::{describe_output, pid_alive, run_with_timeout, ChildGuard};
use crate::scratch::daemon_dir;

/// How long [`StrongswanHub::start`] waits for charon's vici socket.
pub const VICI_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Time limit of one `swanctl` invocation (beyond its own `--timeout`).
pub const SWANCTL_TIMEOUT: Duration = Duration::from_secs(30);

/// `--timeout` (seconds) given to `swanctl --initiate` / `--terminate`.
pub const INITIATE_TIMEOUT_SECS: u64 = 15;

/// Plugins loaded by every instance. PSK auth plus AES-CBC/GCM, SHA1/SHA2,
/// MODP (incl. modp1024), ECP and x25519 proposals work with this list.
pub const PLUGINS: &str = "random nonce openssl aes sha1 sha2 hmac gcm curve25519 gmp \
                           pem pkcs1 x509 pubkey kdf kernel-libipsec kernel-netlink \
                           socket-default vici";

/// Name of kernel-libipsec's TUN device (in the instance's namespace).
pub const LIBIPSEC_TUN: &str = "ipsec0";

/// Routing table charon installs its routes into.
pub const ROUTE_TABLE: u32 = 220;

mod options;
mod sas;

use options::vnet_cidr;
pub use options::{Fragmentation, HubOptions, PeerAction, StartAction};
pub use sas::{parse_list_sas, parse_vici_pretty, ChildInfo, IkeSaInfo, ViciNode};

/// A running `charon-systemd` (strongSwan 5.9.8, kernel-libipsec) in a
/// namespace, with its connection loaded.
///
/// Dropping it stops charon (SIGTERM by PID, SIGKILL after 5 s). It may
/// outlive its [`Netns`] (which kills it first), but drop it before the
/// namespace to shut down gracefully.
#[derive(Debug)]
pub struct StrongswanHub {
    guard: ChildGuard,
    ns_name: String,
    opts: HubOptions,
    dir: PathBuf,
    uri: String,
    vici_ready_after: Duration,
}

impl StrongswanHub {
    /// Writes `strongswan.conf` and `swanctl.conf` into `scratch` (created if
    /// missing; give each instance its own directory), adds
    /// [`HubOptions::vnet_address`] to `lo`, spawns `charon-systemd` with
    /// `STRONGSWAN_CONF`, waits until `swanctl --stats` answers on its private
    /// vici socket, and loads the config with `swanctl --load-all`. With
    /// [`StartAction::Start`] charon starts initiating right away.
    ///
    /// Files in `scratch`: `strongswan.conf`, `swanctl.conf`, `charon.log`
    /// (see [`StrongswanHub::log`]), `charon.stdout.log`, `charon.vici`.
    ///
    /// # Panics
    /// On invalid options, if charon exits or is not ready within
    /// [`VICI_READY_TIMEOUT`], or if loading the config fails; the message
    /// includes charon's log.
    pub fn start(ns: &Netns, opts: HubOptions, scratch: &Path) -> StrongswanHub {
        opts.validate();
        let (dir, vici) = daemon_dir(scratch, "charon.vici");
        let conf = dir.join("strongswan.conf");
        let swanctl = dir.join("swanctl.conf");
        write(&conf, &opts.strongswan_conf(&dir));
        write(&swanctl, &opts.swanctl_conf());
        // Old log from a previous instance in the same dir would confuse log().
        let _ = std::fs::remove_file(dir.join("charon.log"));

        if let Some(vnet) = &opts.vnet_address {
            // `replace`: a restarted instance finds the address already there.
            ns.ip(&["addr", "replace", &vnet_cidr(vnet), "dev", "lo"]);
        }

        let mut cmd = ns.command("charon-systemd");
        cmd.env("STRONGSWAN_CONF", &conf);
        // Never talk to a systemd that happens to supervise the test run.
        for var in ["NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC"] {
            cmd.env_remove(var);
        }
        let spawned = Instant::now();
        let guard = ChildGuard::spawn(
            &format!("charon-systemd in {}", ns.name()),
            cmd,
            dir.join("charon.stdout.log"),
        );
        let mut hub = StrongswanHub {
            guard,
            ns_name: ns.name().to_string(),
            opts,
            uri: format!("unix://{}", vici.display()),
            dir,
            vici_ready_after: Duration::ZERO,
        };

        let ready = poll_until(VICI_READY_TIMEOUT, || {
            if !hub.guard.is_running() {
                return Some(false);
            }
            let out = hub.try_swanctl(&["--stats"], Duration::from_secs(5))?;
            out.status.success().then_some(true)
        });
        match ready {
            Some(true) => {}
            Some(false) => panic!(
                "charon-systemd in {} exited during startup ({:?}):\n{}",
                hub.ns_name,
                hub.guard.try_wait(),
                hub.diagnostics()
            ),
            None => panic!(
                "charon-systemd in {} did not answer on {} within {VICI_READY_TIMEOUT:?}:\n{}",
                hub.ns_name,
                hub.uri,
                hub.diagnostics()
            ),
        }
        hub.vici_ready_after = spawned.elapsed();

        let swanctl_s = swanctl
            .to_str()
            .expect("scratch path must be UTF-8")
            .to_string();
        let out = hub.swanctl(&["--load-all", "--file", &swanctl_s]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("successfully loaded 1 connections"),
            "swanctl --load-all failed in {}: {}\n{}",
            hub.ns_name,
            describe_output(&out),
            hub.diagnostics()
        );
        tracing::debug!(
            netns = %hub.ns_name,
            pid = hub.pid(),
            vici_ready_ms = hub.vici_ready_after.as_millis() as u64,
            "strongSwan started"
        );
        hub
    }

    /// PID of charon-systemd.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Name of the namespace charon runs in.
    pub fn netns_name(&self) -> &str {
        &self.ns_name
    }

    /// The options it was started with.
    pub fn options(&self) -> &HubOptions {
        &self.opts
    }

    /// Directory holding its config, log and vici socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The vici URI (`unix:///.../charon.vici`) for `swanctl --uri`.
    pub fn vici_uri(&self) -> &str {
        &self.uri
    }

    /// Time from spawning charon-systemd until its vici socket answered.
    pub fn startup_time(&self) -> Duration {
        self.vici_ready_after
    }

    /// `true` while charon is alive.
    pub fn is_running(&self) -> bool {
        pid_alive(self.pid())
    }

    /// Runs `swanctl <args> --uri <vici>` inside the namespace (the command
    /// option must come first in `args`); `None` if it exceeded `timeout`.
    fn try_swanctl(&self, args: &[&str], timeout: Duration) -> Option<Output> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns_name, "swanctl"])
            .args(args)
            .args(["--uri", &self.uri]);
        run_with_timeout(&mut cmd, timeout).ok()
    }

    /// Runs `swanctl <args> --uri <vici>` inside the namespace and returns its
    /// output whatever the exit status. `args` must start with the command
    /// option (e.g. `["--list-conns"]`); swanctl refuses `--uri` first.
    ///
    /// # Panics
    /// If swanctl runs longer than [`SWANCTL_TIMEOUT`].
    pub fn swanctl(&self, args: &[&str]) -> Output {
        self.try_swanctl(args, SWANCTL_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "swanctl {args:?} in {} did not finish within {SWANCTL_TIMEOUT:?}\n{}",
                self.ns_name,
                self.diagnostics()
            )
        })
    }

    /// `swanctl --initiate --child <child>`; returns swanctl's output (the
    /// IKE log of the exchange) once the CHILD_SA is up.
    ///
    /// # Panics
    /// If the initiation fails or times out ([`INITIATE_TIMEOUT_SECS`]).
    pub fn initiate(&self, child: &str) -> String {
        self.try_initiate(child).unwrap_or_else(|e| {
            panic!(
                "swanctl --initiate --child {child} in {} failed: {e}\n{}",
                self.ns_name,
                self.diagnostics()
            )
        })
    }

    /// Like [`StrongswanHub::initiate`] but returns the failure instead of
    /// panicking (for negative tests: wrong PSK, no proposal chosen, ...).
    pub fn try_initiate(&self, child: &str) -> Result<String, String> {
        let t = INITIATE_TIMEOUT_SECS.to_string();
        let out = self.swanctl(&["--initiate", "--child", child, "--timeout", &t]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.contains("initiate completed successfully") {
            Ok(text)
        } else {
            Err(describe_output(&out))
        }
    }

    /// `swanctl --terminate --ike <conn_name>` (sends a DELETE to the peer).
    /// Returns `false` if swanctl failed (e.g. there was no such IKE_SA).
    pub fn terminate_ike(&self) -> bool {
        let t = INITIATE_TIMEOUT_SECS.to_string();
        let out = self.swanctl(&[
            "--terminate",
            "--ike",
            &self.opts.conn_name,
            "--timeout",
            &t,
        ]);
        out.status.success()
    }

    /// `swanctl --terminate --child <child>`; `false` if swanctl failed.
    pub fn terminate_child(&self, child: &str) -> bool {
        let t = INITIATE_TIMEOUT_SECS.to_string();
        let out = self.swanctl(&["--terminate", "--child", child, "--timeout", &t]);
        out.status.success()
    }

    /// `swanctl --rekey --ike <conn_name>` (or `--child` if `child` is given).
    /// Returns `false` if swanctl failed.
    pub fn rekey(&self, child: Option<&str>) -> bool {
        let out = match child {
            Some(c) => self.swanctl(&["--rekey", "--child", c]),
            None => self.swanctl(&["--rekey", "--ike", &self.opts.conn_name]),
        };
        out.status.success()
    }

    /// `swanctl --list-sas` in its human-readable form.
    pub fn list_sas(&self) -> String {
        let out = self.swanctl(&["--list-sas"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The IKE_SAs with their CHILD_SAs, parsed from
    /// `swanctl --list-sas --pretty` (one `key = value` per line, so values
    /// containing spaces stay intact, unlike `--raw`).
    ///
    /// # Panics
    /// If swanctl fails (e.g. charon is gone).
    pub fn sas(&self) -> Vec<IkeSaInfo> {
        let out = self.swanctl(&["--list-sas", "--pretty"]);
        assert!(
            out.status.success(),
            "swanctl --list-sas in {} failed: {}",
            self.ns_name,
            describe_output(&out)
        );
        parse_list_sas(&String::from_utf8_lossy(&out.stdout))
    }

    /// Polls until an IKE_SA is ESTABLISHED with at least one CHILD_SA
    /// INSTALLED, and returns it.
    ///
    /// # Panics
    /// On timeout or if charon dies; the message holds the SAs and the log.
    pub fn wait_established(&self, timeout: Duration) -> IkeSaInfo {
        self.wait_sas(
            "an established IKE_SA with an installed CHILD_SA",
            timeout,
            |sas| {
                sas.iter()
                    .find(|sa| sa.established && sa.children.iter().any(|c| c.installed))
                    .cloned()
            },
        )
    }

    /// Polls until CHILD_SA `child` is INSTALLED and returns it.
    ///
    /// # Panics
    /// On timeout or if charon dies.
    pub fn wait_child_installed(&self, child: &str, timeout: Duration) -> ChildInfo {
        self.wait_sas(&format!("CHILD_SA {child} installed"), timeout, |sas| {
            sas.iter()
                .flat_map(|sa| &sa.children)
                .find(|c| c.name == child && c.installed)
                .cloned()
        })
    }

    /// Polls until there is no IKE_SA at all (e.g. after a DELETE or DPD).
    ///
    /// # Panics
    /// On timeout or if charon dies.
    pub fn wait_no_sas(&self, timeout: Duration) {
        self.wait_sas("no IKE_SAs", timeout, |sas| sas.is_empty().then_some(()));
    }

    /// Polls `sas()` until `f` returns `Some`.
    ///
    /// # Panics
    /// On timeout or if charon dies, naming `what`.
    pub fn wait_sas<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&[IkeSaInfo]) -> Option<T>,
    ) -> T {
        let mut dead = false;
        let found = poll_until(timeout, || {
            if !self.is_running() {
                dead = true;
                return None;
            }
            let out = self.try_swanctl(&["--list-sas", "--pretty"], Duration::from_secs(10))?;
            f(&parse_list_sas(&String::from_utf8_lossy(&out.stdout)))
        });
        match found {
            Some(v) => v,
            None if dead => panic!(
                "charon in {} died while waiting for {what}\n{}",
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

    /// Path of charon's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("charon.log")
    }

    /// Current contents of charon's log file.
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// SIGKILL charon (by PID) and reap it: the peer sees it vanish without
    /// a DELETE, as with a dead gateway. Its TUN and routes go with it.
    pub fn kill(&mut self) {
        self.guard.signal(libc::SIGKILL);
        if self.guard.wait_timeout(Duration::from_secs(5)).is_none() {
            panic!("charon (pid {}) survived SIGKILL for 5 s", self.pid());
        }
    }

    /// Graceful stop: SIGTERM, wait up to 10 s (charon deletes its SAs,
    /// notifying peers). Returns how long it took, or `None` if it had to be
    /// SIGKILLed.
    pub fn stop(&mut self) -> Option<Duration> {
        let t = Instant::now();
        self.guard
            .terminate_and_wait(Duration::from_secs(10))
            .map(|_| t.elapsed())
    }

    /// State, `--list-sas` and the tail of the log, for panic messages.
    fn diagnostics(&self) -> String {
        let sas = if self.is_running() {
            self.try_swanctl(&["--list-sas"], Duration::from_secs(5))
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_else(|| "<swanctl --list-sas timed out>".into())
        } else {
            "<charon not running>".into()
        };
        let log = self.log();
        let tail: Vec<&str> = log.lines().rev().take(80).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "--- swanctl --list-sas:\n{sas}\n--- stdout/stderr ({}):\n{}\n--- last lines of {}:\n{}",
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
