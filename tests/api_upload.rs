//! End-to-end tests of `POST /scan-upload` on a real server. The corpus uploaded as ZIP files
//! must get the CLI's verdicts. Every rejected upload must get the reference's status, and its
//! message where that is a fixed sentence. No spool file may outlive its request.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    reason = "test harness"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::hostile_zip::{ZipArchive, ZipEntry, deflate_zeros, zip_folder};
use common::server::{Server, client};
use common::{assert_matches_reference, shared_dir};
use reqwest::blocking::multipart::{Form, Part};
use serde_json::Value;

fn upload_form(server: &Server, form: Form) -> (u16, Value) {
    let response = client()
        .post(server.url("/scan-upload"))
        .multipart(form)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn upload(server: &Server, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_string()));
    upload_form(server, form)
}

/// Zips `(name, content)` pairs.
fn skill_zip(files: &[(&str, &str)]) -> Vec<u8> {
    ZipArchive::new(
        files
            .iter()
            .map(|(name, content)| ZipEntry::file(name, content.as_bytes()))
            .collect(),
    )
    .to_bytes()
}

const SKILL_MD: &str = "---\nname: tiny\ndescription: Adds two numbers for the user.\n---\n# Usage\n\nAdd the numbers.\n";

/// Returns the rule, file and line of each finding, sorted: the parts that identify a verdict.
fn finding_keys(result: &Value) -> Vec<(String, String, String)> {
    let mut keys: Vec<_> = result["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            (
                finding["rule_id"].as_str().unwrap().to_string(),
                finding["file_path"].to_string(),
                finding["line_number"].to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn corpus_uploads_get_the_cli_verdicts() {
    let corpus = shared_dir().join("corpus");
    if !corpus.is_dir() {
        eprintln!("skipped: {} is missing", corpus.display());
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_skill-scanner"))
        .args(["scan-all", "--recursive", "--format", "json"])
        .arg(&corpus)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let cli: BTreeMap<String, Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| {
            let name = Path::new(result["skill_path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, result.clone())
        })
        .collect();
    assert!(cli.len() >= 30, "{} skills", cli.len());

    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&[], state.path(), &[]);
    for (name, expected) in &cli {
        let folder = ["benign", "labeled"]
            .iter()
            .map(|group| corpus.join(group).join(name))
            .find(|path| path.is_dir())
            .unwrap();
        // Zipped with its folder at the top, as people zip a skill.
        let bytes = zip_folder(&folder, &format!("{name}/"));
        let (status, answer) = upload(&server, &format!("{name}.zip"), bytes);
        assert_eq!(status, 200, "{name}: {answer}");
        assert_eq!(answer["is_safe"], expected["is_safe"], "{name}");
        assert_eq!(answer["max_severity"], expected["max_severity"], "{name}");
        assert_eq!(finding_keys(&answer), finding_keys(expected), "{name}");
        assert_eq!(
            answer["scan_metadata"]["upload_sha256"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
    }
}

#[test]
fn rejected_uploads_match_reference() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&[], state.path(), &[]);

    let two = skill_zip(&[("a/SKILL.md", SKILL_MD), ("b/SKILL.md", SKILL_MD)]);
    let (status, answer) = upload(&server, "two.zip", two);
    assert_matches_reference("up_two_skills", status, &answer, true);

    let none = skill_zip(&[("readme.txt", "no manifest")]);
    let (status, answer) = upload(&server, "none.zip", none);
    assert_matches_reference("up_no_skillmd", status, &answer, true);

    for (case, name) in [
        ("up_traversal", "../evil.py"),
        ("up_abs_path", "/etc/evil.py"),
    ] {
        let archive = skill_zip(&[("SKILL.md", SKILL_MD), (name, "print(1)")]);
        let (status, answer) = upload(&server, "bad.zip", archive);
        assert_matches_reference(case, status, &answer, false);
        assert!(
            answer["detail"]
                .as_str()
                .unwrap()
                .contains("path traversal"),
            "{answer}"
        );
    }

    let link = ZipArchive::new(vec![
        ZipEntry::file("SKILL.md", SKILL_MD.as_bytes()),
        ZipEntry::stored("link", b"/etc/passwd").unix_mode(0o120_777),
    ])
    .to_bytes();
    let (status, answer) = upload(&server, "link.zip", link);
    assert_matches_reference("up_symlink", status, &answer, false);
    assert!(
        answer["detail"].as_str().unwrap().contains("symbolic link"),
        "{answer}"
    );

    let mut many = vec![ZipEntry::file("SKILL.md", SKILL_MD.as_bytes())];
    many.extend((0..503).map(|index| ZipEntry::stored(&format!("f/{index}.txt"), b"x")));
    let (status, answer) = upload(&server, "many.zip", ZipArchive::new(many).to_bytes());
    assert_matches_reference("up_many_entries", status, &answer, true);

    let (status, answer) = upload(&server, "empty.zip", Vec::new());
    assert_matches_reference("up_empty", status, &answer, false);
    let (status, answer) = upload(
        &server,
        "junk.zip",
        b"PK\x03\x04 this is no archive".to_vec(),
    );
    assert_matches_reference("up_notzip", status, &answer, false);
    let (status, answer) = upload(&server, "notes.txt", b"plain text".to_vec());
    assert_matches_reference("up_plaintxt", status, &answer, true);

    let (status, answer) = upload_form(&server, Form::new().text("policy", "strict"));
    assert_matches_reference("up_nofile", status, &answer, true);

    let form = Form::new().text("trusted_rule_packs", "/x").part(
        "file",
        Part::bytes(skill_zip(&[("SKILL.md", SKILL_MD)])).file_name("s.zip"),
    );
    let (status, answer) = upload_form(&server, form);
    assert_matches_reference("up_trusted", status, &answer, true);
}

#[test]
fn bombs_rejected_by_inflated_bytes() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&[], state.path(), &[]);

    // 1 GiB of zeros in about 1 MB, rejected by what it inflates to, not what it declares.
    let (zeros, crc) = deflate_zeros(1 << 30);
    let bomb = ZipArchive::new(vec![
        ZipEntry::file("SKILL.md", SKILL_MD.as_bytes()),
        ZipEntry::precompressed(b"zeros.txt", 8, zeros, crc, 1 << 30),
    ])
    .to_bytes();
    let (status, answer) = upload(&server, "bomb.zip", bomb);
    assert_eq!(status, 400, "{answer}");
    let message = answer["detail"].as_str().unwrap();
    assert!(message.contains("limit"), "{message}");

    // A header that claims a small size for the same data.
    let (zeros, crc) = deflate_zeros(300 << 20);
    let liar = ZipArchive::new(vec![
        ZipEntry::file("SKILL.md", SKILL_MD.as_bytes()),
        ZipEntry::precompressed(b"small.txt", 8, zeros, crc, 1000),
    ])
    .to_bytes();
    let (status, answer) = upload(&server, "liar.zip", liar);
    assert_eq!(status, 400, "{answer}");

    // Directories count as entries too.
    let mut dirs = vec![ZipEntry::file("SKILL.md", SKILL_MD.as_bytes())];
    dirs.extend((0..5000).map(|index| ZipEntry::directory(&format!("d{index}/"))));
    let (status, answer) = upload(&server, "dirs.zip", ZipArchive::new(dirs).to_bytes());
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("2000"),
        "{answer}"
    );
}

