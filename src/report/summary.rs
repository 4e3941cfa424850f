//! Figures every human-readable format shows: totals, verdicts and locations.

use super::Report;
use crate::model::{Finding, ScanResult, Severity, SeverityCounts};

/// Totals over a report, taken from the batch summary or counted for a single result.
pub struct Totals {
    pub skills: usize,
    pub safe: usize,
    pub findings: usize,
    pub by_severity: SeverityCounts,
    pub timestamp: String,
}

impl Totals {
    pub fn of(report: Report<'_>) -> Totals {
        match report {
            Report::Batch(batch) => Totals {
                skills: batch.summary.total_skills_scanned,
                safe: batch.summary.safe_skills,
                findings: batch.summary.total_findings,
                by_severity: batch.summary.findings_by_severity.clone(),
                timestamp: batch.summary.timestamp.clone(),
            },
            Report::Single(result) => {
                let mut by_severity = SeverityCounts::default();
                for finding in &result.findings {
                    by_severity.add(finding.severity);
                }
                Totals {
                    skills: 1,
                    safe: usize::from(result.is_safe),
                    findings: result.findings.len(),
                    by_severity,
                    timestamp: result.timestamp.clone(),
                }
            }
        }
    }

    pub fn unsafe_skills(&self) -> usize {
        self.skills.saturating_sub(self.safe)
    }

    /// Lists the count for each severity, most severe first.
    pub fn severity_rows(&self) -> [(Severity, usize); 5] {
        let counts = &self.by_severity;
        [
            (Severity::Critical, counts.critical),
            (Severity::High, counts.high),
            (Severity::Medium, counts.medium),
            (Severity::Low, counts.low),
            (Severity::Info, counts.info),
        ]
    }
}

/// Returns the findings that span several skills, which only a batch report has.
pub fn cross_skill_findings<'a>(report: Report<'a>) -> &'a [Finding] {
    match report {
        Report::Batch(batch) => batch.cross_skill_findings.as_deref().unwrap_or_default(),
        Report::Single(_) => &[],
    }
}

/// Returns `SAFE` when the result has no HIGH or CRITICAL finding (the contract's `is_safe`),
/// otherwise `UNSAFE`.
pub fn verdict(result: &ScanResult) -> &'static str {
    if result.is_safe { "SAFE" } else { "UNSAFE" }
}

/// Formats a finding's location as `file:line`, `file`, or `(skill)` when it names no file.
/// The text is raw, so each format must escape it.
pub fn location(finding: &Finding) -> String {
    match (&finding.file_path, finding.line_number) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        (Some(file), None) => file.clone(),
        (None, Some(line)) => format!("(skill):{line}"),
        (None, None) => String::from("(skill)"),
    }
}

/// Formats a number of findings as `no findings`, `1 finding` or `N findings`.
pub fn count_findings(count: usize) -> String {
    match count {
        0 => String::from("no findings"),
        1 => String::from("1 finding"),
        _ => format!("{count} findings"),
    }
}

/// Formats the verdict, then the maximum severity and the number of findings when there are
/// any: `SAFE, no findings` or `UNSAFE, max severity HIGH, 2 findings`.
pub fn headline(result: &ScanResult) -> String {
    if result.findings.is_empty() {
        return format!("{}, no findings", verdict(result));
    }
    format!(
        "{}, max severity {}, {}",
        verdict(result),
        result.max_severity.as_str(),
        count_findings(result.findings.len())
    )
}
