//! The 422 answer: every problem in a request as FastAPI's
//! `{"detail": [{loc, msg, type}]}` entries, from the fields a domain
//! `parse` refused or from a body or query string that could not be read.
//! (`error.rs` turns them into the answer; this module knows nothing of it.)

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::validation::{FieldError, RULE_PREFIX};

/// Which part of the request a validation problem is in.
#[derive(Debug, Clone, Copy)]
pub enum Location {
    Body,
    Query,
    Path,
    Header,
}

impl Location {
    fn name(self) -> LocPart {
        LocPart::Name(
            match self {
                Location::Body => "body",
                Location::Query => "query",
                Location::Path => "path",
                Location::Header => "header",
            }
            .to_owned(),
        )
    }
}

/// One problem in a request (FastAPI's shape).
// The fields are in the order they have always been answered in
// (alphabetical), which clients may compare byte for byte.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ValidationIssue {
    /// Extra context (the JSON parser's message for `json_invalid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    ctx: Option<JsonObject>,
    /// The rejected input (`uuid_parsing`).
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    /// Where: `["body", "email"]`, `["query", "limit"]`, `["path", "id"]`,
    /// or `["body", <byte offset>]` for malformed JSON.
    loc: Vec<LocPart>,
    msg: String,
    /// `missing`, `value_error`, `string_type`, `int_parsing`, `json_invalid`,
    /// `model_attributes_type`, `uuid_parsing`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: &'static str,
}

/// A `loc` entry: a name, or a byte offset into a malformed body.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LocPart {
    Name(String),
    Offset(u64),
}

/// A free-form JSON object.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct JsonObject(Value);

impl ValidationIssue {
    /// The message for a person: a rule's own text without FastAPI's
    /// `Value error, ` prefix.
    pub fn words(&self) -> &str {
        self.msg.strip_prefix(RULE_PREFIX).unwrap_or(&self.msg)
    }

    fn new(loc: Vec<LocPart>, msg: impl Into<String>, kind: &'static str) -> Self {
        Self {
            loc,
            msg: msg.into(),
            kind,
            ctx: None,
            input: None,
        }
    }

    pub(super) fn field(location: Location, error: FieldError) -> Self {
        Self::new(
            vec![location.name(), LocPart::Name(error.field)],
            error.message,
            error.problem.type_name(),
        )
    }

    /// The body is not JSON; `offset` is the byte where parsing failed.
    pub fn json_invalid(offset: usize, error: String) -> Self {
        Self {
            ctx: Some(JsonObject(json!({ "error": error }))),
            ..Self::new(
                vec![Location::Body.name(), LocPart::Offset(offset as u64)],
                "JSON decode error",
                "json_invalid",
            )
        }
    }

    /// The body is JSON but not an object.
    pub fn not_an_object() -> Self {
        Self::new(
            vec![Location::Body.name()],
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
        )
    }

    /// The form body or query string cannot be decoded at all.
    pub fn undecodable(location: Location, msg: impl Into<String>) -> Self {
        Self::new(vec![location.name()], msg, "value_error")
    }

    /// A path parameter that must be a UUID.
    pub fn uuid_parsing(name: String, raw: String) -> Self {
        Self {
            input: Some(raw),
            ..Self::new(
                vec![Location::Path.name(), LocPart::Name(name)],
                "Input should be a valid UUID",
                "uuid_parsing",
            )
        }
    }
}
