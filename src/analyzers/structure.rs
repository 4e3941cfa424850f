//! Checks on the shape of the skill rather than its text: the manifest, the file inventory,
//! symlinks, shipped binaries, disguised files, and everything the loader had to skip.

use serde_json::Value;

use super::correlate::{Signal, SignalMap};
use super::{Location, RawFinding, RuleText, make, meta};
use crate::model::{Category, Severity, Span};
use crate::skill::{FileKind, Frontmatter, Skill, SkillFile};

const ANALYZER: &str = "static";

/// Unanalyzed items reported one by one; past this they are summed in one finding.
const MAX_UNANALYZED_FINDINGS: usize = 20;

/// Longest `description` before the manifest check complains, in characters.
const MAX_DESCRIPTION_CHARS: usize = 1024;

/// Runs every structural check. `unanalyzed` is the severity for content left unread.
pub fn check(skill: &Skill, signals: &SignalMap, unanalyzed: Severity) -> Vec<RawFinding> {
    let mut findings = Vec::new();
    manifest(skill, &mut findings);
    allowed_tools(skill, signals, &mut findings);
    inventory(skill, &mut findings);
    skipped(skill, unanalyzed, &mut findings);
    findings
}

fn at_manifest(
    rule: RuleText<'_>,
    line: Option<u32>,
    metadata: serde_json::Map<String, Value>,
) -> RawFinding {
    make(
        rule,
        Location {
            path: Some("SKILL.md"),
            span: Span {
                line,
                start: 0,
                end: 0,
            },
            ..Location::default()
        },
        ANALYZER,
        metadata,
    )
}

fn at_path(rule: RuleText<'_>, path: &str, metadata: serde_json::Map<String, Value>) -> RawFinding {
    make(
        rule,
        Location {
            path: Some(path),
            ..Location::default()
        },
        ANALYZER,
        metadata,
    )
}

fn manifest(skill: &Skill, findings: &mut Vec<RawFinding>) {
    if !skill.has_manifest {
        findings.push(at_manifest(
            RuleText {
                rule_id: "MANIFEST_MISSING",
                category: Category::PolicyViolation,
                severity: Severity::Low,
                title: "No SKILL.md",
                description: "The folder has no SKILL.md; it was scanned in lenient mode with its top-level Markdown files as the instructions.",
                remediation: "Add a SKILL.md with name and description frontmatter.",
            },
            None,
            serde_json::Map::new(),
        ));
        return;
    }
    match &skill.frontmatter {
        Frontmatter::Missing => findings.push(at_manifest(
            RuleText {
                rule_id: "MANIFEST_FRONTMATTER_MISSING",
                category: Category::PolicyViolation,
                severity: Severity::Low,
                title: "SKILL.md has no frontmatter",
                description: "SKILL.md does not start with a `---` YAML block; the scan continued on its content.",
                remediation: "Start SKILL.md with frontmatter giving at least `name` and `description`.",
            },
            Some(1),
            serde_json::Map::new(),
        )),
        Frontmatter::Invalid { reason, .. } => findings.push(at_manifest(
            RuleText {
                rule_id: "MANIFEST_FRONTMATTER_INVALID",
                category: Category::PolicyViolation,
                severity: Severity::Low,
                title: "SKILL.md frontmatter cannot be used",
                description: &format!("{reason}; the scan continued on the content."),
                remediation: "Fix the YAML frontmatter so agents and scanners read the same manifest.",
            },
            Some(1),
            serde_json::Map::new(),
        )),
        Frontmatter::Valid { manifest, .. } => {
            let mut problems: Vec<String> = Vec::new();
            if manifest.name.as_deref().is_none_or(|name| name.trim().is_empty()) {
                problems.push(String::from("`name` is missing"));
            }
            if manifest.description.as_deref().is_none_or(|text| text.trim().is_empty()) {
                problems.push(String::from("`description` is missing"));
            }
            for field in &manifest.type_errors {
                problems.push(format!("`{field}` has the wrong type"));
            }
            if let Some(description) = &manifest.description {
                let length = description.chars().count();
                if length > MAX_DESCRIPTION_CHARS {
                    problems.push(format!(
                        "`description` is {length} characters, over {MAX_DESCRIPTION_CHARS}"
                    ));
                }
            }
            if let Some(name) = &manifest.name {
                let valid = name.len() <= 64
                    && name.chars().all(|character| character.is_ascii_lowercase() || character.is_ascii_digit() || character == '-');
                if !valid {
                    problems.push(String::from(
                        "`name` is not lower-case letters, digits and hyphens of at most 64 characters",
                    ));
                }
            }
            if !problems.is_empty() {
                findings.push(at_manifest(
                    RuleText {
                        rule_id: "MANIFEST_FIELDS_INVALID",
                        category: Category::PolicyViolation,
                        severity: Severity::Low,
                        title: "SKILL.md frontmatter fields are missing or malformed",
                        description: &format!("{}.", problems.join("; ")),
                        remediation: "Give a lower-case hyphenated `name` and a concise `description`.",
                    },
                    Some(1),
                    meta([("problems", Value::from(problems.clone()))]),
                ));
            }
        }
    }
}

