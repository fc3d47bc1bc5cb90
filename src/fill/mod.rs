//! The miss path (DESIGN section 2, step 5): one caller per key computes,
//! the others get its value.
//!
//! - In the process, a [`Flight`] per key: waiters await its outcome.
//! - Across processes, a Redis lock `{key}:lock` (`SET NX PX`, random
//!   token), renewed while the holder computes and released by
//!   compare-and-delete. The holder's write is fenced: it lands only while
//!   the token still holds the lock, so a holder that lost its lease cannot
//!   overwrite a value written after it. Waiters in other processes are
//!   woken by a `cachekit:filled` message (with a backed-off re-check as a
//!   fallback), and give up after `fill_wait_ms` to compute themselves.
//! - Early refresh: probabilistic early expiration (XFetch) and
//!   stale-while-revalidate hand one caller a refresh lease together with
//!   the value it returns, bounded per namespace.
//! - Negative caching: a null result is cached only with `negative_ttl`.

mod lease;
mod lock;
mod refresh;

pub use lease::Lease;

use lock::{lock_ttl, release_lock_in_background, token, LockHold};
use refresh::{hit, l1_meta, refresh_due};
use crate::engine::{L2Fail, Namespace};
use crate::error::Result;
use crate::flight::{Flight, FlightOutcome};
use crate::keyspace;
use crate::l1::Bytes;
use crate::observe::{Level, NsStats};
use crate::reliability::Op;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The result of `Cache::fill`.
pub enum Fill {
    /// The value: return it.
    Hit(Bytes),
    /// The value, still good to return, and a lease to refresh it: return
    /// the value now and complete the lease in the background.
    Refresh(Bytes, Lease),
    /// Nothing cached: compute the value and complete the lease.
    Lease(Lease),
}

/// The miss path with stampede protection: the value if it is cached or
/// was filled by another caller (of this process or another) meanwhile,
/// or a [`Lease`] that makes this caller the one who computes. Blocks
/// while another caller computes the same key (up to `fill_wait_ms`).
pub(crate) fn fill(ns: &Namespace, operation: &str, args: &[u8]) -> Result<Fill> {
    let key = ns.key_shared(operation, args)?;
    if let Some(f) = l1_fill(ns, &key) {
        ns.trace(&key, "l1_hit");
        return Ok(f);
    }
    let f = ns.inner.client.block_on(fill_async(ns, key.to_string()))?;
    ns.trace(&key, match f {
        Fill::Hit(_) => "hit",
        Fill::Refresh(..) => "hit_refresh",
        Fill::Lease(_) => "miss",
    });
    Ok(f)
}

/// An L1 answer to a fill that needs no I/O: a hit with no early
/// refresh due. `None`: ask [`Cache::fill_async`] (a miss, or a refresh
/// is due and its lock must be taken).
pub(crate) fn l1_fill(ns: &Namespace, key: &str) -> Option<Fill> {
    let o = &ns.inner.options;
    if o.early_refresh_beta.is_none() && o.stale_while_revalidate == 0 {
        return ns.l1_get(key).map(Fill::Hit);
    }
    let (value, expires, refresh_at) = l1_meta(ns, key)?;
    (!refresh_due(ns, expires, refresh_at)).then_some(Fill::Hit(value))
}

/// A lease at once, without waiting or I/O, when there is no L2 to ask
/// and no other caller is filling `key`; `None` otherwise (use
/// [`Cache::fill_async`]).
pub(crate) fn try_lease_now(ns: &Namespace, key: &str) -> Option<Lease> {
    if ns.has_backend() {
        return None;
    }
    let flights = &ns.process().flights;
    let owned = flights.join(key).ok()?;
    if let Some(v) = ns.l1_get(key) {
        // Filled between the caller's L1 check and the join.
        flights.finish(key, &owned, FlightOutcome::Filled(v));
        return None;
    }
    NsStats::inc(&ns.inner.stats.fills);
    Some(Lease::new(ns, key.to_string(), Some(owned)))
}

