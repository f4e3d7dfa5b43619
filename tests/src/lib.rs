//! Network-namespace test harness for vwand's integration tests.
//!
//! Everything a test creates lives in network namespaces it owns: no test
//! address or route ever touches the root namespace. Cleanup is tied to
//! `Drop`, so it also happens when a test panics:
//!
//! * [`Netns`] deletes its namespace after killing (by PID) every process
//!   still inside it;
//! * [`ChildGuard`] sends SIGTERM to its process, then SIGKILL after a
//!   deadline, and reaps it;
//! * [`ScratchDir`] removes itself, unless the test failed (then its path is
//!   printed so logs and pcaps can be inspected).
//!
//! Nothing sleeps in place of synchronisation: waits go through
//! [`wait_until`] / [`wait_for`], which poll a condition against a deadline
//! and panic naming what was awaited.
//!
//! ```no_run
//! use netns::{require_netns_env, veth_pair, ping, Netns};
//!
//! require_netns_env();
//! let a = Netns::new("ex");
//! let b = Netns::new("ex");
//! veth_pair(&a, "va", "10.9.0.1/24", &b, "vb", "10.9.0.2/24");
//! assert!(ping(&a, "10.9.0.2", 3));
//! ```

#![warn(missing_docs)]

pub mod bird;
pub mod bird_config;
pub mod bird_output;
pub mod capture;
pub mod circuit;
pub mod dual_hub;
pub mod flood;
pub mod hashed;
pub mod hub_bed;
pub mod iperf;
pub mod netns;
pub mod ping;
pub mod poll;
pub mod prereq;
pub mod process;
pub mod race;
pub mod scratch;
pub mod seqstream;
pub mod seqstream_report;
pub mod stats;
pub mod strongswan;
pub mod systemd;
#[allow(missing_docs)]
pub mod vwand;

pub use bird::{BgpNeighbor, Bird, BirdOptions};
pub use capture::{pcap_count, pcap_text, Capture};
pub use iperf::{
    iperf3_client, iperf3_run, parse_iperf3_json, try_iperf3_run, Iperf3Opts, Iperf3Result,
    Iperf3Server, IPERF3_PORT,
};
pub use netns::{cleanup_stale, list_namespaces, veth_pair, Netns};
pub use ping::{ping, ping_all, ping_from, wait_ping};
pub use poll::{poll_until, wait_for, wait_settled, wait_until};
pub use prereq::{require_netns_env, require_root, require_tools, workspace_bin, workspace_root};
pub use process::{run_with_timeout, ChildGuard, TimedOut};
pub use scratch::{scratch_dir, ScratchDir};
pub use stats::{link_stats, netns_nstat, LinkStats};
pub use strongswan::{HubOptions, StrongswanHub};
