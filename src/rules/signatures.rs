//! YAML signatures: regexes per file kind.
//!
//! Each pattern is compiled on its first use and run on its own, so the regex engine can skip
//! ahead with the pattern's literal prefilter. Measured on the skill corpus, one combined
//! `RegexSet` was several times slower: hundreds of patterns with bounded repetitions such as
//! `[^\n]{0,300}` make its lazy DFA build new states on almost every byte.
//!
//! Most patterns need not run over the whole file either. From each pattern the literals that
//! every match must start with, and those it must end with, are extracted (see [`gates`]), and
//! one Aho-Corasick pass over the file finds where all of them occur. A pattern is skipped
//! when a required literal is absent. Otherwise a pattern with start literals is tried only at
//! their positions, with anchored searches, and a pattern with end literals and a bounded
//! match length only in the windows that reach back that length from their ends. The matches
//! are the same as those of a search over the whole text: every match begins at a start
//! literal and lies inside such a window, and look-around assertions (`\b`, `^`) still see
//! the bytes outside the searched span. The test suite checks this equality for every
//! bundled pattern over the corpus, and the `signature_yaml` fuzz target for custom ones.
//! Anchored searches over one text have a time limit (see [`anchored_time`]), after which the
//! remaining patterns search the whole text.
//!
//! Patterns match in ASCII mode: `\w`, `\d`, `\s`, `\b` and `(?i)` cover ASCII only, which
//! keeps the automata small enough that start-up takes milliseconds and the lazy DFA never
//! falls back to slow NFA simulation. A pattern that cannot compile in ASCII mode (a
//! non-ASCII character inside a class, say) is compiled with Unicode semantics instead, and a
//! pattern may opt in explicitly with a leading `(?u)`.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use regex::bytes::{RegexSet, RegexSetBuilder};
use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};
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
    /// The start and end literals of every pattern, matched ignoring ASCII case.
    gates: Option<aho_corasick::AhoCorasick>,
    /// Byte length of each literal of `gates`.
    literal_lengths: Vec<usize>,
    /// Per entry of `owners`: how the pattern is gated and searched.
    plans: Vec<Plan>,
}

/// How one pattern is gated and searched (see the module docs). Literals are indexes into
/// the set's `gates`.
#[derive(Debug, Default)]
struct Plan {
    /// Every match starts with one of these literals.
    starts: Option<Vec<usize>>,
    /// Every match ends with one of these literals.
    ends: Option<Vec<usize>>,
    /// Every match contains one of these literals.
    inner: Option<Vec<usize>>,
    /// The longest match in bytes, when the pattern bounds it.
    max_len: Option<usize>,
}

/// Where the gate literals occur in one text.
struct Hits {
    /// Per literal: whether it occurs at all.
    present: Vec<bool>,
    /// Per literal: the offsets it starts at, unless there are more than [`MAX_HITS`].
    starts: Vec<Option<Vec<usize>>>,
    /// When anchored searches over this text must stop (see [`anchored_time`]).
    anchored_until: Instant,
}

/// How long anchored searches over a text of `len` bytes may take in all: 10 ms, plus the
/// time of about 16 searches of the whole text. An anchored search can read from its start to
/// the end of the text, so a hostile text with thousands of start literals on one long line
/// would make them quadratic. Past this time every remaining pattern is searched over the
/// whole text instead, which finds the same matches; the choice changes only the time taken.
fn anchored_time(len: usize) -> Duration {
    const BASE: Duration = Duration::from_millis(10);
    const PER_BYTE_NANOS: u64 = 16;
    BASE.saturating_add(Duration::from_nanos(
        (len as u64).saturating_mul(PER_BYTE_NANOS),
    ))
}

/// Returns the instant `time` from now, or an hour from now if that is past what the clock
/// can represent.
fn deadline_after(time: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(time)
        .or_else(|| now.checked_add(Duration::from_secs(3600)))
        .unwrap_or(now)
}

/// Anchored searches check the time after this many candidates.
const CANDIDATES_PER_CLOCK_CHECK: usize = 8;

/// Past this many occurrences of a literal, patterns that would be tried at each of them run
/// over the whole text instead, which is then as fast.
const MAX_HITS: usize = 4096;

