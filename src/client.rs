//! The client: ties config, keys, codec, L1, L2 and the fill path together.
//! This is the Rust API; the C ABI (`ffi`) only converts and calls it.

use crate::backend::{Backend, ErrorClass, L2Error};
use crate::codec::{self, CodecError, Keyring, Limits};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fill::{Flight, FlightOutcome, Flights};
use crate::fork::{self, ForkLocal};
use crate::key;
use crate::l1::{Bytes, L1Namespace};
use crate::observe::{self, NsStats};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Suffix of envelope-format keys, so that an interop reader (ours or another
/// SDK's) never decodes an envelope as the user's value (DESIGN section 4).
pub const ENVELOPE_KEY_SUFFIX: &str = ":e1";

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
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            ttl: None,
            format: Format::Envelope,
            serializer: "msgpack".into(),
            l1_enabled: None,
            encryption: false,
            master_key: None,
            decrypt_only_keys: Vec::new(),
            tenant_id: None,
            l1_plaintext: false,
            fail_closed: false,
            fill_wait_ms: 10_000,
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
                other => {
                    return Err(Error::Config(format!(
                        "unknown cache option \"{other}\"; known options: ttl, format, serializer, \
                         l1_enabled, encryption, master_key, decrypt_only_keys, tenant_id, \
                         l1_plaintext, fail_closed, fill_wait_ms"
                    )))
                }
            }
        }
        Ok(o)
    }
}

/// Per-process state of a client: rebuilt after a fork.
struct ProcessState {
    runtime: Option<tokio::runtime::Runtime>,
    backend: Backend,
    flights: Flights,
    /// Why the backend could not be set up, if it could not.
    backend_error: Option<String>,
}

