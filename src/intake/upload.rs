//! One skill from an uploaded archive: finds the skill root among the extracted entries.
//!
//! The root is the archive root when it contains `SKILL.md`, else the one top-level folder
//! that contains `SKILL.md`. macOS metadata (anything under `__MACOSX/`, and files named `._*`) does
//! not count when finding the root, but it is still returned so that it gets scanned. Every
//! other file outside a top-level root folder is returned under its archive path, for the
//! same reason.

use std::collections::{BTreeSet, HashSet};

use super::zip::{self, ArchiveError, ArchiveLimits, Entry, EntryKind, names};

const MANIFEST: &str = "SKILL.md";
const MACOS_METADATA_FOLDER: &str = "__MACOSX";
const APPLE_DOUBLE_PREFIX: &str = "._";

/// The reason an upload did not yield exactly one skill. The `Display` text goes to the
/// client.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("No SKILL.md found in uploaded archive")]
    NoSkill,
    /// Top-level folders that each contain a `SKILL.md`, sorted.
    #[error(
        "Archive contains {} separate skills ({}); upload one skill per archive",
        .0.len(),
        .0.iter().map(|name| names::escape(name)).collect::<Vec<_>>().join(", ")
    )]
    SeveralSkills(Vec<String>),
    /// A file inside the root folder and one outside it map to the same skill path (for
    /// example `skill/__MACOSX/x` and `__MACOSX/x`), so one would hide the other.
    #[error("Archive has two files at {} relative to the skill root; rename one", names::quote(.0))]
    PathConflict(String),
}

/// The files of one uploaded skill, ready for `Skill::from_files`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedSkill {
    /// The root folder's name, or the caller's fallback when the root is the archive root.
    pub folder_name: String,
    /// Paths relative to the skill root, in archive order. Directories are left out.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Extracts the archive and returns the one skill in it. `fallback_name` (the caller passes
/// the upload's file stem) names a skill whose `SKILL.md` sits at the archive root.
pub fn skill_from_archive(
    data: &[u8],
    limits: &ArchiveLimits,
    fallback_name: &str,
) -> Result<UploadedSkill, UploadError> {
    let entries = zip::extract(data, limits)?;
    let root = find_root(&entries)?;
    let prefix = root.as_ref().map(|folder| format!("{folder}/"));

    let mut files = Vec::new();
    let mut paths = HashSet::new();
    for entry in entries {
        let EntryKind::File(bytes) = entry.kind else {
            continue;
        };
        let path = match prefix
            .as_deref()
            .and_then(|prefix| entry.name.strip_prefix(prefix))
        {
            Some(relative) => relative.to_owned(),
            None => entry.name,
        };
        if !paths.insert(path.clone()) {
            return Err(UploadError::PathConflict(path));
        }
        files.push((path, bytes));
    }
    Ok(UploadedSkill {
        folder_name: root.unwrap_or_else(|| fallback_name.to_owned()),
        files,
    })
}

/// Returns the root folder's name, or `None` when the root is the archive root.
fn find_root(entries: &[Entry]) -> Result<Option<String>, UploadError> {
    let counted = entries.iter().filter(|entry| !is_macos_metadata(entry));
    let mut folders = BTreeSet::new();
    for entry in counted {
        if !matches!(entry.kind, EntryKind::File(_)) {
            continue;
        }
        if entry.name == MANIFEST {
            return Ok(None);
        }
        if let Some((folder, MANIFEST)) = entry.name.split_once('/') {
            folders.insert(folder);
        }
    }

    let mut folders = folders.into_iter();
    match (folders.next(), folders.next()) {
        (None, _) => Err(UploadError::NoSkill),
        (Some(folder), None) => Ok(Some(folder.to_owned())),
        (Some(first), Some(second)) => {
            let mut all = vec![first.to_owned(), second.to_owned()];
            all.extend(folders.map(str::to_owned));
            Err(UploadError::SeveralSkills(all))
        }
    }
}

/// Metadata the macOS archiver adds: the `__MACOSX` folder and AppleDouble `._*` files.
fn is_macos_metadata(entry: &Entry) -> bool {
    let first = entry.name.split('/').next().unwrap_or_default();
    let last = entry.name.rsplit('/').next().unwrap_or_default();
    first == MACOS_METADATA_FOLDER
        || (matches!(entry.kind, EntryKind::File(_)) && last.starts_with(APPLE_DOUBLE_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> Entry {
        Entry {
            name: name.to_owned(),
            kind: EntryKind::File(Vec::new()),
        }
    }

    #[test]
    fn root_manifest_wins() {
        let entries = [file("SKILL.md"), file("sub/SKILL.md")];
        assert_eq!(find_root(&entries).unwrap(), None);
    }

    #[test]
    fn macos_metadata_does_not_count() {
        let entries = [
            file("__MACOSX/other/SKILL.md"),
            file("._SKILL.md"),
            file("skill/SKILL.md"),
        ];
        assert_eq!(find_root(&entries).unwrap().as_deref(), Some("skill"));
    }

    #[test]
    fn manifest_only_deeper_is_no_skill() {
        let entries = [file("a/b/SKILL.md")];
        assert!(matches!(find_root(&entries), Err(UploadError::NoSkill)));
    }

    #[test]
    fn several_folders_are_listed_sorted() {
        let entries = [file("b/SKILL.md"), file("a/SKILL.md"), file("c/x.py")];
        let Err(UploadError::SeveralSkills(folders)) = find_root(&entries) else {
            panic!("expected several skills");
        };
        assert_eq!(folders, ["a", "b"]);
    }
}
