//! Scans in the confined worker: the job protocol between the front end and the fork server,
//! the job handler that runs inside each worker, and the front-end side that submits jobs.
//!
//! Trust boundary: the front end opens the input directory and hands its descriptor to the
//! fork server, which forks a worker confined to reading beneath that directory. The worker's
//! reply is untrusted: it is capped in size by the sandbox client and parsed here against a
//! strict schema. A job that does not end with a valid reply yields a failed result, never a
//! clean one.

use std::io::{Read, Seek};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};
use skill_scanner_sandbox::{
    ClientError, ConfinementReport, ForkServerClient, Job, JobError, JobLimits, JobOutcome,
    JobRequest, OutcomeKind,
};

use crate::intake::zip::ArchiveLimits;
use crate::model::ScanResult;
use crate::policy::Policy;
use crate::rules::Engine;
use crate::scan::{Rules, Scanner};

/// The hidden subcommand that runs the fork server.
pub const FORK_SERVER_COMMAND: &str = "__fork-server";

/// The fork server's flag for [`WorkerSettings::huge_pages`].
pub const HUGE_PAGES_FLAG: &str = "--huge-pages";

/// A job for a worker, sent as JSON within the sandbox's payload limit.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum WorkerJob {
    /// Load and scan the skill in the input directory.
    Scan {
        /// Absolute path of the input directory, which the worker reads beneath.
        path: PathBuf,
        /// The path as the caller wrote it, for the report.
        display_path: String,
        lenient: bool,
        policy: Box<Policy>,
    },
    /// Load and scan several skills below the input directory, one after the other, so they
    /// share the worker's warm caches. `skills` are relative to `root`.
    ScanMany {
        root: PathBuf,
        skills: Vec<PathBuf>,
        lenient: bool,
        policy: Box<Policy>,
    },
    /// Validate and extract the uploaded archive in the input file, then scan the skill in it.
    ScanUpload {
        /// Name of the skill folder when the skill sits at the archive's root, taken from the
        /// upload's file name without its extension.
        fallback_name: String,
        archive_limits: ArchiveLimits,
        policy: Box<Policy>,
    },
    /// Find the skill folders below the input directory.
    Discover {
        path: PathBuf,
        recursive: bool,
        lenient: bool,
    },
}

/// A worker's reply.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum WorkerReply {
    Scanned(Box<ScanResult>),
    /// One result per requested skill, in request order.
    ScannedMany(Vec<ScanResult>),
    /// Skill folders and skipped folders, relative to the input directory.
    Discovered(crate::cli::Discovery),
    /// Rejection of an upload that is not an acceptable archive, with the client-facing reason.
    Rejected(String),
}

/// Runs the fork server until the front end hangs up: compiles the rules once, then serves
/// jobs. Called from the hidden subcommand, before any thread starts.
/// With `huge_pages`, the compiled rules are moved to huge pages before serving (see
/// [`WorkerSettings::huge_pages`]).
pub fn serve_fork_server(custom_rules: Option<&Path>, huge_pages: bool) -> Result<(), String> {
    let engine = Engine::with_custom(custom_rules).map_err(|error| error.to_string())?;
    let rules = Rules::new(engine).map_err(|error| error.to_string())?;
    warm_up(&rules)?;
    if huge_pages {
        skill_scanner_sandbox::heap_to_huge_pages();
    }
    skill_scanner_sandbox::serve(rules, handle_job).map_err(|error| error.to_string())
}

/// Compiles every pattern and lazily built regex, and fills their DFA caches, by scanning a
/// small built-in skill once. Workers inherit the result; without this each worker would
/// compile and warm them again. YARA stays off here: a YARA scan starts a helper thread, and
/// the fork server must stay single-threaded.
fn warm_up(rules: &Rules) -> Result<(), String> {
    rules.engine.signatures.warm_up();
    let mut policy =
        Policy::load(crate::policy::DEFAULT_PRESET).map_err(|error| error.to_string())?;
    policy.analyzers.yara = false;
    let files = vec![
        (
            String::from("SKILL.md"),
            b"---\nname: warm-up\ndescription: Built-in sample.\n---\n# Usage\n\nRun `scripts/run.py` and read [notes](docs/notes.md).\n\n```bash\npip install requests\n```\n<!-- comment -->\n".to_vec(),
        ),
        (
            String::from("scripts/run.py"),
            b"import os, base64\ndef read(name):\n    path = os.path.join('/srv', name)\n    return open(path).read()\nDATA = 'aW1wb3J0IG9zOyBwcmludCgnaGVsbG8gd29ybGQnKQ=='\n".to_vec(),
        ),
        (String::from("scripts/run.sh"), b"#!/bin/sh\necho hello\n".to_vec()),
        (String::from("docs/notes.md"), b"Notes for the reader.\n".to_vec()),
        (String::from("config.json"), b"{\"url\": \"https://example.com\"}\n".to_vec()),
    ];
    let skill = crate::skill::Skill::from_files("warm-up", files, &policy.load_limits());
    let scanner = Scanner::new(rules, policy).map_err(|error| error.to_string())?;
    let mut yara = scanner.yara_scanner();
    let _ = scanner.scan(&skill, &mut yara, Instant::now());
    Ok(())
}

