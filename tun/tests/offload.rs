//! TUN offloads against the real kernel, in a fresh namespace: a UDP
//! socket's GSO send (UDP_SEGMENT) arrives as one super-packet that the
//! reader splits into valid datagrams, and a coalesced TCP super-packet
//! written to the TUN is taken whole by the local stack (the RST it
//! draws acknowledges every byte of it).

mod common;

use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::{in_fresh_netns, ipv4_l4, tcp_l4, udp_l4};
use tun::offload::gro::Coalescer;
use tun::offload::SegmentReader;
use tun::{AsyncTun, Netlink, RouteAttrs, Tun, TunOptions};

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 5);
const HEADROOM: usize = 32;

async fn offloading_tun() -> AsyncTun {
    let opts = TunOptions {
        vnet_hdr: true,
        ..Default::default()
    };
    let tun = Tun::create("vwoff%d", opts).expect("create TUN with IFF_VNET_HDR");
    let o = tun.offloads();
    assert!(o.vnet_hdr && o.tso, "{o:?}");
    tun.set_mtu(1400).expect("mtu");
    tun.set_up().expect("up");
    let nl = Netlink::new().expect("netlink");
    nl.add_address(tun.ifindex(), LOCAL.into(), 24)
        .await
        .expect("address");
    nl.add_route(
        tun.ifindex(),
        Ipv4Addr::new(10, 78, 0, 0).into(),
        16,
        RouteAttrs::default(),
    )
    .await
    .expect("route");
    AsyncTun::new(tun).expect("AsyncTun")
}

fn ones_sum_ok(p: &[u8], l4: usize, proto: u8) -> bool {
    let pseudo = tun::offload::pseudo_header(&p[12..16], &p[16..20], proto, p.len() - l4);
    tun::offload::fold(tun::offload::sum(&p[l4..], pseudo)) == 0xffff
}

