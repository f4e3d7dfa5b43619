//! The throughput race (`sudo bench/race.sh`): every path on one namespace
//! topology, round-robin in the same run, so that each figure is compared
//! with strongSwan kernel-libipsec measured minutes apart on the same
//! machine.
//!
//! ```text
//!  lan 10.1.0.2 ── edge 10.1.0.1 | 192.0.2.1 ══ underlay ══ 192.0.2.2 | 10.2.0.1 hub ── vnet 10.2.0.2
//!                  (tunnel end A)                                   (tunnel end B)
//! ```
//!
//! A leg is one path in one round: fresh namespaces, the path's daemons
//! (none for plain veth), then iperf3 from `lan` to `vnet`: TCP with one
//! and with four streams, then 64-byte UDP datagrams as fast as
//! `udpblast` sends them, 64 per `sendmmsg` over 8 flows (the receiver's
//! rate is the figure; iperf3 sent one per call and was the bottleneck). Each daemon's CPU time
//! and the whole machine's busy time are read from `/proc` around every
//! TCP run, and each daemon's peak RSS (VmHWM) after the TCP runs and
//! again after the 64-byte flood.

pub mod bed;
pub mod measure;
pub mod report;

use std::path::PathBuf;

use crate::scratch_dir;

/// One way of carrying `lan` → `vnet` traffic between `edge` and `hub`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Plain IP forwarding over the veth underlay: no tunnel, no crypto.
    Plain,
    /// strongSwan 5.9 with kernel-libipsec at both ends (ESP-in-UDP; the
    /// reference every ratio is taken against).
    Libipsec,
    /// vwand at both ends, raw ESP (IP protocol 50).
    VwandRaw,
    /// vwand at both ends, ESP-in-UDP (RFC 3948).
    VwandUdp,
    /// vwand at the edge, strongSwan kernel-libipsec at the hub.
    VwandToStrongswan,
}

impl PathKind {
    /// Every path, in the order a round runs them.
    pub const ALL: [PathKind; 5] = [
        PathKind::Plain,
        PathKind::Libipsec,
        PathKind::VwandRaw,
        PathKind::VwandUdp,
        PathKind::VwandToStrongswan,
    ];

    /// Short name used on the command line and in the JSON.
    pub fn id(self) -> &'static str {
        match self {
            PathKind::Plain => "plain",
            PathKind::Libipsec => "libipsec",
            PathKind::VwandRaw => "vwand-raw",
            PathKind::VwandUdp => "vwand-udp",
            PathKind::VwandToStrongswan => "vwand-strongswan",
        }
    }

    /// Human description, for the table and the chart.
    pub fn label(self) -> &'static str {
        match self {
            PathKind::Plain => "plain veth, no tunnel",
            PathKind::Libipsec => "strongSwan libipsec ⇄ libipsec",
            PathKind::VwandRaw => "vwand ⇄ vwand, raw ESP",
            PathKind::VwandUdp => "vwand ⇄ vwand, ESP-in-UDP",
            PathKind::VwandToStrongswan => "vwand → strongSwan libipsec",
        }
    }

    /// The path named `id`.
    pub fn from_id(id: &str) -> Option<PathKind> {
        PathKind::ALL.into_iter().find(|p| p.id() == id)
    }
}

/// What to race and for how long.
#[derive(Debug, Clone)]
pub struct RaceOptions {
    /// Rounds; every path runs once per round.
    pub rounds: u32,
    /// Seconds per iperf3 run (three runs per leg).
    pub secs: u32,
    /// Paths to race; [`PathKind::Libipsec`] is added if missing (ratios
    /// need it).
    pub paths: Vec<PathKind>,
    /// Directory for `race.json` and `race.svg`.
    pub out: PathBuf,
    /// Directory for `perf record` profiles of each one-stream run.
    pub profile: Option<PathBuf>,
    /// Extra lines for every vwand's `[tun]` section (e.g. `queues = 2`).
    pub tun_extra: String,
}

