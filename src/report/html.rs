//! A standalone HTML page: inline CSS, no scripts, no external resources.
//!
//! Attacker-controlled text appears only in text nodes, escaped by [`sanitize::html_text`].
//! Attributes hold only fixed strings and numbers, and the page has no `<script>` at all. A
//! Content-Security-Policy meta tag blocks scripts, images, fonts and frames in case an
//! escaping mistake ever lets markup through.

use std::fmt::Write as _;

use super::summary::{self, Totals};
use super::{Report, sanitize};
use crate::model::{Finding, ScanResult, Severity};

/// Maximum length of a snippet or metadata block shown, in characters.
const MAX_CODE_FIELD: usize = 4000;

const STYLE: &str = "
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1f2328; }
h1, h2 { line-height: 1.2; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: .8rem 0; }
th, td { border: 1px solid #d0d7de; padding: .35rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.number { text-align: right; }
table.findings { width: 100%; }
pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
code { font-family: ui-monospace, monospace; font-size: 90%; overflow-wrap: anywhere; }
.meta, .path { color: #59636e; }
.badge { display: inline-block; padding: .05rem .45rem; border-radius: .3rem; font-weight: 600; font-size: 85%; }
.verdict-safe { background: #dafbe1; color: #116329; }
.verdict-unsafe { background: #ffebe9; color: #a40e26; }
.severity-critical { background: #a40e26; color: #fff; }
.severity-high { background: #ffebe9; color: #a40e26; }
.severity-medium { background: #fff8c5; color: #7d4e00; }
.severity-low { background: #ddf4ff; color: #0550ae; }
.severity-info { background: #eaeef2; color: #424a53; }
.severity-safe { background: #dafbe1; color: #116329; }
";

/// Renders the report as a standalone HTML page.
pub fn render(report: Report<'_>) -> String {
    let totals = Totals::of(report);
    let results = report.results();
    let mut out = String::new();

    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n",
    );
    out.push_str("<meta name=\"referrer\" content=\"no-referrer\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<title>Skill scan report</title>\n");
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");

    out.push_str("<h1>Skill scan report</h1>\n");
    let _ = writeln!(
        out,
        "<p class=\"meta\">skill-scanner {}, {}</p>",
        env!("CARGO_PKG_VERSION"),
        sanitize::html_text(&totals.timestamp)
    );
    write_totals(&mut out, &totals);
    if results.len() > 1 {
        write_verdicts(&mut out, &results);
    }
    for (index, result) in results.iter().enumerate() {
        write_skill(&mut out, index, result);
    }

    let cross_skill = summary::cross_skill_findings(report);
    if !cross_skill.is_empty() {
        out.push_str("<section>\n<h2>Cross-skill findings</h2>\n");
        write_findings(&mut out, cross_skill);
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn write_totals(out: &mut String, totals: &Totals) {
    out.push_str("<section>\n<h2>Summary</h2>\n<table>\n");
    out.push_str("<tr><th>Skills scanned</th><th>Safe</th><th>Unsafe</th><th>Findings</th></tr>\n");
    let _ = writeln!(
        out,
        "<tr><td class=\"number\">{}</td><td class=\"number\">{}</td><td class=\"number\">{}</td><td class=\"number\">{}</td></tr>",
        totals.skills,
        totals.safe,
        totals.unsafe_skills(),
        totals.findings
    );
    out.push_str("</table>\n<table>\n<tr><th>Severity</th><th>Findings</th></tr>\n");
    for (severity, count) in totals.severity_rows() {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"number\">{count}</td></tr>",
            severity_badge(severity)
        );
    }
    out.push_str(
        "</table>\n<p>A skill is unsafe when it has a HIGH or CRITICAL finding.</p>\n</section>\n",
    );
}

fn write_verdicts(out: &mut String, results: &[&ScanResult]) {
    out.push_str("<section>\n<h2>Skills</h2>\n<table>\n");
    out.push_str("<tr><th>Skill</th><th>Verdict</th><th>Max severity</th><th>Findings</th></tr>\n");
    for (index, result) in results.iter().enumerate() {
        // The link target is built from the index alone, never from the skill's name.
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#skill-{index}\">{}</a></td><td>{}</td><td>{}</td><td class=\"number\">{}</td></tr>",
            sanitize::html_text(&result.skill_name),
            verdict_badge(result),
            max_severity_badge(result),
            result.findings.len()
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn write_skill(out: &mut String, index: usize, result: &ScanResult) {
    let _ = writeln!(
        out,
        "<section id=\"skill-{index}\">\n<h2>{} {}</h2>",
        sanitize::html_text(&result.skill_name),
        verdict_badge(result)
    );
    let _ = writeln!(
        out,
        "<p class=\"path\">Path: <code>{}</code> &middot; max severity {} &middot; {}</p>",
        sanitize::html_text(&result.skill_path),
        max_severity_badge(result),
        summary::count_findings(result.findings.len())
    );
    if !result.analyzers_failed.is_empty() {
        out.push_str("<ul>\n");
        for failure in &result.analyzers_failed {
            let _ = writeln!(
                out,
                "<li>Analyzer <code>{}</code> failed: {}</li>",
                sanitize::html_text(&failure.analyzer),
                sanitize::html_text(&failure.error)
            );
        }
        out.push_str("</ul>\n");
    }
    if result.findings.is_empty() {
        out.push_str("<p>No findings.</p>\n");
    } else {
        write_findings(out, &result.findings);
    }
    out.push_str("</section>\n");
}

fn write_findings(out: &mut String, findings: &[Finding]) {
    out.push_str("<table class=\"findings\">\n");
    out.push_str("<tr><th>Severity</th><th>Rule</th><th>Location</th><th>Finding</th></tr>\n");
    for finding in findings {
        let _ = write!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><strong>{}</strong>",
            severity_badge(finding.severity),
            sanitize::html_text(&finding.rule_id),
            sanitize::html_text(&summary::location(finding)),
            sanitize::html_text(&finding.title)
        );
        if !finding.description.trim().is_empty() {
            let _ = write!(out, "<p>{}</p>", sanitize::html_text(&finding.description));
        }
        if let Some(snippet) = finding
            .snippet
            .as_deref()
            .filter(|text| !text.trim().is_empty())
        {
            let _ = write!(out, "<pre><code>{}</code></pre>", code_text(snippet));
        }
        if let Some(remediation) = finding
            .remediation
            .as_deref()
            .filter(|text| !text.trim().is_empty())
        {
            let _ = write!(
                out,
                "<p>Remediation: {}</p>",
                sanitize::html_text(remediation)
            );
        }
        if !finding.metadata.is_empty() {
            let metadata = serde_json::to_string_pretty(&finding.metadata).unwrap_or_default();
            let _ = write!(
                out,
                "<details><summary>Metadata</summary><pre><code>{}</code></pre></details>",
                code_text(&metadata)
            );
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n");
}

fn code_text(text: &str) -> String {
    sanitize::html_text(&sanitize::truncate_end(text, MAX_CODE_FIELD))
}

fn severity_badge(severity: Severity) -> String {
    format!(
        "<span class=\"badge severity-{}\">{}</span>",
        severity.as_str().to_ascii_lowercase(),
        severity.as_str()
    )
}

fn max_severity_badge(result: &ScanResult) -> String {
    let name = result.max_severity.as_str();
    format!(
        "<span class=\"badge severity-{}\">{name}</span>",
        name.to_ascii_lowercase()
    )
}

fn verdict_badge(result: &ScanResult) -> String {
    let verdict = summary::verdict(result);
    format!(
        "<span class=\"badge verdict-{}\">{verdict}</span>",
        verdict.to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    const ALLOWED_TAGS: [&str; 24] = [
        "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "section",
        "table", "tr", "th", "td", "span", "code", "pre", "strong", "ul", "li", "a", "details",
        "summary",
    ];

    /// Collects every `<...>` in the page. Escaped text has no `<`, so each one is markup.
    fn tags(html: &str) -> Vec<&str> {
        html.split('<')
            .skip(1)
            .map(|rest| rest.split_once('>').map_or(rest, |(tag, _)| tag))
            .collect()
    }

    /// Checks one tag against the markup this module writes: an allowed element, and only
    /// fixed attributes whose values are fixed strings or numbers.
    fn check_tag(tag: &str) {
        let tag = tag.strip_prefix('/').unwrap_or(tag);
        let (name, mut rest) = tag.split_once(' ').unwrap_or((tag, ""));
        assert!(ALLOWED_TAGS.contains(&name), "unexpected element <{tag}>");
        if name == "!DOCTYPE" {
            assert_eq!(rest, "html");
            return;
        }
        while !rest.is_empty() {
            let (attribute, after) = rest
                .split_once("=\"")
                .unwrap_or_else(|| panic!("malformed <{tag}>"));
            let (value, after) = after
                .split_once('"')
                .unwrap_or_else(|| panic!("unterminated <{tag}>"));
            let ok = match attribute {
                "lang" => value == "en",
                "charset" => value == "utf-8",
                "http-equiv" => value == "Content-Security-Policy",
                "name" => value == "referrer" || value == "viewport",
                "content" => !value.contains('<') && !value.contains("//"),
                "class" => value.chars().all(|character| {
                    character.is_ascii_lowercase() || character == '-' || character == ' '
                }),
                "id" => value
                    .strip_prefix("skill-")
                    .is_some_and(|index| index.parse::<usize>().is_ok()),
                "href" => value
                    .strip_prefix("#skill-")
                    .is_some_and(|index| index.parse::<usize>().is_ok()),
                _ => false,
            };
            assert!(
                ok,
                "unexpected attribute {attribute}=\"{value}\" in <{tag}>"
            );
            rest = after.trim_start();
        }
    }

    fn hostile_pages() -> Vec<String> {
        let single = fixtures::hostile_result();
        let mut batch = fixtures::batch();
        batch.cross_skill_findings = Some(vec![fixtures::hostile_finding()]);
        vec![
            render(Report::Single(&single)),
            render(Report::Batch(&batch)),
        ]
    }

    #[test]
    fn hostile_text_adds_no_markup() {
        for page in hostile_pages() {
            for tag in tags(&page) {
                check_tag(tag);
            }
            let lower = page.to_lowercase();
            assert!(!lower.contains("<script"), "{page}");
            assert!(!lower.contains("<img"), "{page}");
            assert_eq!(lower.matches("<style").count(), 1, "{page}");
            assert_eq!(lower.matches("</style").count(), 1, "{page}");
            assert!(page.contains(
                "&lt;script&gt;alert(1)&lt;/script&gt;\"&gt;&lt;img src=x onerror=alert(1)&gt;"
            ));
            assert!(!page.contains('\u{1b}'), "escape sequence left in the page");
            assert!(!page.contains('\u{202E}'), "bidi override left in the page");
        }
    }

    #[test]
    fn page_forbids_scripts_and_external_resources() {
        let page = render(Report::Single(&fixtures::hostile_result()));
        assert!(page.starts_with("<!DOCTYPE html>\n"));
        assert!(page.contains(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        ));
        let style = page
            .split_once("<style>")
            .and_then(|(_, rest)| rest.split_once("</style>"))
            .map(|(style, _)| style)
            .expect("style element");
        assert!(!style.contains("url("), "{style}");
        assert!(!style.contains("@import"), "{style}");
    }

    #[test]
    fn javascript_path_stays_text() {
        let finding = fixtures::finding(
            "R",
            Severity::High,
            Some("javascript:alert(document.domain)"),
            Some(1),
        );
        let result = fixtures::result("demo", "javascript:alert(1)", vec![finding]);
        let page = render(Report::Single(&result));
        for tag in tags(&page) {
            check_tag(tag);
            assert!(!tag.contains("javascript"), "<{tag}>");
        }
        assert!(
            page.contains("<code>javascript:alert(document.domain):1</code>"),
            "{page}"
        );
    }

    #[test]
    fn batch_lists_every_skill() {
        let batch = fixtures::batch();
        let page = render(Report::Batch(&batch));
        assert!(page.contains("<a href=\"#skill-1\">clean</a>"), "{page}");
        assert!(page.contains("<section id=\"skill-2\">\n<h2>ordinary <span class=\"badge verdict-safe\">SAFE</span></h2>"), "{page}");
        assert!(page.contains("<p>No findings.</p>"), "{page}");
        assert!(
            page.contains("<span class=\"badge severity-medium\">MEDIUM</span>"),
            "{page}"
        );
    }
}
