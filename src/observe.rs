//! Counters of one namespace and structured log events.
//!
//! Counters are relaxed atomics: one add on the hot path, no lock. Metrics
//! (`metrics.rs`) read them at scrape time, so collection costs nothing on
//! the hot path.
//!
//! Log events go to a callback the host language registers
//! (`ck_set_log_callback`), as one JSON object per event. With no callback,
//! events at or above `LOG_LEVEL` (default WARNING) go to stderr.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Outcome counters of one namespace (beyond L1's own, see `l1::L1Stats`).
#[derive(Default, Debug)]
pub struct NsStats {
    pub l2_hits: AtomicU64,
    pub l2_misses: AtomicU64,
    pub sets: AtomicU64,
    pub deletes: AtomicU64,
    /// L2 operations that failed and were swallowed (fail-open).
    pub l2_errors: AtomicU64,
    /// L2 operations skipped by the reliability gate (breaker open,
    /// backpressure, permanent error backing off).
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
    /// Callers that waited for another process's fill (its lock was taken).
    pub lease_waits: AtomicU64,
    /// Of those, the ones that gave up waiting and computed themselves.
    pub lease_timeouts: AtomicU64,
    /// Times such a waiter was woken by the holder's announcement of its
    /// value (`cachekit:filled`) rather than by its fallback re-check.
    pub fill_announcements: AtomicU64,
    /// Fills whose lock expired or was taken over before they completed:
    /// their late write was refused (fencing).
    pub lost_leases: AtomicU64,
    /// Refreshes granted before expiry (XFetch) or while stale (SWR).
    pub early_refreshes: AtomicU64,
    /// TTLs reset on a hit (`refresh_ttl_on_get`).
    pub ttl_refreshes: AtomicU64,
    /// Null results not cached (no `negative_ttl`).
    pub nulls_not_cached: AtomicU64,
    /// Invalidation messages published and applied.
    pub invalidations_sent: AtomicU64,
    pub invalidations_received: AtomicU64,
    /// Whole-namespace L1 clears after a missed message or a lost subscription.
    pub l1_resyncs: AtomicU64,
}

impl NsStats {
    #[inline]
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
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
            "lease_waits": g(&self.lease_waits),
            "lease_timeouts": g(&self.lease_timeouts),
            "fill_announcements": g(&self.fill_announcements),
            "lost_leases": g(&self.lost_leases),
            "early_refreshes": g(&self.early_refreshes),
            "ttl_refreshes": g(&self.ttl_refreshes),
            "nulls_not_cached": g(&self.nulls_not_cached),
            "invalidations_sent": g(&self.invalidations_sent),
            "invalidations_received": g(&self.invalidations_received),
            "l1_resyncs": g(&self.l1_resyncs),
        })
    }
}

/// Severity of a log event; the numbers are those of the C ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Debug = 10,
    Info = 20,
    Warning = 30,
    Error = 40,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }

    fn from_env() -> u8 {
        match std::env::var("LOG_LEVEL").unwrap_or_default().trim().to_ascii_uppercase().as_str() {
            "DEBUG" => 10,
            "INFO" => 20,
            "ERROR" => 40,
            "CRITICAL" | "OFF" | "NONE" => 255,
            _ => 30,
        }
    }
}

/// A log callback: `(user_data, level, json)`. The JSON is valid only for
/// the duration of the call.
pub type LogCallback = extern "C" fn(user_data: *mut c_void, level: u8, json: *const c_char);

struct Logger {
    cb: LogCallback,
    user_data: *mut c_void,
}

/// The registered logger. Replaced ones are leaked on purpose: another
/// thread may be calling through them (and registration is rare).
static LOGGER: AtomicPtr<Logger> = AtomicPtr::new(std::ptr::null_mut());
/// Minimum level delivered (to the callback or stderr); 0 = not yet read.
static MIN_LEVEL: AtomicU8 = AtomicU8::new(0);

fn min_level() -> u8 {
    match MIN_LEVEL.load(Ordering::Relaxed) {
        0 => {
            let l = Level::from_env();
            MIN_LEVEL.store(l, Ordering::Relaxed);
            l
        }
        l => l,
    }
}

/// Register (or with `None` remove) the host language's log callback and
/// the minimum level it wants.
pub fn set_logger(cb: Option<LogCallback>, user_data: *mut c_void, min: u8) {
    let new = match cb {
        Some(cb) => Box::into_raw(Box::new(Logger { cb, user_data })),
        None => std::ptr::null_mut(),
    };
    LOGGER.swap(new, Ordering::AcqRel);
    MIN_LEVEL.store(min.max(1), Ordering::Relaxed);
}

thread_local! {
    static CORRELATION_ID: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Set (or clear) the correlation id attached to this thread's events.
pub fn set_correlation_id(id: Option<String>) {
    CORRELATION_ID.with(|c| *c.borrow_mut() = id);
}

/// One structured event.
pub struct Event<'a> {
    pub level: Level,
    pub event: &'a str,
    pub namespace: &'a str,
    /// The full key; only a short hash of it is logged.
    pub key: Option<&'a str>,
    pub outcome: &'a str,
    pub duration: Option<Duration>,
    pub detail: Option<&'a str>,
}

/// Whether an event of `level` would be delivered (cheap check first).
pub fn enabled(level: Level) -> bool {
    level as u8 >= min_level()
}

pub fn emit(e: Event<'_>) {
    if !enabled(e.level) {
        return;
    }
    let key_hash = e.key.map(|k| format!("{:016x}", xxhash_rust::xxh3::xxh3_64(k.as_bytes())));
    // try_with: events can come from a thread-local destructor (a thread
    // that ends completes its writes behind).
    let corr = CORRELATION_ID.try_with(|c| c.borrow().clone()).ok().flatten();
    let json = serde_json::json!({
        "level": e.level.name(),
        "event": e.event,
        "namespace": e.namespace,
        "key_hash": key_hash,
        "outcome": e.outcome,
        "duration_ms": e.duration.map(|d| d.as_secs_f64() * 1e3),
        "correlation_id": corr,
        "detail": e.detail,
    })
    .to_string();
    let logger = LOGGER.load(Ordering::Acquire);
    // SAFETY: loggers are never freed (see LOGGER).
    match unsafe { logger.as_ref() } {
        Some(l) => {
            // Dropped once the host is shutting down (see `host`).
            if let (Ok(c), Some(_call)) = (CString::new(json), crate::host::enter()) {
                (l.cb)(l.user_data, e.level as u8, c.as_ptr());
            }
        }
        None => eprintln!("cachekit {json}"),
    }
}

/// A warning without a key (setup problems).
pub fn warn(event: &str, namespace: &str, detail: &str) {
    emit(Event { level: Level::Warning, event, namespace, key: None, outcome: "error", duration: None, detail: Some(detail) });
}

/// Process start, for rate limits expressed in milliseconds.
pub fn now_ms() -> u64 {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64 + 1
}
