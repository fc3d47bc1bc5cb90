//! cachekit: one caching engine for C, Python, PHP, Node.js and Go.
//!
//! The core owns everything that is hard: the in-process L1, the Redis
//! connection, the key and value format of the cachekit protocol
//! (MessagePack, LZ4, xxHash3-64, AES-256-GCM with HKDF keys) and the miss
//! path. Language wrappers use it through the C ABI in [`ffi`]
//! (`include/cachekit.h`); Rust programs (and the Node.js addon) use
//! [`Client`] directly.
//!
//! Layers, each using only the ones above it in this list:
//! - `error`, `config` (settings and per-namespace options), `key`
//!   (canonical arguments, key segments) and `keymemo`, `codec` (envelope,
//!   interop values, encryption), `l1`, `observe` (log events, counters);
//! - `keyspace`: every Redis key and channel name; `inspect`, the read-only
//!   decoder of what is stored under a key (for operators);
//! - `reliability` (error classes, breaker, adaptive timeout,
//!   backpressure, the `Op` enum) and `metrics`;
//! - `backend` (Redis, a host language's callbacks: the only code that
//!   names the `redis` crate), `runtime`, `writebehind`, `flight`;
//! - `engine`: the per-namespace engine and per-process state;
//! - `fill` (the miss path) and `invalidate` (deletes, clears, the subscriber);
//! - `client`: the facade ([`Client`], [`Cache`]), and `admin`, operator
//!   access by full key (the `cachekit` command's: read, delete, SCAN,
//!   pub/sub);
//! - `ffi`: the C ABI, which only converts.
//!
//! `fork`, `host` and `weak_list` are process-level plumbing any layer may use.

mod admin;
mod backend;
mod client;
mod codec;
mod config;
mod engine;
mod error;
pub mod ffi;
mod fill;
mod flight;
mod fork;
mod host;
mod inspect;
mod invalidate;
mod key;
mod keymemo;
mod keyspace;
mod l1;
mod metrics;
mod observe;
mod reliability;
mod runtime;
mod weak_list;
mod writebehind;

pub use backend::foreign::ForeignBackend;
pub use client::{Cache, Client, Pending, Ready};
pub use config::{BackpressureConfig, BreakerConfig, CacheOptions, Config, Format, TimeoutConfig};
pub use error::{Error, Result};
pub use fill::{Fill, Lease};
pub use l1::Bytes;

/// Internals for the project's own tests and benchmarks (protocol vectors,
/// planted entries). Not part of the API: it changes without notice.
#[doc(hidden)]
pub mod internals {
    pub use crate::config::redact;
    pub mod codec {
        pub use crate::codec::*;
    }
    pub mod key {
        pub use crate::key::*;
    }
    /// The names of the keys beside an entry (its fill lock, its waiters'
    /// marker) and of a namespace's generation number (`generation_key(scope,
    /// namespace)`, scope being the key prefix and tenant scope, "" without
    /// them), for tests that look at them in Redis or change them behind the
    /// core's back.
    pub mod keyspace {
        pub use crate::keyspace::{generation_key, lock_key, waiters_key};
    }
    /// What the `cachekit` command-line tool (src/bin/cachekit) uses beside
    /// the Rust API: the read-only decoder of stored bytes, and operator
    /// access to a client's Redis by full key.
    pub mod inspect {
        pub use crate::inspect::*;
    }
    pub use crate::admin::{Admin, ScanPage, Stored, Watch, WatchEvent};
}
