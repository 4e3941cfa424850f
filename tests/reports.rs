//! Report formats rendered from hand-built results whose text is hostile: SARIF structure as
//! GitHub code scanning reads it, and no live markup in Markdown, HTML or the terminal table.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test harness"
)]

use serde_json::Value;
use skill_scanner::model::{
    BatchReport, Category, Finding, MaxSeverity, ScanMetadata, ScanResult, Severity,
};
use skill_scanner::report::{self, Format, Report};

/// Text that tries to break out of every format.
const HOSTILE: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(1)></style> \
[click](http://evil.example/a) ![i](https://evil.example/i.png) <https://evil.example/b> \
www.evil.example @octocat | cell | \u{1b}[31mred\u{1b}]8;;http://e\u{7}x\u{1b}]8;;\u{7} \
\u{202E}gpj.exe\n# heading\n``tick``` javascript:alert(1)";

fn finding(
    rule_id: &str,
    severity: Severity,
    file_path: Option<&str>,
    line_number: Option<u32>,
) -> Finding {
    let location = format!("{file_path:?}:{line_number:?}");
    Finding {
        // Unique within a test, which is all `ScanResult::finalize` needs to keep each one.
        id: format!("{rule_id}_{location}"),
        rule_id: rule_id.to_string(),
        category: Category::DataExfiltration,
        severity,
        title: format!("Title of {rule_id}"),
        description: format!("Description of {rule_id} at {location}."),
        file_path: file_path.map(str::to_string),
        line_number,
        snippet: Some(String::from("requests.post(url, data=secrets)")),
        remediation: Some(String::from("Remove the request.")),
        analyzer: String::from("static"),
        metadata: serde_json::Map::new(),
    }
}

fn hostile_finding(rule_id: &str) -> Finding {
    let mut finding = finding(rule_id, Severity::Critical, Some(HOSTILE), Some(3));
    finding.title = HOSTILE.to_string();
    finding.description = HOSTILE.to_string();
    finding.snippet = Some(HOSTILE.to_string());
    finding.remediation = Some(HOSTILE.to_string());
    finding.metadata.insert(
        String::from("decoded_text"),
        Value::String(HOSTILE.to_string()),
    );
    finding
}

fn result(skill_name: &str, skill_path: &str, findings: Vec<Finding>) -> ScanResult {
    let mut result = ScanResult {
        skill_name: skill_name.to_string(),
        skill_path: skill_path.to_string(),
        is_safe: true,
        max_severity: MaxSeverity::Safe,
        findings_count: 0,
        findings,
        scan_duration_seconds: 0.02,
        duration_ms: 20,
        analyzers_used: vec![String::from("static")],
        analyzers_failed: Vec::new(),
        timestamp: String::from("2026-01-01T00:00:00.000000+00:00"),
        scan_metadata: ScanMetadata::default(),
    };
    result.finalize();
    result
}

/// Builds a batch with every location edge case that SARIF output has to handle.
fn edge_case_batch() -> BatchReport {
    let alpha = result(
        "alpha",
        "/home/user/skills/alpha",
        vec![
            finding("NO_FILE", Severity::High, None, None),
            finding("NO_LINE", Severity::Medium, Some("scripts/run.py"), None),
            finding("LINE_ZERO", Severity::Low, Some("scripts/run.py"), Some(0)),
            finding(
                "SPACES",
                Severity::Info,
                Some("my scripts/run me.py"),
                Some(4),
            ),
            finding(
                "DOT_DOT",
                Severity::Critical,
                Some("../../../etc/passwd"),
                Some(1),
            ),
            finding("ABSOLUTE", Severity::Critical, Some("/etc/shadow"), Some(2)),
            finding(
                "INSIDE_ABSOLUTE",
                Severity::High,
                Some("/home/user/skills/alpha/lib/x.py"),
                Some(5),
            ),
            finding(
                "UNICODE",
                Severity::Medium,
                Some("données/ファイル.py"),
                Some(6),
            ),
            finding(
                "WINDOWS",
                Severity::Medium,
                Some("C:\\Users\\evil\\run.ps1"),
                Some(7),
            ),
            finding(
                "SCHEME",
                Severity::Medium,
                Some("javascript:alert(1)"),
                Some(8),
            ),
            hostile_finding("HOSTILE"),
        ],
    );
    // Same folder name as the first skill, so its URIs need a longer prefix.
    let twin = result(
        "alpha twin",
        "/srv/other/alpha",
        vec![finding("NO_FILE", Severity::High, None, None)],
    );
    let current_folder = result(
        "current folder",
        ".",
        vec![finding(
            "DOT_DOT",
            Severity::Critical,
            Some("../x.py"),
            Some(9),
        )],
    );
    let clean = result("clean", "skills/clean", Vec::new());
    BatchReport::new(vec![alpha, twin, current_folder, clean])
}

fn hostile_batch() -> BatchReport {
    let mut batch = BatchReport::new(vec![
        result(HOSTILE, HOSTILE, vec![hostile_finding("HOSTILE")]),
        result(
            "ordinary",
            "skills/ordinary",
            vec![finding("ORDINARY", Severity::Low, Some("a.py"), Some(1))],
        ),
    ]);
    batch.cross_skill_findings = Some(vec![hostile_finding("CROSS")]);
    batch
}

fn render(format: Format, report: Report<'_>) -> String {
    report::render(format, report).expect("report renders")
}

fn sarif(report: Report<'_>) -> Value {
    serde_json::from_str(&render(Format::Sarif, report)).expect("SARIF is JSON")
}

fn expected_level(severity: &str) -> &'static str {
    match severity {
        "CRITICAL" | "HIGH" => "error",
        "MEDIUM" => "warning",
        "LOW" | "INFO" => "note",
        other => panic!("unknown severity {other}"),
    }
}

