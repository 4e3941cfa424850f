//! SARIF 2.1.0 output, shaped for GitHub code scanning.
//!
//! One run, with a rule for every rule id that a result uses. Each result has exactly one
//! location: a relative URI built from the skill folder name and the finding's file, never
//! absolute and never with a `..` segment, because GitHub resolves it against the root of
//! the repository. Free text is stripped of control and bidirectional characters, since
//! GitHub shows it in its alert view. There are no `fixes`.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::{Report, ReportError, sanitize};
use crate::model::{Finding, ScanResult, Severity};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The file a finding without a `file_path` points at.
const MANIFEST: &str = "SKILL.md";

/// Renders the report as a SARIF 2.1.0 log.
pub fn render(report: Report<'_>) -> Result<String, ReportError> {
    let results = report.results();
    let prefixes = uri_prefixes(&results);

    let mut located: Vec<(&Finding, String)> = Vec::new();
    for (result, prefix) in results.iter().zip(&prefixes) {
        for finding in &result.findings {
            located.push((finding, artifact_uri(prefix, result, finding)));
        }
    }
    // NOTE: no analyzer produces cross-skill findings yet, so the meaning of their
    // `file_path` is not settled. It is taken as relative to the scanned directory.
    for finding in super::summary::cross_skill_findings(report) {
        let path = finding
            .file_path
            .as_deref()
            .map(relative_segments)
            .unwrap_or_default();
        located.push((finding, join_uri(&[], &path)));
    }

    let rules = RuleTable::new(located.iter().map(|(finding, _)| *finding));
    let sarif_results: Vec<Value> = located
        .iter()
        .map(|(finding, uri)| result_object(finding, uri, rules.index(&finding.rule_id)))
        .collect();

    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "skill-scanner",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": rules.descriptors(),
                }
            },
            "invocations": [invocation(&results)],
            "results": sarif_results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&log)?;
    text.push('\n');
    Ok(text)
}

/// Maps a severity to its SARIF `level`.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// Maps a severity to the `security-severity` score (a CVSS-like number, as a string) that
/// GitHub ranks alerts by. GitHub shows 9.0 to 10.0 as critical, 7.0 to 8.9 as high, 4.0 to
/// 6.9 as medium and 0.1 to 3.9 as low (GitHub changelog, 2021-07-19, "new severity levels
/// for security alerts"), so INFO is shown as low there.
pub fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// The rules that the results use, sorted by id so `ruleIndex` is stable across runs.
struct RuleTable<'a> {
    rules: Vec<Rule<'a>>,
    indexes: HashMap<&'a str, usize>,
}

/// One rule: described by the first finding that uses it, at the highest severity any of
/// its findings has.
struct Rule<'a> {
    example: &'a Finding,
    severity: Severity,
}

