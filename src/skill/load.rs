//! Walks a skill directory without following symlinks and assembles the [`Skill`].

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::frontmatter::{self, Frontmatter};
use super::kind::{self, FileKind};
use super::{LoadLimits, Skill, SkillFile, Skipped, Symlink};
use super::{archive, references};

/// Why a skill could not be loaded at all. Partial problems are [`Skipped`] entries instead.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: not found")]
    NotFound { path: String },
    #[error("{path}: not a directory")]
    NotADirectory { path: String },
    #[error("{path}: no SKILL.md found (use --lenient to scan a folder of Markdown instructions)")]
    NoManifest { path: String },
    #[error("{path}: cannot be read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// One entry found by a walk or an archive listing, before assembly.
pub(crate) enum RawEntry {
    File { path: String, bytes: Vec<u8> },
    Skipped(Skipped),
    Symlink { path: String, target: String },
    Special { path: String },
}

/// Loads the skill in directory `dir`. With `lenient`, a folder without `SKILL.md` is scanned
/// with its top-level Markdown files as the instructions.
pub fn load_dir(dir: &Path, limits: &LoadLimits, lenient: bool) -> Result<Skill, LoadError> {
    let display = dir.display().to_string();
    let metadata = fs::symlink_metadata(dir).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound {
            path: display.clone(),
        },
        _ => LoadError::Io {
            path: display.clone(),
            source,
        },
    })?;
    if !metadata.is_dir() {
        return Err(LoadError::NotADirectory { path: display });
    }

    let mut walk = Walk {
        limits,
        entries: Vec::new(),
        files_seen: 0,
        bytes_seen: 0,
        bytes_read: 0,
    };
    walk.visit(dir, "", 0).map_err(|source| LoadError::Io {
        path: display.clone(),
        source,
    })?;

    let has_manifest = walk
        .entries
        .iter()
        .any(|entry| matches!(entry, RawEntry::File { path, .. } if path == "SKILL.md"));
    if !has_manifest && !lenient {
        return Err(LoadError::NoManifest { path: display });
    }
    // The last component names the folder; only paths such as `.` need resolving, which the
    // confined worker never sees because the front end hands it canonical paths.
    let folder_name = match dir.file_name() {
        Some(name) => name.to_string_lossy().into_owned(),
        None => dir
            .canonicalize()
            .ok()
            .and_then(|path| {
                path.file_name()
                    .map(|name| name.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| String::from("skill")),
    };
    Ok(assemble(
        folder_name,
        display,
        walk.entries,
        walk.bytes_seen,
        limits,
    ))
}

struct Walk<'a> {
    limits: &'a LoadLimits,
    entries: Vec<RawEntry>,
    files_seen: usize,
    bytes_seen: u64,
    bytes_read: u64,
}

impl Walk<'_> {
    /// Visits one directory. Entries are sorted by name so results do not depend on the order
    /// the file system returns them in.
    fn visit(&mut self, dir: &Path, prefix: &str, depth: usize) -> std::io::Result<()> {
        let mut children: Vec<(String, PathBuf)> = fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|entry| {
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    entry.path(),
                )
            })
            .collect();
        children.sort();

        for (name, path) in children {
            let relative = format!("{prefix}{name}");
            let Ok(metadata) = fs::symlink_metadata(&path) else {
                self.skip(relative, String::from("could not be inspected"), 0);
                continue;
            };
            let file_type = metadata.file_type();
            if file_type.is_symlink() {
                let target = fs::read_link(&path)
                    .map(|target| target.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.entries.push(RawEntry::Symlink {
                    path: relative,
                    target,
                });
            } else if file_type.is_dir() {
                if depth + 1 > self.limits.max_depth {
                    let reason = format!(
                        "directory is deeper than the limit of {} levels",
                        self.limits.max_depth
                    );
                    self.skip(relative, reason, 0);
                    continue;
                }
                self.visit(&path, &format!("{relative}/"), depth + 1)?;
            } else if file_type.is_file() {
                self.read_file(&path, relative, metadata.len());
            } else {
                self.entries.push(RawEntry::Special { path: relative });
            }
        }
        Ok(())
    }

    fn read_file(&mut self, path: &Path, relative: String, size: u64) {
        self.bytes_seen += size;
        self.files_seen += 1;
        if self.files_seen > self.limits.max_files {
            let reason = format!(
                "skill has more than the limit of {} files",
                self.limits.max_files
            );
            self.skip(relative, reason, size);
            return;
        }
        if size > self.limits.max_file_bytes {
            let reason = format!(
                "file is {size} bytes, over the per-file limit of {} bytes",
                self.limits.max_file_bytes
            );
            self.skip(relative, reason, size);
            return;
        }
        if self.bytes_read + size > self.limits.max_total_bytes {
            let reason = format!(
                "skill exceeds the total limit of {} bytes",
                self.limits.max_total_bytes
            );
            self.skip(relative, reason, size);
            return;
        }

        // Read at most one byte past the limit: a file that grew since `stat` is caught without
        // reading it whole.
        let mut bytes = Vec::new();
        let read = fs::File::open(path).and_then(|file| {
            file.take(self.limits.max_file_bytes + 1)
                .read_to_end(&mut bytes)
        });
        match read {
            Ok(_) if bytes.len() as u64 > self.limits.max_file_bytes => {
                let reason = format!(
                    "file grew past the per-file limit of {} bytes while being read",
                    self.limits.max_file_bytes
                );
                self.skip(relative, reason, size);
            }
            Ok(_) => {
                self.bytes_read += bytes.len() as u64;
                self.entries.push(RawEntry::File {
                    path: relative,
                    bytes,
                });
            }
            Err(error) => {
                let reason = format!("could not be read: {}", error.kind());
                self.skip(relative, reason, size);
            }
        }
    }

    fn skip(&mut self, path: String, reason: String, bytes: u64) {
        self.entries.push(RawEntry::Skipped(Skipped {
            path,
            reason,
            bytes,
        }));
    }
}

