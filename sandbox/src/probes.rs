//! Escape probes: a job handler that tries one forbidden (or one required) operation, chosen by
//! name, so tests can prove each confinement rule in a real confined worker.
//!
//! Trust boundary: the probes act like hostile job code. They run only in workers of the
//! `sandbox-probe-server` binary, which exists only with the `probes` feature.
//!
//! Reply format: `ok: ...` when a permitted operation worked, `blocked: ERRNO` when the
//! attempt failed with that error, and `ESCAPED: ...` when a forbidden operation succeeded.
//! Probes stopped by seccomp or an rlimit never reply; the job outcome shows the signal.
//!
//! Payload format: the probe name, optionally followed by a newline and one argument (a path,
//! an address or a number, depending on the probe).

use std::io::{self, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::path::Path;
use std::time::Duration;

use crate::forkserver::{Job, JobError};

/// Every probe name [`handle`] accepts.
pub const PROBES: &[&str] = &[
    "harmless",
    "read_etc_passwd",
    "read_other_job",
    "write_outside_scratch",
    "rename_out_of_scratch",
    "tcp_connect_loopback",
    "udp_send",
    "unix_socket",
    "abstract_socket",
    "exec_sh",
    "memfd_exec",
    "io_uring_setup",
    "ptrace_parent",
    "write_parent_mem",
    "fork",
    "kill_parent",
    "kill_sibling",
    "alloc_past_limit",
    "spin_cpu",
    "write_past_fsize",
    "spawn_thread",
    "sleep_forever",
    "yara_scan",
    "reply_flood",
    "stderr_flood",
    "fail",
    "panic",
    "echo",
    "open_fds",
    "environment",
    "walk_input",
    "std_fs",
    "read_input_file",
];

/// Name of the file the `harmless` and `yara_scan` probes read from the input directory.
pub const SAMPLE_FILE: &str = "sample.txt";

/// Name of the file `sleep_forever` writes its process ID to, in its scratch directory.
pub const PID_FILE: &str = "pid";

/// Text the probe server's YARA-X rule matches.
pub const YARA_MARKER: &str = "skill-scanner-probe-marker";

/// State of the probe server: a compiled YARA-X rule set, like the one the scanner's fork server keeps.
pub struct ProbeState {
    rules: yara_x::Rules,
}

impl ProbeState {
    /// Compiles the probe rule.
    pub fn new() -> Result<Self, yara_x::errors::CompileError> {
        let source = format!(
            "rule probe_marker {{ strings: $marker = \"{YARA_MARKER}\" condition: $marker }}"
        );
        Ok(Self {
            rules: yara_x::compile(source.as_str())?,
        })
    }
}

/// Runs the probe named in the job payload.
pub fn handle(state: &ProbeState, job: &Job) -> Result<Vec<u8>, JobError> {
    let payload = std::str::from_utf8(job.payload())
        .map_err(|_| JobError::new("probe payload is not UTF-8"))?;
    run(state, job, payload).map(String::into_bytes)
}

/// Runs the probe that `request` names (the name, optionally a newline and one argument) in
/// the worker of `job`. The scanner's own job path calls this for its escape tests.
pub fn run(state: &ProbeState, job: &Job, request: &str) -> Result<String, JobError> {
    let (name, argument) = request.split_once('\n').unwrap_or((request, ""));
    let argument = argument.trim_end_matches('\n');
    let reply = match name {
        "harmless" => harmless(job)?,
        "read_etc_passwd" => attempt(std::fs::read("/etc/passwd").map(|bytes| bytes.len())),
        "read_other_job" => attempt(std::fs::read(argument).map(|bytes| bytes.len())),
        "write_outside_scratch" => attempt(std::fs::write(argument, b"escaped")),
        "rename_out_of_scratch" => rename_out_of_scratch(job, argument)?,
        "tcp_connect_loopback" => attempt(TcpStream::connect(argument)),
        "udp_send" => attempt(
            UdpSocket::bind("127.0.0.1:0").and_then(|socket| socket.send_to(b"probe", argument)),
        ),
        "unix_socket" => attempt(UnixStream::connect(argument)),
        "abstract_socket" => attempt(
            SocketAddr::from_abstract_name(argument.as_bytes())
                .and_then(|address| UnixStream::connect_addr(&address)),
        ),
        "exec_sh" => exec_sh(),
        "memfd_exec" => memfd_exec(),
        "io_uring_setup" => io_uring_setup(),
        "ptrace_parent" => ptrace_attach(parse_pid(argument)?),
        "write_parent_mem" => attempt(
            std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/{}/mem", parse_pid(argument)?)),
        ),
        "fork" => fork(),
        "kill_parent" | "kill_sibling" => kill(parse_pid(argument)?),
        "alloc_past_limit" => alloc(argument)?,
        "spin_cpu" => spin_cpu(),
        "write_past_fsize" => write_past_fsize(job, argument)?,
        "spawn_thread" => spawn_thread()?,
        "sleep_forever" => sleep_forever(job)?,
        "yara_scan" => yara_scan(state, job)?,
        "reply_flood" => reply_flood(argument)?,
        "stderr_flood" => stderr_flood(argument)?,
        "fail" => return Err(JobError::new("probe failed on request")),
        "panic" => panic_on_request(),
        "echo" => argument.to_owned(),
        "open_fds" => open_fds(),
        "walk_input" => walk_input(job)?,
        "read_input_file" => read_input_file(job)?,
        "std_fs" => std_fs(argument)?,
        "environment" => format!("ok: {} variables", std::env::vars_os().count()),
        other => return Err(JobError::new(format!("unknown probe {other:?}"))),
    };
    Ok(reply)
}

/// Formats the result of a forbidden operation.
fn attempt<T: std::fmt::Debug>(result: io::Result<T>) -> String {
    match result {
        Ok(value) => format!("ESCAPED: {value:?}"),
        Err(error) => blocked(&error),
    }
}

fn blocked(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => format!("blocked: {:?}", nix::errno::Errno::from_raw(code)),
        None => format!("blocked: {error}"),
    }
}

