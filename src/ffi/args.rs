//! Converting what the host passed: pointers checked for NULL, strings for
//! UTF-8, lengths for range, handles cast back, buffers handed over.

use super::cache::ck_cache;
use crate::client::Cache;
use crate::error::Error;
use std::ffi::{c_char, CStr};
use std::time::Duration;

/// A byte buffer owned by the library. Read `data[0..len]`, then release it
/// with `ck_buf_free`. An empty buffer has `data == NULL` and `len == 0`.
#[repr(C)]
pub struct ck_buf {
    pub data: *const u8,
    pub len: usize,
}

pub(super) fn null(what: &str) -> Error {
    Error::InvalidArgument(format!("{what} must not be NULL"))
}

pub(super) unsafe fn cstr<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(null(what));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| Error::InvalidArgument(format!("{what} is not valid UTF-8")))
}

pub(super) unsafe fn opt_cstr<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Error> {
    if p.is_null() {
        Ok(None)
    } else {
        cstr(p, what).map(Some)
    }
}

pub(super) unsafe fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], Error> {
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

pub(super) unsafe fn out<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, Error> {
    p.as_mut().ok_or_else(|| null(what))
}

pub(super) unsafe fn cache_ref<'a>(c: *const ck_cache) -> Result<&'a Cache, Error> {
    c.as_ref().map(|c| &c.cache).ok_or_else(|| null("cache"))
}

/// The cache handle and the key of `operation(args)`: the common first
/// step of every keyed call.
pub(super) unsafe fn keyed<'a>(
    cache: *const ck_cache,
    operation: *const c_char,
    args: *const u8,
    args_len: usize,
) -> Result<(&'a Cache, std::sync::Arc<str>), Error> {
    let cache = cache_ref(cache)?;
    let key = cache.key_shared(cstr(operation, "operation")?, bytes(args, args_len, "args")?)?;
    Ok((cache, key))
}

pub(super) fn to_buf(v: Vec<u8>) -> ck_buf {
    if v.is_empty() {
        return ck_buf { data: std::ptr::null(), len: 0 };
    }
    let b: Box<[u8]> = v.into_boxed_slice();
    let len = b.len();
    ck_buf { data: Box::into_raw(b) as *const u8, len }
}

/// An empty buffer.
pub(super) fn empty_buf() -> ck_buf {
    ck_buf { data: std::ptr::null(), len: 0 }
}

pub(super) fn ttl_of(ttl_ms: i64) -> Result<Option<Duration>, Error> {
    match ttl_ms {
        0 => Ok(None),
        n if n > 0 => Ok(Some(Duration::from_millis(n as u64))),
        n => Err(Error::InvalidArgument(format!("ttl_ms must be >= 0 (0 = the namespace default), got {n}"))),
    }
}

/// Drop a handle made with `Box::into_raw`; NULL is a no-op.
pub(super) unsafe fn free_handle<T>(p: *mut T) {
    super::status::guard_void(|| {
        if !p.is_null() {
            drop(Box::from_raw(p));
        }
    })
}

/// Release a buffer returned by the library; sets it to empty. Safe to call
/// on an empty buffer or twice.
#[no_mangle]
pub unsafe extern "C" fn ck_buf_free(buf: *mut ck_buf) {
    super::status::guard_void(|| {
        if let Some(b) = buf.as_mut() {
            if !b.data.is_null() && b.len > 0 {
                let slice = std::ptr::slice_from_raw_parts_mut(b.data as *mut u8, b.len);
                drop(Box::from_raw(slice));
            }
            b.data = std::ptr::null();
            b.len = 0;
        }
    })
}
