//! The fork server loop: receive jobs, fork a worker for each, kill workers at their deadline,
//! reap them through pidfds and report each outcome on the job's socket.
//!
//! Trust boundary: the server trusts its client (the front end) and distrusts its workers.
//! It never runs a job handler itself and never reads a worker's reply or stderr; those pipes
//! go straight from the worker to the client.
//!
//! Limits: the process must be single-threaded when [`serve`] starts, and the server starts no
//! threads, which is what makes forking from it sound. The loop wakes at least at the earliest
//! deadline, so a deadline is enforced within a few milliseconds plus the time to fork the
//! jobs queued before it.

use std::io::{self, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockType, getsockopt, recvmsg, send, sockopt,
};
use nix::sys::stat::{SFlag, fstat};
use nix::unistd::{ForkResult, Pid, fork};

use super::job::Handler;
use super::worker::{self, WorkerFds};
use super::{FD_ENV, MAX_RUNNING_WORKERS};
use crate::confine::{self, ConfineError, Confinement, ConfinementReport, Layers, Rlimits};
use crate::fds::{self, Reaped};
use crate::protocol::{
    self, Hello, MAX_HELLO_BYTES, MAX_PAYLOAD_BYTES, REQUEST_HEADER_BYTES, RequestHeader,
    WireOutcome, WireStatus,
};

/// Descriptors in a job request, in order: job socket, input, scratch, reply pipe, stderr pipe.
const REQUEST_FDS: usize = 5;

/// Maximum number of descriptors the kernel passes in one message (`SCM_MAX_FD`). Receive space for all of
/// them, so a bad request never truncates the control data and leaks descriptors.
const SCM_MAX_FD: usize = 253;

/// How long the self-test worker may take to confine itself and report.
const SELF_TEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for a killed worker to be reaped.
const SHUTDOWN_REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// Error that stopped the fork server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The control socket variable is missing: the process was not started by `spawn`.
    #[error("{FD_ENV} is not set; start the fork server with forkserver::spawn")]
    MissingControlFd,
    /// The control socket variable does not name the expected socket.
    #[error("{FD_ENV}={value:?} does not name a SOCK_SEQPACKET Unix socket descriptor")]
    InvalidControlFd {
        /// Value of the variable.
        value: String,
    },
    /// The process already has threads, so forking from it would be unsound.
    #[error("the fork server must start single-threaded: {0}")]
    NotSingleThreaded(#[source] ConfineError),
    /// The self-test worker could not confine itself.
    #[error("worker self-test failed: {0}")]
    SelfTest(String),
    /// A system call of the server loop failed.
    #[error("failed to {operation}: {source}")]
    Io {
        /// Operation that failed.
        operation: &'static str,
        /// OS error.
        #[source]
        source: io::Error,
    },
}

fn io_error(operation: &'static str) -> impl Fn(Errno) -> ServeError {
    move |errno| ServeError::Io {
        operation,
        source: errno.into(),
    }
}

/// Runs the fork server until the client closes the control socket, with full confinement
/// for every worker. Call it from the hidden subcommand that [`spawn`](super::spawn) starts,
/// after loading `state` (for example compiled rules) and before starting any thread.
///
/// Returns `Ok(())` once the client has gone and every worker has been killed and reaped.
pub fn serve<S>(state: S, handler: Handler<S>) -> Result<(), ServeError> {
    serve_inner(&state, handler, Layers::ALL)
}

/// Runs the fork server with only some confinement layers, for tests and benchmarks.
#[cfg(feature = "probes")]
pub fn serve_with_layers<S>(
    state: S,
    handler: Handler<S>,
    layers: Layers,
) -> Result<(), ServeError> {
    serve_inner(&state, handler, layers)
}

