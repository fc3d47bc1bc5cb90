//! Stampede protection, freshness and cross-process consistency, with real
//! processes against a real Redis.
//!
//! Worker processes are this test binary run again with
//! `CACHEKIT_WORKER=<role>` on the ignored test `worker`.

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/redis_target.rs"]
mod redis_target;

use cachekit::internals::keyspace::{generation_key, lock_key, waiters_key};
use cachekit::{Cache, CacheOptions, Client, Config, Fill};
use redis::Commands;
use redis_server::RedisServer;
use redis_target::{on_each_redis, raw_at, Redis};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn client(url: &str) -> Client {
    let json = format!(r#"{{"redis_url": "{url}"}}"#);
    Client::new(Config::load_with(Some(&json), |_| None).unwrap()).unwrap()
}

fn cache(url: &str, ns: &str, opts: &str) -> Cache {
    client(url).cache(ns, CacheOptions::from_json(Some(opts)).unwrap()).unwrap()
}

/// The socket timeout of the clients whose wake-ups are bounded below: every
/// L2 round trip of theirs ends within it.
const SOCKET_TIMEOUT_MS: u64 = 500;

/// A cache whose client has the socket timeout above.
fn timed_cache(url: &str, ns: &str, opts: &str) -> Cache {
    let json = format!(r#"{{"redis_url": "{url}", "socket_timeout": {}}}"#, SOCKET_TIMEOUT_MS as f64 / 1e3);
    Client::new(Config::load_with(Some(&json), |_| None).unwrap())
        .unwrap()
        .cache(ns, CacheOptions::from_json(Some(opts)).unwrap())
        .unwrap()
}

/// The longest nap of a waiter between two re-checks of another process's
/// fill lock (`fill::wait_remote`): a lost announcement costs at most this.
const MAX_RECHECK_NAP_MS: u64 = 200;

/// How soon a waiter in another process returns once the holder has
/// completed or given up: the announcement (or, were it lost, the next
/// re-check), then at most four round trips of its own (read, lock check,
/// lock, write) within the socket timeout. Far below the `fill_wait_ms` and
/// lock TTLs of these tests (`LONG_MS`), which a waiter that is never woken
/// waits out.
const WAKE_BOUND: Duration = Duration::from_millis(MAX_RECHECK_NAP_MS + 4 * SOCKET_TIMEOUT_MS);
const LONG_MS: u64 = 30_000;

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

fn stat(c: &Cache, name: &str) -> u64 {
    c.health()["stats"][name].as_u64().unwrap_or_else(|| panic!("no stat {name}"))
}

/// Poll `cond` every few milliseconds until it holds, or fail after `within`.
fn wait_until(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A worker process: this test binary run again on the ignored test
/// `worker`. It prints its lines with a leading `@` (the test harness may
/// print `test worker ... ` before the first one) and reads its cues, one a
/// line, on its standard input.
struct Worker {
    role: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Worker {
    fn spawn(role: &str, env: &[(&str, String)]) -> Worker {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "worker", "--ignored", "--nocapture", "--test-threads=1"])
            .env("CACHEKIT_WORKER", role)
            .env("LOG_LEVEL", "ERROR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(i) = l.find('@') {
                    if tx.send(l[i + 1..].to_string()).is_err() {
                        return;
                    }
                }
            }
        });
        let stdin = child.stdin.take();
        Worker { role: role.to_string(), child, stdin, lines }
    }

    /// Give the worker its cue.
    fn say(&mut self, cue: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cue}").unwrap();
        stdin.flush().unwrap();
    }

    /// The worker's next line, or `None` if it printed none within `within`.
    fn next(&self, within: Duration) -> Option<String> {
        match self.lines.recv_timeout(within) {
            Ok(l) => Some(l),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("the {} worker ended without another line", self.role),
        }
    }

    /// The worker's next line, which must start with `want`.
    fn expect(&self, want: &str, within: Duration) -> String {
        let l = self.next(within).unwrap_or_else(|| panic!("the {} worker did not say {want:?} within {within:?}", self.role));
        assert!(l.starts_with(want), "the {} worker said {l:?}, expected {want:?}", self.role);
        l
    }

    /// Every line until the worker exits, which must be a success.
    fn finish(mut self) -> Vec<String> {
        drop(self.stdin.take());
        let rest: Vec<String> = self.lines.iter().collect();
        assert!(self.child.wait().unwrap().success(), "the {} worker failed", self.role);
        rest
    }
}

