//! Server configuration: built-in defaults, then a YAML file, then `SKILL_SCANNER_*`
//! environment variables, then command-line flags, each overriding the one before.
//!
//! Every limit is a named value with a safe default and the reason for it. The error that
//! enforces a limit names it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::intake::zip::ArchiveLimits;

/// Settings of the HTTP server, read at start and again on `--reload`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. The default serves this host only.
    pub host: IpAddr,
    /// Port to listen on.
    pub port: u16,
    /// Directories under which requests may name skill folders, policy files and rule packs.
    /// Empty by default, so only uploads can be scanned.
    pub allowed_roots: Vec<PathBuf>,
    /// Directory of the batch job database and the upload spool.
    pub state_dir: PathBuf,
    /// Maximum upload size in bytes. The default, 50 MiB, is the reference server's limit.
    pub max_upload_bytes: u64,
    /// Maximum size in bytes of a non-file form field of `/scan-upload`. Options are short, and
    /// the limit stops a client from filling memory through a form field.
    pub max_form_field_bytes: usize,
    /// Maximum size of a JSON request body, in bytes.
    pub max_json_body_bytes: usize,
    /// Limits on the uploaded archive, counted on inflated bytes.
    pub archive: ArchiveLimits,
    /// Maximum number of workers that scan for requests at once. The default is twice the core
    /// count, because a scan also waits on process start-up and I/O.
    pub workers: usize,
    /// Number of workers that one batch job scans with at once. They are counted apart from
    /// `workers`, so batches cannot starve requests. The default is half the core count, at
    /// least one.
    pub batch_workers: usize,
    /// Maximum number of batch jobs that run at once. Further jobs wait until one ends.
    pub max_running_batches: usize,
    /// Maximum number of requests that wait for a worker. Further requests get 503 at once.
    pub max_queued_requests: usize,
    /// Maximum time in seconds that a request waits for a free worker before it gets 503.
    pub queue_timeout_seconds: f64,
    /// Maximum wall-clock time in seconds that a worker spends on one skill before it is
    /// killed.
    pub scan_timeout_seconds: f64,
    /// Address space of a worker (`RLIMIT_AS`), in bytes. It includes the rules and engine the
    /// worker inherits, about 1 GiB, so 4 GiB leaves room for a large skill.
    pub worker_memory_bytes: u64,
    /// CPU time limit of a worker (`RLIMIT_CPU`), in seconds. It is a backstop behind the
    /// wall-clock `scan_timeout_seconds`.
    pub worker_cpu_seconds: u64,
    /// Maximum size of a file that a worker writes (`RLIMIT_FSIZE`), in bytes. Workers extract
    /// in memory and write little, so this only caps a bug.
    pub worker_file_size_bytes: u64,
    /// Time in seconds that finished batch results are kept.
    pub batch_retention_seconds: u64,
    /// Maximum number of finished batch jobs kept. The oldest are removed first.
    pub batch_retention_count: usize,
    /// Maximum accepted `llm_consensus_runs`, because each run is a paid model call.
    pub max_llm_consensus_runs: u32,
    /// Maximum accepted `llm_max_tokens`.
    pub max_llm_tokens: u32,
    /// Whether API keys sent with a request (`X-VirusTotal-Key`, `vt_api_key`, ...) are used.
    /// Off by default, so a client cannot make the server call out with a key of its choosing.
    /// NOTE: no analyzer of this version uses a key, so the setting has no effect yet.
    pub allow_request_keys: bool,
    /// Whether to serve when workers cannot be confined, scanning in the server process
    /// instead. Only for development on kernels without Landlock. The server logs it at every
    /// start and `/health` shows it.
    pub allow_unconfined: bool,
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Config {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8000,
            allowed_roots: Vec::new(),
            state_dir: default_state_dir(),
            max_upload_bytes: 50 * 1024 * 1024,
            max_form_field_bytes: 64 * 1024,
            max_json_body_bytes: 1024 * 1024,
            archive: ArchiveLimits::default(),
            workers: cores * 2,
            batch_workers: (cores / 2).max(1),
            max_running_batches: 2,
            max_queued_requests: 256,
            queue_timeout_seconds: 30.0,
            scan_timeout_seconds: 60.0,
            worker_memory_bytes: 4 << 30,
            worker_cpu_seconds: 60,
            worker_file_size_bytes: 1 << 30,
            batch_retention_seconds: 24 * 3600,
            batch_retention_count: 1000,
            max_llm_consensus_runs: 10,
            max_llm_tokens: 200_000,
            allow_request_keys: false,
            allow_unconfined: false,
        }
    }
}

/// Returns `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`), else
/// `$XDG_STATE_HOME/skill-scanner` or `~/.local/state/skill-scanner`, else
/// `skill-scanner-state` in the working directory.
fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(dir).join("skill-scanner");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".local/state/skill-scanner");
    }
    PathBuf::from("skill-scanner-state")
}

/// Reasons a configuration cannot be loaded or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} cannot be read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("configuration file {path} is larger than the limit of {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    #[error("configuration file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Environment { name: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Maximum size of a configuration file, in bytes.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

