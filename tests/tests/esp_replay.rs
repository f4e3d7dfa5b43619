//! Anti-replay and integrity on a live tunnel: captured packets re-sent
//! unchanged are replays, a flipped bit is an ICV failure, packets left of
//! the window are refused, and packets reordered by the underlay within the
//! window are all accepted.

use netns::vwand::{TunnelSpec, VwandPair, B_INNER};
use netns::{pcap_text, wait_ping, wait_settled, wait_until, Capture};
use std::time::Duration;

fn capture_filter(pair: &VwandPair) -> &'static [&'static str] {
    if pair.spec.transport == "udp" {
        &["udp", "port", "4500"]
    } else {
        &["esp"]
    }
}

fn replay_tamper_window(transport: &'static str) {
    let mut spec = TunnelSpec::new(transport, "aes256gcm16", false);
    spec.replay_window = 64;
    let pair = VwandPair::start(spec);
    wait_ping(&pair.a.ns, B_INNER, Duration::from_secs(10));
    let cap = Capture::start(
        &pair.b.ns,
        "ul0",
        pair.scratch.join("esp.pcap"),
        capture_filter(&pair),
    );
    let before = pair.b.inbound("packets");
    pair.a
        .ns
        .run_ok(&["ping", "-q", "-c", "100", "-i", "0.01", "-W", "1", B_INNER]);
    pair.b.wait_inbound("packets", before + 100);
    let pcap = cap.stop();
    // Status is published every 250 ms and `before` may have been one
    // publication behind (CI saw 101 against 100): wait for the count to
    // settle before it becomes the reference.
    let quiet = Duration::from_millis(700);
    let packets = wait_settled("inbound packets", Duration::from_secs(10), quiet, || {
        pair.b.inbound("packets")
    });
    let counters =
        |p: &VwandPair| ["replay", "too_old", "icv_failure", "packets"].map(|f| p.b.inbound(f));
    let [replay, too_old, icv, _] = counters(&pair);
    assert_eq!((replay, too_old, icv), (0, 0, 0));

    // The 91st of the 100 echo requests: inside the 64-packet window.
    pair.reinject(&pcap, 90, None);
    pair.b.wait_inbound("replay", 1);
    // The first one: far left of the window.
    pair.reinject(&pcap, 0, None);
    pair.b.wait_inbound("too_old", 1);
    // One bit flipped: the top bit of the sequence number, so the packet
    // passes the replay check and must fail the ICV.
    pair.reinject(&pcap, 95, Some(32));
    pair.b.wait_inbound("icv_failure", 1);
    // One bit flipped in the ciphertext of a packet the window has seen is
    // still a replay: the check comes before the ICV (RFC 4303 §3.4.3).
    pair.reinject(&pcap, 96, Some(8 * 20));
    pair.b.wait_inbound("replay", 2);

    assert_eq!(
        counters(&pair),
        [2, 1, 1, packets],
        "exactly these drops, nothing accepted"
    );
    // The tunnel still works.
    wait_ping(&pair.a.ns, B_INNER, Duration::from_secs(5));
}

#[test]
fn replay_tamper_and_window_raw() {
    replay_tamper_window("raw");
}

#[test]
fn replay_tamper_and_window_udp() {
    replay_tamper_window("udp");
}

/// Sequence numbers in tcpdump's ESP lines, in capture order.
fn sequence_numbers(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.split("seq=0x").nth(1))
        .filter_map(|s| {
            u64::from_str_radix(
                s.trim_end_matches(|c: char| !c.is_ascii_hexdigit())
                    .split(|c: char| !c.is_ascii_hexdigit())
                    .next()?,
                16,
            )
            .ok()
        })
        .collect()
}

struct Reordered {
    sent: u64,
    inversions: usize,
}

