//! NOTIFICATION (RFC 4271 §4.5) and its codes.

use super::Reader;

/// Error codes (RFC 4271 §4.5, RFC 6608, RFC 7313; IANA "BGP Error
/// (Notification) Codes": https://www.iana.org/assignments/bgp-parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationCode {
    MessageHeader,
    Open,
    Update,
    HoldTimerExpired,
    Fsm,
    Cease,
    RouteRefresh,
    Unknown(u8),
}

impl NotificationCode {
    pub fn code(self) -> u8 {
        match self {
            Self::MessageHeader => 1,
            Self::Open => 2,
            Self::Update => 3,
            Self::HoldTimerExpired => 4,
            Self::Fsm => 5,
            Self::Cease => 6,
            Self::RouteRefresh => 7,
            Self::Unknown(c) => c,
        }
    }

    pub fn from_code(c: u8) -> Self {
        match c {
            1 => Self::MessageHeader,
            2 => Self::Open,
            3 => Self::Update,
            4 => Self::HoldTimerExpired,
            5 => Self::Fsm,
            6 => Self::Cease,
            7 => Self::RouteRefresh,
            c => Self::Unknown(c),
        }
    }
}

/// Cease subcodes (RFC 4486 §4, RFC 8538).
pub mod cease {
    pub const MAX_PREFIXES: u8 = 1;
    pub const ADMIN_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
    pub const ADMIN_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const OTHER_CONFIG_CHANGE: u8 = 6;
    pub const CONNECTION_COLLISION: u8 = 7;
}

/*
 * RFC 4271 §4.5:
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Error code    | Error subcode |   Data (variable)             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: NotificationCode,
    pub subcode: u8,
    pub data: Vec<u8>,
}

impl Notification {
    pub fn cease(subcode: u8) -> Self {
        Self {
            code: NotificationCode::Cease,
            subcode,
            data: Vec::new(),
        }
    }

    pub(super) fn decode(body: &[u8]) -> Notification {
        let mut r = Reader::new(body);
        let code = NotificationCode::from_code(r.u8().unwrap_or(0));
        let subcode = r.u8().unwrap_or(0);
        Notification {
            code,
            subcode,
            data: r.rest().to_vec(),
        }
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.code.code());
        out.push(self.subcode);
        // Keep the message within 4,096 octets whatever the data.
        let room = super::MAX_MESSAGE_LEN - super::HEADER_LEN - 2;
        out.extend_from_slice(&self.data[..self.data.len().min(room)]);
    }

    /// A readable description for logs, e.g. "Cease/administrative shutdown".
    pub fn describe(&self) -> String {
        let sub = match (self.code, self.subcode) {
            (NotificationCode::MessageHeader, 1) => "connection not synchronized",
            (NotificationCode::MessageHeader, 2) => "bad message length",
            (NotificationCode::MessageHeader, 3) => "bad message type",
            (NotificationCode::Open, 1) => "unsupported version",
            (NotificationCode::Open, 2) => "bad peer AS",
            (NotificationCode::Open, 3) => "bad BGP identifier",
            (NotificationCode::Open, 4) => "unsupported optional parameter",
            (NotificationCode::Open, 6) => "unacceptable hold time",
            (NotificationCode::Open, 7) => "unsupported capability",
            (NotificationCode::Update, 1) => "malformed attribute list",
            (NotificationCode::Update, 2) => "unrecognized well-known attribute",
            (NotificationCode::Update, 4) => "attribute flags error",
            (NotificationCode::Update, 9) => "optional attribute error",
            (NotificationCode::Update, 3) => "missing well-known attribute",
            (NotificationCode::Update, 10) => "invalid network field",
            (NotificationCode::Cease, cease::MAX_PREFIXES) => "maximum number of prefixes reached",
            (NotificationCode::Cease, cease::ADMIN_SHUTDOWN) => "administrative shutdown",
            (NotificationCode::Cease, cease::PEER_DECONFIGURED) => "peer de-configured",
            (NotificationCode::Cease, cease::ADMIN_RESET) => "administrative reset",
            (NotificationCode::Cease, cease::CONNECTION_REJECTED) => "connection rejected",
            (NotificationCode::Cease, cease::OTHER_CONFIG_CHANGE) => "other configuration change",
            (NotificationCode::Cease, cease::CONNECTION_COLLISION) => {
                "connection collision resolution"
            }
            _ => "",
        };
        if sub.is_empty() {
            format!("{:?}/{}", self.code, self.subcode)
        } else {
            format!("{:?}/{sub}", self.code)
        }
    }
}