impl Config {
    /// Reads a YAML configuration file over the defaults. An unknown key is an error that names
    /// the key.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        use std::io::Read;
        let display = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| ConfigError::Read {
            path: display.clone(),
            source,
        })?;
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| ConfigError::Read {
                path: display.clone(),
                source,
            })?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: display,
                limit: MAX_CONFIG_BYTES,
            });
        }
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::Parse {
            path: display.clone(),
            message: String::from("the file is not UTF-8 text"),
        })?;
        let deserializer = serde_norway::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(deserializer).map_err(|error| ConfigError::Parse {
            path: display,
            message: format!("at `{}`: {}", error.path(), error.inner()),
        })
    }

    /// Applies the `SKILL_SCANNER_*` environment variables that name a setting.
    pub fn apply_environment(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        fn parsed<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError> {
            value.trim().parse().map_err(|_| ConfigError::Environment {
                name: name.to_string(),
                message: format!("invalid value {:?}", value.trim()),
            })
        }
        macro_rules! setting {
            ($name:literal, $field:expr) => {
                if let Some(value) = lookup($name) {
                    $field = parsed($name, &value)?;
                }
            };
        }
        setting!("SKILL_SCANNER_HOST", self.host);
        setting!("SKILL_SCANNER_PORT", self.port);
        setting!("SKILL_SCANNER_MAX_UPLOAD_BYTES", self.max_upload_bytes);
        setting!("SKILL_SCANNER_WORKERS", self.workers);
        setting!("SKILL_SCANNER_BATCH_WORKERS", self.batch_workers);
        setting!(
            "SKILL_SCANNER_SCAN_TIMEOUT_SECONDS",
            self.scan_timeout_seconds
        );
        setting!(
            "SKILL_SCANNER_QUEUE_TIMEOUT_SECONDS",
            self.queue_timeout_seconds
        );
        setting!(
            "SKILL_SCANNER_WORKER_MEMORY_BYTES",
            self.worker_memory_bytes
        );
        setting!("SKILL_SCANNER_WORKER_CPU_SECONDS", self.worker_cpu_seconds);
        setting!(
            "SKILL_SCANNER_WORKER_FILE_SIZE_BYTES",
            self.worker_file_size_bytes
        );
        setting!(
            "SKILL_SCANNER_MAX_QUEUED_REQUESTS",
            self.max_queued_requests
        );
        setting!("SKILL_SCANNER_ALLOW_REQUEST_KEYS", self.allow_request_keys);
        setting!("SKILL_SCANNER_ALLOW_UNCONFINED", self.allow_unconfined);
        if let Some(value) = lookup("SKILL_SCANNER_STATE_DIR") {
            self.state_dir = PathBuf::from(value);
        }
        if let Some(value) = lookup("SKILL_SCANNER_ALLOWED_ROOTS") {
            self.allowed_roots = std::env::split_paths(&value)
                .filter(|path| !path.as_os_str().is_empty())
                .collect();
        }
        Ok(())
    }

    /// Rejects values that parse but are out of range, naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |name: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(ConfigError::Invalid(format!(
                    "{name} must be a positive number of seconds"
                )))
            }
        };
        positive("scan_timeout_seconds", self.scan_timeout_seconds)?;
        positive("queue_timeout_seconds", self.queue_timeout_seconds)?;
        if self.scan_timeout_seconds > 3600.0 {
            return Err(ConfigError::Invalid(String::from(
                "scan_timeout_seconds must be at most 3600",
            )));
        }
        for (name, value) in [
            ("workers", self.workers),
            ("batch_workers", self.batch_workers),
            ("max_running_batches", self.max_running_batches),
        ] {
            if value == 0 || value > 128 {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be between 1 and 128"
                )));
            }
        }
        if self.max_upload_bytes == 0 {
            return Err(ConfigError::Invalid(String::from(
                "max_upload_bytes must be positive",
            )));
        }
        for root in &self.allowed_roots {
            if !root.is_absolute() {
                return Err(ConfigError::Invalid(format!(
                    "allowed root {} must be an absolute path",
                    root.display()
                )));
            }
        }
        Ok(())
    }

    /// Returns `scan_timeout_seconds` as a duration.
    pub fn scan_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.scan_timeout_seconds)
    }

    /// Returns `queue_timeout_seconds` as a duration.
    pub fn queue_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.queue_timeout_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults() {
        let mut config = Config::default();
        config
            .apply_environment(|name| match name {
                "SKILL_SCANNER_PORT" => Some(String::from("9001")),
                "SKILL_SCANNER_ALLOWED_ROOTS" => Some(String::from("/srv/a:/srv/b")),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.port, 9001);
        assert_eq!(
            config.allowed_roots,
            vec![PathBuf::from("/srv/a"), PathBuf::from("/srv/b")]
        );
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let mut config = Config::default();
        let error = config
            .apply_environment(|name| (name == "SKILL_SCANNER_PORT").then(|| String::from("x")))
            .unwrap_err();
        assert!(error.to_string().contains("SKILL_SCANNER_PORT"), "{error}");
        assert!(error.to_string().contains("\"x\""), "{error}");
    }

    #[test]
    fn oversized_file_is_rejected_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        // The setting sits past the limit, where a truncated read would silently drop it.
        let mut text = "#".repeat(usize::try_from(MAX_CONFIG_BYTES).unwrap());
        text.push_str("\nport: 9001\n");
        std::fs::write(&path, text).unwrap();

        let error = Config::from_file(&path).unwrap_err();
        assert!(matches!(error, ConfigError::TooLarge { .. }), "{error}");
        assert!(error.to_string().contains("1048576"), "{error}");
    }

    #[test]
    fn config_file_sets_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "port: 9001\narchive:\n  max_entries: 10\n").unwrap();

        let config = Config::from_file(&path).unwrap();
        assert_eq!(config.port, 9001);
        assert_eq!(config.archive.max_entries, 10);
    }

    #[test]
    fn relative_allowed_root_is_rejected() {
        let config = Config {
            allowed_roots: vec![PathBuf::from("srv")],
            ..Config::default()
        };
        assert!(config.validate().unwrap_err().to_string().contains("srv"));
    }
}
