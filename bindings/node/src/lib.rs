//! Node-API addon over the cachekit core's Rust API.
//!
//! It converts and calls `cachekit::Client` / `Cache` / `Lease`; every
//! decision (keys, L1, Redis, single flight, locks, fail-open) is the
//! core's. `index.js` is the user-facing layer; this file is not.
//!
//! Threading rule: nothing here waits for Redis on the JS thread. An L1
//! answer (or a lease when there is no L2) is returned at once; an L2 read
//! runs either as the core's blocking call on the libuv pool (`fill_now`,
//! `get_now`: an `AsyncTask`, the cheaper path, which `index.js` bounds to
//! half the pool) or on the core's tokio runtime, settling a Promise
//! through a `JsDeferred` (a threadsafe function into the JS thread).
//! Other calls of the core that block (clear, PING, flush) run as
//! `AsyncTask`s on the libuv pool too.
//!
//! Errors reach JS as `Error` objects whose message starts with
//! `[CODE] ` (`ENCODE`, `INVALID_KEY`, ...); `index.js` turns them into
//! `CachekitError` with a `code`. No panic crosses into Node: sync entry
//! points use `catch_unwind`, and every promise is settled by a guard that
//! rejects it if the task ended without an answer (a panic on the runtime
//! drops the task and with it the guard).

use cachekit::{Cache, CacheOptions, Client, Fill, Lease, Ready};
use napi::bindgen_prelude::*;
use napi::sys;
use napi::{Env, JsDeferred};
use napi_derive::napi;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------- errors

fn js_err(e: cachekit::Error) -> Error {
    Error::new(Status::GenericFailure, format!("[{}] {e}", e.code()))
}

fn coded(code: &str, msg: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, format!("[{code}] {msg}"))
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The panic boundary of a sync entry point.
fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(coded("PANIC", format!("internal panic (a cachekit bug, please report): {}", panic_message(p)))),
    }
}

fn ttl_of(ttl_ms: Option<f64>) -> Result<Option<Duration>> {
    match ttl_ms {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 0.0 => Ok((t > 0.0).then(|| Duration::from_millis(t as u64))),
        Some(t) => Err(coded("INVALID_ARGUMENT", format!("ttl must be a number of milliseconds >= 0, got {t}"))),
    }
}

// ---------------------------------------------------------------- values out

/// Value bytes handed to JS as a `Buffer` copy. A copy costs less than an
/// external buffer for the small values a cache mostly holds (no
/// finalizer for the GC to run), and L1 keeps its own bytes.
pub struct Bytes(cachekit::Bytes);

impl ToNapiValue for Bytes {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let mut out = std::ptr::null_mut();
        let mut data = std::ptr::null_mut();
        check_status!(
            sys::napi_create_buffer_copy(env, val.0.len(), val.0.as_ptr().cast(), &mut data, &mut out),
            "cannot create a Buffer for a cached value"
        )?;
        Ok(out)
    }
}

impl TypeName for Bytes {
    fn type_name() -> &'static str {
        "Buffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

// ---------------------------------------------------------------- promises

type Resolver<T> = Box<dyn FnOnce(Env) -> Result<T> + Send>;

/// Settles one Promise exactly once. Dropped unsettled (the task panicked,
/// or the runtime went away), it rejects, so no caller awaits for ever.
struct Settle<T: ToNapiValue + 'static> {
    deferred: Option<JsDeferred<T, Resolver<T>>>,
}

impl<T: ToNapiValue + 'static> Settle<T> {
    fn new(env: &Env) -> Result<(Settle<T>, Object<'_>)> {
        let (d, promise) = env.create_deferred::<T, Resolver<T>>()?;
        Ok((Settle { deferred: Some(d) }, promise))
    }

    fn resolve(mut self, f: impl FnOnce(Env) -> Result<T> + Send + 'static) {
        if let Some(d) = self.deferred.take() {
            d.resolve(Box::new(f));
        }
    }

    fn settle(self, r: cachekit::Result<impl FnOnce(Env) -> Result<T> + Send + 'static>) {
        match r {
            Ok(f) => self.resolve(f),
            Err(e) => self.reject(js_err(e)),
        }
    }

    fn reject(mut self, e: Error) {
        if let Some(d) = self.deferred.take() {
            d.reject(e);
        }
    }
}

impl<T: ToNapiValue + 'static> Drop for Settle<T> {
    fn drop(&mut self) {
        if let Some(d) = self.deferred.take() {
            d.reject(coded("PANIC", "internal error: a cachekit task ended without an answer (a cachekit bug, please report)"));
        }
    }
}

/// A blocking call of the core, run on the libuv pool (never on the JS
/// thread, never on the core's runtime, where blocking is not allowed).
pub struct Blocking<T: Send + 'static> {
    work: Option<Box<dyn FnOnce() -> cachekit::Result<T> + Send>>,
}

