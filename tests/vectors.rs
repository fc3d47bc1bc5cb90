//! Conformance tests against the cachekit protocol test vectors in
//! `tests/vectors/*.json` (see tests/vectors/PROVENANCE.md), plus unit tests
//! of the envelope and encryption round trips.

use cachekit::internals::codec::{
    build_aad, check_document, decode_envelope, decode_envelope_raw, encode_envelope, open_container, parse_master_key_hex, CodecError,
    Container, Keyring, Limits,
};
use cachekit::internals::key::{args_hash_hex, canonicalize_args, canonicalize_value, interop_key, KeyError};
use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

// ---- what a decode allocates ---------------------------------------------------
//
// The system allocator, counting the bytes each thread has live and its
// peak, so that a test can see what one call allocated at most.

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            track(l.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            track(l.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        track(-(l.size() as isize));
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            track(new as isize - l.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `f`'s result and the most bytes it had allocated at once (on this thread).
fn peak_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let r = f();
    (r, (PEAK.with(Cell::get) - start).max(0) as usize)
}

// ---- helpers -----------------------------------------------------------------

fn load(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", p.display()))
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("field {k} missing in {v}"))
}

fn h(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(s(v, k)).unwrap_or_else(|e| panic!("bad hex in {k}: {e}"))
}

fn arr<'a>(v: &'a Value, k: &str) -> &'a Vec<Value> {
    v[k].as_array().unwrap_or_else(|| panic!("array {k} missing"))
}

/// The vectors of list `k`: at least `min` of them (the count of the
/// vendored file), so that a vector file emptied or renamed fails the loop
/// instead of passing it.
fn vectors<'a>(v: &'a Value, k: &str, min: usize) -> &'a Vec<Value> {
    let vs = arr(v, k);
    assert!(vs.len() >= min, "{k}: {} vectors, expected at least {min}", vs.len());
    vs
}

fn name(v: &Value) -> &str {
    s(v, "name")
}

/// `[{hex, count}, ...]` segment lists (wire-format constructed vectors).
fn build_segments(list: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    for seg in list.as_array().unwrap() {
        let bytes = h(seg, "hex");
        for _ in 0..seg["count"].as_u64().unwrap() {
            out.extend_from_slice(&bytes);
        }
    }
    out
}

/// The one field of a reader vector that holds its hex document, whatever it
/// is named (`msgpack_hex` here, `input_hex` in a later revision).
fn doc_hex(v: &Value) -> Vec<u8> {
    let obj = v.as_object().unwrap();
    let keys: Vec<&String> = obj.keys().filter(|k| k.ends_with("_hex")).collect();
    assert_eq!(keys.len(), 1, "expected one *_hex field in {}", name(v));
    h(v, keys[0])
}

// ---- a test-only "wrapper" MessagePack encoder for tagged JSON -------------------
//
// It plays a language wrapper: its own encoding choices, deliberately NOT the
// shortest (ints as 64-bit, str/bin/array/map as *32, map keys in reverse
// order), so the tests prove the core's canonicalisation. Values a wrapper
// cannot put in MessagePack at all (naive datetime, integers beyond 64 bits)
// are refused here with the reason, as the real wrappers refuse them.

fn put_u32(out: &mut Vec<u8>, marker: u8, n: usize) {
    out.push(marker);
    out.extend_from_slice(&(n as u32).to_be_bytes());
}

fn enc_str(out: &mut Vec<u8>, t: &str) {
    put_u32(out, 0xdb, t.len());
    out.extend_from_slice(t.as_bytes());
}

