//! ESP (RFC 4303) in tunnel mode, sans-IO.
//!
//! This crate holds the security associations of vwand's data plane. It
//! takes packets in caller-owned buffers and `now`, and returns ranges into
//! those buffers, drop reasons and events. It opens no socket, reads no
//! clock and allocates nothing per packet.
//!
//! - [`OutboundSa::encapsulate`] wraps an inner IP packet in place;
//! - [`InboundSad::decapsulate`] finds the SA by SPI, checks replay, verifies
//!   and decrypts in place;
//! - lifetimes and sequence exhaustion surface as [`SaEvent`]s.
//!
//! Transforms: AES-GCM-16 (RFC 4106), ChaCha20-Poly1305 (RFC 7634), and
//! AES-CBC (RFC 3602) with HMAC-SHA2 (RFC 4868); extended sequence numbers
//! (RFC 4303 §2.2.1); an RFC 6479 anti-replay window.

#![forbid(unsafe_code)]

mod algorithm;
mod cipher;
mod key;
mod lifetime;
pub mod replay;
mod sa;
mod sad;
mod selector;
mod stats;

pub use algorithm::{Encryption, Integrity, Transform, UnknownTransform, TRANSFORM_NAMES};
pub use cipher::KeyError;
pub use key::{HexError, SecretBytes};
pub use lifetime::{Lifetime, LimitKind, Limits};
pub use replay::{ReplayError, ReplayWindow};
pub use sa::{
    next_header, Decapsulated, DropReason, EncapError, InboundSa, OutboundSa, SaParams,
    MAX_HEADROOM, MAX_TAILROOM,
};
pub use sad::{DuplicateSpi, InboundSad};
pub use selector::{Selector, Selectors};
pub use stats::{InboundStats, OutboundStats, SaEvent, SaEventKind, SadStats};