fn job_scanner(rules: &Rules, policy: Policy) -> Result<Scanner<'_>, JobError> {
    Scanner::new(rules, policy).map_err(|error| JobError::new(error.to_string()))
}

/// The job handler, run inside a confined worker.
fn handle_job(rules: &Rules, job: &Job) -> Result<Vec<u8>, JobError> {
    let request: WorkerJob = serde_json::from_slice(job.payload())
        .map_err(|error| JobError::new(format!("invalid job payload: {error}")))?;
    let reply = match request {
        WorkerJob::Scan {
            path,
            display_path,
            lenient,
            policy,
        } => {
            #[cfg(feature = "test-probes")]
            let probe = probe::run_if_requested(job, &path)?;
            let scanner = job_scanner(rules, *policy)?;
            let mut yara = scanner.yara_scanner();
            let mut result = crate::cli::scan_one(&scanner, &mut yara, &path, lenient);
            result.skill_path = display_path;
            #[cfg(feature = "test-probes")]
            probe::report(&mut result, probe);
            WorkerReply::Scanned(Box::new(result))
        }
        WorkerJob::ScanMany {
            root,
            skills,
            lenient,
            policy,
        } => {
            let scanner = job_scanner(rules, *policy)?;
            let mut yara = scanner.yara_scanner();
            let results = skills
                .iter()
                .map(|relative| {
                    crate::cli::scan_one(&scanner, &mut yara, &root.join(relative), lenient)
                })
                .collect();
            WorkerReply::ScannedMany(results)
        }
        WorkerJob::ScanUpload {
            fallback_name,
            archive_limits,
            policy,
        } => {
            let scanner = job_scanner(rules, *policy)?;
            let mut yara = scanner.yara_scanner();
            let mut data = Vec::new();
            // The descriptor may share its offset with the front end's handle: read from the
            // start whatever that offset is.
            job.input_file()
                .and_then(|mut file| {
                    file.seek(std::io::SeekFrom::Start(0))?;
                    file.take(MAX_UPLOAD_READ_BYTES).read_to_end(&mut data)
                })
                .map_err(|error| JobError::new(format!("cannot read the upload: {error}")))?;
            match scan_archive(&scanner, &mut yara, &data, &archive_limits, &fallback_name) {
                Ok(result) => WorkerReply::Scanned(Box::new(result)),
                Err(message) => WorkerReply::Rejected(message),
            }
        }
        WorkerJob::Discover {
            path,
            recursive,
            lenient,
        } => {
            let found = crate::cli::discover(&path, recursive, lenient).map_err(JobError::new)?;
            WorkerReply::Discovered(found.relative_to(&path))
        }
    };
    serde_json::to_vec(&reply)
        .map_err(|error| JobError::new(format!("cannot encode the reply: {error}")))
}

/// Maximum bytes a worker reads from an upload's spool file. The front end's upload limit is
/// lower, so this only guards against a spool file that grew after it was counted.
const MAX_UPLOAD_READ_BYTES: u64 = 1 << 30;

/// Extracts an uploaded archive and scans the skill in it. `Err` is the client-facing reason
/// the archive was refused.
pub fn scan_archive(
    scanner: &Scanner<'_>,
    yara: &mut yara_x::Scanner<'_>,
    data: &[u8],
    limits: &ArchiveLimits,
    fallback_name: &str,
) -> Result<ScanResult, String> {
    let started = Instant::now();
    let uploaded = crate::intake::upload::skill_from_archive(data, limits, fallback_name)
        .map_err(|error| error.to_string())?;
    let skill = crate::skill::Skill::from_files(
        &uploaded.folder_name,
        uploaded.files,
        &scanner.policy.load_limits(),
    );
    Ok(scanner.scan(&skill, yara, started))
}

/// Maximum deadline of a job that scans several skills, because the sandbox accepts at most
/// one hour.
const MAX_BATCH_DEADLINE: Duration = Duration::from_secs(3600);

