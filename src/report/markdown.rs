//! Markdown output (GitHub Flavored Markdown), for pull-request comments and job summaries.
//!
//! Every attacker-controlled string goes through [`sanitize::markdown_text`] (prose and table
//! cells) or [`sanitize::markdown_code`] (code spans, which are never put in a table cell).
//! Attacker text never starts a line, so it cannot open a block such as a heading, a list
//! or an HTML block.

use std::fmt::Write as _;

use super::summary::{self, Totals};
use super::{Report, sanitize};
use crate::model::{Finding, ScanResult};

/// Maximum length of a title, location or skill name shown, in characters.
const MAX_SHORT_FIELD: usize = 200;
/// Maximum length of a description or remediation shown, in characters.
const MAX_LONG_FIELD: usize = 1000;
/// Maximum length of a snippet or metadata shown, in characters.
const MAX_CODE_FIELD: usize = 300;

/// Renders the report as Markdown.
pub fn render(report: Report<'_>) -> String {
    let totals = Totals::of(report);
    let results = report.results();
    let mut out = String::new();

    out.push_str("# Skill scan report\n\n");
    let _ = writeln!(
        out,
        "skill-scanner {}, {}\n",
        env!("CARGO_PKG_VERSION"),
        sanitize::markdown_text(&totals.timestamp)
    );
    write_totals(&mut out, &totals);
    if results.len() > 1 {
        write_verdicts(&mut out, &results);
    }
    for result in &results {
        write_skill(&mut out, result);
    }

    let cross_skill = summary::cross_skill_findings(report);
    if !cross_skill.is_empty() {
        out.push_str("## Cross-skill findings\n\n");
        for finding in cross_skill {
            write_finding(&mut out, finding);
        }
        out.push('\n');
    }
    out
}

fn write_totals(out: &mut String, totals: &Totals) {
    out.push_str("## Summary\n\n");
    out.push_str("| Skills scanned | Safe | Unsafe | Findings |\n");
    out.push_str("|---:|---:|---:|---:|\n");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} |\n",
        totals.skills,
        totals.safe,
        totals.unsafe_skills(),
        totals.findings
    );
    out.push_str("| Severity | Findings |\n");
    out.push_str("|---|---:|\n");
    for (severity, count) in totals.severity_rows() {
        let _ = writeln!(out, "| {severity} | {count} |");
    }
    out.push_str("\nA skill is unsafe when it has a HIGH or CRITICAL finding.\n\n");
}

fn write_verdicts(out: &mut String, results: &[&ScanResult]) {
    out.push_str("## Skills\n\n");
    out.push_str("| Skill | Verdict | Max severity | Findings |\n");
    out.push_str("|---|---|---|---:|\n");
    for result in results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            short_text(&result.skill_name),
            summary::verdict(result),
            result.max_severity.as_str(),
            result.findings.len()
        );
    }
    out.push('\n');
}

fn write_skill(out: &mut String, result: &ScanResult) {
    let _ = writeln!(
        out,
        "## {}: {}\n",
        short_text(&result.skill_name),
        summary::headline(result)
    );
    let _ = writeln!(out, "Path: {}\n", code(&result.skill_path));
    for failure in &result.analyzers_failed {
        let _ = writeln!(
            out,
            "- Analyzer {} failed: {}",
            short_text(&failure.analyzer),
            long_text(&failure.error)
        );
    }
    if !result.analyzers_failed.is_empty() {
        out.push('\n');
    }
    if result.findings.is_empty() {
        out.push_str("No findings.\n\n");
        return;
    }
    for finding in &result.findings {
        write_finding(out, finding);
    }
    out.push('\n');
}

/// Writes a finding as one list item, with its details as a nested list.
fn write_finding(out: &mut String, finding: &Finding) {
    let _ = writeln!(
        out,
        "- **{}** {} at {}: {}",
        finding.severity,
        code(&finding.rule_id),
        code(&summary::location(finding)),
        short_text(&finding.title)
    );
    if !finding.description.trim().is_empty() {
        let _ = writeln!(out, "  - {}", long_text(&finding.description));
    }
    if let Some(snippet) = finding
        .snippet
        .as_deref()
        .filter(|text| !text.trim().is_empty())
    {
        let _ = writeln!(out, "  - Snippet: {}", code(snippet));
    }
    if let Some(remediation) = finding
        .remediation
        .as_deref()
        .filter(|text| !text.trim().is_empty())
    {
        let _ = writeln!(out, "  - Remediation: {}", long_text(remediation));
    }
    if !finding.metadata.is_empty() {
        let metadata = serde_json::Value::Object(finding.metadata.clone()).to_string();
        let _ = writeln!(out, "  - Metadata: {}", code(&metadata));
    }
}

fn short_text(text: &str) -> String {
    sanitize::markdown_text(&sanitize::truncate_end(text, MAX_SHORT_FIELD))
}

fn long_text(text: &str) -> String {
    sanitize::markdown_text(&sanitize::truncate_end(text, MAX_LONG_FIELD))
}

