//! The demo: a cached "slow" function called twice. The first call misses
//! and computes; the second is a hit. Runs L1-only unless CACHEKIT_REDIS_URL
//! (or REDIS_URL) is set, in which case the value goes through Redis.
//!
//!     cargo run --example demo
//!     CACHEKIT_REDIS_URL=redis://127.0.0.1:6379 cargo run --example demo

use cachekit::{CacheOptions, Client, Fill};
use std::time::{Duration, Instant};

fn slow_square(n: i64) -> i64 {
    std::thread::sleep(Duration::from_millis(300));
    n * n
}

fn main() -> Result<(), cachekit::Error> {
    let client = Client::from_env(None)?;
    let where_ = match &client.config().redis_url {
        Some(_) => format!("L1 + Redis at {}", client.config().redacted_redis_url().unwrap_or_default()),
        None => "L1 only (set CACHEKIT_REDIS_URL to add Redis)".to_string(),
    };
    println!("cachekit {} demo: {where_}", env!("CARGO_PKG_VERSION"));
    let cache = client.cache("demo", CacheOptions { ttl: Some(60), ..Default::default() })?;

    // Arguments and values are MessagePack, as every language wrapper sends them.
    let mut args = Vec::new();
    rmp::encode::write_array_len(&mut args, 1).unwrap();
    rmp::encode::write_sint(&mut args, 12).unwrap();
    println!("key: {}", cache.key("slow_square", &args)?);

    for attempt in 1..=2 {
        let start = Instant::now();
        let (value, outcome) = match cache.fill("slow_square", &args)? {
            Fill::Hit(bytes) | Fill::Refresh(bytes, _) => (rmp::decode::read_int::<i64, _>(&mut &bytes[..]).unwrap(), "hit"),
            Fill::Lease(lease) => {
                let v = slow_square(12);
                let mut enc = Vec::new();
                rmp::encode::write_sint(&mut enc, v).unwrap();
                lease.complete(&enc, None)?;
                (v, "miss, computed and stored")
            }
        };
        println!("call {attempt}: slow_square(12) = {value} ({outcome}) in {:.3} ms", start.elapsed().as_secs_f64() * 1e3);
    }
    let health = cache.health();
    println!(
        "stats: l1 hits {}, l2 hits {}, fills {}",
        health["l1"]["hits"], health["stats"]["l2_hits"], health["stats"]["fills"]
    );
    // A completed fill's Redis write happens behind the caller: let it land
    // before the process exits.
    client.flush(Duration::from_secs(5));
    Ok(())
}
