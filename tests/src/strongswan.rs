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

use std::fmt::Write as _;
use std::net::IpAddr;
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

/// `start_action` of the CHILD_SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAction {
    /// Wait for the peer or an explicit [`StrongswanHub::initiate`].
    #[default]
    None,
    /// Initiate as soon as the config is loaded.
    Start,
    /// Install a trap policy and route. With kernel-libipsec 5.9.8 no
    /// acquire is raised, so matching packets are dropped until
    /// [`StrongswanHub::initiate`] (see the module docs).
    Trap,
}

impl StartAction {
    fn as_str(self) -> &'static str {
        match self {
            StartAction::None => "none",
            StartAction::Start => "start",
            StartAction::Trap => "trap",
        }
    }
}

/// `dpd_action` / `close_action` of the CHILD_SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerAction {
    /// Do nothing.
    None,
    /// Close the CHILD_SA and take no further action.
    Clear,
    /// Install a trap policy that re-creates the SA on demand.
    Trap,
    /// Re-create the SA at once.
    Restart,
}

impl PeerAction {
    fn as_str(self) -> &'static str {
        match self {
            PeerAction::None => "none",
            PeerAction::Clear => "clear",
            PeerAction::Trap => "trap",
            PeerAction::Restart => "restart",
        }
    }
}

/// IKE fragmentation setting (`fragmentation = ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragmentation {
    /// Fragment if the peer supports it (strongSwan's default).
    Yes,
    /// Accept fragments but never send them.
    Accept,
    /// Always fragment large messages.
    Force,
    /// Neither send nor accept fragmentation.
    No,
}

impl Fragmentation {
    fn as_str(self) -> &'static str {
        match self {
            Fragmentation::Yes => "yes",
            Fragmentation::Accept => "accept",
            Fragmentation::Force => "force",
            Fragmentation::No => "no",
        }
    }
}

