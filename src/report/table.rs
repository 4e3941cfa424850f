//! The plain-text table for terminals, the CLI's default format.
//!
//! Every attacker-controlled field passes through [`sanitize::single_line`], which removes
//! escape sequences, control characters and bidirectional controls, and is truncated to its
//! column's maximum width. No colour is written.

use std::fmt::Write as _;

use super::summary::{self, Totals};
use super::{Report, sanitize};
use crate::model::{Finding, ScanResult};

/// Maximum widths, in characters, of the rule and location columns and of the title. The
/// bundled rule ids are at most 40 characters, and a full row fits in 170 columns.
const MAX_RULE: usize = 44;
const MAX_LOCATION: usize = 40;
const MAX_TITLE: usize = 70;
/// Maximum width of a skill name, a skill path or an analyzer error.
const MAX_HEADER_FIELD: usize = 100;

const HEADINGS: [&str; 4] = ["SEVERITY", "RULE", "LOCATION", "TITLE"];

/// Renders the report as aligned plain-text columns, one block per skill, then a summary.
pub fn render(report: Report<'_>) -> String {
    let mut out = String::new();
    for result in report.results() {
        write_skill(&mut out, result);
    }
    let cross_skill = summary::cross_skill_findings(report);
    if !cross_skill.is_empty() {
        out.push_str("Cross-skill findings\n");
        write_rows(&mut out, cross_skill);
        out.push('\n');
    }
    write_summary(&mut out, &Totals::of(report));
    out
}

fn write_skill(out: &mut String, result: &ScanResult) {
    let _ = writeln!(
        out,
        "{}: {}",
        field(&result.skill_name, MAX_HEADER_FIELD),
        summary::headline(result)
    );
    let _ = writeln!(
        out,
        "  path: {}",
        path_field(&result.skill_path, MAX_HEADER_FIELD)
    );
    for failure in &result.analyzers_failed {
        let _ = writeln!(
            out,
            "  analyzer {} failed: {}",
            field(&failure.analyzer, MAX_RULE),
            field(&failure.error, MAX_HEADER_FIELD)
        );
    }
    if !result.findings.is_empty() {
        write_rows(out, &result.findings);
    }
    out.push('\n');
}

/// Writes the column headings and one row per finding, each column as wide as its widest
/// cell.
fn write_rows(out: &mut String, findings: &[Finding]) {
    let rows: Vec<[String; 4]> = findings
        .iter()
        .map(|finding| {
            [
                finding.severity.as_str().to_string(),
                field(&finding.rule_id, MAX_RULE),
                path_field(&summary::location(finding), MAX_LOCATION),
                field(&finding.title, MAX_TITLE),
            ]
        })
        .collect();

    let mut widths = HEADINGS.map(|heading| heading.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }

    write_row(out, &HEADINGS.map(String::from), &widths);
    for row in &rows {
        write_row(out, row, &widths);
    }
}

