//! Escape tests: each probe runs in a real confined worker of a separately executed
//! `sandbox-probe-server`, and the test asserts the exact outcome and that the fork server
//! still serves afterwards. The test harness itself never forks.
//!
//! Needs Linux with Landlock ABI 3 or later and seccomp; runs as root or unprivileged. The
//! network probes use listeners on 127.0.0.1 and Unix sockets that the tests create.

#![allow(clippy::unwrap_used, clippy::panic, reason = "test harness")]

use std::ffi::OsString;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use skill_scanner_sandbox::forkserver::{
    ClientError, ForkServerClient, JobLimits, JobOutcome, JobRequest, OutcomeKind, WorkerExit,
    spawn,
};
use skill_scanner_sandbox::probes::{PID_FILE, SAMPLE_FILE, YARA_MARKER};
use skill_scanner_sandbox::{ConfinementReport, Rlimits};
use tempfile::TempDir;

const PROBE_SERVER: &str = env!("CARGO_BIN_EXE_sandbox-probe-server");

const SAMPLE_TEXT: &str = "sample input for the harmless probe\n";

static NEXT_JOB_ID: AtomicU64 = AtomicU64::new(1);

/// Starts a probe server with the given `--layers` value.
fn start_server(layers: &str) -> ForkServerClient {
    let arguments = [OsString::from("--layers"), OsString::from(layers)];
    spawn(Path::new(PROBE_SERVER), &arguments).unwrap()
}

/// A job's input and scratch directories.
struct Workspace {
    input: TempDir,
    scratch: TempDir,
}

impl Workspace {
    fn new() -> Self {
        let input = TempDir::new().unwrap();
        std::fs::write(input.path().join(SAMPLE_FILE), SAMPLE_TEXT).unwrap();
        Self {
            input,
            scratch: TempDir::new().unwrap(),
        }
    }
}

/// Small limits so that probes of rlimits finish quickly.
fn test_limits() -> JobLimits {
    JobLimits {
        deadline: Duration::from_secs(20),
        max_reply_bytes: 64 * 1024,
        rlimits: Rlimits {
            address_space_bytes: 2 << 30,
            cpu_seconds: 10,
            file_size_bytes: 1 << 20,
            open_files: 64,
            ..Rlimits::default()
        },
    }
}

fn run_probe_with(
    client: &ForkServerClient,
    workspace: &Workspace,
    payload: &str,
    limits: JobLimits,
) -> Result<JobOutcome, ClientError> {
    let input = File::open(workspace.input.path()).unwrap();
    let scratch = File::open(workspace.scratch.path()).unwrap();
    let request = JobRequest {
        id: NEXT_JOB_ID.fetch_add(1, Ordering::Relaxed),
        input: input.as_fd(),
        scratch: scratch.as_fd(),
        payload: payload.as_bytes(),
        limits,
    };
    client.run(&request)
}

fn run_probe(client: &ForkServerClient, payload: &str) -> JobOutcome {
    run_probe_with(client, &Workspace::new(), payload, test_limits()).unwrap()
}

fn reply_text(outcome: &JobOutcome) -> String {
    String::from_utf8(outcome.reply.clone().unwrap_or_default()).unwrap()
}

/// Asserts that a probe finished normally with exactly `expected` as its reply.
fn assert_reply(outcome: &JobOutcome, expected: &str) {
    assert_eq!(outcome.kind, OutcomeKind::Ok, "outcome: {outcome:?}");
    assert_eq!(reply_text(outcome), expected, "stderr: {}", outcome.stderr);
}

/// Asserts that seccomp killed the worker.
fn assert_denied(outcome: &JobOutcome) {
    assert_eq!(outcome.kind, OutcomeKind::Denied, "outcome: {outcome:?}");
    assert_eq!(outcome.exit, WorkerExit::Signal(libc::SIGSYS));
    assert_eq!(outcome.reply, None);
}

/// Runs the harmless probe and asserts it works, proving the server still serves.
fn assert_still_serving(client: &ForkServerClient) {
    let outcome = run_probe(client, "harmless");
    assert_reply(&outcome, &format!("ok: copied {} bytes", SAMPLE_TEXT.len()));
}

fn full_server() -> ForkServerClient {
    let client = start_server("all");
    let report = client.confinement_report();
    assert!(report.is_complete(), "confinement incomplete: {report}");
    client
}