struct ClientInner {
    config: Config,
    state: ForkLocal<ProcessState>,
    started: Instant,
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
        fork::install();
        if let Some(url) = &config.redis_url {
            redis::Client::open(url.as_str()).map_err(|e| {
                Error::Config(format!(
                    "redis_url {} is not a valid Redis URL: {e}",
                    crate::config::redact(url)
                ))
            })?;
        }
        Ok(Client {
            inner: Arc::new(ClientInner { config, state: ForkLocal::default(), started: Instant::now() }),
        })
    }

    /// Settings from the environment, overridden by `explicit_json`.
    pub fn from_env(explicit_json: Option<&str>) -> Result<Client> {
        Client::new(Config::load(explicit_json)?)
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    fn state(&self) -> &ProcessState {
        self.inner.state.get_or_init(|| {
            let cfg = &self.inner.config;
            let Some(url) = cfg.redis_url.clone() else {
                return ProcessState { runtime: None, backend: Backend::None, flights: Flights::default(), backend_error: None };
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("cachekit-io")
                .enable_all()
                .build();
            let rt = match rt {
                Ok(rt) => rt,
                Err(e) => {
                    let msg = format!("cannot start the I/O runtime: {e}; running L1-only");
                    observe::warn("runtime_failed", "-", &msg);
                    return ProcessState { runtime: None, backend: Backend::None, flights: Flights::default(), backend_error: Some(msg) };
                }
            };
            let backend = {
                let _guard = rt.enter();
                crate::backend::redis::RedisBackend::new(cfg, &url)
            };
            match backend {
                Ok(b) => ProcessState { runtime: Some(rt), backend: Backend::Redis(b), flights: Flights::default(), backend_error: None },
                Err(msg) => {
                    observe::warn("backend_failed", "-", &msg);
                    ProcessState { runtime: Some(rt), backend: Backend::None, flights: Flights::default(), backend_error: Some(msg) }
                }
            }
        })
    }

    /// Run an L2 future to completion on the client's runtime, from a thread
    /// that is not a runtime worker (C, PHP, Go, sync Python callers).
    fn block_on<F: std::future::Future>(&self, f: F) -> Option<F::Output> {
        let rt = self.state().runtime.as_ref()?;
        Some(rt.block_on(f))
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
            let current = codec::parse_master_key_hex(master)
                .map_err(|e| Error::Encryption(format!("master key: {e}")))?;
            let old = options
                .decrypt_only_keys
                .iter()
                .map(|k| codec::parse_master_key_hex(k).map(|b| b.to_vec()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::Encryption(format!("decrypt-only key: {e}")))?;
            let tenant = options
                .tenant_id
                .clone()
                .or_else(|| cfg.tenant_id.clone())
                .unwrap_or_else(|| "default".to_string());
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
        let l1_enabled = options.l1_enabled.unwrap_or(cfg.l1_enabled) && cfg.l1_max_size_mb > 0;
        let ttl = Duration::from_secs(options.ttl.unwrap_or(cfg.default_ttl));
        let limits = Limits { max_uncompressed: cfg.max_value_bytes(), ..Limits::default() };
        Ok(Cache {
            inner: Arc::new(CacheInner {
                client: self.clone(),
                namespace: namespace.to_string(),
                key_prefix: prefix,
                options,
                keyring,
                l1_enabled,
                ttl,
                limits,
                l1: ForkLocal::default(),
                stats: NsStats::default(),
                last_warn_ms: AtomicU64::new(0),
            }),
        })
    }

    /// Uptime of this client.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }
}

struct CacheInner {
    client: Client,
    namespace: String,
    /// Config key prefix and tenant scope, put before the logical key.
    key_prefix: String,
    options: CacheOptions,
    keyring: Option<Keyring>,
    l1_enabled: bool,
    ttl: Duration,
    limits: Limits,
    l1: ForkLocal<L1Namespace>,
    stats: NsStats,
    last_warn_ms: AtomicU64,
}

/// One namespace of a client: the object every cached call goes through.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<CacheInner>,
}

/// The result of [`Cache::fill`]: the value, or the duty to compute it.
pub enum Fill {
    Hit(Bytes),
    Lease(Lease),
}

/// A grant to compute the value of one key. Complete it with the value, or
/// drop it (or call [`Lease::abort`]) when the computation failed: waiters
/// are then woken and one of them takes over. Errors are never cached.
pub struct Lease {
    cache: Cache,
    key: String,
    flight: Option<Arc<Flight>>,
}

impl Lease {
    /// The full L2 key this lease is for.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Store `value` (MessagePack bytes of the serializer) with `ttl` (the
    /// namespace default if `None`) and hand it to every waiter.
    pub fn complete(mut self, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let res = self.cache.store(&self.key, value, ttl);
        let shared: Bytes = value.into();
        if let Some(f) = self.flight.take() {
            self.cache.state_flights().finish(&self.key, &f, FlightOutcome::Filled(shared));
        }
        res
    }

    /// Give the lease up without a value.
    pub fn abort(self) {}
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(f) = self.flight.take() {
            self.cache.state_flights().finish(&self.key, &f, FlightOutcome::Abandoned);
        }
    }
}

enum Decoded {
    Value(Vec<u8>),
    Corrupt(CodecError),
    Mismatch(CodecError),
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

    fn l1(&self) -> Option<&L1Namespace> {
        if !self.inner.l1_enabled {
            return None;
        }
        let budget = self.inner.client.config().l1_budget_bytes();
        Some(self.inner.l1.get_or_init(|| L1Namespace::new(budget)))
    }

    fn state_flights(&self) -> &Flights {
        &self.inner.client.state().flights
    }

