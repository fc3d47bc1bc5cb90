//! L2 backends: where entries live beyond this process.
//!
//! An enum rather than a trait object: the set is closed, dispatch is a
//! branch, and async methods need no boxing.

pub mod foreign;
pub mod redis;

use std::fmt;
use std::time::Duration;

/// How an L2 failure is to be treated (DESIGN section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Connection refused or dropped, timeout, LOADING, TRYAGAIN, pool
    /// exhausted: worth retrying later; moves the circuit breaker.
    Transient,
    /// Authentication, protocol and configuration errors: retrying does not help.
    Permanent,
    /// A failure the user excluded from the circuit breaker (a foreign
    /// backend's error of an excluded kind): the call fails open and the
    /// error is counted, but neither the breaker nor the back-off moves.
    Excluded,
}

/// A failed L2 operation.
#[derive(Debug, Clone)]
pub struct L2Error {
    pub class: ErrorClass,
    pub message: String,
}

impl fmt::Display for L2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = match self.class {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Excluded => "excluded",
        };
        write!(f, "{c} L2 error: {}", self.message)
    }
}

pub type L2Result<T> = Result<T, L2Error>;

/// A value read from L2 with its remaining lifetime (`None`: no expiry).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub ttl: Option<Duration>,
}

/// What a read asks of L2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetMode {
    /// The value only (nothing needs its TTL: no L1, no refresh policy).
    ValueOnly,
    /// Value and remaining TTL in one round trip.
    Pipelined,
    /// Value, then remaining TTL (`pipelined: false`).
    TwoTrips,
}

/// The configured L2 (one per client, so the size difference of the
/// variants does not matter).
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    /// No L2: the client is L1-only.
    None,
    Redis(redis::RedisBackend),
    /// Callbacks into the host language.
    Foreign(foreign::ForeignBackend),
}

impl Backend {
    pub fn is_none(&self) -> bool {
        matches!(self, Backend::None)
    }

