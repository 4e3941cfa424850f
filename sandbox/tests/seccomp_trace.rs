//! Re-derives the seccomp allowlist. The test runs the probe server under `strace -f` with
//! seccomp off and drives workers through the operations a scan performs. Every syscall that a
//! confined worker or one of its threads made after `landlock_restrict_self` must be a row of
//! `seccomp::ALLOWED_SYSCALLS`.
//!
//! Skipped, with a message, when `/usr/bin/strace` is missing. A failure names the syscall to
//! add to the table (with the reason it is needed) or the code path to change.

#![allow(clippy::unwrap_used, clippy::panic, reason = "test harness")]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use skill_scanner_sandbox::Rlimits;
use skill_scanner_sandbox::forkserver::{JobLimits, JobRequest, OutcomeKind, spawn};
use skill_scanner_sandbox::probes::{SAMPLE_FILE, YARA_MARKER};
use skill_scanner_sandbox::seccomp::ALLOWED_SYSCALLS;

const PROBE_SERVER: &str = env!("CARGO_BIN_EXE_sandbox-probe-server");
const STRACE: &str = "/usr/bin/strace";

/// Probes that exercise what workers legitimately do, with the outcome each must reach.
const WORKLOAD: &[(&str, OutcomeKind)] = &[
    ("harmless", OutcomeKind::Ok),
    ("walk_input", OutcomeKind::Ok),
    ("std_fs", OutcomeKind::Ok),
    ("spawn_thread", OutcomeKind::Ok),
    ("yara_scan", OutcomeKind::Ok),
    ("alloc_past_limit", OutcomeKind::OutOfMemory),
    ("write_past_fsize", OutcomeKind::Ok),
    ("stderr_flood", OutcomeKind::Ok),
    ("sleep_forever", OutcomeKind::TimedOut),
    ("spin_cpu", OutcomeKind::TimedOut),
    ("fail", OutcomeKind::Failed),
    ("panic", OutcomeKind::Crashed),
];

#[test]
fn traced_worker_syscalls_are_allowlisted() {
    if !Path::new(STRACE).exists() {
        eprintln!("skipped: {STRACE} is not installed (apt-get install strace)");
        return;
    }
    let trace_dir = tempfile::TempDir::new().unwrap();
    let trace_path = trace_dir.path().join("trace.txt");
    run_workload_under_strace(&trace_path);

    let trace = std::fs::read_to_string(&trace_path).unwrap();
    let observed = confined_syscalls(&trace);
    assert!(
        observed.contains_key("clone"),
        "the trace shows no thread start; is it complete?"
    );

    let allowed: BTreeSet<&str> = ALLOWED_SYSCALLS.iter().map(|row| row.name).collect();
    let missing: Vec<String> = observed
        .iter()
        .filter(|(name, _)| !allowed.contains(name.as_str()))
        .map(|(name, example)| format!("{name}: {example}"))
        .collect();
    assert!(
        missing.is_empty(),
        "syscalls missing from the allowlist:\n{}",
        missing.join("\n")
    );

    let unseen: Vec<&str> = allowed
        .iter()
        .copied()
        .filter(|name| !observed.contains_key(*name))
        .collect();
    eprintln!(
        "allowlist rows not seen in this trace: {}",
        unseen.join(", ")
    );
}

