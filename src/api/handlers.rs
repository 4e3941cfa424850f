//! The endpoints other than the upload: service information, path scans and batch jobs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::backend::Backend;
use super::error::{ApiError, sanitize_message};
use super::jobs::{JobRecord, Status, StoredBatch, now_naive};
use super::paths::Opened;
use super::request::{BatchScanRequest, Bounds, ScanOptions, ScanRequest, Source, json_object};
use super::{AppState, VERSION};
use crate::model::{BatchReport, Finding, ScanResult};
use crate::policy::{Policy, PolicyError};
use crate::worker::WorkerError;

/// Maximum size of a policy file, in bytes.
const MAX_POLICY_FILE_BYTES: u64 = 1024 * 1024;

/// Analyzers this server can run, by the names `/health` and `analyzers_used` use.
pub const AVAILABLE_ANALYZERS: &[&str] = &["static_analyzer"];

/// Response of `/scan` and `/scan-upload`: the verdict on one skill, in the reference's
/// `ScanResponse` shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanResponse {
    pub scan_id: String,
    pub skill_name: String,
    pub is_safe: bool,
    #[schema(value_type = String, example = "CRITICAL")]
    pub max_severity: crate::model::MaxSeverity,
    pub findings_count: usize,
    pub scan_duration_seconds: f64,
    pub timestamp: String,
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<Finding>,
    #[schema(value_type = Object)]
    pub scan_metadata: crate::model::ScanMetadata,
    #[schema(value_type = Option<Object>)]
    pub llm_usage: Option<Value>,
    pub analyzers_used: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub analyzers_failed: Vec<crate::model::AnalyzerFailure>,
}

impl ScanResponse {
    /// Wraps a scan result with a new `scan_id`.
    pub fn from_result(result: ScanResult) -> ScanResponse {
        ScanResponse {
            scan_id: uuid::Uuid::new_v4().to_string(),
            skill_name: result.skill_name,
            is_safe: result.is_safe,
            max_severity: result.max_severity,
            findings_count: result.findings_count,
            scan_duration_seconds: result.scan_duration_seconds,
            timestamp: result.timestamp,
            findings: result.findings,
            scan_metadata: result.scan_metadata,
            llm_usage: None,
            analyzers_used: result.analyzers_used,
            analyzers_failed: result.analyzers_failed,
        }
    }
}

#[utoipa::path(get, path = "/", responses((status = 200, description = "Service name, version and links")))]
pub async fn root() -> Json<Value> {
    Json(json!({
        "service": "Skill Scanner API",
        "version": VERSION,
        "docs": "/docs",
        "health": "/health",
    }))
}

#[utoipa::path(get, path = "/health", responses((status = 200, description = "Status, analyzers, sandbox state and worker outcome counts")))]
pub async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "status": "healthy",
        "version": VERSION,
        "analyzers_available": AVAILABLE_ANALYZERS,
        "sandbox": state.sandbox_state(),
        "worker_outcomes": state.outcome_counts(),
        "workers": {
            "request_workers": state.config().workers,
            "free": state.request_permits.available_permits(),
            "waiting": state.waiting.load(std::sync::atomic::Ordering::Relaxed),
        },
    }))
}

#[utoipa::path(get, path = "/analyzers", responses((status = 200, description = "Every analyzer and whether this server can run it")))]
pub async fn analyzers(State(state): State<Arc<AppState>>) -> Json<Value> {
    let rules_count = state
        .backend_for(None)
        .map(|_| "bundled YAML signatures and YARA-X rules")
        .unwrap_or("unavailable");
    let planned = |name: &str, description: &str| {
        json!({
            "name": name,
            "description": description,
            "available": false,
            "reason": "not part of this version",
        })
    };
    Json(json!({
        "analyzers": [
            {
                "name": "static_analyzer",
                "description": "Signatures, YARA-X rules, hidden-text and encoded-payload checks, manifest and inventory checks",
                "available": true,
                "rules_count": rules_count,
            },
            planned("bytecode_analyzer", "Python bytecode checked against its source"),
            planned("pipeline_analyzer", "Taint analysis of shell command pipelines"),
            planned("behavioral_analyzer", "Dataflow analysis of the skill's code"),
            planned("llm_analyzer", "Semantic review by a language model"),
            planned("virustotal_analyzer", "File hashes looked up on VirusTotal"),
            planned("aidefense_analyzer", "Cisco AI Defense inspection"),
            planned("trigger_analyzer", "Specificity of the skill's trigger description"),
            planned("meta_analyzer", "Second-pass review of the findings by a language model"),
        ]
    }))
}

