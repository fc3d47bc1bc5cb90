//! The reliability gate in front of L2 (DESIGN section 6): circuit breaker,
//! adaptive timeout and backpressure, per namespace.
//!
//! Every L2 operation asks [`Reliability::admit`] first. A refusal (breaker
//! open, too many in flight, permanent error backing off) means "skip L2
//! now": the caller gets a miss or a write that only reached L1, never an
//! error and never a queue.

use crate::config::{BackpressureConfig, BreakerConfig, TimeoutConfig};
use std::fmt;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How an L2 failure is to be treated (DESIGN section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Connection refused or dropped, timeout, LOADING, TRYAGAIN, pool
    /// exhausted: worth retrying later; moves the circuit breaker.
    Transient,
    /// Authentication, protocol and configuration errors: retrying does not help.
    Permanent,
    /// A failure the user excluded from the circuit breaker (a foreign
    /// backend's error of an excluded kind): the call fails open and the
    /// error is counted, but neither the breaker nor the back-off moves.
    Excluded,
}

/// A failed L2 operation.
#[derive(Debug, Clone)]
pub struct L2Error {
    pub class: ErrorClass,
    pub message: String,
}

impl fmt::Display for L2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = match self.class {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Excluded => "excluded",
        };
        write!(f, "{c} L2 error: {}", self.message)
    }
}

pub type L2Result<T> = Result<T, L2Error>;

/// An L2 operation, as the gate times it and the metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Get,
    Set,
    Delete,
    Exists,
    Ttl,
    Clear,
    /// Take, renew or mark interest in a fill lock.
    Lock,
    /// Whether a fill lock is still held (labelled `exists`).
    LockHeld,
    Unlock,
}

impl Op {
    /// Every label of `redis_cache_operation_duration_seconds`, in order.
    pub(crate) const LABELS: [&'static str; 9] = ["get", "set", "delete", "exists", "ttl", "clear", "ping", "lock", "unlock"];

    /// The metric label's position in [`Op::LABELS`].
    pub(crate) fn index(self) -> usize {
        match self {
            Op::Get => 0,
            Op::Set => 1,
            Op::Delete => 2,
            Op::Exists | Op::LockHeld => 3,
            Op::Ttl => 4,
            Op::Clear => 5,
            Op::Lock => 7,
            Op::Unlock => 8,
        }
    }

    pub(crate) fn label(self) -> &'static str {
        Op::LABELS[self.index()]
    }

    /// Which adaptive timeout the operation uses.
    pub(crate) fn kind(self) -> OpKind {
        match self {
            Op::Lock | Op::LockHeld | Op::Unlock => OpKind::Lock,
            Op::Clear => OpKind::Bulk,
            _ => OpKind::Data,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "CLOSED",
            BreakerState::Open => "OPEN",
            BreakerState::HalfOpen => "HALF_OPEN",
        }
    }

    /// The gauge value of `redis_circuit_breaker_state`.
    pub fn gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

struct Breaker {
    state: BreakerState,
    failures: u32,
    successes: u32,
    /// Trial requests in flight in the half-open state.
    trials: u32,
    opened_at: Option<Instant>,
    last_failure_wall: Option<f64>,
    /// What the last transient failure said (health: why the breaker moved).
    last_failure: Option<String>,
    /// Until when L2 is skipped after a permanent error (wrong password...).
    permanent_until: Option<Instant>,
    permanent_error: Option<String>,
}

/// Why the gate refused an L2 operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    BreakerOpen,
    Backpressure,
    PermanentError,
}

/// Which adaptive timeout an operation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Data,
    Lock,
    /// Many round trips (namespace clears): the maximum timeout, not measured.
    Bulk,
}

/// Sliding window of latencies with a cached P95.
struct Window {
    samples: Mutex<VecDeque<u32>>,
    /// Current timeout in microseconds (read lock-free by every operation).
    timeout_us: AtomicU64,
    sum_us: AtomicU64,
    count: AtomicU64,
    since_recompute: AtomicU64,
}

impl Window {
    fn new(initial: Duration) -> Self {
        Window {
            samples: Mutex::new(VecDeque::new()),
            timeout_us: AtomicU64::new(initial.as_micros() as u64),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
            since_recompute: AtomicU64::new(0),
        }
    }
}

