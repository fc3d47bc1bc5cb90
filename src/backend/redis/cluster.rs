//! Redis Cluster: the `redis` crate's async cluster connection, which keeps
//! the slot map, routes each command to its slot's master, follows MOVED
//! and ASK, refreshes the topology after a failover and retries (bounded by
//! the operation's timeout, which wraps every call).
//!
//! What differs from one server, and why:
//! - Keys a script touches together share a slot (`crate::keyspace` gives
//!   locks and waiter markers the entry's hash tag).
//! - `SCAN` runs on every master ([`RedisBackend::cluster_nodes`]).
//! - Pub/sub: `PUBLISH`, which the cluster bus carries to every node, so one
//!   subscription on any node hears every message. `SPUBLISH` (Redis 7) would
//!   keep a message inside its shard, which means one subscription per shard
//!   and following slot migrations for one low-volume channel whose messages
//!   every process needs anyway; PUBLISH's cluster-wide fan-out costs little
//!   at that volume.
//! - No direct connection per blocking thread: calls go through the async
//!   connection (the benchmark shows the cost).

use super::{classify, RedisBackend};
use crate::backend::{ErrorClass, L2Error, L2Result};
use futures_util::future::FutureExt;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, PushKind, RedisError, RedisFuture, Value};
use std::time::{Duration, Instant};

/// One data connection: to one server, or to a whole cluster.
#[derive(Clone)]
pub(super) enum Conn {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Server(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(&'a mut self, pipeline: &'a Pipeline, offset: usize, count: usize) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Server(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Server(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// How to reach a cluster: its seed nodes (URLs carrying credentials and
/// TLS) and timeouts.
pub(super) struct ClusterSpec {
    nodes: Vec<String>,
    ca: Option<Vec<u8>>,
    connect_timeout: Duration,
    timeout: Duration,
}

impl ClusterSpec {
    pub(super) fn new(nodes: Vec<String>, ca: Option<Vec<u8>>, connect_timeout: Duration, timeout: Duration) -> ClusterSpec {
        ClusterSpec { nodes, ca, connect_timeout, timeout }
    }

    fn builder(&self) -> ClusterClientBuilder {
        let mut b = ClusterClientBuilder::new(self.nodes.iter().map(String::as_str))
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.timeout)
            // MOVED/ASK/TRYAGAIN/CLUSTERDOWN retries, quick ones: the
            // operation's own timeout bounds them all.
            .retries(3)
            .min_retry_wait(5)
            .max_retry_wait(100);
        if let Some(pem) = &self.ca {
            b = b.certs(redis::TlsCertificates { client_tls: None, root_cert: Some(pem.clone()) });
        }
        b
    }

    fn client(&self) -> Result<ClusterClient, RedisError> {
        self.builder().build()
    }

    /// The data connection. It connects in the background, so a client
    /// starts while the cluster is down; commands fail (transient) until it
    /// is up.
    pub(super) fn connect_lazily(&self) -> Result<ClusterConnection, RedisError> {
        let cfg = redis::cluster::ClusterConfig::new().set_connection_timeout(self.connect_timeout).set_response_timeout(self.timeout);
        Ok(self.client()?.get_pending_async_connection_with_config(cfg))
    }

    /// A connection for SUBSCRIBE (RESP3 pushes, which the cluster client
    /// resubscribes after it reconnects).
    pub(super) async fn subscriber(&self) -> L2Result<ClusterSubscriber> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let client = self.builder().use_protocol(redis::ProtocolVersion::RESP3).push_sender(tx).build().map_err(classify)?;
        let conn = client.get_async_connection().await.map_err(classify)?;
        Ok(ClusterSubscriber { conn, rx })
    }
}

/// A cluster subscription: the connection and the pushes it receives.
pub struct ClusterSubscriber {
    conn: ClusterConnection,
    rx: tokio::sync::mpsc::UnboundedReceiver<redis::PushInfo>,
}

impl ClusterSubscriber {
    pub(super) async fn subscribe(&mut self, channels: &[&str]) -> L2Result<()> {
        self.conn.subscribe(channels).await.map_err(classify)
    }

    /// The messages, until a node's connection drops (messages may have been
    /// lost then, so the stream ends and the subscriber starts over, which
    /// resynchronises L1).
    pub(super) fn into_messages(self) -> super::Messages {
        let ClusterSubscriber { conn, rx } = self;
        let stream = futures_util::stream::unfold((conn, rx), |(conn, mut rx)| async move {
            loop {
                let push = rx.recv().await?;
                match push.kind {
                    PushKind::Disconnection => return None,
                    PushKind::Message => {
                        if let [channel, payload] = &push.data[..] {
                            if let (Ok(c), Ok(p)) = (redis::from_redis_value_ref::<String>(channel), redis::from_redis_value_ref::<Vec<u8>>(payload)) {
                                return Some(((c, p), (conn, rx)));
                            }
                        }
                    }
                    _ => {}
                }
            }
        });
        Box::pin(stream)
    }
}

/// One node of the cluster, as `CLUSTER NODES` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterNode {
    /// `host:port`.
    pub address: String,
    pub master: bool,
    /// Flagged `fail` or `fail?` by the cluster.
    pub failing: bool,
}

/// Parse `CLUSTER NODES`: `id ip:port@cport[,hostname] flags master ...`.
fn parse_nodes(text: &str) -> Vec<ClusterNode> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let _id = f.next()?;
            let addr = f.next()?;
            let flags = f.next()?;
            let address = addr.split(['@', ',']).next()?.to_string();
            if address.starts_with(':') || flags.contains("noaddr") || flags.contains("handshake") {
                return None; // not yet (or no longer) reachable
            }
            let flags: Vec<&str> = flags.split(',').collect();
            Some(ClusterNode {
                address,
                master: flags.contains(&"master"),
                failing: flags.iter().any(|f| *f == "fail" || *f == "fail?"),
            })
        })
        .collect()
}

