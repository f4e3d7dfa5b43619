//! TUN offloads end to end, vwand ⇄ vwand over raw ESP and ESP-in-UDP:
//! 24 MiB sent each way over TCP (LAN host → VNet host, then back) with
//! offloads on and then off arrives byte for byte (SHA-256 on both
//! sides). With offloads on, the sending vwand read TCP super-packets and
//! the receiving one wrote coalesced ones; the last hop computes and the
//! receiving host verifies every checksum in software (checksum offloads
//! off on that veth pair), so a wrong checksum that vwand's segmentation
//! or coalescing left behind would stall the transfer. ESP-in-UDP also
//! crosses the underlay in UDP GSO runs, received coalesced (UDP GRO).

use netns::hashed::transfer;
use netns::race::bed::{Bed, LAN_HOST, VNET_HOST};
use netns::race::PathKind;
use netns::{scratch_dir, Netns};
use serde_json::Value;

const SIZE: usize = 24 << 20;
const PORT: u16 = 7000;

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
                let (sent, received) = transfer(&scratch, tag, from, to, addr, (PORT, SIZE));
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
