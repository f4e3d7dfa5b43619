//! An emulated two-instance Azure Virtual WAN hub, for end-to-end tests of
//! active-active tunnels and failover: vwand on the edge with one tunnel to
//! each hub instance (strongSwan + BIRD, AS 65515, each in its own
//! namespace, over its own underlay link), and a VNet host behind both
//! instances.
//!
//! ```text
//!                                 ┌─ ul0 192.0.2.1    ══ 192.0.2.2 ul0    ── hub0 ── vn0 10.51.240.1 ══ 10.51.240.2 h0 ─┐
//!                                 │                              charon + BIRD, lo 10.51.230.12                         │
//!  edge: vwand, vw0 172.24.255.1 ─┤                                                                                     ├─ vnet: lo 10.51.231.1
//!                                 │                              charon + BIRD, lo 10.51.230.13                         │
//!                                 └─ ul1 198.51.100.1 ══ 198.51.100.2 ul0 ── hub1 ── vn0 10.51.241.1 ══ 10.51.241.2 h1 ─┘
//! ```
//!
//! * vwand has two `[[tunnel]]`s, `hub0` and `hub1`, each carrying the
//!   multihop eBGP session (AS 65010 <-> 65515) to that instance's BGP
//!   address. Both instances originate the same VNet prefixes
//!   ([`DualHubOptions::vnet_prefixes`]), so vwand learns each from both.
//! * Each hub routes the VNet prefixes to the vnet namespace. charon's
//!   kernel-libipsec puts `default dev ipsec0` into table 220 (selectors
//!   `0.0.0.0/0`), looked up at rule preference 220 for every packet, so
//!   each hub also has `ip rule add to <VNet prefix> lookup main pref 100`.
//!   Everything else a hub forwards (the way back to 172.24.0.0/16) goes
//!   into its tunnel.
//! * The vnet host returns to 172.24.0.0/16 over both hubs (a multipath
//!   route, hashed on source and destination address, so one flow uses one
//!   hub) or over hub0 only ([`ReturnPath`]). The route is static: it does
//!   not follow a hub failure.
//! * Events ([`DualHubBed::kill_charon`], [`DualHubBed::edge_link_down`],
//!   [`DualHubBed::blackhole`], ...) act on one instance, by index 0 or 1.
//!   Packet filters are nftables tables in the hub's namespace.
//!
//! Dropping the bed stops vwand, both BIRDs and charons (by PID) and
//! deletes the four namespaces, also when a test panics.

use crate::bird::{Bird, BirdOptions};
use crate::hub_bed::{
    instance_bird_options, instance_hub_options, vwand_head, vwand_tunnel, IKE_TIMERS,
};
use crate::ping::ping_from;
use crate::poll::poll_until;
use crate::strongswan::{HubOptions, StrongswanHub};
use crate::vwand::{start_daemon, Side};
use crate::{scratch_dir, veth_pair, Netns, ScratchDir};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use crate::hub_bed::{BGP_ONPREM, PSK};

/// vwand's tunnel names, by instance.
pub const TUNNELS: [&str; 2] = ["hub0", "hub1"];
/// The edge's underlay links, by instance.
pub const EDGE_LINKS: [&str; 2] = ["ul0", "ul1"];
/// The edge's underlay addresses (/24), by instance.
pub const EDGE_UNDERLAY: [&str; 2] = ["192.0.2.1", "198.51.100.1"];
/// Each hub's underlay link (towards the edge).
pub const HUB_LINK: &str = "ul0";
/// The hubs' underlay addresses (/24).
pub const HUB_UNDERLAY: [&str; 2] = ["192.0.2.2", "198.51.100.2"];
/// The hubs' BGP addresses and router IDs, on `lo`.
pub const HUB_BGP: [&str; 2] = [crate::hub_bed::BGP_HUB, "10.51.230.13"];
/// Each hub's link to the vnet namespace.
pub const HUB_VNET_LINK: &str = "vn0";
/// The hubs' addresses on their vnet links (/30).
pub const HUB_VNET: [&str; 2] = ["10.51.240.1", "10.51.241.1"];
/// The vnet namespace's links, by instance.
pub const VNET_LINKS: [&str; 2] = ["h0", "h1"];
/// The vnet namespace's addresses on them (/30).
pub const VNET_SIDE: [&str; 2] = ["10.51.240.2", "10.51.241.2"];
/// The VNet host, on the vnet namespace's `lo`.
pub const VNET_HOST: &str = "10.51.231.1";
/// The default VNet prefix, originated by both instances.
pub const VNET_PREFIX: &str = "10.51.231.0/24";
/// On-premises space: where the vnet host's return route points.
pub const ONPREM: &str = "172.24.0.0/16";
/// nftables table of [`DualHubBed::blackhole`].
pub const BLACKHOLE_TABLE: &str = "vwbed_blackhole";
/// nftables table of [`DualHubBed::lossy`].
pub const LOSSY_TABLE: &str = "vwbed_lossy";