/// Figures of one daemon over a leg.
#[derive(Debug, Clone, Default)]
pub struct DaemonFigures {
    /// `edge` or `hub`.
    pub side: &'static str,
    /// CPU seconds over both TCP runs.
    pub cpu_s: f64,
    /// VmHWM in KiB after the TCP runs.
    pub rss_kib: u64,
    /// VmHWM in KiB after the 64-byte flood.
    pub rss_flood_kib: u64,
    /// Packets its inbound SAs refused as replays or too old over both
    /// TCP runs (vwand only: with several TUN queues, the reordering
    /// between workers shows here if it outruns the replay window).
    pub esp_refused: u64,
    /// Packets its TUN dropped on the way to the daemon over both TCP runs
    /// (`tx_dropped`: a full queue).
    pub tun_dropped: u64,
}

/// Everything measured in one leg (one path, one round).
#[derive(Debug, Clone)]
pub struct Leg {
    /// The path.
    pub path: PathKind,
    /// Round number, from 1.
    pub round: u32,
    /// TCP, one stream, Mbit/s at the receiver.
    pub tcp1_mbps: f64,
    /// TCP, four streams, Mbit/s at the receiver.
    pub tcp4_mbps: f64,
    /// TCP retransmissions over both TCP runs.
    pub retransmits: u64,
    /// 64-byte UDP datagrams per second that reached the receiver.
    pub udp64_pps: f64,
    /// Bytes received over both TCP runs.
    pub tcp_bytes: u64,
    /// Whole-machine busy CPU seconds over both TCP runs.
    pub machine_cpu_s: f64,
    /// The path's daemons (empty for plain veth).
    pub daemons: Vec<DaemonFigures>,
    /// Both daemons' system calls per 1400 bytes moved in the one-stream
    /// TCP run (with `perf`; `None` without it or without daemons).
    pub syscalls_per_packet: Option<f64>,
}

impl Leg {
    /// The daemons' CPU seconds per GB moved by TCP (both ends together).
    pub fn daemon_cpu_s_per_gb(&self) -> Option<f64> {
        if self.daemons.is_empty() || self.tcp_bytes == 0 {
            return None;
        }
        let cpu: f64 = self.daemons.iter().map(|d| d.cpu_s).sum();
        Some(cpu / (self.tcp_bytes as f64 / 1e9))
    }

    /// The whole machine's busy CPU seconds per GB moved by TCP.
    pub fn machine_cpu_s_per_gb(&self) -> Option<f64> {
        (self.tcp_bytes > 0).then(|| self.machine_cpu_s / (self.tcp_bytes as f64 / 1e9))
    }

    /// The largest VmHWM of the leg's daemons after the TCP runs, and
    /// after the flood, in KiB.
    pub fn peak_rss_kib(&self) -> Option<(u64, u64)> {
        let tcp = self.daemons.iter().map(|d| d.rss_kib).max()?;
        let flood = self.daemons.iter().map(|d| d.rss_flood_kib).max()?;
        Some((tcp, flood))
    }
}

/// Runs the race: `rounds` × every path, one leg at a time, printing each
/// leg as it ends. Returns the legs in the order they ran.
///
/// # Panics
/// If a path cannot be brought up (its daemons' logs are kept).
pub fn run(opts: &RaceOptions) -> Vec<Leg> {
    crate::require_netns_env();
    crate::require_tools(&["iperf3", "charon-systemd", "swanctl"]);
    let mut paths = opts.paths.clone();
    if !paths.contains(&PathKind::Libipsec) {
        paths.insert(0, PathKind::Libipsec);
    }
    if let Some(dir) = &opts.profile {
        if let Err(e) = std::fs::create_dir_all(dir) {
            panic!("cannot create the profile directory {}: {e}", dir.display());
        }
    }
    let mut legs = Vec::new();
    for round in 1..=opts.rounds {
        for &path in &paths {
            let scratch = scratch_dir();
            let bed = bed::Bed::start_with(path, &scratch, &opts.tun_extra);
            let leg = measure::leg(&bed, round, opts.secs, opts.profile.as_deref());
            drop(bed);
            eprintln!("{}", report::leg_line(&leg));
            legs.push(leg);
        }
    }
    legs
}
