//! Correlation of behaviour signals: collecting secrets is normal for some tools and sending
//! data is normal for many, but a skill that does both is exfiltrating. Signals come from
//! `rules/signals.yaml`; the combinations are judged here.

use std::collections::{BTreeMap, HashMap};

use regex::bytes::{RegexSet, RegexSetBuilder};
use serde::Deserialize;

use super::{Location, RawFinding, RuleText, make, meta};
use crate::model::{Category, Severity, Span};
use crate::rules::signatures::expand_kind;
use crate::skill::{FileKind, Skill, SkillFile};

/// The behaviours the correlation checks combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    NetworkSend,
    NetworkAny,
    EnvHarvest,
    CredentialAccess,
    FileWrite,
    Subprocess,
    CodeExec,
    Decode,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::NetworkSend => "network_send",
            Signal::NetworkAny => "network_any",
            Signal::EnvHarvest => "env_harvest",
            Signal::CredentialAccess => "credential_access",
            Signal::FileWrite => "file_write",
            Signal::Subprocess => "subprocess",
            Signal::CodeExec => "code_exec",
            Signal::Decode => "decode",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalSpec {
    name: Signal,
    file_kinds: Vec<String>,
    patterns: Vec<String>,
}

/// Compiled signal patterns, one `RegexSet` per file kind.
#[derive(Debug, Default)]
pub struct Signals {
    by_kind: HashMap<FileKind, (RegexSet, Vec<Signal>)>,
}

#[derive(Debug, thiserror::Error)]
#[error("rules/signals.yaml is invalid: {0}")]
pub struct SignalsError(String);

impl Signals {
    pub fn compile(source: &str) -> Result<Signals, SignalsError> {
        let specs: Vec<SignalSpec> =
            serde_norway::from_str(source).map_err(|error| SignalsError(error.to_string()))?;
        let mut per_kind: HashMap<FileKind, (Vec<String>, Vec<Signal>)> = HashMap::new();
        for spec in &specs {
            for kind_name in &spec.file_kinds {
                let kinds = expand_kind(kind_name)
                    .ok_or_else(|| SignalsError(format!("unknown file kind `{kind_name}`")))?;
                for kind in kinds {
                    let entry = per_kind.entry(kind).or_default();
                    for pattern in &spec.patterns {
                        entry.0.push(crate::rules::signatures::effective(pattern));
                        entry.1.push(spec.name);
                    }
                }
            }
        }
        let mut by_kind = HashMap::new();
        for (kind, (patterns, owners)) in per_kind {
            let set = RegexSetBuilder::new(&patterns)
                .multi_line(true)
                .build()
                .map_err(|error| SignalsError(error.to_string()))?;
            by_kind.insert(kind, (set, owners));
        }
        Ok(Signals { by_kind })
    }

    /// The signals present anywhere in `text` read as `kind`.
    pub fn detect(&self, text: &str, kind: FileKind) -> Vec<Signal> {
        let Some((set, owners)) = self.by_kind.get(&kind) else {
            return Vec::new();
        };
        let mut found: Vec<Signal> = set
            .matches(text.as_bytes())
            .iter()
            .filter_map(|index| owners.get(index).copied())
            .collect();
        found.sort();
        found.dedup();
        found
    }
}

/// Signals per file path, gathered while the files are scanned.
pub type SignalMap = BTreeMap<String, Vec<Signal>>;

