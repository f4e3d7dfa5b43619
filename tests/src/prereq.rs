//! Preconditions of a test run: privileges, tools, and workspace binaries.
//!
//! Missing prerequisites make tests fail loudly, never skip: a CI run that
//! silently skips its network tests would look green while testing nothing.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Panics unless running as root (needed for `ip netns`, veths, tcpdump).
pub fn require_root() {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "these tests create network namespaces and must run as root (euid is {euid}); \
         run them with sudo or in a root container - they are never skipped"
    );
}

/// Finds `program` on `PATH`.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Panics naming every program in `programs` that is not on `PATH`.
pub fn require_tools(programs: &[&str]) {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| find_on_path(p).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "required tools not found on PATH: {missing:?} (install them, e.g. \
         apt-get install iproute2 iputils-ping iperf3 tcpdump)"
    );
}

/// `require_root` plus the tools every harness test uses (`ip`, `ping`).
pub fn require_netns_env() {
    require_root();
    require_tools(&["ip", "ping", "ss"]);
}

/// The cargo workspace root (parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent directory")
        .to_path_buf()
}

/// Target directories that may hold workspace binaries, most specific first.
fn target_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    // A test binary lives in <target>/<profile>/deps/<name>-<hash>.
    if let Ok(exe) = std::env::current_exe() {
        if let Some(target) = exe.ancestors().nth(3) {
            dirs.push(target.to_path_buf());
        }
    }
    dirs.push(workspace_root().join("target"));
    dirs.dedup();
    dirs
}

/// Environment variable overriding the path of binary `name`:
/// `vwand` -> `VWAND_BIN`, `foo-bar` -> `FOO_BAR_BIN`.
pub fn bin_env_var(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{upper}_BIN")
}

/// Locates a workspace binary such as `vwand`.
///
/// `$<NAME>_BIN` (e.g. `VWAND_BIN`) wins if set. Otherwise the newest of
/// `<target>/{release,debug}/<name>` is used, where `<target>` is
/// `$CARGO_TARGET_DIR`, the test binary's own target directory, or
/// `<workspace>/target`. (`CARGO_BIN_EXE_*` only exists for binaries of the
/// same package, hence this search.)
///
/// # Panics
/// If the binary cannot be found, telling how to build it.
pub fn workspace_bin(name: &str) -> PathBuf {
    let var = bin_env_var(name);
    if let Some(path) = std::env::var_os(&var) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "${var} points to {}, which is not a file",
            path.display()
        );
        return path;
    }
    let mtime = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    };
    let candidates: Vec<PathBuf> = target_dirs()
        .iter()
        .flat_map(|t| ["release", "debug"].map(|profile| t.join(profile).join(name)))
        .filter(|p| p.is_file())
        .collect();
    candidates
        .into_iter()
        .max_by_key(|p| mtime(p))
        .unwrap_or_else(|| {
            panic!(
                "binary {name:?} not found in {:?}/{{release,debug}}; run `cargo build \
                 --bin {name}` (for the daemon: `cargo build -p vwand`) first, or set ${var}",
                target_dirs()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_names() {
        assert_eq!(bin_env_var("vwand"), "VWAND_BIN");
        assert_eq!(bin_env_var("vwand-bench"), "VWAND_BENCH_BIN");
    }

    #[test]
    fn finds_tools_on_path() {
        assert!(find_on_path("sh").is_some());
        assert!(find_on_path("definitely-not-a-real-tool-xyz").is_none());
    }
}
