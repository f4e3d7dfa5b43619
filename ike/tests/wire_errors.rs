//! Unknown payloads (RFC 7296 §2.5) and malformed input, each mapped to
//! the error, and the Notify, it deserves.

use ike::wire::{
    decode_payload_chain, encode_payload_chain, ExchangeType, FixedHeader, Flags, Header, Message,
    Nonce, Notify, NotifyType, Payload, PayloadType, UnknownPayload, VendorId, WireError,
};

const SA_INIT_REQUEST: &[u8] = include_bytes!("fixtures/wire/ike_sa_init_request.bin");
const AUTH_REQUEST_INNER: &[u8] = include_bytes!("fixtures/wire/ike_auth_request_inner.bin");

fn header() -> Header {
    Header::new(
        0x0102_0304_0506_0708,
        0,
        ExchangeType::IkeSaInit,
        Flags::new(true, false),
        0,
    )
}

fn unknown(payload_type: u8, critical: bool) -> Payload {
    Payload::Unknown(UnknownPayload {
        payload_type,
        critical,
        data: vec![0xab; 6],
    })
}

fn nonce() -> Payload {
    Payload::Nonce(Nonce(vec![1; 16]))
}

#[test]
fn non_critical_unknown_payload_is_kept_and_re_encoded() {
    let msg = Message::new(
        header(),
        vec![unknown(200, false), nonce(), unknown(49, false)],
    );
    let bytes = msg.encode().unwrap();
    assert_eq!(bytes[16], 200);
    assert_eq!(&bytes[28..32], &[40, 0, 0, 10]);
    let decoded = Message::decode(&bytes).unwrap();
    assert_eq!(decoded, msg);
    assert_eq!(
        decoded.payloads[0].payload_type(),
        PayloadType::Unknown(200)
    );
    assert_eq!(decoded.encode().unwrap(), bytes);
}

#[test]
fn critical_unknown_payload_is_rejected_with_its_type() {
    let msg = Message::new(header(), vec![nonce(), unknown(200, true)]);
    let bytes = msg.encode().unwrap();
    assert_eq!(bytes[28 + 20 + 1], 0x80, "critical bit on the wire");
    let err = Message::decode(&bytes).unwrap_err();
    assert_eq!(err, WireError::UnsupportedCriticalPayload(200));
    assert_eq!(err.notify_type(), NotifyType::UnsupportedCriticalPayload);
    let notify = Notify::from(err);
    assert_eq!(notify.data, [200]);
    assert_eq!(notify.unsupported_payload_type(), Some(200));

    // Inside SK as well.
    let (first, inner) = encode_payload_chain(&[unknown(77, true)]).unwrap();
    assert_eq!(
        decode_payload_chain(first, &inner),
        Err(WireError::UnsupportedCriticalPayload(77))
    );
}

#[test]
fn critical_bit_on_a_known_payload_is_ignored() {
    let mut bytes = SA_INIT_REQUEST.to_vec();
    bytes[29] = 0x80 | 0x7f; // SA: critical and all RESERVED bits set
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(msg, Message::decode(SA_INIT_REQUEST).unwrap());
    assert_eq!(msg.encode().unwrap(), SA_INIT_REQUEST);
}

#[test]
fn major_version() {
    for (octet, major) in [(0x10u8, 1u8), (0x30, 3), (0xf0, 15)] {
        let mut bytes = SA_INIT_REQUEST.to_vec();
        bytes[17] = octet;
        let err = Message::decode(&bytes).unwrap_err();
        assert_eq!(err, WireError::BadMajorVersion(major));
        assert_eq!(err.notify_type(), NotifyType::InvalidMajorVersion);
        // The header alone can still be read to answer.
        let fixed = FixedHeader::decode_prefix(&bytes).unwrap();
        assert_eq!(fixed.header.major_version, major);
        assert_eq!(fixed.header.spi_i, 0xe982_2850_df6f_8b30);
    }
    // The minor version is ignored, but kept.
    let mut bytes = SA_INIT_REQUEST.to_vec();
    bytes[17] = 0x21;
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(msg.header.minor_version, 1);
    assert_eq!(msg.encode().unwrap(), bytes);
}

