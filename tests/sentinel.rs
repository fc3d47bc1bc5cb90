//! Redis Sentinel (`redis+sentinel://sentinels/NAME`): the client finds the
//! master through the sentinels and follows a failover without a restart.
//! The behaviours of `tests/redis_integration.rs` and `tests/stampede.rs`
//! also run on Sentinel (`on_sentinel::*` there); here is what only
//! Sentinel has: a failover under load from two processes, and the names
//! and sentinels that do not answer.
//!
//! The failover's figures go to `target/tmp/reliability/sentinel_failover.json`;
//! `ci/reliability-report.sh` renders them into `docs/reliability.md`.

#[path = "support/load_workers.rs"]
mod load_workers;
#[path = "support/redis_sentinel.rs"]
mod redis_sentinel;
#[path = "support/redis_target.rs"]
#[allow(unused_macros, unused_imports)]
mod redis_target;
#[path = "support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use cachekit::{Cache, CacheOptions, Client, Config};
use load_workers::{args, int, total, Workers};
use redis_sentinel::OwnSentinel;
use serde_json::json;
use std::time::{Duration, Instant};

fn cache(client: &Client, ns: &str, json: &str) -> Cache {
    client.cache(ns, CacheOptions::from_json(Some(json)).unwrap()).unwrap()
}

fn stat(c: &Cache, name: &str) -> u64 {
    c.health()["stats"][name].as_u64().unwrap()
}

fn shared_url() -> String {
    std::env::var("CACHEKIT_TEST_SENTINEL_URL")
        .expect("CACHEKIT_TEST_SENTINEL_URL is not set: run ci/test.sh, or `export CACHEKIT_TEST_SENTINEL_URL=$(ci/redis-sentinel.sh start dev)`")
}