/// Configuration of one strongSwan instance: one IKEv2 connection with one
/// PSK-authenticated tunnel-mode CHILD_SA. Build it with [`HubOptions::new`]
/// and adjust the public fields.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Connection name in `swanctl.conf` (default `"hub"`); used by
    /// [`StrongswanHub::terminate_ike`] and in `--list-sas`.
    pub conn_name: String,
    /// CHILD_SA name (default `"net"`); the name to [`StrongswanHub::initiate`].
    pub child_name: String,
    /// Local outer (underlay) address, `local_addrs`.
    pub local_addr: String,
    /// Peer's outer address, `remote_addrs`; `"%any"` to accept any peer
    /// (then this side can only respond).
    pub remote_addr: String,
    /// Local IKE identity; `None` = [`HubOptions::local_addr`]. An IP address
    /// string becomes an ID_IPV4/6_ADDR, anything else an FQDN (prefix `@`
    /// to force FQDN).
    pub local_id: Option<String>,
    /// Peer's IKE identity; `None` = [`HubOptions::remote_addr`] (so
    /// `"%any"` if that is `%any`).
    pub remote_id: Option<String>,
    /// Pre-shared key (written hex-encoded, so any bytes are fine).
    pub psk: String,
    /// IKE proposal(s) in strongSwan syntax, e.g.
    /// `"aes256gcm16-prfsha384-ecp384"` (comma-separate several).
    pub ike_proposal: String,
    /// ESP proposal(s), e.g. `"aes256gcm16"` or `"aes256-sha256"`; add a DH
    /// group (`"aes256gcm16-modp2048"`) for PFS on rekeying.
    pub esp_proposal: String,
    /// Local traffic selectors (CIDRs); default `["0.0.0.0/0"]`.
    pub local_ts: Vec<String>,
    /// Remote traffic selectors (CIDRs); default `["0.0.0.0/0"]`.
    pub remote_ts: Vec<String>,
    /// CHILD_SA `start_action` (default [`StartAction::None`]).
    pub start_action: StartAction,
    /// IKE_SA `rekey_time` (strongSwan default 4 h).
    pub ike_rekey_time: Option<Duration>,
    /// Hard IKE_SA lifetime; written as `over_time = life - rekey` (with
    /// rekey defaulting to 4 h), so it must exceed the rekey time.
    pub ike_life_time: Option<Duration>,
    /// CHILD_SA `rekey_time` (strongSwan default 1 h).
    pub child_rekey_time: Option<Duration>,
    /// CHILD_SA hard `life_time` (strongSwan default rekey + 10%).
    pub child_life_time: Option<Duration>,
    /// `rand_time` for both IKE and CHILD_SA (random amount subtracted from
    /// the rekey time); `Some(ZERO)` makes rekeying happen on the dot.
    pub rand_time: Option<Duration>,
    /// `dpd_delay`: liveness check interval when the SA is idle.
    pub dpd_delay: Option<Duration>,
    /// CHILD_SA `dpd_action` (what to do when DPD declares the peer dead).
    pub dpd_action: Option<PeerAction>,
    /// CHILD_SA `close_action` (what to do when the peer closes the SA).
    pub close_action: Option<PeerAction>,
    /// IKE fragmentation; `None` = strongSwan default (`yes`).
    pub fragmentation: Option<Fragmentation>,
    /// MOBIKE; default `false`. (kernel-libipsec moves IKE to 4500 after
    /// IKE_SA_INIT regardless, see the module docs.)
    pub mobike: bool,
    /// `encap`: force UDP encapsulation. Default `false`; kernel-libipsec
    /// encapsulates anyway.
    pub encap: bool,
    /// `keyingtries` (strongSwan default 1; 0 = retry forever).
    pub keyingtries: Option<u32>,
    /// Address (e.g. `"10.51.0.1"` or `"10.51.0.1/32"`) added to `lo` in the
    /// namespace before charon starts; must lie inside `local_ts` (checked
    /// when the selectors are plain CIDRs). kernel-libipsec needs one. Use a
    /// host prefix (the default): a wider one would make `lo` answer for the
    /// whole prefix. It stays on `lo` after charon stops.
    pub vnet_address: Option<String>,
    /// More verbose charon log (ike/cfg 4, net/enc 2) for debugging.
    pub verbose: bool,
    /// Extra lines inside `charon { }` of strongswan.conf, e.g.
    /// `"retransmit_timeout = 0.5"`, `"port = 1500"`.
    pub charon_extra: Vec<String>,
    /// Extra lines inside the connection section, e.g. `"remote_port = 1500"`.
    /// Sections repeated here merge with the generated ones, so
    /// `"children { other { ... } }"` adds a second CHILD_SA.
    pub conn_extra: Vec<String>,
    /// Extra lines inside the CHILD_SA section, e.g. `"replay_window = 64"`.
    pub child_extra: Vec<String>,
}

impl HubOptions {
    /// Options for a connection between `local_addr` and `remote_addr`
    /// (or `"%any"`) with PSK `psk`; everything else has its default:
    /// IDs = addresses, `aes256gcm16-prfsha384-ecp384` / `aes256gcm16`,
    /// TS `0.0.0.0/0` both ways, `start_action = none`, MOBIKE off.
    pub fn new(local_addr: &str, remote_addr: &str, psk: &str) -> HubOptions {
        HubOptions {
            conn_name: "hub".into(),
            child_name: "net".into(),
            local_addr: local_addr.into(),
            remote_addr: remote_addr.into(),
            local_id: None,
            remote_id: None,
            psk: psk.into(),
            ike_proposal: "aes256gcm16-prfsha384-ecp384".into(),
            esp_proposal: "aes256gcm16".into(),
            local_ts: vec!["0.0.0.0/0".into()],
            remote_ts: vec!["0.0.0.0/0".into()],
            start_action: StartAction::None,
            ike_rekey_time: None,
            ike_life_time: None,
            child_rekey_time: None,
            child_life_time: None,
            rand_time: None,
            dpd_delay: None,
            dpd_action: None,
            close_action: None,
            fragmentation: None,
            mobike: false,
            encap: false,
            keyingtries: None,
            vnet_address: None,
            verbose: false,
            charon_extra: Vec::new(),
            conn_extra: Vec::new(),
            child_extra: Vec::new(),
        }
    }

