//! Confinement of the calling process: the fixed recipe a worker runs before it reads untrusted
//! input.
//!
//! Trust boundary: [`apply`] runs while the process is still trusted, and everything after it
//! returns is treated as hostile. The restrictions are irreversible and inherited by any thread
//! the process creates later.
//!
//! Limits: [`apply`] rejects a multi-threaded process, because Landlock and seccomp (without
//! thread synchronization) bind only the calling thread. Landlock must be enforced in full for
//! the kernel's ABI and that ABI must be at least [`MIN_LANDLOCK_ABI`]; otherwise [`apply`]
//! fails instead of running unconfined. A failed [`apply`] may leave the process partly confined,
//! so the caller must exit rather than continue.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::path::PathBuf;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::{fds, landlock_rules, seccomp};

/// Lowest Landlock ABI accepted by default. ABI 3 (Linux 6.2) added the truncate right; below
/// it, `open(O_RDONLY | O_TRUNC)` could empty a file in the read-only input hierarchy.
pub const MIN_LANDLOCK_ABI: u8 = 3;

/// An rlimit value that means "no limit" (`RLIM_INFINITY` on Linux).
pub const UNLIMITED: u64 = libc::RLIM_INFINITY;

/// Resource limits for one worker. [`apply`] lowers the soft and hard limit to these values and
/// never raises a limit above the hard limit the process already has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimits {
    /// `RLIMIT_AS` in bytes. It counts every mapping the worker inherits from the fork server
    /// (binary, compiled rules, heap) and each thread's stack reservation, so it must sit well
    /// above what the job itself allocates.
    pub address_space_bytes: u64,
    /// `RLIMIT_CPU` in seconds of CPU time. The kernel sends `SIGXCPU` at this limit and
    /// `SIGKILL` one second later.
    pub cpu_seconds: u64,
    /// `RLIMIT_FSIZE` in bytes: the largest regular file the worker can write. A write past it
    /// fails with `EFBIG` because workers ignore `SIGXFSZ`.
    pub file_size_bytes: u64,
    /// `RLIMIT_NOFILE`: one more than the highest descriptor number the worker can open.
    pub open_files: u64,
    /// `RLIMIT_NPROC`. The kernel counts every process and thread of the real user ID, not of
    /// this worker, and does not apply the limit to root, so it only backs up the seccomp
    /// filter, which already rejects fork.
    pub processes: u64,
}

impl Default for Rlimits {
    fn default() -> Self {
        Self {
            // 4 GiB: the scanner's fork server maps its rules and YARA-X engine before forking,
            // and each worker thread reserves its stack, so this leaves a few GiB for the scan.
            address_space_bytes: 4 << 30,
            // 60 s of CPU: far above a normal skill scan, low enough to stop a runaway regex.
            cpu_seconds: 60,
            // 1 GiB: scratch files are extracted archive entries, which the intake limits more
            // tightly; this is a backstop for a bug there.
            file_size_bytes: 1 << 30,
            // 256 descriptors: a scan keeps a few files and directories open at a time.
            open_files: 256,
            // Left at the inherited value, because the kernel counts the whole user's threads.
            processes: UNLIMITED,
        }
    }
}

/// A file hierarchy that a Landlock rule grants access beneath.
#[derive(Clone, Debug)]
pub enum Beneath<'fd> {
    /// An open directory or file. It must stay open until [`apply`] returns and is kept open.
    Fd(BorrowedFd<'fd>),
    /// A path that [`apply`] opens with `O_PATH` after closing inherited descriptors.
    Path(PathBuf),
}

/// Confinement layers that [`apply`] runs. Production code always uses [`Layers::ALL`]; the
/// `probes` feature exposes `Confinement::with_layers` so tests can check one layer at a time
/// and the benchmark can measure the cost of confinement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layers {
    /// Resource limits (`RLIMIT_CORE` is set to 0 whenever this is on).
    pub rlimits: bool,
    /// Landlock filesystem, network and scope rules.
    pub landlock: bool,
    /// The seccomp allowlist.
    pub seccomp: bool,
}

