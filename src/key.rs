//! Interop cache keys: `{namespace}:{operation}:{blake2b-256 hex}` over the
//! canonical MessagePack of the argument array, as the cachekit protocol's
//! interop mode defines them.
//!
//! Wrappers encode their argument array with their own MessagePack library
//! (any widths, any key order) and hand the bytes here; the core canonicalises
//! them so that every language derives the same key. Besides the plain
//! MessagePack types, three ext types carry values MessagePack has no type for:
//! ext -1 (standard timestamp: a timezone-aware datetime), ext 1 (a set:
//! payload is one MessagePack array of the elements) and ext 2 (a UUID:
//! payload is its 16 raw bytes). Naive datetimes and integers beyond 64 bits
//! cannot be expressed in the input at all; wrappers reject them before
//! encoding.

use crate::codec::{
    check_document, write_array_header, write_bin_header, write_map_header, write_str_header, write_uint, CodecError,
    Header, Limits, Reader,
};
use blake2::{Blake2b, Digest};
use std::fmt;

/// Longest namespace or operation segment, in bytes (all ASCII).
pub const SEGMENT_MAX: usize = 64;

/// Deepest nesting accepted in argument or value input (also across the
/// arrays inside set payloads).
pub const MAX_DEPTH: usize = 512;

/// Namespaces the server reserves (it parses keys starting `ns:`/`nsapi:`).
const RESERVED_NAMESPACES: [&str; 2] = ["ns", "nsapi"];

/// Why a key could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// A namespace or operation breaks the segment rules.
    InvalidSegment { role: &'static str, value: String, reason: &'static str },
    /// The argument input is not one MessagePack array.
    ArgsNotArray,
    /// The input is not safe, well-formed MessagePack.
    Malformed(CodecError),
    /// NaN or an infinity (they have no canonical key form).
    NonFiniteFloat,
    /// A map key that is not a string.
    NonStringMapKey,
    /// The same key twice in one map.
    DuplicateMapKey(String),
    /// An ext type other than -1 (timestamp), 1 (set) or 2 (UUID).
    UnsupportedExt(i8),
    /// A timestamp ext that is malformed or outside years 1..=9999.
    InvalidTimestamp(&'static str),
    /// A UUID ext whose payload is not 16 bytes.
    InvalidUuid { len: usize },
    /// A set ext whose payload is not exactly one MessagePack array.
    InvalidSet(&'static str),
    /// A datetime given as a VALUE: values carry dates as sentinel maps.
    TimestampInValue,
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use KeyError::*;
        match self {
            InvalidSegment { role, value, reason } => write!(
                f,
                "invalid {role} {value:?}: {reason} (allowed: 1-64 of a-z 0-9 . _ -, starting with a-z or 0-9, no \"..\")"
            ),
            ArgsNotArray => write!(f, "arguments must be encoded as one MessagePack array"),
            Malformed(e) => write!(f, "arguments are not valid MessagePack: {e}"),
            NonFiniteFloat => write!(f, "NaN and infinite floats cannot be part of a cache key"),
            NonStringMapKey => write!(f, "map keys in cache-key arguments must be strings"),
            DuplicateMapKey(k) => write!(f, "map key {k:?} appears twice"),
            UnsupportedExt(t) => write!(
                f,
                "MessagePack ext type {t} is not supported (only -1 timestamp, 1 set, 2 UUID)"
            ),
            InvalidTimestamp(why) => write!(f, "invalid datetime (timestamp ext -1): {why}"),
            InvalidUuid { len } => write!(f, "UUID ext (type 2) must hold 16 bytes, got {len}"),
            InvalidSet(why) => write!(f, "invalid set ext (type 1): {why}"),
            TimestampInValue => write!(
                f,
                "a datetime ext cannot be stored as a value; encode it as {{\"__datetime__\": true, \"value\": <ISO 8601>}}"
            ),
            TooDeep => write!(f, "arguments nest deeper than {MAX_DEPTH} levels"),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyError::Malformed(e) => Some(e),
            _ => None,
        }
    }
}

