//! The C ABI. It converts and calls `client`; it decides nothing.
//!
//! Conventions (see also `include/cachekit.h`):
//! - every function that can fail returns a `ck_status`; results go to
//!   out-params, which are written only on success;
//! - strings (`namespace`, `operation`, JSON) are NUL-terminated UTF-8,
//!   borrowed for the call only; byte buffers (`args`, `value`) are
//!   pointer + length, borrowed for the call only;
//! - buffers returned in a `ck_buf` are owned by the library and released
//!   with `ck_buf_free`;
//! - no panic crosses this boundary: it becomes `CK_PANIC`;
//! - after any status other than `CK_OK`, `ck_last_error()` on the same
//!   thread says what went wrong.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

use crate::client::{Cache, CacheOptions, Client};
use crate::fill::{Fill, Lease};
pub use crate::backend::foreign::{ck_backend_vtable, ck_sink};
use crate::backend::foreign::ForeignBackend;
use crate::error::Error;
use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// Version of this ABI. Wrappers compare it with the version they were
/// written for and refuse to load on a mismatch.
pub const CK_ABI_VERSION: u32 = 1;

/// What a foreign backend's callback returns for a failure that must not
/// move the circuit breaker (an error kind the user excluded): the call
/// fails open and the error is counted. Any other negative return is a
/// transient L2 failure.
pub const CK_BACKEND_EXCLUDED: i32 = -3;
const _: () = assert!(CK_BACKEND_EXCLUDED == crate::backend::foreign::EXCLUDED_FAILURE);

/// Result of every fallible call.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ck_status {
    /// Success.
    CK_OK = 0,
    /// A required pointer was null, a string was not UTF-8, or a length is out of range.
    CK_INVALID_ARGUMENT = 1,
    /// A namespace or operation does not match the key segment rules.
    CK_INVALID_KEY = 2,
    /// A setting, environment variable or option has an unusable value.
    CK_CONFIG = 3,
    /// Arguments or a value cannot be encoded (NaN, unsupported type, too large, ...).
    CK_ENCODE = 4,
    /// Encryption is on but misconfigured (missing or malformed master key).
    CK_ENCRYPTION = 5,
    /// L2 failed and the namespace is fail-closed (never returned when fail-open).
    CK_BACKEND = 6,
    /// A fill lease was misused.
    CK_LEASE = 7,
    /// A bug in cachekit was caught at the boundary; the message has details.
    CK_PANIC = 8,
    /// The host has shut the library down (`ck_shutdown`): a call that would
    /// need a completion callback is refused.
    CK_CLOSED = 9,
}

impl ck_status {
    fn name(self) -> &'static CStr {
        match self {
            ck_status::CK_OK => c"CK_OK",
            ck_status::CK_INVALID_ARGUMENT => c"CK_INVALID_ARGUMENT",
            ck_status::CK_INVALID_KEY => c"CK_INVALID_KEY",
            ck_status::CK_CONFIG => c"CK_CONFIG",
            ck_status::CK_ENCODE => c"CK_ENCODE",
            ck_status::CK_ENCRYPTION => c"CK_ENCRYPTION",
            ck_status::CK_BACKEND => c"CK_BACKEND",
            ck_status::CK_LEASE => c"CK_LEASE",
            ck_status::CK_PANIC => c"CK_PANIC",
            ck_status::CK_CLOSED => c"CK_CLOSED",
        }
    }

    const ALL: [ck_status; 10] = [
        ck_status::CK_OK,
        ck_status::CK_INVALID_ARGUMENT,
        ck_status::CK_INVALID_KEY,
        ck_status::CK_CONFIG,
        ck_status::CK_ENCODE,
        ck_status::CK_ENCRYPTION,
        ck_status::CK_BACKEND,
        ck_status::CK_LEASE,
        ck_status::CK_PANIC,
        ck_status::CK_CLOSED,
    ];
}

/// The name of a status, as spelled in this header (`"CK_BACKEND"`), or
/// `"CK_UNKNOWN"` for a number that is not a status. The string is static:
/// never free it. Wrappers use it instead of tables of their own.
#[no_mangle]
pub extern "C" fn ck_status_name(status: u32) -> *const c_char {
    ck_status::ALL
        .iter()
        .find(|s| **s as u32 == status)
        .map_or(c"CK_UNKNOWN", |s| s.name())
        .as_ptr()
}

/// A byte buffer owned by the library. Read `data[0..len]`, then release it
/// with `ck_buf_free`. An empty buffer has `data == NULL` and `len == 0`.
#[repr(C)]
pub struct ck_buf {
    pub data: *const u8,
    pub len: usize,
}

/// A client: settings, the Redis connections and the per-process state.
/// One per process, shared by all threads.
pub struct ck_client {
    client: Client,
}

/// One namespace of a client with its options: what a cached function or a
/// PSR-16 pool holds. Thread-safe.
pub struct ck_cache {
    cache: Cache,
}

