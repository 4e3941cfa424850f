//! Report formats: JSON (the wire format), SARIF 2.1.0, Markdown, a terminal table and HTML.
//!
//! Everything in a finding (file names, snippets, titles of custom rules, skill names) is
//! attacker-controlled text. Each format escapes it for its own syntax; see [`sanitize`].

#[cfg(test)]
mod fixtures;
pub mod html;
pub mod markdown;
pub mod sanitize;
pub mod sarif;
mod summary;
pub mod table;

use crate::model::{BatchReport, ScanResult};

/// The output formats of the CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Sarif,
    Markdown,
    Table,
    Html,
}

/// What is being reported: one skill (`scan`) or many (`scan-all`).
#[derive(Clone, Copy, Debug)]
pub enum Report<'a> {
    Single(&'a ScanResult),
    Batch(&'a BatchReport),
}

impl Report<'_> {
    /// The results, one or many.
    pub fn results(&self) -> Vec<&ScanResult> {
        match self {
            Report::Single(result) => vec![*result],
            Report::Batch(batch) => batch.results.iter().collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot serialize the report: {0}")]
    Json(#[from] serde_json::Error),
}

/// Renders a report in the given format.
pub fn render(format: Format, report: Report<'_>) -> Result<String, ReportError> {
    match format {
        Format::Json => json(report),
        Format::Sarif => sarif::render(report),
        Format::Markdown => Ok(markdown::render(report)),
        Format::Table => Ok(table::render(report)),
        Format::Html => Ok(html::render(report)),
    }
}

/// The JSON report: a single `ScanResult`, or the batch report with its summary.
pub fn json(report: Report<'_>) -> Result<String, ReportError> {
    let mut text = match report {
        Report::Single(result) => serde_json::to_string_pretty(result)?,
        Report::Batch(batch) => serde_json::to_string_pretty(batch)?,
    };
    text.push('\n');
    Ok(text)
}
