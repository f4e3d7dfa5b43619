//! Rate-limited logging of dropped packets: a burst, then one summary.

use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(10);
const BURST: u32 = 10;

/// Allows `BURST` log lines per `WINDOW`; counts the rest.
#[derive(Debug)]
pub struct DropLog {
    what: &'static str,
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl DropLog {
    pub fn new(what: &'static str) -> Self {
        Self {
            what,
            window_start: None,
            logged: 0,
            suppressed: 0,
        }
    }

    /// True when this drop may be logged. Called only on drops, so reading
    /// the clock here costs nothing on the good path.
    pub fn allow(&mut self) -> bool {
        let now = Instant::now();
        let fresh = self
            .window_start
            .is_none_or(|s| now.duration_since(s) >= WINDOW);
        if fresh {
            if self.suppressed > 0 {
                tracing::warn!(
                    suppressed = self.suppressed,
                    "{}: {} more drops not logged in the last {:?}",
                    self.what,
                    self.suppressed,
                    WINDOW
                );
            }
            self.window_start = Some(now);
            self.logged = 0;
            self.suppressed = 0;
        }
        if self.logged < BURST {
            self.logged += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_suppresses() {
        let mut d = DropLog::new("test");
        let allowed = (0..100).filter(|_| d.allow()).count();
        assert_eq!(allowed, BURST as usize);
        assert_eq!(d.suppressed, 100 - u64::from(BURST));
    }
}
