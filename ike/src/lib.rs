//! IKEv2 negotiator (RFC 7296), sans-IO. Arrives with the IKE issue.
