//! The `seqstream` tool's datagram format and what its receiver makes of
//! the datagrams: per flow and in total, how many arrived, how many
//! sequence numbers are missing, duplicated or out of order, and the
//! longest silence between two arrivals. No IO: the binary
//! (`src/bin/seqstream.rs`) feeds [`Receiver`], tests feed it by hand.
//!
//! Datagram (big-endian, the rest of the datagram is zero padding):
//!
//! ```text
//!  0      4         6          8             12         16       24              32
//!  | SQS1 | flow u16 | flows u16 | interval_ns u32 | reserved | seq u64 | sent_unix_ns u64 |
//! ```
//!
//! `interval_ns` is the whole stream's (all flows together); each flow
//! sends every `flows × interval_ns`, with its own sequence from 0.

use std::collections::BTreeMap;
use std::time::Duration;

/// First four bytes of every datagram.
pub const MAGIC: [u8; 4] = *b"SQS1";
/// Bytes of the header; datagrams are at least this long.
pub const HEADER_LEN: usize = 32;
/// Sequence numbers at or above this are refused (as malformed): the
/// receiver keeps one bit per sequence number.
pub const MAX_SEQ: u64 = 1 << 28;

/// One datagram's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    /// Flow index, `0..flows`.
    pub flow: u16,
    /// How many flows the sender runs.
    pub flows: u16,
    /// The stream's interval between two datagrams (all flows), ns.
    pub interval_ns: u32,
    /// The flow's sequence number, from 0.
    pub seq: u64,
    /// Wall-clock send time, ns since the Unix epoch.
    pub sent_unix_ns: u64,
}

impl Datagram {
    /// Writes the header into `buf[..HEADER_LEN]`.
    ///
    /// # Panics
    /// If `buf` is shorter than [`HEADER_LEN`].
    pub fn encode(&self, buf: &mut [u8]) {
        let h = &mut buf[..HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC);
        h[4..6].copy_from_slice(&self.flow.to_be_bytes());
        h[6..8].copy_from_slice(&self.flows.to_be_bytes());
        h[8..12].copy_from_slice(&self.interval_ns.to_be_bytes());
        h[12..16].fill(0);
        h[16..24].copy_from_slice(&self.seq.to_be_bytes());
        h[24..32].copy_from_slice(&self.sent_unix_ns.to_be_bytes());
    }

    /// Reads a header; `None` if `buf` is short or not a seqstream
    /// datagram.
    pub fn decode(buf: &[u8]) -> Option<Datagram> {
        let h = buf.get(..HEADER_LEN)?;
        if h[0..4] != MAGIC {
            return None;
        }
        let u16_at = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes(h[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_be_bytes(h[i..i + 8].try_into().expect("8 bytes"));
        let d = Datagram {
            flow: u16_at(4),
            flows: u16_at(6),
            interval_ns: u32_at(8),
            seq: u64_at(16),
            sent_unix_ns: u64_at(24),
        };
        (d.flow < d.flows && d.seq < MAX_SEQ).then_some(d)
    }
}

/// One received datagram: its flow and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqPoint {
    /// Flow index.
    pub flow: u16,
    /// Sequence number within the flow.
    pub seq: u64,
}

/// The longest silence between two consecutive arrivals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gap {
    /// Its length, ms.
    pub ms: f64,
    /// When it began (the arrival before it), ms after the first arrival.
    pub at_ms: f64,
    /// The datagram that arrived before it.
    pub before: SeqPoint,
    /// The datagram that ended it.
    pub after: SeqPoint,
}

