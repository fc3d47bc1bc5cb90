//! The subscriber of a process: one task that removes what other
//! processes announce from L1, checks namespace generations every
//! `l1_sync_ms`, resynchronises L1 when its connection drops, and wakes
//! waiters when another process's fill lands. It sees the client's
//! per-process state and namespaces only.

use crate::engine::{ClientCore, NsInner};
use crate::keyspace::{self, FILLED_CHANNEL, INVALIDATE_CHANNEL};
use crate::observe::{self, Level, NsStats};
use futures_util::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Start the subscriber task of this process (once per process: the
/// engine calls this on first use).
pub(crate) fn start(client: &Arc<ClientCore>) {
    client.spawn(run(Arc::downgrade(client)));
}

/// The subscriber: messages, periodic generation checks, resubscription.
async fn run(weak: Weak<ClientCore>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let pubsub = {
            let Some(client) = weak.upgrade() else { return };
            let Some(ps) = client.state().backend.pubsub().await else { return };
            ps
        };
        match pubsub {
            Ok(mut ps) => {
                if ps.subscribe(&[FILLED_CHANNEL, INVALIDATE_CHANNEL]).await.is_err() {
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                backoff = Duration::from_millis(100);
                // Messages sent while we were not subscribed may be lost:
                // a generation check right away catches up.
                if !generation_check(&weak, true).await {
                    return;
                }
                let mut stream = ps.into_messages();
                let mut tick = tokio::time::interval(Duration::from_millis(50));
                loop {
                    tokio::select! {
                        msg = stream.next() => match msg {
                            Some((channel, payload)) => {
                                let Some(client) = weak.upgrade() else { return };
                                handle(&client, &channel, &payload);
                            }
                            None => break,
                        },
                        _ = tick.tick() => {
                            if !generation_check(&weak, false).await {
                                return;
                            }
                        }
                    }
                }
                // The subscription dropped: whatever was announced meanwhile
                // is lost, so no L1 entry can be trusted.
                let Some(client) = weak.upgrade() else { return };
                resync_all(&client, "subscription_lost");
            }
            Err(_) => {
                if !generation_check(&weak, false).await {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

fn handle(client: &ClientCore, channel: &str, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else { return };
    match channel {
        FILLED_CHANNEL => client.state().signals.wake(text),
        INVALIDATE_CHANNEL => {
            let Some((origin, gen_key, gen, target)) = keyspace::parse_invalidation(text) else { return };
            if origin == client.state().origin {
                return;
            }
            apply(client, gen_key, target, Some(gen));
        }
        _ => {}
    }
}

/// Remove `target` (a key, or a prefix ending in `*`) from the L1 of every
/// cache of `client` in the namespace of `gen_key`. With `gen`, a message
/// from another process: count it and note the generation.
pub(super) fn apply(client: &ClientCore, gen_key: &str, target: &str, gen: Option<i64>) {
    for c in client.live_namespaces() {
        // In this process every handle follows at once; from other
        // processes, the handles that take part.
        if c.generation_key() != gen_key || (gen.is_some() && c.options.l1_sync_ms == 0) {
            continue;
        }
        if let Some(l1) = c.local().l1.as_ref() {
            match target.strip_suffix('*') {
                Some(prefix) => {
                    l1.remove_prefix(prefix);
                }
                None => {
                    l1.remove(target);
                }
            }
        }
        if let Some(gen) = gen {
            NsStats::inc(&c.stats.invalidations_received);
            // Contiguous generations need no resync.
            let _ = c.seen_generation.compare_exchange(gen - 1, gen, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

/// Clear the L1 of every cache that takes part in cross-process invalidation.
fn resync_all(client: &ClientCore, why: &str) {
    for c in client.live_namespaces() {
        if c.options.l1_sync_ms == 0 {
            continue;
        }
        if let Some(l1) = c.local().l1.as_ref() {
            if !l1.is_empty() {
                l1.clear();
                NsStats::inc(&c.stats.l1_resyncs);
                observe::emit(observe::Event {
                    level: Level::Info,
                    event: "l1_resync",
                    namespace: &c.namespace,
                    key: None,
                    outcome: why,
                    duration: None,
                    detail: None,
                });
            }
        }
        c.seen_generation.store(-1, Ordering::Release);
    }
}

/// Compare namespace generations with the applied ones (each namespace at
/// most every `l1_sync_ms`, or all now when `force`). Returns false when the
/// client is gone.
async fn generation_check(weak: &Weak<ClientCore>, force: bool) -> bool {
    let (caches, keys, timeout) = {
        let Some(client) = weak.upgrade() else { return false };
        let now = observe::now_ms();
        let caches: Vec<Arc<NsInner>> = client
            .live_namespaces()
            .into_iter()
            .filter(|c| c.options.l1_sync_ms > 0 && c.l1_enabled)
            .filter(|c| force || now.saturating_sub(c.generation_checked_ms.load(Ordering::Relaxed)) >= c.options.l1_sync_ms)
            .collect();
        for c in &caches {
            c.generation_checked_ms.store(now, Ordering::Relaxed);
        }
        let keys: Vec<String> = caches.iter().map(|c| c.generation_key()).collect();
        (caches, keys, client.config().socket_timeout())
    };
    if keys.is_empty() {
        return true;
    }
    let gens = {
        let Some(client) = weak.upgrade() else { return false };
        let state = client.state();
        tokio::time::timeout(timeout, state.backend.mget_i64(&keys)).await
    };
    let Ok(Ok(gens)) = gens else { return true };
    for (c, g) in caches.iter().zip(gens) {
        let g = g.unwrap_or(0);
        let seen = c.seen_generation.load(Ordering::Acquire);
        if seen == g {
            continue;
        }
        if seen >= 0 {
            if let Some(l1) = c.local().l1.as_ref() {
                l1.clear();
            }
            NsStats::inc(&c.stats.l1_resyncs);
        }
        c.seen_generation.store(g, Ordering::Release);
    }
    true
}