fn write_row(out: &mut String, cells: &[String; 4], widths: &[usize; 4]) {
    let mut line = String::from(" ");
    for (cell, width) in cells.iter().zip(widths) {
        line.push(' ');
        line.push_str(cell);
        let padding = width.saturating_sub(cell.chars().count());
        line.extend(std::iter::repeat_n(' ', padding + 1));
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

fn write_summary(out: &mut String, totals: &Totals) {
    let skills = if totals.skills == 1 {
        "skill"
    } else {
        "skills"
    };
    let _ = writeln!(
        out,
        "Summary: {} {skills} scanned, {} safe, {} unsafe (unsafe: a HIGH or CRITICAL finding)",
        totals.skills,
        totals.safe,
        totals.unsafe_skills()
    );
    let counts: Vec<String> = totals
        .severity_rows()
        .iter()
        .map(|(severity, count)| format!("{severity} {count}"))
        .collect();
    let _ = writeln!(out, "Findings: {} ({})", totals.findings, counts.join(", "));
}

/// Makes attacker-controlled text safe for the terminal, on one line, cut at `max` characters.
fn field(text: &str, max: usize) -> String {
    sanitize::truncate_end(&sanitize::single_line(text), max)
}

/// Cleans a path like [`field`], but cuts it at its start so the file name stays visible.
fn path_field(text: &str, max: usize) -> String {
    sanitize::truncate_start(&sanitize::single_line(text), max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use crate::report::fixtures;

    fn has_forbidden_character(line: &str) -> bool {
        line.chars().any(|character| {
            character.is_control()
                || matches!(character, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
        })
    }

    #[test]
    fn hostile_fields_lose_escapes_and_line_breaks() {
        let mut batch = fixtures::batch();
        batch.cross_skill_findings = Some(vec![fixtures::hostile_finding()]);
        let output = render(Report::Batch(&batch));
        for line in output.lines() {
            assert!(
                !has_forbidden_character(line),
                "control character in {line:?}"
            );
        }
        // The hostile result has a header, a path line, column headings and one row. The
        // hostile text must not add lines of its own.
        let rows: Vec<&str> = output
            .lines()
            .filter(|line| line.starts_with("  CRITICAL"))
            .collect();
        assert_eq!(rows.len(), 2, "{output}");
        assert!(!output.contains("\n# heading"), "{output}");
    }

    #[test]
    fn long_fields_are_truncated() {
        let mut finding = fixtures::finding(
            "R",
            Severity::High,
            Some(&format!("{}/file.py", "d".repeat(200))),
            Some(12),
        );
        finding.title = "t".repeat(500);
        let result = fixtures::result("long", "skills/long", vec![finding]);
        let output = render(Report::Single(&result));
        let row = output
            .lines()
            .find(|line| line.starts_with("  HIGH"))
            .expect("finding row");
        let location = row
            .split_whitespace()
            .find(|cell| cell.ends_with("/file.py:12"))
            .expect("location cell");
        assert!(location.starts_with("…d"), "{row}");
        assert_eq!(location.chars().count(), MAX_LOCATION, "{row}");
        assert!(
            row.ends_with(&format!("{}…", "t".repeat(MAX_TITLE - 1))),
            "{row}"
        );
        assert!(row.chars().count() < 200, "{row}");
    }

    #[test]
    fn columns_align_across_rows() {
        let result = fixtures::result(
            "demo",
            "skills/demo",
            vec![
                fixtures::finding("SHORT", Severity::Critical, Some("a.py"), Some(1)),
                fixtures::finding("A_MUCH_LONGER_RULE_ID", Severity::Low, None, None),
            ],
        );
        let output = render(Report::Single(&result));
        let title_columns: Vec<usize> = output
            .lines()
            .filter(|line| line.starts_with("  ") && !line.starts_with("  path"))
            .map(|line| {
                line.find("Title of")
                    .or_else(|| line.find("TITLE"))
                    .expect("title column")
            })
            .collect();
        assert_eq!(title_columns.len(), 3, "{output}");
        assert!(
            title_columns
                .iter()
                .all(|column| *column == title_columns[0]),
            "{output}"
        );
        assert!(output.contains("(skill)"), "{output}");
    }

    #[test]
    fn header_and_summary_show_verdicts() {
        let batch = fixtures::batch();
        let output = render(Report::Batch(&batch));
        assert!(
            output.contains("clean: SAFE, no findings\n  path: skills/clean\n"),
            "{output}"
        );
        assert!(
            output.contains("ordinary: SAFE, max severity MEDIUM, 1 finding\n"),
            "{output}"
        );
        assert!(
            output.contains("Summary: 3 skills scanned, 2 safe, 1 unsafe"),
            "{output}"
        );
        assert!(
            output.contains("Findings: 2 (CRITICAL 1, HIGH 0, MEDIUM 1, LOW 0, INFO 0)"),
            "{output}"
        );
    }

    #[test]
    fn analyzer_failures_are_listed() {
        let mut result = fixtures::result("demo", "skills/demo", Vec::new());
        result.analyzers_failed.push(crate::model::AnalyzerFailure {
            analyzer: String::from("yara"),
            error: String::from("timed out\u{1b}[2J"),
        });
        let output = render(Report::Single(&result));
        assert!(
            output.contains("  analyzer yara failed: timed out\n"),
            "{output}"
        );
        assert!(
            output.contains("Summary: 1 skill scanned, 1 safe, 0 unsafe"),
            "{output}"
        );
    }
}
