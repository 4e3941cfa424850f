//! Scan policies: the presets in `policies/` and custom YAML files deep-merged over a preset.
//!
//! A policy is data the caller may supply, so it is parsed strictly: an unknown key or a value
//! of the wrong type is an error that names the key, and error messages never quote the file's
//! values. Patterns in a policy are compiled with the linear-time `regex` crate under a size
//! limit.

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_norway::Value;
use sha2::{Digest, Sha256};

use crate::model::{Category, Severity};
use crate::skill::{FileKind, LoadLimits};

/// The preset policies shipped in the binary, by name.
pub const PRESETS: [(&str, &str); 5] = [
    ("balanced", include_str!("../policies/balanced.yaml")),
    ("strict", include_str!("../policies/strict.yaml")),
    ("permissive", include_str!("../policies/permissive.yaml")),
    ("low-noise", include_str!("../policies/low-noise.yaml")),
    ("quiet", include_str!("../policies/quiet.yaml")),
];

pub const DEFAULT_PRESET: &str = "balanced";

/// Compiled-size cap for any regex a policy or custom rule pack supplies.
pub const USER_REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "unknown policy preset `{0}`; expected one of strict, balanced, permissive, low-noise, quiet, or a path to a .yaml file"
    )]
    UnknownPreset(String),
    #[error("invalid policy: {0}")]
    Invalid(String),
    #[error("policy file {path} cannot be read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// A complete policy after merging.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    pub description: String,
    /// The preset this policy was merged over; a preset names itself.
    #[serde(default)]
    pub extends: Option<String>,
    pub limits: Limits,
    pub analyzers: Analyzers,
    pub findings: FindingRules,
    pub scopes: Vec<Scope>,
    pub known_benign: KnownBenign,
}