fn segment_error(role: &'static str, s: &str, reason: &'static str) -> KeyError {
    KeyError::InvalidSegment { role, value: s.to_owned(), reason }
}

fn check_segment(role: &'static str, s: &str) -> Result<(), KeyError> {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return Err(segment_error(role, s, "it is empty"));
    };
    if b.len() > SEGMENT_MAX {
        return Err(segment_error(role, s, "it is longer than 64 characters"));
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(segment_error(role, s, "it must start with a lowercase ASCII letter or a digit"));
    }
    // Byte-wise: any non-ASCII byte fails, so no Unicode digit/letter slips in,
    // and a trailing newline is rejected like any other character.
    if !b
        .iter()
        .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
    {
        return Err(segment_error(role, s, "it contains a character outside a-z 0-9 . _ -"));
    }
    // The server rejects ".." anywhere in a key, though the pattern admits it.
    if s.contains("..") {
        return Err(segment_error(role, s, "it contains \"..\""));
    }
    Ok(())
}

/// Validates one key segment: a full match of `^[a-z0-9][a-z0-9._-]{0,63}$`
/// and no `..`. Applies to both namespace and operation; the namespace-only
/// reservation is in [`validate_namespace`].
pub fn validate_segment(s: &str) -> Result<(), KeyError> {
    check_segment("segment", s)
}

/// Validates an interop namespace: [`validate_segment`] plus the reserved
/// names `ns` and `nsapi` (exact match; the operation has no reserved names).
pub fn validate_namespace(s: &str) -> Result<(), KeyError> {
    check_segment("namespace", s)?;
    if RESERVED_NAMESPACES.contains(&s) {
        return Err(segment_error("namespace", s, "it is reserved by the server"));
    }
    Ok(())
}

/// Which canonical profile applies.
#[derive(Clone, Copy, PartialEq)]
enum Profile {
    /// Key arguments: integral floats collapse to ints, NaN/inf rejected,
    /// timestamps become seconds.
    Args,
    /// Interop values: floats stay float64 as they are (protocol value
    /// profile), timestamps are refused (values use sentinel maps).
    Value,
}

fn safety_limits() -> Limits {
    Limits { max_depth: MAX_DEPTH, ..Limits::default() }
}

/// Canonicalises a MessagePack argument array (the root MUST be an array).
///
/// Output: shortest headers; floats as float64 unless integral within
/// [-2^63, 2^64) (then an int; `-0.0` is `0`); NaN/inf rejected; map keys
/// strings sorted bytewise (code point order); sets sorted by encoded bytes
/// and deduplicated; UUIDs as lowercase hyphenated strings; timestamps as
/// seconds since the epoch floored to microseconds.
pub fn canonicalize_args(args_msgpack: &[u8]) -> Result<Vec<u8>, KeyError> {
    check_document(args_msgpack, &safety_limits()).map_err(map_codec)?;
    if !matches!(Reader::new(args_msgpack).header(), Ok(Header::Array(_))) {
        return Err(KeyError::ArgsNotArray);
    }
    canonicalize(args_msgpack, Profile::Args)
}

/// Canonicalises an interop VALUE (any root type) with the protocol's value
/// profile: the same rules as [`canonicalize_args`] except that floats are
/// not collapsed to integers (`2.0` stays float64; NaN, infinities and `-0.0`
/// are kept as float64), and a timestamp ext is refused because values carry
/// datetimes as `{"__datetime__": true, "value": ...}` maps.
pub fn canonicalize_value(msgpack: &[u8]) -> Result<Vec<u8>, KeyError> {
    check_document(msgpack, &safety_limits()).map_err(map_codec)?;
    canonicalize(msgpack, Profile::Value)
}

fn map_codec(e: CodecError) -> KeyError {
    match e {
        CodecError::TooDeep { .. } => KeyError::TooDeep,
        e => KeyError::Malformed(e),
    }
}

