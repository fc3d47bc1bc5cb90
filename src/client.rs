//! The Rust API: [`Client`] and [`Cache`], a facade over the namespace
//! engine (`engine`), the miss path (`fill`) and deletes (`invalidate`).
//! The C ABI (`ffi`) and the Node.js addon only convert and call it.
//!
//! Calls come in two forms: blocking (`get`, `fill`, `set`, ...: for C,
//! PHP, Go and sync Python callers, never on an event loop) and "ready or
//! pending" (`get_ready`, `fill_ready`, `set_ready`, ...): the answer now
//! when no I/O is needed, or a [`Pending`] that runs on the client's
//! runtime and hands its result to a completion, so that no event-loop
//! thread ever waits on Redis.

use crate::backend::{self, foreign::ForeignBackend};
use crate::config::{CacheOptions, Config};
use crate::engine::{ClientCore, Namespace};
use crate::error::{Error, Result};
use crate::fill::{self, Fill, Lease};
use crate::l1::Bytes;
use crate::weak_list::WeakList;
use crate::{fork, invalidate, metrics};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long freeing a client waits for its writes behind callers.
pub const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Every client of the process, for [`Client::flush_all`].
static CLIENTS: WeakList<ClientCore> = WeakList::new();

/// A cachekit client: one per process, shared by all threads.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientCore>,
}

impl Client {
    /// A client with these settings. No connection is made yet: with Redis
    /// down the client starts and serves L1 until Redis appears.
    pub fn new(config: Config) -> Result<Client> {
        Self::build(config, None)
    }

    /// A client whose L2 is the host language's own backend (callbacks)
    /// instead of Redis.
    pub fn with_backend(config: Config, backend: ForeignBackend) -> Result<Client> {
        Self::build(config, Some(backend))
    }

    fn build(config: Config, foreign: Option<ForeignBackend>) -> Result<Client> {
        fork::install();
        if let Some(url) = &config.redis_url {
            backend::validate_url(url).map_err(|e| {
                Error::Config(format!("redis_url {} is not a valid Redis URL: {e}", crate::config::redact(url)))
            })?;
        }
        let client = Client { inner: Arc::new(ClientCore::new(config, foreign, invalidate::start)) };
        CLIENTS.push(Arc::downgrade(&client.inner));
        Ok(client)
    }

    /// Settings from the environment, overridden by `explicit_json`.
    pub fn from_env(explicit_json: Option<&str>) -> Result<Client> {
        Client::new(Config::load(explicit_json)?)
    }

    /// [`Client::flush`] of every client of the process that is still
    /// referenced, within one `timeout`. Returns the writes still under way.
    pub fn flush_all(timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        CLIENTS.live().into_iter().map(|inner| inner.flush(deadline.saturating_duration_since(Instant::now()))).sum()
    }

    pub fn config(&self) -> &Config {
        self.inner.config()
    }

    /// The client's engine, for the operator access of `admin`.
    pub(crate) fn core(&self) -> &Arc<ClientCore> {
        &self.inner
    }

    /// Wait, at most `timeout`, until every write this process made behind
    /// its callers (see [`Lease::complete`]) has ended. Returns the number
    /// still under way (0 when all ended). Call before the process exits;
    /// `ck_client_free` does.
    pub fn flush(&self, timeout: Duration) -> usize {
        self.inner.flush(timeout)
    }

    /// [`Client::flush`] before the client goes away (`ck_client_free`),
    /// bounded by [`CLOSE_FLUSH_TIMEOUT`].
    pub fn flush_before_close(&self) -> usize {
        self.flush(CLOSE_FLUSH_TIMEOUT)
    }

    /// Close the client: its writes behind callers land first (within
    /// [`CLOSE_FLUSH_TIMEOUT`]), then every call on it and on its caches
    /// (and on leases of them) fails with [`Error::Closed`] and writes
    /// nothing; L1 lookups miss. Closing twice is harmless. Returns the
    /// writes still under way at the deadline.
    pub fn close(&self) -> usize {
        let pending = self.flush(CLOSE_FLUSH_TIMEOUT);
        self.inner.close();
        pending
    }

    /// Whether [`Client::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.check_open().is_err()
    }

    /// A handle for one namespace with its options.
    pub fn cache(&self, namespace: &str, options: CacheOptions) -> Result<Cache> {
        self.inner.check_open()?;
        Ok(Cache { ns: self.inner.open(namespace, options)?, client: self.clone() })
    }

    /// Prometheus exposition text of every live cache of this client.
    pub fn metrics_text(&self) -> String {
        let caches = self.inner.live_namespaces();
        let samples: Vec<_> = caches.iter().filter(|c| c.options.collect_stats).map(|c| c.metrics_sample()).collect();
        let in_use: u64 = caches.iter().filter_map(|c| c.local_if_made()).map(|l| l.rel.in_flight() as u64).sum();
        let (size, created) = self.inner.state().backend.pool_figures();
        let nodes = self.inner.node_samples();
        metrics::render(self.inner.durations(), &samples, &metrics::PoolSample { size, created, in_use }, &nodes)
    }
}

