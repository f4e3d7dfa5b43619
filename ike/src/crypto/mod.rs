//! IKEv2 cryptography (RFC 7296 §2.13–2.17, §3.14).