/// True when one of `tools` has one of `names`, ignoring case and any argument in parentheses
/// (`Bash(git:*)` is `bash`).
fn grants_any(tools: &[String], names: &[&str]) -> bool {
    tools.iter().any(|tool| {
        let name = tool
            .split('(')
            .next()
            .unwrap_or(tool)
            .trim()
            .to_ascii_lowercase();
        names.contains(&name.as_str())
    })
}

/// Tools that let an agent run commands.
fn grants_shell(tools: &[String]) -> bool {
    grants_any(
        tools,
        &[
            "bash",
            "shell",
            "terminal",
            "exec",
            "run",
            "powershell",
            "computer",
        ],
    )
}

fn grants_network(tools: &[String]) -> bool {
    grants_shell(tools) || grants_any(tools, &["webfetch", "websearch", "fetch", "browser"])
}

fn grants_write(tools: &[String]) -> bool {
    grants_shell(tools) || grants_any(tools, &["write", "edit", "multiedit", "notebookedit"])
}

/// Code that does more than `allowed-tools` grants.
fn allowed_tools(skill: &Skill, signals: &SignalMap, findings: &mut Vec<RawFinding>) {
    let Some(tools) = skill
        .manifest()
        .and_then(|manifest| manifest.allowed_tools.as_ref())
    else {
        return;
    };
    let files_with = |wanted: &[Signal]| -> Vec<&str> {
        signals
            .iter()
            .filter(|(path, found)| {
                skill.file(path).is_some_and(|file| file.kind.is_code())
                    && found.iter().any(|signal| wanted.contains(signal))
            })
            .map(|(path, _)| path.as_str())
            .collect()
    };
    let declared = tools.join(", ");
    let mut report = |rule_id: &str,
                      severity: Severity,
                      title: &str,
                      what: &str,
                      files: Vec<&str>| {
        if files.is_empty() {
            return;
        }
        let description = format!(
            "Code in {} {what}, but allowed-tools ({}) does not grant it.",
            files.join(", "),
            if declared.is_empty() {
                "empty"
            } else {
                &declared
            }
        );
        findings.push(at_manifest(
            RuleText {
                rule_id,
                category: Category::UnauthorizedToolUse,
                severity,
                title,
                description: &description,
                remediation: "Declare the tools the skill really needs in allowed-tools, or remove the behaviour.",
            },
            Some(1),
            meta([("files", Value::from(files))]),
        ));
    };
    if !grants_shell(tools) {
        report(
            "ALLOWED_TOOLS_EXEC_NOT_GRANTED",
            Severity::High,
            "Code runs commands or evaluates code beyond allowed-tools",
            "starts processes or evaluates code",
            files_with(&[Signal::Subprocess, Signal::CodeExec]),
        );
    }
    if !grants_network(tools) {
        report(
            "ALLOWED_TOOLS_NETWORK_NOT_GRANTED",
            Severity::Medium,
            "Code uses the network beyond allowed-tools",
            "makes network requests",
            files_with(&[Signal::NetworkSend, Signal::NetworkAny]),
        );
    }
    if !grants_write(tools) {
        report(
            "ALLOWED_TOOLS_WRITE_NOT_GRANTED",
            Severity::Medium,
            "Code writes files beyond allowed-tools",
            "writes or deletes files",
            files_with(&[Signal::FileWrite]),
        );
    }
}

fn inventory(skill: &Skill, findings: &mut Vec<RawFinding>) {
    for link in &skill.symlinks {
        let (rule_id, severity, category, title) = if link.escapes {
            (
                "FILE_SYMLINK_ESCAPES",
                Severity::High,
                Category::DataExfiltration,
                "Symlink points outside the skill",
            )
        } else {
            (
                "FILE_SYMLINK",
                Severity::Medium,
                Category::PolicyViolation,
                "Symlink inside the skill",
            )
        };
        findings.push(at_path(
            RuleText {
                rule_id,
                category,
                severity,
                title,
                description: "Symlinks are never followed by the scanner, but an agent or installer that follows them reads whatever they point to.",
                remediation: "Replace the symlink with the file it points to.",
            },
            &link.path,
            meta([("target", Value::from(super::clip_snippet(&link.target)))]),
        ));
    }
    for path in &skill.special_files {
        findings.push(at_path(
            RuleText {
                rule_id: "FILE_SPECIAL",
                category: Category::PolicyViolation,
                severity: Severity::High,
                title: "Device, socket or pipe inside the skill",
                description: "A skill should contain only regular files and folders; this entry was not read.",
                remediation: "Remove the special file.",
            },
            path,
            serde_json::Map::new(),
        ));
    }
    for reference in &skill.missing_references {
        if reference.escapes {
            findings.push(make(
                RuleText {
                    rule_id: "REFERENCE_OUTSIDE_SKILL",
                    category: Category::DataExfiltration,
                    severity: Severity::Medium,
                    title: "Instructions point to a path outside the skill",
                    description: "The instructions refer to an absolute, home-relative or parent-directory path; an agent following them reads files the skill does not contain.",
                    remediation: "Keep every file the instructions use inside the skill folder.",
                },
                Location {
                    path: Some("SKILL.md"),
                    span: Span {
                        line: Some(reference.line),
                        start: 0,
                        end: 0,
                    },
                    snippet: Some(reference.target.clone()),
                    ..Location::default()
                },
                ANALYZER,
                serde_json::Map::new(),
            ));
        }
    }
    for file in &skill.files {
        file_checks(file, findings);
    }
}

