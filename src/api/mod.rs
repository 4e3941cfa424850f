//! `skill-scanner-api`: the HTTP front end, wire-compatible with the reference scanner's API.
//!
//! Trust boundary: this process parses no untrusted archive or skill file. Uploads are
//! streamed to a private spool file and handed to a confined worker as an open descriptor.
//! Requested paths are opened beneath an allowed root and handed over the same way. What comes
//! back from a worker is bounded and parsed strictly by [`crate::worker`].
//!
//! NOTE: the server authenticates no client, so anyone who can reach its port can scan.
//!
//! [`router`] builds the axum router, so that an application can mount it and add layers such
//! as CORS. [`serve`] runs it on a listener, and [`start`] is the whole program.

pub mod backend;
pub mod config;
pub mod error;
pub mod handlers;
pub mod jobs;
pub mod openapi;
pub mod paths;
pub mod request;
pub mod upload;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::worker::{WorkerError, WorkerSettings};
use backend::Backend;
use config::Config;
use error::ApiError;
use jobs::JobStore;
use paths::Roots;

/// Version reported by `/`, `/health` and the OpenAPI document.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Maximum number of custom rule packs whose fork servers are kept running. When the cache is
/// full, an arbitrary pack is evicted to make room.
const MAX_CUSTOM_RULE_BACKENDS: usize = 4;

/// Shared state of the running server.
pub struct AppState {
    /// Replaced as a whole when `--reload` detects a change of the configuration file.
    config: RwLock<Arc<Config>>,
    roots: RwLock<Arc<Roots>>,
    binary: PathBuf,
    backend: RwLock<Arc<Backend>>,
    custom_backends: Mutex<CustomBackends>,
    /// One permit per request worker (`workers`).
    request_permits: Arc<Semaphore>,
    /// One permit per batch job allowed to run (`max_running_batches`).
    batch_permits: Arc<Semaphore>,
    /// Number of requests waiting for a request permit.
    waiting: AtomicUsize,
    store: JobStore,
    spool_dir: PathBuf,
    /// Count of worker jobs by how they ended, for `/health`.
    outcomes: Mutex<BTreeMap<&'static str, u64>>,
}

/// Fork servers of custom rule packs, by folder and a stamp of its files, so an edited pack is
/// compiled again on its next use.
#[derive(Default)]
struct CustomBackends {
    backends: HashMap<(PathBuf, String), Arc<Backend>>,
    /// Number of times the bundled backend was replaced. A pack compiled across a replacement
    /// is not cached.
    generation: u64,
}

