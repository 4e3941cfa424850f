//! The worker side of a job: the code a forked child runs from fork to `_exit`.
//!
//! Trust boundary: everything before [`confine::apply`](crate::confine::apply) returns is
//! trusted code working on trusted data; the handler then runs on untrusted input.
//!
//! Limits: the child never returns into the fork server's loop. It leaves with `_exit`, so
//! destructors and `atexit` handlers that belong to the fork server never run in the worker.
//! The exit status shows the client which step failed; see the `EXIT_*` constants.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

use nix::sys::signal::{SigHandler, Signal, signal};

use super::job::{Handler, Job};
use crate::confine::{self, Beneath, Confinement, Layers};
use crate::protocol::RequestHeader;

/// The handler returned an error; its message is on stderr.
pub(crate) const EXIT_JOB_FAILED: i32 = 1;
/// Confinement failed; the worker exited before running the handler.
pub(crate) const EXIT_CONFINEMENT_FAILED: i32 = 2;
/// The reply was over the job's limit or could not be written.
pub(crate) const EXIT_REPLY_REJECTED: i32 = 3;
/// The worker could not arrange its descriptors or lost its parent before confinement.
pub(crate) const EXIT_SETUP_FAILED: i32 = 4;
/// The handler panicked (101 is the status a panicking Rust `main` exits with).
pub(crate) const EXIT_PANICKED: i32 = 101;

/// Descriptor layout of a worker after setup.
const STDIN_FD: RawFd = 0;
const STDOUT_FD: RawFd = 1;
const STDERR_FD: RawFd = 2;
const REPLY_FD: RawFd = 3;
const INPUT_FD: RawFd = 4;
const SCRATCH_FD: RawFd = 5;

/// Descriptors a worker receives from the fork server, as raw numbers: after fork they are
/// rearranged and closed by number, so no owning object may close them again.
pub(crate) struct WorkerFds {
    pub dev_null: RawFd,
    pub input: RawFd,
    pub scratch: RawFd,
    pub reply: RawFd,
    pub stderr: RawFd,
}

/// Runs one job in the forked child and exits. `server_pid` is the fork server's process ID,
/// used to detect that the server died before the worker armed its parent-death signal.
pub(crate) fn run<S>(
    state: &S,
    handler: Handler<S>,
    header: &RequestHeader,
    payload: Vec<u8>,
    fds: WorkerFds,
    layers: Layers,
    server_pid: libc::pid_t,
) -> ! {
    let status = catch_unwind(AssertUnwindSafe(|| {
        run_job(state, handler, header, payload, &fds, layers, server_pid)
    }))
    .unwrap_or(EXIT_PANICKED);
    // SAFETY: _exit ends the process at once. Skipping destructors is the point: the objects on
    // this stack belong to the fork server (its control socket, other workers' pidfds), and
    // their owners live in the parent.
    unsafe { libc::_exit(status) }
}

fn run_job<S>(
    state: &S,
    handler: Handler<S>,
    header: &RequestHeader,
    payload: Vec<u8>,
    fds: &WorkerFds,
    layers: Layers,
    server_pid: libc::pid_t,
) -> i32 {
    // Die with the fork server, and leave if it already died between fork and this call.
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err()
        || nix::unistd::getppid().as_raw() != server_pid
    {
        return EXIT_SETUP_FAILED;
    }

    // Fixed layout: stdin reads /dev/null, stdout and stderr go to the client's stderr pipe,
    // then reply, input and scratch. The confinement step closes everything else.
    let layout = [
        (fds.dev_null, STDIN_FD),
        (fds.stderr, STDOUT_FD),
        (fds.stderr, STDERR_FD),
        (fds.reply, REPLY_FD),
        (fds.input, INPUT_FD),
        (fds.scratch, SCRATCH_FD),
    ];
    if crate::fds::move_to_numbers(&layout).is_err() {
        return EXIT_SETUP_FAILED;
    }

    // A closed reply pipe must fail the write with EPIPE instead of killing the worker, and a
    // write past RLIMIT_FSIZE must fail with EFBIG so the handler can report which file.
    for ignored in [Signal::SIGPIPE, Signal::SIGXFSZ] {
        // SAFETY: SIG_IGN installs no handler code, so no async-signal-safety rule applies.
        if unsafe { signal(ignored, SigHandler::SigIgn) }.is_err() {
            return EXIT_SETUP_FAILED;
        }
    }

    // SAFETY: move_to_numbers placed a duplicate of the input and scratch descriptors at
    // these numbers, and nothing else in this process owns them.
    let (input, scratch) = unsafe {
        (
            OwnedFd::from_raw_fd(INPUT_FD),
            OwnedFd::from_raw_fd(SCRATCH_FD),
        )
    };
    let mut confinement = Confinement::new(header.rlimits)
        .read_only(Beneath::Fd(input.as_fd()))
        .read_write(Beneath::Fd(scratch.as_fd()));
    for fd in [STDIN_FD, STDOUT_FD, STDERR_FD, REPLY_FD] {
        // SAFETY: these numbers were placed by move_to_numbers and stay open until _exit.
        confinement = confinement.keep_fd(unsafe { BorrowedFd::borrow_raw(fd) });
    }
    confinement.set_layers(layers);
    if let Err(error) = confine::apply(&confinement) {
        eprintln!("worker confinement failed: {error}");
        return EXIT_CONFINEMENT_FAILED;
    }
    drop(confinement);

    let job = Job {
        id: header.job_id,
        payload,
        input,
        scratch,
        max_reply_bytes: header.max_reply_bytes,
    };
    let reply = match handler(state, &job) {
        Ok(reply) => reply,
        Err(error) => {
            eprintln!("job {} failed: {error}", job.id);
            return EXIT_JOB_FAILED;
        }
    };
    write_reply(&reply, job.max_reply_bytes)
}

fn write_reply(reply: &[u8], max_reply_bytes: u64) -> i32 {
    if reply.len() as u64 > max_reply_bytes {
        eprintln!(
            "reply of {} bytes is larger than the limit of {max_reply_bytes} bytes",
            reply.len()
        );
        return EXIT_REPLY_REJECTED;
    }
    // SAFETY: REPLY_FD was placed by move_to_numbers and is owned by nothing else, so the File
    // may take ownership and close it.
    let mut pipe = unsafe { File::from_raw_fd(REPLY_FD) };
    match pipe.write_all(reply) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("failed to write the reply: {error}");
            EXIT_REPLY_REJECTED
        }
    }
}
