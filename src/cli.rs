//! The `skill-scanner` command line: `scan` and `scan-all`, report formats and exit codes.
//!
//! Exit status: 0 when no finding reaches `--fail-on-severity`, 1 when one does or a skill
//! could not be scanned completely, 2 for a usage or configuration error.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use crate::analyzers::structure;
use crate::model::{BatchReport, MaxSeverity, ScanMetadata, ScanResult, Severity, now_rfc3339};
use crate::policy::{DEFAULT_PRESET, Policy};
use crate::report::{self, Format, Report};
use crate::rules::Engine;
use crate::scan::Scanner;
use crate::skill::{self, LoadError};

#[derive(Debug, Parser)]
#[command(
    name = "skill-scanner",
    version,
    about = "Scan AI agent skills for prompt injection, exfiltration, malware and supply-chain tricks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan one skill folder (a folder with SKILL.md).
    Scan {
        /// The skill folder.
        path: PathBuf,
        #[command(flatten)]
        options: ScanOptions,
    },
    /// Scan every skill folder inside a directory.
    ScanAll {
        /// The directory whose sub-folders are skills.
        path: PathBuf,
        /// Also look for skills in nested folders, at any depth up to 16 levels.
        #[arg(long)]
        recursive: bool,
        #[command(flatten)]
        options: ScanOptions,
    },
}

#[derive(Debug, Args)]
pub struct ScanOptions {
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Policy preset (strict, balanced, permissive, low-noise, quiet) or a .yaml policy file.
    #[arg(long, default_value = DEFAULT_PRESET)]
    pub policy: String,
    /// Directory of extra rules (.yaml signatures and .yar YARA rules) added to the bundled ones.
    #[arg(long, value_name = "DIR")]
    pub custom_rules: Option<PathBuf>,
    /// Exit with status 1 when a finding reaches this severity (critical, high, medium, low, info).
    #[arg(long, value_name = "SEVERITY", default_value = "high", value_parser = parse_severity)]
    pub fail_on_severity: Severity,
    /// Also scan folders without SKILL.md, taking their top-level Markdown files as the instructions.
    #[arg(long)]
    pub lenient: bool,
    /// Worker threads for scan-all (default: one per core).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| {
        format!("invalid severity `{text}`; expected one of critical, high, medium, low, info")
    })
}

/// Runs the CLI and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match execute(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Returns `Ok(true)` when the verdict passes, `Ok(false)` when it fails, `Err` for a usage or
/// configuration error.
fn execute(cli: Cli) -> Result<bool, String> {
    let (options, targets, batch) = match &cli.command {
        Command::Scan { path, options } => (options, vec![path.clone()], false),
        Command::ScanAll {
            path,
            recursive,
            options,
        } => {
            let found = discover(path, *recursive, options.lenient)?;
            (options, found, true)
        }
    };
    if let Command::Scan { path, .. } = &cli.command {
        check_scan_target(path)?;
    }

    let policy = Policy::load(&options.policy).map_err(|error| error.to_string())?;
    let engine =
        Engine::with_custom(options.custom_rules.as_deref()).map_err(|error| error.to_string())?;
    let scanner = Scanner::new(engine, policy).map_err(|error| error.to_string())?;

    let jobs = options
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .clamp(1, 64);
    let results = scan_many(&scanner, &targets, options.lenient, jobs, batch);

    let threshold = options.fail_on_severity;
    let passed = results.iter().all(|result| {
        let complete = !result.findings.iter().any(|finding| {
            finding.rule_id == "UNANALYZED_CONTENT" || finding.rule_id == "SCAN_FAILED"
        });
        complete
            && result
                .findings
                .iter()
                .all(|finding| finding.severity < threshold)
    });

    let text = if batch {
        let report = BatchReport::new(results);
        report::render(options.format, Report::Batch(&report))
    } else {
        match results.first() {
            Some(result) => report::render(options.format, Report::Single(result)),
            None => return Err(String::from("nothing was scanned")),
        }
    }
    .map_err(|error| error.to_string())?;

    match &options.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|error| format!("cannot write the report to {}: {error}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|error| format!("cannot write the report: {error}"))?;
        }
    }
    Ok(passed)
}

fn check_scan_target(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{}: not a directory; the CLI scans skill folders (ZIP archives are scanned through the upload intake)",
            path.display()
        )),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("{}: not found", path.display()))
        }
        Err(error) => Err(format!("{}: cannot be read: {error}", path.display())),
    }
}

