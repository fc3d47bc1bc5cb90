//! The I/O runtime of a client (tokio, two worker threads named
//! `cachekit-io`) and the two ways into it: [`Runtime::block_on`] for
//! blocking callers (C, PHP, Go, sync Python), [`Runtime::spawn`] for work
//! behind async callers.

use crate::backend;
use std::future::Future;
use std::sync::OnceLock;

/// Made at once when Redis is configured, lazily otherwise (only async
/// waits need it then).
#[derive(Default)]
pub(crate) struct Runtime {
    rt: OnceLock<tokio::runtime::Runtime>,
}

fn new_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cachekit-io")
        .enable_all()
        .build()
}

impl Runtime {
    /// A runtime started now.
    pub(crate) fn start() -> std::io::Result<Runtime> {
        let r = Runtime::default();
        let _ = r.rt.set(new_runtime()?);
        Ok(r)
    }

    /// Whether the runtime runs (it does from the start with an L2).
    pub(crate) fn is_started(&self) -> bool {
        self.rt.get().is_some()
    }

    fn get(&self) -> &tokio::runtime::Runtime {
        self.rt.get_or_init(|| new_runtime().expect("cannot start the cachekit I/O runtime"))
    }

    /// Run `f` with the runtime's context entered (to build connections
    /// that it will drive).
    pub(crate) fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = self.get().enter();
        f()
    }

    /// Run a future to completion from a thread that is not a runtime worker.
    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        let Some(rt) = self.rt.get() else {
            // L1-only: only waiting for another caller's fill needs timers,
            // and the runtime for it is made on first need.
            return self.get().block_on(f);
        };
        // Poll once on this thread inside the runtime's context: a call that
        // needs no round trip completes without handing over to the runtime.
        let _guard = rt.enter();
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        // Reads and writes of this first poll use this thread's own Redis
        // connection (no cross-thread wake-ups); anything that must wait
        // (locks, fills of others) continues on the runtime.
        match backend::as_blocking_caller(|| f.as_mut().poll(&mut cx)) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => rt.block_on(f),
        }
    }

    /// Run `f` in the background.
    pub(crate) fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.get().spawn(f)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // The last reference to a client may be dropped by one of its own
        // tasks, on a runtime thread, where a blocking shutdown panics.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
