//! The race's topology, and each path's daemons on it.

use std::time::Duration;

use super::PathKind;
use crate::strongswan::StartAction;
use crate::vwand::{start_daemon, Side};
use crate::{veth_pair, wait_ping, HubOptions, Iperf3Server, Netns, ScratchDir, StrongswanHub};

/// The LAN host (iperf3 client).
pub const LAN_HOST: &str = "10.1.0.2";
/// The VNet host (iperf3 server).
pub const VNET_HOST: &str = "10.2.0.2";
const LAN: &str = "10.1.0.0/24";
const VNET: &str = "10.2.0.0/24";
const EDGE_LAN: &str = "10.1.0.1";
const HUB_VNET: &str = "10.2.0.1";
const EDGE_UL: &str = "192.0.2.1";
const HUB_UL: &str = "192.0.2.2";
const PSK: &str = "race-psk-not-a-secret-0123456789abcdef";
const IKE: &str = "aes256gcm16-prfsha384-ecp384";
const ESP: &str = "aes256gcm16";

/// A tunnel end: the process whose CPU and memory the race reads.
pub enum Daemon {
    /// vwand.
    Vwand(Side),
    /// charon-systemd with kernel-libipsec.
    Charon(Box<StrongswanHub>),
}

impl Daemon {
    /// The process ID.
    pub fn pid(&self) -> u32 {
        match self {
            Daemon::Vwand(side) => side.daemon.pid(),
            Daemon::Charon(hub) => hub.pid(),
        }
    }
}

/// One tunnel end's namespace and its daemon (which may own the
/// namespace, as vwand's [`Side`] does). The daemon drops first.
pub struct End {
    /// `edge` or `hub`.
    pub side: &'static str,
    /// The daemon; `None` on plain veth.
    pub daemon: Option<Daemon>,
    ns: Option<Netns>,
}

impl End {
    fn bare(side: &'static str, ns: Netns) -> End {
        End {
            side,
            daemon: None,
            ns: Some(ns),
        }
    }

    /// The end's namespace.
    pub fn ns(&self) -> &Netns {
        match (&self.daemon, &self.ns) {
            (Some(Daemon::Vwand(s)), _) => &s.ns,
            (_, Some(ns)) => ns,
            (_, None) => unreachable!("an end without a vwand keeps its namespace"),
        }
    }
}

/// Four namespaces, the path's daemons and an iperf3 server in `vnet`.
/// Fields drop in order: the server and the ends before the hosts.
pub struct Bed {
    /// The path carried.
    pub path: PathKind,
    /// iperf3 -s on [`VNET_HOST`].
    pub server: Iperf3Server,
    /// The edge end (tunnel end A) and the hub end (B).
    pub ends: [End; 2],
    /// The LAN host's namespace (iperf3 client).
    pub lan: Netns,
    vnet: Netns,
}

impl Bed {
    /// Builds the topology, starts `path`'s daemons and returns once the
    /// VNet host answers the LAN host's ping through the tunnel.
    ///
    /// # Panics
    /// If the path does not carry a ping within 30 s.
    pub fn start(path: PathKind, scratch: &ScratchDir) -> Bed {
        Bed::start_with(path, scratch, "")
    }

    /// [`Bed::start`] with extra lines in vwand's `[tun]` section (e.g.
    /// `offload = false`).
    ///
    /// # Panics
    /// If the path does not carry a ping within 30 s.
    pub fn start_with(path: PathKind, scratch: &ScratchDir, tun_extra: &str) -> Bed {
        Bed::start_extra(
            path,
            scratch,
            &Extra {
                tun: tun_extra,
                ike: "",
            },
        )
    }

