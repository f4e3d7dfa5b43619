//! An emulated ExpressRoute circuit between an on-premises site and an
//! Azure hub, with vwand on the edge, for the routing-mode tests: does
//! traffic between a LAN host and a VNet host cross the circuit only as
//! ESP (`encrypt`), and does it move to the tunnel when the circuit fails
//! (`failover`)?
//!
//! ```text
//!  lan 192.168.10.10 ── core (BIRD AS 65010) ══ er0 ═══ msee (BIRD AS 12076) ═══ h0 ══ hub: charon + BIRD AS 65515 ── vnet 10.52.0.10
//!                        │ 192.168.20.1     172.31.1.0/30                  172.31.2.0/30    lo 10.51.230.4 (gateway)
//!                        │ iBGP                                                             lo 10.51.230.12 (BGP)
//!                       edge: vwand 192.168.20.2, TUN 172.24.255.1 ─ inet0 100.64.0.2 ══ 100.64.0.1 (failover only)
//! ```
//!
//! * The core router peers over iBGP with vwand and over eBGP with the
//!   circuit's router (the MSEE). It sends the ExpressRoute aggregate
//!   [`ER_PREFIX`] to the MSEE and the LAN prefix [`LAN_PREFIX`] to vwand.
//!   It takes Azure's prefixes from both and picks by LOCAL_PREF (vwand
//!   sends 200 in encrypt mode and 50 in failover mode; the MSEE's count
//!   as 100).
//! * The hub's BIRD, as Azure, prefers the circuit for the same prefix
//!   (LOCAL_PREF 200 on the MSEE's routes) and otherwise the longest
//!   prefix. Its routes go into its kernel: over the circuit, or into
//!   charon's `ipsec0` (next hop vwand's TUN address).
//! * In encrypt mode vwand's tunnel runs over the circuit (raw ESP from
//!   192.168.20.2 to 10.51.230.4). In failover mode it runs over a
//!   separate "internet" link, so that cutting the circuit leaves it up.
//!
//! Dropping the bed stops vwand, the three BIRDs and charon (by PID) and
//! deletes the six namespaces, also when a test panics.

use crate::bird::{Bird, BirdOptions};
use crate::hub_bed::{instance_hub_options, IKE_TIMERS, PSK};
use crate::strongswan::StrongswanHub;
use crate::vwand::{start_daemon, Side};
use crate::{scratch_dir, veth_pair, Netns, ScratchDir};
use std::time::Duration;

/// The LAN host, behind the core router.
pub const LAN_HOST: &str = "192.168.10.10";
/// The LAN prefix: the core router sends it to vwand, which advertises
/// it to Azure (more specific than [`ER_PREFIX`]).
pub const LAN_PREFIX: &str = "192.168.10.0/24";
/// What the core router advertises over ExpressRoute.
pub const ER_PREFIX: &str = "192.168.0.0/16";
/// A second on-premises prefix that [`CircuitBed::advertise_both_ways`]
/// sends over ExpressRoute and to vwand alike.
pub const BOTH_WAYS_PREFIX: &str = "192.168.30.0/24";
/// The VNet host, behind the hub.
pub const VNET_HOST: &str = "10.52.0.10";
/// The VNet prefix the hub advertises both ways.
pub const VNET_PREFIX: &str = "10.52.0.0/16";
/// The gateway instance's address (charon), on the hub's `lo`.
pub const GATEWAY: &str = "10.51.230.4";
/// The instance's BGP address, on the hub's `lo`.
pub const HUB_BGP: &str = "10.51.230.12";
/// vwand's address toward the core router (and its tunnel's in encrypt
/// mode).
pub const EDGE_LAN: &str = "192.168.20.2";
/// The core router's address toward vwand.
pub const CORE_EDGE: &str = "192.168.20.1";
/// vwand's address on the "internet" link (its tunnel's in failover mode).
pub const EDGE_INET: &str = "100.64.0.2";
/// The hub's address on the "internet" link.
pub const HUB_INET: &str = "100.64.0.1";
/// vwand's TUN address: its BGP address toward the hub.
pub const TUN_ADDR: &str = "172.24.255.1";
/// The core router's link to the MSEE.
pub const CORE_CIRCUIT_LINK: &str = "er0";
/// The MSEE's links: to the core router and to the hub.
pub const MSEE_LINKS: [&str; 2] = ["c0", "h0"];

