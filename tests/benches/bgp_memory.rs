//! Memory per learned BGP prefix, vwand next to BIRD, in one run. The hub's
//! BIRD (AS 65515) sends N IPv4 /24s over the IPsec tunnel to vwand (which
//! installs them: session RIB, best-path table, kernel routes, forwarding
//! tables) and over a plain link to a second BIRD (AS 65020, which only
//! keeps them). Each side's cost per prefix is
//! `(VmRSS with N − VmRSS with 1) / (N − 1)`, from two fresh beds; VmHWM
//! is reported too. A measurement, not a pass/fail test: run
//! `bench/bgp_memory.sh` (root, namespaces).

use netns::bird::{ipv4_prefixes, BgpNeighbor, Bird, BirdOptions};
use netns::hub_bed::{bird_options, HubBed, HubBedOptions};
use netns::stats::{vm_hwm_kib, vm_rss_kib};
use netns::{poll_until, veth_pair, Netns};
use std::time::{Duration, Instant};

/// `VmRSS` and `VmHWM` of `pid`, KiB.
fn memory(pid: u32) -> (u64, u64) {
    (vm_rss_kib(pid), vm_hwm_kib(pid))
}

struct Sample {
    vwand: (u64, u64),
    bird: (u64, u64),
    secs: f64,
}

fn run(n: usize) -> Sample {
    let o = HubBedOptions {
        hold: 90,
        hub_prefixes: ipv4_prefixes("20.0.0.0", 24, n),
        session_extra: format!("import = [\"20.0.0.0/6\"]\nmax_prefixes = {}", n * 2),
        ..HubBedOptions::default()
    };
    let started = Instant::now();
    let mut bed = HubBed::start(o.clone());
    let rx_ns = Netns::new("birdrx");
    veth_pair(
        &bed.hub_ns,
        "rx0",
        "198.18.0.1/30",
        &rx_ns,
        "rx0",
        "198.18.0.2/30",
    );
    let mut hub = bird_options(&o);
    hub.neighbors
        .push(BgpNeighbor::new("birdrx", "198.18.0.2", 65020).with_local("198.18.0.1"));
    bed.bird.reconfigure(hub);
    let mut rx = BirdOptions::new("198.18.0.2");
    rx.local_as = 65020;
    let mut n_hub = BgpNeighbor::new("hub", "198.18.0.1", 65515).with_local("198.18.0.2");
    n_hub.ipv6 = false;
    rx.neighbors.push(n_hub);
    let rx_bird = Bird::start(&rx_ns, rx, &bed.scratch.join("birdrx"));
    poll_until(Duration::from_secs(300), || {
        (bed.vwand_bgp()["learned_count"] == n && bed.kernel_route_count() > n).then_some(())
    })
    .unwrap_or_else(|| panic!("vwand learned {}", bed.vwand_bgp()["learned_count"]));
    poll_until(Duration::from_secs(300), || {
        (rx_bird.route_count("hub") == n).then_some(())
    })
    .unwrap_or_else(|| panic!("BIRD learned {}", rx_bird.route_count("hub")));
    let secs = started.elapsed().as_secs_f64();
    Sample {
        vwand: memory(bed.vwand.daemon.pid()),
        bird: memory(rx_bird.pid()),
        secs,
    }
}

fn main() {
    let n: usize = std::env::var("BGP_MEMORY_PREFIXES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let base = run(1);
    let full = run(n);
    let per = |a: u64, b: u64| (b.saturating_sub(a)) as f64 * 1024.0 / (n - 1) as f64;
    let v = per(base.vwand.0, full.vwand.0);
    let b = per(base.bird.0, full.bird.0);
    println!(
        "{n} prefixes ({:.0} s): vwand VmRSS {} -> {} KiB (VmHWM {} KiB), {v:.0} B/prefix; \
         BIRD VmRSS {} -> {} KiB (VmHWM {} KiB), {b:.0} B/prefix; ratio {:.2}",
        full.secs,
        base.vwand.0,
        full.vwand.0,
        full.vwand.1,
        base.bird.0,
        full.bird.0,
        full.bird.1,
        v / b.max(1.0),
    );
}