/// Scans the targets on `jobs` threads, each with its own YARA scanner; results keep the
/// order of `targets`.
fn scan_many(
    scanner: &Scanner,
    targets: &[PathBuf],
    lenient: bool,
    jobs: usize,
    progress: bool,
) -> Vec<ScanResult> {
    let bar = (progress && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(targets.len() as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} skills {elapsed}")
        {
            bar.set_style(style);
        }
        bar
    });
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<ScanResult>>> = Mutex::new(vec![None; targets.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(targets.len()).max(1) {
            scope.spawn(|| {
                let mut yara = scanner.yara_scanner();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(target) = targets.get(index) else {
                        break;
                    };
                    let result = scan_one(scanner, &mut yara, target, lenient);
                    if let Ok(mut slots) = slots.lock()
                        && let Some(slot) = slots.get_mut(index)
                    {
                        *slot = Some(result);
                    }
                    if let Some(bar) = &bar {
                        bar.inc(1);
                    }
                }
            });
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    slots
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// Loads and scans one skill; a skill that cannot be loaded yields a failed result, never a
/// clean one.
pub fn scan_one(
    scanner: &Scanner,
    yara: &mut yara_x::Scanner<'_>,
    path: &Path,
    lenient: bool,
) -> ScanResult {
    let started = Instant::now();
    match skill::load_dir(path, &scanner.policy.load_limits(), lenient) {
        Ok(skill) => scanner.scan(&skill, yara, started),
        Err(error) => failed_result(scanner, path, &error, started),
    }
}

fn failed_result(
    scanner: &Scanner,
    path: &Path,
    error: &LoadError,
    started: Instant,
) -> ScanResult {
    let name = path.file_name().map_or_else(
        || String::from("skill"),
        |name| name.to_string_lossy().into_owned(),
    );
    let mut finding = structure::unanalyzed(
        "SKILL.md",
        &error.to_string(),
        scanner
            .policy
            .findings
            .unanalyzed_severity
            .max(Severity::High),
    )
    .finding;
    finding.rule_id = String::from("SCAN_FAILED");
    finding.id =
        crate::model::finding_id("SCAN_FAILED", Some(&name), crate::model::Span::default());
    finding.title = String::from("Skill could not be scanned");
    let elapsed = started.elapsed();
    let mut result = ScanResult {
        skill_name: name,
        skill_path: path.display().to_string(),
        is_safe: false,
        max_severity: MaxSeverity::Safe,
        findings_count: 0,
        findings: vec![finding],
        scan_duration_seconds: elapsed.as_secs_f64(),
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        analyzers_used: Vec::new(),
        analyzers_failed: Vec::new(),
        timestamp: now_rfc3339(),
        scan_metadata: ScanMetadata {
            scanner_version: String::from(env!("CARGO_PKG_VERSION")),
            rules_version: scanner.engine.rules_version.clone(),
            policy_name: scanner.policy.name.clone(),
            policy_preset_base: scanner.policy.preset_base().to_string(),
            ..ScanMetadata::default()
        },
    };
    result.finalize();
    result
}

/// Deepest folder level `scan-all --recursive` descends to.
const MAX_DISCOVERY_DEPTH: usize = 16;

/// Finds skill folders under `root`: folders with SKILL.md (or, when lenient, with top-level
/// Markdown). Never follows symlinks; does not descend into a skill once found.
pub fn discover(root: &Path, recursive: bool, lenient: bool) -> Result<Vec<PathBuf>, String> {
    check_scan_target(root)?;
    let mut found = Vec::new();
    if is_skill_dir(root, lenient && !recursive) && !recursive {
        found.push(root.to_path_buf());
        return Ok(found);
    }
    walk_for_skills(root, 0, recursive, lenient, &mut found);
    found.sort();
    Ok(found)
}

fn walk_for_skills(
    dir: &Path,
    depth: usize,
    recursive: bool,
    lenient: bool,
    found: &mut Vec<PathBuf>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect();
    children.sort();
    for child in children {
        if is_skill_dir(&child, lenient) {
            found.push(child);
        } else if recursive && depth + 1 < MAX_DISCOVERY_DEPTH {
            walk_for_skills(&child, depth + 1, recursive, lenient, found);
        }
    }
}

fn is_skill_dir(dir: &Path, lenient: bool) -> bool {
    let manifest = dir.join("SKILL.md");
    if std::fs::symlink_metadata(&manifest).is_ok_and(|metadata| metadata.is_file()) {
        return true;
    }
    lenient
        && std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|entry| {
                entry.file_type().is_ok_and(|kind| kind.is_file())
                    && entry
                        .path()
                        .extension()
                        .is_some_and(|extension| extension == "md")
            })
        })
}
