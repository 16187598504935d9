//! Reading request fields: each field arrives as [`Text`], parses to a value
//! or a [`FieldError`], and [`all`] combines the fields of one request into
//! every value or every problem, so a client learns every problem at once
//! (FastAPI's 422 shape is built from these in `http::invalid`).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

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
    /// The field is absent (or `null`).
    Missing,
    /// The field is present but not a string.
    StringType,
    /// A rule about the value failed.
    ValueError,
    /// The field is present but not a whole number.
    IntParsing,
    /// The field is present but not a list.
    ListType,
    /// The field is present but not `true` or `false`.
    BoolType,
    /// The field is present but not an object.
    DictType,
}

impl Problem {
    pub fn type_name(self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::StringType => "string_type",
            Problem::ValueError => "value_error",
            Problem::IntParsing => "int_parsing",
            Problem::ListType => "list_type",
            Problem::BoolType => "bool_type",
            Problem::DictType => "dict_type",
        }
    }
}

/// What FastAPI puts before a custom rule's own text in a 422 `msg`.
pub const RULE_PREFIX: &str = "Value error, ";

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

    pub(crate) fn not_text(field: &str) -> Self {
        Self {
            field: field.to_owned(),
            problem: Problem::StringType,
            message: "Input should be a valid string".to_owned(),
        }
    }

    /// A broken rule; `message` is the rule's own text.
    pub fn rule(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            problem: Problem::ValueError,
            message: format!("{RULE_PREFIX}{}", message.into()),
        }
    }
}

/// Every problem found in one request, in field order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request: {} problem(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn single(error: FieldError) -> Self {
        Self(vec![error])
    }
}

impl From<FieldError> for ValidationErrors {
    fn from(error: FieldError) -> Self {
        Self::single(error)
    }
}

/// One field of a request body or query string as the client sent it: a
/// JSON value, or a form or query value (always text). It deserialises from
/// anything, so one bad field never hides the others' problems; a `parse`
/// then turns it into a value or a [`FieldError`].
///
/// Absent and `null` are told apart only for fields marked
/// `#[serde(default)]` (absent is then the default): a `PATCH` field where
/// `null` clears and absent keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Text {
    #[default]
    Absent,
    Null,
    Given(String),
    /// Present, but a number, boolean, array or object.
    NotText,
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `deserialize_option` is what serde also calls for a missing field
        // (as `none`), so a missing field is `Null` here, never an error.
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Text;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }

            fn visit_none<E>(self) -> Result<Text, E> {
                Ok(Text::Null)
            }

            fn visit_unit<E>(self) -> Result<Text, E> {
                Ok(Text::Null)
            }

            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Text, D::Error> {
                Ok(match Value::deserialize(d)? {
                    Value::Null => Text::Null,
                    Value::String(text) => Text::Given(text),
                    _ => Text::NotText,
                })
            }
        }
        deserializer.deserialize_option(Visitor)
    }
}

impl Text {
    /// A required field, read by `parse` (the field's rule; `Ok` for none).
    pub fn required<T, E: std::fmt::Display>(
        self,
        field: &str,
        parse: impl FnOnce(String) -> Result<T, E>,
    ) -> Result<T, FieldError> {
        match self.given(field)? {
            Some(text) => parse(text).map_err(|e| FieldError::rule(field, e.to_string())),
            None => Err(FieldError::missing(field)),
        }
    }

    /// A required field taken as it is (no rule beyond its [`TextKind`]).
    pub fn required_text(self, field: &str) -> Result<String, FieldError> {
        self.required(field, Ok::<_, std::convert::Infallible>)
    }

    /// An optional field taken as it is.
    pub fn optional_text(self, field: &str) -> Result<Option<String>, FieldError> {
        self.optional(field, Ok::<_, std::convert::Infallible>)
    }

    /// An optional field: absent and `null` both mean "not given".
    pub fn optional<T, E: std::fmt::Display>(
        self,
        field: &str,
        parse: impl FnOnce(String) -> Result<T, E>,
    ) -> Result<Option<T>, FieldError> {
        self.given(field)?
            .map(|text| parse(text).map_err(|e| FieldError::rule(field, e.to_string())))
            .transpose()
    }

    /// A `PATCH` field (`#[serde(default)]`): `None` when absent (keep),
    /// `Some(None)` for `null` (clear), `Some(Some(value))` to set.
    pub fn patch<T, E: std::fmt::Display>(
        self,
        field: &str,
        parse: impl FnOnce(String) -> Result<T, E>,
    ) -> Result<Option<Option<T>>, FieldError> {
        match self {
            Text::Absent => Ok(None),
            Text::Null => Ok(Some(None)),
            given => given.optional(field, parse).map(Some),
        }
    }

