//! A Redis Cluster (3 masters, 3 replicas) of one test's or benchmark's
//! own, started with `ci/redis-cluster.sh` and stopped when dropped: for
//! what must not touch the cluster other tests share (killing a master,
//! timing). Shared by `tests/*.rs` and `bench/*.rs` with `#[path]`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub struct OwnCluster {
    name: String,
    /// `redis+cluster://` with every node as a seed.
    pub url: String,
    dir: PathBuf,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ci/redis-cluster.sh")
}

impl OwnCluster {
    /// Start one, named after `what` and this process.
    pub fn start(what: &str) -> OwnCluster {
        let name = format!("{what}-{}", std::process::id());
        let out = Command::new(script()).args(["start", &name]).output().expect("run ci/redis-cluster.sh");
        assert!(out.status.success(), "ci/redis-cluster.sh start: {}", String::from_utf8_lossy(&out.stderr));
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("build").join(format!("cluster-{name}"));
        OwnCluster { name, url, dir }
    }

    /// Each node's plain `redis://` URL.
    pub fn nodes(&self) -> Vec<String> {
        self.url.trim_start_matches("redis+cluster://").split(',').map(|n| format!("redis://{n}")).collect()
    }

    /// The six ports, the three created as masters first.
    pub fn ports(&self) -> Vec<u16> {
        std::fs::read_to_string(self.dir.join("ports")).unwrap().split_whitespace().map(|p| p.parse().unwrap()).collect()
    }

    /// The port of the master that serves `key` now: the one live master
    /// that answers for it instead of redirecting (MOVED).
    pub fn master_of(&self, key: &str) -> u16 {
        for port in self.ports() {
            let Ok(mut c) = redis::Client::open(format!("redis://127.0.0.1:{port}")).and_then(|c| c.get_connection()) else { continue };
            let Ok(role) = redis::cmd("ROLE").query::<Vec<redis::Value>>(&mut c) else { continue };
            if !matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master") {
                continue;
            }
            if redis::cmd("EXISTS").arg(key).query::<i64>(&mut c).is_ok() {
                return port;
            }
        }
        panic!("no master serves {key}")
    }

    /// SIGKILL the node at `port`.
    pub fn kill(&self, port: u16) {
        let pid = std::fs::read_to_string(self.dir.join(format!("node-{port}/redis.pid"))).unwrap();
        let st = Command::new("kill").args(["-9", pid.trim()]).status().unwrap();
        assert!(st.success(), "kill -9 {pid}");
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["stop", &self.name]).status();
    }
}