/// Largest worker reply accepted: a batch of 16 results, each capped at 1000 findings of a
/// few hundred bytes, stays well below it.
const MAX_REPLY_BYTES: u64 = 64 << 20;

/// Front-end settings for jobs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorkerSettings {
    /// Wall-clock time per job before the worker is killed.
    pub deadline: Duration,
    /// Resource limits of each worker.
    pub rlimits: skill_scanner_sandbox::Rlimits,
    /// Moves the fork server's compiled rules to huge pages before it serves. That takes
    /// about 0.2 s once and makes every later fork and worker exit cheaper: measured, about
    /// 20% more uploads per second for the API server. A short CLI run would not earn it back.
    pub huge_pages: bool,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            deadline: JobLimits::default().deadline,
            rlimits: skill_scanner_sandbox::Rlimits::default(),
            huge_pages: false,
        }
    }
}

/// The reason a job produced no usable reply.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{path}: cannot be opened for scanning: {reason}")]
    Open { path: String, reason: String },
    #[error("cannot create the job's scratch directory: {0}")]
    Scratch(std::io::Error),
    #[error("the sandbox failed: {0}")]
    Client(#[from] ClientError),
    #[error("the worker {message}")]
    Outcome {
        /// Why the worker ended: `timed_out`, `out_of_memory`, `crashed`, `denied`, `failed`,
        /// `confinement_failed` or `unknown`.
        reason: &'static str,
        message: String,
    },
    /// The upload is not an acceptable archive.
    #[error("{0}")]
    Rejected(String),
    #[error("the worker's reply is invalid: {0}")]
    Reply(String),
}

/// The front end's handle on the fork server.
pub struct Workers {
    client: ForkServerClient,
    settings: WorkerSettings,
    next_id: AtomicU64,
    /// Private parent of the per-job scratch directories.
    scratch_root: PathBuf,
}

impl Workers {
    /// Starts the fork server by executing `binary` (normally this program itself). Scratch
    /// directories that killed runs left behind are removed first.
    pub fn start(
        binary: &Path,
        custom_rules: Option<&Path>,
        settings: WorkerSettings,
    ) -> Result<Workers, ClientError> {
        let mut arguments = vec![std::ffi::OsString::from(FORK_SERVER_COMMAND)];
        if settings.huge_pages {
            arguments.push(HUGE_PAGES_FLAG.into());
        }
        if let Some(dir) = custom_rules {
            arguments.push("--custom-rules".into());
            arguments.push(dir.as_os_str().to_owned());
        }
        let scratch_root = scratch_root().map_err(|error| ClientError::Io {
            operation: "prepare the scratch directory",
            source: error,
        })?;
        remove_stale_scratch(&scratch_root);
        let client = skill_scanner_sandbox::spawn(binary, &arguments)?;
        Ok(Workers {
            client,
            settings,
            next_id: AtomicU64::new(1),
            scratch_root,
        })
    }

    pub fn confinement(&self) -> ConfinementReport {
        self.client.confinement_report()
    }

    /// Builds the sandbox state that `scan_metadata.sandbox` and the server's `/health` report
    /// for confined scans.
    pub fn sandbox_state(&self) -> serde_json::Value {
        let report = self.confinement();
        serde_json::json!({
            "confined": true,
            "landlock_abi": report.landlock_abi,
            "landlock_filesystem": report.landlock_filesystem,
            "landlock_tcp": report.landlock_tcp,
            "landlock_scopes": report.landlock_scopes,
            "no_new_privs": report.no_new_privs,
            "seccomp": report.seccomp,
            "rlimits": report.rlimits,
        })
    }

    /// Scans the skill folder at `path`, already opened as `input`, in a worker.
    pub fn scan(
        &self,
        input: OwnedFd,
        path: &Path,
        display_path: &str,
        lenient: bool,
        policy: &Policy,
    ) -> Result<ScanResult, WorkerError> {
        let job = WorkerJob::Scan {
            path: path.to_path_buf(),
            display_path: display_path.to_string(),
            lenient,
            policy: Box::new(policy.clone()),
        };
        match self.run(input, &job)? {
            WorkerReply::Scanned(result) => Ok(*result),
            _ => Err(WorkerError::Reply(String::from(
                "a reply of the wrong kind to a scan job",
            ))),
        }
    }

