//! IKEv2 (RFC 7296), sans-IO.
//!
//! - [`wire`]: messages and payloads as bytes (RFC 7296 §3);
//! - [`crypto`]: PRFs, key derivation, Diffie-Hellman groups and the SK
//!   payload's protection, behind an injectable provider.

pub mod crypto;
pub mod sa;
pub mod wire;
