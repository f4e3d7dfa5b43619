//! Two vwand hosts joined by a veth underlay, with manually keyed SAs:
//! "onprem" (A) and "hub" (B).
//!
//! ```text
//!  A: TUN vw0 10.10.0.1 ── ul0 192.0.2.1 ══ veth ══ 192.0.2.2 ul0 ── TUN vw0 10.20.0.1 :B
//! ```

use crate::{
    scratch_dir, veth_pair, wait_until, workspace_bin, workspace_root, ChildGuard, Netns,
    ScratchDir,
};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub const A_OUTER: &str = "192.0.2.1";
pub const B_OUTER: &str = "192.0.2.2";
pub const A_INNER: &str = "10.10.0.1";
pub const B_INNER: &str = "10.20.0.1";
/// SPI of the SA from A to B (B's inbound), and from B to A.
pub const SPI_AB: u32 = 0x0000_1001;
pub const SPI_BA: u32 = 0x0000_2001;

/// What both ends are keyed with.
#[derive(Debug, Clone)]
pub struct TunnelSpec {
    pub transport: &'static str,
    pub transform: &'static str,
    pub esn: bool,
    /// B's inbound window.
    pub replay_window: u32,
}

impl TunnelSpec {
    pub fn new(transport: &'static str, transform: &'static str, esn: bool) -> Self {
        Self {
            transport,
            transform,
            esn,
            replay_window: 1024,
        }
    }
}

/// Keys of one direction, as hex.
#[derive(Debug, Clone)]
pub struct Keys {
    pub spi: u32,
    pub key: String,
    pub auth_key: Option<String>,
}

fn keys(spec: &TunnelSpec, spi: u32) -> Keys {
    let t: esp::Transform = spec.transform.parse().expect("test transform");
    let bytes = |n: usize, salt: u32| -> String {
        (0..n)
            .map(|i| format!("{:02x}", (i as u32 * 7 + salt + spi) as u8))
            .collect()
    };
    Keys {
        spi,
        key: bytes(t.encryption.key_len(), 1),
        auth_key: t.integrity.map(|i| bytes(i.key_len(), 101)),
    }
}

/// One side.
pub struct Side {
    /// Declared first: the daemon stops before its namespace goes away.
    pub daemon: ChildGuard,
    pub ns: Netns,
    pub status_socket: PathBuf,
    pub config: PathBuf,
}

impl Side {
    /// Writes `text` (with `{status_socket}` left in) as the daemon's
    /// configuration and runs `vwand reload`.
    ///
    /// # Panics
    /// If `vwand reload` fails.
    pub fn reload(&self, text: &str) {
        let sock = self.status_socket.display().to_string();
        std::fs::write(&self.config, text.replace("{status_socket}", &sock)).expect("write config");
        let out = Command::new(workspace_bin("vwand"))
            .arg("-c")
            .arg(&self.config)
            .arg("reload")
            .output()
            .expect("run vwand reload");
        assert!(out.status.success(), "vwand reload: {out:?}");
    }

