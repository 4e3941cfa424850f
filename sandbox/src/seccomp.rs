//! The worker's seccomp allowlist, as data, and its installation.
//!
//! Every syscall a worker may make is one row of [`ALLOWED_SYSCALLS`] with the reason it is
//! needed. The rows come from `strace -f` runs of the probe server's workers reading and
//! writing files, allocating, spawning threads and scanning with YARA-X (see the table's
//! comment for the command). Any other syscall kills the whole worker with `SIGSYS`
//! (`SECCOMP_RET_KILL_PROCESS`), except `clone3`, which fails with `ENOSYS` so that glibc falls
//! back to `clone` for new threads, where the flags can be checked.
//!
//! Trust boundary: the filter is the last confinement step; after it the worker runs untrusted
//! input. Argument checks cover `clone` (threads only), `tgkill` (own process only), `prctl`
//! (thread names only) and `ioctl` (`TCGETS` only). Other syscalls are allowed with any
//! arguments: what they can reach is bounded by Landlock, the rlimits and the closed
//! descriptor table. `mmap` and `mprotect` may map memory executable, which YARA-X needs for
//! its compiled rules, so the filter does not stop code injected into a compromised worker.
//!
//! Limits: x86_64 and aarch64 only, and only x86_64 was traced. Syscalls that exist on x86_64
//! alone (`mkdir`, `rename`, ...) are listed for x86_64 only, because aarch64 has no such
//! numbers. A library that needs a syscall outside the table kills the worker with `SIGSYS`,
//! which the client reports as [`OutcomeKind::Denied`](crate::OutcomeKind::Denied).

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::confine::ConfineError;

/// Extra condition on a syscall's arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgCheck {
    /// Any arguments.
    Any,
    /// `clone` flags must create a thread sharing memory, files and signal handlers, and no
    /// new namespace; `fork`-style clones are rejected.
    NewThreadOnly,
    /// The first argument (a thread group ID) must be the worker's own process ID.
    OwnProcess,
    /// The first argument must be `PR_SET_NAME` or `PR_GET_NAME`.
    ThreadNameOnly,
    /// The second argument (the request) must be `TCGETS`.
    TerminalQueryOnly,
}

/// Action the filter takes for a listed syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Run the syscall.
    Allow,
    /// Fail the syscall with this errno without running it.
    Errno(u32),
}

/// One row of the allowlist.
#[derive(Clone, Copy, Debug)]
pub struct AllowedSyscall {
    /// Syscall name as in `man 2`.
    pub name: &'static str,
    /// Syscall number on the build architecture.
    pub number: libc::c_long,
    /// Condition on the arguments.
    pub args: ArgCheck,
    /// Action when the row matches.
    pub verdict: Verdict,
    /// Code that needs the syscall, and why.
    pub reason: &'static str,
}

const fn allow(name: &'static str, number: libc::c_long, reason: &'static str) -> AllowedSyscall {
    AllowedSyscall {
        name,
        number,
        args: ArgCheck::Any,
        verdict: Verdict::Allow,
        reason,
    }
}

const fn allow_if(
    name: &'static str,
    number: libc::c_long,
    args: ArgCheck,
    reason: &'static str,
) -> AllowedSyscall {
    AllowedSyscall {
        name,
        number,
        args,
        verdict: Verdict::Allow,
        reason,
    }
}

/// Syscalls that must never appear in [`ALLOWED_SYSCALLS`]; a unit test checks the table
/// against this list. `clone3` is absent because it is listed with an `ENOSYS` verdict.
pub const NEVER_ALLOWED: &[&str] = &[
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "sendto",
    "sendmsg",
    "execve",
    "execveat",
    "ptrace",
    "fork",
    "vfork",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "bpf",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "memfd_create",
    "process_vm_readv",
    "process_vm_writev",
    "kill",
    "tkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "pidfd_open",
    "pidfd_send_signal",
    "pidfd_getfd",
    "userfaultfd",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "kexec_load",
    "reboot",
    "setuid",
    "setgid",
    "setresuid",
    "setresgid",
    "capset",
    "seccomp",
    "landlock_restrict_self",
    "mknod",
    "mknodat",
    "symlink",
    "symlinkat",
    "link",
    "linkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "fchownat",
    "open_by_handle_at",
    "name_to_handle_at",
    "truncate",
];

