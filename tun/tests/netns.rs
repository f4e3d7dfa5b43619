//! Privileged end-to-end tests. Each test runs in its own thread inside its
//! own fresh network namespace (see `common::in_fresh_netns`); they fail,
//! never skip, when not run as root or without `/dev/net/tun`.

mod common;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{expect_packet, in_fresh_netns, ipv4_udp, udp_flow, DEADLINE};
use tun::{AsyncTun, Netlink, RouteAttrs, Tun, TunOptions};

const V4_LOCAL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const V4_NET: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 0);
const V4_PEER: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 5);

fn configured_tun(opts: TunOptions) -> Tun {
    let tun = Tun::create("vwtest%d", opts).expect("create TUN");
    assert!(tun.name().starts_with("vwtest"), "name {:?}", tun.name());
    assert!(tun.ifindex() > 0);
    tun.set_mtu(1400).expect("set_mtu");
    assert_eq!(tun.mtu().expect("mtu"), 1400);
    assert_eq!(
        tun.tx_queue_len().expect("queue length"),
        500,
        "a new TUN's"
    );
    tun.set_tx_queue_len(4096).expect("set_tx_queue_len");
    assert_eq!(tun.tx_queue_len().expect("queue length"), 4096);
    tun.set_up().expect("set_up");
    assert!(tun.is_up().expect("is_up"));
    tun
}

fn assert_unreachable(res: io::Result<usize>) {
    let err = res.expect_err("send should fail without a route");
    assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "{err}");
}

