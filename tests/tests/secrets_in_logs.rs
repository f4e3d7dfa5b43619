//! No secret in vwand's log (issue 12): vwand logs at trace level through
//! a whole life with two hub instances: IKE SAs set up, Child SAs and the
//! IKE SA rekeyed, a DELETE from the hub and a new IKE SA, BGP sessions up
//! and routes learned, traffic both ways, a reload and a shutdown. hub0's
//! charon logs its keys (ike/chd level 4, as strongSwan does for
//! debugging), which are also vwand's keys for those SAs. The log must
//! hold neither the PSK (as text or hex) nor any of those keys (as hex,
//! either case, or their first 12 bytes).

use netns::dual_hub::{DualHubBed, DualHubOptions, PSK, TUNNELS};
use netns::wait_until;
use std::collections::BTreeSet;
use std::time::Duration;

/// Every key charon printed with `%B` after a line naming a secret or a
/// key (`Sk_ei secret => 36 bytes @ 0x...` then lines `   0: 5E 0B ...`),
/// as lowercase hex.
fn charon_keys(log: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut current: Option<String> = None;
    for line in log.lines() {
        // The dump lines: `... <hub|2>   16: 39 2E ...  9....q..`: an
        // offset, a colon, up to 16 hex bytes, then ASCII.
        let dump = line.split_once(": ").filter(|(head, _)| {
            head.split_whitespace()
                .last()
                .is_some_and(|off| off.chars().all(|c| c.is_ascii_digit()))
        });
        match (&mut current, dump) {
            (Some(k), Some((_, bytes))) => {
                for b in bytes.split_whitespace().take(16) {
                    if b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()) {
                        k.push_str(&b.to_ascii_lowercase());
                    } else {
                        break;
                    }
                }
            }
            _ => {
                if let Some(k) = current.take().filter(|k| k.len() >= 32) {
                    keys.insert(k);
                }
                let l = line.to_ascii_lowercase();
                if (l.contains("secret") || l.contains(" key ") || l.contains("skeyseed"))
                    && l.contains("bytes @")
                {
                    current = Some(String::new());
                }
            }
        }
    }
    if let Some(k) = current.filter(|k| k.len() >= 32) {
        keys.insert(k);
    }
    keys
}

/// Which of the PSK (text, hex) and `keys` (whole, or the first 12
/// bytes) `log` holds, in either case.
fn secrets_in(log: &str, keys: &BTreeSet<String>) -> Vec<String> {
    let lower = log.to_ascii_lowercase();
    let mut found = Vec::new();
    for (what, needle) in [
        ("the PSK", PSK.to_ascii_lowercase()),
        ("the PSK in hex", hex(PSK.as_bytes())),
    ] {
        if lower.contains(&needle) {
            found.push(what.to_string());
        }
    }
    for k in keys {
        if lower.contains(k.as_str()) || lower.contains(&k[..24]) {
            found.push(format!("key {k}"));
        }
    }
    found
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_whole_life_at_trace_level_logs_no_secret() {
    // The daemon inherits the test's environment (one test per process).
    std::env::set_var("VWAND_LOG", "trace");
    let mut o = DualHubOptions::default()
        .each_ike("child_rekey_seconds = 8")
        .each_ike("ike_rekey_seconds = 14");
    o.hubs[0].verbose = true;
    let bed = DualHubBed::start(o);
    bed.wait_ready(Duration::from_secs(60));
    let status = |k: &str| {
        bed.tunnel_status(TUNNELS[0])["ike"][k]
            .as_u64()
            .unwrap_or(0)
    };
    wait_until(
        "an IKE rekey and two Child SA rekeys on hub0",
        Duration::from_secs(40),
        || status("ike_rekeys") >= 1 && status("child_sas") >= 3,
    );
    let established = status("established_count");
    bed.terminate_ike(0);
    wait_until("a new IKE SA with hub0", Duration::from_secs(30), || {
        status("established_count") > established && bed.bgp_state(TUNNELS[0]) == "Established"
    });
    assert!(bed.ping_vnet(3));
    bed.vwand
        .reload(&std::fs::read_to_string(&bed.vwand.config).expect("config"));
    let mut bed = bed;
    bed.vwand
        .daemon
        .terminate_and_wait(Duration::from_secs(10))
        .expect("vwand stops on SIGTERM");

    let log = bed.vwand.daemon.log();
    let charon = bed.hubs[0].strongswan.log();
    let keys = charon_keys(&charon);
    let lines = log.lines().count();
    let verbose = log
        .lines()
        .filter(|l| l.contains("TRACE") || l.contains("DEBUG"))
        .count();
    println!(
        "vwand's log: {lines} lines ({verbose} at debug or trace level); {} keys from hub0's charon \
         (IKE and Child SAs, rekeys included)",
        keys.len()
    );
    assert!(verbose > 50, "vwand logged at trace level");
    // Sk_d, Sk_ai/ar (none with GCM), Sk_ei/er, Sk_pi/pr per IKE SA, two
    // ESP keys per Child SA: at least a dozen over this life.
    assert!(keys.len() >= 12, "charon printed its keys: {keys:?}");
    // The search finds what it looks for.
    let first = keys.iter().next().expect("a key");
    let planted = format!(
        "x PSK={PSK} ({}) key={}",
        hex(PSK.as_bytes()),
        first.to_ascii_uppercase()
    );
    assert!(secrets_in(&planted, &keys).len() >= 3, "{planted}");
    let found = secrets_in(&log, &keys);
    assert!(found.is_empty(), "secrets in vwand's log: {found:?}");
}