fn code(text: &str) -> String {
    sanitize::markdown_code(&sanitize::truncate_end(text, MAX_CODE_FIELD))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BatchReport;
    use crate::report::fixtures;

    /// Replaces each code span (a backtick run up to the next run of the same length) with
    /// `CODE`, leaving the text that Markdown parses for links, HTML and emphasis.
    fn outside_code_spans(line: &str) -> String {
        let chars: Vec<char> = line.chars().collect();
        let mut out = String::new();
        let mut index = 0;
        while index < chars.len() {
            let character = chars[index];
            if character == '\\' {
                out.push(character);
                if let Some(next) = chars.get(index + 1) {
                    out.push(*next);
                }
                index += 2;
                continue;
            }
            if character != '`' {
                out.push(character);
                index += 1;
                continue;
            }
            let run = chars[index..].iter().take_while(|c| **c == '`').count();
            let mut search = index + run;
            let mut closed = None;
            while search < chars.len() {
                let length = chars[search..].iter().take_while(|c| **c == '`').count();
                if length == run {
                    closed = Some(search + length);
                    break;
                }
                search += length.max(1);
            }
            match closed {
                Some(end) => {
                    out.push_str("CODE");
                    index = end;
                }
                None => {
                    out.extend(std::iter::repeat_n('`', run));
                    index += run;
                }
            }
        }
        out
    }

    /// Counts `target` characters that no backslash escapes.
    fn unescaped(text: &str, target: char) -> usize {
        let mut count = 0;
        let mut escaped = false;
        for character in text.chars() {
            if escaped {
                escaped = false;
            } else if character == '\\' {
                escaped = true;
            } else if character == target {
                count += 1;
            }
        }
        count
    }

    fn hostile_outputs() -> Vec<String> {
        let single = fixtures::hostile_result();
        let mut batch = fixtures::batch();
        batch.cross_skill_findings = Some(vec![fixtures::hostile_finding()]);
        vec![
            render(Report::Single(&single)),
            render(Report::Batch(&batch)),
        ]
    }

    #[test]
    fn hostile_text_leaves_no_live_markup() {
        for output in hostile_outputs() {
            for line in output.lines() {
                let parsed = outside_code_spans(line);
                assert!(!parsed.contains('<'), "raw `<` in {line:?}");
                assert_eq!(unescaped(&parsed, '`'), 0, "unclosed code span in {line:?}");
                assert_eq!(unescaped(&parsed, '['), 0, "link bracket in {line:?}");
                assert!(!parsed.contains("@octocat"), "live mention in {line:?}");
                assert!(!parsed.contains("#1"), "live issue reference in {line:?}");
                assert!(!parsed.contains("www."), "bare www link in {line:?}");
                assert!(!parsed.contains('\u{1b}'), "escape sequence in {line:?}");
                assert!(!parsed.contains('\u{202E}'), "bidi override in {line:?}");
            }
            let lower = output.to_lowercase();
            assert!(!lower.contains("http://"), "{output}");
            assert!(!lower.contains("https://"), "{output}");
            assert!(!output.contains("](http"), "{output}");
        }
    }

    #[test]
    fn hostile_text_never_starts_a_line() {
        let allowed = [
            "# Skill scan report",
            "skill-scanner ",
            "## ",
            "| ",
            "|---",
            "A skill is unsafe",
            "Path: ",
            "No findings.",
            "- **",
            "  - ",
        ];
        for output in hostile_outputs() {
            for line in output.lines().filter(|line| !line.is_empty()) {
                assert!(
                    allowed.iter().any(|prefix| line.starts_with(prefix)),
                    "unexpected line start: {line:?}"
                );
            }
        }
    }

    #[test]
    fn table_rows_keep_their_columns() {
        for output in hostile_outputs() {
            for line in output.lines().filter(|line| line.starts_with('|')) {
                let pipes = unescaped(line, '|');
                assert!(
                    pipes == 3 || pipes == 5,
                    "{pipes} cell separators in {line:?}"
                );
            }
        }
    }

    #[test]
    fn snippet_code_span_holds_whole_snippet() {
        let output = render(Report::Single(&fixtures::hostile_result()));
        let snippet_line = output
            .lines()
            .find(|line| line.starts_with("  - Snippet: "))
            .expect("snippet line");
        assert_eq!(outside_code_spans(snippet_line), "  - Snippet: CODE");
        assert!(snippet_line.contains("``tick```"), "{snippet_line}");
    }

    #[test]
    fn summary_counts_findings() {
        let batch = fixtures::batch();
        let output = render(Report::Batch(&batch));
        assert!(output.contains("| 3 | 2 | 1 | 2 |"), "{output}");
        assert!(output.contains("| CRITICAL | 1 |"), "{output}");
        assert!(output.contains("| MEDIUM | 1 |"), "{output}");
        assert!(output.contains("## clean: SAFE, no findings"), "{output}");
        assert!(
            output.contains("## ordinary: SAFE, max severity MEDIUM, 1 finding"),
            "{output}"
        );
        assert!(
            output.contains("- **MEDIUM** `CMD_EVAL` at `run.py:3`: Title of CMD\\_EVAL"),
            "{output}"
        );
    }

    #[test]
    fn empty_batch_renders_summary() {
        let output = render(Report::Batch(&BatchReport::new(Vec::new())));
        assert!(output.contains("| 0 | 0 | 0 | 0 |"), "{output}");
    }
}
