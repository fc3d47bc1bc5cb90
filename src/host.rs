//! Calls into the host language, and the host's exit.
//!
//! The core calls host code in three places: completion callbacks of the
//! asynchronous C calls, the log callback, and the callbacks of a foreign
//! backend. All three may run on a library thread, and every one of them
//! passes through [`enter`] first.
//!
//! A host whose runtime ends threads that call into it while it exits must
//! not be called once it has started to exit. CPython is the case in
//! point: a thread that takes the GIL after finalization has begun is ended
//! with `pthread_exit`, whose forced unwind runs through the library's
//! frames, meets a panic boundary that cannot let it pass, and aborts the
//! process ("FATAL: exception not rethrown"). So the host says when it is
//! shutting down ([`shutdown`], `ck_shutdown` in the C ABI, from its exit
//! hook while its runtime is still whole): from then on no host callback
//! starts, and the call waits, bounded, for the ones already running.
//!
//! Nothing here is per client: the log callback is process-wide, and so is
//! a host's exit.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

static CLOSED: AtomicBool = AtomicBool::new(false);
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static DRAINED: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());

thread_local! {
    /// Host calls this thread is inside of (a callback may call back into
    /// the library, even `ck_shutdown`, which must not wait for itself).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Permission to call into the host, held for the length of the call.
pub(crate) struct HostCall(());

/// Permission to call into the host now, or `None` once it is shutting down.
pub(crate) fn enter() -> Option<HostCall> {
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    if CLOSED.load(Ordering::SeqCst) {
        leave();
        return None;
    }
    let _ = DEPTH.try_with(|d| d.set(d.get() + 1));
    Some(HostCall(()))
}

impl Drop for HostCall {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
        leave();
    }
}

fn leave() {
    if IN_FLIGHT.fetch_sub(1, Ordering::SeqCst) == 1 && CLOSED.load(Ordering::SeqCst) {
        let _g = DRAINED.0.lock().unwrap_or_else(|e| e.into_inner());
        DRAINED.1.notify_all();
    }
}

/// Whether the host has said it is shutting down.
pub(crate) fn is_shut_down() -> bool {
    CLOSED.load(Ordering::SeqCst)
}

/// Stop calling into the host, then wait at most `timeout` for the host
/// calls under way on other threads to return. Returns how many are still
/// running at the deadline (0: none; the host may finalize). Idempotent.
pub(crate) fn shutdown(timeout: Duration) -> usize {
    CLOSED.store(true, Ordering::SeqCst);
    let own = DEPTH.try_with(Cell::get).unwrap_or(0);
    let others = || IN_FLIGHT.load(Ordering::SeqCst).saturating_sub(own);
    let deadline = Instant::now() + timeout;
    let mut g = DRAINED.0.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let n = others();
        let now = Instant::now();
        if n == 0 || now >= deadline {
            return n;
        }
        // Woken by the last call to leave; the short slice also covers a
        // caller that is inside a host call of its own thread.
        let slice = (deadline - now).min(Duration::from_millis(20));
        g = DRAINED.1.wait_timeout(g, slice).unwrap_or_else(|e| e.into_inner()).0;
    }
}

/// In a forked child: the host calls of the parent's other threads are not
/// running here (called from the `pthread_atfork` child handler).
pub(crate) fn after_fork() {
    IN_FLIGHT.store(DEPTH.try_with(Cell::get).unwrap_or(0), Ordering::SeqCst);
}