    /// The text, checked against its field's [`TextKind`]; `None` when
    /// absent or `null`.
    fn given(self, field: &str) -> Result<Option<String>, FieldError> {
        match self {
            Text::Absent | Text::Null => Ok(None),
            Text::NotText => Err(FieldError::not_text(field)),
            Text::Given(text) => match TextKind::of(field).check(&text) {
                Ok(()) => Ok(Some(text)),
                Err(message) => Err(FieldError::rule(field, message)),
            },
        }
    }
}

/// A whole-number field as the client sent it: a JSON integer, or digits
/// in a form or query value (or a JSON string). Like [`Text`] it
/// deserialises from anything, and its `parse` reports what is wrong with
/// it; text is checked against its field's [`TextKind`] first, like any
/// text field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Integer {
    /// Absent or `null`.
    #[default]
    Absent,
    Given(i64),
    /// A string, to be read as a number.
    Text(String),
    /// Present, but neither a whole number that fits 64 bits nor text.
    NotInteger,
}

impl<'de> Deserialize<'de> for Integer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<Value>::deserialize(deserializer)? {
            None | Some(Value::Null) => Integer::Absent,
            Some(Value::Number(n)) => n.as_i64().map_or(Integer::NotInteger, Integer::Given),
            Some(Value::String(s)) => Integer::Text(s),
            Some(_) => Integer::NotInteger,
        })
    }
}

impl Integer {
    /// The number given, if any; `Err` when the field is not a whole
    /// number.
    fn given(self, field: &str) -> Result<Option<i64>, FieldError> {
        let not_integer = || FieldError {
            field: field.to_owned(),
            problem: Problem::IntParsing,
            message: "Input should be a valid integer".to_owned(),
        };
        match self {
            Integer::Absent => Ok(None),
            Integer::NotInteger => Err(not_integer()),
            Integer::Given(n) => Ok(Some(n)),
            Integer::Text(text) => {
                TextKind::of(field)
                    .check(&text)
                    .map_err(|message| FieldError::rule(field, message))?;
                text.trim().parse().map(Some).map_err(|_| not_integer())
            }
        }
    }

    /// A required field, read by `rule`.
    pub fn required<T, E: std::fmt::Display>(
        self,
        field: &str,
        rule: impl FnOnce(i64) -> Result<T, E>,
    ) -> Result<T, FieldError> {
        let n = self
            .given(field)?
            .ok_or_else(|| FieldError::missing(field))?;
        rule(n).map_err(|e| FieldError::rule(field, e.to_string()))
    }

    /// An optional field, read by `rule`, which sees `None` when it is
    /// absent (and picks the default).
    pub fn optional_or<T, E: std::fmt::Display>(
        self,
        field: &str,
        rule: impl FnOnce(Option<i64>) -> Result<T, E>,
    ) -> Result<T, FieldError> {
        rule(self.given(field)?).map_err(|e| FieldError::rule(field, e.to_string()))
    }
}

/// A JSON body field that is not text: a list of strings, a flag, a whole
/// number or an object. Like [`Text`] it deserialises from anything, so one
/// bad field never hides the others' problems. Absent and `null` are told
/// apart for `#[serde(default)]` fields (a `PATCH` that clears).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Shaped {
    #[default]
    Absent,
    Null,
    Given(Value),
}

impl<'de> Deserialize<'de> for Shaped {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<Value>::deserialize(deserializer)? {
            None | Some(Value::Null) => Shaped::Null,
            Some(value) => Shaped::Given(value),
        })
    }
}

impl Shaped {
    fn wrong(field: &str, problem: Problem, message: &str) -> FieldError {
        FieldError {
            field: field.to_owned(),
            problem,
            message: message.to_owned(),
        }
    }

    /// The value given, if any. Text where another shape belongs is still
    /// held to its field's [`TextKind`] first, so a NUL is refused by name
    /// whatever the field's shape.
    fn value(self, field: &str) -> Result<Option<Value>, FieldError> {
        match self {
            Shaped::Absent | Shaped::Null => Ok(None),
            Shaped::Given(Value::String(text)) => {
                TextKind::of(field)
                    .check(&text)
                    .map_err(|message| FieldError::rule(field, message))?;
                Ok(Some(Value::String(text)))
            }
            Shaped::Given(value) => Ok(Some(value)),
        }
    }