/// Figures of one flow, or of all flows together ([`StreamReport::total`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlowReport {
    /// The flow index; `None` for the total.
    pub flow: Option<u16>,
    /// The flow's UDP source port (first datagram's); `None` for the total.
    pub sport: Option<u16>,
    /// Datagrams received, duplicates included.
    pub received: u64,
    /// Sequence numbers below the highest received that never arrived
    /// (gaps in the sequence; see [`FlowReport::tail_lost`] for the end).
    pub lost: u64,
    /// Datagrams whose sequence number had arrived before.
    pub duplicates: u64,
    /// Datagrams that arrived after a higher sequence number of their flow.
    pub reordered: u64,
    /// The highest sequence number received (per flow; `None` for the
    /// total or an empty flow).
    pub highest_seq: Option<u64>,
    /// The longest silence between consecutive arrivals (of this flow; of
    /// any flow for the total).
    pub max_gap: Option<Gap>,
    /// `lost` as time: `lost` × the interval (the flow's, or the stream's
    /// for the total), ms.
    pub loss_ms: f64,
    /// The largest one-way delay seen (sender and receiver share the
    /// host's clock), ms.
    pub latency_max_ms: f64,
    /// Datagrams the sender issued (send errors included), once merged
    /// from its report ([`StreamReport::merge_sender`]).
    pub sent: Option<u64>,
    /// Sequence numbers the sender issued after the highest one received
    /// (lost at the end of the stream), once the sender's report is
    /// merged. For the total: the sum over the flows.
    pub tail_lost: Option<u64>,
}

impl FlowReport {
    /// `lost` plus the tail loss, once known.
    pub fn lost_all(&self) -> u64 {
        self.lost + self.tail_lost.unwrap_or(0)
    }
}

/// What the sender reports: per flow, sequence numbers issued and send
/// errors.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SenderReport {
    /// Sequence numbers issued per flow (send errors included).
    pub sent: Vec<u64>,
    /// Failed sends per flow (e.g. no route): they show as losses.
    pub send_errors: Vec<u64>,
    /// UDP source port per flow.
    pub sports: Vec<u16>,
    /// How far the sender fell behind its schedule at worst, ms.
    pub late_max_ms: f64,
}

/// The receiver's report, optionally with the sender's merged in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamReport {
    /// The stream's interval between datagrams (all flows), ms.
    pub interval_ms: f64,
    /// Per flow, by flow index.
    pub flows: Vec<FlowReport>,
    /// All flows together.
    pub total: FlowReport,
    /// Datagrams that were not seqstream's.
    pub malformed: u64,
    /// From the first arrival to the last, ms.
    pub span_ms: f64,
    /// Wall-clock time of the first arrival, ms since the Unix epoch (0
    /// if nothing arrived).
    pub first_unix_ms: f64,
    /// The sender's report, once merged.
    pub sender: Option<SenderReport>,
}

impl StreamReport {
    /// The longest silence in the whole stream, ms (0 if fewer than two
    /// datagrams arrived).
    pub fn max_gap_ms(&self) -> f64 {
        self.total.max_gap.map_or(0.0, |g| g.ms)
    }

    /// All lost datagrams (gaps and, once known, the tail) as time, ms.
    pub fn loss_time_ms(&self) -> f64 {
        self.total.lost_all() as f64 * self.interval_ms
    }

    /// Adds the sender's counts: each flow's `sent` and tail loss (a flow
    /// that never arrived gets an empty entry), and the total's.
    pub fn merge_sender(&mut self, s: SenderReport) {
        for (i, &sent) in s.sent.iter().enumerate() {
            let flow = u16::try_from(i).expect("at most 65536 flows");
            let pos = match self.flows.iter().position(|f| f.flow == Some(flow)) {
                Some(p) => p,
                None => {
                    self.flows.push(FlowReport {
                        flow: Some(flow),
                        sport: s.sports.get(i).copied(),
                        ..FlowReport::default()
                    });
                    self.flows.len() - 1
                }
            };
            let f = &mut self.flows[pos];
            f.sent = Some(sent);
            f.tail_lost = Some(sent.saturating_sub(f.highest_seq.map_or(0, |h| h + 1)));
        }
        self.flows.sort_by_key(|f| f.flow);
        self.total.sent = Some(s.sent.iter().sum());
        self.total.tail_lost = Some(self.flows.iter().filter_map(|f| f.tail_lost).sum());
        self.sender = Some(s);
    }
}

/// One bit per sequence number.
#[derive(Debug, Default, Clone)]
struct SeqSet(Vec<u64>);

