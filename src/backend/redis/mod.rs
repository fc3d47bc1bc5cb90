//! Redis L2 on tokio. One server: `connection_pool_size` multiplexed
//! connections, each a `ConnectionManager` that connects lazily and
//! reconnects after the server comes back. A Redis Cluster: the `redis`
//! crate's async cluster connection (see [`cluster`]), which routes each
//! command to its slot's master and follows MOVED/ASK and topology changes.
//! A master watched by Redis Sentinel: one server's connections, moved to
//! the new master after a failover (see [`sentinel`]).
//! Every command has an explicit response timeout, which also bounds the
//! cluster client's own retries.

mod cluster;
mod direct;
mod sentinel;

pub(crate) use direct::{as_blocking_caller, drain as direct_drain, set_call_timeout, DirectHandle};
use super::{ErrorClass, Fetched, L2Error, L2Result, RawEntry};
use crate::config::{redact, Config, RedisTarget};
use crate::keyspace::{waiters_key, FILLED_CHANNEL};
use arc_swap::ArcSwap;
use cluster::{ClusterSpec, Conn};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, ServerErrorKind, Value};
use sentinel::SentinelSpec;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Renew a lock only while we still hold it.
const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
/// Release a lock only if we still hold it (compare-and-delete).
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
/// Fenced write: store the value only while holding the fill lock, then
/// release it. A holder whose lease expired (and maybe was taken over)
/// cannot overwrite what was written after it.
/// It also announces the fill (ARGV[4] is the channel) when another process
/// marked itself as waiting (KEYS[3]): no message, and no wake-up of every
/// subscriber, for the common uncontended fill.
pub(super) const FENCED_SET: &str = "if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]); redis.call('DEL', KEYS[2]); if redis.call('DEL', KEYS[3]) == 1 then redis.call('PUBLISH', ARGV[4], KEYS[1]) end return 1 else return 0 end";

/// The fenced write script, hashed once.
pub(super) fn fenced_set_script() -> &'static redis::Script {
    static S: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    S.get_or_init(|| redis::Script::new(FENCED_SET))
}

/// The first step of a fill in one round trip: the value and its TTL if
/// present, else try to take the fill lock (ARGV[1] token, ARGV[2] ms).
const READ_OR_LOCK: &str = "local v = redis.call('GET', KEYS[1]) if v then return {v, redis.call('PTTL', KEYS[1]), 0} end if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {false, -2, 1} end return {false, -2, 0}";

/// Whether `url` is a Redis URL the client can use (each seed node's, for
/// a cluster).
pub(crate) fn validate_url(url: &str) -> Result<(), String> {
    match RedisTarget::parse(url)? {
        RedisTarget::Server(u) => redis::Client::open(u).map(|_| ()).map_err(|e| e.to_string()),
        RedisTarget::Cluster(nodes) => nodes.iter().try_for_each(|u| redis::Client::open(u.as_str()).map(|_| ()).map_err(|e| e.to_string())),
        RedisTarget::Sentinel(t) => {
            t.sentinels.iter().try_for_each(|u| redis::Client::open(u.as_str()).map(|_| ()).map_err(|e| e.to_string()))?;
            redis::Client::open(t.node_url("localhost", 6379)).map(|_| ()).map_err(|e| e.to_string())
        }
    }
}

/// A client for the one server at `url`, trusting `ca` (PEM) for TLS.
pub(super) fn open_client(url: &str, ca: Option<&[u8]>) -> Result<redis::Client, RedisError> {
    match (ca, url.starts_with("rediss://")) {
        (Some(pem), true) => redis::Client::build_with_tls(url, redis::TlsCertificates { client_tls: None, root_cert: Some(pem.to_vec()) }),
        _ => redis::Client::open(url),
    }
}

/// A pub/sub connection (see [`RedisBackend::pubsub`]).
pub enum Subscriber {
    Server(redis::aio::PubSub),
    Cluster(cluster::ClusterSubscriber),
}

/// Messages of a [`Subscriber`]: (channel, payload).
pub type Messages = std::pin::Pin<Box<dyn futures_util::Stream<Item = (String, Vec<u8>)> + Send>>;

