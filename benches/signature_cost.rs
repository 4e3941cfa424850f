//! Where signature matching spends its time. First the gated scan the analyzer runs, over every
//! text file of the corpus: once with the lazy-DFA caches a worker inherits, once more with the
//! caches that pass filled. Then every pattern of the bundled rules alone over the whole texts,
//! slowest first, each with how the gated scan searches it.
//!
//! `cargo bench --bench signature_cost` (release). `BENCH_CORPUS` picks the folder of skills
//! (default `../shared/corpus`), `BENCH_TOP` how many patterns to list (default 25).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use skill_scanner::analyzers::text::Regions;
use skill_scanner::rules::Engine;
use skill_scanner::rules::signatures::gates;
use skill_scanner::skill::kind::detect;

struct TextFile {
    path: String,
    kind: skill_scanner::skill::FileKind,
    text: String,
}

fn text_files(root: &Path) -> Vec<TextFile> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let name = path.display().to_string();
            let kind = detect(&name, &bytes).kind;
            if !kind.is_text() {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            files.push(TextFile {
                path: name,
                kind,
                text,
            });
        }
    }
    files
}

fn main() {
    let corpus = std::env::var("BENCH_CORPUS").unwrap_or_else(|_| String::from("../shared/corpus"));
    let top: usize = std::env::var("BENCH_TOP")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(25);
    let engine = match Engine::bundled() {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("rules do not compile: {error}");
            std::process::exit(1);
        }
    };
    engine.signatures.warm_up();
    let files = text_files(Path::new(&corpus));
    let bytes: usize = files.iter().map(|file| file.text.len()).sum();
    println!(
        "{} text files, {} bytes, under {corpus}",
        files.len(),
        bytes
    );

    // The scan as the analyzer runs it, twice: the first pass also fills lazy-DFA caches.
    for round in ["cold", "warm"] {
        let started = Instant::now();
        let mut slowest: Vec<(Duration, &str)> = Vec::new();
        for file in &files {
            let one = Instant::now();
            let regions = Regions::of(file.kind, &file.text);
            let _ = engine.signatures.scan(
                &file.text,
                file.kind,
                &|offset| regions.context_at(offset),
                regions.uniform(),
                50,
            );
            slowest.push((one.elapsed(), &file.path));
        }
        let total = started.elapsed();
        slowest.sort_by_key(|slow| std::cmp::Reverse(slow.0));
        println!(
            "gated scan ({round}): {:.1} ms, {:.1} MB/s",
            total.as_secs_f64() * 1e3,
            bytes as f64 / total.as_secs_f64() / 1e6
        );
        if round == "warm" {
            for (time, path) in slowest.iter().take(5) {
                println!("  {:>8.2} ms  {path}", time.as_secs_f64() * 1e3);
            }
        }
    }

    // Every pattern alone over every file of its kinds, without gates.
    let mut costs: Vec<(Duration, usize, String)> = Vec::new();
    let mut plans: std::collections::BTreeMap<&str, usize> = Default::default();
    for rule in &engine.signatures.rules {
        for index in 0..rule.spec.patterns.len() {
            let Some(pattern) = rule.pattern(index) else {
                continue;
            };
            let started = Instant::now();
            let mut found = 0;
            for file in files.iter().filter(|file| rule.kinds.contains(&file.kind)) {
                found += pattern.find_iter(file.text.as_bytes()).count();
            }
            let plan = search_plan(rule.pattern_source(index));
            *plans.entry(plan).or_default() += 1;
            let name = format!("{}[{index}] ({plan})", rule.spec.id);
            costs.push((started.elapsed(), found, name));
        }
    }
    println!("patterns by how the gated scan searches them: {plans:?}");
    costs.sort_by_key(|cost| std::cmp::Reverse(cost.0));
    let all: Duration = costs.iter().map(|cost| cost.0).sum();
    println!(
        "{} patterns alone, ungated: {:.1} ms in all; slowest:",
        costs.len(),
        all.as_secs_f64() * 1e3
    );
    for (time, found, name) in costs.iter().take(top) {
        println!(
            "  {:>8.2} ms  {found:>5} matches  {name}",
            time.as_secs_f64() * 1e3
        );
    }
}

/// Names how [`skill_scanner::rules::SignatureSet::scan`] searches a pattern, by its gates.
fn search_plan(pattern: &str) -> &'static str {
    let found = gates(pattern);
    match (&found.starts, &found.ends, found.max_len, &found.inner) {
        (Some(_), _, _, _) => "anchored at start literals",
        (None, Some(_), Some(_), _) => "windows before end literals",
        (None, Some(_), None, _) => "whole text, end literals required",
        (None, None, _, Some(_)) => "whole text, inner literals required",
        (None, None, _, None) => "whole text, ungated",
    }
}
