//! How long vwand takes to install 10,000 BGP prefixes from BIRD (over the
//! IPsec tunnel to strongSwan) as kernel routes, and to remove them when
//! BIRD dies. A measurement, not a pass/fail test: run
//! `bench/bgp_scale.sh` (root, namespaces).
//!
//! Each run starts a fresh bed and reports:
//! - *established → all installed*: from the moment BIRD reports the
//!   session Established to the moment the kernel has every route;
//! - *withdrawal*: from SIGKILL of BIRD to the last route gone.

use netns::bird::ipv4_prefixes;
use netns::hub_bed::{HubBed, HubBedOptions};
use netns::poll_until;
use std::time::{Duration, Instant};

fn count(bed: &HubBed) -> usize {
    // The pinned host route of the BGP peer is always there.
    bed.kernel_route_count().saturating_sub(1)
}

fn run(n: usize) -> (Duration, Duration, Duration) {
    let o = HubBedOptions {
        hold: 30,
        hub_prefixes: ipv4_prefixes("10.64.0.0", 24, n),
        session_extra: format!("import = [\"10.0.0.0/8\"]\nmax_prefixes = {}", n * 2),
        ..HubBedOptions::default()
    };
    let started = Instant::now();
    let mut bed = HubBed::start(o);
    let established = poll_until(Duration::from_secs(60), || {
        bed.bird
            .protocol("vwand")
            .filter(|p| p.established())
            .map(|_| Instant::now())
    })
    .expect("session established");
    let installed = poll_until(Duration::from_secs(120), || {
        (count(&bed) >= n).then(Instant::now)
    })
    .unwrap_or_else(|| panic!("only {} of {n} routes installed", count(&bed)));
    // The status board is published a few times a second.
    poll_until(Duration::from_secs(5), || {
        (bed.vwand_bgp()["learned_count"] == n).then_some(())
    })
    .unwrap_or_else(|| panic!("status: {}", bed.vwand_bgp()));
    bed.bird.kill();
    let killed = Instant::now();
    let gone = poll_until(Duration::from_secs(60), || {
        (count(&bed) == 0).then(Instant::now)
    })
    .expect("routes withdrawn");
    (installed - established, installed - started, gone - killed)
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is ignored.
    let n: usize = std::env::var("BGP_SCALE_PREFIXES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runs: usize = std::env::var("BGP_SCALE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut results = Vec::new();
    for i in 0..runs {
        let (inst, total, wd) = run(n);
        println!(
            "run {}: {n} prefixes: established -> all in kernel {:.3} s ({:.0} routes/s); vwand start -> all in kernel {:.3} s; withdrawal {:.3} s",
            i + 1,
            inst.as_secs_f64(),
            n as f64 / inst.as_secs_f64(),
            total.as_secs_f64(),
            wd.as_secs_f64()
        );
        results.push((inst, total, wd));
    }
    let median = |f: fn(&(Duration, Duration, Duration)) -> Duration| {
        let mut v: Vec<Duration> = results.iter().map(f).collect();
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "median of {runs}: {n} prefixes installed {:.3} s after Established; withdrawn {:.3} s after BIRD died",
        median(|r| r.0).as_secs_f64(),
        median(|r| r.2).as_secs_f64()
    );
}
