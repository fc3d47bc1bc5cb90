//! Per-process state of a client, rebuilt after a fork: the runtime, the
//! backend, the writes behind, and the registries the miss path and the
//! subscriber share (fills, held locks, waiters of other processes' fills).

use super::Namespace;
use crate::backend::foreign::ForeignBackend;
use crate::backend::Backend;
use crate::config::Config;
use crate::flight::Flights;
use crate::observe;
use crate::runtime::Runtime;
use crate::writebehind::Landings;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub(crate) struct Process {
    pub(crate) runtime: Runtime,
    pub(crate) backend: Backend,
    /// Why the backend could not be set up, if it could not.
    pub(crate) backend_error: Option<String>,
    pub(crate) landings: Arc<Landings>,
    pub(crate) flights: Flights,
    pub(crate) locks: HeldLocks,
    pub(crate) signals: Signals,
    /// Marks this process's own invalidation messages: their effect is
    /// applied already, and applying them late could evict an entry filled since.
    pub(crate) origin: String,
    /// The subscriber of this process was started.
    pub(crate) listening: AtomicBool,
    /// A Redis Cluster's nodes as last seen, for the metrics.
    pub(crate) nodes: super::health::NodeSnapshot,
}

impl Process {
    pub(crate) fn new(cfg: &Config, foreign: Option<&ForeignBackend>) -> Process {
        let mut st = Process {
            runtime: Runtime::default(),
            backend: Backend::None,
            backend_error: None,
            landings: Default::default(),
            flights: Flights::default(),
            locks: Default::default(),
            signals: Default::default(),
            origin: hex::encode(rand::random::<[u8; 8]>()),
            listening: AtomicBool::new(false),
            nodes: Default::default(),
        };
        if let Some(f) = foreign {
            st.backend = Backend::Foreign(f.clone());
            return st;
        }
        let Some(url) = cfg.redis_url.clone() else { return st };
        match Runtime::start() {
            Ok(rt) => st.runtime = rt,
            Err(e) => {
                let msg = format!("cannot start the I/O runtime: {e}; running L1-only");
                observe::warn("runtime_failed", "-", &msg);
                st.backend_error = Some(msg);
                return st;
            }
        }
        match st.runtime.enter(|| Backend::redis(cfg, &url)) {
            Ok(b) => st.backend = b,
            Err(msg) => {
                observe::warn("backend_failed", "-", &msg);
                st.backend_error = Some(msg);
            }
        }
        st
    }
}

/// The fill locks this process holds, renewed by one task (see
/// `fill::lock`): a lease costs a map insert, not a task.
#[derive(Default)]
pub(crate) struct HeldLocks {
    pub(crate) leases: Mutex<HashMap<u64, HeldLock>>,
    pub(crate) next: AtomicU64,
    /// The renewal task was started.
    pub(crate) renewing: AtomicBool,
}

/// One fill lock held by this process.
pub(crate) struct HeldLock {
    pub(crate) ns: Namespace,
    pub(crate) lock_key: String,
    pub(crate) token: String,
    pub(crate) ttl: Duration,
    pub(crate) renewed: Instant,
    /// Set when a renewal found the lock taken by someone else.
    pub(crate) lost: Arc<AtomicBool>,
}

/// Waiters for fills of other processes, woken by the subscriber when a
/// fill of their key is announced.
#[derive(Default)]
pub(crate) struct Signals {
    waiters: Mutex<HashMap<String, Weak<Notify>>>,
}

impl Signals {
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

    /// Wake the waiters of `key`.
    pub(crate) fn wake(&self, key: &str) {
        let n = self.waiters.lock().get(key).and_then(Weak::upgrade);
        if let Some(n) = n {
            n.notify_waiters();
        }
    }
}