/// The gate of one namespace.
pub struct Reliability {
    breaker_cfg: BreakerConfig,
    timeout_cfg: TimeoutConfig,
    bp_cfg: BackpressureConfig,
    base_timeout: Duration,
    breaker: Mutex<Breaker>,
    data: Window,
    lock: Window,
    in_flight: AtomicUsize,
    pub rejected_backpressure: AtomicU64,
    pub rejected_breaker: AtomicU64,
    pub rejected_permanent: AtomicU64,
    pub breaker_opened: AtomicU64,
}

/// An admitted L2 operation; dropping it ends the in-flight count.
pub struct Permit<'a> {
    rel: &'a Reliability,
    started: Instant,
    kind: OpKind,
    trial: bool,
}

impl Permit<'_> {
    /// How long this operation may take.
    pub fn timeout(&self) -> Duration {
        self.rel.current_timeout(self.kind)
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// Whether this is a half-open trial request.
    pub fn is_trial(&self) -> bool {
        self.trial
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.rel.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

fn wall_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Reliability {
    pub fn new(breaker: BreakerConfig, timeout: TimeoutConfig, bp: BackpressureConfig, base_timeout: Duration) -> Self {
        Reliability {
            data: Window::new(base_timeout),
            lock: Window::new(base_timeout),
            breaker_cfg: breaker,
            timeout_cfg: timeout,
            bp_cfg: bp,
            base_timeout,
            breaker: Mutex::new(Breaker {
                state: BreakerState::Closed,
                failures: 0,
                successes: 0,
                trials: 0,
                opened_at: None,
                last_failure_wall: None,
                last_failure: None,
                permanent_until: None,
                permanent_error: None,
            }),
            in_flight: AtomicUsize::new(0),
            rejected_backpressure: AtomicU64::new(0),
            rejected_breaker: AtomicU64::new(0),
            rejected_permanent: AtomicU64::new(0),
            breaker_opened: AtomicU64::new(0),
        }
    }

    /// Ask to run one L2 operation now.
    pub fn admit(&self, kind: OpKind) -> Result<Permit<'_>, Refusal> {
        let mut trial = false;
        {
            let mut b = self.breaker.lock();
            let now = Instant::now();
            if let Some(until) = b.permanent_until {
                if now < until {
                    self.rejected_permanent.fetch_add(1, Ordering::Relaxed);
                    return Err(Refusal::PermanentError);
                }
                b.permanent_until = None;
            }
            if self.breaker_cfg.enabled {
                match b.state {
                    BreakerState::Closed => {}
                    BreakerState::Open => {
                        let reopen = b.opened_at.is_none_or(|t| {
                            now.duration_since(t) >= Duration::from_secs_f64(self.breaker_cfg.recovery_timeout)
                        });
                        if !reopen {
                            self.rejected_breaker.fetch_add(1, Ordering::Relaxed);
                            return Err(Refusal::BreakerOpen);
                        }
                        b.state = BreakerState::HalfOpen;
                        b.successes = 0;
                        b.trials = 1;
                        trial = true;
                    }
                    BreakerState::HalfOpen => {
                        if b.trials >= self.breaker_cfg.half_open_requests.max(1) {
                            self.rejected_breaker.fetch_add(1, Ordering::Relaxed);
                            return Err(Refusal::BreakerOpen);
                        }
                        b.trials += 1;
                        trial = true;
                    }
                }
            }
        }
        if self.bp_cfg.enabled {
            let n = self.in_flight.fetch_add(1, Ordering::AcqRel);
            if n >= self.bp_cfg.max_concurrent_requests {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                self.rejected_backpressure.fetch_add(1, Ordering::Relaxed);
                // A half-open trial slot that was not used goes back.
                let mut b = self.breaker.lock();
                if b.state == BreakerState::HalfOpen && b.trials > 0 {
                    b.trials -= 1;
                }
                return Err(Refusal::Backpressure);
            }
        } else {
            self.in_flight.fetch_add(1, Ordering::AcqRel);
        }
        Ok(Permit { rel: self, started: Instant::now(), kind, trial })
    }

    /// Record the outcome of an admitted operation. `None` is success.
    /// Returns true when this failure opened the circuit.
    pub fn record(&self, permit: Permit<'_>, failure: Option<(ErrorClass, &str)>) -> bool {
        let elapsed = permit.started.elapsed();
        let kind = permit.kind;
        drop(permit);
        if failure.is_none() {
            self.observe_latency(kind, elapsed);
        }
        self.record_outcome(failure)
    }

    /// Give back a permit that will not be used (its half-open trial slot
    /// too). Nothing is recorded.
    pub fn forgo(&self, permit: Permit<'_>) {
        let trial = permit.trial;
        drop(permit);
        if trial {
            let mut b = self.breaker.lock();
            if b.state == BreakerState::HalfOpen && b.trials > 0 {
                b.trials -= 1;
            }
        }
    }

    /// Record the outcome of an operation whose permit ended before its
    /// reply came (a write sent behind its caller): the breaker learns from
    /// it; its latency is not a sample of the adaptive timeout. Returns true
    /// when this failure opened the circuit.
    pub fn record_outcome(&self, failure: Option<(ErrorClass, &str)>) -> bool {
        match failure {
            None => {
                let mut b = self.breaker.lock();
                b.failures = 0;
                if b.state == BreakerState::HalfOpen {
                    // `trials` counts trial requests in flight, at most half_open_requests.
                    b.trials = b.trials.saturating_sub(1);
                    b.successes += 1;
                    if b.successes >= self.breaker_cfg.success_threshold.max(1) {
                        b.state = BreakerState::Closed;
                        b.successes = 0;
                        b.trials = 0;
                        b.opened_at = None;
                    }
                }
                false
            }
            Some((ErrorClass::Permanent, msg)) => {
                // Not the breaker's business, but never retried in a hot loop.
                let mut b = self.breaker.lock();
                b.permanent_until = Some(Instant::now() + Duration::from_secs_f64(self.breaker_cfg.recovery_timeout.max(1.0)));
                b.permanent_error = Some(msg.to_string());
                if b.state == BreakerState::HalfOpen && b.trials > 0 {
                    b.trials -= 1;
                }
                false
            }
            Some((ErrorClass::Excluded, _)) => {
                // Excluded by the user: releases a half-open trial, moves nothing.
                let mut b = self.breaker.lock();
                if b.state == BreakerState::HalfOpen && b.trials > 0 {
                    b.trials -= 1;
                }
                false
            }
            Some((ErrorClass::Transient, msg)) => {
                let mut b = self.breaker.lock();
                b.last_failure_wall = Some(wall_now());
                b.last_failure = Some(msg.to_string());
                if !self.breaker_cfg.enabled {
                    return false;
                }
                b.failures += 1;
                let open = match b.state {
                    BreakerState::HalfOpen => true,
                    BreakerState::Closed => b.failures >= self.breaker_cfg.failure_threshold.max(1),
                    BreakerState::Open => false,
                };
                if open {
                    b.state = BreakerState::Open;
                    b.opened_at = Some(Instant::now());
                    b.successes = 0;
                    b.trials = 0;
                    self.breaker_opened.fetch_add(1, Ordering::Relaxed);
                }
                open
            }
        }
    }

    fn window(&self, kind: OpKind) -> &Window {
        match kind {
            OpKind::Data | OpKind::Bulk => &self.data,
            OpKind::Lock => &self.lock,
        }
    }

    fn observe_latency(&self, kind: OpKind, d: Duration) {
        if kind == OpKind::Bulk {
            return;
        }
        let w = self.window(kind);
        let us = d.as_micros().min(u32::MAX as u128) as u32;
        w.sum_us.fetch_add(us as u64, Ordering::Relaxed);
        w.count.fetch_add(1, Ordering::Relaxed);
        if !self.timeout_cfg.enabled {
            return;
        }
        let recompute = {
            let mut s = w.samples.lock();
            s.push_back(us);
            while s.len() > self.timeout_cfg.window_size.max(1) {
                s.pop_front();
            }
            // Recompute the P95 every 32 samples: sorting is off the common path.
            let n = w.since_recompute.fetch_add(1, Ordering::Relaxed) + 1;
            if n >= 32 || s.len() < 32 {
                w.since_recompute.store(0, Ordering::Relaxed);
                Some(s.iter().copied().collect::<Vec<u32>>())
            } else {
                None
            }
        };
        if let Some(mut v) = recompute {
            v.sort_unstable();
            let idx = ((v.len() as f64) * 0.95).ceil() as usize;
            let p95 = v[idx.clamp(1, v.len()) - 1] as f64 / 1e6;
            let t = (p95 * self.timeout_cfg.percentile_multiplier)
                .clamp(self.timeout_cfg.min_timeout, self.timeout_cfg.max_timeout);
            w.timeout_us.store((t * 1e6) as u64, Ordering::Relaxed);
        }
    }

    /// The timeout for the next operation of this kind.
    pub fn current_timeout(&self, kind: OpKind) -> Duration {
        if kind == OpKind::Bulk {
            return self.base_timeout.max(Duration::from_secs_f64(self.timeout_cfg.max_timeout));
        }
        if !self.timeout_cfg.enabled {
            return self.base_timeout;
        }
        Duration::from_micros(self.window(kind).timeout_us.load(Ordering::Relaxed))
    }

    pub fn state(&self) -> BreakerState {
        if !self.breaker_cfg.enabled {
            return BreakerState::Closed;
        }
        self.breaker.lock().state
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub fn permanent_error(&self) -> Option<String> {
        self.breaker.lock().permanent_error.clone()
    }


    fn window_json(&self, kind: OpKind) -> Value {
        let w = self.window(kind);
        let n = w.count.load(Ordering::Relaxed);
        let avg = if n == 0 { 0.0 } else { w.sum_us.load(Ordering::Relaxed) as f64 / n as f64 / 1e6 };
        let samples = w.samples.lock().len();
        json!({
            "current_timeout": self.current_timeout(kind).as_secs_f64(),
            "base_timeout": self.base_timeout.as_secs_f64(),
            "average_duration": avg,
            "samples": samples,
            "operations": n,
        })
    }

    /// The circuit breaker part of the health report.
    pub fn breaker_json(&self) -> Value {
        let b = self.breaker.lock();
        let next_attempt = match (b.state, b.opened_at) {
            (BreakerState::Open, Some(t)) => {
                let left = Duration::from_secs_f64(self.breaker_cfg.recovery_timeout).saturating_sub(t.elapsed());
                Some(wall_now() + left.as_secs_f64())
            }
            _ => None,
        };
        json!({
            "state": if self.breaker_cfg.enabled { b.state.name() } else { "CLOSED" },
            "failure_count": b.failures,
            "success_count": b.successes,
            "last_failure_time": b.last_failure_wall,
            "last_failure": b.last_failure,
            "next_attempt": next_attempt,
            "times_opened": self.breaker_opened.load(Ordering::Relaxed),
            "rejected_requests": self.rejected_breaker.load(Ordering::Relaxed),
            "permanent_error": b.permanent_error,
        })
    }

    pub fn backpressure_json(&self) -> Value {
        json!({
            "max_concurrent": self.bp_cfg.max_concurrent_requests,
            "current_requests": self.in_flight(),
            "rejected_requests": self.rejected_backpressure.load(Ordering::Relaxed),
        })
    }

    /// `adaptive_timeout` of the health report: data operations at the top
    /// level (the reference's shape), lock operations nested.
    pub fn timeout_json(&self) -> Value {
        let mut v = self.window_json(OpKind::Data);
        v["enabled"] = json!(self.timeout_cfg.enabled);
        v["min_timeout"] = json!(self.timeout_cfg.min_timeout);
        v["max_timeout"] = json!(self.timeout_cfg.max_timeout);
        v["lock_operations"] = self.window_json(OpKind::Lock);
        v
    }

    pub fn features(&self) -> (bool, bool, bool) {
        (self.breaker_cfg.enabled, self.timeout_cfg.enabled, self.bp_cfg.enabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(threshold: u32, recovery: f64) -> Reliability {
        Reliability::new(
            BreakerConfig { failure_threshold: threshold, recovery_timeout: recovery, success_threshold: 2, half_open_requests: 1, enabled: true },
            TimeoutConfig::default(),
            BackpressureConfig { enabled: true, max_concurrent_requests: 2 },
            Duration::from_secs(1),
        )
    }

    fn fail(r: &Reliability, class: ErrorClass) -> bool {
        let p = r.admit(OpKind::Data).unwrap();
        r.record(p, Some((class, "boom")))
    }

    fn ok(r: &Reliability) {
        let p = r.admit(OpKind::Data).unwrap();
        r.record(p, None);
    }

    #[test]
    fn the_breaker_opens_after_the_threshold_of_transient_failures() {
        let r = rel(3, 60.0);
        assert!(!fail(&r, ErrorClass::Transient));
        assert!(!fail(&r, ErrorClass::Transient));
        assert!(fail(&r, ErrorClass::Transient));
        assert_eq!(r.state(), BreakerState::Open);
        assert_eq!(r.admit(OpKind::Data).err(), Some(Refusal::BreakerOpen));
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let r = rel(3, 60.0);
        fail(&r, ErrorClass::Transient);
        fail(&r, ErrorClass::Transient);
        ok(&r);
        fail(&r, ErrorClass::Transient);
        fail(&r, ErrorClass::Transient);
        assert_eq!(r.state(), BreakerState::Closed);
    }

    #[test]
    fn permanent_errors_do_not_move_the_breaker_but_back_off() {
        let r = rel(1, 60.0);
        assert!(!fail(&r, ErrorClass::Permanent));
        assert_eq!(r.state(), BreakerState::Closed);
        assert_eq!(r.admit(OpKind::Data).err(), Some(Refusal::PermanentError));
        assert_eq!(r.permanent_error().as_deref(), Some("boom"));
    }

    #[test]
    fn excluded_errors_move_neither_the_breaker_nor_the_back_off() {
        let r = rel(1, 60.0);
        for _ in 0..5 {
            assert!(!fail(&r, ErrorClass::Excluded));
        }
        assert_eq!(r.state(), BreakerState::Closed);
        assert!(r.admit(OpKind::Data).is_ok());
        assert!(fail(&r, ErrorClass::Transient), "a transient failure still opens it");
    }

    #[test]
    fn half_open_after_recovery_then_closed_after_successes() {
        let r = rel(1, 0.05);
        fail(&r, ErrorClass::Transient);
        assert_eq!(r.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(70));
        let trial = r.admit(OpKind::Data).unwrap();
        assert_eq!(r.state(), BreakerState::HalfOpen);
        // Only half_open_requests (1) trial at a time.
        assert_eq!(r.admit(OpKind::Data).err(), Some(Refusal::BreakerOpen));
        r.record(trial, None);
        assert_eq!(r.state(), BreakerState::HalfOpen, "one of two successes");
        ok(&r);
        assert_eq!(r.state(), BreakerState::Closed);
    }

    #[test]
    fn a_failure_in_half_open_opens_again() {
        let r = rel(1, 0.05);
        fail(&r, ErrorClass::Transient);
        std::thread::sleep(Duration::from_millis(70));
        assert!(fail(&r, ErrorClass::Transient));
        assert_eq!(r.state(), BreakerState::Open);
    }

    #[test]
    fn backpressure_refuses_beyond_the_limit_without_queueing() {
        let r = rel(5, 60.0);
        let a = r.admit(OpKind::Data).unwrap();
        let b = r.admit(OpKind::Data).unwrap();
        assert_eq!(r.admit(OpKind::Data).err(), Some(Refusal::Backpressure));
        assert_eq!(r.rejected_backpressure.load(Ordering::Relaxed), 1);
        drop(a);
        assert!(r.admit(OpKind::Data).is_ok());
        drop(b);
        assert_eq!(r.in_flight(), 0);
    }

    #[test]
    fn each_operation_has_its_label_and_its_timeout_kind() {
        use Op::*;
        let table = [
            (Get, "get", OpKind::Data),
            (Set, "set", OpKind::Data),
            (Delete, "delete", OpKind::Data),
            (Exists, "exists", OpKind::Data),
            (Ttl, "ttl", OpKind::Data),
            // A clear takes many round trips: the maximum timeout.
            (Clear, "clear", OpKind::Bulk),
            // Lock operations have an adaptive timeout of their own.
            (Lock, "lock", OpKind::Lock),
            (LockHeld, "exists", OpKind::Lock),
            (Unlock, "unlock", OpKind::Lock),
        ];
        for (op, label, kind) in table {
            assert_eq!(op.label(), label, "{op:?}");
            assert_eq!(Op::LABELS[op.index()], label, "{op:?}");
            assert_eq!(op.kind(), kind, "{op:?}");
        }
        assert_eq!(Op::LABELS[6], "ping", "the one label no Op has");
    }

    #[test]
    fn breaker_states_have_the_reference_names_and_gauge_values() {
        let names: Vec<_> = [BreakerState::Closed, BreakerState::Open, BreakerState::HalfOpen].iter().map(|s| (s.name(), s.gauge())).collect();
        assert_eq!(names, [("CLOSED", 0), ("OPEN", 1), ("HALF_OPEN", 2)]);
    }

    #[test]
    fn l2_errors_read_with_their_class() {
        for (class, word) in [(ErrorClass::Transient, "transient"), (ErrorClass::Permanent, "permanent"), (ErrorClass::Excluded, "excluded")] {
            let e = L2Error { class, message: "connection refused".into() };
            assert_eq!(e.to_string(), format!("{word} L2 error: connection refused"));
        }
    }

    #[test]
    fn half_open_lets_through_half_open_requests_trials_at_a_time() {
        let r = Reliability::new(
            BreakerConfig { failure_threshold: 1, recovery_timeout: 0.0, success_threshold: 5, half_open_requests: 3, enabled: true },
            TimeoutConfig::default(),
            BackpressureConfig { enabled: true, max_concurrent_requests: 10 },
            Duration::from_secs(1),
        );
        let normal = r.admit(OpKind::Data).unwrap();
        assert!(!normal.is_trial(), "a closed breaker's permits are no trials");
        r.record(normal, Some((ErrorClass::Transient, "boom")));
        assert_eq!(r.state(), BreakerState::Open);
        // recovery_timeout 0: the next admission is the first trial.
        let trials: Vec<_> = (0..3).map(|_| r.admit(OpKind::Data).unwrap()).collect();
        assert!(trials.iter().all(|p| p.is_trial()));
        assert_eq!(r.state(), BreakerState::HalfOpen);
        assert_eq!(r.admit(OpKind::Data).err(), Some(Refusal::BreakerOpen), "a fourth trial waits");
        let mut trials = trials.into_iter();
        r.record(trials.next().unwrap(), None);
        let again = r.admit(OpKind::Data).expect("a finished trial frees its slot");
        assert!(again.is_trial());
        assert_eq!(r.admit(OpKind::Data).err(), Some(Refusal::BreakerOpen));
        // A trial given back unused frees its slot too.
        r.forgo(again);
        assert!(r.admit(OpKind::Data).unwrap().is_trial());
    }

    #[test]
    fn the_health_report_dates_the_last_failure_by_the_wall_clock() {
        let r = rel(5, 60.0);
        let wall = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(r.breaker_json()["last_failure_time"].is_null());
        let before = wall();
        fail(&r, ErrorClass::Transient);
        let after = wall();
        let t = r.breaker_json()["last_failure_time"].as_f64().unwrap();
        assert!(before <= t && t <= after, "{before} <= {t} <= {after}");
    }

    #[test]
    fn the_adaptive_timeout_follows_the_p95_within_bounds() {
        let r = rel(5, 60.0);
        assert_eq!(r.current_timeout(OpKind::Data), Duration::from_secs(1), "base until measured");
        for _ in 0..200 {
            r.observe_latency(OpKind::Data, Duration::from_millis(80));
        }
        // 2 x P95 of 80 ms = 160 ms.
        let t = r.current_timeout(OpKind::Data);
        assert!((t.as_secs_f64() - 0.16).abs() < 0.001, "{t:?}");
        for _ in 0..1000 {
            r.observe_latency(OpKind::Data, Duration::from_micros(200));
        }
        assert_eq!(r.current_timeout(OpKind::Data), Duration::from_millis(100), "clamped to the minimum");
        for _ in 0..1000 {
            r.observe_latency(OpKind::Data, Duration::from_secs(20));
        }
        assert_eq!(r.current_timeout(OpKind::Data), Duration::from_secs(10), "clamped to the maximum");
        // Lock operations are tracked separately.
        assert_eq!(r.current_timeout(OpKind::Lock), Duration::from_secs(1));
    }
}