/// Returns the reference's 404 for an unknown path.
pub async fn not_found() -> ApiError {
    ApiError::NotFound(String::from("Not Found"))
}

/// Returns the reference's 405 for a known path with another method.
pub async fn method_not_allowed() -> (axum::http::StatusCode, Json<Value>) {
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({ "detail": "Method Not Allowed" })),
    )
}

/// Returns the bounds of numeric options in the current configuration.
pub(super) fn bounds(state: &AppState) -> Bounds {
    Bounds {
        max_consensus_runs: state.config().max_llm_consensus_runs,
        max_tokens: state.config().max_llm_tokens,
    }
}

/// Rejects a request for an analyzer that this server cannot run, and names the analyzer. A
/// silent skip would let the caller believe that the skill passed a check that never ran.
pub fn check_analyzers(options: &ScanOptions, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(mode) = options.cel_mode.as_deref()
        && mode != "off"
    {
        return Err(ApiError::BadRequest(format!(
            "cel_mode '{mode}' is not supported because this server has no CEL rule gates. Send 'off' or leave it out."
        )));
    }
    let key_given = |header: &str, body: &Option<String>| {
        headers.contains_key(header) || body.as_deref().is_some_and(|key| !key.is_empty())
    };
    let analyzers = [
        (
            options.use_behavioral,
            "use_behavioral",
            "the behavioral analyzer",
        ),
        (options.use_llm, "use_llm", "the LLM analyzer"),
        (options.use_trigger, "use_trigger", "the trigger analyzer"),
        (options.use_osv, "use_osv", "the OSV analyzer"),
        (options.enable_meta, "enable_meta", "the meta-analyzer"),
        (
            options.use_virustotal,
            "use_virustotal",
            "the VirusTotal analyzer",
        ),
        (
            options.use_aidefense,
            "use_aidefense",
            "the AI Defense analyzer",
        ),
    ];
    for (enabled, field, name) in analyzers {
        if !enabled {
            continue;
        }
        let mut message = format!(
            "{field}: {name} is not available on this server because it is not part of this version."
        );
        let needs_key = match field {
            "use_virustotal" => !key_given("x-virustotal-key", &options.vt_api_key),
            "use_aidefense" => !key_given("x-aidefense-key", &options.aidefense_api_key),
            _ => false,
        };
        if needs_key {
            message.push_str(" It would also need an API key.");
        }
        message.push_str(&format!(" Leave {field} out or set it to false."));
        return Err(ApiError::BadRequest(message));
    }
    Ok(())
}

/// Loads the requested policy: a preset by name, or a YAML file beneath an allowed root.
pub fn load_policy(state: &AppState, requested: Option<&str>) -> Result<Policy, ApiError> {
    let name = requested.unwrap_or(crate::policy::DEFAULT_PRESET);
    if crate::policy::PRESETS
        .iter()
        .any(|(preset, _)| *preset == name)
    {
        return Policy::load(name).map_err(|error| ApiError::Internal(error.to_string()));
    }
    let is_file = name.ends_with(".yaml") || name.ends_with(".yml");
    if !is_file {
        return Err(ApiError::BadRequest(format!(
            "Unknown policy '{}'. Use a preset name or a path to a YAML file.",
            sanitize_message(name, 200)
        )));
    }
    let bytes = state
        .roots()
        .read_file("policy", name, MAX_POLICY_FILE_BYTES)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ApiError::BadRequest(String::from("policy file is not UTF-8 text")))?;
    Policy::from_custom_yaml(&text).map_err(|error| match error {
        PolicyError::Invalid(message) => ApiError::BadRequest(format!(
            "Invalid policy file: {}",
            sanitize_message(&message, 500)
        )),
        other => ApiError::BadRequest(sanitize_message(&other.to_string(), 500)),
    })
}

