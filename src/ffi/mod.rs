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
//!
//! Layout (after rustls-ffi): `status` (the status type, the last error
//! and the one panic boundary every entry point goes through, `guard` for
//! fallible calls and `guard_void` for the others), `args` (converting and
//! checking pointers, strings, buffers and handles), then one file per
//! handle or call family: `client`, `cache`, `lease`, `async_calls`
//! (completion callbacks), `borrowed` (lent values), `log`.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

mod args;
mod async_calls;
mod borrowed;
mod cache;
mod client;
mod lease;
mod log;
mod status;

pub use crate::backend::foreign::{ck_backend_vtable, ck_sink};
pub use async_calls::*;
pub use borrowed::*;
pub use cache::*;
pub use client::*;
pub use lease::*;
pub use log::*;
pub use args::ck_buf_free;
pub use args::ck_buf;
pub use status::*;

use std::ffi::c_char;

/// Version of this ABI. Wrappers compare it with the version they were
/// written for and refuse to load on a mismatch.
pub const CK_ABI_VERSION: u32 = 1;

/// What a foreign backend's callback returns for a failure that must not
/// move the circuit breaker (an error kind the user excluded): the call
/// fails open and the error is counted. Any other negative return is a
/// transient L2 failure.
pub const CK_BACKEND_EXCLUDED: i32 = -3;

const _: () = assert!(CK_BACKEND_EXCLUDED == crate::backend::foreign::EXCLUDED_FAILURE);

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
