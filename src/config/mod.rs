//! Every setting of the core, its default and its `CACHEKIT_*` environment
//! variable, in one place. Bindings never read the environment themselves:
//! they hand an optional JSON document of explicit settings to the core, and
//! explicit settings override the environment, which overrides defaults.

use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::time::Duration;

mod options;
mod redis_url;
pub use options::{BackpressureConfig, BreakerConfig, CacheOptions, Format, TimeoutConfig};
pub use redis_url::{hash_tag, RedisTarget, SentinelTarget};

/// Client-wide settings (the reference's `CachekitConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Redis URL (`redis://`, `rediss://`, with optional `user:password@`),
    /// a Redis Cluster's seed nodes (`redis+cluster://h1:p1,h2:p2`), or a
    /// master found through Redis Sentinel
    /// (`redis+sentinel://s1:p1,s2:p2/MASTER`); see [`RedisTarget`].
    /// `None` means no L2: the client runs L1-only (the embedded default).
    pub redis_url: Option<String>,
    /// Number of multiplexed Redis connections.
    pub connection_pool_size: usize,
    /// Response timeout of one Redis command, seconds.
    pub socket_timeout: f64,
    /// Timeout of establishing a Redis connection, seconds.
    pub socket_connect_timeout: f64,
    /// TTL used when a call does not give one, seconds.
    pub default_ttl: u64,
    /// Compress values with LZ4. When false the envelope still carries a
    /// valid LZ4 block (the wire format requires one) made of literals only,
    /// which costs no compression work.
    pub enable_compression: bool,
    /// Accepted for compatibility with the reference (1..=12). lz4_flex has
    /// one fast level, so the value does not change the output.
    pub compression_level: u32,
    /// Largest value, in MiB, that is written or accepted from L2.
    pub max_chunk_size_mb: u64,
    /// Keep an in-process L1 in front of L2.
    pub l1_enabled: bool,
    /// L1 budget per namespace, MiB.
    pub l1_max_size_mb: u64,
    /// Collect Prometheus metrics.
    pub enable_prometheus_metrics: bool,
    /// Hex master key for encrypted namespaces (`CACHEKIT_MASTER_KEY`).
    pub master_key: Option<String>,
    /// Prefix put before every Redis key, e.g. `"app1:"`.
    pub key_prefix: String,
    /// Tenant scope: keys become `t:{percent-encoded tenant}:{key}`.
    pub tenant_id: Option<String>,
    /// PEM file of the CA that signs the server's certificate, for
    /// `rediss://` servers not trusted by the system's store.
    pub tls_ca_cert: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            redis_url: None,
            connection_pool_size: 10,
            socket_timeout: 1.0,
            socket_connect_timeout: 1.0,
            default_ttl: 3600,
            enable_compression: true,
            compression_level: 6,
            max_chunk_size_mb: 50,
            l1_enabled: true,
            l1_max_size_mb: 100,
            enable_prometheus_metrics: true,
            master_key: None,
            key_prefix: String::new(),
            tenant_id: None,
            tls_ca_cert: None,
        }
    }
}

/// One setting: its JSON field name and its environment variables, first
/// match wins.
struct Setting {
    field: &'static str,
    env: &'static [&'static str],
}

const SETTINGS: &[Setting] = &[
    Setting { field: "redis_url", env: &["CACHEKIT_REDIS_URL", "REDIS_URL"] },
    Setting { field: "connection_pool_size", env: &["CACHEKIT_CONNECTION_POOL_SIZE"] },
    Setting { field: "socket_timeout", env: &["CACHEKIT_SOCKET_TIMEOUT"] },
    Setting { field: "socket_connect_timeout", env: &["CACHEKIT_SOCKET_CONNECT_TIMEOUT"] },
    Setting { field: "default_ttl", env: &["CACHEKIT_DEFAULT_TTL"] },
    Setting { field: "enable_compression", env: &["CACHEKIT_ENABLE_COMPRESSION"] },
    Setting { field: "compression_level", env: &["CACHEKIT_COMPRESSION_LEVEL"] },
    Setting { field: "max_chunk_size_mb", env: &["CACHEKIT_MAX_CHUNK_SIZE_MB"] },
    Setting { field: "l1_enabled", env: &["CACHEKIT_L1_ENABLED"] },
    Setting { field: "l1_max_size_mb", env: &["CACHEKIT_L1_MAX_SIZE_MB"] },
    Setting { field: "enable_prometheus_metrics", env: &["CACHEKIT_ENABLE_PROMETHEUS_METRICS"] },
    Setting { field: "master_key", env: &["CACHEKIT_MASTER_KEY"] },
    Setting { field: "key_prefix", env: &["CACHEKIT_KEY_PREFIX"] },
    Setting { field: "tenant_id", env: &["CACHEKIT_TENANT_ID"] },
    Setting { field: "tls_ca_cert", env: &["CACHEKIT_TLS_CA_CERT"] },
];