impl Subscriber {
    pub async fn subscribe(&mut self, channels: &[&str]) -> L2Result<()> {
        match self {
            Subscriber::Server(p) => p.subscribe(channels).await.map_err(classify),
            Subscriber::Cluster(c) => c.subscribe(channels).await,
        }
    }

    /// The messages of the subscribed channels, until the connection drops.
    pub fn into_messages(self) -> Messages {
        use futures_util::StreamExt;
        match self {
            Subscriber::Server(p) => Box::pin(p.into_on_message().map(|m| (m.get_channel_name().to_string(), m.get_payload_bytes().to_vec()))),
            Subscriber::Cluster(c) => c.into_messages(),
        }
    }
}

/// Where the connections go.
enum Topology {
    /// One server.
    Server,
    Cluster(ClusterSpec),
    /// One server, the master Sentinel names now.
    Sentinel(Arc<Follower>),
}

/// The connections commands use: to one server or a whole cluster. Fixed
/// for both; a Sentinel master's are replaced when the master moves.
struct Pool {
    /// Identifies this pool's direct connections in each thread.
    id: u64,
    /// The one server's client (what this thread's direct connection
    /// opens); `None` for a cluster, and before Sentinel named a master.
    client: Option<redis::Client>,
    /// The server's URL (Sentinel: to see whether the master moved).
    url: Option<String>,
    conns: Vec<Conn>,
    /// Whether each connection's last command reached the server.
    up: Vec<AtomicBool>,
}

impl Pool {
    fn new(client: Option<redis::Client>, url: Option<String>, conns: Vec<Conn>) -> Pool {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Pool { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), client, url, up: conns.iter().map(|_| AtomicBool::new(false)).collect(), conns }
    }
}

/// How one server's pool is made: `size` connection managers.
#[derive(Clone)]
struct ServerPool {
    size: usize,
    config: ConnectionManagerConfig,
}

impl ServerPool {
    /// The pool of the server at `url`; nothing connects yet.
    fn build(&self, url: &str, ca: Option<&[u8]>) -> Result<Pool, String> {
        let client = open_client(url, ca).map_err(|e| format!("redis_url {} is not usable: {e}", redact(url)))?;
        let conns = (0..self.size.max(1))
            .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), self.config.clone()).map(Conn::Server))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot set up Redis connections to {}: {e}", redact(url)))?;
        Ok(Pool::new(Some(client), Some(url.to_string()), conns))
    }
}

/// Follows a Sentinel master: finds it, and moves the pool when it moves.
struct Follower {
    spec: SentinelSpec,
    pool: Arc<ArcSwap<Pool>>,
    server: ServerPool,
    /// When the sentinels were last asked, and the error if that failed.
    asked: tokio::sync::Mutex<(Option<Instant>, Option<L2Error>)>,
    /// A background lookup is under way.
    busy: AtomicBool,
    /// Times the master moved (a failover this process followed).
    moves: AtomicU64,
}

