//! The static analyzer: YAML signatures and YARA-X rules over every file, hidden and encoded
//! text decoded and scanned again, and behaviour signals for the correlation checks.

use serde_json::Value;

use super::correlate::{self, SignalMap, Signals};
use super::hidden::{self, Hidden};
use super::text::{LineIndex, Regions};
use super::{Location, RawFinding, RuleText, make, meta, structure};
use crate::model::{Category, Severity, Span};
use crate::policy::Policy;
use crate::rules::signatures::{Signature, line_around};
use crate::rules::{Context, Engine};
use crate::skill::{FileKind, Manifest, Skill, SkillFile};

pub const NAME: &str = "static_analyzer";
const SHORT_NAME: &str = "static";

/// The `hidden_in` value of findings in decoded frontmatter values.
const FRONTMATTER_DECODED: &str = "frontmatter_decoded";

/// Decoded blobs inside decoded blobs are followed this many levels.
const MAX_DECODE_DEPTH: usize = 2;

/// The static analyzer's output: findings, plus which files were read and which failed.
#[derive(Debug, Default)]
pub struct StaticOutput {
    pub findings: Vec<RawFinding>,
    /// Paths of the files some analyzer actually read.
    pub analyzed: Vec<String>,
    /// Files an analyzer failed on, with the reason: reported as unanalyzed.
    pub failures: Vec<(String, String)>,
    /// Behaviour signals per file, for the structural and correlation checks.
    pub signals: SignalMap,
}

/// The shared, read-only parts of the analyzer.
pub struct StaticAnalyzer<'e> {
    pub engine: &'e Engine,
    pub signals: &'e Signals,
    pub policy: &'e Policy,
    pub benign_lines: &'e [regex::Regex],
}

impl StaticAnalyzer<'_> {
    /// Scans every file of the skill. `scanner` is this thread's YARA scanner.
    pub fn analyze(&self, skill: &Skill, scanner: &mut yara_x::Scanner<'_>) -> StaticOutput {
        let mut output = StaticOutput::default();
        let mut signals = SignalMap::new();
        let switches = &self.policy.analyzers;
        let claims_safety = claims_safety(skill);

        for file in &skill.files {
            let mut analyzed = false;
            let known_benign = self.is_known_benign(file);

            if let Some((kind, text)) = file.scan_text() {
                if !known_benign {
                    let mut file_scan = FileScan::new(self, file, kind, &text, skill.manifest());
                    if switches.static_signatures {
                        file_scan.signatures();
                        if kind == FileKind::Python {
                            file_scan.path_flows(claims_safety);
                        }
                        let found = self.signals.detect(&text, kind);
                        if !found.is_empty() {
                            signals.insert(file.path.clone(), found);
                        }
                    }
                    if switches.hidden_text {
                        file_scan.hidden_text();
                    }
                    if switches.decode_blobs {
                        file_scan.encoded_blobs();
                    }
                    output.findings.append(&mut file_scan.findings);
                }
                analyzed = switches.static_signatures || known_benign;
            }

            if switches.yara {
                match self.yara(file, scanner) {
                    Ok(mut found) => {
                        output.findings.append(&mut found);
                        analyzed = true;
                    }
                    Err(reason) => output.failures.push((file.path.clone(), reason)),
                }
            }
            if analyzed {
                output.analyzed.push(file.path.clone());
            }
        }

        if switches.static_signatures {
            output.findings.extend(correlate::judge(skill, &signals));
        }
        output.signals = signals;
        output
    }

    fn is_known_benign(&self, file: &SkillFile) -> bool {
        let hashes = &self.policy.known_benign.file_sha256;
        if hashes.is_empty() {
            return false;
        }
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&file.bytes));
        hashes.iter().any(|hash| hash.eq_ignore_ascii_case(&digest))
    }

    fn yara(
        &self,
        file: &SkillFile,
        scanner: &mut yara_x::Scanner<'_>,
    ) -> Result<Vec<RawFinding>, String> {
        let results = scanner
            .scan(&file.bytes)
            .map_err(|error| format!("YARA scan failed: {}", yara_error_kind(&error)))?;
        let decoded = file.scan_text();
        let text = decoded.as_ref().map(|(_, text)| text.as_ref());
        let lines = text.map(LineIndex::new);
        // Built once per file, and from the kind the text is scanned as, like the signatures.
        let regions = decoded
            .as_ref()
            .map(|(kind, text)| Regions::of(*kind, text));
        let mut findings = Vec::new();
        for rule in results.matching_rules() {
            let Some(info) = self.engine.yara.info.get(rule.identifier()) else {
                continue;
            };
            let first = rule
                .patterns()
                .flat_map(|pattern| pattern.matches())
                .map(|found| found.range())
                .min_by_key(|range| range.start);
            let (span, snippet) = match (&first, text, &lines) {
                (Some(range), Some(text), Some(lines)) => (
                    Span {
                        line: Some(lines.line(range.start)),
                        start: range.start,
                        end: range.end,
                    },
                    Some(line_around(text, range.start, range.end).to_string()),
                ),
                (Some(range), _, _) => (
                    Span {
                        line: None,
                        start: range.start,
                        end: range.end,
                    },
                    None,
                ),
                _ => (Span::default(), None),
            };
            let rule_id = info.rule_id();
            let context = first
                .as_ref()
                .zip(regions.as_ref())
                .map(|(range, regions)| regions.context_at(range.start));
            findings.push(make(
                RuleText {
                    rule_id: &rule_id,
                    category: info.category,
                    severity: info.severity,
                    title: &info.title,
                    description: &info.description,
                    remediation: &info.remediation,
                },
                Location {
                    file: Some(file),
                    path: None,
                    span,
                    line_text: snippet.clone(),
                    snippet,
                    context,
                },
                SHORT_NAME,
                meta([
                    ("yara_rule", Value::from(info.identifier.as_str())),
                    (
                        "matched_offset",
                        first.map_or(Value::Null, |range| Value::from(range.start)),
                    ),
                ]),
            ));
        }
        Ok(findings)
    }
}