/// Judges the combinations of signals within each file and across the skill.
pub fn judge(skill: &Skill, signals: &SignalMap) -> Vec<RawFinding> {
    let mut findings = Vec::new();
    let has = |path: &str, signal: Signal| {
        signals
            .get(path)
            .is_some_and(|found| found.contains(&signal))
    };

    let mut collectors: Vec<&str> = Vec::new();
    let mut senders: Vec<&str> = Vec::new();
    for (path, found) in signals {
        let Some(file) = skill.file(path) else {
            continue;
        };
        if !file.kind.is_code() {
            continue;
        }
        let collects_env = found.contains(&Signal::EnvHarvest);
        let collects_credentials = found.contains(&Signal::CredentialAccess);
        let sends = found.contains(&Signal::NetworkSend);
        if collects_env || collects_credentials {
            collectors.push(path);
        }
        if sends {
            senders.push(path);
        }
        if sends && (collects_env || collects_credentials) {
            let what = match (collects_env, collects_credentials) {
                (true, true) => "environment variables and credential files",
                (true, false) => "the whole environment",
                _ => "credential files or secrets",
            };
            findings.push(file_finding(
                file,
                RuleText {
                    rule_id: "EXFIL_COLLECT_AND_SEND",
                    category: Category::DataExfiltration,
                    severity: Severity::Critical,
                    title: "Secrets collected and sent over the network",
                    description: &format!(
                        "This file reads {what} and also sends data over the network: the pattern of credential exfiltration."
                    ),
                    remediation: "Remove the collection of secrets, or the network send; a skill should never ship credentials off the machine.",
                },
                found,
            ));
        }
        if has(path, Signal::Decode)
            && (has(path, Signal::CodeExec) || has(path, Signal::Subprocess))
        {
            findings.push(file_finding(
                file,
                RuleText {
                    rule_id: "OBFUSCATION_DECODE_AND_RUN",
                    category: Category::Obfuscation,
                    severity: Severity::High,
                    title: "Decoded data is executed",
                    description: "This file decodes data (base64, hex, compression) and also evaluates code or starts processes: a common way to hide a payload from review.",
                    remediation: "Ship the code in readable form; never execute data that was decoded at run time.",
                },
                found,
            ));
        }
    }

    // Collection in one file and the send in another: the split hides the flow from
    // per-file review.
    let split_sender = senders.iter().find(|sender| !collectors.contains(sender));
    let split_collector = collectors
        .iter()
        .find(|collector| !senders.contains(collector));
    if let (Some(sender), Some(collector)) = (split_sender, split_collector)
        && let Some(file) = skill.file(sender)
    {
        let severity = if linked(skill, collector, sender) {
            Severity::Critical
        } else {
            Severity::High
        };
        let description = format!(
            "{collector} collects secrets or environment data and {sender} sends data over the network; together the skill can exfiltrate what it collects."
        );
        let mut finding = file_finding(
            file,
            RuleText {
                rule_id: "EXFIL_SPLIT_ACROSS_FILES",
                category: Category::DataExfiltration,
                severity,
                title: "Secret collection and network send split across files",
                description: &description,
                remediation: "Review the data flow between these files; remove the collection or the send.",
            },
            signals.get(*sender).map_or(&[][..], Vec::as_slice),
        );
        finding.finding.metadata.insert(
            String::from("collector_file"),
            serde_json::Value::from(*collector),
        );
        findings.push(finding);
    }
    findings
}

/// True when some code file names both modules, as an entry point that imports the collector
/// and the sender does.
fn linked(skill: &Skill, collector: &str, sender: &str) -> bool {
    let stem = |path: &str| {
        let name = path.rsplit('/').next().unwrap_or(path);
        name.split('.').next().unwrap_or(name).to_string()
    };
    let (collector_stem, sender_stem) = (stem(collector), stem(sender));
    if collector_stem.len() < 3 || sender_stem.len() < 3 {
        return false;
    }
    skill
        .files
        .iter()
        .filter(|file| file.kind.is_code())
        .any(|file| {
            file.text().is_some_and(|text| {
                let names_collector = file.path == collector || text.contains(&collector_stem);
                let names_sender = file.path == sender || text.contains(&sender_stem);
                names_collector && names_sender
            })
        })
}

fn file_finding(file: &SkillFile, rule: RuleText<'_>, signals: &[Signal]) -> RawFinding {
    let names: Vec<&str> = signals.iter().map(|signal| signal.as_str()).collect();
    make(
        rule,
        Location {
            file: Some(file),
            span: Span::default(),
            ..Location::default()
        },
        "static",
        meta([("signals", serde_json::Value::from(names))]),
    )
}
