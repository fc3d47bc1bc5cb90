//! A full or unwilling Redis, each condition made real on a redis-server of
//! the test's own: memory full with `noeviction` (OOM on writes), eviction
//! under pressure taking a fill lock mid-fill (`allkeys-lru`), writes
//! stopped after a failed snapshot (`MISCONF`), a restart still loading its
//! dataset (`LOADING`), and the script cache flushed (`NOSCRIPT` on the
//! next fenced write). In each: the callers of a fail-open namespace get
//! their values (no error, no wrong value, no call stuck beyond its bound),
//! the failure is counted and its class and message are in the health
//! report. (`READONLY` from a replica, `CLUSTERDOWN`: tests/redis_integration.rs.)
//!
//! Each test writes its figures to `target/tmp/reliability/unwilling_*.json`;
//! `ci/reliability-report.sh` renders them into `docs/reliability.md`.

#[path = "support/redis_server.rs"]
mod redis_server;

#[path = "support/calls.rs"]
mod calls;

use cachekit::{Cache, CacheOptions, Client, Config, Fill};
use calls::{args, int};
use redis_server::RedisServer;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The client's socket timeout: every call's bound derives from it.
const SOCKET_TIMEOUT: Duration = Duration::from_millis(500);

fn client(url: &str) -> Client {
    let json = format!(r#"{{"redis_url": "{url}", "socket_timeout": {}, "socket_connect_timeout": 0.5}}"#, SOCKET_TIMEOUT.as_secs_f64());
    Client::new(Config::load_with(Some(&json), |_| None).unwrap()).unwrap()
}

fn cache(c: &Client, ns: &str, opts: &str) -> Cache {
    c.cache(ns, CacheOptions::from_json(Some(opts)).unwrap()).unwrap()
}

fn truth(i: i64) -> i64 {
    i * 31 + 7
}

fn report(name: &str, figures: &Value) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("unwilling_{name}.json")), serde_json::to_string_pretty(figures).unwrap()).unwrap();
}

/// What `n` cached calls of `f(i)` saw: (calls, caller errors, wrong
/// values, slowest call).
fn calls(c: &Cache, keys: std::ops::Range<i64>) -> (u64, u64, u64, Duration) {
    let (mut n, mut errors, mut wrong, mut slowest) = (0, 0, 0, Duration::ZERO);
    for i in keys {
        n += 1;
        let t = Instant::now();
        let seen = match c.fill("f", &args(i)) {
            Ok(Fill::Hit(v)) | Ok(Fill::Refresh(v, _)) => rmp::decode::read_int::<i64, _>(&mut &v[..]).ok(),
            Ok(Fill::Lease(lease)) => lease.complete(&int(truth(i)), None).ok().map(|()| truth(i)),
            Err(_) => None,
        };
        slowest = slowest.max(t.elapsed());
        match seen {
            None => errors += 1,
            Some(v) if v != truth(i) => wrong += 1,
            Some(_) => {}
        }
    }
    (n, errors, wrong, slowest)
}

/// A miss reads, locks and writes: three L2 operations, each bounded by the
/// socket timeout, plus honest slack for a loaded machine.
fn call_bound() -> Duration {
    SOCKET_TIMEOUT * 3 + Duration::from_secs(1)
}

/// The health figures every test reports and checks.
fn seen_in_health(c: &Cache) -> Value {
    let h = c.health();
    json!({
        "l2_errors": h["stats"]["l2_errors"],
        "l2_skipped": h["stats"]["l2_skipped"],
        "breaker_state": h["circuit_breaker"]["state"],
        "last_failure": h["circuit_breaker"]["last_failure"],
        "permanent_error": h["circuit_breaker"]["permanent_error"],
    })
}

fn check(name: &str, c: &Cache, (n, errors, wrong, slowest): (u64, u64, u64, Duration), expect_in_message: &str) -> Value {
    let health = seen_in_health(c);
    let figures = json!({
        "calls": n, "caller_errors": errors, "wrong_values": wrong,
        "slowest_call_ms": slowest.as_millis() as u64, "bound_ms": call_bound().as_millis() as u64,
        "health": health,
    });
    println!("{name}: {figures}");
    report(name, &figures);
    assert_eq!(errors, 0, "{name}: a fail-open caller never sees it: {figures}");
    assert_eq!(wrong, 0, "{name}: {figures}");
    assert!(slowest <= call_bound(), "{name}: no call is stuck: {figures}");
    assert!(health["l2_errors"].as_u64().unwrap() >= 1, "{name}: counted: {figures}");
    assert!(health["permanent_error"].is_null(), "{name}: transient, not permanent: {figures}");
    let last = health["last_failure"].as_str().unwrap_or_default();
    assert!(last.contains(expect_in_message), "{name}: the health report says why ({expect_in_message}): {figures}");
    figures
}

