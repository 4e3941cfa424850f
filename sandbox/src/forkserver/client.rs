//! The front end's side: start the fork server, submit jobs, collect bounded results.
//!
//! Trust boundary: the reply, stderr and exit status of a worker are untrusted. The reply is
//! capped at the job's limit, stderr at [`STDERR_CAPTURE_BYTES`](super::outcome::STDERR_CAPTURE_BYTES)
//! and sanitized, and every read stops at the job's deadline plus [`REPORT_GRACE`].
//!
//! Limits: [`ForkServerClient::run`] blocks the calling thread for up to the job's deadline plus
//! [`REPORT_GRACE`]; an async front end calls it from `spawn_blocking`. Many threads may run
//! jobs at once on one client. When the fork server dies, running and later jobs fail with
//! [`ClientError::ServerGone`] until someone calls [`ForkServerClient::restart`].

use std::ffi::OsString;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, Shutdown, SockFlag, SockType, recv, sendmsg,
    socketpair,
};

use super::job::JobRequest;
use super::outcome::{self, JobOutcome, OutcomeKind, StderrCapture};
use super::server::poll_timeout;
use super::{FD_ENV, MAX_DEADLINE, MAX_REPLY_LIMIT_BYTES, MAX_RUNNING_WORKERS};
use crate::confine::ConfinementReport;
use crate::fds;
use crate::protocol::{
    self, Hello, MAX_HELLO_BYTES, MAX_PAYLOAD_BYTES, OUTCOME_BYTES, ProtocolError, RequestHeader,
    WireStatus,
};

/// How long [`spawn`] waits for the fork server's hello. The server sends it after the
/// subcommand has loaded its state (compiled rules) and a self-test worker has confined
/// itself, so this bounds rule loading as well.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Time after a job's deadline during which the client still waits for the fork server to
/// kill and reap the worker and send the outcome, before it declares the server unresponsive.
pub const REPORT_GRACE: Duration = Duration::from_secs(5);