#[test]
fn report_shows_every_layer() {
    let client = full_server();
    let report = client.confinement_report();
    assert!(report.landlock_abi >= 3, "{report}");
    assert!(report.landlock_filesystem);
    assert!(report.no_new_privs);
    assert!(report.seccomp);
    assert!(report.rlimits);
    if report.landlock_abi >= 4 {
        assert!(report.landlock_tcp);
    }
    if report.landlock_abi >= 6 {
        assert!(report.landlock_scopes);
    }
}

#[test]
fn harmless_probe_succeeds() {
    let client = full_server();
    assert_still_serving(&client);
}

#[test]
fn spawn_thread_succeeds() {
    let client = full_server();
    assert_reply(
        &run_probe(&client, "spawn_thread"),
        "ok: thread returned 42",
    );
    assert_still_serving(&client);
}

#[test]
fn yara_scan_succeeds_with_heartbeat_thread() {
    let client = full_server();
    let workspace = Workspace::new();
    std::fs::write(
        workspace.input.path().join(SAMPLE_FILE),
        format!("xx {YARA_MARKER} xx"),
    )
    .unwrap();
    let outcome = run_probe_with(&client, &workspace, "yara_scan", test_limits()).unwrap();
    assert_reply(&outcome, "ok: 1 matching rules");
    assert_still_serving(&client);
}

#[test]
fn spool_file_input_is_readable() {
    let client = full_server();
    let spool_directory = TempDir::new().unwrap();
    let spool = spool_directory.path().join("upload.zip");
    std::fs::write(&spool, b"PK\x03\x04 spool bytes").unwrap();
    let sibling = spool_directory.path().join("other-upload.zip");
    std::fs::write(&sibling, b"another upload").unwrap();
    let spool_file = File::open(&spool).unwrap();
    let scratch = TempDir::new().unwrap();
    let scratch_dir = File::open(scratch.path()).unwrap();

    for (payload, expected) in [
        ("read_input_file".to_owned(), "ok: read 16 bytes"),
        (
            format!("read_other_job\n{}", sibling.display()),
            "blocked: EACCES",
        ),
    ] {
        let request = JobRequest {
            id: NEXT_JOB_ID.fetch_add(1, Ordering::Relaxed),
            input: spool_file.as_fd(),
            scratch: scratch_dir.as_fd(),
            payload: payload.as_bytes(),
            limits: test_limits(),
        };
        assert_reply(&client.run(&request).unwrap(), expected);
    }
}

#[test]
fn client_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ForkServerClient>();
}

#[test]
fn read_etc_passwd_is_blocked() {
    let client = full_server();
    assert_reply(&run_probe(&client, "read_etc_passwd"), "blocked: EACCES");
    assert_still_serving(&client);
}

#[test]
fn read_other_job_is_blocked() {
    let client = full_server();
    let other_job = Workspace::new();
    let secret = other_job.scratch.path().join("secret.txt");
    std::fs::write(&secret, "another job's data").unwrap();
    let outcome = run_probe(&client, &format!("read_other_job\n{}", secret.display()));
    assert_reply(&outcome, "blocked: EACCES");
    assert_still_serving(&client);
}

#[test]
fn write_outside_scratch_is_blocked() {
    let client = full_server();
    let workspace = Workspace::new();
    let outside = TempDir::new().unwrap();
    for target in [
        outside.path().join("planted.txt"),
        workspace.input.path().join("planted.txt"),
    ] {
        let payload = format!("write_outside_scratch\n{}", target.display());
        let outcome = run_probe_with(&client, &workspace, &payload, test_limits()).unwrap();
        assert_reply(&outcome, "blocked: EACCES");
        assert!(!target.exists(), "{} was created", target.display());
    }
    assert_still_serving(&client);
}

#[test]
fn rename_out_of_scratch_is_blocked() {
    let client = full_server();
    let workspace = Workspace::new();
    let outside = TempDir::new().unwrap();
    let target = outside.path().join("moved.txt");
    let payload = format!("rename_out_of_scratch\n{}", target.display());
    let outcome = run_probe_with(&client, &workspace, &payload, test_limits()).unwrap();
    // The destination directory grants no MakeReg right, so Landlock returns EACCES.
    assert_reply(&outcome, "blocked: EACCES");
    assert!(!target.exists());
    assert!(workspace.scratch.path().join("moved.txt").exists());
    assert_still_serving(&client);
}

#[test]
fn tcp_connect_loopback_is_denied() {
    let client = full_server();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    assert_denied(&run_probe(
        &client,
        &format!("tcp_connect_loopback\n{address}"),
    ));
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_still_serving(&client);
}