impl SeqSet {
    /// Sets `seq`'s bit; `false` if it was set already.
    fn insert(&mut self, seq: u64) -> bool {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let was = self.0[word] & (1 << bit) != 0;
        self.0[word] |= 1 << bit;
        !was
    }
}

/// Arrival-gap tracking over a sequence of arrivals.
#[derive(Debug, Default, Clone)]
struct Gaps {
    last: Option<(Duration, SeqPoint)>,
    max: Option<(Duration, Duration, SeqPoint, SeqPoint)>,
}

impl Gaps {
    fn arrive(&mut self, at: Duration, p: SeqPoint) {
        if let Some((prev_at, prev)) = self.last {
            let gap = at.saturating_sub(prev_at);
            if !matches!(self.max, Some((longest, ..)) if longest >= gap) {
                self.max = Some((gap, prev_at, prev, p));
            }
        }
        self.last = Some((at, p));
    }

    fn report(&self, first: Duration) -> Option<Gap> {
        self.max.map(|(gap, at, before, after)| Gap {
            ms: ms(gap),
            at_ms: ms(at.saturating_sub(first)),
            before,
            after,
        })
    }
}

#[derive(Debug, Default, Clone)]
struct FlowState {
    sport: u16,
    seen: SeqSet,
    unique: u64,
    received: u64,
    duplicates: u64,
    reordered: u64,
    highest: Option<u64>,
    gaps: Gaps,
    latency_max: Duration,
}

/// The receiver's bookkeeping: feed it every datagram with
/// [`Receiver::record`], then take [`Receiver::report`].
#[derive(Debug, Default, Clone)]
pub struct Receiver {
    flows: BTreeMap<u16, FlowState>,
    total: Gaps,
    interval_ns: u32,
    flows_declared: u16,
    malformed: u64,
    first: Option<(Duration, u64)>,
    last: Duration,
    latency_max: Duration,
}

impl Receiver {
    /// An empty receiver.
    pub fn new() -> Receiver {
        Receiver::default()
    }

    /// Counts a datagram that did not decode.
    pub fn malformed(&mut self) {
        self.malformed += 1;
    }

    /// Records datagram `d` from UDP source port `sport`, arrived at `at`
    /// (monotonic, from any fixed origin) and wall-clock `at_unix_ns`.
    pub fn record(&mut self, d: &Datagram, sport: u16, at: Duration, at_unix_ns: u64) {
        if self.first.is_none() {
            self.first = Some((at, at_unix_ns));
            self.interval_ns = d.interval_ns;
            self.flows_declared = d.flows;
        }
        self.last = at;
        let latency = Duration::from_nanos(at_unix_ns.saturating_sub(d.sent_unix_ns));
        self.latency_max = self.latency_max.max(latency);
        let f = self.flows.entry(d.flow).or_insert_with(|| FlowState {
            sport,
            ..FlowState::default()
        });
        f.received += 1;
        f.latency_max = f.latency_max.max(latency);
        if !f.seen.insert(d.seq) {
            f.duplicates += 1;
        } else {
            f.unique += 1;
            if f.highest.is_some_and(|h| d.seq < h) {
                f.reordered += 1;
            }
            f.highest = Some(f.highest.map_or(d.seq, |h| h.max(d.seq)));
        }
        let p = SeqPoint {
            flow: d.flow,
            seq: d.seq,
        };
        f.gaps.arrive(at, p);
        self.total.arrive(at, p);
    }

