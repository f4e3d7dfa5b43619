//! TUN offloads end to end, vwand ⇄ vwand over raw ESP and ESP-in-UDP:
//! 24 MiB sent each way over TCP (LAN host → VNet host, then back) with
//! offloads on and then off arrives byte for byte (SHA-256 on both
//! sides). With offloads on, the sending vwand read TCP super-packets and
//! the receiving one wrote coalesced ones; the last hop computes and the
//! receiving host verifies every checksum in software (checksum offloads
//! off on that veth pair), so a wrong checksum that vwand's segmentation
//! or coalescing left behind would stall the transfer. ESP-in-UDP also
//! crosses the underlay in UDP GSO runs, received coalesced (UDP GRO).

use netns::race::bed::{Bed, LAN_HOST, VNET_HOST};
use netns::race::PathKind;
use netns::{poll_until, scratch_dir, Netns, ScratchDir};
use serde_json::Value;
use std::time::Duration;

const SIZE: usize = 24 << 20;
const PORT: u16 = 7000;

const SERVER: &str = r#"
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(1 << 20)
    if not d:
        break
    h.update(d)
    n += len(d)
print("received", n, h.hexdigest(), flush=True)
"#;

const CLIENT: &str = r#"
import hashlib, random, socket, sys
data = random.Random(7).randbytes(int(sys.argv[3]))
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
c.sendall(data)
c.close()
print("sent", len(data), hashlib.sha256(data).hexdigest(), flush=True)
"#;

/// Sends SIZE bytes from `from` to `to_addr` in `to`; returns what the
/// sender and the receiver printed.
fn transfer(
    scratch: &ScratchDir,
    tag: &str,
    from: &Netns,
    to: &Netns,
    to_addr: &str,
) -> (String, String) {
    let port = PORT.to_string();
    let mut server = to.spawn(
        "python3",
        &["-c", SERVER, to_addr, &port],
        scratch.join(format!("server-{tag}.log")),
    );
    server.wait_for_log("listening", Duration::from_secs(10));
    let size = SIZE.to_string();
    let out = from
        .exec_timeout(
            &["python3", "-c", CLIENT, to_addr, &port, &size],
            Duration::from_secs(120),
        )
        .expect("the transfer ends within 120 s");
    let sent = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "client: {sent} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received = poll_until(Duration::from_secs(30), || {
        let log = server.log();
        log.lines()
            .find(|l| l.starts_with("received"))
            .map(str::to_string)
    })
    .expect("the receiver reports within 30 s");
    (sent, received)
}

/// Checksum offloads off on a veth pair: `tx` computes in software,
/// `rx` verifies in software.
fn software_checksums(tx: &Netns, tx_if: &str, rx: &Netns, rx_if: &str) {
    tx.run_ok(&["ethtool", "-K", tx_if, "tx", "off"]);
    rx.run_ok(&["ethtool", "-K", rx_if, "rx", "off"]);
}

fn counter(status: &Value, path: &[&str]) -> u64 {
    path.iter()
        .fold(status, |v, k| &v[*k])
        .as_u64()
        .unwrap_or(0)
}

/// A transport counter summed over every socket.
fn transports(status: &Value, key: &str) -> u64 {
    status["transports"].as_object().map_or(0, |t| {
        t.values().map(|v| v[key].as_u64().unwrap_or(0)).sum()
    })
}

#[test]
fn bytes_cross_intact_with_and_without_offloads() {
    for path in [PathKind::VwandRaw, PathKind::VwandUdp] {
        for offload in [true, false] {
            let scratch = scratch_dir();
            let extra = if offload { "" } else { "offload = false" };
            let bed = Bed::start_with(path, &scratch, extra);
            software_checksums(bed.end_ns(1), "vnet0", bed.vnet(), "vnet0");
            software_checksums(bed.end_ns(0), "lan0", &bed.lan, "lan0");
            let what = format!("{} offload={offload}", path.id());
            for (tag, from, to, addr) in [
                ("up", &bed.lan, bed.vnet(), VNET_HOST),
                ("down", bed.vnet(), &bed.lan, LAN_HOST),
            ] {
                let (sent, received) = transfer(&scratch, tag, from, to, addr);
                let sent_hash = sent.split_whitespace().last().unwrap_or("");
                assert_eq!(
                    received,
                    format!("received {SIZE} {sent_hash}"),
                    "{what} {tag}: {sent}"
                );
            }
            for (i, side) in ["edge", "hub"].into_iter().enumerate() {
                let status = bed.vwand(i).expect("vwand").status();
                let supers = counter(&status, &["tun", "super_packets"]);
                let merged = transports(&status, "gro_merged");
                let udp_gro = transports(&status, "gro_received");
                let dropped = counter(&status, &["tun", "offload_dropped"]);
                println!(
                    "{what} {side}: super-packets read {supers}, segments merged {merged}, UDP GRO receives {udp_gro}"
                );
                // ESP-in-UDP goes out in UDP GSO runs and comes in coalesced.
                assert_eq!(udp_gro > 0, path == PathKind::VwandUdp, "{what} {side}");
                assert_eq!(dropped, 0, "{what} {side}");
                if offload {
                    assert!(supers > 0, "{what} {side} read no super-packet");
                    assert!(merged > 0, "{what} {side} merged nothing");
                } else {
                    assert_eq!((supers, merged), (0, 0), "{what} {side}");
                }
            }
        }
    }
}