#[test]
fn options_may_come_before_or_after_the_file() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&[], state.path(), &[]);
    let archive = skill_zip(&[("tiny/SKILL.md", SKILL_MD)]);

    let after = Form::new()
        .part("file", Part::bytes(archive.clone()).file_name("tiny.zip"))
        .text("policy", "strict");
    let (status, answer) = upload_form(&server, after);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["scan_metadata"]["policy_name"], "strict");
    assert_eq!(answer["skill_name"], "tiny");

    let before = Form::new()
        .text("policy", "permissive")
        .text("use_trigger", "false")
        .part("file", Part::bytes(archive).file_name("tiny.zip"));
    let (status, answer) = upload_form(&server, before);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["scan_metadata"]["policy_name"], "permissive");

    let bad = Form::new().text("llm_consensus_runs", "-3").part(
        "file",
        Part::bytes(skill_zip(&[("SKILL.md", SKILL_MD)])).file_name("s.zip"),
    );
    let (status, answer) = upload_form(&server, bad);
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["detail"][0]["loc"][1], "llm_consensus_runs");
}

#[test]
fn upload_custom_rules_must_be_a_folder() {
    let root = tempfile::tempdir().unwrap();
    let rules = root.path().join("extra.yaml");
    std::fs::write(&rules, "- id: NOT_A_FOLDER\n").unwrap();
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&[root.path()], state.path(), &[]);

    let form = Form::new()
        .text("custom_rules", rules.display().to_string())
        .part(
            "file",
            Part::bytes(skill_zip(&[("SKILL.md", SKILL_MD)])).file_name("s.zip"),
        );
    let (status, answer) = upload_form(&server, form);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["detail"], "custom_rules must be a directory");
}

