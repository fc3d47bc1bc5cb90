//! Redis Sentinel: the sentinels say where the master is; the connections
//! go there, and move when a failover names another master.
//!
//! The backend asks the sentinels (`SENTINEL GET-MASTER-ADDR-BY-NAME`, in
//! the order given, the first that knows the master answers) and checks
//! that the server named answers `ROLE` as a master, as the Sentinel client
//! guidelines ask: a sentinel that has not yet seen a failover names the old
//! master, which is then down or demoted. It asks:
//! - before the first command (the client starts while everything is down:
//!   no connection is made until then);
//! - after a command fails for a reason a failover explains (the server
//!   went away, did not answer in time, or answers `READONLY`), in the
//!   background and at most once per [`MIN_GAP`];
//! - before the breaker's half-open trial (`RedisBackend::revive`), and
//!   before a subscription (re)connects.
//!
//! When the master moved, a new set of connections replaces the old one
//! (`super::Pool`): commands under way finish on the old connections (or
//! fail, and count as failures), the next ones go to the new master. The
//! `redis` crate's own `sentinel` module is not used: its lookups have no
//! timeout and check the master's role over TLS without the configured CA.

use super::{classify, open_client, timeout_error};
use crate::backend::{ErrorClass, L2Error, L2Result};
use crate::config::SentinelTarget;
use redis::Value;
use std::time::Duration;

/// The least time between two background lookups.
pub(super) const MIN_GAP: Duration = Duration::from_millis(100);

/// How to find the master: the sentinels, its name, how to reach it.
pub(super) struct SentinelSpec {
    target: SentinelTarget,
    sentinels: Vec<redis::Client>,
    ca: Option<Vec<u8>>,
    connect_timeout: Duration,
    timeout: Duration,
}

impl SentinelSpec {
    pub(super) fn new(target: SentinelTarget, ca: Option<Vec<u8>>, connect_timeout: Duration, timeout: Duration) -> Result<SentinelSpec, redis::RedisError> {
        let sentinels = target.sentinels.iter().map(|u| open_client(u, ca.as_deref())).collect::<Result<Vec<_>, _>>()?;
        Ok(SentinelSpec { target, sentinels, ca, connect_timeout, timeout })
    }

    pub(super) fn master_name(&self) -> &str {
        &self.target.master_name
    }

    pub(super) fn ca(&self) -> Option<&[u8]> {
        self.ca.as_deref()
    }

    /// The URL of the master now: named by the first sentinel that knows
    /// it, and answering `ROLE` as a master. The error is the last one met.
    pub(super) async fn find_master(&self) -> L2Result<String> {
        let mut last = None;
        for (i, sentinel) in self.sentinels.iter().enumerate() {
            let found = async {
                let (host, port) = self.ask(sentinel).await?;
                let url = self.target.node_url(&host, port);
                self.check_master(&url).await.map(|()| url)
            }
            .await;
            match found {
                Ok(url) => return Ok(url),
                Err(e) => {
                    last = Some(L2Error { class: e.class, message: format!("sentinel {}: {}", crate::config::redact(&self.target.sentinels[i]), e.message) })
                }
            }
        }
        Err(last.expect("a sentinel URL names at least one sentinel"))
    }

    /// `(host, port)` of the master as `sentinel` knows it.
    async fn ask(&self, sentinel: &redis::Client) -> L2Result<(String, u16)> {
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("GET-MASTER-ADDR-BY-NAME").arg(self.master_name());
        let v: Option<(String, u16)> = self.query_once(sentinel, &cmd).await?;
        v.ok_or_else(|| L2Error {
            // A name no sentinel knows is a configuration error; a sentinel
            // that knows it but is not the first asked is tried next.
            class: ErrorClass::Permanent,
            message: format!("knows no master named {:?}", self.master_name()),
        })
    }

    /// Whether the server at `url` is a master (`ROLE`).
    async fn check_master(&self, url: &str) -> L2Result<()> {
        let client = open_client(url, self.ca()).map_err(classify)?;
        let role: Value = self.query_once(&client, &redis::cmd("ROLE")).await?;
        match role {
            Value::Array(ref items) if matches!(items.first(), Some(Value::BulkString(b)) if b == b"master") => Ok(()),
            other => Err(L2Error {
                // A demoted master, or a replica not yet promoted: a failover under way.
                class: ErrorClass::Transient,
                message: format!("{} does not answer ROLE as a master: {other:?}", crate::config::redact(url)),
            }),
        }
    }

    /// `cmd` on a connection of its own, bounded by the timeouts.
    async fn query_once<T: redis::FromRedisValue>(&self, client: &redis::Client, cmd: &redis::Cmd) -> L2Result<T> {
        let bound = self.connect_timeout + self.timeout;
        let r = tokio::time::timeout(bound, async {
            let cfg = redis::AsyncConnectionConfig::new().set_connection_timeout(Some(self.connect_timeout)).set_response_timeout(Some(self.timeout));
            let mut c = client.get_multiplexed_async_connection_with_config(&cfg).await?;
            cmd.query_async::<T>(&mut c).await
        })
        .await;
        match r {
            Ok(r) => r.map_err(classify),
            Err(_) => Err(timeout_error(bound)),
        }
    }
}