    /// The figures so far.
    pub fn report(&self) -> StreamReport {
        let first = self.first.map_or(Duration::ZERO, |(at, _)| at);
        let interval = f64::from(self.interval_ns) / 1e6;
        let flow_interval = interval * f64::from(self.flows_declared.max(1));
        let flows: Vec<FlowReport> = self
            .flows
            .iter()
            .map(|(&flow, f)| {
                let lost = f.highest.map_or(0, |h| h + 1 - f.unique);
                FlowReport {
                    flow: Some(flow),
                    sport: Some(f.sport),
                    received: f.received,
                    lost,
                    duplicates: f.duplicates,
                    reordered: f.reordered,
                    highest_seq: f.highest,
                    max_gap: f.gaps.report(first),
                    loss_ms: lost as f64 * flow_interval,
                    latency_max_ms: ms(f.latency_max),
                    sent: None,
                    tail_lost: None,
                }
            })
            .collect();
        let sum = |g: fn(&FlowReport) -> u64| flows.iter().map(g).sum::<u64>();
        let lost = sum(|f| f.lost);
        let total = FlowReport {
            flow: None,
            sport: None,
            received: sum(|f| f.received),
            lost,
            duplicates: sum(|f| f.duplicates),
            reordered: sum(|f| f.reordered),
            highest_seq: None,
            max_gap: self.total.report(first),
            loss_ms: lost as f64 * interval,
            latency_max_ms: ms(self.latency_max),
            sent: None,
            tail_lost: None,
        };
        StreamReport {
            interval_ms: interval,
            flows,
            total,
            malformed: self.malformed,
            span_ms: ms(self.last.saturating_sub(first)),
            first_unix_ms: self.first.map_or(0.0, |(_, unix)| unix as f64 / 1e6),
            sender: None,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1000 pps: one flow's datagram every ms.
    const INTERVAL_NS: u32 = 1_000_000;

    fn dg(flow: u16, flows: u16, seq: u64) -> Datagram {
        Datagram {
            flow,
            flows,
            interval_ns: INTERVAL_NS,
            seq,
            sent_unix_ns: 1_000_000_000 + seq * 1_000_000,
        }
    }

    /// Feeds single-flow sequence numbers, each arriving at `seq` ms
    /// (plus 0.5 ms of latency), in the given order.
    fn feed(seqs: impl IntoIterator<Item = u64>) -> StreamReport {
        let mut r = Receiver::new();
        for s in seqs {
            let at = Duration::from_micros(s * 1000 + 500);
            r.record(
                &dg(0, 1, s),
                40000,
                at,
                1_000_000_000 + s * 1_000_000 + 500_000,
            );
        }
        r.report()
    }

    #[test]
    fn datagram_round_trip_and_refusals() {
        let d = dg(3, 4, 77);
        let mut buf = [0xa5u8; 64];
        d.encode(&mut buf);
        assert_eq!(Datagram::decode(&buf), Some(d));
        assert_eq!(&buf[12..16], &[0, 0, 0, 0], "reserved bytes are written");
        assert_eq!(Datagram::decode(&buf[..HEADER_LEN - 1]), None, "short");
        let mut bad = buf;
        bad[0] = b'X';
        assert_eq!(Datagram::decode(&bad), None, "magic");
        let mut stray = buf;
        dg(4, 4, 1).encode(&mut stray);
        assert_eq!(Datagram::decode(&stray), None, "flow out of range");
    }

    #[test]
    fn a_clean_stream() {
        let r = feed(0..100);
        let t = &r.total;
        assert_eq!(
            (t.received, t.lost, t.duplicates, t.reordered),
            (100, 0, 0, 0)
        );
        assert_eq!(r.flows[0].highest_seq, Some(99));
        let g = t.max_gap.expect("a gap between two arrivals");
        assert!((g.ms - 1.0).abs() < 1e-9, "{g:?}");
        assert_eq!(r.loss_time_ms(), 0.0);
        assert!((r.span_ms - 99.0).abs() < 1e-9);
        assert!((r.interval_ms - 1.0).abs() < 1e-9);
        assert!((t.latency_max_ms - 0.5).abs() < 1e-9);
    }

    #[test]
    fn a_gap_is_lost_sequence_numbers_and_silence() {
        let r = feed((0..10).chain(20..30));
        let t = &r.total;
        assert_eq!((t.received, t.lost), (20, 10));
        assert!((t.loss_ms - 10.0).abs() < 1e-9);
        let g = t.max_gap.expect("gap");
        assert!((g.ms - 11.0).abs() < 1e-9, "{g:?}");
        assert!((g.at_ms - 9.0).abs() < 1e-9, "{g:?}");
        assert_eq!(g.before, SeqPoint { flow: 0, seq: 9 });
        assert_eq!(g.after, SeqPoint { flow: 0, seq: 20 });
        assert_eq!(r.flows[0].max_gap, Some(g));
    }

    #[test]
    fn duplicates_count_once_and_lose_nothing() {
        let r = feed([0, 1, 2, 2, 3, 3, 3, 4]);
        let t = &r.total;
        assert_eq!(
            (t.received, t.duplicates, t.lost, t.reordered),
            (8, 3, 0, 0)
        );
        let g = t.max_gap.expect("gap");
        assert_eq!(g.ms, 1.0, "duplicates arrive with no silence: {g:?}");
    }

    #[test]
    fn reordering_is_not_loss() {
        let r = feed([0, 1, 3, 2, 4, 7, 5, 6, 8]);
        let t = &r.total;
        assert_eq!(
            (t.received, t.lost, t.reordered, t.duplicates),
            (9, 0, 3, 0)
        );
        // A late datagram that never comes back stays lost.
        let r = feed([0, 2, 3]);
        assert_eq!((r.total.lost, r.total.reordered), (1, 0));
    }

    #[test]
    fn flows_are_counted_apart_and_together() {
        let mut r = Receiver::new();
        // Two flows round-robin, 0.5 ms apart; flow 1 loses seq 3..6.
        for n in 0u64..40 {
            let (flow, seq) = ((n % 2) as u16, n / 2);
            if flow == 1 && (3..6).contains(&seq) {
                continue;
            }
            let at = Duration::from_micros(n * 500);
            let mut d = dg(flow, 2, seq);
            d.interval_ns = INTERVAL_NS / 2;
            r.record(&d, 40000 + flow, at, d.sent_unix_ns);
        }
        let rep = r.report();
        assert_eq!(rep.flows.len(), 2);
        let (f0, f1) = (&rep.flows[0], &rep.flows[1]);
        assert_eq!((f0.received, f0.lost, f0.sport), (20, 0, Some(40000)));
        assert_eq!((f1.received, f1.lost, f1.sport), (17, 3, Some(40001)));
        // Flow 1 sends every 1 ms: its gap runs from seq 2 to seq 6.
        let g1 = f1.max_gap.expect("gap");
        assert!((g1.ms - 4.0).abs() < 1e-9, "{g1:?}");
        assert!((f1.loss_ms - 3.0).abs() < 1e-9);
        // Together, flow 0 keeps arriving: the largest silence is 1 ms,
        // and each lost datagram is half a millisecond of the stream.
        let t = &rep.total;
        assert_eq!((t.received, t.lost), (37, 3));
        assert!((t.max_gap.expect("gap").ms - 1.0).abs() < 1e-9);
        assert!((t.loss_ms - 1.5).abs() < 1e-9);
    }

    #[test]
    fn the_sender_report_reveals_the_lost_tail() {
        let mut r = feed(0..50);
        r.merge_sender(SenderReport {
            sent: vec![80, 10],
            send_errors: vec![0, 0],
            sports: vec![40000, 40001],
            late_max_ms: 0.2,
        });
        assert_eq!(r.flows[0].tail_lost, Some(30));
        assert_eq!(r.flows[0].lost_all(), 30);
        // Flow 1 never arrived: all of it is lost, at its own port.
        assert_eq!(r.flows[1].tail_lost, Some(10));
        assert_eq!(r.flows[1].sport, Some(40001));
        assert_eq!(r.total.sent, Some(90));
        assert_eq!(r.total.lost_all(), 40);
        assert!((r.loss_time_ms() - 40.0).abs() < 1e-9);
    }

    #[test]
    fn nothing_received() {
        let r = Receiver::new().report();
        assert_eq!(r.total.received, 0);
        assert_eq!(r.total.max_gap, None);
        assert_eq!(r.max_gap_ms(), 0.0);
        assert_eq!(r.first_unix_ms, 0.0);
    }
}
