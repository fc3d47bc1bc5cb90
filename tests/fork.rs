//! A process that forks after using the client (gunicorn --preload,
//! php-fpm, multiprocessing) has a working client in the child, with fresh
//! connections and runtime and an empty L1; the parent is unaffected.

#[path = "support/redis_server.rs"]
mod redis_server;

use cachekit::{CacheOptions, Client, Config};
use redis_server::RedisServer;

fn args(x: i64) -> Vec<u8> {
    let mut v = vec![0x91];
    rmp::encode::write_sint(&mut v, x).unwrap();
    v
}

#[test]
fn a_forked_child_gets_a_working_client_with_an_empty_l1() {
    let redis = RedisServer::start();
    let json = format!(r#"{{"redis_url": "{}"}}"#, redis.url());
    let client = Client::new(Config::load_with(Some(&json), |_| None).unwrap()).unwrap();
    let cache = client.cache("forked", CacheOptions::default()).unwrap();
    cache.set("op", &args(1), &[0x01], None).unwrap();
    assert!(cache.get("op", &args(1)).unwrap().is_some());
    assert_eq!(cache.health()["l1"]["entries"], 1);

    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // Child: report through the exit code; never unwind into the test harness.
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let h = cache.health();
            if h["l1"]["entries"] != 0 {
                return 10; // inherited L1 must not be served
            }
            if h["fork_generation"] == 0 {
                return 11;
            }
            match cache.get("op", &args(1)) {
                Ok(Some(v)) if *v == [0x01][..] => {}
                _ => return 12, // read through a fresh connection
            }
            if cache.set("op", &args(2), &[0x02], None).is_err() {
                return 13;
            }
            if cache.check_health()["system"]["status"] != "healthy" {
                return 14;
            }
            0
        }))
        .unwrap_or(99);
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "child did not exit normally");
    assert_eq!(libc::WEXITSTATUS(status), 0, "child check failed with code {}", libc::WEXITSTATUS(status));
    // The parent keeps its L1 and its connections.
    assert_eq!(cache.health()["l1"]["entries"], 1);
    assert_eq!(&*cache.get("op", &args(2)).unwrap().unwrap(), &[0x02][..], "the child's write reached Redis");
    assert_eq!(cache.check_health()["system"]["status"], "healthy");
}