/// Every limit with the reason for its default in the preset files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    pub max_files: usize,
    pub max_directory_depth: usize,
    pub max_frontmatter_bytes: usize,
    pub max_archive_depth: usize,
    /// Findings kept per rule and file; the rest are counted in the last one's metadata.
    pub max_findings_per_rule_per_file: usize,
    /// Encoded blobs decoded and re-scanned per file.
    pub max_decoded_blobs_per_file: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analyzers {
    /// YAML signatures and the built-in structural checks.
    pub static_signatures: bool,
    pub yara: bool,
    /// Unicode tag text, HTML comments and blank padding re-scanned as instructions.
    pub hidden_text: bool,
    /// Base64 and hex blobs decoded and re-scanned.
    pub decode_blobs: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingRules {
    /// Severity of a finding that reports content left unanalyzed (fail closed).
    pub unanalyzed_severity: Severity,
    /// Findings below this severity are dropped from the result.
    pub min_severity: Severity,
    pub disabled_rules: Vec<String>,
    pub disabled_categories: Vec<Category>,
    pub severity_overrides: BTreeMap<String, Severity>,
}

/// Caps the severity of findings in one kind of place, such as code examples in reference
/// documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    pub name: String,
    /// Path prefixes relative to the skill root; empty matches every path.
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub file_kinds: Vec<FileKind>,
    /// `code` or `prose`; empty matches both.
    #[serde(default)]
    pub contexts: Vec<String>,
    /// When set, only files that are (true) or are not (false) part of the instructions.
    #[serde(default)]
    pub instructions: Option<bool>,
    /// Categories the cap applies to; empty means all.
    #[serde(default)]
    pub categories: Vec<Category>,
    pub max_severity: Severity,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownBenign {
    /// Hosts whose URLs are not reported as suspicious destinations.
    pub hosts: Vec<String>,
    /// SHA-256 of files that are skipped by signature rules (vendored, reviewed files).
    pub file_sha256: Vec<String>,
    /// Regexes: a finding whose matched line matches one is dropped.
    pub line_patterns: Vec<String>,
}

impl Policy {
    /// Loads a preset by name, or a YAML file merged over the preset it `extends`
    /// (default `balanced`).
    pub fn load(name_or_path: &str) -> Result<Policy, PolicyError> {
        if let Some(preset) = preset_text(name_or_path) {
            return Policy::from_yaml_values(parse_yaml(preset)?, None);
        }
        let is_file = name_or_path.ends_with(".yaml") || name_or_path.ends_with(".yml");
        if !is_file {
            return Err(PolicyError::UnknownPreset(clip(name_or_path)));
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|source| PolicyError::Read {
            path: name_or_path.to_string(),
            source,
        })?;
        Policy::from_custom_yaml(&text)
    }

    /// Parses a custom policy: its keys deep-merged over the preset it extends.
    pub fn from_custom_yaml(text: &str) -> Result<Policy, PolicyError> {
        const MAX_POLICY_BYTES: usize = 1024 * 1024;
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::Invalid(format!(
                "policy is {} bytes, over the limit of {MAX_POLICY_BYTES} bytes",
                text.len()
            )));
        }
        let mut custom = parse_yaml(text)?;
        if custom == Value::Null {
            // An empty file changes nothing: it is the preset itself under a custom name.
            custom = Value::Mapping(serde_norway::Mapping::new());
        }
        let base_name = match &custom {
            Value::Mapping(mapping) => match mapping.get("extends") {
                Some(Value::String(name)) => name.clone(),
                Some(Value::Null) | None => String::from(DEFAULT_PRESET),
                Some(_) => {
                    return Err(PolicyError::Invalid(String::from(
                        "`extends` must be a preset name",
                    )));
                }
            },
            Value::Null => String::from(DEFAULT_PRESET),
            _ => {
                return Err(PolicyError::Invalid(String::from(
                    "a policy must be a mapping of keys to values",
                )));
            }
        };
        // The name is a value from the file, so the error does not repeat it.
        let base_text = preset_text(&base_name).ok_or_else(|| {
            PolicyError::Invalid(String::from(
                "`extends` is not a preset name; expected one of strict, balanced, permissive, low-noise, quiet",
            ))
        })?;
        let base = parse_yaml(base_text)?;
        Policy::from_yaml_values(base, Some((custom, base_name)))
    }

    fn from_yaml_values(
        mut base: Value,
        custom: Option<(Value, String)>,
    ) -> Result<Policy, PolicyError> {
        let mut extends = None;
        if let Some((custom, base_name)) = custom {
            if let Value::Mapping(base_map) = &mut base {
                base_map.insert(Value::from("name"), Value::from("custom"));
            }
            merge(&mut base, custom);
            extends = Some(base_name);
        }
        // Through JSON values, whose deserializer reports the path of a bad field.
        let json = serde_json::to_value(&base).map_err(|_| {
            PolicyError::Invalid(String::from("policy cannot be represented as data"))
        })?;
        let mut policy: Policy = serde_path_to_error::deserialize(json).map_err(|error| {
            let path = error.path().to_string();
            let message = redact_serde_message(&error.inner().to_string());
            if path.is_empty() || path == "." {
                PolicyError::Invalid(message)
            } else {
                PolicyError::Invalid(format!("{}: {message}", clip(&path)))
            }
        })?;
        if policy.extends.is_none() {
            policy.extends = extends.or_else(|| Some(policy.name.clone()));
        }
        policy.validate()?;
        Ok(policy)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        let limits = &self.limits;
        let checks: [(&str, u64); 7] = [
            ("limits.max_file_bytes", limits.max_file_bytes),
            ("limits.max_total_bytes", limits.max_total_bytes),
            ("limits.max_files", limits.max_files as u64),
            (
                "limits.max_directory_depth",
                limits.max_directory_depth as u64,
            ),
            (
                "limits.max_frontmatter_bytes",
                limits.max_frontmatter_bytes as u64,
            ),
            (
                "limits.max_findings_per_rule_per_file",
                limits.max_findings_per_rule_per_file as u64,
            ),
            (
                "limits.max_decoded_blobs_per_file",
                limits.max_decoded_blobs_per_file as u64,
            ),
        ];
        for (key, value) in checks {
            if value == 0 {
                return Err(PolicyError::Invalid(format!("{key} must be at least 1")));
            }
        }
        if limits.max_archive_depth > 16 {
            return Err(PolicyError::Invalid(String::from(
                "limits.max_archive_depth must be at most 16",
            )));
        }
        if limits.max_file_bytes > 1024 * 1024 * 1024
            || limits.max_total_bytes > 16 * 1024 * 1024 * 1024
        {
            return Err(PolicyError::Invalid(String::from(
                "limits.max_file_bytes must be at most 1 GiB and limits.max_total_bytes at most 16 GiB",
            )));
        }
        for (index, scope) in self.scopes.iter().enumerate() {
            for context in &scope.contexts {
                if context != "code" && context != "prose" {
                    return Err(PolicyError::Invalid(format!(
                        "scopes[{index}].contexts: expected `code` or `prose`"
                    )));
                }
            }
        }
        self.line_patterns()?;
        Ok(())
    }

    /// Compiles `known_benign.line_patterns` under the size limit.
    pub fn line_patterns(&self) -> Result<Vec<Regex>, PolicyError> {
        self.known_benign
            .line_patterns
            .iter()
            .enumerate()
            .map(|(index, pattern)| {
                compile_user_regex(pattern).map_err(|reason| {
                    PolicyError::Invalid(format!("known_benign.line_patterns[{index}]: {reason}"))
                })
            })
            .collect()
    }

    pub fn load_limits(&self) -> LoadLimits {
        LoadLimits {
            max_file_bytes: self.limits.max_file_bytes,
            max_total_bytes: self.limits.max_total_bytes,
            max_files: self.limits.max_files,
            max_depth: self.limits.max_directory_depth,
            max_frontmatter_bytes: self.limits.max_frontmatter_bytes,
            max_archive_depth: self.limits.max_archive_depth,
        }
    }

    /// SHA-256 over the canonical JSON form of the merged policy.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&canonical))
    }

    pub fn preset_base(&self) -> &str {
        self.extends.as_deref().unwrap_or(&self.name)
    }
}