/// An answer now, or later.
pub enum Ready<T> {
    /// No I/O was needed.
    Now(T),
    /// Run it with [`Pending::then`].
    Pending(Pending<T>),
}

/// Work on the client's runtime whose result goes to a completion.
#[must_use = "a pending call does nothing until `then` runs it"]
pub struct Pending<T> {
    client: Arc<ClientCore>,
    work: Pin<Box<dyn Future<Output = Result<T>> + Send>>,
}

impl<T: Send + 'static> Pending<T> {
    fn new(ns: &Namespace, work: impl Future<Output = Result<T>> + Send + 'static) -> Result<Ready<T>> {
        Ok(Ready::Pending(Pending { client: ns.client().clone(), work: Box::pin(work) }))
    }

    /// As [`Pending::new`] for a read whose only effect is its answer:
    /// refused once the host is shutting down (`ck_shutdown`), since the
    /// completion would never be called. Writes still run then.
    fn answer(ns: &Namespace, work: impl Future<Output = Result<T>> + Send + 'static) -> Result<Ready<T>> {
        if crate::host::is_shut_down() {
            return Err(Error::Closed("ck_shutdown was called: no completion callback will be called any more".into()));
        }
        Self::new(ns, work)
    }

    /// Run the work in the background; `done` gets its result on a
    /// runtime thread.
    pub fn then(self, done: impl FnOnce(Result<T>) + Send + 'static) {
        let work = self.work;
        self.client.spawn(async move { done(work.await) });
    }
}

/// One namespace of a client: the object every cached call goes through.
#[derive(Clone)]
pub struct Cache {
    ns: Namespace,
    client: Client,
}

impl Cache {
    /// `Err(Error::Closed)` once the client was closed.
    fn open(&self) -> Result<()> {
        self.ns.client().check_open()
    }

    pub fn namespace(&self) -> &str {
        &self.ns.inner.namespace
    }

