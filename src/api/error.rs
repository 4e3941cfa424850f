//! Error responses: `{"detail": "..."}` with the contract's status codes, and the 422
//! validation shape `{"detail": [{"type", "loc", "msg", "input", ...}]}`.
//!
//! A message names what failed and the value or limit involved. It must never contain a server
//! path, a key or internal error text, which go to the log only.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// One problem with a request field, in the 422 shape that clients of the reference parse.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub loc: Vec<Value>,
    pub msg: String,
    pub input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
}

impl FieldError {
    /// Creates a problem with the field `name` of the request body.
    pub fn field(kind: &'static str, name: &str, msg: impl Into<String>, input: Value) -> Self {
        FieldError {
            kind,
            loc: vec![Value::from("body"), Value::from(name)],
            msg: msg.into(),
            input,
            ctx: None,
        }
    }

    /// Adds the `ctx` object, which carries the limit that a value broke.
    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
}

/// A failed request. `IntoResponse` turns it into the status and body the client gets.
#[derive(Debug)]
pub enum ApiError {
    /// 400: a value of the request is invalid or unsafe.
    BadRequest(String),
    /// 404: a path is missing or outside the allowed roots, or a batch id is unknown.
    NotFound(String),
    /// 413: the upload is larger than the limit.
    TooLarge(String),
    /// 422: the request does not match the schema.
    Validation(Vec<FieldError>),
    /// 422 with a plain message, as the reference returns for some form fields.
    Unprocessable(String),
    /// 503: no worker is free, or the sandbox is unavailable.
    Unavailable(String),
    /// 500: the scan failed unexpectedly. The text goes to the log only.
    Internal(String),
}

/// The only message a client sees for a 500.
pub const INTERNAL_MESSAGE: &str =
    "Scan failed because of an internal error. The server log has the details.";

impl ApiError {
    /// Returns the HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Validation(_) | ApiError::Unprocessable(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Returns the `detail` value of the response body.
    pub fn detail(&self) -> Value {
        match self {
            ApiError::BadRequest(message)
            | ApiError::NotFound(message)
            | ApiError::TooLarge(message)
            | ApiError::Unprocessable(message)
            | ApiError::Unavailable(message) => Value::from(message.as_str()),
            ApiError::Validation(errors) => serde_json::to_value(errors).unwrap_or(Value::Null),
            ApiError::Internal(_) => Value::from(INTERNAL_MESSAGE),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let status = self.status();
        let mut response =
            (status, Json(serde_json::json!({ "detail": self.detail() }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// Returns `text` from an untrusted source, such as a file name, in a form that is safe to put
/// in a response. Control characters are escaped, and text past `max_chars` characters is cut
/// and replaced by `...`.
pub fn sanitize_message(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (count, character) in text.chars().enumerate() {
        if count >= max_chars {
            out.push_str("...");
            break;
        }
        if character.is_control() {
            out.extend(character.escape_default());
        } else {
            out.push(character);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_error_hides_its_cause() {
        let error = ApiError::Internal(String::from("/var/lib/secret: permission denied"));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.detail().to_string().contains("secret"));
    }

    #[test]
    fn sanitize_escapes_controls_and_caps_length() {
        assert_eq!(sanitize_message("a\nb\u{1b}[31m", 100), "a\\nb\\u{1b}[31m");
        assert_eq!(sanitize_message("abcdef", 3), "abc...");
    }
}
