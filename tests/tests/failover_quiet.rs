//! Failover must not cry wolf: with vwand's default liveness settings, a
//! minute of sparse traffic and a minute on an underlay that loses 2% of
//! its packets both ways mark no tunnel suspect, while the liveness checks
//! run (they are counted) and the traffic gets through.

use netns::dual_hub::{DualHubBed, DualHubOptions, BGP_ONPREM, TUNNELS, VNET_HOST};
use netns::seqstream::{summary, SeqStream, SeqStreamOptions};
use serde_json::Value;
use std::time::{Duration, Instant};

fn bed() -> DualHubBed {
    let o = DualHubOptions {
        tunnel_ike: [Vec::new(), Vec::new()],
        ..DualHubOptions::default()
    };
    let bed = DualHubBed::start(o);
    bed.wait_ready(Duration::from_secs(60));
    bed
}

/// Samples both tunnels' health every 100 ms while `busy` runs in the
/// background until it returns `false`; returns every sample that was
/// not "up".
fn watch(bed: &DualHubBed, mut busy: impl FnMut() -> bool) -> Vec<(f64, String, String)> {
    let t = Instant::now();
    let mut bad = Vec::new();
    while busy() {
        let s = bed.vwand.status();
        for n in TUNNELS {
            let h = s["tunnels"][n]["health"].as_str().unwrap_or("").to_string();
            if h != "up" {
                bad.push((t.elapsed().as_secs_f64(), n.to_string(), h));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bad
}

fn counters(s: &Value) -> (u64, u64) {
    (
        s["ike"]["liveness_checks"].as_u64().unwrap_or(0),
        s["ike"]["suspects"].as_u64().unwrap_or(0),
    )
}

#[test]
fn a_minute_of_sparse_traffic_marks_nothing_suspect() {
    let bed = bed();
    let (checks0, _) = counters(&bed.vwand.status());
    // One ping every 5 s for a minute.
    let mut ping = bed.edge().spawn(
        "ping",
        &["-I", BGP_ONPREM, "-i", "5", "-c", "12", VNET_HOST],
        bed.scratch.join("sparse-ping.log"),
    );
    let bad = watch(&bed, || ping.is_running());
    let log = ping.log();
    let (checks, suspects) = counters(&bed.vwand.status());
    println!(
        "sparse traffic, 60 s: {} liveness checks, {suspects} suspects; {}",
        checks - checks0,
        log.lines()
            .rev()
            .find(|l| l.contains("packets transmitted"))
            .unwrap_or("")
    );
    assert!(bad.is_empty(), "not up: {bad:?}");
    assert_eq!(suspects, 0);
    assert!(log.contains("12 received"), "{log}");
}

#[test]
fn a_minute_on_a_lossy_underlay_marks_nothing_suspect() {
    let bed = bed();
    bed.lossy(0, 2);
    bed.lossy(1, 2);
    let (checks0, _) = counters(&bed.vwand.status());
    // One-way, so vwand checks liveness all the time: the worst case for
    // false alarms.
    let mut o = SeqStreamOptions::new(BGP_ONPREM, VNET_HOST);
    o.pps = 200;
    o.flows = 8;
    o.secs = 60;
    let mut s = SeqStream::start(&bed.vnet, bed.edge(), &o, bed.scratch.path());
    let bad = watch(&bed, || s.sending());
    let r = s.finish();
    let status = bed.vwand.status();
    let (checks, suspects) = counters(&status);
    let rtt = TUNNELS.map(|n| status["tunnels"][n]["liveness_rtt_ms"].clone());
    println!(
        "2% loss both ways on both underlays, 60 s one-way stream: {} liveness checks, {suspects} suspects, last round trips {rtt:?} ms; stream {}",
        checks - checks0,
        summary(&r)
    );
    assert!(bad.is_empty(), "not up: {bad:?}");
    assert_eq!(suspects, 0);
    assert!(checks - checks0 > 100, "the checks ran");
    // About 2% of the stream is lost on the underlay, no more.
    let lost = r.total.lost_all() as f64 / 12_000.0;
    assert!(lost < 0.05, "{}", summary(&r));
}
