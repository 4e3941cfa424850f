//! Hand-built results with hostile text for the unit tests of the report formats.

use crate::model::{
    BatchReport, Category, Finding, MaxSeverity, ScanMetadata, ScanResult, Severity,
};

/// Text that tries to break out of every format: HTML, Markdown links, images, autolinks,
/// mentions, table cells, code spans, terminal escapes and bidirectional overrides. The table
/// cell separators come first so that truncation of a long field never cuts them off.
pub const HOSTILE: &str = "| cell | <script>alert(1)</script>\"><img src=x onerror=alert(1)></style> \
[click](http://evil.example/a) ![i](https://evil.example/i.png) <https://evil.example/b> \
www.evil.example a@evil.example @octocat owner/repo#1 \u{1b}[31mred\u{1b}]8;;http://e\u{7}x\
\u{1b}]8;;\u{7} \u{202E}txt.exe\n# heading\r\n``tick``` javascript:alert(1) $x$";

pub fn finding(
    rule_id: &str,
    severity: Severity,
    file_path: Option<&str>,
    line_number: Option<u32>,
) -> Finding {
    Finding {
        id: format!("{rule_id}_0123456789"),
        rule_id: rule_id.to_string(),
        category: Category::CommandInjection,
        severity,
        title: format!("Title of {rule_id}"),
        description: format!("Description of {rule_id}."),
        file_path: file_path.map(str::to_string),
        line_number,
        snippet: Some(String::from("eval(x)")),
        remediation: Some(String::from("Remove it.")),
        analyzer: String::from("static"),
        metadata: serde_json::Map::new(),
    }
}

/// Builds a finding whose every free-text field is [`HOSTILE`].
pub fn hostile_finding() -> Finding {
    let mut finding = finding("HOSTILE_RULE", Severity::Critical, Some(HOSTILE), Some(7));
    finding.title = HOSTILE.to_string();
    finding.description = HOSTILE.to_string();
    finding.snippet = Some(HOSTILE.to_string());
    finding.remediation = Some(HOSTILE.to_string());
    finding.metadata.insert(
        String::from("decoded_text"),
        serde_json::Value::String(HOSTILE.to_string()),
    );
    finding
}

pub fn result(skill_name: &str, skill_path: &str, findings: Vec<Finding>) -> ScanResult {
    let mut result = ScanResult {
        skill_name: skill_name.to_string(),
        skill_path: skill_path.to_string(),
        is_safe: true,
        max_severity: MaxSeverity::Safe,
        findings_count: 0,
        findings,
        scan_duration_seconds: 0.01,
        duration_ms: 10,
        analyzers_used: vec![String::from("static")],
        analyzers_failed: Vec::new(),
        timestamp: String::from("2026-01-01T00:00:00.000000+00:00"),
        scan_metadata: ScanMetadata::default(),
    };
    result.finalize();
    result
}

/// Builds a skill whose name, path and finding are all [`HOSTILE`].
pub fn hostile_result() -> ScanResult {
    result(HOSTILE, HOSTILE, vec![hostile_finding()])
}

/// Builds a batch of a hostile skill, a clean one and one with an ordinary finding.
pub fn batch() -> BatchReport {
    BatchReport::new(vec![
        hostile_result(),
        result("clean", "skills/clean", Vec::new()),
        result(
            "ordinary",
            "skills/ordinary",
            vec![finding(
                "CMD_EVAL",
                Severity::Medium,
                Some("run.py"),
                Some(3),
            )],
        ),
    ])
}