/// Where a raw setting came from, for error messages.
enum Source<'a> {
    Env(&'a str),
    Json(&'a str),
}

impl Source<'_> {
    fn name(&self) -> String {
        match self {
            Source::Env(v) => format!("environment variable {v}"),
            Source::Json(f) => format!("setting \"{f}\""),
        }
    }
}

impl Config {
    /// Defaults, then the process environment, then `explicit_json` (a JSON
    /// object whose fields are the names of this struct's fields).
    pub fn load(explicit_json: Option<&str>) -> Result<Config> {
        Self::load_with(explicit_json, |name| std::env::var(name).ok())
    }

    /// As [`Config::load`], with the environment given as a lookup function
    /// (tests use this instead of mutating the process environment).
    pub fn load_with(
        explicit_json: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        let mut cfg = Config::default();
        for s in SETTINGS {
            if let Some((var, raw)) = s.env.iter().find_map(|v| env(v).map(|r| (*v, r))) {
                cfg.apply(s.field, &Value::String(raw), &Source::Env(var))?;
            }
        }
        if let Some(text) = explicit_json.filter(|t| !t.trim().is_empty()) {
            let doc: Value = serde_json::from_str(text)
                .map_err(|e| Error::Config(format!("config JSON does not parse: {e}")))?;
            let obj: &Map<String, Value> = doc
                .as_object()
                .ok_or_else(|| Error::Config("config JSON must be an object".into()))?;
            for (field, value) in obj {
                let known = SETTINGS.iter().find(|s| s.field == field).ok_or_else(|| {
                    let names: Vec<_> = SETTINGS.iter().map(|s| s.field).collect();
                    Error::Config(format!(
                        "unknown setting \"{field}\"; known settings: {}",
                        names.join(", ")
                    ))
                })?;
                cfg.apply(known.field, value, &Source::Json(known.field))?;
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn apply(&mut self, field: &str, v: &Value, src: &Source<'_>) -> Result<()> {
        match field {
            "redis_url" => {
                self.redis_url = opt_string(v, src)?;
                if let Some(url) = &self.redis_url {
                    RedisTarget::parse(url).map_err(|e| Error::Config(format!("{}: {e}", src.name())))?;
                }
            }
            "connection_pool_size" => self.connection_pool_size = uint(v, src, 1, 1024)? as usize,
            "socket_timeout" => self.socket_timeout = float(v, src, 0.001, 3600.0)?,
            "socket_connect_timeout" => self.socket_connect_timeout = float(v, src, 0.001, 3600.0)?,
            "default_ttl" => self.default_ttl = uint(v, src, 1, u32::MAX as u64)?,
            "enable_compression" => self.enable_compression = boolean(v, src)?,
            "compression_level" => self.compression_level = uint(v, src, 1, 12)? as u32,
            "max_chunk_size_mb" => self.max_chunk_size_mb = uint(v, src, 1, 512)?,
            "l1_enabled" => self.l1_enabled = boolean(v, src)?,
            "l1_max_size_mb" => self.l1_max_size_mb = uint(v, src, 0, 1 << 20)?,
            "enable_prometheus_metrics" => self.enable_prometheus_metrics = boolean(v, src)?,
            "master_key" => self.master_key = opt_string(v, src)?,
            "key_prefix" => self.key_prefix = opt_string(v, src)?.unwrap_or_default(),
            "tenant_id" => self.tenant_id = opt_string(v, src)?,
            "tls_ca_cert" => self.tls_ca_cert = opt_string(v, src)?,
            _ => unreachable!("every SETTINGS field is applied"),
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        let p = &self.key_prefix;
        if self.redis_target().is_some_and(|t| t.is_cluster()) && p.contains('}') && hash_tag(p).is_none() {
            // An entry's lock is `{entry}:lock`, whose tag would end at this '}'.
            return Err(Error::Config(format!(
                "key_prefix (CACHEKIT_KEY_PREFIX) {p:?} has a '}}' but no complete hash tag such as {{app}}: in a Redis Cluster its entries could not share a slot with their fill locks"
            )));
        }
        if let Some(path) = &self.tls_ca_cert {
            if !std::path::Path::new(path).is_file() {
                return Err(Error::Config(format!("tls_ca_cert (CACHEKIT_TLS_CA_CERT) {path:?} is not a readable file")));
            }
        }
        if let Some(key) = &self.master_key {
            crate::codec::parse_master_key_hex(key).map_err(|e| {
                Error::Config(format!(
                    "master_key (CACHEKIT_MASTER_KEY) must be 64 hex digits (32 bytes): {e}"
                ))
            })?;
        }
        Ok(())
    }

    /// Where the Redis L2 is (`None`: L1 only). The form was checked at load.
    pub fn redis_target(&self) -> Option<RedisTarget> {
        self.redis_url.as_deref().and_then(|u| RedisTarget::parse(u).ok())
    }

    pub fn socket_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.socket_timeout)
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.socket_connect_timeout)
    }

    /// Largest value in bytes accepted for writing and from L2.
    pub fn max_value_bytes(&self) -> usize {
        (self.max_chunk_size_mb as usize) << 20
    }

    /// L1 budget of one namespace in bytes.
    pub fn l1_budget_bytes(&self) -> usize {
        (self.l1_max_size_mb as usize) << 20
    }

    /// The settings as JSON, with secrets hidden (for health reports).
    /// The Redis URL with its password hidden, for messages and logs.
    pub fn redacted_redis_url(&self) -> Option<String> {
        self.redis_url.as_deref().map(redact)
    }

    pub fn to_public_json(&self) -> Value {
        serde_json::json!({
            "redis_url": self.redis_url.as_deref().map(redact),
            "connection_pool_size": self.connection_pool_size,
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_connect_timeout,
            "default_ttl": self.default_ttl,
            "enable_compression": self.enable_compression,
            "compression_level": self.compression_level,
            "max_chunk_size_mb": self.max_chunk_size_mb,
            "l1_enabled": self.l1_enabled,
            "l1_max_size_mb": self.l1_max_size_mb,
            "enable_prometheus_metrics": self.enable_prometheus_metrics,
            "master_key": self.master_key.as_ref().map(|_| "<set>"),
            "key_prefix": self.key_prefix,
            "tenant_id": self.tenant_id,
            "tls_ca_cert": self.tls_ca_cert,
        })
    }
}

/// Hide the passwords of a URL (its user information, and the sentinels'
/// `sentinel_password` option).
pub fn redact(url: &str) -> String {
    let (before_query, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let mut out = match (before_query.find("://"), before_query.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &before_query[..s], &before_query[at + 1..]),
        _ => before_query.to_string(),
    };
    if query.is_empty() {
        return out;
    }
    for (i, pair) in query.trim_start_matches('?').split('&').enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        match pair.split_once('=') {
            Some(("sentinel_password", _)) => out.push_str("sentinel_password=***"),
            _ => out.push_str(pair),
        }
    }
    out
}

