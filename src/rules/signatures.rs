//! YAML signatures: regexes per file kind.
//!
//! Each pattern is compiled on its first use and run on its own, so the regex engine can skip
//! ahead with the pattern's literal prefilter. Before that, one Aho-Corasick pass over the file
//! looks for each pattern's required literals, the words every match must start or end with
//! (see [`gate_literals`]). A pattern whose literals are absent cannot match, so it is not run. Measured on the skill corpus, one combined
//! `RegexSet` was several times slower: hundreds of patterns with bounded repetitions such as
//! `[^\n]{0,300}` make its lazy DFA build new states on almost every byte.
//!
//! Patterns match in ASCII mode: `\w`, `\d`, `\s`, `\b` and `(?i)` cover ASCII only, which
//! keeps the automata small enough that start-up takes milliseconds and the lazy DFA never
//! falls back to slow NFA simulation. A pattern that cannot compile in ASCII mode (a
//! non-ASCII character inside a class, say) is compiled with Unicode semantics instead, and a
//! pattern may opt in explicitly with a leading `(?u)`.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;

use crate::model::{Category, Severity};
use crate::skill::FileKind;

/// Compiled-size cap per signature pattern; it bounds a hostile custom pack.
pub const SIGNATURE_REGEX_SIZE_LIMIT: usize = 8 << 20;

/// The context of a match: runnable code, or prose for a reader.
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
    /// Each pattern, compiled on first use: most rules never match a given skill.
    patterns: Vec<OnceLock<Option<Regex>>>,
    exclude: Option<RegexSet>,
}

impl Signature {
    pub fn applies_to_context(&self, context: Context) -> bool {
        self.spec.contexts.is_empty() || self.spec.contexts.contains(&context)
    }

    pub fn pattern_source(&self, index: usize) -> &str {
        self.spec.patterns.get(index).map_or("", String::as_str)
    }

    pub fn pattern(&self, index: usize) -> Option<&Regex> {
        let cell = self.patterns.get(index)?;
        let source = self.spec.patterns.get(index)?;
        cell.get_or_init(|| compile(source).ok()).as_ref()
    }
}

/// The compiled signature rules.
#[derive(Debug)]
pub struct SignatureSet {
    pub rules: Vec<Signature>,
    /// Every pattern as (rule index, pattern index within the rule).
    owners: Vec<(usize, usize)>,
    /// Required literals of the gated patterns, matched case-insensitively.
    gates: Option<aho_corasick::AhoCorasick>,
    /// For each literal of `gates`, the indexes into `owners` it gates.
    gate_owners: Vec<Vec<usize>>,
    /// Per entry of `owners`: true when the pattern has a gate and runs only if it is open.
    gated: Vec<bool>,
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

/// Returns the pattern as it is compiled: in ASCII mode unless it needs Unicode (see the
/// module docs).
pub(crate) fn effective(pattern: &str) -> String {
    let needs_unicode = pattern.starts_with("(?u)")
        || !pattern.is_ascii()
        || pattern.contains("\\p{")
        || pattern.contains("\\P{");
    if needs_unicode {
        pattern.to_string()
    } else {
        format!("(?-u){pattern}")
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(&effective(pattern))
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
    ///
    /// The patterns of `checked` files (custom packs) are each compiled at once, so a bad or
    /// oversized pattern is reported by name. The bundled `trusted` files are compiled on first
    /// use: the test suite compiles every one of them and runs its examples.
    pub fn compile(
        trusted: &[(String, String)],
        checked: &[(String, String)],
    ) -> Result<SignatureSet, SignatureError> {
        let mut rules = Vec::new();
        let mut seen = HashSet::new();
        let files = trusted
            .iter()
            .map(|file| (file, false))
            .chain(checked.iter().map(|file| (file, true)));
        for ((file, text), eager) in files {
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
                rules.push((file.clone(), Signature::compile(file, spec, eager)?));
            }
        }
        SignatureSet::index(rules)
    }

    fn index(rules: Vec<(String, Signature)>) -> Result<SignatureSet, SignatureError> {
        let owners: Vec<(usize, usize)> = rules
            .iter()
            .enumerate()
            .flat_map(|(rule_index, (_, rule))| {
                (0..rule.spec.patterns.len()).map(move |pattern_index| (rule_index, pattern_index))
            })
            .collect();

        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut gate_owners: Vec<Vec<usize>> = Vec::new();
        let mut gated = vec![false; owners.len()];
        for (owner, (rule_index, pattern_index)) in owners.iter().enumerate() {
            let Some((_, rule)) = rules.get(*rule_index) else {
                continue;
            };
            let Some(required) = gate_literals(rule.pattern_source(*pattern_index)) else {
                continue;
            };
            if let Some(flag) = gated.get_mut(owner) {
                *flag = true;
            }
            for literal in required {
                match literals.iter().position(|known| *known == literal) {
                    Some(position) => {
                        if let Some(list) = gate_owners.get_mut(position) {
                            list.push(owner);
                        }
                    }
                    None => {
                        literals.push(literal);
                        gate_owners.push(vec![owner]);
                    }
                }
            }
        }
        let gates = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&literals)
            .ok();
        if gates.is_none() {
            // Without the automaton every pattern simply runs.
            gated.iter_mut().for_each(|flag| *flag = false);
        }
        Ok(SignatureSet {
            rules: rules.into_iter().map(|(_, rule)| rule).collect(),
            owners,
            gates,
            gate_owners,
            gated,
        })
    }