    /// The effective local identity.
    pub fn effective_local_id(&self) -> &str {
        self.local_id.as_deref().unwrap_or(&self.local_addr)
    }

    /// The effective remote identity.
    pub fn effective_remote_id(&self) -> &str {
        self.remote_id.as_deref().unwrap_or(&self.remote_addr)
    }

    /// Panics on values that would break the generated config files.
    fn validate(&self) {
        let mut plain: Vec<(&str, &str)> = vec![
            ("conn_name", &self.conn_name),
            ("child_name", &self.child_name),
            ("local_addr", &self.local_addr),
            ("remote_addr", &self.remote_addr),
            ("local_id", self.effective_local_id()),
            ("remote_id", self.effective_remote_id()),
            ("ike_proposal", &self.ike_proposal),
            ("esp_proposal", &self.esp_proposal),
        ];
        for ts in self.local_ts.iter().chain(&self.remote_ts) {
            plain.push(("traffic selector", ts));
        }
        for (what, v) in plain {
            assert!(
                !v.is_empty() && !v.contains(['{', '}', '\n', '\r', '#', '"', '=', ' ']),
                "HubOptions::{what} {v:?} is empty or contains characters that break swanctl.conf"
            );
        }
        for name in [&self.conn_name, &self.child_name] {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "connection/child name {name:?} must be [A-Za-z0-9_-]"
            );
        }
        assert!(!self.local_ts.is_empty(), "local_ts must not be empty");
        assert!(!self.remote_ts.is_empty(), "remote_ts must not be empty");
        assert!(!self.psk.is_empty(), "psk must not be empty");
        if let Some(life) = self.ike_life_time {
            assert!(
                life > self.ike_rekey_time.unwrap_or(IKE_DEFAULT_REKEY),
                "ike_life_time {life:?} must exceed the IKE rekey time"
            );
        }
        for extra in self
            .charon_extra
            .iter()
            .chain(&self.conn_extra)
            .chain(&self.child_extra)
        {
            assert!(
                extra.matches('{').count() == extra.matches('}').count(),
                "unbalanced braces in extra config line {extra:?}"
            );
        }
        if let Some(vnet) = &self.vnet_address {
            let addr = vnet_ip(vnet);
            let verdicts: Vec<Option<bool>> = self
                .local_ts
                .iter()
                .map(|ts| ts_contains(ts, addr))
                .collect();
            // Only judge when every selector is a plain CIDR/address.
            if verdicts.iter().all(Option::is_some) {
                assert!(
                    verdicts.contains(&Some(true)),
                    "vnet_address {vnet} is outside local_ts {:?}; kernel-libipsec \
                     needs a local address inside its local traffic selector",
                    self.local_ts
                );
            }
        }
    }

    /// The `strongswan.conf` for an instance whose files live in `dir`
    /// (log `dir/charon.log`, vici socket `dir/charon.vici`).
    pub fn strongswan_conf(&self, dir: &Path) -> String {
        let dir = dir.display();
        let levels = if self.verbose {
            "default = 1\n      ike = 4\n      cfg = 4\n      chd = 4\n      knl = 2\n      \
             net = 2\n      enc = 2"
        } else {
            "default = 1\n      ike = 2\n      cfg = 2\n      chd = 2\n      knl = 2"
        };
        let mut extra = String::new();
        for line in &self.charon_extra {
            let _ = writeln!(extra, "  {line}");
        }
        format!(
            "# strongswan.conf of one charon-systemd (vwand test harness).\n\
             # Used via STRONGSWAN_CONF; nothing from /etc/strongswan.d is included.\n\
             charon {{\n  \
               load = {PLUGINS}\n  \
               install_virtual_ip = no\n  \
               filelog {{\n    \
                 main {{\n      \
                   path = {dir}/charon.log\n      \
                   time_format = %b %e %T\n      \
                   time_add_ms = yes\n      \
                   ike_name = yes\n      \
                   {levels}\n      \
                   flush_line = yes\n      \
                   append = no\n    \
                 }}\n  \
               }}\n  \
               plugins {{\n    \
                 vici {{\n      \
                   socket = unix://{dir}/charon.vici\n    \
                 }}\n  \
               }}\n\
             {extra}\
             }}\n\
             # charon-systemd reads its own section first, then falls back to charon.\n\
             charon-systemd {{\n  \
               journal {{\n    \
                 default = -1\n  \
               }}\n\
             }}\n"
        )
    }

    /// The `swanctl.conf` (connection + PSK secret).
    pub fn swanctl_conf(&self) -> String {
        let secs = |d: Duration| format!("{}s", d.as_secs());
        let mut conn = String::new();
        let mut line = |s: String| {
            let _ = writeln!(conn, "    {s}");
        };
        line("version = 2".into());
        line(format!("local_addrs = {}", self.local_addr));
        line(format!("remote_addrs = {}", self.remote_addr));
        line(format!("proposals = {}", self.ike_proposal));
        line(format!("mobike = {}", yes_no(self.mobike)));
        line(format!("encap = {}", yes_no(self.encap)));
        if let Some(f) = self.fragmentation {
            line(format!("fragmentation = {}", f.as_str()));
        }
        if let Some(k) = self.keyingtries {
            line(format!("keyingtries = {k}"));
        }
        if let Some(d) = self.dpd_delay {
            line(format!("dpd_delay = {}", secs(d)));
        }
        if let Some(r) = self.ike_rekey_time {
            line(format!("rekey_time = {}", secs(r)));
        }
        if let Some(life) = self.ike_life_time {
            let rekey = self.ike_rekey_time.unwrap_or(IKE_DEFAULT_REKEY);
            line(format!("over_time = {}", secs(life - rekey)));
        }
        if let Some(r) = self.rand_time {
            line(format!("rand_time = {}", secs(r)));
        }
        for extra in &self.conn_extra {
            line(extra.clone());
        }

        let mut child = String::new();
        let mut cline = |s: String| {
            let _ = writeln!(child, "        {s}");
        };
        cline("mode = tunnel".into());
        cline(format!("local_ts = {}", self.local_ts.join(",")));
        cline(format!("remote_ts = {}", self.remote_ts.join(",")));
        cline(format!("esp_proposals = {}", self.esp_proposal));
        cline(format!("start_action = {}", self.start_action.as_str()));
        if let Some(a) = self.dpd_action {
            cline(format!("dpd_action = {}", a.as_str()));
        }
        if let Some(a) = self.close_action {
            cline(format!("close_action = {}", a.as_str()));
        }
        if let Some(r) = self.child_rekey_time {
            cline(format!("rekey_time = {}", secs(r)));
        }
        if let Some(l) = self.child_life_time {
            cline(format!("life_time = {}", secs(l)));
        }
        if let Some(r) = self.rand_time {
            cline(format!("rand_time = {}", secs(r)));
        }
        for extra in &self.child_extra {
            cline(extra.clone());
        }

        let remote_id = self.effective_remote_id();
        let secret_remote = if remote_id == "%any" {
            String::new()
        } else {
            format!("    id-remote = {remote_id}\n")
        };
        format!(
            "# swanctl.conf (vwand test harness)\n\
             connections {{\n  \
               {conn_name} {{\n\
             {conn}    \
                 local {{\n      \
                   auth = psk\n      \
                   id = {local_id}\n    \
                 }}\n    \
                 remote {{\n      \
                   auth = psk\n      \
                   id = {remote_id}\n    \
                 }}\n    \
                 children {{\n      \
                   {child_name} {{\n\
             {child}      \
                   }}\n    \
                 }}\n  \
               }}\n\
             }}\n\
             secrets {{\n  \
               ike-{conn_name} {{\n    \
                 id-local = {local_id}\n\
             {secret_remote}    \
                 secret = 0x{psk}\n  \
               }}\n\
             }}\n",
            conn_name = self.conn_name,
            child_name = self.child_name,
            local_id = self.effective_local_id(),
            psk = hex::encode(self.psk.as_bytes()),
        )
    }
}

