//! Parsers of `birdc` output: routes (`show route all`), protocols
//! (`show protocols all`) and route counts (`show route count`).

use std::collections::BTreeMap;
use std::net::IpAddr;

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

/// Sums `N of M routes for K networks in table T` lines.
pub fn parse_route_count(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.starts_with("Total") && l.contains(" routes for "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<usize>().ok())
        .sum()
}
