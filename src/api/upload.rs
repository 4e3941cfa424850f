//! `POST /scan-upload`. The multipart body is streamed to a private spool file, counted against
//! the upload limit and hashed on the way, so nothing is held whole in memory. The spool file
//! goes to a confined worker as an open descriptor. It is removed when the request ends,
//! however it ends, because dropping the request drops the file. Files of a killed server are
//! removed at the next start.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Field, Multipart, MultipartError};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{ApiError, FieldError, sanitize_message};
use super::handlers::{
    ScanResponse, bounds, check_analyzers, custom_rules_dir, load_policy, run_on_worker,
    scan_outcome,
};
use super::request::upload_options;

/// Bytes that a multipart body may contain beyond the file: boundaries, part headers and option
/// fields.
pub const MULTIPART_OVERHEAD_BYTES: usize = 256 * 1024;

/// Maximum number of form fields beside `file` in one upload.
const MAX_FORM_FIELDS: usize = 64;

/// Creates `state_dir/spool/PID` (mode 0700) for this process's spool files. It also removes
/// the folders of processes that no longer exist, because a killed server could not remove its
/// own.
pub fn prepare_spool_dir(state_dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let parent = state_dir.join("spool");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&parent)?;
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for entry in entries.flatten() {
            let alive = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u32>().ok())
                .is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists());
            if !alive && let Err(error) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(%error, path = %entry.path().display(), "cannot remove a stale spool folder");
            }
        }
    }
    let own = parent.join(std::process::id().to_string());
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&own)
        .or_else(|error| {
            if error.kind() == std::io::ErrorKind::AlreadyExists {
                Ok(())
            } else {
                Err(error)
            }
        })?;
    Ok(own)
}

/// Returns the 413 for an upload over `limit` bytes, in the reference's words. The size is
/// given in MiB, rounded up, and labelled MB as the reference does.
fn too_large(limit: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "Upload exceeds maximum size of {} MB",
        limit.div_ceil(1024 * 1024)
    ))
}

/// Contents of a multipart upload: the spooled file and the option fields.
struct Received {
    /// Spool file, removed when this is dropped.
    spool: tempfile::NamedTempFile,
    /// File name the client sent with the `file` field.
    file_name: Option<String>,
    /// Size of the file in bytes.
    size: u64,
    /// Hex SHA-256 of the file.
    sha256: String,
    /// First four bytes of the file, for the signature check.
    first_bytes: Vec<u8>,
    /// Option fields by name.
    fields: Map<String, Value>,
}

#[utoipa::path(
    post, path = "/scan-upload",
    request_body(content_type = "multipart/form-data", description = "`file`: the skill as a ZIP archive; the scan options as form fields, before or after it"),
    responses(
        (status = 200, body = ScanResponse),
        (status = 400, description = "Not a ZIP archive, an unsafe or invalid archive (the message names the defect and the limit), no SKILL.md or several skills, unknown policy, unavailable analyzer"),
        (status = 413, description = "Upload larger than the configured limit"),
        (status = 422, description = "No `file` field, or an invalid option"),
        (status = 503, description = "No worker free within the queue timeout, or sandbox unavailable"),
    )
)]
pub async fn scan_upload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<ScanResponse>, ApiError> {
    let multipart = open_multipart(&state, &headers, request).await?;
    let received = receive(&state, multipart).await?;
    let Some(received) = received else {
        return Err(ApiError::Validation(vec![FieldError::field(
            "missing",
            "file",
            "Field required",
            Value::Null,
        )]));
    };
    let options = upload_options(&received.fields, bounds(&state))?;
    // Checked before the archive, so that a bad path gets its 404 first.
    let custom = custom_rules_dir(&state, options.custom_rules.as_deref())?;
    check_zip_signature(&received)?;
    let policy = load_policy(&state, options.policy.as_deref())?;
    check_analyzers(&options, &headers)?;

    let fallback_name = fallback_name(received.file_name.as_deref());
    let spool = received
        .spool
        .reopen()
        .map_err(|error| ApiError::Internal(format!("cannot reopen the spool file: {error}")))?;
    let limits = state.config().archive.clone();
    let (outcome, policy) = run_on_worker(&state, custom, policy, move |backend, policy| {
        backend.scan_upload(spool, &fallback_name, &limits, policy)
    })
    .await?;

    // The worker is done with the spool file, so remove it before building the response.
    drop(received.spool);
    let display = received
        .file_name
        .unwrap_or_else(|| String::from("upload.zip"));
    let mut result = scan_outcome(outcome, &policy, Path::new(&display))?;
    result.scan_metadata.upload_sha256 = Some(received.sha256);
    Ok(Json(ScanResponse::from_result(result)))
}

/// Returns the skill name used when the archive has no top folder: the upload's file name
/// without its folders and `.zip` suffix, or `skill` when that leaves nothing.
fn fallback_name(file_name: Option<&str>) -> String {
    file_name
        .map(|name| name.rsplit(['/', '\\']).next().unwrap_or(name))
        .map(|name| {
            name.strip_suffix(".zip")
                .or_else(|| name.strip_suffix(".ZIP"))
                .unwrap_or(name)
        })
        .filter(|name| !name.is_empty())
        .map_or_else(|| String::from("skill"), |name| sanitize_message(name, 100))
}