fn enc_int(out: &mut Vec<u8>, v: i128) -> Result<(), String> {
    if v > u64::MAX as i128 {
        Err("integer above 2^64-1 cannot be encoded in MessagePack".into())
    } else if v < i64::MIN as i128 {
        Err("integer below -2^63 cannot be encoded in MessagePack".into())
    } else if v <= i64::MAX as i128 {
        // Signed 64-bit even for non-negative values: not the canonical marker.
        out.push(0xd3);
        out.extend_from_slice(&(v as i64).to_be_bytes());
        Ok(())
    } else {
        out.push(0xcf);
        out.extend_from_slice(&(v as u64).to_be_bytes());
        Ok(())
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)` to (seconds, nanoseconds).
fn parse_datetime(t: &str) -> Result<(i64, u32), String> {
    let num = |a: usize, b: usize| -> i64 { t[a..b].parse().unwrap() };
    let (y, mo, d, hh, mi, ss) = (num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19));
    let mut rest = &t[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
        rest = &frac[digits.len()..];
        let padded = format!("{digits:0<9}");
        nanos = padded[..9].parse().unwrap();
    }
    let offset = if rest == "Z" {
        0
    } else if rest.is_empty() {
        return Err("naive datetime (no UTC offset) has no instant".into());
    } else {
        let sign = if rest.starts_with('-') { -1 } else { 1 };
        let oh: i64 = rest[1..3].parse().unwrap();
        let om: i64 = rest[4..6].parse().unwrap();
        sign * (oh * 3600 + om * 60)
    };
    let secs = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - offset;
    Ok((secs, nanos))
}

fn enc(out: &mut Vec<u8>, v: &Value) -> Result<(), String> {
    match v {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => enc_int(out, n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)).unwrap())?,
        Value::String(t) => enc_str(out, t),
        Value::Array(items) => {
            put_u32(out, 0xdd, items.len());
            for i in items {
                enc(out, i)?;
            }
        }
        Value::Object(m) if m.len() == 1 && m.keys().next().unwrap().starts_with('$') => {
            let (tag, x) = m.iter().next().unwrap();
            match tag.as_str() {
                "$int" => enc_int(out, x.as_str().unwrap().parse::<i128>().unwrap())?,
                "$float" => {
                    out.push(0xcb);
                    let f: f64 = x.as_str().unwrap().parse().unwrap();
                    out.extend_from_slice(&f.to_bits().to_be_bytes());
                }
                "$bytes" => {
                    let b = hex::decode(x.as_str().unwrap()).unwrap();
                    put_u32(out, 0xc6, b.len());
                    out.extend_from_slice(&b);
                }
                "$uuid" => {
                    let b = hex::decode(x.as_str().unwrap().replace('-', "")).unwrap();
                    assert_eq!(b.len(), 16);
                    out.extend_from_slice(&[0xd8, 0x02]);
                    out.extend_from_slice(&b);
                }
                "$datetime" => {
                    let (secs, nanos) = parse_datetime(x.as_str().unwrap())?;
                    // timestamp 96: ext8, len 12, type -1, nsec u32, sec i64.
                    out.extend_from_slice(&[0xc7, 12, 0xff]);
                    out.extend_from_slice(&nanos.to_be_bytes());
                    out.extend_from_slice(&secs.to_be_bytes());
                }
                "$set" => {
                    let mut payload = Vec::new();
                    enc(&mut payload, x)?; // an array of the elements
                    put_u32(out, 0xc9, payload.len());
                    out.push(0x01);
                    out.extend_from_slice(&payload);
                }
                other => panic!("unknown tag {other}"),
            }
        }
        Value::Object(m) => {
            put_u32(out, 0xdf, m.len());
            // Reverse order: the core must sort.
            for (k, x) in m.iter().rev() {
                enc_str(out, k);
                enc(out, x)?;
            }
        }
    }
    Ok(())
}

fn wrapper_encode(v: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    enc(&mut out, v)?;
    Ok(out)
}

// ---- interop-mode.json ---------------------------------------------------------

#[test]
fn interop_key_vectors() {
    let d = load("interop-mode.json");
    for v in vectors(&d, "key_vectors", 44) {
        let input = wrapper_encode(&v["args"]).unwrap_or_else(|e| panic!("{}: {e}", name(v)));
        let canon = canonicalize_args(&input).unwrap_or_else(|e| panic!("{}: {e}", name(v)));
        assert_eq!(hex::encode(&canon), s(v, "canonical_args_hex"), "{}", name(v));
        assert_eq!(args_hash_hex(&canon), s(v, "args_hash"), "{}", name(v));
        let key = interop_key(s(v, "namespace"), s(v, "operation"), &input).unwrap();
        assert_eq!(key, s(v, "expected_key"), "{}", name(v));
        // Canonical input is a fixed point.
        assert_eq!(canonicalize_args(&canon).unwrap(), canon, "{}", name(v));
    }
}

/// Error vectors a wrapper cannot even encode as MessagePack input, so it
/// rejects them itself before calling the core, with the reason.
const REJECTED_BY_WRAPPER: &[(&str, &str)] = &[
    ("reject_int_overflow", "integer above 2^64-1: no MessagePack integer holds it"),
    ("reject_int_underflow", "integer below -2^63: no MessagePack integer holds it"),
    ("reject_naive_datetime", "naive datetime: no instant, so no timestamp ext"),
    ("reject_naive_datetime_nested", "naive datetime (inside a set in a map): no timestamp ext"),
    ("reject_int_overflow_in_list", "integer above 2^64-1 inside a list"),
    ("reject_int_underflow_in_map", "integer below -2^63 inside a map value"),
    ("reject_int_overflow_in_map", "integer above 2^64-1 inside a map value"),
    ("reject_int_underflow_in_list", "integer below -2^63 inside a list"),
];

/// The protocol's segment rule, as the vector file states it: a full match
/// of `^[a-z0-9][a-z0-9._-]{0,63}$`, no `..`; and the reserved namespaces.
fn segment_ok(s: &str, namespace: bool) -> bool {
    let b = s.as_bytes();
    let char_ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c);
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(char_ok)
        && !s.contains("..")
        && !(namespace && (s == "ns" || s == "nsapi"))
}

/// The error a rejected key vector must give: the segment the vector breaks
/// (the namespace is checked first), else what its `error` names.
fn expected_key_error(v: &Value, ns: &str, op: &str) -> (&'static str, fn(&KeyError) -> bool) {
    if !segment_ok(ns, true) {
        ("InvalidSegment of the namespace", |e| matches!(e, KeyError::InvalidSegment { role: "namespace", .. }))
    } else if !segment_ok(op, false) {
        ("InvalidSegment of the operation", |e| matches!(e, KeyError::InvalidSegment { role: "operation", .. }))
    } else if s(v, "error").contains("NaN") || s(v, "error").contains("Infinity") {
        ("NonFiniteFloat", |e| matches!(e, KeyError::NonFiniteFloat))
    } else {
        panic!("{}: the vector names no error this test knows: {:?}", name(v), s(v, "error"))
    }
}

#[test]
fn interop_error_vectors() {
    let d = load("interop-mode.json");
    let mut by_wrapper = BTreeSet::new();
    for v in vectors(&d, "error_vectors", 32) {
        let ns = v["namespace"].as_str().unwrap_or("t");
        let op = v["operation"].as_str().unwrap_or("op");
        match wrapper_encode(&v["args"]) {
            Err(_) => {
                by_wrapper.insert(name(v).to_owned());
            }
            Ok(input) => {
                let e = interop_key(ns, op, &input).expect_err(&format!("{} must be rejected by the core", name(v)));
                let (kind, is) = expected_key_error(v, ns, op);
                assert!(is(&e), "{}: expected {kind}, got {e:?}", name(v));
            }
        }
    }
    let expected: BTreeSet<String> = REJECTED_BY_WRAPPER.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(by_wrapper, expected, "the wrapper-rejected list must be exactly these vectors");
}

#[test]
fn interop_value_vectors() {
    let d = load("interop-mode.json");
    for v in vectors(&d, "value_vectors", 6) {
        let input = wrapper_encode(&v["value"]).unwrap();
        let canon = canonicalize_value(&input).unwrap_or_else(|e| panic!("{}: {e}", name(v)));
        assert_eq!(hex::encode(&canon), s(v, "canonical_msgpack_hex"), "{}", name(v));
        check_document(&canon, &Limits::default()).unwrap();
    }
}

#[test]
fn interop_reader_vectors() {
    let d = load("interop-mode.json");
    for v in vectors(&d, "reader_accept_vectors", 6) {
        check_document(&doc_hex(v), &Limits::default()).unwrap_or_else(|e| panic!("{}: {e}", name(v)));
    }
    for v in vectors(&d, "reader_reject_vectors", 1) {
        let e = check_document(&doc_hex(v), &Limits::default()).expect_err(name(v));
        match s(v, "error") {
            e_text if e_text.contains("trailing bytes") => assert!(matches!(e, CodecError::TrailingBytes { .. }), "{}: {e:?}", name(v)),
            other => panic!("{}: the vector names no error this test knows: {other:?}", name(v)),
        }
    }
}

#[test]
fn interop_aad_and_encryption_vectors() {
    let d = load("interop-mode.json");
    for v in vectors(&d, "aad_vectors", 1) {
        let aad = build_aad(s(v, "tenant_id"), s(v, "cache_key"), s(v, "format"), v["compressed"].as_bool().unwrap(), None);
        assert_eq!(hex::encode(aad), s(v, "aad_hex"), "{}", name(v));
    }
    for v in vectors(&d, "encryption_vectors", 1) {
        let kr = Keyring::new(&h(v, "master_key_hex"), &[], s(v, "tenant_id")).unwrap();
        assert_eq!(hex::encode(kr.fingerprint()), s(v, "derived_key_fingerprint_hex"));
        let aad = build_aad(s(v, "tenant_id"), s(v, "cache_key"), s(v, "format"), v["compressed"].as_bool().unwrap(), None);
        assert_eq!(hex::encode(&aad), s(v, "aad_hex"));
        let nonce: [u8; 12] = h(v, "nonce_hex").try_into().unwrap();
        let ct = kr.encrypt_with_nonce(&h(v, "plaintext_hex"), &aad, &nonce);
        assert_eq!(hex::encode(&ct), s(v, "ciphertext_hex"), "{}", name(v));
        assert_eq!(kr.decrypt(&ct, &aad).unwrap(), h(v, "plaintext_hex"));
    }
}

// ---- wire-format.json ----------------------------------------------------------

#[test]
fn wire_format_vectors_decode_and_reencode() {
    let d = load("wire-format.json");
    let lim = Limits::default();
    let mut bin_count = 0;
    let mut not_msgpack = BTreeSet::new();
    for v in vectors(&d, "vectors", 18) {
        let env = h(v, "envelope_hex");
        let input = h(v, "input_hex");
        let fmt = s(v, "format");
        // The envelope layer decodes every vector.
        let raw = decode_envelope_raw(&env, fmt, &lim).unwrap_or_else(|e| panic!("{}: {e}", name(v)));
        assert_eq!(raw, input, "{}", name(v));
        // The read path also pre-scans a "msgpack" payload: the original
        // vectors hold raw bytes (text, random bytes) that are no document.
        let doc_ok = check_document(&input, &lim).is_ok();
        if doc_ok {
            assert_eq!(decode_envelope(&env, fmt, &lim).unwrap(), input, "{}", name(v));
        } else {
            assert!(decode_envelope(&env, fmt, &lim).is_err(), "{}", name(v));
            not_msgpack.insert(name(v).to_owned());
        }
        let ours = encode_envelope(&input, fmt);
        if v["envelope_encoding"].as_str() == Some("bin") {
            bin_count += 1;
            assert_eq!(hex::encode(&ours), s(v, "envelope_hex"), "{} must re-encode byte-identically", name(v));
        } else {
            assert_eq!(decode_envelope_raw(&ours, fmt, &lim).unwrap(), input, "{}", name(v));
        }
    }
    assert!(bin_count >= 9);
    eprintln!("payloads that are not one MessagePack document: {not_msgpack:?}");
    // The empty payload is the one-byte block 00.
    assert_eq!(&encode_envelope(&[], "msgpack")[..3], &[0x94, 0xc4, 0x01]);
    assert_eq!(encode_envelope(&[], "msgpack")[3], 0x00);
}

#[test]
fn wire_format_constructed_vectors() {
    let d = load("wire-format.json");
    let lim = Limits::default();
    for v in vectors(&d, "constructed_vectors", 4) {
        let env = build_segments(&v["envelope_construction"]);
        let input = build_segments(&v["input_construction"]);
        assert_eq!(env.len() as u64, v["envelope_size"].as_u64().unwrap());
        assert_eq!(input.len() as u64, v["original_size"].as_u64().unwrap());
        let t = Instant::now();
        let out = decode_envelope(&env, s(v, "format"), &lim).unwrap_or_else(|e| panic!("{}: {e}", name(v)));
        assert!(out == input, "{} decoded to other bytes", name(v));
        eprintln!("{}: decoded {} B in {:?}", name(v), env.len(), t.elapsed());
    }
}

#[test]
fn wire_format_reject_vectors() {
    let d = load("wire-format.json");
    let lim = Limits::default();
    for v in vectors(&d, "reject_vectors", 14) {
        let r = decode_envelope(&h(v, "envelope_hex"), s(v, "format"), &lim);
        assert!(r.is_err(), "{} must be rejected", name(v));
        let e = r.unwrap_err();
        // Each vector names its check (`reject_check`) or the step of the
        // reference's Retrieve Flow that refuses it (`reject_step`; step 5
        // holds two checks, which its description tells apart).
        let description = s(v, "description");
        let (kind, ok) = match (v["reject_check"].as_str(), v["reject_step"].as_u64()) {
            (Some("typed_decode"), _) => ("EnvelopeShape", matches!(e, CodecError::EnvelopeShape(_))),
            (Some("decode_bounds"), _) => ("Overclaim", matches!(e, CodecError::Overclaim { .. })),
            (Some(other), _) => panic!("{}: unknown reject_check {other}", name(v)),
            (None, Some(4)) => ("SizeTooLarge", matches!(e, CodecError::SizeTooLarge { .. })),
            (None, Some(5)) if description.contains("zero-length error") => ("EmptyCompressedData", matches!(e, CodecError::EmptyCompressedData)),
            (None, Some(5)) if description.contains("ratio error") => ("RatioTooHigh", matches!(e, CodecError::RatioTooHigh { .. })),
            (None, Some(6)) => ("LengthMismatch or Decompress", matches!(e, CodecError::LengthMismatch { .. } | CodecError::Decompress(_))),
            (None, Some(8)) => ("ChecksumMismatch", matches!(e, CodecError::ChecksumMismatch)),
            (None, step) => panic!("{}: no expected error for reject_step {step:?}", name(v)),
        };
        assert!(ok, "{}: expected {kind}, got {e:?}", name(v));
    }
    for v in vectors(&d, "payload_reject_vectors", 2) {
        let env = h(v, "envelope_hex");
        let e = decode_envelope(&env, s(v, "format"), &lim).unwrap_err();
        assert!(matches!(e, CodecError::Overclaim { .. }), "{}: {e:?}", name(v));
        // The payload itself is what the pre-scan refuses.
        assert!(matches!(check_document(&h(v, "input_hex"), &lim), Err(CodecError::Overclaim { .. })));
    }
}

#[test]
fn wire_format_temporal_sentinels_and_format_mismatch() {
    let d = load("wire-format.json");
    for v in vectors(&d, "temporal_sentinel_vectors", 3) {
        let p = h(v, "payload_hex");
        check_document(&p, &Limits::default()).unwrap();
        // They also travel through an envelope unchanged.
        assert_eq!(decode_envelope(&encode_envelope(&p, "msgpack"), "msgpack", &Limits::default()).unwrap(), p);
    }
    let env = encode_envelope(b"{}", "json");
    match decode_envelope(&env, "msgpack", &Limits::default()) {
        Err(CodecError::FormatMismatch { found, expected }) => {
            assert_eq!((found.as_str(), expected.as_str()), ("json", "msgpack"));
        }
        other => panic!("expected FormatMismatch, got {other:?}"),
    }
    // A non-msgpack format is not pre-scanned as MessagePack.
    assert_eq!(decode_envelope(&env, "json", &Limits::default()).unwrap(), b"{}");
}

// ---- decode-bounds.json ----------------------------------------------------------

fn bounds_input(v: &Value) -> Vec<u8> {
    let c = &v["construction"];
    let mut input = Vec::new();
    let rep = h(c, "repeat_hex");
    for _ in 0..c["count"].as_u64().unwrap() {
        input.extend_from_slice(&rep);
    }
    input.extend_from_slice(&h(c, "suffix_hex"));
    assert_eq!(hex::encode(&input), s(v, "input_hex"), "{}", name(v));
    input
}

/// The error a decode-bounds reject vector may give: one of its
/// `reject_reasons`, or too deep when it nests deeper than `max_depth`.
fn bounds_error_ok(v: &Value, e: &CodecError, max_depth: usize) -> bool {
    let reasons: Vec<&str> = arr(v, "reject_reasons").iter().map(|r| r.as_str().unwrap()).collect();
    let too_deep = v["nesting_depth"].as_u64().unwrap() as usize > max_depth;
    reasons.iter().any(|r| match *r {
        "depth" => matches!(e, CodecError::TooDeep { .. }),
        "overclaim" => matches!(e, CodecError::Overclaim { .. }),
        "incomplete" => matches!(e, CodecError::Incomplete),
        other => panic!("{}: unknown reject reason {other}", name(v)),
    }) || (too_deep && matches!(e, CodecError::TooDeep { .. }))
}

#[test]
fn decode_bounds_vectors() {
    let d = load("decode-bounds.json");
    let lim = Limits::default();
    let rejects = vectors(&d, "reject_vectors", 19);
    let accepts = vectors(&d, "accept_vectors", 3);
    for v in rejects {
        let input = bounds_input(v);
        // Refused before allocating by the headers' claims (up to 2^33
        // slots): what the check allocates is bounded by its input.
        let (r, peak) = peak_alloc(|| check_document(&input, &lim));
        let e = r.expect_err(&format!("{} must be rejected", name(v)));
        assert!(bounds_error_ok(v, &e, lim.max_depth), "{}: {e:?} is none of its reject_reasons", name(v));
        let alloc_bound = 64 * 1024 + 16 * input.len();
        assert!(peak <= alloc_bound, "{} allocated {peak} bytes for {} input bytes (bound {alloc_bound})", name(v), input.len());
    }
    for v in accepts {
        let input = bounds_input(v);
        check_document(&input, &lim).unwrap_or_else(|e| panic!("{}: {e}", name(v)));
    }
    // Fast: refusing every reject vector (a few KiB in all) takes less than
    // checking one valid 1 MiB document, measured in the same run (each the
    // best of three): a check that walked the claims instead of the input
    // would take thousands of times longer.
    let best = |f: &dyn Fn()| (0..3).map(|_| {
        let t = Instant::now();
        f();
        t.elapsed()
    }).min().unwrap();
    let inputs: Vec<Vec<u8>> = rejects.iter().map(bounds_input).collect();
    let reject_all = best(&|| inputs.iter().for_each(|i| assert!(check_document(i, &lim).is_err())));
    let mut big = vec![0xdd];
    big.extend_from_slice(&(1u32 << 20).to_be_bytes());
    big.resize(5 + (1 << 20), 0xc0);
    let one_mib = best(&|| check_document(&big, &lim).unwrap());
    let total: usize = inputs.iter().map(Vec::len).sum();
    eprintln!("rejecting {total} bytes: {reject_all:?}; checking 1 MiB: {one_mib:?}");
    assert!(total * 20 < big.len(), "the reject vectors are small next to the baseline ({total} bytes)");
    assert!(reject_all < one_mib.max(Duration::from_micros(100)), "rejecting {total} bytes took {reject_all:?}, checking 1 MiB {one_mib:?}");
    // The tightest and loosest depth bounds the protocol allows behave alike here.
    for depth in [32, 1024] {
        let l = Limits { max_depth: depth, ..Limits::default() };
        for v in accepts {
            check_document(&bounds_input(v), &l).unwrap();
        }
        for v in rejects {
            let e = check_document(&bounds_input(v), &l).expect_err(name(v));
            assert!(bounds_error_ok(v, &e, depth), "{} at depth {depth}: {e:?}", name(v));
        }
    }
}

// ---- encryption.json --------------------------------------------------------------

fn aad_of(v: &Value, tenant: &str) -> Vec<u8> {
    build_aad(
        tenant,
        s(v, "cache_key"),
        s(v, "format"),
        v["compressed"].as_bool().unwrap(),
        v["original_type"].as_str(),
    )
}

#[test]
fn encryption_main_vectors() {
    let d = load("encryption.json");
    let tenant = s(&d, "tenant_id");
    let kr = Keyring::new(&parse_master_key_hex(s(&d, "master_key_hex")).unwrap(), &[], tenant).unwrap();
    assert_eq!(kr.tenant(), tenant);
    assert_eq!(hex::encode(kr.fingerprint()), s(&d, "derived_key_fingerprint_hex"));
    for v in vectors(&d, "vectors", 9) {
        let aad = aad_of(v, tenant);
        assert_eq!(hex::encode(&aad), s(v, "aad_hex"), "{}", name(v));
        let ct = h(v, "ciphertext_hex");
        assert_eq!(kr.decrypt(&ct, &aad).unwrap_or_else(|e| panic!("{}: {e}", name(v))), h(v, "plaintext_hex"));
        let nonce: [u8; 12] = ct[..12].try_into().unwrap();
        assert_eq!(kr.encrypt_with_nonce(&h(v, "plaintext_hex"), &aad, &nonce), ct, "{}", name(v));
    }
    for v in vectors(&d, "aad_reject_vectors", 10) {
        let aad = aad_of(v, tenant);
        assert_eq!(hex::encode(&aad), s(v, "aad_hex"), "{}", name(v));
        assert_eq!(kr.decrypt(&h(v, "ciphertext_hex"), &aad), Err(CodecError::DecryptFailed), "{}", name(v));
    }
}

#[test]
fn encryption_keyring() {
    let d = load("encryption.json");
    let k = &d["keyring"];
    let tenant = s(k, "tenant_id");
    let entries = vectors(k, "entries", 2);
    let key_of = |id: &str| -> Vec<u8> {
        let e = entries.iter().find(|e| s(e, "id") == id).unwrap();
        parse_master_key_hex(s(e, "master_key_hex")).unwrap().to_vec()
    };
    for e in entries {
        let kr = Keyring::new(&key_of(s(e, "id")), &[], tenant).unwrap();
        assert_eq!(hex::encode(kr.fingerprint()), s(e, "derived_key_fingerprint_hex"));
    }
    // Either key current, the other decrypt-only: both entries decrypt.
    for (cur, old) in [("k1", "k2"), ("k2", "k1")] {
        let kr = Keyring::new(&key_of(cur), &[key_of(old)], tenant).unwrap();
        for v in vectors(k, "vectors", 2) {
            let aad = aad_of(v, tenant);
            assert_eq!(hex::encode(&aad), s(v, "aad_hex"));
            assert_eq!(kr.decrypt(&h(v, "ciphertext_hex"), &aad).unwrap(), h(v, "plaintext_hex"), "{}", name(v));
        }
        // Without the old key, its entry does not decrypt.
        let alone = Keyring::new(&key_of(cur), &[], tenant).unwrap();
        for v in vectors(k, "vectors", 2) {
            let r = alone.decrypt(&h(v, "ciphertext_hex"), &aad_of(v, tenant));
            assert_eq!(r.is_ok(), s(v, "encrypted_with") == cur, "{}", name(v));
        }
    }
    for v in vectors(&k["configuration"], "vectors", 4) {
        let result = (|| -> Result<Keyring, CodecError> {
            let cur = parse_master_key_hex(s(v, "current_master_key_hex"))?;
            let olds = arr(v, "decrypt_only_master_keys_hex")
                .iter()
                .map(|x| parse_master_key_hex(x.as_str().unwrap()).map(|k| k.to_vec()))
                .collect::<Result<Vec<_>, _>>()?;
            Keyring::new(&cur, &olds, "default")
        })();
        match s(v, "verdict") {
            "accept" => assert!(result.is_ok(), "{}: {:?}", name(v), result.err()),
            "reject" => assert!(matches!(result, Err(CodecError::InvalidKeyring(_))), "{} must be refused as a keyring: {:?}", name(v), result.err()),
            other => panic!("unknown verdict {other}"),
        }
    }
}

#[test]
fn encryption_decrypted_container() {
    let d = load("encryption.json");
    let tenant = s(&d, "tenant_id");
    let kr = Keyring::new(&parse_master_key_hex(s(&d, "master_key_hex")).unwrap(), &[], tenant).unwrap();
    let lim = Limits::default();
    for v in vectors(&d["decrypted_container"], "vectors", 6) {
        let aad = aad_of(v, tenant);
        assert_eq!(hex::encode(&aad), s(v, "aad_hex"), "{}", name(v));
        let pt = kr.decrypt(&h(v, "ciphertext_hex"), &aad).unwrap();
        assert_eq!(pt, h(v, "plaintext_hex"));
        let container = match s(v, "reader") {
            "plain_msgpack" | "interop" => Container::PlainMsgpack,
            "bytestorage_envelope" => Container::Envelope,
            "arrow_checksummed" | "orjson_checksummed" => Container::Checksummed,
            other => panic!("unknown reader {other}"),
        };
        let r = open_container(&pt, container, s(v, "format"), &lim);
        match s(v, "outcome") {
            "error" => assert!(r.is_err(), "{} must give no value, got {r:?}", name(v)),
            "not_unwrapped" => {
                // Either no value or the plaintext as one document; never the
                // value inside the envelope.
                if let Ok(bytes) = &r {
                    assert_eq!(bytes, &pt, "{}", name(v));
                }
            }
            other => panic!("unknown outcome {other}"),
        }
    }
}

#[test]
fn encryption_default_tenant_and_master_key_input() {
    let d = load("encryption.json");
    let dt = &d["default_tenant"];
    let kr = Keyring::new(&parse_master_key_hex(s(&d, "master_key_hex")).unwrap(), &[], s(dt, "tenant_id")).unwrap();
    assert_eq!(hex::encode(kr.fingerprint()), s(dt, "derived_key_fingerprint_hex"));
    for v in vectors(dt, "vectors", 1) {
        let aad = aad_of(v, "default");
        assert_eq!(hex::encode(&aad), s(v, "aad_hex"));
        assert_eq!(kr.decrypt(&h(v, "ciphertext_hex"), &aad).unwrap(), h(v, "plaintext_hex"));
    }
    let mk = &d["master_key_input"];
    let tenant = s(mk, "tenant_id");
    for v in vectors(mk, "accept_vectors", 2) {
        let key = parse_master_key_hex(s(v, "master_key_hex")).unwrap_or_else(|e| panic!("{}: {e}", name(v)));
        let kr = Keyring::new(&key, &[], tenant).unwrap();
        assert_eq!(hex::encode(kr.fingerprint()), s(v, "derived_key_fingerprint_hex"), "{}", name(v));
        let aad = aad_of(v, tenant);
        assert_eq!(hex::encode(&aad), s(v, "aad_hex"));
        assert_eq!(kr.decrypt(&h(v, "ciphertext_hex"), &aad).unwrap(), h(v, "plaintext_hex"), "{}", name(v));
        // The raw-bytes entry point takes the same 32 bytes.
        assert_eq!(Keyring::new(&key, &[], tenant).unwrap().fingerprint(), kr.fingerprint());
    }
    for v in vectors(mk, "reject_vectors", 11) {
        let r = parse_master_key_hex(s(v, "master_key_hex"));
        assert!(matches!(r, Err(CodecError::InvalidMasterKey(_))), "{} must be refused as a master key: {r:?}", name(v));
    }
    for v in vectors(mk, "raw_reject_vectors", 5) {
        let r = Keyring::new(&h(v, "raw_key_hex"), &[], tenant);
        assert!(matches!(r, Err(CodecError::InvalidKeyring(_))), "{} must be refused as a raw key: {:?}", name(v), r.err());
        // Also as a decrypt-only key.
        let r = Keyring::new(&[7u8; 32], &[h(v, "raw_key_hex")], tenant);
        assert!(matches!(r, Err(CodecError::InvalidKeyring(_))), "{}: {:?}", name(v), r.err());
    }
}

// ---- unit tests ----------------------------------------------------------------------

fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Half random, half repetitive, so LZ4 finds matches too.
            if (i / 4096) % 2 == 0 {
                x as u8
            } else {
                b'a' + (i % 7) as u8
            }
        })
        .collect()
}

#[test]
fn envelope_round_trips() {
    let lim = Limits::default();
    for n in [0usize, 100, 1 << 20] {
        let p = pseudo_random(n);
        let env = encode_envelope(&p, "raw");
        assert_eq!(decode_envelope(&env, "raw", &lim).unwrap(), p, "{n} bytes");
    }
}

#[test]
fn envelope_corruption_is_rejected() {
    let lim = Limits::default();
    let p = pseudo_random(5000);
    let env = encode_envelope(&p, "raw");
    // Every single-bit flip in a sample of positions, and every truncation.
    for i in (0..env.len()).step_by(7) {
        for bit in [0u8, 3, 7] {
            let mut bad = env.clone();
            bad[i] ^= 1 << bit;
            assert!(decode_envelope(&bad, "raw", &lim).is_err(), "flip byte {i} bit {bit}");
        }
    }
    for cut in (0..env.len()).step_by(13) {
        assert!(decode_envelope(&env[..cut], "raw", &lim).is_err(), "truncated to {cut}");
    }
    let mut extra = env.clone();
    extra.push(0);
    assert!(matches!(decode_envelope(&extra, "raw", &lim), Err(CodecError::TrailingBytes { .. })));
}

#[test]
fn encryption_binds_key_and_nonces_are_unique() {
    let kr = Keyring::new(&[1u8; 32], &[], "default").unwrap();
    let aad = build_aad("default", "ns:op:abc", "msgpack", false, None);
    let other = build_aad("default", "ns:op:abd", "msgpack", false, None);
    let ct = kr.encrypt(b"hello", &aad);
    assert_eq!(ct.len(), 12 + 5 + 16);
    assert_eq!(kr.decrypt(&ct, &aad).unwrap(), b"hello");
    assert_eq!(kr.decrypt(&ct, &other), Err(CodecError::DecryptFailed));
    // Another tenant derives another key.
    let kr2 = Keyring::new(&[1u8; 32], &[], "tenant-b").unwrap();
    assert_ne!(kr.fingerprint(), kr2.fingerprint());
    assert_eq!(kr2.decrypt(&ct, &aad), Err(CodecError::DecryptFailed));
    // Tampering and truncation fail.
    let mut bad = ct.clone();
    bad[14] ^= 1;
    assert!(kr.decrypt(&bad, &aad).is_err());
    assert!(matches!(kr.decrypt(&ct[..27], &aad), Err(CodecError::CiphertextTooShort { .. })));
    // Nonces: same instance id, counter increasing, never repeated.
    let mut seen = BTreeSet::new();
    let mut first_ids = BTreeSet::new();
    for _ in 0..10_000 {
        let c = kr.encrypt(b"x", &aad);
        first_ids.insert(c[..8].to_vec());
        assert!(seen.insert(c[..12].to_vec()), "nonce repeated");
    }
    assert_eq!(first_ids.len(), 1);
    // Two keyrings draw different instance ids.
    let a = Keyring::new(&[1u8; 32], &[], "default").unwrap().encrypt(b"x", &aad);
    let b = Keyring::new(&[1u8; 32], &[], "default").unwrap().encrypt(b"x", &aad);
    assert_ne!(a[..8], b[..8]);
    // Concurrent use from threads: the keyring is Send + Sync and unique.
    let kr = std::sync::Arc::new(kr);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let kr = kr.clone();
            let aad = aad.clone();
            std::thread::spawn(move || (0..1000).map(|_| kr.encrypt(b"y", &aad)[..12].to_vec()).collect::<Vec<_>>())
        })
        .collect();
    let mut all = BTreeSet::new();
    for hnd in handles {
        for n in hnd.join().unwrap() {
            assert!(all.insert(n));
        }
    }
    let cfg_err = Keyring::new(&[1u8; 32], &[], "").unwrap_err();
    assert!(cfg_err.to_string().contains("default"));
}

#[test]
fn canonical_input_edge_cases() {
    // Root must be an array for args.
    assert!(canonicalize_args(&[0x01]).is_err());
    // Non-string map key.
    assert!(canonicalize_args(&[0x91, 0x81, 0x01, 0x02]).is_err());
    // Unknown ext type.
    assert!(canonicalize_args(&[0x91, 0xd4, 0x05, 0x00]).is_err());
    // UUID with 15 bytes.
    let mut u = vec![0x91, 0xc7, 15, 0x02];
    u.extend_from_slice(&[0u8; 15]);
    assert!(canonicalize_args(&u).is_err());
    // float32 1.5 -> float64; float32 2.0 -> int 2.
    assert_eq!(canonicalize_args(&[0x92, 0xca, 0x3f, 0xc0, 0, 0, 0xca, 0x40, 0, 0, 0]).unwrap(), hex::decode("92cb3ff800000000000002").unwrap());
    // Timestamp 32 and 64 forms.
    let ts32 = [0x91, 0xd6, 0xff, 0x65, 0x92, 0x00, 0x80];
    assert_eq!(hex::encode(canonicalize_args(&ts32).unwrap()), "91ce65920080");
    let v64: u64 = (123_456_789u64 << 34) | 0x6592_0080;
    let mut ts64 = vec![0x91, 0xd7, 0xff];
    ts64.extend_from_slice(&v64.to_be_bytes());
    let c = canonicalize_args(&ts64).unwrap();
    assert_eq!(c[1], 0xcb);
    assert_eq!(f64::from_bits(u64::from_be_bytes(c[2..10].try_into().unwrap())), 1_704_067_200.123_456);
    // Duplicate map keys are refused; trailing bytes and truncation too.
    assert!(canonicalize_args(&hex::decode("9182a16101a16102").unwrap()).is_err());
    assert!(canonicalize_args(&[0x90, 0x00]).is_err());
    assert!(canonicalize_args(&[0x92, 0x01]).is_err());
    // Depth bound and sets nested through ext payloads.
    let mut deep = vec![0x91; 600];
    deep.push(0xc0);
    assert!(canonicalize_args(&deep).is_err());
    // A set of sets via ext: [{ {1} }] canonicalises.
    let inner = [0xd5, 0x01, 0x91, 0x01]; // fixext2 type 1 payload [1]
    let mut outer = vec![0x91, 0xc7, (1 + inner.len()) as u8, 0x01, 0x91];
    outer.extend_from_slice(&inner);
    assert_eq!(hex::encode(canonicalize_args(&outer).unwrap()), "91919101");
    // Errors read well.
    let e = interop_key("Users", "get", &[0x90]).unwrap_err();
    assert!(e.to_string().contains("namespace"), "{e}");
}

#[test]
fn deep_but_allowed_input_and_thread_safety() {
    // 512 levels (the bound) canonicalise without exhausting a test thread's stack.
    let mut deep = vec![0x91; 512];
    deep.push(0xc0);
    assert_eq!(canonicalize_args(&deep).unwrap(), deep);
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Keyring>();
    send_sync::<CodecError>();
    send_sync::<cachekit::internals::key::KeyError>();
}
