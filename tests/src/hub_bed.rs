//! An emulated Azure hub instance for BGP tests and benchmarks: strongSwan
//! as the VPN gateway and BIRD as its BGP (AS 65515) in one namespace,
//! vwand in another, joined by one underlay veth. The tunnel carries the
//! BGP session to the instance's BGP address, as on Azure.
//!
//! ```text
//!  onprem: vwand, TUN 172.24.255.1 ── ul0 192.0.2.1 ══ 192.0.2.2 ul0 ── strongSwan + BIRD, lo 10.51.230.12 :hub
//! ```

use crate::bird::{BgpNeighbor, Bird, BirdOptions};
use crate::strongswan::{HubOptions, StartAction, StrongswanHub};
use crate::vwand::{start_daemon, Side};
use crate::{scratch_dir, veth_pair, Netns, ScratchDir};
use std::time::Duration;

/// The pre-shared key of the emulated hub.
pub const PSK: &str = "azure-hub-psk-not-a-secret-0123456789";
/// The hub instance's BGP address (Azure: `BgpPeeringAddresses`).
pub const BGP_HUB: &str = "10.51.230.12";
/// vwand's BGP address, on its TUN.
pub const BGP_ONPREM: &str = "172.24.255.1";

/// What to set up.
#[derive(Debug, Clone)]
pub struct HubBedOptions {
    /// BGP hold time on both sides (keepalive a third of it).
    pub hold: u16,
    /// vwand's `[bgp] advertise`.
    pub advertise: Vec<String>,
    /// The prefixes BIRD originates.
    pub hub_prefixes: Vec<String>,
    /// More lines for vwand's `[bgp]` and `[tunnel.bgp]` sections.
    pub bgp_extra: String,
    /// More lines for vwand's `[tunnel.bgp]`.
    pub session_extra: String,
    /// BIRD's TCP-MD5 password for the session.
    pub bird_password: Option<String>,
    /// BIRD only accepts the connection (vwand dials).
    pub bird_passive: bool,
    /// IPv6 unicast too (MP-BGP over the IPv4 session): BIRD originates
    /// these, with next hop [`BIRD_NEXT_HOP6`]; vwand's TUN gets
    /// [`ONPREM6`] as its IPv6 next hop.
    pub hub_prefixes6: Vec<String>,
}

/// vwand's IPv6 TUN address (its IPv6 next hop) when IPv6 is on.
pub const ONPREM6: &str = "fd00:24::1";
/// BIRD's IPv6 next hop when IPv6 is on.
pub const BIRD_NEXT_HOP6: &str = "fd51::12";

impl Default for HubBedOptions {
    fn default() -> Self {
        Self {
            hold: 9,
            advertise: vec!["172.24.0.0/17".into(), "172.24.128.0/17".into()],
            hub_prefixes: Vec::new(),
            bgp_extra: String::new(),
            session_extra: "import = [\"0.0.0.0/0\"]".into(),
            bird_password: None,
            bird_passive: false,
            hub_prefixes6: Vec::new(),
        }
    }
}

/// vwand's configuration for `o` (with `{status_socket}` left in).
pub fn vwand_config(o: &HubBedOptions) -> String {
    let adv: Vec<String> = o.advertise.iter().map(|p| format!("\"{p}\"")).collect();
    let tun6 = if o.hub_prefixes6.is_empty() {
        String::new()
    } else {
        format!(", \"{ONPREM6}/128\"")
    };
    format!(
        "[daemon]\nstatus_socket = \"{{status_socket}}\"\n\n[tun]\nname = \"vw0\"\naddresses = [\"{BGP_ONPREM}/32\"{tun6}]\n\n\
         [bgp]\nasn = 65010\nadvertise = [{}]\nexpressroute_prefixes = [\"172.24.0.0/16\"]\nhold_time = {}\nconnect_retry_seconds = 2\n{}\n\n\
         [[tunnel]]\nname = \"hub0\"\nlocal = \"192.0.2.1\"\npeer = \"192.0.2.2\"\ntransport = \"raw\"\nroutes = []\n\n\
         [tunnel.ike]\npsk = \"{PSK}\"\ninitiate = true\ndpd_seconds = 2\nretransmit_ms = 500\nretransmits = 3\n\n\
         [tunnel.bgp]\npeer = \"{BGP_HUB}\"\n{}\n",
        adv.join(", "),
        o.hold,
        o.bgp_extra,
        o.session_extra
    )
}

