//! The cache handle (one namespace) and its blocking calls.

use super::args::{bytes, cache_ref, cstr, free_handle, keyed, null, opt_cstr, out, to_buf, ttl_of};
use super::client::ck_client;
use super::status::{ck_status, guard};
use super::args::ck_buf;
use crate::client::Cache;
use crate::config::CacheOptions;
use std::ffi::c_char;

/// One namespace of a client with its options: what a cached function or a
/// PSR-16 pool holds. Thread-safe.
pub struct ck_cache {
    pub(super) cache: Cache,
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