    /// A list of strings, each read by `rule` (the first item that fails
    /// is reported, with its position); `None` when absent or `null`.
    pub fn list<T, E: std::fmt::Display>(
        self,
        field: &str,
        rule: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<Vec<T>>, FieldError> {
        let Some(value) = self.value(field)? else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(Self::wrong(
                field,
                Problem::ListType,
                "Input should be a valid list",
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let Value::String(text) = item else {
                    return Err(FieldError::not_text(&format!("{field}.{i}")));
                };
                TextKind::of(field)
                    .check(text)
                    .map_err(|message| FieldError::rule(field, message))?;
                rule(text).map_err(|e| FieldError::rule(field, format!("{text:?} {e}")))
            })
            .collect::<Result<Vec<T>, FieldError>>()
            .map(Some)
    }

    /// `true` or `false`; `None` when absent or `null`.
    pub fn flag(self, field: &str) -> Result<Option<bool>, FieldError> {
        match self.value(field)? {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(flag)),
            Some(_) => Err(Self::wrong(
                field,
                Problem::BoolType,
                "Input should be a valid boolean",
            )),
        }
    }

    /// An object, read by `rule`; `None` when absent or `null`.
    pub fn object<T, E: std::fmt::Display>(
        self,
        field: &str,
        rule: impl FnOnce(Value) -> Result<T, E>,
    ) -> Result<Option<T>, FieldError> {
        match self.value(field)? {
            None => Ok(None),
            Some(value @ Value::Object(_)) => rule(value)
                .map(Some)
                .map_err(|e| FieldError::rule(field, e.to_string())),
            Some(_) => Err(Self::wrong(
                field,
                Problem::DictType,
                "Input should be a valid dictionary",
            )),
        }
    }

    /// A `PATCH` whole number read by `rule`: `None` when absent (keep),
    /// `Some(None)` for `null` (clear).
    pub fn patch_integer<T, E: std::fmt::Display>(
        self,
        field: &str,
        rule: impl FnOnce(i64) -> Result<T, E>,
    ) -> Result<Option<Option<T>>, FieldError> {
        let number = match self {
            Shaped::Absent => return Ok(None),
            Shaped::Null => return Ok(Some(None)),
            given => given.value(field)?.and_then(|value| value.as_i64()),
        };
        let n = number.ok_or_else(|| {
            Self::wrong(
                field,
                Problem::IntParsing,
                "Input should be a valid integer",
            )
        })?;
        rule(n)
            .map(|v| Some(Some(v)))
            .map_err(|e| FieldError::rule(field, e.to_string()))
    }
}

/// `true` or `false` (or `1`, `0`), in any case: a query string's boolean.
pub fn boolean(s: &str) -> Result<bool, &'static str> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("must be true or false"),
    }
}

pub fn uuid(s: &str) -> Result<uuid::Uuid, &'static str> {
    s.parse().map_err(|_| "must be a valid UUID")
}

/// RFC 3339; a date-time without an offset is taken as UTC.
pub fn date_time(s: &str) -> Result<DateTime<Utc>, &'static str> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc()))
        .map_err(|_| "must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z")
}

/// Results of parsing several fields, combined: every value, or every error
/// in field order. Implemented for tuples of `Result<_, FieldError>` (or
/// `Result<_, ValidationErrors>` for a value read from several fields).
pub trait Parsed {
    type Values;
    fn all(self) -> Result<Self::Values, ValidationErrors>;
}

macro_rules! parsed_tuple {
    ($($value:ident $error:ident),+) => {
        impl<$($value, $error: Into<ValidationErrors>),+> Parsed for ($(Result<$value, $error>,)+) {
            type Values = ($($value,)+);

            #[allow(non_snake_case)]
            fn all(self) -> Result<Self::Values, ValidationErrors> {
                match self {
                    ($(Ok($value),)+) => Ok(($($value,)+)),
                    ($($value,)+) => Err(ValidationErrors(
                        [$($value.err().map(Into::into)),+]
                            .into_iter()
                            .flatten()
                            .flat_map(|errors| errors.0)
                            .collect(),
                    )),
                }
            }
        }
    };
}

parsed_tuple!(A EA, B EB);
parsed_tuple!(A EA, B EB, C EC);
parsed_tuple!(A EA, B EB, C EC, D ED);
parsed_tuple!(A EA, B EB, C EC, D ED, E EE);
parsed_tuple!(A EA, B EB, C EC, D ED, E EE, F EF);
parsed_tuple!(A EA, B EB, C EC, D ED, E EE, F EF, G EG);

