//! The email templates (`templates/mail/` at the repository root), compiled
//! in by askama: two per mail, a plain-text and an HTML body, each with its
//! own struct since a struct derives one template and the two escape
//! differently. The escaping is set on each struct rather than left to the
//! file's extension, so renaming a file cannot change it.

use std::time::Duration;

use askama::Template;
use secrecy::ExposeSecret;

use super::{Email, EmailKind, FactorChange, Notice};

/// Plain text is read as is: HTML escaping would put `&#38;` into the link.
#[derive(Template)]
#[template(path = "mail/activation.txt", escape = "none")]
struct ActivationText<'a> {
    username: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "mail/activation.html", escape = "html")]
struct ActivationHtml<'a> {
    username: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "mail/reset_password.txt", escape = "none")]
struct ResetText<'a> {
    username: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "mail/reset_password.html", escape = "html")]
struct ResetHtml<'a> {
    username: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

/// A change to the account's second factors: what changed, in words.
#[derive(Template)]
#[template(path = "mail/second_factor.txt", escape = "none")]
struct FactorText<'a> {
    username: &'a str,
    what: &'a str,
}

#[derive(Template)]
#[template(path = "mail/second_factor.html", escape = "html")]
struct FactorHtml<'a> {
    username: &'a str,
    what: &'a str,
}

/// Both bodies of a notice.
pub fn render_notice(notice: &Notice) -> askama::Result<Rendered> {
    let (subject, what) = match notice.change {
        FactorChange::Added => (
            "A second factor was added to your account",
            "an authenticator app was added as a second factor",
        ),
        FactorChange::Removed => (
            "A second factor was removed from your account",
            "the authenticator app was removed as a second factor, with its recovery codes",
        ),
        FactorChange::PasskeyAdded => (
            "A second factor was added to your account",
            "a passkey was added as a second factor",
        ),
        FactorChange::PasskeyRemoved => (
            "A second factor was removed from your account",
            "a passkey was removed as a second factor",
        ),
        FactorChange::RecoveryCodesReplaced => (
            "Your recovery codes were replaced",
            "new recovery codes were made; the old ones no longer work",
        ),
        FactorChange::Reset => (
            "Your second factors were reset",
            "an administrator removed every second factor, with the recovery codes, \
             and signed you out everywhere; you sign in with your password alone until you add one again",
        ),
    };
    let username = notice.username.as_str();
    Ok(Rendered {
        subject,
        text: body(&FactorText { username, what })?,
        html: body(&FactorHtml { username, what })?,
    })
}

pub struct Rendered {
    pub subject: &'static str,
    pub text: String,
    pub html: String,
}

/// Both bodies of `email`. An error is the caller's to log: the email is
/// then not sent, as when the message cannot be built.
pub fn render(email: &Email) -> askama::Result<Rendered> {
    let username = email.username.as_str();
    let link = email.link.expose_secret();
    let valid_for = &human_duration(email.valid_for);
    Ok(match email.kind {
        EmailKind::Activation => Rendered {
            subject: "Activate your account",
            text: body(&ActivationText {
                username,
                link,
                valid_for,
            })?,
            html: body(&ActivationHtml {
                username,
                link,
                valid_for,
            })?,
        },
        EmailKind::PasswordReset => Rendered {
            subject: "Reset your password",
            text: body(&ResetText {
                username,
                link,
                valid_for,
            })?,
            html: body(&ResetHtml {
                username,
                link,
                valid_for,
            })?,
        },
    })
}

/// askama drops the final newline of a template file; the bodies have
/// always ended with it, so it goes back on.
fn body(template: &impl Template) -> askama::Result<String> {
    let mut body = template.render()?;
    body.push('\n');
    Ok(body)
}

/// "15 minutes", "24 hours", "1 hour", "90 seconds".
fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (amount, unit) = if secs >= 3600 && secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    let plural = if amount == 1 { "" } else { "s" };
    format!("{amount} {unit}{plural}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    /// A name and a link no sign-up would accept, to see the escaping.
    const NAME: &str = "<script>alert('&')</script>";
    const LINK: &str = "http://x/auth/PATH?token=abc&x=\"1\"";

    fn rendered(kind: EmailKind, path: &str) -> Rendered {
        render(&Email {
            kind,
            to: "a@example.com".into(),
            username: NAME.into(),
            link: SecretString::from(LINK.replace("PATH", path)),
            valid_for: Duration::from_secs(900),
        })
        .unwrap()
    }

    /// The text body carries the values as they are; the HTML body has them
    /// escaped, the link both in `href` and as the visible text.
    fn check_bodies(rendered: &Rendered, path: &str) {
        let link = LINK.replace("PATH", path);
        assert!(rendered.text.contains(&format!("\n\n{link}\n\n")));
        assert!(rendered.text.contains(&format!("Hello {NAME},")));
        assert!(rendered.text.contains("expires in 15 minutes."));
        assert!(rendered.text.ends_with(".\n"));

        let escaped = format!("http://x/auth/{path}?token=abc&#38;x=&#34;1&#34;");
        assert!(rendered
            .html
            .contains(&format!("<a href=\"{escaped}\">{escaped}</a>")));
        assert!(rendered
            .html
            .contains("Hello &#60;script&#62;alert(&#39;&#38;&#39;)&#60;/script&#62;,"));
        assert!(rendered.html.contains("expires in 15 minutes."));
        assert!(!rendered.html.contains("<script>"));
        assert!(!rendered.html.contains("&x="));
        assert!(rendered.html.ends_with("</html>\n"));
    }

    #[test]
    fn activation_renders_the_link_and_escapes_only_the_html() {
        let rendered = rendered(EmailKind::Activation, "activate");
        assert_eq!(rendered.subject, "Activate your account");
        assert!(rendered.html.contains(">Activate my account</a>"));
        check_bodies(&rendered, "activate");
    }

    #[test]
    fn reset_renders_the_link_and_escapes_only_the_html() {
        let rendered = rendered(EmailKind::PasswordReset, "reset-password");
        assert_eq!(rendered.subject, "Reset your password");
        assert!(rendered.html.contains(">Reset my password</a>"));
        check_bodies(&rendered, "reset-password");
    }

    #[test]
    fn a_factor_notice_says_what_changed_and_escapes_the_name() {
        let rendered = render_notice(&Notice {
            to: "a@example.com".into(),
            username: NAME.into(),
            change: FactorChange::Removed,
        })
        .unwrap();
        assert_eq!(
            rendered.subject,
            "A second factor was removed from your account"
        );
        assert!(rendered.text.contains(&format!("Hello {NAME},")));
        assert!(rendered.text.contains("authenticator app was removed"));
        assert!(!rendered.html.contains("<script>"));
        assert!(rendered.html.contains("authenticator app was removed"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(86400)), "24 hours");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1 hour");
        assert_eq!(human_duration(Duration::from_secs(900)), "15 minutes");
        assert_eq!(human_duration(Duration::from_secs(90)), "90 seconds");
    }
}