#[test]
fn udp_send_is_denied() {
    let client = full_server();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_nonblocking(true).unwrap();
    let address = receiver.local_addr().unwrap();
    assert_denied(&run_probe(&client, &format!("udp_send\n{address}")));
    let mut buffer = [0u8; 16];
    assert_eq!(
        receiver.recv(&mut buffer).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert_still_serving(&client);
}

#[test]
fn unix_socket_is_denied() {
    let client = full_server();
    let directory = TempDir::new().unwrap();
    let path = directory.path().join("listener.sock");
    let listener = UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    assert_denied(&run_probe(
        &client,
        &format!("unix_socket\n{}", path.display()),
    ));
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_still_serving(&client);
}

fn abstract_listener() -> (UnixListener, String) {
    let name = format!(
        "skill-scanner-escape-{}-{}",
        std::process::id(),
        NEXT_JOB_ID.load(Ordering::Relaxed)
    );
    let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&address).unwrap();
    listener.set_nonblocking(true).unwrap();
    (listener, name)
}

#[test]
fn abstract_socket_is_denied() {
    let client = full_server();
    let (listener, name) = abstract_listener();
    assert_denied(&run_probe(&client, &format!("abstract_socket\n{name}")));
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_still_serving(&client);
}

#[test]
fn exec_sh_is_denied() {
    let client = full_server();
    assert_denied(&run_probe(&client, "exec_sh"));
    assert_still_serving(&client);
}

#[test]
fn memfd_exec_is_denied() {
    let client = full_server();
    assert_denied(&run_probe(&client, "memfd_exec"));
    assert_still_serving(&client);
}

#[test]
fn io_uring_setup_is_denied() {
    let client = full_server();
    assert_denied(&run_probe(&client, "io_uring_setup"));
    assert_still_serving(&client);
}

#[test]
fn ptrace_parent_is_denied() {
    let client = full_server();
    assert_denied(&run_probe(
        &client,
        &format!("ptrace_parent\n{}", client.server_pid()),
    ));
    assert_still_serving(&client);
}

#[test]
fn write_parent_mem_is_blocked() {
    let client = full_server();
    let outcome = run_probe(
        &client,
        &format!("write_parent_mem\n{}", client.server_pid()),
    );
    assert_reply(&outcome, "blocked: EACCES");
    assert_still_serving(&client);
}

#[test]
fn fork_is_denied() {
    let client = full_server();
    assert_denied(&run_probe(&client, "fork"));
    assert_still_serving(&client);
}

#[test]
fn kill_parent_is_denied() {
    let client = full_server();
    assert_denied(&run_probe(
        &client,
        &format!("kill_parent\n{}", client.server_pid()),
    ));
    assert!(client.is_running());
    assert_still_serving(&client);
}

/// Starts `sleep_forever` with `deadline` on another thread and returns its worker's pid.
fn start_sleeper(
    client: &Arc<ForkServerClient>,
    deadline: Duration,
) -> (
    libc::pid_t,
    std::thread::JoinHandle<Result<JobOutcome, ClientError>>,
) {
    let workspace = Workspace::new();
    let pid_file = workspace.scratch.path().join(PID_FILE);
    let sleeper_client = Arc::clone(client);
    let limits = JobLimits {
        deadline,
        ..test_limits()
    };
    let sleeper = std::thread::spawn(move || {
        run_probe_with(&sleeper_client, &workspace, "sleep_forever", limits)
    });
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&pid_file)
            && let Ok(pid) = text.parse()
        {
            return (pid, sleeper);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "sleeper never wrote its pid"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn kill_sibling_is_denied() {
    let client = Arc::new(full_server());
    let (sibling, sleeper) = start_sleeper(&client, Duration::from_secs(2));
    assert_denied(&run_probe(&client, &format!("kill_sibling\n{sibling}")));
    // Killed by its deadline, not by the probe: SIGKILL from anyone else would be Crashed.
    let sibling_outcome = sleeper.join().unwrap().unwrap();
    assert_eq!(
        sibling_outcome.kind,
        OutcomeKind::TimedOut,
        "{sibling_outcome:?}"
    );
    assert_still_serving(&client);
}

#[test]
fn alloc_past_limit_is_out_of_memory() {
    let client = full_server();
    let outcome = run_probe(&client, &format!("alloc_past_limit\n{}", 8u64 << 30));
    assert_eq!(outcome.kind, OutcomeKind::OutOfMemory, "{outcome:?}");
    assert_eq!(outcome.exit, WorkerExit::Signal(libc::SIGABRT));
    assert_eq!(outcome.reply, None);
    assert!(
        outcome
            .stderr
            .contains("memory allocation of 8589934592 bytes failed")
    );
    assert_still_serving(&client);
}

#[test]
fn spin_cpu_is_timed_out_by_rlimit() {
    let client = full_server();
    let limits = JobLimits {
        rlimits: Rlimits {
            cpu_seconds: 1,
            ..test_limits().rlimits
        },
        ..test_limits()
    };
    let outcome = run_probe_with(&client, &Workspace::new(), "spin_cpu", limits).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::TimedOut, "{outcome:?}");
    assert_eq!(outcome.exit, WorkerExit::Signal(libc::SIGXCPU));
    // rusage samples CPU time by scheduler ticks, so it may read a little below the precise
    // runtime that RLIMIT_CPU checks.
    assert!(
        outcome.cpu_time >= Duration::from_millis(800),
        "{:?}",
        outcome.cpu_time
    );
    assert_still_serving(&client);
}

