//! Skill loading: from a directory or from extracted entries to a typed, bounded, in-memory
//! view that every analyzer reads.
//!
//! Loading is a plain synchronous function with no global state, so it runs unchanged inside
//! the confined worker. Nothing here follows a symlink, trusts a declared size or recurses
//! without a depth limit; whatever is left unread is recorded in [`Skill::skipped`] so the scan
//! can fail closed on it.

use std::borrow::Cow;

pub mod archive;
pub mod frontmatter;
pub mod kind;
mod load;
mod references;

pub use frontmatter::{Frontmatter, Manifest};
pub use kind::FileKind;
pub use load::{LoadError, load_dir};

/// Bounds on what loading reads; each comes from the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadLimits {
    /// Largest file read whole; larger files are skipped and reported.
    pub max_file_bytes: u64,
    /// Bytes read across all files, nested archives included.
    pub max_total_bytes: u64,
    /// Files read, nested archive members included.
    pub max_files: usize,
    /// Directory depth below the skill root (and inside nested archives).
    pub max_depth: usize,
    /// Bytes of YAML frontmatter handed to the parser.
    pub max_frontmatter_bytes: usize,
    /// How many archives deep nested archives are opened.
    pub max_archive_depth: usize,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            max_file_bytes: 16 * 1024 * 1024,
            max_total_bytes: 256 * 1024 * 1024,
            max_files: 5_000,
            max_depth: 32,
            max_frontmatter_bytes: 64 * 1024,
            max_archive_depth: 3,
        }
    }
}

/// One file of the skill, read whole (up to the per-file limit).
#[derive(Clone, Debug)]
pub struct SkillFile {
    /// Path relative to the skill root with `/` separators; members of a nested archive are
    /// named `outer.tar.gz!/inner/path`.
    pub path: String,
    pub kind: FileKind,
    /// The kind the extension claimed, when the content shows another kind.
    pub claimed: Option<FileKind>,
    pub bytes: Vec<u8>,
    /// Any path component starts with a dot, or lies in `__pycache__`.
    pub hidden: bool,
    /// `SKILL.md` itself, or a Markdown file the instructions point to.
    pub instructions: bool,
    /// The instructions mention this file.
    pub referenced: bool,
    /// The archive member path chain when the file came out of a nested archive.
    pub archive: Option<String>,
}

impl SkillFile {
    /// The content as text, when it is a text kind.
    pub fn text(&self) -> Option<&str> {
        if self.kind.is_text() {
            std::str::from_utf8(&self.bytes).ok()
        } else {
            None
        }
    }

    /// The content to scan as text and the kind to scan it as. Text that is not valid UTF-8
    /// (Latin-1 comments, a stray NUL, UTF-16 with a byte-order mark) is decoded with
    /// replacement characters rather than skipped: interpreters run such files all the same.
    /// A file whose extension names a text kind but whose content is binary is scanned as that
    /// kind. Other binary content has no text to scan.
    pub fn scan_text(&self) -> Option<(FileKind, Cow<'_, str>)> {
        let kind = if self.kind.is_text() {
            self.kind
        } else {
            match self.claimed {
                Some(claimed) if self.kind == FileKind::Binary && claimed.is_text() => claimed,
                _ => return None,
            }
        };
        Some((kind, decode_text(&self.bytes)))
    }

    pub fn is_manifest(&self) -> bool {
        self.path == "SKILL.md"
    }
}

/// Decodes bytes as text: UTF-16 when a byte-order mark announces it, else UTF-8 with
/// replacement characters.
fn decode_text(bytes: &[u8]) -> Cow<'_, str> {
    let utf16 = |big_endian: bool, body: &[u8]| -> Cow<'_, str> {
        let units: Vec<u16> = body
            .chunks_exact(2)
            .map(|pair| match pair {
                [first, second] if big_endian => u16::from_be_bytes([*first, *second]),
                [first, second] => u16::from_le_bytes([*first, *second]),
                _ => 0,
            })
            .collect();
        Cow::Owned(String::from_utf16_lossy(&units))
    };
    match bytes {
        [0xFF, 0xFE, body @ ..] => utf16(false, body),
        [0xFE, 0xFF, body @ ..] => utf16(true, body),
        _ => String::from_utf8_lossy(bytes),
    }
}

/// Something the loader saw but did not read, and why. Each becomes a fail-closed finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
    pub bytes: u64,
}

/// A symlink inside the skill. It is reported, never followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symlink {
    pub path: String,
    pub target: String,
    /// The target resolves (lexically) outside the skill root.
    pub escapes: bool,
}

/// A path the instructions mention that does not lie inside the skill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub target: String,
    pub line: u32,
    pub escapes: bool,
}

/// The loaded skill.
#[derive(Clone, Debug)]
pub struct Skill {
    /// The manifest `name`, else the folder name.
    pub name: String,
    /// The path as the caller gave it, for reports.
    pub path: String,
    pub folder_name: String,
    /// True when `SKILL.md` exists; false only in lenient mode.
    pub has_manifest: bool,
    pub frontmatter: Frontmatter,
    pub files: Vec<SkillFile>,
    pub skipped: Vec<Skipped>,
    pub symlinks: Vec<Symlink>,
    /// Device nodes, sockets and FIFOs: named and skipped.
    pub special_files: Vec<String>,
    pub missing_references: Vec<Reference>,
    /// Bytes of every file seen, read or not.
    pub bytes_total: u64,
}

impl Skill {
    /// Builds a skill from in-memory files (relative path and content), as extraction from an
    /// archive produces them, under the same limits and checks as [`load_dir`].
    pub fn from_files(
        folder_name: &str,
        files: Vec<(String, Vec<u8>)>,
        limits: &LoadLimits,
    ) -> Skill {
        let bytes_total = files.iter().map(|(_, bytes)| bytes.len() as u64).sum();
        let mut files_seen = 0usize;
        let mut bytes_read = 0u64;
        let entries = files
            .into_iter()
            .map(|(path, bytes)| {
                // The same per-file, file-count and total limits as a directory walk: content
                // past them is recorded as skipped, so the scan fails closed.
                let size = bytes.len() as u64;
                files_seen += 1;
                let reason = if size > limits.max_file_bytes {
                    Some(format!(
                        "file is {size} bytes, over the per-file limit of {} bytes",
                        limits.max_file_bytes
                    ))
                } else if files_seen > limits.max_files {
                    Some(format!(
                        "skill has more than the limit of {} files",
                        limits.max_files
                    ))
                } else if bytes_read + size > limits.max_total_bytes {
                    Some(format!(
                        "skill exceeds the total limit of {} bytes",
                        limits.max_total_bytes
                    ))
                } else {
                    None
                };
                match reason {
                    Some(reason) => load::RawEntry::Skipped(Skipped {
                        path,
                        reason,
                        bytes: size,
                    }),
                    None => {
                        bytes_read += size;
                        load::RawEntry::File { path, bytes }
                    }
                }
            })
            .collect();
        load::assemble(
            folder_name.to_string(),
            folder_name.to_string(),
            entries,
            bytes_total,
            limits,
        )
    }

    pub fn manifest(&self) -> Option<&Manifest> {
        match &self.frontmatter {
            Frontmatter::Valid { manifest, .. } => Some(manifest),
            _ => None,
        }
    }

    pub fn file(&self, path: &str) -> Option<&SkillFile> {
        self.files.iter().find(|file| file.path == path)
    }

    /// Bytes of the files that were read; the rest were skipped.
    pub fn bytes_read(&self) -> u64 {
        self.files.iter().map(|file| file.bytes.len() as u64).sum()
    }
}