impl Follower {
    /// Ask the sentinels where the master is (unless they were asked less
    /// than [`sentinel::MIN_GAP`] ago) and move the pool there if it moved.
    /// The error: no master could be found.
    async fn follow(&self) -> L2Result<()> {
        let mut asked = self.asked.lock().await;
        if let (Some(at), error) = &*asked {
            if at.elapsed() < sentinel::MIN_GAP {
                return match error {
                    Some(e) if self.pool.load().client.is_none() => Err(e.clone()),
                    _ => Ok(()),
                };
            }
        }
        let found = self.spec.find_master().await;
        *asked = (Some(Instant::now()), found.as_ref().err().cloned());
        let url = found?;
        if self.pool.load().url.as_deref() == Some(url.as_str()) {
            return Ok(());
        }
        let pool = self.server.build(&url, self.spec.ca()).map_err(|message| L2Error { class: ErrorClass::Permanent, message })?;
        let had_master = self.pool.swap(Arc::new(pool)).client.is_some();
        if had_master {
            self.moves.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// A command failed in a way a failover explains: look the master up
    /// in the background (one lookup at a time).
    fn suspect(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        runtime.spawn(async move {
            let _ = me.follow().await;
            me.busy.store(false, Ordering::Release);
        });
    }
}

pub struct RedisBackend {
    /// Identifies this backend's direct connections in each thread.
    id: u64,
    connect_timeout: Duration,
    topology: Topology,
    pool: Arc<ArcSwap<Pool>>,
    next: AtomicUsize,
    timeout: Duration,
}

impl RedisBackend {
    /// Builds the connection managers; no connection is made until the first
    /// command, so a client starts even while Redis is down. Must be called
    /// inside the tokio runtime that will drive the connections.
    pub fn new(cfg: &Config, url: &str) -> Result<Self, String> {
        if url.starts_with("rediss") {
            // rustls needs one process-wide crypto provider; another library
            // may have installed one already, which is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let ca = match &cfg.tls_ca_cert {
            Some(path) => Some(std::fs::read(path).map_err(|e| format!("cannot read tls_ca_cert {path:?}: {e}"))?),
            None => None,
        };
        let unusable = |e: RedisError| format!("redis_url {} is not usable: {e}", redact(url));
        let server = ServerPool {
            size: cfg.connection_pool_size,
            config: ConnectionManagerConfig::new()
                .set_connection_timeout(Some(cfg.connect_timeout()))
                .set_response_timeout(Some(cfg.socket_timeout()))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(10))
                .set_max_delay(Duration::from_millis(200)),
        };
        let (topology, pool) = match RedisTarget::parse(url)? {
            RedisTarget::Cluster(nodes) => {
                let spec = ClusterSpec::new(nodes, ca, cfg.connect_timeout(), cfg.socket_timeout());
                let conn = spec.connect_lazily().map_err(unusable)?;
                (Topology::Cluster(spec), Arc::new(ArcSwap::from_pointee(Pool::new(None, None, vec![Conn::Cluster(conn)]))))
            }
            RedisTarget::Server(url) => (Topology::Server, Arc::new(ArcSwap::from_pointee(server.build(&url, ca.as_deref())?))),
            RedisTarget::Sentinel(target) => {
                // No master yet: the first command asks the sentinels.
                let pool = Arc::new(ArcSwap::from_pointee(Pool::new(None, None, Vec::new())));
                let spec = SentinelSpec::new(target, ca, cfg.connect_timeout(), cfg.socket_timeout()).map_err(unusable)?;
                let follower = Follower {
                    spec,
                    pool: pool.clone(),
                    server,
                    asked: tokio::sync::Mutex::new((None, None)),
                    busy: AtomicBool::new(false),
                    moves: AtomicU64::new(0),
                };
                (Topology::Sentinel(Arc::new(follower)), pool)
            }
        };
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Ok(RedisBackend {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            connect_timeout: cfg.connect_timeout(),
            topology,
            pool,
            next: AtomicUsize::new(0),
            timeout: cfg.socket_timeout(),
        })
    }

    /// The connections now (a Sentinel's may have no master yet: see
    /// [`RedisBackend::conn`]).
    fn current(&self) -> arc_swap::Guard<Arc<Pool>> {
        self.pool.load()
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.topology, Topology::Cluster(_))
    }

    fn follower(&self) -> Option<&Arc<Follower>> {
        match &self.topology {
            Topology::Sentinel(f) => Some(f),
            Topology::Server | Topology::Cluster(_) => None,
        }
    }

    /// Sentinel: the master's name, where it is now (if found), and how
    /// many failovers this client followed.
    pub fn sentinel_master(&self) -> Option<(String, Option<String>, u64)> {
        let f = self.follower()?;
        let url = self.current().url.as_deref().map(redact);
        Some((f.spec.master_name().to_string(), url, f.moves.load(Ordering::Relaxed)))
    }

    pub fn pool_size(&self) -> usize {
        self.current().conns.len()
    }

    /// Connections whose last command reached the server.
    pub fn connected(&self) -> usize {
        self.current().up.iter().filter(|u| u.load(Ordering::Relaxed)).count()
    }

