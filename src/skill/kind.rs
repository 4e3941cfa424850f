//! File type detection: by extension first, then by content, so that a script or executable
//! hidden behind an innocent extension is noticed.

use serde::{Deserialize, Serialize};

/// What a file is, as far as the analyzers are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Markdown,
    Python,
    JavaScript,
    Shell,
    PowerShell,
    Batch,
    Ruby,
    Perl,
    Php,
    Go,
    Rust,
    C,
    Java,
    Config,
    Html,
    Text,
    /// Compiled Python (`.pyc`): bytecode without its source is not analyzable text.
    Bytecode,
    /// An archive the loader can open (gzip, tar, tar.gz, zip).
    Archive,
    /// A native executable or shared library (ELF, PE, Mach-O).
    Executable,
    /// Any other binary content (images, fonts, PDFs).
    Binary,
}

impl FileKind {
    pub const TEXT_KINDS: [FileKind; 16] = [
        FileKind::Markdown,
        FileKind::Python,
        FileKind::JavaScript,
        FileKind::Shell,
        FileKind::PowerShell,
        FileKind::Batch,
        FileKind::Ruby,
        FileKind::Perl,
        FileKind::Php,
        FileKind::Go,
        FileKind::Rust,
        FileKind::C,
        FileKind::Java,
        FileKind::Config,
        FileKind::Html,
        FileKind::Text,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Markdown => "markdown",
            FileKind::Python => "python",
            FileKind::JavaScript => "javascript",
            FileKind::Shell => "shell",
            FileKind::PowerShell => "powershell",
            FileKind::Batch => "batch",
            FileKind::Ruby => "ruby",
            FileKind::Perl => "perl",
            FileKind::Php => "php",
            FileKind::Go => "go",
            FileKind::Rust => "rust",
            FileKind::C => "c",
            FileKind::Java => "java",
            FileKind::Config => "config",
            FileKind::Html => "html",
            FileKind::Text => "text",
            FileKind::Bytecode => "bytecode",
            FileKind::Archive => "archive",
            FileKind::Executable => "executable",
            FileKind::Binary => "binary",
        }
    }

    /// True for programs and scripts: the kinds whose text can run.
    pub fn is_code(self) -> bool {
        matches!(
            self,
            FileKind::Python
                | FileKind::JavaScript
                | FileKind::Shell
                | FileKind::PowerShell
                | FileKind::Batch
                | FileKind::Ruby
                | FileKind::Perl
                | FileKind::Php
                | FileKind::Go
                | FileKind::Rust
                | FileKind::C
                | FileKind::Java
        )
    }

    pub fn is_text(self) -> bool {
        FileKind::TEXT_KINDS.contains(&self)
    }

    /// The kind an extension promises, lower-cased, without the dot.
    pub fn from_extension(extension: &str) -> Option<FileKind> {
        let kind = match extension {
            "md" | "mdx" | "markdown" => FileKind::Markdown,
            "py" | "pyw" | "pyi" => FileKind::Python,
            "js" | "mjs" | "cjs" | "ts" | "tsx" | "jsx" | "mts" | "cts" => FileKind::JavaScript,
            "sh" | "bash" | "zsh" | "ksh" | "fish" | "command" => FileKind::Shell,
            "ps1" | "psm1" | "psd1" => FileKind::PowerShell,
            "bat" | "cmd" => FileKind::Batch,
            "rb" => FileKind::Ruby,
            "pl" | "pm" => FileKind::Perl,
            "php" | "phtml" => FileKind::Php,
            "go" => FileKind::Go,
            "rs" => FileKind::Rust,
            "c" | "h" | "cc" | "cpp" | "hpp" | "cxx" => FileKind::C,
            "java" | "kt" | "scala" | "groovy" => FileKind::Java,
            "yaml" | "yml" | "json" | "jsonc" | "toml" | "ini" | "cfg" | "conf" | "env"
            | "properties" | "xml" | "plist" | "lock" => FileKind::Config,
            "html" | "htm" | "svg" | "xhtml" => FileKind::Html,
            "txt" | "csv" | "tsv" | "rst" | "log" | "css" | "scss" | "sql" => FileKind::Text,
            "pyc" | "pyo" => FileKind::Bytecode,
            "zip" | "jar" | "whl" | "gz" | "tgz" | "tar" | "docx" | "xlsx" | "pptx" | "7z"
            | "rar" | "bz2" | "xz" => FileKind::Archive,
            "exe" | "dll" | "so" | "dylib" | "elf" | "bin" | "o" => FileKind::Executable,
            "png" | "jpg" | "jpeg" | "gif" | "webp" | "ico" | "bmp" | "ttf" | "otf" | "woff"
            | "woff2" | "pdf" | "mp3" | "mp4" | "wav" | "ogg" => FileKind::Binary,
            _ => return None,
        };
        Some(kind)
    }
}

