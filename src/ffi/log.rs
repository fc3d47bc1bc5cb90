//! Structured log events to the host, and the thread's correlation id.

use super::args::opt_cstr;
use super::status::{ck_status, guard};
use std::ffi::{c_char, c_void};

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
