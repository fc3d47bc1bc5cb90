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

use crate::client::Cache;
use crate::error::Result;
use crate::l1::Bytes;
use crate::observe::{Level, NsStats};
use crate::reliability::OpKind;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a fill ended.
#[derive(Clone)]
pub enum FlightOutcome {
    /// The holder stored this value.
    Filled(Bytes),
    /// The holder gave up (its function raised): a waiter takes over.
    Abandoned,
}

/// One key being computed by one caller; waiters await its outcome.
#[derive(Default)]
pub struct Flight {
    outcome: Mutex<Option<FlightOutcome>>,
    notify: tokio::sync::Notify,
}

impl Flight {
    /// Async wait for the outcome until `deadline`; `None` on timeout.
    pub async fn wait_until_async(&self, deadline: Instant) -> Option<FlightOutcome> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Register interest before checking, so a finish in between is not lost.
            notified.as_mut().enable();
            if let Some(o) = self.outcome.lock().clone() {
                return Some(o);
            }
            let deadline = tokio::time::Instant::from_std(deadline);
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.outcome.lock().clone();
            }
        }
    }
}

/// The keys being filled in this process.
#[derive(Default)]
pub struct Flights {
    map: Mutex<HashMap<String, Arc<Flight>>>,
}

impl Flights {
    /// `Ok(flight)` if the caller now owns the fill of `key`, or
    /// `Err(flight)` of the caller that already does.
    pub fn join(&self, key: &str) -> std::result::Result<Arc<Flight>, Arc<Flight>> {
        let mut map = self.map.lock();
        if let Some(f) = map.get(key) {
            return Err(f.clone());
        }
        let f = Arc::new(Flight::default());
        map.insert(key.to_string(), f.clone());
        Ok(f)
    }

    /// End the owner's flight and wake every waiter.
    pub fn finish(&self, key: &str, flight: &Arc<Flight>, outcome: FlightOutcome) {
        {
            let mut map = self.map.lock();
            if map.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
                map.remove(key);
            }
        }
        *flight.outcome.lock() = Some(outcome);
        flight.notify.notify_waiters();
    }

    /// Keys being filled now.
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Values this process has returned to a caller whose L2 write is still
/// under way (a blocking lease completion writes behind: the caller does not
/// wait for the write's round trip). Until the write ends, this process's
/// reads of the key get the value from here, and its writes of the key
/// (set, delete, clear) wait for it, so a thread reads its own writes and
/// writes land in the order they were made. Other processes wait on the
/// fill lock, which the write releases.
#[derive(Default)]
pub(crate) struct Landings {
    map: Mutex<HashMap<String, Arc<Landing>>>,
    /// Writes under way; reads skip the map when there are none.
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

struct Landing {
    value: Bytes,
    done: AtomicBool,
    notify: tokio::sync::Notify,
    /// The connection whose reply ends the write, when it was sent behind
    /// on a caller's own connection.
    drain: std::sync::OnceLock<crate::backend::redis::DirectHandle>,
}

impl Landing {
    /// Read the write's reply now if it waits on a caller's connection.
    fn drain(&self) {
        if let Some(h) = self.drain.get() {
            crate::backend::redis::drain(h);
        }
    }
}

/// Ends a write behind when dropped (landed, failed, or abandoned).
pub(crate) struct LandingGuard {
    cache: Cache,
    key: String,
    landing: Arc<Landing>,
}

impl Landings {
    fn start(&self, cache: &Cache, key: &str, value: Bytes) -> LandingGuard {
        let landing = Arc::new(Landing { value, done: AtomicBool::new(false), notify: Default::default(), drain: Default::default() });
        self.count.fetch_add(1, Ordering::AcqRel);
        // A second write of the key (a lease that stopped waiting) replaces
        // the first here; each guard still counts itself out.
        self.map.lock().insert(key.to_string(), landing.clone());
        LandingGuard { cache: cache.clone(), key: key.to_string(), landing }
    }

    /// The value of a write of `key` still under way, if any.
    pub(crate) fn value(&self, key: &str) -> Option<Bytes> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let l = self.map.lock().get(key).cloned()?;
        // A write whose reply waits on another thread's idle connection
        // ends now, so a value is never served from here past its time.
        l.drain();
        (!l.done.load(Ordering::Acquire)).then(|| l.value.clone())
    }