/// nftables table of [`CircuitBed::silence_circuit`].
const SILENCE: &str = "vwbed_circuit_silent";

/// `[bgp] mode` of the bed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingMode {
    /// Everything crosses the tunnel.
    Encrypt,
    /// ExpressRoute first, the tunnel when it fails.
    Failover,
}

/// BGP timers of every session in the bed: hold 9 s, keepalive 3 s.
const TIMERS: &str = "hold time 9; keepalive time 3; connect delay time 1; connect retry time 2; error wait time 1,4;";

fn bird(router_id: &str, local_as: u32, body: String) -> BirdOptions {
    let mut b = BirdOptions::new(router_id);
    b.local_as = local_as;
    b.extra = vec![body];
    b
}

/// Only BGP routes (and `also`) go into the kernel: the static blackholes
/// only originate prefixes.
fn kernel(also: &str) -> String {
    format!(
        "protocol kernel {{ ipv4 {{ export filter {{ if source = RTS_BGP {also}then accept; reject; }}; }}; }}\n"
    )
}

/// The core router (its LAN prefix outranks the connected route, so that
/// BIRD exports it to vwand): `both_ways` adds [`BOTH_WAYS_PREFIX`] to what goes
/// over ExpressRoute and to vwand.
fn core_bird(both_ways: bool) -> BirdOptions {
    let extra = if both_ways {
        format!("route {BOTH_WAYS_PREFIX} blackhole; ")
    } else {
        String::new()
    };
    let body = format!(
        "{}protocol static er {{ ipv4; route {ER_PREFIX} blackhole; {extra}}}\n\
         protocol static lan {{ ipv4 {{ preference 250; }}; route {LAN_PREFIX} blackhole; {extra}}}\n\
         protocol bgp msee {{ local 172.31.1.1 as 65010; neighbor 172.31.1.2 as 12076; direct; check link on; {TIMERS}\n\
           ipv4 {{ import all; export where proto = \"er\"; }}; }}\n\
         protocol bgp vwand {{ local {CORE_EDGE} as 65010; neighbor {EDGE_LAN} as 65010; direct; {TIMERS}\n\
           ipv4 {{ import all; export where proto = \"lan\"; next hop self; }}; }}\n",
        kernel("")
    );
    bird("192.168.20.1", 65010, body)
}

fn msee_bird() -> BirdOptions {
    let body = format!(
        "{}protocol bgp core {{ local 172.31.1.2 as 12076; neighbor 172.31.1.1 as 65010; direct; check link on; {TIMERS}\n\
           ipv4 {{ import all; export all; }}; }}\n\
         protocol bgp hub {{ local 172.31.2.1 as 12076; neighbor 172.31.2.2 as 65515; direct; check link on; {TIMERS}\n\
           ipv4 {{ import all; export all; }}; }}\n",
        kernel("")
    );
    bird("172.31.1.2", 12076, body)
}

/// The hub, as Azure: the circuit's routes win for the same prefix.
fn hub_bird() -> BirdOptions {
    let body = format!(
        "{}protocol static vnet {{ ipv4; route {VNET_PREFIX} blackhole; route 10.51.230.0/24 blackhole; }}\n\
         protocol static tunnel_nh {{ ipv4; route {TUN_ADDR}/32 via \"ipsec0\"; }}\n\
         protocol bgp msee {{ local 172.31.2.2 as 65515; neighbor 172.31.2.1 as 12076; direct; check link on; {TIMERS}\n\
           ipv4 {{ import filter {{ bgp_local_pref = 200; accept; }}; export where proto = \"vnet\"; }}; }}\n\
         protocol bgp vwand {{ local {HUB_BGP} as 65515; neighbor {TUN_ADDR} as 65010; multihop 8; {TIMERS}\n\
           ipv4 {{ import all; export where proto = \"vnet\"; }}; }}\n",
        kernel("|| proto = \"tunnel_nh\" ")
    );
    bird(HUB_BGP, 65515, body)
}

