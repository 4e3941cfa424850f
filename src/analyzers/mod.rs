//! Analyzers: each reads the loaded skill and reports raw findings; `scan` applies the policy.
//!
//! Analyzers are plain synchronous functions over the in-memory skill. They read nothing
//! beyond it (no disk, no network), so they run unchanged inside the confined worker.

pub mod correlate;
pub mod hidden;
pub mod pathflow;
pub mod static_analyzer;
pub mod structure;
pub mod text;

use serde_json::{Map, Value};

use crate::model::{Category, Finding, Severity, Span, finding_id};
use crate::rules::Context;
use crate::skill::{FileKind, SkillFile};

/// A finding before the policy is applied, with the facts the policy's scopes look at.
#[derive(Clone, Debug)]
pub struct RawFinding {
    pub finding: Finding,
    pub file_kind: Option<FileKind>,
    pub context: Option<Context>,
    pub instructions: Option<bool>,
    /// The line the match sits on, for `known_benign.line_patterns`.
    pub line_text: Option<String>,
    /// Reports content left unanalyzed: never capped by scopes or dropped by `min_severity`.
    pub fail_closed: bool,
}

/// The fixed parts of a finding: what a rule says.
#[derive(Clone, Copy, Debug)]
pub struct RuleText<'a> {
    pub rule_id: &'a str,
    pub category: Category,
    pub severity: Severity,
    pub title: &'a str,
    pub description: &'a str,
    pub remediation: &'a str,
}

/// Where a finding sits and what it quotes.
#[derive(Clone, Debug, Default)]
pub struct Location<'a> {
    pub file: Option<&'a SkillFile>,
    /// Used when the finding is about a path that is not a loaded file (a symlink, a skip).
    pub path: Option<&'a str>,
    pub span: Span,
    pub snippet: Option<String>,
    pub context: Option<Context>,
    pub line_text: Option<String>,
}

/// Longest snippet quoted in a finding, in characters.
pub const MAX_SNIPPET_CHARS: usize = 200;

/// Builds a raw finding with its stable id.
pub fn make(
    rule: RuleText<'_>,
    location: Location<'_>,
    analyzer: &str,
    metadata: Map<String, Value>,
) -> RawFinding {
    let path = location
        .file
        .map(|file| file.path.as_str())
        .or(location.path)
        .map(str::to_string);
    let id = finding_id(rule.rule_id, path.as_deref(), location.span);
    RawFinding {
        finding: Finding {
            id,
            rule_id: rule.rule_id.to_string(),
            category: rule.category,
            severity: rule.severity,
            title: rule.title.to_string(),
            description: rule.description.to_string(),
            file_path: path,
            line_number: location.span.line,
            snippet: location.snippet.map(|snippet| clip_snippet(&snippet)),
            remediation: Some(rule.remediation.to_string()).filter(|text| !text.is_empty()),
            analyzer: analyzer.to_string(),
            metadata,
        },
        file_kind: location.file.map(|file| file.kind),
        context: location.context,
        instructions: location.file.map(|file| file.instructions),
        line_text: location.line_text,
        fail_closed: false,
    }
}

/// Trims a quoted line to [`MAX_SNIPPET_CHARS`] characters and drops control characters other
/// than tab; reports escape what remains for their format.
pub fn clip_snippet(text: &str) -> String {
    let trimmed = text.trim();
    let mut out: String = trimmed
        .chars()
        .filter(|character| !character.is_control() || *character == '\t')
        .take(MAX_SNIPPET_CHARS)
        .collect();
    if trimmed.chars().count() > MAX_SNIPPET_CHARS {
        out.push('…');
    }
    out
}

/// Builds a metadata map from key/value pairs.
pub fn meta<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
}