    /// A connection of the pool; for Sentinel, once the master is found.
    async fn conn(&self) -> L2Result<(Arc<Pool>, usize, Conn)> {
        let mut pool = self.pool.load_full();
        if pool.conns.is_empty() {
            if let Some(f) = self.follower() {
                f.follow().await?;
                pool = self.pool.load_full();
            }
        }
        if pool.conns.is_empty() {
            return Err(L2Error { class: ErrorClass::Transient, message: "no Redis master found yet".into() });
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % pool.conns.len();
        let c = pool.conns[i].clone();
        Ok((pool, i, c))
    }

    fn note<T>(&self, pool: &Pool, i: usize, r: Result<Result<T, RedisError>, tokio::time::error::Elapsed>) -> L2Result<T> {
        let r = match r {
            Ok(r) => r.map_err(classify),
            Err(_) => Err(timeout_error(self.timeout)),
        };
        let up = match &r {
            Ok(_) => true,
            Err(e) => e.class == ErrorClass::Permanent,
        };
        pool.up[i].store(up, Ordering::Relaxed);
        if let Err(e) = &r {
            self.suspect(e);
        }
        r
    }

    /// A command failed: if a Sentinel failover explains it (transient:
    /// the server went away, timed out or answers READONLY), look the
    /// master up again.
    fn suspect(&self, e: &L2Error) {
        if let (Some(f), ErrorClass::Transient) = (self.follower(), e.class) {
            f.suspect();
        }
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> L2Result<T> {
        let (pool, i, mut c) = self.conn().await?;
        let r = tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut c)).await;
        self.note(&pool, i, r)
    }

    async fn run_pipe<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> L2Result<T> {
        let (pool, i, mut c) = self.conn().await?;
        let r = tokio::time::timeout(self.timeout, pipe.query_async::<T>(&mut c)).await;
        self.note(&pool, i, r)
    }