/// Lowercase hex of unkeyed BLAKE2b-256 over the canonical bytes.
pub fn args_hash_hex(canonical: &[u8]) -> String {
    let mut s = String::with_capacity(64);
    push_args_hash_hex(canonical, &mut s);
    s
}

/// As [`args_hash_hex`], appended to `out` (no intermediate allocation: the
/// key derivation is on every cached call's path).
pub fn push_args_hash_hex(canonical: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Blake2b::<blake2::digest::consts::U32>::digest(canonical);
    out.reserve(64);
    for b in digest {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
}

/// Builds the interop key `{namespace}:{operation}:{hash}` from the wrapper's
/// MessagePack argument array, validating both segments.
pub fn interop_key(namespace: &str, operation: &str, args_msgpack: &[u8]) -> Result<String, KeyError> {
    validate_namespace(namespace)?;
    check_segment("operation", operation)?;
    let canonical = canonicalize_args(args_msgpack)?;
    Ok(format!("{namespace}:{operation}:{}", args_hash_hex(&canonical)))
}

// ---- canonical writer -------------------------------------------------------

fn write_int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        write_uint(out, v as u64);
    } else if v >= -32 {
        out.push(v as i8 as u8);
    } else if v >= i8::MIN as i64 {
        out.extend_from_slice(&[0xd0, v as i8 as u8]);
    } else if v >= i16::MIN as i64 {
        out.push(0xd1);
        out.extend_from_slice(&(v as i16).to_be_bytes());
    } else if v >= i32::MIN as i64 {
        out.push(0xd2);
        out.extend_from_slice(&(v as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&v.to_be_bytes());
    }
}


fn write_str(out: &mut Vec<u8>, s: &str) {
    write_str_header(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// The args-profile number rule: an integral float in [-2^63, 2^64) is
/// written as an int, anything else finite as float64.
fn write_args_float(out: &mut Vec<u8>, f: f64) -> Result<(), KeyError> {
    if !f.is_finite() {
        return Err(KeyError::NonFiniteFloat);
    }
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    if f.fract() == 0.0 && (-TWO_63..TWO_64).contains(&f) {
        // Exact conversions: f is integral and inside the target range.
        if f < 0.0 {
            write_int(out, f as i64);
        } else {
            write_uint(out, f as u64); // -0.0 lands here as 0
        }
    } else {
        write_f64(out, f);
    }
    Ok(())
}

fn write_f64(out: &mut Vec<u8>, f: f64) {
    out.push(0xcb);
    out.extend_from_slice(&f.to_bits().to_be_bytes());
}

// ---- canonical reader ---------------------------------------------------------
//
// Iterative, with an explicit stack: recursion 512 levels deep overflows the
// small stacks of some host threads (and a 2 MiB test thread in debug builds).

/// An open collection whose items are still being read.
enum Frame<'a> {
    /// Header already written into `buf`; items are appended as they complete.
    Array { left: u32, buf: Vec<u8> },
    /// Pairs collected for sorting; `key` is the key of the value being read.
    Map { left: u32, entries: Vec<(&'a str, Vec<u8>)>, key: Option<&'a str> },
    /// Elements collected for sorting and dedup. Its items come from its own
    /// payload reader, pushed on the reader stack while the frame is open.
    Set { left: u32, elems: Vec<Vec<u8>> },
}

impl<'a> Frame<'a> {
    fn left(&self) -> u32 {
        match self {
            Frame::Array { left, .. } | Frame::Map { left, .. } | Frame::Set { left, .. } => *left,
        }
    }

    /// Takes one completed item.
    fn push(&mut self, item: Vec<u8>) {
        match self {
            Frame::Array { left, buf } => {
                if buf.is_empty() {
                    // A nested array wrote into this array's buffer, which
                    // it borrowed (see `canonicalize`): it comes back whole.
                    *buf = item;
                } else {
                    buf.extend_from_slice(&item);
                }
                *left -= 1;
            }
            Frame::Map { left, entries, key } => {
                // A key is always read before its value (see `canonicalize`).
                if let Some(k) = key.take() {
                    entries.push((k, item));
                }
                *left -= 1;
            }
            Frame::Set { left, elems } => {
                elems.push(item);
                *left -= 1;
            }
        }
    }

    /// Produces the canonical bytes of a completed collection.
    fn finish(self) -> Result<Vec<u8>, KeyError> {
        match self {
            Frame::Array { buf, .. } => Ok(buf),
            Frame::Map { mut entries, .. } => {
                // Bytewise UTF-8 order is code point order.
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
                    return Err(KeyError::DuplicateMapKey(w[0].0.to_owned()));
                }
                let mut out = Vec::new();
                write_map_header(&mut out, entries.len());
                for (k, v) in entries {
                    write_str(&mut out, k);
                    out.extend_from_slice(&v);
                }
                Ok(out)
            }
            Frame::Set { mut elems, .. } => {
                elems.sort();
                elems.dedup();
                let mut out = Vec::new();
                write_array_header(&mut out, elems.len());
                for e in elems {
                    out.extend_from_slice(&e);
                }
                Ok(out)
            }
        }
    }
}

/// What reading one item produced.
enum Step<'a> {
    /// A complete item (scalar or empty collection).
    Done(Vec<u8>),
    /// A collection to fill; `Some` reader for a set's payload.
    Open(Frame<'a>, Option<Reader<'a>>),
}