fn parse_pid(argument: &str) -> Result<libc::pid_t, JobError> {
    argument
        .trim()
        .parse()
        .map_err(|_| JobError::new(format!("invalid pid {argument:?}")))
}

/// Reads the sample file, writes, renames, reads back and removes a scratch file.
fn harmless(job: &Job) -> Result<String, JobError> {
    let mut sample = String::new();
    job.open_input(Path::new(SAMPLE_FILE))?
        .read_to_string(&mut sample)?;

    job.create_scratch_file(Path::new("copy.tmp"))?
        .write_all(sample.as_bytes())?;
    nix::fcntl::renameat(job.scratch(), "copy.tmp", job.scratch(), "copy.txt")
        .map_err(io::Error::from)?;
    let mut copy = String::new();
    job.open_scratch_file(Path::new("copy.txt"))?
        .read_to_string(&mut copy)?;
    nix::unistd::unlinkat(
        job.scratch(),
        "copy.txt",
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    )
    .map_err(io::Error::from)?;
    if copy != sample {
        return Err(JobError::new("scratch copy differs from the sample"));
    }
    Ok(format!("ok: copied {} bytes", sample.len()))
}

fn rename_out_of_scratch(job: &Job, target: &str) -> Result<String, JobError> {
    job.create_scratch_file(Path::new("moved.txt"))?;
    let cwd = nix::fcntl::AT_FDCWD;
    Ok(attempt(
        nix::fcntl::renameat(job.scratch(), "moved.txt", cwd, target).map_err(io::Error::from),
    ))
}

fn exec_sh() -> String {
    let Ok(shell) = std::ffi::CString::new("/bin/sh") else {
        return "blocked: invalid path".into();
    };
    let arguments = [c"sh", c"-c", c"exit 0"];
    // execv only returns on failure.
    match nix::unistd::execv(&shell, &arguments) {
        Err(errno) => blocked(&errno.into()),
    }
}

