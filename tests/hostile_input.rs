//! Hostile text in any field is refused in the spec's shape, never a 500:
//! every string of a fuzz corpus (NUL and the other controls, DEL, C1,
//! bidi overrides, zero-width and non-characters, very long text, SQL- and
//! format-string-like text, lone surrogates as JSON escapes, invalid UTF-8
//! in forms, values of the wrong JSON type) goes into every field of every
//! operation that `/openapi.json` documents (body properties, query and
//! path parameters), as JSON and as a form, by an ADMIN against the real
//! database. Reading the fields from the document means a new endpoint is
//! fuzzed without anyone listing it here.

mod common;

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use url::form_urlencoded::byte_serialize;
use uuid::Uuid;

/// One hostile value, in the encodings a client could send it.
#[derive(Debug, Clone)]
enum Hostile {
    /// Text: a JSON string, or percent-encoded UTF-8 in forms and URLs.
    Text(String),
    /// The raw JSON text of a value (escapes serde_json sees, wrong types).
    Json(&'static str),
    /// Raw percent-encoded bytes for forms and URLs (not valid UTF-8).
    Encoded(&'static str),
}

fn corpus() -> Vec<Hostile> {
    let mut texts: Vec<String> = vec![
        "\0".into(),
        "alice\0@example.com".into(),
        "\0' OR 1=1 --".into(),
        (1u8..0x20).map(char::from).collect(),
        "tab\tand\nnewline\r\n".into(),
        "\u{7f}".into(),
        "c1\u{85}\u{9b}controls".into(),
        "\u{202e}gnp.exe".into(),
        "zero\u{200b}width\u{feff}".into(),
        "\u{fffe}\u{ffff}\u{fffd}".into(),
        "e\u{301}\u{301}\u{301}😀𝕏".into(),
        "' OR '1'='1".into(),
        "'; DROP TABLE users; --".into(),
        "%_\\%".into(),
        "%s%s%s%n%x".into(),
        "{0}{{7*7}}${jndi:ldap://x/a}".into(),
        "<script>alert(1)</script>".into(),
        "../../../../etc/passwd".into(),
        String::new(),
        "   ".into(),
        "-1".into(),
        "99999999999999999999999999".into(),
        "1e309".into(),
        "null".into(),
        "2024-02-30T25:61:61Z".into(),
        "a".repeat(20_000),
        "é".repeat(5_000),
    ];
    texts.push(format!("{}@example.com", "a".repeat(300)));
    let mut corpus: Vec<Hostile> = texts.into_iter().map(Hostile::Text).collect();
    corpus.extend(
        [
            r#""\u0000""#,
            r#""\ud800""#,
            r#""x\udfffy""#,
            "null",
            "0",
            "-1e400",
            "true",
            "[]",
            r#"[""]"#,
            r#"{"$ne": null}"#,
        ]
        .map(Hostile::Json),
    );
    corpus.extend(["%00", "%FF%FE", "%C0%80", "%ED%A0%80", "%", "%zz"].map(Hostile::Encoded));
    corpus
}

impl Hostile {
    fn json(&self) -> Value {
        match self {
            Hostile::Text(text) => Value::String(text.clone()),
            Hostile::Json(raw) => serde_json::from_str(raw).unwrap_or(json!(raw)),
            Hostile::Encoded(raw) => Value::String((*raw).to_owned()),
        }
    }

    /// The JSON text put in place of the field's value.
    fn json_text(&self) -> String {
        match self {
            Hostile::Json(raw) => (*raw).to_owned(),
            other => other.json().to_string(),
        }
    }

    /// The percent-encoded form of the value.
    fn encoded(&self) -> String {
        match self {
            Hostile::Text(text) => byte_serialize(text.as_bytes()).collect(),
            Hostile::Json(raw) => byte_serialize(raw.as_bytes()).collect(),
            Hostile::Encoded(raw) => (*raw).to_owned(),
        }
    }

    /// Whether the value, sent at `place`, carries a NUL to the server.
    fn is_nul(&self, place: Place) -> bool {
        match self {
            Hostile::Text(text) => text.contains('\0'),
            Hostile::Json(raw) => place == Place::Json && *raw == r#""\u0000""#,
            Hostile::Encoded(raw) => place != Place::Json && *raw == "%00",
        }
    }
}

/// Where a field goes in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Json,
    Form,
    Query,
    Path,
}

/// One documented operation and the fields it reads.
#[derive(Debug)]
struct Operation {
    method: Method,
    path: String,
    /// Body properties and which of them are required.
    body: Vec<(String, bool)>,
    form_only: bool,
    query: Vec<String>,
    path_params: Vec<String>,
    /// Bearer required (not only optional).
    needs_bearer: bool,
    needs_basic: bool,
    /// A hosted HTML page (tag `pages`): sent with the acting admin's
    /// console cookie; it answers HTML, so only "never a 5xx" applies.
    page: bool,
}

fn schema<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    let schema = schema
        .get("oneOf")
        .and_then(|options| options.as_array()?.iter().find(|o| o.get("$ref").is_some()))
        .unwrap_or(schema);
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().expect("ref name");
            &document["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn operations(document: &Value) -> Vec<Operation> {
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operation") {
            let mut body: Vec<(String, bool)> = Vec::new();
            let content = operation["requestBody"]["content"].as_object();
            for media in content.into_iter().flat_map(|c| c.values()) {
                let schema = schema(document, &media["schema"]);
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for name in schema["properties"]
                    .as_object()
                    .into_iter()
                    .flat_map(|p| p.keys())
                {
                    if !body.iter().any(|(known, _)| known == name) {
                        body.push((name.clone(), required.contains(&name.as_str())));
                    }
                }
            }
            let form_only = content.is_some_and(|c| {
                c.keys()
                    .all(|media| media == "application/x-www-form-urlencoded")
            });
            let parameters = |place: &str| -> Vec<String> {
                operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == place)
                    .map(|p| p["name"].as_str().expect("parameter name").to_owned())
                    .collect()
            };
            let security: Vec<&Value> = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            let optional = security
                .iter()
                .any(|s| s.as_object().is_some_and(Map::is_empty));
            operations.push(Operation {
                method: Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                path: path.clone(),
                body,
                form_only,
                query: parameters("query"),
                path_params: parameters("path"),
                needs_bearer: !optional && security.iter().any(|s| s.get("bearer").is_some()),
                needs_basic: !optional && security.iter().any(|s| s.get("client_basic").is_some()),
                page: operation["tags"][0] == "pages",
            });
        }
    }
    operations
}