fn contains_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => {
            map.contains_key(key) || map.values().any(|child| contains_key(child, key))
        }
        Value::Array(items) => items.iter().any(|child| contains_key(child, key)),
        _ => false,
    }
}

/// Checks a result URI the way GitHub resolves it: relative to the repository root, so no
/// scheme, no root, no `.` or `..` segment, and only percent-encoded bytes outside the
/// unreserved set.
fn assert_relative_uri(uri: &str) {
    assert!(!uri.is_empty());
    assert!(!uri.starts_with('/'), "absolute uri {uri}");
    for segment in uri.split('/') {
        assert!(!segment.is_empty(), "empty segment in {uri}");
        assert_ne!(segment, ".", "dot segment in {uri}");
        assert_ne!(segment, "..", "dot-dot segment in {uri}");
    }
    for byte in uri.bytes() {
        assert!(
            byte.is_ascii_alphanumeric() || b"-._~%/".contains(&byte),
            "unencoded byte {:?} in {uri}",
            char::from(byte)
        );
    }
}

fn uri(result: &Value) -> &str {
    result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .expect("uri string")
}

fn start_line(result: &Value) -> u64 {
    result["locations"][0]["physicalLocation"]["region"]["startLine"]
        .as_u64()
        .expect("startLine number")
}

