//! `skill-scanner`: scan skill folders from the command line.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    skill_scanner::cli::run(skill_scanner::cli::Cli::parse())
}
