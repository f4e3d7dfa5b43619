//! Which tunnel carries a packet: the route stage of the outbound data
//! plane, and the policy check of the inbound one.
//!
//! **The table.** Longest prefix wins, and each prefix names its paths by
//! preference tier. One hash table per prefix length present, probed from
//! the longest: a lookup costs one probe per distinct length (a handful in
//! practice) whatever the number of prefixes, so thousands of BGP-learned
//! routes cost the packet path no more than ten static ones. An entry
//! holds the index of its list of paths among the table's distinct lists
//! (a few: combinations of tunnels and tiers), so 200,000 prefixes cost
//! each table about 9 bytes apiece (hash slot, control byte, load factor).
//!
//! **The choice.** Among the best tier's tunnels that can carry flows, a
//! hash of the packet's flow picks one by rendezvous (highest random
//! weight) hashing: every tunnel gets a score from the flow hash and its
//! own index, and the highest wins. So one flow stays on one tunnel (no
//! reordering), and when a tunnel leaves the set only its flows move, and
//! when it returns only the flows whose highest score is its own move
//! back. When no tunnel of any tier is up, one that still has an SA
//! (suspect, or waiting out its hold-down) is better than dropping.

use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// One tunnel able to carry a prefix, and its preference tier: tier 0 is
/// the multipath set flows are spread over, higher tiers are backups
/// (`bgp::select`). Static routes are tier 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path {
    pub tier: u8,
    pub tunnel: usize,
}

/// The paths of a prefix, best tier first. Shared: the BGP plane hands
/// out one copy per distinct list (`Routes::paths`), so 200,000 prefixes
/// over the same two tunnels cost each table a pointer, not a list.
pub type Tunnels = Arc<[Path]>;

/// Index into [`Fib::lists`].
type ListId = u16;

#[derive(Debug, Default, Clone)]
pub struct Fib {
    v4: Vec<(u8, HashMap<u32, ListId>)>,
    v6: Vec<(u8, HashMap<u128, ListId>)>,
    /// The distinct lists of paths in use (and some no longer used: they
    /// are few, and kept until the table is rebuilt).
    lists: Vec<Tunnels>,
}

fn mask4(a: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        a & (u32::MAX << (32 - u32::from(len)))
    }
}

fn mask6(a: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        a & (u128::MAX << (128 - u32::from(len)))
    }
}

fn table<K>(tables: &mut Vec<(u8, HashMap<K, ListId>)>, len: u8) -> &mut HashMap<K, ListId> {
    let pos = match tables.iter().position(|(l, _)| *l <= len) {
        Some(p) if tables[p].0 == len => p,
        Some(p) => {
            tables.insert(p, (len, HashMap::new()));
            p
        }
        None => {
            tables.push((len, HashMap::new()));
            tables.len() - 1
        }
    };
    &mut tables[pos].1
}

/// Sets or (with no list) removes one key.
fn put<K: std::hash::Hash + Eq>(
    tables: &mut Vec<(u8, HashMap<K, ListId>)>,
    len: u8,
    key: K,
    list: Option<ListId>,
) {
    let t = table(tables, len);
    match list {
        Some(id) => {
            t.insert(key, id);
        }
        None => {
            t.remove(&key);
        }
    }
    tables.retain(|(_, t)| !t.is_empty());
}

impl Fib {
    /// A table of static routes, one tunnel each, all tier 0 (a prefix
    /// listed for two tunnels is spread over both).
    pub fn new(entries: Vec<(IpNet, usize)>) -> Self {
        let mut fib = Fib::default();
        for (net, tunnel) in entries {
            let mut ts = fib.get(&net).to_vec();
            let p = Path { tier: 0, tunnel };
            if !ts.contains(&p) {
                ts.push(p);
                ts.sort();
            }
            fib.set(net, ts.into());
        }
        fib
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        let v4: usize = self.v4.iter().map(|(_, t)| t.len()).sum();
        let v6: usize = self.v6.iter().map(|(_, t)| t.len()).sum();
        v4 + v6
    }

    /// The id of `tunnels` among the distinct lists (added if new).
    fn list_id(&mut self, tunnels: Tunnels) -> Option<ListId> {
        if tunnels.is_empty() {
            return None;
        }
        let found = self
            .lists
            .iter()
            .position(|l| Arc::ptr_eq(l, &tunnels) || **l == *tunnels);
        let pos = match found {
            Some(p) => p,
            None => {
                // More distinct lists than ids: drop the unused ones.
                if self.lists.len() > usize::from(ListId::MAX) {
                    self.compact();
                }
                self.lists.push(tunnels);
                self.lists.len() - 1
            }
        };
        ListId::try_from(pos).ok()
    }

    /// Rebuilds the table of lists with only those in use.
    fn compact(&mut self) {
        let mut used = vec![false; self.lists.len()];
        let ids = self.v4.iter().flat_map(|(_, t)| t.values());
        for &id in ids.chain(self.v6.iter().flat_map(|(_, t)| t.values())) {
            used[usize::from(id)] = true;
        }
        let mut map = vec![0; self.lists.len()];
        let mut kept = Vec::new();
        for (i, l) in self.lists.drain(..).enumerate() {
            if used[i] {
                map[i] = kept.len() as ListId;
                kept.push(l);
            }
        }
        self.lists = kept;
        for (_, t) in self.v4.iter_mut() {
            t.values_mut().for_each(|id| *id = map[usize::from(*id)]);
        }
        for (_, t) in self.v6.iter_mut() {
            t.values_mut().for_each(|id| *id = map[usize::from(*id)]);
        }
    }

