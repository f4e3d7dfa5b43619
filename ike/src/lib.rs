//! IKEv2 (RFC 7296), sans-IO.
//!
//! - [`wire`]: messages and payloads as bytes (RFC 7296 §3);
//! - [`endpoint`]: every tunnel's IKE SAs behind one set of sockets:
//!   routing by SPI, new SAs, retries, liveness and failover;
//! - [`sa`]: one IKE SA and its Child SAs;
//! - [`crypto`]: PRFs, key derivation, Diffie-Hellman groups and the SK
//!   payload's protection, behind an injectable provider.

#![forbid(unsafe_code)]

pub mod crypto;
pub mod endpoint;
pub mod sa;
pub mod wire;
