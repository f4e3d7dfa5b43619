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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::netns::Netns;
use crate::poll::poll_until;
use crate::process::{describe_output, pid_alive, run_with_timeout, ChildGuard};

/// Azure VPN gateway's BGP AS, the default [`BirdOptions::local_as`].
pub const AZURE_AS: u32 = 65515;

/// How long [`Bird::start`] waits for the control socket to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Time limit of one `birdc` invocation.
pub const BIRDC_TIMEOUT: Duration = Duration::from_secs(30);

/// Name of the static protocol holding [`BirdOptions::static4`].
pub const STATIC4: &str = "static4";

/// Name of the static protocol holding [`BirdOptions::static6`].
pub const STATIC6: &str = "static6";

/// One `protocol bgp` block. Build with [`BgpNeighbor::new`] and adjust the
/// public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpNeighbor {
    /// Protocol name (`[A-Za-z0-9_]`), used by `birdc` and [`Bird::routes`].
    pub name: String,
    /// Neighbor address.
    pub neighbor: String,
    /// Neighbor AS.
    pub peer_as: u32,
    /// Local address of the session (`local <addr> as ...`); `None` lets the
    /// kernel choose.
    pub local_addr: Option<String>,
    /// Only accept incoming connections (`passive on`).
    pub passive: bool,
    /// `multihop <ttl>`; `None` = a direct session (the neighbor must be on
    /// a connected subnet).
    pub multihop: Option<u8>,
    /// Hold time proposed in OPEN (seconds; default 180, as Azure).
    pub hold_time: u32,
    /// Keepalive interval (seconds; default 60, as Azure).
    pub keepalive_time: u32,
    /// Delay before the first connect attempt (default 1 s; BIRD's is 5 s).
    pub connect_delay_time: u32,
    /// Interval between connect attempts (default 5 s; BIRD's is 120 s).
    pub connect_retry_time: u32,
    /// `error wait time min,max` after a session error (default 1,10;
    /// BIRD's is 60,300).
    pub error_wait_time: (u32, u32),
    /// TCP-MD5 (RFC 2385) password.
    pub password: Option<String>,
    /// `enable route refresh` (default on).
    pub route_refresh: bool,
    /// `enable extended messages` (RFC 8654; default off).
    pub extended_messages: bool,
    /// `graceful restart`: `None` = BIRD's default (aware), `Some(true)` =
    /// on, `Some(false)` = off.
    pub graceful_restart: Option<bool>,
    /// Open an `ipv4` channel (default on).
    pub ipv4: bool,
    /// Open an `ipv6` channel (default on).
    pub ipv6: bool,
    /// `next hop address` of the ipv6 channel (needed when no IPv6 address
    /// is on the interface towards the neighbor, e.g. multihop over IPv4).
    pub ipv6_next_hop: Option<String>,
    /// How many times the export filter prepends the local AS (on top of the
    /// one eBGP adds), e.g. 2 gives `65515 65515 65515`.
    pub export_prepend: u32,
    /// Extra lines inside the protocol block, e.g. `"add paths on;"`.
    pub extra: Vec<String>,
}

impl BgpNeighbor {
    /// A session named `name` with `neighbor` in AS `peer_as`: active,
    /// direct, hold 180 / keepalive 60, route refresh on, IPv4 and IPv6
    /// channels, fast test timers (connect delay 1 s, retry 5 s, error wait
    /// 1-10 s), no password.
    pub fn new(name: &str, neighbor: &str, peer_as: u32) -> BgpNeighbor {
        BgpNeighbor {
            name: name.into(),
            neighbor: neighbor.into(),
            peer_as,
            local_addr: None,
            passive: false,
            multihop: None,
            hold_time: 180,
            keepalive_time: 60,
            connect_delay_time: 1,
            connect_retry_time: 5,
            error_wait_time: (1, 10),
            password: None,
            route_refresh: true,
            extended_messages: false,
            graceful_restart: None,
            ipv4: true,
            ipv6: true,
            ipv6_next_hop: None,
            export_prepend: 0,
            extra: Vec::new(),
        }
    }

