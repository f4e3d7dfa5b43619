//! BGP-4 speaker (RFC 4271), sans-IO. Arrives with the BGP issue.
