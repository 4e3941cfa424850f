//! Normal traffic beside hostile uploads, against a real `skill-scanner-api` on a loopback
//! port: `cargo bench --bench hostile_load`.
//!
//! 1. Baseline: normal clients upload a clean and an unsafe skill for a fixed time.
//! 2. Attack: the same normal clients, plus 32 clients that upload every case of the
//!    adversarial suite (`tests/common/hostile_skills.rs`) over and over.
//!
//! Prints the normal p50 and p99 latency of each phase, the hostile responses per second, the
//! responses that differed from the expected ones, and the server's peak resident memory
//! (VmHWM) before and after the attack. Only the server process is measured; the scanning
//! workers are separate processes under their own memory limit.
//!
//! Settings come from the environment: `BENCH_SECONDS` per phase (default 20),
//! `BENCH_NORMAL_CLIENTS` (default 2), `BENCH_HOSTILE_CLIENTS` (default 32).

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    reason = "benchmark harness"
)]

#[path = "../tests/common/hostile_skills.rs"]
#[allow(dead_code)]
mod hostile_skills;
#[path = "../tests/common/hostile_zip.rs"]
#[allow(dead_code)]
mod hostile_zip;
#[path = "../tests/common/server.rs"]
#[allow(dead_code)]
mod server;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hostile_skills::Case;
use reqwest::blocking::multipart::{Form, Part};
use serde_json::Value;
use server::Server;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Reads a `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

/// Uploads one case and returns what differs from its expected response, empty when it
/// matches.
fn upload(client: &reqwest::blocking::Client, url: &str, case: &Case) -> Vec<String> {
    let form = Form::new().part(
        "file",
        Part::bytes(case.bytes.clone()).file_name("upload.zip"),
    );
    let response = match client.post(url).multipart(form).send() {
        Ok(response) => response,
        Err(error) => return vec![format!("{}: no response: {error}", case.name)],
    };
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap_or(Value::Null);
    case.expected
        .problems(status, &body)
        .into_iter()
        .map(|problem| format!("{}: {problem}", case.name))
        .collect()
}

fn percentile_ms(sorted: &[Duration], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// The measurements of one phase.
#[derive(Default)]
struct Phase {
    normal_latencies: Vec<Duration>,
    hostile_responses: usize,
    problems: Vec<String>,
    elapsed: Duration,
}

/// Runs the normal clients, and the hostile ones when `hostile_clients` is not zero, for
/// `seconds`.
fn run_phase(
    url: &str,
    normal: &Arc<Vec<Case>>,
    hostile: &Arc<Vec<Case>>,
    normal_clients: usize,
    hostile_clients: usize,
    seconds: u64,
) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(Mutex::new(Phase::default()));
    let started = Instant::now();

    let mut threads = Vec::new();
    for index in 0..normal_clients {
        let (stop, phase, normal, url) = (
            Arc::clone(&stop),
            Arc::clone(&phase),
            Arc::clone(normal),
            url.to_string(),
        );
        threads.push(std::thread::spawn(move || {
            let client = client();
            let mut next = index;
            while !stop.load(Ordering::Relaxed) {
                let case = &normal[next % normal.len()];
                next += 1;
                let sent = Instant::now();
                let problems = upload(&client, &url, case);
                let latency = sent.elapsed();
                let mut phase = phase.lock().unwrap();
                if problems.is_empty() {
                    phase.normal_latencies.push(latency);
                }
                phase.problems.extend(problems);
            }
        }));
    }
    for index in 0..hostile_clients {
        let (stop, phase, hostile, url) = (
            Arc::clone(&stop),
            Arc::clone(&phase),
            Arc::clone(hostile),
            url.to_string(),
        );
        threads.push(std::thread::spawn(move || {
            let client = client();
            // Each client starts at another case, so the cases run side by side.
            let mut next = index * hostile.len() / hostile_clients.max(1);
            while !stop.load(Ordering::Relaxed) {
                let case = &hostile[next % hostile.len()];
                next += 1;
                let problems = upload(&client, &url, case);
                let mut phase = phase.lock().unwrap();
                phase.hostile_responses += 1;
                phase.problems.extend(problems);
            }
        }));
    }

    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    let mut phase = std::mem::take(&mut *phase.lock().unwrap());
    phase.elapsed = started.elapsed();
    phase.normal_latencies.sort();
    phase
}

fn print_row(name: &str, phase: &Phase) {
    let seconds = phase.elapsed.as_secs_f64();
    println!(
        "| {name} | {} | {:.1} ms | {:.1} ms | {} | {:.1} | {} |",
        phase.normal_latencies.len(),
        percentile_ms(&phase.normal_latencies, 0.5),
        percentile_ms(&phase.normal_latencies, 0.99),
        phase.hostile_responses,
        phase.hostile_responses as f64 / seconds,
        phase.problems.len(),
    );
}

/// Counts the files left in the spool directory and the job scratch directories left in
/// `temp`.
fn leftovers(spool: &Path, temp: &Path) -> usize {
    let count = |dir: &Path| {
        std::fs::read_dir(dir)
            .map(|entries| entries.flatten().count())
            .unwrap_or(0)
    };
    let scratch: usize = std::fs::read_dir(temp)
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| {
                    entry
                        .file_name()
                        .to_string_lossy()
                        .starts_with("skill-scanner-")
                })
                .map(|entry| count(&entry.path()))
                .sum()
        })
        .unwrap_or(0);
    count(spool) + scratch
}

fn main() {
    let seconds = env_number("BENCH_SECONDS", 20);
    let normal_clients = env_number("BENCH_NORMAL_CLIENTS", 2) as usize;
    let hostile_clients = env_number("BENCH_HOSTILE_CLIENTS", 32) as usize;

    let normal = Arc::new(hostile_skills::normal_skills());
    let hostile = Arc::new(hostile_skills::cases());
    let state = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        &[],
        state.path(),
        &[],
        &[
            ("TMPDIR", temp.path().to_str().unwrap()),
            // Requests wait for a worker instead of getting 503, so every upload is scanned and
            // the normal latencies include the wait.
            ("SKILL_SCANNER_QUEUE_TIMEOUT_SECONDS", "600"),
        ],
    );
    let url = server.url("/scan-upload");
    let pid = server.pid();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "server pid {pid}, {cores} cores, {} hostile cases, {} normal skills, {seconds} s per phase",
        hostile.len(),
        normal.len()
    );

    // One pass over the normal skills, so the first latencies do not include the start.
    let warm_up = client();
    for case in normal.iter() {
        let problems = upload(&warm_up, &url, case);
        assert!(problems.is_empty(), "{problems:?}");
    }

    println!("\n## Normal traffic with and without the attack\n");
    println!(
        "| phase | normal scans | normal p50 | normal p99 | hostile responses | hostile/s | unexpected responses |"
    );
    println!("|---|---|---|---|---|---|---|");
    let baseline = run_phase(&url, &normal, &hostile, normal_clients, 0, seconds);
    print_row(&format!("{normal_clients} normal clients"), &baseline);
    let peak_before = status_kib(pid, "VmHWM:");
    let attack = run_phase(
        &url,
        &normal,
        &hostile,
        normal_clients,
        hostile_clients,
        seconds,
    );
    print_row(
        &format!("{normal_clients} normal + {hostile_clients} hostile clients"),
        &attack,
    );
    let peak_after = status_kib(pid, "VmHWM:");

    println!(
        "\nserver peak resident memory (VmHWM): {peak_before} KiB before the attack, {peak_after} KiB after"
    );
    let spool = state.path().join(format!("spool/{pid}"));
    println!(
        "files left in the spool and scratch directories: {}",
        leftovers(&spool, temp.path())
    );
    let health = client()
        .get(server.url("/health"))
        .send()
        .map(|response| response.status().as_u16())
        .unwrap_or(0);
    println!("/health after the attack: {health}");
    for problem in baseline.problems.iter().chain(&attack.problems).take(20) {
        println!("unexpected: {problem}");
    }
}