/// The duty to compute one missing value (see `ck_fill_begin`).
pub struct ck_lease {
    lease: Lease,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

fn status_of(e: &Error) -> ck_status {
    match e {
        Error::InvalidArgument(_) => ck_status::CK_INVALID_ARGUMENT,
        Error::InvalidKey(_) => ck_status::CK_INVALID_KEY,
        Error::Config(_) => ck_status::CK_CONFIG,
        Error::Encode(_) => ck_status::CK_ENCODE,
        Error::Encryption(_) => ck_status::CK_ENCRYPTION,
        Error::Backend(_) => ck_status::CK_BACKEND,
        Error::Lease(_) => ck_status::CK_LEASE,
        Error::Panic(_) => ck_status::CK_PANIC,
        Error::Closed(_) => ck_status::CK_CLOSED,
    }
}

/// The panic boundary and error mapping of every entry point.
fn guard(f: impl FnOnce() -> Result<(), Error>) -> ck_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => ck_status::CK_OK,
        Ok(Err(e)) => {
            set_last_error(&e.to_string());
            status_of(&e)
        }
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("internal panic (a cachekit bug, please report): {msg}"));
            ck_status::CK_PANIC
        }
    }
}

fn null(what: &str) -> Error {
    Error::InvalidArgument(format!("{what} must not be NULL"))
}

unsafe fn cstr<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(null(what));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| Error::InvalidArgument(format!("{what} is not valid UTF-8")))
}

unsafe fn opt_cstr<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Error> {
    if p.is_null() {
        Ok(None)
    } else {
        cstr(p, what).map(Some)
    }
}

unsafe fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::InvalidArgument(format!("{what} is NULL but its length is {len}")));
    }
    if len > isize::MAX as usize {
        return Err(Error::InvalidArgument(format!("{what} length {len} is out of range")));
    }
    Ok(std::slice::from_raw_parts(p, len))
}

unsafe fn out<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, Error> {
    p.as_mut().ok_or_else(|| null(what))
}

unsafe fn cache_ref<'a>(c: *const ck_cache) -> Result<&'a Cache, Error> {
    c.as_ref().map(|c| &c.cache).ok_or_else(|| null("cache"))
}

/// The cache handle and the key of `operation(args)`: the common first
/// step of every keyed call.
unsafe fn keyed<'a>(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
) -> Result<(&'a Cache, std::sync::Arc<str>), Error> {
    let cache = cache_ref(cache)?;
    let key = cache.key_shared(cstr(operation, "operation")?, bytes(args, args_len, "args")?)?;
    Ok((cache, key))
}

fn to_buf(v: Vec<u8>) -> ck_buf {
    if v.is_empty() {
        return ck_buf { data: std::ptr::null(), len: 0 };
    }
    let b: Box<[u8]> = v.into_boxed_slice();
    let len = b.len();
    ck_buf { data: Box::into_raw(b) as *const u8, len }
}

fn ttl_of(ttl_ms: i64) -> Result<Option<Duration>, Error> {
    match ttl_ms {
        0 => Ok(None),
        n if n > 0 => Ok(Some(Duration::from_millis(n as u64))),
        n => Err(Error::InvalidArgument(format!("ttl_ms must be >= 0 (0 = the namespace default), got {n}"))),
    }
}

/// The ABI version of this library (`CK_ABI_VERSION` of the header it was built with).
#[no_mangle]
pub extern "C" fn ck_abi_version() -> u32 {
    CK_ABI_VERSION
}

/// The library version, a static NUL-terminated string such as "0.1.0".
#[no_mangle]
pub extern "C" fn ck_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// The message of the last failed call on this thread (empty if none). The
/// pointer stays valid until the next failing call on this thread.
#[no_mangle]
pub extern "C" fn ck_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Release a buffer returned by the library; sets it to empty. Safe to call
/// on an empty buffer or twice.
#[no_mangle]
pub unsafe extern "C" fn ck_buf_free(buf: *mut ck_buf) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if let Some(b) = buf.as_mut() {
            if !b.data.is_null() && b.len > 0 {
                let slice = std::ptr::slice_from_raw_parts_mut(b.data as *mut u8, b.len);
                drop(Box::from_raw(slice));
            }
            b.data = std::ptr::null();
            b.len = 0;
        }
    }));
}

/// Create a client. `config_json` (may be NULL) is a JSON object of explicit
/// settings (`redis_url`, `default_ttl`, `l1_max_size_mb`, ...) that override
/// the `CACHEKIT_*` environment variables. Without any Redis URL the client
/// is L1-only. No connection is made until first use.
#[no_mangle]
pub unsafe extern "C" fn ck_client_new(config_json: *const c_char, out_client: *mut *mut ck_client) -> ck_status {
    guard(|| {
        let out = out(out_client, "out_client")?;
        let json = opt_cstr(config_json, "config_json")?;
        let client = Client::from_env(json)?;
        *out = Box::into_raw(Box::new(ck_client { client }));
        Ok(())
    })
}

