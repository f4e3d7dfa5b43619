//! Named network namespaces that clean up after themselves.
//!
//! A [`Netns`] is created with `ip netns add` and deleted with `ip netns del`
//! when dropped (also while a test panics), after every process still running
//! inside it has been killed by PID.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::poll::poll_until;
use crate::process::{
    describe_output, kill_pids, pid_alive, run_with_timeout, ChildGuard, TimedOut,
};

/// Time limit for commands run by [`Netns::exec`] and [`Netns::run_ok`].
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest prefix accepted by [`Netns::new`].
pub const MAX_PREFIX_LEN: usize = 24;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Runs `ip` in the root namespace (used only for namespace management,
/// never to configure test addresses or routes there).
fn ip_root(args: &[&str]) -> Output {
    run_with_timeout(Command::new("ip").args(args), EXEC_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
}

/// Names of all named network namespaces (`ip netns list`).
pub fn list_namespaces() -> Vec<String> {
    let out = ip_root(&["netns", "list"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // Lines look like "name" or "name (id: 3)".
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A named network namespace owned by the test.
///
/// Dropping it kills every process inside it (by PID, SIGTERM then SIGKILL)
/// and deletes it. Veth ends inside it disappear with it.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `<prefix>-<pid>-<counter>` and brings `lo` up.
    ///
    /// `prefix` must be 1..=24 ASCII letters, digits or `_`.
    ///
    /// # Panics
    /// If the prefix is invalid or `ip netns add` fails (e.g. not root).
    pub fn new(prefix: &str) -> Netns {
        assert!(
            valid_prefix(prefix),
            "netns prefix {prefix:?} must be 1..={MAX_PREFIX_LEN} chars of [A-Za-z0-9_]"
        );
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        let out = ip_root(&["netns", "add", &name]);
        assert!(
            out.status.success(),
            "ip netns add {name} failed (are you root?): {}",
            describe_output(&out)
        );
        // Construct before further setup so a failure below still deletes it.
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        tracing::debug!(netns = %ns.name, "created");
        ns
    }

    /// The namespace's name, as used with `ip netns exec` / `ip -n`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `Command` running `program` inside the namespace
    /// (`ip netns exec NAME program`); add arguments and env as needed.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `argv` (program and arguments) inside the namespace with a time
    /// limit, returning the output whatever the exit status.
    pub fn exec_timeout(&self, argv: &[&str], timeout: Duration) -> Result<Output, TimedOut> {
        let (program, args) = argv.split_first().expect("exec: empty argv");
        run_with_timeout(self.command(program).args(args), timeout)
    }

    /// Runs `argv` inside the namespace and returns its output whatever the
    /// exit status.
    ///
    /// # Panics
    /// If it runs longer than [`EXEC_TIMEOUT`] (it is killed first).
    pub fn exec(&self, argv: &[&str]) -> Output {
        self.exec_timeout(argv, EXEC_TIMEOUT)
            .unwrap_or_else(|e| panic!("in netns {}: {e}", self.name))
    }

    /// Runs `argv` inside the namespace and returns its stdout.
    ///
    /// # Panics
    /// If it exits non-zero (the message holds stdout and stderr) or times out.
    pub fn run_ok(&self, argv: &[&str]) -> String {
        let out = self.exec(argv);
        assert!(
            out.status.success(),
            "in netns {}: {argv:?} failed: {}",
            self.name,
            describe_output(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `ip -n NAME <args>` and returns its stdout.
    ///
    /// # Panics
    /// If it exits non-zero.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut argv = vec!["-n", self.name.as_str()];
        argv.extend_from_slice(args);
        let out = ip_root(&argv);
        assert!(
            out.status.success(),
            "ip {argv:?} failed: {}",
            describe_output(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Spawns `program args...` inside the namespace with stdout and stderr
    /// written to `log_path`. The returned guard kills it on drop; dropping
    /// the namespace also kills anything still running inside it.
    pub fn spawn(&self, program: &str, args: &[&str], log_path: impl AsRef<Path>) -> ChildGuard {
        let mut cmd = self.command(program);
        cmd.args(args);
        ChildGuard::spawn(&format!("{program} in {}", self.name), cmd, log_path)
    }

    /// Adds an IPv4 or IPv6 address (`cidr`, e.g. `10.0.0.1/24` or
    /// `fd00::1/64`) to `ifname`. IPv6 addresses skip duplicate address
    /// detection (`nodad`), so they are usable at once.
    pub fn add_addr(&self, ifname: &str, cidr: &str) {
        if cidr.contains(':') {
            self.ip(&["-6", "addr", "add", cidr, "dev", ifname, "nodad"]);
        } else {
            self.ip(&["addr", "add", cidr, "dev", ifname]);
        }
    }

    /// Sets `ifname` administratively up.
    pub fn link_up(&self, ifname: &str) {
        self.ip(&["link", "set", "dev", ifname, "up"]);
    }

    /// Sets the MTU of `ifname`.
    pub fn set_mtu(&self, ifname: &str, mtu: u32) {
        self.ip(&["link", "set", "dev", ifname, "mtu", &mtu.to_string()]);
    }

    /// Polls until `ifname` reports operational state UP (for a veth: both
    /// ends are up).
    ///
    /// # Panics
    /// On timeout, with the link's state in the message.
    pub fn wait_link_up(&self, ifname: &str, timeout: Duration) {
        let up = poll_until(timeout, || {
            let out = ip_root(&["-n", &self.name, "-o", "link", "show", "dev", ifname]);
            String::from_utf8_lossy(&out.stdout)
                .contains("state UP")
                .then_some(())
        });
        if up.is_none() {
            let state = ip_root(&["-n", &self.name, "link", "show", "dev", ifname]);
            panic!(
                "timed out after {timeout:?} waiting for {ifname} in {} to be UP: {}",
                self.name,
                describe_output(&state)
            );
        }
    }

    /// Adds a route to `dst` (CIDR or `default`) via gateway `via`.
    pub fn add_route(&self, dst: &str, via: &str) {
        self.ip(&["route", "add", dst, "via", via]);
    }

    /// Adds a route to `dst` (CIDR or `default`) directly out of `dev`.
    pub fn add_route_dev(&self, dst: &str, dev: &str) {
        self.ip(&["route", "add", dst, "dev", dev]);
    }

    /// Sets a sysctl inside the namespace, e.g.
    /// `sysctl("net.ipv4.ip_forward", "1")`.
    pub fn sysctl(&self, key: &str, value: &str) {
        self.run_ok(&["sysctl", "-q", "-w", &format!("{key}={value}")]);
    }

    /// Enables IPv4 and IPv6 forwarding (for router / gateway namespaces).
    pub fn enable_forwarding(&self) {
        self.sysctl("net.ipv4.ip_forward", "1");
        self.sysctl("net.ipv6.conf.all.forwarding", "1");
    }

    /// PIDs of all processes whose network namespace is this one.
    pub fn pids(&self) -> Vec<u32> {
        let out = ip_root(&["netns", "pids", &self.name]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .filter(|&p| p != std::process::id())
            .collect()
    }
}

/// Kills (by PID) all processes in namespace `name`, then deletes it.
/// Never panics: used from `Drop`.
fn kill_and_delete(name: &str) {
    let pids_of = || {
        let out = ip_root(&["netns", "pids", name]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .filter(|&p| p != std::process::id() && pid_alive(p))
            .collect::<Vec<_>>()
    };
    // A few rounds, in case a dying process spawned another one.
    for _ in 0..3 {
        let pids = pids_of();
        if pids.is_empty() {
            break;
        }
        tracing::debug!(netns = name, ?pids, "killing leftover processes");
        kill_pids(&pids, Duration::from_secs(3));
    }
    let mut last = None;
    let deleted = poll_until(Duration::from_secs(5), || {
        let out = ip_root(&["netns", "del", name]);
        if out.status.success() || !list_namespaces().iter().any(|n| n == name) {
            return Some(());
        }
        last = Some(out);
        None
    });
    if deleted.is_none() {
        let detail = last.as_ref().map(describe_output).unwrap_or_default();
        eprintln!("[netns harness] failed to delete netns {name}: {detail}");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // ip_root panics only if `ip` cannot be spawned or hangs for 60 s;
        // catch that so a panic inside a drop during unwinding cannot abort
        // the whole test binary.
        let name = self.name.clone();
        if std::panic::catch_unwind(move || kill_and_delete(&name)).is_err() {
            eprintln!("[netns harness] cleanup of netns {} panicked", self.name);
        }
    }
}

/// Deletes namespaces named `<prefix>-<pid>-<n>` left behind by test
/// processes that no longer exist (e.g. a test binary killed by SIGKILL),
/// killing any process still inside them. Returns the deleted names.
pub fn cleanup_stale(prefix: &str) -> Vec<String> {
    let mut removed = Vec::new();
    for name in list_namespaces() {
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        let Some((pid, n)) = rest.split_once('-') else {
            continue;
        };
        let (Ok(pid), Ok(_)) = (pid.parse::<u32>(), n.parse::<u32>()) else {
            continue;
        };
        if pid != std::process::id() && !pid_alive(pid) {
            kill_and_delete(&name);
            removed.push(name);
        }
    }
    removed
}

/// Checks an interface name fits the kernel's 15-byte limit.
fn check_ifname(ifname: &str) {
    assert!(
        !ifname.is_empty() && ifname.len() <= 15 && !ifname.contains(['/', ' ', ':']),
        "interface name {ifname:?} must be 1..=15 bytes without '/', ' ' or ':'"
    );
}

/// Creates a veth pair directly between two namespaces: `a_if` in `a` with
/// address `a_addr`, `b_if` in `b` with `b_addr` (IPv4 or IPv6 CIDRs; an
/// empty string adds no address; more via [`Netns::add_addr`]). Both
/// ends are brought up and the call returns once the link is operationally
/// UP. The pair is created inside `a`, so it never exists in the root
/// namespace.
///
/// # Panics
/// On invalid interface names or any `ip` failure.
pub fn veth_pair(a: &Netns, a_if: &str, a_addr: &str, b: &Netns, b_if: &str, b_addr: &str) {
    check_ifname(a_if);
    check_ifname(b_if);
    a.ip(&[
        "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b.name,
    ]);
    a.link_up(a_if);
    b.link_up(b_if);
    for (ns, ifname, addr) in [(a, a_if, a_addr), (b, b_if, b_addr)] {
        if !addr.is_empty() {
            ns.add_addr(ifname, addr);
        }
    }
    a.wait_link_up(a_if, Duration::from_secs(10));
    b.wait_link_up(b_if, Duration::from_secs(10));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_validation() {
        assert!(valid_prefix("vw_gw1"));
        assert!(!valid_prefix(""));
        assert!(!valid_prefix("a-b"));
        assert!(!valid_prefix("a/b"));
        assert!(!valid_prefix(&"x".repeat(MAX_PREFIX_LEN + 1)));
    }
}