    /// Whether this backend has fill locks (Redis). Lock operations of the
    /// others are no-ops that must not count as L2 successes.
    pub fn has_locks(&self) -> bool {
        matches!(self, Backend::Redis(_))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Backend::None => "none",
            Backend::Redis(_) => "redis",
            Backend::Foreign(_) => "foreign",
        }
    }

    /// Read a value, and its remaining TTL when it is needed.
    pub async fn get(&self, key: &str, mode: GetMode) -> L2Result<Option<Fetched>> {
        match self {
            Backend::Foreign(f) => f.get(key).await,
            Backend::None => Ok(None),
            Backend::Redis(r) => match mode {
                GetMode::ValueOnly => r.get_value(key).await,
                GetMode::Pipelined => r.get(key).await,
                GetMode::TwoTrips => r.get_unpipelined(key).await,
            },
        }
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> L2Result<()> {
        match self {
            Backend::Foreign(f) => f.set(key, value, ttl).await,
            Backend::None => Ok(()),
            Backend::Redis(r) => r.set(key, value, ttl).await,
        }
    }

    pub async fn delete(&self, key: &str) -> L2Result<bool> {
        match self {
            Backend::Foreign(f) => f.delete(key).await,
            Backend::None => Ok(false),
            Backend::Redis(r) => r.delete(key).await,
        }
    }

    pub async fn exists(&self, key: &str) -> L2Result<bool> {
        match self {
            Backend::Foreign(f) => f.exists(key).await,
            Backend::None => Ok(false),
            Backend::Redis(r) => r.exists(key).await,
        }
    }

    /// Remaining TTL: `Ok(None)` if the key is missing, `Ok(Some(None))` if
    /// it has no expiry.
    pub async fn ttl(&self, key: &str) -> L2Result<Option<Option<Duration>>> {
        match self {
            // A foreign backend does not report TTLs: present, expiry unknown.
            Backend::Foreign(f) => Ok(f.exists(key).await?.then_some(None)),
            Backend::None => Ok(None),
            Backend::Redis(r) => r.ttl(key).await,
        }
    }

    /// Delete every key that starts with `prefix` and whose remainder
    /// satisfies `rest_ok`; returns how many.
    pub async fn delete_prefix(&self, prefix: &str, rest_ok: fn(&[u8]) -> bool) -> L2Result<u64> {
        match self {
            Backend::Foreign(_) => Ok(0),
            Backend::None => Ok(0),
            Backend::Redis(r) => r.delete_prefix(prefix, rest_ok).await,
        }
    }

    /// Take the fill lock `lock_key` with `token` for `ttl`.
    pub async fn lock(&self, lock_key: &str, token: &str, ttl: Duration) -> L2Result<bool> {
        match self {
            Backend::Foreign(_) => Ok(true),
            Backend::None => Ok(true),
            Backend::Redis(r) => r.lock(lock_key, token, ttl).await,
        }
    }

    /// One round trip: the value of `key`, or else an attempt at its lock.
    /// `None` when this backend has no such operation (no locks).
    pub async fn read_or_lock(&self, key: &str, lock_key: &str, token: &str, ttl: Duration) -> Option<L2Result<(Option<Fetched>, bool)>> {
        match self {
            Backend::Redis(r) => Some(r.read_or_lock(key, lock_key, token, ttl).await),
            Backend::None | Backend::Foreign(_) => None,
        }
    }

    /// Mark that this process waits for another's fill of `key`.
    pub async fn mark_waiting(&self, key: &str, ttl: Duration) -> L2Result<()> {
        match self {
            Backend::Redis(r) => r.mark_waiting(key, ttl).await,
            Backend::None | Backend::Foreign(_) => Ok(()),
        }
    }

    /// Extend the lock while `token` still holds it.
    pub async fn renew(&self, lock_key: &str, token: &str, ttl: Duration) -> L2Result<bool> {
        match self {
            Backend::Foreign(_) => Ok(true),
            Backend::None => Ok(true),
            Backend::Redis(r) => r.renew(lock_key, token, ttl).await,
        }
    }

    /// Release the lock if `token` still holds it.
    pub async fn unlock(&self, lock_key: &str, token: &str) -> L2Result<bool> {
        match self {
            Backend::Foreign(_) => Ok(true),
            Backend::None => Ok(true),
            Backend::Redis(r) => r.unlock(lock_key, token).await,
        }
    }

    /// Write `value` only while `token` holds `lock_key`, then release it.
    pub async fn fenced_set(&self, key: &str, lock_key: &str, token: &str, value: &[u8], ttl: Duration) -> L2Result<bool> {
        match self {
            Backend::Foreign(f) => f.set(key, value, ttl).await.map(|_| true),
            Backend::None => Ok(true),
            Backend::Redis(r) => r.fenced_set(key, lock_key, token, value, ttl).await,
        }
    }

    /// Reset the TTL of an existing key.
    pub async fn expire(&self, key: &str, ttl: Duration) -> L2Result<bool> {
        match self {
            Backend::Foreign(_) => Ok(false),
            Backend::None => Ok(false),
            Backend::Redis(r) => r.expire(key, ttl).await,
        }
    }

    pub async fn publish(&self, channel: &str, message: &[u8]) -> L2Result<()> {
        match self {
            Backend::Foreign(_) => Ok(()),
            Backend::None => Ok(()),
            Backend::Redis(r) => r.publish(channel, message).await,
        }
    }

    pub async fn incr(&self, key: &str) -> L2Result<i64> {
        match self {
            Backend::Foreign(_) => Ok(0),
            Backend::None => Ok(0),
            Backend::Redis(r) => r.incr(key).await,
        }
    }

    pub async fn mget_i64(&self, keys: &[String]) -> L2Result<Vec<Option<i64>>> {
        match self {
            Backend::Foreign(_) => Ok(vec![None; keys.len()]),
            Backend::None => Ok(vec![None; keys.len()]),
            Backend::Redis(r) => r.mget_i64(keys).await,
        }
    }

    /// Reconnect what is broken before trusting the backend again.
    pub async fn revive(&self) {
        if let Backend::Redis(r) = self {
            r.revive().await
        }
    }

    /// Round-trip check; returns the latency.
    pub async fn ping(&self) -> L2Result<Duration> {
        match self {
            Backend::Foreign(f) => f.ping().await,
            Backend::None => Ok(Duration::ZERO),
            Backend::Redis(r) => r.ping().await,
        }
    }
}