    /// Marks which patterns may match `bytes`: ungated ones always, gated ones when one of their
    /// required literals occurs.
    fn open_gates(&self, bytes: &[u8]) -> Vec<bool> {
        let mut open: Vec<bool> = self.gated.iter().map(|gated| !gated).collect();
        if let Some(gates) = &self.gates {
            for found in gates.find_overlapping_iter(bytes) {
                if let Some(owners) = self.gate_owners.get(found.pattern().as_usize()) {
                    for owner in owners {
                        if let Some(flag) = open.get_mut(*owner) {
                            *flag = true;
                        }
                    }
                }
            }
        }
        open
    }

    /// Compiles every pattern and runs it over the rules' own example texts. A fork server
    /// calls this before serving: its workers then inherit compiled patterns and lazy-DFA
    /// caches that already hold the common states, instead of each building them again.
    pub fn warm_up(&self) {
        let mut sample = String::new();
        for rule in &self.rules {
            for text in rule
                .spec
                .examples
                .fire
                .iter()
                .chain(&rule.spec.examples.quiet)
            {
                sample.push_str(text);
                sample.push('\n');
            }
        }
        for rule in &self.rules {
            for index in 0..rule.spec.patterns.len() {
                if let Some(pattern) = rule.pattern(index) {
                    let _ = pattern.find_iter(sample.as_bytes()).count();
                }
            }
        }
    }

