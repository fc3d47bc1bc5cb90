//! Redis Cluster failover under load: a master of a cluster of the test's
//! own (3 masters, 3 replicas, `ci/redis-cluster.sh`) is killed with
//! SIGKILL while 8 threads of two clients (two processes' worth of state)
//! call a cached function. No caller sees an error or a wrong value (the
//! namespace fails open), and writes to the dead master's slots succeed
//! again once its replica has taken over.
//!
//! The figures go to `target/tmp/reliability/cluster_failover.json`;
//! `ci/reliability-report.sh` renders them into `docs/reliability.md`.

#[path = "support/calls.rs"]
mod calls;
#[path = "support/redis_cluster.rs"]
mod redis_cluster;

use calls::{args, int};
use redis_cluster::OwnCluster;
use cachekit::{Cache, CacheOptions, Client, Config, Fill};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn client(url: &str) -> Client {
    let json = format!(r#"{{"redis_url": "{url}", "socket_timeout": 0.25, "socket_connect_timeout": 0.25}}"#);
    Client::new(Config::load_with(Some(&json), |_| None).unwrap()).unwrap()
}

/// What the function "computes" for key i: the truth every call must see.
fn truth(i: i64) -> i64 {
    i * 13 + 5
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

#[test]
fn a_master_killed_under_load_costs_callers_nothing_and_its_slots_take_writes_again() {
    let cluster = OwnCluster::start("failover");
    // L1 off: every call goes to the cluster. Short TTLs keep misses coming.
    let opts = || CacheOptions::from_json(Some(r#"{"l1_enabled": false, "ttl": 2}"#)).unwrap();
    let clients = [client(&cluster.url), client(&cluster.url)];
    let caches: Vec<Cache> = clients.iter().map(|c| c.cache("failover", opts()).unwrap()).collect();
    // A fail-closed probe, without a breaker: its writes succeed only when
    // the key's slot has a master again.
    let probe = client(&cluster.url)
        .cache("failover", CacheOptions::from_json(Some(r#"{"l1_enabled": false, "fail_closed": true, "circuit_breaker": false}"#)).unwrap())
        .unwrap();
    let probe_key = probe.key("probe", &args(0)).unwrap();
    probe.set("probe", &args(0), &int(1), None).expect("the cluster takes writes before the kill");

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let (c, tally, stop) = (caches[t % 2].clone(), tally.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = t as i64;
                while !stop.load(Ordering::Relaxed) {
                    call(&c, i % 300, &tally);
                    i += 7;
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(1500));
    let before_kill = tally.calls.load(Ordering::Relaxed);
    let victim = cluster.master_of(&probe_key);
    cluster.kill(victim);
    let killed_at = Instant::now();
    let mut probe_failures = 0u64;
    let mut last_error = String::new();
    let recovered = loop {
        match probe.set("probe", &args(0), &int(2), None) {
            Ok(()) => break Some(killed_at.elapsed()),
            Err(e) => last_error = e.to_string(),
        }
        probe_failures += 1;
        if killed_at.elapsed() > Duration::from_secs(30) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Load goes on for a while on the new topology.
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }

    let new_master = cluster.master_of(&probe_key);
    let value = probe.get("probe", &args(0)).expect("the probe reads its write back");
    let opened: Vec<u64> = caches.iter().map(|c| c.health()["circuit_breaker"]["times_opened"].as_u64().unwrap()).collect();
    let stats: Vec<serde_json::Value> = caches.iter().map(|c| c.health()["stats"].clone()).collect();
    let figures = json!({
        "threads": 8,
        "clients": 2,
        "calls": tally.calls.load(Ordering::Relaxed),
        "calls_before_kill": before_kill,
        "caller_errors": tally.errors.load(Ordering::Relaxed),
        "wrong_values": tally.wrong.load(Ordering::Relaxed),
        "killed_master_port": victim,
        "new_master_port": new_master,
        "ms_until_writes_to_its_slots_succeed": recovered.map(|d| d.as_millis() as u64),
        "probe_writes_refused_meanwhile": probe_failures,
        "probe_last_error": last_error,
        "permanent_errors": caches.iter().chain([&probe]).map(|c| c.health()["circuit_breaker"]["permanent_error"].clone()).collect::<Vec<_>>(),
        "breaker_times_opened": opened,
        "l2_errors": stats.iter().map(|s| s["l2_errors"].clone()).collect::<Vec<_>>(),
        "l2_skipped": stats.iter().map(|s| s["l2_skipped"].clone()).collect::<Vec<_>>(),
    });
    println!("cluster failover: {figures}");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cluster_failover.json"), serde_json::to_string_pretty(&figures).unwrap()).unwrap();

    assert_eq!(tally.errors.load(Ordering::Relaxed), 0, "a fail-open caller never sees the failover: {figures}");
    assert_eq!(tally.wrong.load(Ordering::Relaxed), 0, "no caller sees a wrong value: {figures}");
    assert!(tally.calls.load(Ordering::Relaxed) > before_kill, "calls went on after the kill: {figures}");
    assert!(recovered.is_some(), "writes to the dead master's slots never succeeded again: {figures}");
    // ci/redis-cluster.sh creates the first three ports as masters: the
    // slots are served by one of the three replicas now.
    assert!(cluster.ports()[3..].contains(&new_master), "a replica took over the slots: {figures}");
    assert_eq!(value.as_deref(), Some(&int(2)[..]), "the write after the failover is there: {figures}");
}
