//! The canonical byte layouts' reader and writer.
//!
//! Integers are fixed-width little-endian; counts are `u32`. A [`Reader`]
//! checks every length and count against the bytes that remain before it
//! allocates anything, and [`decode_exact`] refuses trailing bytes, so a
//! hostile length prefix costs nothing and every value has one encoding.

use thiserror::Error;

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended inside a field.
    #[error("truncated: {what} needs {needed} bytes, {remaining} left")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// Bytes were left after a complete value.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// A count or length is larger than the limit, or than the bytes left
    /// could possibly hold.
    #[error("{what} count {count} exceeds the limit of {max}")]
    CountTooLarge {
        /// What was counted.
        what: &'static str,
        /// The count read.
        count: u64,
        /// The largest count allowed here.
        max: u64,
    },
    /// A field holds a value the layout does not allow.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Appends canonical fields to a buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Writer { buf: Vec::with_capacity(capacity) }
    }

    /// Appends a `u8`.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Appends a little-endian `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a little-endian `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a little-endian `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a little-endian `i64`.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends raw bytes (fixed-size fields).
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// Appends a collection count as `u32`.
    ///
    /// # Panics
    /// Never for values the protocol can hold: every collection is bounded far
    /// below `u32::MAX` before it is encoded. A larger count is a programming
    /// error, so it saturates rather than wraps (and then fails to decode).
    pub fn count(&mut self, n: usize) -> &mut Self {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Appends a `u16`-length-prefixed UTF-8 string (at most 65,535 bytes;
    /// longer strings are cut at a character boundary, which genesis
    /// validation prevents from happening).
    pub fn str16(&mut self, s: &str) -> &mut Self {
        let mut end = s.len().min(u16::MAX as usize);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.u16(end as u16).bytes(&s.as_bytes()[..end])
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes written so far, borrowed.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }
}

/// Reads canonical fields from a byte slice, checking lengths first.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { what, needed: n, remaining: self.remaining() });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// Reads a `u8`.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a little-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian `i64`.
    pub fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    /// Reads a `u32` count of elements that each take at least `min_size`
    /// bytes, refusing counts above `max` or above what the remaining bytes
    /// could hold, so that the caller may allocate `count` elements safely.
    pub fn count(
        &mut self,
        what: &'static str,
        max: usize,
        min_size: usize,
    ) -> Result<usize, DecodeError> {
        let count = self.u32(what)? as usize;
        let fits = self.remaining() / min_size.max(1);
        if count > max {
            return Err(DecodeError::CountTooLarge { what, count: count as u64, max: max as u64 });
        }
        if count > fits {
            return Err(DecodeError::Truncated {
                what,
                needed: count.saturating_mul(min_size),
                remaining: self.remaining(),
            });
        }
        Ok(count)
    }

    /// Reads a `u16`-length-prefixed UTF-8 string of at most `max` bytes.
    pub fn str16(&mut self, what: &'static str, max: usize) -> Result<String, DecodeError> {
        let len = self.u16(what)? as usize;
        if len > max {
            return Err(DecodeError::CountTooLarge { what, count: len as u64, max: max as u64 });
        }
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec())
            .map_err(|_| DecodeError::Invalid { what, reason: "not UTF-8".into() })
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// A type with one canonical encoding.
pub trait Canonical: Sized {
    /// Appends the canonical encoding.
    fn encode_to(&self, w: &mut Writer);

    /// Reads one value, leaving the reader after it.
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// The canonical encoding.
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode_to(&mut w);
        w.into_bytes()
    }
}

/// Decodes exactly one value from `bytes`: trailing bytes are an error.
pub fn decode_exact<T: Canonical>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut r = Reader::new(bytes);
    let value = T::decode_from(&mut r)?;
    r.finish()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_little_endian_fixed_width() {
        let mut w = Writer::new();
        w.u8(1).u16(0x0203).u32(0x0405_0607).u64(1).i64(-1);
        assert_eq!(
            w.as_slice(),
            &[1, 3, 2, 7, 6, 5, 4, 1, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255]
        );
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u16("b").unwrap(), 0x0203);
        assert_eq!(r.u32("c").unwrap(), 0x0405_0607);
        assert_eq!(r.u64("d").unwrap(), 1);
        assert_eq!(r.i64("e").unwrap(), -1);
        r.finish().unwrap();
    }

    #[test]
    fn count_larger_than_remaining_bytes_is_refused_before_allocating() {
        let mut w = Writer::new();
        w.u32(u32::MAX);
        let bytes = w.into_bytes();
        let err = Reader::new(&bytes).count("inputs", usize::MAX, 68).unwrap_err();
        assert!(matches!(err, DecodeError::Truncated { what: "inputs", .. }), "{err}");
    }

    #[test]
    fn count_above_limit_is_refused() {
        let mut w = Writer::new();
        w.u32(5).bytes(&[0; 100]);
        let bytes = w.into_bytes();
        let err = Reader::new(&bytes).count("items", 4, 1).unwrap_err();
        assert_eq!(err, DecodeError::CountTooLarge { what: "items", count: 5, max: 4 });
    }

    #[test]
    fn truncated_and_trailing_are_reported() {
        let mut r = Reader::new(&[1, 2]);
        assert!(matches!(r.u32("x"), Err(DecodeError::Truncated { needed: 4, remaining: 2, .. })));
        let r = Reader::new(&[1, 2]);
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes(2)));
    }

    #[test]
    fn str16_round_trip_and_bad_utf8() {
        let mut w = Writer::new();
        w.str16("héllo");
        let bytes = w.into_bytes();
        assert_eq!(Reader::new(&bytes).str16("s", 100).unwrap(), "héllo");
        assert!(Reader::new(&bytes).str16("s", 3).is_err());
        let bad = [2u8, 0, 0xff, 0xfe];
        assert!(matches!(Reader::new(&bad).str16("s", 10), Err(DecodeError::Invalid { .. })));
    }
}
