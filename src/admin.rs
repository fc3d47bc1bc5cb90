//! Operator access to what a client's Redis holds, by full key: what the
//! `cachekit` command-line tool uses beside the [`Client`] API. It reads
//! entries without deciding anything about them (no delete of a corrupt
//! entry, no L1, no breaker: one operator, one command), deletes one key
//! the way the core does (other processes drop it from L1), walks a
//! namespace with SCAN (every master of a cluster), and follows the
//! invalidation and fill messages of every process.
//!
//! It goes through the client's backend, so every URL form the core takes
//! (one server, TLS and ACL, a cluster, Sentinel) works here too.

use crate::backend::{Backend, ErrorClass, L2Error, RawEntry};
use crate::client::Client;
use crate::codec::{self, Limits};
use crate::engine::ClientCore;
use crate::error::{Error, Result};
use crate::inspect::{self, DecryptKeys, Inspection};
use crate::keyspace::{self, FILLED_CHANNEL, INVALIDATE_CHANNEL};
use futures_util::StreamExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Operator access through one client (see the module documentation).
pub struct Admin {
    core: Arc<ClientCore>,
}

/// One stored entry, read without changing it.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The Redis type (`"string"` for cache entries).
    pub redis_type: String,
    /// Remaining lifetime (`None`: no expiry).
    pub ttl: Option<Duration>,
    /// What the bytes are (for a key of another type: foreign, nothing read).
    pub inspection: Inspection,
}

/// One page of a namespace scan.
pub struct ScanPage<'a> {
    /// Entry keys of the namespace in this page.
    pub keys: &'a [String],
    /// Keys the scan has walked so far, all of them (an estimate: `COUNT`
    /// per page), and the keys of the database(s) scanned.
    pub walked: u64,
    pub total: u64,
}

/// A message of another process (or of this one) about an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// An entry was deleted (`key`), or a namespace or operation cleared
    /// (`key` is then a prefix ending in `*`); the namespace's generation
    /// became `generation`. `origin` identifies the sending process.
    Invalidated { key: String, origin: String, generation: i64 },
    /// A fill landed while another process waited for it (fills nobody
    /// waits for are not announced).
    Filled { key: String },
}

type Messages = Pin<Box<dyn futures_util::Stream<Item = (String, Vec<u8>)> + Send>>;

/// A live subscription to the invalidation and fill channels.
pub struct Watch {
    core: Arc<ClientCore>,
    messages: Messages,
    /// Only this namespace: `({scope}{namespace}:~gen, {scope}{namespace}:)`.
    only: Option<(String, String)>,
}

fn timed_out(what: &str) -> L2Error {
    L2Error { class: ErrorClass::Transient, message: format!("{what} timed out") }
}

fn l2(e: L2Error) -> Error {
    Error::Backend(format!("Redis: {}", e.message))
}

impl Admin {
    /// Operator access through `client`, which must have a Redis URL.
    pub fn new(client: &Client) -> Result<Admin> {
        let core = client.core().clone();
        let state = core.state();
        if let Some(why) = &state.backend_error {
            return Err(Error::Config(why.clone()));
        }
        if !matches!(state.backend, Backend::Redis(_)) {
            return Err(Error::Config(
                "no Redis to talk to: set CACHEKIT_REDIS_URL (or REDIS_URL), or pass --url".into(),
            ));
        }
        Ok(Admin { core })
    }

    fn run<T>(&self, f: impl Future<Output = crate::backend::L2Result<T>>) -> Result<T> {
        self.core.block_on(f).map_err(l2)
    }

    fn backend(&self) -> &Backend {
        &self.core.state().backend
    }

    /// The key prefix and tenant scope of this client's keys.
    pub fn scope(&self) -> String {
        let cfg = self.core.config();
        keyspace::scope(&cfg.key_prefix, cfg.tenant_id.as_deref())
    }

    /// Every entry key of `namespace` starts with this.
    pub fn namespace_prefix(&self, namespace: &str) -> String {
        keyspace::namespace_prefix(&self.scope(), namespace)
    }

    /// The bounds applied to stored bytes (the client's `max_chunk_size_mb`).
    pub fn limits(&self) -> Limits {
        Limits { max_uncompressed: self.core.config().max_value_bytes(), ..Limits::default() }
    }

    /// The keys [`Admin::inspect`] decrypts `key` with: the client's master
    /// key (`CACHEKIT_MASTER_KEY`), and as tenants `tenants`, the client's
    /// tenant, the key's own `t:{tenant}:` scope and `"default"`.
    pub fn decrypt_keys(&self, key: &str, tenants: &[String], serializers: &[String]) -> Result<DecryptKeys> {
        let cfg = self.core.config();
        let master_keys = match &cfg.master_key {
            Some(hex) => vec![codec::parse_master_key_hex(hex)
                .map_err(|e| Error::Config(format!("master_key (CACHEKIT_MASTER_KEY): {e}")))?],
            None => Vec::new(),
        };
        let mut all: Vec<String> = tenants.to_vec();
        all.extend(cfg.tenant_id.clone());
        all.extend(inspect::KeyLayout::parse(key).scoped_tenant(&cfg.key_prefix));
        Ok(DecryptKeys { master_keys, tenants: all, serializers: serializers.to_vec() })
    }

    /// The entry under `key` and what it is (`None`: no such key). Changes
    /// nothing.
    pub fn inspect(&self, key: &str, keys: &DecryptKeys) -> Result<Option<Stored>> {
        let Some(RawEntry { redis_type, ttl, bytes }) = self.run(self.backend().read_raw(key))? else { return Ok(None) };
        let inspection = match &bytes {
            Some(b) => inspect::inspect(key, b, keys, &self.limits()),
            None => inspect::not_a_string(key, &redis_type),
        };
        Ok(Some(Stored { redis_type, ttl, inspection }))
    }