    /// Sets [`BgpNeighbor::local_addr`].
    pub fn with_local(mut self, local_addr: &str) -> BgpNeighbor {
        self.local_addr = Some(local_addr.into());
        self
    }

    fn validate(&self, local_as: u32) {
        check_name("neighbor name", &self.name);
        check_ip("neighbor", &self.neighbor);
        if let Some(a) = &self.local_addr {
            check_ip("local_addr", a);
        }
        if let Some(a) = &self.ipv6_next_hop {
            assert!(
                a.parse::<Ipv6Addr>().is_ok(),
                "ipv6_next_hop {a:?} is not an IPv6 address"
            );
        }
        if let Some(p) = &self.password {
            assert!(
                !p.is_empty() && !p.contains(['"', '\\', '\n']),
                "password must be non-empty without quotes, backslashes or newlines"
            );
        }
        assert!(
            self.keepalive_time <= self.hold_time,
            "keepalive {} > hold {}",
            self.keepalive_time,
            self.hold_time
        );
        assert!(self.ipv4 || self.ipv6, "{}: no channel enabled", self.name);
        assert!(
            self.export_prepend == 0 || local_as != 0,
            "prepend needs a local AS"
        );
        for extra in &self.extra {
            check_braces(extra);
        }
    }

    /// The `protocol bgp` block for a speaker in `local_as`.
    fn config(&self, local_as: u32) -> String {
        let mut c = String::new();
        let mut line = |s: String| {
            let _ = writeln!(c, "  {s}");
        };
        match &self.local_addr {
            Some(a) => line(format!("local {a} as {local_as};")),
            None => line(format!("local as {local_as};")),
        }
        line(format!("neighbor {} as {};", self.neighbor, self.peer_as));
        if self.passive {
            line("passive on;".into());
        }
        match self.multihop {
            Some(ttl) => line(format!("multihop {ttl};")),
            None => line("direct;".into()),
        }
        line(format!("hold time {};", self.hold_time));
        line(format!("keepalive time {};", self.keepalive_time));
        line(format!("connect delay time {};", self.connect_delay_time));
        line(format!("connect retry time {};", self.connect_retry_time));
        line(format!(
            "error wait time {},{};",
            self.error_wait_time.0, self.error_wait_time.1
        ));
        if let Some(p) = &self.password {
            line(format!("password \"{p}\";"));
        }
        line(format!(
            "enable route refresh {};",
            on_off(self.route_refresh)
        ));
        if self.extended_messages {
            line("enable extended messages on;".into());
        }
        match self.graceful_restart {
            Some(true) => line("graceful restart on;".into()),
            Some(false) => line("graceful restart off;".into()),
            None => {}
        }
        for extra in &self.extra {
            line(extra.clone());
        }
        let mut prepend = String::new();
        for _ in 0..self.export_prepend {
            let _ = write!(prepend, "bgp_path.prepend({local_as}); ");
        }
        let export = |proto: &str| {
            format!(
                "export filter {{ if proto = \"{proto}\" then {{ {prepend}accept; }} reject; }};"
            )
        };
        if self.ipv4 {
            line(format!("ipv4 {{ import all; {} }};", export(STATIC4)));
        }
        if self.ipv6 {
            let nh = self
                .ipv6_next_hop
                .as_ref()
                .map(|a| format!(" next hop address {a};"))
                .unwrap_or_default();
            line(format!("ipv6 {{ import all; {}{nh} }};", export(STATIC6)));
        }
        format!("protocol bgp {} {{\n{c}}}\n", self.name)
    }
}