fn memfd_exec() -> String {
    // SAFETY: the name is a NUL-terminated literal.
    let fd = unsafe { libc::memfd_create(c"probe".as_ptr(), 0) };
    if fd < 0 {
        return blocked(&io::Error::last_os_error());
    }
    // SAFETY: memfd_create returned a new descriptor that nothing else owns.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    if let Err(error) = file.write_all(b"#!/bin/sh\nexit 0\n") {
        return blocked(&error);
    }
    let name = c"probe".as_ptr().cast_mut();
    let arguments = [name, std::ptr::null_mut()];
    let environment = [std::ptr::null_mut::<libc::c_char>()];
    // SAFETY: both arrays are NULL-terminated and outlive the call; execveat returns only on
    // failure.
    unsafe {
        libc::execveat(
            file.as_raw_fd(),
            c"".as_ptr(),
            arguments.as_ptr(),
            environment.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    blocked(&io::Error::last_os_error())
}

fn io_uring_setup() -> String {
    // struct io_uring_params is 120 bytes; zero means default settings.
    let mut params = [0u8; 120];
    // SAFETY: the kernel writes at most sizeof(struct io_uring_params) bytes into `params`.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
    if fd < 0 {
        blocked(&io::Error::last_os_error())
    } else {
        format!("ESCAPED: io_uring descriptor {fd}")
    }
}

fn ptrace_attach(pid: libc::pid_t) -> String {
    // SAFETY: PTRACE_ATTACH reads no memory of this process; the last two arguments are unused.
    let result = unsafe {
        libc::ptrace(
            libc::PTRACE_ATTACH,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            0usize,
        )
    };
    if result < 0 {
        blocked(&io::Error::last_os_error())
    } else {
        format!("ESCAPED: attached to {pid}")
    }
}

fn fork() -> String {
    // SAFETY: the child calls only _exit, which is async-signal-safe.
    match unsafe { libc::fork() } {
        -1 => blocked(&io::Error::last_os_error()),
        // SAFETY: _exit ends the child without touching the parent's state.
        0 => unsafe { libc::_exit(0) },
        child => format!("ESCAPED: forked {child}"),
    }
}

fn kill(pid: libc::pid_t) -> String {
    let target = nix::unistd::Pid::from_raw(pid);
    match nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL) {
        Ok(()) => format!("ESCAPED: killed {pid}"),
        Err(errno) => blocked(&errno.into()),
    }
}

fn alloc(argument: &str) -> Result<String, JobError> {
    let bytes: usize = if argument.is_empty() {
        64 << 30
    } else {
        argument
            .parse()
            .map_err(|_| JobError::new(format!("invalid size {argument:?}")))?
    };
    let buffer = vec![1u8; bytes];
    Ok(format!(
        "ESCAPED: allocated {} bytes",
        std::hint::black_box(buffer).len()
    ))
}

fn spin_cpu() -> String {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// Writes one byte more than `argument` (the file size limit) to a scratch file.
fn write_past_fsize(job: &Job, argument: &str) -> Result<String, JobError> {
    let limit: usize = argument
        .parse()
        .map_err(|_| JobError::new(format!("invalid size {argument:?}")))?;
    let mut file = job.create_scratch_file(Path::new("big.bin"))?;
    Ok(attempt(file.write_all(&vec![0u8; limit + 1])))
}

fn spawn_thread() -> Result<String, JobError> {
    let handle = std::thread::Builder::new()
        .name("probe-thread".into())
        .spawn(|| std::hint::black_box(6 * 7))?;
    let answer = handle
        .join()
        .map_err(|_| JobError::new("probe thread panicked"))?;
    Ok(format!("ok: thread returned {answer}"))
}

fn sleep_forever(job: &Job) -> Result<String, JobError> {
    let mut pid_file = job.create_scratch_file(Path::new(PID_FILE))?;
    pid_file.write_all(std::process::id().to_string().as_bytes())?;
    drop(pid_file);
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn yara_scan(state: &ProbeState, job: &Job) -> Result<String, JobError> {
    let mut data = Vec::new();
    job.open_input(Path::new(SAMPLE_FILE))?
        .read_to_end(&mut data)?;
    let mut scanner = yara_x::Scanner::new(&state.rules);
    // A timeout makes YARA-X start its heartbeat thread, as the scanner's workers do.
    scanner.set_timeout(Duration::from_secs(10));
    let results = scanner
        .scan(&data)
        .map_err(|error| JobError::new(error.to_string()))?;
    Ok(format!(
        "ok: {} matching rules",
        results.matching_rules().len()
    ))
}

/// Writes `argument` bytes straight to the reply pipe (descriptor 3), bypassing the worker's
/// own reply check, as hostile job code could.
fn reply_flood(argument: &str) -> Result<String, JobError> {
    let bytes: usize = argument
        .parse()
        .map_err(|_| JobError::new(format!("invalid size {argument:?}")))?;
    // SAFETY: descriptor 3 is the worker's reply pipe for the whole life of the worker;
    // ManuallyDrop keeps this File from closing it.
    let mut pipe = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(3) });
    pipe.write_all(&vec![b'r'; bytes])?;
    Ok(String::new())
}

