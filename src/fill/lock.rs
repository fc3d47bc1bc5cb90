//! The cross-process fill lock of a lease: taken with a random token,
//! renewed by one task per process while the holder computes, released by
//! compare-and-delete (or consumed by the fenced write).

use crate::engine::{HeldLock, HeldLocks, Namespace};
use crate::keyspace::{self, FILLED_CHANNEL};
use crate::reliability::Op;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How often the renewal task looks for locks due (a third of their TTL).
const RENEW_TICK: Duration = Duration::from_millis(50);

/// A random lock token.
pub(crate) fn token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The lease of a namespace's fill lock.
pub(crate) fn lock_ttl(ns: &Namespace) -> Duration {
    Duration::from_millis(ns.options().lock_ttl_ms)
}

/// The fill lock of a lease in Redis.
pub(crate) struct LockHold {
    ns: Namespace,
    pub(crate) lock_key: String,
    pub(crate) token: String,
    pub(crate) lost: Arc<AtomicBool>,
    /// This lease's entry in the process's renewal registry.
    renewal: Option<u64>,
    /// The lock was consumed by the fenced write (or is known to be gone).
    pub(crate) settled: bool,
}

impl LockHold {
    pub(crate) fn start(ns: &Namespace, lock_key: String, token: String) -> LockHold {
        let lost = Arc::new(AtomicBool::new(false));
        let ttl = lock_ttl(ns);
        let renewal = ns.options().lock_renewal.then(|| add(ns, &lock_key, &token, ttl, &lost));
        LockHold { ns: ns.clone(), lock_key, token, lost, renewal, settled: false }
    }

    pub(crate) fn stop_renewing(&mut self) {
        if let Some(id) = self.renewal.take() {
            self.ns.process().locks.leases.lock().remove(&id);
        }
    }
}

impl Drop for LockHold {
    fn drop(&mut self) {
        self.stop_renewing();
        if self.settled {
            return;
        }
        // Abandoned: release the lock and wake other processes' waiters so
        // that one of them takes over at once.
        let (k, t) = (std::mem::take(&mut self.lock_key), std::mem::take(&mut self.token));
        release_lock_in_background(&self.ns, k, t, true);
    }
}

/// Register a held lock for renewal; the process's renewal task starts on
/// first need.
fn add(ns: &Namespace, lock_key: &str, token: &str, ttl: Duration, lost: &Arc<AtomicBool>) -> u64 {
    let locks = &ns.process().locks;
    let id = locks.next.fetch_add(1, Ordering::Relaxed);
    let r = HeldLock { ns: ns.clone(), lock_key: lock_key.into(), token: token.into(), ttl, renewed: Instant::now(), lost: lost.clone() };
    locks.leases.lock().insert(id, r);
    if !locks.renewing.swap(true, Ordering::AcqRel) {
        ns.spawn(renew_loop(Arc::downgrade(ns.client())));
    }
    id
}

/// The renewal task: sees only the client's per-process state.
async fn renew_loop(weak: Weak<crate::engine::ClientCore>) {
    let mut tick = tokio::time::interval(RENEW_TICK);
    loop {
        tick.tick().await;
        let Some(client) = weak.upgrade() else { return };
        let due = due(&client.state().locks);
        drop(client);
        for (id, ns, k, t, ttl, lost) in due {
            match ns.l2(Op::Lock, Some(&k), |b| b.renew(&k, &t, ttl)).await {
                Ok(true) => {
                    if let Some(r) = ns.process().locks.leases.lock().get_mut(&id) {
                        r.renewed = Instant::now();
                    }
                }
                Ok(false) => {
                    lost.store(true, Ordering::Release);
                    ns.process().locks.leases.lock().remove(&id);
                }
                Err(_) => {} // transient: try again next tick
            }
        }
    }
}

type Due = (u64, Namespace, String, String, Duration, Arc<AtomicBool>);

/// The held locks a third of whose TTL has passed since their last renewal.
fn due(locks: &HeldLocks) -> Vec<Due> {
    locks
        .leases
        .lock()
        .iter()
        .filter(|(_, r)| r.renewed.elapsed() >= r.ttl / 3)
        .map(|(id, r)| (*id, r.ns.clone(), r.lock_key.clone(), r.token.clone(), r.ttl, r.lost.clone()))
        .collect()
}

/// Delete a fill lock of ours that no write will release, in the
/// background, so that nobody (this process included) waits its TTL
/// out for a fill that is not coming; `announce`: wake the waiters too.
///
/// Cleanup of what this process holds is not asked of the circuit
/// breaker: a breaker that opened (or ran out of half-open trials)
/// while the lock was held would otherwise leave it behind. Each try is
/// bounded by the socket timeout; a few tries, then the lock's TTL ends it.
pub(crate) fn release_lock_in_background(ns: &Namespace, lock_key: String, token: String, announce: bool) {
    let c = ns.clone();
    ns.spawn(async move {
        let state = c.process();
        let bound = c.client().config().socket_timeout();
        for nap in [Duration::from_millis(20), Duration::from_millis(200), Duration::from_millis(1000)] {
            if let Ok(Ok(_)) = tokio::time::timeout(bound, state.backend.unlock(&lock_key, &token)).await {
                if announce {
                    let key = keyspace::entry_of_lock(&lock_key);
                    let publish = state.backend.publish(FILLED_CHANNEL, key.as_bytes());
                    let _ = tokio::time::timeout(bound, publish).await;
                }
                return;
            }
            tokio::time::sleep(nap).await;
        }
    });
}
