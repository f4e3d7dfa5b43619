//! What the flood senders (`espflood`, `ikeflood`, `udpblast`) share: their
//! `--flag value` command lines and a cheap random stream.

/// The command line's `--flag value` pairs, in order.
pub fn flag_pairs() -> Result<Vec<(String, String)>, String> {
    pairs(std::env::args().skip(1))
}

/// `--flag value` pairs of `args`, in order.
pub fn pairs(mut args: impl Iterator<Item = String>) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    while let Some(flag) = args.next() {
        let v = args.next().ok_or(format!("{flag} needs a value"))?;
        pairs.push((flag, v));
    }
    Ok(pairs)
}

/// A small xorshift: the garbage need not be good randomness, only cheap.
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
