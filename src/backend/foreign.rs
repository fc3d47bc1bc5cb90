//! An L2 whose operations are callbacks into the host language: a user's
//! own backend written in Python, PHP, ... (the reference's backend
//! protocol of get, set, delete, exists, health_check).
//!
//! Callbacks are blocking calls into another runtime, so they run on
//! tokio's blocking pool, never on an I/O worker and never on an event-loop
//! thread. A foreign backend has no locks or pub/sub: the fill path uses
//! in-process single-flight only, and L1 invalidation stays in-process.

use super::{ErrorClass, Fetched, L2Error, L2Result};
use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;
use std::time::Duration;

/// Where a `get` callback writes the value it found (`ck_sink_write`).
#[allow(non_camel_case_types)]
pub struct ck_sink {
    pub(crate) bytes: Vec<u8>,
}

/// The callbacks of a foreign backend. Each returns a negative number on
/// failure: -3 (`CK_BACKEND_EXCLUDED`) is a failure excluded from the circuit breaker (the call
/// fails open and the error is counted, nothing else moves); any other
/// negative number is a transient L2 failure.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct ck_backend_vtable {
    /// Passed to every callback.
    pub user_data: *mut c_void,
    /// Look `key` up: write the value with `ck_sink_write(sink, ...)` and
    /// return 1, or return 0 when absent.
    pub get: Option<extern "C" fn(user_data: *mut c_void, key: *const c_char, sink: *mut ck_sink) -> i32>,
    /// Store `value` under `key` for `ttl_ms` milliseconds; 0 on success.
    pub set: Option<extern "C" fn(user_data: *mut c_void, key: *const c_char, value: *const u8, value_len: usize, ttl_ms: i64) -> i32>,
    /// Delete `key`: 1 if it existed, 0 if not.
    pub del: Option<extern "C" fn(user_data: *mut c_void, key: *const c_char) -> i32>,
    /// 1 if `key` exists, 0 if not.
    pub exists: Option<extern "C" fn(user_data: *mut c_void, key: *const c_char) -> i32>,
    /// 0 if the backend is healthy (may be NULL).
    pub health: Option<extern "C" fn(user_data: *mut c_void) -> i32>,
    /// Called once when the backend is no longer used (may be NULL).
    pub release: Option<extern "C" fn(user_data: *mut c_void)>,
}

struct Table(ck_backend_vtable);

// SAFETY: the host promised (header docs) that its callbacks may be called
// from any thread.
unsafe impl Send for Table {}
unsafe impl Sync for Table {}

impl Drop for Table {
    fn drop(&mut self) {
        // Not once the host is shutting down: its runtime may be gone.
        if let (Some(r), Some(_call)) = (self.0.release, crate::host::enter()) {
            r(self.0.user_data);
        }
    }
}

#[derive(Clone)]
pub struct ForeignBackend {
    table: Arc<Table>,
}

/// What a callback returns for a failure excluded from the circuit breaker.
pub(crate) const EXCLUDED_FAILURE: i32 = -3;

fn failed(op: &str, code: i32) -> L2Error {
    let class = if code == EXCLUDED_FAILURE { ErrorClass::Excluded } else { ErrorClass::Transient };
    L2Error { class, message: format!("foreign backend {op} failed (returned {code})") }
}

fn ckey(key: &str) -> L2Result<CString> {
    CString::new(key).map_err(|_| L2Error { class: ErrorClass::Permanent, message: "key contains NUL".into() })
}

impl ForeignBackend {
    /// Checks that the required callbacks are there.
    pub fn new(vt: ck_backend_vtable) -> Result<ForeignBackend, String> {
        if vt.get.is_none() || vt.set.is_none() || vt.del.is_none() {
            return Err("a foreign backend needs get, set and del callbacks".into());
        }
        Ok(ForeignBackend { table: Arc::new(Table(vt)) })
    }

    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&ck_backend_vtable) -> L2Result<T> + Send + 'static) -> L2Result<T> {
        let t = self.table.clone();
        let call = move || match crate::host::enter() {
            Some(_call) => f(&t.0),
            // The host is shutting down: a failure that moves no breaker.
            None => Err(L2Error { class: ErrorClass::Excluded, message: "foreign backend not called: the host is shutting down".into() }),
        };
        match tokio::task::spawn_blocking(call).await {
            Ok(r) => r,
            Err(e) => Err(L2Error { class: ErrorClass::Transient, message: format!("foreign backend callback panicked: {e}") }),
        }
    }

    pub async fn get(&self, key: &str) -> L2Result<Option<Fetched>> {
        let k = ckey(key)?;
        self.blocking(move |vt| {
            let mut sink = ck_sink { bytes: Vec::new() };
            match (vt.get.expect("checked"))(vt.user_data, k.as_ptr(), &mut sink) {
                1 => Ok(Some(Fetched { bytes: sink.bytes, ttl: None })),
                0 => Ok(None),
                n => Err(failed("get", n)),
            }
        })
        .await
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> L2Result<()> {
        let (k, v) = (ckey(key)?, value.to_vec());
        let ms = ttl.as_millis().min(i64::MAX as u128) as i64;
        self.blocking(move |vt| match (vt.set.expect("checked"))(vt.user_data, k.as_ptr(), v.as_ptr(), v.len(), ms) {
            0 => Ok(()),
            n => Err(failed("set", n)),
        })
        .await
    }

    pub async fn delete(&self, key: &str) -> L2Result<bool> {
        let k = ckey(key)?;
        self.blocking(move |vt| match (vt.del.expect("checked"))(vt.user_data, k.as_ptr()) {
            n if n >= 0 => Ok(n > 0),
            n => Err(failed("delete", n)),
        })
        .await
    }

    pub async fn exists(&self, key: &str) -> L2Result<bool> {
        let k = ckey(key)?;
        self.blocking(move |vt| match vt.exists {
            Some(f) => match f(vt.user_data, k.as_ptr()) {
                n if n >= 0 => Ok(n > 0),
                n => Err(failed("exists", n)),
            },
            None => {
                let mut sink = ck_sink { bytes: Vec::new() };
                match (vt.get.expect("checked"))(vt.user_data, k.as_ptr(), &mut sink) {
                    n if n >= 0 => Ok(n > 0),
                    n => Err(failed("exists", n)),
                }
            }
        })
        .await
    }

    pub async fn ping(&self) -> L2Result<Duration> {
        let start = std::time::Instant::now();
        self.blocking(|vt| match vt.health {
            Some(f) => match f(vt.user_data) {
                0 => Ok(()),
                n => Err(failed("health_check", n)),
            },
            None => Ok(()),
        })
        .await?;
        Ok(start.elapsed())
    }
}