/// Configuration of one BIRD instance. Build with [`BirdOptions::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdOptions {
    /// Router ID (an IPv4 address).
    pub router_id: String,
    /// Local AS of every session (default [`AZURE_AS`], 65515).
    pub local_as: u32,
    /// The BGP sessions.
    pub neighbors: Vec<BgpNeighbor>,
    /// IPv4 prefixes originated by protocol [`STATIC4`] (blackhole routes,
    /// exported to every neighbor). See [`ipv4_prefixes`] for many.
    pub static4: Vec<String>,
    /// IPv6 prefixes originated by protocol [`STATIC6`].
    pub static6: Vec<String>,
    /// `hostname "..."` (sent in the hostname capability only with
    /// `advertise hostname on;` in [`BgpNeighbor::extra`]); default
    /// `"bird"` so nothing depends on the machine's name.
    pub hostname: String,
    /// Also log every BGP packet (`debug protocols all` for packets).
    pub debug_packets: bool,
    /// Extra top-level config lines (before the protocols).
    pub extra: Vec<String>,
}

impl BirdOptions {
    /// Options for router `router_id` in AS 65515 with no neighbors and no
    /// static routes.
    pub fn new(router_id: &str) -> BirdOptions {
        BirdOptions {
            router_id: router_id.into(),
            local_as: AZURE_AS,
            neighbors: Vec::new(),
            static4: Vec::new(),
            static6: Vec::new(),
            hostname: "bird".into(),
            debug_packets: false,
            extra: Vec::new(),
        }
    }

    /// The neighbor named `name`.
    pub fn neighbor_mut(&mut self, name: &str) -> Option<&mut BgpNeighbor> {
        self.neighbors.iter_mut().find(|n| n.name == name)
    }

    fn validate(&self) {
        assert!(
            self.router_id.parse::<Ipv4Addr>().is_ok(),
            "router_id {:?} must be an IPv4 address",
            self.router_id
        );
        check_name("hostname", &self.hostname.replace(['-', '.'], "_"));
        for n in &self.neighbors {
            n.validate(self.local_as);
        }
        let mut names: Vec<&str> = self.neighbors.iter().map(|n| n.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            self.neighbors.len(),
            "neighbor names must be unique"
        );
        assert!(
            !names.iter().any(|n| [STATIC4, STATIC6].contains(n)),
            "neighbor names {STATIC4:?} and {STATIC6:?} are taken"
        );
        for p in &self.static4 {
            check_prefix(p, false);
        }
        for p in &self.static6 {
            check_prefix(p, true);
        }
        for extra in &self.extra {
            check_braces(extra);
        }
    }

    /// The `bird.conf` for an instance whose log goes to `log`.
    pub fn config(&self, log: &Path) -> String {
        let debug = if self.debug_packets {
            "states, events, packets"
        } else {
            "states, events"
        };
        let mut c = format!(
            "# bird.conf (vwand test harness)\n\
             router id {};\n\
             hostname \"{}\";\n\
             log \"{}\" all;\n\
             debug protocols {{ {debug} }};\n",
            self.router_id,
            self.hostname,
            log.display()
        );
        for extra in &self.extra {
            let _ = writeln!(c, "{extra}");
        }
        // device: interface list for next-hop resolution; direct: connected
        // subnets, so recursive (multihop) next hops resolve.
        c.push_str("protocol device { scan time 10; }\nprotocol direct { ipv4; ipv6; }\n");
        for (name, af, prefixes) in [
            (STATIC4, "ipv4", &self.static4),
            (STATIC6, "ipv6", &self.static6),
        ] {
            let _ = writeln!(c, "protocol static {name} {{\n  {af};");
            for p in prefixes {
                let _ = writeln!(c, "  route {p} blackhole;");
            }
            c.push_str("}\n");
        }
        for n in &self.neighbors {
            c.push_str(&n.config(self.local_as));
        }
        c
    }
}

