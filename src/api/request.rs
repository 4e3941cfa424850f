//! The request bodies of `/scan`, `/scan-upload` and `/scan-batch`, validated field by field.
//! A bad request gets a 422 that names every bad field, as the reference's clients expect.
//!
//! Validation walks the JSON object by hand instead of stopping at serde's first error. The
//! response lists each problem with its location, and names each unknown field it rejects.

use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::error::{ApiError, FieldError};

/// Options shared by every scan request.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, ToSchema)]
#[serde(default)]
pub struct ScanOptions {
    /// Preset name (`strict`, `balanced`, `permissive`, `low-noise`, `quiet`) or a path to a
    /// .yaml/.yml policy under an allowed root.
    pub policy: Option<String>,
    /// Directory of extra YARA and YAML rules under an allowed root, added to the bundled ones.
    pub custom_rules: Option<String>,
    pub use_behavioral: bool,
    pub use_llm: bool,
    #[schema(default = "anthropic")]
    pub llm_provider: String,
    /// Number of model calls per file, at most the server's `max_llm_consensus_runs`.
    #[schema(default = 1, minimum = 1)]
    pub llm_consensus_runs: u32,
    pub llm_max_tokens: Option<u32>,
    pub llm_reasoning_effort: Option<String>,
    pub use_virustotal: bool,
    pub vt_upload_files: bool,
    pub use_aidefense: bool,
    pub aidefense_api_url: Option<String>,
    pub use_trigger: bool,
    pub use_osv: bool,
    pub enable_meta: bool,
    pub cel_mode: Option<String>,
    /// Key sent in the body, the older documented style. It is used only when the server
    /// allows request keys, and it is never stored.
    #[schema(write_only)]
    pub vt_api_key: Option<String>,
    #[schema(write_only)]
    pub aidefense_api_key: Option<String>,
}

/// `POST /scan`.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, ToSchema)]
pub struct ScanRequest {
    /// The skill folder, under an allowed root.
    pub skill_directory: String,
    // Deserialize is derived only so that the OpenAPI document shows the options flattened,
    // as they are on the wire. Requests are parsed by hand in this module.
    #[serde(flatten)]
    pub options: ScanOptions,
}

/// `POST /scan-batch`.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, ToSchema)]
pub struct BatchScanRequest {
    /// The folder whose sub-folders are skills, under an allowed root.
    pub skills_directory: String,
    #[serde(default)]
    pub recursive: bool,
    #[serde(default)]
    pub check_overlap: bool,
    // Deserialize is derived only so that the OpenAPI document shows the options flattened,
    // as they are on the wire. Requests are parsed by hand in this module.
    #[serde(flatten)]
    pub options: ScanOptions,
}

/// The type a field must have.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Flag,
    Count,
}

/// Fields every scan request accepts, with their type.
const OPTION_FIELDS: &[(&str, Kind)] = &[
    ("policy", Kind::Text),
    ("custom_rules", Kind::Text),
    ("use_behavioral", Kind::Flag),
    ("use_llm", Kind::Flag),
    ("llm_provider", Kind::Text),
    ("llm_consensus_runs", Kind::Count),
    ("llm_max_tokens", Kind::Count),
    ("llm_reasoning_effort", Kind::Text),
    ("use_virustotal", Kind::Flag),
    ("vt_upload_files", Kind::Flag),
    ("use_aidefense", Kind::Flag),
    ("aidefense_api_url", Kind::Text),
    ("use_trigger", Kind::Flag),
    ("use_osv", Kind::Flag),
    ("enable_meta", Kind::Flag),
    ("cel_mode", Kind::Text),
    ("vt_api_key", Kind::Text),
    ("aidefense_api_key", Kind::Text),
];

/// The reference's message for a request that sends `trusted_rule_packs`.
const TRUSTED_PACKS_MESSAGE: &str = "trusted_rule_packs cannot be supplied over the remote API; trusted rule packs must be configured by the local service administrator";

/// Upper bounds of numeric options, from the server's configuration.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Maximum `llm_consensus_runs`.
    pub max_consensus_runs: u32,
    /// Maximum `llm_max_tokens`.
    pub max_tokens: u32,
}