/// How the vnet host reaches on-premises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnPath {
    /// A multipath route over both hubs.
    #[default]
    Both,
    /// Via hub0 only.
    Hub0,
}

/// What to set up. `Default` gives the bed described in the module docs.
#[derive(Debug, Clone)]
pub struct DualHubOptions {
    /// BGP hold time on all four sides (keepalive a third of it).
    pub hold: u16,
    /// The prefixes both instances originate and route to the vnet
    /// namespace; [`VNET_HOST`] must lie in one of them for pings.
    pub vnet_prefixes: Vec<String>,
    /// The vnet host's way back.
    pub return_path: ReturnPath,
    /// strongSwan's options per instance: narrow `local_ts` (keep
    /// `vnet_address` inside it), set rekey times, add `child_extra`, ...
    pub hubs: [HubOptions; 2],
    /// Lines appended to vwand's `[daemon]`.
    pub daemon_extra: Vec<String>,
    /// Lines added to vwand's `[tun]`.
    pub tun_extra: Vec<String>,
    /// Lines appended to vwand's `[bgp]`.
    pub bgp_extra: Vec<String>,
    /// Text placed after `[bgp]` and before the tunnels: whole top-level
    /// sections (`[failover]\nkey = 1`).
    pub sections_extra: String,
    /// Lines of each tunnel's `[tunnel.ike]` after `psk` and `initiate`;
    /// default [`IKE_TIMERS`]. Replace a line rather than add a second
    /// one with the same key (TOML refuses duplicate keys).
    pub tunnel_ike: [Vec<String>; 2],
    /// Lines of each tunnel's `[tunnel.bgp]` after `peer`; default
    /// `import = ["10.51.0.0/16"]`.
    pub tunnel_bgp: [Vec<String>; 2],
    /// More addresses (CIDR) on each hub's `lo`, before charon starts:
    /// kernel-libipsec needs a local address inside every local traffic
    /// selector.
    pub hub_lo: [Vec<String>; 2],
}

impl Default for DualHubOptions {
    fn default() -> Self {
        let ike: Vec<String> = IKE_TIMERS.iter().map(|l| l.to_string()).collect();
        let session = vec!["import = [\"10.51.0.0/16\"]".to_string()];
        Self {
            hold: 9,
            vnet_prefixes: vec![VNET_PREFIX.into()],
            return_path: ReturnPath::Both,
            hubs: [0, 1]
                .map(|i| instance_hub_options(HUB_UNDERLAY[i], EDGE_UNDERLAY[i], HUB_BGP[i])),
            daemon_extra: Vec::new(),
            tun_extra: Vec::new(),
            bgp_extra: Vec::new(),
            sections_extra: String::new(),
            tunnel_ike: [ike.clone(), ike],
            tunnel_bgp: [session.clone(), session],
            hub_lo: [Vec::new(), Vec::new()],
        }
    }
}

impl DualHubOptions {
    /// Appends `line` to both tunnels' `[tunnel.ike]`.
    pub fn each_ike(mut self, line: &str) -> Self {
        for t in &mut self.tunnel_ike {
            t.push(line.into());
        }
        self
    }

    /// Appends `line` to both tunnels' `[tunnel.bgp]`.
    pub fn each_session(mut self, line: &str) -> Self {
        for t in &mut self.tunnel_bgp {
            t.push(line.into());
        }
        self
    }