/// Names a YARA scan error without its text, which may carry rule or input details.
fn yara_error_kind(error: &yara_x::ScanError) -> &'static str {
    match error {
        yara_x::ScanError::Timeout => "timed out",
        _ => "scanner error",
    }
}

/// The per-file state of one scan.
struct FileScan<'a, 'e> {
    analyzer: &'a StaticAnalyzer<'e>,
    file: &'a SkillFile,
    /// The kind the text is scanned as (see [`SkillFile::scan_text`]).
    kind: FileKind,
    /// The skill's parsed manifest, for the frontmatter values of `SKILL.md`.
    manifest: Option<&'a Manifest>,
    text: &'a str,
    regions: Regions,
    lines: LineIndex,
    findings: Vec<RawFinding>,
}

impl<'a, 'e> FileScan<'a, 'e> {
    fn new(
        analyzer: &'a StaticAnalyzer<'e>,
        file: &'a SkillFile,
        kind: FileKind,
        text: &'a str,
        manifest: Option<&'a Manifest>,
    ) -> Self {
        FileScan {
            analyzer,
            file,
            kind,
            manifest,
            text,
            regions: Regions::of(kind, text),
            lines: LineIndex::new(text),
            findings: Vec::new(),
        }
    }

    fn max_per_rule(&self) -> usize {
        self.analyzer.policy.limits.max_findings_per_rule_per_file
    }

    /// Signature rules over the visible text.
    fn signatures(&mut self) {
        let regions = &self.regions;
        let matches = self.analyzer.engine.signatures.scan(
            self.text,
            self.kind,
            &|offset| regions.context_at(offset),
            regions.uniform(),
            self.max_per_rule(),
        );
        for found in matches {
            let Some(rule) = self.analyzer.engine.signatures.rules.get(found.rule) else {
                continue;
            };
            let line = line_around(self.text, found.start, found.end);
            if self.benign_line(line) {
                continue;
            }
            let span = Span {
                line: Some(self.lines.line(found.start)),
                start: found.start,
                end: found.end,
            };
            let context = self.regions.context_at(found.start);
            let matched = self.text.get(found.start..found.end).unwrap_or("");
            let finding = signature_finding(
                rule,
                self.file,
                span,
                line,
                context,
                meta([
                    (
                        "matched_pattern",
                        Value::from(rule.pattern_source(found.pattern)),
                    ),
                    ("matched_text", Value::from(super::clip_snippet(matched))),
                    ("signature_context", Value::from(context.as_str())),
                ]),
            );
            self.findings.push(finding);
        }
    }