fn opt_string(v: &Value, src: &Source<'_>) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(Error::Config(format!("{} must be a string, got {other}", src.name()))),
    }
}

fn boolean(v: &Value, src: &Source<'_>) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(Error::Config(format!(
                "{} must be true or false (also 1/0, yes/no, on/off), got \"{s}\"",
                src.name()
            ))),
        },
        other => Err(Error::Config(format!("{} must be true or false, got {other}", src.name()))),
    }
}

fn uint(v: &Value, src: &Source<'_>, min: u64, max: u64) -> Result<u64> {
    let parsed = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match parsed {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::Config(format!(
            "{} must be a whole number from {min} to {max}, got {}",
            src.name(),
            show(v)
        ))),
    }
}

fn float(v: &Value, src: &Source<'_>, min: f64, max: f64) -> Result<f64> {
    let parsed = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match parsed {
        Some(x) if x.is_finite() && x >= min && x <= max => Ok(x),
        _ => Err(Error::Config(format!(
            "{} must be a number of seconds from {min} to {max}, got {}",
            src.name(),
            show(v)
        ))),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn defaults_match_the_reference() {
        let c = Config::load_with(None, env(&[])).unwrap();
        assert_eq!(c.redis_url, None, "no Redis configured means L1-only");
        assert_eq!(c.connection_pool_size, 10);
        assert_eq!(c.socket_timeout, 1.0);
        assert_eq!(c.socket_connect_timeout, 1.0);
        assert_eq!(c.default_ttl, 3600);
        assert!(c.enable_compression);
        assert_eq!(c.compression_level, 6);
        assert_eq!(c.max_chunk_size_mb, 50);
        assert!(c.l1_enabled);
        assert_eq!(c.l1_max_size_mb, 100);
        assert!(c.enable_prometheus_metrics);
    }

    #[test]
    fn cachekit_redis_url_wins_over_redis_url() {
        let c = Config::load_with(
            None,
            env(&[("REDIS_URL", "redis://fallback:1"), ("CACHEKIT_REDIS_URL", "redis://primary:2")]),
        )
        .unwrap();
        assert_eq!(c.redis_url.as_deref(), Some("redis://primary:2"));
        let c = Config::load_with(None, env(&[("REDIS_URL", "redis://fallback:1")])).unwrap();
        assert_eq!(c.redis_url.as_deref(), Some("redis://fallback:1"));
    }

    #[test]
    fn every_environment_variable_is_read() {
        let c = Config::load_with(
            None,
            env(&[
                ("CACHEKIT_CONNECTION_POOL_SIZE", "3"),
                ("CACHEKIT_SOCKET_TIMEOUT", "0.25"),
                ("CACHEKIT_SOCKET_CONNECT_TIMEOUT", "2"),
                ("CACHEKIT_DEFAULT_TTL", "60"),
                ("CACHEKIT_ENABLE_COMPRESSION", "false"),
                ("CACHEKIT_COMPRESSION_LEVEL", "9"),
                ("CACHEKIT_MAX_CHUNK_SIZE_MB", "5"),
                ("CACHEKIT_L1_ENABLED", "0"),
                ("CACHEKIT_L1_MAX_SIZE_MB", "7"),
                ("CACHEKIT_ENABLE_PROMETHEUS_METRICS", "off"),
                ("CACHEKIT_MASTER_KEY", &"ab".repeat(32)),
                ("CACHEKIT_KEY_PREFIX", "app:"),
                ("CACHEKIT_TENANT_ID", "acme"),
            ]),
        )
        .unwrap();
        assert_eq!(c.connection_pool_size, 3);
        assert_eq!(c.socket_timeout, 0.25);
        assert_eq!(c.socket_connect_timeout, 2.0);
        assert_eq!(c.default_ttl, 60);
        assert!(!c.enable_compression);
        assert_eq!(c.compression_level, 9);
        assert_eq!(c.max_chunk_size_mb, 5);
        assert_eq!(c.max_value_bytes(), 5 << 20);
        assert!(!c.l1_enabled);
        assert_eq!(c.l1_max_size_mb, 7);
        assert!(!c.enable_prometheus_metrics);
        assert_eq!(c.master_key.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(c.key_prefix, "app:");
        assert_eq!(c.tenant_id.as_deref(), Some("acme"));
    }

    #[test]
    fn explicit_json_overrides_the_environment() {
        let c = Config::load_with(
            Some(r#"{"default_ttl": 5, "l1_enabled": true, "redis_url": null}"#),
            env(&[("CACHEKIT_DEFAULT_TTL", "60"), ("CACHEKIT_L1_ENABLED", "false"), ("REDIS_URL", "redis://x:1")]),
        )
        .unwrap();
        assert_eq!(c.default_ttl, 5);
        assert!(c.l1_enabled);
        assert_eq!(c.redis_url, None, "an explicit null turns Redis off");
    }

    #[test]
    fn a_bad_value_names_the_variable_and_what_it_expected() {
        let e = Config::load_with(None, env(&[("CACHEKIT_DEFAULT_TTL", "soon")])).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("CACHEKIT_DEFAULT_TTL") && m.contains("whole number"), "{m}");

        let e = Config::load_with(None, env(&[("CACHEKIT_L1_ENABLED", "maybe")])).unwrap_err();
        assert!(e.to_string().contains("CACHEKIT_L1_ENABLED"), "{e}");

        let e = Config::load_with(None, env(&[("CACHEKIT_SOCKET_TIMEOUT", "-1")])).unwrap_err();
        assert!(e.to_string().contains("CACHEKIT_SOCKET_TIMEOUT"), "{e}");

        let e = Config::load_with(None, env(&[("CACHEKIT_MASTER_KEY", "xyz")])).unwrap_err();
        assert!(e.to_string().contains("CACHEKIT_MASTER_KEY"), "{e}");

        let e = Config::load_with(None, env(&[("CACHEKIT_REDIS_URL", "http://x")])).unwrap_err();
        assert!(e.to_string().contains("redis://"), "{e}");

        let e = Config::load_with(Some(r#"{"default_tll": 5}"#), env(&[])).unwrap_err();
        assert!(e.to_string().contains("default_tll") && e.to_string().contains("default_ttl"), "{e}");

        let e = Config::load_with(Some("[1]"), env(&[])).unwrap_err();
        assert!(matches!(e, Error::Config(_)));
    }

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(redact("redis://user:secret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(
            redact("redis+sentinel://u:pw@s1,s2/m?protocol=resp3&sentinel_password=spw"),
            "redis+sentinel://***@s1,s2/m?protocol=resp3&sentinel_password=***"
        );
    }
}
