//! `SKILL.md` frontmatter: the YAML block between the leading `---` fences.
//!
//! The frontmatter is attacker-controlled. Parsing is bounded three ways: the block is capped in
//! bytes before the YAML parser sees it, serde_norway refuses alias expansion past its
//! repetition limit (alias bombs) and nesting past its recursion limit. A broken or missing
//! block never stops a scan: the caller records the problem and scans the content anyway.

use serde_norway::Value;

/// The manifest fields the analyzers use. Unknown keys are kept by name only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `None` when the key is absent, which means "no restriction declared".
    pub allowed_tools: Option<Vec<String>>,
    pub license: Option<String>,
    pub compatibility: Option<String>,
    /// Codex's `metadata.short-description`.
    pub short_description: Option<String>,
    pub disable_model_invocation: Option<bool>,
    pub when_to_use: Option<String>,
    /// Keys present that this scanner does not interpret, for the manifest checks.
    pub other_keys: Vec<String>,
    /// Fields that were present with the wrong type, named for the manifest finding.
    pub type_errors: Vec<String>,
}

/// What was found at the top of `SKILL.md`.
#[derive(Clone, Debug, PartialEq)]
pub enum Frontmatter {
    /// A well-formed block; the body starts at `body_offset`.
    Valid {
        manifest: Manifest,
        body_offset: usize,
        body_line: u32,
    },
    /// No `---` fence at the start: the whole file is the body.
    Missing,
    /// A fence was found but the block could not be used; `reason` never quotes the content.
    Invalid {
        reason: String,
        body_offset: usize,
        body_line: u32,
        /// The block passed one of this parser's limits (its size, alias expansions or
        /// nesting depth) rather than being malformed. Agents whose YAML parsers lack these
        /// limits still read its values, which the scan therefore could not check.
        past_limit: bool,
    },
}

/// Splits `SKILL.md` text into frontmatter and body, and parses the frontmatter.
pub fn parse(text: &str, max_bytes: usize) -> Frontmatter {
    let text_start = text.strip_prefix('\u{feff}').map_or(0, |_| 3);
    let rest = text.get(text_start..).unwrap_or("");
    let Some(after_open) = rest
        .strip_prefix("---\n")
        .or_else(|| rest.strip_prefix("---\r\n"))
    else {
        return Frontmatter::Missing;
    };
    let open_len = rest.len() - after_open.len();

    // Find the closing fence: a line that is exactly `---` (or `...`, YAML's document end).
    let mut offset = 0;
    let mut close = None;
    for line in after_open.split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if trimmed == "---" || trimmed == "..." {
            close = Some((offset, offset + line.len()));
            break;
        }
        offset += line.len();
        if offset > max_bytes {
            break;
        }
    }
    let Some((yaml_end, body_start)) = close else {
        let past_limit = offset > max_bytes;
        let reason = if past_limit {
            format!("frontmatter has no closing fence within the limit of {max_bytes} bytes")
        } else {
            String::from("frontmatter has no closing `---` fence")
        };
        return Frontmatter::Invalid {
            reason,
            body_offset: text_start,
            body_line: 1,
            past_limit,
        };
    };

    let body_offset = text_start + open_len + body_start;
    let body_line = line_of(text, body_offset);
    let yaml = after_open.get(..yaml_end).unwrap_or("");
    if yaml.len() > max_bytes {
        return Frontmatter::Invalid {
            reason: format!(
                "frontmatter is {} bytes, over the limit of {max_bytes} bytes",
                yaml.len()
            ),
            body_offset,
            body_line,
            past_limit: true,
        };
    }
    match serde_norway::from_str::<Value>(yaml) {
        Ok(Value::Mapping(mapping)) => Frontmatter::Valid {
            manifest: manifest_from(&mapping),
            body_offset,
            body_line,
        },
        Ok(Value::Null) => Frontmatter::Invalid {
            reason: String::from("frontmatter is empty"),
            body_offset,
            body_line,
            past_limit: false,
        },
        Ok(_) => Frontmatter::Invalid {
            reason: String::from("frontmatter is not a mapping of keys to values"),
            body_offset,
            body_line,
            past_limit: false,
        },
        Err(error) => Frontmatter::Invalid {
            reason: describe_yaml_error(&error),
            body_offset,
            body_line,
            past_limit: YamlProblem::of(&error) != YamlProblem::Invalid,
        },
    }
}

/// The kind of YAML error serde_norway reported: one of its limits, or malformed input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum YamlProblem {
    AliasExpansions,
    Nesting,
    Invalid,
}

