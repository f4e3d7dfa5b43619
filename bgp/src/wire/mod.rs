//! BGP-4 messages on the wire (RFC 4271 §4), with capabilities (RFC 5492),
//! 4-octet AS numbers (RFC 6793), multiprotocol NLRI (RFC 4760), route
//! refresh (RFC 2918) and revised UPDATE error handling (RFC 7606).
//!
//! [`frame`] finds one message in a TCP byte stream; [`Message::decode`]
//! parses it; [`Message::encode`] writes one. Decoding never panics: every
//! failure is a [`WireError`] that names the NOTIFICATION the peer gets
//! (RFC 4271 §6), except for UPDATE errors that RFC 7606 lets us survive,
//! which come back inside the [`Update`] as `treat_as_withdraw`.

mod attrs;
mod nlri;
mod notification;
mod open;
mod reader;
mod update;

pub use attrs::{attr_type, flag, AsPath, AsSegment, Origin, PathAttributes, RawAttribute};
pub use nlri::{encoded_len as nlri_len, Afi, Safi};
pub use notification::{cease, Notification, NotificationCode};
pub use open::{Capability, Open, AS_TRANS};
pub use reader::Reader;
pub use update::{MpReach, MpUnreach, Update};

/// RFC 4271 §4.1: a message is at least the 19-octet header and at most
/// 4,096 octets (we do not negotiate RFC 8654 extended messages).
pub const HEADER_LEN: usize = 19;
pub const MAX_MESSAGE_LEN: usize = 4096;
pub const MARKER: [u8; 16] = [0xff; 16];

/// Message type codes (RFC 4271 §4.1, RFC 2918 §3).
pub mod msg_type {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const NOTIFICATION: u8 = 3;
    pub const KEEPALIVE: u8 = 4;
    pub const ROUTE_REFRESH: u8 = 5;
}

/// What the decoder needs to know about the session.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// Both sides sent the 4-octet AS capability: AS_PATH carries 4-octet
    /// AS numbers (RFC 6793 §4.1).
    pub four_octet_as: bool,
}

/// A decoding failure, already shaped as the NOTIFICATION to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub code: NotificationCode,
    pub subcode: u8,
    pub data: Vec<u8>,
    pub reason: &'static str,
}

impl WireError {
    pub fn new(code: NotificationCode, subcode: u8, reason: &'static str) -> Self {
        Self {
            code,
            subcode,
            data: Vec::new(),
            reason,
        }
    }

    pub fn with_data(mut self, data: &[u8]) -> Self {
        self.data = data.to_vec();
        self
    }

    pub fn notification(&self) -> Notification {
        Notification {
            code: self.code,
            subcode: self.subcode,
            data: self.data.clone(),
        }
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({:?} subcode {})",
            self.reason, self.code, self.subcode
        )
    }
}

impl std::error::Error for WireError {}

/// One BGP message. Messages are short-lived control-plane values, decoded
/// and consumed one at a time, so the UPDATE variant stays unboxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    /// RFC 2918 §3: AFI, SAFI (the middle octet is RFC 7313's subtype).
    RouteRefresh {
        afi: u16,
        subtype: u8,
        safi: u8,
    },
}

/*
 * RFC 4271 §4.1, message header:
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                           Marker (16)                         +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Length               |      Type     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */

/// Finds the first message in `buf`: `Ok(Some(len))` when a whole message
/// of `len` octets is there, `Ok(None)` when more octets are needed.
/// RFC 4271 §6.1: a wrong marker is "Connection Not Synchronized", a length
/// out of range is "Bad Message Length" with the length as data.
pub fn frame(buf: &[u8]) -> Result<Option<usize>, WireError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    if header[..16] != MARKER {
        return Err(WireError::new(
            NotificationCode::MessageHeader,
            1,
            "connection not synchronized (bad marker)",
        ));
    }
    let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(
            WireError::new(NotificationCode::MessageHeader, 2, "bad message length")
                .with_data(&header[16..18]),
        );
    }
    Ok((buf.len() >= len).then_some(len))
}