    /// The daemon's status document.
    pub fn status(&self) -> Value {
        let out = Command::new(workspace_bin("vwand"))
            .args(["status", "--json", "--socket"])
            .arg(&self.status_socket)
            .output()
            .expect("run vwand status");
        assert!(
            out.status.success(),
            "vwand status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("status is JSON")
    }

    /// The status of tunnel `name` (`tunnels.<name>`; `Null` if there is
    /// no such tunnel).
    pub fn tunnel(&self, name: &str) -> Value {
        self.status()["tunnels"][name].clone()
    }

    /// A counter of the tunnel's inbound SA.
    pub fn inbound(&self, field: &str) -> u64 {
        self.status()["tunnels"]["hub0"]["inbound"][field]
            .as_u64()
            .unwrap_or(0)
    }

    /// A counter of the tunnel's outbound SA.
    pub fn outbound(&self, field: &str) -> u64 {
        self.status()["tunnels"]["hub0"]["outbound"][field]
            .as_u64()
            .unwrap_or(0)
    }

    /// The SPI of the tunnel's inbound SA.
    pub fn inbound_spi(&self) -> u32 {
        spi(&self.status()["tunnels"]["hub0"]["inbound"]["spi"])
    }

    /// The SPI of the tunnel's outbound SA.
    pub fn outbound_spi(&self) -> u32 {
        spi(&self.status()["tunnels"]["hub0"]["outbound"]["spi"])
    }

    /// A field of the tunnel's IKE status.
    pub fn ike(&self, field: &str) -> String {
        let v = &self.status()["tunnels"]["hub0"]["ike"][field];
        v.as_str().map_or_else(|| v.to_string(), str::to_string)
    }

    /// Waits until an inbound counter reaches `at_least`.
    pub fn wait_inbound(&self, field: &str, at_least: u64) {
        wait_until(
            &format!("inbound {field} >= {at_least}"),
            Duration::from_secs(10),
            || self.inbound(field) >= at_least,
        );
    }
}

fn spi(v: &Value) -> u32 {
    let s = v.as_str().unwrap_or("0x0");
    u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or(0)
}

/// The two hosts; dropping it stops both daemons and deletes both
/// namespaces.
pub struct VwandPair {
    pub a: Side,
    pub b: Side,
    pub spec: TunnelSpec,
    pub ab: Keys,
    pub ba: Keys,
    pub scratch: ScratchDir,
}

impl VwandPair {
    pub fn start(spec: TunnelSpec) -> Self {
        crate::require_netns_env();
        let scratch = scratch_dir();
        let ns_a = Netns::new("onprem");
        let ns_b = Netns::new("hub");
        veth_pair(
            &ns_a,
            "ul0",
            &format!("{A_OUTER}/24"),
            &ns_b,
            "ul0",
            &format!("{B_OUTER}/24"),
        );
        let ab = keys(&spec, SPI_AB);
        let ba = keys(&spec, SPI_BA);
        let a = start_side(
            &scratch,
            ns_a,
            "a",
            &spec,
            [A_OUTER, B_OUTER, A_INNER, "10.20.0.0/16"],
            &ab,
            &ba,
            1024,
        );
        let b = start_side(
            &scratch,
            ns_b,
            "b",
            &spec,
            [B_OUTER, A_OUTER, B_INNER, "10.10.0.0/16"],
            &ba,
            &ab,
            spec.replay_window,
        );
        Self {
            a,
            b,
            spec,
            ab,
            ba,
            scratch,
        }
    }

    /// `--sa` arguments for tests/oracle/tshark_esp.py, both directions.
    pub fn tshark_sas(&self) -> Vec<String> {
        let esn = if self.spec.esn { ",esn" } else { "" };
        let one = |src: &str, dst: &str, k: &Keys| {
            format!(
                "{src},{dst},{:#010x},{},{},{}{esn}",
                k.spi,
                self.spec.transform,
                k.key,
                k.auth_key.as_deref().unwrap_or("-")
            )
        };
        vec![
            one(A_OUTER, B_OUTER, &self.ab),
            one(B_OUTER, A_OUTER, &self.ba),
        ]
    }