/// Create a client whose L2 is the host language's own backend, given as
/// callbacks (see `ck_backend_vtable`), instead of Redis. `config_json` as
/// for `ck_client_new` (its `redis_url` is ignored). The callbacks are
/// called from library threads, never from an event-loop thread; a foreign
/// backend has no locks or pub/sub, so fills are single-flight within the
/// process only.
#[no_mangle]
pub unsafe extern "C" fn ck_client_new_with_backend(
    config_json: *const c_char,
    backend: *const ck_backend_vtable,
    out_client: *mut *mut ck_client,
) -> ck_status {
    guard(|| {
        let out = out(out_client, "out_client")?;
        let vt = *backend.as_ref().ok_or_else(|| null("backend"))?;
        let json = opt_cstr(config_json, "config_json")?;
        let foreign = ForeignBackend::new(vt).map_err(Error::InvalidArgument)?;
        let client = Client::with_backend(crate::config::Config::load(json)?, foreign)?;
        *out = Box::into_raw(Box::new(ck_client { client }));
        Ok(())
    })
}

/// Called by a foreign backend's `get` callback to hand over the value it
/// found (copied; may be called more than once to append).
#[no_mangle]
pub unsafe extern "C" fn ck_sink_write(sink: *mut ck_sink, data: *const u8, len: usize) -> ck_status {
    guard(|| {
        let sink = out(sink, "sink")?;
        sink.bytes.extend_from_slice(bytes(data, len, "data")?);
        Ok(())
    })
}

/// Drop a handle made with `Box::into_raw`; NULL is a no-op.
unsafe fn free_handle<T>(p: *mut T) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !p.is_null() {
            drop(Box::from_raw(p));
        }
    }));
}

/// Free a client. Caches made from it stay usable until they are freed.
/// First waits (at most 5 s) for the L2 writes this process made behind its
/// callers, as `ck_flush` does.
#[no_mangle]
pub unsafe extern "C" fn ck_client_free(client: *mut ck_client) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if let Some(c) = client.as_ref() {
            c.client.flush(std::time::Duration::from_secs(5));
        }
    }));
    free_handle(client)
}

/// Wait, at most `timeout_ms`, until the L2 writes this process made behind
/// its callers have ended. A completed lease (`ck_lease_complete`) returns
/// once the value is in L1 and the process's readers see it; its Redis write
/// follows in the background. Call this before the process exits (an
/// `atexit` hook), or its last writes may be lost. `*out_pending` (may be
/// NULL) receives the number of writes still under way (0: all ended).
#[no_mangle]
pub unsafe extern "C" fn ck_flush(client: *const ck_client, timeout_ms: u64, out_pending: *mut u64) -> ck_status {
    guard(|| {
        let client = client.as_ref().ok_or_else(|| null("client"))?;
        let n = client.client.flush(std::time::Duration::from_millis(timeout_ms));
        if let Some(o) = out_pending.as_mut() {
            *o = n as u64;
        }
        Ok(())
    })
}

/// Say that the host is shutting down, from its exit hook while its runtime
/// is still whole (Python: `atexit`). In order: waits at most `timeout_ms`
/// for the writes every client made behind its callers (`ck_flush` of all
/// clients), then stops calling into the host (no completion, log or
/// foreign-backend callback starts after this) and waits for the callbacks
/// already running on other threads, within the same `timeout_ms`.
/// `*out_pending` (may be NULL) receives the writes and callbacks still
/// under way at the deadline (0: the host may finalize).
///
/// The rule this serves: a host that ends threads which call into it while
/// it exits (CPython ends them with `pthread_exit`, whose forced unwind
/// aborts the process when it meets this library's frames) must call
/// `ck_shutdown` before it starts to. Blocking calls keep working after it
/// (L1 and Redis, without callbacks); an asynchronous call that would
/// answer through its callback later returns `CK_CLOSED` instead, and the
/// callbacks of asynchronous writes are not called. Idempotent.
#[no_mangle]
pub unsafe extern "C" fn ck_shutdown(timeout_ms: u64, out_pending: *mut u64) -> ck_status {
    guard(|| {
        let deadline = std::time::Instant::now() + Duration::from_millis(timeout_ms);
        let writes = Client::flush_all(Duration::from_millis(timeout_ms));
        let calls = crate::host::shutdown(deadline.saturating_duration_since(std::time::Instant::now()));
        if let Some(o) = out_pending.as_mut() {
            *o = (writes + calls) as u64;
        }
        Ok(())
    })
}

