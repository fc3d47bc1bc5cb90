//! The status of every fallible call, the thread's last error, and the
//! panic boundary every entry point goes through.

use crate::error::Error;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

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
    /// The client was closed (`ck_client_close`), or the host has shut the
    /// library down (`ck_shutdown`) and a call that would need a completion
    /// callback is refused.
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

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(super) fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

pub(super) fn status_of(e: &Error) -> ck_status {
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
pub(super) fn guard(f: impl FnOnce() -> Result<(), Error>) -> ck_status {
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

/// The panic boundary of an entry point that returns nothing (the `*_free`
/// and `*_abort` calls): a panic is contained and recorded as the last error.
pub(super) fn guard_void(f: impl FnOnce()) {
    let _ = guard(|| {
        f();
        Ok(())
    });
}

/// The message of the last failed call on this thread (empty if none). The
/// pointer stays valid until the next failing call on this thread.
#[no_mangle]
pub extern "C" fn ck_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}