    /// Runs the tshark oracle on a capture and returns its JSON verdict.
    pub fn tshark_verdict(&self, pcap: &std::path::Path) -> Value {
        let script = workspace_root().join("tests/oracle/tshark_esp.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg("--pcap").arg(pcap);
        for sa in self.tshark_sas() {
            cmd.arg("--sa").arg(sa);
        }
        let out =
            crate::run_with_timeout(&mut cmd, Duration::from_secs(120)).expect("tshark in time");
        assert!(
            out.status.success(),
            "tshark_esp.py: {}",
            crate::process::describe_output(&out)
        );
        serde_json::from_slice(&out.stdout).expect("tshark_esp.py prints JSON")
    }

    /// Re-sends the `index`-th captured ESP packet from A to B, optionally
    /// with one bit flipped (bit 0 is the first bit of the SPI).
    pub fn reinject(&self, pcap: &std::path::Path, index: usize, flip_bit: Option<usize>) {
        let script = workspace_root().join("tests/oracle/reinject.py");
        let mut args = vec![
            "python3".to_string(),
            script.display().to_string(),
            "--pcap".into(),
            pcap.display().to_string(),
            "--src".into(),
            A_OUTER.into(),
            "--index".into(),
            index.to_string(),
        ];
        if let Some(bit) = flip_bit {
            args.push("--flip-bit".into());
            args.push(bit.to_string());
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        self.a.ns.run_ok(&argv);
    }
}

/// vwand alone in `ns` as side A of `spec` (outer [`A_OUTER`], inner
/// [`A_INNER`], `10.20.0.0/16` into the tunnel), keyed by hand, for a peer
/// that is not vwand. Returns it with the keys A sends with (SPI
/// [`SPI_AB`]) and the keys it accepts (SPI [`SPI_BA`]).
pub fn start_manual_a(scratch: &ScratchDir, ns: Netns, spec: &TunnelSpec) -> (Side, Keys, Keys) {
    let ab = keys(spec, SPI_AB);
    let ba = keys(spec, SPI_BA);
    let side = start_side(
        scratch,
        ns,
        "vwand",
        spec,
        [A_OUTER, B_OUTER, A_INNER, "10.20.0.0/16"],
        &ab,
        &ba,
        spec.replay_window,
    );
    (side, ab, ba)
}

#[allow(clippy::too_many_arguments)]
fn start_side(
    scratch: &ScratchDir,
    ns: Netns,
    tag: &str,
    spec: &TunnelSpec,
    [local, peer, inner, routes]: [&str; 4],
    out: &Keys,
    inb: &Keys,
    window: u32,
) -> Side {
    let sa = |k: &Keys| {
        let auth = k
            .auth_key
            .as_ref()
            .map(|a| format!(", auth_key = \"{a}\""))
            .unwrap_or_default();
        format!("{{ spi = {:#x}, key = \"{}\"{auth} }}", k.spi, k.key)
    };
    let text = format!(
        "[daemon]\nstatus_socket = \"{{status_socket}}\"\n\n[tun]\nname = \"vw0\"\naddresses = [\"{inner}/32\"]\n\n\
         [[tunnel]]\nname = \"hub0\"\nlocal = \"{local}\"\npeer = \"{peer}\"\ntransport = \"{}\"\n\
         routes = [\"{routes}\"]\n\n[tunnel.manual]\ntransform = \"{}\"\nesn = {}\nreplay_window = {window}\n\
         outbound = {}\ninbound = {}\n",
        spec.transport,
        spec.transform,
        spec.esn,
        sa(out),
        sa(inb),
    );
    start_daemon(scratch, ns, tag, &text)
}

impl Side {
    /// SIGKILLs the daemon (no DELETE, no Cease, nothing cleaned up) and
    /// starts it again with the same configuration; its log goes to
    /// `<log>.restart<N>`. Returns once it logs "vwand running".
    pub fn kill_and_restart(&mut self) {
        self.daemon.signal(libc::SIGKILL);
        let _ = self.daemon.wait_timeout(Duration::from_secs(5));
        let n = (1..).find(|n| !self.restart_log(*n).exists()).unwrap_or(1);
        let bin = workspace_bin("vwand");
        self.daemon = self.ns.spawn(
            bin.to_str().expect("utf-8 path"),
            &["-c", self.config.to_str().expect("utf-8 path"), "run"],
            self.restart_log(n),
        );
        self.daemon
            .wait_for_log("vwand running", Duration::from_secs(10));
    }

    fn restart_log(&self, n: u32) -> PathBuf {
        let mut p = self.config.with_extension("log").into_os_string();
        p.push(format!(".restart{n}"));
        PathBuf::from(p)
    }
}

/// Starts vwand in `ns` with `text` as its configuration (mode 0600);
/// `{status_socket}` in `text` becomes the status socket's path.
pub fn start_daemon(scratch: &ScratchDir, ns: Netns, tag: &str, text: &str) -> Side {
    let status_socket = scratch.join(format!("{tag}.sock"));
    let config = scratch.join(format!("{tag}.toml"));
    let text = text.replace("{status_socket}", &status_socket.display().to_string());
    std::fs::write(&config, text).expect("write config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let bin = workspace_bin("vwand");
    let log = scratch.join(format!("{tag}.log"));
    let mut daemon = ns.spawn(
        bin.to_str().expect("utf-8 path"),
        &["-c", config.to_str().expect("utf-8 path"), "run"],
        &log,
    );
    daemon.wait_for_log("vwand running", Duration::from_secs(10));
    Side {
        daemon,
        ns,
        status_socket,
        config,
    }
}
