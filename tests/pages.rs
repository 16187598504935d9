//! The hosted pages over plain HTTP: the headers every page carries, links
//! that opening never uses up, the words of each failure, forms refused
//! without their anti-forgery token, and the admin console's session and
//! permissions. (tests/browser.rs walks the same pages in a real browser.)

mod common;

use std::time::Duration;

use common::pages::{input_value, spawn_app_at_own_url, wait_for_link, Page, Visitor};
use common::{spawn_app, spawn_app_with, token_in, unique_name, SmtpSink, TestApp, TestUser};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

const PAGE_LIMIT: usize = 100 * 1024;

fn assert_secure_html(page: &Page, what: &str) {
    assert!(
        page.header("content-type").starts_with("text/html"),
        "{what}: {}",
        page.header("content-type")
    );
    let csp = page.header("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src"),
        "{what}: {csp}"
    );
    assert_eq!(page.header("x-frame-options"), "DENY", "{what}");
    assert_eq!(page.header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(page.header("cache-control"), "no-store", "{what}");
    assert!(
        page.body.len() < PAGE_LIMIT,
        "{what}: {} bytes",
        page.body.len()
    );
    assert!(!page.body.contains("<script"), "{what} has a script");
    assert_labelled(&page.body, what);
}

/// Every visible input and select has an id and a `<label for>` naming it.
fn assert_labelled(html: &str, what: &str) {
    for control in html.split('<').skip(1) {
        let Some(tag) = control.split('>').next() else {
            continue;
        };
        if !(tag.starts_with("input ") || tag.starts_with("select "))
            || tag.contains("type=\"hidden\"")
        {
            continue;
        }
        let id = tag
            .split("id=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("{what}: a control without an id: <{tag}>"));
        assert!(
            html.contains(&format!("<label for=\"{id}\"")),
            "{what}: #{id} has no label"
        );
    }
}

async fn app_with_mail(sink: &SmtpSink, verify_emails: bool) -> TestApp {
    spawn_app_at_own_url(sink.overrides().merge(Serialized::default(
        "auth.require_email_verification",
        verify_emails,
    )))
    .await
}

/// A user and the reset link e-mailed to them.
async fn reset_link(app: &TestApp, sink: &SmtpSink) -> (TestUser, String) {
    let user = app.new_user().await;
    assert_eq!(
        app.forgot_password(&user.email).await.status(),
        StatusCode::ACCEPTED
    );
    let link = wait_for_link(sink, &user.email, "reset-password").await;
    (user, link)
}

fn path_of(link: &str, app: &TestApp) -> String {
    link.strip_prefix(&app.address)
        .unwrap_or_else(|| panic!("{link} does not point at {}", app.address))
        .to_owned()
}

#[tokio::test]
async fn every_page_carries_the_security_headers_and_stays_small() {
    let app = spawn_app().await;
    let (admin, _) = app.new_user_with_role("ADMIN").await;
    let mut visitor = Visitor::new(&app);
    for path in [
        "/admin/",
        "/auth/reset-password?token=not-a-token",
        "/auth/reset-password",
        "/auth/activate?token=anything",
    ] {
        let page = visitor.get(path).await;
        assert_secure_html(&page, path);
    }
    let mut console = Visitor::signed_in(&app, &admin).await;
    for path in [
        "/admin/users".to_owned(),
        format!("/admin/users/{}", admin.id),
        "/admin/audit".to_owned(),
    ] {
        let page = console.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert_secure_html(&page, &path);
    }
    let refused = console.post_form("/admin/sign-out", &[]).await;
    assert_secure_html(&refused, "a refused form");

    let css = visitor.get("/assets/pages.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.header("cache-control").contains("max-age=86400"));
    assert!(css.body.len() < PAGE_LIMIT);
}

#[tokio::test]
async fn console_cookies_are_http_only_strict_and_secure_over_https() {
    let app = spawn_app().await;
    let (admin, _) = app.new_user_with_role("ADMIN").await;
    let mut visitor = Visitor::new(&app);
    let signed_in = visitor.sign_in(&admin).await;
    let cookies = signed_in.set_cookies();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("tessera_console="))
        .expect("a console cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(session.contains(flag), "{session}");
    }
    assert!(!session.contains("Secure"), "plain http: {session}");

    let https = spawn_app_with(Figment::new().merge(Serialized::default(
        "server.public_url",
        "https://auth.example.test",
    )))
    .await;
    let mut visitor = Visitor::new(&https);
    let form = visitor.get("/admin/").await;
    assert!(form.set_cookies().iter().all(|c| c.contains("; Secure")));
    let signed_in = visitor.sign_in(&admin).await;
    assert!(signed_in
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("tessera_console=") && c.contains("; Secure")));
}

