//! Safety pre-scan for untrusted MessagePack (the protocol's decode-bounds rules),
//! plus the small zero-copy reader the rest of the crate decodes with.
//!
//! Everything read from L2 is untrusted. Before any value is materialised,
//! [`check_document`] walks the headers once and proves that the bytes hold
//! exactly one complete document, nested no deeper than the limit, whose
//! declared element and byte counts, summed over the whole document, are
//! backed by the input. Only then may a decoder allocate anything sized by a
//! header, because every claim has been checked against real bytes.

use super::{CodecError, Limits};

/// One MessagePack header, as read from the input.
///
/// `Str`, `Bin` and `Ext` carry their declared length only; the payload
/// is taken separately so the pre-scan can count the claim before it checks
/// that the bytes exist.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Header {
    Nil,
    Bool(bool),
    /// Any non-negative integer, whatever marker carried it.
    Uint(u64),
    /// A negative integer, whatever marker carried it.
    Nint(i64),
    F32(f32),
    F64(f64),
    Str(u32),
    Bin(u32),
    /// `declared` is false for the fixext forms, whose length is fixed by the
    /// marker (the decode-bounds rules count no slots for them).
    Ext { len: u32, declared: bool },
    Array(u32),
    Map(u32),
}

/// A cursor over untrusted bytes. Every read is bounds-checked; running out of
/// input is reported as [`CodecError::Incomplete`].
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::Incomplete)?;
        let s = self.buf.get(self.pos..end).ok_or(CodecError::Incomplete)?;
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or(CodecError::Incomplete)?;
        self.pos += 1;
        Ok(b)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        self.byte()
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.be()?))
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.be()?))
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_be_bytes(self.be()?))
    }

    /// Reads one header. For `Ext`, the type byte is NOT consumed here (it is
    /// part of the payload read by [`Reader::ext_body`]).
    pub(crate) fn header(&mut self) -> Result<Header, CodecError> {
        let m = self.byte()?;
        Ok(match m {
            0x00..=0x7f => Header::Uint(m as u64),
            0x80..=0x8f => Header::Map((m & 0x0f) as u32),
            0x90..=0x9f => Header::Array((m & 0x0f) as u32),
            0xa0..=0xbf => Header::Str((m & 0x1f) as u32),
            0xc0 => Header::Nil,
            0xc2 => Header::Bool(false),
            0xc3 => Header::Bool(true),
            0xc4 => Header::Bin(self.u8()? as u32),
            0xc5 => Header::Bin(self.u16()? as u32),
            0xc6 => Header::Bin(self.u32()?),
            0xc7 => Header::Ext { len: self.u8()? as u32, declared: true },
            0xc8 => Header::Ext { len: self.u16()? as u32, declared: true },
            0xc9 => Header::Ext { len: self.u32()?, declared: true },
            0xca => Header::F32(f32::from_bits(self.u32()?)),
            0xcb => Header::F64(f64::from_bits(self.u64()?)),
            0xcc => Header::Uint(self.u8()? as u64),
            0xcd => Header::Uint(self.u16()? as u64),
            0xce => Header::Uint(self.u32()? as u64),
            0xcf => Header::Uint(self.u64()?),
            0xd0 => int(self.u8()? as i8 as i64),
            0xd1 => int(self.u16()? as i16 as i64),
            0xd2 => int(self.u32()? as i32 as i64),
            0xd3 => int(self.u64()? as i64),
            0xd4 => Header::Ext { len: 1, declared: false },
            0xd5 => Header::Ext { len: 2, declared: false },
            0xd6 => Header::Ext { len: 4, declared: false },
            0xd7 => Header::Ext { len: 8, declared: false },
            0xd8 => Header::Ext { len: 16, declared: false },
            0xd9 => Header::Str(self.u8()? as u32),
            0xda => Header::Str(self.u16()? as u32),
            0xdb => Header::Str(self.u32()?),
            0xdc => Header::Array(self.u16()? as u32),
            0xdd => Header::Array(self.u32()?),
            0xde => Header::Map(self.u16()? as u32),
            0xdf => Header::Map(self.u32()?),
            0xe0..=0xff => Header::Nint(m as i8 as i64),
            // 0xc1 is the one marker MessagePack never assigns.
            0xc1 => return Err(CodecError::InvalidMarker(m)),
        })
    }

    /// Takes an ext item's type byte and payload (after [`Reader::header`]).
    pub(crate) fn ext_body(&mut self, len: u32) -> Result<(i8, &'a [u8]), CodecError> {
        let ty = self.byte()? as i8;
        let data = self.take(len as usize)?;
        Ok((ty, data))
    }

    /// Takes a str payload and checks it is UTF-8 (every SDK decodes str as text).
    pub(crate) fn str_body(&mut self, len: u32) -> Result<&'a str, CodecError> {
        let b = self.take(len as usize)?;
        std::str::from_utf8(b).map_err(|_| CodecError::InvalidUtf8)
    }
}

