//! A real `skill-scanner-api` process on a loopback port, for end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const API_BIN: &str = env!("CARGO_BIN_EXE_skill-scanner-api");

/// A running server, killed when dropped. Its state directory outlives it when the caller
/// owns it, so a test can start a second server on the same state.
pub struct Server {
    child: Child,
    pub port: u16,
    pub state_dir: PathBuf,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

/// Returns a port that was free a moment ago. Another process may take it before the server
/// binds it, so `start_with_env` tries up to three ports.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

impl Server {
    /// Starts the server with `roots` as allowed roots, `state_dir` as state, and extra flags.
    pub fn start(roots: &[&Path], state_dir: &Path, extra: &[&str]) -> Server {
        Self::start_with_env(roots, state_dir, extra, &[])
    }

    /// Starts the server as `start` does, with extra environment variables.
    pub fn start_with_env(
        roots: &[&Path],
        state_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let log_dir = tempfile::tempdir().expect("log directory");
        let log = log_dir.path().join("server.log");
        for _attempt in 0..3 {
            let port = free_port();
            let mut command = Command::new(API_BIN);
            command
                .arg("--port")
                .arg(port.to_string())
                .arg("--state-dir")
                .arg(state_dir)
                .args(extra)
                .env("RUST_LOG", "warn")
                .env_remove("SKILL_SCANNER_ALLOWED_ROOTS")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file"));
            for root in roots {
                command.arg("--allowed-root").arg(root);
            }
            for (name, value) in env {
                command.env(name, value);
            }
            let child = command.spawn().expect("start skill-scanner-api");
            let mut server = Server {
                child,
                port,
                state_dir: state_dir.to_path_buf(),
                log: log.clone(),
                _log_dir: tempfile::tempdir().expect("spare directory"),
            };
            if server.wait_ready(Duration::from_secs(60)) {
                server._log_dir = log_dir;
                return server;
            }
        }
        panic!(
            "skill-scanner-api did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Polls `/health` until it returns 200. Returns false when the server exits or `timeout`
    /// passes first.
    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(response) = reqwest::blocking::get(self.url("/health"))
                && response.status().is_success()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Returns the URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Returns what the server has logged to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server at once, as a crash or `kill -9` would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds a blocking HTTP client with a 120 s timeout.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("HTTP client")
}
