//! The health report of a namespace (the API reference's shape) and its
//! metrics sample.

use super::{ClientCore, Namespace, NsInner};
use crate::backend::{ErrorClass, L2Error, NodeHealth};
use crate::config::Format;
use crate::fork;
use crate::metrics;
use crate::observe::NsStats;
use serde_json::{json, Value};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How old the node figures of a scrape may be before the scrape asks for
/// fresh ones (in the background: the scrape itself never waits on Redis).
const NODE_FIGURES_MAX_AGE: Duration = Duration::from_secs(5);

/// A Redis Cluster's nodes as last seen (by an active health check, or by
/// the background refresh a scrape starts), for the per-node metrics.
#[derive(Default)]
pub(crate) struct NodeSnapshot {
    last: Mutex<Option<(Instant, Vec<NodeHealth>)>>,
    refreshing: AtomicBool,
}

impl NodeSnapshot {
    fn store(&self, nodes: Vec<NodeHealth>) {
        *self.last.lock() = Some((Instant::now(), nodes));
    }
}

impl ClientCore {
    /// The per-node figures of a Redis Cluster for a scrape (empty
    /// otherwise): the last ones seen; when they are older than
    /// [`NODE_FIGURES_MAX_AGE`] (or there are none yet), fresh ones are
    /// fetched in the background for the next scrape.
    pub(crate) fn node_samples(self: &Arc<Self>) -> Vec<metrics::NodeSample> {
        let state = self.state();
        if !state.backend.is_cluster() {
            return Vec::new();
        }
        let (stale, samples) = {
            let last = state.nodes.last.lock();
            let stale = last.as_ref().is_none_or(|(at, _)| at.elapsed() > NODE_FIGURES_MAX_AGE);
            let samples = last.as_ref().map_or_else(Vec::new, |(_, nodes)| {
                nodes
                    .iter()
                    .map(|n| metrics::NodeSample {
                        address: n.address.clone(),
                        role: if n.master { "master" } else { "replica" },
                        up: n.ping.is_ok(),
                        ping: n.ping.as_ref().ok().copied(),
                    })
                    .collect()
            });
            (stale, samples)
        };
        if stale && !state.nodes.refreshing.swap(true, Ordering::AcqRel) {
            let weak = Arc::downgrade(self);
            self.spawn(async move {
                let Some(client) = weak.upgrade() else { return };
                let state = client.state();
                if let Ok(Some(Ok(nodes))) = tokio::time::timeout(client.config().socket_timeout(), state.backend.node_health()).await {
                    state.nodes.store(nodes);
                }
                state.nodes.refreshing.store(false, Ordering::Release);
            });
        }
        samples
    }
}

impl Namespace {
    /// Health of this namespace in the shape of the API reference
    /// (`namespace`, `features_enabled`, `circuit_breaker`, `backpressure`,
    /// `adaptive_timeout`), plus L1 and outcome counters.
    pub(crate) fn health(&self) -> Value {
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
    pub(crate) fn check_health(&self) -> Value {
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
        // A cluster: every node, each with its own PING (also bypassing the gate).
        let nodes = client.block_on(async {
            match tokio::time::timeout(client.config().socket_timeout(), state.backend.node_health()).await {
                Ok(r) => r,
                Err(_) => Some(Err(L2Error { class: ErrorClass::Transient, message: "CLUSTER NODES timed out".into() })),
            }
        });
        if let Some(Ok(seen)) = &nodes {
            state.nodes.store(seen.clone());
        }
        let nodes = nodes.map(|r| match r {
            Ok(nodes) => Value::Array(
                nodes
                    .into_iter()
                    .map(|n| {
                        json!({
                            "address": n.address,
                            "role": if n.master { "master" } else { "replica" },
                            "flagged_failing": n.failing,
                            "status": if n.ping.is_ok() { "healthy" } else { "unhealthy" },
                            "ping_latency_seconds": n.ping.as_ref().ok().map(|d| d.as_secs_f64()),
                            "error": n.ping.err().map(|e| e.to_string()),
                        })
                    })
                    .collect(),
            ),
            Err(e) => json!({ "error": e.to_string() }),
        });
        // A Sentinel master: where it is now (null unless Sentinel).
        let sentinel = state.backend.sentinel_master().map(|(name, master, moves)| {
            json!({ "master_name": name, "master": master, "failovers_followed": moves })
        });
        let in_use: u64 = self.inner.local().rel.in_flight() as u64;
        let (size, created) = state.backend.pool_figures();
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
                // A Redis Cluster's nodes (null for one server).
                "redis_nodes": nodes,
                "redis_sentinel": sentinel,
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

impl NsInner {
    pub(crate) fn metrics_sample(&self) -> metrics::NsSample<'_> {
        let s = &self.stats;
        let g = NsStats::get;
        let local = self.local.get();
        let l1 = local.and_then(|l| l.l1.as_ref());
        // Every (operation, status) pair is exposed, zeros included
        // (Prometheus's advice for known label values): a series that
        // appears only once its first error happens makes a dashboard panel
        // say "No data" instead of 0, and `rate()` misses its first increase.
        let operations = vec![
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