#[test]
fn a_full_redis_with_noeviction_refuses_writes_and_callers_still_get_their_values() {
    let redis = RedisServer::start_with(&["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"]);
    let c = client(&redis.url());
    let ns = cache(&c, "oom", r#"{"l1_enabled": false}"#);
    ns.set("f", &args(-1), &int(truth(-1)), None).unwrap();
    // Fill the server to its limit.
    let mut raw = redis.raw();
    let junk = vec![b'x'; 64 * 1024];
    for i in 0.. {
        if redis::cmd("SET").arg(format!("junk:{i}")).arg(&junk).query::<()>(&mut raw).is_err() {
            break;
        }
    }
    // Reads of what is stored still hit.
    assert_eq!(ns.get("f", &args(-1)).unwrap().as_deref(), Some(&int(truth(-1))[..]), "a full Redis still serves reads");
    let seen = calls(&ns, 0..50);
    check("oom", &ns, seen, "OOM");
}

#[test]
fn eviction_under_pressure_may_take_a_fill_lock_mid_fill_and_no_value_is_wrong() {
    let redis = RedisServer::start_with(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let c = client(&redis.url());
    let ns = cache(&c, "lru", r#"{"l1_enabled": false}"#);
    let Fill::Lease(lease) = ns.fill("f", &args(1)).unwrap() else { panic!("a cold key") };
    let lock = cachekit::internals::keyspace::lock_key(&ns.key("f", &args(1)).unwrap());
    let mut raw = redis.raw();
    assert!(redis::cmd("EXISTS").arg(&lock).query::<bool>(&mut raw).unwrap(), "the lease holds {lock}");
    // Pressure: far more than fits; the least recently used keys go, the lock among them.
    let junk = vec![b'x'; 64 * 1024];
    let mut written = 0;
    while redis::cmd("EXISTS").arg(&lock).query::<bool>(&mut raw).unwrap() && written < 2000 {
        let _: () = redis::cmd("SET").arg(format!("junk:{written}")).arg(&junk).query(&mut raw).unwrap();
        written += 1;
    }
    let evicted = !redis::cmd("EXISTS").arg(&lock).query::<bool>(&mut raw).unwrap();
    // The holder completes: its fenced write finds no lock and stores
    // nothing (another process may have taken the key since); the caller
    // has its value all the same.
    lease.complete(&int(truth(1)), None).unwrap();
    c.flush(Duration::from_secs(2));
    let (n, errors, wrong, slowest) = calls(&ns, 0..200);
    let figures = json!({
        "lock_evicted": evicted, "junk_writes_until_then": written,
        "calls": n, "caller_errors": errors, "wrong_values": wrong, "slowest_call_ms": slowest.as_millis() as u64,
        "lost_leases": ns.health()["stats"]["lost_leases"],
    });
    println!("lru: {figures}");
    report("lru", &figures);
    assert!(evicted, "the pressure evicted the lock: {figures}");
    assert_eq!((errors, wrong), (0, 0), "{figures}");
    assert!(slowest <= call_bound(), "{figures}");
    // f(1) is computed again and stored by a later call, never stuck on a lost lock.
    assert_eq!(ns.get("f", &args(1)).unwrap().map(|v| rmp::decode::read_int::<i64, _>(&mut &v[..]).unwrap()), Some(truth(1)), "{figures}");
}

/// SIGKILL the child processes of `parent` (found in /proc); true if any.
fn kill_children_of(parent: u32) -> bool {
    let mut killed = false;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            killed |= unsafe { libc::kill(pid, libc::SIGKILL) } == 0;
        }
    }
    killed
}

#[test]
fn writes_stopped_after_a_failed_snapshot_misconf_cost_callers_nothing() {
    // A save point makes a failed background save stop writes; a slow save
    // (a delay per key) is killed to make it fail.
    let redis = RedisServer::start_with(&["--save", "3600 1", "--stop-writes-on-bgsave-error", "yes", "--rdb-key-save-delay", "100000"]);
    let mut raw = redis.raw();
    for i in 0..100 {
        let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query(&mut raw).unwrap();
    }
    let _: String = redis::cmd("BGSAVE").query(&mut raw).unwrap();
    let server_pid = redis::cmd("INFO").arg("server").query::<String>(&mut raw).unwrap();
    let server_pid: u32 = server_pid.lines().find_map(|l| l.strip_prefix("process_id:")).unwrap().trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !kill_children_of(server_pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Until the server has noticed its child died, writes still pass.
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::cmd("SET").arg("probe").arg(1).query::<()>(&mut raw).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let c = client(&redis.url());
    let ns = cache(&c, "misconf", r#"{"l1_enabled": false}"#);
    let seen = calls(&ns, 0..50);
    check("misconf", &ns, seen, "MISCONF");
}

/// Whether the server answers `-LOADING` (asked on a bare socket: a
/// client library's handshake would fail on it and retry).
fn is_loading(redis: &RedisServer) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(redis.url().trim_start_matches("redis://")) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 16];
    s.write_all(b"GET k\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"-LOADING"))
}

#[test]
fn a_restart_still_loading_its_dataset_costs_callers_nothing_and_is_used_once_loaded() {
    // A dataset that loads slowly (a delay per key) after a restart.
    let mut redis = RedisServer::start_with(&["--key-load-delay", "50", "--loading-process-events-interval-bytes", "1024", "--enable-debug-command", "yes"]);
    let c = client(&redis.url());
    let ns = cache(&c, "loading", r#"{"l1_enabled": false, "circuit_breaker": {"failure_threshold": 3, "recovery_timeout": 0.5}}"#);
    ns.set("f", &args(-1), &int(truth(-1)), None).unwrap();
    let mut raw = redis.raw();
    let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(60_000).query(&mut raw).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut raw).unwrap();
    // SIGKILL, then start again: the dump just saved is loaded.
    redis.restart();
    // While it loads: LOADING, counted, callers served.
    let mut loading_seen = false;
    let mut seen = (0, 0, 0, Duration::ZERO);
    let mut i = 0;
    while is_loading(&redis) {
        loading_seen = true;
        let (n, e, w, s) = calls(&ns, i..i + 5);
        seen = (seen.0 + n, seen.1 + e, seen.2 + w, seen.3.max(s));
        i += 5;
    }
    let figures = check("loading", &ns, seen, "loading the dataset");
    assert!(loading_seen, "the restart was still loading: {figures}");
    // Once loaded, the entry written before the restart is a hit again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut back = None;
    while back.is_none() && Instant::now() < deadline {
        back = ns.get("f", &args(-1)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(back.as_deref(), Some(&int(truth(-1))[..]), "{figures}");
}

#[test]
fn a_flushed_script_cache_is_reloaded_and_the_fenced_write_lands() {
    let redis = RedisServer::start();
    let c = client(&redis.url());
    let ns = cache(&c, "noscript", r#"{"l1_enabled": false}"#);
    // A first fill loads the scripts.
    assert_eq!(calls(&ns, 0..3).1, 0);
    c.flush(Duration::from_secs(2));
    let mut raw = redis.raw();
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut raw).unwrap();
    // The next fenced writes meet NOSCRIPT and are sent again by source.
    let (n, errors, wrong, _) = calls(&ns, 10..20);
    c.flush(Duration::from_secs(2));
    let stored = (10..20).filter(|i| ns.get("f", &args(*i)).unwrap().is_some()).count();
    let h = ns.health();
    let figures = json!({ "calls": n, "caller_errors": errors, "wrong_values": wrong, "stored": stored, "l2_errors": h["stats"]["l2_errors"] });
    println!("noscript: {figures}");
    report("noscript", &figures);
    assert_eq!((errors, wrong), (0, 0), "{figures}");
    assert_eq!(stored, 10, "every fenced write landed after the flush: {figures}");
    assert_eq!(h["stats"]["l2_errors"], 0, "NOSCRIPT is handled, not a failure: {figures}");
}