impl<'a> RuleTable<'a> {
    fn new(findings: impl Iterator<Item = &'a Finding>) -> RuleTable<'a> {
        let mut by_id: BTreeMap<&'a str, Rule<'a>> = BTreeMap::new();
        for finding in findings {
            by_id
                .entry(finding.rule_id.as_str())
                .and_modify(|rule| rule.severity = rule.severity.max(finding.severity))
                .or_insert(Rule {
                    example: finding,
                    severity: finding.severity,
                });
        }
        let indexes = by_id
            .keys()
            .enumerate()
            .map(|(index, id)| (*id, index))
            .collect();
        RuleTable {
            rules: by_id.into_values().collect(),
            indexes,
        }
    }

    fn index(&self, rule_id: &str) -> usize {
        // Every finding was added in `new`, so the lookup cannot miss.
        self.indexes.get(rule_id).copied().unwrap_or_default()
    }

    fn descriptors(&self) -> Vec<Value> {
        self.rules.iter().map(rule_descriptor).collect()
    }
}

fn rule_descriptor(rule: &Rule<'_>) -> Value {
    let finding = rule.example;
    let title = non_empty(&[&finding.title, &finding.rule_id]);
    let description = non_empty(&[&finding.description, &finding.title, &finding.rule_id]);
    let mut descriptor = json!({
        "id": finding.rule_id,
        "name": pascal_case(&finding.rule_id),
        "shortDescription": { "text": title },
        "fullDescription": { "text": description },
        "defaultConfiguration": { "level": level(rule.severity) },
        "properties": {
            "tags": ["security", finding.category.as_str()],
            "security-severity": security_severity(rule.severity),
        },
    });
    if let Some(remediation) = finding
        .remediation
        .as_deref()
        .filter(|text| !text.trim().is_empty())
    {
        insert(
            &mut descriptor,
            "help",
            json!({ "text": sanitize::for_terminal(remediation) }),
        );
    }
    descriptor
}

fn result_object(finding: &Finding, uri: &str, rule_index: usize) -> Value {
    let start_line = finding.line_number.unwrap_or(1).max(1);
    let mut region = json!({ "startLine": start_line });
    if let Some(snippet) = finding.snippet.as_deref().filter(|text| !text.is_empty()) {
        insert(
            &mut region,
            "snippet",
            json!({ "text": sanitize::for_terminal(snippet) }),
        );
    }
    json!({
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": level(finding.severity),
        "message": { "text": non_empty(&[&finding.description, &finding.title, &finding.rule_id]) },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri },
                "region": region,
            }
        }],
        "partialFingerprints": { "findingId/v1": finding.id },
        "properties": {
            "severity": finding.severity.as_str(),
            "category": finding.category.as_str(),
            "analyzer": finding.analyzer,
            "metadata": finding.metadata,
        },
    })
}

/// Adds a property to a JSON object built with `json!`. Other values are left alone.
fn insert(object: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = object {
        map.insert(key.to_string(), value);
    }
}

/// Records analyzers that did not complete as notifications, so a partial scan is visible.
fn invocation(results: &[&ScanResult]) -> Value {
    let notifications: Vec<Value> = results
        .iter()
        .flat_map(|result| {
            result.analyzers_failed.iter().map(move |failure| {
                let text = format!(
                    "Analyzer {} failed on skill {}: {}",
                    failure.analyzer, result.skill_name, failure.error
                );
                json!({ "level": "error", "message": { "text": sanitize::for_terminal(&text) } })
            })
        })
        .collect();
    json!({
        "executionSuccessful": notifications.is_empty(),
        "toolExecutionNotifications": notifications,
    })
}

/// Returns the first of `candidates` that is not blank, cleaned for display, or `finding`
/// when all are blank.
fn non_empty(candidates: &[&str]) -> String {
    candidates
        .iter()
        .map(|text| sanitize::for_terminal(text))
        .find(|text| !text.trim().is_empty())
        .unwrap_or_else(|| String::from("finding"))
}

/// Converts `COMMAND_INJECTION_EVAL` to `CommandInjectionEval`, an identifier for the rule's
/// `name` that reads differently from its `id`.
fn pascal_case(rule_id: &str) -> String {
    let mut name = String::with_capacity(rule_id.len());
    for word in rule_id.split(|character: char| !character.is_ascii_alphanumeric()) {
        let mut characters = word.chars();
        if let Some(first) = characters.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(characters.map(|character| character.to_ascii_lowercase()));
        }
    }
    if name.is_empty() {
        String::from("Rule")
    } else {
        name
    }
}

