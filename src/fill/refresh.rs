//! Early refresh: probabilistic early expiration (XFetch) and
//! stale-while-revalidate hand one caller a refresh lease together with the
//! value it returns, bounded per namespace.

use super::lease::Lease;
use super::lock::{lock_ttl, token, LockHold};
use super::Fill;
use crate::engine::Namespace;
use crate::keyspace;
use crate::l1::Bytes;
use crate::observe::NsStats;
use crate::reliability::Op;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Holds one of the namespace's background-refresh slots.
pub(crate) struct RefreshSlot(Namespace);

impl Drop for RefreshSlot {
    fn drop(&mut self) {
        self.0.inner.refreshing.fetch_sub(1, Ordering::AcqRel);
    }
}

/// L1 value with its expiry and refresh time (decrypted if need be).
pub(crate) fn l1_meta(ns: &Namespace, key: &str) -> Option<(Bytes, Option<Instant>, Option<Instant>)> {
    let (stored, expires, refresh_at) = ns.l1()?.get_meta(key)?;
    let value = if ns.l1_keeps_ciphertext() { ns.l1_get(key)? } else { stored };
    Some((value, expires, refresh_at))
}

/// A hit, or a hit with a refresh lease when early refresh is due.
pub(crate) async fn hit(ns: &Namespace, key: &str, value: Bytes, expires: Option<Instant>, refresh_at: Option<Instant>) -> Fill {
    if refresh_due(ns, expires, refresh_at) {
        if let Some(lease) = try_refresh_lease(ns, key).await {
            return Fill::Refresh(value, lease);
        }
    }
    Fill::Hit(value)
}

pub(crate) fn refresh_due(ns: &Namespace, expires: Option<Instant>, refresh_at: Option<Instant>) -> bool {
    let now = Instant::now();
    if refresh_at.is_some_and(|r| now >= r) {
        return true; // stale-while-revalidate: past the fresh TTL
    }
    let (Some(beta), Some(exp)) = (ns.inner.options.early_refresh_beta, expires) else { return false };
    // XFetch: refresh when now - delta * beta * ln(U) >= expiry.
    let delta = ns.inner.fill_micros.load(Ordering::Relaxed) as f64 / 1e6;
    if delta <= 0.0 {
        return false;
    }
    let logical_expiry = exp.checked_sub(ns.swr()).unwrap_or(exp);
    let u: f64 = rand::random::<f64>().max(f64::MIN_POSITIVE);
    logical_expiry.saturating_duration_since(now).as_secs_f64() <= delta * beta * -u.ln()
}

/// One refresh lease for `key` if a slot is free and no one else
/// (in this process or another) is refreshing it.
async fn try_refresh_lease(ns: &Namespace, key: &str) -> Option<Lease> {
    let i = &ns.inner;
    if i.refreshing.fetch_add(1, Ordering::AcqRel) >= i.options.max_background_refreshes {
        i.refreshing.fetch_sub(1, Ordering::AcqRel);
        return None;
    }
    let slot = RefreshSlot(ns.clone());
    // One refresh per key in this process, tracked apart from fills so
    // that readers keep getting the stale value meanwhile.
    let refresh_key = format!("{key}\0refresh");
    let flight = ns.process().flights.join(&refresh_key).ok()?;
    let mut lease = Lease::new(ns, key.to_string(), Some(flight));
    lease.flight_key = Some(refresh_key);
    lease.refresh = Some(slot);
    if ns.has_locks() && i.options.distributed_lock {
        let lock_key = keyspace::lock_key(key);
        let t = token();
        let got = ns.l2(Op::Lock, Some(key), |b| b.lock(&lock_key, &t, lock_ttl(ns))).await;
        match got {
            Ok(true) => lease.lock = Some(LockHold::start(ns, lock_key, t)),
            Ok(false) => return None, // another process refreshes it
            Err(_) => return None,    // L2 is struggling: no refresh now
        }
    }
    NsStats::inc(&i.stats.early_refreshes);
    Some(lease)
}