/// strongSwan's default IKE rekey time (4 h).
const IKE_DEFAULT_REKEY: Duration = Duration::from_secs(4 * 3600);

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The address part of `"10.0.0.1"` or `"10.0.0.1/32"`.
fn vnet_ip(vnet: &str) -> IpAddr {
    let ip = vnet.split_once('/').map_or(vnet, |(a, _)| a);
    ip.parse()
        .unwrap_or_else(|e| panic!("vnet_address {vnet:?} is not an IP address: {e}"))
}

/// `vnet` as a CIDR for `ip addr add` (host prefix if none given).
fn vnet_cidr(vnet: &str) -> String {
    if vnet.contains('/') {
        vnet.to_string()
    } else if vnet.contains(':') {
        format!("{vnet}/128")
    } else {
        format!("{vnet}/32")
    }
}

/// Whether traffic selector `ts` (a CIDR or address) contains `addr`;
/// `None` if `ts` is not a plain CIDR (ranges, `dynamic`, protocol/port).
fn ts_contains(ts: &str, addr: IpAddr) -> Option<bool> {
    let (net, len) = match ts.split_once('/') {
        Some((n, l)) => (n.parse::<IpAddr>().ok()?, l.parse::<u32>().ok()?),
        None => {
            let n = ts.parse::<IpAddr>().ok()?;
            (n, if n.is_ipv4() { 32 } else { 128 })
        }
    };
    let (net, a, bits) = match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => (
            u128::from(u32::from(n)) << 96,
            u128::from(u32::from(a)) << 96,
            32,
        ),
        (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
        _ => return Some(false),
    };
    if len > bits {
        return None;
    }
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    Some(net & mask == a & mask)
}

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

