//! Archives shipped inside a skill (`.tar`, `.tar.gz`, `.tgz`, `.gz`): opened in memory and
//! their members scanned like any other file.
//!
//! Every byte and member counts against one budget shared by the whole skill across all nesting
//! levels, measured on the bytes the decoder really produces, never on sizes an archive
//! declares. An archive that cannot be opened is recorded as skipped, so the scan fails closed.

use std::io::Read;

use super::load::{RawEntry, add_file};
use super::{LoadLimits, Skill, Skipped, Symlink};

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
    } else {
        // TODO: ZIP members are opened by the upload intake's validated extractor once it
        // exists; until then a nested ZIP (or 7z, rar, xz) is reported as unanalyzed.
        let reason = String::from("archive format is not opened by the scanner");
        skip(skill, path, reason, bytes.len());
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
