//! Counters of one namespace, and the health report built from them.
//!
//! Counters are relaxed atomics: one add on the hot path, no lock.

use std::sync::atomic::{AtomicU64, Ordering};

/// Outcome counters of one namespace (beyond L1's own, see `l1::L1Stats`).
#[derive(Default, Debug)]
pub struct NsStats {
    pub l2_hits: AtomicU64,
    pub l2_misses: AtomicU64,
    pub sets: AtomicU64,
    pub deletes: AtomicU64,
    /// L2 operations that failed and were swallowed (fail-open).
    pub l2_errors: AtomicU64,
    /// L2 operations skipped because L2 was recently unreachable.
    pub l2_skipped: AtomicU64,
    /// Entries read from L2 that failed verification (truncated, flipped
    /// bits, foreign bytes, bombs, wrong key): counted misses, deleted.
    pub corrupt_entries: AtomicU64,
    /// Entries written by another serializer: counted misses, recomputed.
    pub format_mismatches: AtomicU64,
    /// Values that could not be encoded or were too large to store.
    pub encode_failures: AtomicU64,
    /// Fill leases granted (the caller computes).
    pub fills: AtomicU64,
    /// Callers that waited for another caller's fill instead of computing.
    pub fill_waits: AtomicU64,
    /// Waiters that gave up waiting and computed themselves.
    pub fill_wait_timeouts: AtomicU64,
}

impl NsStats {
    #[inline]
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn to_json(&self) -> serde_json::Value {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "l2_hits": g(&self.l2_hits),
            "l2_misses": g(&self.l2_misses),
            "sets": g(&self.sets),
            "deletes": g(&self.deletes),
            "l2_errors": g(&self.l2_errors),
            "l2_skipped": g(&self.l2_skipped),
            "corrupt_entries": g(&self.corrupt_entries),
            "format_mismatches": g(&self.format_mismatches),
            "encode_failures": g(&self.encode_failures),
            "fills": g(&self.fills),
            "fill_waits": g(&self.fill_waits),
            "fill_wait_timeouts": g(&self.fill_wait_timeouts),
        })
    }
}

/// A warning for the operator. Structured log delivery to host languages
/// comes with the observability work; until then warnings go to stderr,
/// filtered by `LOG_LEVEL` (default WARNING; `ERROR`/`CRITICAL`/`OFF`
/// silence them).
pub fn warn(event: &str, namespace: &str, detail: &str) {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let on = *ENABLED.get_or_init(|| {
        !matches!(
            std::env::var("LOG_LEVEL").unwrap_or_default().to_ascii_uppercase().as_str(),
            "ERROR" | "CRITICAL" | "OFF" | "NONE"
        )
    });
    if on {
        eprintln!("cachekit WARNING event={event} namespace={namespace} {detail}");
    }
}
