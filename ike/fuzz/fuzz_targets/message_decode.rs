//! Fuzzes the IKE codec, the code every datagram from the network meets
//! first.
//!
//! - `Message::decode` on the whole input. Whatever decodes must encode
//!   again, to the same length (only bits RFC 7296 says to ignore are
//!   normalised), and decode to the same value: the codec promises round
//!   trips. The SK/SKF layout must be locatable in both.
//! - The same on a copy whose header Length is set to the input's, so that
//!   mutations get past the length check without the fuzzer having to
//!   keep four bytes in step.
//! - `decode_payload_chain` on the input after its first byte, with that
//!   byte as the first payload type (what an SK payload's plaintext goes
//!   through), with the same round-trip property.
//! - `FixedHeader::decode_prefix` and the `EncryptedLayout` accessors,
//!   which a responder uses on messages it cannot parse.
//!
//! Nothing may panic.

#![no_main]

use ike::wire::{
    decode_payload_chain, encode_payload_chain, EncryptedLayout, FixedHeader, Message, PayloadType,
};
use libfuzzer_sys::fuzz_target;

fn check_layout(bytes: &[u8]) {
    let _ = FixedHeader::decode_prefix(bytes);
    if let Ok(layout) = EncryptedLayout::locate(bytes) {
        for icv_len in [0, 12, 16, 24, 32, 4096, usize::MAX] {
            let _ = layout.integrity_covered(bytes, icv_len);
            let _ = layout.icv(bytes, icv_len);
        }
        layout
            .aead_associated_data(bytes)
            .expect("a located SK payload has associated data");
        layout
            .encrypted_data(bytes)
            .expect("a located SK payload has encrypted data");
    }
}

fn check_message(bytes: &[u8]) {
    check_layout(bytes);
    let Ok(msg) = Message::decode(bytes) else {
        return;
    };
    let encoded = msg
        .encode()
        .unwrap_or_else(|e| panic!("a decoded message does not encode: {e:?}\n{msg:?}"));
    assert_eq!(encoded.len(), bytes.len(), "re-encoded length of {msg:?}");
    let again = Message::decode(&encoded)
        .unwrap_or_else(|e| panic!("a re-encoded message does not decode: {e:?}\n{msg:?}"));
    assert_eq!(again, msg, "round trip");
    if msg.encrypted().is_some() || msg.encrypted_fragment().is_some() {
        EncryptedLayout::locate(&encoded).expect("the SK payload of a decoded message");
        check_layout(&encoded);
    }
    let _ = msg.notifies().count();
}

fn check_chain(first: u8, bytes: &[u8]) {
    let first = PayloadType::from(first);
    let Ok(payloads) = decode_payload_chain(first, bytes) else {
        return;
    };
    let (first_again, encoded) = encode_payload_chain(&payloads)
        .unwrap_or_else(|e| panic!("a decoded chain does not encode: {e:?}\n{payloads:?}"));
    if !payloads.is_empty() {
        assert_eq!(first_again, first);
    }
    assert_eq!(
        encoded.len(),
        bytes.len(),
        "re-encoded length of {payloads:?}"
    );
    let again = decode_payload_chain(first_again, &encoded)
        .unwrap_or_else(|e| panic!("a re-encoded chain does not decode: {e:?}\n{payloads:?}"));
    assert_eq!(again, payloads, "chain round trip");
}

fuzz_target!(|data: &[u8]| {
    check_message(data);
    if data.len() >= 28 {
        if let Ok(len) = u32::try_from(data.len()) {
            let mut fixed = data.to_vec();
            fixed[24..28].copy_from_slice(&len.to_be_bytes());
            if fixed != data {
                check_message(&fixed);
            }
        }
    }
    if let Some((&first, rest)) = data.split_first() {
        check_chain(first, rest);
    }
});
