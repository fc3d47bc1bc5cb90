//! A throwaway `redis-server` on a free loopback port, for tests and
//! benchmarks. Shared by `tests/*.rs` and `bench/*.rs` with `#[path]`.
//!
//! The server runs without persistence in its own temporary directory and is
//! killed when the value is dropped. Fault tests stop, pause (SIGSTOP) and
//! restart it on the same port.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
    extra: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn redis_server_binary() -> String {
    std::env::var("CACHEKIT_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

impl RedisServer {
    /// Start a server; panics with a clear message when redis-server is missing.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// Start a server with extra `redis-server` arguments (e.g. `--requirepass x`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("cachekit-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = RedisServer { port, child: None, dir, extra: extra.iter().map(|s| s.to_string()).collect() };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(redis_server_binary());
        cmd.arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start redis-server ({e}); install it (ci/test.sh does: apt-get install redis-server)")
        });
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 64];
                    if let Ok(n) = s.read(&mut buf) {
                        // +PONG, or -NOAUTH when a password is required: both mean up.
                        if n > 0 && (buf[0] == b'+' || buf[0] == b'-') {
                            return;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not come up", self.port);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// Kill the server (SIGKILL) and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Freeze the server process (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        if let Some(pid) = self.pid() {
            Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap();
        }
    }

    pub fn resume(&self) {
        if let Some(pid) = self.pid() {
            Command::new("kill").args(["-CONT", &pid.to_string()]).status().unwrap();
        }
    }

    /// A plain synchronous connection for inspecting or corrupting entries.
    pub fn raw(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.resume();
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