/// Resolves `custom_rules` to a folder beneath an allowed root.
pub(super) fn custom_rules_dir(
    state: &AppState,
    requested: Option<&str>,
) -> Result<Option<PathBuf>, ApiError> {
    let Some(value) = requested else {
        return Ok(None);
    };
    let opened = state.roots().open("custom_rules", value)?;
    if !opened.is_dir {
        return Err(ApiError::BadRequest(String::from(
            "custom_rules must be a directory",
        )));
    }
    Ok(Some(opened.path))
}

/// Turns a worker's outcome on one skill into the response. A rejected upload is a 400. A
/// worker that died or timed out on the content yields a result with a SCAN_FAILED finding,
/// never a clean verdict. A sandbox that cannot run jobs is a 503.
pub fn scan_outcome(
    outcome: Result<ScanResult, WorkerError>,
    policy: &Policy,
    display: &Path,
) -> Result<ScanResult, ApiError> {
    match outcome {
        Ok(result) => Ok(result),
        Err(WorkerError::Rejected(message)) => {
            Err(ApiError::BadRequest(sanitize_message(&message, 500)))
        }
        Err(error @ WorkerError::Outcome { .. }) | Err(error @ WorkerError::Reply(_)) => {
            let skill = display.display();
            tracing::warn!(%error, %skill, "a scan did not complete");
            let message = client_message(&error);
            let mut result =
                crate::cli::failed_result(policy, display, &message, std::time::Instant::now());
            result.analyzers_failed.push(crate::model::AnalyzerFailure {
                analyzer: String::from("static_analyzer"),
                error: message,
            });
            Ok(result)
        }
        Err(WorkerError::Client(error)) => {
            tracing::error!(%error, "the sandbox could not run a job");
            Err(ApiError::Unavailable(String::from(
                "The scan sandbox is unavailable. Retry later.",
            )))
        }
        Err(error) => Err(ApiError::Internal(error.to_string())),
    }
}

/// Returns the text a client sees for a worker that ended without a result. A crashed or
/// failed worker's message ends with its last line of stderr, and a parse error quotes the
/// reply, so both may contain server paths. They get a fixed sentence and stay in the log.
fn client_message(error: &WorkerError) -> String {
    let fixed = match error {
        WorkerError::Outcome { reason, .. } => match *reason {
            // worker.rs builds these messages from fixed text and the elapsed time only.
            "timed_out" | "out_of_memory" | "denied" | "unknown" => {
                return sanitize_message(&error.to_string(), 500);
            }
            "crashed" => "the worker crashed",
            "confinement_failed" => "the worker could not confine itself",
            _ => "the worker failed",
        },
        WorkerError::Reply(_) => "the worker's reply is invalid",
        _ => "the worker failed",
    };
    String::from(fixed)
}

