//! A numbered UDP stream between two namespaces, for measuring how long a
//! failover interrupts traffic: the `seqstream` binary
//! (`src/bin/seqstream.rs`) sends datagrams carrying a flow, a sequence
//! number and a send time at a steady rate, and its receiver reports
//! losses, duplicates, reordering and the longest silence
//! ([`crate::seqstream_report`]).
//!
//! ```no_run
//! use netns::seqstream::{SeqStream, SeqStreamOptions};
//! use netns::{scratch_dir, veth_pair, Netns};
//!
//! let dir = scratch_dir();
//! let a = Netns::new("ss_a");
//! let b = Netns::new("ss_b");
//! veth_pair(&a, "va", "10.9.0.1/24", &b, "vb", "10.9.0.2/24");
//! let mut o = SeqStreamOptions::new("10.9.0.1", "10.9.0.2");
//! o.secs = 2;
//! let report = SeqStream::start(&b, &a, &o, dir.path()).finish();
//! assert_eq!(report.total.lost_all(), 0);
//! ```
//!
//! The receiver binds before the sender starts ([`SeqStream::start`] waits
//! for its "ready"), stops `secs + 1` seconds after the first datagram
//! (or after [`SeqStreamOptions::idle`] without one), and writes its report
//! as JSON; the sender writes its counts the same way, and
//! [`SeqStream::finish`] merges them, so losses at the very end of the
//! stream count too.

