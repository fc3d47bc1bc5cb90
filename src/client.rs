//! The client: ties config, keys, codec, L1, L2 and the fill path together.
//! This is the Rust API; the C ABI (`ffi`) only converts and calls it.

use crate::backend::foreign::ForeignBackend;
use crate::backend::{Backend, ErrorClass, GetMode, L2Error, L2Result};
use crate::codec::{self, CodecError, Keyring, Limits};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fill::Flights;
use crate::fork::{self, ForkLocal};
use crate::key;
use crate::l1::{Bytes, L1Namespace};
use crate::metrics;
use crate::weak_list::WeakList;
use crate::observe::{self, Event, Level, NsStats};
use crate::reliability::{BackpressureConfig, BreakerConfig, OpKind, Refusal, Reliability, TimeoutConfig};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Suffix of envelope-format keys, so that an interop reader (ours or another
/// SDK's) never decodes an envelope as the user's value (DESIGN section 4).
pub const ENVELOPE_KEY_SUFFIX: &str = ":e1";

/// The longest an operation waits for this process's earlier write behind
/// of the same key. Each write is bounded by the L2 timeout well before.
const LANDING_WAIT: Duration = Duration::from_secs(10);

/// How values of a namespace are stored in L2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// LZ4 + xxHash3-64 envelope (default).
    Envelope,
    /// One plain MessagePack document, shared with the protocol's interop mode.
    Interop,
}

/// Per-namespace settings (what a decorator or a PSR-16 pool configures).
#[derive(Debug, Clone, PartialEq)]
pub struct CacheOptions {
    /// TTL in seconds when a call gives none; defaults to `Config::default_ttl`.
    pub ttl: Option<u64>,
    pub format: Format,
    /// Serializer name written in the envelope (`"msgpack"` for the standard
    /// one). A reader with a different serializer treats the entry as a miss.
    pub serializer: String,
    /// Overrides `Config::l1_enabled` for this namespace.
    pub l1_enabled: Option<bool>,
    /// Overrides `Config::l1_max_size_mb` (the L1 byte budget) for this namespace.
    pub l1_max_size_mb: Option<u64>,
    /// Encrypt values with AES-256-GCM.
    pub encryption: bool,
    /// Hex master key; defaults to `Config::master_key`.
    pub master_key: Option<String>,
    /// Older master keys (hex) that still decrypt, at most three.
    pub decrypt_only_keys: Vec<String>,
    /// Tenant for key derivation and AAD; defaults to `Config::tenant_id`,
    /// then `"default"`.
    pub tenant_id: Option<String>,
    /// Keep decrypted values in L1 (default: ciphertext, decrypted per hit).
    pub l1_plaintext: bool,
    /// Report L2 failures to the caller instead of failing open.
    pub fail_closed: bool,
    /// How long a caller waits for another caller's fill of the same key
    /// before computing itself, milliseconds.
    pub fill_wait_ms: u64,
    pub circuit_breaker: BreakerConfig,
    pub adaptive_timeout: TimeoutConfig,
    pub backpressure: BackpressureConfig,
    /// Count operations for metrics and health (`collect_stats`).
    pub collect_stats: bool,
    /// Emit structured log events for this namespace.
    pub structured_logging: bool,
    /// Take a Redis lock `{key}:lock` while filling, so that one process
    /// computes a cold key (stampede protection across processes).
    pub distributed_lock: bool,
    /// Lease of the fill lock, milliseconds; renewed while the holder computes.
    pub lock_ttl_ms: u64,
    /// Renew the fill lock while computing (tests turn it off).
    pub lock_renewal: bool,
    /// Read and take the fill lock in one round trip (one Lua script): a
    /// round trip less per miss, a little more per L2 hit. `None` (the
    /// default, "auto"): while most of the namespace's recent fill reads
    /// missed.
    pub read_lock_combined: Option<bool>,
    /// On an L2 hit whose remaining TTL is below `ttl_refresh_threshold` of
    /// the TTL, reset the TTL.
    pub refresh_ttl_on_get: bool,
    pub ttl_refresh_threshold: f64,
    /// Read value and remaining TTL in one round trip.
    pub pipelined: bool,
    /// Probabilistic early refresh (XFetch) with this beta; `None`: off.
    pub early_refresh_beta: Option<f64>,
    /// Serve a value this many seconds past its TTL while one caller
    /// refreshes it in the background (0: off).
    pub stale_while_revalidate: u64,
    /// Background refreshes running at once in this namespace, at most.
    pub max_background_refreshes: usize,
    /// Cache a null (MessagePack nil) result for this many seconds; `None`:
    /// null results are not cached.
    pub negative_ttl: Option<u64>,
    /// Cross-process L1 invalidation: the bound in milliseconds on how long
    /// L1 may serve an entry deleted by another process when invalidation
    /// messages are lost (0: no cross-process invalidation).
    pub l1_sync_ms: u64,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            ttl: None,
            format: Format::Envelope,
            serializer: "msgpack".into(),
            l1_enabled: None,
            l1_max_size_mb: None,
            encryption: false,
            master_key: None,
            decrypt_only_keys: Vec::new(),
            tenant_id: None,
            l1_plaintext: false,
            fail_closed: false,
            fill_wait_ms: 10_000,
            circuit_breaker: BreakerConfig::default(),
            adaptive_timeout: TimeoutConfig::default(),
            backpressure: BackpressureConfig::default(),
            collect_stats: true,
            structured_logging: true,
            distributed_lock: true,
            lock_ttl_ms: 5_000,
            lock_renewal: true,
            read_lock_combined: None,
            refresh_ttl_on_get: false,
            ttl_refresh_threshold: 0.5,
            pipelined: true,
            early_refresh_beta: None,
            stale_while_revalidate: 0,
            max_background_refreshes: 4,
            negative_ttl: None,
            l1_sync_ms: 1_000,
        }
    }
}

