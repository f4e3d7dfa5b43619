//! Kernel counters inside a namespace: SNMP/netstat MIBs and link stats.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::netns::Netns;

/// Parses `/proc/net/snmp` or `/proc/net/netstat`: pairs of lines
/// `Proto: Name1 Name2 ...` / `Proto: v1 v2 ...`, giving keys named like
/// `nstat` does (`UdpRcvbufErrors`, `TcpExtTCPTimeouts`). Negative values
/// (e.g. `TcpMaxConn = -1`) are skipped.
pub fn parse_proc_pairs(text: &str, into: &mut BTreeMap<String, u64>) {
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (Some((proto, names)), Some((proto2, values))) =
            (names.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        if proto != proto2 {
            continue;
        }
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = value.parse::<u64>() {
                into.insert(format!("{proto}{name}"), v);
            }
        }
    }
}

/// Parses `/proc/net/snmp6`: one `Name value` pair per line.
pub fn parse_proc_snmp6(text: &str, into: &mut BTreeMap<String, u64>) {
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if let (Some(name), Some(value)) = (it.next(), it.next()) {
            if let Ok(v) = value.parse::<u64>() {
                into.insert(name.to_string(), v);
            }
        }
    }
}

/// Absolute values of all SNMP and netstat counters in `ns`, keyed as by
/// `nstat -az` (e.g. `UdpRcvbufErrors`, `Udp6RcvbufErrors`,
/// `TcpExtTCPLossProbes`, `IpFragFails`).
///
/// Reads `/proc/net/{snmp,netstat,snmp6}` from inside the namespace, so it
/// does not depend on nstat's shared history file.
pub fn netns_nstat(ns: &Netns) -> BTreeMap<String, u64> {
    let mut map = BTreeMap::new();
    parse_proc_pairs(&ns.run_ok(&["cat", "/proc/net/snmp"]), &mut map);
    parse_proc_pairs(&ns.run_ok(&["cat", "/proc/net/netstat"]), &mut map);
    // snmp6 is absent when IPv6 is disabled.
    let v6 = ns.exec(&["cat", "/proc/net/snmp6"]);
    if v6.status.success() {
        parse_proc_snmp6(&String::from_utf8_lossy(&v6.stdout), &mut map);
    }
    map
}

/// Per-interface counters from `ip -s link`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)] // the names are the kernel's counters
pub struct LinkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// Reads the counters of `ifname` in `ns`.
///
/// # Panics
/// If the interface does not exist.
pub fn link_stats(ns: &Netns, ifname: &str) -> LinkStats {
    let json = ns.ip(&["-j", "-s", "link", "show", "dev", ifname]);
    let v: Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("ip -j -s link output not JSON ({e}): {json}"));
    let s = &v[0]["stats64"];
    let get = |dir: &str, key: &str| s[dir][key].as_u64().unwrap_or(0);
    LinkStats {
        rx_bytes: get("rx", "bytes"),
        rx_packets: get("rx", "packets"),
        rx_errors: get("rx", "errors"),
        rx_dropped: get("rx", "dropped"),
        tx_bytes: get("tx", "bytes"),
        tx_packets: get("tx", "packets"),
        tx_errors: get("tx", "errors"),
        tx_dropped: get("tx", "dropped"),
    }
}

/// A memory field of `/proc/PID/status` in KiB (`"VmRSS"`, `"VmHWM"`, ...);
/// 0 if the process is gone.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Resident set size (VmRSS) of a process in KiB; 0 if gone.
pub fn vm_rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS")
}

/// Peak resident set size (VmHWM) of a process in KiB; 0 if gone.
pub fn vm_hwm_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_snmp_formats() {
        let mut m = BTreeMap::new();
        parse_proc_pairs(
            "Tcp: RtoMin MaxConn\nTcp: 200 -1\nUdp: InDatagrams RcvbufErrors\nUdp: 5 7\n",
            &mut m,
        );
        parse_proc_snmp6("Udp6RcvbufErrors   \t3\nIp6InReceives 9\n", &mut m);
        assert_eq!(m["TcpRtoMin"], 200);
        assert!(!m.contains_key("TcpMaxConn"));
        assert_eq!(m["UdpRcvbufErrors"], 7);
        assert_eq!(m["Udp6RcvbufErrors"], 3);
        assert_eq!(m["Ip6InReceives"], 9);
    }
}
