//! The envelope format: `[compressed_data, checksum, original_size, format]`,
//! a MessagePack array where `compressed_data` is an LZ4 *block* (as `bin`, or
//! as an array of byte-sized integers in the legacy form), `checksum` is the
//! xxHash3-64 of the uncompressed bytes as 8 big-endian integers, and `format`
//! names the serializer of the payload.

use super::bounds::{check_document, Header, Reader};
use super::{CodecError, Limits};
use xxhash_rust::xxh3::xxh3_64;

/// Appends the shortest MessagePack encoding of a non-negative integer.
pub(crate) fn write_uint(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(v as u8);
    } else if v <= u8::MAX as u64 {
        out.extend_from_slice(&[0xcc, v as u8]);
    } else if v <= u16::MAX as u64 {
        out.push(0xcd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= u32::MAX as u64 {
        out.push(0xce);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Appends the shortest header for a str/bin/array/map/ext-like length.
/// `fix` is (marker base, max fix length) when the family has a fix form;
/// `wide` are the 8/16/32-bit markers (0 = no 8-bit form).
fn write_len(out: &mut Vec<u8>, len: usize, fix: Option<(u8, usize)>, wide: [u8; 3]) {
    match fix {
        Some((base, max)) if len <= max => out.push(base | len as u8),
        _ if wide[0] != 0 && len <= u8::MAX as usize => out.extend_from_slice(&[wide[0], len as u8]),
        _ if len <= u16::MAX as usize => {
            out.push(wide[1]);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(wide[2]);
            // Lengths above u32 cannot be represented in MessagePack at all;
            // callers never produce them (values are bounded far lower).
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

pub(crate) fn write_str_header(out: &mut Vec<u8>, len: usize) {
    write_len(out, len, Some((0xa0, 31)), [0xd9, 0xda, 0xdb]);
}
pub(crate) fn write_bin_header(out: &mut Vec<u8>, len: usize) {
    write_len(out, len, None, [0xc4, 0xc5, 0xc6]);
}
pub(crate) fn write_array_header(out: &mut Vec<u8>, len: usize) {
    write_len(out, len, Some((0x90, 15)), [0, 0xdc, 0xdd]);
}
pub(crate) fn write_map_header(out: &mut Vec<u8>, len: usize) {
    write_len(out, len, Some((0x80, 15)), [0, 0xde, 0xdf]);
}

/// Encodes `payload` as an envelope in the canonical (protocol 1.1+) form:
/// `compressed_data` as `bin`, every header the shortest. An empty payload
/// compresses to the one-byte block `00`.
pub fn encode_envelope(payload: &[u8], format: &str) -> Vec<u8> {
    let block = lz4_flex::block::compress(payload);
    // lz4_flex already emits the single token byte 00 for empty input; keep
    // the protocol's rule explicit in case that ever changes.
    let block = if payload.is_empty() { vec![0u8] } else { block };
    envelope_from_block(&block, payload, format)
}

fn envelope_from_block(block: &[u8], payload: &[u8], format: &str) -> Vec<u8> {
    let checksum = xxh3_64(payload).to_be_bytes();
    let mut out = Vec::with_capacity(block.len() + format.len() + 40);
    out.push(0x94);
    write_bin_header(&mut out, block.len());
    out.extend_from_slice(block);
    out.push(0x98);
    for b in checksum {
        write_uint(&mut out, b as u64);
    }
    write_uint(&mut out, payload.len() as u64);
    write_str_header(&mut out, format.len());
    out.extend_from_slice(format.as_bytes());
    out
}

/// Reads one integer in 0..=255 (any width marker), as legacy block bytes and
/// checksum elements are.
fn byte_item(r: &mut Reader<'_>, what: &'static str) -> Result<u8, CodecError> {
    match r.header()? {
        Header::Uint(v) if v <= 255 => Ok(v as u8),
        _ => Err(CodecError::EnvelopeShape(what)),
    }
}

/// Decodes an envelope and returns the original payload bytes.
///
/// Order (the protocol's Retrieve Flow): decode-bounds pre-scan of the whole
/// envelope; typed decode (exactly 4 items; item 0 `bin` or legacy array of
/// byte integers; item 1 exactly 8 byte integers; item 2 an unsigned size;
/// item 3 a str); format check; size cap; zero-length and ratio checks (in
/// u64, so no 32-bit wrap); LZ4 decode into a buffer of exactly
/// `original_size`; length check; checksum check. When the format is
/// `"msgpack"` the payload itself must then be one MessagePack document that
/// passes [`check_document`], so a hostile payload is rejected before any
/// decoder materialises it. This is the function for the read path.
pub fn decode_envelope(bytes: &[u8], expected_format: &str, limits: &Limits) -> Result<Vec<u8>, CodecError> {
    let out = decode_envelope_raw(bytes, expected_format, limits)?;
    if expected_format == "msgpack" {
        check_document(&out, limits)?;
    }
    Ok(out)
}

/// The four items of an envelope, read without any check beyond its shape:
/// the LZ4 block (borrowed, or collected from the legacy array form), the
/// stored checksum, the claimed uncompressed size and the serializer's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeParts<'a> {
    pub block: std::borrow::Cow<'a, [u8]>,
    pub checksum: [u8; 8],
    pub original_size: u64,
    pub format: &'a str,
}

/// Reads the shape of an envelope (after the decode-bounds pre-scan of the
/// whole document): exactly 4 items; item 0 `bin` or the legacy array of byte
/// integers; item 1 exactly 8 byte integers; item 2 an unsigned size; item 3
/// a str. [`decode_envelope_raw`] checks the rest.
pub fn envelope_parts<'a>(bytes: &'a [u8], limits: &Limits) -> Result<EnvelopeParts<'a>, CodecError> {
    check_document(bytes, limits)?;
    let mut r = Reader::new(bytes);
    match r.header()? {
        Header::Array(4) => {}
        Header::Array(_) => return Err(CodecError::EnvelopeShape("expected an array of exactly 4 items")),
        _ => return Err(CodecError::EnvelopeShape("expected an array")),
    }
    // compressed_data: borrowed for bin; collected for the legacy form (its
    // length was already proven to be backed by input bytes).
    let block = match r.header()? {
        Header::Bin(n) => std::borrow::Cow::Borrowed(r.take(n as usize)?),
        Header::Array(n) => {
            let mut v = Vec::with_capacity(n as usize);
            for _ in 0..n {
                v.push(byte_item(&mut r, "compressed_data element is not a byte (0..=255)")?);
            }
            std::borrow::Cow::Owned(v)
        }
        _ => return Err(CodecError::EnvelopeShape("compressed_data must be bin or an array of bytes")),
    };
    let mut checksum = [0u8; 8];
    match r.header()? {
        Header::Array(8) => {
            for c in checksum.iter_mut() {
                *c = byte_item(&mut r, "checksum element is not a byte (0..=255)")?;
            }
        }
        _ => return Err(CodecError::EnvelopeShape("checksum must be an array of exactly 8 integers")),
    }
    let original_size = match r.header()? {
        Header::Uint(v) => v,
        _ => return Err(CodecError::EnvelopeShape("original_size must be a non-negative integer")),
    };
    let format = match r.header()? {
        Header::Str(n) => r.str_body(n)?,
        _ => return Err(CodecError::EnvelopeShape("format must be a string")),
    };
    Ok(EnvelopeParts { block, checksum, original_size, format })
}

/// The envelope layer alone: every check of [`decode_envelope`] except the
/// pre-scan of a `"msgpack"` payload. The protocol's wire-format vectors need
/// it: its six original vectors carry raw bytes (e.g. ASCII text) under the
/// format `"msgpack"`, which the envelope layer must still decode. Only use it
/// where the payload is not decoded as MessagePack afterwards, or is
/// pre-scanned by the caller.
pub fn decode_envelope_raw(bytes: &[u8], expected_format: &str, limits: &Limits) -> Result<Vec<u8>, CodecError> {
    let parts = envelope_parts(bytes, limits)?;
    let EnvelopeParts { block, checksum, original_size, format } = parts;
    let block: &[u8] = &block;
    if format != expected_format {
        return Err(CodecError::FormatMismatch {
            found: format.to_owned(),
            expected: expected_format.to_owned(),
        });
    }
    if original_size > limits.max_uncompressed as u64 {
        return Err(CodecError::SizeTooLarge { size: original_size, max: limits.max_uncompressed });
    }
    let compressed = block.len() as u64;
    if compressed == 0 {
        return Err(CodecError::EmptyCompressedData);
    }
    // 64-bit (saturating) product: a 32-bit one wraps at ~4.29 MB blocks.
    if original_size > limits.max_ratio.saturating_mul(compressed) {
        return Err(CodecError::RatioTooHigh { original: original_size, compressed, max_ratio: limits.max_ratio });
    }
    // original_size is now bounded by the size cap and by ratio x input bytes.
    let mut out = vec![0u8; original_size as usize];
    let n = lz4_flex::block::decompress_into(block, &mut out).map_err(|e| {
        // An output-too-small error means the block holds more than claimed.
        CodecError::Decompress(e.to_string())
    })?;
    if n as u64 != original_size {
        return Err(CodecError::LengthMismatch { expected: original_size, actual: n });
    }
    if xxh3_64(&out).to_be_bytes() != checksum {
        return Err(CodecError::ChecksumMismatch);
    }
    Ok(out)
}

/// The container a reader is configured for, which decides how decrypted
/// bytes are read. It is never guessed from the bytes (protocol ENC-2/ENC-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// One plain MessagePack document (interop mode and plain readers): the
    /// bytes are returned as they are, after a full pre-scan, so trailing or
    /// incomplete data is refused. An envelope-shaped document is NOT unwrapped.
    PlainMsgpack,
    /// A cachekit envelope with the given expected format.
    Envelope,
    /// `[xxh3-64 BE (8 bytes)][payload]`, as cachekit-py's checksummed
    /// serializers (arrow, orjson) write; the payload is returned.
    Checksummed,
}

/// Reads decrypted bytes as exactly the configured container and returns the
/// serializer's payload. A mismatch is an error (a miss), never a fallback to
/// another container.
pub fn open_container(
    plaintext: &[u8],
    container: Container,
    format: &str,
    limits: &Limits,
) -> Result<Vec<u8>, CodecError> {
    match container {
        Container::PlainMsgpack => {
            check_document(plaintext, limits)?;
            Ok(plaintext.to_vec())
        }
        Container::Envelope => decode_envelope(plaintext, format, limits),
        Container::Checksummed => {
            let (sum, body) = match plaintext.split_first_chunk::<8>() {
                Some(x) => x,
                None => return Err(CodecError::Container("shorter than its 8-byte checksum")),
            };
            if xxh3_64(body).to_be_bytes() != *sum {
                return Err(CodecError::Container("checksum prefix does not match the payload"));
            }
            Ok(body.to_vec())
        }
    }
}

/// As [`encode_envelope`], with a block made of literals only: a valid LZ4
/// block that any reader decodes, at no compression cost. Used when
/// `enable_compression` is off, since the format requires an LZ4 block.
pub fn encode_envelope_uncompressed(payload: &[u8], format: &str) -> Vec<u8> {
    let mut block = Vec::with_capacity(payload.len() + payload.len() / 255 + 2);
    let n = payload.len();
    if n < 15 {
        block.push((n as u8) << 4);
    } else {
        block.push(0xf0);
        let mut rest = n - 15;
        while rest >= 255 {
            block.push(255);
            rest -= 255;
        }
        block.push(rest as u8);
    }
    block.extend_from_slice(payload);
    envelope_from_block(&block, payload, format)
}
