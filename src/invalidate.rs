//! Deletes, clears and cross-process consistency of L1.
//!
//! Every delete or clear bumps a generation number per namespace in Redis
//! (`{prefix}{namespace}:~gen`) and publishes what it removed on the
//! `cachekit:invalidate` channel. Each process runs one subscriber task
//! (the [`Hub`]) that:
//! - removes the announced keys from its L1 at once;
//! - every `l1_sync_ms` compares the namespace generation with the last one
//!   it applied, and clears that namespace's L1 when it missed a message;
//! - clears L1 when its subscription connection drops (messages may have
//!   been lost), then resubscribes.
//!
//! So an entry deleted by another process stops being served from L1 within
//! about one publish round trip normally, and within `l1_sync_ms` (plus one
//! Redis round trip) when messages are lost. The same subscriber wakes fill
//! waiters when another process's fill lands (`cachekit:filled`).

use crate::backend::Backend;
use crate::client::{Cache, CacheInner, Client};
use crate::error::Result;
use crate::observe::{self, Level, NsStats};
use crate::reliability::OpKind;
use futures_util::StreamExt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Notify;

pub(crate) const FILLED_CHANNEL: &str = "cachekit:filled";
pub(crate) const INVALIDATE_CHANNEL: &str = "cachekit:invalidate";

/// Per-process subscriber state (lives in the client's fork-local state).
pub(crate) struct Hub {
    started: AtomicBool,
    waiters: Mutex<HashMap<String, Weak<Notify>>>,
    /// Marks this process's own messages: their effect is applied already,
    /// and applying them late could evict an entry filled since.
    origin: String,
}

impl Default for Hub {
    fn default() -> Self {
        Hub { started: AtomicBool::new(false), waiters: Mutex::default(), origin: hex::encode(rand::random::<[u8; 8]>()) }
    }
}

impl Hub {
    /// A notifier woken when a fill of `key` lands in another process.
    pub(crate) fn interest(&self, key: &str) -> Arc<Notify> {
        let mut w = self.waiters.lock();
        if let Some(n) = w.get(key).and_then(Weak::upgrade) {
            return n;
        }
        let n = Arc::new(Notify::new());
        w.insert(key.to_string(), Arc::downgrade(&n));
        if w.len() > 1024 {
            w.retain(|_, v| v.strong_count() > 0);
        }
        n
    }

    fn wake(&self, key: &str) {
        let n = self.waiters.lock().get(key).and_then(Weak::upgrade);
        if let Some(n) = n {
            n.notify_waiters();
        }
    }

    /// Start the subscriber task of this process once.
    pub(crate) fn ensure_started(&self, client: &Client) {
        if client.state().backend.is_none() || self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = client.downgrade();
        client.spawn(run(weak));
    }
}