    /// BIRD's options for instance `i`: one multihop session `vwand`,
    /// originating [`DualHubOptions::vnet_prefixes`].
    pub fn bird_options(&self, i: usize) -> BirdOptions {
        instance_bird_options(HUB_BGP[i], self.hold, &self.vnet_prefixes)
    }

    /// vwand's configuration (with `{status_socket}` left in).
    pub fn vwand_config(&self) -> String {
        let advertise = ["172.24.0.0/17".to_string(), "172.24.128.0/17".to_string()];
        let mut c = vwand_head(
            &format!("\"{BGP_ONPREM}/32\""),
            &advertise,
            self.hold,
            &self.daemon_extra.join("\n"),
            &self.bgp_extra.join("\n"),
        );
        if !self.tun_extra.is_empty() {
            c = c.replacen(
                "[tun]\n",
                &format!("[tun]\n{}\n", self.tun_extra.join("\n")),
                1,
            );
        }
        if !self.sections_extra.is_empty() {
            c.push_str(self.sections_extra.trim_end());
            c.push_str("\n\n");
        }
        for i in 0..2 {
            c.push_str(&vwand_tunnel(
                TUNNELS[i],
                EDGE_UNDERLAY[i],
                HUB_UNDERLAY[i],
                &self.tunnel_ike[i],
                HUB_BGP[i],
                &self.tunnel_bgp[i],
            ));
        }
        c
    }
}

/// One hub instance. Fields drop in order: BIRD, charon, then the
/// namespace.
pub struct HubInstance {
    /// BIRD (AS 65515) with its session `vwand`.
    pub bird: Bird,
    /// charon (kernel-libipsec), the instance's VPN gateway.
    pub strongswan: StrongswanHub,
    /// The instance's namespace.
    pub ns: Netns,
    dir: PathBuf,
}

/// The running bed. Dropping it stops everything and removes the
/// namespaces.
pub struct DualHubBed {
    /// vwand in the edge namespace (`vwand.ns`); dropped first.
    pub vwand: Side,
    /// The two instances, by index.
    pub hubs: [HubInstance; 2],
    /// The vnet namespace, holding [`VNET_HOST`].
    pub vnet: Netns,
    /// Logs and configurations: `vwand.log`, `hub0/charon/charon.log`,
    /// `hub0/bird/bird.log`, ...
    pub scratch: ScratchDir,
    /// What the bed was started with.
    pub options: DualHubOptions,
}

/// Creates instance `i`'s namespace, its links to the edge and the vnet,
/// and its routes and rules to the VNet.
fn hub_namespace(i: usize, edge: &Netns, vnet: &Netns, o: &DualHubOptions) -> Netns {
    let ns = Netns::new(&format!("hub{i}"));
    veth_pair(
        edge,
        EDGE_LINKS[i],
        &format!("{}/24", EDGE_UNDERLAY[i]),
        &ns,
        HUB_LINK,
        &format!("{}/24", HUB_UNDERLAY[i]),
    );
    veth_pair(
        &ns,
        HUB_VNET_LINK,
        &format!("{}/30", HUB_VNET[i]),
        vnet,
        VNET_LINKS[i],
        &format!("{}/30", VNET_SIDE[i]),
    );
    ns.enable_forwarding();
    for a in &o.hub_lo[i] {
        ns.add_addr("lo", a);
    }
    for p in &o.vnet_prefixes {
        ns.add_route(p, VNET_SIDE[i]);
        // Before charon's `from all lookup 220` (whose default route
        // would send the VNet's traffic back into the tunnel).
        ns.ip(&["rule", "add", "to", p, "lookup", "main", "pref", "100"]);
    }
    ns
}

