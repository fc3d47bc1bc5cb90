//! The host's exit (`ck_shutdown`): no host callback starts after it, the
//! ones under way are waited for, and calls that would need one are refused.
//! One test: the state is process-wide, and this file is its own process.

#[path = "support/redis_server.rs"]
mod redis_server;

use cachekit::ffi::*;
use redis_server::RedisServer;
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;

static SHUTDOWN_RETURNED: AtomicBool = AtomicBool::new(false);
static SEEN_BY_CALLBACK: Mutex<Option<bool>> = Mutex::new(None);
static LOGS: AtomicUsize = AtomicUsize::new(0);
static BACKEND_CALLS: AtomicUsize = AtomicUsize::new(0);

struct Gate {
    entered: Sender<()>,
    release: Receiver<()>,
}

/// Holds its thread inside the callback until released, then records
/// whether `ck_shutdown` had already returned.
extern "C" fn held(ud: *mut c_void, _s: ck_status, mut v: ck_buf, _found: bool, lease: *mut ck_lease) {
    let gate = unsafe { Box::from_raw(ud as *mut Gate) };
    unsafe { ck_buf_free(&mut v) };
    gate.entered.send(()).unwrap();
    gate.release.recv().unwrap();
    *SEEN_BY_CALLBACK.lock().unwrap() = Some(SHUTDOWN_RETURNED.load(Ordering::SeqCst));
    if !lease.is_null() {
        unsafe { ck_lease_abort(lease) };
    }
}

extern "C" fn never(_ud: *mut c_void, _s: ck_status, _v: ck_buf, _f: bool, _l: *mut ck_lease) {
    panic!("a completion after ck_shutdown");
}