/// Builds the skill from raw entries: detects kinds, opens nested archives, parses the
/// frontmatter and marks the files the instructions refer to.
pub(crate) fn assemble(
    folder_name: String,
    display_path: String,
    entries: Vec<RawEntry>,
    bytes_total: u64,
    limits: &LoadLimits,
) -> Skill {
    let mut skill = Skill {
        name: folder_name.clone(),
        path: display_path,
        folder_name,
        has_manifest: false,
        frontmatter: Frontmatter::Missing,
        files: Vec::new(),
        skipped: Vec::new(),
        symlinks: Vec::new(),
        special_files: Vec::new(),
        missing_references: Vec::new(),
        bytes_total,
    };
    let mut budget = archive::Budget::new(limits, &entries);

    for entry in entries {
        match entry {
            RawEntry::File { path, bytes } => {
                add_file(&mut skill, path, bytes, None, limits, &mut budget, 0)
            }
            RawEntry::Skipped(skipped) => skill.skipped.push(skipped),
            RawEntry::Symlink { path, target } => {
                let escapes = references::escapes_root(&path, &target);
                skill.symlinks.push(Symlink {
                    path,
                    target,
                    escapes,
                });
            }
            RawEntry::Special { path } => skill.special_files.push(path),
        }
    }

    skill.has_manifest = skill.file("SKILL.md").is_some();
    // The frontmatter is parsed from the text the analyzers scan: UTF-16 by its byte-order
    // mark, else UTF-8 with replacement characters. A reader that replaces one stray invalid
    // byte still gives the agent the manifest, so its values must be checked.
    let parsed = skill
        .file("SKILL.md")
        .and_then(SkillFile::scan_text)
        .map(|(_, text)| frontmatter::parse(&text, limits.max_frontmatter_bytes));
    if let Some(parsed) = parsed {
        skill.frontmatter = parsed;
    } else if skill.has_manifest {
        skill.frontmatter = Frontmatter::Invalid {
            reason: String::from("SKILL.md is not text"),
            body_offset: 0,
            body_line: 1,
            past_limit: false,
        };
    }
    if let Some(name) = skill.manifest().and_then(|manifest| manifest.name.clone())
        && !name.trim().is_empty()
    {
        skill.name = name.trim().chars().take(128).collect();
    }
    references::mark(&mut skill);
    skill
}

/// Adds one file, opening it as an archive when it is one and the nesting budget allows.
pub(crate) fn add_file(
    skill: &mut Skill,
    path: String,
    bytes: Vec<u8>,
    archive_chain: Option<String>,
    limits: &LoadLimits,
    budget: &mut archive::Budget,
    archive_depth: usize,
) {
    let detection = kind::detect(&path, &bytes);
    let hidden = path.split(['/', '!']).any(|part| {
        (part.starts_with('.') && part.len() > 1 && part != "..") || part == "__pycache__"
    });

    if detection.kind == FileKind::Archive {
        archive::expand(skill, &path, &bytes, limits, budget, archive_depth);
    } else if let Some(start) = archive::embedded_start(&bytes) {
        // An installer script that unpacks itself (`tail -c +N "$0" | tar xz`) or a polyglot
        // file: the archive after the other content is opened too.
        let embedded = bytes.get(start..).unwrap_or_default();
        archive::expand(skill, &path, embedded, limits, budget, archive_depth);
    }
    skill.files.push(SkillFile {
        path,
        kind: detection.kind,
        claimed: detection.claimed,
        bytes,
        hidden,
        instructions: false,
        referenced: false,
        archive: archive_chain,
    });
}