impl CacheOptions {
    /// Parse the JSON form used by the C ABI, e.g.
    /// `{"ttl": 60, "format": "interop", "encryption": true}`.
    pub fn from_json(text: Option<&str>) -> Result<CacheOptions> {
        let mut o = CacheOptions::default();
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else { return Ok(o) };
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| Error::Config(format!("cache options JSON does not parse: {e}")))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| Error::Config("cache options JSON must be an object".into()))?;
        let bad = |f: &str, want: &str, v: &Value| {
            Error::Config(format!("cache option \"{f}\" must be {want}, got {v}"))
        };
        for (k, v) in obj {
            match k.as_str() {
                "ttl" => {
                    o.ttl = match v {
                        Value::Null => None,
                        _ => Some(v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                            bad(k, "a whole number of seconds >= 1", v)
                        })?),
                    }
                }
                "format" => {
                    o.format = match v.as_str() {
                        Some("envelope") => Format::Envelope,
                        Some("interop") => Format::Interop,
                        _ => return Err(bad(k, "\"envelope\" or \"interop\"", v)),
                    }
                }
                "serializer" => {
                    let s = v.as_str().filter(|s| !s.is_empty() && s.len() <= 32);
                    o.serializer = s.ok_or_else(|| bad(k, "a serializer name", v))?.to_string();
                }
                "l1_enabled" => {
                    o.l1_enabled = match v {
                        Value::Null => None,
                        Value::Bool(b) => Some(*b),
                        _ => return Err(bad(k, "true, false or null", v)),
                    }
                }
                "l1_max_size_mb" => {
                    o.l1_max_size_mb = match v {
                        Value::Null => None,
                        _ => Some(v.as_u64().filter(|n| *n <= 1 << 20).ok_or_else(|| bad(k, "a whole number of MiB (0: no L1), or null", v))?),
                    }
                }
                "encryption" => o.encryption = v.as_bool().ok_or_else(|| bad(k, "true or false", v))?,
                "master_key" => {
                    o.master_key = match v {
                        Value::Null => None,
                        Value::String(s) => Some(s.clone()),
                        _ => return Err(bad(k, "a hex string", v)),
                    }
                }
                "decrypt_only_keys" => {
                    let arr = v.as_array().ok_or_else(|| bad(k, "an array of hex strings", v))?;
                    o.decrypt_only_keys = arr
                        .iter()
                        .map(|x| x.as_str().map(str::to_string).ok_or_else(|| bad(k, "an array of hex strings", v)))
                        .collect::<Result<_>>()?;
                }
                "tenant_id" => {
                    o.tenant_id = match v {
                        Value::Null => None,
                        Value::String(s) => Some(s.clone()),
                        _ => return Err(bad(k, "a string", v)),
                    }
                }
                "l1_plaintext" => o.l1_plaintext = v.as_bool().ok_or_else(|| bad(k, "true or false", v))?,
                "fail_closed" => o.fail_closed = v.as_bool().ok_or_else(|| bad(k, "true or false", v))?,
                "fill_wait_ms" => {
                    o.fill_wait_ms = v.as_u64().ok_or_else(|| bad(k, "a whole number of milliseconds", v))?
                }
                "circuit_breaker" => o.circuit_breaker = parse_breaker(v)?,
                "adaptive_timeout" => o.adaptive_timeout = parse_timeout(v)?,
                "backpressure" => o.backpressure = parse_backpressure(v, o.backpressure.clone())?,
                "max_concurrent_requests" => {
                    o.backpressure.max_concurrent_requests = v
                        .as_u64()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| bad(k, "a whole number >= 1", v))? as usize
                }
                "collect_stats" => o.collect_stats = v.as_bool().ok_or_else(|| bad(k, "true or false", v))?,
                "structured_logging" => o.structured_logging = v.as_bool().ok_or_else(|| bad(k, "true or false", v))?,
                "distributed_lock" => o.distributed_lock = v.as_bool().ok_or_else(|| bad(k, "true or false", v))?,
                "lock_ttl_ms" => o.lock_ttl_ms = v.as_u64().filter(|n| *n >= 10).ok_or_else(|| bad(k, "a whole number of milliseconds >= 10", v))?,
                "lock_renewal" => o.lock_renewal = v.as_bool().ok_or_else(|| bad(k, "true or false", v))?,
                "read_lock_combined" => {
                    o.read_lock_combined = match v {
                        Value::Bool(b) => Some(*b),
                        Value::Null => None,
                        Value::String(a) if a == "auto" => None,
                        _ => return Err(bad(k, "true, false or \"auto\"", v)),
                    }
                }
                "refresh_ttl_on_get" => o.refresh_ttl_on_get = v.as_bool().ok_or_else(|| bad(k, "true or false", v))?,
                "ttl_refresh_threshold" => {
                    o.ttl_refresh_threshold = v.as_f64().filter(|x| (0.0..=1.0).contains(x)).ok_or_else(|| bad(k, "a number from 0 to 1", v))?
                }
                "pipelined" => o.pipelined = v.as_bool().ok_or_else(|| bad(k, "true or false", v))?,
                "early_refresh_beta" => {
                    o.early_refresh_beta = match v {
                        Value::Null => None,
                        _ => Some(v.as_f64().filter(|x| *x > 0.0 && *x <= 100.0).ok_or_else(|| bad(k, "a number in (0, 100] or null", v))?),
                    }
                }
                "stale_while_revalidate" => o.stale_while_revalidate = v.as_u64().ok_or_else(|| bad(k, "a whole number of seconds", v))?,
                "max_background_refreshes" => {
                    o.max_background_refreshes = v.as_u64().filter(|n| *n >= 1).ok_or_else(|| bad(k, "a whole number >= 1", v))? as usize
                }
                "negative_ttl" => {
                    o.negative_ttl = match v {
                        Value::Null => None,
                        _ => Some(v.as_u64().filter(|n| *n >= 1).ok_or_else(|| bad(k, "a whole number of seconds >= 1, or null", v))?),
                    }
                }
                "l1_sync_ms" => o.l1_sync_ms = v.as_u64().ok_or_else(|| bad(k, "a whole number of milliseconds", v))?,
                other => {
                    return Err(Error::Config(format!(
                        "unknown cache option \"{other}\"; known options: ttl, format, serializer, \
                         l1_enabled, l1_max_size_mb, encryption, master_key, decrypt_only_keys, tenant_id, \
                         l1_plaintext, fail_closed, fill_wait_ms, circuit_breaker, adaptive_timeout, \
                         backpressure, max_concurrent_requests, collect_stats, structured_logging, \
                         distributed_lock, lock_ttl_ms, lock_renewal, read_lock_combined, refresh_ttl_on_get, ttl_refresh_threshold, \
                         pipelined, early_refresh_beta, stale_while_revalidate, max_background_refreshes, \
                         negative_ttl, l1_sync_ms"
                    )))
                }
            }
        }
        Ok(o)
    }
}

fn cfg_err(section: &str, f: &str, want: &str, v: &Value) -> Error {
    Error::Config(format!("cache option \"{section}.{f}\" must be {want}, got {v}"))
}

fn num(section: &str, f: &str, v: &Value, min: f64, max: f64) -> Result<f64> {
    v.as_f64()
        .filter(|x| x.is_finite() && *x >= min && *x <= max)
        .ok_or_else(|| cfg_err(section, f, &format!("a number from {min} to {max}"), v))
}

/// `true`, `false`, or an object of `CircuitBreakerConfig` fields.
fn parse_breaker(v: &Value) -> Result<BreakerConfig> {
    let mut c = BreakerConfig::default();
    match v {
        Value::Bool(b) => c.enabled = *b,
        Value::Object(m) => {
            for (f, x) in m {
                match f.as_str() {
                    "enabled" => c.enabled = x.as_bool().ok_or_else(|| cfg_err("circuit_breaker", f, "true or false", x))?,
                    "failure_threshold" => c.failure_threshold = num("circuit_breaker", f, x, 1.0, 1e6)? as u32,
                    "success_threshold" => c.success_threshold = num("circuit_breaker", f, x, 1.0, 1e6)? as u32,
                    "recovery_timeout" => c.recovery_timeout = num("circuit_breaker", f, x, 0.001, 86400.0)?,
                    "half_open_requests" => c.half_open_requests = num("circuit_breaker", f, x, 1.0, 1e6)? as u32,
                    other => return Err(Error::Config(format!("unknown circuit_breaker field \"{other}\"; known: enabled, failure_threshold, success_threshold, recovery_timeout, half_open_requests"))),
                }
            }
        }
        other => return Err(Error::Config(format!("cache option \"circuit_breaker\" must be true, false or an object, got {other}"))),
    }
    Ok(c)
}