/// The literals, matches and longest match of a pattern, as [`gates`] returns them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gates {
    /// Every match starts with one of these, ignoring ASCII case; `None` when unknown.
    pub starts: Option<Vec<Vec<u8>>>,
    /// Every match ends with one of these, ignoring ASCII case; `None` when unknown.
    pub ends: Option<Vec<Vec<u8>>>,
    /// Every match contains one of these, ignoring ASCII case; `None` when unknown. Taken from
    /// the part of the pattern with the longest literals, for patterns with neither of the
    /// above.
    pub inner: Option<Vec<Vec<u8>>>,
    /// The longest match in bytes, when bounded.
    pub max_len: Option<usize>,
}

/// The matches of one pattern, as `(rule, pattern)` and each match's `(start, end)`.
pub type PatternMatches = ((usize, usize), Vec<(usize, usize)>);

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

/// The parser settings every signature pattern is compiled, and its literals extracted, with.
fn syntax_config() -> syntax::Config {
    syntax::Config::new()
        .multi_line(true)
        .utf8(false)
        .nest_limit(64)
}

/// Compiles a pattern as `regex::bytes::Regex` would, on the engine underneath it, whose
/// searches can be limited to a span and anchored.
fn compile(pattern: &str) -> Result<Regex, String> {
    meta::Builder::new()
        .configure(
            meta::Config::new()
                .utf8_empty(false)
                .nfa_size_limit(Some(SIGNATURE_REGEX_SIZE_LIMIT))
                .onepass_size_limit(Some(SIGNATURE_REGEX_SIZE_LIMIT))
                .dfa_size_limit(Some(SIGNATURE_REGEX_SIZE_LIMIT))
                .hybrid_cache_capacity(SIGNATURE_REGEX_SIZE_LIMIT),
        )
        .syntax(syntax_config())
        .build(&effective(pattern))
        .map_err(|error| {
            if let Some(limit) = error.size_limit() {
                format!("pattern compiles past the size limit of {limit} bytes")
            } else if let Some(syntax) = error.syntax_error() {
                let text = syntax.to_string();
                format!("invalid pattern: {}", text.lines().last().unwrap_or(""))
            } else {
                String::from("invalid pattern")
            }
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
        let mut positions: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut intern = |list: Vec<Vec<u8>>| -> Vec<usize> {
            list.into_iter()
                .map(|literal| {
                    *positions.entry(literal.clone()).or_insert_with(|| {
                        literals.push(literal);
                        literals.len() - 1
                    })
                })
                .collect()
        };
        let mut plans: Vec<Plan> = Vec::with_capacity(owners.len());
        for (rule_index, pattern_index) in &owners {
            let source = rules
                .get(*rule_index)
                .map_or("", |(_, rule)| rule.pattern_source(*pattern_index));
            let found = gates(source);
            plans.push(Plan {
                starts: found.starts.map(&mut intern),
                ends: found.ends.map(&mut intern),
                inner: found.inner.map(&mut intern),
                max_len: found.max_len,
            });
        }
        let literal_lengths = literals.iter().map(Vec::len).collect();
        let gates = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&literals)
            .ok();
        if gates.is_none() {
            // Without the automaton every pattern simply runs over the whole text.
            plans.iter_mut().for_each(|plan| *plan = Plan::default());
        }
        Ok(SignatureSet {
            rules: rules.into_iter().map(|(_, rule)| rule).collect(),
            owners,
            gates,
            literal_lengths,
            plans,
        })
    }

    /// Finds where every gate literal occurs in `bytes`.
    fn hits(&self, bytes: &[u8]) -> Hits {
        let count = self.literal_lengths.len();
        let mut hits = Hits {
            present: vec![false; count],
            starts: vec![Some(Vec::new()); count],
            anchored_until: deadline_after(anchored_time(bytes.len())),
        };
        if let Some(gates) = &self.gates {
            for found in gates.find_overlapping_iter(bytes) {
                let literal = found.pattern().as_usize();
                if let Some(flag) = hits.present.get_mut(literal) {
                    *flag = true;
                }
                if let Some(slot) = hits.starts.get_mut(literal) {
                    match slot {
                        Some(list) if list.len() >= MAX_HITS => *slot = None,
                        Some(list) => list.push(found.start()),
                        None => {}
                    }
                }
            }
        }
        hits
    }

    /// Calls `on_match` with each match of pattern `owner` in `bytes`, in order, as a search of
    /// the whole text would return them, until it returns false.
    fn find_each(
        &self,
        owner: usize,
        pattern: &Regex,
        bytes: &[u8],
        hits: &Hits,
        on_match: &mut dyn FnMut(usize, usize) -> bool,
    ) {
        let Some(plan) = self.plans.get(owner) else {
            return;
        };
        let present = |literals: &Option<Vec<usize>>| {
            literals.as_ref().is_none_or(|list| {
                list.iter()
                    .any(|literal| hits.present.get(*literal).copied().unwrap_or(true))
            })
        };
        if !present(&plan.starts) || !present(&plan.ends) || !present(&plan.inner) {
            return;
        }
        let positions = |literals: &[usize], end: bool| -> Option<Vec<usize>> {
            let mut all = Vec::new();
            for literal in literals {
                let list = hits.starts.get(*literal)?.as_ref()?;
                let shift = if end {
                    self.literal_lengths.get(*literal).copied()?
                } else {
                    0
                };
                all.extend(list.iter().map(|start| start + shift));
            }
            all.sort_unstable();
            all.dedup();
            Some(all)
        };

        let anchored_starts = plan
            .starts
            .as_deref()
            .and_then(|list| positions(list, false))
            .filter(|_| Instant::now() < hits.anchored_until);
        if let Some(starts) = anchored_starts {
            // Every match begins at a start literal: try an anchored match at each.
            let mut resume = 0;
            for (tried, start) in starts.into_iter().enumerate() {
                if start < resume {
                    continue;
                }
                if tried % CANDIDATES_PER_CLOCK_CHECK == CANDIDATES_PER_CLOCK_CHECK - 1
                    && Instant::now() >= hits.anchored_until
                {
                    // Out of time: one search over the rest of the text, which goes on as a
                    // search of the whole text would.
                    for found in pattern.find_iter(Input::new(bytes).span(resume..bytes.len())) {
                        if !on_match(found.start(), found.end()) {
                            return;
                        }
                    }
                    return;
                }
                let input = Input::new(bytes)
                    .span(start..bytes.len())
                    .anchored(Anchored::Yes);
                if let Some(found) = pattern.find(input) {
                    if !on_match(found.start(), found.end()) {
                        return;
                    }
                    resume = found.end().max(start + 1);
                }
            }
            return;
        }

        if let (Some(ends), Some(max_len)) = (
            plan.ends.as_deref().and_then(|list| positions(list, true)),
            plan.max_len,
        ) {
            // Every match ends at an end literal and is at most `max_len` long: search the
            // windows reaching back that far, merged where they touch.
            let mut windows: Vec<(usize, usize)> = Vec::new();
            for end in ends {
                let start = end.saturating_sub(max_len);
                match windows.last_mut() {
                    Some(last) if start <= last.1 => last.1 = end,
                    _ => windows.push((start, end)),
                }
            }
            let mut resume = 0;
            for (start, end) in windows {
                let mut at = start.max(resume);
                while at < end {
                    let Some(found) = pattern.find(Input::new(bytes).span(at..end)) else {
                        break;
                    };
                    if !on_match(found.start(), found.end()) {
                        return;
                    }
                    resume = found.end().max(found.start() + 1);
                    at = resume;
                }
            }
            return;
        }

        for found in pattern.find_iter(bytes) {
            if !on_match(found.start(), found.end()) {
                return;
            }
        }
    }

    /// Every match of every pattern in `text`, found the way [`SignatureSet::scan`] finds them,
    /// as `(rule, pattern)` and the `(start, end)` of each match, before any filtering. The
    /// test suite compares these with plain searches of the whole text.
    pub fn gated_matches(&self, text: &[u8]) -> Vec<PatternMatches> {
        let hits = self.hits(text);
        let mut all = Vec::with_capacity(self.owners.len());
        for (owner, &(rule, index)) in self.owners.iter().enumerate() {
            let mut found = Vec::new();
            if let Some(pattern) = self.rules.get(rule).and_then(|rule| rule.pattern(index)) {
                self.find_each(owner, pattern, text, &hits, &mut |start, end| {
                    found.push((start, end));
                    true
                });
            }
            all.push(((rule, index), found));
        }
        all
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
        // The gated scan starts its anchored searches from other DFA states.
        for kind in self.kinds() {
            let _ = self.scan(&sample, kind, &|_| Context::Code, None, usize::MAX);
        }
    }

    /// The file kinds some rule applies to, each once.
    pub fn kinds(&self) -> Vec<FileKind> {
        let mut kinds: Vec<FileKind> = self
            .rules
            .iter()
            .flat_map(|rule| rule.kinds.clone())
            .collect();
        kinds.sort_by_key(|kind| kind.as_str());
        kinds.dedup();
        kinds
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
        let hits = self.hits(bytes);
        let mut matches = Vec::new();
        let mut per_rule = vec![0usize; self.rules.len()];
        for (owner, &(rule_index, pattern_index)) in self.owners.iter().enumerate() {
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
            let Some(count) = per_rule.get_mut(rule_index) else {
                continue;
            };
            self.find_each(owner, pattern, bytes, &hits, &mut |start, end| {
                if *count >= max_per_rule {
                    return false;
                }
                if !rule.applies_to_context(context_at(start)) {
                    return true;
                }
                if let Some(exclude) = &rule.exclude
                    && exclude.is_match(line_around(text, start, end).as_bytes())
                {
                    return true;
                }
                *count += 1;
                matches.push(SignatureMatch {
                    rule: rule_index,
                    pattern: pattern_index,
                    start,
                    end,
                });
                true
            });
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

/// The literals every match of `pattern` starts with and those it ends with, lower-cased, each
/// side only when it is a small set of literals of at least 3 bytes; and the longest match.
///
/// The literals come from regex-syntax's extractor. In ASCII mode a leading `(?i)` is removed
/// before extraction and the literals are matched ignoring ASCII case instead, which can only
/// admit more texts than the pattern, never fewer. A pattern that may match in Unicode mode
/// keeps its `(?i)`, because Unicode case folding also matches non-ASCII letters (`K`, the
/// Kelvin sign, for `k`) that ASCII case folding misses.
pub fn gates(pattern: &str) -> Gates {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};

    const MIN_LITERAL_BYTES: usize = 3;
    const MAX_LITERALS: usize = 64;

    let compiled = effective(pattern);
    let parse = |source: &str| {
        regex_syntax::ParserBuilder::new()
            .utf8(false)
            .multi_line(true)
            .nest_limit(64)
            .build()
            .parse(source)
            .ok()
    };
    let Some(exact) = parse(&compiled) else {
        return Gates::default();
    };
    // Only a leading `(?i)` is removed: elsewhere the same text can sit inside a character
    // class, where removing it changes the class.
    let folded = match pattern.strip_prefix("(?i)") {
        Some(rest) if !may_use_unicode(&compiled) && !rest.contains("(?i)") => {
            parse(&effective(rest))
        }
        _ => None,
    };
    let hir = folded.as_ref().unwrap_or(&exact);
    let side = |kind: ExtractKind, hir: &regex_syntax::hir::Hir| -> Option<Vec<Vec<u8>>> {
        let mut extractor = Extractor::new();
        extractor.kind(kind).limit_total(MAX_LITERALS);
        let sequence = extractor.extract(hir);
        let literals = sequence.literals()?;
        if literals.is_empty() || sequence.min_literal_len().unwrap_or(0) < MIN_LITERAL_BYTES {
            return None;
        }
        let mut lowered: Vec<Vec<u8>> = literals
            .iter()
            .map(|literal| literal.as_bytes().to_ascii_lowercase())
            .collect();
        lowered.sort();
        lowered.dedup();
        Some(lowered)
    };
    let starts = side(ExtractKind::Prefix, hir);
    let ends = side(ExtractKind::Suffix, hir);
    // Each match of a concatenation holds a match of every part, which starts with one of that
    // part's prefix literals: the part with the longest shortest literal gives the rarest.
    let inner = match hir.kind() {
        regex_syntax::hir::HirKind::Concat(parts) if starts.is_none() && ends.is_none() => parts
            .iter()
            .filter_map(|part| side(ExtractKind::Prefix, part))
            .max_by_key(|literals| literals.iter().map(Vec::len).min().unwrap_or(0)),
        _ => None,
    };
    Gates {
        starts,
        ends,
        inner,
        max_len: exact.properties().maximum_len(),
    }
}

/// Returns whether any part of a pattern, as [`effective`] returns it, may match in Unicode
/// mode: the pattern does not start by turning Unicode off, or a flag group turns it on again.
/// A flag group enabling verbose mode (`x`) also counts, because there `( ?u)` turns Unicode
/// on without the `(?` this function looks for. Escaped parentheses can make this return
/// true for an ASCII pattern, which only costs the pattern its gate.
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
        enabled.contains('u') || enabled.contains('x')
    })
}

