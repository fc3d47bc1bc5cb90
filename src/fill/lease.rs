//! A lease: the duty to compute one missing value, and the way its value
//! reaches L1, this process's waiters and L2 (fenced by the fill lock,
//! and written behind the caller where the backend allows it).

use super::lock::LockHold;
use super::refresh::RefreshSlot;
use crate::backend::{BehindDone, BehindWrite};
use crate::engine::{L2Fail, Namespace};
use crate::error::Result;
use crate::flight::{Flight, FlightOutcome};
use crate::l1::Bytes;
use crate::observe::{Level, NsStats};
use crate::reliability::Op;
use crate::writebehind::LandingGuard;
use parking_lot::Mutex;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A grant to compute the value of one key. Complete it with the value, or
/// drop it (or call [`Lease::abort`]) when the computation failed: waiters
/// are then woken and one of them takes over. Errors are never cached.
pub struct Lease {
    ns: Namespace,
    pub(crate) key: String,
    pub(crate) flight: Option<Arc<Flight>>,
    /// The key `flight` is registered under (a refresh uses its own, so
    /// that readers of the stale value never wait for it).
    pub(crate) flight_key: Option<String>,
    pub(crate) lock: Option<LockHold>,
    started: Instant,
    pub(crate) refresh: Option<RefreshSlot>,
}

/// A completed lease's value, ready for L2.
struct Prepared {
    ns: Namespace,
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
    /// Set while the write is behind the caller (see `crate::writebehind`).
    landing: Option<LandingGuard>,
}

impl Lease {
    pub(crate) fn new(ns: &Namespace, key: String, flight: Option<Arc<Flight>>) -> Lease {
        Lease { ns: ns.clone(), key, flight, flight_key: None, lock: None, started: Instant::now(), refresh: None }
    }

    /// The full L2 key this lease is for.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether this lease holds the cross-process fill lock.
    pub fn holds_lock(&self) -> bool {
        self.lock.is_some()
    }

    pub(crate) fn finish_flight(&mut self, outcome: FlightOutcome) {
        if let Some(f) = self.flight.take() {
            let key = self.flight_key.as_deref().unwrap_or(&self.key);
            self.ns.process().flights.finish(key, &f, outcome);
        }
    }

    /// Encode the value and hand it to this process's waiters.
    fn prepare(mut self, value: &[u8], ttl: Option<Duration>) -> Result<Prepared> {
        let c = self.ns.clone();
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
            return Ok(Prepared { ns: c.clone(), key: std::mem::take(&mut self.key), seen, stored: None, ttl, lock: self.lock.take(), _refresh: self.refresh.take(), l1_done: false, landing: None });
        }
        match c.encode_for_l2(&self.key, value) {
            Ok((seen, stored)) => {
                self.finish_flight(FlightOutcome::Filled(seen.clone()));
                note_fill_duration(&c, self.started.elapsed());
                Ok(Prepared { ns: c.clone(), key: std::mem::take(&mut self.key), seen, stored: Some(stored), ttl, lock: self.lock.take(), _refresh: self.refresh.take(), l1_done: false, landing: None })
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
    /// own later writes of the key after it (see `crate::writebehind`); other
    /// processes wait on the fill lock, which the write releases. A failed
    /// write is counted and logged, as every fail-open error. Otherwise
    /// (fail-closed, or a custom backend) the write is made before this
    /// returns and its error is returned.
    pub fn complete(self, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.ns.client().check_open()?; // dropping the lease abandons it
        let cache = self.ns.clone();
        let key = self.key.clone();
        let behind = !cache.inner.options.fail_closed && cache.process().backend.writes_behind();
        match self.prepare(value, ttl) {
            Ok(p) if behind && p.stored.is_some() => {
                if let Err(p) = p.behind().send_behind() {
                    cache.spawn(async move {
                        let _ = p.commit().await;
                    });
                }
                Ok(())
            }
            Ok(p) => cache.block_on(p.commit()),
            Err(e) => {
                cache.forget_l2(&key);
                Err(e)
            }
        }
    }

    /// As [`Lease::complete`], without waiting for L2: the waiters and L1
    /// get the value before this returns (an encode error is returned now),
    /// and the L2 write is returned to run in the background (`None`: no L2).
    pub(crate) fn complete_behind(self, value: &[u8], ttl: Option<Duration>) -> Result<Option<impl std::future::Future<Output = Result<()>> + Send + 'static>> {
        let cache = self.ns.clone();
        let key = self.key.clone();
        match self.prepare(value, ttl) {
            Err(e) => {
                cache.forget_l2_in_background(&key);
                Err(e)
            }
            Ok(p) if !cache.has_backend() => cache.block_on(p.commit()).map(|()| None),
            Ok(p) => {
                let p = p.behind();
                Ok(Some(async move { p.commit().await }))
            }
        }
    }

    /// The namespace this lease is for.
    pub(crate) fn namespace(&self) -> &Namespace {
        &self.ns
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
            let c = &self.ns;
            c.l1_put(&self.key, &self.seen, stored, Some(c.l2_ttl(self.ttl)));
            self.l1_done = true;
            self.landing = Some(c.process().landings.start(&self.key, self.seen.clone()));
        }
        self
    }

