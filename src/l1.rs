//! The in-process L1: verified value bytes with a TTL, bounded in bytes per
//! namespace, safe for many threads.
//!
//! Each namespace has its own [`L1Namespace`], split into shards by key hash
//! so that readers of different keys never touch the same lock. A read takes
//! a shard's read lock only and marks the entry as recently used with a
//! relaxed atomic store; eviction uses CLOCK (second chance) over a FIFO of
//! keys, which approximates LRU without making every hit a write.

use parking_lot::RwLock;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Bytes accounted per entry on top of key and value (map slot, queue slot,
/// Arc header): keeps the byte bound honest for tiny values.
const ENTRY_OVERHEAD: usize = 96;
const SHARDS: usize = 64;

/// A shard on cache lines of its own: neighbouring shards used by different
/// threads must not share a line (false sharing on the lock word).
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A stored value: shared, immutable bytes.
pub type Bytes = Arc<[u8]>;

struct Entry {
    value: Bytes,
    expires: Option<Instant>,
    /// When a caller should start refreshing the entry (stale-while-revalidate).
    refresh_at: Option<Instant>,
    visited: AtomicBool,
    id: u64,
    size: usize,
}

/// xxh3: fast on the ~90-byte keys; keys are Blake2b-derived, so a fixed
/// seed gives an attacker nothing to aim at.
type Hasher = xxhash_rust::xxh3::Xxh3DefaultBuilder;

#[derive(Default)]
struct Shard {
    map: HashMap<Box<str>, Entry, Hasher>,
    /// Keys in insertion order with the id of the entry they were queued for;
    /// a stale pair (replaced or removed entry) is skipped by the clock hand.
    queue: VecDeque<(Box<str>, u64)>,
    bytes: usize,
}

/// Hit and miss counters of one stripe, on a cache line of their own. Each
/// thread counts in its own stripe, so readers never write a shared line.
#[derive(Default)]
#[repr(align(128))]
struct ShardCounters {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Counters of one namespace's L1, read by health reports and metrics
/// (hits and misses: [`L1Namespace::hits`], [`L1Namespace::misses`]).
#[derive(Default, Debug)]
pub struct L1Stats {
    pub evictions: AtomicU64,
    pub expirations: AtomicU64,
    pub rejected_too_large: AtomicU64,
}

/// The L1 of one namespace.
pub struct L1Namespace {
    shards: Box<[Padded<RwLock<Shard>>]>,
    counters: Box<[ShardCounters]>,
    hasher: Hasher,
    shard_budget: usize,
    max_entry: usize,
    next_id: AtomicU64,
    pub stats: L1Stats,
}

impl L1Namespace {
    /// An L1 of `budget_bytes` in all. A value larger than an eighth of the
    /// budget is never kept: one huge value must not flush a namespace.
    pub fn new(budget_bytes: usize) -> Self {
        let shards = (0..SHARDS).map(|_| Padded(RwLock::new(Shard::default()))).collect();
        L1Namespace {
            shards,
            counters: (0..16).map(|_| ShardCounters::default()).collect(),
            hasher: Default::default(),
            shard_budget: budget_bytes / SHARDS,
            max_entry: budget_bytes / 8,
            next_id: AtomicU64::new(1),
            stats: L1Stats::default(),
        }
    }

    /// This thread's counter stripe.
    #[inline]
    fn stripe(&self) -> &ShardCounters {
        thread_local! {
            static STRIPE: usize = {
                static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed)
            };
        }
        &self.counters[STRIPE.with(|s| *s) % self.counters.len()]
    }

    fn index(&self, key: &str) -> usize {
        // Middle bits: the map indexes buckets with the low bits and tags
        // them with the top seven of the same hash.
        (self.hasher.hash_one(key) >> 32) as usize & (SHARDS - 1)
    }

    fn shard(&self, key: &str) -> &RwLock<Shard> {
        &self.shards[self.index(key)]
    }

    /// Hits so far (all stripes).
    pub fn hits(&self) -> u64 {
        self.counters.iter().map(|c| c.hits.load(Ordering::Relaxed)).sum()
    }

    /// Misses so far (all stripes).
    pub fn misses(&self) -> u64 {
        self.counters.iter().map(|c| c.misses.load(Ordering::Relaxed)).sum()
    }

    /// The value of `key` if present and not expired.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        let now = Instant::now();
        let idx = self.index(key);
        let counters = self.stripe();
        {
            let shard = self.shards[idx].read();
            match shard.map.get(key) {
                Some(e) if e.expires.is_none_or(|t| t > now) => {
                    // Relaxed is enough: the bit is a hint for eviction.
                    if !e.visited.load(Ordering::Relaxed) {
                        e.visited.store(true, Ordering::Relaxed);
                    }
                    counters.hits.fetch_add(1, Ordering::Relaxed);
                    return Some(e.value.clone());
                }
                Some(_) => {}
                None => {
                    counters.misses.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            }
        }
        // Expired: remove under the write lock (re-checking, it may have been replaced).
        let mut shard = self.shards[idx].write();
        if shard.map.get(key).is_some_and(|e| e.expires.is_some_and(|t| t <= now)) {
            if let Some(e) = shard.map.remove(key) {
                shard.bytes -= e.size;
                self.stats.expirations.fetch_add(1, Ordering::Relaxed);
            }
        }
        counters.misses.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// The value of `key` with its expiry and refresh time, for the
    /// early-refresh policies (the plain [`L1Namespace::get`] is the hot path).
    pub fn get_meta(&self, key: &str) -> Option<(Bytes, Option<Instant>, Option<Instant>)> {
        let v = self.get(key)?;
        let shard = self.shard(key).read();
        let e = shard.map.get(key)?;
        if !Arc::ptr_eq(&e.value, &v) {
            return Some((v, None, None));
        }
        Some((v, e.expires, e.refresh_at))
    }

    /// Remaining lifetime of `key`, if present and not expired.
    /// `Some(None)` means present without expiry.
    pub fn remaining(&self, key: &str) -> Option<Option<std::time::Duration>> {
        let now = Instant::now();
        let shard = self.shard(key).read();
        let e = shard.map.get(key)?;
        match e.expires {
            None => Some(None),
            Some(t) if t > now => Some(Some(t - now)),
            Some(_) => None,
        }
    }

    /// Store `value` under `key` until `expires`. Returns false when the value
    /// is too large for this L1 (it is then not stored, and any older value
    /// under the key is removed so that L1 never serves a stale one).
    #[cfg(test)]
    pub fn put(&self, key: &str, value: Bytes, expires: Option<Instant>) -> bool {
        self.put_with_refresh(key, value, expires, None)
    }

    /// As [`L1Namespace::put`], with the time from which callers should
    /// refresh the entry while it is still served.
    pub fn put_with_refresh(&self, key: &str, value: Bytes, expires: Option<Instant>, refresh_at: Option<Instant>) -> bool {
        let size = key.len() + value.len() + ENTRY_OVERHEAD;
        let lock = self.shard(key);
        if size > self.max_entry || size > self.shard_budget {
            self.stats.rejected_too_large.fetch_add(1, Ordering::Relaxed);
            let mut shard = lock.write();
            if let Some(old) = shard.map.remove(key) {
                shard.bytes -= old.size;
            }
            return false;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut shard = lock.write();
        let boxed: Box<str> = key.into();
        let entry = Entry { value, expires, refresh_at, visited: AtomicBool::new(false), id, size };
        if let Some(old) = shard.map.insert(boxed.clone(), entry) {
            shard.bytes -= old.size;
        }
        shard.bytes += size;
        shard.queue.push_back((boxed, id));
        self.evict(&mut shard);
        true
    }

    /// CLOCK: walk the FIFO; a visited entry gets a second chance at the back,
    /// an expired or unvisited one is evicted, until the shard fits.
    fn evict(&self, shard: &mut Shard) {
        let now = Instant::now();
        // Bounded walk: every entry can be passed over at most once per pass.
        let mut budget = shard.queue.len() * 2 + 1;
        while shard.bytes > self.shard_budget && budget > 0 {
            budget -= 1;
            let Some((key, id)) = shard.queue.pop_front() else { break };
            let (live, second_chance) = match shard.map.get(&key) {
                Some(e) if e.id == id => {
                    let expired = e.expires.is_some_and(|t| t <= now);
                    (true, !expired && e.visited.swap(false, Ordering::Relaxed))
                }
                _ => (false, false),
            };
            if !live {
                continue;
            }
            if second_chance {
                shard.queue.push_back((key, id));
            } else if let Some(e) = shard.map.remove(&key) {
                shard.bytes -= e.size;
                self.stats.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Keep the queue from growing without bound with stale pairs.
        if shard.queue.len() > shard.map.len() * 2 + 64 {
            let map = &shard.map;
            shard.queue.retain(|(k, id)| map.get(k).is_some_and(|e| e.id == *id));
        }
    }

    /// Remove `key`; true if it was present.
    pub fn remove(&self, key: &str) -> bool {
        let mut shard = self.shard(key).write();
        match shard.map.remove(key) {
            Some(e) => {
                shard.bytes -= e.size;
                true
            }
            None => false,
        }
    }

    /// Remove every key that starts with `prefix`.
    pub fn remove_prefix(&self, prefix: &str) -> usize {
        let mut n = 0;
        for lock in self.shards.iter() {
            let mut shard = lock.write();
            let before = shard.map.len();
            let mut freed = 0;
            shard.map.retain(|k, e| {
                let keep = !k.starts_with(prefix);
                if !keep {
                    freed += e.size;
                }
                keep
            });
            shard.bytes -= freed;
            n += before - shard.map.len();
        }
        n
    }

    /// Remove everything.
    pub fn clear(&self) {
        for lock in self.shards.iter() {
            let mut shard = lock.write();
            shard.map.clear();
            shard.queue.clear();
            shard.bytes = 0;
        }
    }

    /// Bytes accounted now (keys, values and per-entry overhead).
    pub fn bytes(&self) -> usize {
        self.shards.iter().map(|s| s.read().bytes).sum()
    }

    /// Entries stored now (expired ones not yet removed included).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().map.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured budget in bytes.
    pub fn budget(&self) -> usize {
        self.shard_budget * SHARDS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn val(n: usize, b: u8) -> Bytes {
        vec![b; n].into()
    }

    #[test]
    fn get_returns_what_put_stored() {
        let l1 = L1Namespace::new(1 << 20);
        assert!(l1.get("k").is_none());
        assert!(l1.put("k", val(10, 7), None));
        assert_eq!(&*l1.get("k").unwrap(), &[7u8; 10][..]);
        assert_eq!(l1.hits(), 1);
        assert_eq!(l1.misses(), 1);
    }

    #[test]
    fn an_expired_entry_is_a_miss_and_is_removed() {
        let l1 = L1Namespace::new(1 << 20);
        l1.put("k", val(10, 1), Some(Instant::now() + Duration::from_millis(30)));
        assert!(l1.get("k").is_some());
        std::thread::sleep(Duration::from_millis(50));
        assert!(l1.get("k").is_none());
        assert_eq!(l1.len(), 0);
        assert_eq!(l1.bytes(), 0);
    }

    #[test]
    fn bytes_never_exceed_the_budget() {
        let budget = 64 * 1024;
        let l1 = L1Namespace::new(budget);
        for i in 0..10_000 {
            l1.put(&format!("key-{i}"), val(100 + i % 300, 0), None);
            assert!(l1.bytes() <= budget, "over budget after {i} puts: {}", l1.bytes());
        }
        assert!(l1.stats.evictions.load(Ordering::Relaxed) > 0);
        assert!(l1.len() > 50, "the budget is used, not emptied: {}", l1.len());
    }

    #[test]
    fn a_value_larger_than_an_eighth_of_the_budget_is_not_kept() {
        let l1 = L1Namespace::new(80 * 1024);
        assert!(l1.put("small", val(1000, 1), None));
        assert!(!l1.put("big", val(11 * 1024, 1), None));
        assert!(l1.get("big").is_none());
        // Replacing a small value by a too-large one removes the stale one.
        assert!(!l1.put("small", val(11 * 1024, 2), None));
        assert!(l1.get("small").is_none());
    }

    #[test]
    fn recently_read_entries_survive_eviction() {
        // One shard's worth of budget is what matters; use many keys so each
        // shard sees churn, and keep reading a hot set.
        let l1 = L1Namespace::new(256 * 1024);
        let hot: Vec<String> = (0..32).map(|i| format!("hot-{i}")).collect();
        for k in &hot {
            l1.put(k, val(200, 1), None);
        }
        for i in 0..20_000 {
            for k in hot.iter().step_by(1 + i % 3) {
                l1.get(k);
            }
            l1.put(&format!("cold-{i}"), val(200, 0), None);
        }
        let survivors = hot.iter().filter(|k| l1.get(k).is_some()).count();
        assert!(survivors >= 28, "only {survivors} of 32 hot keys survived a scan of cold keys");
    }

    #[test]
    fn remove_and_prefix_removal() {
        let l1 = L1Namespace::new(1 << 20);
        l1.put("a:1", val(1, 1), None);
        l1.put("a:2", val(1, 1), None);
        l1.put("b:1", val(1, 1), None);
        assert!(l1.remove("b:1"));
        assert!(!l1.remove("b:1"));
        assert_eq!(l1.remove_prefix("a:"), 2);
        assert!(l1.is_empty());
        assert_eq!(l1.bytes(), 0);
    }

    #[test]
    fn many_threads_read_and_write_safely() {
        let l1 = Arc::new(L1Namespace::new(512 * 1024));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let l1 = l1.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        let k = format!("k{}", (i * 7 + t) % 500);
                        if i % 3 == 0 {
                            l1.put(&k, val(100, (i % 251) as u8), None);
                        } else if let Some(v) = l1.get(&k) {
                            assert_eq!(v.len(), 100);
                            assert!(v.iter().all(|b| *b == v[0]), "torn value");
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(l1.bytes() <= l1.budget());
    }
}
