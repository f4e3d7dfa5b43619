//! IKEv2 wire format (RFC 7296 §3).
//!
//! This module turns datagrams into typed messages and back. It performs no
//! IO and no cryptography: the Encrypted payload (SK, §3.14) and the
//! Encrypted Fragment payload (SKF, RFC 7383 §2.5) are kept as opaque octets,
//! and the crypto layer decrypts them and hands the plaintext back to
//! [`decode_payload_chain`].
//!
//! # Entry points
//!
//! - [`Message::decode`] parses one IKE message (without the four-octet
//!   non-ESP marker used on UDP port 4500, see [`split_non_esp_marker`]). It
//!   is the single entry point a fuzzer needs: it never panics, whatever the
//!   input.
//! - [`Message::encode`] writes a message, filling in every Next Payload and
//!   length field itself.
//! - [`decode_payload_chain`] and [`encode_payload_chain`] handle the inner
//!   payloads of an SK payload.
//! - [`EncryptedLayout`] locates, in a raw datagram, the octets that the SK
//!   payload's integrity check or AEAD associated data covers.
//! - [`FixedHeader::decode_prefix`] reads only the 28-octet IKE header, so
//!   that a responder can answer a message it cannot parse (for instance
//!   with INVALID_MAJOR_VERSION).
//!
//! # Errors
//!
//! Every decoding failure is a [`WireError`], which
//! [`WireError::notify_type`] maps onto the Notify a peer should receive
//! (RFC 7296 §2.21). Encoding failures are [`EncodeError`]s: they are local
//! bugs, never the peer's fault.
//!
//! # Strictness
//!
//! Decoding is strict about framing: every length must agree with its
//! container, every structure must be consumed in full, counts must match
//! what follows, and a critical payload of an unknown type rejects the
//! message. Semantic checks (which payloads an exchange needs, proposal
//! numbering, ID and key sizes) belong to the state machine. RESERVED fields
//! are ignored on receipt and sent as zero, except where noted (the
//! Identification payload keeps them because AUTH signs them). Codepoints
//! this module does not know are kept (`Unknown(..)` variants) so that they
//! can be passed along or reported.
//!
//! Re-encoding a decoded message reproduces it octet for octet, except for
//! bits RFC 7296 says to ignore on receipt (the critical bit and RESERVED
//! bits of known payloads, RESERVED octets, the R bit of configuration
//! attributes). AUTH signs the IKE_SA_INIT messages as they were sent, so
//! keep the received octets for that rather than re-encoding.

// Peer input must never panic this module.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::arithmetic_side_effects,
    missing_docs
)]

#[macro_use]
mod registry;

mod codec;
mod cp;
mod encrypted;
mod error;
mod header;
mod id;
mod message;
mod notify;
mod payload;
mod sa;
mod simple;
pub mod summary;
mod transform;
mod ts;

pub use codec::{Codec, Reader};
pub use cp::{CfgAttributeType, CfgType, ConfigAttribute, Configuration};
pub use encrypted::{Encrypted, EncryptedFragment, EncryptedLayout};
pub use error::{EncodeError, WireError};
pub use header::{ExchangeType, FixedHeader, Flags, Header, IKEV2_MAJOR_VERSION};
pub use id::{Auth, AuthMethod, Cert, CertEncoding, CertReq, IdType, Identification};
pub use message::{split_non_esp_marker, Message, NON_ESP_MARKER};
pub use notify::{Delete, Notify, NotifyType};
pub use payload::{
    decode_payload_chain, encode_payload_chain, Payload, PayloadType, UnknownPayload,
};
pub use registry::ProtocolId;
pub use sa::{Proposal, Sa, Spi};
pub use simple::{Eap, KeyExchange, Nonce, VendorId};
pub use transform::{
    Attribute, AttributeValue, DhGroup, EncrId, EsnId, IntegId, PrfId, Transform, TransformId,
    TransformType,
};
pub use ts::{AddressRange, TrafficSelector, TrafficSelectors, TsType};
