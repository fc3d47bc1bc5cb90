//! L2 backends: where entries live beyond this process, behind one
//! operation-level API (nothing outside this folder names the `redis`
//! crate).
//!
//! An enum rather than a trait object: the set is closed, dispatch is a
//! branch, and async methods need no boxing.

pub mod foreign;
mod redis;

pub(crate) use crate::reliability::{ErrorClass, L2Error, L2Result};
use std::time::Duration;

/// A value read from L2 with its remaining lifetime (`None`: no expiry).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub ttl: Option<Duration>,
}

/// A key as an operator sees it (see [`Backend::read_raw`]).
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// The Redis type (`"string"` for cache entries).
    pub redis_type: String,
    /// Remaining lifetime (`None`: no expiry).
    pub ttl: Option<Duration>,
    /// The value, for a string.
    pub bytes: Option<Vec<u8>>,
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

/// A write sent behind its caller on the caller's own connection (see
/// [`Backend::send_behind`]).
pub(crate) enum BehindWrite<'a> {
    /// `SET key value PX ttl`.
    Set { key: &'a str, value: &'a [u8], ttl: Duration },
    /// The fenced write: lands only while `token` holds `lock_key`, then
    /// releases it and announces the fill to waiting processes.
    Fenced { key: &'a str, lock_key: &'a str, token: &'a str, value: &'a [u8], ttl: Duration },
}

/// Called with whether a write sent behind landed (`false`: its fence
/// refused it), or its failure.
pub(crate) type BehindDone = Box<dyn FnOnce(L2Result<bool>) + Send>;

/// Where a write sent behind waits for its reply: [`BehindHandle::drain`]
/// reads it now unless the connection's owner is using it.
pub(crate) struct BehindHandle(redis::DirectHandle);

impl BehindHandle {
    pub(crate) fn drain(&self) {
        redis::direct_drain(&self.0)
    }
}

/// One node of a Redis Cluster as an active health check saw it.
#[derive(Clone)]
pub(crate) struct NodeHealth {
    /// `host:port`.
    pub address: String,
    pub master: bool,
    /// Flagged `fail` or `fail?` by the cluster.
    pub failing: bool,
    /// Its PING's latency, or why it did not answer.
    pub ping: L2Result<Duration>,
}

/// Messages of a subscription: (channel, payload).
pub(crate) use redis::Subscriber;

/// Mark this thread as a blocking caller for the duration of `f`: L2
/// operations then run on a connection of this thread.
pub(crate) fn as_blocking_caller<T>(f: impl FnOnce() -> T) -> T {
    redis::as_blocking_caller(f)
}

/// The timeout the reliability gate gave the operation about to run on this thread.
pub(crate) fn set_call_timeout(t: Option<Duration>) {
    redis::set_call_timeout(t)
}

/// Whether `url` is a Redis URL the client can use.
pub(crate) fn validate_url(url: &str) -> Result<(), String> {
    redis::validate_url(url)
}

impl Backend {
    /// The Redis backend of `url`. Must be called inside the runtime that
    /// will drive its connections; no connection is made yet.
    pub(crate) fn redis(cfg: &crate::config::Config, url: &str) -> Result<Backend, String> {
        redis::RedisBackend::new(cfg, url).map(Backend::Redis)
    }

    /// Whether a completed fill's write may go behind its caller (Redis:
    /// the process orders its own later operations after it).
    pub(crate) fn writes_behind(&self) -> bool {
        matches!(self, Backend::Redis(_))
    }

    /// Whether [`Backend::read_or_lock`] is one round trip here.
    pub(crate) fn can_read_or_lock(&self) -> bool {
        matches!(self, Backend::Redis(_))
    }

    /// (connections in the pool, connections whose last command reached the server).
    pub(crate) fn pool_figures(&self) -> (u64, u64) {
        match self {
            Backend::Redis(r) => (r.pool_size() as u64, r.connected() as u64),
            Backend::None | Backend::Foreign(_) => (0, 0),
        }
    }

    /// A pub/sub connection; `None` when the backend has no pub/sub.
    pub(crate) async fn pubsub(&self) -> Option<L2Result<Subscriber>> {
        match self {
            Backend::Redis(r) => Some(r.pubsub().await),
            Backend::None | Backend::Foreign(_) => None,
        }
    }

    /// Send `write` on this thread's own connection without waiting for
    /// its reply: `done` gets the outcome when the thread's next command on
    /// the connection (or a [`BehindHandle::drain`]) reads it. `Err(done)`
    /// when that cannot be done now (not Redis, no working connection):
    /// nothing was sent.
    pub(crate) fn send_behind(&self, write: &BehindWrite<'_>, timeout: Duration, done: BehindDone) -> Result<BehindHandle, BehindDone> {
        match self {
            Backend::Redis(r) => r.write_behind(write, timeout, done).map(BehindHandle),
            Backend::None | Backend::Foreign(_) => Err(done),
        }
    }

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

    /// Whether this is a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Backend::Redis(r) if r.is_cluster())
    }

    /// Every node of a Redis Cluster, PINGed (`None`: not a cluster).
    pub(crate) async fn node_health(&self) -> Option<L2Result<Vec<NodeHealth>>> {
        match self {
            Backend::Redis(r) if r.is_cluster() => Some(r.node_health().await),
            _ => None,
        }
    }

    /// A master found through Sentinel: its name, where it is now (`None`:
    /// not found yet) and how many failovers this client followed (`None`:
    /// not Sentinel).
    pub(crate) fn sentinel_master(&self) -> Option<(String, Option<String>, u64)> {
        match self {
            Backend::Redis(r) => r.sentinel_master(),
            _ => None,
        }
    }

    fn redis_only(&self) -> L2Result<&redis::RedisBackend> {
        match self {
            Backend::Redis(r) => Ok(r),
            _ => Err(L2Error { class: ErrorClass::Permanent, message: format!("this needs Redis, and the backend is {}", self.kind()) }),
        }
    }

    /// Operator reads (the `cachekit` command), Redis only: a key's type,
    /// lifetime and value; `None` when it does not exist.
    pub(crate) async fn read_raw(&self, key: &str) -> L2Result<Option<RawEntry>> {
        self.redis_only()?.read_raw(key).await
    }

    /// Where a SCAN of every key runs: `[None]` (one server) or each master.
    pub(crate) async fn scan_targets(&self) -> L2Result<Vec<Option<String>>> {
        self.redis_only()?.scan_targets().await
    }

    /// One SCAN page of the keys starting with `prefix` on `node`.
    pub(crate) async fn scan_page(&self, node: Option<&str>, cursor: u64, prefix: &str, count: u64) -> L2Result<(u64, Vec<Vec<u8>>)> {
        self.redis_only()?.scan_page(node, cursor, prefix, count).await
    }

    /// The number of keys on `node`.
    pub(crate) async fn dbsize(&self, node: Option<&str>) -> L2Result<u64> {
        self.redis_only()?.dbsize(node).await
    }

    /// Length and remaining lifetime of a string value.
    pub(crate) async fn value_size(&self, key: &str) -> L2Result<Option<(u64, Option<Duration>)>> {
        self.redis_only()?.value_size(key).await
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
