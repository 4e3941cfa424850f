//! Load and intake benchmark of `skill-scanner-api`, run against a real server on a loopback
//! port: `cargo bench --bench api_load`.
//!
//! 1. Hostile archives: a 1 GiB-of-zeros entry, 100,000 entries, overlapping entries and a
//!    lying size header, each timed, with the server's peak resident memory afterwards.
//! 2. Load: client threads upload the corpus skills as ZIP files for a fixed time. It reports
//!    scans per second, p50 and p99 latency, and the client's own CPU use.
//!
//! Settings come from the environment: `BENCH_SECONDS` (default 20), `BENCH_CLIENTS`
//! (default 8), `BENCH_CORPUS` (default `../shared/corpus`).

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    reason = "benchmark harness"
)]

#[path = "../tests/common/hostile_zip.rs"]
#[allow(dead_code)]
mod hostile_zip;
#[path = "../tests/common/server.rs"]
#[allow(dead_code)]
mod server;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hostile_zip::{Offset, ZipArchive, ZipEntry, deflate_zeros, zip_folder};
use reqwest::blocking::multipart::{Form, Part};
use server::Server;

const SKILL_MD: &str =
    "---\nname: bench\ndescription: Adds two numbers for the user.\n---\n# Usage\n\nAdd them.\n";

/// Reads a number from the environment variable `name`, or returns `default`.
fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Zips each skill of the corpus's `benign` and `labeled` groups, sorted by file name.
fn corpus_archives(corpus: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archives = Vec::new();
    for group in ["benign", "labeled"] {
        let Ok(entries) = std::fs::read_dir(corpus.join(group)) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().join("SKILL.md").is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                archives.push((
                    format!("{name}.zip"),
                    zip_folder(&entry.path(), &format!("{name}/")),
                ));
            }
        }
    }
    archives.sort();
    archives
}

/// Uploads one archive and returns the status, or 0 when the request failed.
fn upload(client: &reqwest::blocking::Client, url: &str, name: &str, bytes: Vec<u8>) -> u16 {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_string()));
    client
        .post(url)
        .multipart(form)
        .send()
        .map(|response| response.status().as_u16())
        .unwrap_or(0)
}

/// Reads a `/proc/PID/status` field, in KiB. Returns 0 when it cannot be read.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Returns the CPU time this process used, user plus system. `/proc/self/stat` counts in
/// clock ticks of `USER_HZ`, which is 100 on Linux x86-64 and arm64.
fn own_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Builds the hostile archives of the first table, each with a label.
fn hostile_archives() -> Vec<(&'static str, Vec<u8>)> {
    let manifest = || ZipEntry::file("SKILL.md", SKILL_MD.as_bytes());
    let (zeros, crc) = deflate_zeros(1 << 30);
    let zeros_bomb = ZipArchive::new(vec![
        manifest(),
        ZipEntry::precompressed(b"zeros.txt", 8, zeros.clone(), crc, 1 << 30),
    ])
    .to_bytes();

    let mut many = vec![manifest()];
    many.extend((0..100_000).map(|index| ZipEntry::stored(&format!("f/{index}"), b"")));
    let many_entries = ZipArchive::new(many).to_bytes();

    let mut shared = ZipEntry::file("b.txt", &vec![b'a'; 100_000]);
    shared.write_local = false;
    shared.offset = Offset::SameAs(1);
    let overlapping = ZipArchive::new(vec![
        manifest(),
        ZipEntry::file("a.txt", &vec![b'a'; 100_000]),
        shared,
    ])
    .to_bytes();

    let liar = ZipArchive::new(vec![
        manifest(),
        ZipEntry::precompressed(b"small.txt", 8, zeros, crc, 1000),
    ])
    .to_bytes();
    vec![
        ("1 GiB of zeros in one entry", zeros_bomb),
        ("100,000 entries", many_entries),
        ("overlapping entries", overlapping),
        ("lying size header", liar),
    ]
}

/// Returns the element of `sorted` at `fraction` (0 to 1) of its length, at the nearest index.
fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let seconds = env_number("BENCH_SECONDS", 20);
    let clients = env_number("BENCH_CLIENTS", 8) as usize;
    let corpus = std::env::var_os("BENCH_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
        PathBuf::from,
    );
    let archives = Arc::new(corpus_archives(&corpus));
    assert!(
        !archives.is_empty(),
        "no skills found in {}",
        corpus.display()
    );

    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&[], state.path(), &[]);
    let url = server.url("/scan-upload");
    let client = server::client();
    let pid = server.pid();
    println!(
        "server pid {pid}, resident after start: {} KiB",
        status_kib(pid, "VmRSS:")
    );

    println!("\n## Hostile archives\n");
    println!("| archive | size | status | time |");
    println!("|---|---|---|---|");
    for (name, bytes) in hostile_archives() {
        let size = bytes.len();
        let started = Instant::now();
        let status = upload(&client, &url, "hostile.zip", bytes);
        println!(
            "| {name} | {size} B | {status} | {:.0} ms |",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    println!(
        "\nserver peak resident memory (VmHWM): {} KiB",
        status_kib(pid, "VmHWM:")
    );

    // Warm-up: one pass over the corpus.
    for (name, bytes) in archives.iter() {
        assert_eq!(upload(&client, &url, name, bytes.clone()), 200, "{name}");
    }

    println!(
        "\n## Load: {clients} clients, {seconds} s, {} corpus skills\n",
        archives.len()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(0u64));
    let cpu_before = own_cpu();
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|index| {
            let (stop, latencies, failures, archives, url) = (
                Arc::clone(&stop),
                Arc::clone(&latencies),
                Arc::clone(&failures),
                Arc::clone(&archives),
                url.clone(),
            );
            std::thread::spawn(move || {
                let client = server::client();
                let mut next = index;
                let mut own = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let (name, bytes) = &archives[next % archives.len()];
                    next += clients;
                    let sent = Instant::now();
                    if upload(&client, &url, name, bytes.clone()) == 200 {
                        own.push(sent.elapsed());
                    } else {
                        *failures.lock().unwrap() += 1;
                    }
                }
                latencies.lock().unwrap().extend(own);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    let elapsed = started.elapsed();
    let client_cpu = own_cpu().saturating_sub(cpu_before);
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort();
    let done = latencies.len();
    println!("| scans | failed | scans/s | p50 | p99 | client CPU |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {done} | {} | {:.1} | {:.1} ms | {:.1} ms | {:.1} s ({:.0}% of one core) |",
        failures.lock().unwrap(),
        done as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        client_cpu.as_secs_f64(),
        client_cpu.as_secs_f64() / elapsed.as_secs_f64() * 100.0,
    );
    println!(
        "\nserver peak resident memory (VmHWM): {} KiB",
        status_kib(pid, "VmHWM:")
    );
}
