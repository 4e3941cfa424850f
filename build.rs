//! Embeds every file under `rules/` into the binary, so the scanner needs nothing on disk.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=rules");
    let mut files = Vec::new();
    collect(Path::new("rules"), &mut files);
    files.sort();

    let mut source = String::from(
        "/// Bundled rule files: path under `rules/` and content.\npub static BUNDLED: &[(&str, &str)] = &[\n",
    );
    // Paths are spelled relative to the manifest directory of the crate being compiled, not
    // as absolute paths: checkouts at different paths can share one target directory and
    // with it this generated file, and each must embed its own rules.
    for path in &files {
        let relative = path.strip_prefix("rules/").unwrap_or(path);
        let _ = writeln!(
            source,
            "    ({relative:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/\", {path:?}))),"
        );
    }
    source.push_str("];\n");

    let out = std::env::var("OUT_DIR").unwrap_or_else(|_| String::from("."));
    let _ = std::fs::write(Path::new(&out).join("bundled_rules.rs"), source);
}

fn collect(dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(&path, files);
        } else if matches!(
            path.extension().and_then(|extension| extension.to_str()),
            Some("yaml" | "yml" | "yar" | "yara")
        ) {
            files.push(path.display().to_string());
        }
    }
}