/// One IKE_SA from `swanctl --list-sas`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IkeSaInfo {
    /// Connection name.
    pub name: String,
    /// charon's unique ID of the IKE_SA (`#N`).
    pub uniqueid: u32,
    /// State, e.g. `CONNECTING`, `ESTABLISHED`, `DELETING`.
    pub state: String,
    /// `state == "ESTABLISHED"`.
    pub established: bool,
    /// Local outer address and port.
    pub local_host: String,
    /// Local IKE port (4500 after NAT-T floating).
    pub local_port: u16,
    /// Peer's outer address.
    pub remote_host: String,
    /// Peer's IKE port.
    pub remote_port: u16,
    /// Local identity.
    pub local_id: String,
    /// Peer's identity.
    pub remote_id: String,
    /// Whether this side was the initiator (`initiator = yes`).
    pub initiator: bool,
    /// IKE SPIs as hex strings.
    pub initiator_spi: String,
    /// Responder's IKE SPI (hex).
    pub responder_spi: String,
    /// e.g. `AES_GCM_16`, `AES_CBC`.
    pub encr_alg: String,
    /// Key size in bits (0 if not shown).
    pub encr_keysize: u32,
    /// e.g. `HMAC_SHA2_256_128`; empty for AEAD.
    pub integ_alg: String,
    /// e.g. `PRF_HMAC_SHA2_384`.
    pub prf_alg: String,
    /// e.g. `ECP_384`, `MODP_2048`, `CURVE_25519`.
    pub dh_group: String,
    /// charon believes the peer is behind NAT (always with kernel-libipsec).
    pub nat_remote: bool,
    /// The CHILD_SAs.
    pub children: Vec<ChildInfo>,
    /// Every `key = value` of the IKE_SA as printed (scalars only).
    pub fields: Vec<(String, String)>,
}

impl IkeSaInfo {
    /// The value of `key` as printed by swanctl.
    pub fn field(&self, key: &str) -> Option<&str> {
        lookup(&self.fields, key)
    }