/// Canonicalises one pre-scanned document.
fn canonicalize(doc: &[u8], profile: Profile) -> Result<Vec<u8>, KeyError> {
    let mut readers: Vec<Reader<'_>> = vec![Reader::new(doc)];
    let mut stack: Vec<Frame<'_>> = Vec::new();
    loop {
        let item = match stack.pop() {
            Some(f) if f.left() == 0 => {
                if matches!(f, Frame::Set { .. }) {
                    readers.pop();
                }
                f.finish()?
            }
            top => {
                if let Some(f) = top {
                    stack.push(f);
                }
                let r = readers.last_mut().ok_or(KeyError::InvalidSet("internal reader stack empty"))?;
                if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                    if key.is_none() {
                        *key = Some(match r.header().map_err(map_codec)? {
                            Header::Str(len) => r.str_body(len).map_err(map_codec)?,
                            _ => return Err(KeyError::NonStringMapKey),
                        });
                    }
                }
                match read_item(r, profile, stack.len())? {
                    Step::Done(bytes) => bytes,
                    Step::Open(mut frame, reader) => {
                        if let Some(rd) = reader {
                            readers.push(rd);
                        }
                        // An array in an array writes on in its parent's
                        // buffer (arrays keep their order), instead of
                        // being copied into it at each level, which cost
                        // allocations quadratic in the nesting depth.
                        if let (Frame::Array { buf, .. }, Some(Frame::Array { buf: parent, .. })) = (&mut frame, stack.last_mut()) {
                            let mut shared = std::mem::take(parent);
                            shared.extend_from_slice(buf);
                            *buf = shared;
                        }
                        stack.push(frame);
                        continue;
                    }
                }
            }
        };
        match stack.last_mut() {
            None => return Ok(item),
            Some(parent) => parent.push(item),
        }
    }
}