/// As [`Cache::fill`] for async callers; `key` from [`Cache::key`].
pub(crate) async fn fill_async(ns: &Namespace, key: String) -> Result<Fill> {
    let wait = Duration::from_millis(ns.inner.options.fill_wait_ms);
    let deadline = Instant::now() + wait;
    // `read_lock_combined`: the process's leader reads and takes the lock
    // in one round trip and the others wait for it (see `lead_locked`):
    // a round trip less per miss, a Lua script per hit.
    let o = &ns.inner.options;
    let combined = o.read_lock_combined.unwrap_or_else(|| misses_dominate(ns))
        && o.distributed_lock
        && ns.process().backend.can_read_or_lock();
    loop {
        if let Some((v, expires, refresh_at)) = l1_meta(ns, &key) {
            return Ok(hit(ns, &key, v, expires, refresh_at).await);
        }
        if let Some(v) = ns.process().landings.value(&key) {
            return Ok(Fill::Hit(v)); // our own write of it is under way
        }
        if combined {
            match ns.process().flights.join(&key) {
                Ok(owned) => return lead_locked(ns, key, owned, deadline).await,
                Err(other) => match wait_flight(ns, &key, other, deadline, wait).await {
                    Some(f) => return Ok(f),
                    None => continue,
                },
            }
        }
        let read = ns.get_l2_entry(&key).await?;
        note_fill_read(ns, read.is_none());
        if let Some((v, remaining)) = read {
            let now = Instant::now();
            let expires = remaining.map(|r| now + r);
            let refresh_at = match (remaining, ns.swr().is_zero()) {
                (Some(r), false) => Some(now + r.saturating_sub(ns.swr())),
                _ => None,
            };
            return Ok(hit(ns, &key, v, expires, refresh_at).await);
        }
        let flights = &ns.process().flights;
        match flights.join(&key) {
            Ok(owned) => {
                // Re-check L1: a flight may have finished between our read and join.
                if let Some(v) = ns.l1_get(&key) {
                    flights.finish(&key, &owned, FlightOutcome::Filled(v.clone()));
                    return Ok(Fill::Hit(v));
                }
                return lead(ns, Lease::new(ns, key, Some(owned)), deadline, false).await;
            }
            Err(other) => match wait_flight(ns, &key, other, deadline, wait).await {
                Some(f) => return Ok(f),
                None => continue,
            },
        }
    }
}

/// Wait for this process's fill of `key` by another caller: its value,
/// a lease of our own after `fill_wait_ms`, or `None` when it gave up
/// (try again).
async fn wait_flight(ns: &Namespace, key: &str, other: Arc<Flight>, deadline: Instant, wait: Duration) -> Option<Fill> {
    NsStats::inc(&ns.inner.stats.fill_waits);
    match other.wait_until_async(deadline).await {
        Some(FlightOutcome::Filled(v)) => Some(Fill::Hit(v)),
        Some(FlightOutcome::Abandoned) => None,
        None => {
            NsStats::inc(&ns.inner.stats.fill_wait_timeouts);
            NsStats::inc(&ns.inner.stats.fills);
            ns.log(Level::Warning, "fill_wait_timeout", Some(key), "compute", Some(wait), None);
            Some(Fill::Lease(Lease::new(ns, key.to_string(), None)))
        }
    }
}

/// The leader of this process: read `key` and, if it is missing, take
/// the fill lock, in one round trip.
async fn lead_locked(ns: &Namespace, key: String, owned: Arc<Flight>, deadline: Instant) -> Result<Fill> {
    let i = &ns.inner;
    if let Some(v) = ns.l1_get(&key) {
        ns.process().flights.finish(&key, &owned, FlightOutcome::Filled(v.clone()));
        return Ok(Fill::Hit(v));
    }
    let mut lease = Lease::new(ns, key, Some(owned));
    let lock_key = keyspace::lock_key(&lease.key);
    let t = token();
    let r = ns
        .l2(Op::Get, Some(&lease.key), |b| async {
            b.read_or_lock(&lease.key, &lock_key, &t, lock_ttl(ns)).await.unwrap_or(Ok((None, false)))
        })
        .await;
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            // L2 is failing: fail-open (compute without the lock), or
            // report it when the namespace is fail-closed.
            ns.settle(Err(e), ())?;
            NsStats::inc(&i.stats.fills);
            return Ok(Fill::Lease(lease));
        }
    };
    note_fill_read(ns, r.0.is_none());
    match r {
        (Some(f), _) => match ns.accept_fetched(&lease.key, f).await? {
            Some((v, remaining)) => {
                lease.finish_flight(FlightOutcome::Filled(v.clone()));
                let now = Instant::now();
                let expires = remaining.map(|r| now + r);
                let refresh_at = match (remaining, ns.swr().is_zero()) {
                    (Some(r), false) => Some(now + r.saturating_sub(ns.swr())),
                    _ => None,
                };
                let key = lease.key.clone();
                drop(lease);
                Ok(hit(ns, &key, v, expires, refresh_at).await)
            }
            // A bad or foreign entry (counted, maybe deleted): fill it.
            None => lead(ns, lease, deadline, false).await,
        },
        (None, true) => {
            NsStats::inc(&i.stats.l2_misses);
            lease.lock = Some(LockHold::start(ns, lock_key, t));
            NsStats::inc(&i.stats.fills);
            Ok(Fill::Lease(lease))
        }
        (None, false) => {
            NsStats::inc(&i.stats.l2_misses);
            lead(ns, lease, deadline, true).await
        }
    }
}