/// `true`, `false`, or an object of `TimeoutConfig` fields.
fn parse_timeout(v: &Value) -> Result<TimeoutConfig> {
    let mut c = TimeoutConfig::default();
    match v {
        Value::Bool(b) => c.enabled = *b,
        Value::Object(m) => {
            for (f, x) in m {
                match f.as_str() {
                    "enabled" => c.enabled = x.as_bool().ok_or_else(|| cfg_err("adaptive_timeout", f, "true or false", x))?,
                    "min_timeout" => c.min_timeout = num("adaptive_timeout", f, x, 0.001, 3600.0)?,
                    "max_timeout" => c.max_timeout = num("adaptive_timeout", f, x, 0.001, 3600.0)?,
                    "window_size" => c.window_size = num("adaptive_timeout", f, x, 1.0, 1e6)? as usize,
                    "percentile_multiplier" => c.percentile_multiplier = num("adaptive_timeout", f, x, 1.0, 100.0)?,
                    other => return Err(Error::Config(format!("unknown adaptive_timeout field \"{other}\"; known: enabled, min_timeout, max_timeout, window_size, percentile_multiplier"))),
                }
            }
            if c.min_timeout > c.max_timeout {
                return Err(Error::Config("adaptive_timeout.min_timeout must not exceed max_timeout".into()));
            }
        }
        other => return Err(Error::Config(format!("cache option \"adaptive_timeout\" must be true, false or an object, got {other}"))),
    }
    Ok(c)
}

/// `true`, `false`, or an object of `BackpressureConfig` fields.
fn parse_backpressure(v: &Value, mut c: BackpressureConfig) -> Result<BackpressureConfig> {
    match v {
        Value::Bool(b) => c.enabled = *b,
        Value::Object(m) => {
            for (f, x) in m {
                match f.as_str() {
                    "enabled" => c.enabled = x.as_bool().ok_or_else(|| cfg_err("backpressure", f, "true or false", x))?,
                    "max_concurrent_requests" => c.max_concurrent_requests = num("backpressure", f, x, 1.0, 1e9)? as usize,
                    other => return Err(Error::Config(format!("unknown backpressure field \"{other}\"; known: enabled, max_concurrent_requests"))),
                }
            }
        }
        other => return Err(Error::Config(format!("cache option \"backpressure\" must be true, false or an object, got {other}"))),
    }
    Ok(c)
}

/// Per-process state of a client: rebuilt after a fork.
pub(crate) struct ProcessState {
    /// The I/O runtime: made at once when Redis is configured, lazily
    /// otherwise (only async waits need it then).
    runtime: OnceLock<tokio::runtime::Runtime>,
    pub(crate) backend: Backend,
    pub(crate) flights: Flights,
    pub(crate) landings: crate::fill::Landings,
    pub(crate) hub: crate::invalidate::Hub,
    pub(crate) renewals: crate::fill::Renewals,
    /// Why the backend could not be set up, if it could not.
    backend_error: Option<String>,
}

