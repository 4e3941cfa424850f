//! The result data model shared by the CLI, the HTTP API and the reports.
//!
//! Field names, enum spellings and the finding id scheme follow the JSON of the Python
//! reference scanner's API server (`cisco-ai-skill-scanner` 2.3.2), so clients written for it
//! read our output unchanged.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How bad a finding is. Ordered so that `Critical > High > ... > Info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    #[serde(alias = "info")]
    Info,
    #[serde(alias = "low")]
    Low,
    #[serde(alias = "medium")]
    Medium,
    #[serde(alias = "high")]
    High,
    #[serde(alias = "critical")]
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// Parses the upper- or lower-case spelling used in policies and on the command line.
    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The highest severity of a result, or `SAFE` when there is no finding at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MaxSeverity {
    Safe,
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl From<Option<Severity>> for MaxSeverity {
    fn from(severity: Option<Severity>) -> Self {
        match severity {
            None => MaxSeverity::Safe,
            Some(Severity::Info) => MaxSeverity::Info,
            Some(Severity::Low) => MaxSeverity::Low,
            Some(Severity::Medium) => MaxSeverity::Medium,
            Some(Severity::High) => MaxSeverity::High,
            Some(Severity::Critical) => MaxSeverity::Critical,
        }
    }
}

impl MaxSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            MaxSeverity::Safe => "SAFE",
            MaxSeverity::Info => "INFO",
            MaxSeverity::Low => "LOW",
            MaxSeverity::Medium => "MEDIUM",
            MaxSeverity::High => "HIGH",
            MaxSeverity::Critical => "CRITICAL",
        }
    }
}

/// The threat categories of the contract, serialized in snake case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    PromptInjection,
    CommandInjection,
    DataExfiltration,
    UnauthorizedToolUse,
    Obfuscation,
    HardcodedSecrets,
    SocialEngineering,
    ResourceAbuse,
    PolicyViolation,
    Malware,
    HarmfulContent,
    SkillDiscoveryAbuse,
    TransitiveTrustAbuse,
    AutonomyAbuse,
    ToolChainingAbuse,
    UnicodeSteganography,
    SupplyChainAttack,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::PromptInjection => "prompt_injection",
            Category::CommandInjection => "command_injection",
            Category::DataExfiltration => "data_exfiltration",
            Category::UnauthorizedToolUse => "unauthorized_tool_use",
            Category::Obfuscation => "obfuscation",
            Category::HardcodedSecrets => "hardcoded_secrets",
            Category::SocialEngineering => "social_engineering",
            Category::ResourceAbuse => "resource_abuse",
            Category::PolicyViolation => "policy_violation",
            Category::Malware => "malware",
            Category::HarmfulContent => "harmful_content",
            Category::SkillDiscoveryAbuse => "skill_discovery_abuse",
            Category::TransitiveTrustAbuse => "transitive_trust_abuse",
            Category::AutonomyAbuse => "autonomy_abuse",
            Category::ToolChainingAbuse => "tool_chaining_abuse",
            Category::UnicodeSteganography => "unicode_steganography",
            Category::SupplyChainAttack => "supply_chain_attack",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing an analyzer reports. Exactly the twelve fields of the contract.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub id: String,
    pub rule_id: String,
    pub category: Category,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    pub file_path: Option<String>,
    pub line_number: Option<u32>,
    pub snippet: Option<String>,
    pub remediation: Option<String>,
    pub analyzer: String,
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// Where a finding sits, used for its stable id: byte offsets of the match within the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub line: Option<u32>,
    pub start: usize,
    pub end: usize,
}

/// The stable id of a finding: the rule id, `_`, and the first 10 hex digits of SHA-256 over
/// `RULE_ID:file:line:start:end`, so the same finding keeps its id across runs.
pub fn finding_id(rule_id: &str, file_path: Option<&str>, span: Span) -> String {
    let line = span.line.map(|line| line.to_string()).unwrap_or_default();
    let key = format!(
        "{rule_id}:{}:{line}:{}:{}",
        file_path.unwrap_or(""),
        span.start,
        span.end
    );
    let digest = Sha256::digest(key.as_bytes());
    let hex = hex::encode(digest);
    format!("{rule_id}_{}", hex.get(..10).unwrap_or(&hex))
}

/// Provenance of one scan: which rules and policy judged it, and how much of it was analyzed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanMetadata {
    pub scanner_version: String,
    pub rules_version: String,
    pub policy_name: String,
    pub policy_preset_base: String,
    pub policy_fingerprint_sha256: String,
    /// Share of the skill's bytes that an analyzer actually read, from 0.0 to 1.0.
    pub analyzability: f64,
    pub files_total: usize,
    pub files_analyzed: usize,
    pub bytes_total: u64,
    pub bytes_analyzed: u64,
    /// True when `SKILL.md` had valid frontmatter; false when the scan fell back to the content.
    pub frontmatter_valid: bool,
    /// Findings beyond the per-result cap that were left out, least severe first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub findings_omitted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<serde_json::Value>,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

