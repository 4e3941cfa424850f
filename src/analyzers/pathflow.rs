//! Path traversal in Python: a function that builds a file path from a base directory and one
//! of its parameters, then opens it, with no normalisation or containment check in between.
//!
//! This is a deliberately small, function-local dataflow check: it follows assignments inside
//! one function body, not across calls or files. It flags the pattern where code means to keep
//! reads under a base directory (`os.path.join(base, name)`, `f"/srv/{name}"`) but never checks
//! that `name` cannot climb out with `..` or an absolute path.

use std::sync::LazyLock;

use regex::Regex;

/// One unvalidated path read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathFlow {
    pub function: String,
    pub parameter: String,
    /// Byte offset of the sink (the `open` call) in the file.
    pub offset: usize,
    /// The base directory is an absolute system location such as `/etc` or `/home`.
    pub system_base: bool,
}

static DEF: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^(\s*)(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(([^)]*)\)").ok());
static ASSIGN: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^\s*([A-Za-z_]\w*)\s*=\s*(.+)$").ok());
static SANITIZER: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"realpath|abspath|normpath|\.resolve\(|commonpath|is_relative_to|startswith|basename|secure_filename|["']\.\.["']|relative_to"#)
        .ok()
});
/// Its word boundaries are ASCII, which keeps the lazy DFA running on non-ASCII text.
static SINK: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)(?:open|io\.open|Path)\s*\(\s*([A-Za-z_]\w*)(?-u:\b)|(?-u:\b)([A-Za-z_]\w*)\.(?:read_text|read_bytes|open)\s*\(").ok()
});
static SYSTEM_BASE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"["']/(?:etc|home|root|var|usr|opt|srv|Users)(?-u:\b)"#).ok());

/// Finds unvalidated reads of paths built from a function parameter.
pub fn find(text: &str) -> Vec<PathFlow> {
    let (Some(def), Some(assign), Some(sanitizer), Some(sink), Some(system_base)) =
        (&*DEF, &*ASSIGN, &*SANITIZER, &*SINK, &*SYSTEM_BASE)
    else {
        return Vec::new();
    };
    let lines: Vec<(usize, &str)> = text
        .split_inclusive('\n')
        .scan(0usize, |offset, line| {
            let start = *offset;
            *offset += line.len();
            Some((start, line.trim_end_matches(['\n', '\r'])))
        })
        .collect();

    let mut found = Vec::new();
    for (index, (_, line)) in lines.iter().enumerate() {
        let Some(captures) = def.captures(line) else {
            continue;
        };
        let indent = captures.get(1).map_or(0, |m| m.as_str().len());
        let function = captures.get(2).map_or("", |m| m.as_str()).to_string();
        let parameters = parameter_names(captures.get(3).map_or("", |m| m.as_str()));
        if parameters.is_empty() {
            continue;
        }

        let body: Vec<(usize, &str)> = lines
            .iter()
            .skip(index + 1)
            .take_while(|(_, body_line)| {
                body_line.trim().is_empty() || leading_spaces(body_line) > indent
            })
            .copied()
            .collect();
        if body
            .iter()
            .any(|(_, body_line)| sanitizer.is_match(code_part(body_line)))
        {
            continue;
        }

        // Variables holding a path built from a base and a parameter, with the parameter.
        let mut tainted: Vec<(String, String, bool)> = Vec::new();
        for (_, body_line) in &body {
            let code = code_part(body_line);
            let Some(assignment) = assign.captures(code) else {
                continue;
            };
            let target = assignment.get(1).map_or("", |m| m.as_str());
            let expression = assignment.get(2).map_or("", |m| m.as_str());
            let source = parameters
                .iter()
                .chain(tainted.iter().map(|(name, _, _)| name))
                .find(|name| builds_path_from(expression, name))
                .cloned();
            if let Some(source) = source {
                let parameter = tainted
                    .iter()
                    .find(|(name, _, _)| *name == source)
                    .map_or(source.clone(), |(_, parameter, _)| parameter.clone());
                let system = system_base.is_match(expression)
                    || tainted
                        .iter()
                        .any(|(name, _, system)| *system && expression.contains(name.as_str()));
                tainted.push((target.to_string(), parameter, system));
            }
        }
        if tainted.is_empty() {
            continue;
        }
        for (offset, body_line) in &body {
            let code = code_part(body_line);
            for sink_match in sink.captures_iter(code) {
                let variable = sink_match
                    .get(1)
                    .or_else(|| sink_match.get(2))
                    .map_or("", |m| m.as_str());
                if let Some((_, parameter, system)) =
                    tainted.iter().find(|(name, _, _)| name == variable)
                {
                    found.push(PathFlow {
                        function: function.clone(),
                        parameter: parameter.clone(),
                        offset: offset + sink_match.get(0).map_or(0, |m| m.start()),
                        system_base: *system,
                    });
                }
            }
        }
    }
    found.dedup_by(|a, b| a.function == b.function);
    found
}

