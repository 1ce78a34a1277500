//! A `redis-server` of the test's own on a free loopback port.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

/// A `redis-server` child on a loopback port, without persistence. Killed
/// (after being resumed, if paused) on drop.
pub(crate) struct RedisServer {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server (`$REDIS_SERVER`, else `redis-server` on the `PATH`);
    /// without one the test is reported ignored (or fails under
    /// `KB_SSO_REQUIRE_SERVERS=1`): see [`super::skip_or_fail`].
    pub(crate) fn start(test: &str) -> Self {
        let Some(bin) = find_redis_server() else {
            super::skip_or_fail(test, "redis-server");
        };
        // A free port can be taken between probing and binding: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self {
                bin: bin.clone(),
                port,
                child: None,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("{test}: redis-server did not start on any of 5 free ports");
    }

    /// Spawns the server on `self.port` and waits until it answers PING.
    pub(crate) fn spawn(&mut self) -> bool {
        let mut child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let deadline = Instant::now() + StdDuration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().expect("poll redis-server").is_some() {
                return false;
            }
            if answers_as(self.port, child.id()) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(StdDuration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub(crate) fn pid(&self) -> String {
        self.child.as_ref().expect("server running").id().to_string()
    }

    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub(crate) fn pause(&self) {
        self.signal("-STOP");
    }

    /// Resumes a frozen server (SIGCONT).
    pub(crate) fn resume(&self) {
        self.signal("-CONT");
    }

    /// Kills the server (SIGKILL) and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a fresh server on the same port.
    pub(crate) fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + StdDuration::from_secs(10);
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on port {}",
                self.port
            );
            std::thread::sleep(StdDuration::from_millis(100));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
        }
        self.kill();
    }
}

fn find_redis_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REDIS_SERVER") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
}

/// A free loopback port below the kernel's ephemeral range. Sockets bound to
/// port 0 (other tests' servers, every client connection) are only ever
/// given ephemeral ports, so none of them can take this port while a test
/// restarts its server on it; tests that pick the same random port by
/// chance are caught by [`answers_as`].
fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let low = ephemeral_low().clamp(2048, 65535);
    let span = u64::from(low - 1024);
    for attempt in 0u64..1000 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(attempt);
        h.write_u32(std::process::id());
        let port = 1024 + u16::try_from(h.finish() % span).unwrap();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below {low}");
}

/// The first port of the kernel's ephemeral range (Linux), else IANA's.
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(49152)
}

/// Whether the Redis on `port` answers and is the process `pid` (and not
/// another test's server that took the port).
fn answers_as(port: u16, pid: u32) -> bool {
    let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(StdDuration::from_secs(1)));
    if s.write_all(b"INFO server\r\n").is_err() {
        return false;
    }
    let want = format!("process_id:{pid}\r\n");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while reply.len() < 64 * 1024 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&reply);
        if text.contains(&want) {
            return true;
        }
        if text.contains("process_id:") && text.contains("\r\n\r\n") {
            return false;
        }
    }
    false
}
