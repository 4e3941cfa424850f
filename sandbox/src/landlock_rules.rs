//! The Landlock ruleset of a worker: read-only beneath the input, read-write beneath the job's
//! scratch directory, nothing else on the filesystem, no TCP, and signals and abstract Unix
//! sockets scoped to the worker's own domain.
//!
//! Trust boundary: the ruleset is built from descriptors the trusted side opened, so a symlink
//! swapped in after the front end opened the input cannot widen access.
//!
//! Limits: the ruleset uses every access right of the kernel's ABI, as far as the `landlock`
//! crate 0.4.8 defines them, and requires the kernel to enforce all of it. Rights from ABIs
//! newer than 7 (for example pathname Unix socket connects in ABI 9) only add denials and have
//! not been run on a kernel here. TCP rules exist from ABI 4 and scopes from ABI 6; older kernels
//! leave those to seccomp, which rejects `socket` and `kill`.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, make_bitflags,
};
use nix::sys::stat::{SFlag, fstat};

use crate::confine::{Beneath, ConfineError, open_path};

/// Restrictions the Landlock step enforced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Enforced {
    pub abi: u8,
    pub filesystem: bool,
    pub tcp: bool,
    pub scopes: bool,
}

/// Rights beneath the input hierarchy.
const READ_ONLY: BitFlags<AccessFs> = make_bitflags!(AccessFs::{ReadFile | ReadDir});

/// Rights beneath the scratch directory: everything a job needs to extract and rewrite files.
/// Not granted: `Execute`, `MakeSym` (extracted archives must not plant symlinks),
/// `MakeChar`, `MakeBlock`, `MakeFifo`, `MakeSock`, `IoctlDev`, `ResolveUnix`.
const READ_WRITE: BitFlags<AccessFs> = make_bitflags!(AccessFs::{
    ReadFile | ReadDir | WriteFile | RemoveDir | RemoveFile | MakeDir | MakeReg | Refer | Truncate
});

/// Landlock ABI numbers that add network rules and scopes.
const ABI_TCP: i32 = 4;
const ABI_SCOPES: i32 = 6;

/// Builds and enforces the ruleset on the calling thread.
pub(crate) fn restrict(
    read_only: &[Beneath<'_>],
    read_write: &[Beneath<'_>],
    min_abi: u8,
) -> Result<Enforced, ConfineError> {
    let version = kernel_abi_version()?;
    let found = u8::try_from(version).unwrap_or(u8::MAX);
    if found < min_abi {
        return Err(ConfineError::LandlockAbiTooOld {
            found,
            required: min_abi,
        });
    }

    // Request exactly the rights of the kernel's ABI as a hard requirement, so a missing right
    // is an error here instead of a silent downgrade, and check the final status as well.
    let abi = ABI::from(version);
    let handled_fs = AccessFs::from_all(abi);
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(handled_fs)?;

    // No rule grants a port, so handling the TCP rights denies every bind and connect.
    let tcp = version >= ABI_TCP;
    if tcp {
        ruleset = ruleset.handle_access(AccessNet::from_all(abi))?;
    }
    let scopes = version >= ABI_SCOPES;
    if scopes {
        ruleset = ruleset.scope(Scope::from_all(abi))?;
    }

    // no_new_privs was set in the step before this one.
    let mut created = ruleset.create()?.no_new_privs(false);
    for hierarchy in read_only {
        created = add_hierarchy(created, hierarchy, READ_ONLY & handled_fs, abi)?;
    }
    for hierarchy in read_write {
        created = add_hierarchy(created, hierarchy, READ_WRITE & handled_fs, abi)?;
    }

    let status = created.restrict_self()?;
    if status.ruleset != RulesetStatus::FullyEnforced {
        return Err(ConfineError::LandlockNotEnforced {
            status: status.ruleset,
        });
    }
    Ok(Enforced {
        abi: found,
        filesystem: true,
        tcp,
        scopes,
    })
}

fn add_hierarchy(
    created: landlock::RulesetCreated,
    hierarchy: &Beneath<'_>,
    access: BitFlags<AccessFs>,
    abi: ABI,
) -> Result<landlock::RulesetCreated, ConfineError> {
    let opened: OwnedFd;
    let fd: BorrowedFd<'_> = match hierarchy {
        Beneath::Fd(fd) => *fd,
        Beneath::Path(path) => {
            opened = open_path(path)?;
            opened.as_fd()
        }
    };
    // A rule on a regular file may only carry file rights; the kernel rejects directory rights.
    let access = if is_directory(fd)? {
        access
    } else {
        access & AccessFs::from_file(abi)
    };
    Ok(created.add_rule(PathBeneath::new(fd, access))?)
}

fn is_directory(fd: BorrowedFd<'_>) -> Result<bool, ConfineError> {
    let stat = fstat(fd).map_err(|errno| ConfineError::StatHierarchy(errno.into()))?;
    Ok(SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
}

/// Asks the kernel for its Landlock ABI version with `landlock_create_ruleset(NULL, 0,
/// LANDLOCK_CREATE_RULESET_VERSION)`.
fn kernel_abi_version() -> Result<i32, ConfineError> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with the VERSION flag the kernel reads neither the attribute pointer (NULL) nor
    // a size, and returns a version number or -1 with errno.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if version <= 0 {
        return Err(ConfineError::LandlockUnavailable(io::Error::last_os_error()));
    }
    Ok(i32::try_from(version).unwrap_or(i32::MAX))
}