/// A valid value for a field that is not the one under attack, so the
/// hostile value travels as deep as it can. Passwords are not the acting
/// admin's, so nothing ever deletes or re-keys that account.
fn companion(name: &str, path: &str, victim: Uuid, csrf: &str) -> String {
    match name {
        "csrf" => csrf.to_owned(),
        "email" => format!("{}@example.com", common::unique_name()),
        "username" if path.ends_with("/token") => format!("{}@example.com", common::unique_name()),
        "username" => common::unique_name(),
        "password" | "current_password" | "new_password" => common::PASSWORD.to_owned(),
        "grant_type" => "password".to_owned(),
        "delta" => "1.00".to_owned(),
        "id" => victim.to_string(),
        "asset" => "swagger-ui.css".to_owned(),
        _ => "x".to_owned(),
    }
}

/// The fields sent beside the target: the required ones, and for the OAuth
/// password grant its credentials, which only that grant requires.
fn companions<'a>(operation: &'a Operation, target: &str) -> Vec<&'a str> {
    operation
        .body
        .iter()
        .filter(|(name, required)| {
            let grant = operation.path == "/oauth/token"
                && matches!(name.as_str(), "username" | "password");
            name != target && (*required || grant)
        })
        .map(|(name, _)| name.as_str())
        .collect()
}

