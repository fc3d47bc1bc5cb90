//! Stampede protection, freshness and cross-process consistency, with real
//! processes against a real Redis.
//!
//! Worker processes are this test binary run again with
//! `CACHEKIT_WORKER=<role>` on the ignored test `worker`.

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/redis_target.rs"]
mod redis_target;

use cachekit::{Cache, CacheOptions, Client, Config, Fill};
use redis::Commands;
use redis_server::RedisServer;
use redis_target::{on_each_redis, raw_at, Redis};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn client(url: &str) -> Client {
    let json = format!(r#"{{"redis_url": "{url}"}}"#);
    Client::new(Config::load_with(Some(&json), |_| None).unwrap()).unwrap()
}

fn cache(url: &str, ns: &str, opts: &str) -> Cache {
    client(url).cache(ns, CacheOptions::from_json(Some(opts)).unwrap()).unwrap()
}

fn args(x: i64) -> Vec<u8> {
    let mut v = vec![0x91];
    rmp::encode::write_sint(&mut v, x).unwrap();
    v
}

fn text(s: &str) -> Vec<u8> {
    let mut v = Vec::new();
    rmp::encode::write_str(&mut v, s).unwrap();
    v
}

fn untext(b: &[u8]) -> String {
    let mut r = b;
    let len = rmp::decode::read_str_len(&mut r).unwrap() as usize;
    String::from_utf8(r[..len].to_vec()).unwrap()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn spawn_worker(role: &str, env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "worker", "--ignored", "--nocapture", "--test-threads=1"])
        .env("CACHEKIT_WORKER", role)
        .env("LOG_LEVEL", "ERROR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// What a worker printed after `@`, line by line, as it comes (the test
/// harness may print `test worker ... ` before the first one).
fn lines(child: &mut Child) -> impl Iterator<Item = String> {
    let out = child.stdout.take().unwrap();
    BufReader::new(out).lines().map_while(Result::ok).filter_map(|l| l.find('@').map(|i| l[i + 1..].to_string()))
}

fn env(k: &str) -> String {
    std::env::var(k).unwrap()
}

/// The computation every caller of the stampede test runs on a miss:
/// counts itself in Redis, takes 200 ms.
fn compute(raw_url: &str, tag: &str) -> Vec<u8> {
    let mut raw = raw_at(raw_url);
    // INCR: the ACL variant's user may run exactly what cachekit needs.
    let _: i64 = redis::cmd("INCR").arg("stampede:runs").query(&mut raw).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    text(tag)
}

#[test]
#[ignore = "a helper process for the multi-process tests of this file, started by them"]
fn worker() {
    let Ok(role) = std::env::var("CACHEKIT_WORKER") else {
        panic!("run by the multi-process tests with CACHEKIT_WORKER set");
    };
    let url = env("REDIS_URL_FOR_WORKER");
    match role.as_str() {
        "stampede" => {
            let c = cache(&url, "stampede", "{}");
            let start_at = env("START_AT_MS").parse::<u64>().unwrap();
            let barrier = Arc::new(Barrier::new(25));
            let handles: Vec<_> = (0..25)
                .map(|t| {
                    let (c, barrier, url) = (c.clone(), barrier.clone(), url.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        while now_ms() < start_at {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        match c.fill("cold", &args(1)).unwrap() {
                            Fill::Hit(v) | Fill::Refresh(v, _) => untext(&v),
                            Fill::Lease(lease) => {
                                let v = compute(&url, &format!("pid{}-t{t}", std::process::id()));
                                lease.complete(&v, None).unwrap();
                                untext(&v)
                            }
                        }
                    })
                })
                .collect();
            for h in handles {
                println!("@value {}", h.join().unwrap());
            }
        }
        "slow_holder" => {
            // Holds the lease past its lock TTL without renewal, then writes late.
            let c = cache(&url, "fence", r#"{"lock_ttl_ms": 300, "lock_renewal": false, "l1_enabled": false}"#);
            let Fill::Lease(lease) = c.fill("f", &args(1)).unwrap() else { panic!("expected a lease") };
            println!("@leased");
            std::thread::sleep(Duration::from_millis(1200));
            lease.complete(&text("old"), None).unwrap();
            // The write's verdict arrives with its reply, read by flush.
            c.client().flush(Duration::from_secs(2));
            println!("@lost_leases {}", c.health()["stats"]["lost_leases"]);
        }
        "reader" => {
            // Keeps an entry in L1 and reports when it stops being served.
            let c = cache(&url, "inval", r#"{"l1_sync_ms": 300}"#);
            assert!(c.get("f", &args(1)).unwrap().is_some(), "the entry exists before");
            println!("@ready");
            let started = Instant::now();
            loop {
                if c.get("f", &args(1)).unwrap().is_none() {
                    println!("@gone {}", now_ms());
                    return;
                }
                if started.elapsed() > Duration::from_secs(20) {
                    println!("@never");
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        other => panic!("unknown worker role {other}"),
    }
}

// Each of these runs on a redis-server of its own and on the Redis Cluster.
on_each_redis!(
    four_processes_of_25_threads_on_a_cold_key_compute_once,
    a_holder_that_lost_its_lease_cannot_overwrite_a_newer_value,
    a_holder_that_raises_caches_nothing_and_a_waiter_in_another_process_takes_over,
    a_delete_in_one_process_stops_l1_serving_it_in_another,
    a_clear_in_one_process_stops_l1_serving_in_another,
);

fn four_processes_of_25_threads_on_a_cold_key_compute_once(redis: Redis) {
    let start_at = now_ms() + 1500;
    let mut workers: Vec<Child> = (0..4)
        .map(|_| spawn_worker("stampede", &[("REDIS_URL_FOR_WORKER", redis.url()), ("START_AT_MS", start_at.to_string())]))
        .collect();
    let mut values = Vec::new();
    for w in &mut workers {
        values.extend(lines(w).filter_map(|l| l.strip_prefix("value ").map(str::to_string)));
        assert!(w.wait().unwrap().success());
    }
    let mut raw = redis.raw();
    let runs: i64 = raw.get("stampede:runs").unwrap();
    assert_eq!(runs, 1, "the function body ran once for 100 callers in 4 processes");
    assert_eq!(values.len(), 100);
    assert!(values.iter().all(|v| v == &values[0]), "all callers got the same value: {values:?}");
}

fn a_holder_that_lost_its_lease_cannot_overwrite_a_newer_value(redis: Redis) {
    let mut holder = spawn_worker("slow_holder", &[("REDIS_URL_FOR_WORKER", redis.url())]);
    let mut out = lines(&mut holder);
    assert_eq!(out.next().as_deref(), Some("leased"));
    // The holder's lock (300 ms, not renewed) expires; we fill a newer value.
    std::thread::sleep(Duration::from_millis(500));
    let c = cache(&redis.url(), "fence", r#"{"lock_ttl_ms": 300, "l1_enabled": false}"#);
    match c.fill("f", &args(1)).unwrap() {
        Fill::Lease(lease) => lease.complete(&text("new"), None).unwrap(),
        _ => panic!("the expired lock lets us fill"),
    }
    let lost = out.find_map(|l| l.strip_prefix("lost_leases ").map(str::to_string)).unwrap();
    assert!(holder.wait().unwrap().success());
    assert_eq!(lost, "1", "the late write was refused and counted");
    assert_eq!(untext(&c.get("f", &args(1)).unwrap().unwrap()), "new", "the newer value stays");
}

fn a_holder_that_raises_caches_nothing_and_a_waiter_in_another_process_takes_over(redis: Redis) {
    // Two clients: two processes' worth of state (flights, connections).
    let a = cache(&redis.url(), "raise", r#"{"l1_enabled": false}"#);
    let b = cache(&redis.url(), "raise", r#"{"l1_enabled": false}"#);
    let Fill::Lease(lease) = a.fill("f", &args(1)).unwrap() else { panic!("cold key") };
    assert!(lease.holds_lock());
    let cluster = redis.is_cluster();
    let waiter = std::thread::spawn(move || {
        let t = Instant::now();
        match b.fill("f", &args(1)).unwrap() {
            Fill::Lease(l) => {
                l.complete(&text("from b"), None).unwrap();
                if cluster {
                    // In a cluster the write behind the caller is sent by
                    // the runtime, not on this thread's own connection
                    // (README, Redis Cluster): a plain read elsewhere sees
                    // it once it has landed.
                    b.client().flush(Duration::from_secs(2));
                }
                let metrics = b.client().metrics_text();
                assert!(metrics.contains(r#"operation="fill",serializer="msgpack",status="lease_wait"} 1"#), "{metrics}");
                (t.elapsed(), b.health()["stats"]["lease_waits"].as_u64().unwrap())
            }
            _ => panic!("nothing was cached, so the waiter computes"),
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    // The function raised: the error is the caller's; the lease is given up.
    lease.abort();
    let (waited, lease_waits) = waiter.join().unwrap();
    assert_eq!(lease_waits, 1, "b waited for a's lock instead of computing at once");
    assert!(waited >= Duration::from_millis(250), "b waited while a held the lock: {waited:?}");
    assert!(waited < Duration::from_secs(2), "b was woken when a gave up, not at its timeout: {waited:?}");
    assert_eq!(untext(&a.get("f", &args(1)).unwrap().unwrap()), "from b");
}

fn run_reader_and_delete(redis: Redis, kill_pubsub_first: bool, clear_instead: bool) -> Duration {
    let a = cache(&redis.url(), "inval", r#"{"l1_sync_ms": 300}"#);
    a.set("f", &args(1), &text("v"), None).unwrap();
    let mut reader = spawn_worker("reader", &[("REDIS_URL_FOR_WORKER", redis.url())]);
    let mut out = lines(&mut reader);
    assert_eq!(out.next().as_deref(), Some("ready"));
    std::thread::sleep(Duration::from_millis(300)); // the reader is subscribed and serving from L1
    if kill_pubsub_first {
        let mut raw = redis.raw();
        let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query(&mut raw).unwrap();
        assert!(killed >= 1, "the reader's subscription connection was killed");
    }
    let deleted_at = now_ms();
    if clear_instead {
        a.clear().unwrap();
    } else {
        assert!(a.delete("f", &args(1)).unwrap());
    }
    let gone = out.next().unwrap();
    assert!(reader.wait().unwrap().success());
    let at: u64 = gone.strip_prefix("gone ").unwrap_or_else(|| panic!("reader kept serving: {gone}")).parse().unwrap();
    Duration::from_millis(at.saturating_sub(deleted_at))
}

/// The documented bound: `l1_sync_ms` (300 ms here) plus one Redis round
/// trip and scheduling slack.
const BOUND: Duration = Duration::from_millis(300 + 400);

fn a_delete_in_one_process_stops_l1_serving_it_in_another(redis: Redis) {
    let staleness = run_reader_and_delete(redis, false, false);
    assert!(staleness < BOUND, "stale for {staleness:?}");
}

fn a_clear_in_one_process_stops_l1_serving_in_another(redis: Redis) {
    let staleness = run_reader_and_delete(redis, false, true);
    assert!(staleness < BOUND, "stale for {staleness:?}");
}

#[test]
fn staleness_is_bounded_when_the_readers_subscription_was_killed() {
    let staleness = run_reader_and_delete(Redis::server(), true, false);
    assert!(staleness < BOUND, "stale for {staleness:?}");
}

/// Steady readers of one key near expiry, with a 50 ms function.
fn steady_reads(opts: &str) -> (usize, usize, usize) {
    let redis = RedisServer::start();
    let c = cache(&redis.url(), "fresh", opts);
    let runs = Arc::new(AtomicUsize::new(0));
    let misses = Arc::new(AtomicUsize::new(0));
    let reads = Arc::new(AtomicUsize::new(0));
    let compute = {
        let runs = runs.clone();
        move || {
            runs.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            text("v")
        }
    };
    // Fill once before the readers start.
    if let Fill::Lease(l) = c.fill("f", &args(1)).unwrap() {
        l.complete(&compute(), None).unwrap();
    }
    let deadline = Instant::now() + Duration::from_millis(3200);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (c, misses, reads, compute) = (c.clone(), misses.clone(), reads.clone(), compute.clone());
            std::thread::spawn(move || {
                while Instant::now() < deadline {
                    reads.fetch_add(1, Ordering::SeqCst);
                    match c.fill("f", &args(1)).unwrap() {
                        Fill::Hit(_) => {}
                        Fill::Refresh(_, lease) => {
                            // Serve now, refresh in the background.
                            let compute = compute.clone();
                            std::thread::spawn(move || lease.complete(&compute(), None).unwrap());
                        }
                        Fill::Lease(lease) => {
                            misses.fetch_add(1, Ordering::SeqCst);
                            lease.complete(&compute(), None).unwrap();
                        }
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    (runs.load(Ordering::SeqCst), misses.load(Ordering::SeqCst), reads.load(Ordering::SeqCst))
}

#[test]
fn xfetch_refreshes_about_once_per_ttl_and_readers_never_miss() {
    let (runs, misses, reads) = steady_reads(r#"{"ttl": 1, "early_refresh_beta": 1.0}"#);
    assert!(reads > 1000, "{reads} reads");
    assert_eq!(misses, 0, "no reader saw a miss");
    // 3.2 s of reads with a 1 s TTL: the first fill plus about one refresh per second.
    assert!((3..=6).contains(&runs), "the function ran {runs} times");
}

#[test]
fn stale_while_revalidate_refreshes_once_per_ttl_and_readers_never_miss() {
    let (runs, misses, reads) = steady_reads(r#"{"ttl": 1, "stale_while_revalidate": 5}"#);
    assert!(reads > 1000, "{reads} reads");
    assert_eq!(misses, 0, "no reader saw a miss");
    assert!((3..=6).contains(&runs), "the function ran {runs} times");
}

#[test]
fn null_results_are_cached_only_with_a_negative_ttl() {
    let redis = RedisServer::start();
    let plain = cache(&redis.url(), "neg", r#"{"l1_enabled": false}"#);
    let Fill::Lease(l) = plain.fill("f", &args(1)).unwrap() else { panic!() };
    l.complete(&[0xc0], None).unwrap();
    assert!(matches!(plain.fill("f", &args(1)).unwrap(), Fill::Lease(_)), "null is not cached by default");
    assert_eq!(plain.health()["stats"]["nulls_not_cached"], 1);

    let neg = cache(&redis.url(), "neg2", r#"{"l1_enabled": false, "negative_ttl": 1, "ttl": 60}"#);
    let Fill::Lease(l) = neg.fill("f", &args(1)).unwrap() else { panic!() };
    l.complete(&[0xc0], None).unwrap();
    assert!(matches!(neg.fill("f", &args(1)).unwrap(), Fill::Hit(v) if *v == [0xc0][..]), "null cached");
    let ttl = neg.ttl("f", &args(1)).unwrap().unwrap().unwrap();
    assert!(ttl <= Duration::from_secs(1), "with its own, shorter TTL: {ttl:?}");
}

#[test]
fn refresh_ttl_on_get_extends_entries_below_the_threshold() {
    let redis = RedisServer::start();
    let c = cache(&redis.url(), "rttl", r#"{"l1_enabled": false, "ttl": 10, "refresh_ttl_on_get": true, "ttl_refresh_threshold": 0.5}"#);
    c.set("f", &args(1), &text("v"), Some(Duration::from_secs(3))).unwrap();
    c.get("f", &args(1)).unwrap().unwrap();
    let ttl = c.ttl("f", &args(1)).unwrap().unwrap().unwrap();
    assert!(ttl > Duration::from_secs(9), "3 s left of 10 is below half: reset to 10 ({ttl:?})");
    assert_eq!(c.health()["stats"]["ttl_refreshes"], 1);
    c.get("f", &args(1)).unwrap().unwrap();
    assert_eq!(c.health()["stats"]["ttl_refreshes"], 1, "above the threshold: left alone");
}

#[test]
fn clearing_one_operation_leaves_the_others() {
    let redis = RedisServer::start();
    let c = cache(&redis.url(), "ops", "{}");
    for i in 0..5 {
        c.set("a", &args(i), &text("a"), None).unwrap();
        c.set("b", &args(i), &text("b"), None).unwrap();
    }
    assert_eq!(c.clear_operation("a").unwrap(), 5);
    assert!(c.get("a", &args(1)).unwrap().is_none());
    assert!(c.get("b", &args(1)).unwrap().is_some());
}

#[test]
fn a_stale_entry_without_l1_is_served_and_refreshed_once() {
    let redis = RedisServer::start();
    let c = cache(&redis.url(), "swr-nol1", r#"{"ttl": 1, "stale_while_revalidate": 30, "l1_enabled": false}"#);
    let Fill::Lease(l) = c.fill("f", &args(1)).unwrap() else { panic!("cold") };
    l.complete(&text("v1"), None).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    match c.fill("f", &args(1)).unwrap() {
        Fill::Refresh(v, lease) => {
            assert_eq!(untext(&v), "v1", "the stale value is served");
            lease.complete(&text("v2"), None).unwrap();
        }
        Fill::Hit(_) => panic!("a refresh was due"),
        Fill::Lease(_) => panic!("the stale value must be served"),
    }
    match c.fill("f", &args(1)).unwrap() {
        Fill::Hit(v) => assert_eq!(untext(&v), "v2"),
        _ => panic!("fresh again"),
    }
    assert_eq!(c.health()["stats"]["lost_leases"], 0);
}

#[test]
fn with_read_and_lock_combined_sixteen_threads_compute_once_and_stale_values_still_refresh() {
    let redis = RedisServer::start();
    let c = cache(&redis.url(), "combined", r#"{"read_lock_combined": true, "l1_enabled": false, "ttl": 1, "stale_while_revalidate": 30}"#);
    let runs = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (c, runs, barrier) = (c.clone(), runs.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                match c.fill("f", &args(1)).unwrap() {
                    Fill::Hit(v) | Fill::Refresh(v, _) => untext(&v),
                    Fill::Lease(l) => {
                        runs.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        l.complete(&text("v1"), None).unwrap();
                        "v1".to_string()
                    }
                }
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), "v1");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    std::thread::sleep(Duration::from_millis(1200));
    match c.fill("f", &args(1)).unwrap() {
        Fill::Refresh(v, lease) => {
            assert_eq!(untext(&v), "v1");
            // Meanwhile another reader gets the stale value at once.
            let t = Instant::now();
            assert!(matches!(c.fill("f", &args(1)).unwrap(), Fill::Hit(_)));
            assert!(t.elapsed() < Duration::from_millis(500));
            lease.complete(&text("v2"), None).unwrap();
        }
        _ => panic!("a refresh was due"),
    }
    assert!(matches!(c.fill("f", &args(1)).unwrap(), Fill::Hit(v) if untext(&v) == "v2"));
}

#[test]
fn a_renewed_lease_outlives_its_ttl_and_others_wait_for_its_value() {
    let redis = RedisServer::start();
    // Two clients: two processes' worth of state.
    let a = cache(&redis.url(), "renew", r#"{"lock_ttl_ms": 300, "l1_enabled": false}"#);
    let b = cache(&redis.url(), "renew", r#"{"lock_ttl_ms": 300, "l1_enabled": false}"#);
    let Fill::Lease(lease) = a.fill("f", &args(1)).unwrap() else { panic!("cold key") };
    let waiter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600)); // twice the lock TTL
        let t = Instant::now();
        let got = match b.fill("f", &args(1)).unwrap() {
            Fill::Hit(v) => untext(&v),
            _ => "computed again".to_string(),
        };
        (got, t.elapsed(), b.health()["stats"]["lease_waits"].as_u64().unwrap())
    });
    std::thread::sleep(Duration::from_millis(1000));
    lease.complete(&text("slow"), None).unwrap();
    let (got, waited, waits) = waiter.join().unwrap();
    assert_eq!(got, "slow", "the lock was renewed, so b waited for a's value");
    assert_eq!(waits, 1);
    assert!(waited < Duration::from_millis(900), "woken when the value landed: {waited:?}");
    assert_eq!(a.health()["stats"]["lost_leases"], 0);
}

#[test]
fn a_fill_is_announced_on_the_channel_only_when_another_process_waits_and_wakes_it() {
    let redis = RedisServer::start();
    // A raw subscriber counts the announcements.
    let mut sub = redis.raw();
    sub.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut pubsub = sub.as_pubsub();
    pubsub.subscribe("cachekit:filled").unwrap();
    let a = cache(&redis.url(), "announce", r#"{"l1_enabled": false}"#);
    let b = cache(&redis.url(), "announce", r#"{"l1_enabled": false}"#);

    // Nobody waits: no announcement.
    let Fill::Lease(lease) = a.fill("f", &args(1)).unwrap() else { panic!("cold key") };
    lease.complete(&text("quiet"), None).unwrap();
    a.client().flush(Duration::from_secs(2));
    assert!(pubsub.get_message().is_err(), "an uncontended fill publishes nothing");

    // b (another process's worth of state) waits for a's lock.
    let Fill::Lease(lease) = a.fill("f", &args(2)).unwrap() else { panic!("cold key") };
    let key = lease.key().to_string();
    let b2 = b.clone();
    let waiter = std::thread::spawn(move || match b2.fill("f", &args(2)).unwrap() {
        Fill::Hit(v) => untext(&v),
        _ => panic!("b waits for a's value"),
    });
    // Until b has marked itself as waiting (its fallback re-checks start
    // at 5 ms and back off to 200 ms, so it is still waiting afterwards).
    let deadline = Instant::now() + Duration::from_secs(5);
    let waiters_key = cachekit::internals::keyspace::waiters_key(&key);
    while !redis.raw().exists::<_, bool>(&waiters_key).unwrap() {
        assert!(Instant::now() < deadline, "b never marked itself as waiting");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(400));
    lease.complete(&text("announced"), None).unwrap();
    assert_eq!(waiter.join().unwrap(), "announced");
    let msg = pubsub.get_message().expect("one announcement of the fill");
    assert_eq!(msg.get_payload::<String>().unwrap(), key);
    assert!(pubsub.get_message().is_err(), "exactly one announcement");
    let s = b.health()["stats"].clone();
    assert_eq!(s["lease_waits"], 1);
    assert_eq!(s["fill_announcements"], 1, "b was woken by the announcement, not by a re-check: {s}");
}
