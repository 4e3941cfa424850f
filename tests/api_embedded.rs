//! The router mounted in another application's axum server, as an embedding application would
//! use it: its own routes and layers beside the scanner's, the installed `skill-scanner`
//! binary running the workers.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "test harness"
)]

mod common;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderValue;
use axum::routing::get;
use common::hostile_zip::{ZipArchive, ZipEntry};
use skill_scanner::api::config::Config;
use skill_scanner::api::{AppState, router};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_mounts_in_another_app() {
    let state_dir = tempfile::tempdir().unwrap();
    let config = Config {
        state_dir: state_dir.path().to_path_buf(),
        ..Config::default()
    };
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_skill-scanner"));
    let state = tokio::task::spawn_blocking(move || AppState::start(config, &binary))
        .await
        .unwrap()
        .unwrap();

    // The host application adds a route of its own and a response header on every route.
    let app = Router::new()
        .route("/host-status", get(|| async { "host ok" }))
        .nest("/scanner", router(Arc::clone(&state)))
        .layer(axum::middleware::map_response(
            |mut response: axum::response::Response| async move {
                response.headers_mut().insert(
                    axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                response
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    let host = client
        .get(format!("http://{address}/host-status"))
        .send()
        .await
        .unwrap();
    assert_eq!(host.text().await.unwrap(), "host ok");

    let health = client
        .get(format!("http://{address}/scanner/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(
        health.headers().get("access-control-allow-origin").unwrap(),
        "*"
    );
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["sandbox"]["confined"], true);

    // A scan through the mounted router runs in a worker of the embedding's fork server.
    let archive = zip_of_clean_skill();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(archive).file_name("clean.zip"),
    );
    let scanned = client
        .post(format!("http://{address}/scanner/scan-upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(scanned.status().as_u16(), 200);
    let result: serde_json::Value = scanned.json().await.unwrap();
    assert_eq!(result["is_safe"], true, "{result}");
    assert_eq!(result["scan_metadata"]["sandbox"]["confined"], true);
}

/// Builds a ZIP of a clean one-file skill.
fn zip_of_clean_skill() -> Vec<u8> {
    let manifest = b"---\nname: clean\ndescription: Adds two numbers for the user.\n---\n# Usage\n\nAdd them.\n";
    ZipArchive::new(vec![ZipEntry::file("SKILL.md", manifest)]).to_bytes()
}
