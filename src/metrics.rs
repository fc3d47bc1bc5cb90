//! Prometheus exposition with the names of the API reference.
//!
//! Counters live as relaxed atomics next to the code that moves them
//! (`NsStats`, `L1Stats`, the reliability gate) and are read only when
//! metrics are scraped: the hot path pays one atomic add, never a label
//! lookup. Latency histograms are the one live prometheus object, observed
//! on the L2 path only, with label handles resolved once per namespace.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder, GaugeVec};

/// Buckets for Redis round trips: 100 µs to 10 s.
const BUCKETS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// L2 operations whose latency is observed.

pub fn new_duration_histogram() -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new("redis_cache_operation_duration_seconds", "Latency of L2 (Redis) operations")
            .buckets(BUCKETS.to_vec()),
        &["operation", "namespace"],
    )
    .expect("valid histogram definition")
}

/// What one namespace contributes to a scrape.
pub struct NsSample<'a> {
    pub namespace: &'a str,
    pub serializer: &'a str,
    /// (operation, status, count)
    pub operations: Vec<(&'static str, &'static str, u64)>,
    pub breaker_state: i64,
    pub fallbacks: u64,
    pub l1: Option<L1Sample>,
    pub backpressure_rejections: u64,
    pub in_flight: u64,
}

pub struct L1Sample {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub bytes: u64,
    pub entries: u64,
}

/// Connection figures of the client.
pub struct PoolSample {
    pub size: u64,
    pub created: u64,
    pub in_use: u64,
}

/// One node of a Redis Cluster as last seen.
pub struct NodeSample {
    /// `host:port`.
    pub address: String,
    pub role: &'static str,
    /// It answered its PING.
    pub up: bool,
    pub ping: Option<std::time::Duration>,
}

/// Render the exposition text.
pub fn render(histogram: Option<&HistogramVec>, namespaces: &[NsSample<'_>], pool: &PoolSample, nodes: &[NodeSample]) -> String {
    let reg = Registry::new();
    let ops = IntCounterVec::new(
        Opts::new("redis_cache_operations_total", "Cache operations by operation, status, serializer and namespace"),
        &["operation", "status", "serializer", "namespace"],
    )
    .unwrap();
    let breaker = IntGaugeVec::new(
        Opts::new("redis_circuit_breaker_state", "Circuit breaker state per namespace (0=closed, 1=open, 2=half-open)"),
        &["namespace"],
    )
    .unwrap();
    let fallbacks = IntCounterVec::new(
        Opts::new("redis_serialization_fallbacks_total", "Values served without caching because they could not be (de)serialized"),
        &["namespace", "serializer"],
    )
    .unwrap();
    let util = GaugeVec::new(Opts::new("redis_connection_pool_utilization", "Connection pool usage ratio (0.0-1.0)"), &[]).unwrap();
    let usage = IntGaugeVec::new(
        Opts::new("redis_connection_pool_usage", "Connection pool statistics (created, available, in_use)"),
        &["type"],
    )
    .unwrap();
    let l1_hits = IntCounterVec::new(Opts::new("cachekit_l1_hits_total", "L1 hits"), &["namespace"]).unwrap();
    let l1_misses = IntCounterVec::new(Opts::new("cachekit_l1_misses_total", "L1 misses"), &["namespace"]).unwrap();
    let l1_evictions = IntCounterVec::new(Opts::new("cachekit_l1_evictions_total", "L1 evictions to stay within the byte budget"), &["namespace"]).unwrap();
    let l1_bytes = IntGaugeVec::new(Opts::new("cachekit_l1_bytes", "Bytes held by L1"), &["namespace"]).unwrap();
    let l1_entries = IntGaugeVec::new(Opts::new("cachekit_l1_entries", "Entries held by L1"), &["namespace"]).unwrap();
    let bp = IntCounterVec::new(
        Opts::new("cachekit_backpressure_rejections_total", "L2 operations skipped because too many were in flight"),
        &["namespace"],
    )
    .unwrap();
    let in_flight = IntGaugeVec::new(Opts::new("cachekit_l2_in_flight", "L2 operations in flight"), &["namespace"]).unwrap();
    let node_up = IntGaugeVec::new(
        Opts::new("cachekit_redis_node_up", "Whether a Redis Cluster node answered its last PING (1) or not (0), as last seen: a scrape that finds the figures older than 5 s has them refreshed in the background for the next one"),
        &["node", "role"],
    )
    .unwrap();
    let node_ping = GaugeVec::new(Opts::new("cachekit_redis_node_ping_seconds", "Latency of a Redis Cluster node's last PING"), &["node", "role"]).unwrap();
    for n in nodes {
        node_up.with_label_values(&[n.address.as_str(), n.role]).set(n.up as i64);
        if let Some(d) = n.ping {
            node_ping.with_label_values(&[n.address.as_str(), n.role]).set(d.as_secs_f64());
        }
    }

    for ns in namespaces {
        for (op, status, n) in &ns.operations {
            ops.with_label_values(&[op, status, ns.serializer, ns.namespace]).inc_by(*n);
        }
        breaker.with_label_values(&[ns.namespace]).set(ns.breaker_state);
        fallbacks.with_label_values(&[ns.namespace, ns.serializer]).inc_by(ns.fallbacks);
        bp.with_label_values(&[ns.namespace]).inc_by(ns.backpressure_rejections);
        in_flight.with_label_values(&[ns.namespace]).set(ns.in_flight as i64);
        if let Some(l1) = &ns.l1 {
            l1_hits.with_label_values(&[ns.namespace]).inc_by(l1.hits);
            l1_misses.with_label_values(&[ns.namespace]).inc_by(l1.misses);
            l1_evictions.with_label_values(&[ns.namespace]).inc_by(l1.evictions);
            l1_bytes.with_label_values(&[ns.namespace]).set(l1.bytes as i64);
            l1_entries.with_label_values(&[ns.namespace]).set(l1.entries as i64);
        }
    }
    let in_use = pool.in_use.min(pool.created);
    util.with_label_values(&[] as &[&str]).set(if pool.size == 0 { 0.0 } else { in_use as f64 / pool.size as f64 });
    usage.with_label_values(&["created"]).set(pool.created as i64);
    usage.with_label_values(&["available"]).set((pool.created - in_use) as i64);
    usage.with_label_values(&["in_use"]).set(in_use as i64);

    for c in [Box::new(ops) as Box<dyn prometheus::core::Collector>, Box::new(breaker), Box::new(fallbacks), Box::new(util), Box::new(usage),
        Box::new(l1_hits), Box::new(l1_misses), Box::new(l1_evictions), Box::new(l1_bytes), Box::new(l1_entries), Box::new(bp), Box::new(in_flight), Box::new(node_up), Box::new(node_ping)]
    {
        reg.register(c).expect("metric names are unique");
    }
    if let Some(h) = histogram {
        reg.register(Box::new(h.clone())).expect("histogram registers");
    }
    let mut out = Vec::new();
    TextEncoder::new().encode(&reg.gather(), &mut out).expect("text encoding");
    String::from_utf8(out).unwrap_or_default()
}
