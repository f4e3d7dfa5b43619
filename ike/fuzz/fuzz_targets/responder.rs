//! Fuzzes the responder's state machine: `IkeSa::accept`, then
//! `handle_datagram` and `handle_timeout` at advancing virtual times, with
//! `poll_transmit` and `poll_event` drained after every call.
//!
//! The first byte picks the mode, the second varies the configuration
//! (see `ike_fuzz::config`; PSK, proposals "aes256gcm16-prfsha384-ecp384"
//! and "aes256-sha256-modp2048", ESP "aes256gcm16", any IPv4 selectors):
//!
//! - 0, raw: the first length-prefixed datagram (`u16` big-endian length,
//!   then the bytes) goes to `accept`; the rest is operations
//!   (`Harness::run`: datagrams, timers, replays, ...).
//! - 1, scripted: a scripted initiator builds the IKE_SA_INIT request from
//!   input bytes (proposals, KE group and value, nonce, NAT-D, COOKIE,
//!   extra payloads) and, once the SA answers, holds its keys: the
//!   operations then include sealed messages that get past the integrity
//!   check (IKE_AUTH with a valid or broken AUTH, INFORMATIONAL,
//!   CREATE_CHILD_SA, arbitrary plaintext).
//! - 2, pair: a real initiator and a real responder through a network the
//!   input controls (loss, duplication, reordering, corruption, NAT,
//!   timers, close).
//! - 3, established: as 1, but well-formed IKE_SA_INIT and IKE_AUTH come
//!   first, so every operation works on an established SA.
//!
//! Nothing may panic, and the invariants of `ike_fuzz` hold.

#![no_main]

use ike_fuzz::{pair, responder, Input, Setup};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let (mode, variant) = (input.u8(), input.u8());
    match mode % 4 {
        0 => responder(&mut input, variant, Setup::Raw),
        1 => responder(&mut input, variant, Setup::Scripted),
        2 => pair(&mut input, variant),
        _ => responder(&mut input, variant, Setup::Auto),
    }
});
