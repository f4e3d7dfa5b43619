//! Fuzzes the BGP codec, the code every octet from the peer meets first.
//!
//! - `frame` and `Message::decode` on the whole input, with both
//!   `Context` values (2-octet and 4-octet AS numbers). `decode` reads only
//!   the message `frame` found, so octets after it change nothing.
//! - The same on a copy with a valid marker and its header Length set to
//!   the input's, so that mutations get past the header checks without the
//!   fuzzer having to keep 18 octets in step.
//! - `frame` over the input as a TCP stream, decoding each message found,
//!   as a session does.
//!
//! What decodes is encoded again. Decoding normalises (host bits of
//! prefixes, reserved octets, repeated attributes, LOCAL_PREF from an eBGP
//! peer, AS4_PATH merged into AS_PATH), so the octets may differ, but the
//! re-encoded message must decode to the same value, and encode to the
//! same octets again. Two cases are left out, because there the value
//! cannot survive by design:
//!
//! - an UPDATE with `treat_as_withdraw` (RFC 7606 §2): the malformed
//!   attribute that caused it is not kept, so the re-encoded UPDATE is
//!   judged on what is left;
//! - an UPDATE that re-encodes to more than 4,096 octets: with 2-octet AS
//!   numbers, AS_PATH and AS4_PATH both carry the merged path (RFC 6793
//!   §4.2.3), which can be longer than what was received;
//! - with 2-octet AS numbers, a path that needs AS4_PATH and has a
//!   confederation segment behind another segment: the merge cannot
//!   bring it back (see `survives_as4_path`).
//!
//! An UPDATE decoded with 2-octet AS numbers also round-trips through the
//! 4-octet encoding, and one decoded with 4-octet AS numbers through the
//! 2-octet encoding when every AS number fits in 16 bits.
//!
//! Nothing may panic.

#![no_main]

use bgp::wire::{frame, AsSegment, Context, Message, Update, HEADER_LEN, MARKER, MAX_MESSAGE_LEN};
use libfuzzer_sys::fuzz_target;

const CONTEXTS: [Context; 2] = [
    Context {
        four_octet_as: false,
    },
    Context {
        four_octet_as: true,
    },
];

/// Every AS number of the UPDATE fits in 2 octets.
fn fits_two_octets(u: &Update) -> bool {
    let path = u
        .attrs
        .as_path
        .iter()
        .flat_map(|p| p.segments.iter())
        .flat_map(|s| s.asns().iter());
    let aggregator = u.attrs.aggregator.iter().map(|(asn, _)| asn);
    path.chain(aggregator).all(|&a| a <= u32::from(u16::MAX))
}

/// Whether the path survives the 2-octet encoding: when it needs AS4_PATH,
/// confederation segments survive only in front, since AS4_PATH carries
/// none (RFC 6793 §6) and the merge takes from AS_PATH only the leading
/// ones and those next to the AS numbers it takes (§4.2.3).
fn survives_as4_path(u: &Update) -> bool {
    let Some(p) = &u.attrs.as_path else {
        return true;
    };
    let wide = p
        .segments
        .iter()
        .flat_map(|s| s.asns())
        .any(|&a| a > u32::from(u16::MAX));
    let confed =
        |s: &AsSegment| matches!(s, AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_));
    let leading = p.segments.iter().take_while(|s| confed(s)).count();
    !wide || !p.segments[leading..].iter().any(confed)
}

/// Encodes `msg` with `ctx` and checks that it decodes to `msg` again.
/// `may_grow`: the encoding may legitimately be longer than what was
/// decoded (an UPDATE whose AS numbers get wider, or that gains an
/// AS4_PATH).
fn round_trip(msg: &Message, ctx: &Context, may_grow: bool, what: &str) {
    let encoded = msg.to_bytes(ctx);
    if encoded.len() > MAX_MESSAGE_LEN {
        assert!(
            may_grow,
            "{what}: a decoded message encodes to {} octets\n{msg:?}",
            encoded.len()
        );
        return;
    }
    assert_eq!(
        frame(&encoded),
        Ok(Some(encoded.len())),
        "{what}: framing of the re-encoded {msg:?}"
    );
    let again = Message::decode(&encoded, ctx)
        .unwrap_or_else(|e| panic!("{what}: a re-encoded message does not decode: {e}\n{msg:?}"));
    assert_eq!(&again, msg, "{what}: round trip");
    assert_eq!(again.to_bytes(ctx), encoded, "{what}: encoding is stable");
}

fn check_update(u: &Update) {
    let _ = u.is_end_of_rib();
    let announced = u.announced().count();
    let withdrawn = u.withdrawn_all().count();
    if u.treat_as_withdraw.is_some() {
        assert!(
            withdrawn >= announced,
            "treat-as-withdraw withdraws what is announced"
        );
    }
}

fn check_message(bytes: &[u8]) {
    let framed = frame(bytes);
    for ctx in &CONTEXTS {
        let decoded = Message::decode(bytes, ctx);
        if let Ok(Some(len)) = framed {
            assert_eq!(
                Message::decode(&bytes[..len], ctx),
                decoded,
                "octets after the message change its decoding"
            );
        }
        let Ok(msg) = decoded else {
            continue;
        };
        assert!(
            matches!(framed, Ok(Some(_))),
            "decoded what frame refuses: {framed:?}"
        );
        let Message::Update(u) = &msg else {
            round_trip(&msg, ctx, false, "same context");
            continue;
        };
        check_update(u);
        if u.treat_as_withdraw.is_some() {
            // Must not panic; the value need not survive.
            let encoded = msg.to_bytes(ctx);
            if let Ok(Message::Update(again)) = Message::decode(&encoded, ctx) {
                check_update(&again);
            }
            continue;
        }
        if ctx.four_octet_as || survives_as4_path(u) {
            round_trip(&msg, ctx, !ctx.four_octet_as, "same context");
        }
        if !ctx.four_octet_as {
            round_trip(&msg, &CONTEXTS[1], true, "2-octet decode, 4-octet encode");
        } else if fits_two_octets(u) {
            round_trip(&msg, &CONTEXTS[0], false, "4-octet decode, 2-octet encode");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_message(data);
    // The same octets behind a valid header of the right length.
    if data.len() >= HEADER_LEN && data.len() <= MAX_MESSAGE_LEN {
        let mut fixed = data.to_vec();
        fixed[..16].copy_from_slice(&MARKER);
        let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
        fixed[16..18].copy_from_slice(&len.to_be_bytes());
        if fixed != data {
            check_message(&fixed);
        }
    }
    // A stream of messages, as a session reads it.
    let mut rest = data;
    while let Ok(Some(len)) = frame(rest) {
        for ctx in &CONTEXTS {
            let _ = Message::decode(&rest[..len], ctx);
        }
        rest = &rest[len..];
    }
});