    /// Wait (at most until `deadline`) until no write of `key` is under way.
    pub(crate) async fn settle_key(&self, key: &str, deadline: Instant) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let Some(l) = self.map.lock().get(key).cloned() else { return };
        l.drain();
        loop {
            let notified = l.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if l.done.load(Ordering::Acquire) {
                return;
            }
            let d = tokio::time::Instant::from_std(deadline);
            if tokio::time::timeout_at(d, notified).await.is_err() {
                return;
            }
        }
    }

    /// Wait (at most until `deadline`) until no write is under way.
    pub(crate) async fn settle_all(&self, deadline: Instant) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            let pending: Vec<Arc<Landing>> = self.map.lock().values().cloned().collect();
            for l in pending {
                l.drain();
            }
            // A connection busy with its owner's command is read by the
            // owner; look again shortly.
            let d = tokio::time::Instant::from_std(deadline.min(Instant::now() + Duration::from_millis(20)));
            let _ = tokio::time::timeout_at(d, notified).await;
            if Instant::now() >= deadline {
                return;
            }
        }
    }

    /// Writes under way now.
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

impl Drop for LandingGuard {
    fn drop(&mut self) {
        let landings = &self.cache.inner.client.state().landings;
        {
            let mut map = landings.map.lock();
            if map.get(&self.key).is_some_and(|l| Arc::ptr_eq(l, &self.landing)) {
                map.remove(&self.key);
            }
        }
        self.landing.done.store(true, Ordering::Release);
        self.landing.notify.notify_waiters();
        if landings.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            landings.idle.notify_waiters();
        }
    }
}

/// The result of [`Cache::fill`].
pub enum Fill {
    /// The value: return it.
    Hit(Bytes),
    /// The value, still good to return, and a lease to refresh it: return
    /// the value now and complete the lease in the background.
    Refresh(Bytes, Lease),
    /// Nothing cached: compute the value and complete the lease.
    Lease(Lease),
}

/// The fill lock of a lease in Redis.
struct LockHold {
    cache: Cache,
    lock_key: String,
    token: String,
    lost: Arc<AtomicBool>,
    /// This lease's entry in the process's renewal registry.
    renewal: Option<u64>,
    /// The lock was consumed by the fenced write (or is known to be gone).
    settled: bool,
}

impl LockHold {
    fn start(cache: &Cache, lock_key: String, token: String) -> LockHold {
        let lost = Arc::new(AtomicBool::new(false));
        let ttl = Duration::from_millis(cache.inner.options.lock_ttl_ms);
        let renewal = cache.inner.options.lock_renewal.then(|| {
            cache.inner.client.state().renewals.add(cache, &lock_key, &token, ttl, &lost)
        });
        LockHold { cache: cache.clone(), lock_key, token, lost, renewal, settled: false }
    }

    fn stop_renewing(&mut self) {
        if let Some(id) = self.renewal.take() {
            self.cache.inner.client.state().renewals.remove(id);
        }
    }
}

/// The fill locks this process holds, renewed by one task: a lease costs a
/// map insert, not a task (spawning one per fill wakes the runtime on every
/// miss).
#[derive(Default)]
pub(crate) struct Renewals {
    leases: Mutex<HashMap<u64, Renewal>>,
    next: std::sync::atomic::AtomicU64,
    started: AtomicBool,
}

struct Renewal {
    cache: Cache,
    lock_key: String,
    token: String,
    ttl: Duration,
    renewed: Instant,
    lost: Arc<AtomicBool>,
}

/// How often the renewal task looks for locks due (a third of their TTL).
const RENEW_TICK: Duration = Duration::from_millis(50);

impl Renewals {
    fn add(&self, cache: &Cache, lock_key: &str, token: &str, ttl: Duration, lost: &Arc<AtomicBool>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let r = Renewal { cache: cache.clone(), lock_key: lock_key.into(), token: token.into(), ttl, renewed: Instant::now(), lost: lost.clone() };
        self.leases.lock().insert(id, r);
        if !self.started.swap(true, Ordering::AcqRel) {
            let weak = cache.inner.client.downgrade();
            cache.inner.client.spawn(renew_loop(weak));
        }
        id
    }

    fn remove(&self, id: u64) {
        self.leases.lock().remove(&id);
    }
}

