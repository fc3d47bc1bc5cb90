//! Redis Cluster failover under load: a master of a cluster of the test's
//! own (3 masters, 3 replicas, `ci/redis-cluster.sh`) is killed with
//! SIGKILL while 8 threads in two processes (`support/load_workers.rs`)
//! call a cached function. No caller sees an error or a wrong value (the
//! namespace fails open), and writes to the dead master's slots succeed
//! again once its replica has taken over.
//!
//! The figures go to `target/tmp/reliability/cluster_failover.json`;
//! `ci/reliability-report.sh` renders them into `docs/reliability.md`.

#[path = "support/load_workers.rs"]
mod load_workers;
#[path = "support/redis_cluster.rs"]
mod redis_cluster;

use cachekit::CacheOptions;
use load_workers::{args, client, int, total, Workers};
use redis_cluster::OwnCluster;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn a_master_killed_under_load_costs_callers_nothing_and_its_slots_take_writes_again() {
    load_workers::be_a_worker_if_asked();
    let cluster = OwnCluster::start("failover");
    // A fail-closed probe, without a breaker: its writes succeed only when
    // the key's slot has a master again.
    let probe = client(&cluster.url)
        .cache("failover", CacheOptions::from_json(Some(r#"{"l1_enabled": false, "fail_closed": true, "circuit_breaker": false}"#)).unwrap())
        .unwrap();
    let probe_key = probe.key("probe", &args(0)).unwrap();
    probe.set("probe", &args(0), &int(1), None).expect("the cluster takes writes before the kill");

    // 8 threads in two processes.
    let test = "a_master_killed_under_load_costs_callers_nothing_and_its_slots_take_writes_again";
    let workers = Workers::spawn(test, &cluster.url, 2, 4);
    std::thread::sleep(Duration::from_millis(1500));
    let victim = cluster.master_of(&probe_key);
    cluster.kill(victim);
    let (recovered, probe_failures, last_error) = load_workers::writes_again(&probe, Instant::now());
    // Load goes on for a while on the new topology.
    std::thread::sleep(Duration::from_millis(1500));
    let tallies = workers.finish();

    let new_master = cluster.master_of(&probe_key);
    let value = probe.get("probe", &args(0)).expect("the probe reads its write back");
    let figures = json!({
        "processes": 2,
        "threads": 8,
        "calls": total(&tallies, "calls"),
        "caller_errors": total(&tallies, "caller_errors"),
        "wrong_values": total(&tallies, "wrong_values"),
        "killed_master_port": victim,
        "new_master_port": new_master,
        "ms_until_writes_to_its_slots_succeed": recovered.map(|d| d.as_millis() as u64),
        "probe_writes_refused_meanwhile": probe_failures,
        "probe_last_error": last_error,
        "probe_permanent_error": probe.health()["circuit_breaker"]["permanent_error"],
        "per_process": tallies,
    });
    println!("cluster failover: {figures}");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cluster_failover.json"), serde_json::to_string_pretty(&figures).unwrap()).unwrap();

    assert!(total(&tallies, "calls") > 0, "{figures}");
    assert_eq!(total(&tallies, "caller_errors"), 0, "a fail-open caller never sees the failover: {figures}");
    assert_eq!(total(&tallies, "wrong_values"), 0, "no caller sees a wrong value: {figures}");
    assert!(recovered.is_some(), "writes to the dead master's slots never succeeded again: {figures}");
    // ci/redis-cluster.sh creates the first three ports as masters: the
    // slots are served by one of the three replicas now.
    assert!(cluster.ports()[3..].contains(&new_master), "a replica took over the slots: {figures}");
    assert_eq!(value.as_deref(), Some(&int(2)[..]), "the write after the failover is there: {figures}");
}
