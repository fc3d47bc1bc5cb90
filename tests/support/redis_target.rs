//! Where a parametrised test's Redis is: a redis-server of its own, or the
//! Redis Cluster (3 masters, 3 replicas) that the test command started
//! with `ci/redis-cluster.sh` and names in `CACHEKIT_TEST_CLUSTER_URL`.
//! The cluster tests of one test binary take turns on it (cargo runs the
//! binaries one after another), and each starts with every master flushed.
//!
//! A test written once as `fn name(redis: Redis)` runs on both with
//! `on_server_and_cluster!(name, ...)`, as `on_server::name` and
//! `on_cluster::name`.
//!
//! Needs `#[path = "support/redis_server.rs"] mod redis_server;` beside it.
#![allow(dead_code)]

use super::redis_server::RedisServer;
use std::sync::{Mutex, MutexGuard};

static CLUSTER_TURN: Mutex<()> = Mutex::new(());

pub enum Redis {
    Server(RedisServer),
    Cluster { url: String, _turn: MutexGuard<'static, ()> },
}

impl Redis {
    pub fn server() -> Redis {
        Redis::Server(RedisServer::start())
    }

    /// The shared cluster, flushed, for this test alone.
    pub fn cluster() -> Redis {
        let url = std::env::var("CACHEKIT_TEST_CLUSTER_URL").unwrap_or_else(|_| {
            panic!("CACHEKIT_TEST_CLUSTER_URL is not set: run ci/test.sh, or `export CACHEKIT_TEST_CLUSTER_URL=$(ci/redis-cluster.sh start dev)`")
        });
        let turn = CLUSTER_TURN.lock().unwrap_or_else(|p| p.into_inner());
        let r = Redis::Cluster { url, _turn: turn };
        let _: () = redis::cmd("FLUSHALL").query(&mut r.raw()).expect("FLUSHALL on every master");
        r
    }

    /// The URL a client is configured with.
    pub fn url(&self) -> String {
        match self {
            Redis::Server(s) => s.url(),
            Redis::Cluster { url, .. } => url.clone(),
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Redis::Cluster { .. })
    }

    /// The seed nodes' plain URLs (one server: its URL).
    pub fn node_urls(&self) -> Vec<String> {
        match self {
            Redis::Server(s) => vec![s.url()],
            Redis::Cluster { url, .. } => {
                url.trim_start_matches("redis+cluster://").split(',').map(|n| format!("redis://{n}")).collect()
            }
        }
    }

    /// A plain synchronous connection for inspecting or corrupting entries
    /// (in a cluster, routed by key; KEYS and FLUSHALL go to every master).
    pub fn raw(&self) -> Raw {
        match self {
            Redis::Server(s) => Raw::Server(s.raw()),
            Redis::Cluster { url, .. } => raw_at(url),
        }
    }

    /// The masters of the cluster, each with a connection of its own
    /// (commands on it see that node's keys only); one server: itself.
    pub fn masters(&self) -> Vec<(String, redis::Connection)> {
        self.node_urls()
            .into_iter()
            .filter_map(|u| {
                let mut c = redis::Client::open(u.as_str()).unwrap().get_connection().unwrap();
                let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut c).unwrap();
                let master = matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master");
                master.then_some((u, c))
            })
            .collect()
    }
}

/// A plain synchronous connection to what `url` names: a `redis://` server
/// or a `redis+cluster://` seed list (for helper processes given a URL).
pub fn raw_at(url: &str) -> Raw {
    match url.strip_prefix("redis+cluster://") {
        Some(seeds) => {
            let nodes: Vec<String> = seeds.split(',').map(|n| format!("redis://{n}")).collect();
            Raw::Cluster(redis::cluster::ClusterClient::new(nodes).unwrap().get_connection().unwrap())
        }
        None => Raw::Server(redis::Client::open(url).unwrap().get_connection().unwrap()),
    }
}

pub enum Raw {
    Server(redis::Connection),
    Cluster(redis::cluster::ClusterConnection),
}

impl redis::ConnectionLike for Raw {
    fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<redis::Value> {
        match self {
            Raw::Server(c) => c.req_packed_command(cmd),
            Raw::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands(&mut self, cmd: &[u8], offset: usize, count: usize) -> redis::RedisResult<Vec<redis::Value>> {
        match self {
            Raw::Server(c) => c.req_packed_commands(cmd, offset, count),
            Raw::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }

    fn check_connection(&mut self) -> bool {
        match self {
            Raw::Server(c) => c.check_connection(),
            Raw::Cluster(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Raw::Server(c) => c.is_open(),
            Raw::Cluster(c) => c.is_open(),
        }
    }
}

/// Run each `fn name(redis: Redis)` of the test file on a server of its own
/// (`on_server::name`) and on the shared cluster (`on_cluster::name`).
macro_rules! on_server_and_cluster {
    ($($name:ident),* $(,)?) => {
        mod on_server {
            $(#[test] fn $name() { super::$name(crate::redis_target::Redis::server()) })*
        }
        mod on_cluster {
            $(#[test] fn $name() { super::$name(crate::redis_target::Redis::cluster()) })*
        }
    };
}
pub(crate) use on_server_and_cluster;
