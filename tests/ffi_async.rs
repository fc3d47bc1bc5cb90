//! The completion-callback form of the C ABI, as an event loop uses it:
//! answers at once when no I/O is needed, otherwise exactly one callback
//! from a library thread.

#[path = "support/redis_server.rs"]
mod redis_server;

use cachekit::ffi::*;
use redis_server::RedisServer;
use std::ffi::{c_void, CString};
use std::sync::mpsc::{channel, Sender};
use std::time::Duration;

struct Done {
    status: ck_status,
    value: Vec<u8>,
    found: bool,
    lease: *mut ck_lease,
    thread: std::thread::ThreadId,
}
unsafe impl Send for Done {}

extern "C" fn on_done(ud: *mut c_void, status: ck_status, mut value: ck_buf, found: bool, lease: *mut ck_lease) {
    let tx = unsafe { Box::from_raw(ud as *mut Sender<Done>) };
    let bytes = if value.len == 0 { Vec::new() } else { unsafe { std::slice::from_raw_parts(value.data, value.len) }.to_vec() };
    unsafe { ck_buf_free(&mut value) };
    tx.send(Done { status, value: bytes, found, lease, thread: std::thread::current().id() }).unwrap();
}

fn sender() -> (*mut c_void, std::sync::mpsc::Receiver<Done>) {
    let (tx, rx) = channel();
    (Box::into_raw(Box::new(tx)) as *mut c_void, rx)
}

fn open(url: &str) -> *mut ck_cache {
    let cfg = CString::new(format!(r#"{{"redis_url": "{url}"}}"#)).unwrap();
    let mut client = std::ptr::null_mut();
    let mut cache = std::ptr::null_mut();
    unsafe {
        assert_eq!(ck_client_new(cfg.as_ptr(), &mut client), ck_status::CK_OK);
        let ns = CString::new("async").unwrap();
        assert_eq!(ck_cache_new(client, ns.as_ptr(), std::ptr::null(), &mut cache), ck_status::CK_OK);
        ck_client_free(client);
    }
    cache
}

const OP: &std::ffi::CStr = c"op";
const ARGS: [u8; 2] = [0x91, 0x07];

#[test]
fn a_miss_then_a_fill_then_an_l1_hit_answered_on_the_calling_thread() {
    let redis = RedisServer::start();
    let cache = open(&redis.url());
    unsafe {
        // Cold: the answer comes later, from a library thread, with a lease.
        let (ud, rx) = sender();
        let (mut v, mut lease, mut pending) = (ck_buf { data: std::ptr::null(), len: 0 }, std::ptr::null_mut(), false);
        let st = ck_fill_begin_async(cache, OP.as_ptr(), ARGS.as_ptr(), 2, Some(on_done), ud, &mut v, &mut lease, &mut pending);
        assert_eq!(st, ck_status::CK_OK);
        assert!(pending, "a cold key with Redis configured needs I/O");
        let d = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(d.status, ck_status::CK_OK);
        assert!(!d.found && !d.lease.is_null(), "a lease to compute");
        assert_ne!(d.thread, std::thread::current().id());

        // Complete in the background; the callback reports the L2 write.
        let (ud2, rx2) = sender();
        assert_eq!(ck_lease_complete_async(d.lease, [0x2a].as_ptr(), 1, 0, Some(on_done), ud2), ck_status::CK_OK);

        // Already an L1 hit, before the L2 write is confirmed: answered at once, no callback.
        let (ud3, rx3) = sender();
        let mut found = false;
        let st = ck_get_async(cache, OP.as_ptr(), ARGS.as_ptr(), 2, Some(on_done), ud3, &mut v, &mut found, &mut pending);
        assert_eq!(st, ck_status::CK_OK);
        assert!(!pending && found);
        assert_eq!(std::slice::from_raw_parts(v.data, v.len), &[0x2a]);
        ck_buf_free(&mut v);
        assert!(rx3.recv_timeout(Duration::from_millis(200)).is_err(), "no callback for an immediate answer");
        drop(Box::from_raw(ud3 as *mut Sender<Done>));
        assert_eq!(rx2.recv_timeout(Duration::from_secs(5)).unwrap().status, ck_status::CK_OK, "the L2 write is reported");

        // Delete: reported through the callback.
        let (ud4, rx4) = sender();
        assert_eq!(ck_delete_async(cache, OP.as_ptr(), ARGS.as_ptr(), 2, Some(on_done), ud4), ck_status::CK_OK);
        let d = rx4.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(d.found, "the entry existed");

        // Set async, then an L2 read of another handle through the callback.
        let (ud5, rx5) = sender();
        assert_eq!(ck_set_async(cache, OP.as_ptr(), ARGS.as_ptr(), 2, [0x2b].as_ptr(), 1, 0, Some(on_done), ud5), ck_status::CK_OK);
        assert_eq!(rx5.recv_timeout(Duration::from_secs(5)).unwrap().status, ck_status::CK_OK);
        let other = open(&redis.url());
        let (ud6, rx6) = sender();
        let st = ck_get_async(other, OP.as_ptr(), ARGS.as_ptr(), 2, Some(on_done), ud6, &mut v, &mut found, &mut pending);
        assert_eq!(st, ck_status::CK_OK);
        assert!(pending);
        let d = rx6.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(d.found);
        assert_eq!(d.value, vec![0x2b]);
        ck_cache_free(other);
        ck_cache_free(cache);
    }
}

#[test]
fn errors_known_at_once_are_returned_and_no_callback_follows() {
    let cache = open("redis://127.0.0.1:1");
    unsafe {
        let (ud, rx) = sender();
        let (mut v, mut found, mut pending) = (ck_buf { data: std::ptr::null(), len: 0 }, false, false);
        let bad = c"Bad Op!";
        let st = ck_get_async(cache, bad.as_ptr(), ARGS.as_ptr(), 2, Some(on_done), ud, &mut v, &mut found, &mut pending);
        assert_eq!(st, ck_status::CK_INVALID_KEY);
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        drop(Box::from_raw(ud as *mut Sender<Done>));
        let st = ck_get_async(cache, OP.as_ptr(), ARGS.as_ptr(), 2, None, std::ptr::null_mut(), &mut v, &mut found, &mut pending);
        assert_eq!(st, ck_status::CK_INVALID_ARGUMENT, "a callback is required");
        // Redis down: the read completes as a miss (fail-open), through the callback.
        let (ud, rx) = sender();
        let st = ck_get_async(cache, OP.as_ptr(), ARGS.as_ptr(), 2, Some(on_done), ud, &mut v, &mut found, &mut pending);
        assert_eq!(st, ck_status::CK_OK);
        let d = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(d.status, ck_status::CK_OK);
        assert!(!d.found);
        ck_cache_free(cache);
    }
}