#[test]
fn ipv4_route_to_tun_delivers_packets() {
    in_fresh_netns("ipv4_route_to_tun_delivers_packets", || async {
        let tun = Tun::create("vwtest%d", TunOptions::default()).expect("create TUN");
        // Non-blocking: an empty (still down) device reports WouldBlock.
        let fl = nix::fcntl::fcntl(tun.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
        assert_ne!(fl & libc::O_NONBLOCK, 0, "fd must be non-blocking");
        let mut buf = [0u8; 2048];
        let err = tun.read_into(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let mut bufs = [[0u8; 64]; 2];
        let mut lens = [0usize; 2];
        let err = tun.read_batch(&mut bufs, 16, &mut lens).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(tun);

        let tun = configured_tun(TunOptions::default());
        let nl = Netlink::new().expect("netlink");
        let idx = tun.ifindex();
        for _ in 0..2 {
            // Twice: EEXIST must be treated as success.
            nl.add_address(idx, V4_LOCAL.into(), 24)
                .await
                .expect("add_address");
            nl.add_route(idx, V4_NET.into(), 16, RouteAttrs::default())
                .await
                .expect("add_route");
        }

        let tun = AsyncTun::new(tun).expect("AsyncTun");
        let udp = UdpSocket::bind("0.0.0.0:0").expect("bind");
        let pkt = expect_packet(
            &tun,
            || {
                udp.send_to(b"vwand-tun", (V4_PEER, 9999)).expect("send_to");
            },
            |p| udp_flow(p) == Some((V4_LOCAL.into(), V4_PEER.into(), 9999)),
        )
        .await;
        assert_eq!(pkt[0] >> 4, 4, "IPv4 packet");
        assert!(pkt.ends_with(b"vwand-tun"));

        for _ in 0..2 {
            // Twice: ESRCH must be treated as success.
            nl.del_route(idx, V4_NET.into(), 16, RouteAttrs::default())
                .await
                .expect("del_route");
        }
        assert_unreachable(udp.send_to(b"x", (V4_PEER, 9999)));
    });
}

#[test]
fn ipv6_routes_tables_and_metrics() {
    in_fresh_netns("ipv6_routes_tables_and_metrics", || async {
        let tun = configured_tun(TunOptions::default());
        let nl = Netlink::new().expect("netlink");
        let idx = tun.ifindex();

        // Non-main tables, both the 8-bit header field and the RTA_TABLE
        // attribute (> 255), with metrics: add/del must be idempotent.
        for table in [100, 1000] {
            let in_table = RouteAttrs {
                table: Some(table),
                metric: Some(7),
                ..RouteAttrs::default()
            };
            for _ in 0..2 {
                nl.add_route(idx, V4_NET.into(), 16, in_table)
                    .await
                    .unwrap();
            }
            for _ in 0..2 {
                nl.del_route(idx, V4_NET.into(), 16, in_table)
                    .await
                    .unwrap();
            }
        }

        if !Path::new("/proc/sys/net/ipv6").exists() {
            panic!("IPv6 is disabled in this kernel");
        }
        let local: Ipv6Addr = "fd00:77::1".parse().unwrap();
        let peer: Ipv6Addr = "fd00:78::5".parse().unwrap();
        // Host bits in the destination are masked off.
        let dest = IpAddr::V6("fd00:78::1234".parse().unwrap());
        let metric100 = RouteAttrs {
            metric: Some(100),
            ..RouteAttrs::default()
        };
        for _ in 0..2 {
            nl.add_address(idx, local.into(), 64)
                .await
                .expect("add v6 address");
            nl.add_route(idx, dest, 48, metric100)
                .await
                .expect("add v6 route");
        }

        let tun = AsyncTun::new(tun).expect("AsyncTun");
        let udp = UdpSocket::bind("[::]:0").expect("bind v6");
        let pkt = expect_packet(
            &tun,
            // Until the new address leaves the (brief) tentative state the
            // kernel picks the link-local source; keep re-sending until a
            // packet sourced from fd00:77::1 shows up.
            || drop(udp.send_to(b"vwand-tun6", (peer, 9999))),
            |p| udp_flow(p) == Some((local.into(), peer.into(), 9999)),
        )
        .await;
        assert_eq!(pkt[0] >> 4, 6, "IPv6 packet");
        assert!(pkt.ends_with(b"vwand-tun6"));

        for _ in 0..2 {
            nl.del_route(idx, dest, 48, metric100)
                .await
                .expect("del v6 route");
        }
        assert_unreachable(udp.send_to(b"x", (peer, 9999)));
    });
}

#[test]
fn write_batch_injects_packets_into_stack() {
    in_fresh_netns("write_batch_injects_packets_into_stack", || async {
        let tun = configured_tun(TunOptions::default());
        let nl = Netlink::new().expect("netlink");
        let idx = tun.ifindex();
        nl.add_address(idx, V4_LOCAL.into(), 24).await.unwrap();
        // Route back to the sender so reverse-path filtering accepts it.
        nl.add_route(idx, V4_NET.into(), 16, RouteAttrs::default())
            .await
            .unwrap();

        let rx = UdpSocket::bind((V4_LOCAL, 7777)).expect("bind receiver");
        rx.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let pkts: Vec<Vec<u8>> = (0u8..3)
            .map(|i| ipv4_udp((V4_PEER, 5555), (V4_LOCAL, 7777), &[b'p', b'0' + i]))
            .collect();

        // Malformed first packet: the error is reported, nothing written.
        let garbage = [0u8; 20];
        let err = tun.write_batch(&[&garbage[..], &pkts[0][..]]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        // Malformed packet after a good one: partial count.
        assert_eq!(tun.write_batch(&[&pkts[0][..], &garbage[..]]).unwrap(), 1);
        assert_eq!(tun.write_packet(&pkts[1]).unwrap(), pkts[1].len());

        let tun = AsyncTun::new(tun).expect("AsyncTun");
        assert_eq!(tun.write_batch(&pkts[2..]).await.unwrap(), 1);
        assert_eq!(tun.write(&pkts[0]).await.unwrap(), pkts[0].len());

        let mut got = Vec::new();
        let deadline = Instant::now() + DEADLINE;
        let mut buf = [0u8; 64];
        while got.len() < 4 && Instant::now() < deadline {
            match rx.recv_from(&mut buf) {
                Ok((n, from)) => {
                    assert_eq!(from, (V4_PEER, 5555).into());
                    got.push(buf[..n].to_vec());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("recv_from: {e}"),
            }
        }
        got.sort();
        assert_eq!(
            got,
            [
                b"p0".to_vec(),
                b"p0".to_vec(),
                b"p1".to_vec(),
                b"p2".to_vec()
            ]
        );
    });
}

#[test]
fn multi_queue_and_option_errors() {
    // No privileges needed for these: they fail before touching the kernel.
    let err = Tun::create("a-name-that-is-too-long", TunOptions::default()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(
        Netlink::new().is_err(),
        "Netlink::new outside a runtime must fail"
    );

    in_fresh_netns("multi_queue_and_option_errors", || async {
        let single = Tun::create("vwsq0", TunOptions::default()).unwrap();
        assert_eq!(single.name(), "vwsq0");
        assert_eq!(
            single.open_queue().unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            single.set_mtu(u32::MAX).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );

        let mq = TunOptions {
            multi_queue: true,
            ..Default::default()
        };
        let q0 = Tun::create("vwmq0", mq).unwrap();
        let q1 = q0.open_queue().unwrap();
        assert_eq!(q1.ifindex(), q0.ifindex());
        assert_eq!(q1.name(), "vwmq0");
        assert!(q1.options().multi_queue);
        // Two independent, registrable descriptors.
        assert_ne!(q0.as_raw_fd(), q1.as_raw_fd());
        let _a0 = AsyncTun::new(q0).unwrap();
        let _a1 = AsyncTun::new(q1).unwrap();
    });
}
