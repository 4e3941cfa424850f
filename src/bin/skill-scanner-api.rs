//! `skill-scanner-api`: serves the scanner over HTTP, wire-compatible with the reference
//! scanner's API server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use std::sync::Arc;

use skill_scanner::api::Reload;
use skill_scanner::api::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "skill-scanner-api",
    version,
    about = "Serve the skill scanner over HTTP. Every upload and path is scanned in a confined worker."
)]
struct Flags {
    /// Address to listen on.
    #[arg(long)]
    host: Option<std::net::IpAddr>,
    /// Port to listen on.
    #[arg(long)]
    port: Option<u16>,
    /// Re-read the configuration file when it changes, and restart the scanning processes
    /// when the installed binary, and with it the bundled rules, changes. Without this flag,
    /// policy files are still read for every request and a custom rule pack is compiled again
    /// when one of its files changes.
    #[arg(long)]
    reload: bool,
    /// YAML configuration file (also SKILL_SCANNER_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory under which requests may name paths. Repeat the flag for several (also
    /// SKILL_SCANNER_ALLOWED_ROOTS, colon-separated).
    #[arg(long = "allowed-root", value_name = "DIR")]
    allowed_roots: Vec<PathBuf>,
    /// Directory for the batch job database and the upload spool.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Maximum number of workers that scan for requests at once.
    #[arg(long)]
    workers: Option<usize>,
    /// Serve even when workers cannot be confined. For development only, and reported by
    /// /health.
    #[arg(long)]
    allow_unconfined: bool,
}

fn main() -> ExitCode {
    // The fork server is this same program started again with a hidden subcommand. It must
    // run before any thread exists, so it is handled before the runtime starts.
    let mut arguments = std::env::args_os().skip(1);
    if arguments.next().as_deref() == Some(skill_scanner::worker::FORK_SERVER_COMMAND.as_ref()) {
        let mut custom = None;
        let mut huge_pages = false;
        while let Some(argument) = arguments.next() {
            if argument == skill_scanner::worker::HUGE_PAGES_FLAG {
                huge_pages = true;
            } else if argument == "--custom-rules" {
                custom = arguments.next().map(PathBuf::from);
            }
        }
        return match skill_scanner::worker::serve_fork_server(custom.as_deref(), huge_pages) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(2)
            }
        };
    }
    let flags = Flags::parse();
    init_logging();
    match configure(&flags) {
        Ok(config) => {
            let reload = flags.reload.then(|| {
                let watch = config_file(&flags).into_iter().collect();
                let flags = Arc::new(flags);
                Reload {
                    load: Arc::new(move || configure(&flags)),
                    watch,
                }
            });
            run(config, reload)
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr at the `RUST_LOG` level, `info` by default, and as JSON when
/// `SKILL_SCANNER_LOG_FORMAT=json`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("SKILL_SCANNER_LOG_FORMAT").is_ok_and(|format| format == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Returns the configuration file path: `--config`, else `SKILL_SCANNER_CONFIG`.
fn config_file(flags: &Flags) -> Option<PathBuf> {
    flags
        .config
        .clone()
        .or_else(|| std::env::var_os("SKILL_SCANNER_CONFIG").map(PathBuf::from))
}

/// Builds the configuration from the defaults, the file, the environment and the flags, each
/// overriding the one before, and validates it.
fn configure(flags: &Flags) -> Result<Config, String> {
    let mut config = match config_file(flags) {
        Some(path) => Config::from_file(&path).map_err(|error| error.to_string())?,
        None => Config::default(),
    };
    config
        .apply_environment(|name| std::env::var(name).ok())
        .map_err(|error| error.to_string())?;
    apply_flags(flags, &mut config);

    // Relative roots are taken from the working directory, as request paths are.
    let cwd = std::env::current_dir()
        .map_err(|error| format!("cannot read the working directory: {error}"))?;
    config.allowed_roots = config
        .allowed_roots
        .iter()
        .map(|root| cwd.join(root))
        .collect();
    config.validate().map_err(|error| error.to_string())?;
    Ok(config)
}

/// Sets each setting that a command-line flag gives.
fn apply_flags(flags: &Flags, config: &mut Config) {
    if let Some(host) = flags.host {
        config.host = host;
    }
    if let Some(port) = flags.port {
        config.port = port;
    }
    if !flags.allowed_roots.is_empty() {
        config.allowed_roots = flags.allowed_roots.clone();
    }
    if let Some(dir) = &flags.state_dir {
        config.state_dir = dir.clone();
    }
    if let Some(workers) = flags.workers {
        config.workers = workers;
    }
    if flags.allow_unconfined {
        config.allow_unconfined = true;
    }
}

/// Starts the async runtime and serves until a shutdown signal or a start-up error.
fn run(config: Config, reload: Option<Reload>) -> ExitCode {
    if config.allow_unconfined {
        tracing::warn!(
            "allow_unconfined is set: scans run without a sandbox when confinement is unavailable"
        );
    }
    let binary = match std::env::current_exe() {
        Ok(path) => path,
        Err(error) => {
            eprintln!("error: cannot find this program's path to start the sandbox: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(skill_scanner::api::start(config, &binary, reload)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}