fn file_checks(file: &SkillFile, findings: &mut Vec<RawFinding>) {
    let mut push = |rule: RuleText<'_>, metadata: serde_json::Map<String, Value>| {
        findings.push(make(
            rule,
            Location {
                file: Some(file),
                span: Span {
                    line: if file.kind.is_text() { Some(1) } else { None },
                    start: 0,
                    end: 0,
                },
                ..Location::default()
            },
            ANALYZER,
            metadata,
        ));
    };

    if let Some(claimed) = file.claimed {
        let dangerous = file.kind.is_code() || file.kind == FileKind::Executable;
        if dangerous && claimed != FileKind::Text {
            push(
                RuleText {
                    rule_id: "FILE_DISGUISED",
                    category: Category::Obfuscation,
                    severity: Severity::High,
                    title: "File content does not match its extension",
                    description: &format!(
                        "The name says {} but the content is {}: a script or program disguised as something harmless.",
                        claimed.as_str(),
                        file.kind.as_str()
                    ),
                    remediation: "Give the file the extension of what it is, or remove it.",
                },
                meta([
                    ("claimed_kind", Value::from(claimed.as_str())),
                    ("detected_kind", Value::from(file.kind.as_str())),
                ]),
            );
        }
    }
    match file.kind {
        FileKind::Executable => push(
            RuleText {
                rule_id: "FILE_NATIVE_EXECUTABLE",
                category: Category::Malware,
                severity: Severity::High,
                title: "Native executable shipped in the skill",
                description: "The skill carries a compiled program (ELF, PE or Mach-O) whose behaviour cannot be reviewed from source.",
                remediation: "Ship source code instead of binaries, or install the tool from a trusted package manager.",
            },
            serde_json::Map::new(),
        ),
        FileKind::Archive => push(
            RuleText {
                rule_id: "FILE_ARCHIVE",
                category: Category::SupplyChainAttack,
                severity: Severity::Info,
                title: "Archive shipped in the skill",
                description: "The skill carries an archive; its members were opened and scanned as part of the skill.",
                remediation: "Prefer shipping files unpacked so reviewers see them.",
            },
            serde_json::Map::new(),
        ),
        _ => {}
    }
    if file.hidden && file.kind.is_code() {
        push(
            RuleText {
                rule_id: "FILE_HIDDEN_CODE",
                category: Category::Obfuscation,
                severity: Severity::Medium,
                title: "Code in a hidden file or folder",
                description: "A script sits in a dot-file or dot-folder, where file browsers and reviews often do not show it.",
                remediation: "Move code to a visible location or remove it.",
            },
            serde_json::Map::new(),
        );
    }
}

/// Fail closed: everything the loader or an analyzer did not read is a finding.
pub fn unanalyzed(path: &str, reason: &str, severity: Severity) -> RawFinding {
    let mut finding = at_path(
        RuleText {
            rule_id: "UNANALYZED_CONTENT",
            category: Category::PolicyViolation,
            severity,
            title: "Content was not analyzed",
            description: &format!(
                "Not analyzed: {reason}. Unanalyzed content may hide anything, so the skill is not judged safe."
            ),
            remediation: "Reduce the skill to files within the policy's limits, or scan with a policy whose limits fit.",
        },
        path,
        meta([("reason", Value::from(reason))]),
    );
    finding.fail_closed = true;
    finding
}

fn skipped(skill: &Skill, severity: Severity, findings: &mut Vec<RawFinding>) {
    // The values of a frontmatter past the parser's limits were never decoded and scanned, but
    // an agent's YAML parser may read them all the same.
    if let Frontmatter::Invalid {
        reason,
        past_limit: true,
        ..
    } = &skill.frontmatter
    {
        let reason = format!("{reason}, so the manifest values an agent reads were not checked");
        findings.push(unanalyzed("SKILL.md", &reason, severity));
    }
    for item in skill.skipped.iter().take(MAX_UNANALYZED_FINDINGS) {
        findings.push(unanalyzed(&item.path, &item.reason, severity));
    }
    let rest = skill.skipped.len().saturating_sub(MAX_UNANALYZED_FINDINGS);
    if rest > 0 {
        let reason = format!("{rest} more entries were skipped for the same kinds of reasons");
        findings.push(unanalyzed("SKILL.md", &reason, severity));
    }
    for file in &skill.files {
        if file.kind == FileKind::Bytecode {
            findings.push(unanalyzed(
                &file.path,
                "compiled Python bytecode has no readable source to check",
                severity,
            ));
        }
    }
}
