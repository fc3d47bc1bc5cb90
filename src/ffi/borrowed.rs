//! Values lent instead of copied, for FFIs where every foreign call costs
//! (PHP): a hit is one call, nothing to free.

use super::args::{bytes, cache_ref, cstr, keyed, out};
use super::cache::ck_cache;
use super::lease::ck_lease;
use super::status::{ck_status, guard};
use crate::fill::Fill;
use std::cell::RefCell;
use std::ffi::c_char;

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
