//! cachekit: one caching engine for C, Python, PHP, Node.js and Go.
//!
//! The core owns everything that is hard: the in-process L1, the Redis
//! connection, the key and value format of the cachekit protocol
//! (MessagePack, LZ4, xxHash3-64, AES-256-GCM with HKDF keys) and the miss
//! path. Language wrappers use it through the C ABI in [`ffi`]
//! (`include/cachekit.h`); Rust programs use [`Client`] directly.

pub mod backend;
pub mod client;
pub mod codec;
pub mod config;
pub mod error;
pub mod ffi;
pub mod fill;
pub mod fork;
mod host;
pub mod invalidate;
pub mod key;
pub mod keymemo;
pub mod l1;
pub mod metrics;
pub mod observe;
pub mod reliability;
mod weak_list;

pub use client::{Cache, CacheOptions, Client, Format};
pub use fill::{Fill, Lease};
pub use config::Config;
pub use error::{Error, Result};
