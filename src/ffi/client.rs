//! The client handle: made from settings (or a host backend), flushed,
//! shut down with the host, freed; its metrics.

use super::args::{bytes, ck_buf, free_handle, null, opt_cstr, out, to_buf};
use super::status::{ck_status, guard, guard_void};
use crate::backend::foreign::{ck_backend_vtable, ck_sink, ForeignBackend};
use crate::client::Client;
use crate::error::Error;
use std::ffi::c_char;
use std::time::Duration;

/// A client: settings, the Redis connections and the per-process state.
/// One per process, shared by all threads.
pub struct ck_client {
    pub(super) client: Client,
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

/// Free a client. Caches made from it stay usable until they are freed.
/// First waits (within the client's `close_flush_timeout`) for the L2
/// writes this process made behind its callers, as `ck_flush` does.
#[no_mangle]
pub unsafe extern "C" fn ck_client_free(client: *mut ck_client) {
    guard_void(|| {
        if let Some(c) = client.as_ref() {
            c.client.flush_before_close();
        }
    });
    free_handle(client)
}

/// Close a client: first waits (within the client's close bound, 5 s) for
/// the L2 writes this process made behind its callers, then every call on
/// the client, its caches and their leases returns `CK_CLOSED` and writes
/// nothing (L1 lookups miss). The handle stays valid until `ck_client_free`.
/// Closing twice is harmless. `*out_pending` (may be NULL) receives the
/// writes still under way at the deadline.
#[no_mangle]
pub unsafe extern "C" fn ck_client_close(client: *const ck_client, out_pending: *mut u64) -> ck_status {
    guard(|| {
        let client = client.as_ref().ok_or_else(|| null("client"))?;
        let n = client.client.close();
        if let Some(o) = out_pending.as_mut() {
            *o = n as u64;
        }
        Ok(())
    })
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