impl<T: Send + 'static> Blocking<T> {
    fn new(f: impl FnOnce() -> cachekit::Result<T> + Send + 'static) -> AsyncTask<Blocking<T>>
    where
        T: ToNapiValue + TypeName,
    {
        AsyncTask::new(Blocking { work: Some(Box::new(f)) })
    }
}

impl<T: Send + ToNapiValue + TypeName + 'static> Task for Blocking<T> {
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> Result<T> {
        let work = self.work.take().ok_or_else(|| coded("PANIC", "task run twice"))?;
        match catch_unwind(AssertUnwindSafe(work)) {
            Ok(r) => r.map_err(js_err),
            Err(p) => Err(coded("PANIC", format!("internal panic (a cachekit bug, please report): {}", panic_message(p)))),
        }
    }

    fn resolve(&mut self, _env: Env, output: T) -> Result<T> {
        Ok(output)
    }
}

/// Settle a Promise with a core call's answer: at once when the core
/// needed no I/O, from the core's runtime otherwise (`cachekit::Ready`).
/// An error known at once is returned (it throws, synchronously).
fn answer<'e, T: Send + 'static, J: ToNapiValue + 'static>(
    env: &'e Env,
    r: cachekit::Result<Ready<T>>,
    to_js: impl FnOnce(T) -> Result<J> + Send + 'static,
) -> Result<Object<'e>> {
    let ready = r.map_err(js_err)?;
    let (settle, promise) = Settle::<J>::new(env)?;
    match ready {
        Ready::Now(v) => settle.resolve(move |_| to_js(v)),
        Ready::Pending(p) => p.then(move |r| settle.settle(r.map(|v| move |_: Env| to_js(v)))),
    }
    Ok(promise)
}

// ---------------------------------------------------------------- client

/// One cachekit client (settings, Redis connections, runtime). `index.js`
/// keeps one default client per process and one per `createClient`.
#[napi]
pub struct NativeClient {
    client: Client,
}

#[napi]
impl NativeClient {
    /// `config_json`: explicit settings overriding `CACHEKIT_*` (the core
    /// reads the environment itself). No connection is made yet.
    #[napi(constructor, catch_unwind)]
    pub fn new(config_json: Option<String>) -> Result<Self> {
        guard(|| {
            let client = Client::from_env(config_json.as_deref()).map_err(js_err)?;
            Ok(NativeClient { client })
        })
    }

    /// Open a namespace with its options (the core's options JSON).
    #[napi(catch_unwind)]
    pub fn cache(&self, namespace: String, options_json: Option<String>) -> Result<NativeCache> {
        guard(|| {
            let opts = CacheOptions::from_json(options_json.as_deref()).map_err(js_err)?;
            let cache = self.client.cache(&namespace, opts).map_err(js_err)?;
            Ok(NativeCache { cache })
        })
    }

    /// Prometheus exposition text of every live cache of this client.
    #[napi(catch_unwind)]
    pub fn metrics(&self) -> Result<String> {
        guard(|| Ok(self.client.metrics_text()))
    }

    /// Wait (off the JS thread) for writes made behind callers; resolves
    /// with the number still under way.
    #[napi]
    pub fn flush(&self, timeout_ms: f64) -> AsyncTask<Blocking<u32>> {
        let c = self.client.clone();
        Blocking::new(move || Ok(c.flush(Duration::from_millis(timeout_ms.max(0.0) as u64)) as u32))
    }

    /// Close the client (off the JS thread): its writes behind callers land
    /// first, then every call on it and its caches rejects with a `CLOSED`
    /// error and writes nothing. Resolves with the writes still under way.
    /// Closing twice is harmless.
    #[napi]
    pub fn close(&self) -> AsyncTask<Blocking<u32>> {
        let c = self.client.clone();
        Blocking::new(move || Ok(c.close() as u32))
    }

    /// The same, blocking the calling thread: only for `process.on('exit')`,
    /// when the event loop is already gone and nothing else can run.
    #[napi(catch_unwind)]
    pub fn flush_sync(&self, timeout_ms: f64) -> Result<u32> {
        guard(|| Ok(self.client.flush(Duration::from_millis(timeout_ms.max(0.0) as u64)) as u32))
    }
}

// ---------------------------------------------------------------- namespace

#[napi]
pub struct NativeCache {
    cache: Cache,
}

#[napi]
impl NativeCache {
    /// A handle for one operation (one cached function): the operation name
    /// is converted once, not on every call.
    #[napi(catch_unwind)]
    pub fn op(&self, operation: String) -> Result<NativeOp> {
        guard(|| {
            // Validates the operation as keys will (an empty argument array).
            self.cache.key(&operation, &[0x90]).map_err(js_err)?;
            Ok(NativeOp { cache: self.cache.clone(), op: operation.into() })
        })
    }