/// Open a namespace. `options_json` (may be NULL) is a JSON object of
/// per-namespace options (README, "Per-namespace options"): `ttl`,
/// `format` ("envelope" | "interop"), `serializer`, `l1_enabled`, `l1_max_size_mb`,
/// `encryption`, `master_key`, `decrypt_only_keys`, `tenant_id`,
/// `l1_plaintext`, `fail_closed`, `circuit_breaker`, `adaptive_timeout`,
/// `backpressure`, `max_concurrent_requests`, `collect_stats`,
/// `structured_logging`, `distributed_lock`, `lock_ttl_ms`, `lock_renewal`,
/// `read_lock_combined`,
/// `fill_wait_ms`, `refresh_ttl_on_get`, `ttl_refresh_threshold`,
/// `pipelined`, `early_refresh_beta`, `stale_while_revalidate`,
/// `max_background_refreshes`, `negative_ttl`, `l1_sync_ms`. An unknown
/// option is `CK_CONFIG` with a message that lists the known ones.
#[no_mangle]
pub unsafe extern "C" fn ck_cache_new(
    client: *const ck_client,
    namespace: *const c_char,
    options_json: *const c_char,
    out_cache: *mut *mut ck_cache,
) -> ck_status {
    guard(|| {
        let out = out(out_cache, "out_cache")?;
        let client = client.as_ref().ok_or_else(|| null("client"))?;
        let ns = cstr(namespace, "namespace")?;
        let opts = CacheOptions::from_json(opt_cstr(options_json, "options_json")?)?;
        let cache = client.client.cache(ns, opts)?;
        *out = Box::into_raw(Box::new(ck_cache { cache }));
        Ok(())
    })
}

/// Free a cache handle.
#[no_mangle]
pub unsafe extern "C" fn ck_cache_free(cache: *mut ck_cache) {
    free_handle(cache)
}

/// The full Redis key of `operation` called with `args` (a MessagePack
/// array of the arguments), as UTF-8 bytes (not NUL-terminated).
#[no_mangle]
pub unsafe extern "C" fn ck_make_key(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    out_key: *mut ck_buf,
) -> ck_status {
    guard(|| {
        let out = out(out_key, "out_key")?;
        let (_, key) = keyed(cache, operation, args, args_len)?;
        *out = to_buf(key.as_bytes().to_vec());
        Ok(())
    })
}

/// Look up `operation(args)`: L1, then L2. On a hit `*out_found` is true and
/// `*out_value` holds the MessagePack value; on a miss `*out_found` is false
/// and `*out_value` is empty. L2 failures are misses unless fail-closed.
#[no_mangle]
pub unsafe extern "C" fn ck_get(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    out_value: *mut ck_buf,
    out_found: *mut bool,
) -> ck_status {
    guard(|| {
        let out_v = out(out_value, "out_value")?;
        let out_f = out(out_found, "out_found")?;
        let cache = cache_ref(cache)?;
        match cache.get(cstr(operation, "operation")?, bytes(args, args_len, "args")?)? {
            Some(v) => {
                *out_v = to_buf(v.to_vec());
                *out_f = true;
            }
            None => {
                *out_v = ck_buf { data: std::ptr::null(), len: 0 };
                *out_f = false;
            }
        }
        Ok(())
    })
}

/// Store `value` (MessagePack) for `operation(args)` in L1 and L2 with
/// `ttl_ms` milliseconds (0: the namespace default).
#[no_mangle]
pub unsafe extern "C" fn ck_set(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    value: *const u8,
    value_len: usize,
    ttl_ms: i64,
) -> ck_status {
    guard(|| {
        let cache = cache_ref(cache)?;
        let ttl = ttl_of(ttl_ms)?;
        cache.set(
            cstr(operation, "operation")?,
            bytes(args, args_len, "args")?,
            bytes(value, value_len, "value")?,
            ttl,
        )
    })
}

/// Delete the entry of `operation(args)` from L1 and L2. `out_existed`
/// (may be NULL) tells whether there was one.
#[no_mangle]
pub unsafe extern "C" fn ck_delete(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    out_existed: *mut bool,
) -> ck_status {
    guard(|| {
        let cache = cache_ref(cache)?;
        let existed = cache.delete(cstr(operation, "operation")?, bytes(args, args_len, "args")?)?;
        if let Some(o) = out_existed.as_mut() {
            *o = existed;
        }
        Ok(())
    })
}

/// Whether `operation(args)` has an entry in L1 or L2.
#[no_mangle]
pub unsafe extern "C" fn ck_exists(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    out_exists: *mut bool,
) -> ck_status {
    guard(|| {
        let o = out(out_exists, "out_exists")?;
        let cache = cache_ref(cache)?;
        *o = cache.exists(cstr(operation, "operation")?, bytes(args, args_len, "args")?)?;
        Ok(())
    })
}

/// Remaining lifetime of `operation(args)` in milliseconds: -2 if there is
/// no entry, -1 if it never expires.
#[no_mangle]
pub unsafe extern "C" fn ck_ttl(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    out_ttl_ms: *mut i64,
) -> ck_status {
    guard(|| {
        let o = out(out_ttl_ms, "out_ttl_ms")?;
        let cache = cache_ref(cache)?;
        *o = match cache.ttl(cstr(operation, "operation")?, bytes(args, args_len, "args")?)? {
            None => -2,
            Some(None) => -1,
            Some(Some(d)) => d.as_millis().min(i64::MAX as u128) as i64,
        };
        Ok(())
    })
}

