//! A Sentinel set-up (a master, a replica, three sentinels) of one test's
//! own, started with `ci/redis-sentinel.sh` and stopped when dropped: for
//! what must not touch the set-up other tests share (killing the master).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub struct OwnSentinel {
    name: String,
    /// `redis+sentinel://s1,s2,s3/cachekit`.
    pub url: String,
    dir: PathBuf,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ci/redis-sentinel.sh")
}

impl OwnSentinel {
    /// Start one, named after `what` and this process.
    pub fn start(what: &str) -> OwnSentinel {
        let name = format!("{what}-{}", std::process::id());
        let out = Command::new(script()).args(["start", &name]).output().expect("run ci/redis-sentinel.sh");
        assert!(out.status.success(), "ci/redis-sentinel.sh start: {}", String::from_utf8_lossy(&out.stderr));
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("build").join(format!("sentinel-{name}"));
        OwnSentinel { name, url, dir }
    }

    /// master, replica, sentinel 1, 2, 3 (as started).
    pub fn ports(&self) -> Vec<u16> {
        std::fs::read_to_string(self.dir.join("ports")).unwrap().split_whitespace().map(|p| p.parse().unwrap()).collect()
    }

    /// The master's port as the first sentinel names it now.
    pub fn master_port(&self) -> u16 {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{}", self.ports()[2])).unwrap().get_connection().unwrap();
        let (_, port): (String, u16) = redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg("cachekit").query(&mut c).unwrap();
        port
    }

    /// SIGKILL the server (or sentinel) at `port`.
    pub fn kill(&self, port: u16) {
        let which = if self.ports()[..2].contains(&port) { "redis" } else { "sentinel" };
        let pid = std::fs::read_to_string(self.dir.join(format!("{which}-{port}/pid"))).unwrap();
        let st = Command::new("kill").args(["-9", pid.trim()]).status().unwrap();
        assert!(st.success(), "kill -9 {pid}");
    }
}

impl Drop for OwnSentinel {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["stop", &self.name]).status();
    }
}