impl Drop for ProcessState {
    fn drop(&mut self) {
        // The last reference to a client may be dropped by one of its own
        // tasks, on a runtime thread, where a blocking shutdown panics.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn new_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cachekit-io")
        .enable_all()
        .build()
}

impl ProcessState {
    fn new(cfg: &Config, foreign: Option<&ForeignBackend>) -> ProcessState {
        let mut st = ProcessState {
            runtime: OnceLock::new(),
            backend: Backend::None,
            flights: Flights::default(),
            landings: Default::default(),
            hub: Default::default(),
            renewals: Default::default(),
            backend_error: None,
        };
        if let Some(f) = foreign {
            st.backend = Backend::Foreign(f.clone());
            return st;
        }
        let Some(url) = cfg.redis_url.clone() else { return st };
        let rt = match new_runtime() {
            Ok(rt) => rt,
            Err(e) => {
                let msg = format!("cannot start the I/O runtime: {e}; running L1-only");
                observe::warn("runtime_failed", "-", &msg);
                st.backend_error = Some(msg);
                return st;
            }
        };
        let backend = {
            let _guard = rt.enter();
            crate::backend::redis::RedisBackend::new(cfg, &url)
        };
        match backend {
            Ok(b) => st.backend = Backend::Redis(b),
            Err(msg) => {
                observe::warn("backend_failed", "-", &msg);
                st.backend_error = Some(msg);
            }
        }
        let _ = st.runtime.set(rt);
        st
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.get_or_init(|| new_runtime().expect("cannot start the cachekit I/O runtime"))
    }
}

/// Every client of the process, for [`Client::flush_all`].
static CLIENTS: WeakList<ClientInner> = WeakList::new();

pub(crate) struct ClientInner {
    config: Config,
    /// A backend of the host language, used instead of Redis.
    foreign: Option<ForeignBackend>,
    state: ForkLocal<ProcessState>,
    caches: WeakList<CacheInner>,
    durations: Option<prometheus::HistogramVec>,
}

/// A cachekit client: one per process, shared by all threads.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
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
            redis::Client::open(url.as_str()).map_err(|e| {
                Error::Config(format!("redis_url {} is not a valid Redis URL: {e}", crate::config::redact(url)))
            })?;
        }
        let durations = config.enable_prometheus_metrics.then(metrics::new_duration_histogram);
        let client = Client {
            inner: Arc::new(ClientInner {
                config,
                foreign,
                state: ForkLocal::default(),
                caches: WeakList::new(),
                durations,
            }),
        };
        CLIENTS.push(Arc::downgrade(&client.inner));
        Ok(client)
    }

    /// [`Client::flush`] of every client of the process that is still
    /// referenced, within one `timeout`. Returns the writes still under way.
    pub fn flush_all(timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        CLIENTS
            .live()
            .into_iter()
            .map(|inner| Client { inner }.flush(deadline.saturating_duration_since(Instant::now())))
            .sum()
    }

    pub(crate) fn downgrade(&self) -> Weak<ClientInner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(weak: &Weak<ClientInner>) -> Option<Client> {
        weak.upgrade().map(|inner| Client { inner })
    }

    /// The caches of this client that are still referenced.
    pub(crate) fn live_caches(&self) -> Vec<Arc<CacheInner>> {
        self.inner.caches.live()
    }

    /// Settings from the environment, overridden by `explicit_json`.
    pub fn from_env(explicit_json: Option<&str>) -> Result<Client> {
        Client::new(Config::load(explicit_json)?)
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn state(&self) -> &ProcessState {
        self.inner.state.get_or_init(|| ProcessState::new(&self.inner.config, self.inner.foreign.as_ref()))
    }

    /// Run a future to completion from a thread that is not a runtime worker
    /// (C, PHP, Go and sync Python callers). A future that needs no I/O (no
    /// backend) completes without touching the runtime.
    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        let state = self.state();
        let Some(rt) = state.runtime.get() else {
            // L1-only: only waiting for another caller's fill needs timers,
            // and the runtime for it is made on first need.
            return state.runtime().block_on(f);
        };
        // Poll once on this thread inside the runtime's context: a call that
        // needs no round trip completes without handing over to the runtime.
        let _guard = rt.enter();
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        // Reads and writes of this first poll use this thread's own Redis
        // connection (no cross-thread wake-ups); anything that must wait
        // (locks, fills of others) continues on the runtime.
        match crate::backend::redis::as_blocking_caller(|| f.as_mut().poll(&mut cx)) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => rt.block_on(f),
        }
    }

    /// Run `f` in the background on the client's runtime.
    pub fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.state().runtime().spawn(f)
    }

    /// Wait, at most `timeout`, until every write this process made behind
    /// its callers (see [`crate::fill::Lease::complete`]) has ended. Returns
    /// the number still under way (0 when all ended). Call before the
    /// process exits; `ck_client_free` does.
    pub fn flush(&self, timeout: Duration) -> usize {
        let Some(state) = self.inner.state.get() else { return 0 };
        if state.landings.len() == 0 || state.runtime.get().is_none() {
            return state.landings.len();
        }
        let deadline = Instant::now() + timeout;
        self.block_on(state.landings.settle_all(deadline));
        state.landings.len()
    }

    /// A handle for one namespace with its options.
    pub fn cache(&self, namespace: &str, options: CacheOptions) -> Result<Cache> {
        match options.format {
            Format::Interop => key::validate_namespace(namespace).map_err(Error::from)?,
            Format::Envelope => validate_loose(namespace, "namespace", true)?,
        }
        if options.format == Format::Interop && options.serializer != "msgpack" {
            return Err(Error::Config(format!(
                "interop format stores plain MessagePack; serializer {:?} cannot be used with it",
                options.serializer
            )));
        }
        let cfg = &self.inner.config;
        let keyring = if options.encryption {
            let master = options.master_key.as_ref().or(cfg.master_key.as_ref()).ok_or_else(|| {
                Error::Encryption(
                    "encryption is on but no master key is set: pass master_key or set CACHEKIT_MASTER_KEY (64 hex digits)".into(),
                )
            })?;
            let current = codec::parse_master_key_hex(master).map_err(|e| Error::Encryption(format!("master key: {e}")))?;
            let old = options
                .decrypt_only_keys
                .iter()
                .map(|k| codec::parse_master_key_hex(k).map(|b| b.to_vec()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::Encryption(format!("decrypt-only key: {e}")))?;
            let tenant = options.tenant_id.clone().or_else(|| cfg.tenant_id.clone()).unwrap_or_else(|| "default".to_string());
            Some(Keyring::new(&current, &old, &tenant).map_err(|e| Error::Encryption(e.to_string()))?)
        } else {
            None
        };
        let mut prefix = cfg.key_prefix.clone();
        if let Some(t) = &cfg.tenant_id {
            prefix.push_str("t:");
            prefix.push_str(&percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC).to_string());
            prefix.push(':');
        }
        let l1_enabled = options.l1_enabled.unwrap_or(cfg.l1_enabled) && options.l1_max_size_mb.unwrap_or(cfg.l1_max_size_mb) > 0;
        let ttl = Duration::from_secs(options.ttl.unwrap_or(cfg.default_ttl));
        let limits = Limits { max_uncompressed: cfg.max_value_bytes(), ..Limits::default() };
        let durations = match (&self.inner.durations, options.collect_stats) {
            (Some(h), true) => metrics::OPERATIONS.iter().map(|op| Some(h.with_label_values(&[op, namespace]))).collect(),
            _ => vec![None; metrics::OPERATIONS.len()],
        };
        let inner = Arc::new(CacheInner {
            client: self.clone(),
            namespace: namespace.to_string(),
            key_prefix: prefix,
            options,
            keyring,
            l1_enabled,
            ttl,
            limits,
            local: ForkLocal::default(),
            stats: NsStats::default(),
            last_warn_ms: AtomicU64::new(0),
            durations,
            refreshing: std::sync::atomic::AtomicUsize::new(0),
            fill_micros: AtomicU64::new(0),
            miss_share: Default::default(),
            seen_generation: std::sync::atomic::AtomicI64::new(-1),
            generation_checked_ms: AtomicU64::new(0),
            memo_owner: crate::keymemo::new_owner(),
        });
        self.inner.caches.push(Arc::downgrade(&inner));
        Ok(Cache { inner })
    }

    /// Prometheus exposition text of every live cache of this client.
    pub fn metrics_text(&self) -> String {
        let caches = self.inner.caches.live();
        let samples: Vec<_> = caches.iter().filter(|c| c.options.collect_stats).map(|c| c.metrics_sample()).collect();
        let in_use: u64 = caches.iter().filter_map(|c| c.local.get()).map(|l| l.rel.in_flight() as u64).sum();
        let state = self.state();
        let (size, created) = match &state.backend {
            Backend::Redis(r) => (r.pool_size() as u64, r.connected() as u64),
            Backend::None | Backend::Foreign(_) => (0, 0),
        };
        metrics::render(self.inner.durations.as_ref(), &samples, &metrics::PoolSample { size, created, in_use })
    }
}

/// Per-process state of one namespace: rebuilt (empty) after a fork.
pub(crate) struct NsLocal {
    pub(crate) l1: Option<L1Namespace>,
    pub(crate) rel: Reliability,
}

pub(crate) struct CacheInner {
    pub(crate) client: Client,
    pub(crate) namespace: String,
    /// Config key prefix and tenant scope, put before the logical key.
    pub(crate) key_prefix: String,
    pub(crate) options: CacheOptions,
    pub(crate) keyring: Option<Keyring>,
    pub(crate) l1_enabled: bool,
    pub(crate) ttl: Duration,
    pub(crate) limits: Limits,
    pub(crate) local: ForkLocal<NsLocal>,
    pub(crate) stats: NsStats,
    pub(crate) last_warn_ms: AtomicU64,
    /// Latency histogram handles, one per `metrics::OPERATIONS` entry.
    pub(crate) durations: Vec<Option<prometheus::Histogram>>,
    /// Background refreshes running now (bounded by max_background_refreshes).
    pub(crate) refreshing: std::sync::atomic::AtomicUsize,
    /// Moving average of how long a fill takes, microseconds (XFetch's delta).
    pub(crate) fill_micros: AtomicU64,
    /// Share of recent fill reads that missed, out of 1024 (a moving
    /// average): `read_lock_combined` "auto" combines while above half.
    pub(crate) miss_share: std::sync::atomic::AtomicU32,
    /// The namespace generation this process has applied to its L1 (-1: unknown).
    pub(crate) seen_generation: std::sync::atomic::AtomicI64,
    /// When the generation was last checked (observe::now_ms).
    pub(crate) generation_checked_ms: AtomicU64,
    /// This handle's id in the key-derivation memo.
    pub(crate) memo_owner: u64,
}

/// One namespace of a client: the object every cached call goes through.
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<CacheInner>,
}

pub(crate) enum Decoded {
    Value(Vec<u8>),
    Corrupt(CodecError),
    Mismatch(CodecError),
}

/// Why an L2 operation did not happen or failed.
pub(crate) enum L2Fail {
    Skipped(Refusal),
    Failed(L2Error),
}

