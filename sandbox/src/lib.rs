//! Worker process model and confinement for skill-scanner.
//!
//! The scanner front end is multi-threaded, so it never forks itself and never parses untrusted
//! content in its own process. It executes its own binary as a single-threaded **fork server**
//! ([`forkserver::spawn`] on the front-end side, [`forkserver::serve`] in the executed
//! process). The fork server forks one **worker** per job. The worker confines itself with
//! [`confine::apply`] before it reads a byte of the job's input, runs the job handler, writes
//! one bounded reply and exits.
//!
//! Trust boundary: everything a worker produces (its reply, its stderr, its exit status) is
//! untrusted. The client side caps the reply size, bounds and sanitizes stderr and enforces a
//! read deadline, and the fork server kills workers that pass their wall-clock deadline.
//!
//! Confinement, in this order: close inherited descriptors, clear the environment, rlimits,
//! `PR_SET_NO_NEW_PRIVS`, Landlock (mandatory filesystem rules, plus TCP and scoping when the
//! kernel has them), then a seccomp allowlist ([`seccomp::ALLOWED_SYSCALLS`]).
//!
//! Limits: Linux only, x86_64 and aarch64 (the seccomp table lists syscalls by number for these
//! two). Landlock filesystem rules need ABI 3 (Linux 6.2) by default, see
//! [`confine::MIN_LANDLOCK_ABI`]. This is the only crate of the workspace that may use `unsafe`,
//! and each block names the invariant that makes it sound.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "skill-scanner-sandbox relies on Landlock, seccomp and pidfds, which only Linux has"
);

pub mod confine;
mod fds;
pub mod forkserver;
mod landlock_rules;
#[cfg(feature = "probes")]
pub mod probes;
mod protocol;
pub mod seccomp;

pub use confine::{
    Beneath, ConfineError, Confinement, ConfinementReport, Layers, MIN_LANDLOCK_ABI, Rlimits, apply,
};
pub use forkserver::{
    ClientError, ForkServerClient, Handler, Job, JobError, JobLimits, JobOutcome, JobRequest,
    OutcomeKind, ServeError, WorkerExit, heap_to_huge_pages, serve, spawn,
};
pub use protocol::ProtocolError;