/// Encoding of a request's values: typed JSON, or text from form fields.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Json,
    Form,
}

/// Reader of a request object's fields that records every problem it finds.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    source: Source,
    errors: Vec<FieldError>,
}

impl Fields<'_> {
    /// Reads an optional string. Returns `None` when the field is absent, null or not a string,
    /// and records the problem in the last case.
    fn text(&mut self, name: &str) -> Option<String> {
        match self.object.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => {
                self.errors.push(FieldError::field(
                    "string_type",
                    name,
                    "Input should be a valid string",
                    other.clone(),
                ));
                None
            }
        }
    }

    /// Reads an optional boolean, `false` when absent. Form text may also be a word such as
    /// `yes`, `on` or `1`.
    fn flag(&mut self, name: &str) -> bool {
        match self.object.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(value)) => *value,
            Some(Value::String(text)) if self.source == Source::Form => {
                match text.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" | "t" | "y" => true,
                    "false" | "0" | "no" | "off" | "f" | "n" | "" => false,
                    _ => {
                        self.push_bool_error(name);
                        false
                    }
                }
            }
            Some(_) => {
                self.push_bool_error(name);
                false
            }
        }
    }

    fn push_bool_error(&mut self, name: &str) {
        let input = self.object.get(name).cloned().unwrap_or(Value::Null);
        self.errors.push(FieldError::field(
            "bool_type",
            name,
            "Input should be a valid boolean",
            input,
        ));
    }

    /// Reads an integer within `min..=max`. Returns `None` when the field is absent, null or
    /// invalid, and records the problem in the last case.
    fn count(&mut self, name: &str, min: i64, max: i64) -> Option<u32> {
        let value = self.object.get(name)?;
        let number = match value {
            Value::Null => return None,
            Value::Number(number) => number.as_i64(),
            Value::String(text) if self.source == Source::Form => text.trim().parse().ok(),
            _ => None,
        };
        let Some(number) = number else {
            self.errors.push(FieldError::field(
                "int_type",
                name,
                "Input should be a valid integer",
                value.clone(),
            ));
            return None;
        };
        if number < min {
            let error = if min == 1 {
                FieldError::field(
                    "greater_than",
                    name,
                    "Input should be greater than 0",
                    value.clone(),
                )
                .with_ctx(serde_json::json!({ "gt": 0 }))
            } else {
                FieldError::field(
                    "greater_than_equal",
                    name,
                    format!("Input should be greater than or equal to {min}"),
                    value.clone(),
                )
                .with_ctx(serde_json::json!({ "ge": min }))
            };
            self.errors.push(error);
            return None;
        }
        if number > max {
            self.errors.push(
                FieldError::field(
                    "less_than_equal",
                    name,
                    format!("Input should be less than or equal to {max}"),
                    value.clone(),
                )
                .with_ctx(serde_json::json!({ "le": max })),
            );
            return None;
        }
        u32::try_from(number).ok()
    }
}

