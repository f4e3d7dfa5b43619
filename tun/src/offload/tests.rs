use super::gro::Coalescer;
use super::gso::{complete_checksum, segments, split, GsoError};
use super::*;

/// The textbook RFC 1071 sum, 16 bits at a time.
fn reference_sum(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for c in data.chunks(2) {
        let w = u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
        acc += w;
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn rng(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

const SRC4: [u8; 4] = [10, 1, 0, 2];
const DST4: [u8; 4] = [10, 2, 0, 2];

/// Fills in an IPv4 header (SRC4 → DST4, TTL 64) for the whole of `p`,
/// keeping what `p` holds at ID and flags, with its checksum.
fn ipv4_header(p: &mut [u8], proto: u8) {
    let len = p.len() as u16;
    p[0] = 0x45;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&SRC4);
    p[16..20].copy_from_slice(&DST4);
    let c = ipv4_header_checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// A TCP/IPv4 (or IPv6) packet with valid checksums, timestamps option.
fn tcp(v6: bool, seq: u32, ack: u32, flags: u8, id: u16, payload: &[u8]) -> Vec<u8> {
    let l4 = if v6 { 40 } else { 20 };
    let tcp_len = 32; // 20 + 12 bytes of options (NOP NOP TS)
    let len = l4 + tcp_len + payload.len();
    let mut p = vec![0u8; len];
    if v6 {
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
        p[6] = 6;
        p[7] = 64;
        p[8..24].copy_from_slice(&[0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p[24..40].copy_from_slice(&[0xfd, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    } else {
        p[4..6].copy_from_slice(&id.to_be_bytes());
        p[6] = 0x40;
        ipv4_header(&mut p, 6);
    }
    let t = l4;
    p[t..t + 2].copy_from_slice(&40000u16.to_be_bytes());
    p[t + 2..t + 4].copy_from_slice(&5201u16.to_be_bytes());
    p[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
    p[t + 8..t + 12].copy_from_slice(&ack.to_be_bytes());
    p[t + 12] = (tcp_len as u8 / 4) << 4;
    p[t + 13] = flags;
    p[t + 14..t + 16].copy_from_slice(&512u16.to_be_bytes());
    p[t + 20..t + 32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]);
    p[t + 32..].copy_from_slice(payload);
    let c = !fold(sum(&p[t..], pseudo_of(&p, t, 6).expect("addresses")));
    p[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
    p
}

fn valid_l4(p: &[u8]) -> bool {
    let l4 = if p[0] >> 4 == 4 { 20 } else { 40 };
    fold(sum(
        &p[l4..],
        pseudo_of(p, l4, p[if l4 == 20 { 9 } else { 6 }]).expect("addrs"),
    )) == 0xffff
}

/// The super-packet the kernel would hand over: one header, all the
/// payload, the pseudo-header sum in the checksum field.
fn super_packet(v6: bool, payload: &[u8], gso: u16) -> (Vec<u8>, VnetHdr) {
    let mut p = tcp(v6, 1000, 77, 0x18, 100, payload);
    let l4 = if v6 { 40 } else { 20 };
    let pseudo = fold(pseudo_of(&p, l4, 6).expect("addrs"));
    p[l4 + 16..l4 + 18].copy_from_slice(&pseudo.to_be_bytes());
    let h = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
        hdr_len: (l4 + 32) as u16,
        gso_size: gso,
        csum_start: l4 as u16,
        csum_offset: 16,
    };
    (p, h)
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn sum_matches_the_textbook_sum() {
    let mut seed = 1;
    for len in 0..300 {
        let data: Vec<u8> = (0..len).map(|_| rng(&mut seed) as u8).collect();
        assert_eq!(fold(sum(&data, 0)), reference_sum(&data), "len {len}");
    }
    // Whole super-packets, all-ones data (the largest words) and sums
    // carried on from an unfolded start, as the pseudo-header is.
    for len in [1_499, 9_001, 65_535, 65_536] {
        let data: Vec<u8> = (0..len).map(|_| rng(&mut seed) as u8).collect();
        let ones = vec![0xffu8; len];
        assert_eq!(fold(sum(&data, 0)), reference_sum(&data), "len {len}");
        assert_eq!(fold(sum(&ones, 0)), reference_sum(&ones), "ones {len}");
        let (a, b) = data.split_at((len / 3) & !1);
        assert_eq!(
            fold(sum(b, sum(a, u64::MAX))),
            fold(sum(&data, u64::MAX)),
            "carried {len}"
        );
    }
    assert_eq!(fold(sum(&[0; 64], 0)), 0, "all zeros");
}

#[test]
fn vnet_header_round_trips() {
    let h = VnetHdr {
        flags: 1,
        gso_type: 4,
        hdr_len: 72,
        gso_size: 1348,
        csum_start: 40,
        csum_offset: 16,
    };
    let mut b = [0u8; VNET_HDR_LEN];
    h.encode(&mut b);
    assert_eq!(VnetHdr::decode(&b), Some(h));
    assert_eq!(VnetHdr::decode(&b[..9]), None);
}

#[test]
fn tcp_super_packets_split_into_valid_segments() {
    for v6 in [false, true] {
        let data = payload(5000);
        let (mut p, h) = super_packet(v6, &data, 1400);
        assert_eq!(segments(&p, &h), Ok(4));
        let mut out = vec![vec![0u8; 2000]; 8];
        let mut lens = [0usize; 8];
        let n = split(&mut p, &h, &mut out, 64, &mut lens).expect("split");
        assert_eq!(n, 4);
        let l4 = if v6 { 40 } else { 20 };
        let mut got = Vec::new();
        for i in 0..n {
            let s = &out[i][64..64 + lens[i]];
            assert!(valid_l4(s), "segment {i} checksum");
            if !v6 {
                assert_eq!(
                    ipv4_header_checksum(&s[..20]),
                    u16::from_be_bytes([s[10], s[11]])
                );
                assert_eq!(usize::from(u16::from_be_bytes([s[2], s[3]])), s.len());
                assert_eq!(u16::from_be_bytes([s[4], s[5]]), 100 + i as u16);
            } else {
                assert_eq!(usize::from(u16::from_be_bytes([s[4], s[5]])) + 40, s.len());
            }
            let seq = u32::from_be_bytes([s[l4 + 4], s[l4 + 5], s[l4 + 6], s[l4 + 7]]);
            assert_eq!(seq, 1000 + 1400 * i as u32);
            let psh = s[l4 + 13] & 0x08 != 0;
            assert_eq!(psh, i == 3, "PSH only on the last");
            got.extend_from_slice(&s[l4 + 32..]);
        }
        assert_eq!(lens[3], l4 + 32 + 800);
        assert_eq!(got, data);
    }
}

#[test]
fn udp_super_packets_split_with_lengths_and_checksums() {
    let data = payload(3000);
    let mut p = vec![0u8; 28 + data.len()];
    ipv4_header(&mut p, 17);
    p[28..].copy_from_slice(&data);
    let h = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_UDP_L4,
        hdr_len: 28,
        gso_size: 1200,
        csum_start: 20,
        csum_offset: 6,
    };
    let mut out = vec![vec![0u8; 1500]; 4];
    let mut lens = [0usize; 4];
    assert_eq!(split(&mut p, &h, &mut out, 0, &mut lens), Ok(3));
    for (i, want) in [1200, 1200, 600].into_iter().enumerate() {
        let s = &out[i][..lens[i]];
        assert_eq!(u16::from_be_bytes([s[24], s[25]]), 8 + want as u16);
        assert!(valid_l4(s));
    }
}

#[test]
fn partial_checksums_are_completed() {
    let mut p = tcp(false, 1, 2, 0x18, 3, &payload(333));
    let pseudo = fold(pseudo_of(&p, 20, 6).expect("addrs"));
    p[36..38].copy_from_slice(&pseudo.to_be_bytes());
    assert!(!valid_l4(&p));
    let h = VnetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: 20,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    let mut out = [vec![0u8; 600]];
    let mut lens = [0];
    assert_eq!(split(&mut p, &h, &mut out, 10, &mut lens), Ok(1));
    assert!(valid_l4(&out[0][10..10 + lens[0]]));
    let bad = VnetHdr {
        csum_start: 400,
        ..h
    };
    assert_eq!(complete_checksum(&mut p, &bad), Err(GsoError::BadHeader));
}

#[test]
fn nonsense_headers_are_errors_not_panics() {
    let mut seed = 7;
    let mut out = vec![vec![0u8; 1600]; 4];
    let mut lens = [0usize; 4];
    let (base, _) = super_packet(false, &payload(4000), 1000);
    for _ in 0..20_000 {
        let mut p = base.clone();
        p.truncate(rng(&mut seed) as usize % (p.len() + 1));
        if rng(&mut seed).is_multiple_of(2) {
            let i = rng(&mut seed) as usize % p.len().max(1);
            if let Some(b) = p.get_mut(i) {
                *b = rng(&mut seed) as u8;
            }
        }
        let h = VnetHdr {
            flags: rng(&mut seed) as u8 & 1,
            gso_type: [0, 1, 3, 4, 5, 0x81][rng(&mut seed) as usize % 6],
            hdr_len: rng(&mut seed) as u16 % 100,
            gso_size: rng(&mut seed) as u16 % 2000,
            csum_start: rng(&mut seed) as u16 % 80,
            csum_offset: rng(&mut seed) as u16 % 40,
        };
        let _ = segments(&p, &h);
        let _ = split(&mut p, &h, &mut out, 100, &mut lens);
    }
    let (mut p, mut h) = super_packet(false, &payload(4000), 100);
    assert_eq!(
        split(&mut p, &h, &mut out, 0, &mut lens),
        Err(GsoError::TooManySegments(40))
    );
    h.gso_type = 3;
    assert_eq!(segments(&p, &h), Err(GsoError::Unsupported(3)));
}

fn write_all(c: &mut Coalescer) -> Vec<Vec<u8>> {
    let mut written = Vec::new();
    c.flush(|b| {
        written.push(b.to_vec());
        Ok(b.len())
    });
    written
}

#[test]
fn segments_coalesce_back_into_the_super_packet() {
    for v6 in [false, true] {
        let data = payload(9000);
        let (mut p, h) = super_packet(v6, &data, 1348);
        let mut out = vec![vec![0u8; 1600]; 8];
        let mut lens = [0usize; 8];
        let n = split(&mut p.clone(), &h, &mut out, 0, &mut lens).expect("split");
        let mut c = Coalescer::new(64, false);
        for i in 0..n {
            assert!(c.push(&out[i][..lens[i]]));
        }
        assert_eq!(c.len(), 1);
        let w = write_all(&mut c);
        assert_eq!(w.len(), 1);
        let got = VnetHdr::decode(&w[0]).expect("header");
        assert_eq!(got.gso_size, 1348);
        assert_eq!(got.gso_type, h.gso_type);
        assert_eq!(
            (got.csum_start, got.csum_offset, got.hdr_len),
            (h.csum_start, 16, h.hdr_len)
        );
        let body = &w[0][VNET_HDR_LEN..];
        // The first segment's IP ID survives; the rest is the original.
        if !v6 {
            p[10..12].copy_from_slice(&body[10..12]);
        }
        assert_eq!(body, &p[..], "v6={v6}");
        // And splitting the coalesced packet gives the same segments.
        let mut again = vec![vec![0u8; 1600]; 8];
        let mut lens2 = [0usize; 8];
        let mut body = body.to_vec();
        assert_eq!(split(&mut body, &got, &mut again, 0, &mut lens2), Ok(n));
        for i in 0..n {
            assert_eq!(again[i][..lens2[i]], out[i][..lens[i]], "segment {i}");
        }
        assert_eq!(c.stats.merged, n as u64 - 1);
    }
}

#[test]
fn only_continuations_of_a_flow_are_merged() {
    let d = payload(1000);
    let mut c = Coalescer::new(16, false);
    // 0: head; 1: continues; 2: a gap (seq 4000): new buffer, closes 0.
    assert!(c.push(&tcp(false, 1000, 5, 0x10, 1, &d)));
    assert!(c.push(&tcp(false, 2000, 5, 0x10, 2, &d)));
    assert!(c.push(&tcp(false, 4000, 5, 0x10, 3, &d)));
    // 3: would continue buffer 0, but buffer 1 is the flow's newest.
    assert!(c.push(&tcp(false, 3000, 5, 0x10, 4, &d)));
    // A different ACK, a UDP-ish non-TCP packet, a bad checksum.
    assert!(c.push(&tcp(false, 4000, 6, 0x10, 5, &d)));
    let mut not_tcp = tcp(false, 0, 0, 0x10, 6, &d);
    not_tcp[9] = 17;
    assert!(c.push(&not_tcp));
    let mut bad = tcp(false, 5000, 6, 0x10, 7, &d);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(c.push(&bad));
    assert!(c.push(&tcp(false, 6000, 6, 0x10, 8, &d)));
    assert_eq!(c.len(), 7, "only the second packet merged");
    let w = write_all(&mut c);
    assert_eq!(VnetHdr::decode(&w[0]).map(|h| h.gso_type), Some(GSO_TCPV4));
    assert!(w[1..]
        .iter()
        .all(|b| b[..VNET_HDR_LEN] == [0; VNET_HDR_LEN]));
    assert_eq!(&w[5][VNET_HDR_LEN..], &bad[..], "passed through unchanged");
    assert!(c.is_empty());
}

#[test]
fn psh_and_short_segments_end_a_run_and_the_batch_has_an_end() {
    let mut c = Coalescer::new(2, false);
    assert!(c.push(&tcp(false, 0, 1, 0x10, 1, &payload(1000))));
    assert!(c.push(&tcp(false, 1000, 1, 0x18, 2, &payload(500))));
    assert!(c.push(&tcp(false, 1500, 1, 0x10, 3, &payload(1000))));
    assert!(c.is_full());
    assert!(!c.push(&tcp(true, 0, 1, 0x10, 3, &payload(10))), "no room");
    let w = write_all(&mut c);
    let head = &w[0][VNET_HDR_LEN..];
    assert_eq!(head.len(), 20 + 32 + 1500);
    assert_eq!(head[20 + 13], 0x18, "PSH carried to the head");
    assert_eq!(c.stats.writes, 2);
}

/// A UDP/IPv4 datagram from 10.1.0.2:4000 to 10.2.0.2:5001, with or
/// without a checksum.
fn udp4(payload: &[u8], checksum: bool) -> Vec<u8> {
    let len = 28 + payload.len();
    let mut p = vec![0u8; len];
    ipv4_header(&mut p, 17);
    p[20..22].copy_from_slice(&4000u16.to_be_bytes());
    p[22..24].copy_from_slice(&5001u16.to_be_bytes());
    p[24..26].copy_from_slice(&((len - 20) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    if checksum {
        let c = !fold(sum(&p[20..], pseudo_of(&p, 20, 17).expect("addrs")));
        p[26..28].copy_from_slice(&c.to_be_bytes());
    }
    p
}

#[test]
fn udp_datagrams_of_one_size_coalesce_with_uso_only() {
    let sizes = [1000, 1000, 1000, 400];
    let datagrams: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| udp4(&payload(n + i)[i..], i != 1))
        .collect();
    let mut c = Coalescer::new(8, true);
    for d in &datagrams {
        assert!(c.push(d));
    }
    // After the short one, a full-size datagram starts a new buffer.
    assert!(c.push(&udp4(&payload(1000), true)));
    assert_eq!(c.len(), 2);
    let w = write_all(&mut c);
    let h = VnetHdr::decode(&w[0]).expect("header");
    assert_eq!(
        (h.gso_type, h.gso_size, h.csum_start, h.csum_offset),
        (GSO_UDP_L4, 1000, 20, 6)
    );
    let mut body = w[0][VNET_HDR_LEN..].to_vec();
    let mut out = vec![vec![0u8; 1100]; 8];
    let mut lens = [0usize; 8];
    assert_eq!(split(&mut body, &h, &mut out, 0, &mut lens), Ok(4));
    for (i, d) in datagrams.iter().enumerate() {
        let s = &out[i][..lens[i]];
        assert!(valid_l4(s), "datagram {i} checksum");
        assert_eq!(&s[28..], &d[28..], "datagram {i} payload");
        assert_eq!(s[20..26], d[20..26], "ports and length");
    }
    // Without USO, UDP passes through untouched.
    let mut plain = Coalescer::new(8, false);
    for d in &datagrams {
        assert!(plain.push(d));
    }
    assert_eq!(plain.len(), 4);
}
