//! Archives shipped inside a skill (`.tar`, `.tar.gz`, `.tgz`, `.gz`, and `.zip` with the
//! formats built on it such as `.jar` and `.docx`): opened in memory and their members scanned
//! like any other file.
//!
//! Every byte and member counts against one budget shared by the whole skill across all nesting
//! levels, measured on the bytes the decoder really produces, never on sizes an archive
//! declares. An archive that cannot be opened is recorded as skipped, so the scan fails closed.
//!
//! A ZIP or gzip archive that starts after other content, as in a self-extracting installer
//! script or a polyglot file, is found by [`embedded_start`] and opened from there.

use std::io::Read;
use std::sync::LazyLock;

use super::load::{RawEntry, add_file};
use super::{LoadLimits, Skill, Skipped, Symlink};
use crate::intake::zip::{self, ArchiveError, ArchiveLimits, EntryKind};

/// What is left of the skill's file and byte allowance.
pub(crate) struct Budget {
    files_left: usize,
    bytes_left: u64,
}

impl Budget {
    /// Starts from the limits minus what the directory walk already read.
    pub(crate) fn new(limits: &LoadLimits, entries: &[RawEntry]) -> Budget {
        let mut files = 0usize;
        let mut bytes = 0u64;
        for entry in entries {
            if let RawEntry::File { bytes: content, .. } = entry {
                files += 1;
                bytes += content.len() as u64;
            }
        }
        Budget {
            files_left: limits.max_files.saturating_sub(files),
            bytes_left: limits.max_total_bytes.saturating_sub(bytes),
        }
    }
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

fn is_tar(bytes: &[u8]) -> bool {
    matches!(bytes.get(257..262), Some(b"ustar"))
}

/// Returns whether the bytes start like a ZIP archive: with a local file header, or with the
/// end record of an empty archive.
fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

const ZIP_LOCAL_HEADER: &[u8] = b"PK\x03\x04";
/// The gzip magic number and compression method 8, the only one RFC 1952 defines.
const GZIP_HEADER: &[u8] = &[0x1f, 0x8b, 0x08];

static EMBEDDED_SIGNATURES: LazyLock<Option<aho_corasick::AhoCorasick>> =
    LazyLock::new(|| aho_corasick::AhoCorasick::new([ZIP_LOCAL_HEADER, GZIP_HEADER]).ok());

/// Returns where a ZIP or gzip archive starts inside `bytes` after other content: the first
/// signature past offset 0 whose header fields are plausible, so that a signature occurring
/// by chance in compressed or random data rarely matches.
///
/// NOTE: xz, bzip2 and 7z data after other content is not looked for, so it is scanned only
/// as part of the file that contains it.
pub(crate) fn embedded_start(bytes: &[u8]) -> Option<usize> {
    let signatures = EMBEDDED_SIGNATURES.as_ref()?;
    signatures
        .find_iter(bytes)
        .map(|found| found.start())
        .filter(|start| *start > 0)
        .find(|start| {
            let header = bytes.get(*start..).unwrap_or_default();
            plausible_zip_header(header) || plausible_gzip_header(header)
        })
}

/// Returns whether `header` is a local file header needing ZIP version 6.3 or lower, with
/// method stored or deflate.
fn plausible_zip_header(header: &[u8]) -> bool {
    match header {
        [b'P', b'K', 3, 4, version, 0, _, _, method, 0, ..] => {
            *version <= 63 && (*method == 0 || *method == 8)
        }
        _ => false,
    }
}

/// Returns whether `header` is a gzip member header with no reserved flag set, a defined
/// extra-flags value and a defined operating system (0 to 13, or 255 for unknown).
fn plausible_gzip_header(header: &[u8]) -> bool {
    match header {
        [0x1f, 0x8b, 0x08, flags, _, _, _, _, extra_flags, system, ..] => {
            *flags & 0xe0 == 0
                && matches!(extra_flags, 0 | 2 | 4)
                && (*system <= 13 || *system == 255)
        }
        _ => false,
    }
}

/// Opens the archive at `path` and adds its members to the skill.
pub(crate) fn expand(
    skill: &mut Skill,
    path: &str,
    bytes: &[u8],
    limits: &LoadLimits,
    budget: &mut Budget,
    depth: usize,
) {
    if depth + 1 > limits.max_archive_depth {
        let reason = format!(
            "archive is nested deeper than the limit of {} levels",
            limits.max_archive_depth
        );
        skip(skill, path, reason, bytes.len());
        return;
    }

    if bytes.starts_with(GZIP_MAGIC) {
        let per_file = limits.max_file_bytes.min(budget.bytes_left);
        let mut inflated = Vec::new();
        let decoder = flate2::read::MultiGzDecoder::new(bytes);
        if decoder
            .take(per_file + 1)
            .read_to_end(&mut inflated)
            .is_err()
        {
            skip(
                skill,
                path,
                String::from("gzip data is corrupt or truncated"),
                bytes.len(),
            );
            return;
        }
        if inflated.len() as u64 > per_file {
            let reason = format!(
                "gzip data inflates past the limit of {per_file} bytes (per-file or remaining total)"
            );
            skip(skill, path, reason, bytes.len());
            return;
        }
        budget.bytes_left -= inflated.len() as u64;
        if is_tar(&inflated) {
            expand_tar(skill, path, &inflated, limits, budget, depth);
        } else {
            // The inflated data is one member, so it counts as a file like a tar member.
            if budget.files_left == 0 {
                let reason = format!(
                    "archive has more members than the skill's limit of {} files",
                    limits.max_files
                );
                skip(skill, path, reason, bytes.len());
                return;
            }
            budget.files_left -= 1;
            let inner = path
                .strip_suffix(".gz")
                .or_else(|| path.strip_suffix(".GZ"))
                .unwrap_or(path);
            let inner_name = inner.rsplit('/').next().unwrap_or(inner);
            add_member(skill, path, inner_name, inflated, limits, budget, depth);
        }
    } else if is_tar(bytes) {
        expand_tar(skill, path, bytes, limits, budget, depth);
    } else if is_zip(bytes) {
        expand_zip(skill, path, bytes, limits, budget, depth);
    } else {
        // NOTE: 7z, rar, xz, bzip2 and zstd data is not opened, so it is reported as
        // unanalyzed.
        let reason = String::from("archive format is not opened by the scanner");
        skip(skill, path, reason, bytes.len());
    }
}

/// Opens a ZIP archive with the upload intake's validated extractor. The extractor's limits
/// are what is left of the skill's budget, so limits count across all nesting levels together.
/// A defect or an exceeded limit skips the whole archive, with the extractor's message as the
/// reason.
fn expand_zip(
    skill: &mut Skill,
    path: &str,
    bytes: &[u8],
    limits: &LoadLimits,
    budget: &mut Budget,
    depth: usize,
) {
    let archive_limits = ArchiveLimits {
        max_total_uncompressed_bytes: budget.bytes_left,
        max_entry_uncompressed_bytes: limits.max_file_bytes.min(budget.bytes_left),
        // Directories count against the file budget too, as tar members do.
        max_entries: budget.files_left,
        max_files: budget.files_left,
        max_path_depth: limits.max_depth,
        ..ArchiveLimits::default()
    };
    let entries = match zip::extract(bytes, &archive_limits) {
        Ok(entries) => entries,
        Err(error) => {
            let reason = match error {
                ArchiveError::EntryTooLarge { .. }
                | ArchiveError::TotalTooLarge { .. }
                | ArchiveError::TooManyEntries { .. }
                | ArchiveError::TooManyFiles { .. } => {
                    format!("{error} (nested archives share the skill's file and byte limits)")
                }
                _ => error.to_string(),
            };
            skip(skill, path, reason, bytes.len());
            return;
        }
    };

    // The whole archive is charged before any member is opened, so an archive nested inside
    // it gets only what is left.
    for entry in &entries {
        budget.files_left = budget.files_left.saturating_sub(1);
        if let EntryKind::File(content) = &entry.kind {
            budget.bytes_left = budget.bytes_left.saturating_sub(content.len() as u64);
        }
    }
    for entry in entries {
        if let EntryKind::File(content) = entry.kind {
            add_member(skill, path, &entry.name, content, limits, budget, depth);
        }
    }
}

fn expand_tar(
    skill: &mut Skill,
    path: &str,
    bytes: &[u8],
    limits: &LoadLimits,
    budget: &mut Budget,
    depth: usize,
) {
    let mut tar = tar::Archive::new(bytes);
    let entries = match tar.entries() {
        Ok(entries) => entries,
        Err(_) => {
            skip(
                skill,
                path,
                String::from("tar data is corrupt"),
                bytes.len(),
            );
            return;
        }
    };
    for (index, entry) in entries.enumerate() {
        let Ok(entry) = entry else {
            let reason = format!("tar data is corrupt or truncated at member {index}");
            skip(skill, path, reason, 0);
            return;
        };
        if budget.files_left == 0 {
            let reason = format!(
                "archive has more members than the skill's limit of {} files",
                limits.max_files
            );
            skip(skill, path, reason, 0);
            return;
        }
        // Directories count too: an archive of a million empty folders is an entry-count bomb.
        budget.files_left -= 1;

        let member = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let member_path = format!("{path}!/{member}");
        if member.starts_with('/') || member.split('/').any(|part| part == "..") {
            let reason = String::from("archive member path escapes the archive root");
            skip(skill, &member_path, reason, 0);
            continue;
        }
        if member.split('/').filter(|part| !part.is_empty()).count() > limits.max_depth {
            let reason = format!(
                "archive member is deeper than the limit of {} levels",
                limits.max_depth
            );
            skip(skill, &member_path, reason, 0);
            continue;
        }

        let header_type = entry.header().entry_type();
        if header_type.is_dir() {
            continue;
        }
        if header_type.is_symlink() || header_type.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|target| String::from_utf8_lossy(&target).into_owned())
                .unwrap_or_default();
            skill.symlinks.push(Symlink {
                escapes: super::references::escapes_root(&member, &target),
                path: member_path,
                target,
            });
            continue;
        }
        if !header_type.is_file() && !header_type.is_contiguous() {
            skill.special_files.push(member_path);
            continue;
        }