fn serve_inner<S>(state: &S, handler: Handler<S>, layers: Layers) -> Result<(), ServeError> {
    confine::ensure_single_threaded().map_err(ServeError::NotSingleThreaded)?;
    let control = take_control_socket()?;

    // A process inherits ignored signals across exec. With SIGCHLD ignored the kernel would
    // reap workers itself and waitid could not report their status.
    // SAFETY: SIG_DFL installs no handler code.
    unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) }
        .map_err(io_error("reset the SIGCHLD disposition"))?;

    let dev_null = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(io_error("open /dev/null"))?;

    let hello = match self_test(layers) {
        Ok(report) => Hello::Ready(report),
        Err(message) => Hello::StartupFailed(message),
    };
    send_message(control.as_fd(), &protocol::encode_hello(&hello)).map_err(|source| {
        ServeError::Io {
            operation: "send the hello message",
            source,
        }
    })?;
    if let Hello::StartupFailed(message) = hello {
        return Err(ServeError::SelfTest(message));
    }

    let mut server = Server {
        control,
        dev_null,
        layers,
        pid: nix::unistd::getpid().as_raw(),
        workers: Vec::new(),
        receive_buffer: vec![0u8; REQUEST_HEADER_BYTES + MAX_PAYLOAD_BYTES + 1],
    };
    tracing::info!(pid = server.pid, ?layers, "fork server started");
    let result = server.run(state, handler);
    server.shutdown();
    tracing::info!(pid = server.pid, "fork server stopped");
    result
}

/// Backs the heap, which holds the built state (compiled rules, for example), with transparent
/// huge pages. Call it after building the state and before [`serve`].
///
/// Every fork copies the page tables of the fork server's memory and every worker exit tears
/// its copy down; 2 MiB pages need one entry where 4 KiB pages need 512. Collapsing the pages
/// costs time once (about 0.2 s for 70 MB), so it pays off in a fork server that runs many
/// jobs. Best effort: where huge pages are unavailable the heap stays as it is.
pub fn heap_to_huge_pages() {
    const HUGE_PAGE: usize = 2 << 20;
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for line in maps.lines().filter(|line| line.ends_with("[heap]")) {
        let Some((start, end)) = line
            .split(' ')
            .next()
            .and_then(|range| range.split_once('-'))
            .and_then(|(start, end)| {
                Some((
                    usize::from_str_radix(start, 16).ok()?,
                    usize::from_str_radix(end, 16).ok()?,
                ))
            })
        else {
            continue;
        };
        let start = start.next_multiple_of(HUGE_PAGE);
        let end = end - end % HUGE_PAGE;
        if end <= start {
            continue;
        }
        for advice in [libc::MADV_HUGEPAGE, libc::MADV_COLLAPSE] {
            // SAFETY: the range lies inside this process's heap mapping, and both advices
            // keep its contents; they only change how the pages are backed.
            let result = unsafe { libc::madvise(start as *mut libc::c_void, end - start, advice) };
            if result != 0 {
                tracing::debug!(advice, error = %Errno::last(), "madvise for huge pages on the heap failed");
                break;
            }
        }
    }
}

/// Takes ownership of the control socket named by [`FD_ENV`] after checking its type.
fn take_control_socket() -> Result<OwnedFd, ServeError> {
    let value = std::env::var(FD_ENV).map_err(|_| ServeError::MissingControlFd)?;
    let invalid = || ServeError::InvalidControlFd {
        value: value.clone(),
    };
    let control_fd = match value.parse::<RawFd>() {
        Ok(fd) if fd > libc::STDERR_FILENO => fd,
        _ => return Err(invalid()),
    };
    // SAFETY: the process is single-threaded (checked by the caller), so nothing reads the
    // environment concurrently.
    unsafe { std::env::remove_var(FD_ENV) };

    // SAFETY: the number is only borrowed for the checks; ownership is taken below once the
    // checks show it is the socket `spawn` passed.
    let borrowed = unsafe { BorrowedFd::borrow_raw(control_fd) };
    let is_socket = fstat(borrowed).is_ok_and(|stat| {
        SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFSOCK
    });
    if !is_socket || getsockopt(&borrowed, sockopt::SockType) != Ok(SockType::SeqPacket) {
        return Err(invalid());
    }
    // SAFETY: `spawn` passed this socket to this process alone, and the variable that names it
    // is removed above, so no second call can take it again.
    let control = unsafe { OwnedFd::from_raw_fd(control_fd) };
    fds::set_cloexec(control.as_fd()).map_err(|source| ServeError::Io {
        operation: "set FD_CLOEXEC on the control socket",
        source,
    })?;
    Ok(control)
}