use crate::netns::Netns;
use crate::prereq::workspace_bin;
use crate::process::ChildGuard;
pub use crate::seqstream_report::{
    FlowReport, Gap, SenderReport, SeqPoint, StreamReport, HEADER_LEN,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The receiver's default UDP port.
pub const PORT: u16 = 5999;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One stream's parameters. Build with [`SeqStreamOptions::new`].
#[derive(Debug, Clone)]
pub struct SeqStreamOptions {
    /// The sender's source address (`--bind`).
    pub from: String,
    /// The receiver's address.
    pub to: String,
    /// The receiver's UDP port.
    pub port: u16,
    /// Datagrams per second, all flows together.
    pub pps: u32,
    /// How long the sender sends, seconds.
    pub secs: u32,
    /// Flows (source ports) used round-robin, each with its own sequence.
    pub flows: u16,
    /// Datagram payload size, bytes (at least [`HEADER_LEN`]).
    pub size: usize,
    /// The receiver gives up after this long without a datagram (before
    /// the first one, too).
    pub idle: Duration,
}

impl SeqStreamOptions {
    /// 1000 pps for 5 s, one flow, 64-byte datagrams, to port [`PORT`],
    /// with a 30 s idle limit.
    pub fn new(from: &str, to: &str) -> SeqStreamOptions {
        SeqStreamOptions {
            from: from.into(),
            to: to.into(),
            port: PORT,
            pps: 1000,
            secs: 5,
            flows: 1,
            size: 64,
            idle: Duration::from_secs(30),
        }
    }
}

/// A running stream: both processes are killed by PID if it is dropped
/// unfinished.
#[derive(Debug)]
pub struct SeqStream {
    sender: ChildGuard,
    receiver: ChildGuard,
    send_out: PathBuf,
    recv_out: PathBuf,
    opts: SeqStreamOptions,
}

impl SeqStream {
    /// Starts the receiver in `recv_ns`, waits until it is bound, then
    /// starts the sender in `send_ns`. Logs and reports go to `dir`.
    ///
    /// # Panics
    /// If the receiver does not report ready within 10 s.
    pub fn start(recv_ns: &Netns, send_ns: &Netns, o: &SeqStreamOptions, dir: &Path) -> SeqStream {
        assert!(o.size >= HEADER_LEN, "datagrams of {} bytes", o.size);
        let bin = workspace_bin("seqstream");
        let bin = bin.to_str().expect("binary path must be UTF-8");
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let file = |what: &str| dir.join(format!("seqstream-{}-{n}.{what}", o.port));
        let (recv_out, send_out) = (file("recv.json"), file("send.json"));
        let path = |p: &Path| p.to_str().expect("scratch path must be UTF-8").to_string();
        let recv_args = [
            "recv".to_string(),
            "--bind".into(),
            format!("{}:{}", o.to, o.port),
            "--secs".into(),
            (o.secs + 1).to_string(),
            "--idle-ms".into(),
            o.idle.as_millis().to_string(),
            "--out".into(),
            path(&recv_out),
        ];
        let recv_args: Vec<&str> = recv_args.iter().map(String::as_str).collect();
        let mut receiver = recv_ns.spawn(bin, &recv_args, file("recv.log"));
        receiver.wait_for_log("ready", Duration::from_secs(10));
        let send_args = [
            "send".to_string(),
            "--bind".into(),
            o.from.clone(),
            "--to".into(),
            format!("{}:{}", o.to, o.port),
            "--pps".into(),
            o.pps.to_string(),
            "--secs".into(),
            o.secs.to_string(),
            "--flows".into(),
            o.flows.to_string(),
            "--size".into(),
            o.size.to_string(),
            "--out".into(),
            path(&send_out),
        ];
        let send_args: Vec<&str> = send_args.iter().map(String::as_str).collect();
        let sender = send_ns.spawn(bin, &send_args, file("send.log"));
        SeqStream {
            sender,
            receiver,
            send_out,
            recv_out,
            opts: o.clone(),
        }
    }

    /// `true` while the sender is still sending.
    pub fn sending(&mut self) -> bool {
        self.sender.is_running()
    }

    /// Waits for the sender and then the receiver to finish, and returns
    /// the receiver's report with the sender's counts merged in.
    ///
    /// # Panics
    /// If either fails, or runs well past its time (the message holds its
    /// log).
    pub fn finish(mut self) -> StreamReport {
        let secs = Duration::from_secs(u64::from(self.opts.secs));
        let slack = Duration::from_secs(15);
        for (guard, limit) in [
            (&mut self.sender, secs + slack),
            (&mut self.receiver, secs + self.opts.idle + slack),
        ] {
            match guard.wait_timeout(limit) {
                Some(status) if status.success() => {}
                Some(status) => panic!(
                    "{} exited with {status}; log {}:\n{}",
                    guard.what(),
                    guard.log_path().display(),
                    guard.log()
                ),
                None => panic!(
                    "{} still running after {limit:?}; log {}:\n{}",
                    guard.what(),
                    guard.log_path().display(),
                    guard.log()
                ),
            }
        }
        let mut report = report_from_json(&read_json(&self.recv_out))
            .unwrap_or_else(|e| panic!("{}: {e}", self.recv_out.display()));
        let sent = sender_from_json(&read_json(&self.send_out))
            .unwrap_or_else(|e| panic!("{}: {e}", self.send_out.display()));
        report.merge_sender(sent);
        report
    }
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn point_json(p: &SeqPoint) -> Value {
    json!({ "flow": p.flow, "seq": p.seq })
}

fn flow_json(f: &FlowReport) -> Value {
    json!({
        "flow": f.flow,
        "sport": f.sport,
        "received": f.received,
        "lost": f.lost,
        "duplicates": f.duplicates,
        "reordered": f.reordered,
        "highest_seq": f.highest_seq,
        "max_gap": f.max_gap.map(|g| json!({
            "ms": g.ms,
            "at_ms": g.at_ms,
            "before": point_json(&g.before),
            "after": point_json(&g.after),
        })),
        "loss_ms": f.loss_ms,
        "latency_max_ms": f.latency_max_ms,
        "sent": f.sent,
        "tail_lost": f.tail_lost,
    })
}

/// The receiver's report as the JSON document `seqstream recv` writes.
pub fn report_json(r: &StreamReport) -> Value {
    json!({
        "interval_ms": r.interval_ms,
        "flows": r.flows.iter().map(flow_json).collect::<Vec<_>>(),
        "total": flow_json(&r.total),
        "malformed": r.malformed,
        "span_ms": r.span_ms,
        "first_unix_ms": r.first_unix_ms,
        "sender": r.sender.as_ref().map(sender_json),
    })
}

/// The sender's counts as the JSON document `seqstream send` writes.
pub fn sender_json(s: &SenderReport) -> Value {
    json!({
        "sent": s.sent,
        "send_errors": s.send_errors,
        "sports": s.sports,
        "late_max_ms": s.late_max_ms,
    })
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("no {key:?} in {v}"))
}

fn u64_of(v: &Value, key: &str) -> Result<u64, String> {
    field(v, key)?
        .as_u64()
        .ok_or_else(|| format!("{key:?} is not a count in {v}"))
}

fn f64_of(v: &Value, key: &str) -> Result<f64, String> {
    field(v, key)?
        .as_f64()
        .ok_or_else(|| format!("{key:?} is not a number in {v}"))
}

/// An optional count: `null` or absent is `None`.
fn opt_u64(v: &Value, key: &str) -> Result<Option<u64>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{key:?} is not a count in {v}")),
    }
}

fn opt_u16(v: &Value, key: &str) -> Result<Option<u16>, String> {
    opt_u64(v, key)?
        .map(|n| u16::try_from(n).map_err(|_| format!("{key:?} {n} out of range")))
        .transpose()
}

fn point_of(v: &Value) -> Result<SeqPoint, String> {
    Ok(SeqPoint {
        flow: opt_u16(v, "flow")?.ok_or("a gap's point has no flow")?,
        seq: u64_of(v, "seq")?,
    })
}

