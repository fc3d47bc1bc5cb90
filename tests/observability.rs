//! Metrics exposition, Grafana dashboards and structured log events.

#[path = "support/redis_server.rs"]
mod redis_server;

use cachekit::{CacheOptions, Client, Config};
use redis::Commands;
use redis_server::RedisServer;
use std::collections::BTreeSet;
use std::ffi::{c_char, c_void, CStr};
use std::sync::Mutex;

fn client(url: &str) -> Client {
    let json = format!(r#"{{"redis_url": "{url}"}}"#);
    Client::new(Config::load_with(Some(&json), |_| None).unwrap()).unwrap()
}

fn args(x: i64) -> Vec<u8> {
    let mut v = vec![0x91];
    rmp::encode::write_sint(&mut v, x).unwrap();
    v
}

/// A client with some traffic of every kind: hits, misses, sets, a corrupt entry.
fn busy_client(redis: &RedisServer) -> (Client, Vec<cachekit::Cache>) {
    let c = client(&redis.url());
    let cache = c.cache("obs", CacheOptions::default()).unwrap();
    let plain = c.cache("obs", CacheOptions::from_json(Some(r#"{"l1_enabled": false}"#)).unwrap()).unwrap();
    for i in 0..10 {
        cache.set("op", &args(i), &[0x2a], None).unwrap();
        cache.get("op", &args(i)).unwrap();
        plain.get("op", &args(i)).unwrap();
    }
    plain.get("op", &args(99)).unwrap();
    let mut raw = redis.raw();
    let _: () = raw.set(plain.key("op", &args(5)).unwrap(), b"garbage").unwrap();
    plain.get("op", &args(5)).unwrap();
    (c, vec![cache, plain])
}

#[test]
fn the_exposition_has_every_metric_of_the_reference() {
    let redis = RedisServer::start();
    let (c, _caches) = busy_client(&redis);
    let text = c.metrics_text();
    for name in [
        "redis_cache_operations_total",
        "redis_cache_operation_duration_seconds_bucket",
        "redis_circuit_breaker_state",
        "redis_connection_pool_utilization",
        "redis_connection_pool_usage",
        "redis_serialization_fallbacks_total",
        "cachekit_l1_hits_total",
        "cachekit_l1_misses_total",
        "cachekit_l1_evictions_total",
        "cachekit_l1_bytes",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} missing from:\n{text}");
    }
    assert!(text.contains(r#"redis_cache_operations_total{namespace="obs",operation="get",serializer="msgpack",status="l2_hit"} 10"#), "{text}");
    assert!(text.contains(r#"status="corrupt"} 1"#), "{text}");
    // Every (operation, status) pair is there from the start, at 0 until it
    // happens: a dashboard's error panel has a series to show.
    for status in [r#"operation="l2",serializer="msgpack",status="error"} 0"#, r#"operation="fill",serializer="msgpack",status="wait_timeout"} 0"#] {
        assert!(text.contains(&format!(r#"redis_cache_operations_total{{namespace="obs",{status}"#)), "{status}: {text}");
    }
    assert!(text.contains(r#"redis_circuit_breaker_state{namespace="obs"} 0"#), "{text}");
    assert!(text.contains(r#"redis_connection_pool_usage{type="created"}"#), "{text}");
}

/// Metric names used in a PromQL expression (ours all start with these prefixes).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if expr[i..].starts_with("redis_") || expr[i..].starts_with("cachekit_") {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.insert(expr[start..i].to_string());
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn every_metric_a_dashboard_queries_exists() {
    let redis = RedisServer::start();
    let (c, _caches) = busy_client(&redis);
    let text = c.metrics_text();
    let exposed: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("monitoring/grafana");
    let mut dashboards = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        dashboards += 1;
        let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut queries = 0;
        for panel in d["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                let names = metric_names(expr);
                assert!(!names.is_empty(), "{}: a query names no metric: {expr}", path.display());
                for n in names {
                    queries += 1;
                    assert!(exposed.contains(&n), "{}: {n} is not exposed", path.display());
                }
            }
        }
        assert!(queries > 3, "{} has queries", path.display());
    }
    assert_eq!(dashboards, 3, "overview, reliability and performance dashboards");
}

static EVENTS: Mutex<Vec<(u8, String)>> = Mutex::new(Vec::new());

extern "C" fn collect(_ud: *mut c_void, level: u8, json: *const c_char) {
    let s = unsafe { CStr::from_ptr(json) }.to_string_lossy().into_owned();
    EVENTS.lock().unwrap().push((level, s));
}

#[test]
fn log_events_reach_the_registered_callback_with_their_fields() {
    let redis = RedisServer::start();
    unsafe {
        cachekit::ffi::ck_set_log_callback(Some(collect), std::ptr::null_mut(), 10);
        cachekit::ffi::ck_set_correlation_id(c"req-42".as_ptr());
    }
    let c = client(&redis.url());
    let cache = c.cache("logged", CacheOptions::from_json(Some(r#"{"l1_enabled": false}"#)).unwrap()).unwrap();
    cache.set("op", &args(1), &[0x2a], None).unwrap();
    let mut raw = redis.raw();
    let _: () = raw.set(cache.key("op", &args(1)).unwrap(), b"garbage").unwrap();
    assert_eq!(cache.get("op", &args(1)).unwrap(), None);
    unsafe {
        cachekit::ffi::ck_set_correlation_id(std::ptr::null());
        cachekit::ffi::ck_set_log_callback(None, std::ptr::null_mut(), 30);
    }
    let events = EVENTS.lock().unwrap();
    let (level, json) = events
        .iter()
        .find(|(_, j)| j.contains("\"corrupt_entry\"") && j.contains("\"logged\""))
        .expect("a corrupt_entry event for namespace logged");
    assert_eq!(*level, 30);
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["level"], "WARNING");
    assert_eq!(v["namespace"], "logged");
    assert_eq!(v["outcome"], "miss");
    assert_eq!(v["correlation_id"], "req-42");
    assert_eq!(v["key_hash"].as_str().unwrap().len(), 16);
    assert!(v.get("duration_ms").is_some());
}

#[test]
fn metrics_can_be_turned_off() {
    let c = Client::new(Config::load_with(Some(r#"{"enable_prometheus_metrics": false}"#), |_| None).unwrap()).unwrap();
    let cache = c.cache("quiet", CacheOptions::default()).unwrap();
    cache.get("op", &args(1)).unwrap();
    assert!(!c.metrics_text().contains("redis_cache_operation_duration_seconds"));
}