fn unreadable(e: redis::ParsingError) -> L2Error {
    L2Error { class: ErrorClass::Permanent, message: format!("unexpected reply: {e}") }
}

fn split_address(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    Some((host.trim_start_matches('[').trim_end_matches(']').to_string(), port.parse().ok()?))
}

impl RedisBackend {
    fn cluster_conn(&self) -> Option<ClusterConnection> {
        match self.current().conns.first() {
            Some(Conn::Cluster(c)) => Some(c.clone()),
            _ => None,
        }
    }

    /// The nodes of the cluster (empty for one server).
    pub(crate) async fn cluster_nodes(&self) -> L2Result<Vec<ClusterNode>> {
        let Some(mut c) = self.cluster_conn() else { return Ok(Vec::new()) };
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("NODES");
        let routed = c.route_command(cmd, RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random));
        let v = match tokio::time::timeout(self.timeout, routed).await {
            Ok(r) => r.map_err(classify)?,
            Err(_) => return Err(super::timeout_error(self.timeout)),
        };
        let text: String = redis::from_redis_value(v).map_err(unreadable)?;
        Ok(parse_nodes(&text))
    }

    /// Run `cmd` on the cluster node at `address`.
    pub(super) async fn run_on<T: redis::FromRedisValue>(&self, address: &str, cmd: &Cmd) -> L2Result<T> {
        let Some(mut c) = self.cluster_conn() else { return self.run(cmd).await };
        let Some((host, port)) = split_address(address) else {
            return Err(L2Error { class: ErrorClass::Permanent, message: format!("cluster node address {address:?} is not host:port") });
        };
        let routed = c.route_command(cmd.clone(), RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port }));
        match tokio::time::timeout(self.timeout, routed).await {
            Ok(r) => redis::from_redis_value(r.map_err(classify)?).map_err(unreadable),
            Err(_) => Err(super::timeout_error(self.timeout)),
        }
    }

    /// Every node of the cluster with its PING (health, per node).
    pub(crate) async fn node_health(&self) -> L2Result<Vec<crate::backend::NodeHealth>> {
        let nodes = self.ping_nodes().await?;
        Ok(nodes
            .into_iter()
            .map(|(n, ping)| crate::backend::NodeHealth { address: n.address, master: n.master, failing: n.failing, ping })
            .collect())
    }

    /// PING every node of the cluster: (node, role, latency or error).
    pub(crate) async fn ping_nodes(&self) -> L2Result<Vec<(ClusterNode, L2Result<Duration>)>> {
        let nodes = self.cluster_nodes().await?;
        let ping = redis::cmd("PING");
        let pings = nodes.iter().map(|n| {
            let started = Instant::now();
            self.run_on::<String>(&n.address, &ping).map(move |r| r.map(|_| started.elapsed()))
        });
        let results = futures_util::future::join_all(pings).await;
        Ok(nodes.into_iter().zip(results).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_lists_addresses_and_roles() {
        let text = "\
07c3 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
67ed 127.0.0.1:30004@40004,node-4 slave 07c3 0 1426238317239 4 connected
292f 127.0.0.1:30002@40002 master,fail - 1426238316232 1426238316232 2 disconnected
aaaa :0@0 master,noaddr - 0 0 0 disconnected
";
        let nodes = parse_nodes(text);
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0], ClusterNode { address: "127.0.0.1:30001".into(), master: true, failing: false });
        assert_eq!(nodes[1], ClusterNode { address: "127.0.0.1:30004".into(), master: false, failing: false });
        assert!(nodes[2].master && nodes[2].failing);
        assert_eq!(split_address("127.0.0.1:30001"), Some(("127.0.0.1".into(), 30001)));
        assert_eq!(split_address("[::1]:7000"), Some(("::1".into(), 7000)));
    }
}