fn run_workload_under_strace(trace_path: &Path) {
    let arguments: Vec<OsString> = [
        "-f",
        "-qq",
        "-o",
        trace_path.to_str().unwrap(),
        PROBE_SERVER,
        "--layers",
        "without-seccomp",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let client = spawn(Path::new(STRACE), &arguments).unwrap();
    assert!(!client.confinement_report().seccomp);

    for (probe, expected) in WORKLOAD {
        let input = tempfile::TempDir::new().unwrap();
        std::fs::write(
            input.path().join(SAMPLE_FILE),
            format!("text {YARA_MARKER} text"),
        )
        .unwrap();
        std::fs::create_dir(input.path().join("nested")).unwrap();
        std::fs::write(input.path().join("nested/inner.txt"), "inner").unwrap();
        let scratch = tempfile::TempDir::new().unwrap();

        let limits = JobLimits {
            deadline: Duration::from_millis(1500),
            max_reply_bytes: 1 << 20,
            rlimits: Rlimits {
                address_space_bytes: 2 << 30,
                cpu_seconds: 1,
                file_size_bytes: 1 << 20,
                open_files: 64,
                ..Rlimits::default()
            },
        };
        let payload = match *probe {
            "std_fs" => {
                format!(
                    "std_fs\n{}\n{}",
                    input.path().display(),
                    scratch.path().display()
                )
            }
            "alloc_past_limit" => format!("alloc_past_limit\n{}", 8u64 << 30),
            "write_past_fsize" => format!("write_past_fsize\n{}", limits.rlimits.file_size_bytes),
            "stderr_flood" => "stderr_flood\n100000".to_owned(),
            other => other.to_owned(),
        };
        let input_fd = File::open(input.path()).unwrap();
        let scratch_fd = File::open(scratch.path()).unwrap();
        let request = JobRequest {
            id: 1,
            input: input_fd.as_fd(),
            scratch: scratch_fd.as_fd(),
            payload: payload.as_bytes(),
            limits,
        };
        let outcome = client.run(&request).unwrap();
        assert_eq!(outcome.kind, *expected, "{probe}: {outcome:?}");
    }
}

/// Returns each syscall name made by a confined worker or its threads, with one example line.
/// A worker counts as confined from its successful `landlock_restrict_self`; threads it starts
/// afterwards count from their first line.
fn confined_syscalls(trace: &str) -> BTreeMap<String, String> {
    let mut confined: BTreeSet<u32> = BTreeSet::new();
    let mut observed = BTreeMap::new();
    for line in trace.lines() {
        let Some((pid, name)) = parse_line(line) else {
            continue;
        };
        if confined.contains(&pid) {
            observed
                .entry(name.to_owned())
                .or_insert_with(|| line.to_owned());
            if (name == "clone" || name == "clone3")
                && let Some(thread) = returned_id(line)
            {
                confined.insert(thread);
            }
        }
        if name == "landlock_restrict_self" && line.trim_end().ends_with("= 0") {
            confined.insert(pid);
        }
    }
    // strace shows the clone3 that glibc tries first; under the filter it fails with ENOSYS
    // and glibc repeats the request with clone.
    if observed.contains_key("clone3") {
        observed
            .entry("clone".to_owned())
            .or_insert_with(|| "(clone3 fallback)".to_owned());
    }
    observed
}

/// Splits `PID name(...` or `PID <... name resumed>...` into pid and syscall name.
fn parse_line(line: &str) -> Option<(u32, &str)> {
    let (pid, rest) = line.split_once(char::is_whitespace)?;
    let pid = pid.parse().ok()?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("<... ").unwrap_or(rest);
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    let name = rest.get(..end)?;
    (!name.is_empty() && name.starts_with(|c: char| c.is_ascii_lowercase())).then_some((pid, name))
}

/// Returns the non-negative return value at the end of a completed syscall line.
fn returned_id(line: &str) -> Option<u32> {
    line.rsplit_once("= ")?.1.trim().parse().ok()
}

#[test]
fn trace_parser_reads_strace_lines() {
    let trace = "\
10 landlock_restrict_self(6, 0)      = 0
10 clone3({flags=CLONE_VM|CLONE_THREAD, ...} <unfinished ...>
10 <... clone3 resumed> => {parent_tid=[11]}, 88) = 11
11 set_robust_list(0x7f, 24) = 0
12 socket(AF_INET, SOCK_STREAM, 0) = 3
10 +++ exited with 0 +++
";
    let observed = confined_syscalls(trace);
    let names: Vec<&str> = observed.keys().map(String::as_str).collect();
    assert_eq!(names, ["clone", "clone3", "set_robust_list"]);
}