/// Sends a burst of 400 UDP datagrams from A to B through an underlay
/// that reorders them. (ping paces itself on its replies, which the shaper
/// delays, so it cannot build a deep reordering.)
fn reordered_pings(pair: &VwandPair) -> Reordered {
    wait_ping(&pair.a.ns, B_INNER, Duration::from_secs(10));
    // This kernel has no netem, so reorder with HTB: ESP packets with an
    // even sequence number (byte 27 of the IPv4 packet is the low byte of
    // the ESP sequence number) queue in a 100 kbit/s class, odd ones pass at
    // line rate and overtake them.
    for cmd in [
        "tc qdisc add dev ul0 root handle 1: htb default 10",
        "tc class add dev ul0 parent 1: classid 1:10 htb rate 10gbit",
        "tc class add dev ul0 parent 1: classid 1:20 htb rate 100kbit ceil 100kbit burst 1600 cburst 1600",
        "tc filter add dev ul0 parent 1: protocol ip u32 match ip protocol 50 0xff match u8 0 1 at 27 flowid 1:20",
    ] {
        pair.a.ns.run_ok(&cmd.split(' ').collect::<Vec<_>>());
    }
    let cap = Capture::start(
        &pair.b.ns,
        "ul0",
        pair.scratch.join("reorder.pcap"),
        &["esp", "and", "src", "192.0.2.1"],
    );
    let before = pair.a.outbound("packets");
    let burst = format!(
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for i in range(400): s.sendto(i.to_bytes(4, 'big') * 16, ('{B_INNER}', 9))"
    );
    pair.a.ns.run_ok(&["python3", "-c", &burst]);
    wait_until("A sent 400 packets", Duration::from_secs(10), || {
        pair.a.outbound("packets") >= before + 400
    });
    let sent = pair.a.outbound("packets");
    // Everything has left the shaper once B has seen the last even packet.
    wait_until("B received every packet", Duration::from_secs(15), || {
        let b = &pair.b;
        b.inbound("packets") + b.inbound("too_old") + b.inbound("replay") >= sent
    });
    let pcap = cap.stop();
    let seqs = sequence_numbers(&pcap_text(&pcap, &[]));
    assert!(seqs.len() >= 100, "captured {} ESP packets", seqs.len());
    // Packets that arrived after one with a higher sequence number.
    let inversions = seqs
        .iter()
        .scan(0u64, |top, &s| {
            let late = s < *top;
            *top = (*top).max(s);
            Some(late)
        })
        .filter(|&late| late)
        .count();
    assert!(
        inversions >= 20,
        "the underlay reordered only {inversions} packets"
    );
    Reordered { sent, inversions }
}

#[test]
fn reordering_within_the_window_is_accepted() {
    let pair = VwandPair::start(TunnelSpec::new("raw", "aes128gcm16", true));
    let r = reordered_pings(&pair);
    assert_eq!(pair.b.inbound("packets"), r.sent, "every packet accepted");
    assert_eq!(pair.b.inbound("replay"), 0);
    assert_eq!(pair.b.inbound("too_old"), 0);
    assert_eq!(pair.b.inbound("icv_failure"), 0);
    eprintln!(
        "{} packets, {} arrived after a later one; all accepted",
        r.sent, r.inversions
    );
}

#[test]
fn reordering_beyond_the_window_is_refused() {
    let mut spec = TunnelSpec::new("raw", "aes128gcm16", true);
    spec.replay_window = 64;
    let pair = VwandPair::start(spec);
    let r = reordered_pings(&pair);
    let (accepted, too_old) = (pair.b.inbound("packets"), pair.b.inbound("too_old"));
    assert!(too_old > 0, "nothing fell out of a 64-packet window");
    assert_eq!(
        accepted + too_old,
        r.sent,
        "each packet accepted or refused as too old"
    );
    assert_eq!(pair.b.inbound("replay"), 0);
    assert_eq!(pair.b.inbound("icv_failure"), 0);
    eprintln!(
        "{} packets: {accepted} accepted, {too_old} left of the window",
        r.sent
    );
}
