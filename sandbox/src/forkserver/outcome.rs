//! Job outcomes, classified from the worker's exit status and stderr.
//!
//! Trust boundary: the worker controls its stderr and can choose its exit code, so the
//! classification is a diagnosis, not a proof: a hostile worker can make a crash look like
//! running out of memory. Only [`OutcomeKind::Ok`] carries a reply, and every other kind must
//! be treated as "content not analyzed".
//!
//! Limits: stderr keeps its first [`STDERR_CAPTURE_BYTES`]; the rest is counted and dropped,
//! except for a short tail kept to recognise the allocation-failure message that the Rust
//! runtime prints last.

use std::time::Duration;

use super::worker::{EXIT_CONFINEMENT_FAILED, EXIT_PANICKED, EXIT_SETUP_FAILED};
use crate::protocol::{WireOutcome, WireStatus};

/// Most stderr bytes kept per job.
pub const STDERR_CAPTURE_BYTES: usize = 64 * 1024;

/// Bytes kept from the end of stderr: the Rust allocation-failure line (at most 55 bytes) and
/// the `RUST_BACKTRACE` note (about 85 bytes) that follows it.
const STDERR_TAIL_BYTES: usize = 256;

/// Start and end of the line the Rust runtime (std's default alloc error hook, 1.95) prints to
/// stderr before it aborts on an allocation failure.
const ALLOC_FAILURE_PREFIX: &str = "memory allocation of ";
const ALLOC_FAILURE_SUFFIX: &str = " bytes failed";

/// Class of a job's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutcomeKind {
    /// The handler returned a reply and the worker exited with status 0.
    Ok,
    /// The fork server killed the worker at its deadline, or the worker hit `RLIMIT_CPU`.
    TimedOut,
    /// The worker aborted after the allocation-failure message: `RLIMIT_AS` was reached.
    OutOfMemory,
    /// The worker died from a signal (other than the ones above) or panicked.
    Crashed,
    /// The seccomp filter killed the worker (`SIGSYS`): it made a syscall outside the
    /// allowlist.
    Denied,
    /// The handler returned an error or its reply was rejected. Stderr contains the reason.
    Failed,
    /// The worker could not confine itself and exited before running the handler. This is a
    /// deployment fault, not a property of the input.
    ConfinementFailed,
}

/// Exit status of the worker process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerExit {
    /// Exited with this status code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

/// Result of one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobOutcome {
    /// The ID from the request.
    pub job_id: u64,
    /// Classification of the end; see [`OutcomeKind`].
    pub kind: OutcomeKind,
    /// The reply, present only when `kind` is [`OutcomeKind::Ok`].
    pub reply: Option<Vec<u8>>,
    /// The worker's stderr (and stdout), capped at [`STDERR_CAPTURE_BYTES`], decoded as UTF-8
    /// with replacement, and without control characters other than newline and tab.
    pub stderr: String,
    /// Whether stderr was longer than the cap.
    pub stderr_truncated: bool,
    /// Exit code or signal.
    pub exit: WorkerExit,
    /// Wall time from fork to reap, measured by the fork server.
    pub elapsed: Duration,
    /// User plus system CPU time of the worker.
    pub cpu_time: Duration,
    /// Peak resident set size of the worker.
    pub max_rss_bytes: u64,
}

/// Bounded capture of a worker's stderr.
#[derive(Debug, Default)]
pub(crate) struct StderrCapture {
    head: Vec<u8>,
    tail: Vec<u8>,
    total: u64,
}

impl StderrCapture {
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.total = self.total.saturating_add(bytes.len() as u64);
        let room = STDERR_CAPTURE_BYTES.saturating_sub(self.head.len());
        let (kept, _) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(kept);