/// A cue from the test, on the worker's standard input.
fn cue() -> String {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
    line.trim().to_string()
}

fn env(k: &str) -> String {
    std::env::var(k).unwrap()
}

/// The computation every caller of the stampede test runs on a miss:
/// counts itself in Redis, and takes 200 ms (the work of a slow function,
/// so that the other callers arrive while it runs).
fn compute(raw_url: &str, tag: &str) -> Vec<u8> {
    let mut raw = raw_at(raw_url);
    // INCR: the ACL variant's user may run exactly what cachekit needs.
    let _: i64 = redis::cmd("INCR").arg("stampede:runs").query(&mut raw).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    text(tag)
}

/// The staleness tests' reader and its settings.
const L1_SYNC_MS: u64 = 300;
const READER_SOCKET_TIMEOUT_MS: u64 = 250;

fn reader_cache(url: &str) -> Cache {
    let json = format!(r#"{{"redis_url": "{url}", "socket_timeout": {}}}"#, READER_SOCKET_TIMEOUT_MS as f64 / 1e3);
    Client::new(Config::load_with(Some(&json), |_| None).unwrap())
        .unwrap()
        .cache("inval", CacheOptions::from_json(Some(&format!(r#"{{"l1_sync_ms": {L1_SYNC_MS}}}"#))).unwrap())
        .unwrap()
}

/// Reads that reached L2 (whatever their outcome).
fn l2_reads(c: &Cache) -> u64 {
    let s = &c.health()["stats"];
    ["l2_hits", "l2_misses", "l2_errors", "l2_skipped", "corrupt_entries"].iter().map(|k| s[*k].as_u64().unwrap()).sum()
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
            // The 25 threads and this one: all go at the test's cue.
            let barrier = Arc::new(Barrier::new(26));
            let handles: Vec<_> = (0..25)
                .map(|t| {
                    let (c, barrier, url) = (c.clone(), barrier.clone(), url.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
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
            println!("@ready");
            assert_eq!(cue(), "go");
            barrier.wait();
            for h in handles {
                println!("@value {}", h.join().unwrap());
            }
        }
        "slow_holder" => {
            // Holds the lease past its lock TTL without renewal, then writes late.
            let c = cache(&url, "fence", r#"{"lock_ttl_ms": 300, "lock_renewal": false, "l1_enabled": false}"#);
            let Fill::Lease(lease) = c.fill("f", &args(1)).unwrap() else { panic!("expected a lease") };
            println!("@leased");
            // Until the test has let the lock expire and filled a newer value.
            assert_eq!(cue(), "write");
            lease.complete(&text("old"), None).unwrap();
            // The write's verdict arrives with its reply, read by flush.
            c.client().flush(Duration::from_secs(2));
            println!("@lost_leases {}", c.health()["stats"]["lost_leases"]);
        }
        "reader" => {
            // Keeps an entry in L1 and reports when it stops being served.
            let c = reader_cache(&url);
            assert!(c.get("f", &args(1)).unwrap().is_some(), "the entry exists before");
            let deadline = Instant::now() + Duration::from_secs(20);
            // Subscribed: an invalidation of another key (the test sends
            // them until it hears this) has arrived.
            while stat(&c, "invalidations_received") == 0 {
                assert!(Instant::now() < deadline, "no invalidation message arrived");
                std::thread::sleep(Duration::from_millis(5));
            }
            println!("@subscribed");
            // Serving from L1: 20 reads in a row that left L2 alone.
            let mut streak = 0;
            while streak < 20 {
                if Instant::now() > deadline {
                    println!("@not_from_l1 {}", c.health()["stats"]);
                    return;
                }
                let before = l2_reads(&c);
                assert!(c.get("f", &args(1)).unwrap().is_some(), "the entry is still there");
                streak = if l2_reads(&c) == before { streak + 1 } else { 0 };
                std::thread::sleep(Duration::from_millis(2));
            }
            let (received, resyncs) = (stat(&c, "invalidations_received"), stat(&c, "l1_resyncs"));
            println!("@serving");
            let started = Instant::now();
            loop {
                if c.get("f", &args(1)).unwrap().is_none() {
                    let at = now_ms();
                    let r = stat(&c, "invalidations_received") - received;
                    println!("@gone {at} {r} {}", stat(&c, "l1_resyncs") - resyncs);
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
    staleness_is_bounded_by_l1_sync_ms_when_invalidation_messages_are_lost,
);

fn four_processes_of_25_threads_on_a_cold_key_compute_once(redis: Redis) {
    let mut workers: Vec<Worker> = (0..4).map(|_| Worker::spawn("stampede", &[("REDIS_URL_FOR_WORKER", redis.url())])).collect();
    // Every thread of every process at its barrier, then all at once.
    for w in &workers {
        w.expect("ready", Duration::from_secs(30));
    }
    for w in &mut workers {
        w.say("go");
    }
    let mut values = Vec::new();
    for w in workers {
        values.extend(w.finish().into_iter().filter_map(|l| l.strip_prefix("value ").map(str::to_string)));
    }
    let mut raw = redis.raw();
    let runs: i64 = raw.get("stampede:runs").unwrap();
    assert_eq!(runs, 1, "the function body ran once for 100 callers in 4 processes");
    assert_eq!(values.len(), 100);
    assert!(values.iter().all(|v| v == &values[0]), "all callers got the same value: {values:?}");
}

fn a_holder_that_lost_its_lease_cannot_overwrite_a_newer_value(redis: Redis) {
    let mut holder = Worker::spawn("slow_holder", &[("REDIS_URL_FOR_WORKER", redis.url())]);
    holder.expect("leased", Duration::from_secs(30));
    let c = cache(&redis.url(), "fence", r#"{"lock_ttl_ms": 300, "l1_enabled": false}"#);
    // The holder's lock (300 ms, not renewed) expires; we fill a newer value.
    let lock = lock_key(&c.key("f", &args(1)).unwrap());
    wait_until(Duration::from_secs(5), "the holder's lock expires", || !redis.raw().exists::<_, bool>(&lock).unwrap());
    match c.fill("f", &args(1)).unwrap() {
        Fill::Lease(lease) => lease.complete(&text("new"), None).unwrap(),
        _ => panic!("the expired lock lets us fill"),
    }
    c.client().flush(Duration::from_secs(2));
    // Now the old holder writes, late.
    holder.say("write");
    let lost = holder.expect("lost_leases ", Duration::from_secs(10));
    holder.finish();
    assert_eq!(lost, "lost_leases 1", "the late write was refused and counted");
    assert_eq!(untext(&c.get("f", &args(1)).unwrap().unwrap()), "new", "the newer value stays");
}

fn a_holder_that_raises_caches_nothing_and_a_waiter_in_another_process_takes_over(redis: Redis) {
    // Two clients: two processes' worth of state (flights, connections).
    // Their lock TTL and fill_wait_ms are far beyond WAKE_BOUND: a waiter
    // that is not woken when the holder gives up waits one of them out.
    let opts = format!(r#"{{"l1_enabled": false, "lock_ttl_ms": {LONG_MS}, "fill_wait_ms": {LONG_MS}}}"#);
    let a = timed_cache(&redis.url(), "raise", &opts);
    let b = timed_cache(&redis.url(), "raise", &opts);
    let Fill::Lease(lease) = a.fill("f", &args(1)).unwrap() else { panic!("cold key") };
    assert!(lease.holds_lock());
    let waiters = waiters_key(lease.key());
    let b2 = b.clone();
    let waiter = std::thread::spawn(move || match b2.fill("f", &args(1)).unwrap() {
        Fill::Lease(l) => {
            l.complete(&text("from b"), None).unwrap();
            let returned_at = Instant::now();
            // The write went behind the caller (in a cluster it is sent by
            // the runtime, not on this thread's own connection: README,
            // Redis Cluster): a plain read elsewhere sees it once it has
            // landed.
            b2.client().flush(Duration::from_secs(2));
            returned_at
        }
        _ => panic!("nothing was cached, so the waiter computes"),
    });
    // b waits for a's lock: its marker is in Redis.
    wait_until(Duration::from_secs(10), "b marks itself as waiting", || redis.raw().exists::<_, bool>(&waiters).unwrap());
    assert!(!waiter.is_finished(), "b waits while a holds the lock");
    // The function raised: the error is the caller's; the lease is given up.
    let aborted_at = Instant::now();
    lease.abort();
    let returned_at = waiter.join().unwrap();
    assert!(returned_at > aborted_at, "b computed only after a gave up");
    let woke = returned_at - aborted_at;
    assert!(woke < WAKE_BOUND, "b was woken when a gave up, not at a timeout: {woke:?} (bound {WAKE_BOUND:?})");
    assert_eq!(stat(&b, "lease_waits"), 1, "b waited for a's lock instead of computing at once");
    assert_eq!(stat(&b, "lease_timeouts"), 0);
    let metrics = b.client().metrics_text();
    assert!(metrics.contains(r#"operation="fill",serializer="msgpack",status="lease_wait"} 1"#), "{metrics}");
    assert_eq!(untext(&a.get("f", &args(1)).unwrap().unwrap()), "from b");
}

/// How the staleness tests take the entry away from the reader.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Invalidation {
    /// A delete through the core: its message reaches the reader.
    Delete,
    /// A clear through the core: its message reaches the reader.
    Clear,
    /// The reader's subscription is killed, then a delete through the core.
    DeleteAfterKillingTheSubscription,
    /// The entry deleted and the namespace generation bumped with plain
    /// Redis commands, nothing published: the message that would announce
    /// it is lost while the reader's subscription stays up.
    LostMessage,
}

/// What the reader saw: how long after the invalidation it stopped serving
/// the entry, the invalidation messages it received and its L1 resyncs
/// (generation check, dropped subscription) since it served from L1.
struct Gone {
    staleness: Duration,
    received: u64,
    resyncs: u64,
}

fn run_reader_and_invalidate(redis: &Redis, how: Invalidation) -> Gone {
    let a = cache(&redis.url(), "inval", &format!(r#"{{"l1_sync_ms": {L1_SYNC_MS}}}"#));
    a.set("f", &args(1), &text("v"), None).unwrap();
    let reader = Worker::spawn("reader", &[("REDIS_URL_FOR_WORKER", redis.url())]);
    // Handshake: announce deletes of another key until the reader has
    // received one (its subscription is up).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        a.delete("f", &args(0)).unwrap();
        match reader.next(Duration::from_millis(50)) {
            Some(l) if l == "subscribed" => break,
            Some(other) => panic!("the reader said {other:?} before it subscribed"),
            None => assert!(Instant::now() < deadline, "the reader never received an invalidation"),
        }
    }
    let serving = reader.expect("", Duration::from_secs(30));
    assert_eq!(serving, "serving", "the reader serves the entry from L1 before it is invalidated");
    let deleted_at = now_ms();
    match how {
        Invalidation::Delete => assert!(a.delete("f", &args(1)).unwrap()),
        Invalidation::Clear => assert!(a.clear().unwrap() >= 1),
        Invalidation::DeleteAfterKillingTheSubscription => {
            let mut raw = redis.raw();
            let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query(&mut raw).unwrap();
            assert!(killed >= 1, "the reader's subscription connection was killed");
            assert!(a.delete("f", &args(1)).unwrap());
        }
        Invalidation::LostMessage => {
            let mut raw = redis.raw();
            let deleted: i64 = raw.del(a.key("f", &args(1)).unwrap()).unwrap();
            assert_eq!(deleted, 1);
            let _: i64 = raw.incr(generation_key("", "inval"), 1).unwrap();
        }
    }
    let gone = reader.expect("", Duration::from_secs(30));
    reader.finish();
    let fields: Vec<&str> = gone.split(' ').collect();
    assert_eq!(fields[0], "gone", "the reader kept serving the entry: {gone}");
    let at: u64 = fields[1].parse().unwrap();
    Gone { staleness: Duration::from_millis(at.saturating_sub(deleted_at)), received: fields[2].parse().unwrap(), resyncs: fields[3].parse().unwrap() }
}

/// How often the subscriber looks for namespaces due a generation check
/// (`invalidate::subscriber`).
const SUBSCRIBER_TICK_MS: u64 = 50;
/// Scheduling on a shared two-core machine: the reader is another process,
/// polling every 2 ms.
const SLACK_MS: u64 = 250;
/// The documented bound when messages are lost: the next generation check
/// (within `l1_sync_ms` and one subscriber tick), whose one round trip ends
/// within the reader's socket timeout. A message that arrives does better.
const BOUND: Duration = Duration::from_millis(L1_SYNC_MS + SUBSCRIBER_TICK_MS + READER_SOCKET_TIMEOUT_MS + SLACK_MS);

fn a_delete_in_one_process_stops_l1_serving_it_in_another(redis: Redis) {
    let g = run_reader_and_invalidate(&redis, Invalidation::Delete);
    assert!(g.staleness < BOUND, "stale for {:?} (bound {BOUND:?})", g.staleness);
    assert!(g.received + g.resyncs >= 1, "the delete reached the reader");
}

fn a_clear_in_one_process_stops_l1_serving_in_another(redis: Redis) {
    let g = run_reader_and_invalidate(&redis, Invalidation::Clear);
    assert!(g.staleness < BOUND, "stale for {:?} (bound {BOUND:?})", g.staleness);
    assert!(g.received + g.resyncs >= 1, "the clear reached the reader");
}

#[test]
fn staleness_is_bounded_when_the_readers_subscription_was_killed() {
    let g = run_reader_and_invalidate(&Redis::server(), Invalidation::DeleteAfterKillingTheSubscription);
    assert!(g.staleness < BOUND, "stale for {:?} (bound {BOUND:?})", g.staleness);
    assert!(g.resyncs >= 1, "the dropped subscription cleared the reader's L1");
}

fn staleness_is_bounded_by_l1_sync_ms_when_invalidation_messages_are_lost(redis: Redis) {
    let g = run_reader_and_invalidate(&redis, Invalidation::LostMessage);
    assert!(g.staleness < BOUND, "stale for {:?} (bound {BOUND:?})", g.staleness);
    assert!(g.resyncs >= 1, "the generation check cleared the reader's L1 (received {} messages)", g.received);
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
    let refreshes = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (c, misses, reads, compute, refreshes) = (c.clone(), misses.clone(), reads.clone(), compute.clone(), refreshes.clone());
            std::thread::spawn(move || {
                while Instant::now() < deadline {
                    reads.fetch_add(1, Ordering::SeqCst);
                    match c.fill("f", &args(1)).unwrap() {
                        Fill::Hit(_) => {}
                        Fill::Refresh(_, lease) => {
                            // Serve now, refresh in the background.
                            let compute = compute.clone();
                            refreshes.lock().unwrap().push(std::thread::spawn(move || lease.complete(&compute(), None).unwrap()));
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
    // The background refreshes still running end too.
    for r in std::mem::take(&mut *refreshes.lock().unwrap()) {
        r.join().unwrap();
    }
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

/// Poll until the entry of `f(1)` (TTL `ttl` s, then `swr` s stale) is in
/// its stale window: fewer than `swr` seconds of its L2 lifetime are left.
fn wait_until_stale(c: &Cache, ttl: u64, swr: u64) {
    let swr = Duration::from_secs(swr);
    wait_until(Duration::from_secs(ttl + 2), "the entry turns stale", || {
        c.ttl("f", &args(1)).unwrap().expect("the entry is there").expect("with a TTL") < swr
    });
}

#[test]
fn a_stale_entry_without_l1_is_served_and_refreshed_once() {
    let redis = RedisServer::start();
    let c = cache(&redis.url(), "swr-nol1", r#"{"ttl": 1, "stale_while_revalidate": 30, "l1_enabled": false}"#);
    let Fill::Lease(l) = c.fill("f", &args(1)).unwrap() else { panic!("cold") };
    l.complete(&text("v1"), None).unwrap();
    wait_until_stale(&c, 1, 30);
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
    let c = timed_cache(
        &redis.url(),
        "combined",
        &format!(r#"{{"read_lock_combined": true, "l1_enabled": false, "ttl": 1, "stale_while_revalidate": 30, "fill_wait_ms": {LONG_MS}}}"#),
    );
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
    wait_until_stale(&c, 1, 30);
    match c.fill("f", &args(1)).unwrap() {
        Fill::Refresh(v, lease) => {
            assert_eq!(untext(&v), "v1");
            // Meanwhile another reader gets the stale value at once: one
            // round trip (read or lock), not a wait for the refresh, which
            // would last until this lease completes (after it) or
            // fill_wait_ms.
            let t = Instant::now();
            assert!(matches!(c.fill("f", &args(1)).unwrap(), Fill::Hit(v) if untext(&v) == "v1"));
            let took = t.elapsed();
            assert!(took < Duration::from_millis(2 * SOCKET_TIMEOUT_MS), "{took:?}");
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
    const LOCK_TTL_MS: u64 = 300;
    let opts = format!(r#"{{"lock_ttl_ms": {LOCK_TTL_MS}, "l1_enabled": false, "fill_wait_ms": {LONG_MS}}}"#);
    let a = timed_cache(&redis.url(), "renew", &opts);
    let b = timed_cache(&redis.url(), "renew", &opts);
    let Fill::Lease(lease) = a.fill("f", &args(1)).unwrap() else { panic!("cold key") };
    let leased_at = Instant::now();
    let (lock, waiters) = (lock_key(lease.key()), waiters_key(lease.key()));
    let b2 = b.clone();
    let waiter = std::thread::spawn(move || {
        let got = match b2.fill("f", &args(1)).unwrap() {
            Fill::Hit(v) => untext(&v),
            _ => "computed again".to_string(),
        };
        (got, Instant::now())
    });
    wait_until(Duration::from_secs(10), "b marks itself as waiting", || redis.raw().exists::<_, bool>(&waiters).unwrap());
    // a computes for three lock TTLs: only renewals keep its lock, and b waits.
    let mut raw = redis.raw();
    while leased_at.elapsed() < Duration::from_millis(3 * LOCK_TTL_MS) {
        assert!(raw.exists::<_, bool>(&lock).unwrap(), "the lock expired after {:?}: not renewed", leased_at.elapsed());
        assert!(!waiter.is_finished(), "b stopped waiting while a held the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    let completed_at = Instant::now();
    lease.complete(&text("slow"), None).unwrap();
    let (got, returned_at) = waiter.join().unwrap();
    assert_eq!(got, "slow", "the lock was renewed, so b waited for a's value");
    assert!(returned_at > completed_at);
    let woke = returned_at - completed_at;
    assert!(woke < WAKE_BOUND, "woken when the value landed: {woke:?} (bound {WAKE_BOUND:?})");
    assert_eq!(stat(&b, "lease_waits"), 1);
    assert_eq!(stat(&b, "lease_timeouts"), 0);
    assert_eq!(stat(&a, "lost_leases"), 0);
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
    // Until b has marked itself as waiting (PTTL, not EXISTS: b's
    // re-checks of the lock are the EXISTS calls counted below).
    let waiters = waiters_key(&key);
    let mut raw = redis.raw();
    let mut marked = || redis::cmd("PTTL").arg(&waiters).query::<i64>(&mut raw).unwrap() > 0;
    wait_until(Duration::from_secs(5), "b marks itself as waiting", &mut marked);
    // b re-checks the lock after naps of 5, 10, 20, ... ms, then of 200 ms
    // (MAX_RECHECK_NAP_MS): complete right after its 7th re-check, so that
    // b is in a 200 ms nap when the value lands and only the announcement
    // can wake it in time.
    let mut stats = redis.raw();
    let mut exists_calls = || -> u64 {
        let info: String = redis::cmd("INFO").arg("commandstats").query(&mut stats).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_exists:calls="))
            .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
    };
    let first = exists_calls();
    let mut last = first;
    wait_until(Duration::from_secs(5), "b re-checks the lock 7 times", || {
        let n = exists_calls();
        let fresh = n > last;
        last = n;
        fresh && n >= first + 7
    });
    lease.complete(&text("announced"), None).unwrap();
    assert_eq!(waiter.join().unwrap(), "announced");
    let msg = pubsub.get_message().expect("one announcement of the fill");
    assert_eq!(msg.get_payload::<String>().unwrap(), key);
    assert!(pubsub.get_message().is_err(), "exactly one announcement");
    let s = b.health()["stats"].clone();
    assert_eq!(s["lease_waits"], 1);
    assert_eq!(s["fill_announcements"], 1, "b was woken by the announcement, not by a re-check: {s}");
}