/// vwand's configuration for `mode` (with `{status_socket}` left in).
pub fn vwand_config(mode: RoutingMode) -> String {
    let (mode_name, advertise, lan_import, local) = match mode {
        RoutingMode::Encrypt => (
            "encrypt",
            String::new(),
            format!("\"{ER_PREFIX}\""),
            EDGE_LAN,
        ),
        // The same prefix as ExpressRoute, prepended; nothing learned.
        RoutingMode::Failover => (
            "failover",
            format!("\"{ER_PREFIX}\""),
            String::new(),
            EDGE_INET,
        ),
    };
    let ike = IKE_TIMERS.join("\n");
    format!(
        "[daemon]\nstatus_socket = \"{{status_socket}}\"\n\n[tun]\nname = \"vw0\"\naddresses = [\"{TUN_ADDR}/32\"]\n\n\
         [bgp]\nasn = 65010\nmode = \"{mode_name}\"\nadvertise = [{advertise}]\n\
         expressroute_prefixes = [\"{ER_PREFIX}\", \"{BOTH_WAYS_PREFIX}\"]\nhold_time = 9\nconnect_retry_seconds = 2\n\n\
         [[bgp.lan]]\npeer = \"{CORE_EDGE}\"\nremote_as = 65010\nlocal_address = \"{EDGE_LAN}\"\nimport = [{lan_import}]\n\n\
         [[tunnel]]\nname = \"hub0\"\nlocal = \"{local}\"\npeer = \"{GATEWAY}\"\ntransport = \"raw\"\nroutes = []\n\n\
         [tunnel.ike]\npsk = \"{PSK}\"\ninitiate = true\n{ike}\n\n\
         [tunnel.bgp]\npeer = \"{HUB_BGP}\"\nimport = [\"10.51.0.0/16\", \"{VNET_PREFIX}\"]\n"
    )
}

/// The running bed (fields drop in order: vwand first, namespaces last).
pub struct CircuitBed {
    /// vwand on the edge.
    pub vwand: Side,
    /// The core router's BIRD.
    pub core_bird: Bird,
    /// The MSEE's BIRD.
    pub msee_bird: Bird,
    /// The hub's BIRD.
    pub hub_bird: Bird,
    /// The gateway.
    pub charon: StrongswanHub,
    /// The LAN host's namespace (the edge's is `vwand.ns`).
    pub lan: Netns,
    /// The core router's.
    pub core: Netns,
    /// The MSEE's.
    pub msee: Netns,
    /// The hub's (charon and BIRD).
    pub hub: Netns,
    /// The VNet host's.
    pub vnet: Netns,
    /// Logs and configurations.
    pub scratch: ScratchDir,
    /// The mode vwand runs in.
    pub mode: RoutingMode,
}

impl CircuitBed {
    /// Builds the namespaces and links, starts charon, the three BIRDs
    /// and vwand. Returns at once: wait for what the test needs.
    pub fn start(mode: RoutingMode) -> CircuitBed {
        let scratch = scratch_dir();
        let lan = Netns::new("lan");
        let core = Netns::new("core");
        let edge = Netns::new("edge");
        let msee = Netns::new("msee");
        let hub = Netns::new("hub");
        let vnet = Netns::new("vnet");
        veth_pair(
            &lan,
            "eth0",
            &format!("{LAN_HOST}/24"),
            &core,
            "lan0",
            "192.168.10.1/24",
        );
        lan.add_route("default", "192.168.10.1");
        veth_pair(
            &core,
            "edge0",
            &format!("{CORE_EDGE}/24"),
            &edge,
            "lan0",
            &format!("{EDGE_LAN}/24"),
        );
        edge.add_route("default", CORE_EDGE);
        veth_pair(
            &core,
            CORE_CIRCUIT_LINK,
            "172.31.1.1/30",
            &msee,
            MSEE_LINKS[0],
            "172.31.1.2/30",
        );
        veth_pair(
            &msee,
            MSEE_LINKS[1],
            "172.31.2.1/30",
            &hub,
            "er0",
            "172.31.2.2/30",
        );
        veth_pair(
            &hub,
            "vn0",
            "10.52.0.1/24",
            &vnet,
            "eth0",
            &format!("{VNET_HOST}/24"),
        );
        vnet.add_route("default", "10.52.0.1");
        hub.add_addr("lo", &format!("{GATEWAY}/32"));
        if mode == RoutingMode::Failover {
            veth_pair(
                &edge,
                "inet0",
                &format!("{EDGE_INET}/30"),
                &hub,
                "inet0",
                &format!("{HUB_INET}/30"),
            );
            edge.add_route(&format!("{GATEWAY}/32"), HUB_INET);
        }
        for ns in [&core, &edge, &msee, &hub] {
            ns.enable_forwarding();
        }
        // charon's kernel-libipsec routes everything into ipsec0 from
        // table 220 (selectors 0.0.0.0/0); the hub's own routes (BIRD's,
        // connected) come first, only the default route is left to 220.
        hub.ip(&[
            "rule",
            "add",
            "pref",
            "100",
            "lookup",
            "main",
            "suppress_prefixlength",
            "0",
        ]);
        let peer = match mode {
            RoutingMode::Encrypt => EDGE_LAN,
            RoutingMode::Failover => EDGE_INET,
        };
        let charon = StrongswanHub::start(
            &hub,
            instance_hub_options(GATEWAY, peer, HUB_BGP),
            &scratch.join("charon"),
        );
        let hub_bird = Bird::start(&hub, hub_bird(), &scratch.join("hub-bird"));
        let msee_bird = Bird::start(&msee, msee_bird(), &scratch.join("msee-bird"));
        let core_bird = Bird::start(&core, core_bird(false), &scratch.join("core-bird"));
        let vwand = start_daemon(&scratch, edge, "vwand", &vwand_config(mode));
        CircuitBed {
            vwand,
            core_bird,
            msee_bird,
            hub_bird,
            charon,
            lan,
            core,
            msee,
            hub,
            vnet,
            scratch,
            mode,
        }
    }

