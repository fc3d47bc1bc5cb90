//! Fuzzing the decoders that read untrusted bytes from L2 (the envelope,
//! the decode-bounds pre-scan, the interop reader's containers,
//! decryption), the canonical-argument encoder, the JSON option parser and
//! the `cachekit` command's reader of stored entries (`inspect`).
//!
//! Tool: `proptest` (stable toolchain, no instrumentation build), driving
//! mutations of a seed corpus made of every hex document of the protocol's
//! vector files in `tests/vectors/` (bit flips, byte changes, insertions,
//! deletions, truncations, duplicated slices, splices of two seeds) plus
//! plain random bytes. A coverage-guided fuzzer (cargo-afl, cargo-fuzz)
//! would need an instrumented build or a nightly toolchain; structured
//! mutation of the real vectors reaches the decoders' deep paths (valid
//! headers, plausible lengths) that random bytes rarely do.
//!
//! Properties, for every input: no panic (a decoder answers Ok or Err),
//! and no decode allocates more than a bounded multiple of its input
//! (counted by this binary's global allocator, per thread): the envelope at
//! most `max_ratio` (1000) times its input plus 64 KiB (a legitimate LZ4
//! block may expand that much; more is refused before allocating); the
//! canonical encoders at most (16 + 2 x nesting limit) times (a map
//! re-encodes its entries in key order, so each level of nested maps copies
//! what it holds once: bounded by the nesting limit of 512, found by this
//! fuzzer; nested arrays no longer copy, see `key::canonicalize`); every
//! other decoder 16 times its input plus 64 KiB.
//!
//! `CACHEKIT_FUZZ_CASES` sets the cases per target (default 100,000: a few
//! seconds each in the test command); `ci/fuzz.sh` runs long and writes
//! the figures (`target/tmp/reliability/fuzz.json`) that
//! `ci/reliability-report.sh` shows. A finding is shrunk by proptest to a
//! small input: add it to `regressions()` below.

use cachekit::internals::codec::{check_document, decode_envelope, open_container, Container, Keyring, Limits};
use cachekit::internals::key::{canonicalize_args, canonicalize_value, interop_key, MAX_DEPTH};
use cachekit::CacheOptions;
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::OnceLock;

// ---- allocation accounting -------------------------------------------------

struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated on this thread while `f` runs (every allocation counted,
/// frees not subtracted: an upper bound of the peak).
fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(Cell::get);
    let r = f();
    (r, ALLOCATED.with(Cell::get) - before)
}

const SLACK: usize = 64 * 1024;

// ---- the seed corpus ---------------------------------------------------------

/// Every `*_hex` string of the protocol's vector files, decoded.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
        let mut out = Vec::new();
        for f in ["wire-format.json", "interop-mode.json", "encryption.json", "decode-bounds.json"] {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(f)).unwrap()).unwrap();
            collect_hex(&v, &mut out);
        }
        out.sort();
        out.dedup();
        out
    })
}

fn collect_hex(v: &serde_json::Value, out: &mut Vec<Vec<u8>>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match x.as_str() {
                    Some(s) if k.ends_with("_hex") => out.extend(hex::decode(s).ok()),
                    _ => collect_hex(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_hex(x, out)),
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Duplicate(usize, usize),
    Splice(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(p, b)| Mutation::FlipBit(p, b)),
        (any::<usize>(), prop_oneof![Just(0u8), Just(0xff), Just(0x7f), Just(0x80), Just(0xc1), Just(0xdd), Just(0xdf), any::<u8>()])
            .prop_map(|(p, v)| Mutation::SetByte(p, v)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, v)| Mutation::Insert(p, v)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Mutation::Duplicate(p, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(s, p)| Mutation::Splice(s, p)),
    ]
}