/// The subscriber: messages, periodic generation checks, resubscription.
async fn run(weak: Weak<crate::client::ClientInner>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let pubsub = {
            let Some(client) = Client::upgrade(&weak) else { return };
            let Backend::Redis(r) = &client.state().backend else { return };
            r.pubsub().await
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
                let mut stream = ps.into_on_message();
                let mut tick = tokio::time::interval(Duration::from_millis(50));
                loop {
                    tokio::select! {
                        msg = stream.next() => match msg {
                            Some(m) => {
                                let Some(client) = Client::upgrade(&weak) else { return };
                                handle(&client, m.get_channel_name(), m.get_payload_bytes());
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
                let Some(client) = Client::upgrade(&weak) else { return };
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

fn handle(client: &Client, channel: &str, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else { return };
    match channel {
        FILLED_CHANNEL => client.state().hub.wake(text),
        INVALIDATE_CHANNEL => {
            let mut parts = text.splitn(4, '\n');
            let (Some(origin), Some(gen_key), Some(gen), Some(target)) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
                return;
            };
            if origin == client.state().hub.origin {
                return;
            }
            let Ok(gen) = gen.parse::<i64>() else { return };
            apply(client, gen_key, target, Some(gen));
        }
        _ => {}
    }
}

/// Remove `target` (a key, or a prefix ending in `*`) from the L1 of every
/// cache of `client` in the namespace of `gen_key`. With `gen`, a message
/// from another process: count it and note the generation.
fn apply(client: &Client, gen_key: &str, target: &str, gen: Option<i64>) {
    for c in client.live_caches() {
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
fn resync_all(client: &Client, why: &str) {
    for c in client.live_caches() {
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
async fn generation_check(weak: &Weak<crate::client::ClientInner>, force: bool) -> bool {
    let (caches, keys, timeout) = {
        let Some(client) = Client::upgrade(weak) else { return false };
        let now = observe::now_ms();
        let caches: Vec<Arc<CacheInner>> = client
            .live_caches()
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
        let Some(client) = Client::upgrade(weak) else { return false };
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

impl CacheInner {
    /// The Redis key of this namespace's generation number.
    pub(crate) fn generation_key(&self) -> String {
        format!("{}{}:~gen", self.key_prefix, self.namespace)
    }
}

impl Cache {
    /// Tell other processes that `target` (a key, or a prefix ending in `*`)
    /// was removed: bump the generation and publish. Best effort.
    /// Remove `target` from the L1 of every handle of this namespace in
    /// this process.
    fn apply_local(&self, target: &str) {
        apply(&self.inner.client, &self.inner.generation_key(), target, None);
    }

    pub(crate) async fn announce(&self, target: &str) {
        let i = &self.inner;
        self.apply_local(target);
        if !self.has_backend() || i.options.l1_sync_ms == 0 {
            return;
        }
        let gen_key = i.generation_key();
        let Ok(gen) = self.l2(2, OpKind::Data, None, |b| b.incr(&gen_key)).await else { return };
        // Our own L1 already applied this change.
        let _ = i.seen_generation.compare_exchange(gen - 1, gen, Ordering::AcqRel, Ordering::Acquire);
        let origin = &i.client.state().hub.origin;
        let msg = format!("{origin}\n{gen_key}\n{gen}\n{target}");
        if self.l2(2, OpKind::Data, None, |b| b.publish(INVALIDATE_CHANNEL, msg.as_bytes())).await.is_ok() {
            NsStats::inc(&i.stats.invalidations_sent);
        }
    }

    /// Delete by full key from L1 and L2, and tell other processes.
    pub async fn delete_async(&self, key: &str) -> Result<bool> {
        NsStats::inc(&self.inner.stats.deletes);
        // Our own write of the key, if under way, lands first.
        self.settle_landing(key).await;
        let in_l1 = self.l1().is_some_and(|l1| l1.remove(key));
        if !self.has_backend() {
            self.apply_local(key);
            return Ok(in_l1);
        }
        let r = self.l2(2, OpKind::Data, Some(key), |b| b.delete(key)).await;
        let in_l2 = self.settle(r, false)?;
        self.announce(key).await;
        Ok(in_l2 || in_l1)
    }

    pub fn delete_by_key(&self, key: &str) -> Result<bool> {
        self.inner.client.block_on(self.delete_async(key))
    }

    /// Delete the entry of `operation(args)`; true if L1 or L2 had it.
    pub fn delete(&self, operation: &str, args: &[u8]) -> Result<bool> {
        let key = self.key_shared(operation, args)?;
        self.delete_by_key(&key)
    }

    /// The wrapper could not decode the value it got for `key` (written by an
    /// incompatible serializer of the same name, or damaged in a way only the
    /// serializer sees): count it as a corrupt entry, log it, and delete it
    /// everywhere in the background, so the caller (maybe an event loop)
    /// never waits and the next call recomputes.
    pub fn discard_undecodable(&self, key: &str, why: &str) {
        NsStats::inc(&self.inner.stats.corrupt_entries);
        self.log(Level::Warning, "undecodable_entry", Some(key), "miss", None, Some(why));
        if let Some(l1) = self.l1() {
            l1.remove(key);
        }
        if self.has_backend() {
            let (c, key) = (self.clone(), key.to_string());
            self.inner.client.spawn(async move {
                let _ = c.delete_async(&key).await;
            });
        } else {
            self.apply_local(key);
        }
    }

    /// Delete every entry of this namespace (L1 and L2), in every process's
    /// L1 too. Returns the number of L2 keys deleted. The L2 part uses SCAN
    /// (a maintenance operation, never on a read path).
    pub fn clear(&self) -> Result<u64> {
        let i = &self.inner;
        let prefix = format!("{}{}:", i.key_prefix, i.namespace);
        self.clear_prefix(prefix, is_entry_suffix)
    }

    /// Delete every entry of one operation of this namespace.
    pub fn clear_operation(&self, operation: &str) -> Result<u64> {
        // Validates the operation name as keys would.
        self.key(operation, &[0x90])?;
        let i = &self.inner;
        let prefix = format!("{}{}:{}:", i.key_prefix, i.namespace, operation);
        self.clear_prefix(prefix, is_hash_suffix)
    }

    fn clear_prefix(&self, prefix: String, rest_ok: fn(&[u8]) -> bool) -> Result<u64> {
        let client = &self.inner.client;
        if self.has_backend() {
            // Our own writes under way land first, so they are cleared too.
            let state = client.state();
            client.block_on(state.landings.settle_all(std::time::Instant::now() + Duration::from_secs(10)));
        }
        if let Some(l1) = self.l1() {
            l1.remove_prefix(&prefix);
        }
        if !self.has_backend() {
            self.apply_local(&format!("{prefix}*"));
            return Ok(0);
        }
        client.block_on(async {
            // A clear may take many round trips: it gets the maximum timeout.
            let r = self.l2(5, OpKind::Bulk, None, |b| b.delete_prefix(&prefix, rest_ok)).await;
            let n = self.settle(r, 0)?;
            self.announce(&format!("{prefix}*")).await;
            Ok(n)
        })
    }
}

/// Whether `rest` (a Redis key after `{prefix}{namespace}:`) is
/// `{operation}:{64 hex}` or `{operation}:{64 hex}:e1`: the keys of this
/// namespace and not of a longer one such as `{namespace}:v1`.
fn is_entry_suffix(rest: &[u8]) -> bool {
    let Some(colon) = rest.iter().position(|b| *b == b':') else { return false };
    colon > 0 && is_hash_suffix(&rest[colon + 1..])
}

/// Whether `rest` is `{64 hex}` or `{64 hex}:e1`.
fn is_hash_suffix(rest: &[u8]) -> bool {
    let rest = rest.strip_suffix(crate::client::ENVELOPE_KEY_SUFFIX.as_bytes()).unwrap_or(rest);
    rest.len() == 64 && rest.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_suffixes() {
        let h = "a".repeat(64);
        assert!(is_entry_suffix(format!("op:{h}").as_bytes()));
        assert!(is_entry_suffix(format!("op:{h}:e1").as_bytes()));
        assert!(!is_entry_suffix(format!("v1:op:{h}").as_bytes()), "a longer namespace");
        assert!(!is_entry_suffix(b"~gen"));
        assert!(!is_entry_suffix(format!("op:{h}:lock").as_bytes()));
        assert!(is_hash_suffix(h.as_bytes()));
    }
}