/// This process fills `key`: take the cross-process lock, or wait for
/// the process that holds it.
async fn lead(ns: &Namespace, mut lease: Lease, deadline: Instant, lock_seen_taken: bool) -> Result<Fill> {
    let i = &ns.inner;
    if !ns.has_locks() || !i.options.distributed_lock {
        NsStats::inc(&i.stats.fills);
        return Ok(Fill::Lease(lease));
    }
    let lock_key = keyspace::lock_key(&lease.key);
    let mut waited = false;
    let mut taken = lock_seen_taken;
    loop {
        if !taken {
            let t = token();
            match ns.l2(Op::Lock, Some(&lease.key), |b| b.lock(&lock_key, &t, lock_ttl(ns))).await {
                Ok(true) => {
                    // The value may have landed between our read and the lock.
                    if waited {
                        if let Some(v) = ns.get_l2(&lease.key).await? {
                            let _ = ns.l2(Op::Unlock, None, |b| b.unlock(&lock_key, &t)).await;
                            lease.finish_flight(FlightOutcome::Filled(v.clone()));
                            return Ok(Fill::Hit(v));
                        }
                    }
                    lease.lock = Some(LockHold::start(ns, lock_key, t));
                    NsStats::inc(&i.stats.fills);
                    return Ok(Fill::Lease(lease));
                }
                Ok(false) => {}
                // L2 is failing: compute without the lock (fail-open).
                Err(e) => {
                    if matches!(e, L2Fail::Failed(_)) {
                        // Sent, so it may have landed all the same (its reply was lost).
                        release_lock_in_background(ns, lock_key, t, false);
                    }
                    NsStats::inc(&i.stats.fills);
                    return Ok(Fill::Lease(lease));
                }
            }
        }
        // Another process holds the lock: wait for its value.
        if !waited {
            NsStats::inc(&i.stats.lease_waits);
        }
        waited = true;
        match wait_remote(ns, &lease.key, &lock_key, deadline).await? {
            Remote::Value(v) => {
                lease.finish_flight(FlightOutcome::Filled(v.clone()));
                return Ok(Fill::Hit(v));
            }
            Remote::Gone => taken = false,
            Remote::Timeout => {
                NsStats::inc(&i.stats.lease_timeouts);
                NsStats::inc(&i.stats.fills);
                ns.log(Level::Warning, "lease_wait_timeout", Some(&lease.key), "compute", None, Some("another process held the fill lock past fill_wait_ms; computing without it"));
                return Ok(Fill::Lease(lease));
            }
        }
    }
}

/// Wait for another process's fill of `key`: woken by its
/// `cachekit:filled` message, re-checking with backoff in case the
/// message is lost. Never a tight loop.
async fn wait_remote(ns: &Namespace, key: &str, lock_key: &str, deadline: Instant) -> Result<Remote> {
    let notify = ns.process().signals.interest(key);
    // Ask the holder to announce its value (it publishes only when asked).
    let mark_ttl = lock_ttl(ns).max(deadline.saturating_duration_since(Instant::now()));
    let _ = ns.l2(Op::Lock, Some(key), |b| b.mark_waiting(key, mark_ttl)).await;
    let mut backoff = Duration::from_millis(5);
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(v) = ns.get_l2(key).await? {
            return Ok(Remote::Value(v));
        }
        match ns.l2(Op::LockHeld, Some(key), |b| b.exists(lock_key)).await {
            Ok(false) => return Ok(Remote::Gone),
            Ok(true) => {}
            Err(_) => return Ok(Remote::Timeout),
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Remote::Timeout);
        }
        let nap = backoff.min(deadline - now);
        if tokio::time::timeout(nap, notified).await.is_ok() {
            NsStats::inc(&ns.inner.stats.fill_announcements);
        }
        backoff = (backoff * 2).min(Duration::from_millis(200));
    }
}

/// Whether most of this namespace's recent fill reads missed.
fn misses_dominate(ns: &Namespace) -> bool {
    ns.inner.miss_share.load(Ordering::Relaxed) > 512
}

/// Feed one fill read's outcome to the moving share of misses.
fn note_fill_read(ns: &Namespace, missed: bool) {
    let m = &ns.inner.miss_share;
    let old = m.load(Ordering::Relaxed);
    // An eighth of the way towards 1024 (a miss) or 0 (a hit). A lost
    // update between threads only delays the estimate.
    let new = old - old / 8 + if missed { 128 } else { 0 };
    m.store(new.min(1024), Ordering::Relaxed);
}

/// Outcome of waiting for another process's fill.
enum Remote {
    Value(Bytes),
    /// The lock is gone without a value (the holder gave up): try again.
    Gone,
    Timeout,
}

