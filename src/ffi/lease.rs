//! The lease handle: the blocking miss path (`ck_fill_begin`) and the
//! completion or abandonment of a lease.

use super::args::{bytes, cache_ref, cstr, null, out, to_buf, ttl_of};
use super::cache::ck_cache;
use super::status::{ck_status, guard, guard_void};
use super::args::ck_buf;
use crate::fill::{Fill, Lease};
use std::ffi::c_char;

/// The duty to compute one missing value (see `ck_fill_begin`).
pub struct ck_lease {
    pub(super) lease: Lease,
}

/// A lease handed to the host.
pub(super) fn lease_out(lease: Lease) -> *mut ck_lease {
    Box::into_raw(Box::new(ck_lease { lease }))
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
    guard_void(|| {
        if !lease.is_null() {
            Box::from_raw(lease).lease.abort();
        }
    })
}
