//! Shared test helpers: build skill folders on disk and scan them with the real engine, write
//! ZIP archives with chosen defects ([`hostile_zip`]), and build the hostile uploads of the
//! adversarial suite with their expected responses ([`hostile_skills`]).

#![allow(
    dead_code,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers; not every test uses every helper"
)]

pub mod hostile_skills;
pub mod hostile_zip;
pub mod server;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use skill_scanner::model::{Finding, ScanResult, Severity};
use skill_scanner::policy::Policy;
use skill_scanner::rules::Engine;
use skill_scanner::scan::{Rules, Scanner};

/// A skill folder in a temporary directory, removed when dropped.
pub struct SkillDir {
    pub root: tempfile::TempDir,
}

impl SkillDir {
    pub fn new() -> SkillDir {
        SkillDir {
            root: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// A skill with valid frontmatter and the given instruction body.
    pub fn with_manifest(body: &str) -> SkillDir {
        let dir = SkillDir::new();
        dir.write(
            "SKILL.md",
            &format!("---\nname: test-skill\ndescription: A skill built by a test.\n---\n{body}"),
        );
        dir
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    pub fn write(&self, relative: &str, content: &str) -> PathBuf {
        self.write_bytes(relative, content.as_bytes())
    }

    pub fn write_bytes(&self, relative: &str, content: &[u8]) -> PathBuf {
        let path = self.root.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent folders");
        }
        std::fs::write(&path, content).expect("write test file");
        path
    }
}

/// The bundled rules, compiled once per test binary.
pub fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules::new(Engine::bundled().expect("bundled rules")).expect("signals"))
}

/// The bundled rules under the default policy.
pub fn default_scanner() -> &'static Scanner<'static> {
    static SCANNER: OnceLock<Scanner<'static>> = OnceLock::new();
    SCANNER.get_or_init(|| scanner_with(Policy::load("balanced").expect("balanced policy")))
}

pub fn scanner_with(policy: Policy) -> Scanner<'static> {
    Scanner::new(rules(), policy).expect("scanner")
}

/// Loads and scans a folder as the CLI does.
pub fn scan_with(scanner: &Scanner<'_>, path: &Path, lenient: bool) -> ScanResult {
    let mut yara = scanner.yara_scanner();
    skill_scanner::cli::scan_one(scanner, &mut yara, path, lenient)
}

pub fn scan(path: &Path) -> ScanResult {
    scan_with(default_scanner(), path, false)
}

pub fn rule_ids(result: &ScanResult) -> Vec<&str> {
    result
        .findings
        .iter()
        .map(|finding| finding.rule_id.as_str())
        .collect()
}

pub fn find<'a>(result: &'a ScanResult, rule_id: &str) -> Option<&'a Finding> {
    result
        .findings
        .iter()
        .find(|finding| finding.rule_id == rule_id)
}

pub fn max_severity_of(result: &ScanResult) -> Option<Severity> {
    result.findings.iter().map(|finding| finding.severity).max()
}

/// `../shared` beside the checkout: the corpus and the reference server's samples.
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// Returns the reference server's recorded response (`status` and `body`) to the bad request
/// `name`.
pub fn reference_case(name: &str) -> serde_json::Value {
    let path = shared_dir().join("spec/reference-samples/error_cases.json");
    let text = std::fs::read_to_string(&path).expect("the reference error cases");
    let cases: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    cases.get(name).cloned().expect("a recorded case")
}

/// Asserts that `status`, and with `same_message` the `detail` message, match the reference
/// server's response to the bad request `case`.
pub fn assert_matches_reference(
    case: &str,
    status: u16,
    body: &serde_json::Value,
    same_message: bool,
) {
    let reference = reference_case(case);
    let expected_status = reference
        .get("status")
        .and_then(serde_json::Value::as_u64)
        .expect("a recorded status");
    assert_eq!(u64::from(status), expected_status, "{case}: {body}");
    if same_message {
        let expected = reference.get("body").and_then(|body| body.get("detail"));
        assert_eq!(body.get("detail"), expected, "{case}");
    }
}

/// The shared corpus beside the checkout, if present.
pub fn corpus() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if path.is_dir() {
        Some(path)
    } else {
        eprintln!("skipped: ../shared/corpus is not present beside the checkout");
        None
    }
}

pub fn elapsed_ms(started: Instant) -> u128 {
    started.elapsed().as_millis()
}