/// Every field's value, or every field's error: `all((a, b, c))?`.
pub fn all<P: Parsed>(results: P) -> Result<P::Values, ValidationErrors> {
    results.all()
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Body {
        a: Text,
        b: Text,
        c: Text,
        #[serde(default)]
        d: Text,
    }

    fn body(value: Value) -> Body {
        Body::deserialize(value).unwrap()
    }

    #[test]
    fn collects_every_problem_in_order() {
        let body = body(json!({"b": 3, "c": "short"}));
        let errors = all((
            body.a.required_text("a"),
            body.b.required_text("b"),
            body.c
                .required("c", |_| Err::<(), _>("too short".to_owned())),
        ))
        .unwrap_err()
        .0;
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
    fn null_counts_as_missing_and_patch_tells_absent_from_null() {
        let body = body(json!({"a": null, "b": "x", "c": 1}));
        assert_eq!(body.a.clone().optional_text("a"), Ok(None));
        assert_eq!(
            body.a.required_text("a").unwrap_err().problem,
            Problem::Missing
        );
        assert_eq!(body.d.patch("d", Ok::<String, Infallible>), Ok(None));
        assert_eq!(
            Text::Null.patch("d", Ok::<String, Infallible>),
            Ok(Some(None))
        );
        assert_eq!(
            body.b.patch("b", Ok::<String, Infallible>),
            Ok(Some(Some("x".to_owned())))
        );
        assert_eq!(
            body.c.optional_text("c").unwrap_err().problem,
            Problem::StringType
        );
    }

    #[test]
    fn control_characters_are_refused_per_field() {
        let given = |field: &str, text: &str| Text::Given(text.to_owned()).required_text(field);
        let refused = "Value error, The value cannot contain control characters.";
        for (field, text) in [
            ("email", "a\u{0000}@b.co"),
            ("username", "bell\u{0007}"),
            ("kind", "del\u{007f}"),
            ("token", "c1\u{0085}"),
        ] {
            assert_eq!(given(field, text).unwrap_err().message, refused, "{field}");
        }
        assert!(given("first_name", "Ann\u{202e}Bob").is_ok());
        assert!(given("info", "line one\r\n\tline two").is_ok());
        assert!(given("password", "tab\tand\u{0000}nul").is_ok());
        assert!(TextKind::MultiLine.check("nul\0").is_err());
    }

    #[test]
    fn an_integer_field_reads_numbers_and_digits_and_names_what_is_wrong() {
        #[derive(Deserialize)]
        struct Counts {
            a: Integer,
            b: Integer,
            c: Integer,
            d: Integer,
            e: Integer,
        }
        let counts =
            Counts::deserialize(json!({"a": 5, "b": " 7", "c": 1.5, "d": 0, "e": "1\u{0}"}))
                .unwrap();
        let small = |n: i64| {
            if (1..=10).contains(&n) {
                Ok(n)
            } else {
                Err("must be between 1 and 10")
            }
        };
        let small_or_one = |n: Option<i64>| small(n.unwrap_or(1));
        assert_eq!(counts.a.required("a", small), Ok(5));
        assert_eq!(counts.b.optional_or("b", small_or_one), Ok(7));
        assert_eq!(
            counts.c.optional_or("c", small_or_one).unwrap_err().problem,
            Problem::IntParsing
        );
        assert_eq!(
            counts.d.optional_or("d", small_or_one).unwrap_err().message,
            "Value error, must be between 1 and 10"
        );
        assert_eq!(
            counts.e.optional_or("e", small_or_one).unwrap_err().message,
            "Value error, The value cannot contain control characters."
        );
        assert_eq!(Integer::Absent.optional_or("f", small_or_one), Ok(1));
        assert_eq!(
            Integer::Absent.required("f", small).unwrap_err().problem,
            Problem::Missing
        );
    }

    proptest::proptest! {
        /// Reading any body never panics, and each field read yields either
        /// a value or exactly one recorded problem.
        #[test]
        fn reading_any_body_never_panics(map in arbitrary::body(&["a", "b", "c", "d"])) {
            let object = Value::Object(map);
            let Body { a, b, c, d } = Body::deserialize(&object).unwrap();
            let results = (
                a.required_text("a"),
                b.optional_text("b"),
                c.required("c", |s: String| if s.is_empty() { Err("empty".to_owned()) } else { Ok(s.len()) }),
                d.patch("d", Ok::<String, std::convert::Infallible>),
            );
            let failed = usize::from(results.0.is_err())
                + usize::from(results.1.is_err())
                + usize::from(results.2.is_err())
                + usize::from(results.3.is_err());
            match all(results) {
                Ok(_) => proptest::prop_assert_eq!(failed, 0),
                Err(errors) => proptest::prop_assert_eq!(errors.0.len(), failed),
            }
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
