//! Self-test of the namespace harness: two namespaces joined by a veth pair,
//! IPv4 + IPv6 reachability, iperf3, tcpdump capture, and cleanup.

use std::time::Duration;

use netns::{
    iperf3_client, link_stats, list_namespaces, netns_nstat, pcap_text, ping, ping_all,
    require_netns_env, require_tools, scratch_dir, veth_pair, wait_ping, wait_until, Capture,
    Iperf3Server, Netns, IPERF3_PORT,
};

const A4: &str = "10.201.0.1";
const B4: &str = "10.201.0.2";
const A6: &str = "fd00:201::1";
const B6: &str = "fd00:201::2";

/// Two namespaces joined by `va` (in a) <-> `vb` (in b), dual-stack.
fn pair() -> (Netns, Netns) {
    let a = Netns::new("hs");
    let b = Netns::new("hs");
    veth_pair(&a, "va", &format!("{A4}/24"), &b, "vb", &format!("{B4}/24"));
    a.add_addr("va", &format!("{A6}/64"));
    b.add_addr("vb", &format!("{B6}/64"));
    (a, b)
}

#[test]
fn veth_ping_both_ways_and_cleanup() {
    require_netns_env();
    let (a, b) = pair();
    let names = [a.name().to_string(), b.name().to_string()];
    let listed = list_namespaces();
    assert!(names.iter().all(|n| listed.contains(n)), "{listed:?}");

    assert!(ping_all(&a, B4, 3), "a -> b IPv4");
    assert!(ping_all(&b, A4, 3), "b -> a IPv4");
    wait_ping(&a, B6, Duration::from_secs(10));
    assert!(ping(&a, B6, 3), "a -> b IPv6");
    assert!(ping(&b, A6, 3), "b -> a IPv6");
    // Nothing of this exists in the root namespace.
    let root = std::process::Command::new("ip")
        .args(["-o", "addr"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&root.stdout).contains(A4));

    let stats = link_stats(&a, "va");
    assert!(stats.tx_packets >= 6 && stats.rx_packets >= 6, "{stats:?}");
    let counters = netns_nstat(&a);
    assert!(counters["IcmpInEchoReps"] >= 3, "{counters:?}");
    assert!(counters.contains_key("UdpRcvbufErrors"));
    assert!(counters.contains_key("Udp6RcvbufErrors"));

    // A process left running inside is killed when the namespace drops.
    let dir = scratch_dir();
    let mut sleeper = b.spawn("sleep", &["600"], dir.join("sleep.log"));
    let pid = sleeper.pid();
    // `ip netns exec` enters the namespace just after it is spawned.
    wait_until("sleep to enter netns b", Duration::from_secs(10), || {
        b.pids().contains(&pid)
    });

    drop(a);
    drop(b);
    assert!(!sleeper.is_running(), "pid {pid} survived its netns");
    let listed = list_namespaces();
    assert!(
        names.iter().all(|n| !listed.contains(n)),
        "namespaces {names:?} still listed: {listed:?}"
    );
}

#[test]
fn namespaces_are_deleted_when_a_test_panics() {
    require_netns_env();
    let dir = scratch_dir();
    let mut names = Vec::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (a, b) = pair();
        names.push(a.name().to_string());
        names.push(b.name().to_string());
        let _sleeper = b.spawn("sleep", &["600"], dir.join("sleep.log"));
        panic!("deliberate failure");
    }));
    assert!(result.is_err());
    let listed = list_namespaces();
    assert_eq!(names.len(), 2);
    assert!(
        names.iter().all(|n| !listed.contains(n)),
        "{names:?} survived the panic: {listed:?}"
    );
}

#[test]
fn stale_namespaces_of_dead_processes_are_cleaned() {
    require_netns_env();
    // A PID that certainly belonged to a process that has exited.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let name = format!("hsstale-{dead}-0");
    let ok = std::process::Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .unwrap();
    assert!(ok.success());
    let removed = netns::cleanup_stale("hsstale");
    assert_eq!(removed, vec![name.clone()]);
    assert!(!list_namespaces().contains(&name));
}

