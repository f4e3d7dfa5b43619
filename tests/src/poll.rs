//! Deadline-bounded polling: the harness's only way to wait for something.
//!
//! Tests must never `sleep` in place of synchronisation. Instead they poll a
//! condition with a deadline; on timeout the helpers panic with a message that
//! names what was being waited for.

use std::time::{Duration, Instant};

/// Interval between two evaluations of a polled condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Polls `f` every [`POLL_INTERVAL`] until it returns `Some(value)` or
/// `timeout` elapses. Returns `None` on timeout (never panics).
///
/// The closure is always evaluated at least once, and once more right at the
/// deadline, so a condition that becomes true while the last interval elapses
/// is not reported as a timeout.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(POLL_INTERVAL.min(deadline - now));
    }
}

/// Polls a counter until it has kept one value for `quiet` (longer than
/// the daemon's status publishing interval, 250 ms), so a snapshot taken
/// after traffic stopped is not one publication behind. Returns that
/// value.
///
/// # Panics
/// If the value is still changing after `timeout`; the message names `what`.
pub fn wait_settled(
    what: &str,
    timeout: Duration,
    quiet: Duration,
    mut f: impl FnMut() -> u64,
) -> u64 {
    let mut last = (f(), Instant::now());
    let settled = poll_until(timeout, || {
        let v = f();
        if v != last.0 {
            last = (v, Instant::now());
        }
        (last.1.elapsed() >= quiet).then_some(v)
    });
    settled.unwrap_or_else(|| panic!("{what} still changing after {timeout:?}"))
}

/// Polls `f` until it returns `true`.
///
/// # Panics
/// If `f` has not returned `true` within `timeout`; the message names `what`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    if poll_until(timeout, || f().then_some(())).is_none() {
        panic!("timed out after {timeout:?} waiting for {what}");
    }
}

/// Polls `f` until it returns `Some(value)` and returns that value.
///
/// # Panics
/// If `f` has not returned `Some` within `timeout`; the message names `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
    match poll_until(timeout, f) {
        Some(v) => v,
        None => panic!("timed out after {timeout:?} waiting for {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_value_once_ready() {
        let mut n = 0;
        let v = wait_for("counter to reach 3", Duration::from_secs(5), || {
            n += 1;
            (n >= 3).then_some(n)
        });
        assert_eq!(v, 3);
    }

    #[test]
    fn poll_until_times_out_with_none() {
        let start = Instant::now();
        let v: Option<()> = poll_until(Duration::from_millis(60), || None);
        assert!(v.is_none());
        assert!(start.elapsed() >= Duration::from_millis(60));
    }

    #[test]
    #[should_panic(expected = "waiting for the impossible")]
    fn wait_until_panics_naming_what() {
        wait_until("the impossible", Duration::from_millis(30), || false);
    }
}
