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

/// vwand's `[tunnel.ike]` timers in the emulated hubs: a liveness check
/// after 2 idle seconds, retransmissions at 0.5, 1 and 2 s.
pub const IKE_TIMERS: [&str; 3] = ["dpd_seconds = 2", "retransmit_ms = 500", "retransmits = 3"];

/// vwand's `[daemon]`, `[tun]` and `[bgp]` sections (AS 65010, the
/// ExpressRoute prefix 172.24.0.0/16), with `{status_socket}` left in.
/// `tun` is the quoted, comma-separated TUN address list; the extra lines
/// go at the end of `[daemon]` and `[bgp]`.
pub fn vwand_head(
    tun: &str,
    advertise: &[String],
    hold: u16,
    daemon_extra: &str,
    bgp_extra: &str,
) -> String {
    let adv: Vec<String> = advertise.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "[daemon]\nstatus_socket = \"{{status_socket}}\"\n{}\n[tun]\nname = \"vw0\"\naddresses = [{tun}]\n\n\
         [bgp]\nasn = 65010\nadvertise = [{}]\nexpressroute_prefixes = [\"172.24.0.0/16\"]\nhold_time = {hold}\n\
         connect_retry_seconds = 2\n{}\n",
        lines(daemon_extra),
        adv.join(", "),
        lines(bgp_extra),
    )
}

/// `text` with a final newline, or nothing if it is empty.
fn lines(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// One `[[tunnel]]` of vwand to an emulated hub instance, IKE-keyed with
/// [`PSK`], initiating, with its BGP session to `bgp_peer`. `ike` and
/// `session` are the lines of `[tunnel.ike]` (after `psk` and `initiate`)
/// and of `[tunnel.bgp]` (after `peer`).
pub fn vwand_tunnel(
    name: &str,
    local: &str,
    peer: &str,
    ike: &[String],
    bgp_peer: &str,
    session: &[String],
) -> String {
    format!(
        "[[tunnel]]\nname = \"{name}\"\nlocal = \"{local}\"\npeer = \"{peer}\"\ntransport = \"raw\"\nroutes = []\n\n\
         [tunnel.ike]\npsk = \"{PSK}\"\ninitiate = true\n{}\n[tunnel.bgp]\npeer = \"{bgp_peer}\"\n{}\n",
        lines(&ike.join("\n")),
        lines(&session.join("\n")),
    )
}

/// vwand's configuration for `o` (with `{status_socket}` left in).
pub fn vwand_config(o: &HubBedOptions) -> String {
    let tun6 = if o.hub_prefixes6.is_empty() {
        String::new()
    } else {
        format!(", \"{ONPREM6}/128\"")
    };
    let tun = format!("\"{BGP_ONPREM}/32\"{tun6}");
    let ike: Vec<String> = IKE_TIMERS.iter().map(|l| l.to_string()).collect();
    vwand_head(&tun, &o.advertise, o.hold, "", &o.bgp_extra)
        + &vwand_tunnel(
            "hub0",
            "192.0.2.1",
            "192.0.2.2",
            &ike,
            BGP_HUB,
            std::slice::from_ref(&o.session_extra),
        )
}

/// strongSwan's options for a hub instance at underlay address `local`
/// facing vwand at `peer`, with the instance's BGP address `bgp` on `lo`
/// (inside its traffic selector, as kernel-libipsec needs): PSK,
/// `aes256gcm16-prfsha384-ecp384` / `aes256gcm16`, TS `0.0.0.0/0` both
/// ways, responder only, DPD every second.
pub fn instance_hub_options(local: &str, peer: &str, bgp: &str) -> HubOptions {
    let mut h = HubOptions::new(local, peer, PSK);
    h.ike_proposal = "aes256gcm16-prfsha384-ecp384".into();
    h.esp_proposal = "aes256gcm16".into();
    h.local_ts = vec!["0.0.0.0/0".into()];
    h.remote_ts = vec!["0.0.0.0/0".into()];
    h.vnet_address = Some(format!("{bgp}/32"));
    h.start_action = StartAction::None;
    h.dpd_delay = Some(Duration::from_secs(1));
    h
}

/// BIRD's options for a hub instance with BGP address `bgp` (its router
/// ID): one multihop session `vwand` to [`BGP_ONPREM`] in AS 65010, hold
/// time `hold` (keepalive a third of it), IPv4 only, originating
/// `prefixes`.
pub fn instance_bird_options(bgp: &str, hold: u16, prefixes: &[String]) -> BirdOptions {
    let mut b = BirdOptions::new(bgp);
    let mut n = BgpNeighbor::new("vwand", BGP_ONPREM, 65010).with_local(bgp);
    n.multihop = Some(8);
    n.hold_time = u32::from(hold);
    n.keepalive_time = u32::from((hold / 3).max(1));
    n.ipv6 = false;
    b.neighbors.push(n);
    b.static4 = prefixes.to_vec();
    b
}

/// BIRD's options for `o`: one multihop session to vwand, IPv4 only.
pub fn bird_options(o: &HubBedOptions) -> BirdOptions {
    let mut b = instance_bird_options(BGP_HUB, o.hold, &o.hub_prefixes);
    let n = b.neighbor_mut("vwand").expect("the session to vwand");
    n.ipv6 = !o.hub_prefixes6.is_empty();
    if n.ipv6 {
        n.ipv6_next_hop = Some(BIRD_NEXT_HOP6.into());
    }
    n.password = o.bird_password.clone();
    n.passive = o.bird_passive;
    b.static6 = o.hub_prefixes6.clone();
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
        let h = instance_hub_options("192.0.2.2", "192.0.2.1", BGP_HUB);
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