#[test]
fn the_master_failing_over_under_load_from_two_processes_costs_callers_nothing() {
    load_workers::be_a_worker_if_asked();
    let sentinel = OwnSentinel::start("failover");
    let [old_master, replica] = [sentinel.ports()[0], sentinel.ports()[1]];
    assert_eq!(sentinel.master_port(), old_master);

    // A fail-closed probe without a breaker: its writes succeed only when
    // the client has found a master that takes them.
    let probe_client = load_workers::client(&sentinel.url);
    let probe = cache(&probe_client, "probe", r#"{"l1_enabled": false, "fail_closed": true, "circuit_breaker": false}"#);
    probe.set("probe", &args(0), &int(1), None).expect("the master takes writes before the kill");
    // A reader with L1 and cross-process invalidation, to see that its
    // subscription moves to the new master too.
    let reader_client = load_workers::client(&sentinel.url);
    let reader = cache(&reader_client, "shared", r#"{"l1_enabled": true}"#);
    let writer = cache(&probe_client, "shared", r#"{"l1_enabled": true}"#);
    writer.set("v", &args(0), &int(1), None).unwrap();
    assert_eq!(reader.get("v", &args(0)).unwrap().as_deref(), Some(&int(1)[..]));

    // 8 threads in two processes.
    let test = "the_master_failing_over_under_load_from_two_processes_costs_callers_nothing";
    let workers = Workers::spawn(test, &sentinel.url, 2, 4);
    std::thread::sleep(Duration::from_millis(1500));
    sentinel.kill(old_master);
    let (recovered, probe_failures, last_error) = load_workers::writes_again(&probe, Instant::now());
    // The load goes on past the workers' TTL (2 s): what the new master
    // holds of theirs then was written after the failover.
    std::thread::sleep(Duration::from_millis(2500));
    let tallies = workers.finish();

    let new_master = sentinel.master_port();
    let mut raw = redis::Client::open(format!("redis://127.0.0.1:{new_master}")).unwrap().get_connection().unwrap();
    let written_since: usize = redis::cmd("KEYS").arg("*failover*").query::<Vec<String>>(&mut raw).unwrap().len();
    let value = probe.get("probe", &args(0)).expect("the probe reads its write back");

    // The reader's subscription follows: an invalidation sent now arrives.
    let received = stat(&reader, "invalidations_received");
    writer.delete("v", &args(0)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while stat(&reader, "invalidations_received") == received && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let invalidation_arrived = stat(&reader, "invalidations_received") > received;
    let health = probe.check_health();

    let figures = json!({
        "processes": 2,
        "threads": 8,
        "calls": total(&tallies, "calls"),
        "caller_errors": total(&tallies, "caller_errors"),
        "wrong_values": total(&tallies, "wrong_values"),
        "killed_master_port": old_master,
        "new_master_port": new_master,
        "ms_until_writes_succeed": recovered.map(|d| d.as_millis() as u64),
        "probe_writes_refused_meanwhile": probe_failures,
        "probe_last_error": last_error,
        "worker_entries_on_the_new_master": written_since,
        "invalidation_arrived_after_failover": invalidation_arrived,
        "failovers_followed": health["system"]["redis_sentinel"]["failovers_followed"],
        "per_process": tallies,
    });
    println!("sentinel failover: {figures}");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sentinel_failover.json"), serde_json::to_string_pretty(&figures).unwrap()).unwrap();

    assert!(total(&tallies, "calls") > 0, "{figures}");
    assert_eq!(total(&tallies, "caller_errors"), 0, "a fail-open caller never sees the failover: {figures}");
    assert_eq!(total(&tallies, "wrong_values"), 0, "no caller sees a wrong value: {figures}");
    assert!(recovered.is_some(), "writes never succeeded again: {figures}");
    assert_eq!(new_master, replica, "the sentinels promoted the replica: {figures}");
    assert!(written_since > 0, "the worker processes write to the new master: {figures}");
    assert_eq!(value.as_deref(), Some(&int(2)[..]), "the write after the failover is there: {figures}");
    assert!(invalidation_arrived, "the subscription moved to the new master: {figures}");
    assert_eq!(health["system"]["status"], "healthy", "{health}");
    let master = health["system"]["redis_sentinel"]["master"].as_str().unwrap();
    assert_eq!(master, format!("redis://127.0.0.1:{new_master}"), "{health}");
    assert_eq!(health["system"]["redis_sentinel"]["failovers_followed"], 1, "{health}");
}

#[test]
fn the_health_check_names_the_master_the_sentinels_name() {
    let url = shared_url();
    let c = load_workers::client(&url);
    let ns = cache(&c, "sentinel-health", "{}");
    ns.set("f", &args(1), &int(1), None).unwrap();
    // The entry is on the master the sentinels name.
    let master = redis_target::sentinel_master(&url);
    let key = ns.key("f", &args(1)).unwrap();
    let mut raw = redis::Client::open(master.as_str()).unwrap().get_connection().unwrap();
    assert!(redis::cmd("EXISTS").arg(&key).query::<bool>(&mut raw).unwrap(), "{key} on {master}");
    let h = ns.check_health();
    assert_eq!(h["system"]["status"], "healthy", "{h}");
    assert_eq!(h["system"]["redis_sentinel"]["master_name"], "cachekit", "{h}");
    assert_eq!(h["system"]["redis_sentinel"]["master"], master, "{h}");
    assert_eq!(h["system"]["redis_sentinel"]["failovers_followed"], 0, "{h}");
    assert!(h["system"]["redis_nodes"].is_null(), "not a cluster: {h}");
}

/// A name no sentinel knows, and sentinels that do not answer: the
/// namespace serves without Redis (fail-open), counts the failures, and
/// the health check says why.
#[test]
fn a_master_no_sentinel_knows_or_no_sentinel_answering_is_a_counted_failure_never_the_callers() {
    let url = shared_url();
    let (sentinels, _) = url.trim_start_matches("redis+sentinel://").split_once('/').unwrap();
    let unknown = format!("redis+sentinel://{sentinels}/nosuch");
    // A port nothing listens on (bound, then closed).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let silent = format!("redis+sentinel://127.0.0.1:{closed}/cachekit");
    for (url, why) in [(unknown, "knows no master named \"nosuch\""), (silent, &format!("sentinel redis://127.0.0.1:{closed}"))] {
        let c = load_workers::client(&url);
        let ns = cache(&c, "sentinel-bad", "{}");
        assert_eq!(ns.get("f", &args(1)).unwrap(), None, "{url}");
        ns.set("f", &args(1), &int(1), None).unwrap();
        assert_eq!(ns.get("f", &args(1)).unwrap().as_deref(), Some(&int(1)[..]), "L1 serves: {url}");
        assert!(stat(&ns, "l2_errors") >= 1, "{url}: {}", ns.health());
        let h = ns.check_health();
        assert_eq!(h["system"]["status"], "unhealthy", "{h}");
        let error = h["system"]["error"].as_str().unwrap();
        assert!(error.contains(why), "{url}: {error}");
        assert!(h["system"]["redis_sentinel"]["master"].is_null(), "{h}");
        // A fail-closed namespace gets the error instead.
        let closed = cache(&c, "sentinel-bad-closed", r#"{"fail_closed": true}"#);
        assert!(closed.get("f", &args(1)).is_err(), "{url}");
    }
}

#[test]
fn a_sentinel_url_of_a_bad_form_is_a_configuration_error_naming_the_variable() {
    for (url, why) in [
        ("redis+sentinel://127.0.0.1:26379", "names no master"),
        ("redis+sentinel:///cachekit", "names no sentinel"),
        ("redis+sentinel://u:pw@h:x/cachekit", "not a number"),
    ] {
        let e = Config::load_with(None, |k| (k == "CACHEKIT_REDIS_URL").then(|| url.to_string())).unwrap_err().to_string();
        assert!(e.contains("CACHEKIT_REDIS_URL") && e.contains(why), "{url}: {e}");
        assert!(!e.contains("pw"), "the password is hidden: {e}");
    }
}