/// Reasons the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Roots(#[from] paths::RootsError),
    #[error(transparent)]
    Store(#[from] jobs::StoreError),
    #[error("{0}")]
    Sandbox(String),
    #[error("cannot prepare the spool directory {path}: {source}")]
    Spool {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
}

impl AppState {
    /// Checks the configuration, opens the allowed roots and the job database, and starts the
    /// fork server with `binary` (the installed `skill-scanner` or `skill-scanner-api`).
    pub fn start(config: Config, binary: &Path) -> Result<Arc<AppState>, StartError> {
        config.validate()?;
        let roots = Roots::open_all(&config.allowed_roots)?;
        let store = JobStore::open(&config.state_dir)?;
        let spool_dir =
            upload::prepare_spool_dir(&config.state_dir).map_err(|source| StartError::Spool {
                path: config.state_dir.join("spool").display().to_string(),
                source,
            })?;
        let backend = Backend::start(binary, None, settings(&config), config.allow_unconfined)
            .map_err(StartError::Sandbox)?;
        if !backend.is_confined() {
            tracing::warn!("serving WITHOUT confinement: allow_unconfined is set");
        }
        Ok(Arc::new(AppState {
            request_permits: Arc::new(Semaphore::new(config.workers)),
            batch_permits: Arc::new(Semaphore::new(config.max_running_batches)),
            config: RwLock::new(Arc::new(config)),
            roots: RwLock::new(Arc::new(roots)),
            binary: binary.to_path_buf(),
            backend: RwLock::new(Arc::new(backend)),
            custom_backends: Mutex::new(CustomBackends::default()),
            waiting: AtomicUsize::new(0),
            store,
            spool_dir,
            outcomes: Mutex::new(BTreeMap::new()),
        }))
    }

    /// Returns the current configuration.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn roots(&self) -> Arc<Roots> {
        Arc::clone(&self.roots.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Applies a re-read configuration, or returns an error and changes nothing. Settings that
    /// size the server (address, state folder, worker counts, JSON body limit) need a restart,
    /// so they keep their old value and a warning is logged.
    pub fn apply_config(&self, mut fresh: Config) -> Result<(), String> {
        fresh.validate().map_err(|error| error.to_string())?;
        let current = self.config();
        keep_restart_settings(&current, &mut fresh);

        // Open the roots and start the backend before anything is replaced, so that a failure
        // leaves the running configuration untouched.
        let roots = if fresh.allowed_roots == current.allowed_roots {
            None
        } else {
            Some(Roots::open_all(&fresh.allowed_roots).map_err(|error| error.to_string())?)
        };
        let new_settings = settings(&fresh) != settings(&current)
            || fresh.allow_unconfined != current.allow_unconfined;
        let backend = if new_settings {
            Some(Backend::start(
                &self.binary,
                None,
                settings(&fresh),
                fresh.allow_unconfined,
            )?)
        } else {
            None
        };

        if let Some(roots) = roots {
            *self.roots.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(roots);
        }
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        if let Some(backend) = backend {
            self.replace_backend(backend);
        }
        Ok(())
    }

    /// Returns the backend for the bundled rules, or for the bundled rules plus a custom pack.
    /// A pack's fork server is started on first use and again after one of its files changed.
    fn backend_for(&self, custom_rules: Option<&Path>) -> Result<Arc<Backend>, ApiError> {
        let Some(dir) = custom_rules else {
            return Ok(Arc::clone(
                &self.backend.read().unwrap_or_else(PoisonError::into_inner),
            ));
        };
        let key = (dir.to_path_buf(), rules_stamp(dir));
        let generation = {
            let cache = self.custom_backends();
            if let Some(found) = cache.backends.get(&key) {
                return Ok(Arc::clone(found));
            }
            cache.generation
        };

        // Compiling a pack may take seconds, so it runs without the cache lock and requests
        // for other packs are not held up. Two requests for the same new pack may both
        // compile it, and the first one stored is kept.
        let config = self.config();
        let backend = Backend::start(
            &self.binary,
            Some(dir),
            settings(&config),
            config.allow_unconfined,
        )
        .map_err(|cause| {
            tracing::warn!(%cause, folder = %dir.display(), "cannot load a custom rule pack");
            ApiError::BadRequest(String::from(
                "custom_rules could not be loaded because a rule does not compile or the folder contains no rule files",
            ))
        })?;
        let backend = Arc::new(backend);

        let mut cache = self.custom_backends();
        if let Some(found) = cache.backends.get(&key) {
            return Ok(Arc::clone(found));
        }
        if cache.generation != generation {
            // The bundled backend was replaced during the compile, maybe with new worker
            // settings, so this one serves only the current request.
            return Ok(backend);
        }
        // An older stamp of the same folder is stale.
        cache.backends.retain(|(path, _), _| path != dir);
        if cache.backends.len() >= MAX_CUSTOM_RULE_BACKENDS
            && let Some(evict) = cache.backends.keys().next().cloned()
        {
            cache.backends.remove(&evict);
        }
        cache.backends.insert(key, Arc::clone(&backend));
        Ok(backend)
    }

    fn custom_backends(&self) -> std::sync::MutexGuard<'_, CustomBackends> {
        self.custom_backends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the backend of the bundled rules, as `--reload` does when rules change.
    /// Requests in flight finish on the old one.
    pub fn reload(&self) -> Result<(), String> {
        let config = self.config();
        let fresh = Backend::start(
            &self.binary,
            None,
            settings(&config),
            config.allow_unconfined,
        )?;
        self.replace_backend(fresh);
        Ok(())
    }

    /// Installs `backend` for the bundled rules and drops the cached custom packs, so that
    /// they are started again with the current settings on their next use.
    fn replace_backend(&self, backend: Backend) {
        *self.backend.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(backend);
        let mut cache = self.custom_backends();
        cache.backends.clear();
        cache.generation += 1;
    }

    /// Waits up to the queue timeout for a request worker. Returns 503 when none becomes free
    /// in time, or at once when `max_queued_requests` requests are already waiting.
    async fn request_permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        let busy = || ApiError::Unavailable(String::from("Scan queue is full. Retry later."));
        if let Ok(permit) = Arc::clone(&self.request_permits).try_acquire_owned() {
            return Ok(permit);
        }
        let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
        // Decrements the count on every exit, including when axum drops this future because
        // the client disconnected while it waited.
        let _slot = QueueSlot(&self.waiting);
        if queued >= self.config().max_queued_requests {
            return Err(busy());
        }
        let acquired = tokio::time::timeout(
            self.config().queue_timeout(),
            Arc::clone(&self.request_permits).acquire_owned(),
        )
        .await;
        match acquired {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy()),
        }
    }

    /// Counts how a worker job ended, for `/health`.
    fn count_outcome(&self, outcome: &Result<crate::model::ScanResult, WorkerError>) {
        let reason = match outcome {
            Ok(_) => "ok",
            Err(WorkerError::Outcome { reason, .. }) => reason,
            Err(WorkerError::Rejected(_)) => "rejected",
            Err(WorkerError::Reply(_)) => "invalid_reply",
            Err(WorkerError::Client(_)) => "sandbox_error",
            Err(WorkerError::Open { .. } | WorkerError::Scratch(_)) => "setup_failed",
        };
        *self
            .outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(reason)
            .or_default() += 1;
    }

    fn outcome_counts(&self) -> BTreeMap<&'static str, u64> {
        self.outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn sandbox_state(&self) -> serde_json::Value {
        self.backend
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .sandbox
            .clone()
    }
}

