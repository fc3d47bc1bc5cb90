//! The per-namespace engine: what every cached call of one namespace goes
//! through below the miss path. A [`ClientCore`] holds a client's settings
//! and its per-process state ([`Process`]: runtime, backend, writes behind,
//! the registries of fills and locks); a [`Namespace`] holds one
//! namespace's options, keyring, L1 and reliability gate.
//!
//! - `values`: keys, encoding and decoding, L1 access;
//! - `gate`: every L2 operation through the reliability gate, logging;
//! - `io`: reads and writes by full key (L1, then L2);
//! - `health`: the health report and metrics samples.
//!
//! The miss path (`fill`) and deletes (`invalidate`) take a [`Namespace`]
//! as an argument; the public `Client` and `Cache` are a facade over both.

mod gate;
mod health;
mod io;
mod process;
mod values;

pub(crate) use gate::L2Fail;
pub(crate) use process::{HeldLock, HeldLocks, Process};
pub(crate) use values::Decoded;

use crate::backend::foreign::ForeignBackend;
use crate::codec::{self, Keyring, Limits};
use crate::config::{CacheOptions, Config, Format};
use crate::error::{Error, Result};
use crate::fork::ForkLocal;
use crate::l1::L1Namespace;
use crate::metrics;
use crate::observe::NsStats;
use crate::reliability::{Op, Reliability};
use crate::weak_list::WeakList;
use crate::{key, keyspace};
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One client's settings, its namespaces and its per-process state.
pub(crate) struct ClientCore {
    config: Config,
    /// A backend of the host language, used instead of Redis.
    foreign: Option<ForeignBackend>,
    state: ForkLocal<Process>,
    namespaces: WeakList<NsInner>,
    durations: Option<prometheus::HistogramVec>,
    /// Starts this process's subscriber (invalidations, fills of others):
    /// given by the layer that owns it.
    start_listener: fn(&Arc<ClientCore>),
    /// Set by `Client::close`: every later call fails with `Error::Closed`.
    closed: std::sync::atomic::AtomicBool,
}

impl ClientCore {
    pub(crate) fn new(config: Config, foreign: Option<ForeignBackend>, start_listener: fn(&Arc<ClientCore>)) -> ClientCore {
        let durations = config.enable_prometheus_metrics.then(metrics::new_duration_histogram);
        ClientCore { config, foreign, state: ForkLocal::default(), namespaces: WeakList::new(), durations, start_listener, closed: Default::default() }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// Mark the client closed; true the first time.
    pub(crate) fn close(&self) -> bool {
        !self.closed.swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    /// `Err(Error::Closed)` once the client was closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::Closed("this cachekit client was closed: make a new one".into()));
        }
        Ok(())
    }

    /// This process's state (made on first use, and again after a fork).
    pub(crate) fn state(&self) -> &Process {
        self.state.get_or_init(|| Process::new(&self.config, self.foreign.as_ref()))
    }

    /// The namespaces of this client that are still referenced.
    pub(crate) fn live_namespaces(&self) -> Vec<Arc<NsInner>> {
        self.namespaces.live()
    }

    pub(crate) fn durations(&self) -> Option<&prometheus::HistogramVec> {
        self.durations.as_ref()
    }

    /// Run a future to completion from a thread that is not a runtime
    /// worker (C, PHP, Go and sync Python callers).
    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.state().runtime.block_on(f)
    }

    /// Run `f` in the background on the client's runtime.
    pub(crate) fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.state().runtime.spawn(f)
    }

    /// Make sure this process listens for invalidations and fills of others.
    fn listen(self: &Arc<Self>) {
        let state = self.state();
        if state.backend.is_none() || state.listening.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        (self.start_listener)(self)
    }

    /// A namespace with its options: names validated, keyring made.
    pub(crate) fn open(self: &Arc<Self>, namespace: &str, options: CacheOptions) -> Result<Namespace> {
        match options.format {
            Format::Interop => key::validate_namespace(namespace).map_err(Error::from)?,
            Format::Envelope => validate_loose(namespace, "namespace", true)?,
        }
        if options.format == Format::Interop {
            refuse_interop_scope(namespace, &self.config)?;
        }
        if options.format == Format::Interop && options.serializer != "msgpack" {
            return Err(Error::Config(format!(
                "interop format stores plain MessagePack; serializer {:?} cannot be used with it",
                options.serializer
            )));
        }
        let cfg = &self.config;
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
        let l1_enabled = options.l1_enabled.unwrap_or(cfg.l1_enabled) && options.l1_max_size_mb.unwrap_or(cfg.l1_max_size_mb) > 0;
        let ttl = Duration::from_secs(options.ttl.unwrap_or(cfg.default_ttl));
        let limits = Limits { max_uncompressed: cfg.max_value_bytes(), ..Limits::default() };
        let durations = match (&self.durations, options.collect_stats) {
            (Some(h), true) => Op::LABELS.iter().map(|op| Some(h.with_label_values(&[op, namespace]))).collect(),
            _ => vec![None; Op::LABELS.len()],
        };
        let inner = Arc::new(NsInner {
            client: self.clone(),
            namespace: namespace.to_string(),
            key_prefix: keyspace::scope(&cfg.key_prefix, cfg.tenant_id.as_deref()),
            options,
            keyring,
            l1_enabled,
            ttl,
            limits,
            local: ForkLocal::default(),
            stats: NsStats::default(),
            last_warn_ms: AtomicU64::new(0),
            durations,
            refreshing: AtomicUsize::new(0),
            fill_micros: AtomicU64::new(0),
            miss_share: AtomicU32::new(0),
            seen_generation: AtomicI64::new(-1),
            generation_checked_ms: AtomicU64::new(0),
            memo_owner: crate::keymemo::new_owner(),
        });
        self.namespaces.push(Arc::downgrade(&inner));
        Ok(Namespace { inner })
    }

    /// Wait, at most `timeout`, until every write this process made behind
    /// its callers has ended. Returns the number still under way.
    pub(crate) fn flush(&self, timeout: Duration) -> usize {
        let Some(state) = self.state.get() else { return 0 };
        if state.landings.len() == 0 || !state.runtime.is_started() {
            return state.landings.len();
        }
        let deadline = Instant::now() + timeout;
        self.block_on(state.landings.settle_all(deadline));
        state.landings.len()
    }
}

