//! The fork server: a single-threaded process, started by executing our own binary, that forks
//! one confined worker per job and reports how each worker ended.
//!
//! Process model:
//! - The front end calls [`spawn`] with the path of its own binary and the arguments of the
//!   hidden subcommand that calls [`serve`]. The new process inherits one end of a
//!   `SOCK_SEQPACKET` socket pair and no other descriptor except stdio. [`FD_ENV`] contains its
//!   number.
//! - [`serve`] checks that its process is single-threaded and forks a self-test worker that
//!   confines itself. It sends the resulting [`ConfinementReport`](crate::ConfinementReport)
//!   to the client and then loops. Each turn polls the control socket, a pidfd per running
//!   worker and each job's socket, with the earliest deadline as the timeout. It never runs a
//!   job itself.
//! - [`ForkServerClient::run`] sends one job with its descriptors, reads the reply and stderr
//!   pipes with caps and a read deadline, and returns a [`JobOutcome`].
//!
//! Trust boundary: the front end and the fork server trust each other; the worker is untrusted
//! from the moment [`crate::confine::apply`] returns. A job's reply, stderr and exit status
//! cross back as untrusted data.
//!
//! Limits: a fork server runs at most [`MAX_RUNNING_WORKERS`] workers at once and answers
//! further jobs with [`ClientError::ServerBusy`]. If the fork server dies, jobs fail with
//! [`ClientError::ServerGone`] until a caller runs [`ForkServerClient::restart`]; the client
//! never restarts the server on its own.

//! Wiring, with a hidden `fork-server` subcommand of the scanner binary:
//!
//! ```no_run
//! use std::ffi::OsString;
//! use std::os::fd::AsFd;
//! use skill_scanner_sandbox::forkserver::{self, Job, JobError, JobLimits, JobRequest};
//!
//! struct Rules; // compiled rules, loaded once in the fork server
//!
//! fn scan_job(rules: &Rules, job: &Job) -> Result<Vec<u8>, JobError> {
//!     let _ = (rules, job.input(), job.payload());
//!     Ok(b"{}".to_vec())
//! }
//!
//! // In the hidden subcommand, before any thread starts:
//! fn fork_server_main() -> Result<(), forkserver::ServeError> {
//!     forkserver::serve(Rules, scan_job)
//! }
//!
//! // In the front end:
//! fn front_end() -> Result<(), Box<dyn std::error::Error>> {
//!     let binary = std::env::current_exe()?;
//!     let client = forkserver::spawn(&binary, &[OsString::from("fork-server")])?;
//!     let input = std::fs::File::open("/srv/skills/example")?;
//!     let scratch = std::fs::File::open("/var/lib/skill-scanner/scratch/job-1")?;
//!     let outcome = client.run(&JobRequest {
//!         id: 1,
//!         input: input.as_fd(),
//!         scratch: scratch.as_fd(),
//!         payload: b"policy=balanced",
//!         limits: JobLimits::default(),
//!     })?;
//!     println!("{:?}: {} reply bytes", outcome.kind, outcome.reply.map_or(0, |r| r.len()));
//!     Ok(())
//! }
//! ```

mod client;
mod job;
mod outcome;
mod server;
mod worker;

pub use client::{
    ClientError, ForkServerClient, REPORT_GRACE, SEND_TIMEOUT, STARTUP_TIMEOUT, spawn,
};
pub use job::{Handler, Job, JobError, JobLimits, JobRequest};
pub use outcome::{JobOutcome, OutcomeKind, STDERR_CAPTURE_BYTES, WorkerExit};
#[cfg(feature = "probes")]
pub use server::serve_with_layers;
pub use server::{ServeError, heap_to_huge_pages, serve};

/// Environment variable with the descriptor number of the fork server's control socket, set by
/// [`spawn`] and read by [`serve`].
pub const FD_ENV: &str = "SKILL_SCANNER_FORK_SERVER_FD";

/// Maximum number of workers one fork server runs at once. Each costs the server two
/// descriptors (pidfd and job socket) and the machine a process. The front end should cap its
/// own concurrency well below this.
pub const MAX_RUNNING_WORKERS: usize = 128;

/// Maximum reply limit a job may request, because the client keeps the reply in memory.
pub const MAX_REPLY_LIMIT_BYTES: u64 = 256 << 20;

/// Maximum wall-clock deadline a job may request.
pub const MAX_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3600);

pub use crate::protocol::MAX_PAYLOAD_BYTES;