    /// Paths built from a parameter and opened without a containment check.
    fn path_flows(&mut self, claims_safety: bool) {
        for flow in super::pathflow::find(self.text) {
            // A system base directory makes the read reach system files; a skill that promises
            // validation it does not do is misleading its user.
            let severity = if flow.system_base || claims_safety {
                Severity::Critical
            } else {
                Severity::High
            };
            let description = format!(
                "Function `{}` builds a file path from its parameter `{}` and opens it without normalising the path or checking that it stays under its base directory, so `../` sequences or absolute paths read any file.",
                flow.function, flow.parameter
            );
            let line = line_around(self.text, flow.offset, flow.offset).to_string();
            let span = Span {
                line: Some(self.lines.line(flow.offset)),
                start: flow.offset,
                end: flow.offset,
            };
            self.findings.push(make(
                RuleText {
                    rule_id: "PATH_TRAVERSAL_UNVALIDATED",
                    category: Category::DataExfiltration,
                    severity,
                    title: "File path from a parameter opened without validation",
                    description: &description,
                    remediation: "Resolve the path (os.path.realpath) and reject it unless it lies under the base directory; reject absolute paths and `..` components.",
                },
                Location {
                    file: Some(self.file),
                    path: None,
                    span,
                    snippet: Some(line.clone()),
                    context: Some(Context::Code),
                    line_text: Some(line),
                },
                SHORT_NAME,
                meta([
                    ("function", Value::from(flow.function.as_str())),
                    ("parameter", Value::from(flow.parameter.as_str())),
                    ("claims_safety", Value::from(claims_safety)),
                ]),
            ));
        }
    }

    fn benign_line(&self, line: &str) -> bool {
        self.analyzer
            .benign_lines
            .iter()
            .any(|pattern| pattern.is_match(line))
    }