        self.tail.extend_from_slice(bytes);
        let excess = self.tail.len().saturating_sub(STDERR_TAIL_BYTES);
        self.tail.drain(..excess);
    }

    pub(crate) fn is_truncated(&self) -> bool {
        self.total > self.head.len() as u64
    }

    /// Returns whether the end of stderr contains the Rust allocation-failure line. The runtime
    /// may print a short note after it (the `RUST_BACKTRACE` hint), so any line of the tail
    /// counts.
    fn ends_with_alloc_failure(&self) -> bool {
        String::from_utf8_lossy(&self.tail).lines().any(|line| {
            line.strip_prefix(ALLOC_FAILURE_PREFIX)
                .and_then(|rest| rest.strip_suffix(ALLOC_FAILURE_SUFFIX))
                .is_some_and(|count| !count.is_empty() && count.bytes().all(|b| b.is_ascii_digit()))
        })
    }

    pub(crate) fn sanitized(&self) -> String {
        String::from_utf8_lossy(&self.head)
            .chars()
            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
            .collect()
    }
}

/// Classifies a finished job. `cpu_limit_seconds` is the `RLIMIT_CPU` the job ran with.
pub(crate) fn classify(
    wire: &WireOutcome,
    stderr: &StderrCapture,
    cpu_limit_seconds: u64,
) -> (OutcomeKind, WorkerExit) {
    match wire.status {
        WireStatus::Exited => {
            let kind = match wire.code {
                0 => OutcomeKind::Ok,
                EXIT_CONFINEMENT_FAILED | EXIT_SETUP_FAILED => OutcomeKind::ConfinementFailed,
                EXIT_PANICKED => OutcomeKind::Crashed,
                _ => OutcomeKind::Failed,
            };
            (kind, WorkerExit::Code(wire.code))
        }
        WireStatus::Killed | WireStatus::Dumped => {
            let signal = wire.code;
            let kind = if wire.deadline_killed {
                OutcomeKind::TimedOut
            } else {
                match signal {
                    libc::SIGSYS => OutcomeKind::Denied,
                    libc::SIGXCPU => OutcomeKind::TimedOut,
                    // The kernel sends SIGKILL one second after SIGXCPU when the worker
                    // ignores SIGXCPU. Any other SIGKILL came from outside, such as a cgroup
                    // OOM killer.
                    libc::SIGKILL if wire.cpu_time.as_secs() >= cpu_limit_seconds => {
                        OutcomeKind::TimedOut
                    }
                    libc::SIGABRT if stderr.ends_with_alloc_failure() => OutcomeKind::OutOfMemory,
                    _ => OutcomeKind::Crashed,
                }
            };
            (kind, WorkerExit::Signal(signal))
        }
        // The client turns these into errors before classifying.
        WireStatus::ForkFailed | WireStatus::Busy | WireStatus::Rejected => {
            (OutcomeKind::Failed, WorkerExit::Code(-1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn killed(signal: i32) -> WireOutcome {
        WireOutcome {
            job_id: 1,
            status: WireStatus::Killed,
            deadline_killed: false,
            cancelled: false,
            code: signal,
            elapsed: Duration::from_millis(5),
            cpu_time: Duration::from_millis(3),
            max_rss_bytes: 0,
        }
    }

    fn exited(code: i32) -> WireOutcome {
        WireOutcome {
            status: WireStatus::Exited,
            ..killed(code)
        }
    }

    fn capture(text: &[u8]) -> StderrCapture {
        let mut capture = StderrCapture::default();
        capture.push(text);
        capture
    }

    #[test]
    fn exit_zero_is_ok() {
        let (kind, exit) = classify(&exited(0), &capture(b""), 60);
        assert_eq!(kind, OutcomeKind::Ok);
        assert_eq!(exit, WorkerExit::Code(0));
    }

    #[test]
    fn handler_error_is_failed() {
        assert_eq!(
            classify(&exited(1), &capture(b""), 60).0,
            OutcomeKind::Failed
        );
    }

    #[test]
    fn panic_exit_is_crashed() {
        assert_eq!(
            classify(&exited(EXIT_PANICKED), &capture(b""), 60).0,
            OutcomeKind::Crashed
        );
    }

    #[test]
    fn confinement_exit_is_confinement_failed() {
        let (kind, _) = classify(&exited(EXIT_CONFINEMENT_FAILED), &capture(b""), 60);
        assert_eq!(kind, OutcomeKind::ConfinementFailed);
    }

    #[test]
    fn sigsys_is_denied() {
        let (kind, exit) = classify(&killed(libc::SIGSYS), &capture(b""), 60);
        assert_eq!(kind, OutcomeKind::Denied);
        assert_eq!(exit, WorkerExit::Signal(libc::SIGSYS));
    }

    #[test]
    fn deadline_kill_is_timed_out() {
        let wire = WireOutcome {
            deadline_killed: true,
            ..killed(libc::SIGKILL)
        };
        assert_eq!(classify(&wire, &capture(b""), 60).0, OutcomeKind::TimedOut);
    }

    #[test]
    fn sigxcpu_is_timed_out() {
        assert_eq!(
            classify(&killed(libc::SIGXCPU), &capture(b""), 1).0,
            OutcomeKind::TimedOut
        );
    }

    #[test]
    fn sigkill_after_cpu_limit_is_timed_out() {
        let wire = WireOutcome {
            cpu_time: Duration::from_millis(2100),
            ..killed(libc::SIGKILL)
        };
        assert_eq!(classify(&wire, &capture(b""), 2).0, OutcomeKind::TimedOut);
    }

    #[test]
    fn stray_sigkill_is_crashed() {
        assert_eq!(
            classify(&killed(libc::SIGKILL), &capture(b""), 2).0,
            OutcomeKind::Crashed
        );
    }

    #[test]
    fn abort_after_alloc_failure_is_out_of_memory() {
        let stderr = capture(b"memory allocation of 8589934592 bytes failed\n");
        assert_eq!(
            classify(&killed(libc::SIGABRT), &stderr, 60).0,
            OutcomeKind::OutOfMemory
        );
    }

    #[test]
    fn abort_without_alloc_failure_is_crashed() {
        let stderr = capture(b"assertion failed\n");
        assert_eq!(
            classify(&killed(libc::SIGABRT), &stderr, 60).0,
            OutcomeKind::Crashed
        );
    }

    #[test]
    fn alloc_failure_then_note_counts() {
        let stderr = capture(
            b"memory allocation of 8589934592 bytes failed\nnote: run with `RUST_BACKTRACE=1` \
              environment variable to display a backtrace\n",
        );
        assert_eq!(
            classify(&killed(libc::SIGABRT), &stderr, 60).0,
            OutcomeKind::OutOfMemory
        );
    }

    #[test]
    fn stale_alloc_failure_is_crashed() {
        let mut stderr = StderrCapture::default();
        stderr.push(b"memory allocation of 12 bytes failed\n");
        stderr.push(&[b'x'; STDERR_TAIL_BYTES]);
        assert_eq!(
            classify(&killed(libc::SIGABRT), &stderr, 60).0,
            OutcomeKind::Crashed
        );
    }

    #[test]
    fn alloc_failure_after_truncation_is_still_seen() {
        let mut stderr = StderrCapture::default();
        stderr.push(&vec![b'x'; STDERR_CAPTURE_BYTES * 2]);
        stderr.push(b"\nmemory allocation of 4096 bytes failed\n");
        assert!(stderr.is_truncated());
        assert_eq!(
            classify(&killed(libc::SIGABRT), &stderr, 60).0,
            OutcomeKind::OutOfMemory
        );
    }

    #[test]
    fn stderr_capture_keeps_head_only() {
        let mut stderr = StderrCapture::default();
        stderr.push(&vec![b'a'; STDERR_CAPTURE_BYTES - 1]);
        stderr.push(b"bc");
        assert!(stderr.is_truncated());
        let text = stderr.sanitized();
        assert_eq!(text.len(), STDERR_CAPTURE_BYTES);
        assert!(text.ends_with("ab"));
    }

    #[test]
    fn stderr_sanitizing_strips_control_characters() {
        let stderr = capture(b"red \x1b[31mtext\x1b[0m\r\n\tbell\x07 nul\x00 \xff end");
        assert_eq!(
            stderr.sanitized(),
            "red [31mtext[0m\n\tbell nul \u{fffd} end"
        );
    }
}
