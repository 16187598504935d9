//! Field-level validation problems, collected so a client learns every
//! problem in its request at once (FastAPI's 422 shape is built from these in
//! `http::error`).

use serde_json::{Map, Value};

/// What a text field may hold. PostgreSQL refuses NUL in `text`, and no
/// name, address or token has a use for control characters, so every field
/// refuses them unless [`TextKind::of`] says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// One line: no control character at all (C0, DEL, C1).
    Line,
    /// Free text from a textarea: tab and line breaks, no other control.
    MultiLine,
    /// A password or client secret: compared or hashed, never stored as
    /// text, so any character; refusing one at login would lock out a
    /// password set before this rule (rules for new passwords are in
    /// `users::rules::password`).
    Secret,
}

impl TextKind {
    /// The kind of a field, by name: one table for bodies, query strings and
    /// OAuth forms, so a field added later is a [`TextKind::Line`] unless
    /// listed here.
    pub fn of(field: &str) -> Self {
        match field {
            "password" | "current_password" | "new_password" | "client_secret" => TextKind::Secret,
            "info" => TextKind::MultiLine,
            _ => TextKind::Line,
        }
    }

    /// `Err` with the rule's text when `value` holds a character this kind
    /// refuses.
    pub fn check(self, value: &str) -> Result<(), &'static str> {
        let refused = match self {
            TextKind::Secret => return Ok(()),
            TextKind::Line => value.chars().any(char::is_control),
            TextKind::MultiLine => value
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
        };
        match (refused, self) {
            (false, _) => Ok(()),
            (true, TextKind::MultiLine) => {
                Err("The value cannot contain control characters other than tabs and line breaks.")
            }
            (true, _) => Err("The value cannot contain control characters."),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The field is absent.
    Missing,
    /// The field is present but not a string.
    StringType,
    /// The field is present but not a boolean.
    BoolType,
    /// A rule about the value failed.
    ValueError,
}

impl Problem {
    pub fn type_name(self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::StringType => "string_type",
            Problem::BoolType => "bool_type",
            Problem::ValueError => "value_error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub problem: Problem,
    pub message: String,
}

impl FieldError {
    pub fn missing(field: &str) -> Self {
        Self {
            field: field.to_owned(),
            problem: Problem::Missing,
            message: "Field required".to_owned(),
        }
    }

    /// A broken rule; `message` is the rule's own text.
    pub fn rule(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            problem: Problem::ValueError,
            message: format!("Value error, {}", message.into()),
        }
    }
}

/// Every problem found in one request, in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("invalid request: {} problem(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn single(error: FieldError) -> Self {
        Self(vec![error])
    }
}

