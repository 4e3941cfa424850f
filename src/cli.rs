//! The `skill-scanner` command line: `scan` and `scan-all`, report formats and exit codes.
//!
//! Exit status: 0 when no finding reaches `--fail-on-severity`, 1 when one does or a skill
//! could not be scanned completely, 2 for a usage or configuration error.

use std::io::{IsTerminal, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::analyzers::structure;
use crate::model::{BatchReport, MaxSeverity, ScanMetadata, ScanResult, Severity, now_rfc3339};
use crate::policy::{DEFAULT_PRESET, Policy};
use crate::report::{self, Format, Report};
use crate::rules::Engine;
use crate::scan::{Rules, Scanner};
use crate::skill;
use crate::worker::{WorkerError, WorkerSettings, Workers, open_beneath, open_directory};

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
    /// Scan one skill: a folder with SKILL.md, or a ZIP archive of one.
    Scan {
        /// The skill folder or ZIP file.
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
    /// Runs the fork server that forks confined workers; started by the scanner itself.
    #[command(name = "__fork-server", hide = true)]
    ForkServer {
        #[arg(long, value_name = "DIR")]
        custom_rules: Option<PathBuf>,
        #[arg(long)]
        huge_pages: bool,
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
    /// Skills scanned at once by scan-all (default: one per core).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Wall-clock limit for scanning one skill in its worker, in seconds; the worker is killed
    /// past it and the skill is reported as not scanned. Not applied with --unconfined.
    #[arg(long, value_name = "SECONDS", default_value_t = 90.0, value_parser = parse_timeout, allow_negative_numbers = true)]
    pub timeout: f64,
    /// Scan in this process without the Landlock and seccomp sandbox. Only for trusted skills
    /// on a host without Landlock; the report records that the scan ran unconfined.
    #[arg(long)]
    pub unconfined: bool,
}

fn parse_timeout(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 3600.0 => Ok(seconds),
        _ => Err(format!(
            "invalid timeout `{text}`; expected seconds greater than 0 and at most 3600"
        )),
    }
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
    let (options, root, batch, recursive) = match &cli.command {
        Command::Scan { path, options } => (options, path.clone(), false, false),
        Command::ScanAll {
            path,
            recursive,
            options,
        } => (options, path.clone(), true, *recursive),
        Command::ForkServer {
            custom_rules,
            huge_pages,
        } => {
            crate::worker::serve_fork_server(custom_rules.as_deref(), *huge_pages)?;
            return Ok(true);
        }
    };
    let archive = !batch && std::fs::metadata(&root).is_ok_and(|metadata| metadata.is_file());
    if !archive {
        check_scan_target(&root)?;
    }

    let policy = Policy::load(&options.policy).map_err(|error| error.to_string())?;
    let jobs = options
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .clamp(1, 64);

    let results = if archive {
        vec![scan_archive_file(options, &policy, &root)?]
    } else if options.unconfined {
        let engine = Engine::with_custom(options.custom_rules.as_deref())
            .map_err(|error| error.to_string())?;
        let rules = Rules::new(engine).map_err(|error| error.to_string())?;
        let scanner = Scanner::new(&rules, policy).map_err(|error| error.to_string())?;
        let discovery = if batch {
            discover(&root, recursive, options.lenient)?
        } else {
            Discovery {
                skills: vec![root.clone()],
                skipped: Vec::new(),
            }
        };
        let targets = discovery.skills;
        let bar = progress_bar(batch, targets.len());
        let mut results = parallel(targets.len(), jobs, bar.as_ref(), |index| {
            let mut yara = scanner.yara_scanner();
            let result = targets
                .get(index)
                .map(|target| scan_one(&scanner, &mut yara, target, options.lenient));
            (result, 1)
        })
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
        for (path, reason) in &discovery.skipped {
            results.push(failed_result(&scanner.policy, path, reason, Instant::now()));
        }
        for result in &mut results {
            result.scan_metadata.sandbox = Some(serde_json::json!({
                "confined": false,
                "reason": "--unconfined was given"
            }));
        }
        results
    } else {
        // A custom pack is compiled once here too, so a broken one is reported as a usage error
        // naming the rule rather than as a fork server that failed to start.
        if let Some(dir) = &options.custom_rules {
            Engine::with_custom(Some(dir)).map_err(|error| error.to_string())?;
        }
        confined_scan(options, &policy, &root, batch, recursive, jobs)?
    };
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
            "{}: not a directory; skill-scanner scans skill folders (unpack an archive first)",
            path.display()
        )),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("{}: not found", path.display()))
        }
        Err(error) => Err(format!("{}: cannot be read: {error}", path.display())),
    }
}