/// Parses the options shared by every request. `extra` lists the fields of the request type
/// itself, so that they are not reported as unknown.
fn parse_options(
    fields: &mut Fields<'_>,
    extra: &[(&str, Kind)],
    bounds: Bounds,
) -> Result<ScanOptions, ApiError> {
    if fields.object.contains_key("trusted_rule_packs") {
        return Err(match fields.source {
            Source::Json => ApiError::Validation(vec![FieldError {
                kind: "value_error",
                loc: vec![Value::from("body")],
                msg: format!("Value error, {TRUSTED_PACKS_MESSAGE}"),
                input: Value::Object(fields.object.clone()),
                ctx: Some(serde_json::json!({ "error": {} })),
            }]),
            Source::Form => ApiError::Unprocessable(String::from(TRUSTED_PACKS_MESSAGE)),
        });
    }
    for (name, value) in fields.object {
        let known = OPTION_FIELDS
            .iter()
            .chain(extra)
            .any(|(field, _)| field == name);
        if !known {
            fields.errors.push(FieldError::field(
                "extra_forbidden",
                name,
                "Extra inputs are not permitted",
                value.clone(),
            ));
        }
    }
    let cel_mode = fields.text("cel_mode");
    if let Some(mode) = &cel_mode
        && !matches!(mode.as_str(), "off" | "shadow" | "enforce")
    {
        fields.errors.push(
            FieldError::field(
                "enum",
                "cel_mode",
                "Input should be 'off', 'shadow' or 'enforce'",
                Value::from(mode.as_str()),
            )
            .with_ctx(serde_json::json!({ "expected": "'off', 'shadow' or 'enforce'" })),
        );
    }
    let options = ScanOptions {
        policy: fields.text("policy"),
        custom_rules: fields.text("custom_rules"),
        use_behavioral: fields.flag("use_behavioral"),
        use_llm: fields.flag("use_llm"),
        llm_provider: fields
            .text("llm_provider")
            .unwrap_or_else(|| String::from("anthropic")),
        llm_consensus_runs: fields
            .count(
                "llm_consensus_runs",
                1,
                i64::from(bounds.max_consensus_runs),
            )
            .unwrap_or(1),
        llm_max_tokens: fields.count("llm_max_tokens", 1, i64::from(bounds.max_tokens)),
        llm_reasoning_effort: fields.text("llm_reasoning_effort"),
        use_virustotal: fields.flag("use_virustotal"),
        vt_upload_files: fields.flag("vt_upload_files"),
        use_aidefense: fields.flag("use_aidefense"),
        aidefense_api_url: fields.text("aidefense_api_url"),
        use_trigger: fields.flag("use_trigger"),
        use_osv: fields.flag("use_osv"),
        enable_meta: fields.flag("enable_meta"),
        cel_mode,
        vt_api_key: fields.text("vt_api_key"),
        aidefense_api_key: fields.text("aidefense_api_key"),
    };
    Ok(options)
}

/// Returns `value`, or a 422 that lists every problem `fields` recorded.
fn finish<T>(fields: Fields<'_>, value: T) -> Result<T, ApiError> {
    if fields.errors.is_empty() {
        Ok(value)
    } else {
        Err(ApiError::Validation(fields.errors))
    }
}

/// Parses a JSON body into an object. Malformed JSON or another JSON value gets the 422 that
/// the reference returns.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(ApiError::Validation(vec![FieldError {
            kind: "model_attributes_type",
            loc: vec![Value::from("body")],
            msg: String::from(
                "Input should be a valid dictionary or object to extract fields from",
            ),
            input: other,
            ctx: None,
        }])),
        Err(error) => Err(ApiError::Validation(vec![FieldError {
            kind: "json_invalid",
            loc: vec![Value::from("body"), Value::from(error.column())],
            msg: String::from("JSON decode error"),
            input: Value::Object(Map::new()),
            ctx: Some(serde_json::json!({ "error": json_error_kind(&error) })),
        }])),
    }
}

/// Returns a short description of a JSON syntax error that does not quote the input.
fn json_error_kind(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Eof => "Unexpected end of input",
        serde_json::error::Category::Syntax => "Invalid JSON syntax",
        serde_json::error::Category::Data | serde_json::error::Category::Io => "Invalid JSON value",
    }
}

/// Reads a required string field. A missing field is recorded and yields an empty string.
fn required_path(fields: &mut Fields<'_>, name: &str) -> String {
    match fields.object.get(name) {
        None => {
            fields.errors.push(FieldError::field(
                "missing",
                name,
                "Field required",
                Value::Object(fields.object.clone()),
            ));
            String::new()
        }
        Some(_) => fields.text(name).unwrap_or_default(),
    }
}

impl ScanRequest {
    /// Parses the body of `/scan`. `source` is the encoding of the values: typed JSON or form
    /// text.
    pub fn parse(
        object: &Map<String, Value>,
        source: Source,
        bounds: Bounds,
    ) -> Result<ScanRequest, ApiError> {
        let mut fields = Fields {
            object,
            source,
            errors: Vec::new(),
        };
        let skill_directory = required_path(&mut fields, "skill_directory");
        let options = parse_options(&mut fields, &[("skill_directory", Kind::Text)], bounds)?;
        finish(
            fields,
            ScanRequest {
                skill_directory,
                options,
            },
        )
    }
}

