//! A memo of key derivation, so that an L1 hit does not pay for
//! canonicalisation and Blake2b.
//!
//! A cache key is a pure function of (namespace handle, operation, argument
//! bytes), so remembering it can never be stale: deletes, clears and expiry
//! act on the entries the keys name, not on this memo. A wrapper encodes the
//! same call to the same bytes, so repeated calls find their key here with
//! one fast hash and one comparison.
//!
//! The memo is per thread: reading it writes no shared memory, so threads
//! that hit L1 at the same time do not slow each other down. (It is pure
//! data, so it stays valid in a forked child too.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Arguments longer than this are not memoised (rarely repeated, costly to keep).
const MAX_ARGS: usize = 512;
/// Entries per thread; a full memo starts over (it only saves work).
const MAX_ENTRIES: usize = 8192;

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
    owner: u64,
    operation: Box<str>,
    args: Box<[u8]>,
    key: Arc<str>,
}

thread_local! {
    static MEMO: RefCell<HashMap<u64, Memo, BuildHasherDefault<Identity>>> = RefCell::new(HashMap::default());
}

/// A unique id for each namespace handle, so that handles never share keys.
pub fn new_owner() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn hash(owner: u64, operation: &str, args: &[u8]) -> u64 {
    let seed = xxhash_rust::xxh3::xxh3_64_with_seed(operation.as_bytes(), owner);
    xxhash_rust::xxh3::xxh3_64_with_seed(args, seed)
}

/// The remembered key of `operation(args)` for handle `owner`.
#[inline]
pub fn get(owner: u64, operation: &str, args: &[u8]) -> Option<Arc<str>> {
    if args.len() > MAX_ARGS {
        return None;
    }
    let h = hash(owner, operation, args);
    MEMO.with(|m| {
        let m = m.borrow();
        let e = m.get(&h)?;
        (e.owner == owner && &*e.operation == operation && &*e.args == args).then(|| e.key.clone())
    })
}

/// Remember the key of `operation(args)` for handle `owner`.
pub fn put(owner: u64, operation: &str, args: &[u8], key: Arc<str>) {
    if args.len() > MAX_ARGS {
        return;
    }
    let h = hash(owner, operation, args);
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(h, Memo { owner, operation: operation.into(), args: args.into(), key });
    });
}

/// Entries remembered by this thread.
#[cfg(test)]
pub fn len() -> usize {
    MEMO.with(|m| m.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_exactly_what_it_was_given() {
        let (a, b) = (new_owner(), new_owner());
        assert!(get(a, "op", b"\x91\x01").is_none());
        put(a, "op", b"\x91\x01", "ns:op:h1".into());
        assert_eq!(get(a, "op", b"\x91\x01").as_deref(), Some("ns:op:h1"));
        assert!(get(a, "op", b"\x91\x02").is_none(), "other arguments");
        assert!(get(a, "other", b"\x91\x01").is_none(), "other operation");
        assert!(get(b, "op", b"\x91\x01").is_none(), "another handle");
        put(a, "op", &[0u8; 600], "big".into());
        assert!(get(a, "op", &[0u8; 600]).is_none(), "long arguments are not kept");
    }

    #[test]
    fn stays_within_its_bound() {
        let o = new_owner();
        for i in 0..20_000u32 {
            put(o, "op", &i.to_be_bytes(), format!("k{i}").into());
        }
        assert!(len() <= MAX_ENTRIES);
        put(o, "op", b"x", "kx".into());
        assert_eq!(get(o, "op", b"x").as_deref(), Some("kx"));
    }
}
