//! Scan backends: confined workers forked by the fork server or, only when the operator
//! explicitly allows it, the server process itself. Every method blocks, so handlers call them
//! from `spawn_blocking` after taking a request or batch permit.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cli::Discovery;
use crate::intake::zip::ArchiveLimits;
use crate::model::ScanResult;
use crate::policy::Policy;
use crate::rules::Engine;
use crate::scan::{Rules, Scanner};
use crate::worker::{WorkerError, WorkerSettings, Workers};

/// The processes, or the in-process rules, that run the scans.
enum Runner {
    Confined(Workers),
    Unconfined(Box<Rules>),
}

/// A set of compiled rules and the processes that scan with them.
pub struct Backend {
    runner: Runner,
    /// Sandbox state reported in `scan_metadata.sandbox` and by `/health`.
    pub sandbox: serde_json::Value,
}

impl Backend {
    /// Starts the fork server for the bundled rules plus `custom_rules`. When confinement is
    /// unavailable and `allow_unconfined` is set, compiles the rules in this process instead.
    pub fn start(
        binary: &Path,
        custom_rules: Option<&Path>,
        settings: WorkerSettings,
        allow_unconfined: bool,
    ) -> Result<Backend, String> {
        match Workers::start(binary, custom_rules, settings) {
            Ok(workers) => {
                let sandbox = workers.sandbox_state();
                Ok(Backend {
                    runner: Runner::Confined(workers),
                    sandbox,
                })
            }
            Err(error) if allow_unconfined => {
                let engine =
                    Engine::with_custom(custom_rules).map_err(|error| error.to_string())?;
                let rules = Rules::new(engine).map_err(|error| error.to_string())?;
                let reason = format!(
                    "confinement unavailable ({error}); serving unconfined because allow_unconfined is set"
                );
                tracing::warn!(%reason, "scans run in the server process without a sandbox");
                Ok(Backend {
                    runner: Runner::Unconfined(Box::new(rules)),
                    sandbox: serde_json::json!({ "confined": false, "reason": reason }),
                })
            }
            Err(error) => Err(format!(
                "the sandbox is unavailable: {error}. The server needs Linux with Landlock (kernel 6.2 or later, enabled in the `lsm=` boot parameter) and seccomp. Fix the kernel, or start with --allow-unconfined to scan without confinement, for development only"
            )),
        }
    }

    /// Returns whether scans run in confined workers.
    pub fn is_confined(&self) -> bool {
        matches!(self.runner, Runner::Confined(_))
    }

    /// Builds an in-process scanner for the unconfined mode.
    fn scanner<'r>(rules: &'r Rules, policy: &Policy) -> Result<Scanner<'r>, WorkerError> {
        Scanner::new(rules, policy.clone()).map_err(|error| WorkerError::Outcome {
            reason: "failed",
            message: error.to_string(),
        })
    }

    /// Scans the skill folder opened as `input` at `path`. `display` becomes the result's
    /// `skill_path`.
    ///
    /// NOTE: the unconfined mode scans `path`, not `input`, so it follows a symlink swapped in
    /// after the path was checked.
    pub fn scan_dir(
        &self,
        input: OwnedFd,
        path: &Path,
        display: &str,
        policy: &Policy,
    ) -> Result<ScanResult, WorkerError> {
        let mut result = match &self.runner {
            Runner::Confined(workers) => workers.scan(input, path, display, false, policy)?,
            Runner::Unconfined(rules) => {
                let scanner = Self::scanner(rules, policy)?;
                let mut yara = scanner.yara_scanner();
                let mut result = crate::cli::scan_one(&scanner, &mut yara, path, false);
                result.skill_path = display.to_string();
                result
            }
        };
        result.scan_metadata.sandbox = Some(self.sandbox.clone());
        Ok(result)
    }

    /// Extracts and scans the uploaded archive in `spool`.
    pub fn scan_upload(
        &self,
        spool: File,
        fallback_name: &str,
        limits: &ArchiveLimits,
        policy: &Policy,
    ) -> Result<ScanResult, WorkerError> {
        let mut result = match &self.runner {
            Runner::Confined(workers) => {
                workers.scan_upload(OwnedFd::from(spool), fallback_name, limits, policy)?
            }
            Runner::Unconfined(rules) => {
                let scanner = Self::scanner(rules, policy)?;
                let mut yara = scanner.yara_scanner();
                let mut data = Vec::new();
                spool
                    .take(limits.max_total_uncompressed_bytes.max(1 << 30))
                    .read_to_end(&mut data)
                    .map_err(|error| WorkerError::Outcome {
                        reason: "failed",
                        message: format!("cannot read the upload: {error}"),
                    })?;
                crate::worker::scan_archive(&scanner, &mut yara, &data, limits, fallback_name)
                    .map_err(WorkerError::Rejected)?
            }
        };
        result.scan_metadata.sandbox = Some(self.sandbox.clone());
        Ok(result)
    }

    /// Finds the skill folders below the directory opened as `input` at `path`.
    pub fn discover(
        &self,
        input: OwnedFd,
        path: &Path,
        recursive: bool,
    ) -> Result<Discovery, WorkerError> {
        match &self.runner {
            Runner::Confined(workers) => workers.discover(input, path, recursive, false),
            Runner::Unconfined(_) => {
                let found = crate::cli::discover(path, recursive, false).map_err(|message| {
                    WorkerError::Outcome {
                        reason: "failed",
                        message,
                    }
                })?;
                Ok(found.relative_to(path))
            }
        }
    }

    /// Scans the skills `relative` below the directory opened as `root_fd` at `path`, with up
    /// to `jobs` workers at once.
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors cli::scan_skills, which the confined path calls"
    )]
    pub fn scan_many(
        &self,
        display_root: &Path,
        path: &Path,
        root_fd: &OwnedFd,
        relative: &[PathBuf],
        policy: &Policy,
        jobs: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Vec<ScanResult> {
        let mut results = match &self.runner {
            Runner::Confined(workers) => crate::cli::scan_skills(
                workers,
                display_root,
                path,
                root_fd,
                relative,
                policy,
                false,
                jobs,
                progress,
            ),
            Runner::Unconfined(rules) => {
                let started = Instant::now();
                match Self::scanner(rules, policy) {
                    Ok(scanner) => {
                        let mut yara = scanner.yara_scanner();
                        relative
                            .iter()
                            .map(|skill| {
                                let mut result = crate::cli::scan_one(
                                    &scanner,
                                    &mut yara,
                                    &path.join(skill),
                                    false,
                                );
                                result.skill_path = display_root.join(skill).display().to_string();
                                progress(1);
                                result
                            })
                            .collect()
                    }
                    Err(error) => relative
                        .iter()
                        .map(|skill| {
                            crate::cli::failed_result(
                                policy,
                                &display_root.join(skill),
                                &error.to_string(),
                                started,
                            )
                        })
                        .collect(),
                }
            }
        };
        for result in &mut results {
            result.scan_metadata.sandbox = Some(self.sandbox.clone());
        }
        results
    }
}
