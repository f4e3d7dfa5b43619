//! Child processes with guaranteed cleanup, and bounded one-shot commands.
//!
//! Every process is signalled by its own PID, never by name. A [`ChildGuard`]
//! owns an unreaped child, so its PID cannot be recycled while the guard
//! lives and signalling it is always safe.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use crate::poll::poll_until;

/// How long [`ChildGuard`]'s `Drop` waits after SIGTERM before SIGKILL.
pub const DROP_TERM_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `signal` to `pid`. Errors (e.g. the process is already gone) are
/// ignored: callers use this only for cleanup.
pub fn signal_pid(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 0 {
        return; // never signal a process group or "all processes"
    }
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// A spawned process that is terminated (SIGTERM, then SIGKILL after a
/// deadline) and reaped when the guard drops, including during a panic.
///
/// stdout and stderr both go to a log file, readable with [`ChildGuard::log`].
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    what: String,
    log_path: PathBuf,
    status: Option<ExitStatus>,
}

impl ChildGuard {
    /// Spawns `cmd` with stdin from `/dev/null` and stdout + stderr appended
    /// to a freshly truncated `log_path` (parent directories are created).
    /// `what` names the process in diagnostics.
    ///
    /// # Panics
    /// If the log file cannot be created or the process cannot be spawned.
    pub fn spawn(what: &str, mut cmd: Command, log_path: impl AsRef<Path>) -> ChildGuard {
        let log_path = log_path.as_ref().to_path_buf();
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("create log dir {}: {e}", dir.display()));
        }
        let out = File::create(&log_path)
            .unwrap_or_else(|e| panic!("create log file {}: {e}", log_path.display()));
        let err = out.try_clone().expect("clone log file handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what} ({cmd:?}): {e}"));
        tracing::debug!(pid = child.id(), what, log = %log_path.display(), "spawned");
        ChildGuard {
            child,
            what: what.to_string(),
            log_path,
            status: None,
        }
    }

    /// PID of the process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The name given at spawn time.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Returns the exit status if the process has exited (reaping it),
    /// `None` while it is still running.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("waitpid on {} (pid {}): {e}", self.what, self.pid()));
        }
        self.status
    }

    /// `true` while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// Sends `signal` to the process unless it has already been reaped.
    pub fn signal(&mut self, signal: libc::c_int) {
        if self.try_wait().is_none() {
            signal_pid(self.pid(), signal);
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the process to exit.
    ///
    /// Returns `Some(status)` if the process exited by itself (already, or
    /// within `timeout` of SIGTERM). Otherwise it is SIGKILLed, reaped, and
    /// `None` is returned; so `None` means "did not shut down gracefully".
    pub fn terminate_and_wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.try_wait() {
            return Some(status);
        }
        signal_pid(self.pid(), libc::SIGTERM);
        if let Some(status) = poll_until(timeout, || self.try_wait()) {
            return Some(status);
        }
        tracing::warn!(pid = self.pid(), what = %self.what, "SIGTERM ignored, sending SIGKILL");
        signal_pid(self.pid(), libc::SIGKILL);
        match self.child.wait() {
            Ok(status) => self.status = Some(status),
            Err(e) => tracing::warn!(pid = self.pid(), "wait after SIGKILL: {e}"),
        }
        None
    }

    /// Waits up to `timeout` for the process to exit by itself (no signal).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        poll_until(timeout, || self.try_wait())
    }

    /// Path of the log file holding the process's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Current contents of the log file (lossily decoded as UTF-8).
    pub fn log(&self) -> String {
        match std::fs::read(&self.log_path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => format!("<cannot read {}: {e}>", self.log_path.display()),
        }
    }

    /// Polls until the log contains `needle`.
    ///
    /// # Panics
    /// On timeout, or as soon as the process exits without having logged
    /// `needle`; the message includes the log.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) {
        let mut exited = None;
        let what = format!("{} (pid {}) to log {needle:?}", self.what, self.pid());
        let found = poll_until(timeout, || {
            if self.log().contains(needle) {
                return Some(true);
            }
            // Re-read after seeing the exit so no final output is missed.
            exited = self.try_wait();
            exited.map(|_| self.log().contains(needle))
        });
        match found {
            Some(true) => {}
            Some(false) => panic!(
                "{what}: process exited ({:?}) first; log {}:\n{}",
                exited,
                self.log_path.display(),
                self.log()
            ),
            None => panic!(
                "timed out after {timeout:?} waiting for {what}; log {}:\n{}",
                self.log_path.display(),
                self.log()
            ),
        }
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.try_wait() {
            panic!(
                "{} (pid {}) exited unexpectedly with {status}; log {}:\n{}",
                self.what,
                self.pid(),
                self.log_path.display(),
                self.log()
            );
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "[netns harness] {} (pid {}) log: {}",
                self.what,
                self.pid(),
                self.log_path.display()
            );
        }
        self.terminate_and_wait(DROP_TERM_TIMEOUT);
    }
}