/// Delete every entry of this namespace from L1 and L2. `out_deleted` (may
/// be NULL) receives the number of L2 keys deleted.
#[no_mangle]
pub unsafe extern "C" fn ck_clear(cache: *const ck_cache, out_deleted: *mut u64) -> ck_status {
    guard(|| {
        let n = cache_ref(cache)?.clear()?;
        if let Some(o) = out_deleted.as_mut() {
            *o = n;
        }
        Ok(())
    })
}

/// Report that the value returned for `operation(args)` could not be
/// decoded by the caller's serializer: the entry is counted as corrupt and
/// deleted everywhere in the background (this call never waits), so the
/// next call recomputes. `reason` (may be NULL) is logged.
#[no_mangle]
pub unsafe extern "C" fn ck_discard(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    reason: *const c_char,
) -> ck_status {
    guard(|| {
        let (cache, key) = keyed(cache, operation, args, args_len)?;
        cache.discard_undecodable(&key, opt_cstr(reason, "reason")?.unwrap_or("the caller could not decode the value"));
        Ok(())
    })
}

/// Delete every entry of one operation of this namespace from L1 and L2
/// (in every process's L1 too). `out_deleted` (may be NULL) receives the
/// number of L2 keys deleted.
#[no_mangle]
pub unsafe extern "C" fn ck_clear_operation(cache: *const ck_cache, operation: *const c_char, out_deleted: *mut u64) -> ck_status {
    guard(|| {
        let n = cache_ref(cache)?.clear_operation(cstr(operation, "operation")?)?;
        if let Some(o) = out_deleted.as_mut() {
            *o = n;
        }
        Ok(())
    })
}

/// The miss path with stampede protection. Three outcomes:
/// - hit: `*out_value` holds the value, `*out_lease` is NULL;
/// - miss: `*out_value` is empty and `*out_lease` is a lease: compute the
///   value, then call `ck_lease_complete` (or `ck_lease_abort` if computing
///   failed: nothing is cached and a waiter takes over);
/// - refresh (early refresh or stale-while-revalidate is due): both are set:
///   return the value now and complete the lease in the background.
///
/// Blocks while another caller (of this process, or of another through the
/// Redis lock `{key}:lock`) computes the same key, up to `fill_wait_ms`.
#[no_mangle]
pub unsafe extern "C" fn ck_fill_begin(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    out_value: *mut ck_buf,
    out_lease: *mut *mut ck_lease,
) -> ck_status {
    guard(|| {
        let out_v = out(out_value, "out_value")?;
        let out_l = out(out_lease, "out_lease")?;
        let cache = cache_ref(cache)?;
        match cache.fill(cstr(operation, "operation")?, bytes(args, args_len, "args")?)? {
            Fill::Hit(v) => {
                *out_v = to_buf(v.to_vec());
                *out_l = std::ptr::null_mut();
            }
            Fill::Refresh(v, lease) => {
                *out_v = to_buf(v.to_vec());
                *out_l = Box::into_raw(Box::new(ck_lease { lease }));
            }
            Fill::Lease(lease) => {
                *out_v = ck_buf { data: std::ptr::null(), len: 0 };
                *out_l = Box::into_raw(Box::new(ck_lease { lease }));
            }
        }
        Ok(())
    })
}

/// Complete a lease with the computed `value` (MessagePack) and `ttl_ms`
/// (0: the namespace default): stores it and wakes the waiters. With Redis
/// and a fail-open namespace the Redis write happens behind the caller:
/// this returns once the value is in L1 and this process's readers see it
/// (`ck_flush` waits for such writes); fail-closed namespaces write first
/// and return the write's error. Always
/// consumes the lease, even when it returns an error (e.g. `CK_ENCODE` for a
/// value that cannot be stored; the waiters then compute themselves).
#[no_mangle]
pub unsafe extern "C" fn ck_lease_complete(lease: *mut ck_lease, value: *const u8, value_len: usize, ttl_ms: i64) -> ck_status {
    guard(|| {
        if lease.is_null() {
            return Err(null("lease"));
        }
        let lease = Box::from_raw(lease).lease;
        let value = bytes(value, value_len, "value")?;
        let ttl = ttl_of(ttl_ms)?;
        lease.complete(value, ttl)
    })
}

/// Give up a lease without a value (the computation failed). Nothing is
/// cached; a waiting caller takes over. Consumes the lease; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn ck_lease_abort(lease: *mut ck_lease) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !lease.is_null() {
            Box::from_raw(lease).lease.abort();
        }
    }));
}

/// Health of the namespace as a JSON object (namespace, backend, L1 and
/// outcome counters, encryption fingerprint, settings without secrets).
#[no_mangle]
pub unsafe extern "C" fn ck_health(cache: *const ck_cache, out_json: *mut ck_buf) -> ck_status {
    guard(|| {
        let o = out(out_json, "out_json")?;
        *o = to_buf(cache_ref(cache)?.health().to_string().into_bytes());
        Ok(())
    })
}

