//! Fuzzes the IKE endpoint: two real endpoints and a silent peer through a
//! network the input controls, with the owner's inputs (data-plane
//! counters, path failures, ESP lifetime events, shutdown) and virtual
//! time. See `ike_fuzz::endpoint` for the invariants.

#![no_main]

use ike_fuzz::{endpoint::endpoints, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let variant = input.u8();
    endpoints(&mut input, variant);
});