/// Forks a worker that confines itself with no file access and sends back the report, so the
/// client learns before its first job whether confinement works on this kernel.
fn self_test(layers: Layers) -> Result<ConfinementReport, String> {
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|errno| format!("failed to create the self-test pipe: {errno}"))?;
    // SAFETY: the process is single-threaded (checked in serve_inner), so the child may run
    // any code, not only async-signal-safe functions.
    let child = match unsafe { fork() } {
        Err(errno) => return Err(format!("failed to fork the self-test worker: {errno}")),
        Ok(ForkResult::Child) => self_test_child(writer, layers),
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(writer);

    let bytes = read_bounded(reader.as_fd(), MAX_HELLO_BYTES, SELF_TEST_TIMEOUT);
    let status = nix::sys::wait::waitpid(child, None);
    let bytes = bytes.map_err(|error| format!("failed to read the self-test report: {error}"))?;
    match protocol::decode_hello(&bytes) {
        Ok(Hello::Ready(report)) if layers != Layers::ALL || report.is_complete() => Ok(report),
        Ok(Hello::Ready(report)) => Err(format!("confinement incomplete: {report}")),
        Ok(Hello::StartupFailed(message)) => Err(message),
        Err(error) => Err(format!(
            "self-test worker sent no report ({error}); status {status:?}"
        )),
    }
}

fn self_test_child(writer: OwnedFd, layers: Layers) -> ! {
    let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let stderr = io::stderr();
        let mut confinement = Confinement::new(Rlimits::default())
            .keep_fd(writer.as_fd())
            .keep_fd(stderr.as_fd());
        confinement.set_layers(layers);
        let hello = match confine::apply(&confinement) {
            Ok(report) => Hello::Ready(report),
            Err(error) => Hello::StartupFailed(error.to_string()),
        };
        let mut pipe = std::fs::File::from(writer);
        i32::from(pipe.write_all(&protocol::encode_hello(&hello)).is_err())
    }))
    .unwrap_or(worker::EXIT_PANICKED);
    // SAFETY: see worker::run; the child must not return into the server.
    unsafe { libc::_exit(status) }
}

/// Reads until end of file, at most `limit` bytes, giving up after `timeout`.
fn read_bounded(fd: BorrowedFd<'_>, limit: usize, timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut bytes = Vec::new();
    let mut file = std::fs::File::from(fd.try_clone_to_owned()?);
    let mut chunk = [0u8; 4096];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        let mut poll_fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut poll_fds, poll_timeout(remaining)) {
            Err(Errno::EINTR) | Ok(0) => continue,
            Err(errno) => return Err(errno.into()),
            Ok(_) => {}
        }
        let count = file.read(&mut chunk)?;
        if count == 0 {
            return Ok(bytes);
        }
        bytes.extend_from_slice(chunk.get(..count).unwrap_or_default());
        if bytes.len() > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "message too long",
            ));
        }
    }
}

/// Converts a duration to a poll timeout, rounding up so a deadline is never checked early.
pub(crate) fn poll_timeout(duration: Duration) -> PollTimeout {
    let millis = duration.as_micros().div_ceil(1000);
    PollTimeout::try_from(i32::try_from(millis).unwrap_or(i32::MAX)).unwrap_or(PollTimeout::MAX)
}

fn send_message(socket: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<()> {
    let sent = send(socket.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL)?;
    if sent == bytes.len() {
        Ok(())
    } else {
        Err(io::Error::from(io::ErrorKind::WriteZero))
    }
}

/// Reason the server killed a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KillReason {
    Deadline,
    Cancelled,
    Shutdown,
}

/// A forked worker that has not been reaped yet.
struct Running {
    job_id: u64,
    pid: libc::pid_t,
    pidfd: OwnedFd,
    job_socket: OwnedFd,
    /// False once the client closed its end of the job socket.
    client_open: bool,
    started: Instant,
    deadline: Instant,
    killed: Option<KillReason>,
    exited: bool,
}

impl Running {
    fn kill(&mut self, reason: KillReason) {
        if self.killed.is_some() {
            return;
        }
        self.killed = Some(reason);
        if let Err(error) = fds::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL) {
            tracing::warn!(job_id = self.job_id, pid = self.pid, %error, "failed to kill worker");
        }
    }
}

/// Descriptor behind one poll entry.
#[derive(Clone, Copy)]
enum Watched {
    Control,
    Pidfd(usize),
    JobSocket(usize),
}

/// Result of one receive on the control socket.
enum Received {
    Nothing,
    ClientGone,
    Job {
        header: RequestHeader,
        payload: Vec<u8>,
        fds: Vec<OwnedFd>,
    },
}

struct Server {
    control: OwnedFd,
    dev_null: OwnedFd,
    layers: Layers,
    pid: libc::pid_t,
    workers: Vec<Running>,
    receive_buffer: Vec<u8>,
}