/// Active health check: `ck_health` plus a PING of the L2 with its latency.
#[no_mangle]
pub unsafe extern "C" fn ck_check_health(cache: *const ck_cache, out_json: *mut ck_buf) -> ck_status {
    guard(|| {
        let o = out(out_json, "out_json")?;
        *o = to_buf(cache_ref(cache)?.check_health().to_string().into_bytes());
        Ok(())
    })
}

// ---- observability ----

/// Prometheus exposition text (format 0.0.4) of every cache of this client:
/// `redis_cache_operations_total`, `redis_cache_operation_duration_seconds`,
/// `redis_circuit_breaker_state`, `redis_connection_pool_utilization`,
/// `redis_connection_pool_usage`, `redis_serialization_fallbacks_total` and
/// `cachekit_l1_*`. Hand it to the web framework's `/metrics` handler.
#[no_mangle]
pub unsafe extern "C" fn ck_metrics(client: *const ck_client, out_text: *mut ck_buf) -> ck_status {
    guard(|| {
        let o = out(out_text, "out_text")?;
        let client = client.as_ref().ok_or_else(|| null("client"))?;
        *o = to_buf(client.client.metrics_text().into_bytes());
        Ok(())
    })
}

/// Receives structured log events: `level` is 10 (debug), 20 (info),
/// 30 (warning) or 40 (error); `json` is one JSON object with `level`,
/// `event`, `namespace`, `key_hash`, `outcome`, `duration_ms`,
/// `correlation_id` and `detail`, valid only during the call. Called from
/// any thread, including the library's own.
pub type ck_log_callback = Option<extern "C" fn(user_data: *mut c_void, level: u8, json: *const c_char)>;

/// Register the process-wide log callback (NULL: back to stderr) and the
/// lowest level to deliver. Without a callback, events at or above
/// `LOG_LEVEL` (default WARNING) go to stderr.
#[no_mangle]
pub unsafe extern "C" fn ck_set_log_callback(callback: ck_log_callback, user_data: *mut c_void, min_level: u8) -> ck_status {
    guard(|| {
        crate::observe::set_logger(callback, user_data, min_level);
        Ok(())
    })
}

/// Attach a correlation id (NULL clears it) to the log events of calls made
/// from this thread.
#[no_mangle]
pub unsafe extern "C" fn ck_set_correlation_id(correlation_id: *const c_char) -> ck_status {
    guard(|| {
        crate::observe::set_correlation_id(opt_cstr(correlation_id, "correlation_id")?.map(str::to_string));
        Ok(())
    })
}

// ---- the completion-callback form, for event loops ----

/// Completion of an asynchronous call. Called exactly once, from a library
/// thread. `value` is owned by the receiver (release it with `ck_buf_free`):
/// the value on success, the error message when `status` is not `CK_OK`.
/// `found` is true for a hit (get, fill) or an existing entry (delete).
/// `lease` is non-NULL when a fill made the receiver the one who computes.
pub type ck_completion = Option<extern "C" fn(user_data: *mut c_void, status: ck_status, value: ck_buf, found: bool, lease: *mut ck_lease)>;

/// Start a background write whose result goes to `callback` if given; an
/// error known at once (before any I/O) is returned either way, so a caller
/// without a callback still learns that a value could not be encoded.
fn background_write(callback: ck_completion, user_data: *mut c_void, start: impl FnOnce(Box<dyn FnOnce(Result<(), Error>) + Send>)) -> Result<(), Error> {
    let done = callback.map(|cb| Completion { cb, user_data });
    let (tx, rx) = std::sync::mpsc::channel();
    start(Box::new(move |r| match done {
        Some(d) => d.call(r.map(|_| (None, false, std::ptr::null_mut()))),
        None => {
            let _ = tx.send(r);
        }
    }));
    match rx.try_recv() {
        Ok(Err(e)) => Err(e),
        _ => Ok(()),
    }
}

struct Completion {
    cb: extern "C" fn(*mut c_void, ck_status, ck_buf, bool, *mut ck_lease),
    user_data: *mut c_void,
}

// SAFETY: the receiver promised (header docs) that user_data may be used
// from a library thread.
unsafe impl Send for Completion {}

impl Completion {
    fn new(cb: ck_completion, user_data: *mut c_void) -> Result<Completion, Error> {
        cb.map(|cb| Completion { cb, user_data }).ok_or_else(|| null("callback"))
    }

    /// Deliver the result, unless the host is shutting down (`ck_shutdown`):
    /// then the result is dropped (a lease in it is abandoned) and the host is
    /// not called.
    fn call(self, r: Result<(Option<Vec<u8>>, bool, *mut ck_lease), Error>) {
        let Some(_call) = crate::host::enter() else {
            if let Ok((_, _, lease)) = r {
                if !lease.is_null() {
                    // SAFETY: made by Box::into_raw for this completion only.
                    drop(unsafe { Box::from_raw(lease) });
                }
            }
            return;
        };
        let _ = catch_unwind(AssertUnwindSafe(|| match r {
            Ok((v, found, lease)) => (self.cb)(self.user_data, ck_status::CK_OK, to_buf(v.unwrap_or_default()), found, lease),
            Err(e) => (self.cb)(self.user_data, status_of(&e), to_buf(e.to_string().into_bytes()), false, std::ptr::null_mut()),
        }));
    }
}