/// `count` consecutive IPv4 prefixes of length `len` starting at `first`
/// (which must be aligned), e.g. `ipv4_prefixes("10.128.0.0", 24, 3)` is
/// `10.128.0.0/24, 10.128.1.0/24, 10.128.2.0/24`. For scale tests.
///
/// # Panics
/// If `first` is not an aligned IPv4 address or the range overflows.
pub fn ipv4_prefixes(first: &str, len: u8, count: usize) -> Vec<String> {
    assert!((1..=32).contains(&len), "bad IPv4 prefix length {len}");
    let base = u32::from(
        first
            .parse::<Ipv4Addr>()
            .unwrap_or_else(|e| panic!("{first:?}: {e}")),
    );
    let step = 1u64 << (32 - u32::from(len));
    assert!(
        u64::from(base) % step == 0,
        "{first} is not aligned to /{len}"
    );
    assert!(
        u64::from(base) + step * count as u64 <= 1 << 32,
        "{count} /{len} prefixes from {first} overflow"
    );
    (0..count as u64)
        .map(|i| {
            let a = Ipv4Addr::from((u64::from(base) + i * step) as u32);
            format!("{a}/{len}")
        })
        .collect()
}

/// `count` consecutive IPv6 prefixes of length `len` starting at `first`,
/// e.g. `ipv6_prefixes("fd51::", 64, 2)` is `fd51::/64, fd51:0:0:1::/64`.
///
/// # Panics
/// If `first` is not an aligned IPv6 address or the range overflows.
pub fn ipv6_prefixes(first: &str, len: u8, count: usize) -> Vec<String> {
    assert!((1..=128).contains(&len), "bad IPv6 prefix length {len}");
    let base = u128::from(
        first
            .parse::<Ipv6Addr>()
            .unwrap_or_else(|e| panic!("{first:?}: {e}")),
    );
    let step = 1u128 << (128 - u32::from(len));
    assert!(base % step == 0, "{first} is not aligned to /{len}");
    let last = (count as u128)
        .checked_sub(1)
        .map_or(Some(base), |n| base.checked_add(n * step));
    assert!(
        last.is_some(),
        "{count} /{len} prefixes from {first} overflow"
    );
    (0..count as u128)
        .map(|i| format!("{}/{len}", Ipv6Addr::from(base + i * step)))
        .collect()
}

/// One route from `birdc show route all`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Table, `master4` or `master6`.
    pub table: String,
    /// The prefix as BIRD prints it, e.g. `10.51.0.0/16`, `fd51::/48`.
    pub prefix: String,
    /// Route type: `unicast`, `unreachable`, `blackhole`, ...
    pub kind: String,
    /// Protocol that brought the route.
    pub protocol: String,
    /// `from <addr>`: the neighbor, printed when it differs from the gateway.
    pub from: Option<IpAddr>,
    /// Selected as best (`*`).
    pub primary: bool,
    /// Preference.
    pub preference: u32,
    /// Gateway (`via <addr>`).
    pub via: Option<IpAddr>,
    /// Outgoing interface (`on <iface>`).
    pub iface: Option<String>,
    /// `BGP.origin`: `IGP`, `EGP` or `Incomplete`.
    pub origin: Option<String>,
    /// `BGP.as_path`, leftmost (nearest) AS first; AS_SET members are listed
    /// flat, without their braces.
    pub as_path: Vec<u32>,
    /// `BGP.next_hop`: one address, or global + link-local for IPv6.
    pub next_hop: Vec<IpAddr>,
    /// `BGP.local_pref`.
    pub local_pref: Option<u32>,
    /// `BGP.med`.
    pub med: Option<u32>,
    /// Every `Name: value` attribute line as printed (`Type`, `BGP.*`).
    pub attrs: BTreeMap<String, String>,
}

impl Route {
    /// Whether the route is in the IPv6 table.
    pub fn is_ipv6(&self) -> bool {
        self.prefix.contains(':')
    }
}

