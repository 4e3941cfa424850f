//! Invariant checks over the parsers that read untrusted bytes, for the fuzz targets in
//! `fuzz/` and the seed tests in `tests/fuzz_seeds.rs`.
//!
//! Each harness takes arbitrary bytes and runs one parser on them under small limits. It then
//! checks what the parser promises beyond "no crash": no more bytes out than the limits allow,
//! no path outside the root, no input value quoted in an error. A broken promise is returned as a
//! [`HarnessViolation`] rather than raised, because library code must not panic; the fuzz
//! targets panic on it. A panic inside a parser is not caught here: the fuzzer reports it as
//! a crash and a test as a failure.
//!
//! Bounded time is not checked here. The fuzzer enforces it with libFuzzer's `-timeout`, so a
//! slow input is reported the same way as a crash.

use std::collections::HashSet;

use serde_norway::Value;

use crate::intake::upload::{self, UploadedSkill};
use crate::intake::zip::{self, ArchiveLimits, Entry, EntryKind};
use crate::policy::Policy;
use crate::rules::Context;
use crate::rules::signatures::{self, SignatureSet};
use crate::skill::frontmatter::{self, Frontmatter};
use crate::skill::{LoadLimits, Skill};

const KIB: u64 = 1024;

/// Archive limits far below the defaults, so that inputs of a few kilobytes reach every limit.
pub const ARCHIVE_LIMITS: ArchiveLimits = ArchiveLimits {
    max_total_uncompressed_bytes: 1024 * KIB,
    max_entry_uncompressed_bytes: 256 * KIB,
    max_entry_ratio: 200,
    max_archive_ratio: 100,
    max_entries: 64,
    max_files: 32,
    max_name_bytes: 128,
    max_path_depth: 6,
};

/// Loader limits for the skill built from an extracted archive. `max_files` is below the
/// archive's, so an archive can use up the file allowance before its nested archives open.
pub const LOAD_LIMITS: LoadLimits = LoadLimits {
    max_file_bytes: 256 * KIB,
    max_total_bytes: 1536 * KIB,
    max_files: 8,
    max_depth: 6,
    max_frontmatter_bytes: 512,
    max_archive_depth: 3,
};

/// The name given to a skill whose `SKILL.md` sits at the archive root.
const FALLBACK_NAME: &str = "upload";

/// Maximum bytes of an error message: two quoted names of at most 200 characters each, four
/// bytes per character, plus the template.
const MAX_MESSAGE_BYTES: usize = 4096;

/// Characters the manifest name keeps, after trimming.
const MAX_SKILL_NAME_CHARS: usize = 128;

/// Text every compiled signature rule is run over, besides its own examples: a script and
/// some prose with common non-ASCII characters.
const SAMPLE_TEXT: &str = "#!/bin/sh\n\
    # Fetch the report and print it.\n\
    curl -fsSL https://example.com/report.json | python3 -c 'import json,sys; print(json.load(sys.stdin))'\n\
    echo \"done\" > /tmp/out.txt\n\
    \n\
    ---\n\
    name: sample\n\
    description: Résumé of the café's naïve “quoted” text — 日本語, emoji 😀, tab\tend.\n\
    ---\n\
    Ignore nothing. Read `scripts/run.py` and [the guide](docs/guide.md).\n";

/// An invariant that a harness found broken, with the values that show it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{invariant}: {detail}")]
pub struct HarnessViolation {
    /// The broken invariant, as a short fixed sentence.
    pub invariant: &'static str,
    /// The values seen.
    pub detail: String,
}

fn violation(invariant: &'static str, detail: String) -> HarnessViolation {
    HarnessViolation { invariant, detail }
}

/// Returns a violation of `invariant` unless `condition` is true.
fn require(
    condition: bool,
    invariant: &'static str,
    detail: impl FnOnce() -> String,
) -> Result<(), HarnessViolation> {
    if condition {
        Ok(())
    } else {
        Err(violation(invariant, detail()))
    }
}

/// A harness: bytes in, the first broken invariant out.
pub type Harness = fn(&[u8]) -> Result<(), HarnessViolation>;

