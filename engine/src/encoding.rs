//! The byte primitives the key and row codecs share: big-endian fixed-width
//! integers, LEB128 varints, and a bounds-checked [`Reader`] over bytes that
//! came from storage.
//!
//! Everything read from disk is untrusted: the reader never indexes past
//! the end, never panics, and turns every malformation into
//! [`Error::Corrupt`] naming what was being decoded (`"key"`, `"row"`) and
//! the byte offset where it went wrong.
//!
//! Varints are unsigned LEB128: seven bits per byte, least significant
//! group first, high bit set on every byte but the last. Only the shortest
//! form is accepted, so every value has exactly one encoding and decoded
//! bytes re-encode to themselves.
//!
//! ```text
//!   300 = 0b10_0101100  →  [0xAC, 0x02]
//! ```

use crate::error::{Error, Result};

/// Appends `value` as an unsigned LEB128 varint.
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// The number of bytes [`put_varint`] writes for `value`.
pub(crate) fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// A cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`; `what` names the thing decoded, for errors.
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader {
            bytes,
            pos: 0,
            what,
        }
    }

    /// The offset of the next unread byte.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// A [`Error::Corrupt`] describing `problem` at the current offset.
    pub(crate) fn corrupt(&self, problem: impl std::fmt::Display) -> Error {
        Error::Corrupt(format!(
            "{} of {} bytes: {problem} at byte {}",
            self.what,
            self.bytes.len(),
            self.pos
        ))
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let remaining = self.bytes.len() - self.pos;
        if n > remaining {
            return Err(self.corrupt(format!("need {n} bytes, {remaining} left")));
        }
        let taken = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(taken)
    }

    /// Every byte not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        rest
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32_be(&mut self) -> Result<u32> {
        let mut raw = [0; 4];
        raw.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(raw))
    }

    pub(crate) fn u64_be(&mut self) -> Result<u64> {
        let mut raw = [0; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(raw))
    }

    /// A shortest-form LEB128 varint that fits in a u64.
    pub(crate) fn varint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let group = u64::from(byte & 0x7f);
            if shift == 63 && group > 1 {
                return Err(self.corrupt("varint overflows u64"));
            }
            value |= group << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && self.pos - start > 1 {
                    return Err(self.corrupt("varint not in shortest form"));
                }
                return Ok(value);
            }
        }
        Err(self.corrupt("varint longer than 10 bytes"))
    }

    /// Fails unless every byte has been read.
    pub(crate) fn finish(&self) -> Result<()> {
        match self.bytes.len() - self.pos {
            0 => Ok(()),
            extra => Err(self.corrupt(format!("{extra} trailing bytes"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_round_trips(value: u64) {
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            prop_assert_eq!(buf.len(), varint_len(value));
            let mut reader = Reader::new(&buf, "varint");
            prop_assert_eq!(reader.varint()?, value);
            reader.finish()?;
        }

        #[test]
        fn varint_decodes_only_canonical_bytes(bytes: Vec<u8>) {
            let mut reader = Reader::new(&bytes, "varint");
            if let Ok(value) = reader.varint() {
                let mut buf = Vec::new();
                put_varint(&mut buf, value);
                prop_assert_eq!(&buf[..], &bytes[..reader.pos()]);
            }
        }
    }

    #[test]
    fn varint_rejects_overlong_and_overflowing_forms() {
        for bad in [&[0x80, 0x00][..], &[0xff; 10], &[0xff; 11], &[0x80]] {
            assert!(Reader::new(bad, "varint").varint().is_err(), "{bad:?}");
        }
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&max, "varint").varint().ok(), Some(u64::MAX));
    }
}