fn flow_of(v: &Value) -> Result<FlowReport, String> {
    let max_gap = match field(v, "max_gap")? {
        Value::Null => None,
        g => Some(Gap {
            ms: f64_of(g, "ms")?,
            at_ms: f64_of(g, "at_ms")?,
            before: point_of(field(g, "before")?)?,
            after: point_of(field(g, "after")?)?,
        }),
    };
    Ok(FlowReport {
        flow: opt_u16(v, "flow")?,
        sport: opt_u16(v, "sport")?,
        received: u64_of(v, "received")?,
        lost: u64_of(v, "lost")?,
        duplicates: u64_of(v, "duplicates")?,
        reordered: u64_of(v, "reordered")?,
        highest_seq: opt_u64(v, "highest_seq")?,
        max_gap,
        loss_ms: f64_of(v, "loss_ms")?,
        latency_max_ms: f64_of(v, "latency_max_ms")?,
        sent: opt_u64(v, "sent")?,
        tail_lost: opt_u64(v, "tail_lost")?,
    })
}

/// Parses [`report_json`]'s document.
pub fn report_from_json(v: &Value) -> Result<StreamReport, String> {
    let flows = field(v, "flows")?
        .as_array()
        .ok_or("\"flows\" is not a list")?
        .iter()
        .map(flow_of)
        .collect::<Result<Vec<_>, _>>()?;
    let sender = match v.get("sender") {
        None | Some(Value::Null) => None,
        Some(s) => Some(sender_from_json(s)?),
    };
    Ok(StreamReport {
        interval_ms: f64_of(v, "interval_ms")?,
        flows,
        total: flow_of(field(v, "total")?)?,
        malformed: u64_of(v, "malformed")?,
        span_ms: f64_of(v, "span_ms")?,
        first_unix_ms: f64_of(v, "first_unix_ms")?,
        sender,
    })
}

/// Parses [`sender_json`]'s document.
pub fn sender_from_json(v: &Value) -> Result<SenderReport, String> {
    let counts = |key: &str| -> Result<Vec<u64>, String> {
        field(v, key)?
            .as_array()
            .ok_or_else(|| format!("{key:?} is not a list"))?
            .iter()
            .map(|n| n.as_u64().ok_or_else(|| format!("{key:?} holds {n}")))
            .collect()
    };
    let sports = counts("sports")?
        .into_iter()
        .map(|p| u16::try_from(p).map_err(|_| format!("port {p}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SenderReport {
        sent: counts("sent")?,
        send_errors: counts("send_errors")?,
        sports,
        late_max_ms: f64_of(v, "late_max_ms")?,
    })
}

/// One line for a log: received, lost, duplicates, reordered and the
/// longest silence with the sequence numbers around it.
pub fn summary(r: &StreamReport) -> String {
    let t = &r.total;
    let gap = r.total.max_gap.map_or("no gap".to_string(), |g| {
        format!(
            "max gap {:.1} ms at +{:.0} ms (flow {} seq {} -> flow {} seq {})",
            g.ms, g.at_ms, g.before.flow, g.before.seq, g.after.flow, g.after.seq
        )
    });
    format!(
        "received {} of {}, lost {} ({:.0} ms), duplicates {}, reordered {}, {gap}",
        t.received,
        t.sent.map_or("?".to_string(), |s| s.to_string()),
        t.lost_all(),
        r.loss_time_ms(),
        t.duplicates,
        t.reordered,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seqstream_report::{Datagram, Receiver};

    #[test]
    fn reports_survive_json() {
        let mut rx = Receiver::new();
        for (flow, seq, at_ms) in [(0u16, 0u64, 0u64), (1, 0, 1), (0, 1, 2), (0, 3, 900)] {
            let d = Datagram {
                flow,
                flows: 2,
                interval_ns: 1_000_000,
                seq,
                sent_unix_ns: 5_000_000 + at_ms * 1_000_000,
            };
            let at = Duration::from_millis(at_ms);
            rx.record(&d, 41000 + flow, at, 5_100_000 + at_ms * 1_000_000);
        }
        rx.malformed();
        let mut r = rx.report();
        r.merge_sender(SenderReport {
            sent: vec![5, 2],
            send_errors: vec![1, 0],
            sports: vec![41000, 41001],
            late_max_ms: 0.25,
        });
        let back = report_from_json(&report_json(&r)).expect("parses");
        assert_eq!(back, r);
        assert_eq!(back.total.lost_all(), 1 + 1 + 1);
        assert!(
            summary(&back).contains("max gap 898.0 ms"),
            "{}",
            summary(&back)
        );
        let s = r.sender.as_ref().expect("merged");
        assert_eq!(sender_from_json(&sender_json(s)).as_ref(), Ok(s));
    }

    #[test]
    fn bad_documents_are_refused_with_the_field() {
        let e = report_from_json(&json!({ "interval_ms": 1.0 })).unwrap_err();
        assert!(e.contains("flows"), "{e}");
        let e = sender_from_json(
            &json!({ "sent": [1], "send_errors": [0], "sports": [70000], "late_max_ms": 0 }),
        )
        .unwrap_err();
        assert!(e.contains("70000"), "{e}");
    }
}
