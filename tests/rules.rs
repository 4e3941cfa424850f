//! Every bundled rule against its own examples: each `fire` text must produce the rule and each
//! `quiet` text must not. A rule without both kinds of example does not compile at all.

#![allow(clippy::expect_used, clippy::panic, reason = "test harness")]

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
