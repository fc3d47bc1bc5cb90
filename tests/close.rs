//! `Client::close` (and `ck_client_close`): the writes behind callers land
//! first; afterwards every call on the client, its caches and their leases
//! fails with `Error::Closed` and writes nothing; closing twice is harmless.

#[path = "support/redis_server.rs"]
mod redis_server;

use cachekit::{CacheOptions, Client, Config, Error, Fill, Ready};
use redis::Commands;
use redis_server::RedisServer;
use std::time::Duration;

fn client(url: &str) -> Client {
    let json = format!(r#"{{"redis_url": "{url}", "socket_timeout": 0.5, "socket_connect_timeout": 0.5}}"#);
    Client::new(Config::load_with(Some(&json), |_| None).unwrap()).unwrap()
}

fn args(x: i64) -> Vec<u8> {
    let mut v = Vec::new();
    rmp::encode::write_array_len(&mut v, 1).unwrap();
    rmp::encode::write_sint(&mut v, x).unwrap();
    v
}

fn closed<T: std::fmt::Debug>(r: cachekit::Result<T>) -> bool {
    matches!(r, Err(Error::Closed(_)))
}

#[test]
fn a_closed_client_lands_its_writes_then_refuses_every_call_and_writes_nothing() {
    let redis = RedisServer::start();
    let c = client(&redis.url());
    let cache = c.cache("closing", CacheOptions::default()).unwrap();
    // A fill whose write goes behind the caller, then close at once.
    let Fill::Lease(lease) = cache.fill("op", &args(1)).unwrap() else { panic!("cold key") };
    lease.complete(&[0x01], None).unwrap();
    let held = match cache.fill("op", &args(2)).unwrap() {
        Fill::Lease(l) => l,
        _ => panic!("cold key"),
    };
    let key1 = cache.key("op", &args(1)).unwrap();
    let key3 = cache.key("op", &args(3)).unwrap();
    assert_eq!(c.close(), 0, "every write behind landed within the close bound");
    assert!(c.is_closed());
    let mut raw = redis.raw();
    assert!(raw.exists::<_, bool>(&key1).unwrap(), "the write made before close landed");

    assert!(closed(cache.get("op", &args(1))), "a hit in L1 is refused too");
    assert!(cache.l1_get(&key1).is_none(), "L1 lookups miss");
    assert!(cache.l1_fill(&key1).is_none());
    assert!(closed(cache.set("op", &args(3), &[0x03], None)));
    assert!(closed(cache.fill("op", &args(3)).map(|_| ())));
    assert!(closed(cache.delete("op", &args(1))));
    assert!(closed(cache.exists("op", &args(1))));
    assert!(closed(cache.clear()));
    assert!(closed(cache.get_ready(key1.clone().into()).map(|_| ())));
    assert!(closed(cache.set_ready(&key3, &[0x03], None).map(|_| ())));
    assert!(closed(held.complete(&[0x02], None)), "a lease taken before close cannot store");
    assert!(closed(c.cache("other", CacheOptions::default()).map(|_| ())));
    std::thread::sleep(Duration::from_millis(50));
    assert!(!raw.exists::<_, bool>(&key3).unwrap(), "nothing was written after close");
    assert!(raw.exists::<_, bool>(&key1).unwrap(), "nothing was deleted after close");
    let key2 = cache.key("op", &args(2));
    assert!(closed(key2), "keys are refused too");

    // Twice is harmless; another client of the process is unaffected.
    assert_eq!(c.close(), 0);
    let other = client(&redis.url()).cache("closing", CacheOptions::default()).unwrap();
    assert!(other.get("op", &args(1)).unwrap().is_some());
    assert!(matches!(other.set_ready(&key3, &[0x03], None), Ok(Ready::Now(()) | Ready::Pending(_))));
}

#[test]
fn ck_client_close_makes_calls_ck_closed() {
    use cachekit::ffi::*;
    use std::ffi::CString;
    unsafe {
        let mut cl: *mut ck_client = std::ptr::null_mut();
        let cfg = CString::new(r#"{"redis_url": null}"#).unwrap();
        assert_eq!(ck_client_new(cfg.as_ptr(), &mut cl), ck_status::CK_OK);
        let mut c: *mut ck_cache = std::ptr::null_mut();
        let ns = CString::new("closing").unwrap();
        assert_eq!(ck_cache_new(cl, ns.as_ptr(), std::ptr::null(), &mut c), ck_status::CK_OK);
        let op = CString::new("op").unwrap();
        let a = args(1);
        assert_eq!(ck_set(c, op.as_ptr(), a.as_ptr(), a.len(), [0x01u8].as_ptr(), 1, 0), ck_status::CK_OK);
        let mut pending = 7u64;
        assert_eq!(ck_client_close(cl, &mut pending), ck_status::CK_OK);
        assert_eq!(pending, 0);
        let mut v = ck_buf { data: std::ptr::null(), len: 0 };
        let mut found = true;
        assert_eq!(ck_get(c, op.as_ptr(), a.as_ptr(), a.len(), &mut v, &mut found), ck_status::CK_CLOSED);
        assert_eq!(ck_client_close(cl, std::ptr::null_mut()), ck_status::CK_OK, "twice is harmless");
        ck_cache_free(c);
        ck_client_free(cl);
    }
}