/// The full line (or lines) containing `start..end`. Offsets inside a multi-byte character
/// (an ASCII-mode pattern can match one byte of it) count as that character.
pub fn line_around(text: &str, start: usize, end: usize) -> &str {
    let start = text.floor_char_boundary(start);
    let end = text.ceil_char_boundary(end.max(start));
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
    text.get(text.floor_char_boundary(low)..text.ceil_char_boundary(high))
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
    fn gates_take_both_sides() {
        let found = gates(r"(?i)\b(?:read|get)\b[^\n]{0,40}\b(?:forever|indefinitely)\b");
        assert_eq!(found.starts, Some(vec![b"get".to_vec(), b"read".to_vec()]));
        assert_eq!(
            found.ends,
            Some(vec![b"forever".to_vec(), b"indefinitely".to_vec()])
        );
        assert_eq!(found.max_len, Some(4 + 40 + 12));
        assert_eq!(gates(r"\w+"), Gates::default());
        assert_eq!(gates(r"ab|cd").starts, None);
        assert_eq!(gates(r"(?:^|\s)curl\s+-d").max_len, None);
        let inner = gates(r"(?:>|\btee\s+)[^\n]{0,80}Library/Launch(?:Agents|Daemons)/\S*");
        assert_eq!((&inner.starts, &inner.ends), (&None, &None));
        assert_eq!(inner.inner, Some(vec![b"library/launch".to_vec()]));
    }

    /// True when every side of `found` that is known has a literal in `text`.
    fn gate_open(found: &Gates, text: &str) -> bool {
        let lowered = text.as_bytes().to_ascii_lowercase();
        let any = |side: &Option<Vec<Vec<u8>>>| {
            side.as_ref().is_none_or(|literals| {
                literals.iter().any(|literal| {
                    lowered
                        .windows(literal.len())
                        .any(|window| window == literal)
                })
            })
        };
        any(&found.starts) && any(&found.ends) && any(&found.inner)
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
            // In verbose mode whitespace may sit between `(` and `?u`.
            ("(?x)( ?u)(?i)kkk", kelvin.repeat(3)),
        ];
        for (pattern, text) in cases {
            let compiled = compile(pattern).unwrap_or_else(|error| unreachable!("{error}"));
            assert!(compiled.is_match(text.as_bytes()), "{pattern}");
            let found = gates(pattern);
            assert!(gate_open(&found, &text), "{pattern}: {found:?}");
        }
    }

    #[test]
    fn ascii_patterns_drop_case_flag() {
        assert_eq!(gates("(?i)kkk").starts, Some(vec![b"kkk".to_vec()]));
        assert!(!may_use_unicode("(?-u)(?i)abc(?-u:x)"));
        assert!(may_use_unicode("(?-u)(?iu)abc"));
        assert!(may_use_unicode("abc\\p{L}"));
    }

    /// Anchored searches find the same matches whether they have time for every start
    /// literal, run out of time on the way (then one search covers the rest of the text), or
    /// have none from the start.
    #[test]
    fn anchored_searches_out_of_time_find_the_same() {
        let pattern = r"\bcurl [^\n]*\| *sh";
        let yaml = RULE.replace("'\\beval\\('", &format!("'{pattern}'"));
        let set = one_rule(&yaml).unwrap_or_else(|error| unreachable!("{error}"));
        // Each `curl y` is a start literal whose search reads on to the line's end and fails.
        let text = format!("curl a | sh\n{}\ncurl b | sh\n", "curl y ".repeat(3000));
        let whole: Vec<(usize, usize)> = compile(pattern)
            .unwrap_or_else(|error| unreachable!("{error}"))
            .find_iter(text.as_bytes())
            .map(|found| (found.start(), found.end()))
            .collect();
        assert_eq!(whole.len(), 2, "{whole:?}");
        let plan = set
            .plans
            .first()
            .unwrap_or_else(|| unreachable!("one pattern"));
        for time in [
            Duration::ZERO,
            Duration::from_micros(200),
            Duration::from_secs(60),
        ] {
            let mut hits = set.hits(text.as_bytes());
            hits.anchored_until = Instant::now() + time;
            let compiled = set.rules.first().and_then(|rule| rule.pattern(0));
            let compiled = compiled.unwrap_or_else(|| unreachable!("compiles"));
            let mut found = Vec::new();
            set.find_each(0, compiled, text.as_bytes(), &hits, &mut |start, end| {
                found.push((start, end));
                true
            });
            assert_eq!(found, whole, "anchored searches given {time:?}");
        }
        assert!(plan.starts.is_some());
    }

    /// The gated search returns exactly what a search of the whole text returns, also where
    /// look-around sits at the edge of an anchored search or a window.
    #[test]
    fn gated_matches_equal_whole_text_matches() {
        let cases = [
            // Start literals: word boundaries and line starts just before the literal.
            (
                r"\bcurl\b[^\n]{0,20}\|\s*sh",
                "xcurl a | sh\ncurl b | sh curl c|sh\n",
            ),
            (
                r"^\s*ignore\s+all\b",
                "  ignore all\nno ignore all\nignore allx\nignore all",
            ),
            // Overlapping candidates: the second starts inside the first match.
            (r"abcab[a-z]*", "abcabcabcab abcabx"),
            // Alternation preference at one start.
            (
                r"(?i)password(?:s|\s*=\s*\S+)?",
                "PASSWORD = x passwords password=y",
            ),
            // End literals with a bounded length: windows, merged and not.
            (
                r"(?i)\w{0,10}\s*(?:forever|indefinitely)\b",
                "run forever forever\nretry indefinitely. x",
            ),
            (
                r"[a-z]{2,8}\.onion\b",
                "abc.onion abcdefghij.onion k.onion xy.onionz",
            ),
            // Unbounded with end literals only: the whole text.
            (r"\w+\s*\bsecret\b", "my  secret, a secret"),
            // A literal in the middle only: the whole text, when it occurs.
            (
                r"(?:>|\btee\s+)[^\n]{0,20}Library/Launch\w+",
                "x > ~/Library/LaunchAgents\n",
            ),
            // A case flag inside a character class is a member of the class, not a flag.
            (r"[x(?i)]yzw", "iyzw"),
            // Anchors of the whole text.
            (r"\Ahello\b", "hello hello"),
            (r"world\z", "world world"),
        ];
        for (pattern, text) in cases {
            let yaml = RULE.replace(
                "'\\beval\\('",
                &format!("'{}'", pattern.replace('\'', "''")),
            );
            let set = one_rule(&yaml).unwrap_or_else(|error| unreachable!("{pattern}: {error}"));
            let whole: Vec<(usize, usize)> = compile(pattern)
                .unwrap_or_else(|error| unreachable!("{error}"))
                .find_iter(text.as_bytes())
                .map(|found| (found.start(), found.end()))
                .collect();
            assert!(!whole.is_empty(), "{pattern} finds nothing in {text:?}");
            let gated = set.gated_matches(text.as_bytes());
            assert_eq!(gated, vec![((0, 0), whole)], "{pattern}");
        }
    }

    /// An ASCII-mode pattern can match one byte of a multi-byte character; the exclude
    /// patterns must still see only the lines of the match.
    #[test]
    fn match_inside_character_checks_its_own_line() {
        let yaml = RULE
            .replace("'\\beval\\('", "'(?:^|[^.\\w])eval\\('")
            .replace("['literal']", "['^\\s*#']");
        let set = one_rule(&yaml).unwrap_or_else(|error| unreachable!("{error}"));
        for text in ["#c\n;eval(x)\n", "#c\n\u{e9}eval(x)\n"] {
            let found = set.scan(text, FileKind::Python, &|_| Context::Code, None, 10);
            assert_eq!(found.len(), 1, "{text:?}");
        }
        assert_eq!(line_around("#c\n\u{e9}x\n", 4, 5), "\u{e9}x");
        assert!(same_line("a\u{e9}b\nc", 2, 3));
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