fn apply(mut b: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let at = |p: usize, len: usize| if len == 0 { 0 } else { p % len };
    match *m {
        Mutation::FlipBit(p, bit) if !b.is_empty() => {
            let i = at(p, b.len());
            b[i] ^= 1 << bit;
        }
        Mutation::SetByte(p, v) if !b.is_empty() => {
            let i = at(p, b.len());
            b[i] = v;
        }
        Mutation::Insert(p, v) => b.insert(at(p, b.len() + 1), v),
        Mutation::Delete(p) if !b.is_empty() => {
            b.remove(at(p, b.len()));
        }
        Mutation::Truncate(p) => b.truncate(at(p, b.len() + 1)),
        Mutation::Duplicate(p, n) if !b.is_empty() => {
            let i = at(p, b.len());
            let slice = b[i..(i + n).min(b.len())].to_vec();
            b.splice(i..i, slice);
        }
        Mutation::Splice(s, p) => {
            let other = &seeds()[s % seeds().len()];
            let i = at(p, b.len() + 1);
            let j = at(p, other.len() + 1);
            b.truncate(i);
            b.extend_from_slice(&other[j..]);
        }
        _ => {}
    }
    b
}

/// A mutated seed, or random bytes.
fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (any::<usize>(), proptest::collection::vec(mutation(), 1..6))
            .prop_map(|(s, ms)| ms.iter().fold(seeds()[s % seeds().len()].clone(), apply)),
        1 => proptest::collection::vec(any::<u8>(), 0..600),
    ]
}