    /// Delete `key` and tell every process to drop it from L1 (the
    /// namespace's generation is bumped and the deletion published, as the
    /// core's own deletes do). True if it existed.
    pub fn delete(&self, key: &str) -> Result<bool> {
        let b = self.backend();
        let existed = self.run(b.delete(key))?;
        let layout = inspect::KeyLayout::parse(key);
        if let Some(ns) = layout.namespace {
            // `{scope}{namespace}:~gen`, as `keyspace::generation_key` names it.
            let gen_key = keyspace::generation_key("", &ns);
            let origin = &self.core.state().origin;
            let gen = self.run(b.incr(&gen_key))?;
            let msg = keyspace::invalidation_message(origin, &gen_key, gen, key);
            self.run(b.publish(INVALIDATE_CHANNEL, msg.as_bytes()))?;
        }
        Ok(existed)
    }

    /// Walk the entry keys of `namespace` with SCAN (on every master of a
    /// cluster), `count` keys a page, calling `page` for each; it returns
    /// false to stop. Keys of longer namespaces (`{namespace}:v1:…`), locks
    /// and generations are left out, as a clear leaves them.
    pub fn scan(&self, namespace: &str, count: u64, mut page: impl FnMut(&ScanPage<'_>) -> bool) -> Result<()> {
        let prefix = self.namespace_prefix(namespace);
        let b = self.backend();
        let nodes = self.run(b.scan_targets())?;
        let mut total = 0;
        for n in &nodes {
            total += self.run(b.dbsize(n.as_deref()))?;
        }
        // Keys walked: the nodes done, plus `count` a page on this one.
        let (mut done, mut walked) = (0u64, 0u64);
        for node in &nodes {
            let size = self.run(b.dbsize(node.as_deref()))?;
            let mut cursor = 0;
            loop {
                let (next, raw) = self.run(b.scan_page(node.as_deref(), cursor, &prefix, count))?;
                walked = if next == 0 { done + size } else { (walked + count).min(done + size) };
                let keys: Vec<String> = raw
                    .into_iter()
                    .filter(|k| k.get(prefix.len()..).is_some_and(keyspace::is_entry_suffix))
                    .filter_map(|k| String::from_utf8(k).ok())
                    .collect();
                if !page(&ScanPage { keys: &keys, walked, total: total.max(walked) }) {
                    return Ok(());
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            done += size;
        }
        Ok(())
    }

    /// Length and remaining lifetime of each key's value (`None`: gone),
    /// `parallel` requests at a time.
    pub fn sizes(&self, keys: &[String], parallel: usize) -> Result<Vec<Option<(u64, Option<Duration>)>>> {
        let b = self.backend();
        self.run(async move {
            let all: Vec<_> = futures_util::stream::iter(keys.iter().map(|k| b.value_size(k)))
                .buffered(parallel.max(1))
                .collect()
                .await;
            all.into_iter().collect()
        })
    }

    /// Subscribe to the invalidation and fill channels (of every process
    /// using this Redis), for one namespace or all.
    pub fn watch(&self, namespace: Option<&str>) -> Result<Watch> {
        let core = self.core.clone();
        let b = self.backend();
        let wait = self.core.config().connect_timeout() + self.core.config().socket_timeout();
        let sub = self.core.block_on(async move {
            let mut sub = match tokio::time::timeout(wait, b.pubsub()).await {
                Ok(Some(r)) => r?,
                Ok(None) => return Err(L2Error { class: ErrorClass::Permanent, message: "this backend has no pub/sub".into() }),
                Err(_) => return Err(timed_out("connecting for SUBSCRIBE")),
            };
            match tokio::time::timeout(wait, sub.subscribe(&[INVALIDATE_CHANNEL, FILLED_CHANNEL])).await {
                Ok(r) => r.map(|_| sub),
                Err(_) => Err(timed_out("SUBSCRIBE")),
            }
        });
        let sub = sub.map_err(l2)?;
        let scope = self.scope();
        let only = namespace.map(|ns| (keyspace::generation_key(&scope, ns), keyspace::namespace_prefix(&scope, ns)));
        Ok(Watch { core, messages: sub.into_messages(), only })
    }
}

impl Watch {
    /// The next event, waiting at most `timeout` (`Ok(None)`: none came).
    /// An error: the subscription's connection dropped (events may have been
    /// lost); subscribe again.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<WatchEvent>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let messages = &mut self.messages;
            let got = self.core.block_on(async move { tokio::time::timeout_at(deadline, messages.next()).await });
            let (channel, payload) = match got {
                Err(_) => return Ok(None),
                Ok(None) => return Err(Error::Backend("Redis: the subscription's connection dropped".into())),
                Ok(Some(m)) => m,
            };
            let Ok(text) = std::str::from_utf8(&payload) else { continue };
            let event = match channel.as_str() {
                INVALIDATE_CHANNEL => match keyspace::parse_invalidation(text) {
                    Some((origin, gen_key, generation, target)) => {
                        if self.only.as_ref().is_some_and(|(g, _)| g != gen_key) {
                            continue;
                        }
                        WatchEvent::Invalidated { key: target.to_string(), origin: origin.to_string(), generation }
                    }
                    None => continue,
                },
                FILLED_CHANNEL => {
                    if let Some((_, prefix)) = &self.only {
                        let rest = text.strip_prefix(prefix.as_str());
                        if !rest.is_some_and(|r| keyspace::is_entry_suffix(r.as_bytes())) {
                            continue;
                        }
                    }
                    WatchEvent::Filled { key: text.to_string() }
                }
                _ => continue,
            };
            return Ok(Some(event));
        }
    }
}