    /// Health of the namespace (no I/O), as JSON text.
    #[napi(catch_unwind)]
    pub fn health(&self) -> Result<String> {
        guard(|| Ok(self.cache.health().to_string()))
    }

    /// Active check: a PING of L2, off the JS thread.
    #[napi]
    pub fn check_health(&self) -> AsyncTask<Blocking<String>> {
        let c = self.cache.clone();
        Blocking::new(move || Ok(c.check_health().to_string()))
    }

    /// Delete every entry of the namespace; resolves with the L2 keys deleted.
    #[napi]
    pub fn clear(&self) -> AsyncTask<Blocking<f64>> {
        let c = self.cache.clone();
        Blocking::new(move || c.clear().map(|n| n as f64))
    }

    /// Delete every entry of one operation of the namespace.
    #[napi]
    pub fn clear_operation(&self, operation: String) -> AsyncTask<Blocking<f64>> {
        let c = self.cache.clone();
        Blocking::new(move || c.clear_operation(&operation).map(|n| n as f64))
    }
}

// ---------------------------------------------------------------- operation

/// One operation of a namespace: what a cached function calls.
#[napi]
pub struct NativeOp {
    cache: Cache,
    op: Arc<str>,
}

/// What a fill resolves to: the cached value, or the duty to compute it.
type FillOutcome = Either<Bytes, NativeLease>;

/// What `fill_now` resolves to (as `fill`): a value, a lease, or both.
pub struct FillAnswer(Either<FillOutcome, (Bytes, NativeLease)>);

impl ToNapiValue for FillAnswer {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        ToNapiValue::to_napi_value(env, val.0)
    }
}

impl TypeName for FillAnswer {
    fn type_name() -> &'static str {
        "Buffer | NativeLease | [Buffer, NativeLease]"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl NativeOp {
    fn key_of(&self, args: &[u8]) -> Result<Arc<str>> {
        self.cache.key_shared(&self.op, args).map_err(js_err)
    }
}

#[napi]
impl NativeOp {
    /// The full L2 key of this operation called with `args`.
    #[napi(catch_unwind)]
    pub fn key(&self, args: &[u8]) -> Result<String> {
        guard(|| Ok(self.key_of(args)?.to_string()))
    }

    /// The event-loop fast path: the value from L1 only, or `undefined`
    /// ("ask `fill`": not in L1, or an early refresh is due). No I/O.
    #[napi(catch_unwind)]
    pub fn peek(&self, args: &[u8]) -> Result<Option<Bytes>> {
        guard(|| {
            let key = self.key_of(args)?;
            Ok(match self.cache.l1_fill(&key) {
                Some(Fill::Hit(v)) => Some(Bytes(v)),
                _ => None,
            })
        })
    }

