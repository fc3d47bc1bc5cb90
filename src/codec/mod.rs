//! Value codec for the cachekit wire protocol: the decode-bounds pre-scan,
//! the envelope format (LZ4 block + xxHash3-64), and AES-256-GCM encryption.
//!
//! Every decoder here treats its input as untrusted: any failure is a
//! [`CodecError`], which the read path turns into a miss, never a panic.

mod bounds;
mod crypto;
mod envelope;

pub(crate) use bounds::{Header, Reader};
pub(crate) use envelope::{write_array_header, write_bin_header, write_map_header, write_str_header, write_uint};

pub use bounds::check_document;
pub use crypto::{build_aad, parse_master_key_hex, Keyring, MAX_DECRYPT_ONLY_KEYS};
pub use envelope::{
    decode_envelope, decode_envelope_raw, encode_envelope, encode_envelope_uncompressed, envelope_parts, open_container, Container,
    EnvelopeParts,
};

use std::fmt;

/// Bounds applied to untrusted bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest `original_size` an envelope may claim (protocol: 512 MiB).
    pub max_uncompressed: usize,
    /// Largest allowed `original_size / compressed_size` (protocol: 1000).
    pub max_ratio: u64,
    /// Deepest nesting accepted; the protocol requires a bound in [32, 1024].
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_uncompressed: 512 * 1024 * 1024,
            max_ratio: 1000,
            max_depth: 512,
        }
    }
}

/// Why bytes could not be decoded, decrypted, or a key accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The document nests deeper than the configured limit.
    TooDeep { max: usize },
    /// Headers declare more elements/bytes than the input can hold.
    Overclaim { budget: u64 },
    /// The input ends before the document does.
    Incomplete,
    /// Bytes follow a complete document.
    TrailingBytes { extra: usize },
    /// A byte that is not a MessagePack marker (0xc1).
    InvalidMarker(u8),
    /// A MessagePack str is not valid UTF-8.
    InvalidUtf8,
    /// The bytes are a MessagePack document but not a cachekit envelope.
    EnvelopeShape(&'static str),
    /// The envelope names another serializer than the reader uses.
    FormatMismatch { found: String, expected: String },
    /// The envelope claims an uncompressed size above the limit.
    SizeTooLarge { size: u64, max: usize },
    /// The envelope holds an empty compressed block.
    EmptyCompressedData,
    /// `original_size / compressed_size` exceeds the limit.
    RatioTooHigh { original: u64, compressed: u64, max_ratio: u64 },
    /// The LZ4 block is malformed.
    Decompress(String),
    /// The block decoded to another length than `original_size`.
    LengthMismatch { expected: u64, actual: usize },
    /// xxHash3-64 of the decoded bytes differs from the stored checksum.
    ChecksumMismatch,
    /// A master key string is not 64 hex digits (32 bytes).
    InvalidMasterKey(String),
    /// A raw key or keyring configuration is unusable.
    InvalidKeyring(String),
    /// The ciphertext is shorter than nonce + tag.
    CiphertextTooShort { len: usize },
    /// No configured key authenticates the ciphertext under this AAD.
    DecryptFailed,
    /// The decrypted bytes are not the container the reader is configured for.
    Container(&'static str),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CodecError::*;
        match self {
            TooDeep { max } => write!(f, "MessagePack document nests deeper than the limit of {max} levels"),
            Overclaim { budget } => write!(
                f,
                "MessagePack headers declare more elements or bytes than the input can hold (at most {budget}); refusing to allocate"
            ),
            Incomplete => write!(f, "MessagePack document is truncated (the input ends before the value does)"),
            TrailingBytes { extra } => write!(f, "{extra} unexpected byte(s) after a complete MessagePack document"),
            InvalidMarker(m) => write!(f, "byte 0x{m:02x} is not a valid MessagePack marker"),
            InvalidUtf8 => write!(f, "MessagePack string is not valid UTF-8"),
            EnvelopeShape(why) => write!(f, "not a cachekit envelope: {why}"),
            FormatMismatch { found, expected } => write!(
                f,
                "entry was written by serializer {found:?} but this reader uses {expected:?}"
            ),
            SizeTooLarge { size, max } => write!(f, "envelope claims {size} uncompressed bytes, above the limit of {max}"),
            EmptyCompressedData => write!(f, "envelope holds an empty compressed block"),
            RatioTooHigh { original, compressed, max_ratio } => write!(
                f,
                "envelope claims {original} bytes from {compressed} compressed bytes, above the {max_ratio}:1 ratio limit (decompression bomb)"
            ),
            Decompress(e) => write!(f, "LZ4 block is corrupt: {e}"),
            LengthMismatch { expected, actual } => write!(
                f,
                "LZ4 block decoded to {actual} bytes but the envelope claims {expected}"
            ),
            ChecksumMismatch => write!(f, "xxHash3-64 checksum of the decoded value does not match the envelope"),
            InvalidMasterKey(why) => write!(f, "invalid master key: {why}"),
            InvalidKeyring(why) => write!(f, "invalid encryption key configuration: {why}"),
            CiphertextTooShort { len } => write!(
                f,
                "ciphertext of {len} bytes is shorter than a 12-byte nonce plus a 16-byte tag"
            ),
            DecryptFailed => write!(
                f,
                "decryption failed: wrong key, wrong tenant, or the entry was written under another cache key/format (authentication tag mismatch)"
            ),
            Container(why) => write!(f, "decrypted value is not the expected container: {why}"),
        }
    }
}

impl std::error::Error for CodecError {}