    /// Unicode tricks, HTML comments and padding; hidden text is decoded and scanned.
    fn hidden_text(&mut self) {
        let (tag_count, tag_runs) = hidden::tag_characters(self.text);
        if tag_count > 0 {
            let decoded: String = tag_runs
                .iter()
                .map(|run| run.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let severity = if decoded.trim().len() >= 8 {
                Severity::High
            } else {
                Severity::Medium
            };
            let offset = tag_runs.first().map_or(0, |run| run.offset);
            self.structural(
                RuleText {
                    rule_id: "UNICODE_TAG_CHARACTERS",
                    category: Category::Obfuscation,
                    severity,
                    title: "Invisible Unicode tag characters carry hidden text",
                    description: &format!(
                        "{tag_count} Unicode tag characters (U+E0000 to U+E007F) render as nothing but decode to ASCII text an agent reads: a known way to smuggle instructions past review."
                    ),
                    remediation: "Remove the tag characters; instructions must be visible to the people who review the skill.",
                },
                offset,
                Some(super::clip_snippet(&decoded)),
            );
            for run in &tag_runs {
                self.rescan_hidden(run, FileKind::Markdown, 0);
            }
        }

        let (zero_width_count, zero_width_text) = hidden::zero_width(self.text);
        if zero_width_count >= 16 {
            let severity = if zero_width_text.is_some() {
                Severity::High
            } else {
                Severity::Medium
            };
            let offset = zero_width_text.as_ref().map_or(0, |hidden| hidden.offset);
            self.structural(
                RuleText {
                    rule_id: "UNICODE_ZERO_WIDTH_CHARACTERS",
                    category: Category::UnicodeSteganography,
                    severity,
                    title: "Many zero-width characters",
                    description: &format!(
                        "{zero_width_count} zero-width characters are present; they can encode text that a reader cannot see."
                    ),
                    remediation: "Remove the zero-width characters.",
                },
                offset,
                zero_width_text.as_ref().map(|hidden| super::clip_snippet(&hidden.text)),
            );
            if let Some(hidden) = &zero_width_text {
                self.rescan_hidden(hidden, FileKind::Markdown, 0);
            }
        }

        let bidi = hidden::bidi_controls(self.text);
        if let Some(first) = bidi.first() {
            let in_code = self.regions.context_at(*first) == Context::Code;
            self.structural(
                RuleText {
                    rule_id: "UNICODE_BIDI_CONTROL",
                    category: Category::Obfuscation,
                    severity: if in_code { Severity::High } else { Severity::Medium },
                    title: "Bidirectional control characters",
                    description: &format!(
                        "{} bidirectional override or isolate characters can make text display in a different order than it is read or run (\"Trojan Source\").",
                        bidi.len()
                    ),
                    remediation: "Remove the bidirectional control characters.",
                },
                *first,
                None,
            );
        }

        if self.file.is_manifest() {
            self.frontmatter_values();
        }

        if matches!(self.kind, FileKind::Markdown | FileKind::Html) {
            for comment in hidden::html_comments(self.text) {
                self.rescan_hidden(&comment, FileKind::Markdown, 0);
            }
        }

        if matches!(self.kind, FileKind::Markdown | FileKind::Text)
            && let Some(offset) = hidden::after_padding(self.text)
        {
            let tail = self.text.get(offset..).unwrap_or("");
            let produced = self.rescan_hidden(
                &Hidden {
                    offset,
                    end: self.text.len(),
                    how: "after_padding",
                    text: tail.to_string(),
                },
                self.kind,
                0,
            );
            let severity = if produced > 0 {
                Severity::High
            } else {
                Severity::Medium
            };
            self.structural(
                    RuleText {
                        rule_id: "HIDDEN_TEXT_AFTER_PADDING",
                        category: Category::Obfuscation,
                        severity,
                        title: "Text pushed out of view by blank padding",
                        description: "Long runs of blank lines or spaces push the following text out of view in most editors and previews.",
                        remediation: "Remove the padding and review the text after it.",
                    },
                    offset,
                    Some(super::clip_snippet(line_around(self.text, offset, offset))),
                );
        }
    }

    /// Scans frontmatter values as the agent reads them. YAML folds lines (`description: >`)
    /// and decodes escapes (`\u0063url`), so a decoded value can hold text that no line of the
    /// file shows. Such a value is scanned as prose on its own.
    fn frontmatter_values(&mut self) {
        let Some(manifest) = self.manifest else {
            return;
        };
        let values = [
            &manifest.description,
            &manifest.when_to_use,
            &manifest.short_description,
            &manifest.name,
        ];
        for value in values.into_iter().flatten() {
            if self.text.contains(value.as_str()) {
                continue;
            }
            let hidden = Hidden {
                offset: 0,
                end: 0,
                how: FRONTMATTER_DECODED,
                text: value.clone(),
            };
            self.rescan_hidden(&hidden, FileKind::Markdown, 0);
        }
    }

    /// Base64, hex and escaped blobs: decoded and scanned as code.
    fn encoded_blobs(&mut self) {
        let max = self.analyzer.policy.limits.max_decoded_blobs_per_file;
        for blob in hidden::encoded_blobs(self.text, max) {
            self.decoded_blob(&blob, 0);
        }
    }

    fn decoded_blob(&mut self, blob: &hidden::Decoded, depth: usize) {
        let detection = crate::skill::kind::detect("", &blob.bytes);
        if detection.kind == FileKind::Executable {
            self.structural(
                RuleText {
                    rule_id: "ENCODED_EXECUTABLE",
                    category: Category::Malware,
                    severity: Severity::Critical,
                    title: "Encoded native executable",
                    description: &format!("A {} blob decodes to a native executable.", blob.encoding),
                    remediation: "Remove the embedded executable; skills must not carry hidden binaries.",
                },
                blob.offset,
                None,
            );
            return;
        }
        if detection.kind == FileKind::Archive {
            // NOTE: only files of the skill are opened as archives, so the members of an
            // encoded one stay unread and the scan fails closed on them.
            let reason = format!(
                "a {} blob at line {} decodes to an archive, which is not opened",
                blob.encoding,
                self.lines.line(blob.offset)
            );
            let severity = self.analyzer.policy.findings.unanalyzed_severity;
            self.findings
                .push(structure::unanalyzed(&self.file.path, &reason, severity));
            return;
        }
        if !hidden::is_mostly_text(&blob.bytes) {
            return;
        }
        let Ok(decoded) = std::str::from_utf8(&blob.bytes) else {
            return;
        };
        let hidden = Hidden {
            offset: blob.offset,
            end: blob.end,
            how: blob.encoding,
            text: decoded.to_string(),
        };
        let kind = if self.kind.is_code() {
            self.kind
        } else {
            FileKind::Shell
        };
        let mut produced = self.rescan_hidden(&hidden, kind, depth);
        if kind != FileKind::Shell {
            produced += self.rescan_hidden(&hidden, FileKind::Shell, depth);
        }
        if produced > 0 {
            self.structural(
                RuleText {
                    rule_id: "ENCODED_PAYLOAD",
                    category: Category::Obfuscation,
                    severity: Severity::High,
                    title: "Encoded payload hides dangerous content",
                    description: &format!(
                        "A {} blob decodes to content that matches detection rules; encoding it hides it from review.",
                        blob.encoding
                    ),
                    remediation: "Ship code in readable form; never decode and run embedded payloads.",
                },
                blob.offset,
                Some(super::clip_snippet(decoded)),
            );
        }
        if depth + 1 < MAX_DECODE_DEPTH {
            for inner in hidden::encoded_blobs(decoded, 4) {
                let shifted = hidden::Decoded {
                    offset: blob.offset,
                    end: blob.end,
                    encoding: inner.encoding,
                    bytes: inner.bytes,
                };
                self.decoded_blob(&shifted, depth + 1);
            }
        }
    }

    /// Scans hidden or decoded text with the signature rules and returns how many findings it
    /// produced. Findings point at the place the text hides in. A MEDIUM finding is raised to
    /// HIGH, because hiding it is itself a sign of intent (decoded frontmatter excepted).
    fn rescan_hidden(&mut self, hidden: &Hidden, kind: FileKind, depth: usize) -> usize {
        let context = if kind.is_code() {
            Context::Code
        } else {
            Context::Prose
        };
        let matches = self.analyzer.engine.signatures.scan(
            &hidden.text,
            kind,
            &|_| context,
            Some(context),
            self.max_per_rule(),
        );
        let mut produced = 0;
        let line = self.lines.line(hidden.offset);
        for found in matches {
            let Some(rule) = self.analyzer.engine.signatures.rules.get(found.rule) else {
                continue;
            };
            let quoted = line_around(&hidden.text, found.start, found.end);
            if self.benign_line(quoted) {
                continue;
            }
            // Ids must differ from a visible match at the same spot: offset the span by the
            // hidden kind's name length, which keeps it stable across runs.
            let span = Span {
                line: Some(line),
                start: hidden.offset + found.start,
                end: hidden.offset + found.end + hidden.how.len() + depth,
            };
            let mut finding = signature_finding(
                rule,
                self.file,
                span,
                quoted,
                context,
                meta([
                    ("hidden_in", Value::from(hidden.how)),
                    (
                        "matched_pattern",
                        Value::from(rule.pattern_source(found.pattern)),
                    ),
                    ("decoded_text", Value::from(super::clip_snippet(quoted))),
                ]),
            );
            // Text the YAML parser decoded was not hidden, only reshaped: no raise for it.
            let hidden_on_purpose = hidden.how != FRONTMATTER_DECODED;
            if hidden_on_purpose
                && finding.finding.severity >= Severity::Medium
                && finding.finding.severity < Severity::High
            {
                finding.finding.severity = Severity::High;
            }
            // Hidden text is aimed at the agent: it counts as instructions wherever it sits.
            finding.instructions = Some(true);
            self.findings.push(finding);
            produced += 1;
        }
        produced
    }

    fn structural(&mut self, rule: RuleText<'_>, offset: usize, snippet: Option<String>) {
        let span = Span {
            line: Some(self.lines.line(offset)),
            start: offset,
            end: offset,
        };
        let context = self.regions.context_at(offset);
        let mut finding = make(
            rule,
            Location {
                file: Some(self.file),
                path: None,
                span,
                snippet,
                context: Some(context),
                line_text: None,
            },
            SHORT_NAME,
            serde_json::Map::new(),
        );
        finding.instructions = Some(true);
        self.findings.push(finding);
    }
}

/// True when the manifest promises safe or validated behaviour.
fn claims_safety(skill: &Skill) -> bool {
    let Some(manifest) = skill.manifest() else {
        return false;
    };
    let text = format!(
        "{} {}",
        manifest.name.as_deref().unwrap_or(""),
        manifest.description.as_deref().unwrap_or("")
    )
    .to_ascii_lowercase();
    ["safe", "secure", "validat", "sanitiz", "protected"]
        .iter()
        .any(|word| text.contains(word))
}

fn signature_finding(
    rule: &Signature,
    file: &SkillFile,
    span: Span,
    line: &str,
    context: Context,
    metadata: serde_json::Map<String, Value>,
) -> RawFinding {
    let spec = &rule.spec;
    make(
        RuleText {
            rule_id: &spec.id,
            category: spec.category,
            severity: spec.severity,
            title: &spec.title,
            description: &spec.description,
            remediation: &spec.remediation,
        },
        Location {
            file: Some(file),
            path: None,
            span,
            snippet: Some(line.to_string()),
            context: Some(context),
            line_text: Some(line.to_string()),
        },
        SHORT_NAME,
        metadata,
    )
}
