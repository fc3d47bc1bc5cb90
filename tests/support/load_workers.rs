//! Load from other processes, for the failover tests: the test binary runs
//! itself again as a worker process (same test, an environment variable
//! says "be a worker") that calls one cached function `f(i)` from a few
//! threads until its standard input closes, checking every value against
//! the truth, then prints its tally as one JSON line.
//!
//! A failover test calls [`be_a_worker_if_asked`] first, starts the
//! workers with [`Workers::spawn`], breaks something, and reads the
//! tallies with [`Workers::finish`].
#![allow(dead_code)]

#[path = "calls.rs"]
mod calls;

use cachekit::{Cache, CacheOptions, Client, Config, Fill};
pub use calls::{args, int};
use serde_json::{json, Value};
use std::io::{BufRead, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const WORKER_ENV: &str = "CACHEKIT_TEST_LOAD_WORKER";

/// What the function "computes" for key i: the truth every call must see.
pub fn truth(i: i64) -> i64 {
    i * 13 + 5
}

/// A client with short timeouts (a failover is noticed quickly).
pub fn client(url: &str) -> Client {
    let json = format!(r#"{{"redis_url": "{url}", "socket_timeout": 0.25, "socket_connect_timeout": 0.25}}"#);
    Client::new(Config::load_with(Some(&json), |_| None).unwrap()).unwrap()
}

/// The workers' namespace: L1 off (every call goes to Redis), short TTLs
/// (misses, hence writes, keep coming).
pub fn load_cache(c: &Client) -> Cache {
    c.cache("failover", CacheOptions::from_json(Some(r#"{"l1_enabled": false, "ttl": 2}"#)).unwrap()).unwrap()
}

#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    errors: AtomicU64,
    wrong: AtomicU64,
}

fn call(c: &Cache, i: i64, t: &Tally) {
    t.calls.fetch_add(1, Ordering::Relaxed);
    let seen = match c.fill("f", &args(i)) {
        Ok(Fill::Hit(v)) | Ok(Fill::Refresh(v, _)) => rmp::decode::read_int::<i64, _>(&mut &v[..]).ok(),
        Ok(Fill::Lease(lease)) => match lease.complete(&int(truth(i)), None) {
            Ok(()) => Some(truth(i)),
            Err(_) => {
                t.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        },
        Err(_) => {
            t.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    if seen != Some(truth(i)) {
        t.wrong.fetch_add(1, Ordering::Relaxed);
    }
}

/// In a worker process (the environment says so): run the load until
/// stdin closes, print the tally, and exit. Otherwise return.
pub fn be_a_worker_if_asked() {
    let Ok(spec) = std::env::var(WORKER_ENV) else { return };
    let (url, threads) = spec.rsplit_once(' ').expect("URL THREADS");
    let threads: usize = threads.parse().unwrap();
    let client = client(url);
    let cache = load_cache(&client);
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (c, tally, stop) = (cache.clone(), tally.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = t as i64 + std::process::id() as i64;
                while !stop.load(Ordering::Relaxed) {
                    call(&c, i % 300, &tally);
                    i += 7;
                }
            })
        })
        .collect();
    println!("\nREADY");
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let h = cache.health();
    let tally = json!({
        "calls": tally.calls.load(Ordering::Relaxed),
        "caller_errors": tally.errors.load(Ordering::Relaxed),
        "wrong_values": tally.wrong.load(Ordering::Relaxed),
        "breaker_times_opened": h["circuit_breaker"]["times_opened"],
        "breaker_permanent_error": h["circuit_breaker"]["permanent_error"],
        "l2_errors": h["stats"]["l2_errors"],
        "l2_skipped": h["stats"]["l2_skipped"],
    });
    println!("\nTALLY {tally}");
    std::io::stdout().flush().unwrap();
    std::process::exit(0);
}

/// Worker processes under way.
pub struct Workers {
    children: Vec<(Child, std::io::Lines<std::io::BufReader<std::process::ChildStdout>>)>,
}

impl Workers {
    /// `processes` workers of `threads` threads each, calling through
    /// `url`; returns once each is calling. `test` is the name of the
    /// calling test (the worker runs that test, which becomes the worker).
    pub fn spawn(test: &str, url: &str, processes: usize, threads: usize) -> Workers {
        let exe = std::env::current_exe().unwrap();
        let children = (0..processes)
            .map(|_| {
                let mut child = Command::new(&exe)
                    .args([test, "--exact", "--nocapture", "--test-threads=1"])
                    .env(WORKER_ENV, format!("{url} {threads}"))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("start a worker process");
                let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
                loop {
                    let line = lines.next().expect("the worker says READY").unwrap();
                    // (libtest may have printed the test's name on the line first.)
                    if line.ends_with("READY") {
                        break;
                    }
                }
                (child, lines)
            })
            .collect();
        Workers { children }
    }

    /// Stop the workers (close their stdin) and collect each one's tally.
    pub fn finish(self) -> Vec<Value> {
        self.children
            .into_iter()
            .map(|(mut child, lines)| {
                drop(child.stdin.take());
                let tally = lines
                    .map_while(Result::ok)
                    .find_map(|l| l.split_once("TALLY ").map(|(_, t)| serde_json::from_str::<Value>(t).unwrap()))
                    .expect("the worker prints its tally");
                let st = child.wait().unwrap();
                assert!(st.success(), "worker process: {st}");
                tally
            })
            .collect()
    }
}

/// After a master was killed at `killed_at`: write the fail-closed
/// `probe`'s entry every 20 ms until a write succeeds (or 30 s passed).
/// Returns how long that took, the writes refused meanwhile and the last
/// refusal.
pub fn writes_again(probe: &Cache, killed_at: std::time::Instant) -> (Option<std::time::Duration>, u64, String) {
    let (mut refused, mut last_error) = (0u64, String::new());
    loop {
        match probe.set("probe", &args(0), &int(2), None) {
            Ok(()) => return (Some(killed_at.elapsed()), refused, last_error),
            Err(e) => last_error = e.to_string(),
        }
        refused += 1;
        if killed_at.elapsed() > std::time::Duration::from_secs(30) {
            return (None, refused, last_error);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The sum of a figure over the tallies.
pub fn total(tallies: &[Value], figure: &str) -> u64 {
    tallies.iter().map(|t| t[figure].as_u64().unwrap_or(0)).sum()
}