    /// Sets the tunnels of `net`; an empty list removes it.
    pub fn set(&mut self, net: IpNet, tunnels: Tunnels) {
        let net = net.trunc();
        let len = net.prefix_len();
        let id = self.list_id(tunnels);
        match net {
            IpNet::V4(n) => put(&mut self.v4, len, u32::from(n.addr()), id),
            IpNet::V6(n) => put(&mut self.v6, len, u128::from(n.addr()), id),
        }
    }

    fn list(&self, id: Option<&ListId>) -> &[Path] {
        id.and_then(|id| self.lists.get(usize::from(*id)))
            .map_or(&[], |l| l)
    }

    /// The paths of exactly `net` (no longest-match).
    pub fn get(&self, net: &IpNet) -> &[Path] {
        let net = net.trunc();
        let found = match net {
            IpNet::V4(n) => self
                .v4
                .iter()
                .find(|(l, _)| *l == n.prefix_len())
                .and_then(|(_, t)| t.get(&u32::from(n.addr()))),
            IpNet::V6(n) => self
                .v6
                .iter()
                .find(|(l, _)| *l == n.prefix_len())
                .and_then(|(_, t)| t.get(&u128::from(n.addr()))),
        };
        self.list(found)
    }

    /// The paths of the longest prefix holding `dst`.
    pub fn lookup_all(&self, dst: IpAddr) -> &[Path] {
        let found = match dst {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().find_map(|(l, t)| t.get(&mask4(a, *l)))
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().find_map(|(l, t)| t.get(&mask6(a, *l)))
            }
        };
        self.list(found)
    }

    /// Whether `tunnel` is a path of the longest prefix holding `addr`
    /// (RFC 4301 §5.2: an inner source must route back into the tunnel
    /// it came from).
    pub fn routes_via(&self, addr: IpAddr, tunnel: usize) -> bool {
        self.lookup_all(addr).iter().any(|p| p.tunnel == tunnel)
    }

    #[cfg(test)]
    pub fn lookup(&self, dst: IpAddr) -> Option<usize> {
        self.lookup_all(dst).first().map(|p| p.tunnel)
    }
}

// The choice among a prefix's paths.

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
mod table_tests {
    use super::*;

    fn n(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let fib = Fib::new(vec![
            (n("10.0.0.0/8"), 0),
            (n("10.1.0.0/16"), 1),
            (n("fd00::/8"), 2),
            (n("0.0.0.0/0"), 3),
        ]);
        assert_eq!(fib.lookup("10.1.2.3".parse().unwrap()), Some(1));
        assert_eq!(fib.lookup("10.2.2.3".parse().unwrap()), Some(0));
        assert_eq!(fib.lookup("fd00::1".parse().unwrap()), Some(2));
        assert_eq!(fib.lookup("192.0.2.1".parse().unwrap()), Some(3));
        assert_eq!(fib.lookup("fe80::1".parse().unwrap()), None);
    }

    fn tier0(ts: &[usize]) -> Tunnels {
        ts.iter().map(|&tunnel| Path { tier: 0, tunnel }).collect()
    }

    #[test]
    fn set_replaces_and_removes() {
        let mut fib = Fib::new(vec![(n("10.0.0.0/8"), 0)]);
        fib.set(n("10.51.231.0/24"), tier0(&[1, 2]));
        assert_eq!(
            fib.lookup_all("10.51.231.9".parse().unwrap()),
            &*tier0(&[1, 2])
        );
        assert!(fib.routes_via("10.51.231.9".parse().unwrap(), 2));
        assert!(!fib.routes_via("10.51.231.9".parse().unwrap(), 0));
        assert_eq!(fib.len(), 2);
        fib.set(n("10.51.231.0/24"), tier0(&[2]));
        assert_eq!(
            fib.lookup_all("10.51.231.9".parse().unwrap()),
            &*tier0(&[2])
        );
        fib.set(n("10.51.231.0/24"), Arc::new([]));
        assert_eq!(fib.lookup("10.51.231.9".parse().unwrap()), Some(0));
        assert_eq!(fib.len(), 1);
        fib.set(n("10.51.231.0/24"), Arc::new([]));
        assert_eq!(fib.len(), 1, "removing an absent prefix changes nothing");
    }

    #[test]
    fn lists_are_shared_and_compacted() {
        let mut fib = Fib::default();
        fib.set(n("10.1.0.0/16"), tier0(&[0]));
        fib.set(n("10.2.0.0/16"), tier0(&[0]));
        fib.set(n("10.3.0.0/16"), tier0(&[1]));
        fib.set(n("fd00::/8"), tier0(&[0, 1]));
        assert_eq!(fib.lists.len(), 3, "equal lists share one id");
        fib.set(n("10.3.0.0/16"), tier0(&[0, 1]));
        assert_eq!(fib.lists.len(), 3, "the unused list stays until compacted");
        fib.compact();
        assert_eq!(fib.lists.len(), 2);
        assert_eq!(fib.lookup("10.2.0.1".parse().unwrap()), Some(0));
        assert_eq!(
            fib.lookup_all("10.3.0.1".parse().unwrap()),
            &*tier0(&[0, 1])
        );
        assert_eq!(fib.lookup_all("fd00::1".parse().unwrap()), &*tier0(&[0, 1]));
    }

    #[test]
    fn many_prefixes() {
        let mut fib = Fib::default();
        for i in 0..10_000u32 {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8));
            fib.set(
                IpNet::V4(ipnet::Ipv4Net::new(a, 24).unwrap()),
                tier0(&[(i % 2) as usize]),
            );
        }
        assert_eq!(fib.len(), 10_000);
        assert_eq!(fib.lookup("10.0.7.1".parse().unwrap()), Some(1));
        assert_eq!(fib.lookup("10.39.15.1".parse().unwrap()), Some(1));
    }
}

#[cfg(test)]
mod choice_tests {
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