    /// The CHILD_SA named `name`.
    pub fn child(&self, name: &str) -> Option<&ChildInfo> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// One CHILD_SA from `swanctl --list-sas`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildInfo {
    /// Child config name.
    pub name: String,
    /// charon's unique ID (`net{N}`).
    pub uniqueid: u32,
    /// reqid.
    pub reqid: u32,
    /// e.g. `INSTALLED`, `REKEYED`, `DELETING`.
    pub state: String,
    /// `state == "INSTALLED"`.
    pub installed: bool,
    /// `TUNNEL` / `TRANSPORT`.
    pub mode: String,
    /// `ESP` / `AH`.
    pub protocol: String,
    /// UDP encapsulated (always with kernel-libipsec).
    pub encap: bool,
    /// Inbound SPI (the one the peer sends with).
    pub spi_in: u32,
    /// Outbound SPI.
    pub spi_out: u32,
    /// e.g. `AES_GCM_16`, `AES_CBC`.
    pub encr_alg: String,
    /// Key size in bits.
    pub encr_keysize: u32,
    /// e.g. `HMAC_SHA2_256_128`; empty for AEAD.
    pub integ_alg: String,
    /// PFS group if any.
    pub dh_group: String,
    /// Whether ESN is used.
    pub esn: bool,
    /// Decrypted bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Local traffic selectors.
    pub local_ts: Vec<String>,
    /// Remote traffic selectors.
    pub remote_ts: Vec<String>,
    /// Every scalar `key = value` as printed.
    pub fields: Vec<(String, String)>,
}

impl ChildInfo {
    /// The value of `key` as printed by swanctl.
    pub fn field(&self, key: &str) -> Option<&str> {
        lookup(&self.fields, key)
    }
}

fn lookup<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A node of a vici message as printed by `swanctl --pretty`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViciNode {
    /// `key = value`
    Value(String),
    /// `key = [ item... ]`
    List(Vec<String>),
    /// `name { ... }`
    Section(Vec<(String, ViciNode)>),
}

