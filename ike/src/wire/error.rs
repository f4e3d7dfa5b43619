//! Decoding and encoding errors.
//!
//! A [`WireError`] is always the peer's fault, and maps onto the Notify that
//! RFC 7296 §2.21 asks the responder to send back. An [`EncodeError`] is
//! always ours: a value that cannot be represented on the wire.

use core::fmt;

use super::notify::{Notify, NotifyType};

/// Why a datagram or payload could not be decoded.
///
/// The variants are deliberately coarse: each one maps onto a Notify type
/// ([`WireError::notify_type`]), and nothing more specific can be told to
/// the peer. The `&'static str` in [`WireError::InvalidSyntax`] names the
/// offending field for logs only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The input ended inside a structure: a fixed field, or a length that
    /// claims more octets than its container holds.
    Truncated,
    /// A length field is smaller than the structure's fixed part, or the IKE
    /// header's Length differs from the datagram's length.
    BadLength,
    /// Octets are left over after a structure that should fill its
    /// container exactly (the last payload, a proposal, a selector...).
    TrailingBytes,
    /// A payload of an unknown type has the critical bit set (RFC 7296
    /// §2.5, §3.2). The value is the payload type, which is also the
    /// Notification Data of UNSUPPORTED_CRITICAL_PAYLOAD.
    UnsupportedCriticalPayload(u8),
    /// A field holds a value RFC 7296 does not allow; the string names it.
    InvalidSyntax(&'static str),
    /// The IKE header's major version is not 2 (RFC 7296 §3.1). A greater
    /// version deserves INVALID_MAJOR_VERSION; a smaller one (IKEv1) is
    /// best dropped silently.
    BadMajorVersion(u8),
}

impl WireError {
    /// The Notify type a responder sends for this error (RFC 7296 §3.10.1).
    ///
    /// INVALID_SYNTAX may only be sent inside a message protected by an
    /// established IKE SA whose integrity check passed (RFC 7296 §2.21.2);
    /// errors in unauthenticated messages should usually be dropped
    /// silently, and that decision belongs to the state machine.
    pub fn notify_type(&self) -> NotifyType {
        match self {
            Self::UnsupportedCriticalPayload(_) => NotifyType::UnsupportedCriticalPayload,
            Self::BadMajorVersion(_) => NotifyType::InvalidMajorVersion,
            Self::Truncated | Self::BadLength | Self::TrailingBytes | Self::InvalidSyntax(_) => {
                NotifyType::InvalidSyntax
            }
        }
    }

    /// The Notify payload for this error, including its Notification Data:
    /// the one-octet payload type for UNSUPPORTED_CRITICAL_PAYLOAD, nothing
    /// otherwise (INVALID_MAJOR_VERSION carries the version in the reply's
    /// header, not in the Notify).
    pub fn to_notify(&self) -> Notify {
        let data = match self {
            Self::UnsupportedCriticalPayload(payload_type) => vec![*payload_type],
            _ => Vec::new(),
        };
        Notify::new(self.notify_type(), data)
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("truncated IKE message"),
            Self::BadLength => f.write_str("inconsistent length field"),
            Self::TrailingBytes => f.write_str("trailing octets after a structure"),
            Self::UnsupportedCriticalPayload(t) => {
                write!(f, "unsupported critical payload type {t}")
            }
            Self::InvalidSyntax(what) => write!(f, "invalid syntax: {what}"),
            Self::BadMajorVersion(v) => write!(f, "unsupported IKE major version {v}"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<WireError> for Notify {
    fn from(err: WireError) -> Self {
        err.to_notify()
    }
}

/// Why a value could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// A structure does not fit its length field; the string names it.
    TooLong(&'static str),
    /// A field holds a value that decoding would refuse, so encoding it
    /// would produce a message no peer should accept; the string names it.
    InvalidValue(&'static str),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(what) => write!(f, "{what} too long for its length field"),
            Self::InvalidValue(what) => write!(f, "cannot encode {what}"),
        }
    }
}

impl std::error::Error for EncodeError {}
