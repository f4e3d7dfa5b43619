//! Fuzzes one BGP session past establishment: a fake peer (see `bgp_fuzz`)
//! greets every OPEN the session sends with its own OPEN and KEEPALIVE, so
//! the input's TCP stream reaches an Established session, in pieces the
//! input chooses, between timer expiries and commands (stop, start,
//! transport down and up, route refresh, export changes, a second
//! connection, the peer closing).
//!
//! Nothing may panic, and the invariants of `bgp_fuzz` hold: the RIB is
//! what the events said, never above the maximum-prefix limit, and empty
//! unless Established; everything sent decodes; timers make progress.

#![no_main]

use bgp_fuzz::{Harness, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mut h = Harness::new(&mut input);
    h.run(&mut input);
});
