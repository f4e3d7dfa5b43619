//! The race's figures: medians of per-round ratios against strongSwan
//! libipsec, a text table, `race.json` and `race.svg`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use super::{Leg, PathKind};

/// One metric of a leg, `None` where the path has no such figure.
type Metric = fn(&Leg) -> Option<f64>;

/// The metrics the race reports: key, heading and value. Every ratio is
/// path / libipsec, so above 1 is better for rates and worse for costs.
const METRICS: [(&str, &str, Metric); 8] = [
    ("tcp1_mbps", "TCP 1 stream, Mbit/s", |l| Some(l.tcp1_mbps)),
    ("tcp4_mbps", "TCP 4 streams, Mbit/s", |l| Some(l.tcp4_mbps)),
    ("udp64_pps", "64 B UDP at the receiver, pps", |l| {
        Some(l.udp64_pps)
    }),
    (
        "daemon_cpu_s_per_gb",
        "daemons' CPU s/GB (both ends)",
        Leg::daemon_cpu_s_per_gb,
    ),
    (
        "machine_cpu_s_per_gb",
        "machine CPU s/GB",
        Leg::machine_cpu_s_per_gb,
    ),
    ("syscalls_per_packet", "daemons' syscalls per 1400 B", |l| {
        l.syscalls_per_packet
    }),
    ("peak_rss_mib", "peak RSS, MiB", |l| {
        l.peak_rss_kib().map(|(t, _)| t as f64 / 1024.0)
    }),
    (
        "peak_rss_flood_mib",
        "peak RSS after the 64 B flood, MiB",
        |l| l.peak_rss_kib().map(|(_, f)| f as f64 / 1024.0),
    ),
];

/// The median of `v` (mean of the middle two for an even count).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Per-path medians: for each metric the median value over rounds and
/// the median of the per-round ratios against libipsec.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The path.
    pub path: PathKind,
    /// `(key, median value, median ratio)` in [`METRICS`] order.
    pub figures: Vec<(&'static str, Option<f64>, Option<f64>)>,
}

impl Summary {
    /// The median value and ratio of metric `key`.
    pub fn get(&self, key: &str) -> (Option<f64>, Option<f64>) {
        self.figures
            .iter()
            .find(|f| f.0 == key)
            .map_or((None, None), |f| (f.1, f.2))
    }
}

/// Summarises the legs, one entry per path in the order they first ran.
pub fn summarise(legs: &[Leg]) -> Vec<Summary> {
    let mut paths: Vec<PathKind> = Vec::new();
    for l in legs {
        if !paths.contains(&l.path) {
            paths.push(l.path);
        }
    }
    let reference = |round: u32| {
        legs.iter()
            .find(|l| l.path == PathKind::Libipsec && l.round == round)
    };
    paths
        .into_iter()
        .map(|path| {
            let mine: Vec<&Leg> = legs.iter().filter(|l| l.path == path).collect();
            let figures = METRICS
                .iter()
                .map(|&(key, _, f)| {
                    let values = mine.iter().filter_map(|l| f(l)).collect();
                    let ratios = mine
                        .iter()
                        .filter_map(|l| {
                            let base = f(reference(l.round)?)?;
                            (base > 0.0).then(|| f(l).map(|v| v / base))?
                        })
                        .collect();
                    (key, median(values), median(ratios))
                })
                .collect();
            Summary { path, figures }
        })
        .collect()
}

fn fmt_value(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2}×"))
}

/// One line per leg, printed as the race goes.
pub fn leg_line(l: &Leg) -> String {
    let rss = l.peak_rss_kib().map_or("–".into(), |(t, f)| {
        format!("{:.1}/{:.1} MiB", t as f64 / 1024.0, f as f64 / 1024.0)
    });
    let losses: String = l
        .daemons
        .iter()
        .map(|d| {
            format!(
                "  {} refused {} tun drops {}",
                d.side, d.esp_refused, d.tun_dropped
            )
        })
        .collect();
    format!(
        "round {} {:<18} tcp1 {:>6.0} Mbit/s  tcp4 {:>6.0} Mbit/s  udp64 {:>7.0} pps  daemons {} s/GB  machine {} s/GB  syscalls/pkt {}  rss {rss}  retrans {}{losses}",
        l.round,
        l.path.id(),
        l.tcp1_mbps,
        l.tcp4_mbps,
        l.udp64_pps,
        fmt_value(l.daemon_cpu_s_per_gb()),
        fmt_value(l.machine_cpu_s_per_gb()),
        fmt_value(l.syscalls_per_packet),
        l.retransmits
    )
}