/// How long a job request may wait for room in the control socket's send buffer.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// How long dropping a client waits for the fork server to exit on its own before killing it.
/// The server kills its workers first, which takes milliseconds.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// Failure to start the fork server or to get a job's outcome from it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The binary could not be executed.
    #[error("failed to start the fork server {}: {source}", binary.display())]
    Spawn {
        /// Binary passed to [`spawn`].
        binary: PathBuf,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// The fork server exited before it sent its hello.
    #[error("fork server exited during startup with {status}; see its stderr for the cause")]
    StartupExited {
        /// Exit status of the fork server process.
        status: String,
    },
    /// The fork server sent no hello in time.
    #[error("fork server sent no hello within {timeout:?}")]
    StartupTimedOut {
        /// The timeout, [`STARTUP_TIMEOUT`].
        timeout: Duration,
    },
    /// The fork server's self-test worker could not confine itself.
    #[error("fork server cannot confine workers: {0}")]
    ConfinementUnavailable(String),
    /// The fork server exited or closed the connection.
    #[error("fork server has exited; call ForkServerClient::restart and submit the job again")]
    ServerGone,
    /// The fork server did not take the job or report it in time: within [`SEND_TIMEOUT`] for
    /// the request, or within the job's deadline plus [`REPORT_GRACE`] for the outcome. A
    /// server that stays unresponsive is replaced by dropping the client, which kills it, and
    /// calling [`spawn`] again; [`ForkServerClient::restart`] only replaces a server that exited.
    #[error("fork server did not report job {job_id} within {waited:?}")]
    ServerUnresponsive {
        /// Job ID.
        job_id: u64,
        /// Time waited.
        waited: Duration,
    },
    /// The fork server already runs [`MAX_RUNNING_WORKERS`] workers.
    #[error("fork server is running its maximum of {max} workers; retry later")]
    ServerBusy {
        /// The maximum.
        max: usize,
    },
    /// The fork server rejected the request as malformed.
    #[error("fork server rejected job {job_id} as malformed; its log says why")]
    Rejected {
        /// Job ID.
        job_id: u64,
    },
    /// The fork server could not fork a worker.
    #[error("fork server failed to fork a worker for job {job_id}: {source}")]
    ForkFailed {
        /// Job ID.
        job_id: u64,
        /// OS error reported by the server.
        #[source]
        source: io::Error,
    },
    /// The request is outside the limits this crate accepts.
    #[error("invalid job request: {0}")]
    InvalidRequest(String),
    /// The worker wrote more than the job's reply limit to the reply pipe.
    #[error("reply larger than {limit} bytes")]
    ReplyTooLarge {
        /// The job's `max_reply_bytes`.
        limit: u64,
    },
    /// The fork server sent a message that does not match the protocol.
    #[error("malformed message from the fork server: {0}")]
    Protocol(#[from] ProtocolError),
    /// A system call on the client side failed.
    #[error("failed to {operation}: {source}")]
    Io {
        /// Operation that failed.
        operation: &'static str,
        /// OS error.
        #[source]
        source: io::Error,
    },
}

fn io_error(operation: &'static str) -> impl Fn(Errno) -> ClientError {
    move |errno| ClientError::Io {
        operation,
        source: errno.into(),
    }
}

/// Starts a fork server by executing `binary` with `args`, and waits for its hello.
///
/// `binary` is normally the front end's own executable and `args` select the hidden
/// subcommand that calls [`serve`](super::serve). The new process gets `/dev/null` as stdin and
/// stdout, the caller's stderr, and one end of a socket pair named by [`FD_ENV`]; every other
/// descriptor of the caller is closed at exec.
pub fn spawn(binary: &Path, args: &[OsString]) -> Result<ForkServerClient, ClientError> {
    let connection = Connection::start(binary, args)?;
    Ok(ForkServerClient {
        binary: binary.to_path_buf(),
        args: args.to_vec(),
        connection: Mutex::new(Arc::new(connection)),
    })
}

/// Handle to a running fork server. Cheap to share: wrap it in an `Arc` and call
/// [`run`](Self::run) from any number of threads.
#[derive(Debug)]
pub struct ForkServerClient {
    binary: PathBuf,
    args: Vec<OsString>,
    connection: Mutex<Arc<Connection>>,
}

impl ForkServerClient {
    /// Runs one job in a fresh confined worker and returns how it ended. Blocks until the
    /// worker has been reaped, or for at most the job's deadline plus [`REPORT_GRACE`].
    ///
    /// An `Err` means the job has no trustworthy outcome, for example because the reply was too
    /// large or the server died. The worker, if any, is killed by the time this returns.
    pub fn run(&self, request: &JobRequest<'_>) -> Result<JobOutcome, ClientError> {
        validate(request)?;
        let connection = Arc::clone(&self.lock());
        connection.run(request)
    }

    /// Starts a new fork server if the current one has exited. Returns `true` when it started
    /// one. Jobs running on the old server keep failing with [`ClientError::ServerGone`];
    /// jobs submitted after this returns use the new server.
    pub fn restart(&self) -> Result<bool, ClientError> {
        let mut current = self.lock();
        if current.is_running() {
            return Ok(false);
        }
        let fresh = Connection::start(&self.binary, &self.args)?;
        tracing::warn!(
            old_pid = current.pid,
            new_pid = fresh.pid,
            "restarted the fork server"
        );
        *current = Arc::new(fresh);
        Ok(true)
    }

    /// Returns whether the fork server process is alive and connected.
    pub fn is_running(&self) -> bool {
        self.lock().is_running()
    }

    /// Returns what the fork server's self-test worker enforced; every job's worker applies
    /// the same confinement.
    pub fn confinement_report(&self) -> ConfinementReport {
        self.lock().report
    }

    /// Returns the process ID of the current fork server.
    pub fn server_pid(&self) -> u32 {
        self.lock().pid
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<Connection>> {
        // The guarded value is a plain Arc, which a panic cannot leave half-updated.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn validate(request: &JobRequest<'_>) -> Result<(), ClientError> {
    let limits = &request.limits;
    if request.payload.len() > MAX_PAYLOAD_BYTES {
        return Err(ClientError::InvalidRequest(format!(
            "payload of {} bytes is larger than the limit of {MAX_PAYLOAD_BYTES} bytes; pass large data as the input file",
            request.payload.len()
        )));
    }
    if limits.deadline < Duration::from_millis(1) || limits.deadline > MAX_DEADLINE {
        return Err(ClientError::InvalidRequest(format!(
            "deadline {:?} is outside 1 ms to {MAX_DEADLINE:?}",
            limits.deadline
        )));
    }
    if limits.max_reply_bytes > MAX_REPLY_LIMIT_BYTES {
        return Err(ClientError::InvalidRequest(format!(
            "max_reply_bytes {} is larger than the limit of {MAX_REPLY_LIMIT_BYTES} bytes",
            limits.max_reply_bytes
        )));
    }
    Ok(())
}

/// One running fork server process and its control socket.
#[derive(Debug)]
struct Connection {
    control: OwnedFd,
    child: Mutex<Child>,
    pid: u32,
    report: ConfinementReport,
}

impl Connection {
    fn start(binary: &Path, args: &[OsString]) -> Result<Self, ClientError> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(io_error("create the control socket pair"))?;
        // Keep the child's end clear of stdin, stdout and stderr, which Command overwrites.
        let theirs = if theirs.as_raw_fd() <= libc::STDERR_FILENO {
            let moved = nix::fcntl::fcntl(theirs.as_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))
                .map_err(io_error("move the control socket"))?;
            // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else owns.
            unsafe { std::os::fd::FromRawFd::from_raw_fd(moved) }
        } else {
            theirs
        };
        let theirs_fd = theirs.as_raw_fd();

        let mut command = Command::new(binary);
        command
            .args(args)
            .env(FD_ENV, theirs_fd.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // SAFETY: the closure runs in the forked child between fork and exec, and calls only
        // fcntl and close_range, which are async-signal-safe and allocate nothing.
        unsafe {
            command.pre_exec(move || inherit_only(theirs_fd));
        }
        let child = command.spawn().map_err(|source| ClientError::Spawn {
            binary: binary.to_path_buf(),
            source,
        })?;
        drop(theirs);

        // A stopped or stuck server must not block senders forever once the socket buffer is
        // full; a send that times out is reported as ServerUnresponsive.
        let send_timeout =
            nix::sys::time::TimeVal::new(SEND_TIMEOUT.as_secs().try_into().unwrap_or(5), 0);
        nix::sys::socket::setsockopt(&ours, nix::sys::socket::sockopt::SendTimeout, &send_timeout)
            .map_err(io_error("set the control socket's send timeout"))?;

        let pid = child.id();
        let mut connection = Self {
            control: ours,
            child: Mutex::new(child),
            pid,
            report: ConfinementReport {
                landlock_abi: 0,
                landlock_filesystem: false,
                landlock_tcp: false,
                landlock_scopes: false,
                no_new_privs: false,
                seccomp: false,
                rlimits: false,
            },
        };
        // On error, dropping the connection kills and reaps the server.
        connection.report = connection.receive_hello()?;
        tracing::info!(pid, report = %connection.report, "fork server ready");
        Ok(connection)
    }

    fn receive_hello(&self) -> Result<ConfinementReport, ClientError> {
        let mut poll_fds = [PollFd::new(self.control.as_fd(), PollFlags::POLLIN)];
        match poll(&mut poll_fds, poll_timeout(STARTUP_TIMEOUT)) {
            Ok(0) => {
                return Err(ClientError::StartupTimedOut {
                    timeout: STARTUP_TIMEOUT,
                });
            }
            Ok(_) => {}
            Err(errno) => return Err(io_error("wait for the fork server's hello")(errno)),
        }
        let mut buffer = [0u8; MAX_HELLO_BYTES + 1];
        let received = recv(
            self.control.as_raw_fd(),
            &mut buffer,
            MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io_error("receive the fork server's hello"))?;
        if received == 0 {
            let status = self
                .child
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .wait()
                .map_or_else(
                    |error| format!("unknown status ({error})"),
                    |status| status.to_string(),
                );
            return Err(ClientError::StartupExited { status });
        }
        match protocol::decode_hello(buffer.get(..received).unwrap_or_default())? {
            Hello::Ready(report) => Ok(report),
            Hello::StartupFailed(message) => Err(ClientError::ConfinementUnavailable(message)),
        }
    }

    fn is_running(&self) -> bool {
        let exited = self
            .child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_wait();
        if !matches!(exited, Ok(None)) {
            return false;
        }
        let mut poll_fds = [PollFd::new(self.control.as_fd(), PollFlags::empty())];
        let hung_up = poll(&mut poll_fds, nix::poll::PollTimeout::ZERO).is_ok_and(|_| {
            poll_fds.iter().any(|poll_fd| {
                poll_fd.revents().is_some_and(|revents| {
                    revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)
                })
            })
        });
        !hung_up
    }

    fn run(&self, request: &JobRequest<'_>) -> Result<JobOutcome, ClientError> {
        let (job_socket, server_job_socket) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(io_error("create a job socket pair"))?;
        let (reply_reader, reply_writer) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io_error("create the reply pipe"))?;
        let (stderr_reader, stderr_writer) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io_error("create the stderr pipe"))?;
        for fd in [
            reply_reader.as_fd(),
            stderr_reader.as_fd(),
            job_socket.as_fd(),
        ] {
            fds::set_nonblocking(fd, true).map_err(|source| ClientError::Io {
                operation: "set O_NONBLOCK",
                source,
            })?;
        }

        let header = RequestHeader {
            job_id: request.id,
            deadline: request.limits.deadline,
            max_reply_bytes: request.limits.max_reply_bytes,
            rlimits: request.limits.rlimits,
        };
        let message = protocol::encode_request(&header, request.payload);
        let passed: [RawFd; 5] = [
            server_job_socket.as_raw_fd(),
            request.input.as_raw_fd(),
            request.scratch.as_raw_fd(),
            reply_writer.as_raw_fd(),
            stderr_writer.as_raw_fd(),
        ];
        let sent = sendmsg::<()>(
            self.control.as_raw_fd(),
            &[IoSlice::new(&message)],
            &[ControlMessage::ScmRights(&passed)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        );
        match sent {
            Ok(count) if count == message.len() => {}
            Ok(_) | Err(Errno::EPIPE | Errno::ECONNRESET | Errno::ENOTCONN) => {
                return Err(ClientError::ServerGone);
            }
            Err(Errno::EAGAIN) => {
                return Err(ClientError::ServerUnresponsive {
                    job_id: request.id,
                    waited: SEND_TIMEOUT,
                });
            }
            Err(errno) => return Err(io_error("send the job request")(errno)),
        }
        let sent_at = Instant::now();
        // Only the worker may hold the write ends, so the pipes reach end of file when it exits.
        drop((server_job_socket, reply_writer, stderr_writer));

        let collected = collect(
            request,
            sent_at,
            Streams {
                reply: reply_reader.as_fd(),
                stderr: stderr_reader.as_fd(),
                job_socket: job_socket.as_fd(),
            },
        )?;

        let wire = collected.outcome;
        match wire.status {
            WireStatus::Busy => {
                return Err(ClientError::ServerBusy {
                    max: MAX_RUNNING_WORKERS,
                });
            }
            WireStatus::Rejected => return Err(ClientError::Rejected { job_id: request.id }),
            WireStatus::ForkFailed => {
                return Err(ClientError::ForkFailed {
                    job_id: request.id,
                    source: io::Error::from_raw_os_error(wire.code),
                });
            }
            WireStatus::Exited | WireStatus::Killed | WireStatus::Dumped => {}
        }
        let (kind, exit) =
            outcome::classify(&wire, &collected.stderr, request.limits.rlimits.cpu_seconds);
        Ok(JobOutcome {
            job_id: request.id,
            kind,
            reply: (kind == OutcomeKind::Ok).then_some(collected.reply),
            stderr: collected.stderr.sanitized(),
            stderr_truncated: collected.stderr.is_truncated(),
            exit,
            elapsed: wire.elapsed,
            cpu_time: wire.cpu_time,
            max_rss_bytes: wire.max_rss_bytes,
        })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // A hang-up on the control socket makes the server kill and reap its workers and exit.
        // SIGKILL is the fallback; workers then die with the server (PR_SET_PDEATHSIG).
        let _ = nix::sys::socket::shutdown(self.control.as_raw_fd(), Shutdown::Both);
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        while matches!(child.try_wait(), Ok(None)) {
            if Instant::now() >= deadline {
                tracing::warn!(
                    pid = self.pid,
                    "fork server did not exit after hang-up; killing it"
                );
                if let Err(error) = child.kill() {
                    tracing::warn!(pid = self.pid, %error, "failed to kill the fork server");
                }
                if let Err(error) = child.wait() {
                    tracing::warn!(pid = self.pid, %error, "failed to reap the fork server");
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Runs in the child between fork and exec: clears `FD_CLOEXEC` on the control socket and
/// sets it on every other descriptor above stderr, so the fork server inherits nothing else.
fn inherit_only(control: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with F_SETFD changes only descriptor flags.
    if unsafe { libc::fcntl(control, libc::F_SETFD, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let control =
        u32::try_from(control).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let first = u32::try_from(libc::STDERR_FILENO + 1).unwrap_or(3);
    for (low, high) in [
        (first, control.saturating_sub(1)),
        (control.saturating_add(1), u32::MAX),
    ] {
        if low > high {
            continue;
        }
        // SAFETY: with CLOSE_RANGE_CLOEXEC, close_range only marks descriptors close-on-exec;
        // it closes nothing before exec, so the error pipe of Command keeps working.
        let result =
            unsafe { libc::syscall(libc::SYS_close_range, low, high, libc::CLOSE_RANGE_CLOEXEC) };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Client ends of one job's channels.
struct Streams<'a> {
    reply: BorrowedFd<'a>,
    stderr: BorrowedFd<'a>,
    job_socket: BorrowedFd<'a>,
}

/// Everything read for one job.
struct Collected {
    outcome: protocol::WireOutcome,
    reply: Vec<u8>,
    stderr: StderrCapture,
}

/// Reads the reply and stderr pipes to end of file and the outcome from the job socket, with
/// the reply capped and a deadline over all of it.
fn collect(
    request: &JobRequest<'_>,
    sent_at: Instant,
    streams: Streams<'_>,
) -> Result<Collected, ClientError> {
    let waited_limit = request.limits.deadline + REPORT_GRACE;
    let read_deadline = sent_at + waited_limit;
    let limit = request.limits.max_reply_bytes;
    let mut reply = Vec::new();
    let mut stderr = StderrCapture::default();
    let mut outcome = None;
    let mut reply_open = true;
    let mut stderr_open = true;
    let mut chunk = vec![0u8; 64 * 1024];

    loop {
        if let Some(outcome) = outcome.filter(|_| !reply_open && !stderr_open) {
            return Ok(Collected {
                outcome,
                reply,
                stderr,
            });
        }
        if let Some(wire) = outcome.filter(|wire: &protocol::WireOutcome| {
            matches!(
                wire.status,
                WireStatus::Busy | WireStatus::Rejected | WireStatus::ForkFailed
            )
        }) {
            return Ok(Collected {
                outcome: wire,
                reply,
                stderr,
            });
        }
        let remaining = read_deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ClientError::ServerUnresponsive {
                job_id: request.id,
                waited: waited_limit,
            });
        }

        let mut poll_fds = Vec::with_capacity(3);
        if reply_open {
            poll_fds.push((Stream::Reply, PollFd::new(streams.reply, PollFlags::POLLIN)));
        }
        if stderr_open {
            poll_fds.push((
                Stream::Stderr,
                PollFd::new(streams.stderr, PollFlags::POLLIN),
            ));
        }
        if outcome.is_none() {
            poll_fds.push((
                Stream::JobSocket,
                PollFd::new(streams.job_socket, PollFlags::POLLIN),
            ));
        }
        let (names, mut raw): (Vec<Stream>, Vec<PollFd<'_>>) = poll_fds.into_iter().unzip();
        match poll(&mut raw, poll_timeout(remaining)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(io_error("poll the job's pipes")(errno)),
        }
        let ready: Vec<Stream> = names
            .into_iter()
            .zip(
                raw.iter()
                    .map(|poll_fd| poll_fd.revents().unwrap_or(PollFlags::empty())),
            )
            .filter(|(_, revents)| !revents.is_empty())
            .map(|(name, _)| name)
            .collect();
        drop(raw);

        for stream in ready {
            match stream {
                Stream::Reply => match read_chunk(streams.reply, &mut chunk)? {
                    None => {}
                    Some([]) => reply_open = false,
                    Some(bytes) => {
                        if reply.len() as u64 + bytes.len() as u64 > limit {
                            return Err(ClientError::ReplyTooLarge { limit });
                        }
                        reply.extend_from_slice(bytes);
                    }
                },
                Stream::Stderr => match read_chunk(streams.stderr, &mut chunk)? {
                    None => {}
                    Some([]) => stderr_open = false,
                    Some(bytes) => stderr.push(bytes),
                },
                Stream::JobSocket => {
                    if let Some(received) = receive_outcome(streams.job_socket, request.id)? {
                        outcome = Some(received);
                    }
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Stream {
    Reply,
    Stderr,
    JobSocket,
}

/// Reads once from a non-blocking pipe: `None` if nothing is available yet, an empty slice
/// at end of file.
fn read_chunk<'a>(
    fd: BorrowedFd<'_>,
    chunk: &'a mut [u8],
) -> Result<Option<&'a [u8]>, ClientError> {
    match nix::unistd::read(fd, chunk) {
        Ok(count) => Ok(Some(chunk.get(..count).unwrap_or_default())),
        Err(Errno::EAGAIN | Errno::EINTR) => Ok(None),
        Err(errno) => Err(io_error("read a worker pipe")(errno)),
    }
}

/// Receives the outcome message: `None` if nothing is available yet.
fn receive_outcome(
    job_socket: BorrowedFd<'_>,
    job_id: u64,
) -> Result<Option<protocol::WireOutcome>, ClientError> {
    let mut buffer = [0u8; OUTCOME_BYTES + 1];
    let received = match recv(job_socket.as_raw_fd(), &mut buffer, MsgFlags::MSG_DONTWAIT) {
        Ok(0) | Err(Errno::ECONNRESET) => return Err(ClientError::ServerGone),
        Ok(received) => received,
        Err(Errno::EAGAIN | Errno::EINTR) => return Ok(None),
        Err(errno) => return Err(io_error("receive the job outcome")(errno)),
    };
    let outcome = protocol::decode_outcome(buffer.get(..received).unwrap_or_default())?;
    // A rejected request may carry job ID 0 because the server could not parse the header.
    if outcome.job_id != job_id && outcome.status != WireStatus::Rejected {
        return Err(ClientError::Protocol(ProtocolError::InvalidField {
            message: "job outcome",
            field: "job_id",
            value: outcome.job_id,
        }));
    }
    Ok(Some(outcome))
}
