//! Entry names: decoding (UTF-8 or CP437), normalization into a relative `/`-separated path,
//! and quoting for error messages.

/// The upper half (0x80 to 0xFF) of IBM code page 437, the encoding ZIP assumes for names
/// without the UTF-8 flag. The lower half is ASCII.
const CP437_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', //
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', //
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', //
    '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', //
    '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', //
    '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', //
    'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', //
    '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{a0}', //
];

/// Characters of a name shown in an error message; longer names are cut.
const MAX_QUOTED_CHARS: usize = 200;

/// Decodes bytes as CP437, in which every byte value is a character.
pub(crate) fn decode_cp437(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&byte| match byte.checked_sub(0x80) {
            None => char::from(byte),
            // The table has 128 entries, so every high byte finds one.
            Some(high) => CP437_HIGH
                .get(usize::from(high))
                .copied()
                .unwrap_or(char::REPLACEMENT_CHARACTER),
        })
        .collect()
}

/// Decodes a raw entry name: UTF-8 when the entry sets the UTF-8 flag (general purpose bit
/// 11), else CP437. Returns `None` for a flagged name that is not valid UTF-8.
pub(crate) fn decode(raw: &[u8], utf8_flag: bool) -> Option<String> {
    // NOTE: Unix archivers often write UTF-8 names without the flag (Info-ZIP Zip 3.0 does in
    // the C locale), so such names come out as CP437 mojibake. The path checks are unaffected:
    // the bytes they look at are ASCII, which both encodings share.
    if utf8_flag {
        std::str::from_utf8(raw).ok().map(str::to_owned)
    } else {
        Some(decode_cp437(raw))
    }
}

/// Decodes a name for display in an error, replacing invalid UTF-8 instead of failing.
pub(crate) fn decode_lossy(raw: &[u8], utf8_flag: bool) -> String {
    if utf8_flag {
        String::from_utf8_lossy(raw).into_owned()
    } else {
        decode_cp437(raw)
    }
}

/// A defect that keeps a name from being extracted below the archive root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameProblem {
    /// A `..` component, or one that Windows reads as `..` (dots and trailing spaces only).
    ParentComponent,
    Absolute,
    DriveLetter,
    /// A leading `~`, which shells and some extractors expand to a home directory.
    HomeDirectory,
    Nul,
    /// Nothing is left after empty and `.` components are dropped.
    Empty,
}

impl NameProblem {
    /// Describes the problem for an error message.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            NameProblem::ParentComponent => "\"..\" component",
            NameProblem::Absolute => "absolute path",
            NameProblem::DriveLetter => "drive letter",
            NameProblem::HomeDirectory => "leading \"~\"",
            NameProblem::Nul => "NUL byte",
            NameProblem::Empty => "empty name",
        }
    }

    /// True for the problems that would place a file outside the extraction root.
    pub(crate) fn is_traversal(self) -> bool {
        matches!(
            self,
            NameProblem::ParentComponent
                | NameProblem::Absolute
                | NameProblem::DriveLetter
                | NameProblem::HomeDirectory
        )
    }
}

/// A decoded name turned into a path relative to the archive root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NormalizedName {
    /// Components joined with `/`, without leading, trailing or repeated separators.
    pub path: String,
    /// The name ended with a separator, which marks a directory entry.
    pub directory: bool,
    pub depth: usize,
}

/// Normalizes a decoded name. Backslashes count as separators because Windows extractors
/// split on them; empty and `.` components are dropped.
pub(crate) fn normalize(name: &str) -> Result<NormalizedName, NameProblem> {
    if name.contains('\0') {
        return Err(NameProblem::Nul);
    }
    let unified = name.replace('\\', "/");
    if unified.starts_with('/') {
        return Err(NameProblem::Absolute);
    }
    if starts_with_drive_letter(&unified) {
        return Err(NameProblem::DriveLetter);
    }
    if unified.starts_with('~') {
        return Err(NameProblem::HomeDirectory);
    }

    let mut components = Vec::new();
    for component in unified.split('/') {
        if component.is_empty() || component == "." {
            continue;
        }
        // Windows drops trailing dots and spaces from a component, so ".. " and "..." both
        // become a parent reference there.
        if component.trim_end_matches(['.', ' ']).is_empty() {
            return Err(NameProblem::ParentComponent);
        }
        components.push(component);
    }
    let Some(first) = components.first() else {
        return Err(NameProblem::Empty);
    };
    // Dropping empty and `.` components can bring a drive letter or `~` to the front, as in
    // `./C:/x` and `.//~/x`, so the normalized path is checked again.
    if starts_with_drive_letter(first) {
        return Err(NameProblem::DriveLetter);
    }
    if first.starts_with('~') {
        return Err(NameProblem::HomeDirectory);
    }
    Ok(NormalizedName {
        path: components.join("/"),
        directory: unified.ends_with('/'),
        depth: components.len(),
    })
}