impl YamlProblem {
    /// Classifies an error by its message, because serde_norway 0.9 exposes no error kind.
    fn of(error: &serde_norway::Error) -> YamlProblem {
        let message = error.to_string();
        if message.contains("repetition limit") {
            YamlProblem::AliasExpansions
        } else if message.contains("recursion limit") {
            YamlProblem::Nesting
        } else {
            YamlProblem::Invalid
        }
    }
}

/// Describes a YAML error by its kind and position only: serde messages can quote the input,
/// and the input is the attacker's.
pub fn describe_yaml_error(error: &serde_norway::Error) -> String {
    let kind = match YamlProblem::of(error) {
        YamlProblem::AliasExpansions => "too many alias expansions (possible alias bomb)",
        YamlProblem::Nesting => "nested too deeply",
        YamlProblem::Invalid => "invalid YAML",
    };
    match error.location() {
        Some(location) => format!(
            "frontmatter is {kind} at line {}, column {}",
            location.line(),
            location.column()
        ),
        None => format!("frontmatter is {kind}"),
    }
}

fn manifest_from(mapping: &serde_norway::Mapping) -> Manifest {
    let mut manifest = Manifest::default();
    for (key, value) in mapping {
        let Some(key) = key.as_str() else {
            manifest.type_errors.push(String::from("(non-string key)"));
            continue;
        };
        match key {
            "name" => manifest.name = string_field(key, value, &mut manifest.type_errors),
            "description" => {
                manifest.description = string_field(key, value, &mut manifest.type_errors)
            }
            "license" => manifest.license = string_field(key, value, &mut manifest.type_errors),
            "compatibility" => {
                manifest.compatibility = string_field(key, value, &mut manifest.type_errors)
            }
            "when_to_use" | "when-to-use" => {
                manifest.when_to_use = string_field(key, value, &mut manifest.type_errors)
            }
            "allowed-tools" | "allowed_tools" => {
                manifest.allowed_tools = tools_field(value, &mut manifest.type_errors)
            }
            "disable-model-invocation" | "disable_model_invocation" => match value {
                Value::Bool(flag) => manifest.disable_model_invocation = Some(*flag),
                _ => manifest.type_errors.push(key.to_string()),
            },
            "metadata" => match value {
                Value::Mapping(metadata) => {
                    let short = metadata.get("short-description");
                    if let Some(short) = short {
                        manifest.short_description = string_field(
                            "metadata.short-description",
                            short,
                            &mut manifest.type_errors,
                        );
                    }
                }
                Value::Null => {}
                _ => manifest.type_errors.push(key.to_string()),
            },
            other => manifest.other_keys.push(truncate(other, 64)),
        }
    }
    manifest
}

fn string_field(key: &str, value: &Value, errors: &mut Vec<String>) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null => None,
        _ => {
            errors.push(key.to_string());
            None
        }
    }
}

/// `allowed-tools` comes as a YAML list or as one string separated by commas or spaces.
fn tools_field(value: &Value, errors: &mut Vec<String>) -> Option<Vec<String>> {
    match value {
        Value::Sequence(items) => Some(
            items
                .iter()
                .filter_map(|item| item.as_str())
                .map(|tool| tool.trim().to_string())
                .filter(|tool| !tool.is_empty())
                .collect(),
        ),
        Value::String(text) => Some(split_tools(text)),
        Value::Null => Some(Vec::new()),
        _ => {
            errors.push(String::from("allowed-tools"));
            None
        }
    }
}