/// The worker allowlist.
///
/// Derived with `strace -f` on `sandbox-probe-server --layers without-seccomp` (Linux 6.18,
/// glibc 2.36, Rust 1.95, YARA-X 1.22). Workers ran the `harmless`, `walk_input`, `std_fs`,
/// `spawn_thread`, `yara_scan`, `alloc_past_limit`, `write_past_fsize`, `stderr_flood`,
/// `sleep_forever`, `spin_cpu`, `fail` and `panic` probes, and the table keeps the syscalls
/// each worker and its threads made after `landlock_restrict_self`. The `seccomp_trace` test
/// repeats this check. Rows whose reason
/// contains "not in the trace" were added for operations a scanner is expected to need; none of
/// them opens a new resource.
pub static ALLOWED_SYSCALLS: &[AllowedSyscall] = &[
    // Files, through descriptors (openat family) and through paths beneath the input and
    // scratch directories (std::fs). Landlock decides which files these can reach.
    allow("read", libc::SYS_read, "read input and scratch files"),
    allow(
        "write",
        libc::SYS_write,
        "write scratch files, the reply pipe and stderr",
    ),
    allow(
        "openat",
        libc::SYS_openat,
        "open files (std::fs::File::open, Job::open_input)",
    ),
    allow("close", libc::SYS_close, "close descriptors"),
    allow(
        "fcntl",
        libc::SYS_fcntl,
        "F_GETFD checks and F_DUPFD_CLOEXEC (File::try_clone)",
    ),
    allow(
        "statx",
        libc::SYS_statx,
        "std::fs metadata and File::read_to_end size hints",
    ),
    allow(
        "newfstatat",
        libc::SYS_newfstatat,
        "fstatat while walking a directory descriptor",
    ),
    allow(
        "lseek",
        libc::SYS_lseek,
        "File::read_to_end and seeking in archives",
    ),
    allow(
        "getdents64",
        libc::SYS_getdents64,
        "list directories (read_dir, walking the input)",
    ),
    allow(
        "renameat",
        libc::SYS_renameat,
        "rename within scratch through descriptors",
    ),
    allow(
        "unlinkat",
        libc::SYS_unlinkat,
        "remove scratch files; remove_dir_all",
    ),
    allow(
        "readv",
        libc::SYS_readv,
        "vectored reads, BufReader (not in the trace)",
    ),
    allow(
        "writev",
        libc::SYS_writev,
        "vectored writes, write_all_vectored (not in the trace)",
    ),
    allow(
        "pread64",
        libc::SYS_pread64,
        "positioned reads, FileExt::read_at (not in the trace)",
    ),
    allow(
        "fstat",
        libc::SYS_fstat,
        "fstat of an open descriptor (not in the trace)",
    ),
    allow(
        "mkdirat",
        libc::SYS_mkdirat,
        "create directories in scratch by descriptor (not in the trace)",
    ),
    allow(
        "renameat2",
        libc::SYS_renameat2,
        "rename within scratch with flags (not in the trace)",
    ),
    allow(
        "readlinkat",
        libc::SYS_readlinkat,
        "read a symlink target found in the input (not in the trace)",
    ),
    allow(
        "ftruncate",
        libc::SYS_ftruncate,
        "File::set_len on a scratch file (not in the trace)",
    ),
    allow_if(
        "ioctl",
        libc::SYS_ioctl,
        ArgCheck::TerminalQueryOnly,
        "TCGETS only: isatty checks by logging libraries fail with ENOTTY (not in the trace)",
    ),
    #[cfg(target_arch = "x86_64")]
    allow(
        "mkdir",
        libc::SYS_mkdir,
        "std::fs::create_dir_all (glibc uses mkdir on x86_64)",
    ),
    #[cfg(target_arch = "x86_64")]
    allow(
        "rename",
        libc::SYS_rename,
        "std::fs::rename (glibc uses rename on x86_64)",
    ),
    #[cfg(target_arch = "x86_64")]
    allow(
        "unlink",
        libc::SYS_unlink,
        "std::fs::remove_file (glibc uses unlink on x86_64)",
    ),
    #[cfg(target_arch = "x86_64")]
    allow(
        "rmdir",
        libc::SYS_rmdir,
        "std::fs::remove_dir on x86_64 (not in the trace)",
    ),
    #[cfg(target_arch = "x86_64")]
    allow(
        "readlink",
        libc::SYS_readlink,
        "std::fs::read_link on x86_64 (not in the trace)",
    ),
    // Memory.
    allow("brk", libc::SYS_brk, "glibc malloc main heap"),
    allow(
        "mmap",
        libc::SYS_mmap,
        "large allocations, thread stacks, malloc arenas",
    ),
    allow(
        "munmap",
        libc::SYS_munmap,
        "free large allocations and arenas",
    ),
    allow(
        "mprotect",
        libc::SYS_mprotect,
        "thread stack guard pages and malloc arenas; YARA-X maps compiled rule code executable",
    ),
    allow(
        "madvise",
        libc::SYS_madvise,
        "glibc frees the stack of an exited thread",
    ),
    allow(
        "mremap",
        libc::SYS_mremap,
        "glibc realloc of large blocks (not in the trace)",
    ),
    // Threads.
    allow_if(
        "clone",
        libc::SYS_clone,
        ArgCheck::NewThreadOnly,
        "glibc pthread_create once clone3 fails (YARA-X heartbeat thread, thread::spawn)",
    ),
    AllowedSyscall {
        name: "clone3",
        number: libc::SYS_clone3,
        args: ArgCheck::Any,
        verdict: Verdict::Errno(libc::ENOSYS as u32),
        reason: "glibc 2.34+ tries clone3 first; ENOSYS makes it fall back to clone, whose \
                 flags a filter can read (clone3 passes them in memory)",
    },
    allow(
        "set_robust_list",
        libc::SYS_set_robust_list,
        "glibc, at the start of every thread",
    ),
    allow(
        "rseq",
        libc::SYS_rseq,
        "glibc, at the start of every thread",
    ),
    allow(
        "futex",
        libc::SYS_futex,
        "mutexes, condition variables, thread join",
    ),
    allow(
        "sched_getaffinity",
        libc::SYS_sched_getaffinity,
        "available_parallelism in a new thread",
    ),
    allow(
        "sched_yield",
        libc::SYS_sched_yield,
        "spin-wait loops in libraries (not in the trace)",
    ),
    allow_if(
        "prctl",
        libc::SYS_prctl,
        ArgCheck::ThreadNameOnly,
        "PR_SET_NAME and PR_GET_NAME: Rust std names threads built with a name",
    ),
    // Signals.
    allow(
        "rt_sigaction",
        libc::SYS_rt_sigaction,
        "glibc pthread_create and abort set handlers",
    ),
    allow(
        "rt_sigprocmask",
        libc::SYS_rt_sigprocmask,
        "glibc pthread_create and abort",
    ),
    allow(
        "sigaltstack",
        libc::SYS_sigaltstack,
        "Rust std stack-overflow handler in each thread",
    ),
    allow(
        "rt_sigreturn",
        libc::SYS_rt_sigreturn,
        "return from a signal handler, such as YARA-X trap handling (not in the trace)",
    ),
    allow("gettid", libc::SYS_gettid, "glibc raise and thread start"),
    allow(
        "getpid",
        libc::SYS_getpid,
        "glibc raise passes its own process ID to tgkill",
    ),
    allow_if(
        "tgkill",
        libc::SYS_tgkill,
        ArgCheck::OwnProcess,
        "glibc abort raises SIGABRT in its own process (allocation failure, panic=abort)",
    ),
    // Time, randomness, exit.
    allow(
        "clock_nanosleep",
        libc::SYS_clock_nanosleep,
        "thread::sleep (YARA-X heartbeat thread)",
    ),
    allow(
        "clock_gettime",
        libc::SYS_clock_gettime,
        "Instant::now when the vDSO falls back to a syscall (not in the trace)",
    ),
    allow(
        "getrandom",
        libc::SYS_getrandom,
        "HashMap seeds in a new thread (not in the trace)",
    ),
    allow("exit", libc::SYS_exit, "a thread exits"),
    allow("exit_group", libc::SYS_exit_group, "the worker exits"),
];

