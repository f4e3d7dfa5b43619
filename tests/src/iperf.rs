//! iperf3 server and client inside namespaces, with parsed JSON results.
//!
//! Every client run is bounded twice: iperf3 gets `-t secs` and a control
//! connection timeout, and the process is killed by PID if it is still
//! running `secs + 20` seconds later.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::netns::Netns;
use crate::poll::poll_until;
use crate::process::ChildGuard;

/// iperf3's default port.
pub const IPERF3_PORT: u16 = 5201;

/// A persistent `iperf3 -s` in a namespace (serves tests one after another),
/// killed when dropped.
#[derive(Debug)]
pub struct Iperf3Server {
    guard: ChildGuard,
    addr: String,
    port: u16,
}

impl Iperf3Server {
    /// Starts `iperf3 -s -B bind_addr -p port` in `ns`, logging to
    /// `log_path`, and returns once the port is listening.
    ///
    /// # Panics
    /// If the server exits or does not listen within 10 s (log included).
    pub fn start(ns: &Netns, bind_addr: &str, port: u16, log_path: impl AsRef<Path>) -> Self {
        let port_s = port.to_string();
        let mut guard = ns.spawn(
            "iperf3",
            &["-s", "-B", bind_addr, "-p", &port_s, "--forceflush"],
            log_path,
        );
        let filter = format!("sport = :{port}");
        let listening = poll_until(Duration::from_secs(10), || {
            guard.assert_running();
            let out = ns.exec(&["ss", "-Hltn", &filter]);
            (!out.stdout.is_empty()).then_some(())
        });
        if listening.is_none() {
            panic!(
                "iperf3 server in {} not listening on {bind_addr}:{port} after 10 s; log:\n{}",
                ns.name(),
                guard.log()
            );
        }
        Iperf3Server {
            guard,
            addr: bind_addr.to_string(),
            port,
        }
    }

    /// Address the server is bound to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server process.
    pub fn guard(&mut self) -> &mut ChildGuard {
        &mut self.guard
    }
}

/// Options for one iperf3 client run (see [`iperf3_run`]).
#[derive(Debug, Clone)]
pub struct Iperf3Opts {
    /// Server address to connect to.
    pub server: String,
    /// Server port.
    pub port: u16,
    /// Test duration in seconds (`-t`).
    pub secs: u32,
    /// Server sends, client receives (`-R`).
    pub reverse: bool,
    /// UDP at this target bitrate (`-u -b RATE`, e.g. `"100M"`); TCP if `None`.
    pub udp_bitrate: Option<String>,
    /// Parallel streams (`-P`).
    pub parallel: u32,
    /// Buffer / datagram length (`-l`), e.g. `"1400"`.
    pub length: Option<String>,
}

impl Iperf3Opts {
    /// TCP, forward direction, one stream, default port.
    pub fn new(server: &str, secs: u32) -> Self {
        Iperf3Opts {
            server: server.to_string(),
            port: IPERF3_PORT,
            secs,
            reverse: false,
            udp_bitrate: None,
            parallel: 1,
            length: None,
        }
    }
}

/// The summary of an iperf3 run, taken from `iperf3 -J`'s `end` section.
#[derive(Debug, Clone)]
pub struct Iperf3Result {
    /// Throughput measured by the receiving side (bits/s).
    pub bits_per_second: f64,
    /// Throughput measured by the sending side (bits/s).
    pub sent_bits_per_second: f64,
    /// Bytes received by the receiving side.
    pub bytes_received: u64,
    /// TCP retransmissions by the sender (`None` for UDP).
    pub retransmits: Option<u64>,
    /// UDP datagrams lost (`None` for TCP).
    pub lost_packets: Option<u64>,
    /// UDP datagrams sent (`None` for TCP).
    pub packets: Option<u64>,
    /// UDP loss in percent (`None` for TCP).
    pub lost_percent: Option<f64>,
    /// UDP jitter in milliseconds (`None` for TCP).
    pub jitter_ms: Option<f64>,
    /// The whole JSON document, for anything not summarised above.
    pub raw: Value,
}