    /// [`Bed::start`] with extra lines in vwand's `[tun]` and
    /// `[tunnel.ike]` sections.
    ///
    /// # Panics
    /// If the path does not carry a ping within 30 s.
    pub fn start_extra(path: PathKind, scratch: &ScratchDir, extra: &Extra) -> Bed {
        let lan = Netns::new("rlan");
        let edge = Netns::new("redge");
        let hub = Netns::new("rhub");
        let vnet = Netns::new("rvnet");
        let cidr = |a: &str| format!("{a}/24");
        veth_pair(
            &lan,
            "lan0",
            &cidr(LAN_HOST),
            &edge,
            "lan0",
            &cidr(EDGE_LAN),
        );
        veth_pair(&edge, "ul0", &cidr(EDGE_UL), &hub, "ul0", &cidr(HUB_UL));
        veth_pair(
            &hub,
            "vnet0",
            &cidr(HUB_VNET),
            &vnet,
            "vnet0",
            &cidr(VNET_HOST),
        );
        lan.ip(&["route", "add", "default", "via", EDGE_LAN]);
        vnet.ip(&["route", "add", "default", "via", HUB_VNET]);
        edge.enable_forwarding();
        hub.enable_forwarding();
        let server = Iperf3Server::start(
            &vnet,
            VNET_HOST,
            crate::iperf::IPERF3_PORT,
            scratch.join("iperf3.log"),
        );
        let ends = match path {
            PathKind::Plain => {
                edge.add_route(VNET, HUB_UL);
                hub.add_route(LAN, EDGE_UL);
                [End::bare("edge", edge), End::bare("hub", hub)]
            }
            PathKind::Libipsec => {
                let h = charon(hub, scratch, false);
                [charon(edge, scratch, true), h]
            }
            PathKind::VwandRaw | PathKind::VwandUdp => {
                let t = if path == PathKind::VwandRaw {
                    "raw"
                } else {
                    "udp"
                };
                let h = vwand(hub, scratch, t, false, extra);
                [vwand(edge, scratch, t, true, extra), h]
            }
            PathKind::VwandToStrongswan => {
                let h = charon(hub, scratch, false);
                [vwand(edge, scratch, "raw", true, extra), h]
            }
        };
        wait_ping(&lan, VNET_HOST, Duration::from_secs(30));
        Bed {
            path,
            server,
            ends,
            lan,
            vnet,
        }
    }

    /// The VNet host's namespace.
    pub fn vnet(&self) -> &Netns {
        &self.vnet
    }

    /// The edge's (index 0) or the hub's (1) namespace.
    pub fn end_ns(&self, i: usize) -> &Netns {
        self.ends[i].ns()
    }

    /// The vwand at the edge (0) or the hub (1), if that end runs one.
    pub fn vwand(&self, i: usize) -> Option<&Side> {
        match &self.ends[i].daemon {
            Some(Daemon::Vwand(side)) => Some(side),
            _ => None,
        }
    }
}

/// The selectors of the end in `ns`: ours first.
fn selectors(initiator: bool) -> (&'static str, &'static str) {
    if initiator {
        (LAN, VNET)
    } else {
        (VNET, LAN)
    }
}

/// charon with kernel-libipsec; the edge end initiates.
fn charon(ns: Netns, scratch: &ScratchDir, edge: bool) -> End {
    let (local, peer) = if edge {
        (EDGE_UL, HUB_UL)
    } else {
        (HUB_UL, EDGE_UL)
    };
    let (ours, theirs) = selectors(edge);
    let mut o = HubOptions::new(local, peer, PSK);
    o.ike_proposal = IKE.into();
    o.esp_proposal = ESP.into();
    o.local_ts = vec![ours.into()];
    o.remote_ts = vec![theirs.into()];
    o.start_action = if edge {
        StartAction::Start
    } else {
        StartAction::None
    };
    o.keyingtries = Some(0);
    let side = if edge { "edge" } else { "hub" };
    let hub = StrongswanHub::start(&ns, o, &scratch.join(format!("charon-{side}")));
    End {
        side,
        daemon: Some(Daemon::Charon(Box::new(hub))),
        ns: Some(ns),
    }
}

/// vwand with its product defaults (MTU 1400, MSS clamp 1350); the edge
/// end initiates.
/// Extra lines for both vwands' configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extra<'a> {
    /// In `[tun]` (e.g. `queues = 2`).
    pub tun: &'a str,
    /// In `[tunnel.ike]` (e.g. `replay_window = 64`).
    pub ike: &'a str,
}

fn vwand(ns: Netns, scratch: &ScratchDir, transport: &str, edge: bool, extra: &Extra) -> End {
    let (local, peer) = if edge {
        (EDGE_UL, HUB_UL)
    } else {
        (HUB_UL, EDGE_UL)
    };
    let (ours, theirs) = selectors(edge);
    let text = format!(
        "[daemon]\nstatus_socket = \"{{status_socket}}\"\n\n[tun]\nname = \"vw0\"\n{tun}\n\
         [[tunnel]]\nname = \"hub0\"\nlocal = \"{local}\"\npeer = \"{peer}\"\ntransport = \"{transport}\"\n\
         routes = [\"{theirs}\"]\n\n[tunnel.ike]\npsk = \"{PSK}\"\nproposals = [\"{IKE}\"]\n\
         esp_proposals = [\"{ESP}\"]\ninitiate = {edge}\nlocal_ts = [\"{ours}\"]\nremote_ts = [\"{theirs}\"]\n{ike}\n",
        tun = extra.tun,
        ike = extra.ike,
    );
    let side = if edge { "edge" } else { "hub" };
    End {
        side,
        daemon: Some(Daemon::Vwand(start_daemon(scratch, ns, side, &text))),
        ns: None,
    }
}