    /// The core router starts sending [`BOTH_WAYS_PREFIX`] over
    /// ExpressRoute and to vwand: the mistake the guard must catch.
    pub fn advertise_both_ways(&mut self) {
        self.core_bird.reconfigure(core_bird(true));
    }

    /// The interface a namespace's kernel uses toward `dst`.
    pub fn route_dev(ns: &Netns, dst: &str) -> String {
        let out = ns.ip(&["-4", "route", "get", dst]);
        out.split_whitespace()
            .skip_while(|w| *w != "dev")
            .nth(1)
            .unwrap_or("")
            .to_string()
    }

    /// Cuts the circuit (the core router's link to the MSEE goes down).
    pub fn cut_circuit(&self) {
        self.core.ip(&["link", "set", CORE_CIRCUIT_LINK, "down"]);
    }

    /// Undoes [`CircuitBed::cut_circuit`].
    pub fn restore_circuit(&self) {
        self.core.link_up(CORE_CIRCUIT_LINK);
    }

    /// The MSEE stops forwarding and answering (nftables drops all it
    /// receives and sends) while its links stay up, as a circuit that
    /// fails silently: only the BGP hold timers notice.
    pub fn silence_circuit(&self) {
        self.msee_nft(Some("drop"));
    }

    /// Undoes [`CircuitBed::silence_circuit`].
    pub fn unsilence_circuit(&self) {
        self.msee_nft(None);
    }

    fn msee_nft(&self, policy: Option<&str>) {
        let mut script = format!("table inet {SILENCE} {{}}\ndelete table inet {SILENCE}\n");
        if let Some(p) = policy {
            script.push_str(&format!(
                "table inet {SILENCE} {{\n  \
                   chain in {{ type filter hook prerouting priority -300; policy {p}; }}\n  \
                   chain out {{ type filter hook output priority -300; policy {p}; }}\n}}\n"
            ));
        }
        let path = self.scratch.join(format!("{SILENCE}.nft"));
        std::fs::write(&path, script).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        let path = path.to_str().expect("scratch path must be UTF-8");
        self.msee.run_ok(&["nft", "-f", path]);
    }

    /// vwand's status document.
    pub fn status(&self) -> serde_json::Value {
        self.vwand.status()
    }

    /// Everything to debug a failure: logs and routing tables.
    pub fn diagnostics(&self) -> String {
        let routes = |ns: &Netns| ns.ip(&["-4", "route"]);
        format!(
            "vwand status:\n{:#}\ncore routes:\n{}\nhub routes:\n{}\nedge routes:\n{}\ncore BIRD:\n{}\nhub BIRD:\n{}\nvwand log:\n{}",
            self.vwand.status(),
            routes(&self.core),
            routes(&self.hub),
            routes(&self.vwand.ns),
            self.core_bird.birdc(&["show", "route", "all"]),
            self.hub_bird.birdc(&["show", "route", "all"]),
            std::fs::read_to_string(self.scratch.join("vwand.log")).unwrap_or_default()
        )
    }
}

/// How long the bed takes at most to converge (IKE, then four BGP sessions).
pub const CONVERGE: Duration = Duration::from_secs(60);