    async fn commit(mut self) -> Result<()> {
        let c = self.ns.clone();
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
                    lost_lease(&c, &self.key, "the lock expired or was taken over while computing");
                    return Ok(());
                }
                let (key, lock_key, token) = (&self.key, &hold.lock_key, &hold.token);
                let r = c.l2(Op::Set, Some(key), |b| b.fenced_set(key, lock_key, token, &stored, l2_ttl)).await;
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
    fn conclude(mut self, r: std::result::Result<bool, L2Fail>) -> Result<()> {
        let c = self.ns.clone();
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
                lost_lease(&c, &self.key, "the lock was no longer ours at write time; a newer value wins");
                self.forget_early_l1();
                Ok(())
            }
            Err(e) => c.settle(Err(e), ()),
        }
    }

    /// Send the write on the calling thread's own Redis connection without
    /// waiting for its reply (`Backend::send_behind`): the reply is read
    /// before the thread's next command, or by whoever needs the write to
    /// have ended. `Err(self)` when that cannot be done now: use
    /// [`Prepared::commit`].
    fn send_behind(mut self) -> std::result::Result<(), Prepared> {
        let c = self.ns.clone();
        let state = c.process();
        if !state.backend.writes_behind() || self.stored.is_none() || self.lock.as_ref().is_some_and(|h| h.lost.load(Ordering::Acquire)) {
            return Err(self);
        }
        let rel = &c.inner.local().rel;
        let Ok(permit) = rel.admit(Op::Set.kind()) else { return Err(self) };
        if permit.is_trial() {
            // A half-open trial reports its latency: through the gate.
            rel.forgo(permit);
            return Err(self);
        }
        let l2_ttl = c.l2_ttl(self.ttl);
        let stored = self.stored.clone().expect("checked above");
        let key = self.key.clone();
        let fence = self.lock.as_mut().map(|hold| {
            hold.stop_renewing();
            (hold.lock_key.clone(), hold.token.clone())
        });
        let write = match &fence {
            Some((lock_key, token)) => BehindWrite::Fenced { key: &key, lock_key, token, value: &stored, ttl: l2_ttl },
            None => BehindWrite::Set { key: &key, value: &stored, ttl: l2_ttl },
        };
        let slot = Arc::new(Mutex::new(Some(self)));
        let owned = slot.clone();
        let done: BehindDone = Box::new(move |r| {
            if let Some(p) = owned.lock().take() {
                p.conclude_behind(r);
            }
        });
        let sent = state.backend.send_behind(&write, permit.timeout(), done);
        // The write's permit ends with the send; its reply is recorded by
        // the breaker, not the adaptive timeout (it may be read late).
        drop(permit);
        match sent {
            Ok(h) => {
                // Nobody can read the reply before the handle is known.
                if let Some(g) = slot.lock().as_ref().and_then(|p| p.landing.as_ref()) {
                    g.drains_through(h);
                }
                Ok(())
            }
            Err(_) => Err(slot.lock().take().expect("not sent, so not completed")),
        }
    }

    fn conclude_behind(self, r: crate::backend::L2Result<bool>) {
        let c = self.ns.clone();
        let rel = &c.inner.local().rel;
        let r = c.l2_report(Op::Set, Some(&self.key), None, r, |f| rel.record_outcome(f));
        let _ = self.conclude(r);
    }

    /// A lost lease: the value put in L1 early is older than what won.
    fn forget_early_l1(&self) {
        if self.l1_done {
            if let Some(l1) = self.ns.l1() {
                l1.remove(&self.key);
            }
        }
    }
}


/// Count and log a refused late write.
fn lost_lease(ns: &Namespace, key: &str, why: &str) {
    NsStats::inc(&ns.stats().lost_leases);
    ns.log(Level::Warning, "lease_lost", Some(key), "not_written", None, Some(why));
}

/// Moving average of fill durations (XFetch's delta).
fn note_fill_duration(ns: &Namespace, d: Duration) {
    let us = d.as_micros().min(u64::MAX as u128) as u64;
    let old = ns.inner.fill_micros.load(Ordering::Relaxed);
    let new = if old == 0 { us } else { (old * 7 + us) / 8 };
    ns.inner.fill_micros.store(new.max(1), Ordering::Relaxed);
}
