//! `vwand import-azure`: the Azure portal's "Download VPN Config" file
//! (Virtual WAN → hub → VPN (Site to site)) turned into a commented vwand
//! configuration.
//!
//! The file names the site (our outer address, ASN and BGP address), and
//! per connection the hub (address space, connected subnets), the gateway's
//! two instances (outer addresses, BGP addresses, ASN), the PSK and the SA
//! lifetimes. The tunnel to Instance0 carries the BGP session to
//! Instance0's BGP address, and the same for Instance1.
//!
//! Azure prints it in several shapes, all accepted: a JSON array of sites,
//! one site object, or (as Microsoft's own article shows it) site objects
//! separated by commas with no brackets. `ConnectedSubnets`, the site's
//! `BgpSetting` and the second instance may be missing; names may carry
//! stray spaces. What the file does not hold (the prefixes to advertise,
//! those the circuit carries) becomes a `FILL-IN` placeholder that
//! [`crate::parse`] refuses until it is replaced.

use ipnet::IpNet;
use serde::Deserialize;
use std::fmt::Write;
use std::net::IpAddr;
use zeroize::Zeroizing;

/// Marks a value `import-azure` could not know; `check` refuses it.
pub const PLACEHOLDER: &str = "FILL-IN";

/// The largest integer TOML can hold (i64::MAX).
const TOML_INT_MAX: u64 = i64::MAX as u64;

