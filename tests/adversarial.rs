//! The adversarial suite: every hostile upload of `common::hostile_skills` goes to one real
//! `skill-scanner-api` through `POST /scan-upload` and must get its expected response, never a
//! 500, never a safe verdict for content the scan skipped, never a message that shows a
//! server path or raw control characters. A second test sends the same uploads 32 at a time
//! beside normal traffic.
//!
//! Each server gets its own state and temporary directories, so the tests can check that no
//! spool file or job scratch directory outlives its request.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    reason = "test harness"
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::hostile_skills::{self, Case};
use common::server::Server;
use reqwest::blocking::multipart::{Form, Part};
use serde_json::Value;

/// The server's wall-clock limit per scan. The client waits this long plus time for
/// extraction and the queue, so an upload that hangs fails the test instead of stalling it.
const SCAN_TIMEOUT_SECONDS: u64 = 60;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(SCAN_TIMEOUT_SECONDS + 60);
const HOSTILE_CLIENTS: usize = 32;
const NORMAL_CLIENTS: usize = 2;

/// A server with private state and temporary directories.
struct Isolated {
    server: Server,
    state: tempfile::TempDir,
    temp: tempfile::TempDir,
}

impl Isolated {
    fn start() -> Isolated {
        let state = tempfile::tempdir().unwrap();
        let temp = tempfile::tempdir().unwrap();
        let scan_timeout = SCAN_TIMEOUT_SECONDS.to_string();
        let server = Server::start_with_env(
            &[],
            state.path(),
            &[],
            &[
                ("TMPDIR", temp.path().to_str().unwrap()),
                ("SKILL_SCANNER_SCAN_TIMEOUT_SECONDS", &scan_timeout),
                // The machine may be busy: a request waits for a worker rather than getting
                // 503, so every response comes from the scan.
                ("SKILL_SCANNER_QUEUE_TIMEOUT_SECONDS", "600"),
            ],
        );
        Isolated {
            server,
            state,
            temp,
        }
    }

    fn spool_dir(&self) -> PathBuf {
        self.state
            .path()
            .join(format!("spool/{}", self.server.pid()))
    }

    /// Files left in the spool and job scratch directories left in the temporary directory.
    fn leftovers(&self) -> Vec<PathBuf> {
        let mut left: Vec<PathBuf> = std::fs::read_dir(self.spool_dir())
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .collect();
        for scratch_root in children(self.temp.path()) {
            let is_root = scratch_root
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("skill-scanner-"));
            if is_root {
                left.extend(children(&scratch_root));
            }
        }
        left
    }

    /// Text that must not appear in a response: where the server keeps its files.
    fn private_paths(&self) -> Vec<String> {
        vec![
            self.state.path().display().to_string(),
            self.temp.path().display().to_string(),
            String::from("/tmp/"),
            String::from(env!("CARGO_MANIFEST_DIR")),
        ]
    }

    fn health(&self) -> u16 {
        client()
            .get(self.server.url("/health"))
            .send()
            .map(|response| response.status().as_u16())
            .unwrap_or(0)
    }

    /// Reads the server's peak resident memory in KiB from `/proc/PID/status`.
    fn peak_memory_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.server.pid()))
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