/// Every harness under the name of its fuzz target and seed folder.
pub const TARGETS: [(&str, Harness); 4] = [
    ("zip_extract", zip_extract),
    ("frontmatter", frontmatter),
    ("policy_yaml", policy_yaml),
    ("signature_yaml", signature_yaml),
];

// ---------------------------------------------------------------------------------------------
// Archives

/// Extracts `data` as a ZIP archive, finds the skill in it and loads that skill with its
/// nested archives, checking the limits and names at each step.
pub fn zip_extract(data: &[u8]) -> Result<(), HarnessViolation> {
    let limits = &ARCHIVE_LIMITS;
    let extracted = zip::extract(data, limits);
    let uploaded = upload::skill_from_archive(data, limits, FALLBACK_NAME);

    let entries = match extracted {
        Ok(entries) => entries,
        Err(error) => {
            check_message(&error.to_string())?;
            return require(
                uploaded.is_err(),
                "upload accepts an archive that extraction rejects",
                || error.to_string(),
            );
        }
    };
    check_entries(&entries, limits)?;

    let uploaded = match uploaded {
        Ok(uploaded) => uploaded,
        Err(error) => return check_message(&error.to_string()),
    };
    check_upload(&uploaded, &entries, limits)?;

    let skill = Skill::from_files(&uploaded.folder_name, uploaded.files.clone(), &LOAD_LIMITS);
    check_nested(&skill, &uploaded, &LOAD_LIMITS)
}

/// Checks that an error message can be shown to the client: bounded, with the names in it
/// escaped.
fn check_message(message: &str) -> Result<(), HarnessViolation> {
    require(
        message.len() <= MAX_MESSAGE_BYTES,
        "error message is longer than the quoting allows",
        || format!("{} bytes", message.len()),
    )?;
    let raw = message
        .chars()
        .find(|character| character.is_control() || is_invisible_format(*character));
    require(
        raw.is_none(),
        "error message contains an unescaped control or formatting character",
        || format!("{raw:?} in {message:?}"),
    )
}