impl CacheInner {
    pub(crate) fn local(&self) -> &NsLocal {
        self.local.get_or_init(|| {
            // First use in this process (or after a fork): make sure this
            // process listens for invalidations and fills of others.
            self.client.state().hub.ensure_started(&self.client);
            let cfg = self.client.config();
            NsLocal {
                l1: self.l1_enabled.then(|| {
                    L1Namespace::new(self.options.l1_max_size_mb.map_or_else(|| cfg.l1_budget_bytes(), |mb| (mb as usize) << 20))
                }),
                rel: Reliability::new(
                    self.options.circuit_breaker.clone(),
                    self.options.adaptive_timeout.clone(),
                    self.options.backpressure.clone(),
                    cfg.socket_timeout(),
                ),
            }
        })
    }

    fn metrics_sample(&self) -> metrics::NsSample<'_> {
        let s = &self.stats;
        let g = NsStats::get;
        let local = self.local.get();
        let l1 = local.and_then(|l| l.l1.as_ref());
        let mut operations = vec![
            ("get", "l1_hit", l1.map_or(0, |l| l.hits())),
            ("get", "l2_hit", g(&s.l2_hits)),
            ("get", "miss", g(&s.l2_misses)),
            ("get", "corrupt", g(&s.corrupt_entries)),
            ("get", "format_mismatch", g(&s.format_mismatches)),
            ("l2", "error", g(&s.l2_errors)),
            ("l2", "skipped", g(&s.l2_skipped)),
            ("set", "success", g(&s.sets)),
            ("set", "encode_error", g(&s.encode_failures)),
            ("delete", "success", g(&s.deletes)),
            ("fill", "lease", g(&s.fills)),
            ("fill", "wait", g(&s.fill_waits)),
            ("fill", "wait_timeout", g(&s.fill_wait_timeouts)),
            ("fill", "lease_wait", g(&s.lease_waits)),
            ("fill", "lease_timeout", g(&s.lease_timeouts)),
            ("fill", "announced", g(&s.fill_announcements)),
            ("fill", "lost_lease", g(&s.lost_leases)),
            ("fill", "early_refresh", g(&s.early_refreshes)),
            ("fill", "null_not_cached", g(&s.nulls_not_cached)),
            ("ttl", "refresh", g(&s.ttl_refreshes)),
            ("invalidate", "sent", g(&s.invalidations_sent)),
            ("invalidate", "received", g(&s.invalidations_received)),
            ("invalidate", "l1_resync", g(&s.l1_resyncs)),
        ];
        operations.retain(|(_, _, n)| *n > 0);
        metrics::NsSample {
            namespace: &self.namespace,
            serializer: &self.options.serializer,
            operations,
            breaker_state: local.map_or(0, |l| l.rel.state().gauge()),
            fallbacks: g(&s.format_mismatches) + g(&s.encode_failures),
            l1: l1.map(|l| metrics::L1Sample {
                hits: l.hits(),
                misses: l.misses(),
                evictions: g(&l.stats.evictions),
                bytes: l.bytes() as u64,
                entries: l.len() as u64,
            }),
            backpressure_rejections: local.map_or(0, |l| l.rel.rejected_backpressure.load(Ordering::Relaxed)),
            in_flight: local.map_or(0, |l| l.rel.in_flight() as u64),
        }
    }
}

impl Cache {
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    pub fn options(&self) -> &CacheOptions {
        &self.inner.options
    }

    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    pub(crate) fn l1(&self) -> Option<&L1Namespace> {
        self.inner.local().l1.as_ref()
    }

    pub(crate) fn has_backend(&self) -> bool {
        !self.inner.client.state().backend.is_none()
    }

    /// Whether the L2 has fill locks (a cross-process lease is possible).
    pub(crate) fn has_locks(&self) -> bool {
        self.inner.client.state().backend.has_locks()
    }

    /// Whether an L2 is configured (a miss in L1 is then worth an L2 read).
    pub fn has_l2(&self) -> bool {
        self.has_backend()
    }

    /// As [`Cache::key`], remembered for repeated calls: a repeated call
    /// costs one fast hash instead of canonicalisation and Blake2b.
    pub fn key_shared(&self, operation: &str, args: &[u8]) -> Result<Arc<str>> {
        let owner = self.inner.memo_owner;
        if let Some(k) = crate::keymemo::get(owner, operation, args) {
            return Ok(k);
        }
        let k: Arc<str> = self.key(operation, args)?.into();
        crate::keymemo::put(owner, operation, args, k.clone());
        Ok(k)
    }

    /// The full L2 key of `operation` called with `args` (a MessagePack array).
    pub fn key(&self, operation: &str, args: &[u8]) -> Result<String> {
        let i = &self.inner;
        let logical = match i.options.format {
            Format::Interop => key::interop_key(&i.namespace, operation, args)?,
            Format::Envelope => {
                validate_loose(operation, "operation", false)?;
                let canonical = key::canonicalize_args(args)?;
                let mut k = String::with_capacity(i.key_prefix.len() + i.namespace.len() + operation.len() + 70);
                k.push_str(&i.key_prefix);
                k.push_str(&i.namespace);
                k.push(':');
                k.push_str(operation);
                k.push(':');
                key::push_args_hash_hex(&canonical, &mut k);
                k.push_str(ENVELOPE_KEY_SUFFIX);
                return Ok(k);
            }
        };
        if i.key_prefix.is_empty() {
            Ok(logical)
        } else {
            Ok(format!("{}{}", i.key_prefix, logical))
        }
    }

    fn compressed_flag(&self) -> bool {
        self.inner.options.format == Format::Envelope
    }

    fn aad(&self, full_key: &str) -> Vec<u8> {
        let ring = self.inner.keyring.as_ref().expect("aad only with a keyring");
        // The AAD binds the exact stored key (prefix and tenant scope included),
        // so a ciphertext copied to any other key fails to decrypt.
        codec::build_aad(ring.tenant(), full_key, self.format_name(), self.compressed_flag(), None)
    }

    fn format_name(&self) -> &str {
        &self.inner.options.serializer
    }

    /// Value bytes as the wrapper gave them -> (the value as readers will
    /// see it, the bytes stored in L2). Interop values are canonicalised, so
    /// an L1 hit returns the same bytes as an L2 hit.
    pub(crate) fn encode(&self, full_key: &str, value: &[u8]) -> Result<(Option<Vec<u8>>, Vec<u8>)> {
        let i = &self.inner;
        if value.len() > i.limits.max_uncompressed {
            return Err(Error::Encode(format!(
                "value of {} bytes is larger than max_chunk_size_mb ({} MiB)",
                value.len(),
                i.client.config().max_chunk_size_mb
            )));
        }
        let mut canonical = None;
        let plain = match i.options.format {
            Format::Envelope => {
                if i.options.serializer == "msgpack" {
                    codec::check_document(value, &i.limits)
                        .map_err(|e| Error::Encode(format!("value is not one MessagePack document: {e}")))?;
                }
                if i.client.config().enable_compression {
                    codec::encode_envelope(value, self.format_name())
                } else {
                    codec::encode_envelope_uncompressed(value, self.format_name())
                }
            }
            Format::Interop => {
                let c = key::canonicalize_value(value)
                    .map_err(|e| Error::Encode(format!("value cannot be stored in interop mode: {e}")))?;
                canonical = Some(c.clone());
                c
            }
        };
        let stored = match &i.keyring {
            Some(ring) => ring.encrypt(&plain, &self.aad(full_key)),
            None => plain,
        };
        Ok((canonical, stored))
    }