/// Reads one item at nesting `depth` (open collections around it).
fn read_item<'a>(r: &mut Reader<'a>, profile: Profile, depth: usize) -> Result<Step<'a>, KeyError> {
    let mut out = Vec::new();
    match r.header().map_err(map_codec)? {
        Header::Nil => out.push(0xc0),
        Header::Bool(b) => out.push(if b { 0xc3 } else { 0xc2 }),
        Header::Uint(v) => write_uint(&mut out, v),
        Header::Nint(v) => write_int(&mut out, v),
        Header::F32(f) => float(&mut out, f as f64, profile)?,
        Header::F64(f) => float(&mut out, f, profile)?,
        Header::Str(n) => {
            let s = r.str_body(n).map_err(map_codec)?;
            write_str(&mut out, s);
        }
        Header::Bin(n) => {
            let b = r.take(n as usize).map_err(map_codec)?;
            write_bin_header(&mut out, b.len());
            out.extend_from_slice(b);
        }
        Header::Array(n) => {
            enter(depth)?;
            write_array_header(&mut out, n as usize);
            if n > 0 {
                return Ok(Step::Open(Frame::Array { left: n, buf: out }, None));
            }
        }
        Header::Map(n) => {
            enter(depth)?;
            if n > 0 {
                // n is backed by input bytes (pre-scan), so this is bounded.
                let entries = Vec::with_capacity(n as usize);
                return Ok(Step::Open(Frame::Map { left: n, entries, key: None }, None));
            }
            write_map_header(&mut out, 0);
        }
        Header::Ext { len, .. } => {
            let (ty, data) = r.ext_body(len).map_err(map_codec)?;
            match ty {
                -1 => {
                    if profile == Profile::Value {
                        return Err(KeyError::TimestampInValue);
                    }
                    let micros = timestamp_micros(data)?;
                    write_args_float(&mut out, micros_to_seconds(micros))?;
                }
                1 => return open_set(data, depth),
                2 => {
                    let u: &[u8; 16] = data.try_into().map_err(|_| KeyError::InvalidUuid { len: data.len() })?;
                    write_str(&mut out, &uuid_string(u));
                }
                t => return Err(KeyError::UnsupportedExt(t)),
            }
        }
    }
    Ok(Step::Done(out))
}

fn enter(depth: usize) -> Result<(), KeyError> {
    if depth + 1 > MAX_DEPTH {
        return Err(KeyError::TooDeep);
    }
    Ok(())
}

fn float(out: &mut Vec<u8>, f: f64, profile: Profile) -> Result<(), KeyError> {
    match profile {
        Profile::Args => write_args_float(out, f),
        Profile::Value => {
            write_f64(out, f);
            Ok(())
        }
    }
}

/// A set: the payload is one MessagePack array. Its elements are read from
/// the payload, canonicalised, sorted by encoded bytes and deduplicated (so
/// `2` and `2.0` merge).
fn open_set(payload: &[u8], depth: usize) -> Result<Step<'_>, KeyError> {
    enter(depth)?;
    // The payload is a document of its own: pre-scan it with the depth that
    // remains, so nesting through sets is bounded like any other nesting.
    let remaining = MAX_DEPTH.saturating_sub(depth);
    check_document(payload, &Limits { max_depth: remaining, ..Limits::default() }).map_err(|e| match e {
        CodecError::TooDeep { .. } => KeyError::TooDeep,
        _ => KeyError::InvalidSet("payload is not one complete MessagePack document"),
    })?;
    let mut r = Reader::new(payload);
    match r.header().map_err(map_codec)? {
        Header::Array(0) => Ok(Step::Done(vec![0x90])),
        Header::Array(n) => Ok(Step::Open(Frame::Set { left: n, elems: Vec::with_capacity(n as usize) }, Some(r))),
        _ => Err(KeyError::InvalidSet("payload must be a MessagePack array")),
    }
}