/// Logs a warning for each setting in `fresh` that needs a restart to change, and sets it
/// back to its value in `current`.
fn keep_restart_settings(current: &Config, fresh: &mut Config) {
    let fixed = [
        ("host", current.host != fresh.host),
        ("port", current.port != fresh.port),
        ("state_dir", current.state_dir != fresh.state_dir),
        ("workers", current.workers != fresh.workers),
        (
            "max_running_batches",
            current.max_running_batches != fresh.max_running_batches,
        ),
        (
            "max_json_body_bytes",
            current.max_json_body_bytes != fresh.max_json_body_bytes,
        ),
    ];
    for (name, changed) in fixed {
        if changed {
            tracing::warn!(
                setting = name,
                "changing this setting needs a restart, so the old value stays in effect"
            );
        }
    }
    fresh.host = current.host;
    fresh.port = current.port;
    fresh.state_dir.clone_from(&current.state_dir);
    fresh.workers = current.workers;
    fresh.max_running_batches = current.max_running_batches;
    fresh.max_json_body_bytes = current.max_json_body_bytes;
}

/// One request counted in `AppState::waiting`. Dropping it removes the request from the count.
struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Returns a stamp of a rule folder's top level, built from the names, sizes and modification
/// times of its entries. It changes when a rule file is added, removed or edited.
fn rules_stamp(dir: &Path) -> String {
    let mut parts: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| {
                    let metadata = entry.metadata().ok()?;
                    let modified = metadata
                        .modified()
                        .ok()?
                        .duration_since(std::time::UNIX_EPOCH)
                        .ok()?;
                    Some(format!(
                        "{}:{}:{}",
                        entry.file_name().to_string_lossy(),
                        metadata.len(),
                        modified.as_nanos()
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    parts.join("/")
}

/// Returns the worker deadline and rlimits that `config` sets. The server's fork servers live
/// long and fork for every request, so they move their rules to huge pages.
fn settings(config: &Config) -> WorkerSettings {
    WorkerSettings {
        deadline: config.scan_timeout(),
        rlimits: skill_scanner_sandbox::Rlimits {
            address_space_bytes: config.worker_memory_bytes,
            cpu_seconds: config.worker_cpu_seconds,
            file_size_bytes: config.worker_file_size_bytes,
            ..skill_scanner_sandbox::Rlimits::default()
        },
        huge_pages: true,
    }
}

/// Builds the API's router over `state`. Mount it in another axum app to add layers such as
/// CORS.
pub fn router(state: Arc<AppState>) -> Router {
    let json_limit = state.config().max_json_body_bytes;
    Router::new()
        .route("/", get(handlers::root))
        .route("/health", get(handlers::health))
        .route("/analyzers", get(handlers::analyzers))
        .route(
            "/scan",
            post(handlers::scan).layer(DefaultBodyLimit::max(json_limit)),
        )
        .route(
            "/scan-upload",
            // The upload is streamed to disk and counted there, so axum's in-memory body
            // limit is lifted for this route only. The handler applies the configured limit
            // itself, because a reload may change it.
            post(upload::scan_upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/scan-batch",
            post(handlers::scan_batch).layer(DefaultBodyLimit::max(json_limit)),
        )
        .route("/scan-batch/{scan_id}", get(handlers::batch_status))
        .merge(openapi::routes())
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        // The span is at info level so that every line a handler logs names its request.
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO),
            ),
        )
        .with_state(state)
}

/// Resumes interrupted batch jobs, then serves the API on `listener` until ctrl-c or SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    handlers::resume_batches(&state).await;
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
}