/// Sends a multipart upload of `size` bytes over a raw connection, with a Content-Length
/// header or chunked, and returns the status and body of the response. The body is written
/// from another thread and write errors are ignored, because the server may respond and close
/// before the client has sent everything, which is the point of the test. Real clients such as
/// curl send `Expect: 100-continue` and then stop at the response.
fn raw_upload(server: &Server, size: usize, chunked: bool) -> (u16, Value) {
    let head = format!(
        "--{RAW_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.zip\"\r\nContent-Type: application/zip\r\n\r\n"
    );
    let tail = format!("\r\n--{RAW_BOUNDARY}--\r\n");
    raw_multipart(server, head, size, tail, chunked)
}

const RAW_BOUNDARY: &str = "raw-upload-boundary";

/// Sends `head`, then `size` bytes of `x`, then `tail` as a multipart body with the boundary
/// `RAW_BOUNDARY`, as `raw_upload` describes.
fn raw_multipart(
    server: &Server,
    head: String,
    size: usize,
    tail: String,
    chunked: bool,
) -> (u16, Value) {
    use std::io::{Read, Write};

    let boundary = RAW_BOUNDARY;
    let length = head.len() + size + tail.len();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let framing = if chunked {
        String::from("Transfer-Encoding: chunked")
    } else {
        format!("Content-Length: {length}")
    };
    let request = format!(
        "POST /scan-upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut parts: Vec<Vec<u8>> = vec![head.into_bytes()];
        let mut left = size;
        while left > 0 {
            let take = left.min(chunk.len());
            parts.push(chunk[..take].to_vec());
            left -= take;
        }
        parts.push(tail.into_bytes());
        // An empty chunk would end a chunked body early.
        for part in parts.into_iter().filter(|part| !part.is_empty()) {
            let framed = if chunked {
                let mut framed = format!("{:x}\r\n", part.len()).into_bytes();
                framed.extend_from_slice(&part);
                framed.extend_from_slice(b"\r\n");
                framed
            } else {
                part
            };
            if writer.write_all(&framed).is_err() {
                return;
            }
        }
        if chunked {
            let _ = writer.write_all(b"0\r\n\r\n");
        }
    });
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // A chunked response has the chunk length before the JSON.
    let json = body.find('{').map_or("", |start| &body[start..]);
    let json = json.rfind('}').map_or("", |end| &json[..=end]);
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

#[test]
fn oversized_upload_413_leaves_no_spool() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        &[],
        state.path(),
        &[],
        &[("SKILL_SCANNER_MAX_UPLOAD_BYTES", "1048576")],
    );

    // The Content-Length is over the limit, so the server responds before it reads the body.
    let (status, answer) = raw_upload(&server, 2 << 20, false);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["detail"], "Upload exceeds maximum size of 1 MB");

    // No Content-Length: the counting stream stops it.
    let (status, answer) = raw_upload(&server, 2 << 20, true);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["detail"], "Upload exceeds maximum size of 1 MB");

    let (status, _) = upload(&server, "ok.zip", skill_zip(&[("SKILL.md", SKILL_MD)]));
    assert_eq!(status, 200);
    let spool = state.path().join(format!("spool/{}", server.pid()));
    let left: Vec<_> = std::fs::read_dir(&spool).unwrap().flatten().collect();
    assert!(left.is_empty(), "spool files left: {left:?}");
}

#[test]
fn endless_preamble_is_413() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        &[],
        state.path(),
        &[],
        &[("SKILL_SCANNER_MAX_UPLOAD_BYTES", "1048576")],
    );

    // No boundary ever comes, so the multipart parser would keep the whole body in memory.
    let (status, answer) = raw_multipart(&server, String::new(), 4 << 20, String::new(), true);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["detail"], "Upload exceeds maximum size of 1 MB");

    // A part header that never ends is buffered the same way.
    let head = format!("--{RAW_BOUNDARY}\r\nX-Filler: ");
    let (status, answer) = raw_multipart(&server, head, 4 << 20, String::new(), true);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["detail"], "Upload exceeds maximum size of 1 MB");

    let (status, _) = upload(&server, "ok.zip", skill_zip(&[("SKILL.md", SKILL_MD)]));
    assert_eq!(status, 200);
}

#[test]
fn reference_message_for_the_default_limit() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&[], state.path(), &[]);
    let (status, answer) = raw_upload(&server, 51 << 20, false);
    assert_matches_reference("up_big_upload", status, &answer, true);
}

#[test]
fn killed_server_spool_removed_at_start() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&[], state.path(), &[]);
    let first_pid = server.pid();
    let spool = state.path().join(format!("spool/{first_pid}"));
    std::fs::write(spool.join("upload-left-behind"), b"partial upload").unwrap();
    server.kill();
    assert!(spool.exists());

    let server = Server::start(&[], state.path(), &[]);
    assert!(
        !spool.exists(),
        "the killed server's spool folder is still there"
    );
    let (status, _) = upload(&server, "ok.zip", skill_zip(&[("SKILL.md", SKILL_MD)]));
    assert_eq!(status, 200);
}