fn f64_at(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn u64_at(v: &Value, key: &str) -> Option<u64> {
    v.get(key)
        .and_then(|x| x.as_u64().or_else(|| x.as_f64().map(|f| f as u64)))
}

/// Parses the JSON printed by `iperf3 -c ... -J`.
pub fn parse_iperf3_json(json: &str, udp: bool) -> Result<Iperf3Result, String> {
    let raw: Value = serde_json::from_str(json)
        .map_err(|e| format!("iperf3 output is not JSON ({e}): {json}"))?;
    if let Some(err) = raw.get("error").and_then(Value::as_str) {
        return Err(format!("iperf3 error: {err}"));
    }
    let end = raw.get("end").ok_or("iperf3 JSON has no \"end\"")?;
    let sent = end.get("sum_sent").or_else(|| end.get("sum"));
    let received = end.get("sum_received").or_else(|| end.get("sum"));
    let (Some(sent), Some(received)) = (sent, received) else {
        return Err(format!("iperf3 JSON lacks sums: {end}"));
    };
    let bps = f64_at(received, "bits_per_second").ok_or("no received bits_per_second")?;
    let udp_field = |k: &str| if udp { u64_at(received, k) } else { None };
    Ok(Iperf3Result {
        bits_per_second: bps,
        sent_bits_per_second: f64_at(sent, "bits_per_second").unwrap_or(0.0),
        bytes_received: u64_at(received, "bytes").unwrap_or(0),
        retransmits: if udp {
            None
        } else {
            u64_at(sent, "retransmits")
        },
        lost_packets: udp_field("lost_packets"),
        packets: udp_field("packets"),
        lost_percent: if udp {
            f64_at(received, "lost_percent")
        } else {
            None
        },
        jitter_ms: if udp {
            f64_at(received, "jitter_ms")
        } else {
            None
        },
        raw,
    })
}

/// Runs an iperf3 client in `ns`; returns `Err` with iperf3's message (or
/// the timeout) instead of panicking, for tests that expect failure.
pub fn try_iperf3_run(ns: &Netns, opts: &Iperf3Opts) -> Result<Iperf3Result, String> {
    let secs = opts.secs.max(1).to_string();
    let port = opts.port.to_string();
    let parallel = opts.parallel.max(1).to_string();
    let mut argv = vec![
        "iperf3",
        "-c",
        &opts.server,
        "-p",
        &port,
        "-t",
        &secs,
        "-P",
        &parallel,
        "-J",
        "--connect-timeout",
        "5000",
    ];
    if opts.reverse {
        argv.push("-R");
    }
    if let Some(rate) = &opts.udp_bitrate {
        argv.extend(["-u", "-b", rate]);
    }
    if let Some(len) = &opts.length {
        argv.extend(["-l", len]);
    }
    let limit = Duration::from_secs(u64::from(opts.secs.max(1)) + 20);
    let out = ns.exec_timeout(&argv, limit).map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    parse_iperf3_json(&stdout, opts.udp_bitrate.is_some()).map_err(|e| {
        format!(
            "{e}\n(exit {}, stderr: {})",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Runs an iperf3 client in `ns` with `opts`.
///
/// # Panics
/// If iperf3 fails, times out, or prints unusable JSON.
pub fn iperf3_run(ns: &Netns, opts: &Iperf3Opts) -> Iperf3Result {
    try_iperf3_run(ns, opts)
        .unwrap_or_else(|e| panic!("iperf3 client in {} ({opts:?}) failed: {e}", ns.name()))
}

/// Runs a `secs`-second iperf3 test from `ns` against `server_addr` on the
/// default port: TCP, or UDP at `udp` bitrate (e.g. `Some("50M")`);
/// `reverse` makes the server send.
///
/// # Panics
/// If iperf3 fails, times out, or prints unusable JSON.
pub fn iperf3_client(
    ns: &Netns,
    server_addr: &str,
    secs: u32,
    reverse: bool,
    udp: Option<&str>,
) -> Iperf3Result {
    let mut opts = Iperf3Opts::new(server_addr, secs);
    opts.reverse = reverse;
    opts.udp_bitrate = udp.map(str::to_string);
    iperf3_run(ns, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_and_udp_and_errors() {
        let tcp = r#"{"end":{"sum_sent":{"bits_per_second":10.0,"retransmits":2},
                      "sum_received":{"bits_per_second":9.5,"bytes":100}}}"#;
        let r = parse_iperf3_json(tcp, false).unwrap();
        assert_eq!(r.bits_per_second, 9.5);
        assert_eq!(r.retransmits, Some(2));
        assert_eq!(r.lost_packets, None);

        let udp = r#"{"end":{"sum":{"bits_per_second":5.0,"lost_packets":3,"packets":30,
                      "lost_percent":10.0,"jitter_ms":0.1,"bytes":7}}}"#;
        let r = parse_iperf3_json(udp, true).unwrap();
        assert_eq!(r.lost_packets, Some(3));
        assert_eq!(r.packets, Some(30));
        assert_eq!(r.retransmits, None);

        let err = r#"{"end":{},"error":"unable to connect to server"}"#;
        assert!(parse_iperf3_json(err, false)
            .unwrap_err()
            .contains("unable to connect"));
    }
}
