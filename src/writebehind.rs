//! Writes behind their callers (DESIGN section 2): a blocking lease
//! completion returns once L1 has the value, and its L2 write follows. This
//! module keeps the process's own reads and writes of such a key in order.

use crate::backend::BehindHandle;
use crate::l1::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    drain: std::sync::OnceLock<BehindHandle>,
}

impl Landing {
    /// Read the write's reply now if it waits on a caller's connection.
    fn drain(&self) {
        if let Some(h) = self.drain.get() {
            h.drain();
        }
    }
}

/// Ends a write behind when dropped (landed, failed, or abandoned).
pub(crate) struct LandingGuard {
    landings: Arc<Landings>,
    key: String,
    landing: Arc<Landing>,
}

impl LandingGuard {
    /// The write was sent on a caller's connection: whoever needs it to
    /// have ended reads its reply through `h`.
    pub(crate) fn drains_through(&self, h: BehindHandle) {
        let _ = self.landing.drain.set(h);
    }
}

impl Landings {
    /// A write of `key` with `value` goes behind its caller now; it ends
    /// when the guard drops.
    pub(crate) fn start(self: &Arc<Self>, key: &str, value: Bytes) -> LandingGuard {
        let landing = Arc::new(Landing { value, done: AtomicBool::new(false), notify: Default::default(), drain: Default::default() });
        self.count.fetch_add(1, Ordering::AcqRel);
        // A second write of the key (a lease that stopped waiting) replaces
        // the first here; each guard still counts itself out.
        self.map.lock().insert(key.to_string(), landing.clone());
        LandingGuard { landings: self.clone(), key: key.to_string(), landing }
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
        let landings = &self.landings;
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