async fn renew_loop(weak: std::sync::Weak<crate::client::ClientInner>) {
    let mut tick = tokio::time::interval(RENEW_TICK);
    loop {
        tick.tick().await;
        let Some(client) = crate::client::Client::upgrade(&weak) else { return };
        let due: Vec<(u64, Cache, String, String, Duration, Arc<AtomicBool>)> = client
            .state()
            .renewals
            .leases
            .lock()
            .iter()
            .filter(|(_, r)| r.renewed.elapsed() >= r.ttl / 3)
            .map(|(id, r)| (*id, r.cache.clone(), r.lock_key.clone(), r.token.clone(), r.ttl, r.lost.clone()))
            .collect();
        drop(client);
        for (id, c, k, t, ttl, lost) in due {
            match c.l2(7, OpKind::Lock, Some(&k), |b| b.renew(&k, &t, ttl)).await {
                Ok(true) => {
                    if let Some(r) = c.inner.client.state().renewals.leases.lock().get_mut(&id) {
                        r.renewed = Instant::now();
                    }
                }
                Ok(false) => {
                    lost.store(true, Ordering::Release);
                    c.inner.client.state().renewals.remove(id);
                }
                Err(_) => {} // transient: try again next tick
            }
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
        self.cache.release_lock_in_background(k, t, true);
    }
}

/// Holds one of the namespace's background-refresh slots.
struct RefreshSlot(Cache);

impl Drop for RefreshSlot {
    fn drop(&mut self) {
        self.0.inner.refreshing.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A grant to compute the value of one key. Complete it with the value, or
/// drop it (or call [`Lease::abort`]) when the computation failed: waiters
/// are then woken and one of them takes over. Errors are never cached.
pub struct Lease {
    cache: Cache,
    key: String,
    flight: Option<Arc<Flight>>,
    /// The key `flight` is registered under (a refresh uses its own, so
    /// that readers of the stale value never wait for it).
    flight_key: Option<String>,
    lock: Option<LockHold>,
    started: Instant,
    refresh: Option<RefreshSlot>,
}

/// A completed lease's value, ready for L2.
struct Prepared {
    cache: Cache,
    key: String,
    seen: Bytes,
    /// `None`: not to be cached (a null result without `negative_ttl`).
    stored: Option<Vec<u8>>,
    ttl: Duration,
    lock: Option<LockHold>,
    _refresh: Option<RefreshSlot>,
    /// L1 already has the value (a background completion puts it there at
    /// once, so the caller's next call hits).
    l1_done: bool,
    /// Set while the write is behind the caller (see [`Landings`]).
    landing: Option<LandingGuard>,
}

impl Lease {
    fn new(cache: &Cache, key: String, flight: Option<Arc<Flight>>) -> Lease {
        Lease { cache: cache.clone(), key, flight, flight_key: None, lock: None, started: Instant::now(), refresh: None }
    }

    /// The full L2 key this lease is for.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether this lease holds the cross-process fill lock.
    pub fn holds_lock(&self) -> bool {
        self.lock.is_some()
    }

    fn finish_flight(&mut self, outcome: FlightOutcome) {
        if let Some(f) = self.flight.take() {
            let key = self.flight_key.as_deref().unwrap_or(&self.key);
            self.cache.inner.client.state().flights.finish(key, &f, outcome);
        }
    }

    /// Encode the value and hand it to this process's waiters.
    fn prepare(mut self, value: &[u8], ttl: Option<Duration>) -> Result<Prepared> {
        let c = self.cache.clone();
        let o = &c.inner.options;
        let is_null = value == [0xc0] && o.serializer == "msgpack";
        let ttl = match (is_null, o.negative_ttl) {
            (true, Some(n)) => Duration::from_secs(n),
            _ => ttl.unwrap_or(c.inner.ttl),
        };
        if is_null && o.negative_ttl.is_none() {
            NsStats::inc(&c.inner.stats.nulls_not_cached);
            let seen: Bytes = value.into();
            self.finish_flight(FlightOutcome::Filled(seen.clone()));
            return Ok(Prepared { cache: c.clone(), key: std::mem::take(&mut self.key), seen, stored: None, ttl, lock: self.lock.take(), _refresh: self.refresh.take(), l1_done: false, landing: None });
        }
        match c.encode_for_l2(&self.key, value) {
            Ok((seen, stored)) => {
                self.finish_flight(FlightOutcome::Filled(seen.clone()));
                c.note_fill_duration(self.started.elapsed());
                Ok(Prepared { cache: c.clone(), key: std::mem::take(&mut self.key), seen, stored: Some(stored), ttl, lock: self.lock.take(), _refresh: self.refresh.take(), l1_done: false, landing: None })
            }
            Err(e) => {
                self.finish_flight(FlightOutcome::Abandoned);
                Err(e)
            }
        }
    }

    /// Store `value` (bytes of the namespace's serializer) with `ttl` (the
    /// namespace default if `None`) and hand it to every waiter.
    ///
    /// With Redis as L2 and the namespace fail-open, the L2 write happens
    /// behind the caller: this returns once L1 has the value, and until the
    /// write ends this process reads the value from memory and orders its
    /// own later writes of the key after it (see [`Landings`]); other
    /// processes wait on the fill lock, which the write releases. A failed
    /// write is counted and logged, as every fail-open error. Otherwise
    /// (fail-closed, or a custom backend) the write is made before this
    /// returns and its error is returned.
    pub fn complete(self, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let cache = self.cache.clone();
        let key = self.key.clone();
        let behind = !cache.inner.options.fail_closed && matches!(cache.inner.client.state().backend, crate::backend::Backend::Redis(_));
        match self.prepare(value, ttl) {
            Ok(p) if behind && p.stored.is_some() => {
                if let Err(p) = p.behind().send_behind() {
                    cache.inner.client.spawn(async move {
                        let _ = p.commit().await;
                    });
                }
                Ok(())
            }
            Ok(p) => cache.inner.client.block_on(p.commit()),
            Err(e) => {
                cache.forget_l2(&key);
                Err(e)
            }
        }
    }

    /// As [`Lease::complete`], without waiting for L2: the waiters get the
    /// value before this returns; L1 and L2 are written in the background
    /// and `done` is called with the result.
    pub fn complete_in_background(self, value: &[u8], ttl: Option<Duration>, done: impl FnOnce(Result<()>) + Send + 'static) {
        let cache = self.cache.clone();
        let key = self.key.clone();
        match self.prepare(value, ttl) {
            Err(e) => {
                cache.forget_l2_in_background(&key);
                done(Err(e))
            }
            Ok(p) if !cache.has_backend() => {
                let r = cache.inner.client.block_on(p.commit());
                done(r)
            }
            Ok(p) => {
                let p = p.behind();
                cache.inner.client.clone().spawn(async move { done(p.commit().await) });
            }
        }
    }

    /// Give the lease up without a value.
    pub fn abort(self) {}
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.finish_flight(FlightOutcome::Abandoned);
    }
}

impl Prepared {
    /// Ready to be written behind the caller: L1 has the value now and this
    /// process's readers get it until the write ends.
    fn behind(mut self) -> Prepared {
        if let Some(stored) = &self.stored {
            let c = &self.cache;
            c.l1_put(&self.key, &self.seen, stored, Some(c.l2_ttl(self.ttl)));
            self.l1_done = true;
            self.landing = Some(c.inner.client.state().landings.start(c, &self.key, self.seen.clone()));
        }
        self
    }

    async fn commit(mut self) -> Result<()> {
        let c = self.cache.clone();
        let Some(stored) = self.stored.take() else {
            return Ok(()); // dropping the lock hold releases it
        };
        let l2_ttl = c.l2_ttl(self.ttl);
        match self.lock.as_mut() {
            Some(hold) if c.has_backend() => {
                hold.stop_renewing();
                if hold.lost.load(Ordering::Acquire) {
                    hold.settled = true;
                    self.forget_early_l1();
                    c.lost_lease(&self.key, "the lock expired or was taken over while computing");
                    return Ok(());
                }
                let (key, lock_key, token) = (&self.key, &hold.lock_key, &hold.token);
                let r = c.l2(1, OpKind::Data, Some(key), |b| b.fenced_set(key, lock_key, token, &stored, l2_ttl)).await;
                self.stored = Some(stored);
                self.conclude(r)
            }
            _ => {
                if !self.l1_done {
                    c.l1_put(&self.key, &self.seen, &stored, Some(l2_ttl));
                }
                c.write_l2(&self.key, stored, self.ttl).await
            }
        }
    }

    /// The end of the L2 write: `Ok(true)` written, `Ok(false)` refused by
    /// the fence (the lease was lost meanwhile), or the failure.
    fn conclude(mut self, r: std::result::Result<bool, crate::client::L2Fail>) -> Result<()> {
        let c = self.cache.clone();
        if let (Some(hold), true) = (self.lock.as_mut(), r.is_ok()) {
            hold.settled = true; // the write released the lock (or it was gone)
        }
        if let (false, Some(stored), false) = (self.l1_done, &self.stored, matches!(r, Ok(false))) {
            c.l1_put(&self.key, &self.seen, stored, Some(c.l2_ttl(self.ttl)));
        }
        match r {
            // A fenced write also announced the fill to waiters.
            Ok(true) => Ok(()),
            Ok(false) => {
                c.lost_lease(&self.key, "the lock was no longer ours at write time; a newer value wins");
                self.forget_early_l1();
                Ok(())
            }
            Err(e) => c.settle(Err(e), ()),
        }
    }

    /// Send the write on the calling thread's own Redis connection without
    /// waiting for its reply (`RedisBackend::send_behind`): the reply is
    /// read before the thread's next command, or by whoever needs the write
    /// to have ended. `Err(self)` when that cannot be done now: use
    /// [`Prepared::commit`].
    fn send_behind(mut self) -> std::result::Result<(), Prepared> {
        let c = self.cache.clone();
        let state = c.inner.client.state();
        let crate::backend::Backend::Redis(b) = &state.backend else { return Err(self) };
        if self.stored.is_none() || self.lock.as_ref().is_some_and(|h| h.lost.load(Ordering::Acquire)) {
            return Err(self);
        }
        let rel = &c.inner.local().rel;
        let Ok(permit) = rel.admit(OpKind::Data) else { return Err(self) };
        if permit.is_trial() {
            // A half-open trial reports its latency: through the gate.
            rel.forgo(permit);
            return Err(self);
        }
        let l2_ttl = c.l2_ttl(self.ttl);
        let stored = self.stored.as_deref().expect("checked above");
        let (packed, eval) = match self.lock.as_mut() {
            Some(hold) => {
                hold.stop_renewing();
                let (sha, eval) = b.fenced_set_packed(&self.key, &hold.lock_key, &hold.token, stored, l2_ttl);
                (sha, Some(eval))
            }
            None => (b.set_packed(&self.key, stored, l2_ttl), None),
        };
        let fenced = self.lock.is_some();
        let landing = self.landing.as_ref().map(|g| g.landing.clone());
        let slot = Arc::new(Mutex::new(Some(self)));
        let owned = slot.clone();
        let done: crate::backend::redis::OwedDone = Box::new(move |r| {
            if let Some(p) = owned.lock().take() {
                p.conclude_behind(r, fenced);
            }
        });
        let sent = crate::backend::redis::as_blocking_caller(|| b.send_behind(&packed, eval, permit.timeout(), done));
        // The write's permit ends with the send; its reply is recorded by
        // the breaker, not the adaptive timeout (it may be read late).
        drop(permit);
        match sent {
            Ok(h) => {
                if let Some(l) = landing {
                    let _ = l.drain.set(h);
                }
                Ok(())
            }
            Err(_) => Err(slot.lock().take().expect("not sent, so not completed")),
        }
    }

    fn conclude_behind(self, r: crate::backend::L2Result<redis::Value>, fenced: bool) {
        let c = self.cache.clone();
        let r = r.and_then(|v| match (fenced, v) {
            (false, _) => Ok(true),
            (true, redis::Value::Int(n)) => Ok(n == 1),
            (true, other) => Err(crate::backend::L2Error {
                class: crate::backend::ErrorClass::Permanent,
                message: format!("the fenced write answered {other:?}"),
            }),
        });
        let rel = &c.inner.local().rel;
        let r = c.l2_report(1, Some(&self.key), None, r, |f| rel.record_outcome(f));
        let _ = self.conclude(r);
    }

    /// A lost lease: the value put in L1 early is older than what won.
    fn forget_early_l1(&self) {
        if self.l1_done {
            if let Some(l1) = self.cache.l1() {
                l1.remove(&self.key);
            }
        }
    }
}

/// Outcome of waiting for another process's fill.
enum Remote {
    Value(Bytes),
    /// The lock is gone without a value (the holder gave up): try again.
    Gone,
    Timeout,
}

fn token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl Cache {
    /// The miss path with stampede protection: the value if it is cached or
    /// was filled by another caller (of this process or another) meanwhile,
    /// or a [`Lease`] that makes this caller the one who computes. Blocks
    /// while another caller computes the same key (up to `fill_wait_ms`).
    pub fn fill(&self, operation: &str, args: &[u8]) -> Result<Fill> {
        let key = self.key_shared(operation, args)?;
        if let Some(f) = self.l1_fill(&key) {
            self.trace(&key, "l1_hit");
            return Ok(f);
        }
        let f = self.inner.client.block_on(self.fill_async(key.to_string()))?;
        self.trace(&key, match f {
            Fill::Hit(_) => "hit",
            Fill::Refresh(..) => "hit_refresh",
            Fill::Lease(_) => "miss",
        });
        Ok(f)
    }

    /// An L1 answer to a fill that needs no I/O: a hit with no early
    /// refresh due. `None`: ask [`Cache::fill_async`] (a miss, or a refresh
    /// is due and its lock must be taken).
    pub fn l1_fill(&self, key: &str) -> Option<Fill> {
        let o = &self.inner.options;
        if o.early_refresh_beta.is_none() && o.stale_while_revalidate == 0 {
            return self.l1_get(key).map(Fill::Hit);
        }
        let (value, expires, refresh_at) = self.l1_meta(key)?;
        (!self.refresh_due(expires, refresh_at)).then_some(Fill::Hit(value))
    }

    /// L1 value with its expiry and refresh time (decrypted if need be).
    fn l1_meta(&self, key: &str) -> Option<(Bytes, Option<Instant>, Option<Instant>)> {
        let (stored, expires, refresh_at) = self.l1()?.get_meta(key)?;
        let value = if self.l1_keeps_ciphertext() { self.l1_get(key)? } else { stored };
        Some((value, expires, refresh_at))
    }

    /// A hit, or a hit with a refresh lease when early refresh is due.
    async fn hit(&self, key: &str, value: Bytes, expires: Option<Instant>, refresh_at: Option<Instant>) -> Fill {
        if self.refresh_due(expires, refresh_at) {
            if let Some(lease) = self.try_refresh_lease(key).await {
                return Fill::Refresh(value, lease);
            }
        }
        Fill::Hit(value)
    }

    fn refresh_due(&self, expires: Option<Instant>, refresh_at: Option<Instant>) -> bool {
        let now = Instant::now();
        if refresh_at.is_some_and(|r| now >= r) {
            return true; // stale-while-revalidate: past the fresh TTL
        }
        let (Some(beta), Some(exp)) = (self.inner.options.early_refresh_beta, expires) else { return false };
        // XFetch: refresh when now - delta * beta * ln(U) >= expiry.
        let delta = self.inner.fill_micros.load(Ordering::Relaxed) as f64 / 1e6;
        if delta <= 0.0 {
            return false;
        }
        let logical_expiry = exp.checked_sub(self.swr()).unwrap_or(exp);
        let u: f64 = rand::random::<f64>().max(f64::MIN_POSITIVE);
        logical_expiry.saturating_duration_since(now).as_secs_f64() <= delta * beta * -u.ln()
    }

    /// One refresh lease for `key` if a slot is free and no one else
    /// (in this process or another) is refreshing it.
    async fn try_refresh_lease(&self, key: &str) -> Option<Lease> {
        let i = &self.inner;
        if i.refreshing.fetch_add(1, Ordering::AcqRel) >= i.options.max_background_refreshes {
            i.refreshing.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let slot = RefreshSlot(self.clone());
        // One refresh per key in this process, tracked apart from fills so
        // that readers keep getting the stale value meanwhile.
        let refresh_key = format!("{key}\0refresh");
        let flight = i.client.state().flights.join(&refresh_key).ok()?;
        let mut lease = Lease::new(self, key.to_string(), Some(flight));
        lease.flight_key = Some(refresh_key);
        lease.refresh = Some(slot);
        if self.has_locks() && i.options.distributed_lock {
            let lock_key = format!("{key}:lock");
            let t = token();
            let got = self.l2(7, OpKind::Lock, Some(key), |b| b.lock(&lock_key, &t, self.lock_ttl())).await;
            match got {
                Ok(true) => lease.lock = Some(LockHold::start(self, lock_key, t)),
                Ok(false) => return None, // another process refreshes it
                Err(_) => return None,    // L2 is struggling: no refresh now
            }
        }
        NsStats::inc(&i.stats.early_refreshes);
        Some(lease)
    }

    fn lock_ttl(&self) -> Duration {
        Duration::from_millis(self.inner.options.lock_ttl_ms)
    }

    /// A lease at once, without waiting or I/O, when there is no L2 to ask
    /// and no other caller is filling `key`; `None` otherwise (use
    /// [`Cache::fill_async`]).
    pub fn try_lease_now(&self, key: &str) -> Option<Lease> {
        if self.has_backend() {
            return None;
        }
        let flights = &self.inner.client.state().flights;
        let owned = flights.join(key).ok()?;
        if let Some(v) = self.l1_get(key) {
            // Filled between the caller's L1 check and the join.
            flights.finish(key, &owned, FlightOutcome::Filled(v));
            return None;
        }
        NsStats::inc(&self.inner.stats.fills);
        Some(Lease::new(self, key.to_string(), Some(owned)))
    }

    /// As [`Cache::fill`] for async callers; `key` from [`Cache::key`].
    pub async fn fill_async(&self, key: String) -> Result<Fill> {
        let wait = Duration::from_millis(self.inner.options.fill_wait_ms);
        let deadline = Instant::now() + wait;
        // `read_lock_combined`: the process's leader reads and takes the lock
        // in one round trip and the others wait for it (see `lead_locked`):
        // a round trip less per miss, a Lua script per hit.
        let o = &self.inner.options;
        let combined = o.read_lock_combined.unwrap_or_else(|| self.misses_dominate())
            && o.distributed_lock
            && matches!(self.inner.client.state().backend, crate::backend::Backend::Redis(_));
        loop {
            if let Some((v, expires, refresh_at)) = self.l1_meta(&key) {
                return Ok(self.hit(&key, v, expires, refresh_at).await);
            }
            if let Some(v) = self.inner.client.state().landings.value(&key) {
                return Ok(Fill::Hit(v)); // our own write of it is under way
            }
            if combined {
                match self.inner.client.state().flights.join(&key) {
                    Ok(owned) => return self.lead_locked(key, owned, deadline).await,
                    Err(other) => match self.wait_flight(&key, other, deadline, wait).await {
                        Some(f) => return Ok(f),
                        None => continue,
                    },
                }
            }
            let read = self.get_l2_entry(&key).await?;
            self.note_fill_read(read.is_none());
            if let Some((v, remaining)) = read {
                let now = Instant::now();
                let expires = remaining.map(|r| now + r);
                let refresh_at = match (remaining, self.swr().is_zero()) {
                    (Some(r), false) => Some(now + r.saturating_sub(self.swr())),
                    _ => None,
                };
                return Ok(self.hit(&key, v, expires, refresh_at).await);
            }
            let flights = &self.inner.client.state().flights;
            match flights.join(&key) {
                Ok(owned) => {
                    // Re-check L1: a flight may have finished between our read and join.
                    if let Some(v) = self.l1_get(&key) {
                        flights.finish(&key, &owned, FlightOutcome::Filled(v.clone()));
                        return Ok(Fill::Hit(v));
                    }
                    return self.lead(Lease::new(self, key, Some(owned)), deadline, false).await;
                }
                Err(other) => match self.wait_flight(&key, other, deadline, wait).await {
                    Some(f) => return Ok(f),
                    None => continue,
                },
            }
        }
    }

    /// Wait for this process's fill of `key` by another caller: its value,
    /// a lease of our own after `fill_wait_ms`, or `None` when it gave up
    /// (try again).
    async fn wait_flight(&self, key: &str, other: Arc<Flight>, deadline: Instant, wait: Duration) -> Option<Fill> {
        NsStats::inc(&self.inner.stats.fill_waits);
        match other.wait_until_async(deadline).await {
            Some(FlightOutcome::Filled(v)) => Some(Fill::Hit(v)),
            Some(FlightOutcome::Abandoned) => None,
            None => {
                NsStats::inc(&self.inner.stats.fill_wait_timeouts);
                NsStats::inc(&self.inner.stats.fills);
                self.log(Level::Warning, "fill_wait_timeout", Some(key), "compute", Some(wait), None);
                Some(Fill::Lease(Lease::new(self, key.to_string(), None)))
            }
        }
    }

    /// The leader of this process: read `key` and, if it is missing, take
    /// the fill lock, in one round trip.
    async fn lead_locked(&self, key: String, owned: Arc<Flight>, deadline: Instant) -> Result<Fill> {
        let i = &self.inner;
        if let Some(v) = self.l1_get(&key) {
            i.client.state().flights.finish(&key, &owned, FlightOutcome::Filled(v.clone()));
            return Ok(Fill::Hit(v));
        }
        let mut lease = Lease::new(self, key, Some(owned));
        let lock_key = format!("{}:lock", lease.key);
        let t = token();
        let r = self
            .l2(0, OpKind::Data, Some(&lease.key), |b| async {
                b.read_or_lock(&lease.key, &lock_key, &t, self.lock_ttl()).await.unwrap_or(Ok((None, false)))
            })
            .await;
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                // L2 is failing: fail-open (compute without the lock), or
                // report it when the namespace is fail-closed.
                self.settle(Err(e), ())?;
                NsStats::inc(&i.stats.fills);
                return Ok(Fill::Lease(lease));
            }
        };
        self.note_fill_read(r.0.is_none());
        match r {
            (Some(f), _) => match self.accept_fetched(&lease.key, f).await? {
                Some((v, remaining)) => {
                    lease.finish_flight(FlightOutcome::Filled(v.clone()));
                    let now = Instant::now();
                    let expires = remaining.map(|r| now + r);
                    let refresh_at = match (remaining, self.swr().is_zero()) {
                        (Some(r), false) => Some(now + r.saturating_sub(self.swr())),
                        _ => None,
                    };
                    let key = lease.key.clone();
                    drop(lease);
                    Ok(self.hit(&key, v, expires, refresh_at).await)
                }
                // A bad or foreign entry (counted, maybe deleted): fill it.
                None => self.lead(lease, deadline, false).await,
            },
            (None, true) => {
                NsStats::inc(&i.stats.l2_misses);
                lease.lock = Some(LockHold::start(self, lock_key, t));
                NsStats::inc(&i.stats.fills);
                Ok(Fill::Lease(lease))
            }
            (None, false) => {
                NsStats::inc(&i.stats.l2_misses);
                self.lead(lease, deadline, true).await
            }
        }
    }

    /// This process fills `key`: take the cross-process lock, or wait for
    /// the process that holds it.
    async fn lead(&self, mut lease: Lease, deadline: Instant, lock_seen_taken: bool) -> Result<Fill> {
        let i = &self.inner;
        if !self.has_locks() || !i.options.distributed_lock {
            NsStats::inc(&i.stats.fills);
            return Ok(Fill::Lease(lease));
        }
        let lock_key = format!("{}:lock", lease.key);
        let mut waited = false;
        let mut taken = lock_seen_taken;
        loop {
            if !taken {
                let t = token();
                match self.l2(7, OpKind::Lock, Some(&lease.key), |b| b.lock(&lock_key, &t, self.lock_ttl())).await {
                    Ok(true) => {
                        // The value may have landed between our read and the lock.
                        if waited {
                            if let Some(v) = self.get_l2(&lease.key).await? {
                                let _ = self.l2(8, OpKind::Lock, None, |b| b.unlock(&lock_key, &t)).await;
                                lease.finish_flight(FlightOutcome::Filled(v.clone()));
                                return Ok(Fill::Hit(v));
                            }
                        }
                        lease.lock = Some(LockHold::start(self, lock_key, t));
                        NsStats::inc(&i.stats.fills);
                        return Ok(Fill::Lease(lease));
                    }
                    Ok(false) => {}
                    // L2 is failing: compute without the lock (fail-open).
                    Err(e) => {
                        if matches!(e, crate::client::L2Fail::Failed(_)) {
                            // Sent, so it may have landed all the same (its reply was lost).
                            self.release_lock_in_background(lock_key, t, false);
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
            match self.wait_remote(&lease.key, &lock_key, deadline).await? {
                Remote::Value(v) => {
                    lease.finish_flight(FlightOutcome::Filled(v.clone()));
                    return Ok(Fill::Hit(v));
                }
                Remote::Gone => taken = false,
                Remote::Timeout => {
                    NsStats::inc(&i.stats.lease_timeouts);
                    NsStats::inc(&i.stats.fills);
                    self.log(Level::Warning, "lease_wait_timeout", Some(&lease.key), "compute", None, Some("another process held the fill lock past fill_wait_ms; computing without it"));
                    return Ok(Fill::Lease(lease));
                }
            }
        }
    }

    /// Delete a fill lock of ours that no write will release, in the
    /// background, so that nobody (this process included) waits its TTL
    /// out for a fill that is not coming; `announce`: wake the waiters too.
    ///
    /// Cleanup of what this process holds is not asked of the circuit
    /// breaker: a breaker that opened (or ran out of half-open trials)
    /// while the lock was held would otherwise leave it behind. Each try is
    /// bounded by the socket timeout; a few tries, then the lock's TTL ends it.
    pub(crate) fn release_lock_in_background(&self, lock_key: String, token: String, announce: bool) {
        let c = self.clone();
        self.inner.client.spawn(async move {
            let state = c.inner.client.state();
            let bound = c.inner.client.config().socket_timeout();
            for nap in [Duration::from_millis(20), Duration::from_millis(200), Duration::from_millis(1000)] {
                if let Ok(Ok(_)) = tokio::time::timeout(bound, state.backend.unlock(&lock_key, &token)).await {
                    if announce {
                        let key = lock_key.strip_suffix(":lock").unwrap_or(&lock_key);
                        let publish = state.backend.publish(crate::invalidate::FILLED_CHANNEL, key.as_bytes());
                        let _ = tokio::time::timeout(bound, publish).await;
                    }
                    return;
                }
                tokio::time::sleep(nap).await;
            }
        });
    }

    /// Wait for another process's fill of `key`: woken by its
    /// `cachekit:filled` message, re-checking with backoff in case the
    /// message is lost. Never a tight loop.
    async fn wait_remote(&self, key: &str, lock_key: &str, deadline: Instant) -> Result<Remote> {
        let notify = self.inner.client.state().hub.interest(key);
        // Ask the holder to announce its value (it publishes only when asked).
        let mark_ttl = self.lock_ttl().max(deadline.saturating_duration_since(Instant::now()));
        let _ = self.l2(7, OpKind::Lock, Some(key), |b| b.mark_waiting(key, mark_ttl)).await;
        let mut backoff = Duration::from_millis(5);
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(v) = self.get_l2(key).await? {
                return Ok(Remote::Value(v));
            }
            match self.l2(3, OpKind::Lock, Some(key), |b| b.exists(lock_key)).await {
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
                NsStats::inc(&self.inner.stats.fill_announcements);
            }
            backoff = (backoff * 2).min(Duration::from_millis(200));
        }
    }

    /// Whether most of this namespace's recent fill reads missed.
    fn misses_dominate(&self) -> bool {
        self.inner.miss_share.load(Ordering::Relaxed) > 512
    }

    /// Feed one fill read's outcome to the moving share of misses.
    fn note_fill_read(&self, missed: bool) {
        let m = &self.inner.miss_share;
        let old = m.load(Ordering::Relaxed);
        // An eighth of the way towards 1024 (a miss) or 0 (a hit). A lost
        // update between threads only delays the estimate.
        let new = old - old / 8 + if missed { 128 } else { 0 };
        m.store(new.min(1024), Ordering::Relaxed);
    }

    /// Count and log a refused late write.
    fn lost_lease(&self, key: &str, why: &str) {
        NsStats::inc(&self.inner.stats.lost_leases);
        self.log(Level::Warning, "lease_lost", Some(key), "not_written", None, Some(why));
    }

    /// Moving average of fill durations (XFetch's delta).
    fn note_fill_duration(&self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        let old = self.inner.fill_micros.load(Ordering::Relaxed);
        let new = if old == 0 { us } else { (old * 7 + us) / 8 };
        self.inner.fill_micros.store(new.max(1), Ordering::Relaxed);
    }
}