    /// Extracts and scans the uploaded archive in the spool file `input` in a worker.
    pub fn scan_upload(
        &self,
        input: OwnedFd,
        fallback_name: &str,
        archive_limits: &ArchiveLimits,
        policy: &Policy,
    ) -> Result<ScanResult, WorkerError> {
        let job = WorkerJob::ScanUpload {
            fallback_name: fallback_name.to_string(),
            archive_limits: archive_limits.clone(),
            policy: Box::new(policy.clone()),
        };
        match self.run(input, &job)? {
            WorkerReply::Scanned(result) => Ok(*result),
            WorkerReply::Rejected(message) => Err(WorkerError::Rejected(message)),
            _ => Err(WorkerError::Reply(String::from(
                "a reply of the wrong kind to an upload job",
            ))),
        }
    }

    /// Scans several skills below `root` (opened as `input`) in one worker. The deadline grows
    /// with the number of skills. The reply must hold one result per skill.
    pub fn scan_many(
        &self,
        input: OwnedFd,
        root: &Path,
        skills: &[PathBuf],
        lenient: bool,
        policy: &Policy,
    ) -> Result<Vec<ScanResult>, WorkerError> {
        let job = WorkerJob::ScanMany {
            root: root.to_path_buf(),
            skills: skills.to_vec(),
            lenient,
            policy: Box::new(policy.clone()),
        };
        let factor = u32::try_from(skills.len().max(1)).unwrap_or(u32::MAX);
        let deadline = self
            .settings
            .deadline
            .saturating_mul(factor)
            .min(MAX_BATCH_DEADLINE);
        match self.run_with_deadline(input, &job, deadline)? {
            WorkerReply::ScannedMany(results) if results.len() == skills.len() => Ok(results),
            WorkerReply::ScannedMany(results) => Err(WorkerError::Reply(format!(
                "{} results for {} skills",
                results.len(),
                skills.len()
            ))),
            _ => Err(WorkerError::Reply(String::from(
                "a reply of the wrong kind to a batch job",
            ))),
        }
    }

    /// Finds skill folders below `root` (opened as `input`) in a worker; returns paths
    /// relative to the root.
    pub fn discover(
        &self,
        input: OwnedFd,
        root: &Path,
        recursive: bool,
        lenient: bool,
    ) -> Result<crate::cli::Discovery, WorkerError> {
        let job = WorkerJob::Discover {
            path: root.to_path_buf(),
            recursive,
            lenient,
        };
        match self.run(input, &job)? {
            WorkerReply::Discovered(discovery) => {
                // The reply is untrusted: accept only plain relative paths below the root. The
                // root itself comes back as the empty path.
                let plain = |path: &Path| {
                    path.components()
                        .all(|part| matches!(part, std::path::Component::Normal(_)))
                };
                let paths = discovery
                    .skills
                    .iter()
                    .chain(discovery.skipped.iter().map(|(path, _)| path));
                for path in paths {
                    if !plain(path) {
                        return Err(WorkerError::Reply(String::from(
                            "a discovered path leaves the root",
                        )));
                    }
                }
                Ok(discovery)
            }
            _ => Err(WorkerError::Reply(String::from(
                "a reply of the wrong kind to a discovery job",
            ))),
        }
    }

    fn run(&self, input: OwnedFd, job: &WorkerJob) -> Result<WorkerReply, WorkerError> {
        self.run_with_deadline(input, job, self.settings.deadline)
    }

    fn run_with_deadline(
        &self,
        input: OwnedFd,
        job: &WorkerJob,
        deadline: Duration,
    ) -> Result<WorkerReply, WorkerError> {
        let scratch = tempfile::Builder::new()
            .prefix(&format!("job-{}-", std::process::id()))
            .tempdir_in(&self.scratch_root)
            .map_err(WorkerError::Scratch)?;
        let scratch_fd = open(
            scratch.path(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|error| WorkerError::Scratch(error.into()))?;
        let payload =
            serde_json::to_vec(job).map_err(|error| WorkerError::Reply(error.to_string()))?;
        let request = JobRequest {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            input: input.as_fd(),
            scratch: scratch_fd.as_fd(),
            payload: &payload,
            limits: JobLimits {
                deadline,
                max_reply_bytes: MAX_REPLY_BYTES,
                rlimits: self.settings.rlimits,
            },
        };
        let started = Instant::now();
        let outcome = match self.client.run(&request) {
            // A fork server that died is replaced once, and the job submitted again.
            // Another thread may have replaced it already; either way the retry uses the new one.
            Err(ClientError::ServerGone) => {
                self.client.restart()?;
                self.client.run(&request)?
            }
            other => other?,
        };
        reply_of(outcome, started)
    }
}

/// The per-user parent of job scratch directories: `$TMPDIR/skill-scanner-UID`, mode 0700.
/// An existing directory is used only when it is a real directory owned by this user and
/// closed to others, so nobody else can plant files or links in a job's scratch space.
fn scratch_root() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};

    let uid = nix::unistd::getuid().as_raw();
    let root = std::env::temp_dir().join(format!("skill-scanner-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&root) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error),
    }
    let metadata = std::fs::symlink_metadata(&root)?;
    if !metadata.is_dir() || metadata.uid() != uid || metadata.mode() & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is not a private directory of this user; remove it and retry",
            root.display()
        )));
    }
    Ok(root)
}

