//! One scan: run the analyzers over a loaded skill, apply the policy, and build the result.
//!
//! This is the function the confined worker runs. It takes the compiled rules and a loaded
//! skill and returns a result; it touches no disk, network or global state.

use std::collections::HashSet;
use std::time::Instant;

use crate::analyzers::correlate::{Signals, SignalsError};
use crate::analyzers::static_analyzer::{self, StaticAnalyzer};
use crate::analyzers::{RawFinding, structure};
use crate::model::{MaxSeverity, ScanMetadata, ScanResult, now_rfc3339};
use crate::policy::{Policy, PolicyError, Scope};
use crate::rules::{Context, Engine};
use crate::skill::Skill;

/// The compiled rules and signals, built once per process and shared read-only by every scan.
pub struct Rules {
    pub engine: Engine,
    pub signals: Signals,
}

impl Rules {
    pub fn new(engine: Engine) -> Result<Rules, SetupError> {
        let signals = Signals::compile(Engine::signals_source())?;
        Ok(Rules { engine, signals })
    }
}

/// The rules together with one policy, compiled: what a scan needs.
pub struct Scanner<'r> {
    pub rules: &'r Rules,
    pub policy: Policy,
    benign_lines: Vec<regex::Regex>,
    policy_fingerprint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Signals(#[from] SignalsError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

impl<'r> Scanner<'r> {
    pub fn new(rules: &'r Rules, policy: Policy) -> Result<Scanner<'r>, SetupError> {
        let benign_lines = policy.line_patterns()?;
        let policy_fingerprint = policy.fingerprint();
        Ok(Scanner {
            rules,
            policy,
            benign_lines,
            policy_fingerprint,
        })
    }

    /// A YARA scanner for one thread; create one per thread and pass it to [`Scanner::scan`].
    pub fn yara_scanner(&self) -> yara_x::Scanner<'r> {
        yara_x::Scanner::new(&self.rules.engine.yara.rules)
    }

    /// Scans a loaded skill. `started` is when loading began, so the duration covers it.
    pub fn scan(
        &self,
        skill: &Skill,
        yara: &mut yara_x::Scanner<'_>,
        started: Instant,
    ) -> ScanResult {
        let analyzer = StaticAnalyzer {
            engine: &self.rules.engine,
            signals: &self.rules.signals,
            policy: &self.policy,
            benign_lines: &self.benign_lines,
        };
        let output = analyzer.analyze(skill, yara);
        let unanalyzed_severity = self.policy.findings.unanalyzed_severity;

        let mut raw = output.findings;
        raw.extend(structure::check(
            skill,
            &output.signals,
            unanalyzed_severity,
        ));
        for (path, reason) in &output.failures {
            raw.push(structure::unanalyzed(path, reason, unanalyzed_severity));
        }
        let analyzed: HashSet<&str> = output.analyzed.iter().map(String::as_str).collect();
        let mut not_analyzed = 0usize;
        for file in &skill.files {
            if !analyzed.contains(file.path.as_str())
                && !output.failures.iter().any(|(path, _)| *path == file.path)
            {
                not_analyzed += 1;
                if not_analyzed <= 20 {
                    let reason = format!(
                        "no enabled analyzer reads {} files under this policy",
                        file.kind.as_str()
                    );
                    raw.push(structure::unanalyzed(
                        &file.path,
                        &reason,
                        unanalyzed_severity,
                    ));
                }
            }
        }

        let findings = raw
            .into_iter()
            .filter_map(|finding| self.apply_policy(finding))
            .collect();

        let bytes_total = skill.bytes_total.max(1);
        let bytes_analyzed: u64 = skill
            .files
            .iter()
            .filter(|file| analyzed.contains(file.path.as_str()))
            .map(|file| file.bytes.len() as u64)
            .sum();
        let elapsed = started.elapsed();
        let mut result = ScanResult {
            skill_name: skill.name.clone(),
            skill_path: skill.path.clone(),
            is_safe: true,
            max_severity: MaxSeverity::Safe,
            findings_count: 0,
            findings,
            scan_duration_seconds: elapsed.as_secs_f64(),
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            analyzers_used: vec![String::from(static_analyzer::NAME)],
            analyzers_failed: Vec::new(),
            timestamp: now_rfc3339(),
            scan_metadata: ScanMetadata {
                scanner_version: String::from(env!("CARGO_PKG_VERSION")),
                rules_version: self.rules.engine.rules_version.clone(),
                policy_name: self.policy.name.clone(),
                policy_preset_base: self.policy.preset_base().to_string(),
                policy_fingerprint_sha256: self.policy_fingerprint.clone(),
                analyzability: (bytes_analyzed.min(bytes_total) as f64 / bytes_total as f64
                    * 1000.0)
                    .round()
                    / 1000.0,
                files_total: skill.files.len() + skill.skipped.len(),
                files_analyzed: analyzed.len(),
                bytes_total: skill.bytes_total,
                bytes_analyzed,
                frontmatter_valid: skill.manifest().is_some(),
                findings_omitted: 0,
                upload_sha256: None,
                sandbox: None,
            },
        };
        result.finalize();
        cap_findings(&mut result);
        result
    }

    /// Applies disabled rules, severity overrides, scopes and the minimum severity. Findings
    /// that report unanalyzed content are exempt from scopes and the minimum: the policy can
    /// only change their severity by naming their rule in `severity_overrides`.
    fn apply_policy(&self, mut raw: RawFinding) -> Option<crate::model::Finding> {
        let rules = &self.policy.findings;
        let finding = &mut raw.finding;
        if !raw.fail_closed
            && (rules.disabled_rules.contains(&finding.rule_id)
                || rules.disabled_categories.contains(&finding.category))
        {
            return None;
        }
        if let Some(severity) = rules.severity_overrides.get(&finding.rule_id) {
            finding.severity = *severity;
            return Some(raw.finding);
        }
        if raw.fail_closed {
            return Some(raw.finding);
        }
        for scope in &self.policy.scopes {
            if scope_matches(scope, &raw) && raw.finding.severity > scope.max_severity {
                raw.finding.metadata.insert(
                    String::from("severity_capped_by"),
                    serde_json::Value::from(scope.name.as_str()),
                );
                raw.finding.severity = scope.max_severity;
            }
        }
        if raw.finding.severity < rules.min_severity {
            return None;
        }
        Some(raw.finding)
    }
}

/// Maximum findings one result carries. A skill built to flood the report (thousands of files
/// each matching many rules) would otherwise bury the decisive finding and overflow the
/// worker's reply. The most severe findings are kept and the rest are counted.
pub const MAX_FINDINGS_PER_RESULT: usize = 1000;

fn cap_findings(result: &mut ScanResult) {
    let total = result.findings.len();
    if total <= MAX_FINDINGS_PER_RESULT {
        return;
    }
    // `finalize` sorted the findings most severe first, so truncation keeps the worst.
    result.findings.truncate(MAX_FINDINGS_PER_RESULT);
    result.findings_count = result.findings.len();
    result.scan_metadata.findings_omitted = total - MAX_FINDINGS_PER_RESULT;
}

fn scope_matches(scope: &Scope, raw: &RawFinding) -> bool {
    let finding = &raw.finding;
    let path = finding.file_path.as_deref().unwrap_or("");
    if !scope.paths.is_empty()
        && !scope
            .paths
            .iter()
            .any(|prefix| path.starts_with(prefix.as_str()))
    {
        return false;
    }
    if !scope.file_kinds.is_empty()
        && !raw
            .file_kind
            .is_some_and(|kind| scope.file_kinds.contains(&kind))
    {
        return false;
    }
    if !scope.contexts.is_empty() {
        let context = raw.context.map(Context::as_str).unwrap_or("");
        if !scope.contexts.iter().any(|wanted| wanted == context) {
            return false;
        }
    }
    if let Some(instructions) = scope.instructions
        && raw.instructions != Some(instructions)
    {
        return false;
    }
    scope.categories.is_empty() || scope.categories.contains(&finding.category)
}