#[utoipa::path(
    post, path = "/scan",
    request_body(content = ScanRequest, description = "The skill folder and scan options"),
    params(
        ("X-VirusTotal-Key" = Option<String>, Header, description = "VirusTotal key, used only when the server allows request keys"),
        ("X-AIDefense-Key" = Option<String>, Header, description = "AI Defense key, used only when the server allows request keys"),
    ),
    responses(
        (status = 200, body = ScanResponse),
        (status = 400, description = "Invalid value, no SKILL.md, unknown policy, unavailable analyzer"),
        (status = 404, description = "Path missing or outside the allowed roots"),
        (status = 422, description = "Malformed JSON, missing, mistyped, unknown or out-of-range field"),
        (status = 503, description = "No worker free within the queue timeout, or sandbox unavailable"),
    )
)]
pub async fn scan(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ScanResponse>, ApiError> {
    let object = json_object(&body)?;
    let request = ScanRequest::parse(&object, Source::Json, bounds(&state))?;
    let opened = state
        .roots()
        .open("skill_directory", &request.skill_directory)?;
    if !opened.is_dir {
        return Err(ApiError::BadRequest(String::from(
            "skill_directory must be a directory",
        )));
    }
    if !has_manifest(&opened.fd) {
        return Err(ApiError::BadRequest(String::from(
            "SKILL.md not found in directory",
        )));
    }
    let policy = load_policy(&state, request.options.policy.as_deref())?;
    let custom = custom_rules_dir(&state, request.options.custom_rules.as_deref())?;
    check_analyzers(&request.options, &headers)?;

    let display = request.skill_directory.clone();
    let (outcome, policy) = run_on_worker(&state, custom, policy, move |backend, policy| {
        backend.scan_dir(opened.fd, &opened.path, &display, policy)
    })
    .await?;
    let result = scan_outcome(outcome, &policy, Path::new(&request.skill_directory))?;
    Ok(Json(ScanResponse::from_result(result)))
}

/// Runs `job` with the backend for `custom_rules` once a request worker is free. The job runs
/// on a blocking thread and releases the worker as soon as it ends. `policy` is lent to the
/// job and returned with its outcome.
pub(super) async fn run_on_worker<J>(
    state: &Arc<AppState>,
    custom_rules: Option<PathBuf>,
    policy: Policy,
    job: J,
) -> Result<(Result<ScanResult, WorkerError>, Policy), ApiError>
where
    J: FnOnce(&Backend, &Policy) -> Result<ScanResult, WorkerError> + Send + 'static,
{
    let backend = {
        let state = Arc::clone(state);
        tokio::task::spawn_blocking(move || state.backend_for(custom_rules.as_deref()))
            .await
            .map_err(|error| ApiError::Internal(error.to_string()))??
    };
    let permit = state.request_permit().await?;
    let worker_state = Arc::clone(state);
    tokio::task::spawn_blocking(move || {
        let outcome = job(&backend, &policy);
        worker_state.count_outcome(&outcome);
        drop(permit);
        (outcome, policy)
    })
    .await
    .map_err(|error| ApiError::Internal(error.to_string()))
}

/// Returns whether the directory contains `SKILL.md` as a regular file, not a symlink.
fn has_manifest(dir: &std::os::fd::OwnedFd) -> bool {
    use nix::fcntl::AtFlags;
    nix::sys::stat::fstatat(dir, "SKILL.md", AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|stat| stat.st_mode & libc_mode::S_IFMT == libc_mode::S_IFREG)
}

/// File type bits of `st_mode`, as in `<sys/stat.h>`.
mod libc_mode {
    pub const S_IFMT: u32 = 0o170_000;
    pub const S_IFREG: u32 = 0o100_000;
}

#[utoipa::path(
    post, path = "/scan-batch",
    request_body(content = BatchScanRequest, description = "The folder of skills and scan options"),
    responses(
        (status = 200, description = "Job accepted: `{scan_id, status: processing, message}`"),
        (status = 400, description = "Invalid value or unavailable analyzer"),
        (status = 404, description = "Path missing or outside the allowed roots"),
        (status = 422, description = "Invalid request body"),
    )
)]
pub async fn scan_batch(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let object = json_object(&body)?;
    let request = BatchScanRequest::parse(&object, bounds(&state))?;
    let opened = state
        .roots()
        .open("skills_directory", &request.skills_directory)?;
    if !opened.is_dir {
        return Err(ApiError::BadRequest(String::from(
            "skills_directory must be a directory",
        )));
    }
    // Checked now so that a bad path gets its 404 instead of a job that fails. The job checks
    // it again because the folder may change before the job runs.
    custom_rules_dir(&state, request.options.custom_rules.as_deref())?;
    check_analyzers(&request.options, &headers)?;
    if request.check_overlap {
        return Err(ApiError::BadRequest(String::from(
            "check_overlap: cross-skill overlap analysis is not available on this server because it is not part of this version. Leave check_overlap out or set it to false.",
        )));
    }

    let scan_id = uuid::Uuid::new_v4().to_string();
    let record = JobRecord {
        scan_id: scan_id.clone(),
        status: Status::Processing,
        request: StoredBatch {
            skills_directory: request.skills_directory.clone(),
            recursive: request.recursive,
            check_overlap: request.check_overlap,
            policy: request.options.policy.clone(),
            custom_rules: request.options.custom_rules.clone(),
        },
        started_at: now_naive(),
        completed_at: None,
        result: None,
        error: None,
    };
    state
        .store
        .insert(record.clone())
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    tokio::spawn(run_batch(Arc::clone(&state), record));

    Ok(Json(json!({
        "scan_id": scan_id,
        "status": "processing",
        "message": "Batch scan started. Use GET /scan-batch/{scan_id} to check status.",
    })))
}