/// Signed markers may carry non-negative values; fold them into `Uint` so a
/// caller sees one representation per value.
fn int(v: i64) -> Header {
    if v >= 0 {
        Header::Uint(v as u64)
    } else {
        Header::Nint(v)
    }
}

/// Checks that `bytes` is exactly one complete, bounded MessagePack document.
///
/// Rules (decode-bounds.json): nesting depth at most `limits.max_depth` (a map
/// counts one level like an array); the sum of every header's declared slots
/// (array elements, 2 per map pair, str/bin/ext bytes; fixext none) at most
/// `bytes.len() - 1`, checked after every header with 64-bit checked
/// arithmetic; the root item complete at the end of input; no trailing bytes.
/// str payloads must be UTF-8. The walk uses an explicit stack whose growth is
/// bounded by the depth limit and backed by input bytes, and allocates nothing
/// proportional to any claim.
pub fn check_document(bytes: &[u8], limits: &Limits) -> Result<(), CodecError> {
    if bytes.is_empty() {
        return Err(CodecError::Incomplete);
    }
    // The root header is the only byte that backs no element.
    let budget = (bytes.len() - 1) as u64;
    let mut declared: u64 = 0;
    let mut claim = |n: u64| -> Result<(), CodecError> {
        declared = declared
            .checked_add(n)
            .filter(|&d| d <= budget)
            .ok_or(CodecError::Overclaim { budget })?;
        Ok(())
    };
    let mut r = Reader::new(bytes);
    // Items still owed by each open collection, innermost last.
    let mut stack: Vec<u64> = Vec::new();
    loop {
        let h = r.header()?;
        let opened = match h {
            Header::Str(n) => {
                claim(n as u64)?;
                r.str_body(n)?;
                None
            }
            Header::Bin(n) => {
                claim(n as u64)?;
                r.take(n as usize)?;
                None
            }
            Header::Ext { len, declared: d } => {
                if d {
                    claim(len as u64)?;
                }
                r.ext_body(len)?;
                None
            }
            Header::Array(n) => {
                claim(n as u64)?;
                Some(n as u64)
            }
            Header::Map(n) => {
                let slots = (n as u64) * 2; // cannot overflow: n < 2^32
                claim(slots)?;
                Some(slots)
            }
            _ => None,
        };
        if let Some(owed) = opened {
            let depth = stack.len() + 1;
            if depth > limits.max_depth {
                return Err(CodecError::TooDeep { max: limits.max_depth });
            }
            if owed > 0 {
                stack.push(owed);
                continue;
            }
        }
        // One item is complete: settle it with its parents.
        loop {
            match stack.last_mut() {
                None => {
                    // Root complete.
                    let extra = r.remaining();
                    return if extra == 0 {
                        Ok(())
                    } else {
                        Err(CodecError::TrailingBytes { extra })
                    };
                }
                Some(top) => {
                    *top -= 1;
                    if *top == 0 {
                        stack.pop();
                    } else {
                        break;
                    }
                }
            }
        }
    }
}