impl Layers {
    /// Every layer: what production workers run.
    pub const ALL: Self = Self {
        rlimits: true,
        landlock: true,
        seccomp: true,
    };
    /// No layer: descriptors are still closed and the environment cleared.
    pub const NONE: Self = Self {
        rlimits: false,
        landlock: false,
        seccomp: false,
    };
    /// Rlimits and Landlock without seccomp, to show what Landlock denies on its own.
    pub const WITHOUT_SECCOMP: Self = Self {
        rlimits: true,
        landlock: true,
        seccomp: false,
    };
}

/// Specification of the confinement that [`apply`] puts in place.
#[derive(Clone, Debug)]
pub struct Confinement<'fd> {
    read_only: Vec<Beneath<'fd>>,
    read_write: Vec<Beneath<'fd>>,
    keep_fds: Vec<RawFd>,
    rlimits: Rlimits,
    min_landlock_abi: u8,
    layers: Layers,
}

impl<'fd> Confinement<'fd> {
    /// Creates a confinement with these limits, no file access, and no descriptor kept except
    /// those named in later rules.
    pub fn new(rlimits: Rlimits) -> Self {
        Self {
            read_only: Vec::new(),
            read_write: Vec::new(),
            keep_fds: Vec::new(),
            rlimits,
            min_landlock_abi: MIN_LANDLOCK_ABI,
            layers: Layers::ALL,
        }
    }

    /// Allows reading files and listing directories beneath `hierarchy`.
    #[must_use]
    pub fn read_only(mut self, hierarchy: Beneath<'fd>) -> Self {
        self.read_only.push(hierarchy);
        self
    }

    /// Allows reading, creating, writing, truncating, renaming and removing files and
    /// directories beneath `hierarchy`. Executing files and creating symlinks, device nodes,
    /// FIFOs and sockets stay denied.
    #[must_use]
    pub fn read_write(mut self, hierarchy: Beneath<'fd>) -> Self {
        self.read_write.push(hierarchy);
        self
    }

    /// Keeps `fd` open through the close-descriptors step.
    #[must_use]
    pub fn keep_fd(mut self, fd: BorrowedFd<'fd>) -> Self {
        self.keep_fds.push(fd.as_raw_fd());
        self
    }

    /// Sets the lowest Landlock ABI accepted; see [`MIN_LANDLOCK_ABI`] for the default.
    #[must_use]
    pub fn min_landlock_abi(mut self, abi: u8) -> Self {
        self.min_landlock_abi = abi;
        self
    }

    /// Selects the confinement layers to run. Only for tests and benchmarks.
    #[cfg(feature = "probes")]
    #[must_use]
    pub fn with_layers(mut self, layers: Layers) -> Self {
        self.layers = layers;
        self
    }

    pub(crate) fn set_layers(&mut self, layers: Layers) {
        self.layers = layers;
    }

    /// Returns every descriptor the close step must leave open: the keep list plus the
    /// descriptors of the Landlock hierarchies.
    fn kept_fds(&self) -> Vec<RawFd> {
        let hierarchy_fds = self
            .read_only
            .iter()
            .chain(&self.read_write)
            .filter_map(|beneath| match beneath {
                Beneath::Fd(fd) => Some(fd.as_raw_fd()),
                Beneath::Path(_) => None,
            });
        self.keep_fds.iter().copied().chain(hierarchy_fds).collect()
    }
}

/// Restrictions that [`apply`] put in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfinementReport {
    /// Landlock ABI version used for the ruleset, or 0 when the Landlock layer was off.
    pub landlock_abi: u8,
    /// Filesystem access limited to the read-only and read-write hierarchies (any ABI).
    pub landlock_filesystem: bool,
    /// TCP bind and connect denied (ABI 4 and later).
    pub landlock_tcp: bool,
    /// Signals and abstract Unix sockets scoped to the worker's own domain (ABI 6 and later).
    pub landlock_scopes: bool,
    /// `PR_SET_NO_NEW_PRIVS` set.
    pub no_new_privs: bool,
    /// Seccomp allowlist installed.
    pub seccomp: bool,
    /// Resource limits set.
    pub rlimits: bool,
}