#[tokio::test]
async fn opening_an_emailed_link_uses_nothing_and_the_link_is_this_service() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, true).await;

    let (user, link) = reset_link(&app, &sink).await;
    assert!(link.starts_with(&format!("{}/auth/reset-password?token=", app.address)));
    let mut visitor = Visitor::new(&app);
    for _ in 0..2 {
        let page = visitor.get(&path_of(&link, &app)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("name=\"new_password\""));
        assert!(page.body.contains("name=\"confirm_password\""));
        assert!(page.body.contains("minlength=\"8\""));
    }
    let token = token_in(&format!("{link}\n"), "reset-password");
    let reset = app
        .post_json(
            "/api/v1/auth/reset-password",
            json!({"token": token, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::OK, "the GETs used the link up");
    // Not activated yet (403), but the new password is the one accepted.
    assert_eq!(
        app.login_status(&user.email, "a brand new passphrase")
            .await,
        StatusCode::FORBIDDEN
    );

    let newcomer = unique_name();
    let email = format!("{newcomer}@example.com");
    let registered = app.register(&email, &newcomer, common::PASSWORD).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let link = wait_for_link(&sink, &email, "activate").await;
    for _ in 0..2 {
        let page = visitor.get(&path_of(&link, &app)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains(">Activate</button>"));
    }
    assert_eq!(
        app.login_status(&email, common::PASSWORD).await,
        StatusCode::FORBIDDEN,
        "opening the page activated the account"
    );
    let page = visitor.get(&path_of(&link, &app)).await;
    let activated = visitor
        .post_form(
            "/auth/activate",
            &[
                ("token", &input_value(&page.body, "token")),
                ("csrf", &input_value(&page.body, "csrf")),
            ],
        )
        .await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);
    assert!(activated
        .body
        .contains("User account activated successfully."));
    assert_eq!(
        app.login_status(&email, common::PASSWORD).await,
        StatusCode::OK
    );
    let again = visitor
        .post_form(
            "/auth/activate",
            &[
                ("token", &input_value(&page.body, "token")),
                ("csrf", &input_value(&page.body, "csrf")),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(
        again.body.contains("User account is already active."),
        "{}",
        again.body
    );
}

#[tokio::test]
async fn a_bad_used_or_missing_reset_link_says_so_in_words() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, false).await;
    let mut visitor = Visitor::new(&app);
    for path in [
        "/auth/reset-password?token=forged".to_owned(),
        "/auth/reset-password".to_owned(),
        format!("/auth/reset-password?token={}", "A".repeat(64)),
    ] {
        let page = visitor.get(&path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(
            page.body.contains("Invalid or expired reset token"),
            "{path}: {}",
            page.body
        );
        assert!(!page.body.contains("new_password"));
    }

    let (user, link) = reset_link(&app, &sink).await;
    let form = visitor.get(&path_of(&link, &app)).await;
    let fields = [
        ("token", input_value(&form.body, "token")),
        ("csrf", input_value(&form.body, "csrf")),
        ("new_password", "an entirely new passphrase".to_owned()),
        ("confirm_password", "an entirely new passphrase".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = visitor.post_form("/auth/reset-password", &fields).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Password has been reset successfully"));
    assert_eq!(
        app.login_status(&user.email, "an entirely new passphrase")
            .await,
        StatusCode::OK
    );
    let used = visitor.get(&path_of(&link, &app)).await;
    assert_eq!(used.status, StatusCode::BAD_REQUEST);
    assert!(used.body.contains("Invalid or expired reset token"));
    let replayed = visitor.post_form("/auth/reset-password", &fields).await;
    assert_eq!(replayed.status, StatusCode::BAD_REQUEST);
    assert!(replayed.body.contains("Invalid or expired reset token"));
}

#[tokio::test]
async fn an_expired_reset_link_says_so() {
    let sink = SmtpSink::start();
    let app = spawn_app_at_own_url(
        sink.overrides()
            .merge(Serialized::default("auth.reset_token_ttl_secs", 1)),
    )
    .await;
    let (_, link) = reset_link(&app, &sink).await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.get(&path_of(&link, &app)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let expired = visitor.get(&path_of(&link, &app)).await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
    assert!(expired.body.contains("Invalid or expired reset token"));
}

#[tokio::test]
async fn a_weak_or_mistyped_password_shows_the_form_again_and_keeps_the_link() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, false).await;
    let (user, link) = reset_link(&app, &sink).await;
    let mut visitor = Visitor::new(&app);
    let form = visitor.get(&path_of(&link, &app)).await;
    let (token, csrf) = (
        input_value(&form.body, "token"),
        input_value(&form.body, "csrf"),
    );
    for (new, confirm, words) in [
        ("password", "password", "This password is too common."),
        (
            "short",
            "short",
            "The password must be at least 8 characters long.",
        ),
        (
            user.email.as_str(),
            user.email.as_str(),
            "The password cannot be the same as the email or username.",
        ),
        (
            "a perfectly new passphrase",
            "a perfectly new passfrase",
            "The two passwords are not the same.",
        ),
    ] {
        let page = visitor
            .post_form(
                "/auth/reset-password",
                &[
                    ("token", &token),
                    ("csrf", &csrf),
                    ("new_password", new),
                    ("confirm_password", confirm),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{words}");
        assert!(page.body.contains(words), "{words}: {}", page.body);
        assert!(
            page.body.contains("name=\"new_password\""),
            "the form again"
        );
    }
    assert_eq!(
        app.login_status(&user.email, &user.password).await,
        StatusCode::OK,
        "a refused password changed nothing"
    );
    let page = visitor
        .post_form(
            "/auth/reset-password",
            &[
                ("token", &token),
                ("csrf", &csrf),
                ("new_password", "finally a fine passphrase"),
                ("confirm_password", "finally a fine passphrase"),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "the link survived: {}",
        page.body
    );
}

#[tokio::test]
async fn a_form_without_its_anti_forgery_token_is_refused() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, false).await;
    let (user, link) = reset_link(&app, &sink).await;
    let mut visitor = Visitor::new(&app);
    let form = visitor.get(&path_of(&link, &app)).await;
    let token = input_value(&form.body, "token");
    let refused_words = "This form has expired or did not come from this site.";
    for csrf in [None, Some("AAAAAAAAAAAAAAAAAAAAAA"), Some("garbage")] {
        let mut fields = vec![
            ("token", token.as_str()),
            ("new_password", "a forged new passphrase"),
            ("confirm_password", "a forged new passphrase"),
        ];
        if let Some(csrf) = csrf {
            fields.push(("csrf", csrf));
        }
        let page = visitor.post_form("/auth/reset-password", &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{csrf:?}");
        assert!(page.body.contains(refused_words), "{}", page.body);
    }
    // Another link's token is no good either.
    let other_csrf = input_value(
        &visitor.get("/auth/activate?token=someone-else").await.body,
        "csrf",
    );
    let page = visitor
        .post_form(
            "/auth/reset-password",
            &[
                ("token", &token),
                ("csrf", &other_csrf),
                ("new_password", "a forged new passphrase"),
                ("confirm_password", "a forged new passphrase"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.login_status(&user.email, &user.password).await,
        StatusCode::OK
    );
    let activate = visitor
        .post_form("/auth/activate", &[("token", "anything")])
        .await;
    assert_eq!(activate.status, StatusCode::FORBIDDEN);

    // The sign-in form is bound to the browser's own form cookie.
    let (admin, _) = app.new_user_with_role("ADMIN").await;
    let mut stranger = Visitor::new(&app);
    let csrf = stranger.csrf_of("/admin/").await;
    let mut forger = Visitor::new(&app);
    let page = forger
        .post_form(
            "/admin/sign-in",
            &[
                ("username", &admin.username),
                ("password", &admin.password),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains(refused_words));

    // A console action without the session's token does nothing.
    let victim = app.new_user().await;
    let mut console = Visitor::signed_in(&app, &admin).await;
    let path = format!("/admin/users/{}", victim.id);
    for fields in [
        vec![("action", "block")],
        vec![("action", "block"), ("csrf", "not-the-token")],
    ] {
        let page = console.post_form(&path, &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(page.body.contains(refused_words));
    }
    assert!(!is_blocked(&app, victim.id).await);
}

async fn is_blocked(app: &TestApp, id: Uuid) -> bool {
    app.user_field(id, "is_blocked").await
}

#[tokio::test]
async fn a_moderator_does_in_the_console_only_what_the_api_lets_a_moderator_do() {
    let app = spawn_app().await;
    let (admin, _) = app.new_user_with_role("ADMIN").await;
    let (moderator, _) = app.new_user_with_role("MODERATOR").await;
    let regular = app.new_user().await;
    let mut console = Visitor::signed_in(&app, &moderator).await;

    let admin_page = console.get(&format!("/admin/users/{}", admin.id)).await;
    assert_eq!(admin_page.status, StatusCode::OK);
    for button in [">Block<", ">Delete<", ">Save<", ">Revoke<"] {
        assert!(
            !admin_page.body.contains(button),
            "{button} shown to a moderator"
        );
    }
    let csrf = input_value(&admin_page.body, "csrf");
    let path = format!("/admin/users/{}", admin.id);
    for action in ["block", "delete", "update"] {
        let page = console
            .post_form(
                &path,
                &[
                    ("csrf", &csrf),
                    ("action", action),
                    ("account_role", "REGULAR"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{action}");
        assert!(
            page.body.contains("Not enough permissions"),
            "{}",
            page.body
        );
    }
    assert!(!is_blocked(&app, admin.id).await);
    let audit = console.get("/admin/audit").await;
    assert_eq!(audit.status, StatusCode::FORBIDDEN);
    assert!(!console
        .get("/admin/users")
        .await
        .body
        .contains("/admin/audit\""));

    // The API shows a moderator no sessions, so neither does the console:
    // not the addresses and devices, not a way to end one.
    let device = format!("Device {}", Uuid::new_v4().simple());
    let login = app
        .post("/api/v1/auth/login")
        .header("user-agent", &device)
        .json(&json!({"username": regular.username, "password": regular.password}))
        .send()
        .await
        .unwrap();
    let tokens = common::pair(login).await;
    let session_id = common::jwt_claims(&tokens.access)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let regular_page = console.get(&format!("/admin/users/{}", regular.id)).await;
    assert!(regular_page.body.contains(">Block<"));
    assert!(!regular_page.body.contains(">Delete<"));
    for shown in [device.as_str(), "Live sessions", ">Revoke<", &session_id] {
        assert!(
            !regular_page.body.contains(shown),
            "{shown} shown to a moderator"
        );
    }
    let mut admin_console = Visitor::signed_in(&app, &admin).await;
    let admin_view = admin_console
        .get(&format!("/admin/users/{}", regular.id))
        .await;
    assert!(
        admin_view.body.contains(&device),
        "an admin sees the sessions"
    );
    let path = format!("/admin/users/{}", regular.id);
    let revoke = console
        .post_form(
            &path,
            &[
                ("csrf", &csrf),
                ("action", "revoke"),
                ("session_id", &session_id),
            ],
        )
        .await;
    assert_eq!(revoke.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.verify(&tokens.access).await.status(),
        StatusCode::OK,
        "the session lives on"
    );
    let delete = console
        .post_form(&path, &[("csrf", &csrf), ("action", "delete")])
        .await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
    let block = console
        .post_form(&path, &[("csrf", &csrf), ("action", "block")])
        .await;
    assert_eq!(block.status, StatusCode::SEE_OTHER, "{}", block.body);
    assert!(is_blocked(&app, regular.id).await);
}

#[tokio::test]
async fn the_console_signs_in_staff_only_through_the_login_and_its_limits() {
    let app = spawn_app_with(common::overrides(&[
        ("rate_limit.enabled", json!(true)),
        ("server.trusted_proxies", json!(["127.0.0.1/32"])),
    ]))
    .await;
    let app = app.forwarded_for(&common::random_ip());
    let regular = app.new_user().await;
    let mut visitor = Visitor::new(&app);
    let refused = visitor.sign_in(&regular).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("Not enough permissions"));
    assert!(!visitor.cookies.contains_key("tessera_console"));
    let tokens = app.login(&regular).await;
    assert_eq!(
        app.my_sessions(&tokens.access).await.len(),
        1,
        "the refused sign-in left its session open"
    );

    let (admin, _) = app.new_user_with_role("ADMIN").await;
    let wrong = TestUser {
        password: "not the password at all".into(),
        ..admin.clone()
    };
    let page = visitor.sign_in(&wrong).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("Incorrect username or password"));
    assert!(
        page.body.contains(&format!("value=\"{}\"", admin.username)),
        "the name is kept"
    );
    for _ in 0..5 {
        visitor.sign_in(&wrong).await;
    }
    let locked = visitor.sign_in(&admin).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    assert!(locked.body.contains("Too many failed login attempts"));
    let retry_after: u64 = locked
        .header("retry-after")
        .parse()
        .expect("the lockout page says when to retry, in seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(
        app.login_json(json!({"username": admin.username, "password": admin.password}))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the console and /login share one lockout"
    );
}

#[tokio::test]
async fn the_console_session_ends_with_its_login_session_on_sign_out_and_when_idle() {
    let app =
        spawn_app_with(Figment::new().merge(Serialized::default("console.idle_timeout_secs", 2)))
            .await;
    let (admin, tokens) = app.new_user_with_role("ADMIN").await;

    // Logout-all (or a block, a password reset) ends the console session.
    let mut console = Visitor::signed_in(&app, &admin).await;
    assert_eq!(console.get("/admin/users").await.status, StatusCode::OK);
    assert_eq!(app.my_sessions(&tokens.access).await.len(), 2);
    let ended = app
        .post_with_bearer("/api/v1/auth/logout-all", &tokens.access)
        .await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let page = console.get("/admin/users").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.header("location"), "/admin/");

    // Sign out ends the console session and the session under it.
    let mut console = Visitor::signed_in(&app, &admin).await;
    let tokens = app.login(&admin).await;
    assert_eq!(app.my_sessions(&tokens.access).await.len(), 2);
    let cookie = console.cookies["tessera_console"].clone();
    let csrf = console.csrf_of("/admin/users").await;
    let out = console
        .post_form("/admin/sign-out", &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("tessera_console=;") && c.contains("Max-Age=0")));
    assert_eq!(app.my_sessions(&tokens.access).await.len(), 1);
    console.cookies.insert("tessera_console".into(), cookie);
    assert_eq!(
        console.get("/admin/users").await.status,
        StatusCode::SEE_OTHER
    );

    // Each page renews the idle timeout; a pause longer than it ends it.
    let mut console = Visitor::signed_in(&app, &admin).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(console.get("/admin/users").await.status, StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        console.get("/admin/users").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_users_table_searches_by_email_or_username_filters_and_pages() {
    let app = spawn_app().await;
    let (admin, _) = app.new_user_with_role("ADMIN").await;
    let tag = &Uuid::new_v4().simple().to_string()[..10];
    // 55 rows straight into PostgreSQL: more than a page, without 55 argon2 hashes.
    sqlx::query(
        "INSERT INTO users (email, username, password_hash, is_blocked) \
         SELECT 'p' || n || '@' || $1 || '.example.com', 'p' || $1 || n, 'x', n % 5 = 0 \
         FROM generate_series(1, 55) AS n",
    )
    .bind(tag)
    .execute(&app.pool)
    .await
    .unwrap();
    let mut console = Visitor::signed_in(&app, &admin).await;

    let first = console.get(&format!("/admin/users?q={tag}")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(
        first.body.contains("55 user(s), showing 1–50."),
        "{}",
        first.body
    );
    assert_eq!(first.body.matches("<tr>").count(), 50 + 1);
    let next = first
        .body
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|href| href.contains("offset=50"))
        .expect("a Next link")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let second = console.get(&next).await;
    assert!(second.body.contains("showing 51–55."), "{}", second.body);
    assert!(second.body.contains(">Previous<"));

    // By username (any case) or by e-mail; filters narrow it.
    let by_name = console
        .get(&format!("/admin/users?q=P{}7", tag.to_uppercase()))
        .await;
    assert!(by_name.body.contains("1 user(s)"), "{}", by_name.body);
    let by_email = console.get(&format!("/admin/users?q=p12@{tag}")).await;
    assert!(by_email.body.contains("1 user(s)"), "{}", by_email.body);
    let blocked = console
        .get(&format!(
            "/admin/users?q={tag}&blocked=true&role=REGULAR&deleted=exclude"
        ))
        .await;
    assert!(blocked.body.contains("11 user(s)"), "{}", blocked.body);
    let admins = console
        .get(&format!("/admin/users?q={tag}&role=ADMIN"))
        .await;
    assert!(admins.body.contains("0 user(s)"));
    let bad = console.get("/admin/users?role=KING").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad
        .body
        .contains("must be one of: ADMIN, MODERATOR, REGULAR"));

    // Paging is bounded where it is parsed: a huge offset is refused in
    // words, never a counter that wraps (nor a debug build's panic).
    for offset in [i64::MAX.to_string(), "1000000001".to_owned()] {
        for page in ["users", "audit"] {
            let huge = console.get(&format!("/admin/{page}?offset={offset}")).await;
            assert_eq!(
                huge.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                huge.body
            );
            assert!(
                huge.body
                    .contains("must be an integer from 0 to 1000000000"),
                "{}",
                huge.body
            );
        }
    }
    let last = console.get("/admin/users?offset=1000000000").await;
    assert_eq!(last.status, StatusCode::OK, "{}", last.body);
}

#[tokio::test]
async fn an_admin_edits_revokes_deletes_and_restores_from_a_user_page() {
    let app = spawn_app().await;
    let (admin, _) = app.new_user_with_role("ADMIN").await;
    let (user, phone) = app.signed_in_user().await;
    let laptop = app.login(&user).await;
    let mut console = Visitor::signed_in(&app, &admin).await;
    let path = format!("/admin/users/{}", user.id);
    let page = console.get(&path).await;
    let csrf = input_value(&page.body, "csrf");
    assert_eq!(page.body.matches(">Revoke</button>").count(), 2);

    let phone_sid = common::jwt_claims(&phone.access)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke_phone = [
        ("csrf", csrf.as_str()),
        ("action", "revoke"),
        ("session_id", phone_sid.as_str()),
    ];
    let revoked = console.post_form(&path, &revoke_phone).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(revoked.header("location"), format!("{path}?done=revoked"));
    app.assert_verify(&phone.access, StatusCode::UNAUTHORIZED)
        .await;
    app.assert_verify(&laptop.access, StatusCode::OK).await;
    let again = console.post_form(&path, &revoke_phone).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.body.contains("Session not found"));

    let saved = console
        .post_form(
            &path,
            &[
                ("csrf", &csrf),
                ("action", "update"),
                ("account_role", "MODERATOR"),
                ("account_subscription", "PRO"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let verified: serde_json::Value = app.verify(&laptop.access).await.json().await.unwrap();
    assert_eq!(verified["role"], "MODERATOR");
    assert_eq!(verified["subscription"], "PRO");
    let page = console.get(&format!("{path}?done=updated")).await;
    assert!(page.body.contains("Role and subscription saved."));

    let deleted = console
        .post_form(&path, &[("csrf", &csrf), ("action", "delete")])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    app.assert_verify(&laptop.access, StatusCode::UNAUTHORIZED)
        .await;
    let page = console.get(&path).await;
    assert!(page.body.contains(">Restore<") && page.body.contains("deleted"));
    let restored = console
        .post_form(&path, &[("csrf", &csrf), ("action", "restore")])
        .await;
    assert_eq!(restored.status, StatusCode::SEE_OTHER);
    app.login(&user).await;

    let own = format!("/admin/users/{}", admin.id);
    let page = console
        .post_form(&own, &[("csrf", &csrf), ("action", "block")])
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("Admins cannot block themselves"));
    let missing = console
        .get(&format!("/admin/users/{}", Uuid::new_v4()))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("User not found"));

    // The audit log is written in the background.
    app.audit_events(user.id, "user_restored").await;
    let audit = console
        .get(&format!("/admin/audit?user_id={}", user.id))
        .await;
    assert_eq!(audit.status, StatusCode::OK);
    for kind in [
        "session_revoked",
        "role_changed",
        "user_deleted",
        "user_restored",
    ] {
        assert!(audit.body.contains(kind), "{kind} not in the audit page");
    }
}

#[tokio::test]
async fn with_redis_down_the_pages_answer_a_503_page_in_time_and_recover() {
    let mut redis = common::servers::RedisServer::start();
    let app = spawn_app_with(common::overrides(&[
        ("redis.url", json!(redis.url())),
        ("redis.timeout_ms", json!(500)),
    ]))
    .await;
    let (admin, _) = app.new_user_with_role("ADMIN").await;
    let mut console = Visitor::signed_in(&app, &admin).await;
    let mut stranger = Visitor::new(&app);
    let form = stranger.get("/admin/").await;

    redis.kill();
    let bound = Duration::from_millis(500 + 1500);
    let started = std::time::Instant::now();
    let page = console.get("/admin/users").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.body
            .contains("The session store is unavailable; try again shortly."),
        "{}",
        page.body
    );
    assert!(started.elapsed() <= bound, "{:?}", started.elapsed());
    assert_secure_html(&page, "an outage page");
    let started = std::time::Instant::now();
    let refused = stranger
        .post_form(
            "/admin/sign-in",
            &[
                ("username", &admin.username),
                ("password", &admin.password),
                ("csrf", &input_value(&form.body, "csrf")),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        refused.body.contains("name=\"password\""),
        "the sign-in form again"
    );
    assert!(
        started.elapsed() <= bound + bound,
        "{:?}",
        started.elapsed()
    );

    redis.resume();
    // Console sessions lived in that Redis (no AOF here): signing in again works.
    let again = stranger.sign_in(&admin).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(stranger.get("/admin/users").await.status, StatusCode::OK);
}

/// CORS belongs to the JSON API. With an allowed origin configured, the
/// API answers that origin (with credentials), but the console and the
/// hosted pages never answer a cross-origin request with CORS headers: an
/// XSS on the app's origin must not read the console with the staff
/// cookie, nor be allowed a console POST by a preflight.
#[tokio::test]
async fn cors_reaches_the_json_api_and_never_the_console_or_the_pages() {
    const ORIGIN: &str = "https://app.example.com";
    let app = spawn_app_with(
        Figment::new().merge(Serialized::default("server.cors_allowed_origins", [ORIGIN])),
    )
    .await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", reqwest::header::HeaderValue::from_static(ORIGIN));
    let from_origin = app.with_client(
        reqwest::Client::builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    );
    let (admin, tokens) = app.new_user_with_role("ADMIN").await;
    let preflight = |path: String| {
        let from_origin = from_origin.clone();
        async move {
            from_origin
                .client
                .request(reqwest::Method::OPTIONS, from_origin.url(&path))
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
                .await
                .unwrap()
        }
    };

    let api = from_origin
        .get_with_bearer("/api/v1/users/me", &tokens.access)
        .await;
    assert_eq!(api.status(), StatusCode::OK);
    assert_eq!(api.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(api.headers()["access-control-allow-credentials"], "true");
    let api = preflight("/api/v1/auth/login".into()).await;
    assert!(api.status().is_success(), "{}", api.status());
    assert_eq!(api.headers()["access-control-allow-origin"], ORIGIN);

    let mut console = Visitor::signed_in(&from_origin, &admin).await;
    let user_page = format!("/admin/users/{}", admin.id);
    for path in ["/admin/users", "/admin/audit", user_page.as_str()] {
        let page = console.get(path).await;
        assert!(page.status.is_success(), "{path}: {}", page.status);
        let cors: Vec<_> = page
            .headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{path} answered {cors:?}");
    }
    for path in [
        "/admin/sign-in",
        user_page.as_str(),
        "/admin/sign-out",
        "/auth/reset-password",
        "/auth/activate",
    ] {
        let answer = preflight(path.to_owned()).await;
        let cors: Vec<_> = answer
            .headers()
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "a preflight of {path} answered {cors:?}");
    }
}

/// A client credentials grant with `id` and `secret`: its status.
async fn client_token_status(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    app.post("/oauth/token")
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
        .status()
}

/// The registered clients called `name`, as the admin API lists them.
async fn clients_named(app: &TestApp, admin_token: &str, name: &str) -> Vec<serde_json::Value> {
    let response = app
        .get_with_bearer("/api/v1/admin/clients", admin_token)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let clients: Vec<serde_json::Value> = response.json().await.expect("a list");
    clients.into_iter().filter(|c| c["name"] == name).collect()
}

/// Registers a confidential client called `name` through the console's
/// form; its id and its secret, read from the page.
async fn register_in_console(console: &mut Visitor, name: &str) -> (String, String) {
    let hidden = console.one_shot_form("/admin/clients").await;
    let page = console
        .post_with(
            "/admin/clients",
            &hidden,
            &[("name", name), ("grant_types", "client_credentials")],
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    (
        common::pages::element_text(&page.body, "client_id"),
        common::pages::element_text(&page.body, "client_secret"),
    )
}

#[tokio::test]
async fn the_client_registry_in_the_console_is_for_admins_only() {
    let app = spawn_app().await;
    let (admin, admin_tokens) = app.new_user_with_role("ADMIN").await;
    let (moderator, _) = app.new_user_with_role("MODERATOR").await;
    let mut console = Visitor::signed_in(&app, &admin).await;
    let users = console.get("/admin/users").await;
    assert!(users
        .body
        .contains("<a href=\"/admin/clients\">Clients</a>"));
    let name = format!("admins-only {}", unique_name());
    let (id, _) = register_in_console(&mut console, &name).await;

    let mut moderated = Visitor::signed_in(&app, &moderator).await;
    let users = moderated.get("/admin/users").await;
    assert!(
        !users.body.contains("/admin/clients"),
        "the link shown to a moderator"
    );
    for path in ["/admin/clients".to_owned(), format!("/admin/clients/{id}")] {
        let page = moderated.get(&path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            page.body.contains("Not enough permissions"),
            "{}",
            page.body
        );
        assert!(!page.body.contains(&name), "{path} shows the client");
    }
    // The moderator's own session token does not make the forms theirs.
    let csrf = input_value(&users.body, "csrf");
    let forged = moderated
        .post_form(
            "/admin/clients",
            &[
                ("csrf", &csrf),
                ("form_id", "AAAAAAAAAAAAAAAAAAAAAA"),
                ("name", "a moderator's client"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("Not enough permissions"));
    assert!(
        clients_named(&app, &admin_tokens.access, "a moderator's client")
            .await
            .is_empty()
    );
    for action in ["disable", "delete", "rotate"] {
        let page = moderated
            .post_form(
                &format!("/admin/clients/{id}"),
                &[
                    ("csrf", &csrf),
                    ("action", action),
                    ("confirm", "yes"),
                    ("form_id", "AAAAAAAAAAAAAAAAAAAAAA"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{action}");
        assert!(page.body.contains("Not enough permissions"));
    }
    let client = &clients_named(&app, &admin_tokens.access, &name).await[0];
    assert_eq!(client["disabled"], false);
}

#[tokio::test]
async fn a_client_form_without_its_anti_forgery_token_is_refused() {
    let app = spawn_app().await;
    let (admin, admin_tokens) = app.new_user_with_role("ADMIN").await;
    let mut console = Visitor::signed_in(&app, &admin).await;
    let refused_words = "This form has expired or did not come from this site.";
    let form_id = console.one_shot_form("/admin/clients").await[1].1.clone();
    let name = format!("forged {}", unique_name());
    for csrf in [None, Some("not-the-token")] {
        let mut fields = vec![("form_id", form_id.as_str()), ("name", name.as_str())];
        if let Some(csrf) = csrf {
            fields.push(("csrf", csrf));
        }
        let page = console.post_form("/admin/clients", &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{csrf:?}");
        assert!(page.body.contains(refused_words), "{}", page.body);
    }
    assert!(clients_named(&app, &admin_tokens.access, &name)
        .await
        .is_empty());

    let (id, secret) = register_in_console(&mut console, &name).await;
    let path = format!("/admin/clients/{id}");
    for action in ["disable", "rotate", "delete"] {
        let page = console
            .post_form(
                &path,
                &[
                    ("action", action),
                    ("confirm", "yes"),
                    ("form_id", &form_id),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{action}");
        assert!(page.body.contains(refused_words));
        assert!(!page.body.contains("client_secret"), "{action}");
    }
    let client = &clients_named(&app, &admin_tokens.access, &name).await[0];
    assert_eq!(client["disabled"], false);
    assert!(client["previous_secret_expires_at"].is_null(), "rotated");
    assert_eq!(
        client_token_status(&app, &id, &secret).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_bad_redirect_uri_is_refused_in_words_and_the_form_keeps_what_was_typed() {
    let app = spawn_app().await;
    let (admin, admin_tokens) = app.new_user_with_role("ADMIN").await;
    let mut console = Visitor::signed_in(&app, &admin).await;
    let hidden = console.one_shot_form("/admin/clients").await;
    let name = format!("web app {}", unique_name());
    let page = console
        .post_with(
            "/admin/clients",
            &hidden,
            &[
                ("name", &name),
                ("kind", "confidential"),
                ("grant_types", "authorization_code"),
                ("grant_types", "refresh_token"),
                ("scopes", "profile\norders:read"),
                (
                    "redirect_uris",
                    "https://app.example.com/cb\r\nhttp://app.example.com/cb",
                ),
                ("access_ttl_secs", "600"),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert_secure_html(&page, "the registration form again");
    assert!(page.body.contains("role=\"alert\""));
    assert!(
        page.body.contains(
            "Redirect URIs: &#34;http://app.example.com/cb&#34; must use https, http on a loopback address, \
             or (public clients) a private-use scheme such as com.example.app"
        ),
        "{}",
        page.body
    );
    // What was typed is there again, for a correction.
    assert!(page
        .body
        .contains(&format!("name=\"name\" type=\"text\" value=\"{name}\"")));
    assert!(page
        .body
        .contains("https://app.example.com/cb\r\nhttp://app.example.com/cb</textarea>"));
    assert!(page.body.contains("profile\norders:read</textarea>"));
    assert!(page.body.contains("value=\"authorization_code\" checked"));
    assert!(page.body.contains("value=\"refresh_token\" checked"));
    assert!(!page.body.contains("value=\"client_credentials\" checked"));
    assert!(page.body.contains("value=\"600\""));
    assert!(clients_named(&app, &admin_tokens.access, &name)
        .await
        .is_empty());

    // Corrected, the same answers register the client the API would.
    let form_id = input_value(&page.body, "form_id");
    let hidden = vec![
        ("csrf".to_owned(), hidden[0].1.clone()),
        ("form_id".to_owned(), form_id),
    ];
    let page = console
        .post_with(
            "/admin/clients",
            &hidden,
            &[
                ("name", &name),
                ("grant_types", "authorization_code"),
                ("grant_types", "refresh_token"),
                ("scopes", "profile\norders:read"),
                (
                    "redirect_uris",
                    "https://app.example.com/cb\r\nhttp://127.0.0.1:8123/cb",
                ),
                ("access_ttl_secs", "600"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let client = &clients_named(&app, &admin_tokens.access, &name).await[0];
    assert_eq!(
        (
            &client["kind"],
            &client["auth_method"],
            &client["grant_types"],
            &client["scopes"],
            &client["redirect_uris"],
            &client["access_ttl_secs"],
        ),
        (
            &json!("confidential"),
            &json!("client_secret_basic"),
            &json!(["authorization_code", "refresh_token"]),
            &json!(["orders:read", "profile"]),
            &json!(["https://app.example.com/cb", "http://127.0.0.1:8123/cb"]),
            &json!(600),
        )
    );
}

#[tokio::test]
async fn a_new_client_secret_is_shown_once_on_a_page_nothing_stores() {
    let app = spawn_app().await;
    let (admin, admin_tokens) = app.new_user_with_role("ADMIN").await;
    let mut console = Visitor::signed_in(&app, &admin).await;
    let hidden = console.one_shot_form("/admin/clients").await;
    let name = format!("once {}", unique_name());
    let fields = [("name", name.as_str()), ("scopes", "orders:read")];
    let page = console.post_with("/admin/clients", &hidden, &fields).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    assert_secure_html(&page, "the new secret");
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(page.header("location").is_empty());
    assert!(page.set_cookies().is_empty(), "{:?}", page.set_cookies());
    assert!(page.body.contains("it will not be shown again"));
    let id = common::pages::element_text(&page.body, "client_id");
    let secret = common::pages::element_text(&page.body, "client_secret");
    assert!(secret.len() >= 43, "{secret:?}");
    assert_eq!(
        client_token_status(&app, &id, &secret).await,
        StatusCode::OK
    );

    // Sent again (a reload), the form registers nothing and shows nothing.
    let again = console.post_with("/admin/clients", &hidden, &fields).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.body.contains("This form has been sent already"));
    assert!(!again.body.contains(&secret));
    assert_eq!(
        clients_named(&app, &admin_tokens.access, &name).await.len(),
        1
    );
    for path in ["/admin/clients".to_owned(), format!("/admin/clients/{id}")] {
        let page = console.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains(&name));
        assert!(!page.body.contains(&secret), "{path} shows the secret");
    }

    // A rotation shows the new secret the same way, once; the old one
    // works until the previous secret is dropped.
    let path = format!("/admin/clients/{id}");
    let hidden = console.one_shot_form(&path).await;
    let rotated = console
        .post_with(&path, &hidden, &[("action", "rotate")])
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_secure_html(&rotated, "the rotated secret");
    assert!(rotated.set_cookies().is_empty());
    let newer = common::pages::element_text(&rotated.body, "client_secret");
    assert_ne!(newer, secret);
    let again = console
        .post_with(&path, &hidden, &[("action", "rotate")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(!again.body.contains(&newer));
    // Rotated once only: the first secret still works beside the new one.
    assert_eq!(
        client_token_status(&app, &id, &secret).await,
        StatusCode::OK
    );
    assert_eq!(client_token_status(&app, &id, &newer).await, StatusCode::OK);
    let page = console.get(&path).await;
    assert!(page.body.contains("the previous one works until"));
    assert!(!page.body.contains(&newer));
    let dropped = console
        .post_with(&path, &hidden[..1], &[("action", "drop_previous")])
        .await;
    assert_eq!(dropped.status, StatusCode::SEE_OTHER);
    assert_eq!(
        dropped.header("location"),
        format!("/admin/clients/{id}?done=previous_dropped")
    );
    assert_eq!(
        client_token_status(&app, &id, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(client_token_status(&app, &id, &newer).await, StatusCode::OK);
}

#[tokio::test]
async fn a_client_is_disabled_enabled_and_deleted_only_once_deletion_is_ticked() {
    let app = spawn_app().await;
    let (admin, admin_tokens) = app.new_user_with_role("ADMIN").await;
    let mut console = Visitor::signed_in(&app, &admin).await;
    let name = format!("short-lived {}", unique_name());
    let (id, secret) = register_in_console(&mut console, &name).await;
    let path = format!("/admin/clients/{id}");
    let csrf = console.csrf_of(&path).await;

    let disabled = console
        .post_form(&path, &[("csrf", &csrf), ("action", "disable")])
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    assert_eq!(
        client_token_status(&app, &id, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    let page = console.get(disabled.header("location")).await;
    assert!(page.body.contains("Disabled: its tokens are refused"));
    assert!(page.body.contains(">Enable<"));
    let enabled = console
        .post_form(&path, &[("csrf", &csrf), ("action", "enable")])
        .await;
    assert_eq!(enabled.status, StatusCode::SEE_OTHER);
    assert_eq!(
        client_token_status(&app, &id, &secret).await,
        StatusCode::OK
    );

    // Delete without the box ticked: the page says so, and nothing goes.
    let unticked = console
        .post_form(&path, &[("csrf", &csrf), ("action", "delete")])
        .await;
    assert_eq!(unticked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unticked.body.contains("Yes, delete this client"));
    assert!(unticked.body.contains("nothing was deleted"));
    assert_eq!(
        clients_named(&app, &admin_tokens.access, &name).await.len(),
        1
    );
    let deleted = console
        .post_form(
            &path,
            &[("csrf", &csrf), ("action", "delete"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(deleted.header("location"), "/admin/clients?done=deleted");
    assert!(clients_named(&app, &admin_tokens.access, &name)
        .await
        .is_empty());
    assert_eq!(
        client_token_status(&app, &id, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    let list = console.get("/admin/clients?done=deleted").await;
    assert!(list.body.contains("Deleted: its tokens are refused"));
    let gone = console.get(&path).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(gone.body.contains("Client not found"));
}
