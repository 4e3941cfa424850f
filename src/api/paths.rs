//! Paths named in requests. Each must lie under an allowed root, and is opened beneath that
//! root without following any symlink (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`).
//! The descriptor is what gets scanned, so a symlink swapped in after the check changes
//! nothing.
//!
//! NOTE: a custom rule pack is the exception. Its fork server reads the folder by path, so a
//! folder component replaced by a symlink between the check and that read is followed.
//!
//! A path outside every root, a missing path and a path reached through a symlink all get the
//! same 404, so a caller learns nothing about files outside the roots.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat};

use super::error::ApiError;

/// The allowed roots, opened once at start-up.
pub struct Roots {
    roots: Vec<Root>,
    working_dir: PathBuf,
}

/// An allowed root and its open descriptor.
struct Root {
    /// The root's real path, without symlinks.
    path: PathBuf,
    /// `O_PATH` descriptor of the root directory.
    fd: OwnedFd,
}

/// A path that was opened beneath a root.
#[derive(Debug)]
pub struct Opened {
    /// `O_PATH` descriptor of the file or directory.
    pub fd: OwnedFd,
    /// Real path of the object: the root's path joined with the normalized relative path.
    pub path: PathBuf,
    /// Whether the object is a directory. Otherwise it is a regular file.
    pub is_dir: bool,
}

/// Reason an allowed root cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RootsError {
    #[error("allowed root {path} cannot be opened: {reason}")]
    Open { path: String, reason: String },
}

impl Roots {
    /// Opens each allowed root. A root that does not exist is a configuration error, so a typo
    /// does not silently leave the server unable to scan.
    pub fn open_all(paths: &[PathBuf]) -> Result<Roots, RootsError> {
        let mut roots = Vec::new();
        for path in paths {
            let real = path.canonicalize().map_err(|error| RootsError::Open {
                path: path.display().to_string(),
                reason: error.to_string(),
            })?;
            let fd = open(
                &real,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|error| RootsError::Open {
                path: path.display().to_string(),
                reason: error.desc().to_string(),
            })?;
            roots.push(Root { path: real, fd });
        }
        let working_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        Ok(Roots { roots, working_dir })
    }

    /// Returns whether no root is allowed.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Opens the path `value` of the request field `field` beneath the allowed root that
    /// contains it. Anything but a directory or a regular file is a 404.
    pub fn open(&self, field: &str, value: &str) -> Result<Opened, ApiError> {
        check_value(field, value)?;
        let not_found = || ApiError::NotFound(format!("{field} not found"));
        let requested = normalize(&self.working_dir.join(value)).ok_or_else(not_found)?;
        for root in &self.roots {
            let Ok(relative) = requested.strip_prefix(&root.path) else {
                continue;
            };
            let target = if relative.as_os_str().is_empty() {
                Path::new(".")
            } else {
                relative
            };
            let how = OpenHow::new()
                .flags(OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
                .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
            let fd = openat2(&root.fd, target, how).map_err(|errno| {
                // Rejected input, so debug: ENOENT for a missing path, ELOOP or EXDEV for a
                // symlink, EACCES when the server's user cannot read it.
                tracing::debug!(error = %errno, field, "cannot open a requested path");
                not_found()
            })?;
            let stat = fstat(&fd).map_err(|errno| {
                tracing::warn!(error = %errno, field, "cannot stat an opened path");
                not_found()
            })?;
            let is_dir = file_type(&stat) == SFlag::S_IFDIR;
            if !is_dir && file_type(&stat) != SFlag::S_IFREG {
                return Err(not_found());
            }
            return Ok(Opened {
                fd,
                path: requested,
                is_dir,
            });
        }
        Err(not_found())
    }

    /// Reads a regular file beneath the roots, at most `limit` bytes.
    pub fn read_file(&self, field: &str, value: &str, limit: u64) -> Result<Vec<u8>, ApiError> {
        let opened = self.open(field, value)?;
        if opened.is_dir {
            return Err(ApiError::BadRequest(format!("{field} must be a file")));
        }
        // Reopen the O_PATH descriptor for reading through /proc. The magic link points at the
        // object already opened, so no symlink in the checked path is followed.
        let proc_path = format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&opened.fd)
        );
        let file = std::fs::File::open(proc_path).map_err(|error| {
            tracing::warn!(%error, field, "cannot reopen a requested file for reading");
            ApiError::NotFound(format!("{field} not found"))
        })?;
        let mut bytes = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| {
                tracing::warn!(%error, field, "cannot read a requested file");
                ApiError::BadRequest(format!("{field} cannot be read"))
            })?;
        if bytes.len() as u64 > limit {
            return Err(ApiError::BadRequest(format!(
                "{field} is larger than the limit of {limit} bytes"
            )));
        }
        Ok(bytes)
    }
}

/// Returns the file type bits of `stat`.
fn file_type(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits())
}

/// Rejects an empty value or one with a NUL byte, with the reference's messages. The reference
/// makes these checks before it looks at the file system.
pub fn check_value(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::BadRequest(format!(
            "Invalid {field}: path must not be empty"
        )));
    }
    if value.contains('\0') {
        return Err(ApiError::BadRequest(format!(
            "Invalid {field}: null bytes are not allowed"
        )));
    }
    Ok(())
}

/// Resolves `.` and `..` lexically. Without symlinks, which `Roots::open` rejects, this is the
/// real path. Returns `None` for a path that climbs above `/`.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(part) => out.push(part),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dir: &Path) -> Roots {
        Roots::open_all(&[dir.to_path_buf()]).unwrap()
    }

    #[test]
    fn opens_a_folder_beneath_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("skill")).unwrap();
        let value = dir.path().join("skill").display().to_string();
        let opened = roots(dir.path()).open("skill_directory", &value).unwrap();
        assert!(opened.is_dir);
    }

    #[test]
    fn rejects_paths_outside_and_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("link")).unwrap();
        let roots = roots(&root);
        for value in [
            dir.path().join("outside"),
            root.join("link"),
            root.join("../outside"),
            root.join("missing"),
        ] {
            let error = roots
                .open("skill_directory", &value.display().to_string())
                .unwrap_err();
            assert!(
                matches!(error, ApiError::NotFound(ref message) if message == "skill_directory not found"),
                "{value:?}: {error:?}"
            );
        }
    }

    #[test]
    fn empty_and_nul_values_are_bad_requests() {
        let dir = tempfile::tempdir().unwrap();
        let roots = roots(dir.path());
        assert!(matches!(
            roots.open("x", "  "),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            roots.open("x", "a\0b"),
            Err(ApiError::BadRequest(_))
        ));
    }
}
