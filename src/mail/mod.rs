//! Outgoing email: activation and password reset links, and notices of a
//! change to an account's second factors.
//!
//! Requests only enqueue: a bounded queue feeds a background worker that
//! renders the templates (`templates/mail/`, HTML and plain text), delivers
//! over SMTP (lettre; STARTTLS, implicit TLS or plain) and retries with
//! exponential backoff. A full queue or a failed delivery is logged, never
//! fatal, and never with the link: it carries a one-time token. With no
//! `smtp.host` the email is logged instead; in development the log line
//! includes the link so a local user can follow it.

mod templates;

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{mpsc, Semaphore};

use crate::config::{SmtpConfig, SmtpTls};

const QUEUE_CAPACITY: usize = 1_000;
/// Deliveries in flight at once: one slow or retrying email must not hold up
/// the others, and a flood must not open unbounded SMTP connections.
const CONCURRENT_DELIVERIES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    Activation,
    PasswordReset,
}

impl EmailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::Activation => "activation",
            EmailKind::PasswordReset => "password_reset",
        }
    }
}

/// One email to send. The link holds a one-time token, so it is a secret:
/// it appears in no `Debug` output and no log line (but the development one).
#[derive(Debug)]
pub struct Email {
    pub kind: EmailKind,
    pub to: String,
    pub username: String,
    pub link: SecretString,
    /// How long the link works, said in the email.
    pub valid_for: Duration,
}

/// What changed about an account's second factors (a notice carries no
/// link: it tells the owner, who acts in the app if it was not them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorChange {
    Added,
    Removed,
    RecoveryCodesReplaced,
    /// An administrator removed every factor.
    Reset,
    PasskeyAdded,
    PasskeyRemoved,
}

impl FactorChange {
    pub fn as_str(self) -> &'static str {
        match self {
            FactorChange::Added => "second_factor_added",
            FactorChange::Removed => "second_factor_removed",
            FactorChange::RecoveryCodesReplaced => "recovery_codes_replaced",
            FactorChange::Reset => "second_factors_reset",
            FactorChange::PasskeyAdded => "second_factor_added",
            FactorChange::PasskeyRemoved => "second_factor_removed",
        }
    }
}

/// One notice to send: no secret in it.
#[derive(Debug)]
pub struct Notice {
    pub to: String,
    pub username: String,
    pub change: FactorChange,
}

/// What the queue carries.
#[derive(Debug)]
enum Outgoing {
    Link(Email),
    Notice(Notice),
}

impl Outgoing {
    fn kind(&self) -> &'static str {
        match self {
            Outgoing::Link(email) => email.kind.as_str(),
            Outgoing::Notice(notice) => notice.change.as_str(),
        }
    }

    fn to(&self) -> &str {
        match self {
            Outgoing::Link(email) => &email.to,
            Outgoing::Notice(notice) => &notice.to,
        }
    }
}

/// The sending half of the queue; cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::Sender<Outgoing>,
}

enum Delivery {
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
        max_attempts: u32,
        backoff: Duration,
    },
    Log {
        show_links: bool,
    },
}

impl Mailer {
    /// Builds the transport and starts the worker. The worker ends once every
    /// `Mailer` clone is dropped and the emails in flight are done.
    /// `show_links` lets the no-SMTP fallback log links (development only).
    pub fn start(
        config: &SmtpConfig,
        show_links: bool,
    ) -> anyhow::Result<(Self, tokio::task::JoinHandle<()>)> {
        let delivery = match &config.host {
            Some(host) => Delivery::Smtp {
                transport: Box::new(transport(config, host)?),
                from: config.from.parse().map_err(|e| {
                    anyhow::anyhow!("smtp.from {:?} is not a valid mailbox: {e}", config.from)
                })?,
                max_attempts: config.max_attempts.max(1),
                backoff: Duration::from_millis(config.retry_backoff_ms),
            },
            None => {
                tracing::info!("smtp.host unset: emails are logged, not sent");
                Delivery::Log { show_links }
            }
        };
        let (queue, emails) = mpsc::channel(QUEUE_CAPACITY);
        let worker = tokio::spawn(work(Arc::new(delivery), emails));
        Ok((Self { queue }, worker))
    }

    /// Queues an email; never waits.
    pub fn send(&self, email: Email) {
        self.queue_up(Outgoing::Link(email));
    }

    /// Queues a notice; never waits.
    pub fn notify(&self, notice: Notice) {
        self.queue_up(Outgoing::Notice(notice));
    }

    fn queue_up(&self, outgoing: Outgoing) {
        if let Err(e) = self.queue.try_send(outgoing) {
            let outgoing = e.into_inner();
            tracing::warn!(
                kind = outgoing.kind(),
                to = %outgoing.to(),
                "email queue full or closed; email dropped"
            );
        }
    }
}