impl Message {
    /// Decodes one whole message (as found by [`frame`]).
    pub fn decode(msg: &[u8], ctx: &Context) -> Result<Message, WireError> {
        let len = frame(msg)?.ok_or(WireError::new(
            NotificationCode::MessageHeader,
            2,
            "truncated message",
        ))?;
        let kind = msg[18];
        let body = msg.get(HEADER_LEN..len).unwrap_or_default();
        let bad_len = || {
            WireError::new(NotificationCode::MessageHeader, 2, "bad message length")
                .with_data(&msg[16..18])
        };
        match kind {
            msg_type::OPEN => {
                if len < 29 {
                    return Err(bad_len());
                }
                Open::decode(body).map(Message::Open)
            }
            msg_type::UPDATE => {
                if len < 23 {
                    return Err(bad_len());
                }
                Update::decode(body, ctx).map(Message::Update)
            }
            msg_type::NOTIFICATION => {
                if len < 21 {
                    return Err(bad_len());
                }
                Ok(Message::Notification(Notification::decode(body)))
            }
            msg_type::KEEPALIVE => {
                if len != HEADER_LEN {
                    return Err(bad_len());
                }
                Ok(Message::Keepalive)
            }
            msg_type::ROUTE_REFRESH => {
                // RFC 7313 §5: a wrong length is a ROUTE-REFRESH error.
                let b: [u8; 4] = body.try_into().map_err(|_| {
                    WireError::new(
                        NotificationCode::RouteRefresh,
                        1,
                        "invalid ROUTE-REFRESH length",
                    )
                    .with_data(body)
                })?;
                Ok(Message::RouteRefresh {
                    afi: u16::from_be_bytes([b[0], b[1]]),
                    subtype: b[2],
                    safi: b[3],
                })
            }
            _ => Err(
                WireError::new(NotificationCode::MessageHeader, 3, "bad message type")
                    .with_data(&[kind]),
            ),
        }
    }

    /// Encodes the message into `out` (appending), filling in the header.
    pub fn encode(&self, ctx: &Context, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&[0, 0, self.type_code()]);
        match self {
            Message::Open(o) => o.encode(out),
            Message::Update(u) => u.encode(ctx, out),
            Message::Notification(n) => n.encode(out),
            Message::Keepalive => {}
            Message::RouteRefresh { afi, subtype, safi } => {
                out.extend_from_slice(&afi.to_be_bytes());
                out.extend_from_slice(&[*subtype, *safi]);
            }
        }
        let len = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
        out[start + 16..start + 18].copy_from_slice(&len.to_be_bytes());
    }

    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(ctx, &mut v);
        v
    }

    pub fn type_code(&self) -> u8 {
        match self {
            Message::Open(_) => msg_type::OPEN,
            Message::Update(_) => msg_type::UPDATE,
            Message::Notification(_) => msg_type::NOTIFICATION,
            Message::Keepalive => msg_type::KEEPALIVE,
            Message::RouteRefresh { .. } => msg_type::ROUTE_REFRESH,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_round_trip() {
        let b = Message::Keepalive.to_bytes(&Context::default());
        assert_eq!(b.len(), 19);
        assert_eq!(frame(&b), Ok(Some(19)));
        assert_eq!(
            Message::decode(&b, &Context::default()),
            Ok(Message::Keepalive)
        );
    }

    #[test]
    fn framing_errors_name_the_notification() {
        let mut b = Message::Keepalive.to_bytes(&Context::default());
        assert_eq!(frame(&b[..10]), Ok(None));
        b[0] = 0;
        assert_eq!(frame(&b).unwrap_err().subcode, 1);
        b[0] = 0xff;
        b[17] = 18;
        let e = frame(&b).unwrap_err();
        assert_eq!(
            (e.code, e.subcode, e.data.clone()),
            (NotificationCode::MessageHeader, 2, vec![0, 18])
        );
        b[17] = 20;
        b.push(0);
        assert_eq!(
            Message::decode(&b, &Context::default())
                .unwrap_err()
                .subcode,
            2
        );
        b[18] = 9;
        assert_eq!(
            Message::decode(&b, &Context::default()).unwrap_err().data,
            vec![9]
        );
    }
}
