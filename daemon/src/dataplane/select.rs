//! Which tunnel carries a packet.
//!
//! A prefix has paths in preference tiers (`fib`). Among the best tier's
//! tunnels that can carry flows, a hash of the packet's flow picks one by
//! rendezvous (highest random weight) hashing: every tunnel gets a score
//! from the flow hash and its own index, and the highest wins. So one flow
//! stays on one tunnel (no reordering), and when a tunnel leaves the set
//! only its flows move, and when it returns only the flows whose highest
//! score is its own move back. When no tunnel of any tier is up, one that
//! still has an SA (suspect, or waiting out its hold-down) is better than
//! dropping.

use super::fib::Path;

/// What a tunnel can do for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// Up: it carries flows.
    Active,
    /// It has an SA but is suspect or rejoining: only if nothing is up.
    Standby,
    /// No SA, or its traffic selectors refuse the packet.
    Unable,
}

/// splitmix64's finalizer: a cheap, well-spread 64-bit mix.
#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[inline]
fn score(flow: u64, tunnel: usize) -> u64 {
    mix(flow ^ mix(tunnel as u64 ^ 0x9e37_79b9_7f4a_7c15))
}

fn word(p: &[u8], at: usize) -> u64 {
    p.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, |b: [u8; 4]| u64::from(u32::from_be_bytes(b)))
}

/// A hash of the packet's flow: addresses, protocol and, unless it is a
/// fragment, the transport ports (the first four octets after the header,
/// for TCP, UDP and SCTP).
#[inline]
pub fn flow_hash(p: &[u8]) -> u64 {
    const PORTS: [u8; 3] = [6, 17, 132];
    let Some(&v) = p.first() else { return 0 };
    match v >> 4 {
        4 => {
            let ihl = usize::from(v & 0x0f) * 4;
            let proto = p.get(9).copied().unwrap_or(0);
            let frag = p.get(6..8).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            let ports = if frag & 0x3fff == 0 && PORTS.contains(&proto) {
                word(p, ihl)
            } else {
                0
            };
            mix(word(p, 12) << 32 | word(p, 16)) ^ mix(u64::from(proto) << 32 | ports)
        }
        6 => {
            let nh = p.get(6).copied().unwrap_or(0);
            let ports = if PORTS.contains(&nh) { word(p, 40) } else { 0 };
            let mut h = mix(u64::from(nh) << 32 | ports);
            for at in (8..40).step_by(8) {
                h = mix(h ^ (word(p, at) << 32 | word(p, at + 4)));
            }
            h
        }
        _ => 0,
    }
}

/// Picks the tunnel for a packet of flow `flow` among `paths` (best tier
/// first): the best tier with an active tunnel, by rendezvous hashing;
/// failing that, likewise among standby tunnels.
#[inline]
pub fn choose(paths: &[Path], flow: u64, carry: impl Fn(usize) -> Carry) -> Option<usize> {
    if let [only] = paths {
        return (carry(only.tunnel) != Carry::Unable).then_some(only.tunnel);
    }
    pick(paths, flow, &carry, Carry::Active).or_else(|| pick(paths, flow, &carry, Carry::Standby))
}

fn pick(paths: &[Path], flow: u64, carry: &impl Fn(usize) -> Carry, want: Carry) -> Option<usize> {
    let mut best: Option<(u8, u64, usize)> = None;
    for p in paths {
        if best.is_some_and(|(tier, _, _)| p.tier > tier) {
            break;
        }
        if carry(p.tunnel) != want {
            continue;
        }
        let s = score(flow, p.tunnel);
        if best.is_none_or(|(_, bs, _)| s > bs) {
            best = Some((p.tier, s, p.tunnel));
        }
    }
    best.map(|(_, _, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(tiers: &[(u8, usize)]) -> Vec<Path> {
        tiers
            .iter()
            .map(|&(tier, tunnel)| Path { tier, tunnel })
            .collect()
    }

    fn udp(sport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[9] = 17;
        p[12..16].copy_from_slice(&[172, 24, 255, 1]);
        p[16..20].copy_from_slice(&[10, 51, 231, 1]);
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&5201u16.to_be_bytes());
        p
    }

    #[test]
    fn ports_addresses_and_fragments() {
        assert_ne!(flow_hash(&udp(1000)), flow_hash(&udp(1001)));
        assert_eq!(flow_hash(&udp(1000)), flow_hash(&udp(1000)));
        // A fragment hashes by addresses only, so all of a datagram's
        // fragments (the first has ports, the rest don't) hash alike.
        let mut first = udp(1000);
        first[6] = 0x20; // MF
        let mut later = udp(2000);
        later[7] = 0x10; // offset
        assert_eq!(flow_hash(&first), flow_hash(&later));
        let mut v6 = vec![0u8; 48];
        v6[0] = 0x60;
        v6[6] = 6;
        let a = flow_hash(&v6);
        v6[41] = 1;
        assert_ne!(a, flow_hash(&v6));
        assert_eq!(flow_hash(&[]), 0);
    }

    #[test]
    fn flows_spread_evenly_over_a_tier() {
        let ps = paths(&[(0, 0), (0, 1)]);
        let mut n = [0usize; 2];
        for sport in 0..10_000 {
            let t = choose(&ps, flow_hash(&udp(sport)), |_| Carry::Active).unwrap();
            n[t] += 1;
        }
        assert!(n[0] > 4_700 && n[1] > 4_700, "{n:?}");
    }

    #[test]
    fn only_the_flows_of_a_leaving_or_returning_tunnel_move() {
        let ps = paths(&[(0, 0), (0, 1), (0, 2)]);
        let flows: Vec<u64> = (0..3000).map(|s| flow_hash(&udp(s))).collect();
        let all = |f: u64| choose(&ps, f, |_| Carry::Active).unwrap();
        let without1 = |f: u64| {
            choose(
                &ps,
                f,
                |t| if t == 1 { Carry::Unable } else { Carry::Active },
            )
            .unwrap()
        };
        for &f in &flows {
            let (before, after) = (all(f), without1(f));
            if before != 1 {
                assert_eq!(before, after, "a flow not on tunnel 1 moved");
            } else {
                assert_ne!(after, 1);
            }
        }
    }

    #[test]
    fn backups_standby_and_nothing() {
        let ps = paths(&[(0, 0), (1, 1)]);
        let f = flow_hash(&udp(7));
        assert_eq!(choose(&ps, f, |_| Carry::Active), Some(0));
        let down0 = |t: usize| if t == 0 { Carry::Unable } else { Carry::Active };
        assert_eq!(choose(&ps, f, down0), Some(1), "the backup tier");
        let suspect0 = |t: usize| {
            if t == 0 {
                Carry::Standby
            } else {
                Carry::Active
            }
        };
        assert_eq!(
            choose(&ps, f, suspect0),
            Some(1),
            "an active backup beats a suspect"
        );
        assert_eq!(
            choose(&ps, f, |_| Carry::Standby),
            Some(0),
            "standby, best tier"
        );
        assert_eq!(choose(&ps, f, |_| Carry::Unable), None);
        assert_eq!(choose(&paths(&[(0, 3)]), f, |_| Carry::Standby), Some(3));
        assert_eq!(choose(&[], f, |_| Carry::Active), None);
    }
}