struct Attack {
    method: Method,
    url_path: String,
    query: String,
    body: Option<(&'static str, Vec<u8>)>,
    bearer: bool,
    basic: bool,
    page: bool,
    place: Place,
    field: String,
    nul: bool,
    secret: bool,
    label: String,
}

fn attacks(operations: &[Operation], victim: Uuid, csrf: &str) -> Vec<Attack> {
    let mut attacks = Vec::new();
    for operation in operations {
        let mut targets: Vec<(Place, String)> = Vec::new();
        for (name, _) in &operation.body {
            targets.push((Place::Form, name.clone()));
            if !operation.form_only {
                targets.push((Place::Json, name.clone()));
            }
        }
        targets.extend(operation.query.iter().map(|q| (Place::Query, q.clone())));
        targets.extend(
            operation
                .path_params
                .iter()
                .map(|p| (Place::Path, p.clone())),
        );
        for (place, field) in targets {
            for hostile in corpus() {
                let mut url_path = operation.path.clone();
                for param in &operation.path_params {
                    let value = if place == Place::Path && *param == field {
                        hostile.encoded()
                    } else {
                        companion(param, &operation.path, victim, csrf)
                    };
                    url_path = url_path.replace(&format!("{{{param}}}"), &value);
                }
                let query = if place == Place::Query {
                    format!("?{field}={}", hostile.encoded())
                } else {
                    String::new()
                };
                let body = match place {
                    Place::Json => {
                        let mut parts: Vec<String> = companions(operation, &field)
                            .into_iter()
                            .map(|name| {
                                format!(
                                    "{}:{}",
                                    json!(name),
                                    json!(companion(name, &operation.path, victim, csrf))
                                )
                            })
                            .collect();
                        parts.push(format!("{}:{}", json!(field), hostile.json_text()));
                        Some((
                            "application/json",
                            format!("{{{}}}", parts.join(",")).into_bytes(),
                        ))
                    }
                    Place::Form => {
                        let mut parts: Vec<String> = companions(operation, &field)
                            .into_iter()
                            .map(|name| {
                                let value = companion(name, &operation.path, victim, csrf);
                                format!(
                                    "{name}={}",
                                    byte_serialize(value.as_bytes()).collect::<String>()
                                )
                            })
                            .collect();
                        parts.push(format!("{field}={}", hostile.encoded()));
                        Some((
                            "application/x-www-form-urlencoded",
                            parts.join("&").into_bytes(),
                        ))
                    }
                    Place::Query | Place::Path => None,
                };
                attacks.push(Attack {
                    method: operation.method.clone(),
                    url_path,
                    query,
                    body,
                    bearer: operation.needs_bearer,
                    basic: operation.needs_basic,
                    page: operation.page,
                    place,
                    secret: matches!(
                        field.as_str(),
                        "password" | "current_password" | "new_password" | "client_secret"
                    ),
                    label: format!(
                        "{} {} {place:?} {field} = {hostile:?}",
                        operation.method, operation.path
                    ),
                    field: field.clone(),
                    nul: hostile.is_nul(place),
                });
            }
        }
    }
    attacks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_string_in_every_field_of_every_endpoint_gets_a_4xx_or_2xx() {
    let started = Instant::now();
    // The load-test routes on, so they are fuzzed too.
    let app = common::spawn_app_with(common::gateway_overrides().merge(
        figment::providers::Serialized::default("load.enabled", true),
    ))
    .await;
    // The acting admin's password is its own: the corpus's companion
    // passwords never match it, so no attack deletes or re-keys it.
    let own_password = "the acting admin's own passphrase";
    let name = common::unique_name();
    let email = format!("{name}@example.com");
    assert_eq!(
        app.register(&email, &name, own_password).await.status(),
        StatusCode::CREATED
    );
    sqlx::query("UPDATE users SET account_role = 'ADMIN' WHERE email = $1")
        .bind(&email)
        .execute(&app.pool)
        .await
        .expect("make admin");
    let login = app
        .login_json(json!({"email": email, "password": own_password}))
        .await;
    let admin = common::Tokens::from_body(&login.json().await.expect("tokens"));
    let victim = app.new_user().await.id;

    let document: Value = app
        .get("/openapi.json")
        .send()
        .await
        .expect("document")
        .json()
        .await
        .expect("json");
    let operations = operations(&document);
    let fields: usize = operations
        .iter()
        .map(|o| o.body.len() + o.query.len() + o.path_params.len())
        .sum();
    assert!(
        operations.len() >= 40 && fields >= 60,
        "{} operations, {fields} fields",
        operations.len()
    );
    // The console pages are fuzzed signed in, with the session's form token
    // beside the attacked field, so hostile text gets past the sign-in.
    let acting = common::TestUser {
        email: email.clone(),
        username: name.clone(),
        password: own_password.to_owned(),
        id: Uuid::nil(),
    };
    let mut console = common::pages::Visitor::signed_in(&app, &acting).await;
    let csrf = console.csrf_of("/admin/users").await;
    let console_cookie = format!("tessera_console={}", console.cookies["tessera_console"]);
    let attacks = attacks(&operations, victim, &csrf);

    let app = &app;
    let admin = &admin;
    let console_cookie = &console_cookie;
    let outcomes: Vec<(Attack, StatusCode, String)> = stream::iter(attacks)
        .map(|attack| async move {
            let url = format!("{}{}", app.url(&attack.url_path), attack.query);
            let mut request = app
                .client
                .request(attack.method.clone(), url)
                .timeout(Duration::from_secs(30));
            if attack.bearer {
                request = request.bearer_auth(&admin.access);
            }
            if attack.basic {
                request = request.basic_auth(common::GATEWAY_ID, Some(common::GATEWAY_SECRET));
            }
            if attack.page {
                request = request.header("cookie", console_cookie);
            }
            if let Some((content_type, body)) = &attack.body {
                request = request
                    .header("content-type", *content_type)
                    .body(body.clone());
            }
            let response = request.send().await.expect("the server answers");
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            (attack, status, body)
        })
        .buffer_unordered(8)
        .collect()
        .await;

    let mut failures = Vec::new();
    for (attack, status, body) in &outcomes {
        if status.is_server_error() {
            failures.push(format!("{}: {status} {body:.200}", attack.label));
            continue;
        }
        // A NUL in a text field that is not a secret is refused by name.
        if attack.nul
            && !attack.secret
            && !attack.page
            && matches!(attack.place, Place::Json | Place::Form | Place::Query)
        {
            let parsed: Value = serde_json::from_str(body).unwrap_or_default();
            let oauth = attack.url_path.starts_with("/oauth/");
            let named = if oauth {
                *status == StatusCode::BAD_REQUEST
                    && parsed["error"] == "invalid_request"
                    && parsed["error_description"]
                        .as_str()
                        .is_some_and(|d| d.contains(attack.field.as_str()))
            } else {
                let location = if attack.place == Place::Query {
                    "query"
                } else {
                    "body"
                };
                *status == StatusCode::UNPROCESSABLE_ENTITY
                    && parsed["detail"].as_array().is_some_and(|entries| {
                        entries.iter().any(|e| {
                            e["loc"] == json!([location, attack.field])
                                && e["type"] == "value_error"
                        })
                    })
            };
            if !named {
                failures.push(format!(
                    "{}: NUL not refused by name: {status} {body:.200}",
                    attack.label
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} attacks failed:\n{}",
        failures.len(),
        outcomes.len(),
        failures.join("\n")
    );
    // The admin was never logged out or deleted along the way.
    app.assert_verify(&admin.access, StatusCode::OK).await;
    eprintln!("{} attacks in {:?}", outcomes.len(), started.elapsed());
}

/// A password is compared, never stored: one holding a NUL is just a wrong
/// password at login (401, also via OAuth), and a new password with a
/// control character is a rule violation.
#[tokio::test]
async fn control_characters_in_passwords_are_wrong_or_refused_never_a_500() {
    let app = common::spawn_app().await;
    let user = app.new_user().await;
    let response = app
        .login_json(json!({"email": user.email, "password": format!("{}\u{0}", user.password)}))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app.password_grant(&user.email, "nul\0byte").await;
    common::assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let name = common::unique_name();
    let response = app
        .register(
            &format!("{name}@example.com"),
            &name,
            "a fine passphrase\u{0}",
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"detail": [{"loc": ["body", "password"], "msg": "Value error, The password cannot contain control characters.", "type": "value_error"}]})
    );
}
