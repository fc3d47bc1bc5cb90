//! The `cachekit` command against a real redis-server (and, through the
//! same tests, the cluster and the Sentinel set-up of the test command):
//! every subcommand, `--json` parsed as JSON, every exit status, entries
//! written by the Rust API in both formats and encrypted, foreign bytes,
//! and thousands of random byte strings that must never crash `inspect`.

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/redis_target.rs"]
mod redis_target;

use cachekit::{Cache, CacheOptions, Client, Config, Fill};
use redis::Commands;
use redis_server::RedisServer;
use redis_target::{on_each_redis, Redis};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cachekit");
const MASTER_KEY: &str = "5e0f7c1d2b3a495867768594a3b2c1d0e0f1a2b3c4d5e6f708192a3b4c5d6e7f";
const OTHER_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";

// Exit statuses, as `cachekit --help` documents them.
const OK: i32 = 0;
const USAGE: i32 = 2;
const NOT_FOUND: i32 = 3;
const REDIS: i32 = 4;
const CONFIG: i32 = 5;
const UNREADABLE: i32 = 6;
const CANNOT_DECRYPT: i32 = 7;
/// What a Rust program that panicked exits with.
const PANIC: i32 = 101;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {:?} / stderr {:?}", self.stdout, self.stderr))
    }

    fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, code, "exit status; stdout {:?}, stderr {:?}", self.stdout, self.stderr);
        self
    }
}

/// The command with a clean environment (no CACHEKIT_* or REDIS_URL of the
/// test's own), the Redis at `url` if given, and `env` on top.
fn command(url: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("CACHEKIT_") || k == "REDIS_URL" || k == "LOG_LEVEL" {
            c.env_remove(&k);
        }
    }
    if let Some(u) = url {
        c.env("CACHEKIT_REDIS_URL", u);
    }
    c.envs(env.iter().copied()).args(args);
    c
}