/// Compiles a regex from a policy or custom rule pack: linear time, bounded size.
pub fn compile_user_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .multi_line(true)
        .size_limit(USER_REGEX_SIZE_LIMIT)
        .dfa_size_limit(USER_REGEX_SIZE_LIMIT)
        .nest_limit(64)
        .build()
        .map_err(|error| match error {
            regex::Error::CompiledTooBig(limit) => {
                format!("pattern compiles past the size limit of {limit} bytes")
            }
            _ => String::from("pattern is not a valid regular expression"),
        })
}

fn preset_text(name: &str) -> Option<&'static str> {
    let name = if name == "default" {
        DEFAULT_PRESET
    } else {
        name
    };
    PRESETS
        .iter()
        .find(|(preset, _)| *preset == name)
        .map(|(_, text)| *text)
}

fn parse_yaml(text: &str) -> Result<Value, PolicyError> {
    serde_norway::from_str(text).map_err(|error| {
        let described = crate::skill::frontmatter::describe_yaml_error(&error);
        PolicyError::Invalid(described.replacen("frontmatter", "policy", 1))
    })
}

/// Deep merge: mappings merge key by key, anything else in `overlay` replaces `base`.
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(base_map), Value::Mapping(overlay_map)) => {
            for (key, value) in overlay_map {
                match base_map.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base_map.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// Keeps serde's description of what was wrong and where, but replaces each value from the
/// file with `(value)`. Serde prints a string value in double quotes with Rust's escapes
/// (`invalid type: string "..."`) and other values in backticks after their kind
/// (``unknown variant `...`, expected``, ``integer `...` ``). Names in backticks that come from
/// the schema or name a key, as in ``unknown field `...` ``, are kept.
fn redact_serde_message(message: &str) -> String {
    const VALUE_KINDS: [&str; 5] = [
        "variant ",
        "integer ",
        "floating point ",
        "boolean ",
        "character ",
    ];
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find(['"', '`']) {
        let (before, quoted) = rest.split_at(at);
        out.push_str(before);
        if quoted.starts_with('"') {
            out.push_str("(value)");
            rest = after_string_value(quoted);
        } else if VALUE_KINDS.iter().any(|kind| out.ends_with(kind)) {
            out.push_str("(value)");
            rest = after_backtick_value(quoted);
        } else {
            let close = quoted
                .get(1..)
                .and_then(|inside| inside.find('`'))
                .map_or(quoted.len(), |position| position + 2);
            out.push_str(quoted.get(..close).unwrap_or(quoted));
            rest = quoted.get(close..).unwrap_or_default();
        }
    }
    out.push_str(rest);
    clip(&out)
}

/// Returns what follows the string value at the start of `quoted`, skipping escaped quotes.
fn after_string_value(quoted: &str) -> &str {
    let mut escaped = false;
    for (position, character) in quoted.char_indices().skip(1) {
        match character {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return quoted.get(position + 1..).unwrap_or_default(),
            _ => {}
        }
    }
    ""
}

/// Returns what follows the value in backticks at the start of `quoted`. The value itself may
/// contain backticks, so it ends at the last backtick before serde's `, expected` (or `, there
/// are no variants`), else at the last backtick.
fn after_backtick_value(quoted: &str) -> &str {
    let close = quoted
        .rfind("`, expected ")
        .or_else(|| quoted.rfind("`, there are no variants"))
        .or_else(|| quoted.rfind('`'))
        .filter(|close| *close > 0);
    match close {
        Some(close) => quoted.get(close + 1..).unwrap_or_default(),
        None => "",
    }
}

fn clip(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|character| !character.is_control())
        .take(300)
        .collect();
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_loads() {
        for (name, _) in PRESETS {
            let policy = Policy::load(name).unwrap_or_else(|error| unreachable!("{name}: {error}"));
            assert_eq!(policy.name, name);
            assert_eq!(policy.preset_base(), name);
        }
    }

    #[test]
    fn presets_differ() {
        let strict = Policy::load("strict")
            .map(|policy| policy.fingerprint())
            .ok();
        let balanced = Policy::load("balanced")
            .map(|policy| policy.fingerprint())
            .ok();
        assert!(strict.is_some());
        assert_ne!(strict, balanced);
    }

    #[test]
    fn custom_merges_over_default() {
        let policy =
            Policy::from_custom_yaml("limits:\n  max_files: 7\nfindings:\n  disabled_rules: [X]\n");
        let policy = policy.unwrap_or_else(|error| unreachable!("{error}"));
        let balanced = Policy::load("balanced").unwrap_or_else(|error| unreachable!("{error}"));
        assert_eq!(policy.limits.max_files, 7);
        assert_eq!(policy.limits.max_file_bytes, balanced.limits.max_file_bytes);
        assert_eq!(policy.findings.disabled_rules, vec![String::from("X")]);
        assert_eq!(policy.name, "custom");
        assert_eq!(policy.preset_base(), "balanced");
    }

    #[test]
    fn custom_extends_other_preset() {
        let policy = Policy::from_custom_yaml("extends: strict\nname: mine\n")
            .unwrap_or_else(|error| unreachable!("{error}"));
        assert_eq!(policy.name, "mine");
        assert_eq!(policy.preset_base(), "strict");
    }

    #[test]
    fn unknown_key_is_named() {
        let error = Policy::from_custom_yaml("limits:\n  max_filez: 7\n").err();
        let message = error.map(|error| error.to_string()).unwrap_or_default();
        assert!(message.contains("max_filez"), "{message}");
    }

    #[test]
    fn bad_value_is_not_echoed() {
        let error = Policy::from_custom_yaml("limits:\n  max_files: \"SECRET-CONTENT\"\n").err();
        let message = error.map(|error| error.to_string()).unwrap_or_default();
        assert!(message.contains("invalid policy"), "{message}");
        assert!(!message.contains("SECRET-CONTENT"), "{message}");
    }

    #[test]
    fn values_are_not_echoed() {
        let cases = [
            "findings:\n  min_severity: SECRET$VALUE\n",
            "findings:\n  disabled_categories: [SECRET$VALUE]\n",
            "findings:\n  min_severity: \"a`SECRET$VALUE`, expected x\"\n",
            "limits:\n  max_files: \"a\\\"SECRET$VALUE\"\n",
            "limits:\n  max_files: -12345678\n",
            "extends: SECRET$VALUE\n",
            "scopes:\n  - name: SECRET$VALUE\n    contexts: [code, other]\n    max_severity: LOW\n",
        ];
        for yaml in cases {
            let message = Policy::from_custom_yaml(yaml)
                .err()
                .map(|error| error.to_string())
                .unwrap_or_default();
            assert!(message.contains("invalid policy"), "{yaml}: {message}");
            assert!(!message.contains("SECRET"), "{yaml}: {message}");
            assert!(!message.contains("12345678"), "{yaml}: {message}");
        }
    }

    #[test]
    fn redaction_keeps_names_from_schema() {
        let message = Policy::from_custom_yaml("findings:\n  min_severity: EXTREME\n")
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert_eq!(
            message,
            "invalid policy: findings.min_severity: unknown variant (value), expected one of \
             `INFO`, `info`, `LOW`, `low`, `MEDIUM`, `medium`, `HIGH`, `high`, `CRITICAL`, `critical`"
        );
        let message = Policy::from_custom_yaml(
            "scopes:\n  - name: docs\n    contexts: [other]\n    max_severity: LOW\n",
        )
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default();
        assert_eq!(
            message,
            "invalid policy: scopes[0].contexts: expected `code` or `prose`"
        );
    }

    #[test]
    fn wrong_type_names_key() {
        let message = Policy::from_custom_yaml("limits:\n  max_files: \"x\"\n")
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(message.contains("limits.max_files"), "{message}");
    }

    #[test]
    fn empty_policy_is_default() {
        let policy = Policy::from_custom_yaml("").unwrap_or_else(|error| unreachable!("{error}"));
        let balanced = Policy::load("balanced").unwrap_or_else(|error| unreachable!("{error}"));
        assert_eq!(policy.limits, balanced.limits);
        assert_eq!(policy.name, "custom");
    }

    #[test]
    fn lowercase_severity_accepted() {
        let policy = Policy::from_custom_yaml("findings:\n  min_severity: high\n")
            .unwrap_or_else(|error| unreachable!("{error}"));
        assert_eq!(policy.findings.min_severity, Severity::High);
    }

    #[test]
    fn bad_severity_is_rejected() {
        let error = Policy::from_custom_yaml("findings:\n  unanalyzed_severity: EXTREME\n").err();
        assert!(error.is_some());
    }

    #[test]
    fn zero_limit_is_rejected() {
        let message = Policy::from_custom_yaml("limits:\n  max_files: 0\n")
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(message.contains("limits.max_files"), "{message}");
    }

    #[test]
    fn huge_regex_is_rejected() {
        let message =
            Policy::from_custom_yaml("known_benign:\n  line_patterns: ['(a{1000}){1000}']\n")
                .err()
                .map(|error| error.to_string())
                .unwrap_or_default();
        assert!(message.contains("line_patterns[0]"), "{message}");
        assert!(message.contains("size limit"), "{message}");
    }

    #[test]
    fn unknown_preset_is_named() {
        let message = Policy::load("paranoid")
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(message.contains("paranoid"), "{message}");
    }
}
