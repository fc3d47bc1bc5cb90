//! `rediss://` (TLS) and ACL users against real redis-server processes.

#[path = "support/redis_server.rs"]
mod redis_server;

use cachekit::{CacheOptions, Client, Config};
use redis_server::RedisServer;
use std::process::Command;

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let ok = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed").status.success();
    assert!(ok, "openssl {args:?} failed");
}

/// A CA and a server certificate for 127.0.0.1, made for this test.
fn certificates() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cachekit-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    openssl(&dir, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=cachekit test CA"]);
    openssl(&dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&dir, &["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf"]);
    dir
}

fn roundtrip(json: &str) -> bool {
    let client = Client::new(Config::load_with(Some(json), |_| None).unwrap()).unwrap();
    let c = client.cache("secure", CacheOptions::from_json(Some(r#"{"l1_enabled": false}"#)).unwrap()).unwrap();
    c.set("op", &[0x90], &[0x2a], None).unwrap();
    c.get("op", &[0x90]).unwrap().as_deref() == Some(&[0x2a][..])
}

#[test]
fn rediss_urls_speak_tls_with_a_configured_ca() {
    let dir = certificates();
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let (cert, key, ca) = (p("server.pem"), p("server.key"), p("ca.pem"));
    let port = tls_port.to_string();
    let _redis = RedisServer::start_with(&[
        "--tls-port", &port, "--tls-cert-file", &cert, "--tls-key-file", &key, "--tls-ca-cert-file", &ca, "--tls-auth-clients", "no",
    ]);
    assert!(roundtrip(&format!(r#"{{"redis_url": "rediss://127.0.0.1:{tls_port}", "tls_ca_cert": "{ca}"}}"#)), "TLS round trip");
    // Without the CA the server is not trusted: fail-open, nothing cached.
    assert!(!roundtrip(&format!(r#"{{"redis_url": "rediss://127.0.0.1:{tls_port}"}}"#)), "an untrusted server is not used");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn acl_users_from_the_url_authenticate() {
    let redis = RedisServer::start_with(&["--user", "app", "on", ">app-secret", "~*", "&*", "+@all"]);
    let url = format!("redis://app:app-secret@127.0.0.1:{}", redis.port);
    assert!(roundtrip(&format!(r#"{{"redis_url": "{url}"}}"#)));
    let wrong = format!("redis://app:nope@127.0.0.1:{}", redis.port);
    assert!(!roundtrip(&format!(r#"{{"redis_url": "{wrong}"}}"#)));
}
