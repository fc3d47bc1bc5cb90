//! Fork safety (DESIGN section 9, "tokio and fork").
//!
//! A forked child has the parent's memory but none of its threads: a lock
//! held by another thread at fork time stays held forever, and the tokio
//! runtime's workers are gone. So per-process state (runtime, connections,
//! L1, in-flight fills) lives in [`ForkLocal`] cells. A `pthread_atfork`
//! child handler bumps a generation number (one atomic add, which is
//! async-signal-safe); a cell whose value belongs to an older generation
//! builds a fresh value on its next use and *forgets* the inherited one
//! without dropping it, since dropping could touch a lock or a thread that
//! no longer exists.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

extern "C" fn on_fork_child() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    crate::host::after_fork();
}

/// Install the fork handler (idempotent). Called when the first client is made.
pub fn install() {
    REGISTER.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(on_fork_child));
    });
}

/// The current fork generation: 0 in the original process, +1 per fork.
#[inline]
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

struct Slot<T> {
    generation: u64,
    value: T,
}

/// A lazily built value that is rebuilt, never reused, after a fork.
pub struct ForkLocal<T> {
    ptr: AtomicPtr<Slot<T>>,
}

impl<T> Default for ForkLocal<T> {
    fn default() -> Self {
        ForkLocal { ptr: AtomicPtr::new(std::ptr::null_mut()) }
    }
}

impl<T> ForkLocal<T> {
    /// The value of this process, built with `make` on first use (and first
    /// use after a fork). Values are never freed while the cell lives, so
    /// the reference stays valid even if another thread replaces the value.
    pub fn get_or_init(&self, make: impl FnOnce() -> T) -> &T {
        let gen = generation();
        let cur = self.ptr.load(Ordering::Acquire);
        // SAFETY: a non-null pointer came from Box::into_raw below and is
        // freed only in Drop, which needs &mut self.
        if let Some(slot) = unsafe { cur.as_ref() } {
            if slot.generation == gen {
                return &slot.value;
            }
        }
        let fresh = Box::into_raw(Box::new(Slot { generation: gen, value: make() }));
        match self.ptr.compare_exchange(cur, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // The inherited value (if any) is deliberately leaked: see module docs.
            Ok(_) => unsafe { &(*fresh).value },
            Err(winner) => {
                // Another thread of this process built one first; use it.
                drop(unsafe { Box::from_raw(fresh) });
                unsafe { &(*winner).value }
            }
        }
    }

    /// The value if it was built in this process generation.
    pub fn get(&self) -> Option<&T> {
        let cur = self.ptr.load(Ordering::Acquire);
        let slot = unsafe { cur.as_ref() }?;
        (slot.generation == generation()).then_some(&slot.value)
    }
}

impl<T> Drop for ForkLocal<T> {
    fn drop(&mut self) {
        let cur = *self.ptr.get_mut();
        if cur.is_null() {
            return;
        }
        // SAFETY: we own the cell exclusively here.
        let slot = unsafe { Box::from_raw(cur) };
        if slot.generation == generation() {
            drop(slot);
        } else {
            // Built by the parent process: forget, never drop, in the child.
            std::mem::forget(slot);
        }
    }
}

unsafe impl<T: Send + Sync> Send for ForkLocal<T> {}
unsafe impl<T: Send + Sync> Sync for ForkLocal<T> {}
