//! Helpers for the hosted pages (tests/pages.rs, tests/browser.rs): an app
//! whose public URL is its real address, so the links in its e-mails open
//! its own pages; reading forms out of HTML; and a cookie-keeping console
//! client over plain HTTP.

pub mod browser;

use std::collections::BTreeMap;

use figment::providers::Serialized;
use figment::Figment;
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::StatusCode;

use super::{free_port, spawn_app_with, SmtpSink, TestApp, TestUser};

/// Starts an app on a port picked here, with `server.public_url` its real
/// address and `auth.frontend_url` left to its default (the public URL), so
/// an e-mailed link opens this app's own page.
pub async fn spawn_app_at_own_url(overrides: Figment) -> TestApp {
    let port = free_port();
    spawn_app_with(
        Figment::new()
            .merge(Serialized::default(
                "server.bind",
                format!("127.0.0.1:{port}"),
            ))
            .merge(Serialized::default(
                "server.public_url",
                format!("http://127.0.0.1:{port}"),
            ))
            .merge(overrides),
    )
    .await
}

/// The `value` of the first input named `name` in a page.
pub fn input_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    super::after(html, &marker, &format!("input {name}"))
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The first `…/auth/<path>?token=…` link in an e-mail, whole.
pub fn link_in(mail: &str, path: &str) -> String {
    let mail = mail.replace("=\r\n", "").replace("=3D", "=");
    let marker = format!("/auth/{path}?token=");
    let at = mail
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} link in:\n{mail}"));
    let start = mail[..at].rfind("http").expect("an absolute link");
    let end = at
        + marker.len()
        + mail[at + marker.len()..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(0);
    mail[start..end].to_owned()
}

/// Waits (up to 15 s) for an e-mail to `to` with a `/auth/<path>` link,
/// and returns that link.
pub async fn wait_for_link(sink: &SmtpSink, to: &str, path: &str) -> String {
    let marker = format!("/auth/{path}?token=");
    for _ in 0..300 {
        let mails = sink.mails_to(to);
        if let Some(mail) = mails
            .iter()
            .rev()
            .find(|m| m.replace("=\r\n", "").replace("=3D", "=").contains(&marker))
        {
            return link_in(mail, path);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no e-mail with a {marker} link for {to} within 15 s");
}

/// An answer read whole: status, headers, body.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Every `Set-Cookie` of the answer.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

/// A browser without a browser: keeps the cookies it is given and sends
/// them back, follows nothing by itself.
pub struct Visitor {
    pub app: TestApp,
    pub cookies: BTreeMap<String, String>,
}

impl Visitor {
    pub fn new(app: &TestApp) -> Self {
        Self {
            app: app.clone(),
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookies: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let request = if cookies.is_empty() {
            request
        } else {
            request.header(COOKIE, cookies.join("; "))
        };
        let response = request.send().await.expect("request");
        let page = Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("a body"),
        };
        for cookie in page.set_cookies() {
            let pair = cookie.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.app.get(path);
        self.send(request).await
    }

    pub async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.app.post(path).form(form);
        self.send(request).await
    }

    /// Signs in to the console as `user` through its form; the answer to
    /// the form's POST.
    pub async fn sign_in(&mut self, user: &TestUser) -> Page {
        let form = self.get("/admin/").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let csrf = input_value(&form.body, "csrf");
        self.post_form(
            "/admin/sign-in",
            &[
                ("username", &user.username),
                ("password", &user.password),
                ("csrf", &csrf),
            ],
        )
        .await
    }

    /// Signs in as `user`, who must get in.
    pub async fn signed_in(app: &TestApp, user: &TestUser) -> Self {
        let mut visitor = Self::new(app);
        let answer = visitor.sign_in(user).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.header("location"), "/admin/users");
        visitor
    }

    /// The anti-forgery token of the console page at `path`.
    pub async fn csrf_of(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        input_value(&page.body, "csrf")
    }
}

/// The text inside the element `id="{id}"` of a page, as the page has it
/// (HTML-escaped).
pub fn element_text(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    super::after(html, &marker, &format!("#{id}"))
        .split('<')
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl Visitor {
    /// The hidden fields of the first form on the console page at `path`
    /// that has a one-shot id: its anti-forgery token and that id.
    pub async fn one_shot_form(&mut self, path: &str) -> Vec<(String, String)> {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        vec![
            ("csrf".to_owned(), input_value(&page.body, "csrf")),
            ("form_id".to_owned(), input_value(&page.body, "form_id")),
        ]
    }

    /// Posts `hidden` and `fields` together to `path`.
    pub async fn post_with(
        &mut self,
        path: &str,
        hidden: &[(String, String)],
        fields: &[(&str, &str)],
    ) -> Page {
        let mut form: Vec<(&str, &str)> = hidden
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        form.extend_from_slice(fields);
        self.post_form(path, &form).await
    }
}

/// The hidden inputs of a page's form, unescaped.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&#x2f;", "/")
            .replace("&#47;", "/")
            .replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once('"').unwrap();
            let value = rest
                .split_once("value=\"")
                .unwrap()
                .1
                .split('"')
                .next()
                .unwrap();
            (name.to_owned(), unescape(value))
        })
        .collect()
}
