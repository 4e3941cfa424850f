//! Descriptor and process-handle helpers: closing all but a keep list, moving descriptors to
//! fixed numbers in a worker, and pidfds for watching and reaping workers.
//!
//! Trust boundary: these run in the trusted fork server and in a worker before it confines
//! itself. They take raw descriptor numbers because the worker arranges its descriptor table
//! by number.
//!
//! Limits: needs Linux 5.9 for `close_range` and 5.3 for `pidfd_open`; Landlock ABI 3 already
//! requires Linux 6.2.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Closes every descriptor of the process except those in `keep`.
pub(crate) fn close_all_except(keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .collect();
    keep.sort_unstable();
    keep.dedup();

    let mut first = 0u32;
    for fd in keep {
        if fd > first {
            close_range(first, fd - 1)?;
        }
        first = fd.saturating_add(1);
    }
    if first < u32::MAX {
        close_range(first, u32::MAX)
    } else {
        Ok(())
    }
}

fn close_range(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: close_range only closes descriptors. The callers own the whole descriptor table:
    // the worker right after fork, before any Rust object that could hold one of them runs.
    let result = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Moves each `(source, target)` descriptor to its target number, the way a worker arranges
/// the descriptors it received. Sources may collide with targets: every source is first
/// duplicated above all targets. The sources themselves stay open.
pub(crate) fn move_to_numbers(pairs: &[(RawFd, RawFd)]) -> io::Result<()> {
    let floor = pairs
        .iter()
        .map(|&(_, target)| target)
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    let mut copies = Vec::with_capacity(pairs.len());
    for &(source, target) in pairs {
        // SAFETY: F_DUPFD_CLOEXEC only creates a new descriptor; an invalid `source` fails
        // with EBADF.
        let copy = unsafe { libc::fcntl(source, libc::F_DUPFD_CLOEXEC, floor) };
        if copy < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `copy` was just returned by fcntl and nothing else owns it.
        copies.push((unsafe { OwnedFd::from_raw_fd(copy) }, target));
    }
    for (copy, target) in &copies {
        // SAFETY: dup2 atomically replaces `target`. The worker gives each target number a
        // single meaning in its descriptor layout, so no live Rust object relies on the
        // descriptor it replaces.
        if unsafe { libc::dup2(copy.as_raw_fd(), *target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Opens a pidfd for a child process.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `signal` to the process behind `pidfd`. Unlike `kill(pid)`, this cannot hit a
/// process that reused the pid after the worker was reaped.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: a NULL siginfo makes the kernel fill in the sender's details itself.
    let result = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Exit status and resource usage of a reaped child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reaped {
    /// `CLD_EXITED`, `CLD_KILLED` or `CLD_DUMPED`.
    pub code: libc::c_int,
    /// Exit status for `CLD_EXITED`, signal number otherwise.
    pub status: libc::c_int,
    pub cpu_time: Duration,
    pub max_rss_bytes: u64,
}

/// Reaps the exited child behind `pidfd` with `waitid(P_PIDFD, ..., WEXITED | WNOHANG)`.
/// Returns `None` while the child is still running.
pub(crate) fn reap(pidfd: BorrowedFd<'_>) -> io::Result<Option<Reaped>> {
    // SAFETY: siginfo_t and rusage are plain C structs for which all-zero bytes are valid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };

    // SAFETY: the raw syscall (unlike the libc wrapper) takes a fifth rusage argument. Both
    // pointers refer to live, writable structs of the types the kernel writes.
    let result = unsafe {
        libc::syscall(
            libc::SYS_waitid,
            libc::P_PIDFD,
            pidfd.as_raw_fd(),
            &raw mut info,
            libc::WEXITED | libc::WNOHANG,
            &raw mut usage,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }

    // SAFETY: reading si_pid is valid for any siginfo the kernel wrote for waitid; WNOHANG
    // leaves it zero when no child has changed state.
    if unsafe { info.si_pid() } == 0 {
        return Ok(None);
    }

    let cpu = |time: libc::timeval| {
        Duration::from_secs(u64::try_from(time.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(time.tv_usec).unwrap_or(0))
    };
    Ok(Some(Reaped {
        code: info.si_code,
        // SAFETY: for a waitid result with a non-zero pid, the SIGCHLD fields are valid.
        status: unsafe { info.si_status() },
        cpu_time: cpu(usage.ru_utime) + cpu(usage.ru_stime),
        // ru_maxrss is in KiB on Linux.
        max_rss_bytes: u64::try_from(usage.ru_maxrss)
            .unwrap_or(0)
            .saturating_mul(1024),
    }))
}

/// Sets or clears `O_NONBLOCK`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let mut flags = OFlag::from_bits_truncate(flags);
    flags.set(OFlag::O_NONBLOCK, nonblocking);
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    Ok(())
}

/// Sets `FD_CLOEXEC`, so the descriptor does not leak into a program the process executes.
pub(crate) fn set_cloexec(fd: BorrowedFd<'_>) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(io::Error::from)?;
    Ok(())
}