extern "C" fn on_log(_ud: *mut c_void, _level: u8, _json: *const c_char) {
    LOGS.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn b_get(_ud: *mut c_void, _k: *const c_char, _sink: *mut ck_sink) -> i32 {
    BACKEND_CALLS.fetch_add(1, Ordering::SeqCst);
    -1 // a failure: logged as a warning while the host is listening
}
extern "C" fn b_set(_ud: *mut c_void, _k: *const c_char, _v: *const u8, _n: usize, _t: i64) -> i32 {
    BACKEND_CALLS.fetch_add(1, Ordering::SeqCst);
    0
}
extern "C" fn b_del(_ud: *mut c_void, _k: *const c_char) -> i32 {
    BACKEND_CALLS.fetch_add(1, Ordering::SeqCst);
    0
}

fn cache_of(client: *mut ck_client, ns: &str) -> *mut ck_cache {
    let ns = CString::new(ns).unwrap();
    let mut cache = std::ptr::null_mut();
    assert_eq!(unsafe { ck_cache_new(client, ns.as_ptr(), c"{\"l1_enabled\": false}".as_ptr(), &mut cache) }, ck_status::CK_OK);
    cache
}

fn empty() -> ck_buf {
    ck_buf { data: std::ptr::null(), len: 0 }
}

#[test]
fn after_ck_shutdown_no_host_callback_starts_and_those_under_way_were_waited_for() {
    let redis = RedisServer::start();
    unsafe {
        assert_eq!(ck_set_log_callback(Some(on_log), std::ptr::null_mut(), 30), ck_status::CK_OK);
        let cfg = CString::new(format!(r#"{{"redis_url": "{}"}}"#, redis.url())).unwrap();
        let mut client = std::ptr::null_mut();
        assert_eq!(ck_client_new(cfg.as_ptr(), &mut client), ck_status::CK_OK);
        let cache = cache_of(client, "shutdown");
        let vt = ck_backend_vtable {
            user_data: std::ptr::null_mut(),
            get: Some(b_get),
            set: Some(b_set),
            del: Some(b_del),
            exists: None,
            health: None,
            release: None,
        };
        let mut foreign = std::ptr::null_mut();
        assert_eq!(ck_client_new_with_backend(std::ptr::null(), &vt, &mut foreign), ck_status::CK_OK);
        let fcache = cache_of(foreign, "shutdown_foreign");

        // While the host listens, a foreign backend's failure reaches it.
        let (mut v, mut found) = (empty(), false);
        assert_eq!(ck_get(fcache, c"op".as_ptr(), [0x91, 1].as_ptr(), 2, &mut v, &mut found), ck_status::CK_OK);
        assert!(!found);
        assert_eq!(BACKEND_CALLS.load(Ordering::SeqCst), 1);
        assert!(LOGS.load(Ordering::SeqCst) >= 1, "the failed foreign get was logged through the callback");

        // A completion under way on a library thread when the host shuts down.
        let (entered_tx, entered) = channel();
        let (release, release_rx) = channel();
        let gate = Box::into_raw(Box::new(Gate { entered: entered_tx, release: release_rx })) as *mut c_void;
        let (mut lease, mut pending) = (std::ptr::null_mut(), false);
        let st = ck_fill_begin_async(cache, c"op".as_ptr(), [0x91, 2].as_ptr(), 2, Some(held), gate, &mut v, &mut lease, &mut pending);
        assert_eq!(st, ck_status::CK_OK);
        assert!(pending, "a cold key with Redis is answered later");
        entered.recv_timeout(Duration::from_secs(10)).expect("the completion started");
        let shutdown = std::thread::spawn(|| {
            let mut left = u64::MAX;
            let st = ck_shutdown(10_000, &mut left);
            SHUTDOWN_RETURNED.store(true, Ordering::SeqCst);
            (st, left)
        });
        std::thread::sleep(Duration::from_millis(300)); // ck_shutdown had time to return if it did not wait
        release.send(()).unwrap();
        let (st, left) = shutdown.join().unwrap();
        assert_eq!(st, ck_status::CK_OK);
        assert_eq!(left, 0, "no write or callback left at the deadline");
        assert_eq!(*SEEN_BY_CALLBACK.lock().unwrap(), Some(false), "ck_shutdown returned while a callback was running");

        // After it: an async call that would answer later is refused...
        let logs = LOGS.load(Ordering::SeqCst);
        let st = ck_get_async(cache, c"op".as_ptr(), [0x91, 3].as_ptr(), 2, Some(never), std::ptr::null_mut(), &mut v, &mut found, &mut pending);
        assert_eq!(st, ck_status::CK_CLOSED);
        let st = ck_fill_begin_async(cache, c"op".as_ptr(), [0x91, 3].as_ptr(), 2, Some(never), std::ptr::null_mut(), &mut v, &mut lease, &mut pending);
        assert_eq!(st, ck_status::CK_CLOSED);
        assert!(CStr::from_ptr(ck_last_error()).to_str().unwrap().contains("ck_shutdown"));
        // ...blocking calls keep working against Redis...
        assert_eq!(ck_set(cache, c"op".as_ptr(), [0x91, 4].as_ptr(), 2, [0x2a].as_ptr(), 1, 0), ck_status::CK_OK);
        assert_eq!(ck_get(cache, c"op".as_ptr(), [0x91, 4].as_ptr(), 2, &mut v, &mut found), ck_status::CK_OK);
        assert!(found);
        ck_buf_free(&mut v);
        // ...and the foreign backend is not called: a fail-open miss, not logged to the host.
        assert_eq!(ck_get(fcache, c"op".as_ptr(), [0x91, 5].as_ptr(), 2, &mut v, &mut found), ck_status::CK_OK);
        assert!(!found);
        assert_eq!(BACKEND_CALLS.load(Ordering::SeqCst), 1, "a foreign backend callback after ck_shutdown");
        assert_eq!(LOGS.load(Ordering::SeqCst), logs, "a log callback after ck_shutdown");
        // Idempotent.
        assert_eq!(ck_shutdown(1000, std::ptr::null_mut()), ck_status::CK_OK);
        ck_cache_free(cache);
        ck_cache_free(fcache);
        ck_client_free(client);
        ck_client_free(foreign);
    }
}

#[test]
fn every_status_has_its_header_name() {
    let name = |s: u32| unsafe { CStr::from_ptr(ck_status_name(s)) }.to_str().unwrap().to_string();
    assert_eq!(name(ck_status::CK_OK as u32), "CK_OK");
    assert_eq!(name(ck_status::CK_BACKEND as u32), "CK_BACKEND");
    assert_eq!(name(ck_status::CK_CLOSED as u32), "CK_CLOSED");
    assert_eq!(name(4242), "CK_UNKNOWN");
}
