//! Which tunnel carries a destination: longest prefix wins.

use ipnet::IpNet;
use std::net::IpAddr;

/// A small longest-prefix-match table. Manual tunnels carry a handful of
/// prefixes, so a scan of a list sorted longest first is fastest; the BGP
/// issue replaces this with a trie for thousands of learned prefixes.
#[derive(Debug, Default, Clone)]
pub struct Fib {
    entries: Vec<(IpNet, usize)>,
}

impl Fib {
    pub fn new(mut entries: Vec<(IpNet, usize)>) -> Self {
        entries.sort_by(|a, b| b.0.prefix_len().cmp(&a.0.prefix_len()).then(a.0.cmp(&b.0)));
        Self { entries }
    }

    pub fn lookup(&self, dst: IpAddr) -> Option<usize> {
        self.entries
            .iter()
            .find(|(net, _)| net.contains(&dst))
            .map(|&(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let fib = Fib::new(vec![
            ("10.0.0.0/8".parse().unwrap(), 0),
            ("10.1.0.0/16".parse().unwrap(), 1),
            ("fd00::/8".parse().unwrap(), 2),
        ]);
        assert_eq!(fib.lookup("10.1.2.3".parse().unwrap()), Some(1));
        assert_eq!(fib.lookup("10.2.2.3".parse().unwrap()), Some(0));
        assert_eq!(fib.lookup("fd00::1".parse().unwrap()), Some(2));
        assert_eq!(fib.lookup("192.0.2.1".parse().unwrap()), None);
    }
}
