//! Packet capture with tcpdump inside a namespace, and reading pcaps back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::netns::Netns;
use crate::process::{describe_output, run_with_timeout, ChildGuard};

/// How long [`Capture::start`] waits for tcpdump to start listening.
pub const CAPTURE_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `tcpdump -i IF -w FILE -U --immediate-mode` in a namespace. Its stderr goes to
/// `FILE.log`. Killed when dropped; [`Capture::stop`] ends it cleanly.
#[derive(Debug)]
pub struct Capture {
    guard: ChildGuard,
    pcap: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `iface` in `ns`, writing to `pcap_path`, with an
    /// optional pcap filter (e.g. `&["udp", "port", "4500"]`), and returns
    /// once it is listening.
    ///
    /// # Panics
    /// If tcpdump exits or is not listening within
    /// [`CAPTURE_READY_TIMEOUT`].
    pub fn start(ns: &Netns, iface: &str, pcap_path: impl AsRef<Path>, filter: &[&str]) -> Self {
        let mut cap = Capture::spawn(ns, iface, pcap_path, filter);
        cap.wait_ready(CAPTURE_READY_TIMEOUT);
        cap
    }

    /// Like [`Capture::start`] but returns without waiting; call
    /// [`Capture::wait_ready`] before generating traffic.
    pub fn spawn(ns: &Netns, iface: &str, pcap_path: impl AsRef<Path>, filter: &[&str]) -> Self {
        let pcap = pcap_path.as_ref().to_path_buf();
        let pcap_s = pcap.to_str().expect("pcap path must be UTF-8").to_string();
        let mut log = pcap.clone().into_os_string();
        log.push(".log");
        // --immediate-mode: hand each packet over at once; with TPACKET_V3's
        // block buffering, packets still in a block are lost on SIGTERM.
        // -Z root: keep root so tcpdump can write anywhere (no privilege drop).
        let mut args = vec![
            "-i",
            iface,
            "-w",
            &pcap_s,
            "-U",
            "--immediate-mode",
            // 64 MiB of kernel buffer: test bursts outrun the default 2 MiB.
            "-B",
            "65536",
            "-n",
            "-Z",
            "root",
        ];
        args.extend_from_slice(filter);
        let guard = ns.spawn("tcpdump", &args, PathBuf::from(log));
        Capture { guard, pcap }
    }

    /// Polls until tcpdump reports "listening on", i.e. packets from now on
    /// are captured.
    ///
    /// # Panics
    /// On timeout or if tcpdump exits first (its log is in the message).
    pub fn wait_ready(&mut self, timeout: Duration) {
        self.guard.wait_for_log("listening on", timeout);
    }

    /// Path of the pcap file being written.
    pub fn path(&self) -> &Path {
        &self.pcap
    }

    /// The tcpdump process.
    pub fn guard(&mut self) -> &mut ChildGuard {
        &mut self.guard
    }

    /// Stops tcpdump (SIGTERM, which flushes the file) and returns the pcap
    /// path.
    pub fn stop(mut self) -> PathBuf {
        self.guard.terminate_and_wait(Duration::from_secs(5));
        self.pcap.clone()
    }
}

/// Decodes `pcap` with `tcpdump -nn -r` (plus an optional filter) and
/// returns one line per packet. Reading a file needs no namespace.
///
/// # Panics
/// If tcpdump fails (e.g. the file is missing or truncated).
pub fn pcap_text(pcap: &Path, filter: &[&str]) -> String {
    let out = run_with_timeout(
        Command::new("tcpdump")
            .args(["-nn", "-r"])
            .arg(pcap)
            .args(filter),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "tcpdump -r {} failed: {}",
        pcap.display(),
        describe_output(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Number of packets in `pcap` matching `filter` (empty = all).
pub fn pcap_count(pcap: &Path, filter: &[&str]) -> usize {
    pcap_text(pcap, filter).lines().count()
}