/// A call that would answer through its callback later is refused once the
/// host is shutting down (the callback would never be called).
fn refuse_after_shutdown() -> Result<(), Error> {
    if crate::host::is_shut_down() {
        return Err(Error::Closed("ck_shutdown was called: no completion callback will be called any more".into()));
    }
    Ok(())
}

fn set_pending(p: *mut bool, v: bool) {
    // SAFETY: checked non-null by the caller.
    unsafe { *p = v };
}

/// Asynchronous `ck_get`. An L1 hit (or a miss with no L2) is answered at
/// once, on the calling thread: `*out_pending` is false and `*out_value` /
/// `*out_found` are set. Otherwise `*out_pending` is true and `callback`
/// receives the result later; no thread waits for Redis meanwhile.
#[no_mangle]
pub unsafe extern "C" fn ck_get_async(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    callback: ck_completion,
    user_data: *mut c_void,
    out_value: *mut ck_buf,
    out_found: *mut bool,
    out_pending: *mut bool,
) -> ck_status {
    guard(|| {
        let out_v = out(out_value, "out_value")?;
        let out_f = out(out_found, "out_found")?;
        out(out_pending, "out_pending")?;
        let done = Completion::new(callback, user_data)?;
        let (cache, key) = keyed(cache, operation, args, args_len)?;
        if let Some(v) = cache.l1_get(&key) {
            *out_v = to_buf(v.to_vec());
            *out_f = true;
            set_pending(out_pending, false);
            return Ok(());
        }
        if !cache.has_l2() {
            *out_v = ck_buf { data: std::ptr::null(), len: 0 };
            *out_f = false;
            set_pending(out_pending, false);
            return Ok(());
        }
        refuse_after_shutdown()?;
        set_pending(out_pending, true);
        let c = cache.clone();
        cache.client().spawn(async move {
            let r = c.get_l2(&key).await;
            done.call(r.map(|v| {
                let found = v.is_some();
                (v.map(|b| b.to_vec()), found, std::ptr::null_mut())
            }));
        });
        Ok(())
    })
}

/// Asynchronous `ck_fill_begin`. Answered at once (`*out_pending` false)
/// on an L1 hit, or with a lease when no one else is filling and there is no
/// L2 to ask; otherwise `callback` receives either the value (`found` true)
/// or a lease (`lease` non-NULL) later. Waiting for another caller's fill
/// never blocks a thread.
#[no_mangle]
pub unsafe extern "C" fn ck_fill_begin_async(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    callback: ck_completion,
    user_data: *mut c_void,
    out_value: *mut ck_buf,
    out_lease: *mut *mut ck_lease,
    out_pending: *mut bool,
) -> ck_status {
    guard(|| {
        let out_v = out(out_value, "out_value")?;
        let out_l = out(out_lease, "out_lease")?;
        out(out_pending, "out_pending")?;
        let done = Completion::new(callback, user_data)?;
        let (cache, key) = keyed(cache, operation, args, args_len)?;
        if let Some(Fill::Hit(v)) = cache.l1_fill(&key) {
            *out_v = to_buf(v.to_vec());
            *out_l = std::ptr::null_mut();
            set_pending(out_pending, false);
            return Ok(());
        }
        if let Some(lease) = cache.try_lease_now(&key) {
            *out_v = ck_buf { data: std::ptr::null(), len: 0 };
            *out_l = Box::into_raw(Box::new(ck_lease { lease }));
            set_pending(out_pending, false);
            return Ok(());
        }
        refuse_after_shutdown()?;
        set_pending(out_pending, true);
        let c = cache.clone();
        cache.client().spawn(async move {
            let r = c.fill_async(key.to_string()).await;
            done.call(r.map(|f| match f {
                Fill::Hit(v) => (Some(v.to_vec()), true, std::ptr::null_mut()),
                Fill::Refresh(v, lease) => (Some(v.to_vec()), true, Box::into_raw(Box::new(ck_lease { lease }))),
                Fill::Lease(lease) => (None, false, Box::into_raw(Box::new(ck_lease { lease }))),
            }));
        });
        Ok(())
    })
}

/// Asynchronous `ck_lease_complete`: the value is in L1 and handed to the
/// waiters before this returns; the L2 write happens in the background and
/// `callback` (may be NULL) receives its status. Consumes the lease.
#[no_mangle]
pub unsafe extern "C" fn ck_lease_complete_async(
    lease: *mut ck_lease,
    value: *const u8,
    value_len: usize,
    ttl_ms: i64,
    callback: ck_completion,
    user_data: *mut c_void,
) -> ck_status {
    guard(|| {
        if lease.is_null() {
            return Err(null("lease"));
        }
        let lease = Box::from_raw(lease).lease;
        let value = bytes(value, value_len, "value")?;
        let ttl = ttl_of(ttl_ms)?;
        background_write(callback, user_data, |done| lease.complete_in_background(value, ttl, done))
    })
}