/// BIRD's options for `o`: one multihop session to vwand, IPv4 only.
pub fn bird_options(o: &HubBedOptions) -> BirdOptions {
    let mut b = BirdOptions::new(BGP_HUB);
    let mut n = BgpNeighbor::new("vwand", BGP_ONPREM, 65010).with_local(BGP_HUB);
    n.multihop = Some(8);
    n.hold_time = u32::from(o.hold);
    n.keepalive_time = u32::from((o.hold / 3).max(1));
    n.ipv6 = !o.hub_prefixes6.is_empty();
    if n.ipv6 {
        n.ipv6_next_hop = Some(BIRD_NEXT_HOP6.into());
    }
    b.static6 = o.hub_prefixes6.clone();
    n.password = o.bird_password.clone();
    n.passive = o.bird_passive;
    b.neighbors.push(n);
    b.static4 = o.hub_prefixes.clone();
    b
}

/// The running bed. Dropping it stops everything and removes the
/// namespaces.
pub struct HubBed {
    /// vwand (fields drop in order: vwand first).
    pub vwand: Side,
    /// BIRD in the hub namespace.
    pub bird: Bird,
    /// strongSwan in the hub namespace.
    pub hub: StrongswanHub,
    /// The hub namespace.
    pub hub_ns: Netns,
    /// Logs and configurations.
    pub scratch: ScratchDir,
    /// What the bed was started with.
    pub options: HubBedOptions,
}

impl HubBed {
    /// Starts strongSwan, then BIRD, then vwand (which initiates IKE).
    pub fn start(o: HubBedOptions) -> HubBed {
        let scratch = scratch_dir();
        let a = Netns::new("onprem");
        let b = Netns::new("hub");
        veth_pair(&a, "ul0", "192.0.2.1/24", &b, "ul0", "192.0.2.2/24");
        let hub_dir = scratch.join("hub");
        std::fs::create_dir_all(&hub_dir).expect("hub dir");
        let mut h = HubOptions::new("192.0.2.2", "192.0.2.1", PSK);
        h.ike_proposal = "aes256gcm16-prfsha384-ecp384".into();
        h.esp_proposal = "aes256gcm16".into();
        h.local_ts = vec!["0.0.0.0/0".into()];
        h.remote_ts = vec!["0.0.0.0/0".into()];
        h.vnet_address = Some(format!("{BGP_HUB}/32"));
        h.start_action = StartAction::None;
        h.dpd_delay = Some(Duration::from_secs(1));
        let hub = StrongswanHub::start(&b, h, &hub_dir);
        let bird = Bird::start(&b, bird_options(&o), &scratch.join("bird"));
        let vwand = start_daemon(&scratch, a, "vwand", &vwand_config(&o));
        HubBed {
            vwand,
            bird,
            hub,
            hub_ns: b,
            scratch,
            options: o,
        }
    }

    /// vwand's BGP status for the tunnel.
    pub fn vwand_bgp(&self) -> serde_json::Value {
        self.vwand.status()["tunnels"]["hub0"]["bgp"].clone()
    }

    /// vwand's IPv4 kernel routes through its TUN, as `ip route` prints.
    pub fn kernel_routes(&self) -> String {
        self.vwand.ns.ip(&["-4", "route", "show", "dev", "vw0"])
    }

    /// How many IPv4 routes vwand's TUN has in the kernel.
    pub fn kernel_route_count(&self) -> usize {
        self.kernel_routes().lines().count()
    }
}
