//! Per-namespace options (`CacheOptions`): what a decorator, a PSR-16 pool
//! or a cached function configures, parsed from the C ABI's JSON form by
//! one table (as [`super::Config`] is), with the reliability settings the
//! reference SDK names `CircuitBreakerConfig`, `TimeoutConfig` and
//! `BackpressureConfig`.

use crate::error::{Error, Result};
use serde_json::Value;

/// Circuit breaker settings (the reference's `CircuitBreakerConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    pub enabled: bool,
    /// Transient failures in a row that open the circuit.
    pub failure_threshold: u32,
    /// Successes in half-open that close it again.
    pub success_threshold: u32,
    /// Time the circuit stays open before trying half-open, seconds.
    pub recovery_timeout: f64,
    /// Trial requests let through while half-open.
    pub half_open_requests: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { enabled: true, failure_threshold: 5, success_threshold: 3, recovery_timeout: 30.0, half_open_requests: 3 }
    }
}

/// Adaptive timeout settings (the reference's `TimeoutConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeoutConfig {
    pub enabled: bool,
    /// Lower bound of the adaptive timeout, seconds.
    pub min_timeout: f64,
    /// Upper bound, seconds.
    pub max_timeout: f64,
    /// Latencies remembered (sliding window), per kind of operation.
    pub window_size: usize,
    /// The timeout is this many times the P95 latency.
    pub percentile_multiplier: f64,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig { enabled: true, min_timeout: 0.1, max_timeout: 10.0, window_size: 1000, percentile_multiplier: 2.0 }
    }
}

/// Backpressure settings (the reference's `BackpressureConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct BackpressureConfig {
    pub enabled: bool,
    pub max_concurrent_requests: usize,
}

impl Default for BackpressureConfig {
    fn default() -> Self {
        BackpressureConfig { enabled: true, max_concurrent_requests: 100 }
    }
}

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
        for (k, v) in obj {
            let Some((_, set)) = OPTIONS.iter().find(|(name, _)| name == k) else {
                let known: Vec<&str> = OPTIONS.iter().map(|(name, _)| *name).collect();
                return Err(Error::Config(format!("unknown cache option \"{k}\"; known options: {}", known.join(", "))));
            };
            set(&mut o, v).map_err(|want| Error::Config(format!("cache option \"{k}\" must be {want}, got {v}")))??;
        }
        Ok(o)
    }
}

/// What a setter says when the value has the wrong shape: the expected form,
/// put in the message "cache option "{name}" must be {form}, got {value}".
/// The inner `Result` carries errors of nested objects, already worded.
type Set = fn(&mut CacheOptions, &Value) -> std::result::Result<Result<()>, &'static str>;

fn flag(v: &Value) -> std::result::Result<bool, &'static str> {
    v.as_bool().ok_or("true or false")
}