/// Checks the declared length and wraps the body in the upload limit, then starts reading it
/// as multipart form data.
async fn open_multipart(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    request: Request,
) -> Result<Multipart, ApiError> {
    let limit = state.config().max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let max_body_bytes = limit.saturating_add(MULTIPART_OVERHEAD_BYTES as u64);
    if declared.is_some_and(|length| length > max_body_bytes) {
        return Err(too_large(limit));
    }
    // The field limits cap the file and the option fields, but multer buffers a preamble or a
    // part header until its end shows up, without a bound. Capping the whole body keeps a
    // chunked request without Content-Length within the same budget.
    let (parts, body) = request.into_parts();
    let body_limit = usize::try_from(max_body_bytes).unwrap_or(usize::MAX);
    let request = Request::from_parts(
        parts,
        Body::new(http_body_util::Limited::new(body, body_limit)),
    );
    Multipart::from_request(request, state)
        .await
        .map_err(|rejection| {
            ApiError::BadRequest(format!(
                "Invalid multipart request: {}",
                sanitize_message(&rejection.body_text(), 200)
            ))
        })
}

/// Reads the multipart fields: `file` into the spool, the others into a map. Returns `None`
/// when the body has no `file`.
async fn receive(state: &AppState, mut multipart: Multipart) -> Result<Option<Received>, ApiError> {
    let limit = state.config().max_upload_bytes;
    let mut fields = Map::new();
    let mut upload: Option<Received> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(multipart_error(limit))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if upload.is_some() {
                return Err(ApiError::BadRequest(String::from(
                    "Upload contains more than one file field. Send one skill archive per request.",
                )));
            }
            upload = Some(spool_file(state, field).await?);
        } else {
            if fields.len() >= MAX_FORM_FIELDS {
                return Err(ApiError::BadRequest(format!(
                    "Upload has more than {MAX_FORM_FIELDS} form fields"
                )));
            }
            let value =
                read_small_field(field, state.config().max_form_field_bytes, &name, limit).await?;
            fields.insert(name, Value::String(value));
        }
    }
    Ok(upload.map(|mut received| {
        received.fields = fields;
        received
    }))
}

/// Returns a mapper from a multipart error to the response: the 413 for a body over `limit`,
/// else a 400 that quotes the parser's message.
fn multipart_error(limit: u64) -> impl Fn(MultipartError) -> ApiError {
    move |error| {
        if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_large(limit)
        } else {
            ApiError::BadRequest(format!(
                "Invalid multipart request: {}",
                sanitize_message(&error.body_text(), 200)
            ))
        }
    }
}

/// Reads a non-file form field of at most `limit` bytes as UTF-8 text.
async fn read_small_field(
    mut field: Field<'_>,
    limit: usize,
    name: &str,
    upload_limit: u64,
) -> Result<String, ApiError> {
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error(upload_limit))? {
        if value.len() + chunk.len() > limit {
            return Err(ApiError::BadRequest(format!(
                "Form field '{}' exceeds the limit of {limit} bytes",
                sanitize_message(name, 64)
            )));
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value).map_err(|_| {
        ApiError::BadRequest(format!(
            "Form field '{}' is not UTF-8 text",
            sanitize_message(name, 64)
        ))
    })
}

/// Streams the `file` field into a new spool file, counting its bytes against the upload limit
/// and hashing them.
async fn spool_file(state: &AppState, mut field: Field<'_>) -> Result<Received, ApiError> {
    let limit = state.config().max_upload_bytes;
    let file_name = field.file_name().map(str::to_string);
    let spool = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(&state.spool_dir)
        .map_err(|error| ApiError::Internal(format!("cannot create a spool file: {error}")))?;
    let mut writer = spool
        .reopen()
        .map_err(|error| ApiError::Internal(format!("cannot open the spool file: {error}")))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut first_bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error(limit))? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        if first_bytes.len() < 4 {
            first_bytes.extend(chunk.iter().take(4 - first_bytes.len()));
        }
        hasher.update(&chunk);
        // Spool writes are small and sequential on a local disk, so each chunk is written
        // here. A hop to a blocking thread per chunk would likely cost more (not measured).
        writer
            .write_all(&chunk)
            .map_err(|error| ApiError::Internal(format!("cannot write the spool file: {error}")))?;
    }
    writer
        .flush()
        .map_err(|error| ApiError::Internal(format!("cannot write the spool file: {error}")))?;
    Ok(Received {
        spool,
        file_name,
        size,
        sha256: hex::encode(hasher.finalize()),
        first_bytes,
        fields: Map::new(),
    })
}

/// Rejects a file that does not start like a ZIP archive, with a local file header or the end
/// record of an empty archive. As in the reference, a file named like a ZIP gets "Invalid ZIP
/// archive", and any other file gets "File must be a ZIP archive". An empty file is always an
/// invalid archive.
fn check_zip_signature(received: &Received) -> Result<(), ApiError> {
    let zip_like = received
        .file_name
        .as_deref()
        .is_some_and(|name| name.to_ascii_lowercase().ends_with(".zip"));
    if received.size == 0 {
        return Err(ApiError::BadRequest(String::from(
            "Invalid ZIP archive: the upload is empty",
        )));
    }
    let signature = received.first_bytes.as_slice();
    if signature == b"PK\x03\x04" || signature == b"PK\x05\x06" {
        return Ok(());
    }
    Err(ApiError::BadRequest(String::from(if zip_like {
        "Invalid ZIP archive: the file does not start with a ZIP signature"
    } else {
        "File must be a ZIP archive"
    })))
}
