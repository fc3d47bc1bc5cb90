//! No secret ever leaves the core: a Redis password, an ACL user's secret,
//! a sentinel password or a master key never appears in a log event (all
//! levels, on stderr), a health report, an error message, the public
//! configuration or the metrics. The test binary runs itself again as a
//! child that exercises every path that reports something (right and wrong
//! passwords, encrypted namespaces read with the right, another and no
//! key, malformed URLs, a sentinel and a cluster URL, fail-closed errors)
//! with LOG_LEVEL=DEBUG, and prints every report; the parent greps all of
//! it for the secrets.

#[path = "support/redis_server.rs"]
mod redis_server;

#[path = "support/calls.rs"]
mod calls;

use cachekit::{CacheOptions, Client, Config, Fill};
use calls::{args, int};
use redis_server::RedisServer;
use std::process::{Command, Stdio};

const PASSWORD: &str = "Rp-9f3KqZ-redis-password";
const ACL_SECRET: &str = "Ac-71xWv2-acl-secret";
const SENTINEL_PASSWORD: &str = "Sp-44mNbb-sentinel-password";
const MASTER_KEY: &str = "5ec2e7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d";
const OTHER_KEY: &str = "0ddba11c0ffee0ddba11c0ffee0ddba11c0ffee0ddba11c0ffee0ddba11c0ffe";
const CHILD_ENV: &str = "CACHEKIT_TEST_SECRETS_CHILD";

fn client(json: &str) -> Result<Client, cachekit::Error> {
    Client::new(Config::load_with(Some(json), |_| None)?)
}

/// Everything a user or operator could see, printed.
fn child(port: u16) {
    let good = format!("redis://:{PASSWORD}@127.0.0.1:{port}");
    let acl = format!("redis://app:{ACL_SECRET}@127.0.0.1:{port}");
    let wrong = format!("redis://:not-{PASSWORD}@127.0.0.1:{port}");
    for url in [&good, &acl, &wrong] {
        let c = client(&format!(r#"{{"redis_url": "{url}", "master_key": "{MASTER_KEY}", "socket_timeout": 0.5}}"#)).unwrap();
        let enc = c.cache("secret-ns", CacheOptions::from_json(Some(r#"{"encryption": true}"#)).unwrap()).unwrap();
        let _ = enc.set("f", &args(1), &int(1), None);
        println!("get: {:?}", enc.get("f", &args(1)));
        if let Ok(Fill::Lease(l)) = enc.fill("f", &args(2)) {
            println!("complete: {:?}", l.complete(&int(2), None));
        }
        let closed = c.cache("secret-closed", CacheOptions::from_json(Some(r#"{"fail_closed": true}"#)).unwrap()).unwrap();
        println!("fail-closed set: {:?}", closed.set("f", &args(1), &int(1), None));
        println!("health: {}", enc.health());
        println!("check_health: {}", enc.check_health());
        println!("metrics: {}", c.metrics_text());
        c.flush(std::time::Duration::from_secs(2));
    }
    // The same entries read with another key, and with none.
    for key in [Some(OTHER_KEY), None] {
        let json = match key {
            Some(k) => format!(r#"{{"redis_url": "{good}", "master_key": "{k}"}}"#),
            None => format!(r#"{{"redis_url": "{good}"}}"#),
        };
        let c = client(&json).unwrap();
        match c.cache("secret-ns", CacheOptions::from_json(Some(r#"{"encryption": true, "l1_enabled": false}"#)).unwrap()) {
            Ok(enc) => {
                println!("other key get: {:?}", enc.get("f", &args(1)));
                println!("other key health: {}", enc.health());
            }
            Err(e) => println!("no key: {e}"),
        }
    }
    // Malformed settings that carry secrets.
    for json in [
        format!(r#"{{"redis_url": "redis+cluster://u:{PASSWORD}@h:1,,h:2"}}"#),
        format!(r#"{{"redis_url": "redis+sentinel://u:{PASSWORD}@s1:26379/m/x?sentinel_password={SENTINEL_PASSWORD}"}}"#),
        format!(r#"{{"redis_url": "http://u:{PASSWORD}@h:1"}}"#),
        format!(r#"{{"master_key": "{}"}}"#, &MASTER_KEY[..40]),
        format!(r#"{{"master_key": "{MASTER_KEY}zz"}}"#),
    ] {
        println!("config error: {:?}", client(&json).err().map(|e| e.to_string()));
    }
    // A sentinel URL whose sentinels do not answer: errors and health.
    let c = client(&format!(
        r#"{{"redis_url": "redis+sentinel://u:{PASSWORD}@127.0.0.1:1/m?sentinel_password={SENTINEL_PASSWORD}", "socket_timeout": 0.2, "socket_connect_timeout": 0.2}}"#
    ))
    .unwrap();
    let ns = c.cache("secret-sentinel", CacheOptions::from_json(Some(r#"{"fail_closed": true}"#)).unwrap()).unwrap();
    println!("sentinel get: {:?}", ns.get("f", &args(1)));
    println!("sentinel health: {}", ns.check_health());
    println!("sentinel config: {}", c.config().to_public_json());
    println!("CHILD DONE");
}

#[test]
fn no_password_acl_secret_sentinel_password_or_master_key_appears_in_anything_reported() {
    if let Ok(port) = std::env::var(CHILD_ENV) {
        child(port.parse().unwrap());
        return;
    }
    let redis = RedisServer::start_with(&["--requirepass", PASSWORD, "--user", "app", "on", &format!(">{ACL_SECRET}"), "~*", "&*", "+@all"]);
    let port: u16 = redis.url().rsplit(':').next().unwrap().parse().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["no_password_acl_secret_sentinel_password_or_master_key_appears_in_anything_reported", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, port.to_string())
        .env("LOG_LEVEL", "DEBUG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the child failed: {text}");
    // What was produced is real: each path reported something.
    for expected in ["CHILD DONE", "\"event\":\"cache_lookup\"", "AuthenticationFailed", "decryption failed", "l2_error", "redis_cache_operations_total", "config error: Some(", "sentinel health"] {
        assert!(text.contains(expected), "the child's output has no {expected:?}: the scan would prove nothing\n{text}");
    }
    let mut findings = Vec::new();
    for (what, secret) in [("Redis password", PASSWORD), ("ACL secret", ACL_SECRET), ("sentinel password", SENTINEL_PASSWORD), ("master key", MASTER_KEY), ("other master key", OTHER_KEY)] {
        for (n, line) in text.lines().enumerate() {
            // The key also in upper case, and any 16-hex-digit piece of it.
            let lower = line.to_ascii_lowercase();
            let leaked = line.contains(secret) || (secret.len() == 64 && secret.as_bytes().chunks(16).any(|c| lower.contains(std::str::from_utf8(c).unwrap())));
            if leaked {
                findings.push(format!("{what} on line {n}: {line}"));
            }
        }
    }
    println!("secret scan: {} lines, {} bytes, {} findings", text.lines().count(), text.len(), findings.len());
    assert!(findings.is_empty(), "secrets leaked:\n{}", findings.join("\n"));
}
