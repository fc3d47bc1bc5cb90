//! A completed lease's Redis write happens behind its caller (on the
//! caller's own connection, reply read later). These tests pin what that
//! must never change: a thread reads its own writes, later writes and
//! deletes of the key land after it, other threads never get a value past
//! its time, `flush` waits for it, a lost script or a lost lease is
//! handled, and Redis dying mid-write is not the caller's problem. Also the
//! "auto" choice of reading and locking in one round trip.

#[path = "support/redis_server.rs"]
mod redis_server;

use cachekit::internals::keyspace::lock_key;
use cachekit::{Cache, CacheOptions, Client, Config, Fill};
use redis::Commands;
use redis_server::RedisServer;
use std::time::Duration;

fn client(url: &str) -> Client {
    let json = format!(r#"{{"redis_url": "{url}", "socket_timeout": 0.5, "socket_connect_timeout": 0.5}}"#);
    Client::new(Config::load_with(Some(&json), |_| None).unwrap()).unwrap()
}

fn cache(c: &Client, ns: &str, json: &str) -> Cache {
    c.cache(ns, CacheOptions::from_json(Some(json)).unwrap()).unwrap()
}

fn args(x: i64) -> Vec<u8> {
    let mut v = Vec::new();
    rmp::encode::write_array_len(&mut v, 1).unwrap();
    rmp::encode::write_sint(&mut v, x).unwrap();
    v
}

fn text(s: &str) -> Vec<u8> {
    let mut v = Vec::new();
    rmp::encode::write_str(&mut v, s).unwrap();
    v
}

fn stat(cache: &Cache, name: &str) -> u64 {
    cache.health()["stats"][name].as_u64().unwrap()
}

/// Compute `value` for `op(x)` through a lease (the key must be cold).
fn fill(c: &Cache, x: i64, value: &str) {
    match c.fill("op", &args(x)).unwrap() {
        Fill::Lease(l) => l.complete(&text(value), None).unwrap(),
        _ => panic!("the key was expected to be cold"),
    }
}

/// What Redis holds for `op(x)`, decoded by a second client (no L1).
fn in_redis(url: &str, ns: &str, x: i64) -> Option<Vec<u8>> {
    let reader = cache(&client(url), ns, r#"{"l1_enabled": false}"#);
    reader.get("op", &args(x)).unwrap().map(|v| v.to_vec())
}

const NO_L1: &str = r#"{"l1_enabled": false}"#;

#[test]
fn the_filling_thread_and_others_read_the_value_at_once_and_redis_has_it_after_flush() {
    let redis = RedisServer::start();
    let client = client(&redis.url());
    let c = cache(&client, "wb", NO_L1);
    for x in 0..50 {
        fill(&c, x, "v");
        // The same thread, at once: its write is ordered before this read.
        assert_eq!(&*c.get("op", &args(x)).unwrap().expect("read-your-writes"), &text("v")[..]);
        fill(&c, 1000 + x, "w");
        // Another thread of the process, at once.
        let c2 = c.clone();
        let got = std::thread::spawn(move || c2.get("op", &args(1000 + x)).unwrap().map(|v| v.to_vec())).join().unwrap();
        assert_eq!(got.as_deref(), Some(&text("w")[..]), "another thread reads the value being written");
        // And a fill of it is a hit, not a second computation.
        assert!(matches!(c.fill("op", &args(1000 + x)).unwrap(), Fill::Hit(_)));
    }
    assert_eq!(client.flush(Duration::from_secs(2)), 0);
    assert_eq!(in_redis(&redis.url(), "wb", 49).as_deref(), Some(&text("v")[..]));
    assert_eq!(in_redis(&redis.url(), "wb", 1049).as_deref(), Some(&text("w")[..]));
    assert_eq!(stat(&c, "l2_errors"), 0);
    // The fill lock was released by the write.
    let lock: Option<String> = redis.raw().get(lock_key(&c.key("op", &args(49)).unwrap())).unwrap();
    assert_eq!(lock, None);
}

#[test]
fn a_delete_or_set_right_after_a_fill_lands_after_its_write() {
    let redis = RedisServer::start();
    let client = client(&redis.url());
    let c = cache(&client, "order", NO_L1);
    for x in 0..30 {
        fill(&c, x, "old");
        assert!(c.delete("op", &args(x)).unwrap(), "the delete sees the value it removes");
        fill(&c, 100 + x, "old");
        c.set("op", &args(100 + x), &text("new"), None).unwrap();
    }
    // A delete from another thread also waits for the write.
    fill(&c, 500, "old");
    let c2 = c.clone();
    std::thread::spawn(move || c2.delete("op", &args(500)).unwrap()).join().unwrap();
    client.flush(Duration::from_secs(2));
    for x in 0..30 {
        assert_eq!(in_redis(&redis.url(), "order", x), None, "the delete won over the earlier write");
        assert_eq!(in_redis(&redis.url(), "order", 100 + x).as_deref(), Some(&text("new")[..]), "the later set won");
    }
    assert_eq!(in_redis(&redis.url(), "order", 500), None);
}

#[test]
fn a_clear_right_after_fills_removes_them() {
    let redis = RedisServer::start();
    let client = client(&redis.url());
    let c = cache(&client, "clr", NO_L1);
    for x in 0..20 {
        fill(&c, x, "v");
    }
    assert_eq!(c.clear().unwrap(), 20);
    client.flush(Duration::from_secs(2));
    for x in 0..20 {
        assert_eq!(in_redis(&redis.url(), "clr", x), None);
    }
}

#[test]
fn an_idle_filling_thread_never_makes_others_serve_an_expired_value() {
    let redis = RedisServer::start();
    let client = client(&redis.url());
    let c = cache(&client, "idle", r#"{"l1_enabled": false, "ttl": 1}"#);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let c2 = c.clone();
    // Fills, then stays alive without touching the cache again: the reply
    // to its write is never read by itself.
    let holder = std::thread::spawn(move || {
        fill(&c2, 1, "short-lived");
        rx.recv().unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(&*c.get("op", &args(1)).unwrap().unwrap(), &text("short-lived")[..]);
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(c.get("op", &args(1)).unwrap(), None, "expired in Redis, so expired here");
    tx.send(()).unwrap();
    holder.join().unwrap();
}

#[test]
fn flush_from_another_thread_waits_for_an_idle_threads_write() {
    let redis = RedisServer::start();
    let client = client(&redis.url());
    let c = cache(&client, "flush", NO_L1);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (filled_tx, filled_rx) = std::sync::mpsc::channel::<()>();
    let c2 = c.clone();
    let holder = std::thread::spawn(move || {
        fill(&c2, 7, "v");
        filled_tx.send(()).unwrap();
        rx.recv().unwrap();
    });
    filled_rx.recv().unwrap();
    assert_eq!(client.flush(Duration::from_secs(2)), 0, "nothing left under way");
    assert_eq!(in_redis(&redis.url(), "flush", 7).as_deref(), Some(&text("v")[..]));
    tx.send(()).unwrap();
    holder.join().unwrap();
}

#[test]
fn a_thread_that_ends_completes_its_write() {
    let redis = RedisServer::start();
    let client = client(&redis.url());
    let c = cache(&client, "exit", NO_L1);
    let c2 = c.clone();
    std::thread::spawn(move || fill(&c2, 3, "v")).join().unwrap();
    // No flush: the thread's end read the reply and released everything.
    assert_eq!(c.health()["stats"]["l2_errors"], 0);
    assert_eq!(in_redis(&redis.url(), "exit", 3).as_deref(), Some(&text("v")[..]));
    let lock: Option<String> = redis.raw().get(lock_key(&c.key("op", &args(3)).unwrap())).unwrap();
    assert_eq!(lock, None);
}

#[test]
fn a_flushed_script_cache_is_rerun_by_source() {
    let redis = RedisServer::start();
    let client = client(&redis.url());
    let c = cache(&client, "noscript", NO_L1);
    fill(&c, 0, "warm"); // loads the scripts once
    client.flush(Duration::from_secs(2));
    for x in 1..5 {
        let () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut redis.raw()).unwrap();
        fill(&c, x, "v");
        client.flush(Duration::from_secs(2));
        assert_eq!(in_redis(&redis.url(), "noscript", x).as_deref(), Some(&text("v")[..]), "stored despite NOSCRIPT");
    }
    assert_eq!(stat(&c, "l2_errors"), 0);
}

#[test]
fn a_lease_lost_before_the_write_leaves_the_newer_value() {
    let redis = RedisServer::start();
    let client = client(&redis.url());
    let c = cache(&client, "lost", NO_L1);
    let Fill::Lease(lease) = c.fill("op", &args(1)).unwrap() else { panic!("cold") };
    let key = lease.key().to_string();
    // Another process took over the lock and wrote a newer value.
    let mut raw = redis.raw();
    let () = raw.set(lock_key(&key), "someone-else").unwrap();
    let other = cache(&self::client(&redis.url()), "lost", NO_L1);
    other.set("op", &args(1), &text("newer"), None).unwrap();
    lease.complete(&text("older"), None).unwrap();
    client.flush(Duration::from_secs(2));
    assert_eq!(in_redis(&redis.url(), "lost", 1).as_deref(), Some(&text("newer")[..]));
    assert_eq!(stat(&c, "lost_leases"), 1);
    // Reads of this process see the winner too.
    assert_eq!(&*c.get("op", &args(1)).unwrap().unwrap(), &text("newer")[..]);
}

#[test]
fn redis_dying_under_a_write_behind_is_counted_not_raised() {
    let mut redis = RedisServer::start();
    let client = client(&redis.url());
    // (No breaker: it would rightly skip Redis for a while after the outage.)
    let c = cache(&client, "dies", r#"{"l1_enabled": false, "circuit_breaker": false}"#);
    fill(&c, 1, "v");
    let Fill::Lease(lease) = c.fill("op", &args(2)).unwrap() else { panic!("cold") };
    redis.stop();
    // The write goes to a dead server: the caller is not told.
    lease.complete(&text("v"), None).unwrap();
    // Nor when the next call reads the lost reply, nor for a fill while down.
    match c.fill("op", &args(3)).unwrap() {
        Fill::Lease(l) => l.complete(&text("v"), None).unwrap(),
        _ => panic!("no value can come from a dead Redis"),
    }
    client.flush(Duration::from_secs(2));
    assert!(stat(&c, "l2_errors") >= 1);
    // Back up: writes behind work again (after the direct connection's back-off).
    redis.restart();
    std::thread::sleep(Duration::from_millis(1200));
    for x in 10..13 {
        fill(&c, x, "again");
    }
    client.flush(Duration::from_secs(2));
    for x in 10..13 {
        assert_eq!(in_redis(&redis.url(), "dies", x).as_deref(), Some(&text("again")[..]));
    }
}

/// Calls of a command since the server started (`INFO commandstats`).
fn calls(redis: &RedisServer, cmd: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(&mut redis.raw()).unwrap();
    let prefix = format!("cmdstat_{cmd}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
        .unwrap_or(0)
}

#[test]
fn auto_reads_and_locks_in_one_round_trip_while_misses_dominate_and_not_on_hits() {
    let redis = RedisServer::start();
    let client = client(&redis.url());
    for (mode, combined_misses) in [(r#""auto""#, true), ("false", false), ("true", true)] {
        let ns = format!("auto{}", mode.len());
        let c = cache(&client, &ns, &format!(r#"{{"l1_enabled": false, "read_lock_combined": {mode}}}"#));
        // 40 misses: each stores with one script; combined reads add one
        // script each (auto: once the misses are seen to dominate).
        let (evals, locks) = (calls(&redis, "evalsha"), calls(&redis, "set"));
        for x in 0..40 {
            fill(&c, x, "v");
        }
        client.flush(Duration::from_secs(2));
        let scripts = calls(&redis, "evalsha") - evals;
        let plain_locks = calls(&redis, "set") - locks;
        if combined_misses {
            assert!(scripts >= 70, "{mode}: most misses read and locked in one script ({scripts} scripts)");
        } else {
            assert_eq!(scripts, 40, "{mode}: one script per miss, the store");
            assert!(plain_locks >= 40, "{mode}: a SET NX per miss");
        }
        // 40 hits of one key: auto goes back to plain reads (no script).
        let evals = calls(&redis, "evalsha");
        for _ in 0..40 {
            assert!(matches!(c.fill("op", &args(0)).unwrap(), Fill::Hit(_)));
        }
        let scripts = calls(&redis, "evalsha") - evals;
        match mode {
            "false" => assert_eq!(scripts, 0),
            "true" => assert_eq!(scripts, 40),
            _ => assert!(scripts < 15, "auto: hits switch back to plain reads ({scripts} scripts)"),
        }
    }
}

#[test]
fn a_value_written_behind_has_its_ttl_in_redis() {
    let redis = RedisServer::start();
    let client = client(&redis.url());
    let c = cache(&client, "ttl", r#"{"l1_enabled": false, "ttl": 60, "stale_while_revalidate": 30}"#);
    fill(&c, 1, "v");
    client.flush(Duration::from_secs(2));
    let pttl: i64 = redis.raw().pttl(c.key("op", &args(1)).unwrap()).unwrap();
    assert!(pttl > 85_000 && pttl <= 90_000, "ttl plus the stale period: {pttl} ms");
}