#[test]
fn iperf3_tcp_and_udp() {
    require_netns_env();
    require_tools(&["iperf3"]);
    let dir = scratch_dir();
    let (a, b) = pair();
    let _server = Iperf3Server::start(&b, B4, IPERF3_PORT, dir.join("iperf3-server.log"));

    let tcp = iperf3_client(&a, B4, 2, false, None);
    assert!(tcp.bits_per_second > 0.0, "{tcp:?}");
    assert!(tcp.retransmits.is_some());

    let udp = iperf3_client(&a, B4, 1, true, Some("10M"));
    assert!(udp.bits_per_second > 0.0, "{:?}", udp.raw);
    assert!(udp.lost_packets.is_some() && udp.packets.unwrap_or(0) > 0);
}

#[test]
fn iperf3_over_ipv6() {
    require_netns_env();
    require_tools(&["iperf3"]);
    let dir = scratch_dir();
    let (a, b) = pair();
    let _server = Iperf3Server::start(&b, B6, 5202, dir.join("iperf3-server6.log"));
    let mut opts = netns::Iperf3Opts::new(B6, 1);
    opts.port = 5202;
    let r = netns::iperf3_run(&a, &opts);
    assert!(r.bits_per_second > 0.0, "{r:?}");
}

#[test]
fn iperf3_failure_is_reported_not_hung() {
    require_netns_env();
    require_tools(&["iperf3"]);
    let (a, _b) = pair();
    // Nothing listens: iperf3 must fail fast with its error message.
    let err = netns::try_iperf3_run(&a, &netns::Iperf3Opts::new(B4, 1)).unwrap_err();
    assert!(err.contains("unable to connect"), "{err}");
}

#[test]
fn tcpdump_captures_icmp() {
    require_netns_env();
    require_tools(&["tcpdump"]);
    let dir = scratch_dir();
    let (a, b) = pair();
    let cap = Capture::start(&b, "vb", dir.join("vb.pcap"), &[]);
    assert!(ping_all(&a, B4, 3));
    let pcap = cap.stop();
    let size = std::fs::metadata(&pcap).unwrap().len();
    assert!(size > 24, "pcap {} has only {size} bytes", pcap.display());
    let text = pcap_text(&pcap, &["icmp"]);
    assert!(text.contains("ICMP echo request"), "{text}");
    assert!(text.contains("ICMP echo reply"), "{text}");
    assert!(text.lines().count() >= 6, "{text}");
}

#[test]
fn child_guard_lifecycle() {
    require_netns_env();
    let dir = scratch_dir();
    let ns = Netns::new("hs");
    let script = "echo ready; trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done";
    let mut child = ns.spawn("sh", &["-c", script], dir.join("sh.log"));
    child.wait_for_log("ready", Duration::from_secs(10));
    assert!(child.is_running());
    let status = child.terminate_and_wait(Duration::from_secs(10));
    assert_eq!(status.map(|s| s.success()), Some(true), "{}", child.log());
    assert!(child.log().contains("bye"));
    assert!(!child.is_running());
}

#[test]
fn exec_and_run_ok() {
    require_netns_env();
    let ns = Netns::new("hs");
    let links = ns.run_ok(&["ip", "-o", "link"]);
    assert!(links.contains("lo:") && links.contains("UP"), "{links}");
    assert_eq!(links.lines().count(), 1, "fresh netns has only lo: {links}");
    let out = ns.exec(&["sh", "-c", "echo oops >&2; exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(out.stderr, b"oops\n");
    let err = ns
        .exec_timeout(&["sleep", "30"], Duration::from_millis(200))
        .unwrap_err();
    assert_eq!(err.timeout, Duration::from_millis(200));
}

#[test]
#[should_panic(expected = "failed")]
fn run_ok_panics_on_failure() {
    require_netns_env();
    let ns = Netns::new("hs");
    ns.run_ok(&["false"]);
}