#[test]
fn a_udp_gso_send_is_read_as_segments() {
    in_fresh_netns("a_udp_gso_send_is_read_as_segments", || async {
        let tun = offloading_tun().await;
        let uso = tun.get_ref().offloads().uso;
        let udp = UdpSocket::bind((LOCAL, 0)).expect("bind");
        let seg: libc::c_int = 1000;
        // SAFETY: a valid socket and a c_int option value of the right size.
        let rc = unsafe {
            libc::setsockopt(
                udp.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                (&seg as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "UDP_SEGMENT");
        let data: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
        udp.send_to(&data, (PEER, 9999)).expect("send");

        let mut reader = SegmentReader::default();
        let mut bufs = vec![vec![0u8; HEADROOM + 1500]; 8];
        let mut lens = [0usize; 8];
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while got.len() < data.len() {
            let n = tokio::time::timeout_at(
                deadline,
                tun.read_segments(&mut reader, &mut bufs, HEADROOM, &mut lens),
            )
            .await
            .expect("segments within 5 s")
            .expect("read");
            for i in 0..n {
                let p = &bufs[i][HEADROOM..HEADROOM + lens[i]];
                if p[0] >> 4 != 4 || p[9] != 17 || p[22..24] != 9999u16.to_be_bytes() {
                    continue; // e.g. IPv6 router solicitations
                }
                assert!(p.len() <= 20 + 8 + 1000, "a segment of at most gso_size");
                assert!(ones_sum_ok(p, 20, 17), "UDP checksum of segment");
                got.extend_from_slice(&p[28..]);
            }
        }
        assert_eq!(got, data);
        if uso {
            assert_eq!(reader.stats.super_packets, 1, "{:?}", reader.stats);
        }
        assert_eq!(reader.stats.dropped, 0);
    });
}

/// A TCP/IPv4 segment from PEER:9 to LOCAL:`port`, valid checksums.
fn tcp_segment(port: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_l4(PEER, LOCAL, 6, &tcp_l4((9, port), seq, ack, flags, payload))
}

/// Reads from the TUN until a TCP segment to PEER matches `f`.
async fn tcp_from_local(
    tun: &AsyncTun,
    reader: &mut SegmentReader,
    f: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let mut bufs = vec![vec![0u8; HEADROOM + 1500]; 8];
    let mut lens = [0usize; 8];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = tokio::time::timeout_at(
            deadline,
            tun.read_segments(reader, &mut bufs, HEADROOM, &mut lens),
        )
        .await
        .expect("a TCP segment within 5 s")
        .expect("read");
        for i in 0..n {
            let p = &bufs[i][HEADROOM..HEADROOM + lens[i]];
            if p[0] >> 4 == 4 && p[9] == 6 && f(p) {
                assert!(ones_sum_ok(p, 20, 6), "TCP checksum completed");
                return p.to_vec();
            }
        }
    }
}

fn seq_of(p: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}

#[test]
fn a_coalesced_tcp_write_is_taken_whole() {
    in_fresh_netns("a_coalesced_tcp_write_is_taken_whole", || async {
        let tun = offloading_tun().await;
        let client = std::thread::spawn(|| {
            let mut s =
                std::net::TcpStream::connect_timeout(&(PEER, 9).into(), Duration::from_secs(5))
                    .expect("connect through the TUN");
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut got = vec![0u8; 4000];
            std::io::Read::read_exact(&mut s, &mut got).expect("4000 bytes");
            got
        });
        // The handshake, played by hand: SYN in, SYN-ACK out.
        let mut reader = SegmentReader::default();
        let syn = tcp_from_local(&tun, &mut reader, |p| p[33] & 0x12 == 0x02).await;
        let port = u16::from_be_bytes([syn[20], syn[21]]);
        let client_seq = seq_of(&syn, 24);
        let isn = 7000u32;
        let mut gro = Coalescer::new(8, false);
        assert!(gro.push(&tcp_segment(port, isn, client_seq + 1, 0x12, &[])));
        assert_eq!(gro.flush(|b| tun.get_ref().write_packet(b)), 0, "SYN-ACK");
        tcp_from_local(&tun, &mut reader, |p| p[33] == 0x10).await;

        // Four segments, one write.
        let data: Vec<u8> = (0..4000u32).map(|i| (i % 253) as u8).collect();
        for (i, chunk) in data.chunks(1000).enumerate() {
            let seq = isn + 1 + 1000 * i as u32;
            let flags = if i == 3 { 0x18 } else { 0x10 };
            assert!(gro.push(&tcp_segment(port, seq, client_seq + 1, flags, chunk)));
        }
        assert_eq!(gro.len(), 1, "four segments, one write");
        assert_eq!(
            gro.flush(|b| tun.get_ref().write_packet(b)),
            0,
            "super-packet taken"
        );
        let ack = tcp_from_local(&tun, &mut reader, |p| {
            p[33] & 0x10 != 0 && seq_of(p, 28) == isn + 1 + 4000
        })
        .await;
        assert_eq!(seq_of(&ack, 28), isn + 4001, "every byte acknowledged");
        let got = client.join().expect("client thread");
        assert_eq!(got, data, "the bytes arrive intact and in order");
    });
}

#[test]
fn coalesced_udp_datagrams_arrive_one_by_one() {
    in_fresh_netns("coalesced_udp_datagrams_arrive_one_by_one", || async {
        let tun = offloading_tun().await;
        let uso = tun.get_ref().offloads().uso;
        let sock = UdpSocket::bind((LOCAL, 9999)).expect("bind");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut gro = Coalescer::new(8, uso);
        let sizes = [700usize, 700, 700, 300];
        for (i, n) in sizes.iter().enumerate() {
            assert!(gro.push(&udp_datagram(&vec![i as u8 + 1; *n])));
        }
        assert_eq!(gro.len(), if uso { 1 } else { 4 }, "uso={uso}");
        assert_eq!(
            gro.flush(|b| tun.get_ref().write_packet(b)),
            0,
            "the kernel takes it"
        );
        let mut buf = [0u8; 2000];
        for (i, n) in sizes.iter().enumerate() {
            let (len, from) = sock.recv_from(&mut buf).expect("a datagram");
            assert_eq!((len, from.port()), (*n, 4000), "datagram {i}");
            assert!(
                buf[..len].iter().all(|b| *b == i as u8 + 1),
                "datagram {i} intact"
            );
        }
    });
}

/// A UDP/IPv4 datagram from PEER:4000 to LOCAL:9999 with its checksum.
fn udp_datagram(payload: &[u8]) -> Vec<u8> {
    ipv4_l4(PEER, LOCAL, 17, &udp_l4((4000, 9999), payload))
}
