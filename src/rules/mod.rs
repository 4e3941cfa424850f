//! The rule engine: bundled signatures and YARA rules, plus optional custom packs, compiled
//! once and shared read-only by every scan.

pub mod signatures;
pub mod yara;

use std::path::Path;

use sha2::{Digest, Sha256};

pub use signatures::{Context, SignatureSet};
pub use yara::YaraSet;

mod bundled {
    include!(concat!(env!("OUT_DIR"), "/bundled_rules.rs"));
}

/// Internal signal patterns used by the correlation checks, not findings themselves.
pub const SIGNALS_FILE: &str = "signals.yaml";

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(transparent)]
    Signature(#[from] signatures::SignatureError),
    #[error(transparent)]
    Yara(#[from] yara::YaraError),
    #[error("custom rules directory {path}: {reason}")]
    CustomDir { path: String, reason: String },
}

/// Everything a scan needs from the rules, compiled.
#[derive(Debug)]
pub struct Engine {
    pub signatures: SignatureSet,
    pub yara: YaraSet,
    /// `crate version + short hash of every rule file`, so a result names the exact rules.
    pub rules_version: String,
}

impl Engine {
    /// Compiles the bundled rules.
    pub fn bundled() -> Result<Engine, RulesError> {
        Engine::with_custom(None)
    }

    /// Compiles the bundled rules plus the `.yaml` signatures and `.yar` rules found directly in
    /// `custom_dir`. A custom rule that fails to compile is an error, never skipped.
    pub fn with_custom(custom_dir: Option<&Path>) -> Result<Engine, RulesError> {
        let mut yaml_files: Vec<(String, String)> = Vec::new();
        let mut yara_files: Vec<(String, String)> = Vec::new();
        for (name, text) in bundled::BUNDLED {
            if *name == SIGNALS_FILE {
                continue;
            }
            let entry = (format!("rules/{name}"), (*text).to_string());
            if name.ends_with(".yar") || name.ends_with(".yara") {
                yara_files.push(entry);
            } else {
                yaml_files.push(entry);
            }
        }
        let mut hasher = Sha256::new();
        for (name, text) in yaml_files.iter().chain(&yara_files) {
            hasher.update(name.as_bytes());
            hasher.update(text.as_bytes());
        }
        let bundled_hash = hex::encode(hasher.finalize());
        let mut rules_version = format!(
            "{}+rules.{}",
            env!("CARGO_PKG_VERSION"),
            bundled_hash.get(..12).unwrap_or("")
        );

        let mut custom_signatures = Vec::new();
        if let Some(dir) = custom_dir {
            let (custom_yaml, custom_yara) = read_custom_dir(dir)?;
            if custom_yaml.is_empty() && custom_yara.is_empty() {
                return Err(RulesError::CustomDir {
                    path: dir.display().to_string(),
                    reason: String::from("contains no .yaml, .yml, .yar or .yara rule files"),
                });
            }
            let mut custom_hasher = Sha256::new();
            for (name, text) in custom_yaml.iter().chain(&custom_yara) {
                custom_hasher.update(name.as_bytes());
                custom_hasher.update(text.as_bytes());
            }
            let custom_hash = hex::encode(custom_hasher.finalize());
            rules_version.push_str(&format!("+custom.{}", custom_hash.get(..12).unwrap_or("")));
            custom_signatures = custom_yaml;
            yara_files.extend(custom_yara);
        }

        Ok(Engine {
            signatures: SignatureSet::compile(&yaml_files, &custom_signatures)?,
            yara: YaraSet::compile(&yara_files)?,
            rules_version,
        })
    }

    /// The internal signal patterns (`rules/signals.yaml`).
    pub fn signals_source() -> &'static str {
        bundled::BUNDLED
            .iter()
            .find(|(name, _)| *name == SIGNALS_FILE)
            .map_or("", |(_, text)| *text)
    }

    /// Number of rules of both kinds.
    pub fn rule_count(&self) -> usize {
        self.signatures.rules.len() + self.yara.len()
    }
}

type RuleFiles = Vec<(String, String)>;

fn read_custom_dir(dir: &Path) -> Result<(RuleFiles, RuleFiles), RulesError> {
    const MAX_RULE_FILE_BYTES: u64 = 4 * 1024 * 1024;
    let dir_error = |reason: String| RulesError::CustomDir {
        path: dir.display().to_string(),
        reason,
    };
    let entries = std::fs::read_dir(dir).map_err(|error| dir_error(error.kind().to_string()))?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    paths.sort();

    let mut yaml = Vec::new();
    let mut yara = Vec::new();
    for path in paths {
        let Some(extension) = path.extension().and_then(|extension| extension.to_str()) else {
            continue;
        };
        let target = match extension {
            "yaml" | "yml" => &mut yaml,
            "yar" | "yara" => &mut yara,
            _ => continue,
        };
        let name = path.display().to_string();
        let metadata = std::fs::metadata(&path)
            .map_err(|error| dir_error(format!("{name}: {}", error.kind())))?;
        if metadata.len() > MAX_RULE_FILE_BYTES {
            return Err(dir_error(format!(
                "{name} is {} bytes, over the limit of {MAX_RULE_FILE_BYTES} bytes",
                metadata.len()
            )));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|error| dir_error(format!("{name}: {}", error.kind())))?;
        target.push((name, text));
    }
    Ok((yaml, yara))
}
