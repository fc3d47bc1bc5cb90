//! Reads and writes of one namespace by full key: L1, then L2, with
//! verification on the way in and the process's writes behind in order.

use super::{Decoded, Namespace};
use crate::backend::GetMode;
use crate::error::Result;
use crate::l1::Bytes;
use crate::observe::{Level, NsStats};
use crate::reliability::Op;
use std::time::{Duration, Instant};

/// The longest an operation waits for this process's earlier write behind
/// of the same key. Each write is bounded by the L2 timeout well before.
const LANDING_WAIT: Duration = Duration::from_secs(10);

impl Namespace {
    /// Read by full key: L1, then L2 (verified, put in L1).
    pub(crate) fn get_by_key(&self, key: &str) -> Result<Option<Bytes>> {
        if let Some(v) = self.l1_get(key) {
            self.trace(key, "l1_hit");
            return Ok(Some(v));
        }
        if !self.has_backend() {
            self.trace(key, "miss");
            return Ok(None);
        }
        let v = self.inner.client.block_on(self.get_l2(key))?;
        self.trace(key, if v.is_some() { "l2_hit" } else { "miss" });
        Ok(v)
    }

    /// The L2 part of a read, for async callers (after their own L1 check).
    pub(crate) async fn get_l2(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.get_l2_entry(key).await?.map(|(v, _)| v))
    }

    /// The L2 part of a read with the entry's remaining lifetime.
    pub(crate) async fn get_l2_entry(&self, key: &str) -> Result<Option<(Bytes, Option<Duration>)>> {
        if !self.has_backend() {
            return Ok(None);
        }
        if let Some(v) = self.process().landings.value(key) {
            // Our own write of it is under way: L2 may not have it yet.
            return Ok(Some((v, None)));
        }
        let o = &self.inner.options;
        let needs_ttl = self.inner.l1_enabled || o.refresh_ttl_on_get || o.stale_while_revalidate > 0 || o.early_refresh_beta.is_some();
        let mode = match (needs_ttl, o.pipelined) {
            (false, _) => GetMode::ValueOnly,
            (true, true) => GetMode::Pipelined,
            (true, false) => GetMode::TwoTrips,
        };
        let r = self.l2(Op::Get, Some(key), |b| b.get(key, mode)).await;
        let Some(f) = self.settle(r, None)? else {
            NsStats::inc(&self.inner.stats.l2_misses);
            return Ok(None);
        };
        self.accept_fetched(key, f).await
    }

    /// Verify what L2 returned for `key`: the value (put in L1, TTL refreshed
    /// when asked) with its remaining lifetime, or a counted miss (an entry
    /// of another serializer, or a corrupt one, which is deleted).
    pub(crate) async fn accept_fetched(&self, key: &str, f: crate::backend::Fetched) -> Result<Option<(Bytes, Option<Duration>)>> {
        match self.decode(key, &f.bytes) {
            Decoded::Value(v) => {
                NsStats::inc(&self.inner.stats.l2_hits);
                let v: Bytes = v.into();
                let mut remaining = f.ttl;
                let o = &self.inner.options;
                if o.refresh_ttl_on_get {
                    let full = self.l2_ttl(self.inner.ttl);
                    if remaining.is_some_and(|r| r.as_secs_f64() < o.ttl_refresh_threshold * full.as_secs_f64()) {
                        if let Ok(true) = self.l2(Op::Ttl, Some(key), |b| b.expire(key, full)).await {
                            NsStats::inc(&self.inner.stats.ttl_refreshes);
                            remaining = Some(full);
                        }
                    }
                }
                self.l1_put(key, &v, &f.bytes, remaining);
                Ok(Some((v, remaining)))
            }
            Decoded::Mismatch(e) => {
                NsStats::inc(&self.inner.stats.format_mismatches);
                let d = format!("{e}; the entry was written by another serializer and will be recomputed and overwritten");
                self.log(Level::Warning, "format_mismatch", Some(key), "miss", None, Some(&d));
                Ok(None)
            }
            Decoded::Corrupt(e) => {
                NsStats::inc(&self.inner.stats.corrupt_entries);
                let d = format!("{e}; treated as a miss and deleted");
                self.log(Level::Warning, "corrupt_entry", Some(key), "miss", None, Some(&d));
                let _ = self.l2(Op::Delete, Some(key), |b| b.delete(key)).await;
                Ok(None)
            }
        }
    }

    /// Encode, and put in L1. Returns (the value readers get, the bytes for L2).
    pub(crate) fn prepare_store(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, Vec<u8>)> {
        let (seen, stored) = self.encode_for_l2(key, value)?;
        self.l1_put(key, &seen, &stored, Some(self.l2_ttl(ttl)));
        Ok((seen, stored))
    }

    /// Encode, counting and logging failures. Returns (the value readers
    /// get, the bytes for L2).
    pub(crate) fn encode_for_l2(&self, key: &str, value: &[u8]) -> Result<(Bytes, Vec<u8>)> {
        match self.encode(key, value) {
            Ok((canonical, stored)) => {
                NsStats::inc(&self.inner.stats.sets);
                let seen: Bytes = canonical.as_deref().unwrap_or(value).into();
                Ok((seen, stored))
            }
            Err(e) => {
                NsStats::inc(&self.inner.stats.encode_failures);
                self.log(Level::Warning, "encode_failed", Some(key), "not_cached", None, Some(e.message()));
                // A value that cannot be stored must not leave an older one visible.
                if let Some(l1) = self.l1() {
                    l1.remove(key);
                }
                Err(e)
            }
        }
    }

    /// Write to L2 for `ttl` (plus the stale-while-revalidate period).
    pub(crate) async fn write_l2(&self, key: &str, stored: Vec<u8>, ttl: Duration) -> Result<()> {
        if !self.has_backend() {
            return Ok(());
        }
        let ttl = self.l2_ttl(ttl);
        let r = self.l2(Op::Set, Some(key), |b| b.set(key, &stored, ttl)).await;
        self.settle(r, ())
    }

    /// Store by full key in L1 and L2.
    pub(crate) fn set_by_key(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let ttl = ttl.unwrap_or(self.inner.ttl);
        match self.prepare_store(key, value, ttl) {
            Ok((_, stored)) => self.inner.client.block_on(async {
                self.settle_landing(key).await;
                self.write_l2(key, stored, ttl).await
            }),
            Err(e) => {
                self.forget_l2(key);
                Err(e)
            }
        }
    }

    /// Wait until this process's write behind of `key` (if any) has ended,
    /// so that what follows lands after it.
    pub(crate) async fn settle_landing(&self, key: &str) {
        self.process().landings.settle_key(key, Instant::now() + LANDING_WAIT).await
    }

    /// After a value could not be stored, the older entry is stale: remove
    /// it from L2 too (L1 was cleared by `prepare_store`). Best effort.
    pub(crate) fn forget_l2(&self, key: &str) {
        if self.has_backend() {
            let _ = self.inner.client.block_on(self.l2(Op::Delete, Some(key), |b| b.delete(key)));
        }
    }

    pub(crate) fn forget_l2_in_background(&self, key: &str) {
        if self.has_backend() {
            let (c, key) = (self.clone(), key.to_string());
            self.inner.client.spawn(async move {
                let _ = c.l2(Op::Delete, Some(&key), |b| b.delete(&key)).await;
            });
        }
    }

    /// A store for async callers: L1 now, and the L2 write to run in the
    /// background (`None`: no L2). An encode error is returned now.
    pub(crate) fn set_behind(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<Option<impl std::future::Future<Output = Result<()>> + Send + 'static>> {
        let ttl = ttl.unwrap_or(self.inner.ttl);
        match self.prepare_store(key, value, ttl) {
            Err(e) => {
                self.forget_l2_in_background(key);
                Err(e)
            }
            Ok(_) if !self.has_backend() => Ok(None),
            Ok((_, stored)) => {
                let (c, key) = (self.clone(), key.to_string());
                Ok(Some(async move {
                    c.settle_landing(&key).await;
                    c.write_l2(&key, stored, ttl).await
                }))
            }
        }
    }

    /// The cached value of `operation(args)`, if any.
    pub(crate) fn get(&self, operation: &str, args: &[u8]) -> Result<Option<Bytes>> {
        let key = self.key_shared(operation, args)?;
        self.get_by_key(&key)
    }

    /// Store `value` for `operation(args)`.
    pub(crate) fn set(&self, operation: &str, args: &[u8], value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let key = self.key_shared(operation, args)?;
        self.set_by_key(&key, value, ttl)
    }

    /// Whether `operation(args)` has an entry (L1 or L2). Does not verify it.
    pub(crate) fn exists(&self, operation: &str, args: &[u8]) -> Result<bool> {
        let key = self.key_shared(operation, args)?;
        if self.l1().is_some_and(|l1| l1.remaining(&key).is_some()) {
            return Ok(true);
        }
        if !self.has_backend() {
            return Ok(false);
        }
        if self.process().landings.value(&key).is_some() {
            return Ok(true);
        }
        let r = self.inner.client.block_on(self.l2(Op::Exists, Some(&key), |b| b.exists(&key)));
        self.settle(r, false)
    }

    /// Remaining lifetime of the entry: `None` if absent, `Some(None)` if it
    /// never expires. L2 is authoritative when it answers.
    pub(crate) fn ttl(&self, operation: &str, args: &[u8]) -> Result<Option<Option<Duration>>> {
        let key = self.key_shared(operation, args)?;
        if self.has_backend() {
            let r = self.inner.client.block_on(async {
                self.settle_landing(&key).await;
                self.l2(Op::Ttl, Some(&key), |b| b.ttl(&key)).await
            });
            match r {
                Ok(t) => return Ok(t),
                Err(e) => {
                    self.settle::<Option<Option<Duration>>>(Err(e), None)?;
                }
            }
        }
        Ok(self.l1().and_then(|l1| l1.remaining(&key)))
    }
}
