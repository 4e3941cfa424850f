//! Escape tests through the product's own job path: a real `skill-scanner-api` server, built
//! with the `test-probes` feature, scans skill folders whose `PROBE` file names a forbidden
//! operation. The probe runs inside the worker's scan, exactly where hostile skill content
//! would be handled. Each attempt must be denied or killed, and the request must get a result
//! that reports it, never a clean verdict. The server must keep serving.
//!
//! Run with `cargo test --features test-probes --test escape_server`.

#![cfg(feature = "test-probes")]
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    reason = "test harness"
)]

mod common;

use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::server::{Server, client};
use serde_json::{Value, json};

/// One server for every probe: the escape attempts must not stop it from serving.
struct Lab {
    _dir: tempfile::TempDir,
    root: PathBuf,
    _state: tempfile::TempDir,
    server: Server,
    next: std::sync::atomic::AtomicUsize,
}

/// `worker_file_size_bytes` of the test server, 1 MiB.
const FILE_SIZE_LIMIT: u64 = 1 << 20;

impl Lab {
    fn new() -> Lab {
        Lab::with_env(&[])
    }

    fn with_env(extra: &[(&str, &str)]) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let state = tempfile::tempdir().unwrap();
        let file_size = FILE_SIZE_LIMIT.to_string();
        let mut env = vec![
            ("SKILL_SCANNER_SCAN_TIMEOUT_SECONDS", "5"),
            ("SKILL_SCANNER_WORKER_CPU_SECONDS", "2"),
            ("SKILL_SCANNER_WORKER_FILE_SIZE_BYTES", file_size.as_str()),
        ];
        env.extend_from_slice(extra);
        let server = Server::start_with_env(&[&root], state.path(), &[], &env);
        Lab {
            _dir: dir,
            root,
            _state: state,
            server,
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Creates a skill folder whose worker runs `probe` during its scan.
    fn skill(&self, probe: &str) -> PathBuf {
        let index = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let skill = self.root.join(format!("skill-{index}"));
        std::fs::create_dir(&skill).unwrap();
        std::fs::write(
            skill.join("SKILL.md"),
            "---\nname: probe\ndescription: Runs one escape probe.\n---\n# Probe\n\nNothing to do.\n",
        )
        .unwrap();
        std::fs::write(
            skill.join("sample.txt"),
            "sample input for the harmless probe\n",
        )
        .unwrap();
        std::fs::write(skill.join("PROBE"), probe).unwrap();
        skill
    }

    /// Scans a new skill folder that runs `probe`, and returns the 200 response.
    fn scan(&self, probe: &str) -> Value {
        let skill = self.skill(probe);
        let response = client()
            .post(self.server.url("/scan"))
            .json(&json!({"skill_directory": skill.display().to_string()}))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{probe}");
        response.json().unwrap()
    }

    /// Returns the pid of the fork server, the API server's child process.
    fn fork_server_pid(&self) -> u32 {
        children_of(self.server.pid())
            .into_iter()
            .next()
            .expect("the fork server runs")
    }

    /// Returns the worker outcome counts from `/health`.
    fn outcomes(&self) -> Value {
        let health: Value = client()
            .get(self.server.url("/health"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        health["worker_outcomes"].clone()
    }
}

/// Returns the pids whose parent is `parent`, from `/proc`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let ppid = status
            .lines()
            .find_map(|line| line.strip_prefix("PPid:"))
            .and_then(|value| value.trim().parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    children
}

/// Returns the probe's reply, which the test-probes build reports as a TEST_PROBE finding.
fn probe_reply(result: &Value) -> Option<String> {
    result["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["rule_id"] == "TEST_PROBE")
        .map(|finding| finding["description"].as_str().unwrap().to_string())
}

/// Asserts that the probe ran and its forbidden operation failed with `expected`.
fn assert_blocked(lab: &Lab, probe: &str, expected: &str) {
    let result = lab.scan(probe);
    assert_eq!(
        probe_reply(&result).as_deref(),
        Some(expected),
        "{probe}: {result}"
    );
}

/// Asserts that the worker was killed and the request got a failed result that names `reason`,
/// never a clean one.
fn assert_killed(lab: &Lab, probe: &str, reason: &str) {
    let result = lab.scan(probe);
    assert_eq!(result["is_safe"], false, "{probe}: {result}");
    let finding = &result["findings"][0];
    assert_eq!(finding["rule_id"], "SCAN_FAILED", "{probe}: {result}");
    let description = finding["description"].as_str().unwrap();
    assert!(description.contains(reason), "{probe}: {description}");
    assert!(probe_reply(&result).is_none(), "{probe} replied: {result}");
    assert_eq!(result["analyzers_failed"][0]["analyzer"], "static_analyzer");
}

/// Asserts that a harmless probe still scans and replies.
fn assert_still_serving(lab: &Lab) {
    assert_eq!(
        probe_reply(&lab.scan("harmless")).as_deref(),
        Some("ok: copied 36 bytes"),
    );
}

/// Part of the failure message for a system call outside the worker's allowlist.
const DENIED: &str = "stopped by the sandbox";

#[test]
fn escape_attempts_denied_or_killed() {
    let lab = Lab::new();
    let harmless = lab.scan("harmless");
    let reply = probe_reply(&harmless).expect("the harmless probe replies");
    assert!(reply.starts_with("ok:"), "{reply}");
    assert_still_serving(&lab);

    // Files outside the job: the host, another job's scratch and spool files, the input.
    assert_blocked(&lab, "read_etc_passwd", "blocked: EACCES");
    let other_job = tempfile::Builder::new()
        .prefix(&format!("job-{}-", std::process::id()))
        .tempdir_in(std::env::temp_dir().join(format!("skill-scanner-{}", current_uid())))
        .unwrap();
    std::fs::write(other_job.path().join("secret.txt"), "another job's data").unwrap();
    assert_blocked(
        &lab,
        &format!(
            "read_other_job\n{}",
            other_job.path().join("secret.txt").display()
        ),
        "blocked: EACCES",
    );
    let spool = lab
        .server
        .state_dir
        .join(format!("spool/{}/upload-secret", lab.server.pid()));
    std::fs::write(&spool, "another upload").unwrap();
    assert_blocked(
        &lab,
        &format!("read_other_job\n{}", spool.display()),
        "blocked: EACCES",
    );
    let outside = tempfile::tempdir().unwrap();
    let planted = outside.path().join("planted.txt");
    assert_blocked(
        &lab,
        &format!("write_outside_scratch\n{}", planted.display()),
        "blocked: EACCES",
    );
    assert!(!planted.exists());
    let into_input = lab.root.join("planted.txt");
    assert_blocked(
        &lab,
        &format!("write_outside_scratch\n{}", into_input.display()),
        "blocked: EACCES",
    );
    assert!(!into_input.exists());
    let moved = outside.path().join("moved.txt");
    assert_blocked(
        &lab,
        &format!("rename_out_of_scratch\n{}", moved.display()),
        "blocked: EACCES",
    );
    assert!(!moved.exists());
    assert_still_serving(&lab);

    // The network and local sockets, each to a listener this test opened.
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    assert_killed(
        &lab,
        &format!("tcp_connect_loopback\n{}", tcp.local_addr().unwrap()),
        DENIED,
    );
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_killed(
        &lab,
        &format!("udp_send\n{}", udp.local_addr().unwrap()),
        DENIED,
    );
    let socket_dir = tempfile::tempdir().unwrap();
    let socket_path = socket_dir.path().join("listener.sock");
    let _unix = UnixListener::bind(&socket_path).unwrap();
    assert_killed(
        &lab,
        &format!("unix_socket\n{}", socket_path.display()),
        DENIED,
    );
    let name = format!("skill-scanner-escape-{}", std::process::id());
    let _abstract =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    assert_killed(&lab, &format!("abstract_socket\n{name}"), DENIED);
    assert_still_serving(&lab);

    // Programs, kernel interfaces and other processes.
    assert_killed(&lab, "exec_sh", DENIED);
    assert_killed(&lab, "memfd_exec", DENIED);
    assert_killed(&lab, "io_uring_setup", DENIED);
    assert_killed(&lab, "fork", DENIED);
    let parent = lab.fork_server_pid();
    assert_killed(&lab, &format!("ptrace_parent\n{parent}"), DENIED);
    assert_blocked(
        &lab,
        &format!("write_parent_mem\n{parent}"),
        "blocked: EACCES",
    );
    assert_killed(&lab, &format!("kill_parent\n{parent}"), DENIED);
    assert_eq!(
        lab.fork_server_pid(),
        parent,
        "the fork server was replaced"
    );
    assert_still_serving(&lab);

    // Resource limits.
    assert_killed(
        &lab,
        &format!("alloc_past_limit\n{}", 8u64 << 30),
        "ran out of memory",
    );
    assert_killed(&lab, "spin_cpu", "timed out");
    assert_blocked(
        &lab,
        &format!("write_past_fsize\n{FILE_SIZE_LIMIT}"),
        "blocked: EFBIG",
    );
    assert_still_serving(&lab);

    let outcomes = lab.outcomes();
    assert!(outcomes["denied"].as_u64().unwrap() >= 10, "{outcomes}");
    assert_eq!(outcomes["out_of_memory"], 1, "{outcomes}");
    assert_eq!(outcomes["timed_out"], 1, "{outcomes}");
}

#[test]
fn worker_cannot_signal_sibling() {
    let lab = Lab::new();
    let sleeper = occupy_a_worker(&lab);
    let sibling = children_of(lab.fork_server_pid())
        .into_iter()
        .next()
        .expect("the sleeping worker");
    assert_killed(&lab, &format!("kill_sibling\n{sibling}"), DENIED);
    // The sleeper ends at its deadline, not by the probe's signal.
    let slept = sleeper.join().unwrap();
    let description = slept["findings"][0]["description"].as_str().unwrap();
    assert!(description.contains("timed out"), "{slept}");
    assert_still_serving(&lab);
}

/// Returns the uid of this process, the owner of `/proc/self`.
fn current_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta))
        .unwrap_or(0)
}

/// Starts a scan whose worker sleeps until its deadline, and waits until that worker runs.
fn occupy_a_worker(lab: &Lab) -> std::thread::JoinHandle<Value> {
    let sleeper_skill = lab.skill("sleep_forever");
    let url = lab.server.url("/scan");
    let body = json!({"skill_directory": sleeper_skill.display().to_string()});
    let sleeper = std::thread::spawn(move || -> Value {
        client()
            .post(url)
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap()
    });
    let parent = lab.fork_server_pid();
    let started = Instant::now();
    while children_of(parent).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the sleeper never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    sleeper
}

#[test]
fn full_queue_is_503_then_recovers() {
    let lab = Lab::with_env(&[
        ("SKILL_SCANNER_WORKERS", "1"),
        ("SKILL_SCANNER_MAX_QUEUED_REQUESTS", "0"),
    ]);
    let sleeper = occupy_a_worker(&lab);
    let skill = lab.skill("harmless");
    let response = client()
        .post(lab.server.url("/scan"))
        .json(&json!({"skill_directory": skill.display().to_string()}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().unwrap();
    assert_eq!(body["detail"], "Scan queue is full. Retry later.");
    sleeper.join().unwrap();
    assert_still_serving(&lab);
}

/// Returns the number of requests waiting for a worker, from `/health`.
fn waiting_requests(lab: &Lab) -> u64 {
    let health: Value = client()
        .get(lab.server.url("/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    health["workers"]["waiting"].as_u64().unwrap()
}

/// Polls `/health` until `waiting` equals `expected`, for at most `limit`.
fn wait_for_waiting(lab: &Lab, expected: u64, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if waiting_requests(lab) == expected {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn queue_count_drops_when_client_disconnects() {
    use std::io::Write;

    let lab = Lab::with_env(&[
        ("SKILL_SCANNER_WORKERS", "1"),
        ("SKILL_SCANNER_MAX_QUEUED_REQUESTS", "1"),
    ]);
    let sleeper = occupy_a_worker(&lab);

    // A request that queues behind the sleeper, sent by a client that then hangs up.
    let skill = lab.skill("harmless");
    let body = json!({"skill_directory": skill.display().to_string()}).to_string();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", lab.server.port)).unwrap();
    write!(
        stream,
        "POST /scan HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    assert!(
        wait_for_waiting(&lab, 1, Duration::from_secs(3)),
        "the request never queued"
    );
    drop(stream);

    // The sleeper occupies the only worker until its 5 s deadline. A count that falls before
    // then shows that the dropped request left the queue, not that it finished.
    assert!(
        wait_for_waiting(&lab, 0, Duration::from_secs(2)),
        "the disconnected request is still counted as waiting"
    );
    assert!(!sleeper.is_finished(), "the sleeper ended first");
    sleeper.join().unwrap();
    assert_still_serving(&lab);
}

/// The server's fork server moves its compiled rules to transparent huge pages before it
/// serves, so each fork copies few page-table entries, and workers forked from it still scan.
#[test]
fn fork_server_heap_is_on_huge_pages() {
    let mode =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    if mode.is_empty() || mode.contains("[never]") {
        eprintln!("transparent huge pages are off on this kernel ({mode:?}); nothing to check");
        return;
    }
    let lab = Lab::new();
    let rollup =
        std::fs::read_to_string(format!("/proc/{}/smaps_rollup", lab.fork_server_pid())).unwrap();
    let huge_kib: u64 = rollup
        .lines()
        .find_map(|line| line.strip_prefix("AnonHugePages:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("smaps_rollup lists AnonHugePages");
    assert!(
        huge_kib >= 16 * 1024,
        "the fork server has only {huge_kib} KiB on huge pages"
    );
    assert_still_serving(&lab);
}
