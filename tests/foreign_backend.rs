//! A backend written in the host language, reached through callbacks.

use cachekit::ffi::{ck_backend_vtable, ck_sink, ck_sink_write};
use cachekit::{CacheOptions, Client, Config};
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::sync::Mutex;

/// The host's store: a map, plus a switch to make every call fail.
struct Store {
    map: Mutex<HashMap<String, Vec<u8>>>,
    failing: Mutex<bool>,
    /// What a failing call returns (-1: transient; CK_BACKEND_EXCLUDED).
    fail_code: Mutex<i32>,
    calls: Mutex<Vec<String>>,
}

fn store<'a>(ud: *mut c_void) -> &'a Store {
    unsafe { &*(ud as *const Store) }
}

fn key(k: *const c_char) -> String {
    unsafe { CStr::from_ptr(k) }.to_str().unwrap().to_string()
}

extern "C" fn get(ud: *mut c_void, k: *const c_char, sink: *mut ck_sink) -> i32 {
    let s = store(ud);
    s.calls.lock().unwrap().push(format!("get {}", key(k)));
    if *s.failing.lock().unwrap() {
        return *s.fail_code.lock().unwrap();
    }
    match s.map.lock().unwrap().get(&key(k)) {
        Some(v) => {
            unsafe { ck_sink_write(sink, v.as_ptr(), v.len()) };
            1
        }
        None => 0,
    }
}

extern "C" fn set(ud: *mut c_void, k: *const c_char, v: *const u8, len: usize, ttl_ms: i64) -> i32 {
    let s = store(ud);
    s.calls.lock().unwrap().push(format!("set {} ttl_ms={ttl_ms}", key(k)));
    if *s.failing.lock().unwrap() {
        return *s.fail_code.lock().unwrap();
    }
    s.map.lock().unwrap().insert(key(k), unsafe { std::slice::from_raw_parts(v, len) }.to_vec());
    0
}

extern "C" fn del(ud: *mut c_void, k: *const c_char) -> i32 {
    let s = store(ud);
    if *s.failing.lock().unwrap() {
        return *s.fail_code.lock().unwrap();
    }
    s.map.lock().unwrap().remove(&key(k)).is_some() as i32
}

fn client(s: &'static Store) -> Client {
    let vt = ck_backend_vtable {
        user_data: s as *const Store as *mut c_void,
        get: Some(get),
        set: Some(set),
        del: Some(del),
        exists: None,
        health: None,
        release: None,
    };
    let foreign = cachekit::ForeignBackend::new(vt).unwrap();
    Client::with_backend(Config::load_with(None, |_| None).unwrap(), foreign).unwrap()
}

fn leak() -> &'static Store {
    Box::leak(Box::new(Store { map: Default::default(), failing: Mutex::new(false), fail_code: Mutex::new(-1), calls: Default::default() }))
}

#[test]
fn values_go_through_the_host_callbacks() {
    let s = leak();
    let a = client(s).cache("host", CacheOptions::from_json(Some(r#"{"ttl": 30}"#)).unwrap()).unwrap();
    a.set("op", &[0x91, 0x01], &[0x2a], None).unwrap();
    assert_eq!(s.map.lock().unwrap().len(), 1, "the envelope landed in the host's store");
    assert!(s.calls.lock().unwrap().iter().any(|c| c.ends_with("ttl_ms=30000")));
    // Another client (no shared L1) reads it back through the callbacks.
    let b = client(s).cache("host", CacheOptions::default()).unwrap();
    assert_eq!(&*b.get("op", &[0x91, 0x01]).unwrap().unwrap(), &[0x2a][..]);
    assert!(b.delete("op", &[0x91, 0x01]).unwrap());
    assert!(s.map.lock().unwrap().is_empty());
}

#[test]
fn a_failing_host_backend_is_fail_open_and_bad_bytes_are_misses() {
    let s = leak();
    let c = client(s).cache("host2", CacheOptions::from_json(Some(r#"{"l1_enabled": false}"#)).unwrap()).unwrap();
    *s.failing.lock().unwrap() = true;
    c.set("op", &[0x90], &[0x2a], None).unwrap();
    assert_eq!(c.get("op", &[0x90]).unwrap(), None);
    assert!(c.health()["stats"]["l2_errors"].as_u64().unwrap() >= 2);
    *s.failing.lock().unwrap() = false;
    let k = c.key("op", &[0x90]).unwrap();
    s.map.lock().unwrap().insert(k.clone(), b"not an envelope".to_vec());
    assert_eq!(c.get("op", &[0x90]).unwrap(), None);
    assert_eq!(c.health()["stats"]["corrupt_entries"], 1);
    assert!(!s.map.lock().unwrap().contains_key(&k), "the bad entry was deleted through the callback");
}

/// Misses of a namespace whose host backend fails every call; the breaker's state after them.
fn breaker_after_failing_misses(code: i32) -> (String, u64) {
    let s = leak();
    *s.fail_code.lock().unwrap() = code;
    let opts = r#"{"l1_enabled": false, "circuit_breaker": {"failure_threshold": 2}}"#;
    let c = client(s).cache("host3", CacheOptions::from_json(Some(opts)).unwrap()).unwrap();
    *s.failing.lock().unwrap() = true;
    for i in 0..5u8 {
        match c.fill("op", &[0x91, i]).unwrap() {
            cachekit::Fill::Lease(lease) => lease.complete(&[0x2a], None).unwrap(),
            _ => panic!("a failing backend has nothing to hit"),
        }
    }
    let h = c.health();
    (h["circuit_breaker"]["state"].as_str().unwrap().to_string(), h["stats"]["l2_errors"].as_u64().unwrap())
}

#[test]
fn transient_host_failures_open_the_breaker() {
    // A lockless backend's no-op lock is no L2 success that would reset the count.
    let (state, errors) = breaker_after_failing_misses(-1);
    assert_eq!(state, "OPEN");
    assert!(errors >= 2);
}

#[test]
fn excluded_host_failures_are_counted_but_move_no_breaker() {
    let (state, errors) = breaker_after_failing_misses(cachekit::ffi::CK_BACKEND_EXCLUDED);
    assert_eq!(state, "CLOSED");
    assert!(errors >= 5, "every call still reached the backend: {errors} errors");
}
