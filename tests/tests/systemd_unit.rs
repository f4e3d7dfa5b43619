//! The shipped unit (`dist/vwand.service`): `systemd-analyze verify`
//! accepts it, its exposure score is printed and bounded, and vwand runs a
//! real tunnel and BGP session with exactly the unit's capabilities, as an
//! unprivileged user (setpriv; CI has no systemd as PID 1), making no
//! system call that the unit's `SystemCallFilter=` would refuse (strace).

use netns::hub_bed::{bird_options, instance_hub_options, vwand_config, HubBedOptions, BGP_HUB};
use netns::process::signal_pid;
use netns::systemd::{allowed_syscalls, capabilities, traced_syscalls};
use netns::vwand::Side;
use netns::{
    scratch_dir, veth_pair, wait_ping, wait_until, workspace_bin, workspace_root, Bird, Netns,
    StrongswanHub,
};
use std::os::unix::fs::{chown, PermissionsExt};
use std::process::Command;
use std::time::Duration;

/// The unprivileged user vwand runs as here (the unit's `vwand` user is
/// created by scripts/install.sh; any unprivileged one proves the same).
const NOBODY: u32 = 65534;

fn unit() -> std::path::PathBuf {
    workspace_root().join("dist/vwand.service")
}

#[test]
fn the_unit_verifies_and_its_exposure_is_low() {
    let dir = scratch_dir();
    let bin = workspace_bin("vwand");
    let text = std::fs::read_to_string(unit())
        .unwrap()
        .replace("/usr/local/bin/vwand", bin.to_str().unwrap());
    let copy = dir.join("vwand.service");
    std::fs::write(&copy, text).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify"])
        .arg(&copy)
        .output()
        .unwrap();
    let msgs = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {msgs}");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&copy)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score: {text}"));
    println!("{line}");
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(score < 4.8, "{line}");
}

#[test]
fn vwand_runs_with_the_units_capabilities_and_syscall_filter() {
    let caps = capabilities(&unit());
    assert_eq!(caps, ["net_admin", "net_raw", "net_bind_service"]);
    let scratch = scratch_dir();
    // A directory the unprivileged user owns, for its config and socket.
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let home = scratch.join("vwand");
    std::fs::create_dir(&home).unwrap();
    chown(&home, Some(NOBODY), Some(NOBODY)).unwrap();
    let onprem = Netns::new("onprem");
    let hub_ns = Netns::new("hub");
    veth_pair(
        &onprem,
        "ul0",
        "192.0.2.1/24",
        &hub_ns,
        "ul0",
        "192.0.2.2/24",
    );
    let o = HubBedOptions {
        hub_prefixes: vec!["10.51.231.0/24".into()],
        ..HubBedOptions::default()
    };
    let _hub = StrongswanHub::start(
        &hub_ns,
        instance_hub_options("192.0.2.2", "192.0.2.1", BGP_HUB),
        &scratch.join("hub"),
    );
    let _bird = Bird::start(&hub_ns, bird_options(&o), &scratch.join("bird"));
    hub_ns.add_addr("lo", "10.51.231.1/32");
    let sock = home.join("status.sock");
    let config = home.join("vwand.toml");
    let text = vwand_config(&o).replace("{status_socket}", sock.to_str().unwrap());
    std::fs::write(&config, text).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    chown(&config, Some(NOBODY), Some(NOBODY)).unwrap();

    let bin = workspace_bin("vwand");
    let bin = bin.to_str().unwrap();
    let trace = scratch.join("strace.log");
    let set: Vec<String> = caps.iter().map(|c| format!("+{c}")).collect();
    let set = set.join(",");
    let (inh, ambient, bounding) = (
        format!("--inh-caps=-all,{set}"),
        format!("--ambient-caps=-all,{set}"),
        format!("--bounding-set=-all,{set}"),
    );
    let uid = format!("--reuid={NOBODY}");
    let gid = format!("--regid={NOBODY}");
    let args = [
        "-f",
        "-qq",
        "-o",
        trace.to_str().unwrap(),
        "setpriv",
        &uid,
        &gid,
        "--clear-groups",
        &inh,
        &ambient,
        &bounding,
        "--no-new-privs",
        bin,
        "-c",
        config.to_str().unwrap(),
        "run",
    ];
    let mut daemon = onprem.spawn("strace", &args, scratch.join("vwand.log"));
    daemon.wait_for_log("vwand running", Duration::from_secs(20));
    let side = Side {
        daemon,
        ns: onprem,
        status_socket: sock.clone(),
        config: config.clone(),
    };
    wait_until(
        "the tunnel and the BGP session up",
        Duration::from_secs(30),
        || {
            let s = side.status();
            s["tunnels"]["hub0"]["health"] == "up"
                && s["tunnels"]["hub0"]["bgp"]["state"] == "Established"
        },
    );
    wait_ping(&side.ns, "10.51.231.1", Duration::from_secs(10));
    let uid_line = std::fs::read_to_string(format!("/proc/{}/status", side.status()["pid"]))
        .unwrap_or_default();
    println!(
        "{}",
        uid_line
            .lines()
            .filter(|l| l.starts_with("Uid") || l.starts_with("Cap"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(uid_line.contains(&format!("Uid:\t{NOBODY}")), "{uid_line}");
    // A clean stop, then the trace.
    let pid = side.status()["pid"].as_u64().unwrap() as u32;
    signal_pid(pid, libc::SIGTERM);
    let Side { mut daemon, .. } = side;
    assert!(
        daemon.wait_timeout(Duration::from_secs(10)).is_some(),
        "vwand stops"
    );
    let log = std::fs::read_to_string(&trace).unwrap();
    let used = traced_syscalls(&log, bin);
    let allowed = allowed_syscalls(&unit());
    let refused: Vec<&String> = used.iter().filter(|s| !allowed.contains(*s)).collect();
    println!(
        "{} system calls used, all allowed by the unit's filter: {}",
        used.len(),
        refused.is_empty()
    );
    assert!(
        refused.is_empty(),
        "the unit's SystemCallFilter would refuse {refused:?}"
    );
}