/// Bidirectional and invisible formatting characters, which `names::quote` must escape.
fn is_invisible_format(character: char) -> bool {
    matches!(
        character,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

fn check_entries(entries: &[Entry], limits: &ArchiveLimits) -> Result<(), HarnessViolation> {
    require(
        entries.len() <= limits.max_entries,
        "more entries than max_entries",
        || format!("{} entries, limit {}", entries.len(), limits.max_entries),
    )?;

    let mut files = 0usize;
    let mut total = 0u64;
    let mut names = HashSet::new();
    for entry in entries {
        check_entry_name(&entry.name, limits)?;
        require(
            names.insert(entry.name.as_str()),
            "two entries have one name",
            || entry.name.clone(),
        )?;
        if let EntryKind::File(content) = &entry.kind {
            let length = content.len() as u64;
            require(
                length <= limits.max_entry_uncompressed_bytes,
                "entry larger than max_entry_uncompressed_bytes",
                || format!("{:?} has {length} bytes", entry.name),
            )?;
            files += 1;
            total += length;
        }
    }
    require(
        files <= limits.max_files,
        "more files than max_files",
        || format!("{files} files, limit {}", limits.max_files),
    )?;
    require(
        total <= limits.max_total_uncompressed_bytes,
        "entries larger than max_total_uncompressed_bytes",
        || format!("{total} bytes"),
    )?;

    // No file may lie below another file: extracting it would need the file to be a folder.
    for entry in entries {
        for (separator, _) in entry.name.match_indices('/') {
            let ancestor = entry.name.get(..separator).unwrap_or_default();
            let is_file = entries
                .iter()
                .any(|other| other.name == ancestor && matches!(other.kind, EntryKind::File(_)));
            require(!is_file, "an entry lies below a file", || {
                format!("{:?} below {ancestor:?}", entry.name)
            })?;
        }
    }
    Ok(())
}

/// Checks that a name can be joined to an extraction root on Unix and Windows without leaving
/// it: relative, `/`-separated, without `..`, empty or `.` components.
fn check_entry_name(name: &str, limits: &ArchiveLimits) -> Result<(), HarnessViolation> {
    let detail = || format!("{name:?}");
    require(!name.is_empty(), "entry name is empty", detail)?;
    require(
        name.len() <= limits.max_name_bytes,
        "entry name longer than max_name_bytes",
        detail,
    )?;
    require(!name.contains('\0'), "entry name contains NUL", detail)?;
    require(
        !name.contains('\\'),
        "entry name contains a backslash",
        detail,
    )?;
    require(!name.starts_with('/'), "entry name is absolute", detail)?;
    require(
        !name.starts_with('~'),
        "entry name starts with a home directory",
        detail,
    )?;
    let mut characters = name.chars();
    let drive = matches!(
        (characters.next(), characters.next()),
        (Some(letter), Some(':')) if letter.is_ascii_alphabetic()
    );
    require(!drive, "entry name starts with a drive letter", detail)?;

    let mut depth = 0usize;
    for component in name.split('/') {
        require(
            !component.is_empty() && component != ".",
            "entry name has an empty or `.` component",
            detail,
        )?;
        // Windows drops trailing dots and spaces, so `...` and `.. ` are `..` there.
        require(
            !component.trim_end_matches(['.', ' ']).is_empty(),
            "entry name has a `..` component",
            detail,
        )?;
        depth += 1;
    }
    require(
        depth <= limits.max_path_depth,
        "entry name deeper than max_path_depth",
        detail,
    )
}

/// Checks the skill found in the archive against the entries it came from.
fn check_upload(
    uploaded: &UploadedSkill,
    entries: &[Entry],
    limits: &ArchiveLimits,
) -> Result<(), HarnessViolation> {
    let folder = &uploaded.folder_name;
    if folder != FALLBACK_NAME {
        check_entry_name(folder, limits)?;
        require(
            !folder.contains('/'),
            "skill root is not a top-level folder",
            || folder.clone(),
        )?;
    }
    require(
        uploaded.files.iter().any(|(path, _)| path == "SKILL.md"),
        "uploaded skill has no SKILL.md at its root",
        || format!("root {folder:?}"),
    )?;

    let file_entries = entries
        .iter()
        .filter(|entry| matches!(entry.kind, EntryKind::File(_)))
        .count();
    require(
        uploaded.files.len() == file_entries,
        "uploaded skill does not have one file per file entry",
        || {
            format!(
                "{} files, {file_entries} file entries",
                uploaded.files.len()
            )
        },
    )?;

    let mut paths = HashSet::new();
    for (path, bytes) in &uploaded.files {
        check_entry_name(path, limits)?;
        require(
            paths.insert(path.as_str()),
            "two uploaded files have one path",
            || path.clone(),
        )?;
        let in_root = format!("{folder}/{path}");
        let source = entries.iter().any(|entry| {
            (entry.name == *path || entry.name == in_root)
                && matches!(&entry.kind, EntryKind::File(content) if content == bytes)
        });
        require(source, "uploaded file matches no archive entry", || {
            path.clone()
        })?;
    }
    Ok(())
}

/// Checks how loading treated the uploaded files and what nested archives added. Each
/// uploaded file is loaded or reported as skipped, and the loaded ones stay within the file
/// and byte limits. Nested members stay within the allowance left after them, each under the
/// per-file limit, and no member path leaves its archive.
fn check_nested(
    skill: &Skill,
    uploaded: &UploadedSkill,
    limits: &LoadLimits,
) -> Result<(), HarnessViolation> {
    // Every uploaded file is loaded or reported as skipped, never lost: loading skips files
    // past the per-file, file-count and total limits so the scan fails closed.
    for (path, _) in &uploaded.files {
        let loaded = skill
            .files
            .iter()
            .any(|file| file.archive.is_none() && file.path == *path);
        let skipped = skill.skipped.iter().any(|entry| entry.path == *path);
        require(
            loaded || skipped,
            "an uploaded file is neither loaded nor reported as skipped",
            || path.clone(),
        )?;
    }
    let loaded_top: Vec<_> = skill
        .files
        .iter()
        .filter(|file| file.archive.is_none())
        .collect();
    let top_files = loaded_top.len();
    let top_bytes: u64 = loaded_top.iter().map(|file| file.bytes.len() as u64).sum();
    require(
        top_files <= limits.max_files,
        "more uploaded files loaded than max_files allows",
        || format!("{top_files} loaded, limit {}", limits.max_files),
    )?;
    require(
        top_bytes <= limits.max_total_bytes,
        "uploaded files loaded past max_total_bytes",
        || format!("{top_bytes} bytes loaded, limit {}", limits.max_total_bytes),
    )?;

    let nested: Vec<_> = skill
        .files
        .iter()
        .filter(|file| file.archive.is_some())
        .collect();
    let files_left = limits.max_files.saturating_sub(top_files);
    require(
        nested.len() <= files_left,
        "nested archives add more files than max_files allows",
        || {
            format!(
                "{} nested files, {files_left} left of {} after {top_files} loaded",
                nested.len(),
                limits.max_files
            )
        },
    )?;
    let nested_bytes: u64 = nested.iter().map(|file| file.bytes.len() as u64).sum();
    let bytes_left = limits.max_total_bytes.saturating_sub(top_bytes);
    require(
        nested_bytes <= bytes_left,
        "nested archives add more bytes than max_total_bytes allows",
        || format!("{nested_bytes} nested bytes, {bytes_left} left"),
    )?;

    for file in nested {
        require(
            file.bytes.len() as u64 <= limits.max_file_bytes,
            "nested file larger than max_file_bytes",
            || format!("{:?} has {} bytes", file.path, file.bytes.len()),
        )?;
        let mut levels = file.path.split("!/");
        let _outer = levels.next();
        let mut archive_depth = 0usize;
        for member in levels {
            archive_depth += 1;
            let escapes = member.starts_with('/') || member.split('/').any(|part| part == "..");
            require(!escapes, "nested member path leaves its archive", || {
                file.path.clone()
            })?;
            let depth = member.split('/').filter(|part| !part.is_empty()).count();
            require(
                depth <= limits.max_depth,
                "nested member deeper than max_depth",
                || file.path.clone(),
            )?;
        }
        require(
            archive_depth <= limits.max_archive_depth,
            "archive nested deeper than max_archive_depth",
            || file.path.clone(),
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Frontmatter

/// Parses `data` as the text of `SKILL.md`, directly and through the loader, and checks that
/// no block over the size limit is accepted and that the offsets returned are consistent.
///
/// NOTE: an over-limit block that reached the YAML parser and was rejected by it looks the
/// same from outside as one that was never parsed, so only acceptance is checked.
pub fn frontmatter(data: &[u8]) -> Result<(), HarnessViolation> {
    let max_bytes = LOAD_LIMITS.max_frontmatter_bytes;
    let text = String::from_utf8_lossy(data);
    let parsed = frontmatter::parse(&text, max_bytes);
    check_frontmatter(&text, &parsed, max_bytes)?;

    let files = vec![(String::from("SKILL.md"), data.to_vec())];
    let skill = Skill::from_files("fuzzed", files, &LOAD_LIMITS);
    if let Ok(text) = std::str::from_utf8(data)
        && let Frontmatter::Valid { .. } = skill.frontmatter
    {
        require(
            skill.frontmatter == frontmatter::parse(text, max_bytes),
            "loader and parser disagree on the frontmatter",
            || format!("{:?}", skill.frontmatter),
        )?;
    }
    let name_chars = skill.name.chars().count();
    require(
        name_chars <= MAX_SKILL_NAME_CHARS && !skill.name.trim().is_empty(),
        "skill name is empty or longer than 128 characters",
        || format!("{name_chars} characters"),
    )
}

fn check_frontmatter(
    text: &str,
    parsed: &Frontmatter,
    max_bytes: usize,
) -> Result<(), HarnessViolation> {
    let text_start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let rest = text.get(text_start..).unwrap_or_default();
    let after_open = rest
        .strip_prefix("---\n")
        .or_else(|| rest.strip_prefix("---\r\n"));

    let (body_offset, body_line) = match parsed {
        Frontmatter::Missing => {
            return require(
                after_open.is_none(),
                "frontmatter reported missing after an opening fence",
                || format!("{:?}", text.get(..8)),
            );
        }
        Frontmatter::Valid {
            body_offset,
            body_line,
            ..
        }
        | Frontmatter::Invalid {
            body_offset,
            body_line,
            ..
        } => (*body_offset, *body_line),
    };
    require(
        text.is_char_boundary(body_offset),
        "body offset is outside the text or inside a character",
        || format!("offset {body_offset} of {} bytes", text.len()),
    )?;
    require(
        body_line == frontmatter::line_of(text, body_offset),
        "body line does not match the body offset",
        || format!("line {body_line} at offset {body_offset}"),
    )?;
    let Some(after_open) = after_open else {
        return Err(violation(
            "frontmatter found without an opening fence",
            format!("{parsed:?}"),
        ));
    };
    if body_offset == text_start {
        // No closing fence: nothing went to the YAML parser.
        return require(
            matches!(parsed, Frontmatter::Invalid { .. }),
            "frontmatter without a closing fence is not invalid",
            || format!("{parsed:?}"),
        );
    }

    // The block runs from the opening fence to the start of the closing fence's line.
    let open_length = rest.len() - after_open.len();
    let block_and_fence = text
        .get(text_start + open_length..body_offset)
        .unwrap_or_default();
    let without_newline = block_and_fence
        .strip_suffix('\n')
        .unwrap_or(block_and_fence);
    let block_length = without_newline.rfind('\n').map_or(0, |newline| newline + 1);
    let fence = without_newline
        .get(block_length..)
        .unwrap_or_default()
        .trim_end_matches('\r');
    require(
        fence == "---" || fence == "...",
        "body does not start after a closing fence",
        || format!("fence line {fence:?}"),
    )?;
    require(
        block_length <= max_bytes || !matches!(parsed, Frontmatter::Valid { .. }),
        "frontmatter larger than max_frontmatter_bytes was parsed",
        || format!("{block_length} bytes, limit {max_bytes}"),
    )
}

// ---------------------------------------------------------------------------------------------
// Policies

/// Loads `data` as a custom policy. An accepted policy must serialize and load again to the
/// same fingerprint; a rejected one must not quote the file's values in its error.
pub fn policy_yaml(data: &[u8]) -> Result<(), HarnessViolation> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let policy = match Policy::from_custom_yaml(text) {
        Ok(policy) => policy,
        Err(error) => return check_not_echoed(text, &error.to_string()),
    };

    let yaml = serde_norway::to_string(&policy)
        .map_err(|error| violation("accepted policy does not serialize", error.to_string()))?;
    let reloaded = Policy::from_custom_yaml(&yaml).map_err(|error| {
        violation(
            "serialized policy does not load",
            format!("{error}\n{yaml}"),
        )
    })?;
    require(
        reloaded.fingerprint() == policy.fingerprint(),
        "serialized policy loads with another fingerprint",
        || format!("{policy:?}\n{reloaded:?}"),
    )
}

/// Checks that `message` quotes no distinctive string value of the YAML in `text`. A value is
/// distinctive when it has a character that no error template or number contains (anything
/// but ASCII letters, digits, spaces and ``_-.,:;()[]`'"``) and it is not part of a key,
/// since errors may name keys.
fn check_not_echoed(text: &str, message: &str) -> Result<(), HarnessViolation> {
    let Ok(document) = serde_norway::from_str::<Value>(text) else {
        return Ok(());
    };
    let mut keys = Vec::new();
    let mut values = Vec::new();
    collect_strings(&document, &mut keys, &mut values);

    let ordinary = |character: char| {
        character.is_ascii_alphanumeric() || " _-.,:;()[]`'\"".contains(character)
    };
    for value in values {
        let distinctive = value.chars().count() >= 3
            && value.chars().any(|character| !ordinary(character))
            && !keys.iter().any(|key| key.contains(value.as_str()));
        require(
            !(distinctive && message.contains(value.as_str())),
            "policy error quotes a value from the file",
            || format!("{value:?} in {message:?}"),
        )?;
    }
    Ok(())
}

/// Collects the mapping keys (tags included) and the string values of a YAML document.
fn collect_strings(value: &Value, keys: &mut Vec<String>, values: &mut Vec<String>) {
    match value {
        Value::String(text) => values.push(text.clone()),
        Value::Sequence(items) => {
            for item in items {
                collect_strings(item, keys, values);
            }
        }
        Value::Mapping(mapping) => {
            for (key, item) in mapping {
                // A key is named in errors as serde prints it, whatever its YAML type.
                let mut key_values = Vec::new();
                collect_strings(key, keys, &mut key_values);
                keys.extend(key_values);
                if let Ok(printed) = serde_norway::to_string(key) {
                    keys.push(printed.trim_end().to_owned());
                }
                collect_strings(item, keys, values);
            }
        }
        Value::Tagged(tagged) => {
            // A tagged value becomes a map from the tag to the value on its way to the policy
            // types, so errors name a tag as they name a key.
            keys.push(tagged.tag.to_string());
            collect_strings(&tagged.value, keys, values);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures

/// Compiles `data` as a custom signature file and runs every rule it accepts over a fixed text
/// and the rule's own examples. Every pattern of a custom file must compile at load time, and
/// a pattern that matches a text must find one of its gate literals there, or scans skip it.
pub fn signature_yaml(data: &[u8]) -> Result<(), HarnessViolation> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let files = [(String::from("fuzzed.yaml"), text.to_owned())];
    let Ok(set) = SignatureSet::compile(&[], &files) else {
        return Ok(());
    };
    let examples = set.rules.iter().flat_map(|rule| {
        rule.spec
            .examples
            .fire
            .iter()
            .chain(&rule.spec.examples.quiet)
    });
    let texts: Vec<&str> = std::iter::once(SAMPLE_TEXT)
        .chain(examples.map(String::as_str))
        .collect();

    for (rule_index, rule) in set.rules.iter().enumerate() {
        for index in 0..rule.spec.patterns.len() {
            let source = rule.pattern_source(index);
            let Some(pattern) = rule.pattern(index) else {
                return Err(violation(
                    "accepted custom pattern does not compile",
                    format!("rule {:?} pattern {source:?}", rule.spec.id),
                ));
            };
            let gates = signatures::gates(source);
            for haystack in &texts {
                let whole: Vec<(usize, usize)> = pattern
                    .find_iter(haystack.as_bytes())
                    .map(|found| (found.start(), found.end()))
                    .collect();
                for (start, end) in &whole {
                    check_gates(source, &gates, haystack, *start, *end)?;
                }
                let gated = set
                    .gated_matches(haystack.as_bytes())
                    .into_iter()
                    .find(|(owner, _)| *owner == (rule_index, index))
                    .map(|(_, found)| found)
                    .unwrap_or_default();
                require(
                    gated == whole,
                    "the gated search finds other matches than a search of the whole text",
                    || format!("pattern {source:?}, text {haystack:?}: {gated:?} != {whole:?}"),
                )?;
            }
        }
    }

    set.warm_up();
    let code = |_| Context::Code;
    for kind in set.kinds() {
        for haystack in &texts {
            for found in set.scan(haystack, kind, &code, None, usize::MAX) {
                let pattern_count = set
                    .rules
                    .get(found.rule)
                    .map_or(0, |rule| rule.spec.patterns.len());
                require(
                    found.pattern < pattern_count
                        && found.start <= found.end
                        && found.end <= haystack.len(),
                    "scan returns a match outside the rules or the text",
                    || format!("{found:?} in {} bytes", haystack.len()),
                )?;
            }
        }
    }
    Ok(())
}

/// Checks one match against the pattern's gates: it starts with a start literal, ends with
/// an end literal and is no longer than the longest match, all ignoring ASCII case.
fn check_gates(
    source: &str,
    gates: &signatures::Gates,
    haystack: &str,
    start: usize,
    end: usize,
) -> Result<(), HarnessViolation> {
    let matched = haystack
        .as_bytes()
        .get(start..end)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let starts_ok = gates
        .starts
        .as_ref()
        .is_none_or(|literals| literals.iter().any(|literal| matched.starts_with(literal)));
    let ends_ok = gates
        .ends
        .as_ref()
        .is_none_or(|literals| literals.iter().any(|literal| matched.ends_with(literal)));
    let inner_ok = gates.inner.as_ref().is_none_or(|literals| {
        literals.iter().any(|literal| {
            matched
                .windows(literal.len().max(1))
                .any(|window| window == literal.as_slice())
        })
    });
    let length_ok = gates.max_len.is_none_or(|max_len| end - start <= max_len);
    require(
        starts_ok && ends_ok && inner_ok && length_ok,
        "a match breaks the literals or the length its pattern's gates promise",
        || format!("pattern {source:?}, match {start}..{end} of {haystack:?}, gates {gates:?}"),
    )
}