impl DualHubBed {
    /// Creates the namespaces and links, starts both instances (charon,
    /// then BIRD) and then vwand, which initiates both tunnels. Returns
    /// without waiting for them: see [`DualHubBed::wait_ready`].
    pub fn start(o: DualHubOptions) -> DualHubBed {
        crate::require_netns_env();
        crate::require_tools(&["charon-systemd", "swanctl", "bird", "birdc", "nft"]);
        let scratch = scratch_dir();
        let edge = Netns::new("edge");
        let vnet = Netns::new("vnet");
        vnet.add_addr("lo", &format!("{VNET_HOST}/32"));
        let hubs = [0, 1].map(|i| {
            let ns = hub_namespace(i, &edge, &vnet, &o);
            let dir = scratch.join(format!("hub{i}"));
            let strongswan = StrongswanHub::start(&ns, o.hubs[i].clone(), &dir.join("charon"));
            let bird = Bird::start(&ns, o.bird_options(i), &dir.join("bird"));
            HubInstance {
                bird,
                strongswan,
                ns,
                dir,
            }
        });
        match o.return_path {
            ReturnPath::Both => {
                let route = format!(
                    "route add {ONPREM} nexthop via {} dev {} nexthop via {} dev {}",
                    HUB_VNET[0], VNET_LINKS[0], HUB_VNET[1], VNET_LINKS[1]
                );
                vnet.ip(&route.split(' ').collect::<Vec<_>>());
            }
            ReturnPath::Hub0 => vnet.add_route(ONPREM, HUB_VNET[0]),
        }
        let vwand = start_daemon(&scratch, edge, "vwand", &o.vwand_config());
        DualHubBed {
            vwand,
            hubs,
            vnet,
            scratch,
            options: o,
        }
    }

    /// Waits until the bed is usable: both IKE SAs established in vwand,
    /// both BGP sessions Established on BIRD's side and on vwand's, each
    /// session has taught vwand every VNet prefix, and [`VNET_HOST`]
    /// answers a ping from the edge's [`BGP_ONPREM`]. Returns how long it
    /// waited.
    ///
    /// # Panics
    /// After `timeout` overall, naming the step, with vwand's status.
    pub fn wait_ready(&self, timeout: Duration) -> Duration {
        let t = Instant::now();
        let deadline = t + timeout;
        self.wait("both IKE SAs established in vwand", deadline, || {
            let s = self.vwand.status();
            TUNNELS
                .iter()
                .all(|n| s["tunnels"][n]["ike"]["state"] == "established")
        });
        for h in &self.hubs {
            let left = deadline.saturating_duration_since(Instant::now());
            h.bird.wait_established("vwand", left);
        }
        let prefixes = &self.options.vnet_prefixes;
        let what = "both of vwand's BGP sessions Established, with the VNet prefixes";
        self.wait(what, deadline, || {
            let s = self.vwand.status();
            TUNNELS.iter().all(|n| {
                let bgp = &s["tunnels"][n]["bgp"];
                bgp["state"] == "Established"
                    && prefixes.iter().all(|p| bgp["learned"].get(p).is_some())
            })
        });
        self.wait("a ping from the edge to the VNet host", deadline, || {
            self.ping_vnet(1)
        });
        t.elapsed()
    }

    /// Polls `f` until `deadline`; on timeout panics naming `what`, with
    /// vwand's status and the path of its log.
    fn wait(&self, what: &str, deadline: Instant, mut f: impl FnMut() -> bool) {
        let left = deadline.saturating_duration_since(Instant::now());
        if poll_until(left, || f().then_some(())).is_none() {
            panic!(
                "timed out waiting for {what}; vwand status:\n{:#}\nvwand log: {}",
                self.vwand.status(),
                self.vwand.daemon.log_path().display()
            );
        }
    }

    /// The edge namespace (vwand's).
    pub fn edge(&self) -> &Netns {
        &self.vwand.ns
    }

    /// `true` if [`VNET_HOST`] answers at least one of `count` pings from
    /// the edge, sent from [`BGP_ONPREM`].
    pub fn ping_vnet(&self, count: u32) -> bool {
        ping_from(self.edge(), BGP_ONPREM, VNET_HOST, count)
    }

    /// vwand's status of tunnel `name` (`tunnels.<name>`).
    pub fn tunnel_status(&self, name: &str) -> Value {
        self.vwand.tunnel(name)
    }

    /// vwand's `tunnels.<name>.ike.state`: "connecting", "established",
    /// "down" (empty if absent).
    pub fn ike_state(&self, name: &str) -> String {
        str_field(&self.tunnel_status(name)["ike"]["state"])
    }

    /// vwand's `tunnels.<name>.ike.established_count`.
    pub fn ike_established_count(&self, name: &str) -> u64 {
        self.tunnel_status(name)["ike"]["established_count"]
            .as_u64()
            .unwrap_or(0)
    }