impl Server {
    fn run<S>(&mut self, state: &S, handler: Handler<S>) -> Result<(), ServeError> {
        loop {
            let now = Instant::now();
            for running in self
                .workers
                .iter_mut()
                .filter(|running| now >= running.deadline)
            {
                running.kill(KillReason::Deadline);
            }

            let (control_ready, control_closed) = self.wait(now)?;

            self.reap_exited();

            if control_closed && !control_ready {
                return Ok(());
            }
            if control_ready {
                match self.receive()? {
                    Received::Nothing => {}
                    Received::ClientGone => return Ok(()),
                    Received::Job {
                        header,
                        payload,
                        fds,
                    } => {
                        self.start_job(state, handler, header, payload, fds);
                    }
                }
            }
        }
    }

    /// Polls until the control socket, a pidfd or a job socket is ready, or the earliest
    /// deadline passes. Marks exited workers and cancels workers whose client left.
    /// Returns whether the control socket is readable and whether it hung up.
    fn wait(&mut self, now: Instant) -> Result<(bool, bool), ServeError> {
        let earliest = self
            .workers
            .iter()
            .filter(|running| running.killed.is_none())
            .map(|running| running.deadline.saturating_duration_since(now))
            .min();
        let timeout = earliest.map_or(PollTimeout::NONE, poll_timeout);

        let mut watched = vec![Watched::Control];
        let mut poll_fds = vec![PollFd::new(self.control.as_fd(), PollFlags::POLLIN)];
        for (index, running) in self.workers.iter().enumerate() {
            watched.push(Watched::Pidfd(index));
            poll_fds.push(PollFd::new(running.pidfd.as_fd(), PollFlags::POLLIN));
            if running.client_open {
                // Only hang-ups matter here, which poll reports without being asked.
                watched.push(Watched::JobSocket(index));
                poll_fds.push(PollFd::new(running.job_socket.as_fd(), PollFlags::empty()));
            }
        }
        match poll(&mut poll_fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(io_error("poll the control socket and workers")(errno)),
        }
        let events: Vec<(Watched, PollFlags)> = watched
            .into_iter()
            .zip(
                poll_fds
                    .iter()
                    .map(|poll_fd| poll_fd.revents().unwrap_or(PollFlags::empty())),
            )
            .collect();
        drop(poll_fds);

        let hang_up = PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL;
        let mut control_ready = false;
        let mut control_closed = false;
        for (what, revents) in events {
            match what {
                Watched::Control => {
                    control_ready = revents.contains(PollFlags::POLLIN);
                    control_closed = revents.intersects(hang_up);
                }
                Watched::Pidfd(index) if revents.contains(PollFlags::POLLIN) => {
                    if let Some(running) = self.workers.get_mut(index) {
                        running.exited = true;
                    }
                }
                Watched::JobSocket(index) if revents.intersects(hang_up) => {
                    if let Some(running) = self.workers.get_mut(index) {
                        running.client_open = false;
                        running.kill(KillReason::Cancelled);
                    }
                }
                Watched::Pidfd(_) | Watched::JobSocket(_) => {}
            }
        }
        Ok((control_ready, control_closed))
    }

    /// Reaps every worker whose pidfd reported an exit and sends its outcome.
    fn reap_exited(&mut self) {
        let (exited, running): (Vec<Running>, Vec<Running>) = std::mem::take(&mut self.workers)
            .into_iter()
            .partition(|running| running.exited);
        self.workers = running;
        for mut worker in exited {
            match fds::reap(worker.pidfd.as_fd()) {
                Ok(Some(reaped)) => report(&worker, &reaped),
                Ok(None) => {
                    worker.exited = false;
                    self.workers.push(worker);
                }
                Err(error) => {
                    tracing::error!(job_id = worker.job_id, pid = worker.pid, %error, "failed to reap worker");
                }
            }
        }
    }

