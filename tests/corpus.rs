//! Detection quality on the shared corpus, scored by `../shared/score_report.py` exactly as the
//! issue measures it. Skipped, with a message, when the corpus is not beside the checkout.

#![allow(clippy::expect_used, clippy::panic, reason = "test harness")]

mod common;

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_skill-scanner");

/// Parses `SCORE recall=R false_positive_rate=F category_recall=C`.
fn score_line(output: &str) -> (f64, f64) {
    let line = output
        .lines()
        .find(|line| line.starts_with("SCORE"))
        .expect("score line");
    let value = |key: &str| -> f64 {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(&format!("{key}=")))
            .and_then(|number| number.parse().ok())
            .expect("score value")
    };
    (value("recall"), value("false_positive_rate"))
}

#[test]
fn corpus_recall_and_false_positives() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let out = tempfile::tempdir().expect("temporary directory");
    let report = out.path().join("report.json");
    let status = Command::new(BIN)
        .args([
            "scan-all",
            corpus.to_str().expect("utf-8"),
            "--recursive",
            "--format",
            "json",
            "--output",
        ])
        .arg(&report)
        .status()
        .expect("run scanner");
    assert!(
        status.code() == Some(0) || status.code() == Some(1),
        "scan-all failed: {status}"
    );

    let script = corpus.join("../score_report.py");
    let scored = Command::new("python3")
        .arg(&script)
        .arg(&report)
        .arg(corpus.join("benign"))
        .arg(corpus.join("labeled"))
        .output()
        .expect("python3 runs score_report.py");
    let text = String::from_utf8_lossy(&scored.stdout);
    println!("{text}");
    let (recall, false_positive_rate) = score_line(&text);
    assert!(recall >= 0.90, "recall {recall} below 0.90:\n{text}");
    assert!(
        false_positive_rate <= 0.10,
        "false-positive rate {false_positive_rate} above 0.10:\n{text}"
    );
}

#[test]
fn benign_corpus_fully_analyzed() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    for entry in std::fs::read_dir(corpus.join("benign")).expect("benign folder") {
        let path = entry.expect("entry").path();
        let result = common::scan(&path);
        assert!(
            result
                .findings
                .iter()
                .all(|finding| finding.rule_id != "UNANALYZED_CONTENT"),
            "{}: {:?}",
            path.display(),
            common::rule_ids(&result)
        );
        assert_eq!(
            result.scan_metadata.analyzability,
            1.0,
            "{}",
            path.display()
        );
    }
}
