//! The API documents itself: `/openapi.json` (OpenAPI 3.1, valid by an
//! independent validator), `/docs.yaml` with the same content, and Swagger UI
//! at `/docs` served entirely from vendored assets. Every route the router
//! serves is documented, and every documented route reaches a handler.

mod common;

use std::collections::BTreeSet;

use common::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Every (method, path) the service's router serves, read from the real
/// router: `tessera::http::routes()` is the whole route table that
/// `http::router` serves (it adds only layers and the 404/405 fallbacks).
///
/// axum has no public list of a router's routes, so this reads its `Debug`
/// output: `node: Node { paths: {RouteId(n): "/path"} }` names each route
/// and `allow_header: Bytes(b"GET,HEAD")` its methods (what axum answers a
/// 405 with). A route whose methods cannot be read that way (`any`, a
/// nested service) fails the test rather than passing unseen; a change in
/// axum's format fails it too, since nothing would then match the document.
fn served_routes() -> BTreeSet<(String, String)> {
    let mut served = BTreeSet::new();
    for (_, routes) in tessera::http::routes() {
        let (router, _) = routes.split_for_parts();
        let debug = format!("{router:?}");
        // The router's own routes, not its fallback router's.
        let own = debug
            .split(", fallback_router:")
            .next()
            .expect("a Router's Debug output");
        let (endpoints, paths) = own
            .split_once("node: Node { paths: {")
            .expect("axum's Router Debug names its paths");
        for entry in paths.split("RouteId(").skip(1) {
            let (id, rest) = entry.split_once("): \"").expect("RouteId(n): \"path\"");
            let path = rest.split('"').next().expect("a quoted path");
            let endpoint = endpoints
                .split("RouteId(")
                .find_map(|e| e.strip_prefix(&format!("{id}): ")))
                .unwrap_or_else(|| panic!("route {id} ({path}) has no endpoint"));
            let methods = endpoint
                .split_once("allow_header: Bytes(b\"")
                .and_then(|(_, allow)| allow.split('"').next())
                .unwrap_or_else(|| panic!("{path} is served by something that is not a documented handler: {endpoint:.200}"));
            for method in methods.split(',').filter(|m| *m != "HEAD") {
                served.insert((method.to_owned(), path.to_owned()));
            }
        }
    }
    served
}

async fn document(app: &common::TestApp) -> Value {
    let response = app.get("/openapi.json").send().await.expect("openapi.json");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("the document is JSON")
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_every_route() {
    let app = spawn_app().await;
    let document = document(&app).await;
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));

    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            let responses = operation["responses"].as_object().expect("responses");
            // A hosted page's form answers a redirect when it succeeds
            // (POST, then GET the next page).
            let page = operation["tags"][0] == "pages";
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || (page && s.starts_with('3'))),
                "{method} {path} documents no success response"
            );
        }
    }
    let served = served_routes();
    assert!(served.len() >= 40, "{} routes found", served.len());
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not documented: {undocumented:?}; documented but not served: {unserved:?}"
    );

    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["client_basic"]["scheme"], "basic");
    let login = &document["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"];
    assert!(login["application/x-www-form-urlencoded"].is_object());
    assert!(login["application/json"].is_object());
    let register = &document["paths"]["/api/v1/auth/register"]["post"]["responses"];
    assert_eq!(
        register["422"]["$ref"],
        "#/components/responses/ValidationFailed"
    );
    let user = &document["components"]["schemas"]["UserPublic"]["properties"];
    assert!(user["email"].is_object() && user.get("password_hash").is_none());
}

/// A route that the router does not serve answers the fallback's 404 (or
/// 405 for a path served with other methods); every route of the table must
/// get past that to its handler in the running service.
#[tokio::test]
async fn every_route_reaches_a_handler() {
    // Every switchable group on, so each route is there to be reached.
    let app = common::spawn_app_with(figment::Figment::new().merge(
        figment::providers::Serialized::default("load.enabled", true),
    ))
    .await;
    for (method, path) in served_routes() {
        let path = path
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{asset}", "swagger-ui.css");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = app
            .client
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !(status == StatusCode::NOT_FOUND && body == r#"{"detail":"Not Found"}"#),
            "{method} {path} is not routed"
        );
    }
}

#[tokio::test]
async fn the_yaml_document_has_the_same_content() {
    let app = spawn_app().await;
    let json = document(&app).await;
    let response = app.get("/docs.yaml").send().await.expect("docs.yaml");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/yaml");
    let yaml: Value = serde_norway::from_str(&response.text().await.unwrap()).expect("YAML");
    assert_eq!(yaml, json);
}

#[tokio::test]
async fn swagger_ui_is_served_from_vendored_assets() {
    let app = spawn_app().await;
    let response = app.get("/docs").send().await.expect("docs");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"));

    let assets = [
        ("swagger-ui.css", "text/css"),
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui-standalone-preset.js", "text/javascript"),
        ("swagger-initializer.js", "text/javascript"),
        ("favicon-32x32.png", "image/png"),
    ];
    for (asset, content_type) in assets {
        let url = format!("/docs/{asset}");
        assert!(html.contains(&url), "index.html does not load {url}");
        let response = app.get(&url).send().await.expect("asset");
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let served = response.headers()["content-type"].to_str().unwrap();
        assert!(served.starts_with(content_type), "{url}: {served}");
        assert!(!response.bytes().await.unwrap().is_empty());
    }
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("\"/openapi.json\""));
    common::assert_detail(
        app.get("/docs/../Cargo.toml").send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "Not Found",
    )
    .await;
    common::assert_detail(
        app.get("/docs/nothing.js").send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "Not Found",
    )
    .await;
}

/// `openapi-spec-validator` (PyPI, installed by
/// `scripts/test-deps.d/schemathesis.sh`) checks the document against the
/// OpenAPI 3.1 schema.
#[tokio::test]
async fn an_independent_validator_accepts_the_document() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let file = std::env::temp_dir().join(format!("tessera-openapi-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, document.to_string()).unwrap();
    let output = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("python3 runs openapi-spec-validator (scripts/test-deps.d/schemathesis.sh)");
    std::fs::remove_file(&file).ok();
    assert!(
        output.status.success(),
        "openapi-spec-validator rejected the document:\n{}",
        // Its message quotes the whole document after the problem.
        String::from_utf8_lossy(&output.stdout)
            .chars()
            .take(1500)
            .collect::<String>()
    );
}