#[test]
fn sarif_batch_edge_cases_are_valid() {
    let batch = edge_case_batch();
    let log = sarif(Report::Batch(&batch));

    assert_eq!(log["version"], "2.1.0");
    assert!(
        log["$schema"]
            .as_str()
            .expect("$schema")
            .contains("sarif-2.1.0")
    );
    let runs = log["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["tool"]["driver"]["name"], "skill-scanner");
    assert!(
        !run["tool"]["driver"]["version"]
            .as_str()
            .expect("version")
            .is_empty()
    );
    assert!(!contains_key(&log, "fixes"), "SARIF must not carry fixes");

    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let results = run["results"].as_array().expect("results");
    let finding_ids: Vec<&str> = batch
        .results
        .iter()
        .flat_map(|result| &result.findings)
        .map(|finding| finding.id.as_str())
        .collect();
    assert_eq!(results.len(), finding_ids.len());

    for rule in rules {
        assert!(
            !rule["shortDescription"]["text"]
                .as_str()
                .expect("short")
                .is_empty()
        );
        assert!(
            !rule["fullDescription"]["text"]
                .as_str()
                .expect("full")
                .is_empty()
        );
        assert!(
            ["error", "warning", "note"].contains(
                &rule["defaultConfiguration"]["level"]
                    .as_str()
                    .expect("level")
            )
        );
        let tags = rule["properties"]["tags"].as_array().expect("tags");
        assert!(tags.contains(&Value::from("data_exfiltration")), "{rule}");
        let score: f64 = rule["properties"]["security-severity"]
            .as_str()
            .expect("security-severity is a string")
            .parse()
            .expect("security-severity is a number");
        assert!((0.0..=10.0).contains(&score), "{rule}");
    }

    for result in results {
        let rule_id = result["ruleId"].as_str().expect("ruleId");
        let index =
            usize::try_from(result["ruleIndex"].as_u64().expect("ruleIndex")).expect("index fits");
        assert_eq!(
            rules[index]["id"], rule_id,
            "ruleIndex points at another rule"
        );
        let severity = result["properties"]["severity"].as_str().expect("severity");
        assert_eq!(result["level"], expected_level(severity), "{result}");
        assert!(
            !result["message"]["text"]
                .as_str()
                .expect("message")
                .trim()
                .is_empty()
        );
        assert_eq!(result["locations"].as_array().expect("locations").len(), 1);
        assert_relative_uri(uri(result));
        assert!(start_line(result) >= 1, "{result}");
        let fingerprint = result["partialFingerprints"]["findingId/v1"]
            .as_str()
            .expect("fingerprint");
        assert!(finding_ids.contains(&fingerprint), "{fingerprint}");
    }

    let located: Vec<(&str, &str, u64)> = results
        .iter()
        .map(|result| {
            (
                result["ruleId"].as_str().expect("ruleId"),
                uri(result),
                start_line(result),
            )
        })
        .collect();
    let expected = [
        ("NO_FILE", "skills/alpha/SKILL.md", 1),
        ("NO_LINE", "skills/alpha/scripts/run.py", 1),
        ("LINE_ZERO", "skills/alpha/scripts/run.py", 1),
        ("SPACES", "skills/alpha/my%20scripts/run%20me.py", 4),
        ("DOT_DOT", "skills/alpha/etc/passwd", 1),
        ("ABSOLUTE", "skills/alpha/etc/shadow", 2),
        ("INSIDE_ABSOLUTE", "skills/alpha/lib/x.py", 5),
        (
            "UNICODE",
            "skills/alpha/donn%C3%A9es/%E3%83%95%E3%82%A1%E3%82%A4%E3%83%AB.py",
            6,
        ),
        ("WINDOWS", "skills/alpha/Users/evil/run.ps1", 7),
        ("SCHEME", "skills/alpha/javascript%3Aalert%281%29", 8),
        ("NO_FILE", "other/alpha/SKILL.md", 1),
        ("DOT_DOT", "x.py", 9),
    ];
    for entry in expected {
        assert!(
            located.contains(&entry),
            "missing {entry:?} in {located:#?}"
        );
    }
}

#[test]
fn sarif_rules_cover_every_result() {
    let batch = hostile_batch();
    let log = sarif(Report::Batch(&batch));
    let run = &log["runs"][0];
    let rule_ids: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|rule| rule["id"].as_str().expect("id"))
        .collect();
    let mut sorted = rule_ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(rule_ids, sorted, "rules are unique and sorted");
    assert_eq!(rule_ids, ["CROSS", "HOSTILE", "ORDINARY"]);

    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "cross-skill findings are reported too");
    for result in results {
        assert_relative_uri(uri(result));
        let message = result["message"]["text"].as_str().expect("message");
        assert!(
            !message.contains('\u{1b}'),
            "escape sequence in {message:?}"
        );
        assert!(
            !message.contains('\u{202E}'),
            "bidi override in {message:?}"
        );
    }
    let rule = &run["tool"]["driver"]["rules"][1];
    assert_eq!(rule["properties"]["security-severity"], "9.5");
    assert_eq!(rule["defaultConfiguration"]["level"], "error");
    assert!(
        rule["help"]["text"]
            .as_str()
            .expect("help")
            .starts_with("<script>")
    );
}

fn result_of_path(skill_path: &str) -> ScanResult {
    result(
        "demo",
        skill_path,
        vec![finding("R", Severity::Low, Some("a b.py"), Some(2))],
    )
}

#[test]
fn sarif_single_result_uses_path_prefix() {
    let single = result(
        "demo",
        "skills/demo",
        vec![finding("R", Severity::Low, Some("a b.py"), Some(2))],
    );
    let log = sarif(Report::Single(&single));
    let result = &log["runs"][0]["results"][0];
    assert_eq!(uri(result), "skills/demo/a%20b.py");
    let outside = result_of_path("/srv/skills/demo");
    assert_eq!(
        uri(&sarif(Report::Single(&outside))["runs"][0]["results"][0]),
        "demo/a%20b.py"
    );
    assert_eq!(result["level"], "note");
    assert_eq!(
        log["runs"][0]["tool"]["driver"]["rules"][0]["properties"]["security-severity"],
        "3.0"
    );
    assert_eq!(
        log["runs"][0]["invocations"][0]["executionSuccessful"],
        true
    );
}

