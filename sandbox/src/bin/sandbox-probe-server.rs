//! Fork server with the escape-probe handler, for the escape tests and the benchmark.
//!
//! Started by `forkserver::spawn`, never by hand: it reads its control socket from the
//! environment variable that `spawn` sets. `--layers all|without-seccomp|none` selects the
//! confinement layers of its workers (default `all`); only this test binary has that switch.

use std::process::ExitCode;

use skill_scanner_sandbox::confine::Layers;
use skill_scanner_sandbox::forkserver::serve_with_layers;
use skill_scanner_sandbox::probes::{self, ProbeState};

fn main() -> ExitCode {
    let mut arguments = std::env::args().skip(1);
    let layers = match (arguments.next().as_deref(), arguments.next().as_deref()) {
        (None, _) => Layers::ALL,
        (Some("--layers"), Some("all")) => Layers::ALL,
        (Some("--layers"), Some("without-seccomp")) => Layers::WITHOUT_SECCOMP,
        (Some("--layers"), Some("none")) => Layers::NONE,
        _ => {
            eprintln!("usage: sandbox-probe-server [--layers all|without-seccomp|none]");
            return ExitCode::from(2);
        }
    };

    let state = match ProbeState::new() {
        Ok(state) => state,
        Err(error) => {
            eprintln!("sandbox-probe-server: failed to compile the probe rule: {error}");
            return ExitCode::FAILURE;
        }
    };
    match serve_with_layers(state, probes::handle, layers) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sandbox-probe-server: {error}");
            ExitCode::FAILURE
        }
    }
}