/// The result of looking at a file's name and bytes together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detection {
    /// What the content really is; the analyzers use this.
    pub kind: FileKind,
    /// What the extension claimed, when it claimed something else.
    pub claimed: Option<FileKind>,
}

/// Decides a file's kind from its path and content.
///
/// Content wins over the extension where they disagree on something that matters: native
/// executables, archives, scripts with a shebang, and binary data (NUL bytes or invalid
/// UTF-8) are recognised whatever the file is called.
pub fn detect(path: &str, bytes: &[u8]) -> Detection {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase());
    let claimed = extension.as_deref().and_then(FileKind::from_extension);
    let from_content = detect_content(bytes);

    let kind = match (claimed, from_content) {
        // The content proves a stronger kind than the name: trust the content.
        (_, Some(content @ (FileKind::Executable | FileKind::Archive | FileKind::Bytecode))) => {
            content
        }
        (Some(named), Some(script)) if script.is_code() && named != script => script,
        (None, Some(content)) => content,
        (Some(named), Some(FileKind::Binary)) if named.is_text() => FileKind::Binary,
        (Some(named), _) => named,
        (None, None) => FileKind::Text,
    };
    // "bin" and "so" extensions name executables, but most such files are plain data.
    let kind = match (kind, from_content) {
        (FileKind::Executable, Some(FileKind::Binary)) => FileKind::Binary,
        (FileKind::Executable, None) => FileKind::Text,
        (FileKind::Archive, None) => FileKind::Text,
        (FileKind::Binary, None) if claimed == Some(FileKind::Binary) => FileKind::Text,
        _ => kind,
    };
    let claimed = claimed.filter(|named| *named != kind);
    Detection { kind, claimed }
}

/// Recognises content by magic bytes and shebang lines; `None` means plain UTF-8 text of no
/// particular kind.
fn detect_content(bytes: &[u8]) -> Option<FileKind> {
    if let Some(kind) = infer::get(bytes) {
        let mime = kind.mime_type();
        if mime == "application/x-executable"
            || mime == "application/vnd.microsoft.portable-executable"
            || mime == "application/x-mach-binary"
            || mime == "application/x-sharedlib"
            || mime == "application/x-msdownload"
            || mime == "application/vnd.android.dex"
        {
            return Some(FileKind::Executable);
        }
        // Only containers the loader opens or must report; infer also files PDFs and
        // fonts under "archive".
        if matches!(
            mime,
            "application/zip"
                | "application/gzip"
                | "application/x-tar"
                | "application/x-bzip2"
                | "application/x-xz"
                | "application/x-7z-compressed"
                | "application/vnd.rar"
                | "application/zstd"
                | "application/java-archive"
        ) {
            return Some(FileKind::Archive);
        }
    }
    // Formats built on ZIP (OpenDocument, EPUB, Office Open XML, Android packages) get their
    // own types from infer, but each starts with a local file header and the loader opens it.
    if bytes.starts_with(b"PK\x03\x04") {
        return Some(FileKind::Archive);
    }
    if bytes.starts_with(b"#!") {
        let first_line = bytes.split(|byte| *byte == b'\n').next().unwrap_or(bytes);
        let line = String::from_utf8_lossy(first_line);
        let interpreter = shebang_kind(&line);
        if interpreter.is_some() {
            return interpreter;
        }
    }
    if is_pyc(bytes) {
        return Some(FileKind::Bytecode);
    }
    if bytes.contains(&0) || std::str::from_utf8(bytes).is_err() {
        return Some(FileKind::Binary);
    }
    None
}