/// Writes `argument` bytes of text mixed with control characters to stderr.
fn stderr_flood(argument: &str) -> Result<String, JobError> {
    let bytes: usize = argument
        .parse()
        .map_err(|_| JobError::new(format!("invalid size {argument:?}")))?;
    let pattern = b"line\x1b[31m red\x07\r\n";
    let flood: Vec<u8> = pattern.iter().copied().cycle().take(bytes).collect();
    io::stderr().write_all(&flood)?;
    Ok(format!("ok: wrote {bytes} bytes to stderr"))
}

/// Lists the open descriptors below 1024 (`F_GETFD` succeeds only on open ones).
fn open_fds() -> String {
    let open: Vec<String> = (0..1024)
        // SAFETY: F_GETFD only reads the descriptor flags; a closed number fails with EBADF.
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0)
        .map(|fd| fd.to_string())
        .collect();
    format!("ok: {}", open.join(" "))
}

/// Walks the input directory through descriptors (`openat`, `getdents64`, `fstatat`) and
/// returns the number of entries and bytes, as a scanner's loader does.
fn walk_input(job: &Job) -> Result<String, JobError> {
    use nix::dir::{Dir, Type};
    use nix::fcntl::{AtFlags, OFlag};
    use nix::sys::stat::{Mode, fstatat};

    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut pending =
        vec![Dir::openat(job.input(), ".", flags, Mode::empty()).map_err(io::Error::from)?];
    let (mut entries, mut bytes) = (0u64, 0u64);
    while let Some(mut directory) = pending.pop() {
        let mut listed = Vec::new();
        for entry in directory.iter() {
            let entry = entry.map_err(io::Error::from)?;
            let name = entry.file_name().to_owned();
            if name.to_bytes() != b"." && name.to_bytes() != b".." {
                listed.push((name, entry.file_type() == Some(Type::Directory)));
            }
        }
        for (name, is_directory) in listed {
            entries += 1;
            let stat = fstatat(&directory, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(io::Error::from)?;
            bytes += u64::try_from(stat.st_size).unwrap_or(0);
            if is_directory {
                let child = Dir::openat(&directory, name.as_c_str(), flags, Mode::empty())
                    .map_err(io::Error::from)?;
                pending.push(child);
            }
        }
    }
    Ok(format!("ok: {entries} entries, {bytes} bytes"))
}

/// Uses `std::fs` with paths beneath the input and scratch directories, given as
/// "INPUT\nSCRATCH": read_dir, metadata, read, create_dir_all, write, rename, remove.
fn std_fs(argument: &str) -> Result<String, JobError> {
    let (input, scratch) = argument
        .split_once('\n')
        .ok_or_else(|| JobError::new("std_fs needs \"INPUT\\nSCRATCH\""))?;
    let (input, scratch) = (Path::new(input), Path::new(scratch));

    let mut names = Vec::new();
    for entry in std::fs::read_dir(input)? {
        let entry = entry?;
        if entry.metadata()?.is_file() {
            names.push(entry.file_name());
        }
    }
    names.sort();
    let mut total = 0usize;
    for name in &names {
        let bytes = std::fs::read(input.join(name))?;
        total += bytes.len();
        let nested = scratch.join("extracted").join("nested");
        std::fs::create_dir_all(&nested)?;
        std::fs::write(nested.join(name), &bytes)?;
        std::fs::rename(nested.join(name), scratch.join(name))?;
        let _ = std::fs::symlink_metadata(scratch.join(name))?;
        std::fs::remove_file(scratch.join(name))?;
    }
    std::fs::remove_dir_all(scratch.join("extracted"))?;
    Ok(format!("ok: {} files, {total} bytes", names.len()))
}

#[expect(
    clippy::panic,
    reason = "the probe shows that a panicking handler is reported as Crashed"
)]
fn panic_on_request() -> String {
    panic!("probe panicked on request")
}

/// Reads the whole input when it is a regular file, such as an upload's spool file.
fn read_input_file(job: &Job) -> Result<String, JobError> {
    let mut bytes = Vec::new();
    job.input_file()?.read_to_end(&mut bytes)?;
    Ok(format!("ok: read {} bytes", bytes.len()))
}