/// Parses `swanctl ... --pretty` output into its top-level sections
/// (`("list-sa event", Section(..))`, `("list-sas reply", ..)`, ...). Lines
/// that fit no pattern (swanctl's own messages) are skipped.
pub fn parse_vici_pretty(text: &str) -> Vec<(String, ViciNode)> {
    // Stack of open sections: (name, entries).
    let mut stack: Vec<(String, Vec<(String, ViciNode)>)> = vec![(String::new(), Vec::new())];
    let mut list: Option<(String, Vec<String>)> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some((key, items)) = list.as_mut() {
            if line == "]" {
                let node = ViciNode::List(std::mem::take(items));
                let key = std::mem::take(key);
                list = None;
                stack.last_mut().expect("root").1.push((key, node));
            } else {
                items.push(line.to_string());
            }
            continue;
        }
        if line == "}" {
            if stack.len() > 1 {
                let (name, entries) = stack.pop().expect("len > 1");
                stack
                    .last_mut()
                    .expect("root")
                    .1
                    .push((name, ViciNode::Section(entries)));
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(" = ") {
            if v == "[" {
                list = Some((k.to_string(), Vec::new()));
            } else {
                stack
                    .last_mut()
                    .expect("root")
                    .1
                    .push((k.to_string(), ViciNode::Value(v.to_string())));
            }
        } else if let Some(k) = line.strip_suffix(" =") {
            stack
                .last_mut()
                .expect("root")
                .1
                .push((k.to_string(), ViciNode::Value(String::new())));
        } else if let Some(name) = line.strip_suffix(" {") {
            stack.push((name.to_string(), Vec::new()));
        }
    }
    // Close anything left open by truncated output.
    while stack.len() > 1 {
        let (name, entries) = stack.pop().expect("len > 1");
        stack
            .last_mut()
            .expect("root")
            .1
            .push((name, ViciNode::Section(entries)));
    }
    stack.pop().expect("root").1
}

/// Parses `swanctl --list-sas --pretty` output.
pub fn parse_list_sas(text: &str) -> Vec<IkeSaInfo> {
    let mut sas = Vec::new();
    for (msg, node) in parse_vici_pretty(text) {
        let ViciNode::Section(ikes) = node else {
            continue;
        };
        if msg != "list-sa event" {
            continue;
        }
        for (name, ike) in ikes {
            if let ViciNode::Section(entries) = ike {
                sas.push(ike_sa(name, &entries));
            }
        }
    }
    sas
}

fn scalars(entries: &[(String, ViciNode)]) -> Vec<(String, String)> {
    entries
        .iter()
        .filter_map(|(k, v)| match v {
            ViciNode::Value(s) => Some((k.clone(), s.clone())),
            _ => None,
        })
        .collect()
}

fn ike_sa(name: String, entries: &[(String, ViciNode)]) -> IkeSaInfo {
    let fields = scalars(entries);
    let s = |k: &str| lookup(&fields, k).unwrap_or_default().to_string();
    let n = |k: &str| lookup(&fields, k).and_then(|v| v.parse().ok()).unwrap_or(0);
    let children = entries
        .iter()
        .filter(|(k, _)| k == "child-sas")
        .flat_map(|(_, v)| match v {
            ViciNode::Section(c) => c.clone(),
            _ => Vec::new(),
        })
        .filter_map(|(_, v)| match v {
            ViciNode::Section(c) => Some(child_sa(&c)),
            _ => None,
        })
        .collect();
    let state = s("state");
    IkeSaInfo {
        name,
        uniqueid: n("uniqueid"),
        established: state == "ESTABLISHED",
        state,
        local_host: s("local-host"),
        local_port: lookup(&fields, "local-port")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        remote_host: s("remote-host"),
        remote_port: lookup(&fields, "remote-port")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        local_id: s("local-id"),
        remote_id: s("remote-id"),
        initiator: s("initiator") == "yes",
        initiator_spi: s("initiator-spi"),
        responder_spi: s("responder-spi"),
        encr_alg: s("encr-alg"),
        encr_keysize: n("encr-keysize"),
        integ_alg: s("integ-alg"),
        prf_alg: s("prf-alg"),
        dh_group: s("dh-group"),
        nat_remote: s("nat-remote") == "yes",
        children,
        fields,
    }
}

fn child_sa(entries: &[(String, ViciNode)]) -> ChildInfo {
    let fields = scalars(entries);
    let s = |k: &str| lookup(&fields, k).unwrap_or_default().to_string();
    let n = |k: &str| -> u64 { lookup(&fields, k).and_then(|v| v.parse().ok()).unwrap_or(0) };
    let spi = |k: &str| {
        lookup(&fields, k)
            .and_then(|v| u32::from_str_radix(v, 16).ok())
            .unwrap_or(0)
    };
    let list = |k: &str| {
        entries
            .iter()
            .find_map(|(key, v)| match v {
                ViciNode::List(items) if key == k => Some(items.clone()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let state = s("state");
    ChildInfo {
        name: s("name"),
        uniqueid: n("uniqueid") as u32,
        reqid: n("reqid") as u32,
        installed: state == "INSTALLED",
        state,
        mode: s("mode"),
        protocol: s("protocol"),
        encap: s("encap") == "yes",
        spi_in: spi("spi-in"),
        spi_out: spi("spi-out"),
        encr_alg: s("encr-alg"),
        encr_keysize: n("encr-keysize") as u32,
        integ_alg: s("integ-alg"),
        dh_group: s("dh-group"),
        esn: s("esn") == "1" || s("esn") == "yes",
        bytes_in: n("bytes-in"),
        bytes_out: n("bytes-out"),
        packets_in: n("packets-in"),
        packets_out: n("packets-out"),
        local_ts: list("local-ts"),
        remote_ts: list("remote-ts"),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
list-sa event {
  s2s {
    uniqueid = 1
    version = 2
    state = ESTABLISHED
    local-host = 192.0.2.2
    local-port = 4500
    local-id = 192.0.2.2
    remote-host = 192.0.2.1
    remote-port = 4500
    remote-id = C=CH, O=strongSwan, CN=peer
    initiator-spi = 44eb56804d17c0b6
    responder-spi = 3b36a21f8258ed4a
    nat-remote = yes
    nat-any = yes
    encr-alg = AES_GCM_16
    encr-keysize = 256
    prf-alg = PRF_HMAC_SHA2_384
    dh-group = ECP_384
    established = 3
    rekey-time = 14043
    child-sas {
      net-1 {
        name = net
        uniqueid = 1
        reqid = 1
        state = INSTALLED
        mode = TUNNEL
        protocol = ESP
        encap = yes
        spi-in = 02ed76ee
        spi-out = 5b4118ea
        encr-alg = AES_GCM_16
        encr-keysize = 256
        bytes-in = 420
        packets-in = 5
        bytes-out = 0
        packets-out = 0
        rekey-time = 3271
        life-time = 3957
        install-time = 3
        local-ts = [
          10.51.0.0/16
          10.52.0.0/16
        ]
        remote-ts = [
          10.1.0.0/16
        ]
      }
    }
  }
}
list-sas reply {
}
";

    #[test]
    fn parses_pretty_list_sas() {
        let sas = parse_list_sas(SAMPLE);
        assert_eq!(sas.len(), 1);
        let sa = &sas[0];
        assert_eq!(sa.name, "s2s");
        assert!(sa.established);
        assert_eq!(sa.local_port, 4500);
        assert_eq!(sa.remote_id, "C=CH, O=strongSwan, CN=peer");
        assert_eq!(sa.dh_group, "ECP_384");
        assert!(sa.nat_remote);
        assert_eq!(sa.field("rekey-time"), Some("14043"));
        let c = sa.child("net").expect("child");
        assert!(c.installed && c.encap);
        assert_eq!(c.spi_in, 0x02ed_76ee);
        assert_eq!(c.spi_out, 0x5b41_18ea);
        assert_eq!((c.bytes_in, c.packets_in), (420, 5));
        assert_eq!(c.local_ts, ["10.51.0.0/16", "10.52.0.0/16"]);
        assert_eq!(c.remote_ts, ["10.1.0.0/16"]);
        assert_eq!(c.field("life-time"), Some("3957"));
    }

    #[test]
    fn parses_empty_list() {
        assert!(parse_list_sas("list-sas reply {\n}\n").is_empty());
        assert!(parse_list_sas("").is_empty());
    }

    #[test]
    fn ts_containment() {
        let a: IpAddr = "10.51.0.1".parse().unwrap();
        assert_eq!(ts_contains("10.51.0.0/16", a), Some(true));
        assert_eq!(ts_contains("10.1.0.0/16", a), Some(false));
        assert_eq!(ts_contains("0.0.0.0/0", a), Some(true));
        assert_eq!(ts_contains("10.51.0.1", a), Some(true));
        assert_eq!(ts_contains("fd00::/8", a), Some(false));
        assert_eq!(ts_contains("dynamic", a), None);
        let b: IpAddr = "fd51::1".parse().unwrap();
        assert_eq!(ts_contains("fd51::/16", b), Some(true));
        assert_eq!(ts_contains("::/0", b), Some(true));
    }

    #[test]
    fn renders_configs() {
        let mut o = HubOptions::new("192.0.2.2", "%any", "pa\"ss word");
        o.local_ts = vec!["10.51.0.0/16".into()];
        o.vnet_address = Some("10.51.0.1".into());
        o.ike_rekey_time = Some(Duration::from_secs(600));
        o.ike_life_time = Some(Duration::from_secs(660));
        o.dpd_delay = Some(Duration::from_secs(2));
        o.dpd_action = Some(PeerAction::Clear);
        o.validate();
        let s = o.swanctl_conf();
        assert!(s.contains("    remote_addrs = %any\n"), "{s}");
        assert!(s.contains("      id = %any\n"), "{s}");
        assert!(!s.contains("id-remote"), "{s}");
        assert!(s.contains("    over_time = 60s\n"), "{s}");
        assert!(s.contains("    dpd_delay = 2s\n"), "{s}");
        assert!(s.contains("        dpd_action = clear\n"), "{s}");
        assert!(s.contains(&format!("secret = 0x{}", hex::encode("pa\"ss word"))));
        assert_eq!(s.matches('{').count(), s.matches('}').count());
        let c = o.strongswan_conf(Path::new("/tmp/x"));
        assert!(c.contains("socket = unix:///tmp/x/charon.vici"), "{c}");
        assert_eq!(c.matches('{').count(), c.matches('}').count());
    }

    #[test]
    #[should_panic(expected = "outside local_ts")]
    fn rejects_vnet_outside_ts() {
        let mut o = HubOptions::new("192.0.2.2", "192.0.2.1", "k");
        o.local_ts = vec!["10.51.0.0/16".into()];
        o.vnet_address = Some("10.52.0.1".into());
        o.validate();
    }
}