/// Computes the URI prefix of each result. A skill path that lies below the working directory
/// is kept whole. Otherwise the prefix is the skill folder name, or more trailing folders of
/// its path where two skills in one report share a folder name, so every URI stays unique. A path without a folder name (`.`) gets no prefix, which leaves its URIs relative
/// to the skill.
fn uri_prefixes(results: &[&ScanResult]) -> Vec<Vec<String>> {
    let paths: Vec<Vec<String>> = results
        .iter()
        .map(|result| relative_segments(&result.skill_path))
        .collect();
    // A relative path that stays below the working directory is kept whole: run from a
    // repository's root, `skills/pdf/run.py` is then the file's path in the repository, which
    // is how GitHub code scanning resolves a URI without `uriBaseId`.
    let mut lengths: Vec<usize> = results
        .iter()
        .zip(&paths)
        .map(|(result, path)| {
            let skill_path = std::path::Path::new(&result.skill_path);
            let below_cwd = skill_path.is_relative()
                && skill_path
                    .components()
                    .all(|part| !matches!(part, std::path::Component::ParentDir));
            if below_cwd {
                path.len()
            } else {
                path.len().min(1)
            }
        })
        .collect();

    // Lengthen the prefixes that collide until they differ or run out of folders. Every
    // pass lengthens at least one prefix, so this ends.
    loop {
        let mut groups: HashMap<&[String], Vec<usize>> = HashMap::new();
        for (index, path) in paths.iter().enumerate() {
            let length = lengths.get(index).copied().unwrap_or_default();
            let suffix = path
                .get(path.len().saturating_sub(length)..)
                .unwrap_or_default();
            groups.entry(suffix).or_default().push(index);
        }
        let mut lengthened = false;
        for members in groups.values().filter(|members| members.len() > 1) {
            for &index in members {
                let available = paths.get(index).map_or(0, Vec::len);
                if let Some(length) = lengths.get_mut(index)
                    && *length < available
                {
                    *length += 1;
                    lengthened = true;
                }
            }
        }
        if !lengthened {
            break;
        }
    }

    paths
        .into_iter()
        .zip(lengths)
        .map(|(path, length)| {
            path.get(path.len().saturating_sub(length)..)
                .unwrap_or_default()
                .to_vec()
        })
        .collect()
}

/// Builds the URI of a finding's file: the prefix, then the file's path within the skill. A
/// file path given as an absolute path inside the skill folder is made relative to it.
fn artifact_uri(prefix: &[String], result: &ScanResult, finding: &Finding) -> String {
    let Some(file_path) = finding.file_path.as_deref() else {
        return join_uri(prefix, &[]);
    };
    let mut path = relative_segments(file_path);
    if is_absolute(file_path) && is_absolute(&result.skill_path) {
        let skill = relative_segments(&result.skill_path);
        if path.starts_with(&skill) {
            path.drain(..skill.len());
        }
    }
    join_uri(prefix, &path)
}

/// Joins path segments into a relative URI and percent-encodes each segment. A path with no
/// file in it points at `SKILL.md`.
fn join_uri(prefix: &[String], path: &[String]) -> String {
    let mut segments: Vec<String> = prefix
        .iter()
        .map(|segment| percent_encode(segment))
        .collect();
    if path.is_empty() {
        segments.push(String::from(MANIFEST));
    } else {
        segments.extend(path.iter().map(|segment| percent_encode(segment)));
    }
    segments.join("/")
}

fn is_absolute(path: &str) -> bool {
    path.starts_with('/')
        || path.starts_with('\\')
        || drive_letter(path.split(['/', '\\']).next().unwrap_or_default())
}

/// `C:` and the like, the first component of an absolute Windows path.
fn drive_letter(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.len() == 2
        && bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && bytes.get(1) == Some(&b':')
}

/// Splits a path on `/` and `\` and resolves `.` and `..` lexically, never above the start,
/// so the segments form a relative path that cannot climb out. A leading root or drive
/// letter is dropped.
///
/// NOTE: a Unix file name that contains `\` is split as well, so its URI names a file that
/// does not exist. Keeping `\` inside a segment instead would let `..\` climb out for a
/// consumer on Windows.
fn relative_segments(path: &str) -> Vec<String> {
    let mut segments: Vec<String> = Vec::new();
    for (position, segment) in path.split(['/', '\\']).enumerate() {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ if position == 0 && drive_letter(segment) => {}
            _ => segments.push(segment.to_string()),
        }
    }
    segments
}

