//! Where a parametrised test's Redis is: a redis-server of its own, the
//! Redis Cluster (3 masters, 3 replicas) that the test command started
//! with `ci/redis-cluster.sh` and names in `CACHEKIT_TEST_CLUSTER_URL`, or
//! the Sentinel set-up (a master, a replica, three sentinels) it started
//! with `ci/redis-sentinel.sh` and names in `CACHEKIT_TEST_SENTINEL_URL`.
//! The cluster (or Sentinel) tests of one test binary take turns on it
//! (cargo runs the binaries one after another), and each starts with every
//! master flushed.
//!
//! A test written once as `fn name(redis: Redis)` runs on all three with
//! `on_each_redis!(name, ...)`, as `on_server::name`, `on_cluster::name`
//! and `on_sentinel::name`.
//!
//! Needs `#[path = "support/redis_server.rs"] mod redis_server;` beside it.
#![allow(dead_code)]

use super::redis_server::RedisServer;
use std::sync::{Mutex, MutexGuard};

static CLUSTER_TURN: Mutex<()> = Mutex::new(());
static SENTINEL_TURN: Mutex<()> = Mutex::new(());

pub enum Redis {
    Server(RedisServer),
    /// A server of its own whose client user may run exactly the commands
    /// the README's ACL names ([`ACL_RULES`]); `raw()` is the default user.
    Acl(RedisServer),
    Cluster { url: String, _turn: MutexGuard<'static, ()> },
    /// `url` names the sentinels, `master` the master they name now.
    Sentinel { url: String, master: String, _turn: MutexGuard<'static, ()> },
}

/// The ACL of the README's "Redis permissions": every command cachekit
/// runs on one server, nothing else, on any key and its own channels.
pub const ACL_RULES: &[&str] = &[
    "on", ">acl-secret", "~*", "&cachekit:*", "-@all",
    "+get", "+set", "+del", "+unlink", "+exists", "+pttl", "+pexpire", "+incr", "+mget", "+scan",
    "+publish", "+subscribe", "+eval", "+evalsha", "+script|load", "+ping",
];

/// The shared set-up's URL from the environment the test command sets.
fn shared(var: &str, start: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run ci/test.sh, or `export {var}=$({start} dev)`"))
}

/// The `redis://` URL of the master that the first sentinel of a
/// `redis+sentinel://` URL names now.
pub fn sentinel_master(url: &str) -> String {
    let rest = url.trim_start_matches("redis+sentinel://");
    let (sentinels, name) = rest.split_once('/').expect("redis+sentinel://hosts/NAME");
    let first = sentinels.split(',').next().unwrap();
    let mut c = redis::Client::open(format!("redis://{first}")).unwrap().get_connection().unwrap();
    let (host, port): (String, u16) = redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg(name).query(&mut c).unwrap();
    format!("redis://{host}:{port}")
}

impl Redis {
    pub fn server() -> Redis {
        Redis::Server(RedisServer::start())
    }

    /// A server whose client user has only [`ACL_RULES`].
    pub fn acl() -> Redis {
        let mut args = vec!["--user", "cachekit"];
        args.extend_from_slice(ACL_RULES);
        Redis::Acl(RedisServer::start_with(&args))
    }

    /// The shared cluster, flushed, for this test alone.
    pub fn cluster() -> Redis {
        let url = shared("CACHEKIT_TEST_CLUSTER_URL", "ci/redis-cluster.sh start");
        let turn = CLUSTER_TURN.lock().unwrap_or_else(|p| p.into_inner());
        let r = Redis::Cluster { url, _turn: turn };
        let _: () = redis::cmd("FLUSHALL").query(&mut r.raw()).expect("FLUSHALL on every master");
        r
    }

    /// The shared Sentinel set-up, its master flushed, for this test alone.
    pub fn sentinel() -> Redis {
        let url = shared("CACHEKIT_TEST_SENTINEL_URL", "ci/redis-sentinel.sh start");
        let turn = SENTINEL_TURN.lock().unwrap_or_else(|p| p.into_inner());
        let r = Redis::Sentinel { master: sentinel_master(&url), url, _turn: turn };
        let _: () = redis::cmd("FLUSHALL").query(&mut r.raw()).expect("FLUSHALL on the master");
        r
    }

    /// The URL a client is configured with.
    pub fn url(&self) -> String {
        match self {
            Redis::Server(s) => s.url(),
            Redis::Acl(s) => s.url().replacen("redis://", "redis://cachekit:acl-secret@", 1),
            Redis::Cluster { url, .. } | Redis::Sentinel { url, .. } => url.clone(),
        }
    }

    /// The URL an operator's tool uses: on the ACL server, the default user
    /// (the ACL is the library's, not an administrator's); else [`Redis::url`].
    pub fn admin_url(&self) -> String {
        match self {
            Redis::Acl(s) => s.url(),
            _ => self.url(),
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Redis::Cluster { .. })
    }

    /// The seed nodes' plain URLs (one server: its URL; Sentinel: the master's).
    pub fn node_urls(&self) -> Vec<String> {
        match self {
            Redis::Server(s) | Redis::Acl(s) => vec![s.url()],
            Redis::Sentinel { master, .. } => vec![master.clone()],
            Redis::Cluster { url, .. } => {
                url.trim_start_matches("redis+cluster://").split(',').map(|n| format!("redis://{n}")).collect()
            }
        }
    }

    /// A plain synchronous connection for inspecting or corrupting entries
    /// (in a cluster, routed by key; KEYS and FLUSHALL go to every master).
    pub fn raw(&self) -> Raw {
        match self {
            Redis::Server(s) | Redis::Acl(s) => Raw::Server(s.raw()),
            Redis::Cluster { url, .. } => raw_at(url),
            Redis::Sentinel { master, .. } => raw_at(master),
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

/// A plain synchronous connection to what `url` names: a `redis://` server,
/// a `redis+cluster://` seed list or a `redis+sentinel://` master (for
/// helper processes given a URL).
pub fn raw_at(url: &str) -> Raw {
    if url.starts_with("redis+sentinel://") {
        return raw_at(&sentinel_master(url));
    }
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
/// (`on_server::name`), on one whose user has only the README's ACL
/// (`on_acl::name`), on the shared cluster (`on_cluster::name`) and on the
/// shared Sentinel set-up (`on_sentinel::name`).
macro_rules! on_each_redis {
    ($($name:ident),* $(,)?) => {
        mod on_server {
            $(#[test] fn $name() { super::$name(crate::redis_target::Redis::server()) })*
        }
        mod on_acl {
            $(#[test] fn $name() { super::$name(crate::redis_target::Redis::acl()) })*
        }
        mod on_cluster {
            $(#[test] fn $name() { super::$name(crate::redis_target::Redis::cluster()) })*
        }
        mod on_sentinel {
            $(#[test] fn $name() { super::$name(crate::redis_target::Redis::sentinel()) })*
        }
    };
}
pub(crate) use on_each_redis;