fn children(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

/// Uploads one case and returns the status and JSON body, or why there was no response.
fn upload(
    client: &reqwest::blocking::Client,
    url: &str,
    case: &Case,
) -> Result<(u16, Value), String> {
    let form = Form::new().part(
        "file",
        Part::bytes(case.bytes.clone()).file_name("upload.zip"),
    );
    let response = client
        .post(url)
        .multipart(form)
        .send()
        .map_err(|error| format!("no response: {error}"))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .map_err(|error| format!("unreadable response: {error}"))?;
    let body = serde_json::from_str(&text)
        .map_err(|_| format!("status {status} with a body that is not JSON: {text:.200}"))?;
    Ok((status, body))
}

/// Lists everything wrong with one response: the expectation first, then what no response
/// may contain.
fn problems(
    case: &Case,
    response: Result<(u16, Value), String>,
    private: &[String],
) -> Vec<String> {
    let (status, body) = match response {
        Ok(response) => response,
        Err(problem) => return vec![format!("{}: {problem}", case.name)],
    };
    let mut found = case.expected.problems(status, &body);
    if status >= 500 {
        found.push(format!("server error {status}: {body}"));
    }
    let text = body.to_string();
    for path in private {
        if text.contains(path.as_str()) {
            found.push(format!("the response shows the server path {path}"));
        }
    }
    if let Some(detail) = body["detail"].as_str()
        && detail.chars().any(char::is_control)
    {
        found.push(format!(
            "the message carries raw control characters: {detail:?}"
        ));
    }
    found
        .into_iter()
        .map(|problem| format!("{}: {problem}", case.name))
        .collect()
}

#[test]
fn hostile_uploads_get_expected_responses() {
    let cases = hostile_skills::cases();
    let isolated = Isolated::start();
    let url = isolated.server.url("/scan-upload");
    let private = isolated.private_paths();
    let client = client();

    let mut failures = Vec::new();
    for case in &cases {
        let started = Instant::now();
        let response = upload(&client, &url, case);
        eprintln!("{:>6} ms  {}", started.elapsed().as_millis(), case.name);
        failures.extend(problems(case, response, &private));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(isolated.leftovers(), Vec::<PathBuf>::new());
    assert_eq!(isolated.health(), 200);
}

#[test]
fn hostile_load_beside_normal_traffic() {
    let cases = Arc::new(hostile_skills::cases());
    let normal = Arc::new(hostile_skills::normal_skills());
    let isolated = Isolated::start();
    let url = isolated.server.url("/scan-upload");
    let private = Arc::new(isolated.private_paths());
    let memory_before = isolated.peak_memory_kib();

    let failures = Arc::new(Mutex::new(Vec::new()));
    let attack_over = Arc::new(AtomicBool::new(false));
    let normal_responses = Arc::new(AtomicUsize::new(0));
    // The normal clients and the hostile ones start together.
    let start = Arc::new(Barrier::new(HOSTILE_CLIENTS + NORMAL_CLIENTS));

    let normal_threads: Vec<_> = (0..NORMAL_CLIENTS)
        .map(|index| {
            let (normal, url, private, failures, attack_over, responses, start) = (
                Arc::clone(&normal),
                url.clone(),
                Arc::clone(&private),
                Arc::clone(&failures),
                Arc::clone(&attack_over),
                Arc::clone(&normal_responses),
                Arc::clone(&start),
            );
            std::thread::spawn(move || {
                let client = client();
                start.wait();
                let mut next = index;
                // At least one request each, then until the attack ends.
                loop {
                    let case = &normal[next % normal.len()];
                    next += 1;
                    let found = problems(case, upload(&client, &url, case), &private);
                    failures.lock().unwrap().extend(found);
                    responses.fetch_add(1, Ordering::Relaxed);
                    if attack_over.load(Ordering::Relaxed) {
                        break;
                    }
                }
            })
        })
        .collect();

    let hostile_threads: Vec<_> = (0..HOSTILE_CLIENTS)
        .map(|index| {
            let (cases, url, private, failures, start) = (
                Arc::clone(&cases),
                url.clone(),
                Arc::clone(&private),
                Arc::clone(&failures),
                Arc::clone(&start),
            );
            std::thread::spawn(move || {
                let client = client();
                start.wait();
                // Every case once, spread over the clients.
                for case in cases.iter().skip(index).step_by(HOSTILE_CLIENTS) {
                    let found = problems(case, upload(&client, &url, case), &private);
                    failures.lock().unwrap().extend(found);
                }
            })
        })
        .collect();

    for thread in hostile_threads {
        thread.join().unwrap();
    }
    attack_over.store(true, Ordering::Relaxed);
    for thread in normal_threads {
        thread.join().unwrap();
    }

    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} responses were wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(normal_responses.load(Ordering::Relaxed) >= NORMAL_CLIENTS);
    assert_eq!(isolated.leftovers(), Vec::<PathBuf>::new());
    assert_eq!(isolated.health(), 200);
    eprintln!(
        "server peak resident memory: {memory_before} KiB before, {} KiB after",
        isolated.peak_memory_kib()
    );
}
