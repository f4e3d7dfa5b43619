//! The throughput race (`bench/race.sh`) must not rot: one round of
//! 2-second runs over every path, with the debug build. The figures of
//! such a short run mean nothing; what is checked is that every path
//! comes up and carries traffic, that every tunnel end's CPU and memory
//! were read, and that the JSON and the chart are written.

use netns::{scratch_dir, workspace_bin};
use serde_json::Value;
use std::process::Command;

#[test]
fn a_two_second_race_over_every_path() {
    let scratch = scratch_dir();
    let out = scratch.join("race");
    let run = Command::new(workspace_bin("race"))
        .args(["--rounds", "1", "--seconds", "2", "--out"])
        .arg(&out)
        .output()
        .expect("run the race");
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("race.json")).expect("race.json"))
            .expect("race.json is JSON");
    for path in [
        "plain",
        "libipsec",
        "vwand-raw",
        "vwand-udp",
        "vwand-strongswan",
    ] {
        let p = &doc["paths"][path];
        for key in [
            "tcp1_mbps",
            "tcp4_mbps",
            "udp64_pps",
            "machine_cpu_s_per_gb",
        ] {
            let v = p[key].as_f64().unwrap_or(0.0);
            assert!(v > 0.0, "{path}: {key} = {v}");
        }
        let ratio = p["tcp1_mbps_ratio"].as_f64().unwrap_or(0.0);
        assert!(ratio > 0.0, "{path}: a ratio against libipsec");
        if path != "plain" {
            for key in ["daemon_cpu_s_per_gb", "peak_rss_mib", "peak_rss_flood_mib"] {
                let v = p[key].as_f64().unwrap_or(0.0);
                assert!(v > 0.0, "{path}: {key} = {v}");
            }
        }
    }
    assert_eq!(
        doc["paths"]["libipsec"]["tcp1_mbps_ratio"].as_f64(),
        Some(1.0)
    );
    assert_eq!(doc["legs"].as_array().map(Vec::len), Some(5));
    let svg = std::fs::read_to_string(out.join("race.svg")).expect("race.svg");
    assert!(svg.starts_with("<svg") && svg.contains("vwand ⇄ vwand, raw ESP"));
    assert!(
        stdout.contains("| vwand → strongSwan libipsec |"),
        "the table"
    );
}