/// A progress bar on standard error when it is a terminal and `wanted`.
fn progress_bar(wanted: bool, total: usize) -> Option<indicatif::ProgressBar> {
    (wanted && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} skills {elapsed}")
        {
            bar.set_style(style);
        }
        bar
    })
}

/// Runs `work` for indexes `0..count` on `jobs` threads and returns the outputs in index
/// order. `work` returns its output and how many skills it covered, for the progress bar.
fn parallel<T, F>(
    count: usize,
    jobs: usize,
    bar: Option<&indicatif::ProgressBar>,
    work: F,
) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> (T, usize) + Sync,
{
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<T>>> = Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(count).max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let (output, covered) = work(index);
                    if let Ok(mut slots) = slots.lock()
                        && let Some(slot) = slots.get_mut(index)
                    {
                        *slot = Some(output);
                    }
                    if let Some(bar) = bar {
                        bar.inc(covered as u64);
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

/// Largest archive file `scan` reads; the archive limits then bound what it expands to.
const MAX_ARCHIVE_FILE_BYTES: u64 = 1 << 30;

/// Scans a skill shipped as a ZIP file through the same intake as the server's uploads: the
/// archive is validated and extracted in a confined worker. An archive the intake refuses
/// yields a failed result that names the defect.
fn scan_archive_file(
    options: &ScanOptions,
    policy: &Policy,
    path: &Path,
) -> Result<ScanResult, String> {
    use sha2::Digest;
    use std::io::Read;

    let started = Instant::now();
    let mut file = std::fs::File::open(path)
        .map_err(|error| format!("{}: cannot be read: {error}", path.display()))?;
    let size = file
        .metadata()
        .map_err(|error| format!("{}: cannot be read: {error}", path.display()))?
        .len();
    if size > MAX_ARCHIVE_FILE_BYTES {
        return Err(format!(
            "{}: {size} bytes is over the archive limit of {MAX_ARCHIVE_FILE_BYTES} bytes",
            path.display()
        ));
    }
    let mut data = Vec::new();
    (&mut file)
        .take(MAX_ARCHIVE_FILE_BYTES)
        .read_to_end(&mut data)
        .map_err(|error| format!("{}: cannot be read: {error}", path.display()))?;
    let sha256 = hex::encode(sha2::Sha256::digest(&data));
    let stem = path.file_stem().map_or_else(
        || String::from("skill"),
        |stem| stem.to_string_lossy().into_owned(),
    );
    let limits = crate::intake::zip::ArchiveLimits::default();

    let (outcome, sandbox) = if options.unconfined {
        let engine = Engine::with_custom(options.custom_rules.as_deref())
            .map_err(|error| error.to_string())?;
        let rules = Rules::new(engine).map_err(|error| error.to_string())?;
        let scanner = Scanner::new(&rules, policy.clone()).map_err(|error| error.to_string())?;
        let mut yara = scanner.yara_scanner();
        let outcome = crate::worker::scan_archive(&scanner, &mut yara, &data, &limits, &stem)
            .map_err(WorkerError::Rejected);
        let sandbox = serde_json::json!({"confined": false, "reason": "--unconfined was given"});
        (outcome, sandbox)
    } else {
        drop(data);
        let workers = start_workers(options)?;
        let sandbox = workers.sandbox_state();
        let outcome = workers.scan_upload(std::os::fd::OwnedFd::from(file), &stem, &limits, policy);
        (outcome, sandbox)
    };
    let mut result = match outcome {
        Ok(mut result) => {
            result.skill_path = path.display().to_string();
            result
        }
        Err(WorkerError::Rejected(reason)) => failed_result(
            policy,
            path,
            &format!("the archive was refused: {reason}"),
            started,
        ),
        Err(error) => failed_result(policy, path, &error.to_string(), started),
    };
    result.scan_metadata.upload_sha256 = Some(sha256);
    result.scan_metadata.sandbox = Some(sandbox);
    Ok(result)
}

/// Starts the fork server for the CLI's options.
fn start_workers(options: &ScanOptions) -> Result<Workers, String> {
    let binary = std::env::current_exe().map_err(|error| {
        format!("cannot find this program's path to start the sandbox: {error}")
    })?;
    let settings = WorkerSettings {
        deadline: Duration::from_secs_f64(options.timeout),
        ..WorkerSettings::default()
    };
    Workers::start(&binary, options.custom_rules.as_deref(), settings).map_err(|error| {
        format!(
            "the sandbox is unavailable: {error}\nHint: the scanner needs Linux with Landlock (ABI 3, kernel 6.2 or later) and seccomp; pass --unconfined to scan without confinement, only for trusted skills"
        )
    })
}

/// Scans in confined workers: discovery and every skill run in a worker forked by the fork
/// server, which this process starts by executing itself.
fn confined_scan(
    options: &ScanOptions,
    policy: &Policy,
    root: &Path,
    batch: bool,
    recursive: bool,
    jobs: usize,
) -> Result<Vec<ScanResult>, String> {
    let workers = start_workers(options)?;
    let sandbox = workers.sandbox_state();

    let canonical_root = root
        .canonicalize()
        .map_err(|error| format!("{}: cannot be read: {error}", root.display()))?;
    let discovery = if batch {
        let input = open_directory(&canonical_root).map_err(|error| error.to_string())?;
        workers
            .discover(input, &canonical_root, recursive, options.lenient)
            .map_err(|error| format!("{}: discovery failed: {error}", root.display()))?
    } else {
        Discovery {
            skills: vec![PathBuf::new()],
            skipped: Vec::new(),
        }
    };
    let bar = progress_bar(batch, discovery.skills.len());
    let progress = |done: usize| {
        if let Some(bar) = &bar {
            bar.inc(done as u64);
        }
    };
    let root_fd = open_directory(&canonical_root).map_err(|error| error.to_string())?;
    let mut results = scan_skills(
        &workers,
        root,
        &canonical_root,
        &root_fd,
        &discovery.skills,
        policy,
        options.lenient,
        jobs,
        &progress,
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    for (path, reason) in &discovery.skipped {
        results.push(failed_result(
            policy,
            &root.join(path),
            reason,
            Instant::now(),
        ));
    }
    for result in &mut results {
        result.scan_metadata.sandbox = Some(sandbox.clone());
    }
    Ok(results)
}

/// Scans the skill folders `relative` in workers, with up to `jobs` at once. The paths are
/// relative to `canonical_root`, which is opened as `root_fd`, and the empty path is the root
/// itself. Results name paths below `root` as the caller wrote it. `progress` is called with
/// the number of skills each finished step covered.
#[allow(
    clippy::too_many_arguments,
    reason = "the CLI and the server's batch jobs pass the same eight settings"
)]
pub fn scan_skills(
    workers: &Workers,
    root: &Path,
    canonical_root: &Path,
    root_fd: &OwnedFd,
    relative: &[PathBuf],
    policy: &Policy,
    lenient: bool,
    jobs: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<ScanResult> {
    let batch = !(relative.len() == 1 && relative.iter().all(|path| path.as_os_str().is_empty()));
    let reopen_root = || {
        root_fd.try_clone().map_err(|error| WorkerError::Open {
            path: root.display().to_string(),
            reason: error.to_string(),
        })
    };
    let scan_single = |relative: &PathBuf| -> ScanResult {
        let display = if relative.as_os_str().is_empty() {
            root.to_path_buf()
        } else {
            root.join(relative)
        };
        let opened = if relative.as_os_str().is_empty() {
            reopen_root()
        } else {
            open_beneath(root_fd, relative)
        };
        let outcome = opened.and_then(|input| {
            workers.scan(
                input,
                &canonical_root.join(relative),
                &display.display().to_string(),
                lenient,
                policy,
            )
        });
        outcome.unwrap_or_else(|error| {
            failed_result(policy, &display, &error.to_string(), Instant::now())
        })
    };

    // A batch goes to workers in chunks, so a worker's caches stay warm across the skills of
    // its chunk; isolation from the host is the same. When a chunk fails, each of its skills is
    // scanned again alone, so one hostile skill cannot make its neighbours fail.
    let chunk_size = relative
        .len()
        .div_ceil(jobs * 4)
        .clamp(1, MAX_SKILLS_PER_WORKER);
    let chunks: Vec<Vec<PathBuf>> = relative
        .chunks(chunk_size)
        .map(<[PathBuf]>::to_vec)
        .collect();
    let per_chunk = parallel(chunks.len(), jobs, None, |index| {
        let Some(chunk) = chunks.get(index) else {
            return (Vec::new(), 0);
        };
        if !batch {
            progress(chunk.len());
            return (chunk.iter().map(scan_single).collect(), chunk.len());
        }
        let attempt = reopen_root()
            .and_then(|input| workers.scan_many(input, canonical_root, chunk, lenient, policy));
        let results = match attempt {
            Ok(mut results) => {
                for (result, relative) in results.iter_mut().zip(chunk) {
                    // The worker's reply is untrusted: the path comes from the request.
                    result.skill_path = root.join(relative).display().to_string();
                }
                results
            }
            Err(_) => chunk.iter().map(scan_single).collect(),
        };
        progress(chunk.len());
        (results, chunk.len())
    });
    per_chunk.into_iter().flatten().collect()
}

/// Loads and scans one skill; a skill that cannot be loaded yields a failed result, never a
/// clean one.
pub fn scan_one(
    scanner: &Scanner<'_>,
    yara: &mut yara_x::Scanner<'_>,
    path: &Path,
    lenient: bool,
) -> ScanResult {
    let started = Instant::now();
    match skill::load_dir(path, &scanner.policy.load_limits(), lenient) {
        Ok(skill) => scanner.scan(&skill, yara, started),
        Err(error) => failed_result(&scanner.policy, path, &error.to_string(), started),
    }
}

pub fn failed_result(policy: &Policy, path: &Path, reason: &str, started: Instant) -> ScanResult {
    let name = path.file_name().map_or_else(
        || String::from("skill"),
        |name| name.to_string_lossy().into_owned(),
    );
    let mut finding = structure::unanalyzed(
        "SKILL.md",
        reason,
        policy.findings.unanalyzed_severity.max(Severity::High),
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
            rules_version: String::new(),
            policy_name: policy.name.clone(),
            policy_preset_base: policy.preset_base().to_string(),
            ..ScanMetadata::default()
        },
    };
    result.finalize();
    result
}

/// Skills one worker scans in a row during `scan-all`.
const MAX_SKILLS_PER_WORKER: usize = 16;

/// Deepest folder level `scan-all --recursive` descends to.
const MAX_DISCOVERY_DEPTH: usize = 16;

/// The result of batch discovery: skill folders, and folders it could not or would not enter,
/// with the reason. The skipped ones are reported as not scanned, so nothing is left out
/// silently.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    pub skills: Vec<PathBuf>,
    pub skipped: Vec<(PathBuf, String)>,
}

