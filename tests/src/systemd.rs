//! The systemd unit, read the way systemd reads it where a test needs it:
//! a key's values, and the system-call groups of `SystemCallFilter=` as
//! `systemd-analyze syscall-filter` expands them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Every value of `key` in the unit file, space-separated values split
/// (lines in order; comments skipped).
pub fn unit_values(unit: &Path, key: &str) -> Vec<String> {
    let text = std::fs::read_to_string(unit).expect("read the unit");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .flat_map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>())
        .collect()
}

/// The capabilities a unit's `CapabilityBoundingSet=` names, as setpriv
/// writes them (`net_admin`).
pub fn capabilities(unit: &Path) -> Vec<String> {
    unit_values(unit, "CapabilityBoundingSet")
        .iter()
        .map(|c| c.trim_start_matches("CAP_").to_ascii_lowercase())
        .collect()
}

/// `systemd-analyze syscall-filter`'s groups: name → members (system
/// calls, or other groups).
fn groups() -> BTreeMap<String, Vec<String>> {
    let out = Command::new("systemd-analyze")
        .arg("syscall-filter")
        .output()
        .expect("run systemd-analyze");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(g) = line.strip_prefix('@') {
            current = Some(format!("@{}", g.trim()));
            continue;
        }
        let item = line.trim();
        if item.is_empty() || item.starts_with('#') {
            continue;
        }
        if let Some(g) = &current {
            groups.entry(g.clone()).or_default().push(item.to_string());
        }
    }
    groups
}

/// The system calls `SystemCallFilter=` allows in `unit`: the allowed
/// groups' calls, less the denied (`~`) ones, expanded recursively.
pub fn allowed_syscalls(unit: &Path) -> BTreeSet<String> {
    let groups = groups();
    fn expand(name: &str, groups: &BTreeMap<String, Vec<String>>, out: &mut BTreeSet<String>) {
        match groups.get(name) {
            Some(members) => {
                for m in members {
                    expand(m, groups, out);
                }
            }
            None if !name.starts_with('@') => {
                out.insert(name.to_string());
            }
            None => {}
        }
    }
    let mut allow = BTreeSet::new();
    let mut deny = BTreeSet::new();
    let text = std::fs::read_to_string(unit).expect("read the unit");
    for line in text.lines().map(str::trim) {
        let Some(v) = line.strip_prefix("SystemCallFilter=") else {
            continue;
        };
        let (set, v) = match v.strip_prefix('~') {
            Some(rest) => (&mut deny, rest),
            None => (&mut allow, v),
        };
        for name in v.split_whitespace() {
            expand(name, &groups, set);
        }
    }
    allow.difference(&deny).cloned().collect()
}

/// The system calls an `strace -f` log shows after `execve` of `program`.
pub fn traced_syscalls(log: &str, program: &str) -> BTreeSet<String> {
    let start = log
        .find(&format!("execve(\"{program}\""))
        .expect("the trace shows the program's execve");
    log[start..]
        .lines()
        .skip(1)
        .filter_map(|l| {
            // "1234  name(args) = ..." or "1234  <... name resumed>".
            let rest = l.split_once(char::is_whitespace)?.1.trim_start();
            let rest = rest.strip_prefix("<... ").unwrap_or(rest);
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty() && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
                .then_some(name)
        })
        .filter(|n| n != "exited" && n != "killed")
        .collect()
}