    pub fn options(&self) -> &CacheOptions {
        self.ns.options()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether an L2 is configured (a miss in L1 is then worth an L2 read).
    pub fn has_l2(&self) -> bool {
        self.ns.has_backend()
    }

    /// The full L2 key of `operation` called with `args` (a MessagePack array).
    pub fn key(&self, operation: &str, args: &[u8]) -> Result<String> {
        self.open()?;
        self.ns.key(operation, args)
    }

    /// As [`Cache::key`], remembered for repeated calls: a repeated call
    /// costs one fast hash instead of canonicalisation and Blake2b.
    pub fn key_shared(&self, operation: &str, args: &[u8]) -> Result<Arc<str>> {
        self.open()?;
        self.ns.key_shared(operation, args)
    }

    /// The cached value of `operation(args)`, if any.
    pub fn get(&self, operation: &str, args: &[u8]) -> Result<Option<Bytes>> {
        self.open()?;
        self.ns.get(operation, args)
    }

    /// Store `value` for `operation(args)`.
    pub fn set(&self, operation: &str, args: &[u8], value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.open()?;
        self.ns.set(operation, args, value, ttl)
    }

    /// Whether `operation(args)` has an entry (L1 or L2). Does not verify it.
    pub fn exists(&self, operation: &str, args: &[u8]) -> Result<bool> {
        self.open()?;
        self.ns.exists(operation, args)
    }

    /// Remaining lifetime of the entry: `None` if absent, `Some(None)` if it
    /// never expires. L2 is authoritative when it answers.
    pub fn ttl(&self, operation: &str, args: &[u8]) -> Result<Option<Option<Duration>>> {
        self.open()?;
        self.ns.ttl(operation, args)
    }

    /// Delete the entry of `operation(args)`; true if L1 or L2 had it.
    pub fn delete(&self, operation: &str, args: &[u8]) -> Result<bool> {
        self.open()?;
        invalidate::delete(&self.ns, operation, args)
    }

    /// Delete every entry of this namespace (L1 and L2), in every process's
    /// L1 too. Returns the number of L2 keys deleted.
    pub fn clear(&self) -> Result<u64> {
        self.open()?;
        invalidate::clear(&self.ns)
    }

    /// Delete every entry of one operation of this namespace.
    pub fn clear_operation(&self, operation: &str) -> Result<u64> {
        self.open()?;
        invalidate::clear_operation(&self.ns, operation)
    }

    /// The miss path with stampede protection: the value if it is cached or
    /// was filled by another caller (of this process or another) meanwhile,
    /// or a [`Lease`] that makes this caller the one who computes. Blocks
    /// while another caller computes the same key (up to `fill_wait_ms`).
    pub fn fill(&self, operation: &str, args: &[u8]) -> Result<Fill> {
        self.open()?;
        fill::fill(&self.ns, operation, args)
    }

    /// Read by full key: L1, then L2 (verified, put in L1).
    pub fn get_by_key(&self, key: &str) -> Result<Option<Bytes>> {
        self.open()?;
        self.ns.get_by_key(key)
    }

    /// Store by full key in L1 and L2.
    pub fn set_by_key(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.open()?;
        self.ns.set_by_key(key, value, ttl)
    }

    pub fn delete_by_key(&self, key: &str) -> Result<bool> {
        self.open()?;
        invalidate::delete_by_key(&self.ns, key)
    }

    /// L1 lookup by full key. Never leaves the calling thread. A closed
    /// client misses.
    pub fn l1_get(&self, key: &str) -> Option<Bytes> {
        self.open().ok()?;
        self.ns.l1_get(key)
    }

    /// An L1 answer to a fill that needs no I/O: a hit with no early
    /// refresh due. `None`: ask [`Cache::fill_ready`].
    pub fn l1_fill(&self, key: &str) -> Option<Fill> {
        self.open().ok()?;
        fill::l1_fill(&self.ns, key)
    }

    /// A read by full key for async callers: an L1 hit, or a miss with no
    /// L2, now; otherwise the L2 read, pending.
    pub fn get_ready(&self, key: Arc<str>) -> Result<Ready<Option<Bytes>>> {
        self.open()?;
        if let Some(v) = self.ns.l1_get(&key) {
            return Ok(Ready::Now(Some(v)));
        }
        if !self.ns.has_backend() {
            return Ok(Ready::Now(None));
        }
        let ns = self.ns.clone();
        Pending::answer(&self.ns, async move { ns.get_l2(&key).await })
    }

    /// [`Cache::fill`] for async callers: an L1 hit, or a lease when no
    /// one else is filling and there is no L2 to ask, now; otherwise the
    /// miss path, pending (waiting for another caller's fill never blocks
    /// a thread).
    pub fn fill_ready(&self, key: Arc<str>) -> Result<Ready<Fill>> {
        self.open()?;
        if let Some(f @ Fill::Hit(_)) = fill::l1_fill(&self.ns, &key) {
            return Ok(Ready::Now(f));
        }
        if let Some(lease) = fill::try_lease_now(&self.ns, &key) {
            return Ok(Ready::Now(Fill::Lease(lease)));
        }
        let ns = self.ns.clone();
        Pending::answer(&self.ns, async move { fill::fill_async(&ns, key.to_string()).await })
    }

    /// A store by full key for async callers: L1 now (an encode error is
    /// returned now), L2 pending.
    pub fn set_ready(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<Ready<()>> {
        self.open()?;
        match self.ns.set_behind(key, value, ttl)? {
            None => Ok(Ready::Now(())),
            Some(write) => Pending::new(&self.ns, write),
        }
    }

    /// A delete by full key for async callers: out of this handle's L1
    /// before it returns; whether the entry existed, once L2 answered.
    pub fn delete_ready(&self, key: Arc<str>) -> Result<Ready<bool>> {
        self.open()?;
        // Out of L1 before the call returns; the rest in the background.
        let in_l1 = invalidate::delete_from_l1(&self.ns, &key);
        let ns = self.ns.clone();
        Pending::new(&self.ns, async move { invalidate::delete_beyond_l1(&ns, &key, in_l1).await })
    }

    /// The wrapper could not decode the value it got for `key` (written by an
    /// incompatible serializer of the same name, or damaged in a way only the
    /// serializer sees): count it as a corrupt entry, log it, and delete it
    /// everywhere in the background, so the caller (maybe an event loop)
    /// never waits and the next call recomputes.
    pub fn discard_undecodable(&self, key: &str, why: &str) {
        if self.open().is_err() {
            return;
        }
        invalidate::discard_undecodable(&self.ns, key, why)
    }

    /// Health of this namespace in the shape of the API reference
    /// (`namespace`, `features_enabled`, `circuit_breaker`, `backpressure`,
    /// `adaptive_timeout`), plus L1 and outcome counters.
    pub fn health(&self) -> Value {
        self.ns.health()
    }

    /// Active check: [`Cache::health`] plus a PING of the L2, its latency
    /// and connection figures, in the reference's `check_health` shape.
    pub fn check_health(&self) -> Value {
        self.ns.check_health()
    }
}

impl Lease {
    /// As [`Lease::complete`] for async callers: the waiters and L1 get the
    /// value before this returns (an encode error is returned now); the L2
    /// write is pending.
    pub fn complete_ready(self, value: &[u8], ttl: Option<Duration>) -> Result<Ready<()>> {
        let ns = self.namespace().clone();
        ns.client().check_open()?; // dropping the lease abandons it
        match self.complete_behind(value, ttl)? {
            None => Ok(Ready::Now(())),
            Some(write) => Pending::new(&ns, write),
        }
    }

    /// Complete from a thread that must never wait on Redis (an event
    /// loop), deciding whether its caller waits for L2: in a fail-open
    /// namespace the L2 write runs behind the caller on the runtime (a
    /// failure is counted and logged like every fail-open error) and this is
    /// `Ready::Now`; in a fail-closed one the caller must learn the L2
    /// result, so the write is `Pending` and carries its error.
    pub fn complete_for_loop(self, value: &[u8], ttl: Option<Duration>) -> Result<Ready<()>> {
        let fail_closed = self.namespace().inner.options.fail_closed;
        match self.complete_ready(value, ttl)? {
            Ready::Pending(write) if !fail_closed => {
                write.then(|_| {});
                Ok(Ready::Now(()))
            }
            r => Ok(r),
        }
    }
}