#[test]
fn write_past_fsize_is_blocked() {
    let client = full_server();
    let limit = test_limits().rlimits.file_size_bytes;
    let outcome = run_probe(&client, &format!("write_past_fsize\n{limit}"));
    assert_reply(&outcome, "blocked: EFBIG");
    assert_still_serving(&client);
}

#[test]
fn sleep_forever_is_killed_at_deadline() {
    let client = full_server();
    let limits = JobLimits {
        deadline: Duration::from_millis(300),
        ..test_limits()
    };
    let started = Instant::now();
    let outcome = run_probe_with(&client, &Workspace::new(), "sleep_forever", limits).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::TimedOut, "{outcome:?}");
    assert_eq!(outcome.exit, WorkerExit::Signal(libc::SIGKILL));
    assert_eq!(outcome.reply, None);
    assert!(
        outcome.elapsed >= Duration::from_millis(300),
        "{:?}",
        outcome.elapsed
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_still_serving(&client);
}

#[test]
fn reply_flood_is_rejected() {
    let client = full_server();
    let limits = JobLimits {
        max_reply_bytes: 1000,
        ..test_limits()
    };
    let error =
        run_probe_with(&client, &Workspace::new(), "reply_flood\n1001", limits).unwrap_err();
    assert_eq!(error.to_string(), "reply larger than 1000 bytes");
    assert_still_serving(&client);
}

#[test]
fn reply_at_limit_is_accepted() {
    let client = full_server();
    let limits = JobLimits {
        max_reply_bytes: 4,
        ..test_limits()
    };
    let outcome = run_probe_with(&client, &Workspace::new(), "echo\nabcd", limits).unwrap();
    assert_reply(&outcome, "abcd");
}

#[test]
fn oversized_handler_reply_fails_job() {
    let client = full_server();
    let limits = JobLimits {
        max_reply_bytes: 4,
        ..test_limits()
    };
    let outcome = run_probe_with(&client, &Workspace::new(), "echo\nabcde", limits).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Failed, "{outcome:?}");
    assert_eq!(outcome.reply, None);
    assert!(
        outcome
            .stderr
            .contains("reply of 5 bytes is larger than the limit of 4 bytes")
    );
}

#[test]
fn stderr_flood_is_capped_and_sanitized() {
    let client = full_server();
    let outcome = run_probe(&client, &format!("stderr_flood\n{}", 1 << 20));
    assert_reply(&outcome, &format!("ok: wrote {} bytes to stderr", 1 << 20));
    assert!(outcome.stderr_truncated);
    assert!(outcome.stderr.len() <= 64 * 1024);
    assert!(outcome.stderr.starts_with("line[31m red\nline"));
    assert!(
        !outcome
            .stderr
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    );
}

#[test]
fn handler_error_is_failed() {
    let client = full_server();
    let outcome = run_probe(&client, "fail");
    assert_eq!(outcome.kind, OutcomeKind::Failed, "{outcome:?}");
    assert_eq!(outcome.exit, WorkerExit::Code(1));
    assert_eq!(outcome.reply, None);
    assert!(
        outcome.stderr.contains("failed: probe failed on request"),
        "{}",
        outcome.stderr
    );
    assert_still_serving(&client);
}

#[test]
fn handler_panic_is_crashed() {
    let client = full_server();
    let outcome = run_probe(&client, "panic");
    assert_eq!(outcome.kind, OutcomeKind::Crashed, "{outcome:?}");
    assert_eq!(outcome.exit, WorkerExit::Code(101));
    assert!(
        outcome.stderr.contains("probe panicked on request"),
        "{}",
        outcome.stderr
    );
    assert_still_serving(&client);
}