fn transport(
    config: &SmtpConfig,
    host: &str,
) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let builder = match config.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    };
    let mut builder = builder
        .port(config.port)
        .timeout(Some(Duration::from_millis(config.timeout_ms)));
    if let Some(username) = &config.username {
        let password = config
            .password
            .as_ref()
            .map(|p| p.expose_secret().to_owned())
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(username.clone(), password));
    }
    Ok(builder.build())
}

async fn work(delivery: Arc<Delivery>, mut emails: mpsc::Receiver<Outgoing>) {
    let slots = Arc::new(Semaphore::new(CONCURRENT_DELIVERIES));
    while let Some(email) = emails.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let delivery = delivery.clone();
        tokio::spawn(async move {
            deliver(&delivery, email).await;
            drop(slot);
        });
    }
    // Wait for the deliveries still in flight.
    let _all = slots.acquire_many(CONCURRENT_DELIVERIES as u32).await;
}

async fn deliver(delivery: &Delivery, email: Outgoing) {
    let kind = email.kind();
    match (delivery, &email) {
        (Delivery::Log { show_links: true }, Outgoing::Link(link)) => tracing::info!(
            kind,
            to = %link.to,
            link = %link.link.expose_secret(),
            "email not sent (smtp.host unset)"
        ),
        (Delivery::Log { .. }, _) => {
            tracing::info!(kind, to = %email.to(), "email not sent (smtp.host unset)")
        }
        (
            Delivery::Smtp {
                transport,
                from,
                max_attempts,
                backoff,
            },
            _,
        ) => {
            let message = match build_message(&email, from) {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(kind, to = %email.to(), error = %e, "email not sent: cannot build the message");
                    return;
                }
            };
            let mut wait = *backoff;
            for attempt in 1..=*max_attempts {
                match transport.send(message.clone()).await {
                    Ok(_) => {
                        tracing::info!(kind, to = %email.to(), attempt, "email sent");
                        return;
                    }
                    Err(e) if attempt < *max_attempts && !e.is_permanent() => {
                        tracing::warn!(kind, to = %email.to(), attempt, error = %e, "email delivery failed; retrying");
                        tokio::time::sleep(wait).await;
                        wait = wait.saturating_mul(2);
                    }
                    Err(e) => {
                        tracing::error!(kind, to = %email.to(), attempt, error = %e, "email delivery failed; giving up");
                        return;
                    }
                }
            }
        }
    }
}

fn build_message(email: &Outgoing, from: &Mailbox) -> anyhow::Result<Message> {
    let to: Mailbox = email
        .to()
        .parse()
        .map_err(|e| anyhow::anyhow!("invalid recipient: {e}"))?;
    // No link in the error: askama reports what failed, not the values.
    let rendered = match email {
        Outgoing::Link(email) => templates::render(email),
        Outgoing::Notice(notice) => templates::render_notice(notice),
    }
    .map_err(|e| anyhow::anyhow!("cannot render the templates: {e}"))?;
    Ok(Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject)
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(rendered.text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(rendered.html),
                ),
        )?)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use super::*;

    const TOKEN: &str = "SECRET-TOKEN-123";

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn email() -> Email {
        Email {
            kind: EmailKind::PasswordReset,
            to: "someone@example.com".into(),
            username: "someone".into(),
            link: SecretString::from(format!("http://x/auth/reset-password?token={TOKEN}")),
            valid_for: Duration::from_secs(900),
        }
    }

    /// Runs one delivery and returns what it logged.
    async fn logs_of(delivery: Delivery) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        deliver(&delivery, Outgoing::Link(email())).await;
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[tokio::test]
    async fn failed_deliveries_are_logged_without_the_link() {
        let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = SmtpConfig {
            host: Some("127.0.0.1".into()),
            port: closed_port,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "tessera <no-reply@localhost>".into(),
            timeout_ms: 1000,
            max_attempts: 2,
            retry_backoff_ms: 1,
        };
        let logs = logs_of(Delivery::Smtp {
            transport: Box::new(transport(&config, "127.0.0.1").unwrap()),
            from: config.from.parse().unwrap(),
            max_attempts: 2,
            backoff: Duration::from_millis(1),
        })
        .await;
        assert!(logs.contains("retrying"), "{logs}");
        assert!(logs.contains("giving up"), "{logs}");
        assert!(!logs.contains(TOKEN), "{logs}");
    }

    #[tokio::test]
    async fn without_smtp_only_development_logs_the_link() {
        let production = logs_of(Delivery::Log { show_links: false }).await;
        assert!(production.contains("email not sent"), "{production}");
        assert!(!production.contains(TOKEN), "{production}");
        let development = logs_of(Delivery::Log { show_links: true }).await;
        assert!(development.contains(TOKEN), "{development}");
    }

    #[test]
    fn the_link_never_shows_in_debug_output() {
        assert!(!format!("{:?}", email()).contains(TOKEN));
    }
}
