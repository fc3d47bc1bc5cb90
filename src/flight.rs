//! Single flight within the process: one caller per key computes, the
//! others await its outcome (the first half of the miss path; the fill
//! lock does the same across processes, see `fill`).

use crate::l1::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// How a fill ended.
#[derive(Clone)]
pub enum FlightOutcome {
    /// The holder stored this value.
    Filled(Bytes),
    /// The holder gave up (its function raised): a waiter takes over.
    Abandoned,
}

/// One key being computed by one caller; waiters await its outcome.
#[derive(Default)]
pub struct Flight {
    outcome: Mutex<Option<FlightOutcome>>,
    notify: tokio::sync::Notify,
}

impl Flight {
    /// Async wait for the outcome until `deadline`; `None` on timeout.
    pub async fn wait_until_async(&self, deadline: Instant) -> Option<FlightOutcome> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Register interest before checking, so a finish in between is not lost.
            notified.as_mut().enable();
            if let Some(o) = self.outcome.lock().clone() {
                return Some(o);
            }
            let deadline = tokio::time::Instant::from_std(deadline);
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.outcome.lock().clone();
            }
        }
    }
}

/// The keys being filled in this process.
#[derive(Default)]
pub struct Flights {
    map: Mutex<HashMap<String, Arc<Flight>>>,
}

impl Flights {
    /// `Ok(flight)` if the caller now owns the fill of `key`, or
    /// `Err(flight)` of the caller that already does.
    pub fn join(&self, key: &str) -> std::result::Result<Arc<Flight>, Arc<Flight>> {
        let mut map = self.map.lock();
        if let Some(f) = map.get(key) {
            return Err(f.clone());
        }
        let f = Arc::new(Flight::default());
        map.insert(key.to_string(), f.clone());
        Ok(f)
    }

    /// End the owner's flight and wake every waiter.
    pub fn finish(&self, key: &str, flight: &Arc<Flight>, outcome: FlightOutcome) {
        {
            let mut map = self.map.lock();
            if map.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
                map.remove(key);
            }
        }
        *flight.outcome.lock() = Some(outcome);
        flight.notify.notify_waiters();
    }
}

