//! The client against a real redis-server started by the test: L2 round
//! trips, TTL expiry, sharing between clients, clears, fail-open, reconnect,
//! and the bad bytes a cache meets in production.

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/redis_target.rs"]
mod redis_target;

use cachekit::{Cache, CacheOptions, Client, Config, Error, Fill, Format};
use redis::Commands;
use redis_server::RedisServer;
use redis_target::{on_each_redis, Raw, Redis};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn client(url: &str, extra: &str) -> Client {
    let json = format!(r#"{{"redis_url": "{url}", "socket_timeout": 0.5, "socket_connect_timeout": 0.5 {extra}}}"#);
    Client::new(Config::load_with(Some(&json), |_| None).unwrap()).unwrap()
}

fn opts(json: &str) -> CacheOptions {
    CacheOptions::from_json(Some(json)).unwrap()
}

/// MessagePack array of integers: the argument list of a call.
fn args(xs: &[i64]) -> Vec<u8> {
    let mut v = Vec::new();
    rmp::encode::write_array_len(&mut v, xs.len() as u32).unwrap();
    for x in xs {
        rmp::encode::write_sint(&mut v, *x).unwrap();
    }
    v
}

/// MessagePack string: a value.
fn text(s: &str) -> Vec<u8> {
    let mut v = Vec::new();
    rmp::encode::write_str(&mut v, s).unwrap();
    v
}

// Each of these runs on a redis-server of its own and on the Redis Cluster.
on_each_redis!(
    a_tenant_neither_reads_nor_clears_another_tenants_entries,
    a_value_set_by_one_client_is_read_by_another_through_redis,
    entries_are_plain_redis_strings_with_a_ttl,
    entries_expire_in_redis_and_in_l1,
    l1_takes_the_remaining_ttl_of_the_l2_entry,
    delete_removes_from_l1_and_redis,
    clear_deletes_one_namespace_only,
    key_prefix_and_tenant_scope_are_part_of_the_redis_key,
    envelope_and_interop_entries_never_share_a_key,
    interop_values_are_written_canonically_and_read_by_plain_readers,
    truncated_bytes_are_a_counted_miss_and_deleted,
    no_single_flipped_bit_ever_yields_a_wrong_value,
    a_flipped_bit_in_the_compressed_data_is_a_counted_miss_and_deleted,
    foreign_bytes_are_a_counted_miss_and_deleted,
    a_decompression_bomb_is_rejected_before_allocating,
    an_entry_of_another_serializer_is_a_counted_miss,
    a_ciphertext_copied_from_another_key_fails_to_decrypt,
    encrypted_values_read_without_the_key_or_with_another_key_are_misses,
    rotated_master_keys_still_decrypt,
    encrypted_namespaces_keep_ciphertext_in_l1_unless_asked,
    sixteen_threads_on_a_cold_key_compute_once,
    an_abandoned_lease_caches_nothing_and_a_waiter_takes_over,
    values_that_cannot_be_stored_are_errors_and_leave_nothing_behind,
    clearing_a_namespace_leaves_longer_namespaces_alone,
    a_value_that_cannot_be_stored_removes_the_stale_entry_everywhere,
);

fn stat(cache: &Cache, name: &str) -> u64 {
    cache.health()["stats"][name].as_u64().unwrap()
}

fn a_value_set_by_one_client_is_read_by_another_through_redis(redis: Redis) {
    let a = client(&redis.url(), "").cache("shared", CacheOptions::default()).unwrap();
    let b = client(&redis.url(), "").cache("shared", CacheOptions::default()).unwrap();
    assert_eq!(b.get("op", &args(&[1])).unwrap(), None);
    a.set("op", &args(&[1]), &text("hello"), None).unwrap();
    assert_eq!(&*b.get("op", &args(&[1])).unwrap().unwrap(), &text("hello")[..]);
    assert_eq!(stat(&b, "l2_hits"), 1);
    // The second read is an L1 hit in b: no further L2 hit.
    b.get("op", &args(&[1])).unwrap().unwrap();
    assert_eq!(stat(&b, "l2_hits"), 1);
    // Canonical keys: 2.0 and 2 are the same argument.
    let float_two = [0x91, 0xcb, 0x40, 0x00, 0, 0, 0, 0, 0, 0];
    a.set("op", &args(&[2]), &text("two"), None).unwrap();
    assert_eq!(&*b.get("op", &float_two).unwrap().unwrap(), &text("two")[..]);
}

fn entries_are_plain_redis_strings_with_a_ttl(redis: Redis) {
    let c = client(&redis.url(), "").cache("plain", opts(r#"{"ttl": 120}"#)).unwrap();
    c.set("op", &args(&[1]), &text("v"), None).unwrap();
    let key = c.key("op", &args(&[1])).unwrap();
    assert!(key.starts_with("plain:op:") && key.ends_with(":e1"), "{key}");
    let mut raw = redis.raw();
    let ttl: i64 = raw.ttl(&key).unwrap();
    assert!((115..=120).contains(&ttl), "ttl {ttl}");
    let t = c.ttl("op", &args(&[1])).unwrap().unwrap().unwrap();
    assert!(t <= Duration::from_secs(120) && t > Duration::from_secs(115));
    assert!(c.exists("op", &args(&[1])).unwrap());
    assert!(!c.exists("op", &args(&[2])).unwrap());
    assert_eq!(c.ttl("op", &args(&[2])).unwrap(), None);
}

fn entries_expire_in_redis_and_in_l1(redis: Redis) {
    let c = client(&redis.url(), "").cache("ttl", CacheOptions::default()).unwrap();
    c.set("op", &args(&[1]), &text("short"), Some(Duration::from_millis(300))).unwrap();
    assert!(c.get("op", &args(&[1])).unwrap().is_some());
    std::thread::sleep(Duration::from_millis(450));
    assert_eq!(c.get("op", &args(&[1])).unwrap(), None, "L1 must not outlive the TTL");
    let mut raw = redis.raw();
    let exists: bool = raw.exists(c.key("op", &args(&[1])).unwrap()).unwrap();
    assert!(!exists, "Redis expired the entry");
}

fn l1_takes_the_remaining_ttl_of_the_l2_entry(redis: Redis) {
    let writer = client(&redis.url(), "").cache("ttl2", CacheOptions::default()).unwrap();
    let reader = client(&redis.url(), "").cache("ttl2", CacheOptions::default()).unwrap();
    writer.set("op", &args(&[1]), &text("v"), Some(Duration::from_millis(400))).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(reader.get("op", &args(&[1])).unwrap().is_some(), "read into reader's L1");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(reader.get("op", &args(&[1])).unwrap(), None, "reader's L1 copy expired with the L2 entry");
}

fn delete_removes_from_l1_and_redis(redis: Redis) {
    let a = client(&redis.url(), "").cache("del", CacheOptions::default()).unwrap();
    let b = client(&redis.url(), "").cache("del", opts(r#"{"l1_enabled": false}"#)).unwrap();
    a.set("op", &args(&[1]), &text("v"), None).unwrap();
    assert!(a.delete("op", &args(&[1])).unwrap());
    assert!(!a.delete("op", &args(&[1])).unwrap());
    assert_eq!(a.get("op", &args(&[1])).unwrap(), None);
    assert_eq!(b.get("op", &args(&[1])).unwrap(), None);
}

fn clear_deletes_one_namespace_only(redis: Redis) {
    let c = client(&redis.url(), "");
    let one = c.cache("one", CacheOptions::default()).unwrap();
    let two = c.cache("two", CacheOptions::default()).unwrap();
    for i in 0..50 {
        one.set("op", &args(&[i]), &text("x"), None).unwrap();
        two.set("op", &args(&[i]), &text("y"), None).unwrap();
    }
    assert_eq!(one.clear().unwrap(), 50);
    assert_eq!(one.get("op", &args(&[3])).unwrap(), None);
    assert!(two.get("op", &args(&[3])).unwrap().is_some());
    let mut raw = redis.raw();
    let n: usize = raw.keys::<_, Vec<String>>("two:*").unwrap().len();
    assert_eq!(n, 50);
}

fn key_prefix_and_tenant_scope_are_part_of_the_redis_key(redis: Redis) {
    let c = client(&redis.url(), r#", "key_prefix": "app1:", "tenant_id": "acme corp""#)
        .cache("ns", CacheOptions::default())
        .unwrap();
    let key = c.key("op", &args(&[1])).unwrap();
    assert!(key.starts_with("app1:t:acme%20corp:ns:op:"), "{key}");
    c.set("op", &args(&[1]), &text("v"), None).unwrap();
    let mut raw = redis.raw();
    let exists: bool = raw.exists(&key).unwrap();
    assert!(exists);
}

/// Tenants of one namespace: neither reads the other's encrypted entries
/// (their keys differ, and a copied ciphertext does not decrypt), and a
/// clear by one leaves the other's entries alone.
fn a_tenant_neither_reads_nor_clears_another_tenants_entries(redis: Redis) {
    let key = "1f".repeat(32);
    let tenant = |t: &str| {
        client(&redis.url(), &format!(r#", "tenant_id": "{t}", "master_key": "{key}""#)).cache("shared", opts(r#"{"encryption": true, "l1_enabled": false}"#)).unwrap()
    };
    let (a, b) = (tenant("a"), tenant("b"));
    a.set("op", &args(&[1]), &text("a's"), None).unwrap();
    b.set("op", &args(&[1]), &text("b's"), None).unwrap();
    let (ka, kb) = (a.key("op", &args(&[1])).unwrap(), b.key("op", &args(&[1])).unwrap());
    assert_ne!(ka, kb);
    // B's ciphertext under A's key: A cannot decrypt it (both directions).
    let mut raw = redis.raw();
    let (va, vb): (Vec<u8>, Vec<u8>) = (raw.get(&ka).unwrap(), raw.get(&kb).unwrap());
    let _: () = raw.set(&ka, &vb).unwrap();
    assert_eq!(a.get("op", &args(&[1])).unwrap(), None, "a cannot read b's entry");
    let _: () = raw.set(&kb, &va).unwrap();
    assert_eq!(b.get("op", &args(&[1])).unwrap(), None, "b cannot read a's entry");
    // Clears stay in their tenant.
    a.set("op", &args(&[2]), &text("a's"), None).unwrap();
    b.set("op", &args(&[2]), &text("b's"), None).unwrap();
    a.clear().unwrap();
    assert_eq!(a.get("op", &args(&[2])).unwrap(), None);
    assert_eq!(b.get("op", &args(&[2])).unwrap().as_deref(), Some(&text("b's")[..]), "a's clear left b's entry");
}

#[test]
fn an_interop_namespace_refuses_a_key_prefix_or_tenant_scope_instead_of_applying_it() {
    for (extra, names) in [
        (r#"{"key_prefix": "app1:"}"#, "CACHEKIT_KEY_PREFIX"),
        (r#"{"tenant_id": "acme"}"#, "CACHEKIT_TENANT_ID"),
    ] {
        let c = Client::new(Config::load_with(Some(extra), |_| None).unwrap()).unwrap();
        let e = c.cache("users", opts(r#"{"format": "interop"}"#)).err().expect("refused");
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        assert!(e.to_string().contains(names), "{e}");
        assert!(e.to_string().contains("users:<operation>:<hash>"), "{e}");
        // The envelope format keeps its scope.
        assert!(c.cache("users", CacheOptions::default()).is_ok());
    }
}

fn envelope_and_interop_entries_never_share_a_key(redis: Redis) {
    let c = client(&redis.url(), "");
    let env = c.cache("users", CacheOptions::default()).unwrap();
    let interop = c.cache("users", opts(r#"{"format": "interop"}"#)).unwrap();
    let ek = env.key("get_all", &args(&[])).unwrap();
    let ik = interop.key("get_all", &args(&[])).unwrap();
    assert_eq!(ik, "users:get_all:8064bf5f945dba521b017bb3f32b31a293a6e16944838d171ea9e77fab085e8e");
    assert_eq!(ek, format!("{ik}:e1"));
    env.set("get_all", &args(&[]), &text("envelope"), None).unwrap();
    interop.set("get_all", &args(&[]), &text("plain"), None).unwrap();
    assert_eq!(&*env.get("get_all", &args(&[])).unwrap().unwrap(), &text("envelope")[..]);
    let mut raw = redis.raw();
    let stored: Vec<u8> = raw.get(&ik).unwrap();
    assert_eq!(stored, text("plain"), "interop stores one plain MessagePack document");
}

fn interop_values_are_written_canonically_and_read_by_plain_readers(redis: Redis) {
    let c = client(&redis.url(), "").cache("users", opts(r#"{"format": "interop", "l1_enabled": false}"#)).unwrap();
    // {"name": "alice", "age": 30} with keys out of order -> sorted keys.
    let value = hex::decode("82a46e616d65a5616c696365a36167651e").unwrap();
    c.set("get_user", &args(&[42]), &value, None).unwrap();
    let key = c.key("get_user", &args(&[42])).unwrap();
    let mut raw = redis.raw();
    let stored: Vec<u8> = raw.get(&key).unwrap();
    assert_eq!(hex::encode(&stored), "82a36167651ea46e616d65a5616c696365");
    // A foreign SDK writes a plain document: we read it.
    let _: () = raw.set(&key, hex::decode("93cd002ad2ffffffffcf0000000000000001").unwrap()).unwrap();
    assert!(c.get("get_user", &args(&[42])).unwrap().is_some());
}

// ---- bad bytes in Redis: a counted miss, deleted, never a wrong value ----

struct Planted {
    _redis: Redis,
    raw: Raw,
    cache: Cache,
    key: String,
}

fn planted(redis: Redis, options: &str) -> Planted {
    let cache = client(&redis.url(), "").cache("bad", opts(options)).unwrap();
    cache.set("op", &args(&[7]), &text(&"payload ".repeat(20)), None).unwrap();
    let key = cache.key("op", &args(&[7])).unwrap();
    let raw = redis.raw();
    Planted { _redis: redis, raw, cache, key }
}

impl Planted {
    fn stored(&mut self) -> Vec<u8> {
        self.raw.get(&self.key).unwrap()
    }
    fn plant(&mut self, bytes: &[u8]) {
        let _: () = self.raw.set(&self.key, bytes).unwrap();
    }
    fn read(&self) -> Option<Vec<u8>> {
        self.cache.get("op", &args(&[7])).unwrap().map(|b| b.to_vec())
    }
    fn exists(&mut self) -> bool {
        self.raw.exists(&self.key).unwrap()
    }
    fn assert_counted_miss_and_deleted(&mut self, what: &str) {
        let before = stat(&self.cache, "corrupt_entries");
        assert_eq!(self.read(), None, "{what}: must be a miss");
        assert_eq!(stat(&self.cache, "corrupt_entries"), before + 1, "{what}: must be counted");
        assert!(!self.exists(), "{what}: must be deleted from Redis");
    }
}

const NO_L1: &str = r#"{"l1_enabled": false}"#;

fn truncated_bytes_are_a_counted_miss_and_deleted(redis: Redis) {
    let mut p = planted(redis, NO_L1);
    let good = p.stored();
    for cut in [1, good.len() / 2, good.len() - 1] {
        p.plant(&good[..cut]);
        p.assert_counted_miss_and_deleted(&format!("truncated to {cut} bytes"));
    }
}

fn no_single_flipped_bit_ever_yields_a_wrong_value(redis: Redis) {
    let mut p = planted(redis, NO_L1);
    let good = p.stored();
    let expected = text(&"payload ".repeat(20));
    let mut misses = 0;
    for bit in 0..good.len() * 8 {
        let mut bad = good.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        p.plant(&bad);
        match p.read() {
            None => misses += 1,
            Some(v) => assert_eq!(v, expected, "bit {bit} flipped gave a wrong value"),
        }
    }
    let counted = stat(&p.cache, "corrupt_entries") + stat(&p.cache, "format_mismatches");
    assert_eq!(counted, misses as u64, "every miss was counted");
    assert!(misses as usize >= good.len() * 8 - 8, "almost every flip is detected: {misses}");
}

fn a_flipped_bit_in_the_compressed_data_is_a_counted_miss_and_deleted(redis: Redis) {
    let mut p = planted(redis, NO_L1);
    let mut bad = p.stored();
    bad[10] ^= 0x10;
    p.plant(&bad);
    p.assert_counted_miss_and_deleted("flipped bit");
}

fn foreign_bytes_are_a_counted_miss_and_deleted(redis: Redis) {
    let mut p = planted(redis, NO_L1);
    for foreign in [&b"{\"json\": true}"[..], b"\x80\x04\x95pickle", b"", &hex::decode("82a36167651ea46e616d65a5616c696365").unwrap()] {
        p.plant(foreign);
        p.assert_counted_miss_and_deleted(&format!("foreign {:?}", String::from_utf8_lossy(foreign)));
    }
}

fn a_decompression_bomb_is_rejected_before_allocating(redis: Redis) {
    let mut p = planted(redis, NO_L1);
    // Envelope claiming 400 MiB from a 10-byte block.
    let mut bomb = vec![0x94, 0xc4, 10];
    bomb.extend_from_slice(&[0xff; 10]);
    bomb.push(0x98);
    bomb.extend_from_slice(&[0; 8]);
    bomb.push(0xce);
    bomb.extend_from_slice(&(400u32 << 20).to_be_bytes());
    bomb.push(0xa7);
    bomb.extend_from_slice(b"msgpack");
    p.plant(&bomb);
    p.assert_counted_miss_and_deleted("decompression bomb");
}

fn an_entry_of_another_serializer_is_a_counted_miss(redis: Redis) {
    let mut p = planted(redis, NO_L1);
    p.plant(&cachekit::internals::codec::encode_envelope(b"{\"a\":1}", "json"));
    let before = stat(&p.cache, "format_mismatches");
    assert_eq!(p.read(), None);
    assert_eq!(stat(&p.cache, "format_mismatches"), before + 1);
}

const KEY_A: &str = "6161616161616161616161616161616161616161616161616161616161616161";
const KEY_B: &str = "6262626262626262626262626262626262626262626262626262626262626262";

fn a_ciphertext_copied_from_another_key_fails_to_decrypt(redis: Redis) {
    let mut p = planted(redis, &format!(r#"{{"l1_enabled": false, "encryption": true, "master_key": "{KEY_A}"}}"#));
    p.cache.set("op", &args(&[8]), &text("other"), None).unwrap();
    let other: Vec<u8> = p.raw.get(p.cache.key("op", &args(&[8])).unwrap()).unwrap();
    p.plant(&other);
    p.assert_counted_miss_and_deleted("ciphertext of another key");
}

fn encrypted_values_read_without_the_key_or_with_another_key_are_misses(redis: Redis) {
    let mut p = planted(redis, &format!(r#"{{"l1_enabled": false, "encryption": true, "master_key": "{KEY_A}"}}"#));
    let stored = p.stored();
    assert!(!stored.windows(7).any(|w| w == b"payload"), "plaintext must not reach Redis");
    assert_eq!(p.read().unwrap(), text(&"payload ".repeat(20)));
    let url = p._redis.url();
    let plain_reader = client(&url, "").cache("bad", opts(NO_L1)).unwrap();
    assert_eq!(plain_reader.get("op", &args(&[7])).unwrap(), None);
    assert_eq!(stat(&plain_reader, "corrupt_entries"), 1);
    p.plant(&stored);
    let wrong_key = client(&url, "")
        .cache("bad", opts(&format!(r#"{{"l1_enabled": false, "encryption": true, "master_key": "{KEY_B}"}}"#)))
        .unwrap();
    assert_eq!(wrong_key.get("op", &args(&[7])).unwrap(), None);
    assert_eq!(stat(&wrong_key, "corrupt_entries"), 1);
}

fn rotated_master_keys_still_decrypt(redis: Redis) {
    let old = client(&redis.url(), "")
        .cache("rot", opts(&format!(r#"{{"l1_enabled": false, "encryption": true, "master_key": "{KEY_A}"}}"#)))
        .unwrap();
    old.set("op", &args(&[1]), &text("secret"), None).unwrap();
    let new = client(&redis.url(), "")
        .cache(
            "rot",
            opts(&format!(
                r#"{{"l1_enabled": false, "encryption": true, "master_key": "{KEY_B}", "decrypt_only_keys": ["{KEY_A}"]}}"#
            )),
        )
        .unwrap();
    assert_eq!(&*new.get("op", &args(&[1])).unwrap().unwrap(), &text("secret")[..]);
}

fn encrypted_namespaces_keep_ciphertext_in_l1_unless_asked(redis: Redis) {
    // What L1 holds is seen through health: `l1.bytes` is the key, the
    // bytes kept and a fixed per-entry overhead. The ciphertext (nonce,
    // encrypted envelope, tag) is longer than the value, so the bytes kept
    // tell which of the two is in L1.
    let value = text("secret");
    let mut overheads = Vec::new();
    // Namespaces of one length: keys of one length.
    for (ns, extra, keeps) in [("encl1c", "", "ciphertext"), ("encl1p", r#", "l1_plaintext": true"#, "plaintext")] {
        let c = client(&redis.url(), "")
            .cache(ns, opts(&format!(r#"{{"encryption": true, "master_key": "{KEY_A}"{extra}}}"#)))
            .unwrap();
        c.set("op", &args(&[1]), &value, None).unwrap();
        let key = c.key("op", &args(&[1])).unwrap();
        let stored: Vec<u8> = redis.raw().get(&key).unwrap();
        assert!(stored.len() >= value.len() + 12 + 16, "Redis holds nonce + ciphertext + tag ({} bytes)", stored.len());
        let l1 = &c.health()["l1"];
        assert_eq!(l1["entries"], 1, "{l1}");
        let held = l1["bytes"].as_u64().unwrap() as usize - key.len();
        let kept = if keeps == "ciphertext" { stored.len() } else { value.len() };
        overheads.push((keeps, held.checked_sub(kept).unwrap_or_else(|| panic!("{ns}: L1 holds {held} bytes, fewer than the {keeps}"))));
        redis.raw().del::<_, ()>(&key).unwrap();
        // Served from L1 (Redis no longer has it), decrypted on the hit when
        // L1 keeps the ciphertext.
        assert_eq!(&*c.get("op", &args(&[1])).unwrap().unwrap(), &value[..], "{ns}");
        assert_eq!(stat(&c, "l2_hits") + stat(&c, "l2_misses"), 0, "{ns}: the read never reached Redis");
    }
    // One per-entry overhead for both: each L1 holds what its row says.
    assert_eq!(overheads[0].1, overheads[1].1, "per-entry overhead over (ciphertext, plaintext): {overheads:?}");
}

// ---- Redis down: fail-open; fail-closed when chosen ----

#[test]
fn with_redis_down_calls_succeed_and_failures_are_counted() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    let c = client(&url, "").cache("down", CacheOptions::default()).unwrap();
    c.set("op", &args(&[1]), &text("v"), None).unwrap();
    // L1 still serves.
    assert!(c.get("op", &args(&[1])).unwrap().is_some());
    assert_eq!(c.get("op", &args(&[2])).unwrap(), None);
    assert!(stat(&c, "l2_errors") >= 2);
    let health = c.check_health();
    assert_eq!(health["system"]["status"], "unhealthy");
}

#[test]
fn fail_closed_namespaces_report_redis_errors() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    let c = client(&url, "").cache("closed", opts(r#"{"fail_closed": true}"#)).unwrap();
    assert!(matches!(c.get("op", &args(&[1])), Err(Error::Backend(_))));
    assert!(matches!(c.set("op", &args(&[1]), &text("v"), None), Err(Error::Backend(_))));
}

#[test]
fn the_client_reconnects_after_redis_restarts() {
    let mut redis = RedisServer::start();
    let c = client(&redis.url(), "").cache("re", opts(NO_L1)).unwrap();
    c.set("op", &args(&[1]), &text("before"), None).unwrap();
    assert!(c.get("op", &args(&[1])).unwrap().is_some());
    redis.stop();
    assert_eq!(c.get("op", &args(&[1])).unwrap(), None);
    redis.restart();
    // The connection manager reconnects in the background; give it a moment.
    let mut ok = false;
    for _ in 0..50 {
        c.set("op", &args(&[1]), &text("after"), None).unwrap();
        if c.get("op", &args(&[1])).unwrap().as_deref() == Some(&text("after")[..]) {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "the same client works again after Redis came back");
    assert_eq!(c.check_health()["system"]["status"], "healthy");
}

#[test]
fn a_client_started_while_redis_is_down_uses_it_once_it_appears() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    let c = client(&url, "").cache("late", opts(NO_L1)).unwrap();
    assert_eq!(c.get("op", &args(&[1])).unwrap(), None);
    redis.restart();
    let mut ok = false;
    for _ in 0..50 {
        c.set("op", &args(&[1]), &text("v"), None).unwrap();
        if c.get("op", &args(&[1])).unwrap().is_some() {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok);
}

// ---- the fill path ----

fn sixteen_threads_on_a_cold_key_compute_once(redis: Redis) {
    let c = client(&redis.url(), "").cache("fill", CacheOptions::default()).unwrap();
    let computed = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (c, computed, barrier) = (c.clone(), computed.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                match c.fill("op", &args(&[1])).unwrap() {
                    Fill::Hit(v) | Fill::Refresh(v, _) => v.to_vec(),
                    Fill::Lease(lease) => {
                        computed.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        lease.complete(&text("computed"), None).unwrap();
                        text("computed")
                    }
                }
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), text("computed"));
    }
    assert_eq!(computed.load(Ordering::SeqCst), 1);
    assert!(c.get("op", &args(&[1])).unwrap().is_some());
}

/// Poll `cond` every few milliseconds until it holds, or fail after `within`.
fn wait_until(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn an_abandoned_lease_caches_nothing_and_a_waiter_takes_over(redis: Redis) {
    // Waiting out fill_wait_ms (or the lock's TTL) is what a waiter must not
    // do: both are far beyond the bound below.
    const FILL_WAIT_MS: u64 = 30_000;
    let c = client(&redis.url(), "")
        .cache("abort", opts(&format!(r#"{{"fill_wait_ms": {FILL_WAIT_MS}, "lock_ttl_ms": {FILL_WAIT_MS}}}"#)))
        .unwrap();
    let Fill::Lease(first) = c.fill("op", &args(&[1])).unwrap() else { panic!("cold key gives a lease") };
    let c2 = c.clone();
    let waiter = std::thread::spawn(move || {
        let outcome = match c2.fill("op", &args(&[1])).unwrap() {
            Fill::Lease(l) => {
                l.complete(&text("second"), None).unwrap();
                "took over"
            }
            Fill::Hit(_) | Fill::Refresh(..) => "hit",
        };
        (outcome, Instant::now())
    });
    // Handshake: the holder gives up only once the core counts the waiter.
    wait_until(Duration::from_secs(10), "the second caller waits for the first", || stat(&c, "fill_waits") >= 1);
    let aborted_at = Instant::now();
    first.abort();
    let (outcome, returned_at) = waiter.join().unwrap();
    assert_eq!(outcome, "took over");
    assert!(returned_at > aborted_at, "the waiter returned only after the abort");
    // Woken by the abort, the waiter reads L2 and takes the lock, maybe
    // after one re-check of the lock the holder's release frees (naps of
    // at most 200 ms): four round trips within the 0.5 s socket timeout.
    let bound = Duration::from_millis(4 * 500 + 200);
    assert!(bound * 10 <= Duration::from_millis(FILL_WAIT_MS));
    let woke = returned_at - aborted_at;
    assert!(woke < bound, "the waiter took over {woke:?} after the abort (bound {bound:?}; fill_wait_ms {FILL_WAIT_MS})");
    assert_eq!(stat(&c, "fill_wait_timeouts"), 0);
    assert_eq!(stat(&c, "lease_timeouts"), 0);
    assert_eq!(&*c.get("op", &args(&[1])).unwrap().unwrap(), &text("second")[..]);
}

fn values_that_cannot_be_stored_are_errors_and_leave_nothing_behind(redis: Redis) {
    let c = client(&redis.url(), r#", "max_chunk_size_mb": 1"#).cache("enc", CacheOptions::default()).unwrap();
    c.set("op", &args(&[1]), &text("old"), None).unwrap();
    assert!(matches!(c.set("op", &args(&[1]), b"\xc1", None), Err(Error::Encode(_))));
    let big = {
        let mut v = vec![0xc6];
        v.extend_from_slice(&(2u32 << 20).to_be_bytes());
        v.resize(5 + (2 << 20), 0);
        v
    };
    assert!(matches!(c.set("op", &args(&[1]), &big, None), Err(Error::Encode(_))));
    assert_eq!(stat(&c, "encode_failures"), 2);
    let interop = client(&redis.url(), "").cache("enc", opts(r#"{"format": "interop"}"#)).unwrap();
    let nan = [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0];
    assert!(interop.set("op", &args(&[1]), &nan, None).is_ok(), "interop values keep floats as they are");
    assert!(matches!(c.key("op", &[0x91, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), Err(Error::Encode(_))), "NaN argument");
    assert!(matches!(c.key("Bad Op", &args(&[])), Err(Error::InvalidKey(_))));
    assert!(matches!(interop.key("Upper", &args(&[])), Err(Error::InvalidKey(_))));
    let _ = Format::Interop;
}

fn clearing_a_namespace_leaves_longer_namespaces_alone(redis: Redis) {
    let c = client(&redis.url(), "");
    let x = c.cache("user_data", CacheOptions::default()).unwrap();
    let xv1 = c.cache("user_data:v1", opts(NO_L1)).unwrap();
    x.set("op", &args(&[1]), &text("x"), None).unwrap();
    xv1.set("op", &args(&[1]), &text("v1"), None).unwrap();
    assert_eq!(x.clear().unwrap(), 1);
    assert_eq!(&*xv1.get("op", &args(&[1])).unwrap().unwrap(), &text("v1")[..]);
}

fn a_value_that_cannot_be_stored_removes_the_stale_entry_everywhere(redis: Redis) {
    let c = client(&redis.url(), "");
    let a = c.cache("stale", CacheOptions::default()).unwrap();
    let b = c.cache("stale", opts(NO_L1)).unwrap();
    a.set("op", &args(&[1]), &text("old"), None).unwrap();
    assert!(matches!(a.set("op", &args(&[1]), b"\xc1", None), Err(Error::Encode(_))));
    assert_eq!(a.get("op", &args(&[1])).unwrap(), None);
    assert_eq!(b.get("op", &args(&[1])).unwrap(), None);
}

#[test]
fn a_delete_through_one_handle_reaches_the_l1_of_the_others_in_the_process() {
    let c = Client::new(Config::load_with(None, |_| None).unwrap()).unwrap();
    let a = c.cache("handles", CacheOptions::default()).unwrap();
    let b = c.cache("handles", CacheOptions::default()).unwrap();
    a.set("op", &args(&[1]), &text("v"), None).unwrap();
    b.set("op", &args(&[1]), &text("v"), None).unwrap();
    b.set("op", &args(&[2]), &text("w"), None).unwrap();
    a.delete("op", &args(&[1])).unwrap();
    assert_eq!(b.get("op", &args(&[1])).unwrap(), None, "L1-only: b's copy is gone too");
    a.clear().unwrap();
    assert_eq!(b.get("op", &args(&[2])).unwrap(), None);
}

// ---- the cluster only ----

/// The keys of `pattern` held by each master, by node (a node's own
/// connection sees its keys only).
fn keys_per_master(redis: &Redis, pattern: &str) -> Vec<(String, usize)> {
    redis
        .masters()
        .into_iter()
        .map(|(node, mut conn)| {
            let n = conn.keys::<_, Vec<String>>(pattern).unwrap().len();
            (node, n)
        })
        .collect()
}

#[test]
fn in_a_cluster_entries_spread_over_every_master_and_a_clear_empties_each() {
    let redis = Redis::cluster();
    let c = client(&redis.url(), "");
    let spread = c.cache("spread", CacheOptions::default()).unwrap();
    let other = c.cache("spread_other", opts(NO_L1)).unwrap();
    for i in 0..90 {
        spread.set("op", &args(&[i]), &text("x"), None).unwrap();
        other.set("op", &args(&[i]), &text("y"), None).unwrap();
    }
    // Entry keys only (a clear also bumps the namespace's generation key).
    let before = keys_per_master(&redis, "spread:op:*");
    assert_eq!(before.len(), 3, "three masters: {before:?}");
    assert!(before.iter().all(|(_, n)| *n > 0), "every master holds some entries: {before:?}");
    assert_eq!(before.iter().map(|(_, n)| n).sum::<usize>(), 90);

    assert_eq!(spread.clear().unwrap(), 90, "the clear counts the entries of every master");
    let after = keys_per_master(&redis, "spread:op:*");
    assert!(after.iter().all(|(_, n)| *n == 0), "no master keeps an entry of the cleared namespace: {after:?}");
    assert_eq!(keys_per_master(&redis, "spread_other:op:*").iter().map(|(_, n)| n).sum::<usize>(), 90, "the other namespace stays");
    assert_eq!(spread.get("op", &args(&[5])).unwrap(), None, "L1 was cleared too");
    assert_eq!(&*other.get("op", &args(&[5])).unwrap().unwrap(), &text("y")[..]);
}

#[test]
fn in_a_cluster_the_fill_lock_lives_in_its_entrys_slot() {
    let redis = Redis::cluster();
    let c = client(&redis.url(), "").cache("slots", opts(NO_L1)).unwrap();
    for i in 0..12 {
        let Fill::Lease(lease) = c.fill("op", &args(&[i])).unwrap() else { panic!("cold key gives a lease") };
        assert!(lease.holds_lock(), "the lock was taken on the entry's master");
        let key = lease.key().to_string();
        let lock = cachekit::internals::keyspace::lock_key(&key);
        let slot = |k: &str| -> i64 { redis::cmd("CLUSTER").arg("KEYSLOT").arg(k).query(&mut redis.raw()).unwrap() };
        assert_eq!(slot(&lock), slot(&key), "{lock} and {key}");
        lease.complete(&text("v"), None).unwrap();
        c.client().flush(Duration::from_secs(2));
        assert!(!redis.raw().exists::<_, bool>(&lock).unwrap(), "the fenced write (one script over both keys) released it");
        assert_eq!(&*c.get("op", &args(&[i])).unwrap().unwrap(), &text("v")[..]);
    }
    assert_eq!(stat(&c, "l2_errors"), 0);
}

#[test]
fn a_seed_list_that_names_a_plain_server_is_a_counted_failure_never_the_callers() {
    // Not a cluster: the cluster client cannot learn a slot map there. A
    // fail-open namespace computes and returns every value all the same.
    let server = RedisServer::start();
    let url = format!("redis+cluster://127.0.0.1:{}", server.port);
    let c = client(&url, "").cache("notacluster", opts(NO_L1)).unwrap();
    for i in 0..5 {
        match c.fill("op", &args(&[i])).unwrap() {
            Fill::Lease(lease) => lease.complete(&text("v"), None).unwrap(),
            _ => panic!("nothing can be read from a server that is not a cluster"),
        }
    }
    let h = c.health();
    assert!(h["stats"]["l2_errors"].as_u64().unwrap() + h["stats"]["l2_skipped"].as_u64().unwrap() >= 1, "{h}");
    let check = c.check_health();
    assert_ne!(check["system"]["status"], "healthy", "{check}");
}

#[test]
fn in_a_cluster_the_health_check_reports_every_node() {
    let redis = Redis::cluster();
    let c = client(&redis.url(), "").cache("nodes", CacheOptions::default()).unwrap();
    let check = c.check_health();
    let nodes = check["system"]["redis_nodes"].as_array().unwrap_or_else(|| panic!("a node list: {check}"));
    assert_eq!(nodes.len(), 6, "3 masters and 3 replicas: {check}");
    let masters: Vec<_> = nodes.iter().filter(|n| n["role"] == "master").collect();
    for n in nodes {
        assert_eq!(n["status"], "healthy", "every node answers its PING, replicas too: {n}");
    }
    assert_eq!(masters.len(), 3, "{check}");
    for m in &masters {
        assert_eq!(m["status"], "healthy", "{m}");
        assert!(m["ping_latency_seconds"].as_f64().unwrap() > 0.0, "{m}");
    }
    let mut addresses: Vec<String> = nodes.iter().map(|n| format!("redis://{}", n["address"].as_str().unwrap())).collect();
    let mut seeds = redis.node_urls();
    addresses.sort();
    seeds.sort();
    assert_eq!(addresses, seeds, "the nodes are the cluster's");
    assert_eq!(check["system"]["status"], "healthy");

    // One server: no node list.
    let server = RedisServer::start();
    let one = client(&server.url(), "").cache("nodes", CacheOptions::default()).unwrap();
    assert!(one.check_health()["system"]["redis_nodes"].is_null());
    assert!(!one.client().metrics_text().contains("cachekit_redis_node_up"), "no node figures for one server");
}

/// The `cachekit_redis_node_up{node, role}` lines of an exposition.
fn node_up_lines(text: &str) -> Vec<String> {
    text.lines().filter(|l| l.starts_with("cachekit_redis_node_up{")).map(String::from).collect()
}

#[test]
fn in_a_cluster_the_metrics_have_figures_per_node_without_a_scrape_waiting_on_redis() {
    let redis = Redis::cluster();
    let c = client(&redis.url(), "");
    let _ns = c.cache("node-metrics", CacheOptions::default()).unwrap();
    // The first scrape has no figures yet: it asks for them in the background.
    assert!(node_up_lines(&c.metrics_text()).is_empty(), "a scrape does not wait for the nodes");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = node_up_lines(&c.metrics_text());
        if !lines.is_empty() || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(lines.len(), 6, "one line per node: {lines:?}");
    assert_eq!(lines.iter().filter(|l| l.contains("role=\"master\"")).count(), 3, "{lines:?}");
    for (url, _) in redis.masters() {
        let address = url.trim_start_matches("redis://");
        assert!(lines.iter().any(|l| l.contains(&format!("node=\"{address}\"")) && l.contains("role=\"master\"") && l.ends_with(" 1")), "{address} up: {lines:?}");
    }
    let text = c.metrics_text();
    assert_eq!(text.lines().filter(|l| l.starts_with("cachekit_redis_node_ping_seconds{")).count(), 6, "{text}");
}

/// A server that refuses writes, as a demoted master or a replica does
/// (`READONLY`): a transient failure, counted, shown in the health check's
/// breaker, and never the caller's in a fail-open namespace (reads of what
/// the replica holds still hit).
#[test]
fn a_replica_answering_readonly_is_a_counted_failure_never_the_callers() {
    let master = RedisServer::start();
    let port = master.url().rsplit(':').next().unwrap().to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    let writer = client(&master.url(), "").cache("ro", opts(r#"{"l1_enabled": false}"#)).unwrap();
    writer.set("f", &args(&[1]), &text("from the master"), None).unwrap();
    let c = client(&replica.url(), "").cache("ro", opts(r#"{"l1_enabled": false, "circuit_breaker": {"failure_threshold": 3}}"#)).unwrap();
    // Replicated: the replica serves the master's entry.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.get("f", &args(&[1])).unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.get("f", &args(&[1])).unwrap().as_deref(), Some(&text("from the master")[..]));
    // Writes: the fill's lock and the plain store are refused; the caller
    // still gets its value.
    for i in 2..8 {
        match c.fill("f", &args(&[i])).unwrap() {
            Fill::Lease(lease) => lease.complete(&text("computed"), None).unwrap(),
            Fill::Hit(_) | Fill::Refresh(..) => panic!("nothing of f({i}) is stored"),
        }
        c.set("g", &args(&[i]), &text("v"), None).unwrap();
    }
    let h = c.health();
    assert!(h["stats"]["l2_errors"].as_u64().unwrap() >= 3, "{h}");
    assert!(h["circuit_breaker"]["times_opened"].as_u64().unwrap() >= 1, "READONLY is transient: it opens the breaker: {h}");
    assert!(h["circuit_breaker"]["permanent_error"].is_null(), "{h}");
    // Fail-closed: the caller gets the error.
    let closed = client(&replica.url(), "").cache("ro-closed", opts(r#"{"fail_closed": true, "circuit_breaker": false}"#)).unwrap();
    let e = closed.set("g", &args(&[1]), &text("v"), None).unwrap_err().to_string();
    assert!(e.to_lowercase().contains("read only") || e.contains("READONLY"), "{e}");
}

/// A cluster with a slot no master serves answers `CLUSTERDOWN`: a
/// transient failure, counted, the health check unhealthy, the caller of a
/// fail-open namespace served, the one of a fail-closed namespace told.
#[test]
fn a_cluster_with_a_slot_uncovered_is_a_counted_failure_never_the_callers() {
    #[path = "support/redis_cluster.rs"]
    #[allow(dead_code)]
    mod redis_cluster;
    let cluster = redis_cluster::OwnCluster::start("clusterdown");
    let c = client(&cluster.url, "");
    let ns = c.cache("down", opts(r#"{"l1_enabled": false}"#)).unwrap();
    ns.set("f", &args(&[1]), &text("v"), None).unwrap();
    // Take one slot away from its master: with full coverage required
    // (the default), the whole cluster answers CLUSTERDOWN.
    let key = ns.key("f", &args(&[1])).unwrap();
    let port = cluster.master_of(&key);
    let mut node = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap().get_connection().unwrap();
    let slot: i64 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(&key).query(&mut node).unwrap();
    let _: () = redis::cmd("CLUSTER").arg("DELSLOTS").arg(slot).query(&mut node).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut node).unwrap();
        if info.contains("cluster_state:fail") || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..6 {
        match ns.fill("f", &args(&[i])).unwrap() {
            Fill::Lease(lease) => lease.complete(&text("computed"), None).unwrap(),
            Fill::Hit(v) | Fill::Refresh(v, _) => assert_eq!(&v[..], &text("v")[..], "only f(1) was stored"),
        }
    }
    let h = ns.health();
    assert!(h["stats"]["l2_errors"].as_u64().unwrap() + h["stats"]["l2_skipped"].as_u64().unwrap() >= 1, "{h}");
    assert!(h["circuit_breaker"]["permanent_error"].is_null(), "CLUSTERDOWN is transient: {h}");
    let check = ns.check_health();
    assert_eq!(check["system"]["status"], "unhealthy", "{check}");
    // The same namespace (the same key, in the slot not served), fail-closed.
    let closed = c.cache("down", opts(r#"{"l1_enabled": false, "fail_closed": true, "circuit_breaker": false}"#)).unwrap();
    let e = closed.get("f", &args(&[1])).unwrap_err().to_string();
    assert!(e.contains("ClusterDown") || e.contains("CLUSTERDOWN") || e.contains("cluster is down"), "{e}");
}
