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

mod subscriber;

pub(crate) use subscriber::start;

use crate::engine::Namespace;
use crate::error::Result;
use crate::keyspace::{self, INVALIDATE_CHANNEL};
use crate::observe::{Level, NsStats};
use crate::reliability::Op;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Remove `target` from the L1 of every handle of this namespace in
/// this process.
fn apply_local(ns: &Namespace, target: &str) {
    subscriber::apply(&ns.inner.client, &ns.inner.generation_key(), target, None);
}

/// Tell other processes that `target` (a key, or a prefix ending in `*`)
/// was removed: bump the generation and publish. Best effort.
async fn announce(ns: &Namespace, target: &str) {
    let i = &ns.inner;
    apply_local(ns, target);
    if !ns.has_backend() || i.options.l1_sync_ms == 0 {
        return;
    }
    let gen_key = i.generation_key();
    let Ok(gen) = ns.l2(Op::Delete, None, |b| b.incr(&gen_key)).await else { return };
    // Our own L1 already applied this change.
    let _ = i.seen_generation.compare_exchange(gen - 1, gen, Ordering::AcqRel, Ordering::Acquire);
    let origin = &ns.process().origin;
    let msg = keyspace::invalidation_message(origin, &gen_key, gen, target);
    if ns.l2(Op::Delete, None, |b| b.publish(INVALIDATE_CHANNEL, msg.as_bytes())).await.is_ok() {
        NsStats::inc(&i.stats.invalidations_sent);
    }
}

/// Delete by full key from L1 and L2, and tell other processes.
pub(crate) async fn delete_async(ns: &Namespace, key: &str) -> Result<bool> {
    let in_l1 = delete_from_l1(ns, key);
    delete_beyond_l1(ns, key, in_l1).await
}

/// The first step of a delete, done at once by the caller (also an event
/// loop's: no I/O): the entry leaves this handle's L1. True if it was there.
pub(crate) fn delete_from_l1(ns: &Namespace, key: &str) -> bool {
    NsStats::inc(&ns.inner.stats.deletes);
    ns.l1().is_some_and(|l1| l1.remove(key))
}

/// The rest of a delete after [`delete_from_l1`] (`in_l1`: what it found):
/// L2, the other handles' L1 and the other processes.
pub(crate) async fn delete_beyond_l1(ns: &Namespace, key: &str, in_l1: bool) -> Result<bool> {
    // Our own write of the key, if under way, lands first (and may have
    // put the value back in L1 meanwhile).
    ns.settle_landing(key).await;
    let in_l1 = ns.l1().is_some_and(|l1| l1.remove(key)) || in_l1;
    if !ns.has_backend() {
        apply_local(ns, key);
        return Ok(in_l1);
    }
    let r = ns.l2(Op::Delete, Some(key), |b| b.delete(key)).await;
    let in_l2 = ns.settle(r, false)?;
    announce(ns, key).await;
    Ok(in_l2 || in_l1)
}

pub(crate) fn delete_by_key(ns: &Namespace, key: &str) -> Result<bool> {
    ns.inner.client.block_on(delete_async(ns, key))
}

/// Delete the entry of `operation(args)`; true if L1 or L2 had it.
pub(crate) fn delete(ns: &Namespace, operation: &str, args: &[u8]) -> Result<bool> {
    let key = ns.key_shared(operation, args)?;
    delete_by_key(ns, &key)
}

/// The wrapper could not decode the value it got for `key` (written by an
/// incompatible serializer of the same name, or damaged in a way only the
/// serializer sees): count it as a corrupt entry, log it, and delete it
/// everywhere in the background, so the caller (maybe an event loop)
/// never waits and the next call recomputes.
pub(crate) fn discard_undecodable(ns: &Namespace, key: &str, why: &str) {
    NsStats::inc(&ns.inner.stats.corrupt_entries);
    ns.log(Level::Warning, "undecodable_entry", Some(key), "miss", None, Some(why));
    if let Some(l1) = ns.l1() {
        l1.remove(key);
    }
    if ns.has_backend() {
        let (c, key) = (ns.clone(), key.to_string());
        ns.inner.client.spawn(async move {
            let _ = delete_async(&c, &key).await;
        });
    } else {
        apply_local(ns, key);
    }
}

/// Delete every entry of this namespace (L1 and L2), in every process's
/// L1 too. Returns the number of L2 keys deleted. The L2 part uses SCAN
/// (a maintenance operation, never on a read path).
pub(crate) fn clear(ns: &Namespace) -> Result<u64> {
    let i = &ns.inner;
    let prefix = keyspace::namespace_prefix(&i.key_prefix, &i.namespace);
    clear_prefix(ns, prefix, keyspace::is_entry_suffix)
}

/// Delete every entry of one operation of this namespace.
pub(crate) fn clear_operation(ns: &Namespace, operation: &str) -> Result<u64> {
    // Validates the operation name as keys would.
    ns.key(operation, &[0x90])?;
    let i = &ns.inner;
    let prefix = keyspace::operation_prefix(&i.key_prefix, &i.namespace, operation);
    clear_prefix(ns, prefix, keyspace::is_hash_suffix)
}

fn clear_prefix(ns: &Namespace, prefix: String, rest_ok: fn(&[u8]) -> bool) -> Result<u64> {
    let client = &ns.inner.client;
    if ns.has_backend() {
        // Our own writes under way land first, so they are cleared too.
        let state = client.state();
        client.block_on(state.landings.settle_all(std::time::Instant::now() + Duration::from_secs(10)));
    }
    if let Some(l1) = ns.l1() {
        l1.remove_prefix(&prefix);
    }
    if !ns.has_backend() {
        apply_local(ns, &format!("{prefix}*"));
        return Ok(0);
    }
    client.block_on(async {
        // A clear may take many round trips: it gets the maximum timeout.
        let r = ns.l2(Op::Clear, None, |b| b.delete_prefix(&prefix, rest_ok)).await;
        let n = ns.settle(r, 0)?;
        announce(ns, &format!("{prefix}*")).await;
        Ok(n)
    })
}
