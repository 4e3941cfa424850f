//! YAML signatures: regexes per file kind, compiled once into one `RegexSet` per kind.
//!
//! A scan first asks the kind's `RegexSet` which patterns occur anywhere in the file (one pass),
//! then runs only those patterns to locate matches, so the cost grows with the size of the
//! file rather than with the number of rules.

use std::collections::{HashMap, HashSet};

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;

use crate::model::{Category, Severity};
use crate::skill::FileKind;

/// Compiled-size cap per signature pattern. Unicode classes such as `\w` compile large, so
/// this is above the cap for policy patterns, and still bounds a hostile custom pack.
pub const SIGNATURE_REGEX_SIZE_LIMIT: usize = 8 << 20;

/// Where in a file a match sits: runnable code or prose for a reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Context {
    Code,
    Prose,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Code => "code",
            Context::Prose => "prose",
        }
    }
}

/// One rule as written in a `rules/signatures/*.yaml` file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureSpec {
    pub id: String,
    pub category: Category,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    pub remediation: String,
    pub file_kinds: Vec<String>,
    #[serde(default)]
    pub contexts: Vec<Context>,
    pub patterns: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub examples: Examples,
}

/// Texts a rule must and must not fire on; the test suite checks both for every rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    pub fire: Vec<String>,
    pub quiet: Vec<String>,
}

/// A compiled rule.
#[derive(Debug)]
pub struct Signature {
    pub spec: SignatureSpec,
    pub kinds: Vec<FileKind>,
    patterns: Vec<Regex>,
    exclude: Option<RegexSet>,
}

impl Signature {
    pub fn applies_to_context(&self, context: Context) -> bool {
        self.spec.contexts.is_empty() || self.spec.contexts.contains(&context)
    }

    pub fn pattern_source(&self, index: usize) -> &str {
        self.spec.patterns.get(index).map_or("", String::as_str)
    }
}

/// All patterns that apply to one file kind, with the rule each belongs to.
#[derive(Debug)]
struct KindIndex {
    set: RegexSet,
    owners: Vec<(usize, usize)>,
}

/// The compiled signature rules.
#[derive(Debug, Default)]
pub struct SignatureSet {
    pub rules: Vec<Signature>,
    by_kind: HashMap<FileKind, KindIndex>,
}

/// One located match.
#[derive(Clone, Debug)]
pub struct SignatureMatch {
    pub rule: usize,
    pub pattern: usize,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("{file}: not a valid signature file: {reason}")]
    Parse { file: String, reason: String },
    #[error("{file}: rule {id}: {reason}")]
    Rule {
        file: String,
        id: String,
        reason: String,
    },
    #[error("rule id {id} is defined twice ({file})")]
    Duplicate { file: String, id: String },
}