impl Discovery {
    /// Returns the same discovery with paths relative to `root`. Paths outside it are dropped.
    pub fn relative_to(&self, root: &Path) -> Discovery {
        let relative = |absolute: &Path| absolute.strip_prefix(root).ok().map(Path::to_path_buf);
        Discovery {
            skills: self
                .skills
                .iter()
                .filter_map(|skill| relative(skill))
                .collect(),
            skipped: self
                .skipped
                .iter()
                .filter_map(|(skipped, reason)| {
                    relative(skipped).map(|path| (path, reason.clone()))
                })
                .collect(),
        }
    }
}

/// Finds skill folders under `root`: folders with SKILL.md (any letter case, so a misnamed
/// manifest is reported rather than missed) or, when lenient, with top-level Markdown. The
/// root itself counts. Never follows symlinks; a symlinked folder is recorded as skipped.
pub fn discover(root: &Path, recursive: bool, lenient: bool) -> Result<Discovery, String> {
    check_scan_target(root)?;
    let mut discovery = Discovery::default();
    if is_skill_dir(root, lenient && !recursive) {
        discovery.skills.push(root.to_path_buf());
        if !recursive {
            return Ok(discovery);
        }
    }
    walk_for_skills(root, 0, recursive, lenient, &mut discovery);
    discovery.skills.sort();
    discovery.skills.dedup();
    Ok(discovery)
}