#[test]
fn header_length_must_match_the_datagram() {
    let mut longer = SA_INIT_REQUEST.to_vec();
    longer.push(0);
    assert_eq!(Message::decode(&longer), Err(WireError::BadLength));
    let shorter = &SA_INIT_REQUEST[..SA_INIT_REQUEST.len() - 1];
    assert_eq!(Message::decode(shorter), Err(WireError::BadLength));
    assert_eq!(
        Message::decode(&SA_INIT_REQUEST[..27]),
        Err(WireError::Truncated)
    );
    assert_eq!(Message::decode(&[]), Err(WireError::Truncated));
    assert!(FixedHeader::decode_prefix(&SA_INIT_REQUEST[..27]).is_err());
}

/// Re-frames `payload_octets` as the body of an IKE_SA_INIT message whose
/// first payload is `first`, with a correct header Length.
fn frame(first: u8, payload_octets: &[u8]) -> Vec<u8> {
    let mut bytes = SA_INIT_REQUEST[..28].to_vec();
    bytes[16] = first;
    bytes.extend_from_slice(payload_octets);
    let length = u32::try_from(bytes.len()).unwrap();
    bytes[24..28].copy_from_slice(&length.to_be_bytes());
    bytes
}

#[test]
fn payload_framing_errors() {
    let vid = |next: u8, length: u16, body: &[u8]| {
        let mut p = vec![next, 0];
        p.extend_from_slice(&length.to_be_bytes());
        p.extend_from_slice(body);
        p
    };
    // Well-formed: one Vendor ID.
    let ok = frame(43, &vid(0, 7, b"abc"));
    assert_eq!(
        Message::decode(&ok).unwrap().payloads,
        [Payload::VendorId(VendorId(b"abc".to_vec()))]
    );
    // Payload Length below the generic header.
    assert_eq!(
        Message::decode(&frame(43, &vid(0, 3, b"abc"))),
        Err(WireError::BadLength)
    );
    // Payload Length past the end of the message.
    assert_eq!(
        Message::decode(&frame(43, &vid(0, 8, b"abc"))),
        Err(WireError::Truncated)
    );
    // Octets after the last payload.
    assert_eq!(
        Message::decode(&frame(43, &vid(0, 6, b"abc"))),
        Err(WireError::TrailingBytes)
    );
    // Next Payload promises another payload that is not there.
    assert_eq!(
        Message::decode(&frame(43, &vid(43, 7, b"abc"))),
        Err(WireError::Truncated)
    );
    // No payload at all, but octets.
    assert_eq!(
        Message::decode(&frame(0, b"abcd")),
        Err(WireError::TrailingBytes)
    );
    // SK followed by another payload.
    let mut sk_then_vid = vid(43, 8, &[0; 4]);
    sk_then_vid.extend(vid(0, 7, b"abc"));
    assert_eq!(
        Message::decode(&frame(46, &sk_then_vid)),
        Err(WireError::InvalidSyntax("Encrypted payload is not last"))
    );
    // SK inside SK.
    assert_eq!(
        decode_payload_chain(PayloadType::Encrypted, &vid(0, 8, &[0; 4])),
        Err(WireError::InvalidSyntax("Encrypted payload inside SK"))
    );
    // Trailing octets after a decrypted chain.
    let mut inner = AUTH_REQUEST_INNER.to_vec();
    inner.push(0);
    assert_eq!(
        decode_payload_chain(PayloadType::IdI, &inner),
        Err(WireError::TrailingBytes)
    );
}

/// Decodes a one-payload message whose body is `body`.
fn body(payload_type: u8, body: &[u8]) -> Result<Message, WireError> {
    let mut p = vec![0, 0];
    p.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
    p.extend_from_slice(body);
    Message::decode(&frame(payload_type, &p))
}