    async fn script<T: redis::FromRedisValue>(&self, src: &str, keys: &[&str], args: &[&[u8]]) -> L2Result<T> {
        let script = redis::Script::new(src);
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(*a);
        }
        // Scripts here either change nothing on a retry (compare-and-*) or
        // are fenced by the token, so a retry on a fresh connection is safe.
        if let Some(r) = self.direct(true, |c| inv.invoke::<T>(c)) {
            return r;
        }
        let (pool, i, mut c) = self.conn().await?;
        let r = tokio::time::timeout(self.timeout, inv.invoke_async::<T>(&mut c)).await;
        self.note(&pool, i, r)
    }

    /// `SET lock token NX PX ms`: true if taken.
    pub async fn lock(&self, lock_key: &str, token: &str, ttl: Duration) -> L2Result<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(lock_key).arg(token).arg("NX").arg("PX").arg(ttl.as_millis().max(1) as u64);
        // Not retried: a lost reply to a successful SET NX would read as "taken".
        let v: Option<String> = match self.direct(false, |c| cmd.query(c)) {
            Some(r) => r?,
            None => self.run(&cmd).await?,
        };
        Ok(v.is_some())
    }

    /// The value of `key` (with its TTL), or else whether `token` took the
    /// fill lock. Not retried on a fresh connection: a lost reply to a
    /// successful lock would read as "taken".
    pub async fn read_or_lock(&self, key: &str, lock_key: &str, token: &str, ttl: Duration) -> L2Result<(Option<Fetched>, bool)> {
        let ms = ttl.as_millis().max(1).to_string();
        let script = redis::Script::new(READ_OR_LOCK);
        let mut inv = script.prepare_invoke();
        inv.key(key).key(lock_key).arg(token).arg(ms);
        let (v, pttl, locked): (Option<Vec<u8>>, i64, i64) = match self.direct(false, |c| inv.invoke(c)) {
            Some(r) => r?,
            None => {
                let (pool, i, mut c) = self.conn().await?;
                let r = tokio::time::timeout(self.timeout, inv.invoke_async(&mut c)).await;
                self.note(&pool, i, r)?
            }
        };
        Ok((v.map(|bytes| Fetched { bytes, ttl: pttl_to_ttl(pttl).flatten() }), locked == 1))
    }

    /// Tell the fill lock's holder that this process waits for `key`, so
    /// its fenced write announces the value.
    pub async fn mark_waiting(&self, key: &str, ttl: Duration) -> L2Result<()> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(waiters_key(key)).arg(1).arg("PX").arg(ttl.as_millis().max(1) as u64);
        match self.direct(true, |c| cmd.query::<()>(c)) {
            Some(r) => r,
            None => self.run::<()>(&cmd).await,
        }
    }

    pub async fn renew(&self, lock_key: &str, token: &str, ttl: Duration) -> L2Result<bool> {
        let ms = ttl.as_millis().max(1).to_string();
        let n: i64 = self.script(RENEW, &[lock_key], &[token.as_bytes(), ms.as_bytes()]).await?;
        Ok(n == 1)
    }

    pub async fn unlock(&self, lock_key: &str, token: &str) -> L2Result<bool> {
        let n: i64 = self.script(RELEASE, &[lock_key], &[token.as_bytes()]).await?;
        Ok(n == 1)
    }

    pub async fn fenced_set(&self, key: &str, lock_key: &str, token: &str, value: &[u8], ttl: Duration) -> L2Result<bool> {
        // (`fenced_set_packed` is the same call, sent behind the caller.)
        let ms = ttl.as_millis().max(1).to_string();
        let channel = FILLED_CHANNEL.as_bytes();
        let waiters = waiters_key(key);
        let n: i64 = self.script(FENCED_SET, &[key, lock_key, &waiters], &[token.as_bytes(), value, ms.as_bytes(), channel]).await?;
        Ok(n == 1)
    }

    pub async fn expire(&self, key: &str, ttl: Duration) -> L2Result<bool> {
        let n: i64 = self.run(redis::cmd("PEXPIRE").arg(key).arg(ttl.as_millis().max(1) as u64)).await?;
        Ok(n == 1)
    }

    pub async fn publish(&self, channel: &str, message: &[u8]) -> L2Result<()> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(message);
        let _: i64 = match self.direct(true, |c| cmd.query(c)) {
            Some(r) => r?,
            None => self.run(&cmd).await?,
        };
        Ok(())
    }

    pub async fn incr(&self, key: &str) -> L2Result<i64> {
        self.run(redis::cmd("INCR").arg(key)).await
    }

    pub async fn mget_i64(&self, keys: &[String]) -> L2Result<Vec<Option<i64>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.run(redis::cmd("MGET").arg(keys)).await
    }

    /// A dedicated connection for SUBSCRIBE (pub/sub cannot share the
    /// multiplexed data connections). In a cluster, a `PUBLISH` reaches
    /// every node, so one subscription anywhere hears every message.
    pub async fn pubsub(&self) -> L2Result<Subscriber> {
        let wait = self.timeout.max(Duration::from_millis(500));
        if let Some(f) = self.follower() {
            // After a failover the subscription has to move with the master.
            f.follow().await?;
        }
        let pool = self.current();
        let r = match (&self.topology, &pool.client) {
            (Topology::Cluster(spec), _) => tokio::time::timeout(wait, async { spec.subscriber().await.map(Subscriber::Cluster) }).await,
            (_, Some(client)) => tokio::time::timeout(wait, async { client.get_async_pubsub().await.map(Subscriber::Server).map_err(classify) }).await,
            (_, None) => return Err(L2Error { class: ErrorClass::Transient, message: "no Redis master found yet".into() }),
        };
        let r = r.unwrap_or_else(|_| Err(timeout_error(self.timeout)));
        if let Err(e) = &r {
            self.suspect(e);
        }
        r
    }

    pub async fn get(&self, key: &str) -> L2Result<Option<Fetched>> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
        let (v, pttl): (Option<Vec<u8>>, i64) = match self.direct(true, |c| pipe.query(c)) {
            Some(r) => r?,
            None => self.run_pipe(&pipe).await?,
        };
        Ok(v.and_then(|bytes| fetched(bytes, pttl)))
    }

    pub async fn get_value(&self, key: &str) -> L2Result<Option<Fetched>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        let v: Option<Vec<u8>> = match self.direct(true, |c| cmd.query(c)) {
            Some(r) => r?,
            None => self.run(&cmd).await?,
        };
        Ok(v.map(|bytes| Fetched { bytes, ttl: None }))
    }

    pub async fn get_unpipelined(&self, key: &str) -> L2Result<Option<Fetched>> {
        let v: Option<Vec<u8>> = self.run(redis::cmd("GET").arg(key)).await?;
        let Some(bytes) = v else { return Ok(None) };
        let pttl: i64 = self.run(redis::cmd("PTTL").arg(key)).await?;
        Ok(fetched(bytes, pttl))
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> L2Result<()> {
        let ms = ttl.as_millis().clamp(1, i64::MAX as u128) as u64;
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("PX").arg(ms);
        match self.direct(true, |c| cmd.query::<()>(c)) {
            Some(r) => r,
            None => self.run::<()>(&cmd).await,
        }
    }

    pub async fn delete(&self, key: &str) -> L2Result<bool> {
        let n: i64 = self.run(redis::cmd("DEL").arg(key)).await?;
        Ok(n > 0)
    }

    pub async fn exists(&self, key: &str) -> L2Result<bool> {
        let n: i64 = self.run(redis::cmd("EXISTS").arg(key)).await?;
        Ok(n > 0)
    }

    pub async fn ttl(&self, key: &str) -> L2Result<Option<Option<Duration>>> {
        let ms: i64 = self.run(redis::cmd("PTTL").arg(key)).await?;
        Ok(pttl_to_ttl(ms))
    }

    /// SCAN + UNLINK in batches. Only used for explicit clears, never on a
    /// read path.
    pub async fn delete_prefix(&self, prefix: &str, rest_ok: fn(&[u8]) -> bool) -> L2Result<u64> {
        let Topology::Cluster(_) = &self.topology else { return self.delete_prefix_on(None, prefix, rest_ok).await };
        // SCAN cursors are per node: scan every master.
        let mut deleted = 0;
        for node in self.cluster_nodes().await?.into_iter().filter(|n| n.master && !n.failing) {
            deleted += self.delete_prefix_on(Some(&node.address), prefix, rest_ok).await?;
        }
        Ok(deleted)
    }

    /// [`RedisBackend::delete_prefix`] on one server, or one cluster node.
    async fn delete_prefix_on(&self, node: Option<&str>, prefix: &str, rest_ok: fn(&[u8]) -> bool) -> L2Result<u64> {
        let pattern = format!("{}*", glob_escape(prefix));
        let mut cursor: u64 = 0;
        let mut deleted = 0u64;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(500);
            let (next, mut keys): (u64, Vec<Vec<u8>>) = match node {
                None => self.run(&scan).await?,
                Some(address) => self.run_on(address, &scan).await?,
            };
            keys.retain(|k| k.get(prefix.len()..).is_some_and(rest_ok));
            if !keys.is_empty() {
                let n: u64 = self.run(redis::cmd("UNLINK").arg(&keys)).await?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// A key as an operator sees it: its type and remaining lifetime, and
    /// its value when it is a string (`None`: no such key). Two round trips
    /// (TYPE and PTTL, then GET), so that a key of another type is reported
    /// rather than failing with WRONGTYPE.
    pub async fn read_raw(&self, key: &str) -> L2Result<Option<RawEntry>> {
        let mut pipe = redis::pipe();
        pipe.cmd("TYPE").arg(key).cmd("PTTL").arg(key);
        let (kind, pttl): (String, i64) = self.run_pipe(&pipe).await?;
        let Some(ttl) = pttl_to_ttl(pttl).filter(|_| kind != "none") else { return Ok(None) };
        if kind != "string" {
            return Ok(Some(RawEntry { redis_type: kind, ttl, bytes: None }));
        }
        let bytes: Option<Vec<u8>> = self.run(redis::cmd("GET").arg(key)).await?;
        // Gone in between (expired or deleted): a miss.
        Ok(bytes.map(|b| RawEntry { redis_type: kind, ttl, bytes: Some(b) }))
    }

    /// Where a SCAN of every key must run: `[None]` for one server, each
    /// master that is not failing for a cluster (cursors are per node).
    pub async fn scan_targets(&self) -> L2Result<Vec<Option<String>>> {
        let Topology::Cluster(_) = &self.topology else { return Ok(vec![None]) };
        Ok(self.cluster_nodes().await?.into_iter().filter(|n| n.master && !n.failing).map(|n| Some(n.address)).collect())
    }

    /// One `SCAN cursor MATCH {prefix}* COUNT count` on `node` (one of
    /// [`RedisBackend::scan_targets`]): the next cursor (0: done) and the keys.
    pub async fn scan_page(&self, node: Option<&str>, cursor: u64, prefix: &str, count: u64) -> L2Result<(u64, Vec<Vec<u8>>)> {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor).arg("MATCH").arg(format!("{}*", glob_escape(prefix))).arg("COUNT").arg(count);
        match node {
            None => self.run(&scan).await,
            Some(address) => self.run_on(address, &scan).await,
        }
    }

    /// `DBSIZE` of `node` (one of [`RedisBackend::scan_targets`]).
    pub async fn dbsize(&self, node: Option<&str>) -> L2Result<u64> {
        let cmd = redis::cmd("DBSIZE");
        match node {
            None => self.run(&cmd).await,
            Some(address) => self.run_on(address, &cmd).await,
        }
    }

    /// Length and remaining lifetime of a string value (`None`: no such key).
    pub async fn value_size(&self, key: &str) -> L2Result<Option<(u64, Option<Duration>)>> {
        let mut pipe = redis::pipe();
        pipe.cmd("STRLEN").arg(key).cmd("PTTL").arg(key);
        let (len, pttl): (u64, i64) = self.run_pipe(&pipe).await?;
        Ok(pttl_to_ttl(pttl).map(|ttl| (len, ttl)))
    }

    /// Wake every connection of the pool: a command on a broken connection
    /// fails and starts its reconnection, a second one waits for it. Used
    /// before a half-open trial, so that a connection that broke while the
    /// circuit was open (and nothing was sent) does not fail the trial for a
    /// Redis that is back. Bounded by the caller's timeout.
    pub async fn revive(&self) {
        // This thread's direct connection may be just as stale.
        self.discard_direct();
        if let Some(f) = self.follower() {
            // The master may have moved while the circuit was open.
            let _ = f.follow().await;
        }
        let pool = self.pool.load_full();
        let mut set = tokio::task::JoinSet::new();
        for (i, c) in pool.conns.iter().enumerate() {
            let mut c = c.clone();
            set.spawn(async move {
                for _ in 0..2 {
                    if redis::cmd("PING").query_async::<()>(&mut c).await.is_ok() {
                        return (i, true);
                    }
                }
                (i, false)
            });
        }
        while let Some(r) = set.join_next().await {
            if let Ok((i, ok)) = r {
                pool.up[i].store(ok, Ordering::Relaxed);
            }
        }
    }

    pub async fn ping(&self) -> L2Result<Duration> {
        if self.is_cluster() {
            // Healthy when every master answers, and says the cluster
            // serves every slot (a master that lost a slot is the one that
            // knows: the others still send its keys there); the slowest
            // master's latency.
            let mut slowest = Duration::ZERO;
            let mut masters = Vec::new();
            for (node, r) in self.ping_nodes().await?.into_iter().filter(|(n, _)| n.master && !n.failing) {
                let d = r.map_err(|e| L2Error { class: e.class, message: format!("cluster master {}: {}", node.address, e.message) })?;
                slowest = slowest.max(d);
                masters.push(node.address);
            }
            let mut info = redis::cmd("CLUSTER");
            info.arg("INFO");
            let states = futures_util::future::join_all(masters.iter().map(|a| self.run_on::<String>(a, &info))).await;
            for (address, state) in masters.iter().zip(states) {
                let text = state?;
                let state = text.lines().find_map(|l| l.trim().strip_prefix("cluster_state:")).unwrap_or("unknown");
                if state != "ok" {
                    return Err(L2Error {
                        class: ErrorClass::Transient,
                        message: format!("cluster master {address} says the cluster state is {state:?} (CLUSTERDOWN: a slot is not served)"),
                    });
                }
            }
            return Ok(slowest);
        }
        let start = Instant::now();
        let v: Value = self.run(&redis::cmd("PING")).await?;
        match v {
            Value::SimpleString(ref s) if s == "PONG" => Ok(start.elapsed()),
            other => Err(L2Error {
                class: ErrorClass::Permanent,
                message: format!("PING answered {other:?}"),
            }),
        }
    }
}

/// A value read by GET with the PTTL read after it. The key may have
/// expired in between (PTTL -2): then it is gone, a miss, never a value
/// without expiry.
fn fetched(bytes: Vec<u8>, pttl: i64) -> Option<Fetched> {
    let ttl = pttl_to_ttl(pttl)?;
    Some(Fetched { bytes, ttl })
}

fn pttl_to_ttl(ms: i64) -> Option<Option<Duration>> {
    match ms {
        -2 => None,
        -1 => Some(None),
        n if n >= 0 => Some(Some(Duration::from_millis(n as u64))),
        _ => None,
    }
}

pub(super) fn timeout_error(t: Duration) -> L2Error {
    L2Error {
        class: ErrorClass::Transient,
        message: format!("Redis did not answer within {} ms", t.as_millis()),
    }
}

/// Escape the glob characters of SCAN MATCH.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Classify by error kind, never by message text.
pub fn classify(e: RedisError) -> L2Error {
    let class = if e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_io_error()
    {
        ErrorClass::Transient
    } else {
        match e.kind() {
            ErrorKind::Server(ServerErrorKind::BusyLoading)
            | ErrorKind::Server(ServerErrorKind::TryAgain)
            | ErrorKind::Server(ServerErrorKind::ClusterDown)
            | ErrorKind::Server(ServerErrorKind::MasterDown)
            // A cluster in failover: a redirection the cluster client could
            // not follow in time (to a master that just died), or a write
            // that reached a master demoted to replica. The topology settles.
            | ErrorKind::Server(ServerErrorKind::Moved)
            | ErrorKind::Server(ServerErrorKind::Ask)
            | ErrorKind::Server(ServerErrorKind::ReadOnly)
            | ErrorKind::Io
            | ErrorKind::ClusterConnectionNotFound => ErrorClass::Transient,
            // Refusals that pass with the server's condition, named by their
            // error code (the crate has no kind for them): memory full with
            // noeviction (OOM), writes stopped after a failed snapshot
            // (MISCONF), a script running too long (BUSY).
            _ if matches!(e.code(), Some("OOM" | "MISCONF" | "BUSY")) => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    };
    L2Error { class, message: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn pttl_codes() {
        assert_eq!(pttl_to_ttl(-2), None);
        assert_eq!(pttl_to_ttl(-1), Some(None));
        assert_eq!(pttl_to_ttl(1500), Some(Some(Duration::from_millis(1500))));
    }

    /// Each error reply as the `redis` crate parses it off the wire, and
    /// its class (DESIGN section 6): what a failover, a loading or a
    /// resharding server answers is transient (counts towards the breaker
    /// and is retried later); a refusal that will not change is permanent.
    #[test]
    fn server_error_replies_are_classified_by_kind() {
        let cases = [
            ("-LOADING Redis is loading the dataset in memory", ErrorClass::Transient),
            ("-TRYAGAIN Multiple keys request during rehashing of slot", ErrorClass::Transient),
            ("-CLUSTERDOWN Hash slot not served", ErrorClass::Transient),
            ("-CLUSTERDOWN The cluster is down", ErrorClass::Transient),
            ("-READONLY You can't write against a read only replica.", ErrorClass::Transient),
            ("-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", ErrorClass::Transient),
            ("-MOVED 3999 127.0.0.1:6381", ErrorClass::Transient),
            ("-OOM command not allowed when used memory > 'maxmemory'.", ErrorClass::Transient),
            ("-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.", ErrorClass::Transient),
            ("-BUSY Redis is busy running a script.", ErrorClass::Transient),
            ("-ASK 3999 127.0.0.1:6381", ErrorClass::Transient),
            ("-WRONGPASS invalid username-password pair or user is disabled.", ErrorClass::Permanent),
            ("-NOPERM User app has no permissions to run the 'eval' command", ErrorClass::Permanent),
            ("-ERR unknown command 'FOO'", ErrorClass::Permanent),
            ("-WRONGTYPE Operation against a key holding the wrong kind of value", ErrorClass::Permanent),
        ];
        for (reply, class) in cases {
            let v = redis::parse_redis_value(format!("{reply}\r\n").as_bytes()).unwrap();
            let e = v.extract_error().expect_err(reply);
            assert_eq!(classify(e).class, class, "{reply}");
        }
    }

    #[test]
    fn a_key_that_expired_between_get_and_pttl_is_a_miss_not_a_value_without_expiry() {
        assert!(fetched(b"v".to_vec(), -2).is_none());
        assert_eq!(fetched(b"v".to_vec(), -1).unwrap().ttl, None);
        assert_eq!(fetched(b"v".to_vec(), 10).unwrap().ttl, Some(Duration::from_millis(10)));
    }
}