#[test]
fn invalid_request_is_rejected_by_client() {
    let client = full_server();
    let oversized = "echo\n".to_owned() + &"x".repeat(64 * 1024);
    let error = run_probe_with(&client, &Workspace::new(), &oversized, test_limits()).unwrap_err();
    assert!(matches!(error, ClientError::InvalidRequest(_)), "{error}");
    let limits = JobLimits {
        deadline: Duration::ZERO,
        ..test_limits()
    };
    let error = run_probe_with(&client, &Workspace::new(), "echo", limits).unwrap_err();
    assert!(matches!(error, ClientError::InvalidRequest(_)), "{error}");
    assert_still_serving(&client);
}

#[test]
fn dead_server_is_reported_and_restarted() {
    let client = full_server();
    let old_pid = client.server_pid();
    let pid = libc::pid_t::try_from(old_pid).unwrap();
    // SAFETY: the pid belongs to the probe server this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let started = Instant::now();
    while client.is_running() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "server did not die"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let error = run_probe_with(&client, &Workspace::new(), "harmless", test_limits()).unwrap_err();
    assert!(matches!(error, ClientError::ServerGone), "{error}");

    assert!(client.restart().unwrap());
    assert_ne!(client.server_pid(), old_pid);
    assert!(
        !client.restart().unwrap(),
        "restart of a running server must do nothing"
    );
    assert_still_serving(&client);
}

#[test]
fn server_death_fails_running_job() {
    let client = Arc::new(full_server());
    let (worker, sleeper) = start_sleeper(&client, Duration::from_secs(30));
    let pid = libc::pid_t::try_from(client.server_pid()).unwrap();
    // SAFETY: the pid belongs to the probe server this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let started = Instant::now();
    let error = sleeper.join().unwrap().unwrap_err();
    assert!(matches!(error, ClientError::ServerGone), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The worker dies with its server (parent-death signal); it may linger as a zombie until
    // the new parent reaps it.
    while process_is_running(worker) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "worker {worker} outlived its server"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Returns whether a process exists and is not a zombie.
fn process_is_running(pid: libc::pid_t) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    state != Some("Z")
}

// NOTE: failed once in a full CI run with `ServerGone` instead of `ServerUnresponsive`, but
// passed 18 runs out of 18 locally. The cause is not found yet. Run it with `--ignored`.
#[test]
#[ignore = "intermittent ServerGone under CI; cause not found"]
fn stopped_server_is_reported_unresponsive() {
    let client = full_server();
    let pid = libc::pid_t::try_from(client.server_pid()).unwrap();
    // SAFETY: the pid belongs to the probe server this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let limits = JobLimits {
        deadline: Duration::from_millis(100),
        ..test_limits()
    };
    let started = Instant::now();
    let error = run_probe_with(&client, &Workspace::new(), "sleep_forever", limits).unwrap_err();
    let waited = started.elapsed();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    assert!(
        matches!(error, ClientError::ServerUnresponsive { .. }),
        "{error}"
    );
    assert!(waited >= Duration::from_millis(100) + skill_scanner_sandbox::forkserver::REPORT_GRACE);
    // Once resumed, the server finds the abandoned job's socket closed, kills its worker and
    // goes on serving.
    assert_still_serving(&client);
}