/// Clone flags a thread needs: the same memory, descriptor table, filesystem information and
/// signal handlers as its creator.
const THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD) as u64;

/// Clone flags the filter inspects: the thread flags, which must all be set, and flags that
/// would create namespaces or a traced or vfork child, which must all be clear.
const INSPECTED_CLONE_FLAGS: u64 = THREAD_FLAGS
    | (libc::CLONE_VFORK
        | libc::CLONE_PARENT
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWCGROUP
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET
        | libc::CLONE_PTRACE
        | libc::CLONE_PIDFD
        | libc::CLONE_UNTRACED) as u64;

/// Compiles the allowlist for the calling process and installs it. The filter is compiled
/// per worker because the `tgkill` rule contains the worker's own process ID.
pub(crate) fn install() -> Result<(), ConfineError> {
    let (allowlist, errno_filter) = compile(std::process::id())?;
    // The kernel runs every installed filter and applies the most severe verdict, so the
    // errno filter can only turn an allowed syscall into an error, never allow a killed one.
    // It goes first because installing a filter takes prctl and seccomp, which the allowlist
    // rejects.
    seccompiler::apply_filter(&errno_filter).map_err(ConfineError::SeccompInstall)?;
    seccompiler::apply_filter(&allowlist).map_err(ConfineError::SeccompInstall)?;
    Ok(())
}