impl ConfinementReport {
    /// Returns whether every layer this crate implements is on, as production requires. Landlock
    /// TCP and scope rules count only when the kernel's ABI has them.
    pub fn is_complete(&self) -> bool {
        let tcp_ok = self.landlock_tcp || self.landlock_abi < 4;
        let scopes_ok = self.landlock_scopes || self.landlock_abi < 6;
        self.landlock_filesystem
            && tcp_ok
            && scopes_ok
            && self.no_new_privs
            && self.seccomp
            && self.rlimits
    }
}

impl fmt::Display for ConfinementReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on_off = |on: bool| if on { "on" } else { "off" };
        write!(
            f,
            "Landlock ABI {} (filesystem {}, TCP {}, scopes {}), no_new_privs {}, seccomp {}, rlimits {}",
            self.landlock_abi,
            on_off(self.landlock_filesystem),
            on_off(self.landlock_tcp),
            on_off(self.landlock_scopes),
            on_off(self.no_new_privs),
            on_off(self.seccomp),
            on_off(self.rlimits),
        )
    }
}

/// Failure of one confinement step. The process may be partly confined afterwards.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfineError {
    /// The thread count could not be read from `/proc/self/stat`.
    #[error("failed to read the thread count from /proc/self/stat: {0}")]
    ThreadCount(#[source] io::Error),
    /// The process has more than one thread, which Landlock and seccomp would leave unconfined.
    #[error("process has {threads} threads; confinement must run while it is single-threaded")]
    MultiThreaded {
        /// Thread count read from `/proc/self/stat`.
        threads: u64,
    },
    /// `close_range` failed.
    #[error("failed to close inherited descriptors: {0}")]
    CloseDescriptors(#[source] io::Error),
    /// `setrlimit` failed for one resource.
    #[error("failed to set {resource} to {value}: {source}")]
    SetRlimit {
        /// Name of the resource, such as `RLIMIT_AS`.
        resource: &'static str,
        /// Requested soft limit.
        value: u64,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// `prctl(PR_SET_NO_NEW_PRIVS)` failed.
    #[error("failed to set no_new_privs: {0}")]
    NoNewPrivs(#[source] io::Error),
    /// The kernel has no usable Landlock.
    #[error(
        "Landlock is not available ({0}); boot with Landlock in the lsm= list, Linux 6.2 or later"
    )]
    LandlockUnavailable(#[source] io::Error),
    /// The kernel's Landlock ABI is older than the configured minimum.
    #[error("Landlock ABI {found} is older than the required ABI {required}")]
    LandlockAbiTooOld {
        /// ABI the kernel reports.
        found: u8,
        /// Minimum from [`Confinement::min_landlock_abi`].
        required: u8,
    },
    /// A path hierarchy could not be opened for its Landlock rule.
    #[error("failed to open {path} for a Landlock rule: {source}")]
    OpenHierarchy {
        /// The path from [`Beneath::Path`].
        path: PathBuf,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// `fstat` failed on a hierarchy descriptor.
    #[error("failed to stat a descriptor for a Landlock rule: {0}")]
    StatHierarchy(#[source] io::Error),
    /// Building or enforcing the Landlock ruleset failed.
    #[error("failed to enforce the Landlock ruleset: {0}")]
    Landlock(#[from] landlock::RulesetError),
    /// The kernel accepted the ruleset but did not enforce all of it.
    #[error("Landlock ruleset is {status:?}, not fully enforced")]
    LandlockNotEnforced {
        /// Status returned by `landlock_restrict_self`.
        status: landlock::RulesetStatus,
    },
    /// The seccomp filter could not be compiled for this architecture.
    #[error("failed to compile the seccomp filter: {0}")]
    SeccompCompile(#[source] seccompiler::BackendError),
    /// Installing the seccomp filter failed.
    #[error("failed to install the seccomp filter: {0}")]
    SeccompInstall(#[source] seccompiler::Error),
}

/// Confines the calling process as `confinement` specifies, in a fixed order. Returns what was
/// enforced; any error leaves the process in an unknown, partly confined state, so the caller
/// must exit.
pub fn apply(confinement: &Confinement<'_>) -> Result<ConfinementReport, ConfineError> {
    let layers = confinement.layers;

    // Landlock and seccomp bind the calling thread only, so a second thread would escape both.
    ensure_single_threaded()?;

    // 1. Descriptors: anything inherited and not kept (the fork server's control socket, other
    //    jobs' descriptors, a leaked log file) is closed before untrusted code can use it.
    fds::close_all_except(&confinement.kept_fds()).map_err(ConfineError::CloseDescriptors)?;

    // 2. Environment: secrets and proxy settings of the parent must not reach the job.
    clear_environment();

    // 3. Rlimits, before the remaining steps allocate, so every later allocation counts.
    if layers.rlimits {
        set_rlimits(&confinement.rlimits)?;
    }

    // 4. no_new_privs: Landlock and seccomp require it for a process without CAP_SYS_ADMIN,
    //    and it stops set-user-ID binaries from granting privileges (exec is denied anyway).
    let no_new_privs = layers.landlock || layers.seccomp;
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs()
            .map_err(|errno| ConfineError::NoNewPrivs(io::Error::from(errno)))?;
    }

    // 5. Landlock: filesystem rules are mandatory; TCP and scopes follow the kernel's ABI.
    let landlock = if layers.landlock {
        landlock_rules::restrict(
            &confinement.read_only,
            &confinement.read_write,
            confinement.min_landlock_abi,
        )?
    } else {
        landlock_rules::Enforced::default()
    };

    // 6. Seccomp last, because the steps above use syscalls the allowlist rejects
    //    (close_range, prlimit64, landlock_*).
    if layers.seccomp {
        seccomp::install()?;
    }

    Ok(ConfinementReport {
        landlock_abi: landlock.abi,
        landlock_filesystem: landlock.filesystem,
        landlock_tcp: landlock.tcp,
        landlock_scopes: landlock.scopes,
        no_new_privs,
        seccomp: layers.seccomp,
        rlimits: layers.rlimits,
    })
}

/// Reads the thread count (field 20 of `/proc/self/stat`) and rejects more than one.
pub(crate) fn ensure_single_threaded() -> Result<(), ConfineError> {
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(ConfineError::ThreadCount)?;
    let threads = parse_thread_count(&stat).ok_or_else(|| {
        ConfineError::ThreadCount(io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected /proc/self/stat format",
        ))
    })?;
    if threads == 1 {
        Ok(())
    } else {
        Err(ConfineError::MultiThreaded { threads })
    }
}

/// Parses `num_threads` from a `/proc/<pid>/stat` line. The command name in field 2 may hold
/// spaces and parentheses, so the fields are counted from the last `)`.
fn parse_thread_count(stat: &str) -> Option<u64> {
    let after_command = stat.get(stat.rfind(')')? + 1..)?;
    // Field 3 (state) is the first token after the command name, so field 20 is the 18th.
    after_command.split_ascii_whitespace().nth(17)?.parse().ok()
}

fn clear_environment() {
    // SAFETY: `apply` checked that this process has a single thread, so no other thread can
    // read or write the environment while clearenv frees it.
    unsafe {
        libc::clearenv();
    }
}

fn set_rlimits(limits: &Rlimits) -> Result<(), ConfineError> {
    // A crash must not write a core file holding the job's input.
    lower_rlimit(Resource::RLIMIT_CORE, "RLIMIT_CORE", 0, 0)?;
    lower_rlimit(
        Resource::RLIMIT_AS,
        "RLIMIT_AS",
        limits.address_space_bytes,
        limits.address_space_bytes,
    )?;
    // The hard limit is one second higher, so the kernel sends SIGXCPU first and SIGKILL only
    // if the worker ignores it.
    lower_rlimit(
        Resource::RLIMIT_CPU,
        "RLIMIT_CPU",
        limits.cpu_seconds,
        limits.cpu_seconds.saturating_add(1),
    )?;
    lower_rlimit(
        Resource::RLIMIT_FSIZE,
        "RLIMIT_FSIZE",
        limits.file_size_bytes,
        limits.file_size_bytes,
    )?;
    lower_rlimit(
        Resource::RLIMIT_NOFILE,
        "RLIMIT_NOFILE",
        limits.open_files,
        limits.open_files,
    )?;
    lower_rlimit(
        Resource::RLIMIT_NPROC,
        "RLIMIT_NPROC",
        limits.processes,
        limits.processes,
    )?;
    Ok(())
}

/// Sets a limit to `soft`/`hard`, each capped at the current hard limit, so an unprivileged
/// worker never needs CAP_SYS_RESOURCE.
fn lower_rlimit(
    resource: Resource,
    name: &'static str,
    soft: u64,
    hard: u64,
) -> Result<(), ConfineError> {
    let to_error = |errno: nix::Error| ConfineError::SetRlimit {
        resource: name,
        value: soft,
        source: errno.into(),
    };
    let (_, current_hard) = getrlimit(resource).map_err(to_error)?;
    let hard = hard.min(current_hard);
    let soft = soft.min(hard);
    setrlimit(resource, soft, hard).map_err(to_error)
}

/// Opens a [`Beneath::Path`] with `O_PATH`, which needs no read permission on the target.
pub(crate) fn open_path(path: &std::path::Path) -> Result<std::os::fd::OwnedFd, ConfineError> {
    use std::os::unix::ffi::OsStrExt;
    let to_error = |source| ConfineError::OpenHierarchy {
        path: path.to_path_buf(),
        source,
    };
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| to_error(io::Error::from(io::ErrorKind::InvalidInput)))?;
    nix::fcntl::open(
        c_path.as_c_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|errno| to_error(io::Error::from(errno)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_count_parses_plain_stat() {
        let stat = "1234 (sandbox) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 \
                    5000 1000 200 18446744073709551615";
        assert_eq!(parse_thread_count(stat), Some(3));
    }

    #[test]
    fn thread_count_survives_hostile_command_name() {
        let stat = "77 (a) b (c) 9 8) R 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 1 1";
        assert_eq!(parse_thread_count(stat), Some(1));
    }

    #[test]
    fn thread_count_rejects_truncated_stat() {
        assert_eq!(parse_thread_count("12 (x) S 1 2 3"), None);
        assert_eq!(parse_thread_count("no parenthesis"), None);
    }

    #[test]
    fn report_complete_needs_every_layer() {
        let full = ConfinementReport {
            landlock_abi: 7,
            landlock_filesystem: true,
            landlock_tcp: true,
            landlock_scopes: true,
            no_new_privs: true,
            seccomp: true,
            rlimits: true,
        };
        assert!(full.is_complete());
        assert!(
            !ConfinementReport {
                seccomp: false,
                ..full
            }
            .is_complete()
        );
        assert!(
            !ConfinementReport {
                landlock_tcp: false,
                ..full
            }
            .is_complete()
        );
        let abi3 = ConfinementReport {
            landlock_abi: 3,
            landlock_tcp: false,
            landlock_scopes: false,
            ..full
        };
        assert!(abi3.is_complete());
    }

    #[test]
    fn kept_fds_include_hierarchy_descriptors() {
        use std::os::fd::AsFd;

        let stderr = std::io::stderr();
        let directory = std::fs::File::open("/").unwrap();
        let confinement = Confinement::new(Rlimits::default())
            .keep_fd(stderr.as_fd())
            .read_only(Beneath::Path(PathBuf::from("/nonexistent")))
            .read_write(Beneath::Fd(directory.as_fd()));
        assert_eq!(confinement.kept_fds(), vec![2, directory.as_raw_fd()]);
    }
}