#[test]
fn server_exits_when_client_hangs_up() {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixDatagram;
    use std::os::unix::process::CommandExt;

    // A SOCK_SEQPACKET pair made by hand, so the test controls when its end closes.
    let mut pair = [0; 2];
    // SAFETY: socketpair writes two descriptors into the array, which the test then owns.
    let created = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    };
    assert_eq!(created, 0);
    // SAFETY: both descriptors were just created and nothing else owns them.
    let (ours, theirs) = unsafe {
        use std::os::fd::FromRawFd;
        (
            UnixDatagram::from_raw_fd(pair[0]),
            std::os::fd::OwnedFd::from_raw_fd(pair[1]),
        )
    };
    let theirs_fd = theirs.as_raw_fd();
    let mut command = std::process::Command::new(PROBE_SERVER);
    command.env("SKILL_SCANNER_FORK_SERVER_FD", theirs_fd.to_string());
    // SAFETY: the closure only clears FD_CLOEXEC with fcntl, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(theirs_fd, libc::F_SETFD, 0) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut server = command.spawn().unwrap();
    drop(theirs);

    let mut hello = [0u8; 64];
    ours.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let received = ours.recv(&mut hello).unwrap();
    assert!(
        hello[..received].starts_with(b"SKFS"),
        "{:?}",
        &hello[..received]
    );
    drop(ours);

    let started = Instant::now();
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "server kept running after hang-up"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn concurrent_jobs_all_succeed() {
    let client = Arc::new(full_server());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let client = Arc::clone(&client);
            std::thread::spawn(move || {
                for _ in 0..10 {
                    assert_still_serving(&client);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn dropping_client_stops_server() {
    let client = full_server();
    let pid = client.server_pid();
    drop(client);
    let proc_entry = PathBuf::from(format!("/proc/{pid}"));
    assert!(
        !proc_entry.exists(),
        "fork server {pid} still exists after the client was dropped"
    );
}

#[test]
fn worker_keeps_only_its_own_descriptors() {
    let client = full_server();
    // stdin, stdout, stderr, reply pipe, input, scratch.
    assert_reply(&run_probe(&client, "open_fds"), "ok: 0 1 2 3 4 5");
}

#[test]
fn worker_environment_is_empty() {
    let client = full_server();
    assert_reply(&run_probe(&client, "environment"), "ok: 0 variables");
}

// Landlock on its own, with seccomp off: each rule must hold even if the allowlist had a hole.

fn landlock_only_server() -> ForkServerClient {
    let client = start_server("without-seccomp");
    let report: ConfinementReport = client.confinement_report();
    assert!(!report.seccomp);
    assert!(report.landlock_filesystem);
    client
}

#[test]
fn landlock_alone_blocks_filesystem_escapes() {
    let client = landlock_only_server();
    assert_reply(&run_probe(&client, "read_etc_passwd"), "blocked: EACCES");
    let outside = TempDir::new().unwrap();
    let target = outside.path().join("planted.txt");
    let outcome = run_probe(
        &client,
        &format!("write_outside_scratch\n{}", target.display()),
    );
    assert_reply(&outcome, "blocked: EACCES");
    let outcome = run_probe(
        &client,
        &format!("write_parent_mem\n{}", client.server_pid()),
    );
    assert_reply(&outcome, "blocked: EACCES");
    assert_reply(&run_probe(&client, "exec_sh"), "blocked: EACCES");
    assert_still_serving(&client);
}

#[test]
fn landlock_alone_blocks_tcp_connect() {
    let client = landlock_only_server();
    if !client.confinement_report().landlock_tcp {
        eprintln!("skipped: kernel Landlock ABI below 4 has no TCP rules");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    assert_reply(
        &run_probe(&client, &format!("tcp_connect_loopback\n{address}")),
        "blocked: EACCES",
    );
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_still_serving(&client);
}

#[test]
fn landlock_alone_scopes_signals_sockets_and_ptrace() {
    let client = Arc::new(landlock_only_server());
    if !client.confinement_report().landlock_scopes {
        eprintln!("skipped: kernel Landlock ABI below 6 has no scopes");
        return;
    }
    let server_pid = client.server_pid();
    assert_reply(
        &run_probe(&client, &format!("kill_parent\n{server_pid}")),
        "blocked: EPERM",
    );
    assert!(client.is_running());
    assert_reply(
        &run_probe(&client, &format!("ptrace_parent\n{server_pid}")),
        "blocked: EPERM",
    );

    let (listener, name) = abstract_listener();
    assert_reply(
        &run_probe(&client, &format!("abstract_socket\n{name}")),
        "blocked: EPERM",
    );
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);

    let (sibling, sleeper) = start_sleeper(&client, Duration::from_secs(2));
    assert_reply(
        &run_probe(&client, &format!("kill_sibling\n{sibling}")),
        "blocked: EPERM",
    );
    assert_eq!(sleeper.join().unwrap().unwrap().kind, OutcomeKind::TimedOut);
    assert_still_serving(&client);
}

#[test]
fn probe_server_rejects_unknown_layers() {
    let arguments = [OsString::from("--layers"), OsString::from("some")];
    let error = spawn(Path::new(PROBE_SERVER), &arguments).unwrap_err();
    assert!(
        matches!(error, ClientError::StartupExited { .. }),
        "{error}"
    );
}

#[test]
fn serve_without_spawn_fails() {
    let mut child = std::process::Command::new(PROBE_SERVER)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!child.wait().unwrap().success());
    assert!(
        stderr.contains("SKILL_SCANNER_FORK_SERVER_FD is not set"),
        "{stderr}"
    );
}