/// Expands a `file_kinds` entry (a kind or the groups `code` and `any`).
pub fn expand_kind(name: &str) -> Option<Vec<FileKind>> {
    match name {
        "any" => Some(FileKind::TEXT_KINDS.to_vec()),
        "code" => Some(
            FileKind::TEXT_KINDS
                .into_iter()
                .filter(|kind| kind.is_code())
                .collect(),
        ),
        other => FileKind::TEXT_KINDS
            .into_iter()
            .find(|kind| kind.as_str() == other)
            .map(|kind| vec![kind]),
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .multi_line(true)
        .size_limit(SIGNATURE_REGEX_SIZE_LIMIT)
        .dfa_size_limit(SIGNATURE_REGEX_SIZE_LIMIT)
        .nest_limit(64)
        .build()
        .map_err(|error| match error {
            regex::Error::CompiledTooBig(limit) => {
                format!("pattern compiles past the size limit of {limit} bytes")
            }
            regex::Error::Syntax(text) => {
                format!("invalid pattern: {}", text.lines().last().unwrap_or(""))
            }
            _ => String::from("invalid pattern"),
        })
}

impl SignatureSet {
    /// Parses and compiles signature files given as `(name, yaml)` pairs. Any bad rule is an
    /// error naming the file and the rule: a rule is never dropped silently.
    pub fn compile(files: &[(String, String)]) -> Result<SignatureSet, SignatureError> {
        let mut rules = Vec::new();
        let mut seen = HashSet::new();
        for (file, text) in files {
            let specs: Vec<SignatureSpec> =
                serde_norway::from_str(text).map_err(|error| SignatureError::Parse {
                    file: file.clone(),
                    reason: crate::skill::frontmatter::describe_yaml_error(&error).replacen(
                        "frontmatter is ",
                        "",
                        1,
                    ) + &serde_detail(&error),
                })?;
            for spec in specs {
                if !seen.insert(spec.id.clone()) {
                    return Err(SignatureError::Duplicate {
                        file: file.clone(),
                        id: spec.id,
                    });
                }
                rules.push(Signature::compile(file, spec)?);
            }
        }
        SignatureSet::index(rules)
    }

    fn index(rules: Vec<Signature>) -> Result<SignatureSet, SignatureError> {
        let mut by_kind = HashMap::new();
        for kind in FileKind::TEXT_KINDS {
            let mut sources = Vec::new();
            let mut owners = Vec::new();
            for (rule_index, rule) in rules.iter().enumerate() {
                if rule.kinds.contains(&kind) {
                    for (pattern_index, pattern) in rule.spec.patterns.iter().enumerate() {
                        sources.push(pattern.as_str());
                        owners.push((rule_index, pattern_index));
                    }
                }
            }
            let set = RegexSetBuilder::new(&sources)
                .multi_line(true)
                .size_limit(64 * SIGNATURE_REGEX_SIZE_LIMIT)
                .dfa_size_limit(64 * SIGNATURE_REGEX_SIZE_LIMIT)
                .build()
                .map_err(|error| SignatureError::Rule {
                    file: String::from("(all)"),
                    id: format!("set for {}", kind.as_str()),
                    reason: error.to_string(),
                })?;
            by_kind.insert(kind, KindIndex { set, owners });
        }
        Ok(SignatureSet { rules, by_kind })
    }

    /// Finds every match in `text`, treated as a file of `kind`. `context_at` tells whether a
    /// byte offset lies in code or prose. At most `max_per_rule` matches per rule are kept.
    pub fn scan(
        &self,
        text: &str,
        kind: FileKind,
        context_at: &dyn Fn(usize) -> Context,
        max_per_rule: usize,
    ) -> Vec<SignatureMatch> {
        let Some(index) = self.by_kind.get(&kind) else {
            return Vec::new();
        };
        let mut matches = Vec::new();
        let mut per_rule: HashMap<usize, usize> = HashMap::new();
        for set_index in index.set.matches(text).iter() {
            let Some(&(rule_index, pattern_index)) = index.owners.get(set_index) else {
                continue;
            };
            let Some(rule) = self.rules.get(rule_index) else {
                continue;
            };
            let Some(pattern) = rule.patterns.get(pattern_index) else {
                continue;
            };
            for found in pattern.find_iter(text) {
                let count = per_rule.entry(rule_index).or_default();
                if *count >= max_per_rule {
                    break;
                }
                if !rule.applies_to_context(context_at(found.start())) {
                    continue;
                }
                if let Some(exclude) = &rule.exclude
                    && exclude.is_match(line_around(text, found.start(), found.end()))
                {
                    continue;
                }
                *count += 1;
                matches.push(SignatureMatch {
                    rule: rule_index,
                    pattern: pattern_index,
                    start: found.start(),
                    end: found.end(),
                });
            }
        }
        matches.sort_by_key(|found| (found.start, found.rule));
        // One finding per rule and line: several patterns of one rule often hit the same spot.
        matches.dedup_by(|a, b| a.rule == b.rule && same_line(text, a.start, b.start));
        matches
    }
}

impl Signature {
    fn compile(file: &str, spec: SignatureSpec) -> Result<Signature, SignatureError> {
        let rule_error = |reason: String| SignatureError::Rule {
            file: file.to_string(),
            id: spec.id.clone(),
            reason,
        };
        if spec.patterns.is_empty() {
            return Err(rule_error(String::from("has no patterns")));
        }
        if spec.examples.fire.is_empty() || spec.examples.quiet.is_empty() {
            return Err(rule_error(String::from(
                "needs at least one `fire` and one `quiet` example",
            )));
        }
        let mut kinds = Vec::new();
        for name in &spec.file_kinds {
            let expanded = expand_kind(name)
                .ok_or_else(|| rule_error(format!("unknown file kind `{name}`")))?;
            kinds.extend(expanded);
        }
        if kinds.is_empty() {
            return Err(rule_error(String::from("lists no file kinds")));
        }
        let patterns = spec
            .patterns
            .iter()
            .enumerate()
            .map(|(index, pattern)| {
                compile(pattern)
                    .map_err(|reason| rule_error(format!("patterns[{index}]: {reason}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let exclude = if spec.exclude.is_empty() {
            None
        } else {
            for (index, pattern) in spec.exclude.iter().enumerate() {
                compile(pattern)
                    .map_err(|reason| rule_error(format!("exclude[{index}]: {reason}")))?;
            }
            Some(
                RegexSetBuilder::new(&spec.exclude)
                    .size_limit(SIGNATURE_REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|_| rule_error(String::from("exclude patterns compile too big")))?,
            )
        };
        Ok(Signature {
            spec,
            kinds,
            patterns,
            exclude,
        })
    }
}

fn serde_detail(error: &serde_norway::Error) -> String {
    let message = error.to_string();
    // Field-level errors from our own rule files are safe to show: they name the missing or
    // unknown key.
    if message.contains("missing field")
        || message.contains("unknown field")
        || message.contains("unknown variant")
    {
        format!(": {}", message.lines().next().unwrap_or(""))
    } else {
        String::new()
    }
}

/// The full line (or lines) containing `start..end`.
pub fn line_around(text: &str, start: usize, end: usize) -> &str {
    let line_start = text
        .get(..start)
        .and_then(|before| before.rfind('\n'))
        .map_or(0, |position| position + 1);
    let line_end = text
        .get(end..)
        .and_then(|after| after.find('\n'))
        .map_or(text.len(), |position| end + position);
    text.get(line_start..line_end).unwrap_or("")
}

fn same_line(text: &str, a: usize, b: usize) -> bool {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    text.get(low..high)
        .is_some_and(|between| !between.contains('\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_rule(yaml: &str) -> Result<SignatureSet, SignatureError> {
        SignatureSet::compile(&[(String::from("test.yaml"), yaml.to_string())])
    }

    const RULE: &str = "- id: T1\n  category: command_injection\n  severity: HIGH\n  title: t\n  description: d\n  remediation: r\n  file_kinds: [python]\n  patterns: ['\\beval\\(']\n  exclude: ['literal']\n  examples: {fire: ['eval(x)'], quiet: ['y']}\n";

    #[test]
    fn scan_finds_and_excludes() {
        let set = one_rule(RULE).unwrap_or_else(|error| unreachable!("{error}"));
        let code = |_| Context::Code;
        let found = set.scan(
            "a = eval(b)\nliteral eval(c)\n",
            FileKind::Python,
            &code,
            10,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found.first().map(|found| found.start), Some(4));
        let none = set.scan("a = eval(b)\n", FileKind::Markdown, &code, 10);
        assert!(none.is_empty());
    }

    #[test]
    fn bad_pattern_names_rule() {
        let message = one_rule(&RULE.replace("\\beval\\(", "(?<=x)y"))
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(message.contains("T1"), "{message}");
        assert!(message.contains("patterns[0]"), "{message}");
    }

    #[test]
    fn duplicate_id_is_rejected() {
        let twice = format!("{RULE}{RULE}");
        let message = one_rule(&twice)
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(message.contains("defined twice"), "{message}");
    }

    #[test]
    fn missing_examples_rejected() {
        let message = one_rule(&RULE.replace("quiet: ['y']", "quiet: []"))
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(message.contains("quiet"), "{message}");
    }

    #[test]
    fn unknown_kind_rejected() {
        let message = one_rule(&RULE.replace("[python]", "[cobol]"))
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(message.contains("cobol"), "{message}");
    }

    #[test]
    fn per_rule_cap_holds() {
        let set = one_rule(RULE).unwrap_or_else(|error| unreachable!("{error}"));
        let text = "eval(a)\n".repeat(100);
        let found = set.scan(&text, FileKind::Python, &|_| Context::Code, 5);
        assert_eq!(found.len(), 5);
    }
}
