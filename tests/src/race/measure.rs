//! One leg's measurements: iperf3 and udpblast runs, and CPU time and peak memory read
//! from `/proc` around them.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::bed::{Bed, Daemon, End, VNET_HOST};
use super::{DaemonFigures, Leg};
use crate::iperf::{iperf3_run, Iperf3Opts};
use crate::process::ChildGuard;

/// Runs `f` under `perf`, attached to `pids` (every thread): `perf stat`
/// counts their system calls (the `raw_syscalls:sys_enter` tracepoint),
/// and with `profile` set `perf record -g` samples them into that file.
/// Without perf, `f` just runs and the count is `None`.
fn under_perf<T>(pids: &[u32], profile: Option<&Path>, f: impl FnOnce() -> T) -> (T, Option<u64>) {
    let have_perf = Command::new("perf")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let Ok(log) = tempfile::NamedTempFile::new() else {
        return (f(), None);
    };
    if pids.is_empty() || !have_perf {
        return (f(), None);
    }
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    let list = list.join(",");
    let mut cmd = Command::new("perf");
    cmd.args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", &list]);
    let mut stat = ChildGuard::spawn("perf stat", cmd, log.path());
    let mut record = profile.map(|out| {
        let mut cmd = Command::new("perf");
        cmd.args(["record", "-g", "-F", "499", "-p", &list, "-o"])
            .arg(out);
        ChildGuard::spawn("perf record", cmd, out.with_extension("log"))
    });
    let r = f();
    for p in std::iter::once(&mut stat).chain(record.as_mut()) {
        p.signal(libc::SIGINT);
        p.wait_timeout(Duration::from_secs(10));
    }
    let text = stat.log();
    let count = text
        .lines()
        .find(|l| l.contains("raw_syscalls:sys_enter"))
        .and_then(|l| l.split(',').next())
        .and_then(|n| n.trim().parse().ok());
    (r, count)
}

/// Clock ticks per second of `/proc/*/stat` and `/proc/stat`.
fn clk_tck() -> f64 {
    // SAFETY: sysconf only reads a constant of the running system.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime of a process (all its threads) in seconds; 0 if gone.
pub fn process_cpu_s(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces: fields start after the last ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / clk_tck()
}

/// Busy seconds of the whole machine, all CPUs (everything but idle and
/// iowait), from `/proc/stat`.
pub fn machine_busy_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let v: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    total.saturating_sub(idle) as f64 / clk_tck()
}

pub use crate::stats::vm_hwm_kib;

fn pids(bed: &Bed) -> Vec<(&'static str, u32)> {
    bed.ends
        .iter()
        .filter_map(|e| e.daemon.as_ref().map(|d| (e.side, d.pid())))
        .collect()
}

/// What an end lost so far: (inbound packets refused as replays or too
/// old, TUN `tx_dropped`). Zero for strongSwan's ends.
fn losses(end: &End) -> (u64, u64) {
    let Some(Daemon::Vwand(side)) = &end.daemon else {
        return (0, 0);
    };
    let status = side.status();
    let refused = status["tunnels"]
        .as_object()
        .into_iter()
        .flat_map(|t| t.values())
        .map(|t| {
            let inb = &t["inbound"];
            inb["replay"].as_u64().unwrap_or(0) + inb["too_old"].as_u64().unwrap_or(0)
        })
        .sum();
    let tun = side
        .ns
        .run_ok(&["cat", "/sys/class/net/vw0/statistics/tx_dropped"])
        .trim()
        .parse()
        .unwrap_or(0);
    (refused, tun)
}

/// One TCP run: (Mbit/s at the receiver, bytes, retransmits).
fn tcp(bed: &Bed, secs: u32, parallel: u32) -> (f64, u64, u64) {
    let mut o = Iperf3Opts::new(VNET_HOST, secs);
    o.parallel = parallel;
    let r = iperf3_run(&bed.lan, &o);
    (
        r.bits_per_second / 1e6,
        r.bytes_received,
        r.retransmits.unwrap_or(0),
    )
}

/// The 64-byte leg's UDP port on the VNet host.
const BLAST_PORT: &str = "5301";

