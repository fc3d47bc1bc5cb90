//! A blocking caller's own Redis connection (one per thread and backend):
//! reads and writes of a C, PHP, Go or sync Python caller run on it with no
//! hand-off to the runtime's threads, and a write can be sent behind its
//! caller (its reply read before the thread's next command, or drained by
//! whoever needs the write to have ended).

use super::{classify, fenced_set_script, timeout_error, RedisBackend, FENCED_SET};
use crate::backend::{BehindDone, BehindWrite, L2Error};
use crate::keyspace::{waiters_key, FILLED_CHANNEL};
use crate::backend::{ErrorClass, L2Result};
use parking_lot::Mutex;
use redis::{ErrorKind, RedisError, ServerErrorKind, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Duration;

thread_local! {
    /// Set while a blocking caller's thread polls its own call (see
    /// `Client::block_on`): L2 reads and writes then run on a connection of
    /// that thread, with no hand-off to the runtime's threads.
    static BLOCKING_CALLER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The timeout the reliability gate gave the current operation.
    static CALL_TIMEOUT: std::cell::Cell<Option<Duration>> = const { std::cell::Cell::new(None) };
    /// This thread's direct connections, by backend id, with the fork
    /// generation and the pool they were made in.
    static DIRECT: std::cell::RefCell<std::collections::HashMap<u64, (Made, Arc<Mutex<Direct>>)>> = std::cell::RefCell::new(std::collections::HashMap::new());
    /// When this thread's direct connection to a backend last failed: for a
    /// while after, the async connections (which reconnect in the
    /// background) are used instead of connecting on the caller's time.
    static DIRECT_FAILED: std::cell::RefCell<std::collections::HashMap<u64, std::time::Instant>> = std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Where a direct connection was made: (fork generation, pool id). One
/// made in another process, or for a Sentinel master since replaced, is
/// not used.
type Made = (u64, u64);

/// How long after a failure of a thread's direct connection that thread
/// uses the async connections.
const DIRECT_BACKOFF: Duration = Duration::from_secs(1);

/// Mark this thread as a blocking caller for the duration of `f`.
pub(crate) fn as_blocking_caller<T>(f: impl FnOnce() -> T) -> T {
    let prev = BLOCKING_CALLER.with(|b| b.replace(true));
    let r = f();
    BLOCKING_CALLER.with(|b| b.set(prev));
    r
}

/// The gate's timeout for the operation about to run on this thread.
pub(crate) fn set_call_timeout(t: Option<Duration>) {
    CALL_TIMEOUT.with(|c| c.set(t));
}

/// A blocking caller thread's own connection, with the replies it still
/// owes: writes sent behind their caller ([`RedisBackend::send_behind`]).
/// Owed replies are read before the connection's next command (so a
/// thread's later commands land after its earlier writes), or by another
/// thread that needs a write to have ended ([`drain`]).
pub(crate) struct Direct {
    /// `None` once broken (a drain failed): the owner reconnects.
    conn: Option<redis::Connection>,
    owed: VecDeque<Owed>,
    /// The socket's read and write timeout now.
    bound: Option<Duration>,
    /// The server has the scripts sent behind by EVAL on this connection:
    /// later ones go by EVALSHA (commands of one connection run in order).
    scripts_sent: bool,
}

impl Direct {
    fn new(conn: redis::Connection) -> Direct {
        Direct { conn: Some(conn), owed: VecDeque::new(), bound: None, scripts_sent: false }
    }

    /// Bound the socket's reads and writes by `t` (at least 80% of it):
    /// two system calls saved on most commands.
    fn bound(&mut self, t: Duration) {
        let t = t.max(Duration::from_millis(1));
        if self.bound.is_some_and(|b| b <= t && b * 5 >= t * 4) {
            return;
        }
        if let Some(c) = self.conn.as_ref() {
            let _ = c.set_read_timeout(Some(t));
            let _ = c.set_write_timeout(Some(t));
        }
        self.bound = Some(t);
    }
}

/// Completion of a write sent behind its caller, called with its reply.
type OwedDone = Box<dyn FnOnce(L2Result<Value>) + Send>;

struct Owed {
    /// The EVAL form of a script call, resent when the server has lost the
    /// script (NOSCRIPT).
    eval: Option<Vec<u8>>,
    timeout: Duration,
    done: OwedDone,
}

/// Where a write sent behind its caller waits for its reply.
pub(crate) type DirectHandle = Weak<Mutex<Direct>>;

/// Read the replies `d` owes (within each write's timeout), returning the
/// completions to run once the connection is released.
fn settle_owed(d: &mut Direct) -> Vec<(OwedDone, L2Result<Value>)> {
    let mut out = Vec::with_capacity(d.owed.len());
    let mut resend = Vec::new();
    while let Some(o) = d.owed.pop_front() {
        d.bound(o.timeout);
        let r = match d.conn.as_mut() {
            None => Err(dropped_error()),
            Some(c) => c.recv_response().and_then(|v| v.extract_error()),
        };
        match r {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) && o.eval.is_some() => resend.push(o),
            Err(e) => {
                if e.is_timeout() || e.is_connection_dropped() || e.is_io_error() {
                    d.conn = None; // the replies that follow are lost with it
                }
                out.push((o.done, Err(classify(e))));
            }
            Ok(v) => out.push((o.done, Ok(v))),
        }
    }
    // The server lost the script (SCRIPT FLUSH): run it by source, still
    // before any later command of this connection.
    for o in resend {
        let eval = o.eval.expect("checked above");
        d.bound(o.timeout);
        let r = match d.conn.as_mut() {
            None => Err(dropped_error()),
            Some(c) => c.send_packed_command(&eval).and_then(|_| c.recv_response()).and_then(|v| v.extract_error()),
        };
        if r.as_ref().is_err_and(|e| e.is_timeout() || e.is_connection_dropped() || e.is_io_error()) {
            d.conn = None;
        }
        out.push((o.done, r.map_err(classify)));
    }
    out
}

fn run_completions(done: Vec<(OwedDone, L2Result<Value>)>) {
    for (f, r) in done {
        // A completion may run in a thread's exit (the connection's
        // thread-local destructor), where a panic would abort: contain it.
        // Its value is dropped while unwinding, which ends the write.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(r)));
    }
}

/// Make the writes behind their callers waiting on `h` end now, unless
/// the connection's owner is using it (it reads them before its command).
pub(crate) fn drain(h: &DirectHandle) {
    let Some(slot) = h.upgrade() else { return };
    let Some(mut d) = slot.try_lock() else { return };
    let done = settle_owed(&mut d);
    drop(d);
    run_completions(done);
}

impl Drop for Direct {
    fn drop(&mut self) {
        // The thread ends (or its connection is replaced): end its writes.
        run_completions(settle_owed(self));
    }
}

fn dropped_error() -> RedisError {
    RedisError::from(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the connection broke before the reply"))
}

impl RedisBackend {
    /// Run `f` on this thread's direct connection when the thread is a
    /// blocking caller; `None` otherwise (use the async connections).
    pub(super) fn direct<T>(&self, retry_ok: bool, mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>) -> Option<L2Result<T>> {
        if !BLOCKING_CALLER.with(|b| b.get()) {
            return None;
        }
        // A cluster has no direct connections, nor a Sentinel master not yet found.
        let pool = self.pool.load_full();
        let client = pool.client.as_ref()?;
        let timeout = CALL_TIMEOUT.with(|c| c.get()).unwrap_or(self.timeout).max(Duration::from_millis(1));
        let made = (crate::fork::generation(), pool.id);
        let has_conn = DIRECT.with(|d| d.borrow().get(&self.id).is_some_and(|(m, _)| *m == made));
        if !has_conn && DIRECT_FAILED.with(|f| f.borrow().get(&self.id).is_some_and(|t| t.elapsed() < DIRECT_BACKOFF)) {
            return None;
        }
        let r = self.direct_now(client, timeout, made, retry_ok, &mut f);
        if let Err(e) = &r {
            if e.class == ErrorClass::Transient {
                DIRECT_FAILED.with(|f| f.borrow_mut().insert(self.id, std::time::Instant::now()));
            }
            self.suspect(e);
        }
        Some(r)
    }

    /// Where a direct connection made now belongs.
    fn made(&self) -> Made {
        (crate::fork::generation(), self.current().id)
    }

    /// This thread's direct connection to this backend, if it has one made
    /// in this process for the current pool (one inherited through a fork
    /// is forgotten unused: its socket is the parent's; one to a Sentinel
    /// master since replaced is dropped).
    pub(super) fn direct_slot(&self, made: Made) -> Option<Arc<Mutex<Direct>>> {
        let stale = DIRECT.with(|d| {
            let mut d = d.borrow_mut();
            match d.get(&self.id) {
                Some((m, _)) if *m != made => d.remove(&self.id).map(|(m, slot)| (m.0 != made.0, slot)),
                _ => None,
            }
        });
        match stale {
            Some((true, inherited)) => std::mem::forget(inherited),
            Some((false, replaced)) => drop(replaced), // outside the borrow: its owed writes end
            None => {}
        }
        DIRECT.with(|d| d.borrow().get(&self.id).map(|(_, slot)| slot.clone()))
    }

    pub(super) fn forget_direct(&self) {
        // Dropped outside the borrow: its owed writes end (and their
        // completions run) as it drops.
        let old = DIRECT.with(|d| d.borrow_mut().remove(&self.id));
        drop(old);
    }

    /// Forget this thread's connection as stale without reading what it
    /// owes (a frozen server would hold the caller): those writes end as
    /// failed, unknown to have landed.
    pub(super) fn discard_direct(&self) {
        let Some((_, slot)) = DIRECT.with(|d| d.borrow_mut().remove(&self.id)) else { return };
        let owed: Vec<Owed> = {
            let mut d = slot.lock();
            d.conn = None;
            d.owed.drain(..).collect()
        };
        run_completions(owed.into_iter().map(|o| (o.done, Err(classify(dropped_error())))).collect());
    }

    pub(super) fn direct_now<T>(
        &self,
        client: &redis::Client,
        timeout: Duration,
        made: Made,
        retry_ok: bool,
        f: &mut impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> L2Result<T> {
        // An idle connection may have died with the server (restart, idle
        // timeout): one retry on a fresh one, as for any pooled connection.
        let started = std::time::Instant::now();
        for attempt in 0..2 {
            let (slot, fresh) = match self.direct_slot(made) {
                Some(slot) => (slot, false),
                None => {
                    // Connecting counts against the operation's timeout: a
                    // frozen server must not hold the caller for a connect
                    // timeout plus the operation's.
                    let c = client.get_connection_with_timeout(self.connect_timeout.min(timeout)).map_err(classify)?;
                    let slot = Arc::new(Mutex::new(Direct::new(c)));
                    DIRECT.with(|d| d.borrow_mut().insert(self.id, (made, slot.clone())));
                    (slot, true)
                }
            };
            let mut d = slot.lock();
            // Earlier writes of this thread first: what follows lands after them.
            let done = if d.owed.is_empty() { Vec::new() } else { settle_owed(&mut d) };
            let left = timeout.saturating_sub(started.elapsed());
            if !left.is_zero() {
                d.bound(left);
            }
            let r = match d.conn.as_mut() {
                _ if left.is_zero() => Err(None),
                None => Err(Some(dropped_error())),
                Some(c) => f(c).map_err(Some),
            };
            drop(d);
            run_completions(done);
            match r {
                Ok(v) => return Ok(v),
                Err(None) => {
                    self.forget_direct();
                    return Err(timeout_error(timeout));
                }
                Err(Some(e)) => {
                    let dropped = !e.is_timeout() && (e.is_connection_dropped() || e.is_io_error());
                    let e = classify(e);
                    if e.class == ErrorClass::Transient {
                        self.forget_direct(); // reconnect next time
                    }
                    if !(retry_ok && dropped && !fresh && attempt == 0) {
                        return Err(e);
                    }
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    /// Send a write on this thread's direct connection without waiting for
    /// its reply: `done` gets the reply when the thread's next command on
    /// the connection (or a [`drain`]) reads it. `eval` is the EVAL form of
    /// a script call (resent on NOSCRIPT). `Err(done)` when this thread is
    /// not a blocking caller or has no working connection: nothing was sent.
    fn send_behind(&self, packed: &[u8], eval: Option<Vec<u8>>, timeout: Duration, done: OwedDone) -> Result<DirectHandle, OwedDone> {
        if !BLOCKING_CALLER.with(|b| b.get()) {
            return Err(done);
        }
        let Some(slot) = self.direct_slot(self.made()) else { return Err(done) };
        let mut d = slot.lock();
        let earlier = if d.owed.is_empty() { Vec::new() } else { settle_owed(&mut d) };
        d.bound(timeout);
        // The first script of a connection goes by source: an EVALSHA the
        // server has not seen would run only when its NOSCRIPT is read.
        let by_source = eval.is_some() && !d.scripts_sent;
        let (packed, eval) = match eval {
            Some(e) if by_source => (e, None),
            other => (packed.to_vec(), other),
        };
        let sent = match d.conn.as_mut() {
            None => false,
            Some(c) => c.send_packed_command(&packed).is_ok(),
        };
        if sent && by_source {
            d.scripts_sent = true;
        }
        let r = if sent {
            d.owed.push_back(Owed { eval, timeout: timeout.max(Duration::from_millis(1)), done });
            Ok(Arc::downgrade(&slot))
        } else {
            d.conn = None;
            Err(done)
        };
        drop(d);
        if r.is_err() {
            self.forget_direct();
        }
        run_completions(earlier);
        r
    }

    /// Send `write` behind its caller (see `send_behind`); `done` gets
    /// whether it landed (a fenced write refused by its fence: `false`).
    /// `Err(done)`: nothing was sent.
    pub(crate) fn write_behind(&self, write: &BehindWrite<'_>, timeout: Duration, done: BehindDone) -> Result<DirectHandle, BehindDone> {
        let (packed, eval, fenced) = match *write {
            BehindWrite::Set { key, value, ttl } => (self.set_packed(key, value, ttl), None, false),
            BehindWrite::Fenced { key, lock_key, token, value, ttl } => {
                let (sha, eval) = self.fenced_set_packed(key, lock_key, token, value, ttl);
                (sha, Some(eval), true)
            }
        };
        let slot = Arc::new(Mutex::new(Some(done)));
        let owned = slot.clone();
        let owed: OwedDone = Box::new(move |r| {
            if let Some(done) = owned.lock().take() {
                done(r.and_then(|v| fenced_reply(fenced, v)))
            }
        });
        match as_blocking_caller(|| self.send_behind(&packed, eval, timeout, owed)) {
            Ok(h) => Ok(h),
            Err(_) => Err(slot.lock().take().expect("not sent, so not completed")),
        }
    }

    /// The packed EVALSHA and EVAL forms of the fenced write.
    fn fenced_set_packed(&self, key: &str, lock_key: &str, token: &str, value: &[u8], ttl: Duration) -> (Vec<u8>, Vec<u8>) {
        let ms = ttl.as_millis().max(1).to_string();
        let script = fenced_set_script();
        let waiters = waiters_key(key);
        let channel = FILLED_CHANNEL;
        let mut sha = redis::cmd("EVALSHA");
        sha.arg(script.get_hash()).arg(3).arg(key).arg(lock_key).arg(&waiters).arg(token).arg(value).arg(&ms).arg(channel);
        let mut eval = redis::cmd("EVAL");
        eval.arg(FENCED_SET).arg(3).arg(key).arg(lock_key).arg(&waiters).arg(token).arg(value).arg(&ms).arg(channel);
        (sha.get_packed_command(), eval.get_packed_command())
    }

    /// The packed `SET key value PX ms`.
    fn set_packed(&self, key: &str, value: &[u8], ttl: Duration) -> Vec<u8> {
        let ms = ttl.as_millis().clamp(1, i64::MAX as u128) as u64;
        redis::cmd("SET").arg(key).arg(value).arg("PX").arg(ms).get_packed_command()
    }

}

/// What a write sent behind answered: a plain SET lands; a fenced write
/// answers 1 when it landed, 0 when its fence refused it.
fn fenced_reply(fenced: bool, v: Value) -> L2Result<bool> {
    match (fenced, v) {
        (false, _) => Ok(true),
        (true, Value::Int(n)) => Ok(n == 1),
        (true, other) => Err(L2Error { class: ErrorClass::Permanent, message: format!("the fenced write answered {other:?}") }),
    }
}
