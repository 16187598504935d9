//! A real browser for tests/browser.rs: Debian's headless Chromium driven
//! through its chromedriver (`scripts/test-deps.d/chromium.sh` installs
//! both), each test with its own chromedriver on its own free port. Every
//! wait is bounded; screenshots go to `<target>/browser-screenshots/`.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::common::free_port;

/// How long any one step (a page load, an element to appear) may take.
const STEP: Duration = Duration::from_secs(15);

pub struct Browser {
    pub client: Client,
    driver: Driver,
    /// Names the screenshots of one test.
    story: &'static str,
}

/// A running chromedriver and the profile directory of its browser; both
/// go when this is dropped, however the test ends.
struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The driver's whole group: chromedriver and the Chromium it started.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--"])
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where screenshots go: under the build directory, which is never
/// committed.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
    target.join("browser-screenshots")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; `story` prefixes
    /// the screenshots' names.
    pub async fn start(story: &'static str) -> Self {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so dropping the browser ends Chromium too.
            .process_group(0)
            .spawn()
            .expect("chromedriver runs (scripts/test-deps.d/chromium.sh installs it)");
        let mut driver = Driver {
            child,
            profile: std::env::temp_dir()
                .join(format!("tessera-chromium-{}", uuid::Uuid::new_v4())),
        };
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1100,900", "--no-first-run",
                    format!("--user-data-dir={}", driver.profile.display()),
                ],
            }
        });
        let capabilities = capabilities.as_object().cloned().expect("an object");
        let deadline = Instant::now() + STEP;
        let client = loop {
            let attempt = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            match attempt {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = driver.child.try_wait() {
                        panic!("chromedriver exited ({status}) before a session started: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no browser session within {STEP:?}: {e}"),
            }
        };
        Self {
            client,
            driver,
            story,
        }
    }

    pub async fn goto(&self, url: &str) {
        tokio::time::timeout(STEP, self.client.goto(url))
            .await
            .expect("the page loads in time")
            .expect("navigate");
    }

    /// The element `css` selects, once it appears.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    /// Types `text` into the input `css` selects.
    pub async fn fill(&self, css: &str, text: &str) {
        self.find(css)
            .await
            .send_keys(text)
            .await
            .expect("type into the field");
    }

    /// Clicks the button (or link) whose text is `label`, as a person would.
    /// Presses a button or follows a link, and waits until the page it
    /// leads to has replaced this one (every control of these pages
    /// navigates): without that wait, a heading both pages share would be
    /// found on the old page.
    pub async fn press(&self, label: &str) {
        let xpath =
            format!("//button[normalize-space()='{label}'] | //a[normalize-space()='{label}']");
        let old_page = self
            .client
            .find(Locator::Css("html"))
            .await
            .expect("the page has a document");
        self.client
            .wait()
            .at_most(STEP)
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no {label:?} button or link: {e}"))
            .click()
            .await
            .expect("click");
        let deadline = Instant::now() + STEP;
        // A stale element (the document it was in is gone) no longer answers.
        while old_page.tag_name().await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "pressing {label:?} did not leave the page"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many buttons and links labelled `label` the page has now.
    pub async fn controls(&self, label: &str) -> usize {
        let xpath =
            format!("//button[normalize-space()='{label}'] | //a[normalize-space()='{label}']");
        self.client
            .find_all(Locator::XPath(&xpath))
            .await
            .expect("find controls")
            .len()
    }

    /// Waits until the page's heading is `heading`; returns the page's text.
    pub async fn wait_for_heading(&self, heading: &str) -> String {
        let xpath = format!("//h1[normalize-space()='{heading}']");
        if let Err(e) = self
            .client
            .wait()
            .at_most(STEP)
            .for_element(Locator::XPath(&xpath))
            .await
        {
            let text = self.text().await;
            panic!("no heading {heading:?} ({e}); the page says:\n{text}");
        }
        self.text().await
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Saves a screenshot as `<story>-<step>.png`.
    pub async fn screenshot(&self, step: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{}-{step}.png", self.story)), png)
            .expect("save screenshot");
    }

    /// Ends the session (Chromium quits), then the driver.
    pub async fn close(self) {
        let Browser { client, driver, .. } = self;
        let _ = tokio::time::timeout(STEP, client.close()).await;
        drop(driver);
    }
}

impl Browser {
    /// The visible text of the element `css` selects, once it appears.
    pub async fn text_of(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("no text in {css}: {e}"))
    }

    /// Reloads the page as a person would, saying yes if the browser asks
    /// whether to send a form again.
    pub async fn reload(&self) {
        let _ = tokio::time::timeout(STEP, self.client.refresh()).await;
        self.accept_any_dialog().await;
    }

    /// Goes back one page in the history, as the browser's Back button.
    pub async fn back(&self) {
        let _ = tokio::time::timeout(STEP, self.client.back()).await;
        self.accept_any_dialog().await;
    }

    /// Says yes to a dialog the browser shows, if any.
    async fn accept_any_dialog(&self) {
        if self.client.get_alert_text().await.is_ok() {
            let _ = self.client.accept_alert().await;
        }
    }
}

/// WebDriver's "Add Virtual Authenticator" (WebAuthn Level 2 §11.3), which
/// chromedriver answers: a software authenticator inside the browser.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        // A platform authenticator that keeps discoverable credentials and
        // verifies its user (as a fingerprint would) without asking.
        let body = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
        });
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

impl Browser {
    /// Gives the browser a passkey authenticator (Chrome's virtual one) that
    /// answers every ceremony at once; its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let added = self
            .client
            .issue_cmd(AddVirtualAuthenticator)
            .await
            .expect("chromedriver adds a virtual authenticator");
        added
            .as_str()
            .unwrap_or_else(|| panic!("an authenticator id: {added}"))
            .to_owned()
    }
}