/// Runs one batch job to its end and records the result or the error.
async fn run_batch(state: Arc<AppState>, record: JobRecord) {
    let scan_id = record.scan_id.clone();
    let outcome = batch_result(&state, &scan_id, record.request).await;
    let stored = match outcome {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(text) => {
                state
                    .store
                    .finish(&scan_id, Status::Completed, Some(text), None)
                    .await
            }
            Err(error) => {
                tracing::error!(%error, %scan_id, "cannot encode a batch report");
                let message = String::from(super::error::INTERNAL_MESSAGE);
                state
                    .store
                    .finish(&scan_id, Status::Error, None, Some(message))
                    .await
            }
        },
        Err(message) => {
            tracing::warn!(error = %message, %scan_id, "batch job ended in error");
            state
                .store
                .finish(&scan_id, Status::Error, None, Some(message))
                .await
        }
    };
    if let Err(error) = stored {
        tracing::error!(%error, %scan_id, "cannot record the end of a batch job");
    }
    let config = state.config();
    let pruned = state
        .store
        .prune(config.batch_retention_seconds, config.batch_retention_count)
        .await;
    if let Err(error) = pruned {
        tracing::warn!(%error, "cannot prune old batch jobs");
    }
}

/// Returns the message a batch job stores for `error`. Only the generic text of an internal
/// error is stored, so its cause is logged here.
fn job_error(scan_id: &str, error: ApiError) -> String {
    if let ApiError::Internal(cause) = &error {
        tracing::error!(%cause, %scan_id, "batch job failed");
    }
    match error.detail() {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// Runs a batch job once a batch permit is free. `Err` contains the message stored for the
/// client.
async fn batch_result(
    state: &Arc<AppState>,
    scan_id: &str,
    request: StoredBatch,
) -> Result<BatchReport, String> {
    let stored_error = |error: ApiError| job_error(scan_id, error);
    let _running = Arc::clone(&state.batch_permits)
        .acquire_owned()
        .await
        .map_err(|_| String::from("the server is shutting down"))?;
    let policy = load_policy(state, request.policy.as_deref()).map_err(stored_error)?;
    let custom = custom_rules_dir(state, request.custom_rules.as_deref()).map_err(stored_error)?;
    let opened = state
        .roots()
        .open("skills_directory", &request.skills_directory)
        .map_err(stored_error)?;
    let worker_state = Arc::clone(state);
    let worker_scan_id = scan_id.to_string();
    tokio::task::spawn_blocking(move || {
        scan_batch_folder(
            &worker_state,
            &worker_scan_id,
            &request,
            custom.as_deref(),
            &opened,
            &policy,
        )
    })
    .await
    .map_err(|error| {
        tracing::error!(%error, %scan_id, "batch job task failed");
        String::from("the batch job failed unexpectedly")
    })?
}

/// Discovers the skills below the opened `skills_directory` and scans each one. Blocks until
/// the last scan ends.
fn scan_batch_folder(
    state: &AppState,
    scan_id: &str,
    request: &StoredBatch,
    custom: Option<&Path>,
    opened: &Opened,
    policy: &Policy,
) -> Result<BatchReport, String> {
    let backend = state
        .backend_for(custom)
        .map_err(|error| job_error(scan_id, error))?;
    let input = opened.fd.try_clone().map_err(|error| {
        tracing::error!(%error, %scan_id, "cannot duplicate the skills_directory descriptor");
        String::from("skills_directory cannot be opened")
    })?;
    let discovery = backend
        .discover(input, &opened.path, request.recursive)
        .map_err(|error| {
            tracing::warn!(%error, %scan_id, "batch discovery failed");
            String::from("Discovery of the skills in skills_directory failed")
        })?;
    let display_root = PathBuf::from(&request.skills_directory);
    let mut results = backend.scan_many(
        &display_root,
        &opened.path,
        &opened.fd,
        &discovery.skills,
        policy,
        state.config().batch_workers,
        &|_| {},
    );
    for (path, reason) in &discovery.skipped {
        results.push(crate::cli::failed_result(
            policy,
            &display_root.join(path),
            reason,
            std::time::Instant::now(),
        ));
    }
    Ok(BatchReport::new(results))
}

/// Runs again, from their stored request, the jobs that a stopped server left processing.
/// Called at start-up.
pub async fn resume_batches(state: &Arc<AppState>) {
    match state.store.unfinished().await {
        Ok(records) => {
            for record in records {
                tracing::info!(scan_id = %record.scan_id, "resuming an interrupted batch job");
                tokio::spawn(run_batch(Arc::clone(state), record));
            }
        }
        Err(error) => tracing::error!(%error, "cannot list interrupted batch jobs"),
    }
}

#[utoipa::path(
    get, path = "/scan-batch/{scan_id}",
    params(("scan_id" = String, Path, description = "The id `POST /scan-batch` returned")),
    responses(
        (status = 200, description = "`processing` with `started_at`; `completed` with `completed_at` and `result`; or `error` with `error`"),
        (status = 404, description = "Unknown or expired scan id"),
    )
)]
pub async fn batch_status(
    State(state): State<Arc<AppState>>,
    UrlPath(scan_id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let unknown = || ApiError::NotFound(String::from("Scan ID not found or expired"));
    if uuid::Uuid::parse_str(&scan_id).is_err() {
        return Err(unknown());
    }
    let record = state
        .store
        .get(&scan_id)
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?
        .ok_or_else(unknown)?;
    let body = match record.status {
        Status::Processing => json!({
            "scan_id": record.scan_id,
            "status": "processing",
            "started_at": record.started_at,
        }),
        Status::Completed => {
            let result: Value = record
                .result
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|error| ApiError::Internal(error.to_string()))?
                .unwrap_or(Value::Null);
            json!({
                "scan_id": record.scan_id,
                "status": "completed",
                "started_at": record.started_at,
                "completed_at": record.completed_at,
                "result": result,
            })
        }
        Status::Error => json!({
            "scan_id": record.scan_id,
            "status": "error",
            "started_at": record.started_at,
            "completed_at": record.completed_at,
            "error": record.error,
        }),
    };
    Ok(Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_stderr_stays_out_of_response() {
        let policy = Policy::load(crate::policy::DEFAULT_PRESET).unwrap();
        let cases = [
            (
                "crashed",
                "crashed: panicked at /home/build/src/skill/mod.rs:12:5",
            ),
            (
                "failed",
                "failed: cannot open /var/lib/skill-scanner/spool/7/upload-1",
            ),
            (
                "confinement_failed",
                "could not confine itself: /proc/self/attr: EACCES",
            ),
        ];
        for (reason, message) in cases {
            let outcome = Err(WorkerError::Outcome {
                reason,
                message: String::from(message),
            });
            let result = scan_outcome(outcome, &policy, Path::new("skill")).unwrap();
            let text = serde_json::to_string(&result).unwrap();
            assert!(!text.contains("/home/build"), "{text}");
            assert!(!text.contains("/var/lib"), "{text}");
            assert!(!text.contains("/proc"), "{text}");
            assert!(text.contains("the worker"), "{text}");
        }

        let reply = Err(WorkerError::Reply(String::from("expected value at /tmp/x")));
        let result = scan_outcome(reply, &policy, Path::new("skill")).unwrap();
        assert_eq!(
            result.analyzers_failed[0].error,
            "the worker's reply is invalid"
        );
    }

    #[test]
    fn worker_timeout_keeps_its_message() {
        let policy = Policy::load(crate::policy::DEFAULT_PRESET).unwrap();
        let outcome = Err(WorkerError::Outcome {
            reason: "timed_out",
            message: String::from("timed out after 5.0 s"),
        });
        let result = scan_outcome(outcome, &policy, Path::new("skill")).unwrap();
        assert_eq!(
            result.analyzers_failed[0].error,
            "the worker timed out after 5.0 s"
        );
    }
}