    /// vwand's `tunnels.<name>.bgp.state` (RFC 4271 name; empty if absent).
    pub fn bgp_state(&self, name: &str) -> String {
        str_field(&self.tunnel_status(name)["bgp"]["state"])
    }

    /// The prefixes vwand learned over tunnel `name`'s session.
    pub fn learned(&self, name: &str) -> Vec<String> {
        self.tunnel_status(name)["bgp"]["learned"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// ESP packets vwand has sent over tunnel `name` since it started
    /// (`tunnels.<name>.esp_packets_out`: all its SAs together).
    ///
    /// # Panics
    /// If the status has no such counter (no such tunnel).
    pub fn outbound_packets(&self, name: &str) -> u64 {
        let t = self.tunnel_status(name);
        t["esp_packets_out"]
            .as_u64()
            .unwrap_or_else(|| panic!("no tunnels.{name}.esp_packets_out in vwand's status: {t}"))
    }

    /// [`DualHubBed::outbound_packets`] of both tunnels.
    pub fn outbound_both(&self) -> [u64; 2] {
        let s = self.vwand.status();
        TUNNELS.map(|n| s["tunnels"][n]["esp_packets_out"].as_u64().unwrap_or(0))
    }

    /// SIGKILL instance `i`'s charon by PID: vwand sees the gateway vanish
    /// without a DELETE. Its TUN and table-220 routes go with it.
    pub fn kill_charon(&mut self, i: usize) {
        self.hubs[i].strongswan.kill();
    }

    /// Starts a fresh charon for instance `i` with the options the old one
    /// had and loads its configuration (stopping the old one first if it
    /// still runs). It responds only: vwand re-initiates.
    pub fn restart_charon(&mut self, i: usize) {
        let h = &mut self.hubs[i];
        let opts = h.strongswan.options().clone();
        h.strongswan.stop();
        h.strongswan = StrongswanHub::start(&h.ns, opts, &h.dir.join("charon"));
    }

    /// `swanctl --terminate --ike` on instance `i`: a graceful DELETE from
    /// the hub.
    ///
    /// # Panics
    /// If swanctl fails (e.g. no IKE SA).
    pub fn terminate_ike(&self, i: usize) {
        assert!(
            self.hubs[i].strongswan.terminate_ike(),
            "swanctl --terminate --ike on hub{i} failed:\n{}",
            self.hubs[i].strongswan.list_sas()
        );
    }

    /// SIGKILL instance `i`'s BIRD by PID: vwand's session sees the TCP
    /// connection reset (or time out) without a NOTIFICATION.
    pub fn kill_bird(&mut self, i: usize) {
        self.hubs[i].bird.kill();
    }

    /// Starts a fresh BIRD for instance `i` with the old one's options
    /// (stopping the old one first if it still runs).
    pub fn restart_bird(&mut self, i: usize) {
        let h = &mut self.hubs[i];
        let opts = h.bird.options().clone();
        h.bird.stop();
        h.bird = Bird::start(&h.ns, opts, &h.dir.join("bird"));
    }

    /// Sets the edge's link to instance `i` down (the hub's end loses
    /// carrier too).
    pub fn edge_link_down(&self, i: usize) {
        self.edge()
            .ip(&["link", "set", "dev", EDGE_LINKS[i], "down"]);
    }

    /// Sets the edge's link to instance `i` up again and waits until it is
    /// operationally UP.
    pub fn edge_link_up(&self, i: usize) {
        self.edge().link_up(EDGE_LINKS[i]);
        self.edge()
            .wait_link_up(EDGE_LINKS[i], Duration::from_secs(10));
    }

    /// Drops every packet in and out of instance `i`'s underlay link, in
    /// its namespace (nftables table [`BLACKHOLE_TABLE`]): the link stays
    /// up, nothing passes.
    pub fn blackhole(&self, i: usize) {
        self.nft(i, BLACKHOLE_TABLE, Some("drop"));
    }

    /// Undoes [`DualHubBed::blackhole`] (removes its table; a no-op if
    /// there is none).
    pub fn unblackhole(&self, i: usize) {
        self.nft(i, BLACKHOLE_TABLE, None);
    }

    /// Drops `percent` % of the packets in each direction of instance `i`'s
    /// underlay link, at random (`numgen random mod 100 < N drop`, table
    /// [`LOSSY_TABLE`]), replacing an earlier setting. 0 removes it.
    ///
    /// # Panics
    /// If `percent` is over 100.
    pub fn lossy(&self, i: usize, percent: u32) {
        assert!(percent <= 100, "loss of {percent} %");
        let verdict = format!("numgen random mod 100 < {percent} drop");
        self.nft(i, LOSSY_TABLE, (percent > 0).then_some(verdict.as_str()));
    }

    /// Undoes [`DualHubBed::lossy`].
    pub fn unlossy(&self, i: usize) {
        self.lossy(i, 0);
    }

    /// (Re)creates nftables table `table` in instance `i`'s namespace with
    /// `rule` (e.g. `drop`) on everything entering and leaving its underlay
    /// link, or only deletes it when `rule` is `None`. One `nft -f`
    /// transaction; creating the table before deleting it makes the
    /// delete succeed when there was none.
    fn nft(&self, i: usize, table: &str, rule: Option<&str>) {
        let mut script = format!("table inet {table} {{}}\ndelete table inet {table}\n");
        if let Some(rule) = rule {
            script.push_str(&format!(
                "table inet {table} {{\n  \
                   chain in {{ type filter hook prerouting priority -300; policy accept; \
                   iifname \"{HUB_LINK}\" counter {rule}; }}\n  \
                   chain out {{ type filter hook postrouting priority 300; policy accept; \
                   oifname \"{HUB_LINK}\" counter {rule}; }}\n\
                 }}\n"
            ));
        }
        let path = self.hubs[i].dir.join(format!("{table}.nft"));
        std::fs::write(&path, script).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        let path = path.to_str().expect("scratch path must be UTF-8");
        self.hubs[i].ns.run_ok(&["nft", "-f", path]);
    }
}

fn str_field(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_both_tunnels_and_the_extras() {
        let mut o = DualHubOptions::default()
            .each_ike("child_rekey_seconds = 30")
            .each_session("prepend = 1");
        o.daemon_extra.push("socket_buffer = 1048576".into());
        o.bgp_extra.push("route_metric = 50".into());
        o.sections_extra = "[failover]\nhold_ms = 300".into();
        let c = o.vwand_config();
        for want in [
            "status_socket = \"{status_socket}\"\nsocket_buffer = 1048576\n",
            "addresses = [\"172.24.255.1/32\"]",
            "hold_time = 9\nconnect_retry_seconds = 2\nroute_metric = 50\n",
            "[failover]\nhold_ms = 300\n",
            "name = \"hub0\"\nlocal = \"192.0.2.1\"\npeer = \"192.0.2.2\"",
            "name = \"hub1\"\nlocal = \"198.51.100.1\"\npeer = \"198.51.100.2\"",
            "peer = \"10.51.230.12\"\nimport = [\"10.51.0.0/16\"]\nprepend = 1\n",
            "peer = \"10.51.230.13\"\nimport = [\"10.51.0.0/16\"]\nprepend = 1\n",
        ] {
            assert!(c.contains(want), "missing {want:?} in:\n{c}");
        }
        assert_eq!(c.matches("child_rekey_seconds = 30").count(), 2, "{c}");
        assert_eq!(c.matches("dpd_seconds = 2").count(), 2, "{c}");
        // The extra section precedes the tunnels, so it stays top-level.
        assert!(c.find("[failover]") < c.find("[[tunnel]]"), "{c}");
    }

    #[test]
    fn instances_differ_only_where_they_should() {
        let o = DualHubOptions::default();
        assert_eq!(o.hubs[0].local_addr, "192.0.2.2");
        assert_eq!(o.hubs[1].remote_addr, "198.51.100.1");
        assert_eq!(o.hubs[1].vnet_address.as_deref(), Some("10.51.230.13/32"));
        let b = o.bird_options(1);
        assert_eq!(b.router_id, "10.51.230.13");
        assert_eq!(b.static4, [VNET_PREFIX]);
        let n = &b.neighbors[0];
        assert_eq!((n.hold_time, n.keepalive_time), (9, 3));
        assert_eq!(n.local_addr.as_deref(), Some("10.51.230.13"));
    }
}
