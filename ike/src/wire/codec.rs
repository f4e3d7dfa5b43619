//! The [`Codec`] trait, the [`Reader`] cursor, and helpers for length
//! fields that are filled in after their contents are written.

use super::error::{EncodeError, WireError};

/// A value with one wire form.
///
/// `read` consumes exactly the value's octets from a [`Reader`]; for a
/// payload body the reader spans exactly the body, so a body type may take
/// "the rest". [`Codec::decode`] refuses trailing octets.
pub trait Codec: Sized {
    /// Appends the wire form to `out`.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError>;

    /// Reads one value from `r`.
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError>;

    /// Decodes a value that fills `bytes` exactly.
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let value = Self::read(&mut r)?;
        r.finish()?;
        Ok(value)
    }

    /// Encodes into a fresh buffer.
    fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }
}

/// A cursor over peer input. Every accessor checks bounds and reports
/// [`WireError::Truncated`] instead of panicking.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Octets not yet read.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Reads the next `n` octets.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(WireError::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    /// Reads the next `N` octets as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| WireError::Truncated)
    }

    /// Reads one octet.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian 16-bit integer.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian 32-bit integer.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian 64-bit integer.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Splits off a reader over the next `n` octets.
    pub fn sub(&mut self, n: usize) -> Result<Reader<'a>, WireError> {
        Ok(Reader::new(self.take(n)?))
    }

    /// Reads everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// Succeeds only if everything has been read.
    pub fn finish(self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }
}

/// Reads a length field that counts its own structure, including the
/// `fixed` octets already read (the field itself and what precedes it), and
/// returns a reader over the rest of the structure.
///
/// A length smaller than `min` is [`WireError::BadLength`]; a length that
/// runs past the container is [`WireError::Truncated`].
pub(crate) fn read_inclusive<'a>(
    r: &mut Reader<'a>,
    length: u16,
    fixed: usize,
    min: usize,
) -> Result<Reader<'a>, WireError> {
    let length = usize::from(length);
    if length < min {
        return Err(WireError::BadLength);
    }
    let body = length.checked_sub(fixed).ok_or(WireError::BadLength)?;
    r.sub(body)
}

/// Appends a zeroed 16-bit placeholder and returns its offset, for
/// [`patch_u16_length`].
pub(crate) fn u16_placeholder(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    at
}

/// Writes `out.len() - start` into the 16-bit field at `at`.
pub(crate) fn patch_u16_length(
    out: &mut [u8],
    at: usize,
    start: usize,
    what: &'static str,
) -> Result<(), EncodeError> {
    let length = out.len().saturating_sub(start);
    let length = u16::try_from(length).map_err(|_| EncodeError::TooLong(what))?;
    patch(out, at, &length.to_be_bytes(), what)
}

/// Writes `out.len() - start` into the 32-bit field at `at`.
pub(crate) fn patch_u32_length(
    out: &mut [u8],
    at: usize,
    start: usize,
    what: &'static str,
) -> Result<(), EncodeError> {
    let length = out.len().saturating_sub(start);
    let length = u32::try_from(length).map_err(|_| EncodeError::TooLong(what))?;
    patch(out, at, &length.to_be_bytes(), what)
}

/// Overwrites `out[at..at + value.len()]`.
pub(crate) fn patch(
    out: &mut [u8],
    at: usize,
    value: &[u8],
    what: &'static str,
) -> Result<(), EncodeError> {
    let end = at
        .checked_add(value.len())
        .ok_or(EncodeError::TooLong(what))?;
    let field = out
        .get_mut(at..end)
        .ok_or(EncodeError::InvalidValue(what))?;
    field.copy_from_slice(value);
    Ok(())
}

/// Converts a count to the width of its wire field.
pub(crate) fn count<T: TryFrom<usize>>(n: usize, what: &'static str) -> Result<T, EncodeError> {
    T::try_from(n).map_err(|_| EncodeError::TooLong(what))
}
