//! TCP MSS clamping: Azure recommends an MSS of at most 1350 through the
//! tunnel, so that segments plus ESP fit the path without fragmenting.
//! A TCP SYN (or SYN-ACK) crossing the tunnel, either way, gets its MSS
//! option lowered in place, and its checksum adjusted incrementally
//! (RFC 1624).

const TCP: u8 = 6;
const SYN: u8 = 0x02;
/// TCP option kinds (RFC 9293 §3.2).
const END: u8 = 0;
const NOP: u8 = 1;
const MSS: u8 = 2;

/// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), in one's complement.
fn adjust(checksum: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!checksum) + u32::from(!old) + u32::from(new);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Where the TCP header of an IP packet starts, if it is TCP and whole
/// (IPv4 without fragment offset; IPv6 without extension headers).
fn tcp_offset(p: &[u8]) -> Option<usize> {
    match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let frag = u16::from_be_bytes([*p.get(6)?, *p.get(7)?]) & 0x1fff;
            (*p.get(9)? == TCP && frag == 0 && ihl >= 20).then_some(ihl)
        }
        6 => (*p.get(6)? == TCP).then_some(40),
        _ => None,
    }
}

/// Lowers the MSS option of a TCP SYN to `max` if it is higher. Returns
/// whether the packet changed. Anything else is left alone.
#[inline]
pub fn clamp(p: &mut [u8], max: u16) -> bool {
    let Some(t) = tcp_offset(p) else {
        return false;
    };
    let Some(&flags) = p.get(t + 13) else {
        return false;
    };
    if flags & SYN == 0 {
        return false;
    }
    let doff = p.get(t + 12).map_or(0, |b| usize::from(b >> 4) * 4);
    let end = (t + doff).min(p.len());
    let mut i = t + 20;
    while i < end {
        match p[i] {
            END => break,
            NOP => i += 1,
            kind => {
                let Some(&len) = p.get(i + 1) else { break };
                let len = usize::from(len);
                if len < 2 || i + len > end {
                    break;
                }
                if kind == MSS && len == 4 {
                    let old = u16::from_be_bytes([p[i + 2], p[i + 3]]);
                    if old <= max {
                        return false;
                    }
                    p[i + 2..i + 4].copy_from_slice(&max.to_be_bytes());
                    let c = u16::from_be_bytes([p[t + 16], p[t + 17]]);
                    p[t + 16..t + 18].copy_from_slice(&adjust(c, old, max).to_be_bytes());
                    return true;
                }
                i += len;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full one's-complement checksum over the TCP pseudo-header (IPv4).
    fn tcp_checksum_v4(p: &[u8]) -> u16 {
        let ihl = usize::from(p[0] & 0x0f) * 4;
        let tcp = &p[ihl..];
        let mut sum: u32 = 0;
        let mut add = |b: &[u8]| {
            for c in b.chunks(2) {
                let w = if c.len() == 2 {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from(c[0]) << 8
                };
                sum += u32::from(w);
            }
        };
        add(&p[12..20]);
        add(&[0, TCP]);
        add(&(tcp.len() as u16).to_be_bytes());
        add(tcp);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    fn syn(mss: u16) -> Vec<u8> {
        let mut p = vec![0u8; 20 + 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&48u16.to_be_bytes());
        p[9] = TCP;
        p[12..16].copy_from_slice(&[172, 24, 255, 1]);
        p[16..20].copy_from_slice(&[10, 51, 231, 1]);
        let t = 20;
        p[t..t + 2].copy_from_slice(&40000u16.to_be_bytes());
        p[t + 2..t + 4].copy_from_slice(&5201u16.to_be_bytes());
        p[t + 12] = 7 << 4; // 28 bytes: 8 of options
        p[t + 13] = SYN;
        // NOP, NOP, MSS, then END.
        p[t + 20..t + 26].copy_from_slice(&[NOP, NOP, MSS, 4, (mss >> 8) as u8, mss as u8]);
        let c = tcp_checksum_v4(&p);
        p[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn clamps_and_keeps_the_checksum_valid() {
        let mut p = syn(1460);
        assert_eq!(tcp_checksum_v4(&p), 0, "valid before");
        assert!(clamp(&mut p, 1350));
        assert_eq!(u16::from_be_bytes([p[44], p[45]]), 1350);
        assert_eq!(tcp_checksum_v4(&p), 0, "valid after");
        assert!(!clamp(&mut p, 1350), "already low enough");
        let mut low = syn(1200);
        assert!(!clamp(&mut low, 1350));
    }

    #[test]
    fn leaves_other_packets_alone() {
        let mut ack = syn(1460);
        ack[33] = 0x10; // ACK only
        assert!(!clamp(&mut ack, 1350));
        let mut udp = syn(1460);
        udp[9] = 17;
        assert!(!clamp(&mut udp, 1350));
        let mut truncated = syn(1460);
        truncated.truncate(42);
        assert!(!clamp(&mut truncated, 1350));
        let mut bad_len = syn(1460);
        bad_len[43] = 0;
        assert!(!clamp(&mut bad_len, 1350));
        assert!(!clamp(&mut [], 1350));
    }
}