        let per_file = limits.max_file_bytes.min(budget.bytes_left);
        let mut content = Vec::new();
        if entry.take(per_file + 1).read_to_end(&mut content).is_err() {
            skip(
                skill,
                &member_path,
                String::from("archive member could not be read"),
                0,
            );
            continue;
        }
        if content.len() as u64 > per_file {
            let reason = format!(
                "archive member is larger than the limit of {per_file} bytes (per-file or remaining total)"
            );
            skip(skill, &member_path, reason, content.len());
            continue;
        }
        budget.bytes_left -= content.len() as u64;
        add_member(skill, path, &member, content, limits, budget, depth);
    }
}

fn add_member(
    skill: &mut Skill,
    archive_path: &str,
    member: &str,
    content: Vec<u8>,
    limits: &LoadLimits,
    budget: &mut Budget,
    depth: usize,
) {
    skill.bytes_total += content.len() as u64;
    let member_path = format!("{archive_path}!/{member}");
    add_file(
        skill,
        member_path,
        content,
        Some(archive_path.to_string()),
        limits,
        budget,
        depth + 1,
    );
}

fn skip(skill: &mut Skill, path: &str, reason: String, bytes: usize) {
    skill.skipped.push(Skipped {
        path: path.to_string(),
        reason,
        bytes: bytes as u64,
    });
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::{LoadLimits, Skill};
    use super::*;

    /// A local header of version 2.0, no flags, deflate.
    const ZIP_HEADER: &[u8] = b"PK\x03\x04\x14\x00\x00\x00\x08\x00";
    /// A gzip header with no flags, no time, extra flags 0, Unix.
    const GZIP: &[u8] = &[0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3];

    #[test]
    fn archive_after_content_found() {
        let zip = [b"#!/bin/sh\nexit 0\n".as_slice(), ZIP_HEADER].concat();
        assert_eq!(embedded_start(&zip), Some(17));
        let gzip = [b"stub".as_slice(), GZIP].concat();
        assert_eq!(embedded_start(&gzip), Some(4));
    }

    #[test]
    fn archive_at_start_not_embedded() {
        assert_eq!(embedded_start(ZIP_HEADER), None);
        assert_eq!(embedded_start(GZIP), None);
    }

    #[test]
    fn implausible_headers_ignored() {
        // Version 9.9, an unknown method, a reserved gzip flag, an undefined system.
        let bad_version = b"xPK\x03\x04\x63\x00\x00\x00\x08\x00";
        let bad_method = b"xPK\x03\x04\x14\x00\x00\x00\x63\x00";
        let bad_flags = [b'x', 0x1f, 0x8b, 0x08, 0x80, 0, 0, 0, 0, 0, 3];
        let bad_system = [b'x', 0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 200];
        assert_eq!(embedded_start(bad_version), None);
        assert_eq!(embedded_start(bad_method), None);
        assert_eq!(embedded_start(&bad_flags), None);
        assert_eq!(embedded_start(&bad_system), None);
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn skill_with_gzip(max_files: usize) -> Skill {
        let limits = LoadLimits {
            max_files,
            ..LoadLimits::default()
        };
        let files = vec![
            (String::from("SKILL.md"), b"# Notes\n".to_vec()),
            (String::from("notes.txt.gz"), gzip(b"notes\n")),
        ];
        Skill::from_files("notes", files, &limits)
    }

    #[test]
    fn gzip_member_counts_as_file() {
        let read = skill_with_gzip(3);
        assert!(read.file("notes.txt.gz!/notes.txt").is_some());

        let full = skill_with_gzip(2);
        assert!(full.file("notes.txt.gz!/notes.txt").is_none());
        let skipped = full
            .skipped
            .iter()
            .find(|skipped| skipped.path == "notes.txt.gz");
        let reason = skipped.map(|skipped| skipped.reason.as_str());
        assert_eq!(
            reason,
            Some("archive has more members than the skill's limit of 2 files")
        );
    }
}