/// 64-byte UDP datagrams as fast as `udpblast` sends them (64 per
/// `sendmmsg`, 8 flows): datagrams per second that reached the receiver.
/// iperf3 sent one per system call and took half the machine, so the
/// figure was iperf3's; see `src/bin/udpblast.rs`.
///
/// # Panics
/// If the receiver does not bind in 5 s or either end fails.
fn udp64(bed: &Bed, secs: u32) -> f64 {
    let bin = crate::workspace_bin("udpblast");
    let bin = bin.to_string_lossy();
    let bind = format!("{VNET_HOST}:{BLAST_PORT}");
    let recv_secs = (secs + 5).to_string();
    let log = tempfile::NamedTempFile::new().expect("a temporary file");
    let mut receiver = bed.vnet().spawn(
        &bin,
        &["recv", "--bind", &bind, "--seconds", &recv_secs],
        log.path(),
    );
    let filter = format!("sport = :{BLAST_PORT}");
    let bound = crate::poll_until(Duration::from_secs(5), || {
        (!bed
            .vnet()
            .run_ok(&["ss", "-Huln", &filter])
            .trim()
            .is_empty())
        .then_some(())
    });
    assert!(bound.is_some(), "udpblast recv did not bind {bind}");
    let secs_s = secs.to_string();
    let sent = bed
        .lan
        .exec_timeout(
            &[&bin, "send", "--dst", &bind, "--seconds", &secs_s],
            Duration::from_secs(u64::from(secs) + 10),
        )
        .expect("udpblast send ends in time");
    assert!(
        sent.status.success(),
        "udpblast send: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    // It stops a second after the last datagram, or at its deadline.
    receiver
        .wait_timeout(Duration::from_secs(u64::from(secs) + 10))
        .expect("udpblast recv ends");
    let text = receiver.log();
    let v: serde_json::Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("udpblast recv printed no JSON: {text}"));
    let got = v["received"].as_u64().unwrap_or(0);
    got as f64 / f64::from(secs.max(1))
}

/// Runs one leg on a started bed.
///
/// # Panics
/// If an iperf3 run fails.
/// With `profile`, the one-stream run is also sampled by `perf record`
/// into `<profile>/<path>-round<N>.perf.data`.
pub fn leg(bed: &Bed, round: u32, secs: u32, profile: Option<&Path>) -> Leg {
    let pids = pids(bed);
    let lost0: Vec<(u64, u64)> = bed
        .ends
        .iter()
        .filter(|e| e.daemon.is_some())
        .map(losses)
        .collect();
    let cpu0: Vec<f64> = pids.iter().map(|&(_, p)| process_cpu_s(p)).collect();
    let busy0 = machine_busy_s();
    let daemon_pids: Vec<u32> = pids.iter().map(|&(_, p)| p).collect();
    let out = profile.map(|dir| dir.join(format!("{}-round{round}.perf.data", bed.path.id())));
    let ((tcp1_mbps, b1, r1), calls) =
        under_perf(&daemon_pids, out.as_deref(), || tcp(bed, secs, 1));
    let (tcp4_mbps, b4, r4) = tcp(bed, secs, 4);
    let machine_cpu_s = machine_busy_s() - busy0;
    let ends = bed.ends.iter().filter(|e| e.daemon.is_some());
    let mut daemons: Vec<DaemonFigures> = pids
        .iter()
        .zip(&cpu0)
        .zip(ends.zip(&lost0))
        .map(|((&(side, pid), c0), (end, l0))| {
            let l1 = losses(end);
            DaemonFigures {
                side,
                cpu_s: process_cpu_s(pid) - c0,
                rss_kib: vm_hwm_kib(pid),
                rss_flood_kib: 0,
                esp_refused: l1.0.saturating_sub(l0.0),
                tun_dropped: l1.1.saturating_sub(l0.1),
            }
        })
        .collect();
    let udp64_pps = udp64(bed, secs);
    for (d, &(_, pid)) in daemons.iter_mut().zip(&pids) {
        d.rss_flood_kib = vm_hwm_kib(pid);
    }
    Leg {
        path: bed.path,
        round,
        tcp1_mbps,
        tcp4_mbps,
        retransmits: r1 + r4,
        udp64_pps,
        tcp_bytes: b1 + b4,
        machine_cpu_s,
        daemons,
        // Both ends' calls per 1400-byte packet of the one-stream run.
        syscalls_per_packet: calls
            .filter(|_| b1 > 0)
            .map(|c| c as f64 / (b1 as f64 / 1400.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let me = std::process::id();
        assert!(vm_hwm_kib(me) > 0);
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(process_cpu_s(me) >= 0.0);
        assert!(machine_busy_s() > 0.0);
        assert_eq!(vm_hwm_kib(u32::MAX), 0);
    }
}