    /// The miss path with stampede protection. Resolves with the value
    /// (a `Buffer`: cached, or filled by another caller meanwhile) or a
    /// `NativeLease` (this caller computes). A refresh (the value plus a
    /// lease) resolves as `[value, lease]`.
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer | NativeLease | [Buffer, NativeLease]>")]
    pub fn fill<'e>(&self, env: &'e Env, args: &[u8]) -> Result<Object<'e>> {
        guard(|| {
            let key = self.key_of(args)?;
            answer(env, self.cache.fill_ready(key), |f| {
                Ok(match f {
                    Fill::Hit(v) => Either::A(Either::A(Bytes(v))),
                    Fill::Lease(l) => Either::A(Either::B(NativeLease::of(l))),
                    Fill::Refresh(v, l) => Either::B((Bytes(v), NativeLease::of(l))),
                })
            })
        })
    }

    /// Whether the namespace has an L2 (`fillNow` / `getNow` are for it).
    #[napi(catch_unwind)]
    pub fn has_l2(&self) -> Result<bool> {
        guard(|| Ok(self.cache.has_l2()))
    }

    /// As `fill`, run as the core's blocking `Cache::fill` on a libuv pool
    /// thread (never the JS thread): a plain L2 read or a read-and-lock is
    /// made on that thread's own Redis connection, with no hop to the
    /// core's runtime and no threadsafe function per call. The thread
    /// blocks while the fill waits (another caller's fill, a lock held
    /// elsewhere, a slow Redis), so `index.js` keeps at most half the pool
    /// in here and sends the rest through `fill`.
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer | NativeLease | [Buffer, NativeLease]>")]
    pub fn fill_now(&self, args: &[u8]) -> Result<AsyncTask<Blocking<FillAnswer>>> {
        guard(|| {
            // Key errors throw here, at once, as they do in `fill`.
            self.key_of(args)?;
            let (c, op, args) = (self.cache.clone(), self.op.clone(), args.to_vec());
            Ok(Blocking::new(move || {
                c.fill(&op, &args).map(|f| {
                    FillAnswer(match f {
                        Fill::Hit(v) => Either::A(Either::A(Bytes(v))),
                        Fill::Lease(l) => Either::A(Either::B(NativeLease::of(l))),
                        Fill::Refresh(v, l) => Either::B((Bytes(v), NativeLease::of(l))),
                    })
                })
            }))
        })
    }

    /// As `get`, run as the core's blocking `get_by_key` on a libuv pool
    /// thread (see `fill_now`).
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer | null>")]
    pub fn get_now(&self, args: &[u8]) -> Result<AsyncTask<Blocking<Option<Bytes>>>> {
        guard(|| {
            let key = self.key_of(args)?;
            let c = self.cache.clone();
            Ok(Blocking::new(move || c.get_by_key(&key).map(|v| v.map(Bytes))))
        })
    }

    /// Look up without taking a lease: resolves with the value or `null`.
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer | null>")]
    pub fn get<'e>(&self, env: &'e Env, args: &[u8]) -> Result<Object<'e>> {
        guard(|| {
            let key = self.key_of(args)?;
            answer(env, self.cache.get_ready(key), |v| Ok(v.map(Bytes)))
        })
    }

    /// Store `value` (MessagePack) in L1 now and L2 in the background;
    /// resolves once L2 has it (or failed open). An encode error throws.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn set<'e>(&self, env: &'e Env, args: &[u8], value: &[u8], ttl_ms: Option<f64>) -> Result<Object<'e>> {
        guard(|| {
            let key = self.key_of(args)?;
            let ttl = ttl_of(ttl_ms)?;
            answer(env, self.cache.set_ready(&key, value, ttl), |()| Ok(()))
        })
    }

    /// Delete the entry from L1 at once and L2 in the background; resolves
    /// with whether it existed.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn delete<'e>(&self, env: &'e Env, args: &[u8]) -> Result<Object<'e>> {
        guard(|| {
            let key = self.key_of(args)?;
            answer(env, self.cache.delete_ready(key), Ok)
        })
    }

    /// The value returned for `args` could not be decoded here: the core
    /// counts it as corrupt and deletes it everywhere (in the background).
    #[napi(catch_unwind)]
    pub fn discard(&self, args: &[u8], reason: String) -> Result<()> {
        guard(|| {
            let key = self.key_of(args)?;
            self.cache.discard_undecodable(&key, &reason);
            Ok(())
        })
    }
}

// ---------------------------------------------------------------- lease

/// The duty to compute one missing value. Complete it with the value or
/// abort it; one dropped by the GC unused is aborted by the core's `Drop`.
#[napi]
pub struct NativeLease {
    lease: Option<Lease>,
}

impl NativeLease {
    fn of(lease: Lease) -> NativeLease {
        NativeLease { lease: Some(lease) }
    }

    fn take(&mut self) -> Result<Lease> {
        self.lease.take().ok_or_else(|| coded("LEASE", "this lease was already completed or aborted"))
    }
}

#[napi]
impl NativeLease {
    /// Store the computed value (MessagePack) and wake the waiters. The
    /// waiters and L1 have it before this returns. The core decides whether
    /// the caller waits for L2: `undefined` when the write runs behind it
    /// (fail-open: a later failure is the core's to count and log), or a
    /// Promise that settles once L2 has the value, rejecting with its error
    /// (fail-closed). An error known at once (a value interop mode cannot
    /// store) throws; the waiters then compute themselves.
    #[napi(catch_unwind, ts_return_type = "Promise<void> | undefined")]
    pub fn complete<'e>(&mut self, env: &'e Env, value: &[u8], ttl_ms: Option<f64>) -> Result<Option<Object<'e>>> {
        guard(|| {
            let lease = self.take()?;
            let ttl = ttl_of(ttl_ms)?;
            match lease.complete_for_loop(value, ttl).map_err(js_err)? {
                Ready::Now(()) => Ok(None),
                pending => answer(env, Ok(pending), |()| Ok(())).map(Some),
            }
        })
    }

    /// Give the lease up (the computation failed): nothing is cached and a
    /// waiting caller takes over. Idempotent.
    #[napi(catch_unwind)]
    pub fn abort(&mut self) -> Result<()> {
        guard(|| {
            if let Some(l) = self.lease.take() {
                l.abort();
            }
            Ok(())
        })
    }
}

/// ABI of this addon as `index.js` expects it; a mismatch (a stale .node
/// next to a newer index.js) is refused at load with a clear message.
#[napi]
pub fn addon_abi() -> u32 {
    1
}

/// The core's version string.
#[napi]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
