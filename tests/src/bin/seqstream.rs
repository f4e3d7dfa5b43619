//! seqstream: a numbered UDP stream for measuring how long a failover
//! interrupts traffic.
//!
//! ```text
//! seqstream send --bind IP --to IP:PORT [--pps 1000] [--secs 5] [--flows 1] [--size 64] [--out FILE]
//! seqstream recv --bind IP:PORT [--secs 5] [--idle-ms 10000] [--out FILE]
//! ```
//!
//! The sender paces by an absolute schedule (datagram n is due at
//! start + n / pps, so a late wakeup never slows the rate down) and uses
//! one socket, hence one source port, per flow, round-robin. The receiver
//! prints "ready" once bound, receives until `--secs` after the first
//! datagram or `--idle-ms` without one, and writes its report
//! (`netns::seqstream::report_json`) to `--out` or stdout. The sender
//! writes its counts the same way. Datagram format and analysis:
//! `netns::seqstream_report`.

use netns::seqstream::{report_json, sender_json};
use netns::seqstream_report::{Datagram, Receiver, SenderReport, HEADER_LEN};
use std::collections::BTreeMap;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage:
  seqstream send --bind IP --to IP:PORT [--pps 1000] [--secs 5] [--flows 1] [--size 64] [--out FILE]
  seqstream recv --bind IP:PORT [--secs 5] [--idle-ms 10000] [--out FILE]";

/// `--key value` pairs.
struct Args(BTreeMap<String, String>);

impl Args {
    fn parse(args: &[String], known: &[&str]) -> Result<Args, String> {
        let mut map = BTreeMap::new();
        let mut it = args.iter();
        while let Some(key) = it.next() {
            let name = key
                .strip_prefix("--")
                .filter(|k| known.contains(k))
                .ok_or_else(|| format!("unknown argument {key:?}"))?;
            let value = it.next().ok_or_else(|| format!("{key} needs a value"))?;
            map.insert(name.to_string(), value.clone());
        }
        Ok(Args(map))
    }

    fn get<T: FromStr>(&self, key: &str, default: Option<T>) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match (self.0.get(key), default) {
            (Some(v), _) => v.parse().map_err(|e| format!("--{key} {v:?}: {e}")),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(format!("--{key} is required")),
        }
    }

    fn out(&self) -> Option<&str> {
        self.0.get("out").map(String::as_str)
    }
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn write_out(out: Option<&str>, doc: &serde_json::Value) -> Result<(), String> {
    let text = format!("{doc:#}\n");
    match out {
        Some(path) => {
            // Written whole, then renamed: a reader never sees half a file.
            let tmp = format!("{path}.tmp");
            std::fs::write(&tmp, text).map_err(|e| format!("write {tmp}: {e}"))?;
            std::fs::rename(&tmp, path).map_err(|e| format!("rename {tmp}: {e}"))
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| format!("stdout: {e}")),
    }
}

fn send(args: &Args) -> Result<(), String> {
    let bind: IpAddr = args.get("bind", None)?;
    let to: SocketAddr = args.get("to", None)?;
    let pps: u32 = args.get("pps", Some(1000))?;
    let secs: u32 = args.get("secs", Some(5))?;
    let flows: u16 = args.get("flows", Some(1))?;
    let size: usize = args.get("size", Some(64))?;
    if !(1..=1_000_000).contains(&pps) || flows == 0 || !(HEADER_LEN..=65507).contains(&size) {
        return Err(format!(
            "--pps 1..=1000000, --flows >= 1, --size {HEADER_LEN}..=65507"
        ));
    }
    let sockets = (0..flows)
        .map(|_| UdpSocket::bind((bind, 0)).map_err(|e| format!("bind {bind}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let sports = sockets
        .iter()
        .map(|s| s.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("local address: {e}"))?;
    let interval_ns = 1_000_000_000 / pps;
    let total = u64::from(pps) * u64::from(secs);
    let n_flows = usize::from(flows);
    let mut sent = vec![0u64; n_flows];
    let mut errors = vec![0u64; n_flows];
    let mut late_max = Duration::ZERO;
    let mut buf = vec![0u8; size];
    let start = Instant::now();
    for n in 0..total {
        let due = start + Duration::from_nanos(n * u64::from(interval_ns));
        let now = Instant::now();
        if now < due {
            std::thread::sleep(due - now);
        } else {
            late_max = late_max.max(now - due);
        }
        let flow = (n % u64::from(flows)) as usize;
        let d = Datagram {
            flow: flow as u16,
            flows,
            interval_ns,
            seq: n / u64::from(flows),
            sent_unix_ns: unix_ns(),
        };
        d.encode(&mut buf);
        sent[flow] += 1;
        if let Err(e) = sockets[flow].send_to(&buf, to) {
            if errors[flow] == 0 {
                eprintln!("flow {flow} seq {}: send to {to}: {e}", d.seq);
            }
            errors[flow] += 1;
        }
    }
    let report = SenderReport {
        sent,
        send_errors: errors,
        sports,
        late_max_ms: late_max.as_secs_f64() * 1e3,
    };
    write_out(args.out(), &sender_json(&report))
}

fn recv(args: &Args) -> Result<(), String> {
    let bind: SocketAddr = args.get("bind", None)?;
    let secs: u64 = args.get("secs", Some(5))?;
    let idle = Duration::from_millis(args.get("idle-ms", Some(10_000))?);
    let socket = UdpSocket::bind(bind).map_err(|e| format!("bind {bind}: {e}"))?;
    println!("ready: bound to {bind}");
    std::io::stdout()
        .flush()
        .map_err(|e| format!("stdout: {e}"))?;
    let start = Instant::now();
    let mut rx = Receiver::new();
    let mut buf = vec![0u8; 65536];
    let mut first: Option<Instant> = None;
    let mut last = start;
    loop {
        let stop = match first {
            Some(f) => (f + Duration::from_secs(secs)).min(last + idle),
            None => start + idle,
        };
        let now = Instant::now();
        if now >= stop {
            break;
        }
        // Short timeouts, so the deadlines above are checked often.
        let wait = (stop - now).clamp(Duration::from_millis(1), Duration::from_millis(100));
        socket
            .set_read_timeout(Some(wait))
            .map_err(|e| format!("set_read_timeout: {e}"))?;
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                let at = Instant::now();
                first.get_or_insert(at);
                last = at;
                match Datagram::decode(&buf[..len]) {
                    Some(d) => rx.record(&d, from.port(), at - start, unix_ns()),
                    None => rx.malformed(),
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("recv: {e}")),
        }
    }
    write_out(args.out(), &report_json(&rx.report()))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.split_first() {
        Some((cmd, rest)) if cmd == "send" => {
            Args::parse(rest, &["bind", "to", "pps", "secs", "flows", "size", "out"])
                .and_then(|a| send(&a))
        }
        Some((cmd, rest)) if cmd == "recv" => {
            Args::parse(rest, &["bind", "secs", "idle-ms", "out"]).and_then(|a| recv(&a))
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seqstream: {e}");
            ExitCode::FAILURE
        }
    }
}