/// Reads typed fields out of a JSON object, remembering every problem.
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub fn new(object: &'a Map<String, Value>) -> Self {
        Self {
            object,
            errors: Vec::new(),
        }
    }

    /// A required string field.
    pub fn string(&mut self, field: &str) -> Option<&'a str> {
        match self.object.get(field) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::missing(field));
                None
            }
            Some(value) => self.as_str(field, value),
        }
    }

    /// An optional string field (absent and `null` both mean "not given").
    pub fn optional_string(&mut self, field: &str) -> Option<&'a str> {
        match self.object.get(field) {
            None | Some(Value::Null) => None,
            Some(value) => self.as_str(field, value),
        }
    }

    fn as_str(&mut self, field: &str, value: &'a Value) -> Option<&'a str> {
        match value {
            Value::String(s) => match TextKind::of(field).check(s) {
                Ok(()) => Some(s),
                Err(message) => {
                    self.errors.push(FieldError::rule(field, message));
                    None
                }
            },
            _ => {
                self.errors.push(FieldError {
                    field: field.to_owned(),
                    problem: Problem::StringType,
                    message: "Input should be a valid string".to_owned(),
                });
                None
            }
        }
    }

    /// Applies a rule to a value that was read successfully.
    pub fn check<T>(
        &mut self,
        field: &str,
        value: Option<&str>,
        rule: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = value?;
        match rule(value) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.errors.push(FieldError::rule(field, message));
                None
            }
        }
    }

    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// `Ok(())` when every field read so far was fine.
    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collects_every_problem_in_order() {
        let body = json!({"b": 3, "c": "short"});
        let object = body.as_object().unwrap();
        let mut fields = Fields::new(object);
        assert_eq!(fields.string("a"), None);
        assert_eq!(fields.string("b"), None);
        let c = fields.string("c");
        let checked: Option<()> = fields.check("c", c, |_| Err("too short".into()));
        assert!(checked.is_none());
        let errors = fields.finish().unwrap_err().0;
        let kinds: Vec<_> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.problem))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("a", Problem::Missing),
                ("b", Problem::StringType),
                ("c", Problem::ValueError)
            ]
        );
        assert_eq!(errors[2].message, "Value error, too short");
    }

    #[test]
    fn null_counts_as_missing_and_optional_may_be_absent() {
        let body = json!({"a": null});
        let mut fields = Fields::new(body.as_object().unwrap());
        assert_eq!(fields.optional_string("x"), None);
        assert_eq!(fields.string("a"), None);
        assert_eq!(fields.finish().unwrap_err().0[0].problem, Problem::Missing);
    }

    #[test]
    fn control_characters_are_refused_per_field() {
        let body = json!({
            "email": "a\u{0000}@b.co",
            "first_name": "Ann\u{202e}Bob",
            "username": "bell\u{0007}",
            "info": "line one\r\n\tline two",
            "password": "tab\tand\u{0000}nul",
            "kind": "del\u{007f}",
            "token": "c1\u{0085}",
        });
        let mut fields = Fields::new(body.as_object().unwrap());
        assert_eq!(fields.string("email"), None);
        assert_eq!(fields.string("first_name"), Some("Ann\u{202e}Bob"));
        assert_eq!(fields.string("username"), None);
        assert!(fields.string("info").is_some());
        assert_eq!(fields.string("password"), Some("tab\tand\0nul"));
        assert_eq!(fields.optional_string("kind"), None);
        assert_eq!(fields.optional_string("token"), None);
        let refused: Vec<_> = fields
            .finish()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| (e.field, e.problem, e.message))
            .collect();
        let message = "Value error, The value cannot contain control characters.".to_owned();
        assert_eq!(
            refused,
            ["email", "username", "kind", "token"].map(|f| (
                f.to_owned(),
                Problem::ValueError,
                message.clone()
            ))
        );
        assert!(TextKind::MultiLine.check("nul\0").is_err());
    }

    proptest::proptest! {
        /// Reading any body never panics, and each field read yields either
        /// a value or exactly one recorded problem.
        #[test]
        fn reading_any_body_never_panics(body in arbitrary::body(&["a", "b"])) {
            let mut fields = Fields::new(&body);
            let a = fields.string("a");
            let b = fields.optional_string("b");
            let checked = fields.check("a", a, |s| if s.is_empty() { Err("empty".to_owned()) } else { Ok(s.len()) });
            let problems = match fields.finish() {
                Ok(()) => 0,
                Err(errors) => errors.0.len(),
            };
            let expected = usize::from(a.is_none())
                + usize::from(b.is_none() && !matches!(body.get("b"), None | Some(Value::Null)))
                + usize::from(a.is_some() && checked.is_none());
            proptest::prop_assert_eq!(problems, expected);
        }
    }
}

/// Strategies for property tests over request bodies.
#[cfg(test)]
pub mod arbitrary {
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    /// Any JSON value, strings drawn from all of Unicode.
    pub fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A body holding any subset of `fields` (with mostly string values)
    /// plus a few arbitrary keys.
    pub fn body(fields: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
        let value = prop_oneof![
            3 => any::<String>().prop_map(Value::String),
            1 => json_value(),
        ];
        let known = prop::collection::vec(
            (prop::sample::select(fields), prop::option::of(value)),
            0..=fields.len(),
        );
        let extra = prop::collection::btree_map(any::<String>(), json_value(), 0..3);
        (known, extra).prop_map(|(known, extra)| {
            let mut map: Map<String, Value> = extra.into_iter().collect();
            for (name, value) in known {
                if let Some(value) = value {
                    map.insert(name.to_owned(), value);
                }
            }
            map
        })
    }
}
