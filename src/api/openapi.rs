//! `/openapi.json`, `/docs` (Swagger UI) and `/redoc`. Every asset is served from the binary,
//! because a locked-down host may have no access to a CDN. The document is generated from the
//! handlers' annotations.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::AppState;

/// The OpenAPI description of every endpoint and request schema.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Skill Scanner API",
        description = "Scans AI agent skills for prompt injection, data exfiltration, malware and supply-chain tricks. Every extraction and scan runs in a confined worker.",
        license(name = "Apache-2.0"),
    ),
    paths(
        super::handlers::root,
        super::handlers::health,
        super::handlers::analyzers,
        super::handlers::scan,
        super::upload::scan_upload,
        super::handlers::scan_batch,
        super::handlers::batch_status,
    ),
    components(schemas(
        super::handlers::ScanResponse,
        super::request::ScanOptions,
        super::request::ScanRequest,
        super::request::BatchScanRequest,
    ))
)]
pub struct ApiDoc;

/// Builds the OpenAPI document with the version of this build.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.info.version = String::from(super::VERSION);
    document
}

/// ReDoc's standalone bundle, vendored unmodified from the `redoc` npm package 2.5.4 (MIT, see
/// `assets/redoc/LICENSE`).
const REDOC_SCRIPT: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

const REDOC_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Skill Scanner API - ReDoc</title>
</head>
<body>
<div id="redoc"></div>
<script src="/redoc/redoc.standalone.js"></script>
<script>
Redoc.init("/openapi.json", { disableGoogleFont: true }, document.getElementById("redoc"));
</script>
</body>
</html>
"#;

/// Returns the routes of the OpenAPI document, Swagger UI and ReDoc.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document()))
        .route("/redoc", get(|| async { Html(REDOC_PAGE) }))
        .route(
            "/redoc/redoc.standalone.js",
            get(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/javascript; charset=utf-8",
                    )],
                    REDOC_SCRIPT,
                )
                    .into_response()
            }),
        )
}