    /// The full L2 key of `operation` called with `args` (a MessagePack array).
    pub fn key(&self, operation: &str, args: &[u8]) -> Result<String> {
        let i = &self.inner;
        let logical = match i.options.format {
            Format::Interop => key::interop_key(&i.namespace, operation, args)?,
            Format::Envelope => {
                validate_loose(operation, "operation", false)?;
                let canonical = key::canonicalize_args(args)?;
                let hash = key::args_hash_hex(&canonical);
                let mut k = String::with_capacity(i.namespace.len() + operation.len() + 70);
                k.push_str(&i.namespace);
                k.push(':');
                k.push_str(operation);
                k.push(':');
                k.push_str(&hash);
                k.push_str(ENVELOPE_KEY_SUFFIX);
                k
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

    /// Value bytes as the wrapper gave them -> bytes stored in L2.
    fn encode(&self, full_key: &str, value: &[u8]) -> Result<Vec<u8>> {
        let i = &self.inner;
        if value.len() > i.limits.max_uncompressed {
            return Err(Error::Encode(format!(
                "value of {} bytes is larger than max_chunk_size_mb ({} MiB)",
                value.len(),
                i.client.config().max_chunk_size_mb
            )));
        }
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
            Format::Interop => key::canonicalize_value(value)
                .map_err(|e| Error::Encode(format!("value cannot be stored in interop mode: {e}")))?,
        };
        Ok(match &i.keyring {
            Some(ring) => ring.encrypt(&plain, &self.aad(full_key)),
            None => plain,
        })
    }

    /// Bytes from L2 (or ciphertext kept in L1) -> the wrapper's value bytes.
    fn decode(&self, full_key: &str, stored: &[u8]) -> Decoded {
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
    fn l1_keeps_ciphertext(&self) -> bool {
        self.inner.keyring.is_some() && !self.inner.options.l1_plaintext
    }

    fn l1_get(&self, key: &str) -> Option<Bytes> {
        let l1 = self.l1()?;
        let stored = l1.get(key)?;
        if !self.l1_keeps_ciphertext() {
            return Some(stored);
        }
        match self.decode(key, &stored) {
            Decoded::Value(v) => Some(v.into()),
            _ => {
                // Only bytes we verified enter L1; a failure here means the
                // keyring changed under us. Drop the entry.
                l1.remove(key);
                None
            }
        }
    }

    fn l1_put(&self, key: &str, value: &Bytes, stored: &[u8], ttl: Option<Duration>) {
        if let Some(l1) = self.l1() {
            let expires = ttl.map(|t| Instant::now() + t);
            if self.l1_keeps_ciphertext() {
                l1.put(key, stored.into(), expires);
            } else {
                l1.put(key, value.clone(), expires);
            }
        }
    }

    fn warn_limited(&self, event: &str, detail: &str) {
        let now = self.inner.client.uptime().as_millis() as u64 + 1;
        let last = self.inner.last_warn_ms.load(Ordering::Relaxed);
        if last == 0 || now.saturating_sub(last) >= 1000 {
            if self
                .inner
                .last_warn_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                observe::warn(event, &self.inner.namespace, detail);
            }
        }
    }

    /// Count and swallow an L2 failure, or report it when fail-closed.
    fn l2_failed(&self, op: &str, e: L2Error) -> Result<()> {
        NsStats::inc(&self.inner.stats.l2_errors);
        let class = match e.class {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
        };
        self.warn_limited("l2_error", &format!("operation={op} class={class} error=\"{}\"", e.message));
        if self.inner.options.fail_closed {
            Err(Error::Backend(e.to_string()))
        } else {
            Ok(())
        }
    }

    /// Read by full key: L1, then L2 (verified, put in L1).
    pub fn get_by_key(&self, key: &str) -> Result<Option<Bytes>> {
        if let Some(v) = self.l1_get(key) {
            return Ok(Some(v));
        }
        self.get_l2(key)
    }

    fn get_l2(&self, key: &str) -> Result<Option<Bytes>> {
        let client = &self.inner.client;
        let state = client.state();
        if state.backend.is_none() {
            return Ok(None);
        }
        let fetched = match client.block_on(state.backend.get(key)) {
            Some(Ok(f)) => f,
            Some(Err(e)) => return self.l2_failed("get", e).map(|_| None),
            None => return Ok(None),
        };
        let Some(f) = fetched else {
            NsStats::inc(&self.inner.stats.l2_misses);
            return Ok(None);
        };
        match self.decode(key, &f.bytes) {
            Decoded::Value(v) => {
                NsStats::inc(&self.inner.stats.l2_hits);
                let v: Bytes = v.into();
                self.l1_put(key, &v, &f.bytes, f.ttl);
                Ok(Some(v))
            }
            Decoded::Mismatch(e) => {
                NsStats::inc(&self.inner.stats.format_mismatches);
                self.warn_limited(
                    "format_mismatch",
                    &format!("key={key} {e}; the entry was written by another serializer and will be recomputed and overwritten"),
                );
                Ok(None)
            }
            Decoded::Corrupt(e) => {
                NsStats::inc(&self.inner.stats.corrupt_entries);
                self.warn_limited("corrupt_entry", &format!("key={key} error=\"{e}\"; treated as a miss and deleted"));
                if let Some(Err(e)) = client.block_on(state.backend.delete(key)) {
                    let _ = self.l2_failed("delete", e);
                }
                Ok(None)
            }
        }
    }

    /// Encode and write to L2 and L1.
    fn store(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let ttl = ttl.unwrap_or(self.inner.ttl);
        let stored = match self.encode(key, value) {
            Ok(s) => s,
            Err(e) => {
                NsStats::inc(&self.inner.stats.encode_failures);
                // A value that cannot be stored must not leave an older one visible.
                if let Some(l1) = self.l1() {
                    l1.remove(key);
                }
                return Err(e);
            }
        };
        NsStats::inc(&self.inner.stats.sets);
        let shared: Bytes = value.into();
        self.l1_put(key, &shared, &stored, Some(ttl));
        let client = &self.inner.client;
        let state = client.state();
        if let Some(Err(e)) = client.block_on(state.backend.set(key, &stored, ttl)) {
            self.l2_failed("set", e)?;
        }
        Ok(())
    }

    /// The cached value of `operation(args)`, if any.
    pub fn get(&self, operation: &str, args: &[u8]) -> Result<Option<Bytes>> {
        let key = self.key(operation, args)?;
        self.get_by_key(&key)
    }

    /// Store `value` for `operation(args)`.
    pub fn set(&self, operation: &str, args: &[u8], value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let key = self.key(operation, args)?;
        self.store(&key, value, ttl)
    }

    /// Delete the entry of `operation(args)`; true if L1 or L2 had it.
    pub fn delete(&self, operation: &str, args: &[u8]) -> Result<bool> {
        let key = self.key(operation, args)?;
        self.delete_by_key(&key)
    }

    pub fn delete_by_key(&self, key: &str) -> Result<bool> {
        NsStats::inc(&self.inner.stats.deletes);
        let in_l1 = self.l1().is_some_and(|l1| l1.remove(key));
        let client = &self.inner.client;
        let state = client.state();
        let in_l2 = match client.block_on(state.backend.delete(key)) {
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                self.l2_failed("delete", e)?;
                false
            }
            None => false,
        };
        Ok(in_l1 || in_l2)
    }

    /// Whether `operation(args)` has an entry (L1 or L2). Does not verify it.
    pub fn exists(&self, operation: &str, args: &[u8]) -> Result<bool> {
        let key = self.key(operation, args)?;
        if self.l1().is_some_and(|l1| l1.remaining(&key).is_some()) {
            return Ok(true);
        }
        let client = &self.inner.client;
        let state = client.state();
        match client.block_on(state.backend.exists(&key)) {
            Some(Ok(b)) => Ok(b),
            Some(Err(e)) => self.l2_failed("exists", e).map(|_| false),
            None => Ok(false),
        }
    }

    /// Remaining lifetime of the entry: `None` if absent, `Some(None)` if it
    /// never expires. L2 is authoritative when configured.
    pub fn ttl(&self, operation: &str, args: &[u8]) -> Result<Option<Option<Duration>>> {
        let key = self.key(operation, args)?;
        let client = &self.inner.client;
        let state = client.state();
        if !state.backend.is_none() {
            match client.block_on(state.backend.ttl(&key)) {
                Some(Ok(t)) => return Ok(t),
                Some(Err(e)) => self.l2_failed("ttl", e)?,
                None => {}
            }
        }
        Ok(self.l1().and_then(|l1| l1.remaining(&key)))
    }

    /// Delete every entry of this namespace (L1 and L2). Returns the number
    /// of L2 keys deleted. Uses SCAN: meant for maintenance, not hot paths.
    pub fn clear(&self) -> Result<u64> {
        let i = &self.inner;
        let ns_prefix = format!("{}{}:", i.key_prefix, i.namespace);
        if let Some(l1) = self.l1() {
            l1.clear();
        }
        let client = &i.client;
        let state = client.state();
        match client.block_on(state.backend.delete_prefix(&ns_prefix)) {
            Some(Ok(n)) => Ok(n),
            Some(Err(e)) => self.l2_failed("clear", e).map(|_| 0),
            None => Ok(0),
        }
    }

    /// The miss path with in-process single-flight: returns the value if it
    /// is cached or was filled by another caller meanwhile, or a [`Lease`]
    /// that makes this caller the one who computes.
    pub fn fill(&self, operation: &str, args: &[u8]) -> Result<Fill> {
        let key = self.key(operation, args)?;
        self.fill_by_key(key)
    }

    pub fn fill_by_key(&self, key: String) -> Result<Fill> {
        let wait = Duration::from_millis(self.inner.options.fill_wait_ms);
        let deadline = Instant::now() + wait;
        loop {
            if let Some(v) = self.get_by_key(&key)? {
                return Ok(Fill::Hit(v));
            }
            let flights = self.state_flights();
            match flights.join(&key) {
                Ok(owned) => {
                    // Re-check L1: a flight may have finished between our read and join.
                    if let Some(v) = self.l1_get(&key) {
                        flights.finish(&key, &owned, FlightOutcome::Filled(v.clone()));
                        return Ok(Fill::Hit(v));
                    }
                    NsStats::inc(&self.inner.stats.fills);
                    return Ok(Fill::Lease(Lease { cache: self.clone(), key, flight: Some(owned) }));
                }
                Err(other) => {
                    NsStats::inc(&self.inner.stats.fill_waits);
                    match other.wait_until(deadline) {
                        Some(FlightOutcome::Filled(v)) => return Ok(Fill::Hit(v)),
                        Some(FlightOutcome::Abandoned) => continue,
                        None => {
                            NsStats::inc(&self.inner.stats.fill_wait_timeouts);
                            NsStats::inc(&self.inner.stats.fills);
                            return Ok(Fill::Lease(Lease { cache: self.clone(), key, flight: None }));
                        }
                    }
                }
            }
        }
    }

    /// Health of this namespace and its client as JSON.
    pub fn health(&self) -> Value {
        let i = &self.inner;
        let client = &i.client;
        let state = client.state();
        let l1 = self.l1().map(|l1| {
            let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
            json!({
                "entries": l1.len(),
                "bytes": l1.bytes(),
                "budget_bytes": l1.budget(),
                "hits": g(&l1.stats.hits),
                "misses": g(&l1.stats.misses),
                "evictions": g(&l1.stats.evictions),
                "expirations": g(&l1.stats.expirations),
                "rejected_too_large": g(&l1.stats.rejected_too_large),
            })
        });
        json!({
            "namespace": i.namespace,
            "backend": state.backend.kind(),
            "backend_error": state.backend_error,
            "format": match i.options.format { Format::Envelope => "envelope", Format::Interop => "interop" },
            "serializer": i.options.serializer,
            "encryption": i.keyring.as_ref().map(|k| json!({
                "tenant_id": k.tenant(),
                "key_fingerprint": hex::encode(k.fingerprint()),
                "l1_plaintext": i.options.l1_plaintext,
            })),
            "l1_enabled": i.l1_enabled,
            "l1": l1,
            "stats": i.stats.to_json(),
            "fork_generation": fork::generation(),
            "config": client.config().to_public_json(),
        })
    }

    /// Active check: PING the L2 and report its latency.
    pub fn check_health(&self) -> Value {
        let client = &self.inner.client;
        let state = client.state();
        let ping = client.block_on(state.backend.ping());
        let (status, latency, error) = match (&state.backend, ping) {
            (Backend::None, _) => ("healthy", None, None),
            (_, Some(Ok(d))) => ("healthy", Some(d.as_secs_f64()), None),
            (_, Some(Err(e))) => ("unhealthy", None, Some(e.to_string())),
            (_, None) => ("unhealthy", None, state.backend_error.clone()),
        };
        json!({
            "decorator": self.health(),
            "system": {
                "status": status,
                "backend": state.backend.kind(),
                "redis_connection": match (status, state.backend.is_none()) {
                    (_, true) => "none",
                    ("healthy", _) => "active",
                    _ => "failed",
                },
                "ping_latency_seconds": latency,
                "error": error,
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

/// Shared process-wide default client, for bindings that want one.
pub fn shared_default() -> Result<&'static Client> {
    static SHARED: OnceLock<std::result::Result<Client, Error>> = OnceLock::new();
    SHARED.get_or_init(|| Client::from_env(None)).as_ref().map_err(Clone::clone)
}
