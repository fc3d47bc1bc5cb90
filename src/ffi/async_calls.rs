//! The completion-callback form, for event loops: every call answers at
//! once when the core needs no I/O ("ready"), or later through its
//! callback on a library thread ("pending"); which one is the core's
//! decision (`Cache::get_ready`, `Cache::fill_ready`, ...), this file only
//! converts.

use super::args::{bytes, empty_buf, keyed, null, out, to_buf, ttl_of};
use super::cache::ck_cache;
use super::lease::{ck_lease, lease_out};
use super::status::{ck_status, guard, status_of};
use super::args::ck_buf;
use crate::client::Ready;
use crate::error::Error;
use crate::fill::Fill;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Completion of an asynchronous call. Called exactly once, from a library
/// thread. `value` is owned by the receiver (release it with `ck_buf_free`):
/// the value on success, the error message when `status` is not `CK_OK`.
/// `found` is true for a hit (get, fill) or an existing entry (delete).
/// `lease` is non-NULL when a fill made the receiver the one who computes.
pub type ck_completion = Option<extern "C" fn(user_data: *mut c_void, status: ck_status, value: ck_buf, found: bool, lease: *mut ck_lease)>;

/// Hand a write's outcome to `callback` (may be NULL): an error known at
/// once, before any I/O, is returned as the call's status when there is no
/// callback, so a caller without one still learns that a value could not
/// be encoded. A pending write runs either way.
fn background_write(callback: ck_completion, user_data: *mut c_void, r: Result<Ready<()>, Error>) -> Result<(), Error> {
    let done = callback.map(|cb| Completion { cb, user_data });
    match (r, done) {
        (Err(e), None) => Err(e),
        (Err(e), Some(d)) => {
            d.call(Err(e));
            Ok(())
        }
        (Ok(Ready::Now(())), None) => Ok(()),
        (Ok(Ready::Now(())), Some(d)) => {
            d.call(Ok((None, false, std::ptr::null_mut())));
            Ok(())
        }
        (Ok(Ready::Pending(p)), done) => {
            p.then(move |r| {
                if let Some(d) = done {
                    d.call(r.map(|_| (None, false, std::ptr::null_mut())));
                }
            });
            Ok(())
        }
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

/// A fill's value (copied) and lease (handed over, or NULL).
fn fill_parts(f: Fill) -> (Option<Vec<u8>>, *mut ck_lease) {
    match f {
        Fill::Hit(v) => (Some(v.to_vec()), std::ptr::null_mut()),
        Fill::Refresh(v, lease) => (Some(v.to_vec()), lease_out(lease)),
        Fill::Lease(lease) => (None, lease_out(lease)),
    }
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
        match cache.get_ready(key)? {
            Ready::Now(v) => {
                *out_f = v.is_some();
                *out_v = v.map_or_else(empty_buf, |v| to_buf(v.to_vec()));
                set_pending(out_pending, false);
            }
            Ready::Pending(p) => {
                set_pending(out_pending, true);
                p.then(move |r| {
                    done.call(r.map(|v| {
                        let found = v.is_some();
                        (v.map(|b| b.to_vec()), found, std::ptr::null_mut())
                    }))
                });
            }
        }
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
        match cache.fill_ready(key)? {
            Ready::Now(f) => {
                let (v, lease) = fill_parts(f);
                *out_v = v.map_or_else(empty_buf, to_buf);
                *out_l = lease;
                set_pending(out_pending, false);
            }
            Ready::Pending(p) => {
                set_pending(out_pending, true);
                p.then(move |r| {
                    done.call(r.map(|f| {
                        let (v, lease) = fill_parts(f);
                        let found = v.is_some();
                        (v, found, lease)
                    }))
                });
            }
        }
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
        background_write(callback, user_data, lease.complete_ready(value, ttl))
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
        background_write(callback, user_data, cache.set_ready(&key, value, ttl))
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
        match cache.delete_ready(key)? {
            Ready::Now(existed) => done.call(Ok((None, existed, std::ptr::null_mut()))),
            Ready::Pending(p) => p.then(move |r| done.call(r.map(|existed| (None, existed, std::ptr::null_mut())))),
        }
        Ok(())
    })
}
