//! "Packet too big" for a packet that cannot cross the tunnel whole: ICMP
//! Destination Unreachable, Fragmentation Needed with the next-hop MTU
//! (RFC 792, RFC 1191 §4) for IPv4 with DF set, ICMPv6 Packet Too Big
//! (RFC 4443 §3.2) for IPv6. Written back into the TUN, so the sender's
//! path MTU discovery learns the tunnel's size.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Largest error we build (RFC 4443: as much of the packet as fits in
/// the IPv6 minimum MTU; IPv4 likewise stays under 576).
pub const MAX_ERROR: usize = 1280;

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn sum(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum()
}

/// Whether the packet may not be fragmented on the way (IPv4 with DF, or
/// IPv6), and is not itself an ICMP error (never answer one).
pub fn wants_error(p: &[u8]) -> bool {
    match p.first().map(|v| v >> 4) {
        Some(4) if p.len() >= 20 => {
            let df = p[6] & 0x40 != 0;
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let icmp_error =
                p[9] == 1 && p.get(ihl).is_some_and(|t| matches!(t, 3 | 4 | 5 | 11 | 12));
            df && !icmp_error
        }
        Some(6) if p.len() >= 40 => !(p[6] == 58 && p.get(40).is_some_and(|t| *t < 128)),
        _ => false,
    }
}

/// Builds the error for `orig` into `out` (at least [`MAX_ERROR`] long),
/// from our address `from_v4`/`from_v6` (else, or when the packet came
/// from that very address, the packet's destination), telling `mtu`.
/// Returns its length.
pub fn too_big(
    orig: &[u8],
    from_v4: Option<Ipv4Addr>,
    from_v6: Option<Ipv6Addr>,
    mtu: u16,
    out: &mut [u8],
) -> Option<usize> {
    match orig.first()? >> 4 {
        4 => {
            let quoted = orig.len().min(576 - 28);
            let len = 28 + quoted;
            let out = out.get_mut(..len)?;
            out.fill(0);
            out[0] = 0x45;
            out[1] = 0xc0;
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            out[8] = 64;
            out[9] = 1;
            let dst: [u8; 4] = orig.get(16..20)?.try_into().ok()?;
            let sender: [u8; 4] = orig.get(12..16)?.try_into().ok()?;
            // A packet from this host itself must not be answered from one
            // of its own addresses (the kernel drops that as martian).
            let src = from_v4
                .map(|a| a.octets())
                .filter(|a| *a != sender)
                .unwrap_or(dst);
            out[12..16].copy_from_slice(&src);
            out[16..20].copy_from_slice(orig.get(12..16)?);
            let c = fold(sum(&out[..20]));
            out[10..12].copy_from_slice(&c.to_be_bytes());
            out[20] = 3;
            out[21] = 4;
            out[26..28].copy_from_slice(&mtu.to_be_bytes());
            out[28..].copy_from_slice(&orig[..quoted]);
            let c = fold(sum(&out[20..]));
            out[22..24].copy_from_slice(&c.to_be_bytes());
            Some(len)
        }
        6 => {
            let quoted = orig.len().min(MAX_ERROR - 48);
            let len = 48 + quoted;
            let out = out.get_mut(..len)?;
            out.fill(0);
            out[0] = 0x60;
            out[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
            out[6] = 58;
            out[7] = 64;
            let dst: [u8; 16] = orig.get(24..40)?.try_into().ok()?;
            let sender: [u8; 16] = orig.get(8..24)?.try_into().ok()?;
            let src = from_v6
                .map(|a| a.octets())
                .filter(|a| *a != sender)
                .unwrap_or(dst);
            out[8..24].copy_from_slice(&src);
            out[24..40].copy_from_slice(orig.get(8..24)?);
            out[40] = 2;
            out[44..48].copy_from_slice(&u32::from(mtu).to_be_bytes());
            out[48..].copy_from_slice(&orig[..quoted]);
            let pseudo = sum(&out[8..40]) + (len as u32 - 40) + 58;
            let c = fold(pseudo + sum(&out[40..]));
            out[42..44].copy_from_slice(&c.to_be_bytes());
            Some(len)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_fragmentation_needed() {
        let mut orig = vec![0u8; 1500];
        orig[0] = 0x45;
        orig[6] = 0x40;
        orig[9] = 17;
        orig[12..16].copy_from_slice(&[172, 24, 1, 5]);
        orig[16..20].copy_from_slice(&[10, 51, 231, 1]);
        assert!(wants_error(&orig));
        let mut out = [0u8; MAX_ERROR];
        let n = too_big(
            &orig,
            Some(Ipv4Addr::new(172, 24, 255, 1)),
            None,
            1435,
            &mut out,
        )
        .unwrap();
        let e = &out[..n];
        assert_eq!(n, 576);
        assert_eq!(fold(sum(&e[..20])), 0, "IP checksum");
        assert_eq!(fold(sum(&e[20..])), 0, "ICMP checksum");
        assert_eq!(&e[12..16], &[172, 24, 255, 1]);
        assert_eq!(&e[16..20], &[172, 24, 1, 5]);
        assert_eq!((e[20], e[21]), (3, 4));
        assert_eq!(u16::from_be_bytes([e[26], e[27]]), 1435);
        // Without DF, or an ICMP error itself: no answer.
        orig[6] = 0;
        assert!(!wants_error(&orig));
        let mut err = e.to_vec();
        err[6] = 0x40;
        assert!(!wants_error(&err));
    }

    #[test]
    fn ipv6_packet_too_big() {
        let mut orig = vec![0u8; 1500];
        orig[0] = 0x60;
        orig[6] = 17;
        orig[8] = 0xfd;
        orig[24] = 0xfd;
        orig[39] = 1;
        assert!(wants_error(&orig));
        let mut out = [0u8; MAX_ERROR];
        let n = too_big(&orig, None, None, 1400, &mut out).unwrap();
        let e = &out[..n];
        assert_eq!(n, MAX_ERROR);
        let pseudo = sum(&e[8..40]) + (n as u32 - 40) + 58;
        assert_eq!(fold(pseudo + sum(&e[40..])), 0, "ICMPv6 checksum");
        assert_eq!(e[40], 2);
        assert_eq!(&e[8..24], &orig[24..40], "from the packet's destination");
    }
}
