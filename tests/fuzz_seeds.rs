//! Runs each fuzz harness over the committed inputs of its target, `fuzz/seeds/<target>/` and
//! `fuzz/regressions/<target>/`, so that the fuzzer's invariants also hold in `cargo test`.
//!
//! `SKILL_SCANNER_REPLAY=FILE` replays one file, such as a crash the fuzzer saved, through
//! every harness:
//!
//! ```sh
//! SKILL_SCANNER_REPLAY=fuzz/artifacts/zip_extract/crash-... \
//!     cargo test --test fuzz_seeds replay -- --nocapture
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is a failed test"
)]

use std::path::{Path, PathBuf};

use skill_scanner::harness::{Harness, TARGETS};

/// Files in `fuzz/<folder>/<target>/`, sorted, without hidden files such as `.gitkeep`.
fn inputs(folder: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(folder)
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            path.is_file() && !name.starts_with('.')
        })
        .collect();
    paths.sort();
    paths
}

fn harness(target: &str) -> Harness {
    TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, harness)| *harness)
        .unwrap_or_else(|| panic!("no harness named {target}"))
}

/// Runs the target's harness over `paths` and returns one line per broken invariant.
fn violations(target: &str, paths: &[PathBuf]) -> Vec<String> {
    let harness = harness(target);
    let mut found = Vec::new();
    for path in paths {
        let data = std::fs::read(path).unwrap();
        if let Err(violation) = harness(&data) {
            found.push(format!("{}: {violation}", path.display()));
        }
    }
    found
}

fn check_target(target: &str) {
    let seeds = inputs("seeds", target);
    assert!(!seeds.is_empty(), "fuzz/seeds/{target} has no seeds");
    let regressions = inputs("regressions", target);
    let all: Vec<PathBuf> = seeds.into_iter().chain(regressions).collect();
    let found = violations(target, &all);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn zip_extract_inputs_pass() {
    check_target("zip_extract");
}

#[test]
fn frontmatter_inputs_pass() {
    check_target("frontmatter");
}

#[test]
fn policy_yaml_inputs_pass() {
    check_target("policy_yaml");
}

#[test]
fn signature_yaml_inputs_pass() {
    check_target("signature_yaml");
}

/// Seeds that a parser rejects outright explore little, so the main seeds must be accepted.
#[test]
fn seeds_reach_past_parsing() {
    use skill_scanner::harness::{ARCHIVE_LIMITS, LOAD_LIMITS};
    use skill_scanner::intake::upload::skill_from_archive;
    use skill_scanner::policy::Policy;
    use skill_scanner::rules::SignatureSet;
    use skill_scanner::skill::Skill;

    let mut nested_files = 0;
    for path in inputs("seeds", "zip_extract") {
        let data = std::fs::read(&path).unwrap();
        let uploaded = skill_from_archive(&data, &ARCHIVE_LIMITS, "upload")
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let skill = Skill::from_files(&uploaded.folder_name, uploaded.files, &LOAD_LIMITS);
        nested_files += skill
            .files
            .iter()
            .filter(|file| file.archive.is_some())
            .count();
    }
    assert!(nested_files > 0, "no archive seed reaches a nested archive");
    for path in inputs("seeds", "policy_yaml") {
        let text = std::fs::read_to_string(&path).unwrap();
        let policy = Policy::from_custom_yaml(&text);
        assert!(policy.is_ok(), "{}: {policy:?}", path.display());
    }
    for path in inputs("seeds", "signature_yaml") {
        let text = std::fs::read_to_string(&path).unwrap();
        let files = [(path.display().to_string(), text)];
        let set = SignatureSet::compile(&[], &files);
        assert!(set.is_ok(), "{}: {:?}", path.display(), set.err());
    }
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    for (target, _) in TARGETS {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/fuzz_targets")
            .join(format!("{target}.rs"));
        assert!(file.is_file(), "{} is missing", file.display());
    }
}

/// Replays the file named by `SKILL_SCANNER_REPLAY` through every harness; without the
/// variable the test does nothing.
#[test]
fn replay() {
    let Some(path) = std::env::var_os("SKILL_SCANNER_REPLAY") else {
        return;
    };
    let path = PathBuf::from(path);
    let mut found = Vec::new();
    for (target, _) in TARGETS {
        eprintln!("replaying {} through {target}", path.display());
        found.extend(
            violations(target, std::slice::from_ref(&path))
                .into_iter()
                .map(|line| format!("{target}: {line}")),
        );
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