    /// Receives one message from the control socket.
    fn receive(&mut self) -> Result<Received, ServeError> {
        let mut control_buffer = nix::cmsg_space!([RawFd; SCM_MAX_FD]);
        let (bytes, flags, fds) = {
            let mut iov = [IoSliceMut::new(&mut self.receive_buffer)];
            let message = match recvmsg::<()>(
                self.control.as_raw_fd(),
                &mut iov,
                Some(&mut control_buffer),
                MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(message) => message,
                Err(Errno::EINTR | Errno::EAGAIN) => return Ok(Received::Nothing),
                Err(Errno::ECONNRESET) => return Ok(Received::ClientGone),
                Err(errno) => return Err(io_error("receive a job request")(errno)),
            };
            let mut fds = Vec::new();
            if let Ok(control_messages) = message.cmsgs() {
                for control_message in control_messages {
                    if let ControlMessageOwned::ScmRights(raw_fds) = control_message {
                        // SAFETY: the kernel installed these descriptors for this process
                        // during recvmsg, and nothing else has seen their numbers.
                        fds.extend(
                            raw_fds
                                .into_iter()
                                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                        );
                    }
                }
            }
            (message.bytes, message.flags, fds)
        };

        if bytes == 0 && fds.is_empty() {
            return Ok(Received::ClientGone);
        }
        let reject = |reason: String, fds: Vec<OwnedFd>| {
            tracing::error!(%reason, "rejected a malformed job request");
            if let Some(job_socket) = fds.first() {
                let outcome = failure_outcome(0, WireStatus::Rejected, 0);
                send_outcome(job_socket.as_fd(), &outcome);
            }
            Ok(Received::Nothing)
        };
        if flags.intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC) {
            return reject(format!("message truncated (flags {flags:?})"), fds);
        }
        let message = self.receive_buffer.get(..bytes).unwrap_or_default();
        let (header, payload) = match protocol::decode_request(message) {
            Ok(decoded) => decoded,
            Err(error) => return reject(error.to_string(), fds),
        };
        if let Err(reason) = check_request_fds(&fds) {
            return reject(format!("job {}: {reason}", header.job_id), fds);
        }
        Ok(Received::Job {
            header,
            payload,
            fds,
        })
    }

    /// Forks a worker for a validated request.
    fn start_job<S>(
        &mut self,
        state: &S,
        handler: Handler<S>,
        header: RequestHeader,
        payload: Vec<u8>,
        fds: Vec<OwnedFd>,
    ) {
        let [job_socket, input, scratch, reply, stderr]: [OwnedFd; REQUEST_FDS] =
            match fds.try_into() {
                Ok(array) => array,
                // check_request_fds already verified the count.
                Err(_) => return,
            };
        if self.workers.len() >= MAX_RUNNING_WORKERS {
            tracing::warn!(
                job_id = header.job_id,
                max = MAX_RUNNING_WORKERS,
                "fork server busy"
            );
            let busy = failure_outcome(header.job_id, WireStatus::Busy, MAX_RUNNING_WORKERS as i32);
            send_outcome(job_socket.as_fd(), &busy);
            return;
        }

        let started = Instant::now();
        // SAFETY: the fork server is single-threaded (checked at startup, and it starts no
        // threads), so the child may run any code, not only async-signal-safe functions.
        let child = match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                let worker_fds = WorkerFds {
                    dev_null: self.dev_null.as_raw_fd(),
                    input: input.as_raw_fd(),
                    scratch: scratch.as_raw_fd(),
                    reply: reply.as_raw_fd(),
                    stderr: stderr.as_raw_fd(),
                };
                worker::run(
                    state,
                    handler,
                    &header,
                    payload,
                    worker_fds,
                    self.layers,
                    self.pid,
                )
            }
            Ok(ForkResult::Parent { child }) => child,
            Err(errno) => {
                tracing::error!(job_id = header.job_id, %errno, "failed to fork a worker");
                let failed = failure_outcome(header.job_id, WireStatus::ForkFailed, errno as i32);
                send_outcome(job_socket.as_fd(), &failed);
                return;
            }
        };
        // The worker has its own copies now; the client must see end of file on the pipes
        // as soon as the worker exits.
        drop((input, scratch, reply, stderr));

        let pidfd = match fds::pidfd_open(child.as_raw()) {
            Ok(pidfd) => pidfd,
            Err(error) => {
                tracing::error!(job_id = header.job_id, %error, "failed to open a pidfd; killing the worker");
                kill_and_wait(child);
                let code = error.raw_os_error().unwrap_or(0);
                send_outcome(
                    job_socket.as_fd(),
                    &failure_outcome(header.job_id, WireStatus::ForkFailed, code),
                );
                return;
            }
        };
        tracing::debug!(
            job_id = header.job_id,
            pid = child.as_raw(),
            "worker started"
        );
        self.workers.push(Running {
            job_id: header.job_id,
            pid: child.as_raw(),
            pidfd,
            job_socket,
            client_open: true,
            started,
            deadline: started + header.deadline,
            killed: None,
            exited: false,
        });
    }

    /// Kills and reaps every worker; called when the client has gone.
    fn shutdown(&mut self) {
        for running in &mut self.workers {
            running.kill(KillReason::Shutdown);
        }
        for running in std::mem::take(&mut self.workers) {
            let mut poll_fds = [PollFd::new(running.pidfd.as_fd(), PollFlags::POLLIN)];
            let ready = poll(&mut poll_fds, poll_timeout(SHUTDOWN_REAP_TIMEOUT));
            match (ready, fds::reap(running.pidfd.as_fd())) {
                (_, Ok(Some(reaped))) => report(&running, &reaped),
                (_, result) => tracing::error!(
                    job_id = running.job_id,
                    pid = running.pid,
                    ?result,
                    "worker not reaped at shutdown"
                ),
            }
        }
    }
}