fn whole(v: &Value, min: u64, want: &'static str) -> std::result::Result<u64, &'static str> {
    v.as_u64().filter(|n| *n >= min).ok_or(want)
}

fn nullable<T>(v: &Value, f: impl FnOnce(&Value) -> std::result::Result<T, &'static str>) -> std::result::Result<Option<T>, &'static str> {
    match v {
        Value::Null => Ok(None),
        _ => f(v).map(Some),
    }
}

/// Every option, in the order the unknown-option message lists them.
const OPTIONS: &[(&str, Set)] = &[
    ("ttl", |o, v| {
        o.ttl = nullable(v, |v| whole(v, 1, "a whole number of seconds >= 1"))?;
        Ok(Ok(()))
    }),
    ("format", |o, v| {
        o.format = match v.as_str() {
            Some("envelope") => Format::Envelope,
            Some("interop") => Format::Interop,
            _ => return Err("\"envelope\" or \"interop\""),
        };
        Ok(Ok(()))
    }),
    ("serializer", |o, v| {
        let s = v.as_str().filter(|s| !s.is_empty() && s.len() <= 32).ok_or("a serializer name")?;
        o.serializer = s.to_string();
        Ok(Ok(()))
    }),
    ("l1_enabled", |o, v| {
        o.l1_enabled = nullable(v, |v| v.as_bool().ok_or("true, false or null")).map_err(|_| "true, false or null")?;
        Ok(Ok(()))
    }),
    ("l1_max_size_mb", |o, v| {
        const WANT: &str = "a whole number of MiB (0: no L1), or null";
        o.l1_max_size_mb = nullable(v, |v| v.as_u64().filter(|n| *n <= 1 << 20).ok_or(WANT))?;
        Ok(Ok(()))
    }),
    ("encryption", |o, v| {
        o.encryption = flag(v)?;
        Ok(Ok(()))
    }),
    ("master_key", |o, v| {
        o.master_key = nullable(v, |v| v.as_str().map(str::to_string).ok_or("a hex string"))?;
        Ok(Ok(()))
    }),
    ("decrypt_only_keys", |o, v| {
        const WANT: &str = "an array of hex strings";
        let arr = v.as_array().ok_or(WANT)?;
        o.decrypt_only_keys = arr.iter().map(|x| x.as_str().map(str::to_string).ok_or(WANT)).collect::<std::result::Result<_, _>>()?;
        Ok(Ok(()))
    }),
    ("tenant_id", |o, v| {
        o.tenant_id = nullable(v, |v| v.as_str().map(str::to_string).ok_or("a string"))?;
        Ok(Ok(()))
    }),
    ("l1_plaintext", |o, v| {
        o.l1_plaintext = flag(v)?;
        Ok(Ok(()))
    }),
    ("fail_closed", |o, v| {
        o.fail_closed = flag(v)?;
        Ok(Ok(()))
    }),
    ("fill_wait_ms", |o, v| {
        o.fill_wait_ms = whole(v, 0, "a whole number of milliseconds")?;
        Ok(Ok(()))
    }),
    ("circuit_breaker", |o, v| Ok(parse_breaker(v).map(|c| o.circuit_breaker = c))),
    ("adaptive_timeout", |o, v| Ok(parse_timeout(v).map(|c| o.adaptive_timeout = c))),
    ("backpressure", |o, v| Ok(parse_backpressure(v, o.backpressure.clone()).map(|c| o.backpressure = c))),
    ("max_concurrent_requests", |o, v| {
        o.backpressure.max_concurrent_requests = whole(v, 1, "a whole number >= 1")? as usize;
        Ok(Ok(()))
    }),
    ("collect_stats", |o, v| {
        o.collect_stats = flag(v)?;
        Ok(Ok(()))
    }),
    ("structured_logging", |o, v| {
        o.structured_logging = flag(v)?;
        Ok(Ok(()))
    }),
    ("distributed_lock", |o, v| {
        o.distributed_lock = flag(v)?;
        Ok(Ok(()))
    }),
    ("lock_ttl_ms", |o, v| {
        o.lock_ttl_ms = whole(v, 10, "a whole number of milliseconds >= 10")?;
        Ok(Ok(()))
    }),
    ("lock_renewal", |o, v| {
        o.lock_renewal = flag(v)?;
        Ok(Ok(()))
    }),
    ("read_lock_combined", |o, v| {
        o.read_lock_combined = match v {
            Value::Bool(b) => Some(*b),
            Value::Null => None,
            Value::String(a) if a == "auto" => None,
            _ => return Err("true, false or \"auto\""),
        };
        Ok(Ok(()))
    }),
    ("refresh_ttl_on_get", |o, v| {
        o.refresh_ttl_on_get = flag(v)?;
        Ok(Ok(()))
    }),
    ("ttl_refresh_threshold", |o, v| {
        o.ttl_refresh_threshold = v.as_f64().filter(|x| (0.0..=1.0).contains(x)).ok_or("a number from 0 to 1")?;
        Ok(Ok(()))
    }),
    ("pipelined", |o, v| {
        o.pipelined = flag(v)?;
        Ok(Ok(()))
    }),
    ("early_refresh_beta", |o, v| {
        o.early_refresh_beta = nullable(v, |v| v.as_f64().filter(|x| *x > 0.0 && *x <= 100.0).ok_or("a number in (0, 100] or null"))?;
        Ok(Ok(()))
    }),
    ("stale_while_revalidate", |o, v| {
        o.stale_while_revalidate = whole(v, 0, "a whole number of seconds")?;
        Ok(Ok(()))
    }),
    ("max_background_refreshes", |o, v| {
        o.max_background_refreshes = whole(v, 1, "a whole number >= 1")? as usize;
        Ok(Ok(()))
    }),
    ("negative_ttl", |o, v| {
        o.negative_ttl = nullable(v, |v| whole(v, 1, "a whole number of seconds >= 1, or null"))?;
        Ok(Ok(()))
    }),
    ("l1_sync_ms", |o, v| {
        o.l1_sync_ms = whole(v, 0, "a whole number of milliseconds")?;
        Ok(Ok(()))
    }),
];

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