    /// Finds every match in `text`, treated as a file of `kind`. `context_at` returns whether a
    /// byte offset lies in code or prose; `uniform` is set when the whole text has one context,
    /// so rules limited to the other context are skipped without running. At most
    /// `max_per_rule` matches per rule are kept.
    pub fn scan(
        &self,
        text: &str,
        kind: FileKind,
        context_at: &dyn Fn(usize) -> Context,
        uniform: Option<Context>,
        max_per_rule: usize,
    ) -> Vec<SignatureMatch> {
        let bytes = text.as_bytes();
        let open = self.open_gates(bytes);
        let mut matches = Vec::new();
        let mut per_rule: HashMap<usize, usize> = HashMap::new();
        for (owner, &(rule_index, pattern_index)) in self.owners.iter().enumerate() {
            if !open.get(owner).copied().unwrap_or(true) {
                continue;
            }
            let Some(rule) = self.rules.get(rule_index) else {
                continue;
            };
            if !rule.kinds.contains(&kind)
                || uniform.is_some_and(|context| !rule.applies_to_context(context))
            {
                continue;
            }
            let Some(pattern) = rule.pattern(pattern_index) else {
                continue;
            };
            for found in pattern.find_iter(bytes) {
                let count = per_rule.entry(rule_index).or_default();
                if *count >= max_per_rule {
                    break;
                }
                if !rule.applies_to_context(context_at(found.start())) {
                    continue;
                }
                if let Some(exclude) = &rule.exclude
                    && exclude.is_match(line_around(text, found.start(), found.end()).as_bytes())
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
    fn compile(file: &str, spec: SignatureSpec, eager: bool) -> Result<Signature, SignatureError> {
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
        let mut patterns = Vec::with_capacity(spec.patterns.len());
        for (index, pattern) in spec.patterns.iter().enumerate() {
            let cell = OnceLock::new();
            if eager {
                let compiled = compile(pattern)
                    .map_err(|reason| rule_error(format!("patterns[{index}]: {reason}")))?;
                let _ = cell.set(Some(compiled));
            }
            patterns.push(cell);
        }
        let exclude = if spec.exclude.is_empty() {
            None
        } else {
            if eager {
                for (index, pattern) in spec.exclude.iter().enumerate() {
                    compile(pattern)
                        .map_err(|reason| rule_error(format!("exclude[{index}]: {reason}")))?;
                }
            }
            let sources: Vec<String> = spec
                .exclude
                .iter()
                .map(|pattern| effective(pattern))
                .collect();
            Some(
                RegexSetBuilder::new(&sources)
                    .multi_line(true)
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

/// Literals that every match of `pattern` must contain, lower-cased, when there is a small set
/// of them, each at least 3 bytes long; `None` when the pattern cannot be gated.
///
/// The literals come from regex-syntax's extractor, for the start and for the end of matches;
/// the side with the longer shortest literal wins, since longer literals are rarer. In ASCII
/// mode `(?i)` is removed before extraction and the literals are matched ignoring ASCII case
/// instead, which can only admit more texts than the pattern, never fewer. A pattern that may
/// match in Unicode mode keeps its `(?i)`, because Unicode case folding also matches non-ASCII
/// letters (`K`, the Kelvin sign, for `k`) that ASCII case folding misses.
pub fn gate_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};

    const MIN_LITERAL_BYTES: usize = 3;
    const MAX_LITERALS: usize = 64;

    let compiled = effective(pattern);
    let source = if may_use_unicode(&compiled) {
        compiled
    } else {
        effective(&pattern.replace("(?i)", ""))
    };
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .multi_line(true)
        .build()
        .parse(&source)
        .ok()?;
    let mut best: Option<(usize, Vec<Vec<u8>>)> = None;
    for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
        let mut extractor = Extractor::new();
        extractor.kind(kind).limit_total(MAX_LITERALS);
        let sequence = extractor.extract(&hir);
        let Some(literals) = sequence.literals() else {
            continue;
        };
        let shortest = sequence.min_literal_len().unwrap_or(0);
        if literals.is_empty() || shortest < MIN_LITERAL_BYTES {
            continue;
        }
        if best.as_ref().is_none_or(|(length, _)| shortest > *length) {
            let mut lowered: Vec<Vec<u8>> = literals
                .iter()
                .map(|literal| literal.as_bytes().to_ascii_lowercase())
                .collect();
            lowered.sort();
            lowered.dedup();
            best = Some((shortest, lowered));
        }
    }
    best.map(|(_, literals)| literals)
}

/// Returns whether any part of a pattern, as [`effective`] returns it, may match in Unicode
/// mode: the pattern does not start by turning Unicode off, or a flag group turns it on again.
/// Escaped parentheses can make this return true for an ASCII pattern, which only costs the
/// pattern its gate.
fn may_use_unicode(compiled: &str) -> bool {
    let Some(rest) = compiled.strip_prefix("(?-u)") else {
        return true;
    };
    rest.match_indices("(?").any(|(at, _)| {
        let flags = rest.get(at + 2..).unwrap_or_default();
        let enabled = flags
            .split(|character: char| !character.is_ascii_alphabetic())
            .next()
            .unwrap_or_default();
        enabled.contains('u')
    })
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
        SignatureSet::compile(&[], &[(String::from("test.yaml"), yaml.to_string())])
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
            None,
            10,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found.first().map(|found| found.start), Some(4));
        let none = set.scan("a = eval(b)\n", FileKind::Markdown, &code, None, 10);
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
    fn gates_take_rare_side() {
        let literals =
            gate_literals(r"(?i)\b(?:read|get)\b[^\n]{0,40}\b(?:forever|indefinitely)\b");
        assert_eq!(
            literals,
            Some(vec![b"forever".to_vec(), b"indefinitely".to_vec()])
        );
        assert_eq!(gate_literals(r"\w+"), None);
        assert_eq!(gate_literals(r"ab|cd"), None);
    }

    #[test]
    fn unicode_case_folding_keeps_gate_open() {
        // The Kelvin sign folds to `k` in Unicode mode only.
        let kelvin = "\u{212a}";
        let cases = [
            ("(?u)(?i)kkk", kelvin.repeat(3)),
            ("(?i)(?u)kkk", kelvin.repeat(3)),
            ("(?i)(?u:k)kk", format!("{kelvin}kk")),
            ("(?i)kkk\\p{L}", format!("{}x", kelvin.repeat(3))),
        ];
        for (pattern, text) in cases {
            let compiled = compile(pattern).unwrap_or_else(|error| unreachable!("{error}"));
            assert!(compiled.is_match(text.as_bytes()), "{pattern}");
            let literals = gate_literals(pattern).unwrap_or_default();
            let open = literals.is_empty()
                || literals.iter().any(|literal| {
                    let lowered = text.as_bytes().to_ascii_lowercase();
                    lowered
                        .windows(literal.len())
                        .any(|window| window == literal)
                });
            assert!(open, "{pattern}: {literals:?}");
        }
    }

    #[test]
    fn ascii_patterns_drop_case_flag() {
        assert_eq!(gate_literals("(?i)kkk"), Some(vec![b"kkk".to_vec()]));
        assert!(!may_use_unicode("(?-u)(?i)abc(?-u:x)"));
        assert!(may_use_unicode("(?-u)(?iu)abc"));
        assert!(may_use_unicode("abc\\p{L}"));
    }

    #[test]
    fn gated_pattern_matches_any_case() {
        let yaml = RULE
            .replace("['\\beval\\(']", "['(?i)\\bnever\\s+stop\\b']")
            .replace("eval(x)", "NEVER STOP");
        let set = one_rule(&yaml).unwrap_or_else(|error| unreachable!("{error}"));
        let found = set.scan(
            "Keep going. Never Stop.\n",
            FileKind::Python,
            &|_| Context::Code,
            None,
            10,
        );
        assert_eq!(found.len(), 1);
        let none = set.scan(
            "Keep going.\n",
            FileKind::Python,
            &|_| Context::Code,
            None,
            10,
        );
        assert!(none.is_empty());
    }

    #[test]
    fn per_rule_cap_holds() {
        let set = one_rule(RULE).unwrap_or_else(|error| unreachable!("{error}"));
        let text = "eval(a)\n".repeat(100);
        let found = set.scan(&text, FileKind::Python, &|_| Context::Code, None, 5);
        assert_eq!(found.len(), 5);
    }
}
