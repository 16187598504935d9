//! The email templates (`templates/mail/` at the repository root), compiled in.
//! Placeholders are `{{username}}`, `{{link}}` and `{{valid_for}}`; values
//! are HTML-escaped in the HTML bodies.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::{Email, EmailKind};

const ACTIVATION_TEXT: &str = include_str!("../../templates/mail/activation.txt");
const ACTIVATION_HTML: &str = include_str!("../../templates/mail/activation.html");
const RESET_TEXT: &str = include_str!("../../templates/mail/reset_password.txt");
const RESET_HTML: &str = include_str!("../../templates/mail/reset_password.html");

pub struct Rendered {
    pub subject: &'static str,
    pub text: String,
    pub html: String,
}

pub fn render(email: &Email) -> Rendered {
    let (subject, text, html) = match email.kind {
        EmailKind::Activation => ("Activate your account", ACTIVATION_TEXT, ACTIVATION_HTML),
        EmailKind::PasswordReset => ("Reset your password", RESET_TEXT, RESET_HTML),
    };
    let link = email.link.expose_secret();
    let valid_for = human_duration(email.valid_for);
    let fill = |template: &str, escape: fn(&str) -> String| {
        template
            .replace("{{username}}", &escape(&email.username))
            .replace("{{link}}", &escape(link))
            .replace("{{valid_for}}", &escape(&valid_for))
    };
    Rendered {
        subject,
        text: fill(text, str::to_owned),
        html: fill(html, escape_html),
    }
}

fn escape_html(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// "15 minutes", "24 hours", "1 hour", "90 seconds".
fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (amount, unit) = if secs >= 3600 && secs % 3600 == 0 {
        (secs / 3600, "hour")
    } else if secs >= 60 && secs % 60 == 0 {
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

    #[test]
    fn renders_both_bodies_with_escaped_html() {
        let email = Email {
            kind: EmailKind::PasswordReset,
            to: "a@example.com".into(),
            username: "<b>ob".into(),
            link: SecretString::from("http://x/auth/reset-password?token=abc&x=1"),
            valid_for: Duration::from_secs(900),
        };
        let rendered = render(&email);
        assert_eq!(rendered.subject, "Reset your password");
        assert!(rendered
            .text
            .contains("http://x/auth/reset-password?token=abc&x=1"));
        assert!(rendered.text.contains("Hello <b>ob,"));
        assert!(rendered.text.contains("15 minutes"));
        assert!(rendered.html.contains("token=abc&amp;x=1"));
        assert!(rendered.html.contains("Hello &lt;b&gt;ob,"));
        assert!(!rendered.html.contains("{{"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(86400)), "24 hours");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1 hour");
        assert_eq!(human_duration(Duration::from_secs(900)), "15 minutes");
        assert_eq!(human_duration(Duration::from_secs(90)), "90 seconds");
    }
}