    /// Bytes from L2 (or ciphertext kept in L1) -> the wrapper's value bytes.
    pub(crate) fn decode(&self, full_key: &str, stored: &[u8]) -> Decoded {
        let i = &self.inner;
        let plain_owned;
        let plain: &[u8] = match &i.keyring {
            Some(ring) => match ring.decrypt(stored, &self.aad(full_key)) {
                Ok(p) => {
                    plain_owned = p;
                    &plain_owned
                }
                Err(e) => return Decoded::Corrupt(e),
            },
            None => stored,
        };
        match i.options.format {
            Format::Envelope => match codec::decode_envelope(plain, self.format_name(), &i.limits) {
                Ok(v) => Decoded::Value(v),
                Err(e @ CodecError::FormatMismatch { .. }) => Decoded::Mismatch(e),
                Err(e) => Decoded::Corrupt(e),
            },
            Format::Interop => match codec::check_document(plain, &i.limits) {
                Ok(()) => Decoded::Value(plain.to_vec()),
                Err(e) => Decoded::Corrupt(e),
            },
        }
    }

    /// Whether L1 keeps the L2 bytes (ciphertext) rather than the value.
    pub(crate) fn l1_keeps_ciphertext(&self) -> bool {
        self.inner.keyring.is_some() && !self.inner.options.l1_plaintext
    }

    /// L1 lookup by full key. Never leaves the calling thread.
    pub fn l1_get(&self, key: &str) -> Option<Bytes> {
        let l1 = self.l1()?;
        let stored = l1.get(key)?;
        if !self.l1_keeps_ciphertext() {
            return Some(stored);
        }
        match self.decode(key, &stored) {
            Decoded::Value(v) => Some(v.into()),
            _ => {
                // Only verified bytes enter L1; failing now means the keyring
                // changed under us. Drop the entry.
                l1.remove(key);
                None
            }
        }
    }

    /// Put in L1 for `remaining` (the entry's remaining lifetime in L2,
    /// stale-while-revalidate period included).
    pub(crate) fn l1_put(&self, key: &str, value: &Bytes, stored: &[u8], remaining: Option<Duration>) {
        if let Some(l1) = self.l1() {
            let now = Instant::now();
            let expires = remaining.map(|t| now + t);
            let swr = self.swr();
            let refresh_at = match (remaining, swr.is_zero()) {
                (Some(t), false) => Some(now + t.saturating_sub(swr)),
                _ => None,
            };
            let v = if self.l1_keeps_ciphertext() { stored.into() } else { value.clone() };
            l1.put_with_refresh(key, v, expires, refresh_at);
        }
    }

    /// The stale-while-revalidate period.
    pub(crate) fn swr(&self) -> Duration {
        Duration::from_secs(self.inner.options.stale_while_revalidate)
    }

    /// How long an entry written now with `ttl` lives in L2.
    pub(crate) fn l2_ttl(&self, ttl: Duration) -> Duration {
        ttl + self.swr()
    }

    /// A log event of this namespace. Warnings and errors (fail-open, bad
    /// entries) are always delivered, rate-limited to one a second;
    /// `structured_logging` governs the per-operation debug and info events.
    pub(crate) fn log(&self, level: Level, event: &str, key: Option<&str>, outcome: &str, duration: Option<Duration>, detail: Option<&str>) {
        if !observe::enabled(level) || (level < Level::Warning && !self.inner.options.structured_logging) {
            return;
        }
        if level >= Level::Warning {
            let now = observe::now_ms();
            let last = self.inner.last_warn_ms.load(Ordering::Relaxed);
            if last != 0 && now.saturating_sub(last) < 1000 {
                return;
            }
            if self.inner.last_warn_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err() {
                return;
            }
        }
        observe::emit(Event { level, event, namespace: &self.inner.namespace, key, outcome, duration, detail });
    }

    /// A debug event per cached call (hit or miss), when asked for.
    #[inline]
    pub(crate) fn trace(&self, key: &str, outcome: &str) {
        if observe::enabled(Level::Debug) && self.inner.options.structured_logging {
            self.log(Level::Debug, "cache_lookup", Some(key), outcome, None, None);
        }
    }

