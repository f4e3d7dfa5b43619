//! Several TUN queues (`[tun] queues = 2`), vwand ⇄ vwand over raw ESP and
//! ESP-in-UDP: eight TCP flows spread over both queues of the sending
//! vwand, whose two workers seal on one shared SA. The sequence numbers
//! stay dense (last sequence number = packets sent), the receiving vwand
//! refuses nothing as a replay or as too old, and a file sent alongside
//! arrives byte for byte (SHA-256 on both hosts).
//!
//! The receiver's replay window is the smallest vwand accepts (64 packets,
//! as small as many peers'): the two workers take turns to seal and send,
//! so an SA's packets leave in sequence order. Without the turn, a worker
//! that stalls between sealing a batch of up to 128 packets and sending
//! it is overtaken by the other's numbers, and its packets arrive too old.

use netns::hashed::transfer;
use netns::race::bed::{Bed, Extra, VNET_HOST};
use netns::race::PathKind;
use netns::{poll_until, scratch_dir, Iperf3Opts};
use serde_json::Value;
use std::time::Duration;

const SIZE: usize = 16 << 20;
const PORT: u16 = 7001;

fn u(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, k| &v[*k]).as_u64().unwrap_or(0)
}

#[test]
fn two_queues_share_one_sa_without_gaps_replays_or_corruption() {
    for path in [PathKind::VwandRaw, PathKind::VwandUdp] {
        let scratch = scratch_dir();
        let extra = Extra {
            tun: "queues = 2",
            ike: "replay_window = 64",
        };
        let bed = Bed::start_extra(path, &scratch, &extra);
        let what = path.id();

        let mut o = Iperf3Opts::new(VNET_HOST, 5);
        o.parallel = 8;
        let flows = std::thread::scope(|s| {
            let flows = s.spawn(|| netns::iperf3_run(&bed.lan, &o));
            let (sent, received) = transfer(
                &scratch,
                "up",
                &bed.lan,
                bed.vnet(),
                VNET_HOST,
                (PORT, SIZE),
            );
            let hash = sent.split_whitespace().last().unwrap_or("-");
            assert_eq!(
                received,
                format!("received {SIZE} {hash}"),
                "{what}: {sent}"
            );
            flows.join().expect("iperf3 thread")
        });
        println!("{what}: 8 flows {:.0} Mbit/s", flows.bits_per_second / 1e6);

        let edge = bed.vwand(0).expect("edge vwand").status();
        let queues = edge["tun_queues"].as_array().cloned().unwrap_or_default();
        let per_queue: Vec<u64> = queues.iter().map(|q| u(q, &["packets_read"])).collect();
        println!("{what}: packets read per queue {per_queue:?}");
        assert_eq!(per_queue.len(), 2, "{what}: two queues in status");
        // Each queue carries a real share (written all through one queue,
        // the kernel steered every flow to that queue: 6 of 158,975).
        let total: u64 = per_queue.iter().sum();
        assert!(
            per_queue.iter().all(|&n| n * 50 >= total),
            "{what}: the flows did not spread over both queues: {per_queue:?}"
        );
        assert_eq!(
            u(&edge, &["tun", "packets_read"]),
            per_queue.iter().sum::<u64>(),
            "{what}: the total is the queues' sum"
        );
        let first = |v: &Value, dir: &str| -> Value {
            v["tunnels"]
                .as_object()
                .and_then(|m| m.values().next())
                .map_or(Value::Null, |t| t[dir].clone())
        };
        // Until both ends agree: every sealed packet opened once (status is
        // published every 250 ms, so a snapshot can lag a moment).
        let snapshot = || {
            let out = first(&bed.vwand(0).expect("edge").status(), "outbound");
            let inb = first(&bed.vwand(1).expect("hub").status(), "inbound");
            (out, inb)
        };
        let agreed = |(out, inb): &(Value, Value)| {
            let sent = u(out, &["packets"]);
            u(out, &["last_seq"]) == sent && u(inb, &["packets"]) == sent
        };
        let (out, inb) = poll_until(Duration::from_secs(10), || Some(snapshot()).filter(agreed))
            .unwrap_or_else(snapshot);
        println!("{what}: edge outbound {out}; hub inbound {inb}");
        let sent = u(&out, &["packets"]);
        assert!(sent > 10_000, "{what}: {sent} packets");
        assert_eq!(
            u(&out, &["last_seq"]),
            sent,
            "{what}: sequence numbers not dense"
        );
        assert!(
            u(&inb, &["packets"]) <= sent,
            "{what}: more opened than sealed"
        );
        assert_eq!(u(&inb, &["replay"]), 0, "{what}: duplicates at the peer");
        assert_eq!(
            u(&inb, &["too_old"]),
            0,
            "{what}: outside the peer's window"
        );
        assert!(u(&inb, &["packets"]) > 0, "{what}");
    }
}