impl BatchScanRequest {
    /// Parses the JSON body of `/scan-batch`.
    pub fn parse(
        object: &Map<String, Value>,
        bounds: Bounds,
    ) -> Result<BatchScanRequest, ApiError> {
        let mut fields = Fields {
            object,
            source: Source::Json,
            errors: Vec::new(),
        };
        let skills_directory = required_path(&mut fields, "skills_directory");
        let recursive = fields.flag("recursive");
        let check_overlap = fields.flag("check_overlap");
        let options = parse_options(
            &mut fields,
            &[
                ("skills_directory", Kind::Text),
                ("recursive", Kind::Flag),
                ("check_overlap", Kind::Flag),
            ],
            bounds,
        )?;
        finish(
            fields,
            BatchScanRequest {
                skills_directory,
                recursive,
                check_overlap,
                options,
            },
        )
    }
}

/// Parses the options of `/scan-upload`, sent as form fields.
pub fn upload_options(
    object: &Map<String, Value>,
    bounds: Bounds,
) -> Result<ScanOptions, ApiError> {
    let mut fields = Fields {
        object,
        source: Source::Form,
        errors: Vec::new(),
    };
    let options = parse_options(&mut fields, &[], bounds)?;
    finish(fields, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        max_consensus_runs: 5,
        max_tokens: 1000,
    };

    fn parse(body: &str) -> Result<ScanRequest, ApiError> {
        ScanRequest::parse(&json_object(body.as_bytes())?, Source::Json, BOUNDS)
    }

    fn errors(body: &str) -> Vec<FieldError> {
        match parse(body) {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_absent_options() {
        let request = parse(r#"{"skill_directory": "/srv/a"}"#).unwrap();
        assert_eq!(request.skill_directory, "/srv/a");
        assert_eq!(request.options.llm_provider, "anthropic");
        assert_eq!(request.options.llm_consensus_runs, 1);
        assert!(!request.options.use_llm);
    }

    #[test]
    fn every_bad_field_is_named() {
        let found = errors(r#"{"use_llm": "maybe", "llm_max_tokens": 0, "colour": 1}"#);
        let names: Vec<String> = found.iter().map(|error| error.loc[1].to_string()).collect();
        assert_eq!(found.len(), 4, "{names:?}");
        assert!(names.contains(&String::from("\"skill_directory\"")));
        assert!(names.contains(&String::from("\"colour\"")));
        let tokens = found
            .iter()
            .find(|error| error.kind == "greater_than")
            .unwrap();
        assert_eq!(tokens.msg, "Input should be greater than 0");
    }

    #[test]
    fn consensus_runs_are_bounded() {
        for body in [
            r#"{"skill_directory": "/a", "llm_consensus_runs": -1}"#,
            r#"{"skill_directory": "/a", "llm_consensus_runs": 6}"#,
        ] {
            assert_eq!(errors(body).len(), 1, "{body}");
        }
    }

    #[test]
    fn malformed_json_is_json_invalid() {
        let found = match json_object(b"{skill_directory") {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("{other:?}"),
        };
        assert_eq!(found[0].kind, "json_invalid");
    }

    #[test]
    fn form_flags_accept_words() {
        let mut object = Map::new();
        object.insert(String::from("use_trigger"), Value::from("true"));
        object.insert(String::from("llm_consensus_runs"), Value::from("3"));
        let options = upload_options(&object, BOUNDS).unwrap();
        assert!(options.use_trigger);
        assert_eq!(options.llm_consensus_runs, 3);
    }

    #[test]
    fn trusted_rule_packs_are_rejected() {
        let found = errors(r#"{"skill_directory": "/a", "trusted_rule_packs": ["/x"]}"#);
        assert_eq!(found[0].kind, "value_error");
        assert!(
            found[0]
                .msg
                .contains("trusted_rule_packs cannot be supplied")
        );
    }
}
