//! YARA-X rules: compiled once, scanned over the raw bytes of every file.
//!
//! Each rule carries its finding fields as metadata (`category`, `severity`, `title`,
//! `description`, `remediation`) and its own test texts (`test_fire*`, `test_quiet*`). A rule
//! without valid metadata fails compilation of the whole pack: it is never dropped silently.

use std::collections::HashMap;

use crate::model::{Category, Severity};

/// The finding fields of one YARA rule, read from its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct YaraRuleInfo {
    pub identifier: String,
    pub category: Category,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    pub remediation: String,
    /// Texts the rule must match and must not match; raw bytes, since `\xNN` escapes in
    /// metadata may produce invalid UTF-8.
    pub test_fire: Vec<Vec<u8>>,
    pub test_quiet: Vec<Vec<u8>>,
}

impl YaraRuleInfo {
    /// Findings of YARA rules carry a `YARA_` prefix, so their ids never collide with
    /// signature ids.
    pub fn rule_id(&self) -> String {
        format!("YARA_{}", self.identifier)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum YaraError {
    #[error("{file}: YARA rule does not compile: {reason}")]
    Compile { file: String, reason: String },
    #[error("YARA rule {identifier}: {reason}")]
    Meta { identifier: String, reason: String },
}

/// The compiled YARA rules and their metadata by identifier.
pub struct YaraSet {
    pub rules: yara_x::Rules,
    pub info: HashMap<String, YaraRuleInfo>,
}

impl std::fmt::Debug for YaraSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YaraSet")
            .field("rules", &self.info.len())
            .finish()
    }
}

impl YaraSet {
    /// Compiles `(file name, source)` pairs into one rule set.
    pub fn compile(files: &[(String, String)]) -> Result<YaraSet, YaraError> {
        let mut compiler = yara_x::Compiler::new();
        for (file, source) in files {
            let code = yara_x::SourceCode::from(source.as_str()).with_origin(file.as_str());
            compiler
                .add_source(code)
                .map_err(|error| YaraError::Compile {
                    file: file.clone(),
                    reason: error.to_string(),
                })?;
        }
        let rules = compiler.build();

        let mut info = HashMap::new();
        for rule in rules.iter() {
            let parsed = parse_meta(&rule)?;
            info.insert(parsed.identifier.clone(), parsed);
        }
        Ok(YaraSet { rules, info })
    }

    pub fn len(&self) -> usize {
        self.info.len()
    }

    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }
}

fn parse_meta(rule: &yara_x::Rule<'_, '_>) -> Result<YaraRuleInfo, YaraError> {
    let identifier = rule.identifier().to_string();
    let meta_error = |reason: String| YaraError::Meta {
        identifier: identifier.clone(),
        reason,
    };
    let mut strings: HashMap<String, String> = HashMap::new();
    let mut test_fire = Vec::new();
    let mut test_quiet = Vec::new();
    for (key, value) in rule.metadata() {
        let bytes: Vec<u8> = match value {
            yara_x::MetaValue::String(text) => text.as_bytes().to_vec(),
            yara_x::MetaValue::Bytes(bytes) => bytes.to_vec(),
            _ => continue,
        };
        if key.starts_with("test_fire") {
            test_fire.push(bytes);
        } else if key.starts_with("test_quiet") {
            test_quiet.push(bytes);
        } else {
            strings.insert(
                key.to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            );
        }
    }
    let mut field = |name: &str| {
        strings
            .remove(name)
            .ok_or_else(|| meta_error(format!("missing meta `{name}`")))
    };
    let category_text = field("category")?;
    let severity_text = field("severity")?;
    let title = field("title")?;
    let description = field("description")?;
    let remediation = field("remediation")?;
    let category = serde_json::from_value(serde_json::Value::String(category_text.clone()))
        .map_err(|_| meta_error(format!("unknown category `{category_text}`")))?;
    let severity = Severity::parse(&severity_text)
        .ok_or_else(|| meta_error(format!("unknown severity `{severity_text}`")))?;
    Ok(YaraRuleInfo {
        identifier,
        category,
        severity,
        title,
        description,
        remediation,
        test_fire,
        test_quiet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"rule demo_rule {
  meta:
    category = "malware"
    severity = "HIGH"
    title = "t"
    description = "d"
    remediation = "r"
    test_fire = "MARKER"
    test_quiet = "marker"
  strings:
    $a = "MARKER"
  condition:
    $a
}"#;

    #[test]
    fn meta_is_read() {
        let set = YaraSet::compile(&[(String::from("demo.yar"), RULE.to_string())])
            .unwrap_or_else(|error| unreachable!("{error}"));
        let info = set.info.get("demo_rule");
        assert_eq!(info.map(|info| info.severity), Some(Severity::High));
        assert_eq!(
            info.map(|info| info.rule_id()),
            Some(String::from("YARA_demo_rule"))
        );
    }

    #[test]
    fn missing_meta_is_error() {
        let source = RULE.replace("    title = \"t\"\n", "");
        let message = YaraSet::compile(&[(String::from("demo.yar"), source)])
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(message.contains("title"), "{message}");
    }

    #[test]
    fn syntax_error_names_file() {
        let message = YaraSet::compile(&[(String::from("broken.yar"), String::from("rule {"))])
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(message.contains("broken.yar"), "{message}");
    }
}
