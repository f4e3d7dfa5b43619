//! [`HubOptions`]: one strongSwan instance's connection, rendered as
//! `strongswan.conf` and `swanctl.conf`, and checked before charon starts.

use super::PLUGINS;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// `start_action` of the CHILD_SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAction {
    /// Wait for the peer or an explicit [`StrongswanHub::initiate`](super::StrongswanHub::initiate).
    #[default]
    None,
    /// Initiate as soon as the config is loaded.
    Start,
    /// Install a trap policy and route. With kernel-libipsec 5.9.8 no
    /// acquire is raised, so matching packets are dropped until
    /// [`StrongswanHub::initiate`](super::StrongswanHub::initiate) (see the module docs).
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
    /// [`StrongswanHub::terminate_ike`](super::StrongswanHub::terminate_ike) and in `--list-sas`.
    pub conn_name: String,
    /// CHILD_SA name (default `"net"`); the name to [`StrongswanHub::initiate`](super::StrongswanHub::initiate).
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
    pub(super) fn validate(&self) {
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
pub(super) fn vnet_cidr(vnet: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
