//! A job as the client submits it ([`JobRequest`]) and as the worker's handler receives it
//! ([`Job`]).
//!
//! Trust boundary: a [`Job`] exists only inside a confined worker. Its descriptors are the only
//! way to the input and the scratch directory; the worker receives no paths.
//!
//! Limits: [`Job::open_input`] and [`Job::create_scratch_file`] refuse a symlink as the last
//! path component, but follow symlinks in earlier components; Landlock still denies any
//! target outside the input and scratch hierarchies.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

use crate::confine::Rlimits;

/// The job handler that runs in each worker: it gets the fork server's state and the job and
/// returns the reply bytes.
pub type Handler<S> = fn(&S, &Job) -> Result<Vec<u8>, JobError>;

/// A job's failure, written to the worker's stderr before it exits with status 1.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    message: String,
}

impl JobError {
    /// Creates an error with a message for the worker's stderr.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl From<io::Error> for JobError {
    fn from(error: io::Error) -> Self {
        Self::new(error.to_string())
    }
}

/// One job inside a confined worker.
#[derive(Debug)]
pub struct Job {
    pub(crate) id: u64,
    pub(crate) payload: Vec<u8>,
    pub(crate) input: OwnedFd,
    pub(crate) scratch: OwnedFd,
    pub(crate) max_reply_bytes: u64,
}

impl Job {
    /// Returns the job ID the client chose.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Returns the job payload (at most [`MAX_PAYLOAD_BYTES`](crate::protocol::MAX_PAYLOAD_BYTES)).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Returns the input: a directory, or a regular file such as an upload's spool file.
    /// Landlock allows reading beneath it and nothing else outside the scratch directory.
    pub fn input(&self) -> BorrowedFd<'_> {
        self.input.as_fd()
    }

    /// Returns the job's scratch directory, the only place the worker can write.
    pub fn scratch(&self) -> BorrowedFd<'_> {
        self.scratch.as_fd()
    }

    /// Returns the largest reply the client accepts; a longer reply fails the job.
    pub fn max_reply_bytes(&self) -> u64 {
        self.max_reply_bytes
    }

    /// Opens a file beneath the input directory for reading.
    pub fn open_input(&self, relative: &Path) -> io::Result<File> {
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let fd = openat(self.input(), relative, flags, Mode::empty())?;
        Ok(File::from(fd))
    }

    /// Returns a new handle to the input, for an input that is a regular file.
    pub fn input_file(&self) -> io::Result<File> {
        Ok(File::from(self.input.try_clone()?))
    }

    /// Creates a new file beneath the scratch directory, failing if it exists.
    pub fn create_scratch_file(&self, relative: &Path) -> io::Result<File> {
        let flags =
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let fd = openat(
            self.scratch(),
            relative,
            flags,
            Mode::from_bits_truncate(0o600),
        )?;
        Ok(File::from(fd))
    }

    /// Opens an existing file beneath the scratch directory for reading.
    pub fn open_scratch_file(&self, relative: &Path) -> io::Result<File> {
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let fd = openat(self.scratch(), relative, flags, Mode::empty())?;
        Ok(File::from(fd))
    }
}

/// Limits for one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobLimits {
    /// Wall-clock time from fork until the fork server kills the worker, at most
    /// [`MAX_DEADLINE`](super::MAX_DEADLINE).
    pub deadline: Duration,
    /// Largest reply accepted, at most [`MAX_REPLY_LIMIT_BYTES`](super::MAX_REPLY_LIMIT_BYTES).
    pub max_reply_bytes: u64,
    /// Resource limits the worker sets on itself.
    pub rlimits: Rlimits,
}

impl Default for JobLimits {
    fn default() -> Self {
        Self {
            // 90 s: above the default 60 s CPU limit, so a job that waits on I/O for part of
            // its run is not cut short by the wall clock first.
            deadline: Duration::from_secs(90),
            // 16 MiB: a scan result with thousands of findings stays far below this.
            max_reply_bytes: 16 << 20,
            rlimits: Rlimits::default(),
        }
    }
}

/// A job as the front end submits it to [`ForkServerClient::run`](super::ForkServerClient::run).
#[derive(Clone, Copy, Debug)]
pub struct JobRequest<'a> {
    /// ID echoed in logs and in the outcome; the client does not check uniqueness.
    pub id: u64,
    /// Input directory or regular file, opened by the front end (for a path scan, with
    /// `openat2` and `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`). The worker gets read access
    /// beneath it.
    pub input: BorrowedFd<'a>,
    /// A fresh scratch directory for this job alone. The worker gets full access beneath it,
    /// so it must not be shared with another job.
    pub scratch: BorrowedFd<'a>,
    /// Bytes handed to the handler as [`Job::payload`], at most
    /// [`MAX_PAYLOAD_BYTES`](crate::protocol::MAX_PAYLOAD_BYTES).
    pub payload: &'a [u8],
    /// Deadline, reply cap and rlimits.
    pub limits: JobLimits,
}
