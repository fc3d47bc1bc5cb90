//! A memo of key derivation, so that an L1 hit does not pay for
//! canonicalisation and Blake2b.
//!
//! A cache key is a pure function of (operation, argument bytes) for a
//! given namespace handle, so remembering it can never be stale: deletes,
//! clears and expiry act on the entries the keys name, not on this memo. A
//! wrapper encodes the same call to the same bytes, so repeated calls find
//! their key here with one fast hash and one comparison.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Arguments longer than this are not memoised (rarely repeated, costly to keep).
const MAX_ARGS: usize = 512;
const SHARDS: usize = 16;

/// The map is keyed by an xxh3 hash already: hash it no further.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Memo {
    operation: Box<str>,
    args: Box<[u8]>,
    key: Arc<str>,
}

pub struct KeyMemo {
    shards: Box<[RwLock<HashMap<u64, Memo, BuildHasherDefault<Identity>>>]>,
    entries: AtomicUsize,
    max_entries: usize,
}

fn hash(operation: &str, args: &[u8]) -> u64 {
    let seed = xxhash_rust::xxh3::xxh3_64(operation.as_bytes());
    xxhash_rust::xxh3::xxh3_64_with_seed(args, seed)
}

impl KeyMemo {
    pub fn new(max_entries: usize) -> KeyMemo {
        KeyMemo {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::default())).collect(),
            entries: AtomicUsize::new(0),
            max_entries: max_entries.max(SHARDS),
        }
    }

    /// The remembered key of `operation(args)`.
    #[inline]
    pub fn get(&self, operation: &str, args: &[u8]) -> Option<Arc<str>> {
        if args.len() > MAX_ARGS {
            return None;
        }
        let h = hash(operation, args);
        let shard = self.shards[(h >> 32) as usize & (SHARDS - 1)].read();
        let m = shard.get(&h)?;
        (&*m.operation == operation && &*m.args == args).then(|| m.key.clone())
    }

    /// Remember the key of `operation(args)`.
    pub fn put(&self, operation: &str, args: &[u8], key: Arc<str>) {
        if args.len() > MAX_ARGS {
            return;
        }
        let h = hash(operation, args);
        let mut shard = self.shards[(h >> 32) as usize & (SHARDS - 1)].write();
        // Bounded: a full shard starts over (the memo only saves work).
        if shard.len() >= self.max_entries / SHARDS {
            self.entries.fetch_sub(shard.len(), Ordering::Relaxed);
            shard.clear();
        }
        let memo = Memo { operation: operation.into(), args: args.into(), key };
        if shard.insert(h, memo).is_none() {
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_exactly_what_it_was_given() {
        let m = KeyMemo::new(1024);
        assert!(m.get("op", b"\x91\x01").is_none());
        m.put("op", b"\x91\x01", "ns:op:h1".into());
        assert_eq!(m.get("op", b"\x91\x01").as_deref(), Some("ns:op:h1"));
        assert!(m.get("op", b"\x91\x02").is_none(), "other arguments");
        assert!(m.get("other", b"\x91\x01").is_none(), "other operation");
        m.put("op", &[0u8; 600], "big".into());
        assert!(m.get("op", &[0u8; 600]).is_none(), "long arguments are not kept");
    }

    #[test]
    fn stays_within_its_bound() {
        let m = KeyMemo::new(64);
        for i in 0..10_000u32 {
            m.put("op", &i.to_be_bytes(), format!("k{i}").into());
        }
        assert!(m.len() <= 64, "{}", m.len());
        m.put("op", b"x", "kx".into());
        assert_eq!(m.get("op", b"x").as_deref(), Some("kx"));
    }
}