/// A command that did not finish within its time limit (it was killed).
#[derive(Debug)]
pub struct TimedOut {
    /// The command, as `Debug`-formatted.
    pub command: String,
    /// The limit that was exceeded.
    pub timeout: Duration,
    /// Whatever the command wrote before it was killed.
    pub partial: Output,
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} did not finish within {:?}\nstdout:\n{}\nstderr:\n{}",
            self.command,
            self.timeout,
            String::from_utf8_lossy(&self.partial.stdout),
            String::from_utf8_lossy(&self.partial.stderr)
        )
    }
}

impl std::error::Error for TimedOut {}

fn read_back(mut f: File) -> Vec<u8> {
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(0)).is_ok() {
        let _ = f.read_to_end(&mut buf);
    }
    buf
}

/// Runs `cmd` to completion, capturing stdout and stderr, but kills it (by
/// PID, SIGKILL) if it runs longer than `timeout`.
///
/// Output is collected in anonymous temporary files rather than pipes, so a
/// stray grandchild holding the output open can never block the caller.
///
/// # Panics
/// If the command cannot be spawned.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<Output, TimedOut> {
    let out = tempfile::tempfile().expect("create temp file for stdout");
    let err = tempfile::tempfile().expect("create temp file for stderr");
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().expect("clone stdout file"))
        .stderr(err.try_clone().expect("clone stderr file"));
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let waited = poll_until(timeout, || child.try_wait().expect("waitpid"));
    let (status, timed_out) = match waited {
        Some(status) => (status, false),
        None => {
            signal_pid(child.id(), libc::SIGKILL);
            (child.wait().expect("wait after SIGKILL"), true)
        }
    };
    let output = Output {
        status,
        stdout: read_back(out),
        stderr: read_back(err),
    };
    if timed_out {
        Err(TimedOut {
            command: format!("{cmd:?}"),
            timeout,
            partial: output,
        })
    } else {
        Ok(output)
    }
}

/// Formats an [`Output`] for a panic message.
pub fn describe_output(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Terminates processes that are not necessarily our children: SIGTERM to
/// each PID, then SIGKILL to those still alive after `timeout`. Returns once
/// all are gone (zombies count as gone) or a further 2 s have passed.
pub(crate) fn kill_pids(pids: &[u32], timeout: Duration) {
    let all_gone = || pids.iter().all(|&p| !pid_alive(p)).then_some(());
    for &pid in pids {
        signal_pid(pid, libc::SIGTERM);
    }
    if poll_until(timeout, all_gone).is_none() {
        for &pid in pids.iter().filter(|&&p| pid_alive(p)) {
            tracing::warn!(pid, "SIGTERM ignored, sending SIGKILL");
            signal_pid(pid, libc::SIGKILL);
        }
        // SIGKILL cannot be ignored; a short bounded wait is enough.
        let _ = poll_until(Duration::from_secs(2), all_gone);
    }
}

/// `true` if `pid` exists and is not a zombie.
pub(crate) fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_with_timeout_captures_output() {
        let out = run_with_timeout(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn run_with_timeout_kills() {
        let err = run_with_timeout(
            Command::new("sh").args(["-c", "echo started; exec sleep 30"]),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert_eq!(err.partial.stdout, b"started\n");
    }

    #[test]
    fn guard_terminates_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut g = ChildGuard::spawn("sleep", cmd, dir.path().join("sleep.log"));
        assert!(g.is_running());
        let pid = g.pid();
        assert!(pid_alive(pid));
        // SIGTERM kills sleep: not a graceful exit status, but an exit.
        assert!(g.terminate_and_wait(Duration::from_secs(5)).is_some());
        assert!(!g.is_running());
        drop(g);
        assert!(!pid_alive(pid));
    }
}
