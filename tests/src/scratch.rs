//! Per-test scratch directories for logs, configs and pcaps.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Set to keep scratch directories even when the test passes.
pub const KEEP_ENV: &str = "VWAND_KEEP_SCRATCH";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under the system temp dir, removed on drop unless the
/// thread is panicking (a failing test) or `$VWAND_KEEP_SCRATCH` is set; a
/// kept directory's path is printed to stderr.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path().join(name)`.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl AsRef<Path> for ScratchDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os(KEEP_ENV).is_some() {
            eprintln!("[netns harness] kept scratch dir: {}", self.path.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), "removing scratch dir: {e}");
        }
    }
}

/// Creates a scratch directory named after the current test (libtest names
/// each test's thread after the test).
///
/// # Panics
/// If the directory cannot be created.
pub fn scratch_dir() -> ScratchDir {
    let thread = std::thread::current();
    let test: String = thread
        .name()
        .unwrap_or("test")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(48)
        .collect();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("vwand-{test}-{}-{n}", std::process::id()));
    // Stale leftovers from a recycled PID are removed first.
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path)
        .unwrap_or_else(|e| panic!("create scratch dir {}: {e}", path.display()));
    ScratchDir { path }
}

/// A peer daemon's private directory under `scratch` (created, made
/// absolute) and the path of its unix control socket `socket` in it.
///
/// # Panics
/// If the directory cannot be made, or the socket path does not fit a
/// unix socket address (108 bytes with the NUL).
pub fn daemon_dir(scratch: &Path, socket: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(scratch)
        .unwrap_or_else(|e| panic!("create {}: {e}", scratch.display()));
    let dir = std::fs::canonicalize(scratch)
        .unwrap_or_else(|e| panic!("canonicalize {}: {e}", scratch.display()));
    let sock = dir.join(socket);
    assert!(
        sock.as_os_str().len() < 108,
        "socket path {} is too long for a unix socket; use a shorter scratch dir",
        sock.display()
    );
    (dir, sock)
}
