//! Every bundled rule against its own examples: each `fire` text must produce the rule and each
//! `quiet` text must not. A rule without both kinds of example does not compile at all.

#![allow(clippy::expect_used, clippy::panic, reason = "test harness")]

mod common;

use std::path::Path;

use skill_scanner::analyzers::text::Regions;
use skill_scanner::rules::Engine;
use skill_scanner::rules::signatures::expand_kind;

fn engine() -> Engine {
    Engine::bundled().expect("bundled rules compile")
}

#[test]
fn bundled_rules_compile() {
    let engine = engine();
    assert!(
        engine.signatures.rules.len() >= 50,
        "only {} signature rules",
        engine.signatures.rules.len()
    );
    assert!(!engine.yara.is_empty(), "no YARA rules");
    for rule in &engine.signatures.rules {
        for index in 0..rule.spec.patterns.len() {
            assert!(
                rule.pattern(index).is_some(),
                "{} patterns[{index}] does not compile",
                rule.spec.id
            );
        }
    }
}

#[test]
fn signature_examples_fire_and_stay_quiet() {
    let engine = engine();
    let mut failures = Vec::new();
    for (index, rule) in engine.signatures.rules.iter().enumerate() {
        let spec = &rule.spec;
        let kind = spec
            .file_kinds
            .first()
            .and_then(|name| expand_kind(name))
            .and_then(|kinds| kinds.first().copied())
            .expect("rule has a file kind");
        let fixed_context = spec.contexts.first().copied();
        let fires = |text: &str| {
            let regions = Regions::of(kind, text);
            let context_at =
                |offset: usize| fixed_context.unwrap_or_else(|| regions.context_at(offset));
            engine
                .signatures
                .scan(text, kind, &context_at, None, 100)
                .iter()
                .any(|found| found.rule == index)
        };
        for text in &spec.examples.fire {
            if !fires(text) {
                failures.push(format!("{} does not fire on {text:?}", spec.id));
            }
        }
        for text in &spec.examples.quiet {
            if fires(text) {
                failures.push(format!("{} fires on quiet example {text:?}", spec.id));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn yara_examples_fire_and_stay_quiet() {
    let engine = engine();
    let mut scanner = yara_x::Scanner::new(&engine.yara.rules);
    let mut failures = Vec::new();
    let mut names: Vec<&String> = engine.yara.info.keys().collect();
    names.sort();
    for name in names {
        let info = &engine.yara.info[name];
        if info.test_fire.is_empty() || info.test_quiet.is_empty() {
            failures.push(format!("{name} lacks test_fire or test_quiet meta"));
            continue;
        }
        let mut fires = |text: &[u8]| {
            let results = scanner.scan(text).expect("scan");
            results
                .matching_rules()
                .any(|rule| rule.identifier() == name)
        };
        for text in &info.test_fire {
            if !fires(text) {
                failures.push(format!(
                    "{name} does not fire on {:?}",
                    String::from_utf8_lossy(text)
                ));
            }
        }
        for text in &info.test_quiet {
            if fires(text) {
                failures.push(format!(
                    "{name} fires on quiet example {:?}",
                    String::from_utf8_lossy(text)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn signal_patterns_compile() {
    let signals = skill_scanner::analyzers::correlate::Signals::compile(Engine::signals_source());
    assert!(signals.is_ok(), "{:?}", signals.err());
}

/// Every text file under `dir`, read whole.
fn texts_under(dir: &Path, texts: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable folder")
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            texts_under(&path, texts);
        } else {
            let bytes = std::fs::read(&path).expect("readable file");
            if !bytes.contains(&0) {
                texts.push((path.display().to_string(), bytes));
            }
        }
    }
}

/// The gated search finds exactly the matches a search of the whole text finds. Checked for
/// every bundled pattern over every corpus file and every rule example, also upper-cased and
/// glued to word characters on both sides.
#[test]
fn gated_search_equals_whole_text_search() {
    let engine = engine();
    let mut texts = Vec::new();
    texts_under(&common::shared_dir().join("corpus"), &mut texts);
    assert!(texts.len() > 100, "only {} corpus files", texts.len());
    let mut examples = String::new();
    for rule in &engine.signatures.rules {
        for text in rule
            .spec
            .examples
            .fire
            .iter()
            .chain(&rule.spec.examples.quiet)
        {
            examples.push_str(text);
            examples.push('\n');
            texts.push((
                format!("{} example", rule.spec.id),
                text.clone().into_bytes(),
            ));
            // The same text glued to word characters on both sides, and upper-cased.
            texts.push((
                format!("{} glued", rule.spec.id),
                format!("x{}x", text.to_uppercase()).into_bytes(),
            ));
        }
    }
    texts.push((String::from("all examples"), examples.into_bytes()));

    let mut checked = 0usize;
    let mut failures = Vec::new();
    for (name, text) in &texts {
        for ((rule_index, index), gated) in engine.signatures.gated_matches(text) {
            let rule = &engine.signatures.rules[rule_index];
            let whole: Vec<(usize, usize)> = rule
                .pattern(index)
                .expect("pattern compiles")
                .find_iter(text.as_slice())
                .map(|found| (found.start(), found.end()))
                .collect();
            checked += whole.len();
            if gated != whole {
                failures.push(format!(
                    "{}[{index}] on {name}: gated {gated:?}, whole {whole:?}",
                    rule.spec.id
                ));
            }
        }
    }
    assert!(checked > 1000, "only {checked} matches compared");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
