//! Secret key material: zeroized on drop, never printed.

use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes of a secret (an ESP key, a PSK). `Debug` prints only the length,
/// and the bytes are overwritten when the value is dropped.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Parses hex (an optional `0x` prefix, `:` separators allowed), without
    /// ever echoing the input in the error.
    pub fn from_hex(text: &str) -> Result<Self, HexError> {
        let text = text.trim();
        let text = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        let mut digits = Vec::with_capacity(text.len());
        for (i, c) in text.chars().enumerate() {
            match c {
                ':' => {}
                c if c.is_ascii_hexdigit() => digits.push(c as u8),
                _ => {
                    digits.zeroize();
                    return Err(HexError::BadDigit { position: i });
                }
            }
        }
        if digits.len() % 2 != 0 {
            digits.zeroize();
            return Err(HexError::OddLength);
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => c - b'A' + 10,
        };
        let bytes = digits
            .chunks_exact(2)
            .map(|p| (nibble(p[0]) << 4) | nibble(p[1]))
            .collect();
        digits.zeroize();
        Ok(Self(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexError {
    BadDigit { position: usize },
    OddLength,
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::BadDigit { position } => {
                write!(f, "not a hex digit at character {position}")
            }
            HexError::OddLength => f.write_str("odd number of hex digits"),
        }
    }
}

impl std::error::Error for HexError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms() {
        assert_eq!(
            SecretBytes::from_hex("0x0aFF").unwrap().expose(),
            &[10, 255]
        );
        assert_eq!(SecretBytes::from_hex("0a:ff").unwrap().expose(), &[10, 255]);
        assert_eq!(
            SecretBytes::from_hex("0g").unwrap_err(),
            HexError::BadDigit { position: 1 }
        );
        assert_eq!(
            SecretBytes::from_hex("abc").unwrap_err(),
            HexError::OddLength
        );
    }

    #[test]
    fn debug_redacts() {
        let s = SecretBytes::from_hex("deadbeef").unwrap();
        assert_eq!(format!("{s:?}"), "SecretBytes(<4 bytes redacted>)");
    }
}
