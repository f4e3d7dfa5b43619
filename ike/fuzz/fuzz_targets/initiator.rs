//! Fuzzes the initiator's state machine: `IkeSa::initiate`, then
//! arbitrary responses through `handle_datagram`, with `handle_timeout`
//! at advancing virtual times and `poll_transmit` and `poll_event` drained
//! after every call.
//!
//! The first byte picks the mode, the second varies the configuration
//! (see `ike_fuzz::config`):
//!
//! - 0, raw: the first length-prefixed datagram (`u16` big-endian length,
//!   then the bytes; a flags byte before it can patch in the SA's SPIs,
//!   length and message ID) is the IKE_SA_INIT response; the rest is
//!   operations (`Harness::run`).
//! - 1, scripted: a scripted responder answers the IKE_SA_INIT request as
//!   input bytes say (accepting, COOKIE, INVALID_KE_PAYLOAD, an error,
//!   other suites, broken KE values, NAT-D, extra payloads) and, when it
//!   accepted, holds the SA's keys: the operations then include sealed
//!   IKE_AUTH responses with a valid or broken AUTH, ESP answers and
//!   selectors, and requests of its own.
//! - 2, pair: a real initiator and a real responder through a network the
//!   input controls.
//! - 3, established: as 1, but well-formed responses to IKE_SA_INIT and
//!   IKE_AUTH come first, so every operation works on an established SA.
//!
//! Nothing may panic, and the invariants of `ike_fuzz` hold.

#![no_main]

use ike_fuzz::{initiator, pair, Input, Setup};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let (mode, variant) = (input.u8(), input.u8());
    match mode % 4 {
        0 => initiator(&mut input, variant, Setup::Raw),
        1 => initiator(&mut input, variant, Setup::Scripted),
        2 => pair(&mut input, variant),
        _ => initiator(&mut input, variant, Setup::Auto),
    }
});
