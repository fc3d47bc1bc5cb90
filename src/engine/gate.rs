//! Every L2 operation of a namespace goes through [`Namespace::l2`]: the
//! reliability gate's admission, the adaptive timeout, latency and outcome
//! recorded, failures counted and logged; and the namespace's log events.

use super::Namespace;
use crate::backend::{self, Backend, ErrorClass, L2Error, L2Result};
use crate::error::{Error, Result};
use crate::observe::{self, Event, Level, NsStats};
use crate::reliability::{Op, Refusal};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Why an L2 operation did not happen or failed.
pub(crate) enum L2Fail {
    Skipped(Refusal),
    Failed(L2Error),
}

impl Namespace {
    /// A log event of this namespace. Warnings and errors (fail-open, bad
    /// entries) are always delivered, rate-limited to one a second;
    /// `structured_logging` governs the per-operation debug and info events.
    pub(crate) fn log(&self, level: Level, event: &str, key: Option<&str>, outcome: &str, duration: Option<Duration>, detail: Option<&str>) {
        if !observe::enabled(level) || (level < Level::Warning && !self.inner.options.structured_logging) {
            return;
        }
        if level >= Level::Warning {
            let now = observe::now_ms();
            let last = self.inner.last_warn_ms.load(Ordering::Relaxed);
            if last != 0 && now.saturating_sub(last) < 1000 {
                return;
            }
            if self.inner.last_warn_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err() {
                return;
            }
        }
        observe::emit(Event { level, event, namespace: &self.inner.namespace, key, outcome, duration, detail });
    }

    /// A debug event per cached call (hit or miss), when asked for.
    #[inline]
    pub(crate) fn trace(&self, key: &str, outcome: &str) {
        if observe::enabled(Level::Debug) && self.inner.options.structured_logging {
            self.log(Level::Debug, "cache_lookup", Some(key), outcome, None, None);
        }
    }

    /// One L2 operation through the reliability gate: admission (breaker,
    /// backpressure, permanent-error back-off), the adaptive timeout, latency
    /// and outcome recorded.
    pub(crate) async fn l2<'a, T, F, Fut>(&'a self, op: Op, key: Option<&str>, f: F) -> std::result::Result<T, L2Fail>
    where
        F: FnOnce(&'a Backend) -> Fut,
        Fut: Future<Output = L2Result<T>> + 'a,
    {
        let state = self.process();
        let rel = &self.inner.local().rel;
        let permit = match rel.admit(op.kind()) {
            Ok(p) => p,
            Err(r) => {
                NsStats::inc(&self.inner.stats.l2_skipped);
                return Err(L2Fail::Skipped(r));
            }
        };
        let timeout = permit.timeout();
        backend::set_call_timeout(Some(timeout));
        let trial = permit.is_trial();
        let attempt = async {
            if trial {
                // Half-open: reconnect the pool first, within the same bound.
                state.backend.revive().await;
            }
            f(&state.backend).await
        };
        let res = match tokio::time::timeout(timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(L2Error {
                class: ErrorClass::Transient,
                message: format!("Redis did not answer within the adaptive timeout of {} ms", timeout.as_millis()),
            }),
        };
        let elapsed = permit.started().elapsed();
        if let Some(Some(h)) = self.inner.durations.get(op.index()) {
            h.observe(elapsed.as_secs_f64());
        }
        self.l2_report(op, key, Some(elapsed), res, |failure| rel.record(permit, failure))
    }

    /// The outcome of an L2 operation: recorded (by `record`, which returns
    /// whether a failure opened the circuit), and a failure counted and
    /// logged.
    pub(crate) fn l2_report<T>(
        &self,
        op: Op,
        key: Option<&str>,
        elapsed: Option<Duration>,
        res: L2Result<T>,
        record: impl FnOnce(Option<(ErrorClass, &str)>) -> bool,
    ) -> std::result::Result<T, L2Fail> {
        match res {
            Ok(v) => {
                record(None);
                Ok(v)
            }
            Err(e) => {
                let opened = record(Some((e.class, &e.message)));
                NsStats::inc(&self.inner.stats.l2_errors);
                let class = match e.class {
                    ErrorClass::Transient => "transient",
                    ErrorClass::Permanent => "permanent",
                    ErrorClass::Excluded => "excluded",
                };
                let detail = format!("operation={} class={class} error=\"{}\"", op.label(), e.message);
                if opened {
                    observe::emit(Event { level: Level::Error, event: "circuit_opened", namespace: &self.inner.namespace, key, outcome: "open", duration: elapsed, detail: Some(&detail) });
                } else {
                    self.log(Level::Warning, "l2_error", key, class, elapsed, Some(&detail));
                }
                Err(L2Fail::Failed(e))
            }
        }
    }

    /// Fail-open: an L2 failure becomes `default`; fail-closed: an error.
    pub(crate) fn settle<T>(&self, r: std::result::Result<T, L2Fail>, default: T) -> Result<T> {
        match r {
            Ok(v) => Ok(v),
            Err(_) if !self.inner.options.fail_closed => Ok(default),
            Err(L2Fail::Failed(e)) => Err(Error::Backend(e.to_string())),
            Err(L2Fail::Skipped(r)) => Err(Error::Backend(format!("L2 skipped: {r:?}"))),
        }
    }
}