#[test]
fn body_errors() {
    let syntax = |what| Err(WireError::InvalidSyntax(what));
    // Nonce of 15 and 257 octets.
    assert_eq!(
        body(40, &[0; 15]),
        syntax("Nonce Data outside 16..=256 octets")
    );
    assert_eq!(
        body(40, &[0; 257]),
        syntax("Nonce Data outside 16..=256 octets")
    );
    // Proposal with a bad Last Substruc, an SPI Size of 3, a transform
    // count that disagrees with the transforms' Last Substruc.
    let proposal = |last: u8, spi_size: u8, num: u8, transforms: &[u8]| {
        let mut p = vec![last, 0, 0, 0, 1, 1, spi_size, num];
        p.extend(vec![0xcc; usize::from(spi_size)]);
        p.extend_from_slice(transforms);
        let len = u16::try_from(p.len()).unwrap().to_be_bytes();
        p[2..4].copy_from_slice(&len);
        p
    };
    let encr = [0, 0, 0, 8, 1, 0, 0, 12];
    let more_encr = [3, 0, 0, 8, 1, 0, 0, 12];
    assert!(body(33, &proposal(0, 0, 1, &encr)).is_ok());
    assert_eq!(
        body(33, &proposal(1, 0, 1, &encr)),
        syntax("proposal Last Substruc")
    );
    assert_eq!(body(33, &proposal(0, 3, 1, &encr)), syntax("SPI Size"));
    assert_eq!(
        body(33, &proposal(0, 0, 1, &more_encr)),
        syntax("transform Last Substruc")
    );
    assert_eq!(
        body(33, &proposal(0, 0, 2, &encr)),
        syntax("transform Last Substruc")
    );
    assert_eq!(
        body(33, &proposal(0, 0, 0, &encr)),
        Err(WireError::TrailingBytes)
    );
    assert_eq!(
        body(33, &proposal(2, 0, 1, &encr)),
        Err(WireError::Truncated)
    );
    assert_eq!(body(33, &[]), Err(WireError::Truncated));
    // Key Length in TLV format.
    let tlv_key_length = [0, 0, 0, 14, 1, 0, 0, 12, 0, 14, 0, 2, 1, 0];
    assert_eq!(
        body(33, &proposal(0, 0, 1, &tlv_key_length)),
        syntax("Key Length attribute not in TV format")
    );
    // Transform Length too small.
    assert_eq!(
        body(33, &proposal(0, 0, 1, &[0, 0, 0, 4, 1, 0, 0, 12])),
        Err(WireError::BadLength)
    );
    // IPv4 ID of 5 octets.
    assert_eq!(
        body(35, &[1, 0, 0, 0, 10, 0, 0, 1, 9]),
        syntax("IP address identification length")
    );
    // IPv4 selector with a Selector Length of 40; one selector announced,
    // two present.
    let ts4 = [7, 0, 0, 16, 0, 0, 255, 255, 10, 0, 0, 0, 10, 0, 0, 255];
    let mut bad_len = ts4;
    bad_len[3] = 40;
    let ts_payload = |num: u8, selectors: &[&[u8]]| {
        let mut p = vec![num, 0, 0, 0];
        selectors.iter().for_each(|s| p.extend_from_slice(s));
        p
    };
    assert!(body(44, &ts_payload(1, &[&ts4])).is_ok());
    assert_eq!(
        body(44, &ts_payload(1, &[&bad_len])),
        Err(WireError::BadLength)
    );
    assert_eq!(
        body(44, &ts_payload(1, &[&ts4, &ts4])),
        Err(WireError::TrailingBytes)
    );
    assert_eq!(body(44, &ts_payload(2, &[&ts4])), Err(WireError::Truncated));
    // Delete: IKE with SPIs, ESP with an 8-octet SPI Size.
    assert_eq!(body(42, &[1, 0, 0, 1]), syntax("IKE SA Delete with SPIs"));
    assert_eq!(body(42, &[3, 8, 0, 0]), syntax("Delete SPI Size"));
    assert_eq!(body(42, &[3, 4, 0, 1, 1, 2, 3]), Err(WireError::Truncated));
    // SKF numbering.
    assert_eq!(
        body(53, &[0, 0, 0, 1]),
        syntax("SKF Fragment Number outside 1..=Total Fragments")
    );
    assert_eq!(
        body(53, &[0, 3, 0, 2]),
        syntax("SKF Fragment Number outside 1..=Total Fragments")
    );
    // Notify with an SPI Size the SPI does not fill.
    assert_eq!(
        body(41, &[3, 4, 0x40, 0x09, 1, 2]),
        Err(WireError::Truncated)
    );
}

#[test]
fn errors_map_to_invalid_syntax() {
    for err in [
        WireError::Truncated,
        WireError::BadLength,
        WireError::TrailingBytes,
        WireError::InvalidSyntax("x"),
    ] {
        assert_eq!(err.notify_type(), NotifyType::InvalidSyntax);
        assert!(err.to_notify().data.is_empty());
        assert!(err.notify_type().is_error());
    }
    assert!(!NotifyType::InitialContact.is_error());
}