fn parameter_names(list: &str) -> Vec<String> {
    list.split(',')
        .filter_map(|part| {
            let name = part
                .split([':', '='])
                .next()?
                .trim()
                .trim_start_matches('*');
            let valid = !name.is_empty()
                && name != "self"
                && name != "cls"
                && name
                    .chars()
                    .all(|character| character.is_ascii_alphanumeric() || character == '_');
            valid.then(|| name.to_string())
        })
        .collect()
}

/// True when `expression` joins or formats `name` onto a path: the parameter is a later part
/// of `os.path.join`, a `{name}` field in an f-string, or concatenated with `+` or `/`.
fn builds_path_from(expression: &str, name: &str) -> bool {
    let word = |text: &str| {
        text.match_indices(name).any(|(position, _)| {
            let before = text
                .get(..position)
                .and_then(|head| head.chars().next_back());
            let after = text
                .get(position + name.len()..)
                .and_then(|tail| tail.chars().next());
            !before.is_some_and(|character| character.is_alphanumeric() || character == '_')
                && !after.is_some_and(|character| character.is_alphanumeric() || character == '_')
        })
    };
    if let Some(arguments) = expression.split_once("path.join(").map(|(_, rest)| rest)
        && let Some((_, later)) = arguments.split_once(',')
    {
        return word(later);
    }
    if (expression.starts_with("f\"") || expression.starts_with("f'"))
        && expression.contains(&format!("{{{name}}}"))
    {
        return true;
    }
    // Concatenation: the parameter must come after the operator, as the relative part; a
    // parameter that is the base (`workspace / "feedback.json"`) is not the risk here.
    let after_operator = [" + ", "+", " / "]
        .iter()
        .filter_map(|operator| expression.split_once(operator).map(|(_, rest)| rest))
        .next();
    after_operator.is_some_and(word) && expression.contains(['"', '\''])
}

fn leading_spaces(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The line without a trailing `#` comment (a `#` inside quotes is kept).
fn code_part(line: &str) -> &str {
    let mut quote: Option<char> = None;
    for (position, character) in line.char_indices() {
        match (quote, character) {
            (None, '#') => return line.get(..position).unwrap_or(line),
            (None, '"' | '\'') => quote = Some(character),
            (Some(open), current) if current == open => quote = None,
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_then_open_found() {
        let code = "import os\ndef read_file(name):\n    base = '/srv/docs'\n    full = os.path.join(base, name)\n    with open(full) as f:\n        return f.read()\n";
        let found = find(code);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found.first().map(|flow| flow.parameter.as_str()),
            Some("name")
        );
    }

    #[test]
    fn fstring_system_base_found() {
        let code = "def read_config(config_name):\n    path = f\"/etc/app/{config_name}\"\n    return open(path).read()\n";
        let found = find(code);
        assert_eq!(found.first().map(|flow| flow.system_base), Some(true));
    }

    #[test]
    fn validated_path_ignored() {
        let code = "import os\ndef read_file(name):\n    full = os.path.realpath(os.path.join(BASE, name))\n    if not full.startswith(BASE):\n        raise ValueError\n    return open(full).read()\n";
        assert!(find(code).is_empty());
    }

    #[test]
    fn literal_component_ignored() {
        let code = "import os\ndef load(skill_dir):\n    path = os.path.join(skill_dir, 'SKILL.md')\n    return open(path).read()\n";
        assert!(find(code).is_empty());
    }

    #[test]
    fn parameter_as_base_ignored() {
        let code = "def load(workspace):\n    path = workspace / \"feedback.json\"\n    return path.read_text()\n";
        assert!(find(code).is_empty());
        let code = "def load(name):\n    path = \"/data/\" + name\n    return open(path).read()\n";
        assert_eq!(find(code).len(), 1);
    }

    #[test]
    fn direct_parameter_open_ignored() {
        let code =
            "def convert(input_path):\n    with open(input_path) as f:\n        return f.read()\n";
        assert!(find(code).is_empty());
    }
}