fn cli_env(url: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Run {
    let o = command(url, env, args).stdin(Stdio::null()).output().expect("run cachekit");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn cli(url: &str, args: &[&str]) -> Run {
    cli_env(Some(url), &[], args)
}

fn client(url: &str, extra: &str) -> Client {
    let json = format!(r#"{{"redis_url": "{url}", "socket_timeout": 2, "socket_connect_timeout": 2 {extra}}}"#);
    Client::new(Config::load_with(Some(&json), |_| None).unwrap()).unwrap()
}

fn cache(c: &Client, ns: &str, options: &str) -> Cache {
    c.cache(ns, CacheOptions::from_json(Some(options)).unwrap()).unwrap()
}

/// MessagePack of a JSON value, as a wrapper would encode it.
fn msgpack(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    fn write(v: &Value, out: &mut Vec<u8>) {
        use rmp::encode as e;
        match v {
            Value::Null => e::write_nil(out).unwrap(),
            Value::Bool(b) => e::write_bool(out, *b).unwrap(),
            Value::Number(n) if n.is_i64() => {
                e::write_sint(out, n.as_i64().unwrap()).unwrap();
            }
            Value::Number(n) => e::write_f64(out, n.as_f64().unwrap()).unwrap(),
            Value::String(s) => e::write_str(out, s).unwrap(),
            Value::Array(a) => {
                e::write_array_len(out, a.len() as u32).unwrap();
                a.iter().for_each(|x| write(x, out));
            }
            Value::Object(m) => {
                e::write_map_len(out, m.len() as u32).unwrap();
                for (k, x) in m {
                    e::write_str(out, k).unwrap();
                    write(x, out);
                }
            }
        }
    }
    write(v, &mut out);
    out
}

/// Store `value` for `op(args)` through the Rust API; returns the key.
fn put(c: &Cache, op: &str, args: &Value, value: &Value) -> String {
    let a = msgpack(args);
    c.set(op, &a, &msgpack(value), Some(Duration::from_secs(600))).unwrap();
    assert_eq!(c.client().flush(Duration::from_secs(5)), 0);
    c.key(op, &a).unwrap()
}

fn user() -> Value {
    json!({"name": "ada", "id": 42, "tags": ["a", "b"], "score": 1.5})
}

// ---- on a server of its own, on the cluster, on Sentinel ----------------------

on_each_redis!(
    inspect_and_get_read_entries_of_both_formats_written_by_the_rust_api,
    delete_removes_the_entry_and_other_processes_drop_it_from_l1,
    stats_counts_a_namespace_and_clear_empties_it,
    health_and_metrics_report_the_connection,
    watch_follows_deletes_fills_and_clears,
);

fn inspect_and_get_read_entries_of_both_formats_written_by_the_rust_api(redis: Redis) {
    let url = redis.url();
    let cli_url = redis.admin_url(); // the operator; the application below is the ACL user
    let c = client(&url, "");
    for (format, options) in [("envelope", "{}"), ("interop", r#"{"format": "interop"}"#)] {
        let ns = format!("cli-{format}");
        let key = put(&cache(&c, &ns, options), "get_user", &json!([42]), &user());
        assert_eq!(key.ends_with(":e1"), format == "envelope", "{key}");

        // `key` derives the same key as the API.
        let mut args = vec!["key", ns.as_str(), "get_user", "[42]"];
        if format == "interop" {
            args.push("--interop");
        }
        assert_eq!(cli(&cli_url, &args).expect(OK).stdout.trim(), key);

        let j = cli(&cli_url, &["inspect", &key, "--json"]).expect(OK).json();
        assert_eq!(j["found"], true);
        assert_eq!(j["format"], format);
        assert_eq!(j["verdict"], "ok");
        assert_eq!(j["value"], user());
        assert_eq!(j["redis_type"], "string");
        let ttl = j["ttl_seconds"].as_f64().unwrap();
        assert!(ttl > 590.0 && ttl <= 600.0, "{ttl}");
        assert_eq!(j["key_layout"]["operation"], "get_user");
        assert_eq!(j["stored_bytes"].as_u64().unwrap() as usize, redis.raw().get::<_, Vec<u8>>(&key).unwrap().len());
        if format == "envelope" {
            assert_eq!(j["envelope"]["serializer"], "msgpack");
            assert_eq!(j["envelope"]["checksum_ok"], true);
            assert_eq!(j["envelope"]["original_bytes"].as_u64().unwrap() as usize, msgpack(&user()).len());
        } else {
            assert!(j["envelope"].is_null());
        }

        let text = cli(&cli_url, &["inspect", &key]).expect(OK).stdout;
        assert!(text.contains(&format!("format       {format}")), "{text}");
        assert!(text.contains("\"name\": \"ada\""), "{text}");
        if format == "envelope" {
            assert!(text.contains("checksum     xxh3-64 ") && text.contains(": ok"), "{text}");
        }

        let got = cli(&cli_url, &["get", &key]).expect(OK);
        assert_eq!(serde_json::from_str::<Value>(&got.stdout).unwrap(), user());
        let j = cli(&cli_url, &["get", &key, "--json"]).expect(OK).json();
        assert_eq!((j["key"].as_str(), &j["value"]), (Some(key.as_str()), &user()));
    }
}

fn delete_removes_the_entry_and_other_processes_drop_it_from_l1(redis: Redis) {
    let url = redis.url();
    let cli_url = redis.admin_url(); // the operator; the application below is the ACL user
    // Another process's view: a client whose L1 holds the entry. Its
    // periodic generation check is a minute away: only the published
    // deletion can make it drop the entry within the few seconds below.
    let app = client(&url, "");
    let c = cache(&app, "cli-del", r#"{"l1_sync_ms": 60000}"#);
    let key = put(&c, "f", &json!([1]), &json!("v"));
    assert!(c.get("f", &msgpack(&json!([1]))).unwrap().is_some());
    redis.raw().del::<_, ()>(&key).unwrap();
    assert!(c.get("f", &msgpack(&json!([1]))).unwrap().is_some(), "served from L1 while Redis no longer has it");
    redis.raw().set::<_, _, ()>(&key, b"x").unwrap();

    let j = cli(&cli_url, &["delete", &key, "--json"]).expect(OK).json();
    assert_eq!(j, json!({"deleted": [key], "missing": []}), "no error member on success");
    assert!(!redis.raw().exists::<_, bool>(&key).unwrap());
    let deadline = Instant::now() + Duration::from_secs(3);
    while c.get("f", &msgpack(&json!([1]))).unwrap().is_some() {
        assert!(Instant::now() < deadline, "the other process's L1 still serves the deleted entry");
        std::thread::sleep(Duration::from_millis(20));
    }

    // A missing key has its own status; --ignore-missing accepts it.
    let r = cli(&cli_url, &["delete", &key]).expect(NOT_FOUND);
    assert!(r.stdout.contains("not found") && r.stderr.contains("no such key"), "{}", r.stderr);
    assert_eq!(cli(&cli_url, &["delete", &key, "--json"]).expect(NOT_FOUND).json()["missing"], json!([key]));
    cli(&cli_url, &["delete", &key, "--ignore-missing"]).expect(OK);
    let j = cli(&cli_url, &["inspect", &key, "--json"]).expect(NOT_FOUND).json();
    assert_eq!((&j["key"], &j["found"], &j["error"]["kind"]), (&json!(key), &json!(false), &json!("not_found")));
    cli(&cli_url, &["get", &key]).expect(NOT_FOUND);
}

fn stats_counts_a_namespace_and_clear_empties_it(redis: Redis) {
    let url = redis.url();
    let cli_url = redis.admin_url(); // the operator; the application below is the ACL user
    let app = client(&url, "");
    let (env, int) = (cache(&app, "cli-stats", "{}"), cache(&app, "cli-stats", r#"{"format": "interop"}"#));
    for i in 0..120 {
        put(&env, if i % 3 == 0 { "list" } else { "get" }, &json!([i]), &json!("x".repeat(10 + i as usize)));
    }
    for i in 0..30 {
        put(&int, "get", &json!([i]), &json!(i));
    }
    // Neighbours that are not entries of the namespace.
    put(&cache(&app, "cli-stats:v2", "{}"), "get", &json!([1]), &json!(1));
    put(&cache(&app, "cli-other", "{}"), "get", &json!([1]), &json!(1));
    redis.raw().set::<_, _, ()>("cli-stats:~gen", 5).unwrap();

    let exact: u64 = {
        let mut raw = redis.raw();
        let mut keys: Vec<String> = Vec::new();
        for (_, mut m) in redis.masters() {
            keys.extend(redis::cmd("KEYS").arg("cli-stats:*").query::<Vec<String>>(&mut m).unwrap());
        }
        keys.iter()
            .filter(|k| !k.starts_with("cli-stats:v2") && !k.ends_with("~gen"))
            .map(|k| raw.strlen::<_, u64>(k).unwrap())
            .sum()
    };
    let r = cli(&cli_url, &["stats", "cli-stats", "--sample", "0", "--scan-count", "20", "--json", "--progress"]).expect(OK);
    let j = r.json();
    assert_eq!(j["entries"], 150, "{j}");
    assert_eq!(j["formats"], json!({"envelope": 120, "interop": 30}));
    assert_eq!(j["operations"], json!({"get": 110, "list": 40}));
    assert_eq!((j["bytes"].as_u64(), &j["bytes_exact"]), (Some(exact), &json!(true)));
    assert_eq!(j["ttl_seconds"]["no_expiry"], 0);
    assert!(r.stderr.contains("scanning cli-stats:"), "progress: {}", r.stderr);

    // A sample estimates the bytes from fewer values.
    let j = cli(&cli_url, &["stats", "cli-stats", "--sample", "40", "--json"]).expect(OK).json();
    assert_eq!((j["entries"].as_u64(), j["sampled"].as_u64()), (Some(150), Some(40)));
    let estimate = j["bytes"].as_f64().unwrap();
    assert!(estimate > exact as f64 * 0.5 && estimate < exact as f64 * 1.5, "{estimate} vs {exact}");
    // Each run measures a random sample: one value at a time, the estimates differ.
    let estimates: std::collections::BTreeSet<u64> =
        (0..8).map(|_| cli(&cli_url, &["stats", "cli-stats", "--sample", "1", "--json"]).expect(OK).json()["bytes"].as_u64().unwrap()).collect();
    assert!(estimates.len() > 1, "the same value measured every time: {estimates:?}");
    let text = cli(&cli_url, &["stats", "cli-stats"]).expect(OK).stdout;
    assert!(text.contains("entries      150 (envelope 120, interop 30)") && text.contains("get 110, list 40"), "{text}");

    let j = cli(&cli_url, &["clear", "cli-stats", "--yes", "--json"]).expect(OK).json();
    assert_eq!(j, json!({"namespace": "cli-stats", "deleted": 150}));
    assert_eq!(cli(&cli_url, &["stats", "cli-stats", "--json"]).expect(OK).json()["entries"], 0);
    assert_eq!(cli(&cli_url, &["stats", "cli-stats:v2", "--json"]).expect(OK).json()["entries"], 1, "a longer namespace stays");
    assert!(cli(&cli_url, &["clear", "cli-other", "-y"]).expect(OK).stdout.contains("cleared 1 entries"));
    cli(&cli_url, &["stats", "bad name"]).expect(USAGE);
}

fn health_and_metrics_report_the_connection(redis: Redis) {
    let cli_url = redis.admin_url();
    let j = cli(&cli_url, &["health", "--json"]).expect(OK).json();
    assert_eq!(j["system"]["status"], "healthy");
    assert!(j["system"]["ping_latency_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(j["system"]["redis_nodes"].is_array(), redis.is_cluster());
    assert!(cli(&cli_url, &["health"]).expect(OK).stdout.starts_with("status       healthy"));

    let text = cli(&cli_url, &["metrics", "cli-metrics"]).expect(OK).stdout;
    assert!(text.contains("# TYPE redis_circuit_breaker_state gauge"), "{text}");
    assert!(text.contains("redis_circuit_breaker_state{namespace=\"cli-metrics\"} 0"), "{text}");
    let j = cli(&cli_url, &["metrics", "cli-metrics", "--json"]).expect(OK).json();
    let samples = j["samples"].as_array().unwrap();
    assert!(samples.iter().any(|s| s["name"] == "redis_circuit_breaker_state" && s["labels"]["namespace"] == "cli-metrics" && s["value"] == 0.0), "{j}");
    assert!(!samples.iter().any(|s| s["labels"]["namespace"] == "cachekit-cli"), "the probe is not counted");
}

/// `cachekit watch` as a child: its stdout lines, once it said it listens.
struct Watcher {
    child: std::process::Child,
}

impl Watcher {
    fn start(url: &str, args: &[&str]) -> Watcher {
        let mut child = command(Some(url), &[], &[&["watch", "--json", "--for", "30"], args].concat())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        assert!(line.contains("watching"), "{line:?}");
        Watcher { child }
    }

    /// The events printed until it stops (--count).
    fn events(self) -> Vec<Value> {
        let o = self.child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(OK));
        String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

fn watch_follows_deletes_fills_and_clears(redis: Redis) {
    let url = redis.url();
    let cli_url = redis.admin_url(); // the operator; the application below is the ACL user
    let watcher = Watcher::start(&cli_url, &["cli-watch", "--count", "3"]);
    let (a, b) = (client(&url, ""), client(&url, ""));
    let (ca, cb) = (cache(&a, "cli-watch", "{}"), cache(&b, "cli-watch", "{}"));
    // Not this namespace's: not shown.
    let other = cache(&a, "cli-watch-other", "{}");
    put(&other, "f", &json!([0]), &json!(0));
    other.delete("f", &msgpack(&json!([0]))).unwrap();

    let deleted = put(&ca, "f", &json!([1]), &json!(1));
    ca.delete("f", &msgpack(&json!([1]))).unwrap();
    // A fill another process waits for is announced.
    let args = msgpack(&json!([2]));
    let Fill::Lease(lease) = ca.fill("f", &args).unwrap() else { panic!("a cold key gives a lease") };
    let waiter = std::thread::spawn({
        let (cb, args) = (cb.clone(), args.clone());
        move || matches!(cb.fill("f", &args).unwrap(), Fill::Hit(_))
    });
    std::thread::sleep(Duration::from_millis(300));
    lease.complete(&msgpack(&json!(2)), None).unwrap();
    assert!(waiter.join().unwrap(), "the waiter got the filled value");
    let filled = ca.key("f", &args).unwrap();
    cb.clear().unwrap();

    let events = watcher.events();
    let summary: Vec<(&str, &str)> = events.iter().map(|e| (e["event"].as_str().unwrap(), e["key"].as_str().unwrap())).collect();
    assert_eq!(summary, vec![("deleted", deleted.as_str()), ("filled", filled.as_str()), ("cleared", "cli-watch:*")], "{events:?}");
    assert!(events[0]["generation"].as_i64().unwrap() >= 1 && events[0]["origin"].is_string());
    assert!(events[0]["time"].as_str().unwrap().ends_with('Z'));
}

// ---- on a server of its own ------------------------------------------------------

#[test]
fn encrypted_entries_open_with_the_master_key_only() {
    let server = RedisServer::start();
    let url = server.url();
    let app = client(&url, "");
    let opts = format!(r#"{{"encryption": true, "master_key": "{MASTER_KEY}"}}"#);
    let key = put(&cache(&app, "cli-secret", &opts), "get", &json!([1]), &user());
    fn with(k: &str) -> [(&'static str, &str); 1] {
        [("CACHEKIT_MASTER_KEY", k)]
    }

    let r = cli_env(Some(&url), &with(MASTER_KEY), &["inspect", &key, "--json"]).expect(OK);
    let j = r.json();
    assert_eq!((&j["format"], &j["verdict"], &j["value"]), (&json!("encrypted"), &json!("ok"), &user()));
    assert_eq!(j["encryption"]["inner_format"], "envelope");
    assert_eq!(j["encryption"]["tenant"], "default");
    assert_eq!(j["envelope"]["checksum_ok"], true);
    let text = cli_env(Some(&url), &with(MASTER_KEY), &["inspect", &key]).expect(OK).stdout;
    assert!(text.contains("encrypted (AES-256-GCM), holding envelope") && text.contains("\"ada\""), "{text}");
    let got = cli_env(Some(&url), &with(MASTER_KEY), &["get", &key]).expect(OK);
    assert_eq!(serde_json::from_str::<Value>(&got.stdout).unwrap(), user());
    for r in [&r] {
        assert!(!r.stdout.contains(MASTER_KEY) && !r.stderr.contains(MASTER_KEY), "the key is never printed");
    }

    // A wrong key: "cannot decrypt" and nothing else.
    for args in [vec!["inspect", key.as_str()], vec!["inspect", key.as_str(), "--json"], vec!["get", key.as_str()]] {
        let r = cli_env(Some(&url), &with(OTHER_KEY), &args).expect(CANNOT_DECRYPT);
        assert!(r.stderr.trim().ends_with("cannot decrypt"), "{}", r.stderr);
        assert!(!r.stdout.contains("ada") && !r.stdout.contains(OTHER_KEY) && !r.stderr.contains(OTHER_KEY), "{}", r.stdout);
    }
    let j = cli_env(Some(&url), &with(OTHER_KEY), &["inspect", &key, "--json"]).expect(CANNOT_DECRYPT).json();
    assert_eq!((&j["format"], &j["verdict"], &j["value"], &j["head_hex"]), (&json!("encrypted"), &json!("cannot_decrypt"), &Value::Null, &json!("")));

    // No key: not readable here, and the way to read it is named.
    let r = cli(&url, &["inspect", &key]).expect(UNREADABLE);
    assert!(r.stdout.contains("CACHEKIT_MASTER_KEY") && !r.stdout.contains("ada"), "{}", r.stdout);

    // A namespace tenant (not in the key) is tried with --tenant.
    let opts = format!(r#"{{"encryption": true, "master_key": "{MASTER_KEY}", "tenant_id": "acme", "format": "interop"}}"#);
    let key = put(&cache(&app, "cli-tenant", &opts), "get", &json!([1]), &json!("t"));
    cli_env(Some(&url), &with(MASTER_KEY), &["inspect", &key]).expect(CANNOT_DECRYPT);
    let j = cli_env(Some(&url), &with(MASTER_KEY), &["inspect", &key, "--tenant", "acme", "--json"]).expect(OK).json();
    assert_eq!((&j["value"], &j["encryption"]["tenant"], &j["encryption"]["inner_format"]), (&json!("t"), &json!("acme"), &json!("interop")));

    // A client tenant scopes the key; the scope names the tenant.
    let scoped = client(&url, r#", "tenant_id": "beta""#);
    let opts = format!(r#"{{"encryption": true, "master_key": "{MASTER_KEY}"}}"#);
    let key = put(&cache(&scoped, "cli-scoped", &opts), "get", &json!([1]), &json!("s"));
    assert!(key.starts_with("t:beta:"), "{key}");
    let j = cli_env(Some(&url), &with(MASTER_KEY), &["inspect", &key, "--json"]).expect(OK).json();
    assert_eq!((&j["value"], &j["encryption"]["tenant"]), (&json!("s"), &json!("beta")));

    cli_env(Some(&url), &with("not-hex"), &["inspect", &key]).expect(CONFIG);
}

#[test]
fn foreign_and_corrupt_entries_are_reported_with_their_first_bytes() {
    let server = RedisServer::start();
    let url = server.url();
    let mut raw = server.raw();
    let pickle: &[u8] = b"\x80\x04\x95\x0f\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04name\x94\x8c\x03ada\x94s.";
    let cases: [(&str, &[u8], &str); 5] = [
        ("plain:string", b"hello from another program", "text"),
        ("json:doc", br#"{"name": "ada", "id": 42}"#, "json"),
        ("pickle:obj", pickle, "pickle"),
        ("php:serialized", br#"a:2:{s:4:"name";s:3:"ada";s:2:"id";i:42;}"#, "php-serialize"),
        // Under a cachekit envelope key: still foreign, not a wrong value.
        ("users:get:0000000000000000000000000000000000000000000000000000000000000000:e1", b"s:3:\"ada\";", "php-serialize"),
    ];
    for (key, bytes, kind) in cases {
        raw.set::<_, _, ()>(key, bytes).unwrap();
        let r = cli(&url, &["inspect", key]).expect(UNREADABLE);
        let head = hex(&bytes[..bytes.len().min(32)]);
        assert!(r.stderr.contains("foreign format") && r.stderr.contains(&head), "{key}: {}", r.stderr);
        assert!(r.stdout.contains(&format!("first bytes  {head}")), "{key}: {}", r.stdout);
        let j = cli(&url, &["inspect", key, "--json"]).expect(UNREADABLE).json();
        assert_eq!((&j["format"], &j["verdict"], &j["foreign"]["kind"], &j["head_hex"]), (&json!("foreign"), &json!("foreign"), &json!(kind), &json!(head)), "{key}");
        assert!(j["value"].is_null());
        assert_eq!(j["error"]["kind"], "unreadable");
        cli(&url, &["get", key]).expect(UNREADABLE);
    }
    raw.hset::<_, _, _, ()>("a:hash", "f", 1).unwrap();
    let r = cli(&url, &["inspect", "a:hash", "--json"]).expect(UNREADABLE);
    assert_eq!(r.json()["foreign"], json!({"kind": "redis-type", "preview": "hash"}));

    // One checksum byte changed in an envelope written by the API.
    let app = client(&url, "");
    let key = put(&cache(&app, "cli-corrupt", "{}"), "get", &json!([1]), &user());
    let mut bytes: Vec<u8> = raw.get(&key).unwrap();
    // [0x94, bin8 0xc4, len, block..., 0x98, checksum integers...]
    assert_eq!(bytes[..2], [0x94, 0xc4]);
    let mut at = 3 + bytes[2] as usize;
    assert_eq!(bytes[at], 0x98);
    at += 1;
    if bytes[at] == 0xcc {
        at += 1; // a uint8 marker: change the value, not the marker
    }
    bytes[at] ^= 0x01;
    raw.set::<_, _, ()>(&key, &bytes).unwrap();
    let r = cli(&url, &["inspect", &key]).expect(UNREADABLE);
    assert!(r.stdout.contains("verdict      corrupt") && r.stdout.contains(": MISMATCH"), "{}", r.stdout);
    let j = cli(&url, &["inspect", &key, "--json"]).expect(UNREADABLE).json();
    assert_eq!((&j["format"], &j["verdict"], &j["envelope"]["checksum_ok"]), (&json!("envelope"), &json!("corrupt"), &json!(false)));
    let r = cli(&url, &["get", &key, "--json"]).expect(UNREADABLE);
    assert_eq!(r.json()["error"]["kind"], "unreadable");
    assert!(raw.exists::<_, bool>(&key).unwrap(), "inspecting changes nothing");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn inspect_never_crashes_on_random_bytes() {
    let server = RedisServer::start();
    let url = server.url();
    let mut raw = server.raw();
    let limits = cachekit::internals::codec::Limits::default();
    // A small deterministic generator: the same strings every run.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let strings: Vec<Vec<u8>> = (0..2000)
        .map(|i| {
            let len = (next() % if i % 4 == 0 { 8 } else { 160 }) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Some start like MessagePack arrays, envelopes or pickles.
            match (i % 5, b.first_mut()) {
                (1, Some(f)) => *f = 0x94,
                (2, Some(f)) => *f = 0x80,
                (3, Some(f)) => *f = 0xdc,
                _ => {}
            }
            b
        })
        .collect();
    let hash = "ab".repeat(32);
    let keys: Vec<String> = (0..strings.len()).map(|i| if i % 2 == 0 { format!("fz{i}:op:{hash}:e1") } else { format!("fz{i}:op:{hash}") }).collect();
    for (k, b) in keys.iter().zip(&strings) {
        raw.set::<_, _, ()>(k, b).unwrap();
    }
    let work: Vec<(usize, &String)> = keys.iter().enumerate().collect();
    let master = [("CACHEKIT_MASTER_KEY", MASTER_KEY)];
    std::thread::scope(|s| {
        for part in work.chunks(work.len() / 4) {
            let (url, strings, limits, master) = (&url, &strings, &limits, &master);
            s.spawn(move || {
                for (i, key) in part {
                    // Every tenth with a master key: a failed decryption is "cannot decrypt".
                    let env: &[(&str, &str)] = if i % 10 == 0 { master } else { &[] };
                    let r = cli_env(Some(url), env, &["inspect", key, "--json"]);
                    assert_ne!(r.code, PANIC, "inspect panicked on {:?}: {}", strings[*i], r.stderr);
                    let j = r.json();
                    let document = cachekit::internals::codec::check_document(&strings[*i], limits).is_ok();
                    match r.code {
                        // Only a real MessagePack document under an interop key reads.
                        OK => assert!(!key.ends_with(":e1") && document && j["format"] == "interop", "{key} {:?}", strings[*i]),
                        UNREADABLE => assert!(j["verdict"] == "foreign" || j["verdict"] == "corrupt", "{j}"),
                        CANNOT_DECRYPT => assert!(!env.is_empty() && j["verdict"] == "cannot_decrypt", "{j}"),
                        other => panic!("exit {other} for {:?}: {}", strings[*i], r.stderr),
                    }
                }
            });
        }
    });
}

#[test]
fn key_derives_what_every_wrapper_derives() {
    let server = RedisServer::start();
    let url = server.url();
    let app = client(&url, "");
    let args = json!([42, "en", {"b": 2.0, "a": [1, null, true]}]);
    let env_key = cache(&app, "users", "{}").key("get_user", &msgpack(&args)).unwrap();
    let int_key = cache(&app, "users", r#"{"format": "interop"}"#).key("get_user", &msgpack(&args)).unwrap();
    let text = args.to_string();
    // No Redis needed; the canonical form makes widths and key order irrelevant.
    assert_eq!(cli_env(None, &[], &["key", "users", "get_user", &text]).expect(OK).stdout.trim(), env_key);
    let reordered = r#"[42.0, "en", {"a": [1, null, true], "b": 2}]"#;
    assert_eq!(cli_env(None, &[], &["key", "users", "get_user", reordered]).expect(OK).stdout.trim(), env_key);
    let j = cli_env(None, &[], &["key", "--interop", "users", "get_user", &text, "--json"]).expect(OK).json();
    assert_eq!(j, json!({"key": int_key, "namespace": "users", "operation": "get_user", "format": "interop"}));
    // From stdin.
    let mut child = command(None, &[], &["key", "users", "get_user", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    assert_eq!(String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap().trim(), env_key);
    // The key scope of the environment, as in the applications.
    let scoped = cli_env(None, &[("CACHEKIT_KEY_PREFIX", "app1:"), ("CACHEKIT_TENANT_ID", "a b")], &["key", "users", "get_user", &text]).expect(OK);
    assert_eq!(scoped.stdout.trim(), format!("app1:t:a%20b:{env_key}"));

    // Refused input: usage errors, with the reason.
    for bad in [vec!["key", "users", "get_user", "[1"], vec!["key", "users", "get_user", "{\"a\": 1}"], vec!["key", "users", "bad op", "[]"], vec!["key", "--interop", "ns", "get", "[]"], vec!["key", "users", "[]"]] {
        let r = cli_env(None, &[], &bad).expect(USAGE);
        assert!(!r.stderr.is_empty(), "{bad:?}");
    }
    let r = cli_env(None, &[], &["key", "--interop", "Users", "get", "[]", "--json"]).expect(USAGE);
    assert_eq!(r.json()["error"]["kind"], "usage");
    // An interop key cannot take a key prefix: a configuration error.
    cli_env(None, &[("CACHEKIT_KEY_PREFIX", "app1:")], &["key", "--interop", "users", "get", "[]"]).expect(CONFIG);
}

#[test]
fn every_command_reports_redis_down_and_bad_configuration() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = format!("redis://127.0.0.1:{port}");
    let commands: [&[&str]; 8] = [
        &["inspect", "k"],
        &["get", "k"],
        &["delete", "k"],
        &["clear", "ns", "--yes"],
        &["stats", "ns"],
        &["health"],
        &["metrics"],
        &["watch", "--for", "1"],
    ];
    for args in commands {
        let r = cli(&down, args).expect(REDIS);
        assert!(r.stderr.starts_with("cachekit: "), "{args:?}: {}", r.stderr);
        let j = cli(&down, &[args, &["--json"]].concat()).expect(REDIS).json();
        assert_eq!((j["error"]["kind"].as_str(), j["error"]["exit_code"].as_i64()), (Some("redis"), Some(4)), "{args:?}");
        // No Redis configured, a malformed URL: configuration errors.
        cli_env(None, &[], args).expect(CONFIG);
        cli_env(None, &[("CACHEKIT_REDIS_URL", "http://nowhere")], args).expect(CONFIG);
        cli_env(None, &[("CACHEKIT_SOCKET_TIMEOUT", "soon")], args).expect(CONFIG);
    }
    // --timeout bounds the wait; a bad one is a usage error.
    cli(&down, &["health", "--timeout", "0.2"]).expect(REDIS);
    cli(&down, &["health", "--timeout", "soon"]).expect(USAGE);
    // --url wins over the environment; REDIS_URL is read too.
    let server = RedisServer::start();
    cli_env(Some(&down), &[], &["health", "--url", &server.url()]).expect(OK);
    cli_env(None, &[("REDIS_URL", &server.url())], &["health"]).expect(OK);
}

#[test]
fn help_reads_like_a_manual_and_usage_errors_exit_2() {
    let r = cli_env(None, &[], &["--help"]).expect(OK);
    for section in ["Usage: cachekit", "EXIT STATUS:", "ENVIRONMENT:", "EXAMPLES:", "CACHEKIT_MASTER_KEY", "redis+cluster://"] {
        assert!(r.stdout.contains(section), "--help lacks {section:?}");
    }
    for command in ["key", "inspect", "get", "delete", "clear", "stats", "health", "metrics", "watch"] {
        let r = cli_env(None, &[], &[command, "--help"]).expect(OK);
        assert!(r.stdout.contains("EXIT STATUS:") && r.stdout.contains("EXAMPLES:"), "{command} --help: {}", r.stdout);
    }
    assert!(cli_env(None, &[], &["--version"]).expect(OK).stdout.starts_with("cachekit "));
    for bad in [vec![], vec!["frobnicate"], vec!["inspect"], vec!["get", "a", "b"], vec!["stats", "ns", "--sample", "many"], vec!["delete"]] {
        let r = cli_env(None, &[], &bad).expect(USAGE);
        assert!(r.stderr.contains("--help"), "{bad:?}: {}", r.stderr);
    }
}

#[test]
fn clear_asks_first_on_a_terminal() {
    let server = RedisServer::start();
    let url = server.url();
    let app = client(&url, "");
    put(&cache(&app, "cli-ask", "{}"), "f", &json!([1]), &json!(1));
    // A terminal for stdin: `script` runs the command on a pseudo-terminal
    // and types our answer into it.
    let on_a_terminal = |answer: &str| {
        let mut c = command(Some(&url), &[], &[]);
        c.env_remove("CACHEKIT_REDIS_URL");
        let line = format!("{BIN} clear cli-ask --url {url}");
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script(1) of util-linux runs the command on a terminal");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), answer.as_bytes()).unwrap();
        let o = child.wait_with_output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (code, text) = on_a_terminal("n\n");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("Delete every entry of namespace \"cli-ask\"") && text.contains("not cleared"), "{text}");
    assert_eq!(cli(&url, &["stats", "cli-ask", "--json"]).expect(OK).json()["entries"], 1, "nothing deleted");
    let (code, text) = on_a_terminal("y\n");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("cleared 1 entries"), "{text}");
    assert_eq!(cli(&url, &["stats", "cli-ask", "--json"]).expect(OK).json()["entries"], 0);
}