/// The summary as a Markdown table: value (ratio) per metric.
pub fn table(summaries: &[Summary]) -> String {
    let mut out = String::from("| path |");
    for (_, heading, _) in METRICS {
        let _ = write!(out, " {heading} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(METRICS.len()));
    for s in summaries {
        let _ = write!(out, "\n| {} |", s.path.label());
        for (_, v, r) in &s.figures {
            let _ = write!(out, " {} ({}) |", fmt_value(*v), fmt_ratio(*r));
        }
    }
    out.push('\n');
    out
}

/// The whole race as JSON: options, summaries and every leg.
pub fn to_json(legs: &[Leg], rounds: u32, secs: u32) -> Value {
    let summaries = summarise(legs);
    let paths: serde_json::Map<String, Value> = summaries
        .iter()
        .map(|s| {
            let mut m = serde_json::Map::new();
            m.insert("label".into(), json!(s.path.label()));
            for (key, v, r) in &s.figures {
                m.insert((*key).into(), json!(v));
                m.insert(format!("{key}_ratio"), json!(r));
            }
            (s.path.id().to_string(), Value::Object(m))
        })
        .collect();
    let legs: Vec<Value> = legs
        .iter()
        .map(|l| {
            let daemons: Vec<Value> = l
                .daemons
                .iter()
                .map(|d| {
                    json!({"side": d.side, "cpu_s": d.cpu_s, "rss_kib": d.rss_kib,
                           "rss_flood_kib": d.rss_flood_kib, "esp_refused": d.esp_refused,
                           "tun_dropped": d.tun_dropped})
                })
                .collect();
            json!({
                "path": l.path.id(), "round": l.round, "tcp1_mbps": l.tcp1_mbps,
                "tcp4_mbps": l.tcp4_mbps, "udp64_pps": l.udp64_pps,
                "retransmits": l.retransmits, "tcp_bytes": l.tcp_bytes,
                "machine_cpu_s": l.machine_cpu_s, "daemons": daemons,
                "syscalls_per_packet": l.syscalls_per_packet,
            })
        })
        .collect();
    json!({
        "reference": PathKind::Libipsec.id(),
        "rounds": rounds,
        "seconds": secs,
        "cpus": std::thread::available_parallelism().map_or(0, usize::from),
        "paths": paths,
        "legs": legs,
    })
}

/// A bar chart of the ratios against libipsec (TCP 1 and 4 streams, 64 B
/// pps) for every tunnel path, with a line at 1×.
pub fn svg(summaries: &[Summary], rounds: u32, secs: u32) -> String {
    const BARS: [(&str, &str, &str); 3] = [
        ("tcp1_mbps", "TCP, 1 stream", "#1f77b4"),
        ("tcp4_mbps", "TCP, 4 streams", "#ff7f0e"),
        ("udp64_pps", "64 B UDP pps", "#2ca02c"),
    ];
    let rows: Vec<&Summary> = summaries
        .iter()
        .filter(|s| s.path != PathKind::Plain)
        .collect();
    let max = rows
        .iter()
        .flat_map(|s| BARS.iter().filter_map(|b| s.get(b.0).1))
        .fold(1.0f64, f64::max)
        .ceil();
    let (left, width, bar, gap) = (250.0, 440.0, 14.0, 12.0);
    let group = bar * BARS.len() as f64 + gap;
    let top = 50.0;
    let height = top + group * rows.len() as f64 + 60.0;
    let x = |r: f64| left + width * r / max;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">Throughput relative to strongSwan libipsec ⇄ libipsec (median of {rounds} rounds × {secs} s, same run)</text>\n",
        left + width + 80.0
    );
    for (i, sm) in rows.iter().enumerate() {
        let y0 = top + group * i as f64;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            y0 + bar * 1.5 + 4.0,
            sm.path.label()
        );
        for (j, (key, _, colour)) in BARS.iter().enumerate() {
            let r = sm.get(key).1.unwrap_or(0.0);
            let y = y0 + bar * j as f64;
            let _ = writeln!(
                s,
                "<rect x=\"{left}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" fill=\"{colour}\"/>\
                 <text x=\"{:.1}\" y=\"{}\">{r:.2}×</text>",
                x(r) - left,
                bar - 2.0,
                x(r) + 4.0,
                y + bar - 4.0
            );
        }
    }
    let axis_y = top + group * rows.len() as f64;
    let _ = writeln!(
        s,
        "<line x1=\"{0:.1}\" y1=\"{top}\" x2=\"{0:.1}\" y2=\"{axis_y}\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\
         <text x=\"{0:.1}\" y=\"{1}\" text-anchor=\"middle\">1× libipsec</text>\
         <text x=\"{2:.1}\" y=\"{1}\" text-anchor=\"end\">{max:.0}×</text>",
        x(1.0),
        axis_y + 14.0,
        left + width
    );
    for (j, (_, name, colour)) in BARS.iter().enumerate() {
        let lx = left + 150.0 * j as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\">{name}</text>",
            axis_y + 28.0,
            lx + 16.0,
            axis_y + 38.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Writes `race.json` and `race.svg` into `dir` and returns the table.
///
/// # Errors
/// If a file cannot be written.
pub fn write(dir: &Path, legs: &[Leg], rounds: u32, secs: u32) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let doc = to_json(legs, rounds, secs);
    let text = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("race.json"), text + "\n")?;
    let summaries = summarise(legs);
    std::fs::write(dir.join("race.svg"), svg(&summaries, rounds, secs))?;
    Ok(table(&summaries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::race::DaemonFigures;

    fn leg(path: PathKind, round: u32, tcp1: f64) -> Leg {
        Leg {
            path,
            round,
            tcp1_mbps: tcp1,
            tcp4_mbps: tcp1,
            retransmits: 0,
            udp64_pps: 1000.0,
            tcp_bytes: 2_000_000_000,
            machine_cpu_s: 10.0,
            daemons: vec![DaemonFigures {
                side: "edge",
                cpu_s: 4.0,
                rss_kib: 2048,
                rss_flood_kib: 4096,
                ..Default::default()
            }],
            syscalls_per_packet: None,
        }
    }

    #[test]
    fn ratios_are_per_round_then_median() {
        let legs = vec![
            leg(PathKind::Libipsec, 1, 100.0),
            leg(PathKind::VwandRaw, 1, 300.0),
            leg(PathKind::Libipsec, 2, 200.0),
            leg(PathKind::VwandRaw, 2, 200.0),
            leg(PathKind::Libipsec, 3, 50.0),
            leg(PathKind::VwandRaw, 3, 250.0),
        ];
        let s = summarise(&legs);
        let raw = s
            .iter()
            .find(|s| s.path == PathKind::VwandRaw)
            .expect("raw");
        // Per-round ratios 3, 1, 5: median 3 (the ratio of medians would be 2.5).
        assert_eq!(raw.get("tcp1_mbps"), (Some(250.0), Some(3.0)));
        assert_eq!(raw.get("daemon_cpu_s_per_gb"), (Some(2.0), Some(1.0)));
        assert_eq!(raw.get("peak_rss_flood_mib"), (Some(4.0), Some(1.0)));
        let svg = svg(&s, 3, 10);
        assert!(svg.contains("3.00×") && svg.ends_with("</svg>\n"));
        assert!(table(&s).contains("| vwand ⇄ vwand, raw ESP | 250 (3.00×) |"));
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
    }
}