fn starts_with_drive_letter(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(
        (chars.next(), chars.next()),
        (Some(letter), Some(':')) if letter.is_ascii_alphabetic()
    )
}

/// Quotes a name for an error message: see [`escape`], inside double quotes, with the `…`
/// of a cut name after the closing quote.
pub(crate) fn quote(name: &str) -> String {
    let (escaped, cut) = escape_head(name);
    let mark = if cut { "…" } else { "" };
    format!("\"{escaped}\"{mark}")
}

/// Escapes a name for a message: control characters and Unicode bidirectional and invisible
/// formatting characters become `\u{..}`, quotes and backslashes are escaped, and names past
/// 200 characters are cut and marked with a trailing `…`.
pub(crate) fn escape(name: &str) -> String {
    let (mut escaped, cut) = escape_head(name);
    if cut {
        escaped.push('…');
    }
    escaped
}

/// Escapes the first 200 characters of a name and returns whether any were left out.
fn escape_head(name: &str) -> (String, bool) {
    let mut escaped = String::new();
    for character in name.chars().take(MAX_QUOTED_CHARS) {
        match character {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            _ if character.is_control() || is_invisible_format(character) => {
                escaped.push_str(&format!("\\u{{{:x}}}", u32::from(character)));
            }
            _ => escaped.push(character),
        }
    }
    (escaped, name.chars().nth(MAX_QUOTED_CHARS).is_some())
}

/// Characters that change how the surrounding text displays without showing themselves.
fn is_invisible_format(character: char) -> bool {
    matches!(
        character,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp437_decodes_high_half() {
        assert_eq!(decode_cp437(b"caf\x82.txt"), "café.txt");
        assert_eq!(decode_cp437(b"\x80\x9e\xe1\xff"), "Ç₧ß\u{a0}");
        assert_eq!(decode_cp437(b"plain/ascii.md"), "plain/ascii.md");
    }

    #[test]
    fn cp437_table_has_no_ascii_or_repeats() {
        let mut seen = std::collections::BTreeSet::new();
        for character in CP437_HIGH {
            assert!(!character.is_ascii(), "{character:?}");
            assert!(seen.insert(character), "{character:?} appears twice");
        }
    }

    #[test]
    fn decode_respects_utf8_flag() {
        assert_eq!(decode("café".as_bytes(), true).as_deref(), Some("café"));
        assert_eq!(decode("café".as_bytes(), false).as_deref(), Some("caf├⌐"));
        assert_eq!(decode(b"caf\xe9", true), None);
        assert_eq!(decode_lossy(b"caf\xe9", true), "caf\u{fffd}");
    }

    #[test]
    fn normalize_drops_empty_and_dot_components() {
        let name = normalize("a//./b\\c/").unwrap();
        assert_eq!(name.path, "a/b/c");
        assert!(name.directory);
        assert_eq!(name.depth, 3);
        assert!(!normalize("a/b.txt").unwrap().directory);
    }

    #[test]
    fn normalize_rejects_escapes() {
        let cases = [
            ("../evil", NameProblem::ParentComponent),
            ("a/../../evil", NameProblem::ParentComponent),
            ("a\\..\\evil", NameProblem::ParentComponent),
            ("a/.. /evil", NameProblem::ParentComponent),
            ("a/.../evil", NameProblem::ParentComponent),
            ("/etc/passwd", NameProblem::Absolute),
            ("\\\\server\\share", NameProblem::Absolute),
            ("C:/Windows/evil.dll", NameProblem::DriveLetter),
            ("c:evil", NameProblem::DriveLetter),
            ("~/.bashrc", NameProblem::HomeDirectory),
            ("./C:/Windows/evil.dll", NameProblem::DriveLetter),
            ("/.\\c:evil", NameProblem::Absolute),
            (".\\c:evil", NameProblem::DriveLetter),
            ("./~/.bashrc", NameProblem::HomeDirectory),
            (".//~", NameProblem::HomeDirectory),
            ("a\0b", NameProblem::Nul),
            ("./", NameProblem::Empty),
            ("", NameProblem::Empty),
        ];
        for (name, problem) in cases {
            assert_eq!(normalize(name), Err(problem), "{name:?}");
        }
    }

    #[test]
    fn normalize_keeps_dotted_names() {
        assert_eq!(normalize("a/..b/c..").unwrap().path, "a/..b/c..");
        assert_eq!(normalize(".hidden/x").unwrap().path, ".hidden/x");
        assert_eq!(normalize("a/~b").unwrap().path, "a/~b");
    }

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote("a\nb"), "\"a\\u{a}b\"");
        assert_eq!(quote("x\u{202e}y"), "\"x\\u{202e}y\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
        let long = "x".repeat(300);
        let quoted = quote(&long);
        assert_eq!(quoted.chars().filter(|c| *c == 'x').count(), 200);
        assert!(quoted.ends_with("\"…"));
        assert_eq!(quote("wait…"), "\"wait…\"");
        assert_eq!(escape("a\tb"), "a\\u{9}b");
    }
}