/// Parses `birdc show route all ...` output (any number of tables).
pub fn parse_routes(text: &str) -> Vec<Route> {
    let mut routes: Vec<Route> = Vec::new();
    let mut table = String::new();
    let mut prefix = String::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("Table ") {
            table = t.trim_end_matches(':').to_string();
        } else if let Some(attr) = line.strip_prefix('\t') {
            let Some(r) = routes.last_mut() else { continue };
            route_attr(r, attr);
        } else if line.starts_with(' ') {
            // Another route for the same prefix.
            if let Some(r) = route_head(&table, &prefix, line.trim()) {
                routes.push(r);
            }
        } else if let Some((p, rest)) = line.split_once(' ') {
            if p.contains('/') {
                prefix = p.to_string();
                if let Some(r) = route_head(&table, &prefix, rest.trim()) {
                    routes.push(r);
                }
            }
        }
    }
    routes
}

/// `unicast [peer1 03:45:08.621 from 192.0.2.1] * (100) [AS65515i]`
fn route_head(table: &str, prefix: &str, rest: &str) -> Option<Route> {
    let (kind, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start().strip_prefix('[')?;
    let (src, after) = rest.split_once(']')?;
    let mut src = src.split_whitespace();
    let protocol = src.next()?.to_string();
    let mut from = None;
    while let Some(tok) = src.next() {
        if tok == "from" {
            from = src.next().and_then(|a| a.parse().ok());
        }
    }
    let after = after.trim_start();
    let primary = after.starts_with('*');
    let preference = after
        .split_once('(')
        .and_then(|(_, p)| p.split([')', '/']).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    Some(Route {
        table: table.to_string(),
        prefix: prefix.to_string(),
        kind: kind.to_string(),
        protocol,
        from,
        primary,
        preference,
        ..Route::default()
    })
}

fn route_attr(r: &mut Route, attr: &str) {
    if let Some(via) = attr.strip_prefix("via ") {
        let mut it = via.split_whitespace();
        r.via = it.next().and_then(|a| a.parse().ok());
        if it.next() == Some("on") {
            r.iface = it.next().map(str::to_string);
        }
        return;
    }
    let Some((key, value)) = attr.split_once(": ") else {
        return;
    };
    let value = value.trim();
    match key {
        "BGP.origin" => r.origin = Some(value.to_string()),
        "BGP.as_path" => {
            r.as_path = value
                .split(|c: char| c.is_whitespace() || c == '{' || c == '}')
                .filter_map(|a| a.parse().ok())
                .collect()
        }
        "BGP.next_hop" => {
            r.next_hop = value
                .split_whitespace()
                .filter_map(|a| a.parse().ok())
                .collect()
        }
        "BGP.local_pref" => r.local_pref = value.parse().ok(),
        "BGP.med" => r.med = value.parse().ok(),
        _ => {}
    }
    r.attrs.insert(key.to_string(), value.to_string());
}

/// A protocol from `birdc show protocols all <name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtocolInfo {
    /// Protocol name.
    pub name: String,
    /// `BGP`, `Static`, ...
    pub proto: String,
    /// `up`, `start`, `down`, ...
    pub state: String,
    /// Info column, e.g. `Established`, `Active`, `Passive       Received:
    /// Administrative shutdown`.
    pub info: String,
    /// `BGP state`: `Idle`, `Connect`, `Active`, `OpenSent`, `Established`...
    pub bgp_state: Option<String>,
    /// `Neighbor AS`.
    pub neighbor_as: Option<u32>,
    /// `Neighbor ID` (router ID), once the OPEN arrived.
    pub neighbor_id: Option<String>,
    /// Negotiated hold time (`Hold timer: 160.533/180` gives 180).
    pub hold_time: Option<u32>,
    /// Keepalive interval (`Keepalive timer: 51.720/60` gives 60).
    pub keepalive_time: Option<u32>,
    /// `Last error`, when the session went down.
    pub last_error: Option<String>,
    /// Names of the capabilities we announced (`Route refresh`, ...).
    pub local_caps: Vec<String>,
    /// Names of the capabilities the neighbor announced.
    pub neighbor_caps: Vec<String>,
    /// The whole output.
    pub raw: String,
}

impl ProtocolInfo {
    /// BGP session in state Established.
    pub fn established(&self) -> bool {
        self.bgp_state.as_deref() == Some("Established")
    }
}

/// Parses the output of `birdc show protocols all <name>` (the first
/// protocol in it); `None` if there is none.
pub fn parse_protocol(text: &str) -> Option<ProtocolInfo> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Name "));
    lines.next()?;
    let head = lines.next()?;
    let cols: Vec<&str> = head.split_whitespace().collect();
    if cols.len() < 4 {
        return None;
    }
    let mut p = ProtocolInfo {
        name: cols[0].into(),
        proto: cols[1].into(),
        state: cols[3].into(),
        // Info starts after the date/time column (5th).
        info: cols.get(5..).map(|c| c.join(" ")).unwrap_or_default(),
        raw: text.to_string(),
        ..ProtocolInfo::default()
    };
    let mut caps: Option<bool> = None; // Some(true) = local, Some(false) = neighbor
    for line in lines {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if indent == 6 && caps.is_some() {
            let list = if caps == Some(true) {
                &mut p.local_caps
            } else {
                &mut p.neighbor_caps
            };
            list.push(t.to_string());
            continue;
        }
        if indent <= 4 {
            caps = None;
        }
        let Some((key, value)) = t.split_once(':') else {
            match t {
                "Local capabilities" => caps = Some(true),
                "Neighbor capabilities" => caps = Some(false),
                _ => {}
            }
            continue;
        };
        let value = value.trim();
        let timer = |v: &str| v.rsplit_once('/').and_then(|(_, t)| t.parse().ok());
        match key {
            "BGP state" => p.bgp_state = Some(value.into()),
            "Neighbor AS" => p.neighbor_as = value.parse().ok(),
            "Neighbor ID" => p.neighbor_id = Some(value.into()),
            "Hold timer" => p.hold_time = timer(value),
            "Keepalive timer" => p.keepalive_time = timer(value),
            "Last error" => p.last_error = Some(value.into()),
            _ => {}
        }
    }
    Some(p)
}

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
        std::fs::create_dir_all(scratch)
            .unwrap_or_else(|e| panic!("create {}: {e}", scratch.display()));
        let dir = std::fs::canonicalize(scratch)
            .unwrap_or_else(|e| panic!("canonicalize {}: {e}", scratch.display()));
        let ctl = dir.join("bird.ctl");
        // sun_path holds 108 bytes including the NUL.
        assert!(
            ctl.as_os_str().len() < 108,
            "control socket path {} is too long for a unix socket",
            ctl.display()
        );
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

/// Sums `N of M routes for K networks in table T` lines.
fn parse_route_count(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.starts_with("Total") && l.contains(" routes for "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<usize>().ok())
        .sum()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn check_name(what: &str, name: &str) {
    assert!(
        !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit(),
        "{what} {name:?} must be [A-Za-z_][A-Za-z0-9_]*"
    );
}

fn check_ip(what: &str, addr: &str) {
    assert!(
        addr.parse::<IpAddr>().is_ok(),
        "{what} {addr:?} is not an IP address"
    );
}

fn check_prefix(p: &str, v6: bool) {
    let ok = p.split_once('/').is_some_and(|(a, l)| {
        let len_ok = |max: u8| l.parse::<u8>().is_ok_and(|l| l <= max);
        if v6 {
            a.parse::<Ipv6Addr>().is_ok() && len_ok(128)
        } else {
            a.parse::<Ipv4Addr>().is_ok() && len_ok(32)
        }
    });
    let af = if v6 { "IPv6" } else { "IPv4" };
    assert!(ok, "static route {p:?} is not an {af} prefix");
}

fn check_braces(line: &str) {
    assert!(
        line.matches('{').count() == line.matches('}').count(),
        "unbalanced braces in extra config line {line:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

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