/// The verdict on one skill, as in a batch report's `results` and the CLI's JSON output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanResult {
    pub skill_name: String,
    pub skill_path: String,
    pub is_safe: bool,
    pub max_severity: MaxSeverity,
    pub findings_count: usize,
    pub findings: Vec<Finding>,
    pub scan_duration_seconds: f64,
    pub duration_ms: u64,
    pub analyzers_used: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analyzers_failed: Vec<AnalyzerFailure>,
    pub timestamp: String,
    pub scan_metadata: ScanMetadata,
}

/// An analyzer that was asked for and did not complete, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzerFailure {
    pub analyzer: String,
    pub error: String,
}

impl ScanResult {
    /// Sorts findings (most severe first, then by file and line) and derives the summary fields
    /// from them, so `is_safe`, `max_severity` and `findings_count` can never disagree with the
    /// findings.
    pub fn finalize(&mut self) {
        self.findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.file_path.cmp(&b.file_path))
                .then_with(|| a.line_number.cmp(&b.line_number))
                .then_with(|| a.rule_id.cmp(&b.rule_id))
        });
        self.findings.dedup_by(|a, b| a.id == b.id);
        let max = self.findings.iter().map(|finding| finding.severity).max();
        self.max_severity = MaxSeverity::from(max);
        self.is_safe = max.is_none_or(|severity| severity < Severity::High);
        self.findings_count = self.findings.len();
    }
}

/// Counts of findings per severity, as the batch summary spells them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
}

impl SeverityCounts {
    pub fn add(&mut self, severity: Severity) {
        match severity {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
            Severity::Info => self.info += 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchSummary {
    pub total_skills_scanned: usize,
    pub total_findings: usize,
    pub safe_skills: usize,
    pub findings_by_severity: SeverityCounts,
    pub timestamp: String,
}

/// The report of `scan-all` and of a completed batch job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    pub summary: BatchSummary,
    pub results: Vec<ScanResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_skill_findings: Option<Vec<Finding>>,
}

impl BatchReport {
    pub fn new(results: Vec<ScanResult>) -> BatchReport {
        let mut counts = SeverityCounts::default();
        for finding in results.iter().flat_map(|result| &result.findings) {
            counts.add(finding.severity);
        }
        let summary = BatchSummary {
            total_skills_scanned: results.len(),
            total_findings: results.iter().map(|result| result.findings_count).sum(),
            safe_skills: results.iter().filter(|result| result.is_safe).count(),
            findings_by_severity: counts,
            timestamp: now_rfc3339(),
        };
        BatchReport {
            summary,
            results,
            cross_skill_findings: None,
        }
    }
}

/// The current time as ISO-8601 UTC with microseconds and an explicit offset, as the reference
/// writes it.
pub fn now_rfc3339() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00.000000+00:00"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_id_matches_reference_scheme() {
        let span = Span {
            line: Some(18),
            start: 22,
            end: 27,
        };
        let id = finding_id("COMMAND_INJECTION_EVAL", Some("calculate.py"), span);
        let digest = hex::encode(Sha256::digest(
            b"COMMAND_INJECTION_EVAL:calculate.py:18:22:27",
        ));
        assert_eq!(id, format!("COMMAND_INJECTION_EVAL_{}", &digest[..10]));
    }

    #[test]
    fn severity_orders_and_parses() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Low > Severity::Info);
        assert_eq!(Severity::parse("high"), Some(Severity::High));
        assert_eq!(Severity::parse("SAFE"), None);
    }

    #[test]
    fn finalize_derives_verdict() {
        let mut result = ScanResult {
            skill_name: String::from("demo"),
            skill_path: String::from("demo"),
            is_safe: true,
            max_severity: MaxSeverity::Safe,
            findings_count: 0,
            findings: Vec::new(),
            scan_duration_seconds: 0.0,
            duration_ms: 0,
            analyzers_used: Vec::new(),
            analyzers_failed: Vec::new(),
            timestamp: now_rfc3339(),
            scan_metadata: ScanMetadata::default(),
        };
        result.finalize();
        assert!(result.is_safe);
        assert_eq!(result.max_severity, MaxSeverity::Safe);

        for (severity, safe) in [(Severity::Medium, true), (Severity::High, false)] {
            result.findings.push(Finding {
                id: finding_id("R", None, Span::default()) + severity.as_str(),
                rule_id: String::from("R"),
                category: Category::Obfuscation,
                severity,
                title: String::from("t"),
                description: String::from("d"),
                file_path: None,
                line_number: None,
                snippet: None,
                remediation: None,
                analyzer: String::from("static"),
                metadata: serde_json::Map::new(),
            });
            result.finalize();
            assert_eq!(result.is_safe, safe);
            assert_eq!(result.findings_count, result.findings.len());
        }
        assert_eq!(result.max_severity, MaxSeverity::High);
    }
}