/// Completes on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot handle SIGTERM, so only ctrl-c shuts down gracefully");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}

/// Inputs of `--reload`.
#[derive(Clone)]
pub struct Reload {
    /// Function that built the first configuration from file, environment and flags. It runs
    /// again when a watched file changes.
    pub load: Arc<dyn Fn() -> Result<Config, String> + Send + Sync>,
    /// Files whose change triggers `load`.
    pub watch: Vec<PathBuf>,
}

/// Starts the server from Rust. It checks confinement, binds `config.host:config.port` and
/// serves until ctrl-c or SIGTERM. `binary` runs the fork server, so pass the installed
/// `skill-scanner`.
/// With `reload`, the scanning processes restart when `binary` changes and the configuration
/// is re-read when a watched file changes, without dropping requests in flight.
pub async fn start(
    config: Config,
    binary: &Path,
    reload: Option<Reload>,
) -> Result<(), StartError> {
    let address = std::net::SocketAddr::new(config.host, config.port);
    let state = AppState::start(config, binary)?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Listen {
            address: address.to_string(),
            source,
        })?;
    tracing::info!(%address, sandbox = %state.sandbox_state(), "skill-scanner-api listening");
    if let Some(reload) = reload {
        tokio::spawn(watch_for_changes(Arc::clone(&state), reload));
    }
    serve(listener, state)
        .await
        .map_err(|source| StartError::Listen {
            address: address.to_string(),
            source,
        })
}

/// Returns the modification time of a file, or `None` when it cannot be read.
fn stamp(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
}

/// Polls the binary and the watched files every two seconds, and reloads what changed.
async fn watch_for_changes(state: Arc<AppState>, reload: Reload) {
    let mut binary_stamp = stamp(&state.binary);
    let mut watched: Vec<_> = reload.watch.iter().map(|path| stamp(path)).collect();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let now: Vec<_> = reload.watch.iter().map(|path| stamp(path)).collect();
        if now != watched {
            watched = now;
            let reloading = Arc::clone(&state);
            let load = Arc::clone(&reload.load);
            let outcome =
                tokio::task::spawn_blocking(move || reloading.apply_config(load()?)).await;
            match outcome {
                Ok(Ok(())) => tracing::info!("configuration reloaded"),
                Ok(Err(error)) => {
                    tracing::error!(
                        %error,
                        "configuration reload failed, so the previous configuration stays in effect"
                    );
                }
                Err(error) => tracing::error!(%error, "configuration reload task failed"),
            }
        }
        let now = stamp(&state.binary);
        if now != binary_stamp {
            binary_stamp = now;
            let reloading = Arc::clone(&state);
            match tokio::task::spawn_blocking(move || reloading.reload()).await {
                Ok(Ok(())) => {
                    tracing::info!("scanning processes restarted after the binary changed")
                }
                Ok(Err(error)) => tracing::error!(
                    %error,
                    "restart after the binary changed failed, so the old scanning processes keep serving"
                ),
                Err(error) => {
                    tracing::error!(%error, "restart task for the scanning processes failed")
                }
            }
        }
    }
}
