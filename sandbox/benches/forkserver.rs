//! Per-job cost of the fork server: a trivial job (`echo`) through `ForkServerClient::run`,
//! run one after another with every confinement layer, without seccomp, and with none.
//!
//! Run with `cargo bench -p skill-scanner-sandbox --bench forkserver [-- JOBS]` (default 2000
//! jobs per mode, after 100 warm-up jobs). It prints the median, p99 and mean of the
//! client-side latency (request sent to outcome returned) and of the worker's lifetime as the
//! fork server measures it (fork to reap).

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmark harness"
)]

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use skill_scanner_sandbox::forkserver::{JobLimits, JobRequest, OutcomeKind, spawn};

const PROBE_SERVER: &str = env!("CARGO_BIN_EXE_sandbox-probe-server");
const DEFAULT_JOBS: usize = 2000;
const WARM_UP_JOBS: usize = 100;

struct Samples {
    client: Vec<Duration>,
    worker: Vec<Duration>,
}

fn main() {
    let jobs = std::env::args()
        .skip(1)
        .find_map(|argument| argument.parse::<usize>().ok())
        .unwrap_or(DEFAULT_JOBS);
    let input = tempfile::TempDir::new().expect("create the input directory");
    let scratch = tempfile::TempDir::new().expect("create the scratch directory");
    let input = File::open(input.path()).expect("open the input directory");
    let scratch = File::open(scratch.path()).expect("open the scratch directory");

    println!("{jobs} trivial jobs per mode, run one at a time\n");
    println!(
        "{:<18} {:>12} {:>12} {:>12}",
        "mode", "median", "p99", "mean"
    );
    let mut medians = Vec::new();
    for (mode, layers) in [
        ("confined", "all"),
        ("no seccomp", "without-seccomp"),
        ("unconfined", "none"),
    ] {
        let samples = measure(layers, jobs, &input, &scratch);
        let client = Summary::of(samples.client);
        let worker = Summary::of(samples.worker);
        println!(
            "{:<18} {:>12} {:>12} {:>12}",
            format!("{mode} client"),
            micros(client.median),
            micros(client.p99),
            micros(client.mean)
        );
        println!(
            "{:<18} {:>12} {:>12} {:>12}",
            format!("{mode} worker"),
            micros(worker.median),
            micros(worker.p99),
            micros(worker.mean)
        );
        medians.push(client.median);
    }
    if let [confined, _, unconfined] = medians[..] {
        let added = confined.as_secs_f64() - unconfined.as_secs_f64();
        println!(
            "\nconfinement adds {:.1} µs to the median client latency",
            added * 1e6
        );
    }
}

fn measure(layers: &str, jobs: usize, input: &File, scratch: &File) -> Samples {
    let arguments = [OsString::from("--layers"), OsString::from(layers)];
    let client = spawn(Path::new(PROBE_SERVER), &arguments).expect("start the probe server");
    let limits = JobLimits {
        deadline: Duration::from_secs(10),
        ..JobLimits::default()
    };
    let mut samples = Samples {
        client: Vec::with_capacity(jobs),
        worker: Vec::with_capacity(jobs),
    };
    for index in 0..WARM_UP_JOBS + jobs {
        let request = JobRequest {
            id: index as u64,
            input: input.as_fd(),
            scratch: scratch.as_fd(),
            payload: b"echo\nx",
            limits,
        };
        let started = Instant::now();
        let outcome = client.run(&request).expect("run a trivial job");
        let latency = started.elapsed();
        assert_eq!(outcome.kind, OutcomeKind::Ok, "{outcome:?}");
        if index >= WARM_UP_JOBS {
            samples.client.push(latency);
            samples.worker.push(outcome.elapsed);
        }
    }
    samples
}

struct Summary {
    median: Duration,
    p99: Duration,
    mean: Duration,
}

impl Summary {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |quantile: f64| samples[((samples.len() - 1) as f64 * quantile).round() as usize];
        let total: Duration = samples.iter().sum();
        Self {
            median: at(0.5),
            p99: at(0.99),
            mean: total / samples.len() as u32,
        }
    }
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}
