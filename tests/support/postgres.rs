//! A PostgreSQL server of the test binary's own: `initdb` into a temporary
//! directory, `postgres` on a free loopback port with trust
//! authentication, shared by the tests of one binary and stopped when the
//! last of them lets go of it. Each test gets a database of its own.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration as StdDuration, Instant};

use super::store_contract::TempDir;

/// A running server. Stopped (and its directory removed) on drop.
pub(crate) struct PostgresServer {
    port: u16,
    child: Child,
    // Dropped after the child is stopped.
    _dir: TempDir,
}

impl PostgresServer {
    /// The server shared by this test binary, started by the first test
    /// that asks. Without PostgreSQL installed the test is reported ignored
    /// (or fails under `KB_SSO_REQUIRE_SERVERS=1`): see
    /// [`super::skip_or_fail`].
    pub(crate) fn shared(test: &str) -> Arc<Self> {
        static SHARED: Mutex<Weak<PostgresServer>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(server) = shared.upgrade() {
            return server;
        }
        let Some(bin) = find_bin_dir() else {
            super::skip_or_fail(test, "postgres (initdb, postgres)");
        };
        let server = Arc::new(Self::start(&bin));
        *shared = Arc::downgrade(&server);
        server
    }

    fn start(bin: &Path) -> Self {
        let dir = TempDir::new("postgres");
        let data = dir.path().join("data");
        let user = run_as();
        if let Some(user) = user {
            chown(dir.path(), user);
        }
        let status = command(bin.join("initdb"), user)
            .args([
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .expect("run initdb");
        assert!(status.success(), "initdb failed");
        for _ in 0..5 {
            let port = free_port();
            let mut child = command(bin.join("postgres"), user)
                .args(["-D", &data.to_string_lossy()])
                .args(["-k", &dir.path().to_string_lossy()])
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .args(["-F", "-c", "max_connections=100"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn postgres");
            let deadline = Instant::now() + StdDuration::from_secs(30);
            while Instant::now() < deadline {
                if child.try_wait().expect("poll postgres").is_some() {
                    break;
                }
                if std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    return Self { port, child, _dir: dir };
                }
                std::thread::sleep(StdDuration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("postgres did not start on any of 5 free ports");
    }

    /// The URL of database `name`.
    pub(crate) fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A new, empty database for one test, and its URL. Retries while the
    /// server is still starting up.
    pub(crate) async fn database(&self, name: &str) -> String {
        use sqlx::Connection;
        let deadline = Instant::now() + StdDuration::from_secs(30);
        let mut admin = loop {
            match sqlx::PgConnection::connect(&self.url("postgres")).await {
                Ok(conn) => break conn,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(StdDuration::from_millis(100)).await;
                }
                Err(e) => panic!("postgres does not answer: {e}"),
            }
        };
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test's database");
        admin.close().await.expect("close");
        self.url(name)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // SIGINT: fast shutdown, then reap. (`kill` as a command: the
        // server may run as another user, which root may signal.)
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + StdDuration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(StdDuration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The directory holding `initdb` and `postgres`: `$PG_BIN`, the `PATH`,
/// `/usr/local/bin`, or Debian's `/usr/lib/postgresql/<version>/bin`
/// (newest first).
fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|d| has_both(d));
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/local/bin"));
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|r| r.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    debian.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.extend(debian.into_iter().rev());
    dirs.into_iter().find(|d| has_both(d))
}

/// PostgreSQL refuses to run as root: as root, the server runs as the
/// `postgres` user (or `nobody`): its user and group ids.
fn run_as() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let out = Command::new("id").args(args).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id(&["-u"])? != 0 {
        return None;
    }
    ["postgres", "nobody"]
        .into_iter()
        .find_map(|user| Some((id(&["-u", user])?, id(&["-g", user])?)))
}

/// `program`, run as `user` when given (exec'd directly, so that the
/// child is the server itself and signals reach it).
fn command(program: PathBuf, user: Option<(u32, u32)>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(program);
    if let Some((uid, gid)) = user {
        c.uid(uid).gid(gid);
    }
    c
}

fn chown(dir: &Path, (uid, gid): (u32, u32)) {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).expect("chown the server's directory");
}

/// A free loopback port (probed by binding it).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