/// Per-process state of one namespace: rebuilt (empty) after a fork.
pub(crate) struct NsLocal {
    pub(crate) l1: Option<L1Namespace>,
    pub(crate) rel: Reliability,
}

/// One namespace: its options and what it derived from them, its
/// per-process L1 and gate, its counters.
pub(crate) struct NsInner {
    pub(crate) client: Arc<ClientCore>,
    pub(crate) namespace: String,
    /// Config key prefix and tenant scope, put before the logical key.
    pub(crate) key_prefix: String,
    pub(crate) options: CacheOptions,
    pub(crate) keyring: Option<Keyring>,
    pub(crate) l1_enabled: bool,
    pub(crate) ttl: Duration,
    pub(crate) limits: Limits,
    local: ForkLocal<NsLocal>,
    pub(crate) stats: NsStats,
    last_warn_ms: AtomicU64,
    /// Latency histogram handles, one per [`Op::LABELS`] entry.
    durations: Vec<Option<prometheus::Histogram>>,
    /// Background refreshes running now (bounded by max_background_refreshes).
    pub(crate) refreshing: AtomicUsize,
    /// Moving average of how long a fill takes, microseconds (XFetch's delta).
    pub(crate) fill_micros: AtomicU64,
    /// Share of recent fill reads that missed, out of 1024 (a moving
    /// average): `read_lock_combined` "auto" combines while above half.
    pub(crate) miss_share: AtomicU32,
    /// The namespace generation this process has applied to its L1 (-1: unknown).
    pub(crate) seen_generation: AtomicI64,
    /// When the generation was last checked (observe::now_ms).
    pub(crate) generation_checked_ms: AtomicU64,
    /// This handle's id in the key-derivation memo.
    memo_owner: u64,
}

impl NsInner {
    pub(crate) fn local(&self) -> &NsLocal {
        self.local.get_or_init(|| {
            // First use in this process (or after a fork): make sure this
            // process listens for invalidations and fills of others.
            self.client.listen();
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

    /// The per-process state if this process used the namespace already.
    pub(crate) fn local_if_made(&self) -> Option<&NsLocal> {
        self.local.get()
    }

    /// The Redis key of this namespace's generation number.
    pub(crate) fn generation_key(&self) -> String {
        keyspace::generation_key(&self.key_prefix, &self.namespace)
    }
}

/// A handle of one namespace: cheap to clone, shared by every thread.
#[derive(Clone)]
pub(crate) struct Namespace {
    pub(crate) inner: Arc<NsInner>,
}

impl Namespace {
    pub(crate) fn client(&self) -> &Arc<ClientCore> {
        &self.inner.client
    }

    pub(crate) fn options(&self) -> &CacheOptions {
        &self.inner.options
    }

    pub(crate) fn stats(&self) -> &NsStats {
        &self.inner.stats
    }

    /// The per-process state of the client.
    pub(crate) fn process(&self) -> &Process {
        self.inner.client.state()
    }

    pub(crate) fn has_backend(&self) -> bool {
        !self.process().backend.is_none()
    }

    /// Whether the L2 has fill locks (a cross-process lease is possible).
    pub(crate) fn has_locks(&self) -> bool {
        self.process().backend.has_locks()
    }

    pub(crate) fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.client.spawn(f)
    }

    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.inner.client.block_on(f)
    }
}

/// An interop key is exactly the protocol's `{namespace}:{operation}:{hash}`
/// (DESIGN section 4): a key prefix or tenant scope would put it where no
/// other SDK reads, so such a configuration is refused, never applied.
fn refuse_interop_scope(namespace: &str, cfg: &Config) -> Result<()> {
    let mut causes = Vec::new();
    if !cfg.key_prefix.is_empty() {
        causes.push(format!("key_prefix / CACHEKIT_KEY_PREFIX={:?}", cfg.key_prefix));
    }
    if let Some(t) = &cfg.tenant_id {
        causes.push(format!("tenant_id / CACHEKIT_TENANT_ID={t:?}"));
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "interop format stores under exactly the protocol's key {namespace}:<operation>:<hash>, but this client's \
         settings ({}) would put it under another key, which no other SDK reads: unset them for this client, or use \
         the envelope format (an encrypted interop namespace takes its tenant from the tenant_id cache option)",
        causes.join(", ")
    )))
}

/// Envelope-mode namespace (and operation) check: letters of either case,
/// digits, `.`, `_`, `-`, and for a namespace also `:` (as in
/// `"user_data:v1"`); 1 to 128 characters, not starting with `:`.
pub(crate) fn validate_loose(s: &str, what: &str, colon_ok: bool) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') || (colon_ok && c == ':');
    if s.is_empty() || s.len() > 128 || s.starts_with(':') || !s.chars().all(ok_char) {
        let allowed = if colon_ok { "letters, digits, '.', '_', '-' and ':'" } else { "letters, digits, '.', '_' and '-'" };
        return Err(Error::InvalidKey(format!(
            "{what} {s:?} is not valid: use 1 to 128 characters of {allowed}, not starting with ':'"
        )));
    }
    Ok(())
}