/// Checks the descriptors of a request: a socket, a directory or regular file, a directory,
/// and two pipes open for writing.
fn check_request_fds(fds: &[OwnedFd]) -> Result<(), String> {
    let [job_socket, input, scratch, reply, stderr] = fds else {
        return Err(format!(
            "expected {REQUEST_FDS} descriptors, got {}",
            fds.len()
        ));
    };
    let kind = |fd: &OwnedFd| {
        fstat(fd.as_fd()).map(|stat| SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT)
    };
    let is = |fd: &OwnedFd, wanted: &[SFlag]| kind(fd).is_ok_and(|found| wanted.contains(&found));
    if !is(job_socket, &[SFlag::S_IFSOCK]) {
        return Err("descriptor 1 (job socket) is not a socket".into());
    }
    if !is(input, &[SFlag::S_IFDIR, SFlag::S_IFREG]) {
        return Err("descriptor 2 (input) is neither a directory nor a regular file".into());
    }
    if !is(scratch, &[SFlag::S_IFDIR]) {
        return Err("descriptor 3 (scratch) is not a directory".into());
    }
    for (position, name, pipe) in [(4, "reply", reply), (5, "stderr", stderr)] {
        let write_only = nix::fcntl::fcntl(pipe.as_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .is_ok_and(|flags| flags & libc::O_ACCMODE == libc::O_WRONLY);
        if !is(pipe, &[SFlag::S_IFIFO]) || !write_only {
            return Err(format!(
                "descriptor {position} ({name}) is not a pipe open for writing"
            ));
        }
    }
    Ok(())
}

fn failure_outcome(job_id: u64, status: WireStatus, code: i32) -> WireOutcome {
    WireOutcome {
        job_id,
        status,
        deadline_killed: false,
        cancelled: false,
        code,
        elapsed: Duration::ZERO,
        cpu_time: Duration::ZERO,
        max_rss_bytes: 0,
    }
}

/// Sends the outcome of a reaped worker to its client.
fn report(running: &Running, reaped: &Reaped) {
    let status = match reaped.code {
        libc::CLD_EXITED => WireStatus::Exited,
        libc::CLD_DUMPED => WireStatus::Dumped,
        _ => WireStatus::Killed,
    };
    let outcome = WireOutcome {
        job_id: running.job_id,
        status,
        deadline_killed: running.killed == Some(KillReason::Deadline),
        cancelled: running.killed == Some(KillReason::Cancelled),
        code: reaped.status,
        elapsed: running.started.elapsed(),
        cpu_time: reaped.cpu_time,
        max_rss_bytes: reaped.max_rss_bytes,
    };
    tracing::debug!(
        job_id = running.job_id,
        pid = running.pid,
        ?status,
        code = reaped.status,
        killed = ?running.killed,
        elapsed_us = outcome.elapsed.as_micros(),
        "worker finished"
    );
    if running.client_open {
        send_outcome(running.job_socket.as_fd(), &outcome);
    }
}

/// Sends an outcome without blocking; a client that already left is not an error.
fn send_outcome(job_socket: BorrowedFd<'_>, outcome: &WireOutcome) {
    let bytes = protocol::encode_outcome(outcome);
    let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
    match send(job_socket.as_raw_fd(), &bytes, flags) {
        Ok(_) | Err(Errno::EPIPE | Errno::ECONNRESET) => {}
        Err(errno) => {
            tracing::warn!(job_id = outcome.job_id, %errno, "failed to send a job outcome");
        }
    }
}

/// Kills and reaps a child that has no pidfd.
fn kill_and_wait(child: Pid) {
    // The child is unreaped, so its pid cannot have been reused.
    let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(child, None);
}