/// Removes scratch directories of runs whose process no longer exists: a run that was killed
/// could not remove its own.
fn remove_stale_scratch(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("job-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn outcome_error(reason: &'static str, message: String) -> WorkerError {
    WorkerError::Outcome { reason, message }
}

/// Turns a job outcome into the parsed reply, or an error that names what went wrong.
fn reply_of(outcome: JobOutcome, started: Instant) -> Result<WorkerReply, WorkerError> {
    let describe = |what: &str| {
        let detail = outcome
            .stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("");
        let detail: String = detail.chars().take(300).collect();
        if detail.is_empty() {
            what.to_string()
        } else {
            format!("{what}: {detail}")
        }
    };
    match outcome.kind {
        OutcomeKind::Ok => {}
        OutcomeKind::TimedOut => {
            return Err(outcome_error(
                "timed_out",
                format!("timed out after {:.1} s", started.elapsed().as_secs_f64()),
            ));
        }
        OutcomeKind::OutOfMemory => {
            return Err(outcome_error(
                "out_of_memory",
                String::from("ran out of memory"),
            ));
        }
        OutcomeKind::Crashed => return Err(outcome_error("crashed", describe("crashed"))),
        OutcomeKind::Denied => {
            return Err(outcome_error(
                "denied",
                String::from("was stopped by the sandbox (a system call outside the allowlist)"),
            ));
        }
        OutcomeKind::Failed => return Err(outcome_error("failed", describe("failed"))),
        OutcomeKind::ConfinementFailed => {
            return Err(outcome_error(
                "confinement_failed",
                describe("could not confine itself"),
            ));
        }
        _ => {
            return Err(outcome_error(
                "unknown",
                String::from("ended in an unknown state"),
            ));
        }
    }
    let reply = outcome
        .reply
        .ok_or_else(|| WorkerError::Reply(String::from("no reply")))?;
    serde_json::from_slice(&reply).map_err(|error| WorkerError::Reply(error.to_string()))
}

/// Opens a directory to hand to a worker without following a symlink at its last component.
pub fn open_directory(path: &Path) -> Result<OwnedFd, WorkerError> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    open(path, flags, Mode::empty()).map_err(|error| WorkerError::Open {
        path: path.display().to_string(),
        reason: error.desc().to_string(),
    })
}

/// Opens `relative` beneath the directory `root` without following any symlink, so a path
/// that climbs out with `..` or through a link is refused by the kernel.
pub fn open_beneath(root: &impl AsFd, relative: &Path) -> Result<OwnedFd, WorkerError> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    openat2(root.as_fd(), relative, how).map_err(|error| WorkerError::Open {
        path: relative.display().to_string(),
        reason: error.desc().to_string(),
    })
}

/// The escape-probe hook of the tests: compiled in only with the `test-probes` feature.
#[cfg(feature = "test-probes")]
mod probe {
    use std::path::Path;

    use skill_scanner_sandbox::probes::{self, ProbeState};
    use skill_scanner_sandbox::{Job, JobError};

    use crate::model::{Category, Finding, ScanResult, Severity};

    /// Runs the probe named in the skill's `PROBE` file, if it has one, inside this worker.
    pub fn run_if_requested(job: &Job, skill: &Path) -> Result<Option<String>, JobError> {
        let Ok(request) = std::fs::read_to_string(skill.join("PROBE")) else {
            return Ok(None);
        };
        let state = ProbeState::new().map_err(|error| JobError::new(error.to_string()))?;
        probes::run(&state, job, request.trim_end()).map(Some)
    }

    /// Adds the probe's reply to the result as an INFO finding, for the test to read.
    pub fn report(result: &mut ScanResult, reply: Option<String>) {
        let Some(reply) = reply else {
            return;
        };
        result.findings.push(Finding {
            id: String::from("TEST_PROBE_0000000000"),
            rule_id: String::from("TEST_PROBE"),
            category: Category::PolicyViolation,
            severity: Severity::Info,
            title: String::from("Escape probe result"),
            description: reply,
            file_path: Some(String::from("PROBE")),
            line_number: None,
            snippet: None,
            remediation: None,
            analyzer: String::from("probe"),
            metadata: serde_json::Map::new(),
        });
        result.finalize();
    }
}