/// Builds two BPF programs: the allowlist (default: kill the process) and a second filter
/// that returns the errno of the `Errno` rows (default: allow).
fn compile(own_pid: u32) -> Result<(BpfProgram, BpfProgram), ConfineError> {
    let arch = target_arch()?;

    let mut allowed: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut errnos: BTreeMap<u32, BTreeMap<i64, Vec<SeccompRule>>> = BTreeMap::new();
    for row in ALLOWED_SYSCALLS {
        let number: i64 = row.number;
        allowed.insert(number, rules_for(row.args, own_pid)?);
        if let Verdict::Errno(errno) = row.verdict {
            errnos.entry(errno).or_default().insert(number, Vec::new());
        }
    }

    let allowlist: BpfProgram = SeccompFilter::new(
        allowed,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        arch,
    )
    .and_then(TryInto::try_into)
    .map_err(ConfineError::SeccompCompile)?;

    // One errno value is in use (ENOSYS); a second value would need a third filter.
    let (errno, rows) = errnos
        .into_iter()
        .next()
        .unwrap_or((libc::ENOSYS as u32, BTreeMap::new()));
    let errno_filter: BpfProgram = SeccompFilter::new(
        rows,
        SeccompAction::Allow,
        SeccompAction::Errno(errno),
        arch,
    )
    .and_then(TryInto::try_into)
    .map_err(ConfineError::SeccompCompile)?;
    Ok((allowlist, errno_filter))
}

fn rules_for(check: ArgCheck, own_pid: u32) -> Result<Vec<SeccompRule>, ConfineError> {
    let condition = |arg: u8, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
            .and_then(|condition| SeccompRule::new(vec![condition]))
            .map_err(ConfineError::SeccompCompile)
    };
    Ok(match check {
        // An empty rule list means the syscall is allowed whatever its arguments.
        ArgCheck::Any => Vec::new(),
        ArgCheck::NewThreadOnly => {
            vec![condition(
                0,
                SeccompCmpOp::MaskedEq(INSPECTED_CLONE_FLAGS),
                THREAD_FLAGS,
            )?]
        }
        ArgCheck::OwnProcess => vec![condition(0, SeccompCmpOp::Eq, u64::from(own_pid))?],
        ArgCheck::ThreadNameOnly => vec![
            condition(0, SeccompCmpOp::Eq, libc::PR_SET_NAME as u64)?,
            condition(0, SeccompCmpOp::Eq, libc::PR_GET_NAME as u64)?,
        ],
        ArgCheck::TerminalQueryOnly => vec![condition(1, SeccompCmpOp::Eq, libc::TCGETS)?],
    })
}

fn target_arch() -> Result<TargetArch, ConfineError> {
    std::env::consts::ARCH
        .try_into()
        .map_err(ConfineError::SeccompCompile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_has_no_forbidden_syscall() {
        for row in ALLOWED_SYSCALLS {
            assert!(
                !NEVER_ALLOWED.contains(&row.name),
                "{} is in the allowlist but must never be allowed",
                row.name
            );
        }
    }

    #[test]
    fn allowlist_rows_are_unique() {
        let mut numbers: Vec<_> = ALLOWED_SYSCALLS.iter().map(|row| row.number).collect();
        numbers.sort_unstable();
        let before = numbers.len();
        numbers.dedup();
        assert_eq!(
            before,
            numbers.len(),
            "a syscall number appears in two rows"
        );
    }

    #[test]
    fn allowlist_rows_give_reasons() {
        for row in ALLOWED_SYSCALLS {
            assert!(!row.reason.trim().is_empty(), "{} has no reason", row.name);
        }
    }

    #[test]
    fn clone3_fails_with_enosys() {
        let clone3 = ALLOWED_SYSCALLS
            .iter()
            .find(|row| row.name == "clone3")
            .unwrap();
        assert_eq!(clone3.verdict, Verdict::Errno(libc::ENOSYS as u32));
    }

    #[test]
    fn glibc_thread_flags_pass_clone_check() {
        // Flags of glibc 2.36 pthread_create (sysdeps/nptl/createthread and clone-internal).
        let glibc_thread = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        assert_eq!(glibc_thread & INSPECTED_CLONE_FLAGS, THREAD_FLAGS);

        let glibc_fork =
            (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
        assert_ne!(glibc_fork & INSPECTED_CLONE_FLAGS, THREAD_FLAGS);

        let posix_spawn = (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64;
        assert_ne!(posix_spawn & INSPECTED_CLONE_FLAGS, THREAD_FLAGS);

        let thread_in_new_user_namespace = THREAD_FLAGS | libc::CLONE_NEWUSER as u64;
        assert_ne!(
            thread_in_new_user_namespace & INSPECTED_CLONE_FLAGS,
            THREAD_FLAGS
        );
    }

    #[test]
    fn filters_compile_for_this_architecture() {
        let (allowlist, errno_filter) = compile(4242).unwrap();
        assert!(!allowlist.is_empty());
        assert!(!errno_filter.is_empty());
    }
}