fn uuid_string(u: &[u8; 16]) -> String {
    let h = hex::encode(u);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

// Python's datetime range (years 1..=9999, UTC), the reference implementation:
// a wider instant has no key there, so no SDK may mint one.
const MIN_SECONDS: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
const MAX_SECONDS: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

/// Decodes a MessagePack timestamp (ext -1, 4/8/12-byte forms) to whole
/// microseconds since the epoch, flooring sub-microsecond nanoseconds.
fn timestamp_micros(data: &[u8]) -> Result<i64, KeyError> {
    let (secs, nanos): (i64, u32) = match data.len() {
        4 => {
            let mut a = [0u8; 4];
            a.copy_from_slice(data);
            (u32::from_be_bytes(a) as i64, 0)
        }
        8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(data);
            let v = u64::from_be_bytes(a);
            ((v & 0x3_ffff_ffff) as i64, (v >> 34) as u32)
        }
        12 => {
            let mut n = [0u8; 4];
            n.copy_from_slice(&data[..4]);
            let mut s = [0u8; 8];
            s.copy_from_slice(&data[4..]);
            (i64::from_be_bytes(s), u32::from_be_bytes(n))
        }
        _ => return Err(KeyError::InvalidTimestamp("payload must be 4, 8 or 12 bytes")),
    };
    if nanos >= 1_000_000_000 {
        return Err(KeyError::InvalidTimestamp("nanoseconds field is 1e9 or more"));
    }
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&secs) {
        return Err(KeyError::InvalidTimestamp("outside years 1..=9999"));
    }
    // nanos >= 0, so truncating division is the floor; the timestamp form
    // already keeps the fraction non-negative for pre-epoch instants.
    Ok(secs * 1_000_000 + (nanos / 1000) as i64)
}

/// `micros / 10^6` correctly rounded to float64 (round half to even), as
/// Python's exact integer true division computes it. Below 2^53 the plain
/// float division is already exact-then-rounded once; above it the integer
/// to float conversion rounds first, so the neighbours are compared exactly.
fn micros_to_seconds(micros: i64) -> f64 {
    let q = micros as f64 / 1e6;
    if micros.unsigned_abs() <= 1 << 53 {
        return q;
    }
    // |q| >= 2^53 / 10^6 > 2^33, so every candidate is a normal float with a
    // binary exponent well inside i128 range for the comparisons below.
    let err = |c: f64| -> Option<(u128, bool)> {
        // c = mant * 2^exp exactly.
        let bits = c.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i32 - 1075;
        let mant = ((bits & ((1u64 << 52) - 1)) | (1u64 << 52)) as i128;
        let mant = if c < 0.0 { -mant } else { mant };
        // Compare c * 10^6 with micros, scaled by 2^-exp (exp is negative here).
        let shift = u32::try_from(-exp).ok().filter(|&s| s < 60)?;
        let lhs = mant.checked_mul(1_000_000)?;
        let rhs = (micros as i128).checked_mul(1i128 << shift)?;
        Some(((lhs - rhs).unsigned_abs(), bits & 1 == 0))
    };
    let up = f64::from_bits(q.to_bits() + 1);
    let down = f64::from_bits(q.to_bits() - 1);
    let mut best = q;
    let Some(mut best_err) = err(q) else { return q };
    for c in [down, up] {
        if let Some(e) = err(c) {
            if e.0 < best_err.0 || (e.0 == best_err.0 && e.1 && !best_err.1) {
                best = c;
                best_err = e;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_rounding_matches_exact_division() {
        // Below 2^53 micros: plain division.
        assert_eq!(micros_to_seconds(1_704_112_245_123_456), 1_704_112_245.123_456);
        // Above 2^53: year ~9000, compare with the exact rational rounded by
        // a float parse of the decimal string (which is correctly rounded).
        for m in [230_000_000_000_123_457i64, -62_000_000_000_999_999, 253_402_300_799_999_999] {
            let s = format!("{}.{:06}", m.div_euclid(1_000_000), m.rem_euclid(1_000_000));
            let exact: f64 = if m < 0 {
                // div_euclid floors; rebuild the decimal of a negative value.
                let a = m.unsigned_abs();
                format!("-{}.{:06}", a / 1_000_000, a % 1_000_000).parse().unwrap()
            } else {
                s.parse().unwrap()
            };
            assert_eq!(micros_to_seconds(m), exact, "{m}");
        }
    }

    #[test]
    fn segments() {
        assert!(validate_segment("a").is_ok());
        assert!(validate_segment("nsapi").is_ok());
        assert!(validate_namespace("nsapi").is_err());
        assert!(validate_segment("a..b").is_err());
        assert!(validate_segment("users\n").is_err());
    }
}
