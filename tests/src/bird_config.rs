//! `bird.conf` generation for the BIRD harness: [`BirdOptions`] (one
//! instance) and [`BgpNeighbor`] (one `protocol bgp`), checked before they
//! are written, and prefix generators for scale tests.

use crate::bird::AZURE_AS;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// Name of the static protocol holding [`BirdOptions::static4`].
pub const STATIC4: &str = "static4";

/// Name of the static protocol holding [`BirdOptions::static6`].
pub const STATIC6: &str = "static6";

/// One `protocol bgp` block. Build with [`BgpNeighbor::new`] and adjust the
/// public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpNeighbor {
    /// Protocol name (`[A-Za-z0-9_]`), used by `birdc` and [`crate::bird::Bird::routes`].
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

    pub(crate) fn validate(&self) {
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