fn walk_for_skills(
    dir: &Path,
    depth: usize,
    recursive: bool,
    lenient: bool,
    discovery: &mut Discovery,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            let reason = format!("folder cannot be read: {}", error.kind());
            discovery.skipped.push((dir.to_path_buf(), reason));
            return;
        }
    };
    let mut children: Vec<PathBuf> = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            children.push(entry.path());
        } else if kind.is_symlink() && entry.path().is_dir() {
            let reason = String::from("symlinked folder was not followed");
            discovery.skipped.push((entry.path(), reason));
        }
    }
    children.sort();
    for child in children {
        if is_skill_dir(&child, lenient) {
            discovery.skills.push(child);
        } else if recursive {
            if depth + 1 < MAX_DISCOVERY_DEPTH {
                walk_for_skills(&child, depth + 1, recursive, lenient, discovery);
            } else if std::fs::read_dir(&child).is_ok_and(|mut entries| entries.next().is_some()) {
                let reason = format!(
                    "folder is deeper than the discovery limit of {MAX_DISCOVERY_DEPTH} levels"
                );
                discovery.skipped.push((child, reason));
            }
        }
    }
}

fn is_skill_dir(dir: &Path, lenient: bool) -> bool {
    let has_manifest = std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .eq_ignore_ascii_case("skill.md")
        })
    });
    if has_manifest {
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