fn shebang_kind(line: &str) -> Option<FileKind> {
    let interpreters: [(&str, FileKind); 10] = [
        ("python", FileKind::Python),
        ("node", FileKind::JavaScript),
        ("deno", FileKind::JavaScript),
        ("bash", FileKind::Shell),
        ("zsh", FileKind::Shell),
        ("/sh", FileKind::Shell),
        (" sh", FileKind::Shell),
        ("pwsh", FileKind::PowerShell),
        ("ruby", FileKind::Ruby),
        ("perl", FileKind::Perl),
    ];
    interpreters
        .into_iter()
        .find(|(needle, _)| line.contains(needle))
        .map(|(_, kind)| kind)
}

/// CPython bytecode starts with a two-byte magic number followed by `\r\n`.
fn is_pyc(bytes: &[u8]) -> bool {
    match bytes {
        [low, high, b'\r', b'\n', ..] if bytes.len() >= 16 => {
            let magic = u16::from_le_bytes([*low, *high]);
            (3000..4000).contains(&magic)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_decides_plain_text() {
        assert_eq!(detect("a/run.py", b"print(1)\n").kind, FileKind::Python);
        assert_eq!(detect("SKILL.md", b"# hi\n").kind, FileKind::Markdown);
        assert_eq!(detect("notes", b"hello\n").kind, FileKind::Text);
    }

    #[test]
    fn shebang_beats_innocent_extension() {
        let detection = detect("assets/logo.txt", b"#!/bin/bash\ncurl x | sh\n");
        assert_eq!(detection.kind, FileKind::Shell);
        assert_eq!(detection.claimed, Some(FileKind::Text));
    }

    #[test]
    fn elf_behind_image_name_is_executable() {
        let mut bytes = b"\x7fELF\x02\x01\x01\x00".to_vec();
        bytes.resize(64, 0);
        let detection = detect("assets/icon.png", &bytes);
        assert_eq!(detection.kind, FileKind::Executable);
        assert_eq!(detection.claimed, Some(FileKind::Binary));
    }

    #[test]
    fn nul_and_invalid_utf8_are_binary() {
        assert_eq!(detect("data.txt", b"ab\0cd").kind, FileKind::Binary);
        assert_eq!(detect("data.md", b"ab\xff\xfe").kind, FileKind::Binary);
    }

    #[test]
    fn bin_extension_with_text_is_text() {
        let detection = detect("assets/test.bin", b"X5O!P%@AP\n");
        assert_eq!(detection.kind, FileKind::Text);
    }

    #[test]
    fn zip_based_formats_are_archives() {
        // The stored `mimetype` member that opens every OpenDocument and EPUB file.
        for mime in [
            &b"application/vnd.oasis.opendocument.text"[..],
            b"application/epub+zip",
        ] {
            let mut bytes = b"PK\x03\x04\x14\x00\x00\x00\x00\x00".to_vec();
            bytes.resize(26, 0);
            bytes.extend_from_slice(&[8, 0, 0, 0]);
            bytes.extend_from_slice(b"mimetype");
            bytes.extend_from_slice(mime);
            assert_ne!(
                infer::get(&bytes).map(|kind| kind.mime_type()),
                Some("application/zip")
            );
            assert_eq!(detect("book.epub", &bytes).kind, FileKind::Archive);
        }
    }

    #[test]
    fn gzip_is_archive() {
        let detection = detect("bundle.tar.gz", &[0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(detection.kind, FileKind::Archive);
    }
}