/// Splits `"Read, Grep Bash(git:*)"` into tools, keeping parenthesised arguments whole.
fn split_tools(text: &str) -> Vec<String> {
    let mut tools = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for character in text.chars() {
        match character {
            '(' => {
                depth += 1;
                current.push(character);
            }
            ')' => {
                depth = depth.saturating_sub(1);
                current.push(character);
            }
            ',' | ' ' | '\t' | '\n' if depth == 0 => {
                if !current.trim().is_empty() {
                    tools.push(current.trim().to_string());
                }
                current.clear();
            }
            _ => current.push(character),
        }
    }
    if !current.trim().is_empty() {
        tools.push(current.trim().to_string());
    }
    tools
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// The 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> u32 {
    let prefix = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
    let newlines = prefix.iter().filter(|byte| **byte == b'\n').count();
    u32::try_from(newlines + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 64 * 1024;

    fn manifest(text: &str) -> Manifest {
        match parse(text, LIMIT) {
            Frontmatter::Valid { manifest, .. } => manifest,
            other => unreachable!("expected valid frontmatter, got {other:?}"),
        }
    }

    #[test]
    fn parses_standard_fields() {
        let parsed = manifest(
            "---\nname: pdf\ndescription: Reads PDFs\nlicense: MIT\nallowed-tools: [Read, Bash]\n\
             metadata:\n  short-description: PDFs\ndisable-model-invocation: true\nwhen_to_use: docs\n---\n# Body\n",
        );
        assert_eq!(parsed.name.as_deref(), Some("pdf"));
        assert_eq!(parsed.description.as_deref(), Some("Reads PDFs"));
        assert_eq!(parsed.license.as_deref(), Some("MIT"));
        assert_eq!(
            parsed.allowed_tools,
            Some(vec![String::from("Read"), String::from("Bash")])
        );
        assert_eq!(parsed.short_description.as_deref(), Some("PDFs"));
        assert_eq!(parsed.disable_model_invocation, Some(true));
        assert_eq!(parsed.when_to_use.as_deref(), Some("docs"));
    }

    #[test]
    fn allowed_tools_as_string() {
        let parsed = manifest("---\nname: x\nallowed-tools: Read, Grep Bash(git status:*)\n---\n");
        assert_eq!(
            parsed.allowed_tools,
            Some(vec![
                String::from("Read"),
                String::from("Grep"),
                String::from("Bash(git status:*)")
            ])
        );
    }

    #[test]
    fn missing_fence_is_missing() {
        assert_eq!(parse("# Just markdown\n", LIMIT), Frontmatter::Missing);
    }

    #[test]
    fn body_offset_and_line() {
        let text = "---\nname: x\n---\nBody\n";
        let Frontmatter::Valid {
            body_offset,
            body_line,
            ..
        } = parse(text, LIMIT)
        else {
            unreachable!("valid frontmatter");
        };
        assert_eq!(text.get(body_offset..), Some("Body\n"));
        assert_eq!(body_line, 4);
    }

    #[test]
    fn broken_yaml_is_invalid_without_quoting() {
        let secret = "ignore-previous-instructions-payload";
        let text = format!("---\nname: [unclosed {secret}\n---\nBody\n");
        let Frontmatter::Invalid {
            reason,
            body_offset,
            past_limit,
            ..
        } = parse(&text, LIMIT)
        else {
            unreachable!("invalid frontmatter");
        };
        assert!(reason.contains("invalid YAML"), "{reason}");
        assert!(!reason.contains(secret), "{reason}");
        assert!(!past_limit);
        assert_eq!(text.get(body_offset..), Some("Body\n"));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut yaml = String::from(
            "---\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for level in 1..10 {
            let previous = (b'a' + level - 1) as char;
            let current = (b'a' + level) as char;
            let refs = vec![format!("*{previous}"); 9].join(",");
            yaml.push_str(&format!("{current}: &{current} [{refs}]\n"));
        }
        yaml.push_str("---\nBody\n");
        let Frontmatter::Invalid {
            reason, past_limit, ..
        } = parse(&yaml, LIMIT)
        else {
            unreachable!("alias bomb must be refused");
        };
        assert!(reason.contains("alias"), "{reason}");
        assert!(past_limit);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let depth = 10_000;
        let yaml = format!("---\na: {}{}\n---\n", "[".repeat(depth), "]".repeat(depth));
        let Frontmatter::Invalid {
            reason, past_limit, ..
        } = parse(&yaml, LIMIT)
        else {
            unreachable!("deep nesting must be refused");
        };
        assert!(reason.contains("nested too deeply"), "{reason}");
        assert!(past_limit);
    }

    #[test]
    fn oversized_block_is_refused() {
        let yaml = format!("---\ndescription: {}\n---\n", "a".repeat(LIMIT + 10));
        let Frontmatter::Invalid {
            reason, past_limit, ..
        } = parse(&yaml, LIMIT)
        else {
            unreachable!("oversized frontmatter must be refused");
        };
        assert!(reason.contains("limit"), "{reason}");
        assert!(past_limit);
    }

    #[test]
    fn list_is_invalid_within_limits() {
        let Frontmatter::Invalid {
            reason, past_limit, ..
        } = parse(
            "---
- name
- description
---
",
            LIMIT,
        )
        else {
            unreachable!("a list is no manifest");
        };
        assert!(reason.contains("not a mapping"), "{reason}");
        assert!(!past_limit);
    }

    #[test]
    fn wrong_types_are_recorded() {
        let parsed = manifest("---\nname: {a: 1}\ndescription: ok\nfoo: bar\n---\n");
        assert_eq!(parsed.name, None);
        assert_eq!(parsed.type_errors, vec![String::from("name")]);
        assert_eq!(parsed.other_keys, vec![String::from("foo")]);
    }
}