/// Asynchronous `ck_set`: L1 at once, L2 in the background; `callback`
/// (may be NULL) receives the status of the L2 write.
#[no_mangle]
pub unsafe extern "C" fn ck_set_async(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    value: *const u8,
    value_len: usize,
    ttl_ms: i64,
    callback: ck_completion,
    user_data: *mut c_void,
) -> ck_status {
    guard(|| {
        let (cache, key) = keyed(cache, operation, args, args_len)?;
        let value = bytes(value, value_len, "value")?;
        let ttl = ttl_of(ttl_ms)?;
        background_write(callback, user_data, |done| cache.set_in_background(&key, value, ttl, done))
    })
}

/// Asynchronous `ck_delete`: removed from L1 at once; `callback` receives
/// whether the entry existed once L2 answered.
#[no_mangle]
pub unsafe extern "C" fn ck_delete_async(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    callback: ck_completion,
    user_data: *mut c_void,
) -> ck_status {
    guard(|| {
        let done = Completion::new(callback, user_data)?;
        let (cache, key) = keyed(cache, operation, args, args_len)?;
        let c = cache.clone();
        cache.client().spawn(async move {
            let r = c.delete_async(&key).await;
            done.call(r.map(|existed| (None, existed, std::ptr::null_mut())));
        });
        Ok(())
    })
}

// ---- one-call hit path for FFIs where every foreign call costs ----

thread_local! {
    /// The value lent by the last `*_borrowed` call on this thread.
    static BORROWED: RefCell<Option<crate::l1::Bytes>> = const { RefCell::new(None) };
}

fn lend(v: crate::l1::Bytes, out_data: &mut *const u8, out_len: &mut usize) {
    *out_data = v.as_ptr();
    *out_len = v.len();
    BORROWED.with(|b| *b.borrow_mut() = Some(v));
}

/// As `ck_get`, but on a hit the value is lent, not copied: `*out_data`
/// stays valid until the next `*_borrowed` call on this thread (copy it
/// before). Nothing to free, so a hit costs one foreign call.
#[no_mangle]
pub unsafe extern "C" fn ck_get_borrowed(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    out_data: *mut *const u8,
    out_len: *mut usize,
    out_found: *mut bool,
) -> ck_status {
    guard(|| {
        let d = out(out_data, "out_data")?;
        let l = out(out_len, "out_len")?;
        let f = out(out_found, "out_found")?;
        let cache = cache_ref(cache)?;
        match cache.get(cstr(operation, "operation")?, bytes(args, args_len, "args")?)? {
            Some(v) => {
                lend(v, d, l);
                *f = true;
            }
            None => {
                *d = std::ptr::null();
                *l = 0;
                *f = false;
            }
        }
        Ok(())
    })
}

/// The event-loop fast path: `operation(args)` from L1 only. Never does
/// I/O, never blocks, never takes a lease. A value is lent as in
/// `ck_get_borrowed` (`*out_data` non-NULL); `*out_data` NULL means "ask
/// `ck_fill_begin_async`" (not in L1, or an early refresh is due).
#[no_mangle]
pub unsafe extern "C" fn ck_peek_borrowed(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    out_data: *mut *const u8,
    out_len: *mut usize,
) -> ck_status {
    guard(|| {
        let d = out(out_data, "out_data")?;
        let l = out(out_len, "out_len")?;
        let (cache, key) = keyed(cache, operation, args, args_len)?;
        match cache.l1_fill(&key) {
            Some(Fill::Hit(v)) => lend(v, d, l),
            _ => {
                *d = std::ptr::null();
                *l = 0;
            }
        }
        Ok(())
    })
}

/// As `ck_fill_begin`, but a found value is lent as in `ck_get_borrowed`.
#[no_mangle]
pub unsafe extern "C" fn ck_fill_begin_borrowed(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
    out_data: *mut *const u8,
    out_len: *mut usize,
    out_lease: *mut *mut ck_lease,
) -> ck_status {
    guard(|| {
        let d = out(out_data, "out_data")?;
        let l = out(out_len, "out_len")?;
        let out_l = out(out_lease, "out_lease")?;
        let cache = cache_ref(cache)?;
        match cache.fill(cstr(operation, "operation")?, bytes(args, args_len, "args")?)? {
            Fill::Hit(v) => {
                lend(v, d, l);
                *out_l = std::ptr::null_mut();
            }
            Fill::Refresh(v, lease) => {
                lend(v, d, l);
                *out_l = Box::into_raw(Box::new(ck_lease { lease }));
            }
            Fill::Lease(lease) => {
                *d = std::ptr::null();
                *l = 0;
                *out_l = Box::into_raw(Box::new(ck_lease { lease }));
            }
        }
        Ok(())
    })
}