/// Percent-encodes every byte of a path segment except the unreserved characters of
/// RFC 3986 (letters, digits, `-`, `.`, `_`, `~`).
fn percent_encode(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn segments_resolve_dot_dot_within_root() {
        assert_eq!(relative_segments("../../etc/passwd"), ["etc", "passwd"]);
        assert_eq!(relative_segments("a/../b/./c"), ["b", "c"]);
        assert_eq!(relative_segments("/abs/path"), ["abs", "path"]);
        assert_eq!(relative_segments("C:\\Users\\x"), ["Users", "x"]);
        assert!(relative_segments("..").is_empty());
    }

    #[test]
    fn percent_encode_keeps_unreserved_only() {
        assert_eq!(percent_encode("a b"), "a%20b");
        assert_eq!(percent_encode("javascript:x"), "javascript%3Ax");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("ok-name_1.py~"), "ok-name_1.py~");
        assert_eq!(percent_encode("%2e%2e"), "%252e%252e");
    }

    #[test]
    fn pascal_case_of_rule_ids() {
        assert_eq!(
            pascal_case("COMMAND_INJECTION_EVAL"),
            "CommandInjectionEval"
        );
        assert_eq!(pascal_case("___"), "Rule");
    }

    #[test]
    fn levels_follow_severity() {
        assert_eq!(level(Severity::Critical), "error");
        assert_eq!(level(Severity::High), "error");
        assert_eq!(level(Severity::Medium), "warning");
        assert_eq!(level(Severity::Low), "note");
        assert_eq!(level(Severity::Info), "note");
    }

    fn uri_of(skill_path: &str, file_path: Option<&str>) -> String {
        let finding = fixtures::finding("R", Severity::High, file_path, Some(1));
        let result = fixtures::result("demo", skill_path, vec![finding.clone()]);
        let prefixes = uri_prefixes(&[&result]);
        artifact_uri(&prefixes[0], &result, &finding)
    }

    #[test]
    fn uri_is_folder_name_then_file() {
        assert_eq!(
            uri_of("/abs/skills/demo", Some("scripts/run.py")),
            "demo/scripts/run.py"
        );
        assert_eq!(uri_of("skills/demo/", None), "skills/demo/SKILL.md");
        assert_eq!(uri_of("../skills/demo", None), "demo/SKILL.md");
        assert_eq!(uri_of(".", Some("run.py")), "run.py");
        assert_eq!(
            uri_of("/abs/skills/demo", Some("/abs/skills/demo/sub/x.py")),
            "demo/sub/x.py"
        );
        assert_eq!(
            uri_of("demo", Some("../../../etc/passwd")),
            "demo/etc/passwd"
        );
        assert_eq!(uri_of("demo", Some("/etc/shadow")), "demo/etc/shadow");
        assert_eq!(uri_of("demo", Some("..")), "demo/SKILL.md");
        assert_eq!(
            uri_of("demo", Some("my file #1?.py")),
            "demo/my%20file%20%231%3F.py"
        );
    }

    #[test]
    fn shared_folder_names_get_longer_prefixes() {
        let results = [
            fixtures::result("a", "/r/one/tool", Vec::new()),
            fixtures::result("b", "/r/two/tool", Vec::new()),
            fixtures::result("c", "/r/other", Vec::new()),
            fixtures::result("d", "tool", Vec::new()),
        ];
        let references: Vec<&ScanResult> = results.iter().collect();
        let prefixes: Vec<String> = uri_prefixes(&references)
            .iter()
            .map(|prefix| prefix.join("/"))
            .collect();
        assert_eq!(prefixes, ["one/tool", "two/tool", "other", "tool"]);
    }

    #[test]
    fn rule_table_indexes_sorted_ids() {
        let findings = [
            fixtures::finding("B_RULE", Severity::Low, None, None),
            fixtures::finding("A_RULE", Severity::Medium, None, None),
            fixtures::finding("B_RULE", Severity::Critical, None, None),
        ];
        let table = RuleTable::new(findings.iter());
        assert_eq!(table.index("A_RULE"), 0);
        assert_eq!(table.index("B_RULE"), 1);
        let descriptors = table.descriptors();
        assert_eq!(descriptors[1]["defaultConfiguration"]["level"], "error");
        assert_eq!(descriptors[1]["properties"]["security-severity"], "9.5");
        assert_eq!(descriptors[0]["properties"]["tags"][1], "command_injection");
    }
}