    /// One L2 operation through the reliability gate: admission (breaker,
    /// backpressure, permanent-error back-off), the adaptive timeout, latency
    /// and outcome recorded.
    pub(crate) async fn l2<'a, T, F, Fut>(&'a self, op: usize, kind: OpKind, key: Option<&str>, f: F) -> std::result::Result<T, L2Fail>
    where
        F: FnOnce(&'a Backend) -> Fut,
        Fut: Future<Output = L2Result<T>> + 'a,
    {
        let state = self.inner.client.state();
        let rel = &self.inner.local().rel;
        let permit = match rel.admit(kind) {
            Ok(p) => p,
            Err(r) => {
                NsStats::inc(&self.inner.stats.l2_skipped);
                return Err(L2Fail::Skipped(r));
            }
        };
        let timeout = permit.timeout();
        crate::backend::redis::set_call_timeout(Some(timeout));
        let trial = permit.is_trial();
        let attempt = async {
            if trial {
                // Half-open: reconnect the pool first, within the same bound.
                state.backend.revive().await;
            }
            f(&state.backend).await
        };
        let res = match tokio::time::timeout(timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(L2Error {
                class: ErrorClass::Transient,
                message: format!("Redis did not answer within the adaptive timeout of {} ms", timeout.as_millis()),
            }),
        };
        let elapsed = permit.started().elapsed();
        if let Some(Some(h)) = self.inner.durations.get(op) {
            h.observe(elapsed.as_secs_f64());
        }
        self.l2_report(op, key, Some(elapsed), res, |failure| rel.record(permit, failure))
    }

    /// The outcome of an L2 operation: recorded (by `record`, which returns
    /// whether a failure opened the circuit), and a failure counted and
    /// logged.
    pub(crate) fn l2_report<T>(
        &self,
        op: usize,
        key: Option<&str>,
        elapsed: Option<Duration>,
        res: L2Result<T>,
        record: impl FnOnce(Option<(ErrorClass, &str)>) -> bool,
    ) -> std::result::Result<T, L2Fail> {
        match res {
            Ok(v) => {
                record(None);
                Ok(v)
            }
            Err(e) => {
                let opened = record(Some((e.class, &e.message)));
                NsStats::inc(&self.inner.stats.l2_errors);
                let class = match e.class {
                    ErrorClass::Transient => "transient",
                    ErrorClass::Permanent => "permanent",
                    ErrorClass::Excluded => "excluded",
                };
                let detail = format!("operation={} class={class} error=\"{}\"", metrics::OPERATIONS[op], e.message);
                if opened {
                    observe::emit(Event { level: Level::Error, event: "circuit_opened", namespace: &self.inner.namespace, key, outcome: "open", duration: elapsed, detail: Some(&detail) });
                } else {
                    self.log(Level::Warning, "l2_error", key, class, elapsed, Some(&detail));
                }
                Err(L2Fail::Failed(e))
            }
        }
    }

    /// Fail-open: an L2 failure becomes `default`; fail-closed: an error.
    pub(crate) fn settle<T>(&self, r: std::result::Result<T, L2Fail>, default: T) -> Result<T> {
        match r {
            Ok(v) => Ok(v),
            Err(_) if !self.inner.options.fail_closed => Ok(default),
            Err(L2Fail::Failed(e)) => Err(Error::Backend(e.to_string())),
            Err(L2Fail::Skipped(r)) => Err(Error::Backend(format!("L2 skipped: {r:?}"))),
        }
    }

    /// Read by full key: L1, then L2 (verified, put in L1).
    pub fn get_by_key(&self, key: &str) -> Result<Option<Bytes>> {
        if let Some(v) = self.l1_get(key) {
            self.trace(key, "l1_hit");
            return Ok(Some(v));
        }
        if !self.has_backend() {
            self.trace(key, "miss");
            return Ok(None);
        }
        let v = self.inner.client.block_on(self.get_l2(key))?;
        self.trace(key, if v.is_some() { "l2_hit" } else { "miss" });
        Ok(v)
    }

    /// The L2 part of a read, for async callers (after their own L1 check).
    pub async fn get_l2(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.get_l2_entry(key).await?.map(|(v, _)| v))
    }

    /// The L2 part of a read with the entry's remaining lifetime.
    pub(crate) async fn get_l2_entry(&self, key: &str) -> Result<Option<(Bytes, Option<Duration>)>> {
        if !self.has_backend() {
            return Ok(None);
        }
        if let Some(v) = self.inner.client.state().landings.value(key) {
            // Our own write of it is under way: L2 may not have it yet.
            return Ok(Some((v, None)));
        }
        let o = &self.inner.options;
        let needs_ttl = self.inner.l1_enabled || o.refresh_ttl_on_get || o.stale_while_revalidate > 0 || o.early_refresh_beta.is_some();
        let mode = match (needs_ttl, o.pipelined) {
            (false, _) => GetMode::ValueOnly,
            (true, true) => GetMode::Pipelined,
            (true, false) => GetMode::TwoTrips,
        };
        let r = self.l2(0, OpKind::Data, Some(key), |b| b.get(key, mode)).await;
        let Some(f) = self.settle(r, None)? else {
            NsStats::inc(&self.inner.stats.l2_misses);
            return Ok(None);
        };
        self.accept_fetched(key, f).await
    }

    /// Verify what L2 returned for `key`: the value (put in L1, TTL refreshed
    /// when asked) with its remaining lifetime, or a counted miss (an entry
    /// of another serializer, or a corrupt one, which is deleted).
    pub(crate) async fn accept_fetched(&self, key: &str, f: crate::backend::Fetched) -> Result<Option<(Bytes, Option<Duration>)>> {
        match self.decode(key, &f.bytes) {
            Decoded::Value(v) => {
                NsStats::inc(&self.inner.stats.l2_hits);
                let v: Bytes = v.into();
                let mut remaining = f.ttl;
                let o = &self.inner.options;
                if o.refresh_ttl_on_get {
                    let full = self.l2_ttl(self.inner.ttl);
                    if remaining.is_some_and(|r| r.as_secs_f64() < o.ttl_refresh_threshold * full.as_secs_f64()) {
                        if let Ok(true) = self.l2(4, OpKind::Data, Some(key), |b| b.expire(key, full)).await {
                            NsStats::inc(&self.inner.stats.ttl_refreshes);
                            remaining = Some(full);
                        }
                    }
                }
                self.l1_put(key, &v, &f.bytes, remaining);
                Ok(Some((v, remaining)))
            }
            Decoded::Mismatch(e) => {
                NsStats::inc(&self.inner.stats.format_mismatches);
                let d = format!("{e}; the entry was written by another serializer and will be recomputed and overwritten");
                self.log(Level::Warning, "format_mismatch", Some(key), "miss", None, Some(&d));
                Ok(None)
            }
            Decoded::Corrupt(e) => {
                NsStats::inc(&self.inner.stats.corrupt_entries);
                let d = format!("{e}; treated as a miss and deleted");
                self.log(Level::Warning, "corrupt_entry", Some(key), "miss", None, Some(&d));
                let _ = self.l2(2, OpKind::Data, Some(key), |b| b.delete(key)).await;
                Ok(None)
            }
        }
    }

    /// Encode, and put in L1. Returns (the value readers get, the bytes for L2).
    pub(crate) fn prepare_store(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, Vec<u8>)> {
        let (seen, stored) = self.encode_for_l2(key, value)?;
        self.l1_put(key, &seen, &stored, Some(self.l2_ttl(ttl)));
        Ok((seen, stored))
    }

    /// Encode, counting and logging failures. Returns (the value readers
    /// get, the bytes for L2).
    pub(crate) fn encode_for_l2(&self, key: &str, value: &[u8]) -> Result<(Bytes, Vec<u8>)> {
        match self.encode(key, value) {
            Ok((canonical, stored)) => {
                NsStats::inc(&self.inner.stats.sets);
                let seen: Bytes = canonical.as_deref().unwrap_or(value).into();
                Ok((seen, stored))
            }
            Err(e) => {
                NsStats::inc(&self.inner.stats.encode_failures);
                self.log(Level::Warning, "encode_failed", Some(key), "not_cached", None, Some(e.message()));
                // A value that cannot be stored must not leave an older one visible.
                if let Some(l1) = self.l1() {
                    l1.remove(key);
                }
                Err(e)
            }
        }
    }

    /// Write to L2 for `ttl` (plus the stale-while-revalidate period).
    pub(crate) async fn write_l2(&self, key: &str, stored: Vec<u8>, ttl: Duration) -> Result<()> {
        if !self.has_backend() {
            return Ok(());
        }
        let ttl = self.l2_ttl(ttl);
        let r = self.l2(1, OpKind::Data, Some(key), |b| b.set(key, &stored, ttl)).await;
        self.settle(r, ())
    }

    /// Store by full key in L1 and L2.
    pub fn set_by_key(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let ttl = ttl.unwrap_or(self.inner.ttl);
        match self.prepare_store(key, value, ttl) {
            Ok((_, stored)) => self.inner.client.block_on(async {
                self.settle_landing(key).await;
                self.write_l2(key, stored, ttl).await
            }),
            Err(e) => {
                self.forget_l2(key);
                Err(e)
            }
        }
    }

    /// Wait until this process's write behind of `key` (if any) has ended,
    /// so that what follows lands after it.
    pub(crate) async fn settle_landing(&self, key: &str) {
        self.inner.client.state().landings.settle_key(key, Instant::now() + LANDING_WAIT).await
    }

    /// After a value could not be stored, the older entry is stale: remove
    /// it from L2 too (L1 was cleared by `prepare_store`). Best effort.
    pub(crate) fn forget_l2(&self, key: &str) {
        if self.has_backend() {
            let _ = self.inner.client.block_on(self.l2(2, OpKind::Data, Some(key), |b| b.delete(key)));
        }
    }

    pub(crate) fn forget_l2_in_background(&self, key: &str) {
        if self.has_backend() {
            let (c, key) = (self.clone(), key.to_string());
            self.inner.client.spawn(async move {
                let _ = c.l2(2, OpKind::Data, Some(&key), |b| b.delete(&key)).await;
            });
        }
    }

    /// As [`Cache::set_by_key`] for async callers: L1 now, `done` after L2.
    pub fn set_in_background(&self, key: &str, value: &[u8], ttl: Option<Duration>, done: impl FnOnce(Result<()>) + Send + 'static) {
        let ttl = ttl.unwrap_or(self.inner.ttl);
        match self.prepare_store(key, value, ttl) {
            Err(e) => {
                self.forget_l2_in_background(key);
                done(Err(e))
            }
            Ok(_) if !self.has_backend() => done(Ok(())),
            Ok((_, stored)) => {
                let (c, key) = (self.clone(), key.to_string());
                self.inner.client.spawn(async move {
                    c.settle_landing(&key).await;
                    done(c.write_l2(&key, stored, ttl).await)
                });
            }
        }
    }

    /// The cached value of `operation(args)`, if any.
    pub fn get(&self, operation: &str, args: &[u8]) -> Result<Option<Bytes>> {
        let key = self.key_shared(operation, args)?;
        self.get_by_key(&key)
    }

    /// Store `value` for `operation(args)`.
    pub fn set(&self, operation: &str, args: &[u8], value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let key = self.key_shared(operation, args)?;
        self.set_by_key(&key, value, ttl)
    }

    /// Whether `operation(args)` has an entry (L1 or L2). Does not verify it.
    pub fn exists(&self, operation: &str, args: &[u8]) -> Result<bool> {
        let key = self.key_shared(operation, args)?;
        if self.l1().is_some_and(|l1| l1.remaining(&key).is_some()) {
            return Ok(true);
        }
        if !self.has_backend() {
            return Ok(false);
        }
        if self.inner.client.state().landings.value(&key).is_some() {
            return Ok(true);
        }
        let r = self.inner.client.block_on(self.l2(3, OpKind::Data, Some(&key), |b| b.exists(&key)));
        self.settle(r, false)
    }

    /// Remaining lifetime of the entry: `None` if absent, `Some(None)` if it
    /// never expires. L2 is authoritative when it answers.
    pub fn ttl(&self, operation: &str, args: &[u8]) -> Result<Option<Option<Duration>>> {
        let key = self.key_shared(operation, args)?;
        if self.has_backend() {
            let r = self.inner.client.block_on(async {
                self.settle_landing(&key).await;
                self.l2(4, OpKind::Data, Some(&key), |b| b.ttl(&key)).await
            });
            match r {
                Ok(t) => return Ok(t),
                Err(e) => {
                    self.settle::<Option<Option<Duration>>>(Err(e), None)?;
                }
            }
        }
        Ok(self.l1().and_then(|l1| l1.remaining(&key)))
    }

    /// Health of this namespace in the shape of the API reference
    /// (`namespace`, `features_enabled`, `circuit_breaker`, `backpressure`,
    /// `adaptive_timeout`), plus L1 and outcome counters.
    pub fn health(&self) -> Value {
        let i = &self.inner;
        let client = &i.client;
        let state = client.state();
        let local = i.local();
        let (cb, at, bp) = local.rel.features();
        let l1 = local.l1.as_ref().map(|l1| {
            let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
            json!({
                "entries": l1.len(),
                "bytes": l1.bytes(),
                "budget_bytes": l1.budget(),
                "hits": l1.hits(),
                "misses": l1.misses(),
                "evictions": g(&l1.stats.evictions),
                "expirations": g(&l1.stats.expirations),
                "rejected_too_large": g(&l1.stats.rejected_too_large),
            })
        });
        json!({
            "namespace": i.namespace,
            "features_enabled": {
                "circuit_breaker": cb,
                "adaptive_timeout": at,
                "backpressure": bp,
                "statistics": i.options.collect_stats,
                "structured_logging": i.options.structured_logging,
                "l1_cache": i.l1_enabled,
                "encryption": i.keyring.is_some(),
                "prometheus_metrics": client.config().enable_prometheus_metrics && i.options.collect_stats,
            },
            "circuit_breaker": local.rel.breaker_json(),
            "backpressure": local.rel.backpressure_json(),
            "adaptive_timeout": local.rel.timeout_json(),
            "backend": state.backend.kind(),
            "backend_error": state.backend_error,
            "format": match i.options.format { Format::Envelope => "envelope", Format::Interop => "interop" },
            "serializer": i.options.serializer,
            "encryption": i.keyring.as_ref().map(|k| json!({
                "tenant_id": k.tenant(),
                "key_fingerprint": hex::encode(k.fingerprint()),
                "l1_plaintext": i.options.l1_plaintext,
            })),
            "l1": l1,
            "stats": i.stats.to_json(),
            "fork_generation": fork::generation(),
            "config": client.config().to_public_json(),
        })
    }

    /// Active check: [`Cache::health`] plus a PING of the L2, its latency
    /// and connection figures, in the reference's `check_health` shape.
    pub fn check_health(&self) -> Value {
        let client = &self.inner.client;
        let state = client.state();
        let ping = if self.has_backend() {
            // The PING bypasses the gate on purpose: it is the probe.
            Some(client.block_on(async {
                match tokio::time::timeout(client.config().socket_timeout(), state.backend.ping()).await {
                    Ok(r) => r,
                    Err(_) => Err(L2Error { class: ErrorClass::Transient, message: "PING timed out".into() }),
                }
            }))
        } else {
            None
        };
        let in_use: u64 = self.inner.local().rel.in_flight() as u64;
        let (size, created) = match &state.backend {
            Backend::Redis(r) => (r.pool_size() as u64, r.connected() as u64),
            Backend::None | Backend::Foreign(_) => (0, 0),
        };
        let in_use = in_use.min(created);
        let (status, latency, error, conn) = match ping {
            None => ("healthy", None, state.backend_error.clone(), "none"),
            Some(Ok(d)) => ("healthy", Some(d.as_secs_f64()), None, "active"),
            Some(Err(e)) => ("unhealthy", None, Some(e.to_string()), "failed"),
        };
        json!({
            "decorator": self.health(),
            "system": {
                "status": status,
                "backend": state.backend.kind(),
                "redis_connection": conn,
                "ping_latency_seconds": latency,
                "error": error,
                "connection_pool": {
                    "size": size,
                    "created_connections": created,
                    "available_connections": created - in_use,
                    "in_use_connections": in_use,
                },
            }
        })
    }
}

/// Envelope-mode namespace (and operation) check: letters of either case,
/// digits, `.`, `_`, `-`, and for a namespace also `:` (as in
/// `"user_data:v1"`); 1 to 128 characters, not starting with `:`.
fn validate_loose(s: &str, what: &str, colon_ok: bool) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') || (colon_ok && c == ':');
    if s.is_empty() || s.len() > 128 || s.starts_with(':') || !s.chars().all(ok_char) {
        let allowed = if colon_ok { "letters, digits, '.', '_', '-' and ':'" } else { "letters, digits, '.', '_' and '-'" };
        return Err(Error::InvalidKey(format!(
            "{what} {s:?} is not valid: use 1 to 128 characters of {allowed}, not starting with ':'"
        )));
    }
    Ok(())
}