#[derive(Debug, Deserialize)]
struct Site {
    #[serde(rename = "configurationVersion")]
    version: Option<Version>,
    #[serde(rename = "vpnSiteConfiguration")]
    site: SiteConfig,
    #[serde(rename = "vpnSiteConnections", default)]
    connections: Vec<Connection>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Version {
    last_updated_time: Option<String>,
    version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SiteConfig {
    name: String,
    #[serde(rename = "IPAddress")]
    ip_address: IpAddr,
    link_name: Option<String>,
    bgp_setting: Option<SiteBgp>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SiteBgp {
    asn: u32,
    bgp_peering_address: IpAddr,
}

#[derive(Debug, Deserialize)]
struct Connection {
    #[serde(rename = "hubConfiguration")]
    hub: Hub,
    #[serde(rename = "gatewayConfiguration")]
    gateway: Gateway,
    #[serde(rename = "connectionConfiguration")]
    connection: ConnectionConfig,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Hub {
    address_space: String,
    region: Option<String>,
    #[serde(default)]
    connected_subnets: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Gateway {
    ip_addresses: Instances,
    bgp_setting: Option<GatewayBgp>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Instances {
    instance0: IpAddr,
    instance1: Option<IpAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GatewayBgp {
    asn: u32,
    bgp_peering_addresses: Instances,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectionConfig {
    #[serde(default)]
    is_bgp_enabled: bool,
    #[serde(rename = "PSK")]
    psk: crate::model::TextSecret,
    #[serde(rename = "IPsecParameters")]
    ipsec: Option<IpsecParameters>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IpsecParameters {
    #[serde(rename = "SADataSizeInKilobytes")]
    sa_data_size_kb: Option<u64>,
    #[serde(rename = "SALifeTimeInSeconds")]
    sa_lifetime_s: Option<u64>,
}

const ADVERTISE_HELP: &str = "\
# The on-premises prefixes to send over the VPN. Azure prefers the longest
# prefix and, for the same prefix, ExpressRoute: they must be more specific
# than (or disjoint from) those sent over ExpressRoute, or that traffic crosses
# the circuit unencrypted.
";

const POLICY_HELP: &str = "\
# The file does not say which IPsec policy the connection uses: these are
# vwand's defaults, Azure's custom policy GCMAES256 / SHA384 / ECP384. For
# Azure's default policy use proposals = [\"aes256-sha1-modp1024\"],
# esp_proposals = [\"aes256-sha1\"] and allow_legacy = true.
";

/// Which site and connection of the file to import.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The site's name (spaces around it ignored); needed when the file
    /// holds several.
    pub site: Option<String>,
    /// The connection: its index (from 0), or its hub's address space or
    /// region; needed when the site has several.
    pub connection: Option<String>,
}

/// Why a file could not be imported; the message names the place or the
/// choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError(pub String);

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ImportError {}

/// Reads the file's sites in whichever shape Azure printed them.
fn sites(file: &str, text: &str) -> Result<Vec<Site>, ImportError> {
    let json_error = |e: serde_json::Error, column_shift: usize| {
        let col = if e.line() == 1 {
            e.column().saturating_sub(column_shift)
        } else {
            e.column()
        };
        let what = match e.classify() {
            serde_json::error::Category::Data => "not an Azure VPN configuration",
            serde_json::error::Category::Eof => "the file ends too early",
            _ => "not JSON",
        };
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg);
        ImportError(format!("{file}:{}:{col}: {what}: {msg}", e.line()))
    };
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return serde_json::from_str(text).map_err(|e| json_error(e, 0));
    }
    match serde_json::from_str::<Site>(text) {
        Ok(s) => Ok(vec![s]),
        // Objects separated by commas, no brackets: wrap them.
        Err(e) if e.is_syntax() => {
            serde_json::from_str(&format!("[{text}]")).map_err(|e| json_error(e, 1))
        }
        Err(e) => Err(json_error(e, 0)),
    }
}

fn pick_site<'a>(sites: &'a [Site], want: Option<&str>) -> Result<&'a Site, ImportError> {
    let names = || {
        sites
            .iter()
            .map(|s| format!("{:?}", s.site.name.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match want {
        Some(w) => sites
            .iter()
            .find(|s| s.site.name.trim() == w.trim())
            .ok_or_else(|| ImportError(format!("no site {w:?} in the file; it holds {}", names()))),
        None => match sites {
            [only] => Ok(only),
            [] => Err(ImportError("the file holds no site".into())),
            _ => Err(ImportError(format!(
                "the file holds {} sites: {}; choose one with --site NAME",
                sites.len(),
                names()
            ))),
        },
    }
}

fn describe(c: &Connection) -> String {
    match &c.hub.region {
        Some(r) => format!("hub {} ({r})", c.hub.address_space.trim()),
        None => format!("hub {}", c.hub.address_space.trim()),
    }
}

fn pick_connection<'a>(
    site: &'a Site,
    want: Option<&str>,
) -> Result<(usize, &'a Connection), ImportError> {
    let list = || {
        site.connections
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{i}: {}", describe(c)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let found = match want {
        Some(w) => site.connections.iter().enumerate().find(|(i, c)| {
            w.trim() == i.to_string()
                || w.trim() == c.hub.address_space.trim()
                || c.hub
                    .region
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(w.trim()))
        }),
        None if site.connections.len() == 1 => site.connections.first().map(|c| (0, c)),
        None => None,
    };
    found.ok_or_else(|| match (want, site.connections.len()) {
        (_, 0) => ImportError(format!(
            "site {:?} has no connection",
            site.site.name.trim()
        )),
        (Some(w), _) => ImportError(format!("no connection {w:?}; the site has {}", list())),
        (None, n) => ImportError(format!(
            "site {:?} has {n} connections ({}); choose one with --connection",
            site.site.name.trim(),
            list()
        )),
    })
}

fn prefixes(list: &[&str], what: &str) -> Result<Vec<IpNet>, ImportError> {
    list.iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .map(|n| n.trunc())
                .map_err(|e| ImportError(format!("{what}: {s:?} is not a prefix: {e}")))
        })
        .collect()
}

/// A tunnel name from the site's name: letters, digits, `-` and `_`.
fn slug(name: &str) -> String {
    let s: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() {
        "azure".into()
    } else {
        s
    }
}

/// `s` with every control character (newlines, DEL, C1) shown as `?`,
/// fit for a TOML comment.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Appends `s` as a TOML string (written in place, so the PSK is copied
/// into nothing but the zeroized output).
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn list(nets: &[IpNet]) -> String {
    let v: Vec<String> = nets.iter().map(|n| format!("\"{n}\"")).collect();
    format!("[{}]", v.join(", "))
}

/// Imports one site's connection from the text of an Azure VPN
/// configuration file (`file` names it in messages and the header).
pub fn import(file: &str, text: &str, sel: &Selection) -> Result<Zeroizing<String>, ImportError> {
    let sites = sites(file, text)?;
    let site = pick_site(&sites, sel.site.as_deref())?;
    let (ci, conn) = pick_connection(site, sel.connection.as_deref())?;
    let name = site.site.name.trim();
    let hub_space = prefixes(&[&conn.hub.address_space], "hubConfiguration.AddressSpace")?;
    let subnets: Vec<&str> = conn
        .hub
        .connected_subnets
        .iter()
        .map(String::as_str)
        .collect();
    let subnets = prefixes(&subnets, "hubConfiguration.ConnectedSubnets")?;
    let azure: Vec<IpNet> = hub_space.iter().chain(&subnets).copied().collect();
    let gateways: Vec<IpAddr> = [
        Some(conn.gateway.ip_addresses.instance0),
        conn.gateway.ip_addresses.instance1,
    ]
    .into_iter()
    .flatten()
    .collect();
    // Static routes must not cover the gateway's own addresses: ESP to
    // them would loop into the TUN. (BGP's import refuses such prefixes by
    // itself.)
    let routable: Vec<IpNet> = azure
        .iter()
        .filter(|n| !gateways.iter().any(|g| n.contains(g)))
        .copied()
        .collect();
    let left_out: Vec<IpNet> = azure
        .iter()
        .filter(|n| !routable.contains(n))
        .copied()
        .collect();
    let bgp = match (
        conn.connection.is_bgp_enabled,
        &site.site.bgp_setting,
        &conn.gateway.bgp_setting,
    ) {
        (true, Some(s), Some(g)) => Some((s, g)),
        _ => None,
    };
    // Large enough never to reallocate: a reallocation would leave a copy
    // of the PSK behind, unzeroized.
    let mut out = Zeroizing::new(String::with_capacity(16 << 10));
    let o = &mut *out;
    let _ = writeln!(
        o,
        "# vwand configuration imported from Azure's \"Download VPN Config\" file"
    );
    // Names from the file go into comments: no control character may end
    // a comment early or make it invalid TOML.
    let _ = writeln!(o, "{}", one_line(&format!("#   file:       {file}")));
    let link = site
        .site
        .link_name
        .as_deref()
        .map(|l| format!(" (link {})", l.trim()))
        .unwrap_or_default();
    let line = format!(
        "#   site:       {name}{link}; connection {ci} of {}: {}",
        site.connections.len(),
        describe(conn)
    );
    let _ = writeln!(o, "{}", one_line(&line));
    if let Some(v) = &site.version {
        let line = format!(
            "#   version:    {}, updated {}",
            v.version.as_deref().unwrap_or("?"),
            v.last_updated_time.as_deref().unwrap_or("?")
        );
        let _ = writeln!(o, "{}", one_line(&line));
    }
    let _ = writeln!(o, "# It holds the pre-shared key: keep it mode 0600.");
    if bgp.is_some() {
        let _ = writeln!(
            o,
            "# Azure's file lacks two values: `vwand check` refuses this file until the"
        );
        let _ = writeln!(o, "# \"{PLACEHOLDER}\" lines are replaced.");
    } else if conn.connection.is_bgp_enabled {
        let _ = writeln!(
            o,
            "# BGP is enabled on the connection, but the file lacks the site's or the"
        );
        let _ = writeln!(
            o,
            "# gateway's BgpSetting: the hub's prefixes are static routes instead."
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "[daemon]\nstatus_socket = \"/run/vwand/status.sock\"\n");
    let _ = writeln!(
        o,
        "[tun]\nname = \"vwand0\"\nmtu = 1400  # Azure's recommendation"
    );
    match bgp {
        Some((s, _)) => {
            let _ = writeln!(
                o,
                "addresses = [\"{}\"]  # vpnSiteConfiguration.BgpSetting.BgpPeeringAddress\n",
                IpNet::from(s.bgp_peering_address)
            );
        }
        None => {
            let _ = writeln!(o, "addresses = []\n");
        }
    }
    if let Some((s, _)) = bgp {
        let _ = writeln!(
            o,
            "[bgp]\nasn = {}  # vpnSiteConfiguration.BgpSetting.Asn",
            s.asn
        );
        o.push_str(ADVERTISE_HELP);
        let _ = writeln!(
            o,
            "advertise = [\"{PLACEHOLDER}: on-premises prefixes to advertise over the VPN\"]"
        );
        let _ = writeln!(
            o,
            "# What the on-premises routers advertise over ExpressRoute (the encryption guard)."
        );
        let _ = writeln!(
            o,
            "expressroute_prefixes = [\"{PLACEHOLDER}: prefixes advertised over ExpressRoute\"]\n"
        );
    }
    let mut instances = vec![(0, conn.gateway.ip_addresses.instance0)];
    if let Some(i1) = conn.gateway.ip_addresses.instance1 {
        instances.push((1, i1));
    }
    let lifetime = conn.connection.ipsec.as_ref().and_then(|p| p.sa_lifetime_s);
    let data_kb = conn
        .connection
        .ipsec
        .as_ref()
        .and_then(|p| p.sa_data_size_kb);
    for (i, peer) in instances {
        let _ = writeln!(o, "[[tunnel]]");
        o.push_str("name = ");
        push_quoted(o, &format!("{}-instance{i}", slug(name)));
        o.push('\n');
        let _ = writeln!(
            o,
            "local = \"{}\"  # vpnSiteConfiguration.IPAddress",
            site.site.ip_address
        );
        let _ = writeln!(
            o,
            "peer = \"{peer}\"  # gatewayConfiguration.IpAddresses.Instance{i}"
        );
        let _ = writeln!(
            o,
            "transport = \"raw\"  # ExpressRoute has no NAT (a NAT is detected anyway)"
        );
        if bgp.is_some() {
            let _ = writeln!(o, "routes = []  # learned over BGP");
        } else {
            if !left_out.is_empty() {
                let _ = writeln!(
                    o,
                    "# Left out: {} holds the gateway's own addresses (ESP to them\n\
                     # must not enter the tunnel); route its other parts if you need them.",
                    list(&left_out)
                );
            }
            if routable.is_empty() {
                let _ = writeln!(
                    o,
                    "routes = [\"{PLACEHOLDER}: the Azure prefixes to route into the tunnel\"]"
                );
            } else {
                let _ = writeln!(o, "routes = {}  # from hubConfiguration", list(&routable));
            }
        }
        let _ = writeln!(o, "\n[tunnel.ike]");
        let psk =
            Zeroizing::new(String::from_utf8_lossy(conn.connection.psk.0.expose()).into_owned());
        o.push_str("psk = ");
        push_quoted(o, &psk);
        o.push_str("  # connectionConfiguration.PSK\n");
        o.push_str(POLICY_HELP);
        let _ = writeln!(o, "proposals = [\"aes256gcm16-prfsha384-ecp384\"]");
        let _ = writeln!(o, "esp_proposals = [\"aes256gcm16\"]");
        // TOML integers are i64: the file's u64 figures are capped there.
        if let Some(l) = lifetime.filter(|l| *l >= 60) {
            let _ = writeln!(
                o,
                "child_rekey_seconds = {}  # SALifeTimeInSeconds {l}, less a sixth",
                (l - l / 6).min(TOML_INT_MAX)
            );
        }
        if let Some(kb) = data_kb.filter(|k| *k > 0) {
            let bytes = (kb.saturating_mul(1024) / 10 * 9).min(TOML_INT_MAX);
            let _ = writeln!(
                o,
                "child_rekey_bytes = {bytes}  # 90% of SADataSizeInKilobytes {kb}"
            );
        }
        let _ = writeln!(
            o,
            "ike_rekey_seconds = 25200  # Azure's IKE SA lifetime is 28,800 s"
        );
        if let Some((_, g)) = bgp {
            let peer_bgp = if i == 0 {
                Some(g.bgp_peering_addresses.instance0)
            } else {
                g.bgp_peering_addresses.instance1
            };
            if let Some(addr) = peer_bgp {
                let _ = writeln!(o, "\n[tunnel.bgp]");
                let _ = writeln!(
                    o,
                    "peer = \"{addr}\"  # BgpPeeringAddresses.Instance{i}: only over this tunnel"
                );
                let _ = writeln!(o, "remote_as = {}", g.asn);
                let _ = writeln!(
                    o,
                    "import = {}  # hub address space and connected subnets",
                    list(&azure)
                );
            }
        }
        let _ = writeln!(o);
    }
    Ok(out)
}
