//! Files the instructions point to. A file the agent is told to read or run is part of the
//! instructions; a pointer that leaves the skill is reported.

use std::collections::{HashSet, VecDeque};
use std::sync::LazyLock;

use regex::Regex;

use super::{FileKind, Reference, Skill};

/// Markdown links and images: `[text](target)`.
static LINK: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"\]\(\s*<?([^)\s>]{1,512})>?(?:\s+"[^"]*")?\s*\)"#).ok());

/// Paths in backticks or bare, with a directory part or a known extension:
/// `scripts/run.py`, `reference.md`.
/// The closing word boundary is ASCII, which keeps the lazy DFA running on non-ASCII text.
static PATH: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|[\s`'(\x22])((?:\.{1,2}/|~/|/)?(?:[\w.-]+/){0,8}[\w.-]+\.(?:md|py|sh|js|ts|json|ya?ml|txt|ps1|rb|pl|bash|zsh|html|csv|toml|xml))(?-u:\b)",
    )
    .ok()
});

/// Marks instruction and referenced files and records references that do not resolve.
pub(super) fn mark(skill: &mut Skill) {
    let known: HashSet<String> = skill.files.iter().map(|file| file.path.clone()).collect();
    let mut queue: VecDeque<String> = VecDeque::new();
    if skill.has_manifest {
        queue.push_back(String::from("SKILL.md"));
    } else {
        // Lenient layout: every top-level Markdown file is an instruction file.
        for file in &skill.files {
            if file.kind == FileKind::Markdown && !file.path.contains('/') {
                queue.push_back(file.path.clone());
            }
        }
    }

    let mut visited: HashSet<String> = HashSet::new();
    let mut missing: Vec<super::Reference> = Vec::new();
    while let Some(current) = queue.pop_front() {
        if !visited.insert(current.clone()) || visited.len() > 256 {
            continue;
        }
        let Some(file) = skill.files.iter_mut().find(|file| file.path == current) else {
            continue;
        };
        file.instructions = true;
        file.referenced = true;
        let Some(text) = std::str::from_utf8(&file.bytes).ok().map(str::to_owned) else {
            continue;
        };
        let base = current
            .rsplit_once('/')
            .map_or("", |(dir, _)| dir)
            .to_string();
        let lines = crate::analyzers::text::LineIndex::new(&text);

        for (target, offset) in targets(&text) {
            let Some(resolved) = resolve(&base, &target) else {
                missing.push(Reference {
                    target: target.chars().take(200).collect(),
                    line: lines.line(offset),
                    escapes: true,
                });
                continue;
            };
            if known.contains(&resolved) {
                if let Some(referenced) = skill.files.iter_mut().find(|file| file.path == resolved)
                {
                    referenced.referenced = true;
                    if referenced.kind == FileKind::Markdown {
                        queue.push_back(resolved);
                    } else {
                        // A text file the instructions point to (`run assets/helper.txt`) is
                        // part of what the agent acts on, whatever its extension says.
                        referenced.instructions = true;
                    }
                }
            } else if target.contains('/') && !target.starts_with("~/") {
                // Only paths with a directory part are reported missing: a bare `file.py` in
                // prose is more often an example than a pointer into the skill.
                let is_dir = known
                    .iter()
                    .any(|path| path.starts_with(&format!("{resolved}/")));
                if !is_dir {
                    missing.push(Reference {
                        target: target.chars().take(200).collect(),
                        line: lines.line(offset),
                        escapes: false,
                    });
                }
            }
        }
    }
    missing.sort_by(|a, b| a.target.cmp(&b.target));
    missing.dedup_by(|a, b| a.target == b.target);
    skill.missing_references = missing;
}

/// Candidate targets in Markdown text with their byte offsets.
fn targets(text: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for regex in [&*LINK, &*PATH].into_iter().flatten() {
        for captures in regex.captures_iter(text) {
            if let Some(target) = captures.get(1) {
                let value = target.as_str();
                if value.contains("://") || value.starts_with("mailto:") || value.starts_with('#') {
                    continue;
                }
                let value = value.split('#').next().unwrap_or(value);
                found.push((value.to_string(), target.start()));
            }
        }
    }
    found
}

/// Resolves `target` relative to directory `base` inside the skill; `None` when it leaves the
/// skill (absolute, home-relative, or too many `..`).
fn resolve(base: &str, target: &str) -> Option<String> {
    if target.starts_with('/') || target.starts_with('~') || target.contains('\\') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|part| !part.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// True when a symlink at `link_path` pointing to `target` leaves the skill root.
pub(crate) fn escapes_root(link_path: &str, target: &str) -> bool {
    let base = link_path.rsplit_once('/').map_or("", |(dir, _)| dir);
    resolve(base, target).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_stays_inside() {
        assert_eq!(
            resolve("docs", "../scripts/a.py"),
            Some(String::from("scripts/a.py"))
        );
        assert_eq!(resolve("", "./a.md"), Some(String::from("a.md")));
        assert_eq!(resolve("", "../a.md"), None);
        assert_eq!(resolve("", "/etc/passwd"), None);
        assert_eq!(resolve("", "~/.ssh/id_rsa"), None);
    }

    #[test]
    fn symlink_escape_is_lexical() {
        assert!(escapes_root("link", "/etc/passwd"));
        assert!(escapes_root("a/link", "../../x"));
        assert!(!escapes_root("a/link", "../b"));
    }

    #[test]
    fn finds_links_and_paths() {
        let found = targets("See [guide](docs/guide.md) and run `scripts/run.py`.\n");
        let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
        assert!(names.contains(&"docs/guide.md"), "{names:?}");
        assert!(names.contains(&"scripts/run.py"), "{names:?}");
    }
}