/// Replaces each Markdown code span with `CODE`, leaving the text a renderer parses for
/// links, HTML and emphasis.
fn outside_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut index = 0;
    while index < chars.len() {
        match chars[index] {
            '\\' => {
                out.extend(chars.get(index..index + 2).unwrap_or(&chars[index..]));
                index += 2;
            }
            '`' => {
                let run = chars[index..].iter().take_while(|c| **c == '`').count();
                let mut search = index + run;
                let mut end = None;
                while search < chars.len() {
                    let length = chars[search..].iter().take_while(|c| **c == '`').count();
                    if length == run {
                        end = Some(search + length);
                        break;
                    }
                    search += length.max(1);
                }
                if let Some(end) = end {
                    out.push_str("CODE");
                    index = end;
                } else {
                    out.extend(std::iter::repeat_n('`', run));
                    index += run;
                }
            }
            character => {
                out.push(character);
                index += 1;
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

#[test]
fn markdown_neutralises_hostile_text() {
    let batch = hostile_batch();
    let output = render(Format::Markdown, Report::Batch(&batch));

    assert!(!output.contains("](http"), "{output}");
    assert!(!output.to_lowercase().contains("http://"), "{output}");
    assert!(!output.to_lowercase().contains("https://"), "{output}");
    for line in output.lines() {
        let parsed = outside_code_spans(line);
        assert!(!parsed.contains('<'), "raw HTML or autolink in {line:?}");
        assert_eq!(unescaped(&parsed, '['), 0, "link or image in {line:?}");
        assert_eq!(
            unescaped(&parsed, '`'),
            0,
            "code span closed early in {line:?}"
        );
        assert!(!parsed.contains("www."), "bare link in {line:?}");
        assert!(!parsed.contains("@octocat"), "mention in {line:?}");
        assert!(!line.contains('\u{1b}'), "escape sequence in {line:?}");
        assert!(!line.contains('\u{202E}'), "bidi override in {line:?}");
        assert!(
            !line.starts_with("# heading"),
            "hostile text started a line: {line:?}"
        );
        if line.starts_with('|') {
            let separators = unescaped(line, '|');
            assert!(
                separators == 3 || separators == 5,
                "{separators} cell separators in {line:?}"
            );
        }
    }
    assert!(output.contains("## Cross-skill findings"), "{output}");
}

#[test]
fn markdown_snippet_span_survives_backticks() {
    let batch = hostile_batch();
    let output = render(Format::Markdown, Report::Batch(&batch));
    let snippets: Vec<&str> = output
        .lines()
        .filter(|line| line.starts_with("  - Snippet: "))
        .collect();
    assert_eq!(snippets.len(), 3, "{output}");
    for line in snippets {
        assert_eq!(outside_code_spans(line), "  - Snippet: CODE", "{line}");
    }
}

#[test]
fn table_strips_terminal_controls() {
    let batch = hostile_batch();
    let output = render(Format::Table, Report::Batch(&batch));
    for line in output.lines() {
        assert!(
            !line.chars().any(|character| character.is_control()
                || matches!(character, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')),
            "control or bidi character in {line:?}"
        );
    }
    let critical_rows = output
        .lines()
        .filter(|line| line.starts_with("  CRITICAL"))
        .count();
    assert_eq!(critical_rows, 2, "{output}");
    assert!(output.contains("  LOW       ORDINARY  a.py:1"), "{output}");
    assert!(
        output.contains("ordinary: SAFE, max severity LOW, 1 finding"),
        "{output}"
    );
    assert!(
        output.ends_with("Findings: 2 (CRITICAL 1, HIGH 0, MEDIUM 0, LOW 1, INFO 0)\n"),
        "{output}"
    );
}

#[test]
fn html_escapes_hostile_text() {
    let batch = hostile_batch();
    let page = render(Format::Html, Report::Batch(&batch));
    let lower = page.to_lowercase();

    assert!(!lower.contains("<script"), "{page}");
    assert!(!lower.contains("<img"), "{page}");
    assert_eq!(lower.matches("</style>").count(), 1, "{page}");
    assert!(
        page.contains("\"&gt;&lt;img src=x onerror=alert(1)&gt;&lt;/style&gt;"),
        "{page}"
    );

    // Escaped text has no `<`, so every `<` opens markup the renderer wrote.
    for tag in lower
        .split('<')
        .skip(1)
        .map(|rest| rest.split_once('>').map_or(rest, |(tag, _)| tag))
    {
        for forbidden in [
            "script",
            "onerror",
            "src=",
            "javascript",
            "http:",
            "https:",
            "url(",
        ] {
            assert!(!tag.contains(forbidden), "`{forbidden}` in <{tag}>");
        }
    }
    assert!(page.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
    ));
    assert!(!page.contains('\u{1b}'), "escape sequence in the page");
    assert!(!page.contains('\u{202E}'), "bidi override in the page");
}

#[test]
fn render_produces_every_format() {
    let batch = edge_case_batch();
    let single = &batch.results[0];
    for report in [Report::Batch(&batch), Report::Single(single)] {
        let json: Value = serde_json::from_str(&render(Format::Json, report)).expect("JSON report");
        assert!(json.is_object());
        assert_eq!(sarif(report)["version"], "2.1.0");
        assert!(render(Format::Markdown, report).starts_with("# Skill scan report\n"));
        assert!(render(Format::Table, report).contains("\nSummary: "));
        assert!(render(Format::Html, report).starts_with("<!DOCTYPE html>"));
    }
}