fn cases() -> u32 {
    std::env::var("CACHEKIT_FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(100_000)
}

/// Run `check` on `cases()` inputs; report the executions (ci/fuzz.sh reads them).
fn fuzz(target: &str, strategy: impl Strategy<Value = Vec<u8>>, check: impl Fn(&[u8]) -> Result<(), TestCaseError>) {
    let mut runner = TestRunner::new(PtConfig { cases: cases(), failure_persistence: None, ..PtConfig::default() });
    let started = std::time::Instant::now();
    let r = runner.run(&strategy, |b| check(&b));
    println!("fuzz {target}: {} executions, {}", cases(), if r.is_ok() { "0 crashes" } else { "1 finding" });
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability").join("fuzz");
    std::fs::create_dir_all(&dir).unwrap();
    let figures = serde_json::json!({
        "target": target, "executions": cases(), "findings": u32::from(r.is_err()),
        "seconds": started.elapsed().as_secs_f64(), "seeds": seeds().len(),
    });
    std::fs::write(dir.join(format!("{}.json", target.replace(' ', "_"))), figures.to_string()).unwrap();
    if let Err(e) = r {
        panic!("fuzz {target}: {e}");
    }
}

fn bounded(target: &str, input: &[u8], allocated: usize, ratio: usize) -> Result<(), TestCaseError> {
    prop_assert!(
        allocated <= ratio * input.len() + SLACK,
        "{target}: {allocated} bytes allocated for an input of {} bytes (bound {ratio}x + 64 KiB): {}",
        input.len(),
        hex::encode(input)
    );
    Ok(())
}

// ---- targets ---------------------------------------------------------------

#[test]
fn the_seed_corpus_is_the_vector_files() {
    assert!(seeds().len() >= 100, "{} seeds", seeds().len());
}

#[test]
fn fuzz_envelope() {
    let limits = Limits::default();
    fuzz("envelope", input(), |b| {
        let (_, n) = allocated_by(|| decode_envelope(b, "msgpack", &limits));
        bounded("envelope", b, n, limits.max_ratio as usize)
    });
}

#[test]
fn fuzz_decode_bounds_and_containers() {
    let limits = Limits::default();
    fuzz("decode bounds and containers", input(), |b| {
        let (_, n) = allocated_by(|| check_document(b, &limits));
        bounded("check_document", b, n, 16)?;
        let (_, n) = allocated_by(|| open_container(b, Container::PlainMsgpack, "msgpack", &limits));
        bounded("plain container", b, n, 16)?;
        let (_, n) = allocated_by(|| open_container(b, Container::Checksummed, "msgpack", &limits));
        bounded("checksummed container", b, n, 16)
    });
}

#[test]
fn fuzz_decryption() {
    let ring = Keyring::new(&[7u8; 32], &[], "tenant").unwrap();
    // Real ciphertexts to mutate: seeds encrypted under this key.
    let aad = b"aad".to_vec();
    let sealed = input().prop_map(move |b| {
        let ring = Keyring::new(&[7u8; 32], &[], "tenant").unwrap();
        if b.len() % 2 == 0 {
            ring.encrypt(&b, b"aad")
        } else {
            b
        }
    });
    let strategy = (sealed, proptest::collection::vec(mutation(), 0..3)).prop_map(|(b, ms)| ms.iter().fold(b, apply));
    fuzz("decryption", strategy, |b| {
        let (_, n) = allocated_by(|| ring.decrypt(b, &aad));
        bounded("decrypt", b, n, 16)
    });
}

#[test]
fn fuzz_canonical_arguments_and_interop_keys() {
    let ratio = 16 + 2 * MAX_DEPTH;
    fuzz("canonical arguments", input(), |b| {
        let (_, n) = allocated_by(|| canonicalize_args(b));
        bounded("canonicalize_args", b, n, ratio)?;
        let (_, n) = allocated_by(|| canonicalize_value(b));
        bounded("canonicalize_value", b, n, ratio)?;
        let (_, n) = allocated_by(|| interop_key("ns1", "op", b));
        bounded("interop_key", b, n, ratio)
    });
}

#[test]
fn fuzz_option_json() {
    let seeds = [
        r#"{"ttl": 60, "format": "interop", "l1_enabled": false}"#,
        r#"{"circuit_breaker": {"enabled": true, "failure_threshold": 5, "recovery_timeout": 2.5}}"#,
        r#"{"adaptive_timeout": {"min_timeout": 0.1, "max_timeout": 10, "percentile_multiplier": 2.0}}"#,
        r#"{"encryption": true, "master_key": "00", "decrypt_only_keys": ["aa"], "tenant_id": "t"}"#,
        r#"{"stale_while_revalidate": 1e308, "early_refresh_beta": -0.0, "negative_ttl": 18446744073709551615}"#,
    ];
    let strategy = (0usize..seeds.len(), proptest::collection::vec(mutation(), 0..8))
        .prop_map(move |(s, ms)| ms.iter().fold(seeds[s].as_bytes().to_vec(), apply));
    fuzz("option json", strategy, |b| {
        let text = String::from_utf8_lossy(b);
        let _ = CacheOptions::from_json(Some(&text));
        let _ = cachekit::Config::load_with(Some(&text), |_| None);
        Ok(())
    });
}

/// Arrays nested in arrays are written in one buffer: the allocation for
/// 300 levels stays linear (it was quadratic: 115 KB for 332 bytes, found
/// by `fuzz_canonical_arguments_and_interop_keys`).
#[test]
fn nested_arrays_canonicalise_in_linear_allocation() {
    let allocated = |depth: usize| {
        let mut doc = vec![0x91u8; depth];
        doc.push(0x01);
        let (canon, n) = allocated_by(|| canonicalize_args(&doc).unwrap());
        assert_eq!(canon, doc, "already canonical");
        n
    };
    let (shallow, deep) = (allocated(200), allocated(400));
    // Twice the depth: about twice the allocation (quadratic would be four times).
    assert!(deep * 10 < shallow * 25, "{shallow} bytes for 200 levels, {deep} for 400: not linear");
}

#[test]
fn fuzz_inspect() {
    use cachekit::internals::inspect::{inspect, to_json, DecryptKeys};
    let limits = Limits::default();
    let keys = DecryptKeys { master_keys: vec![[7u8; 32]], tenants: vec!["tenant".into()], serializers: Vec::new() };
    fuzz("cli inspect", input(), |b| {
        // Rendering JSON allocates a map or an array per nesting level (a
        // few hundred bytes for two input bytes of an empty-keyed map), so
        // it has the canonical encoders' bound; inspect may also decompress
        // an envelope first (the envelope's bound).
        let json_ratio = 16 + 2 * MAX_DEPTH;
        let (_, n) = allocated_by(|| inspect("ns:op:0123456789abcdef:e1", b, &keys, &limits));
        bounded("inspect", b, n, limits.max_ratio as usize + json_ratio)?;
        let (_, n) = allocated_by(|| to_json(b, &limits));
        bounded("to_json", b, n, json_ratio)
    });
}

/// Inputs a run once found (shrunk), kept as regressions.
#[test]
fn regressions() {
    let limits = Limits::default();
    for hex_input in ["", "c1", "dd7fffffff", "df7fffffff", "c4ff", "92c0"] {
        let b = hex::decode(hex_input).unwrap();
        let _ = decode_envelope(&b, "msgpack", &limits);
        let _ = check_document(&b, &limits);
        let _ = canonicalize_args(&b);
    }
}
