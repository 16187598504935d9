//! CAPTCHA verification against an hCaptcha/Turnstile-style `siteverify`
//! endpoint: a form POST of `secret`, `response` and `remoteip`, answered
//! with JSON `{"success": bool, ...}`.

use std::net::IpAddr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::config::CaptchaConfig;

#[derive(Debug, thiserror::Error)]
pub enum CaptchaError {
    #[error("the CAPTCHA answer was rejected")]
    Rejected,
    #[error("the CAPTCHA verifier is unreachable: {0}")]
    Unavailable(String),
    #[error("the CAPTCHA verifier did not answer in time")]
    TimedOut,
}

pub struct CaptchaVerifier {
    client: reqwest::Client,
    verify_url: String,
    secret: SecretString,
}

#[derive(Deserialize)]
struct SiteVerify {
    success: bool,
}

impl CaptchaVerifier {
    /// `None` when `captcha.verify_url` is unset (CAPTCHA off).
    pub fn from_config(config: &CaptchaConfig) -> anyhow::Result<Option<Self>> {
        let Some(verify_url) = &config.verify_url else {
            return Ok(None);
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()?;
        Ok(Some(Self {
            client,
            verify_url: verify_url.clone(),
            secret: config
                .secret
                .clone()
                .unwrap_or_else(|| SecretString::from("")),
        }))
    }

    /// Checks a client's answer; a missing answer is a wrong one.
    pub async fn verify(
        &self,
        response: Option<&str>,
        remote_ip: Option<IpAddr>,
    ) -> Result<(), CaptchaError> {
        let response = response
            .filter(|r| !r.trim().is_empty())
            .ok_or(CaptchaError::Rejected)?;
        let mut form = vec![
            ("secret", self.secret.expose_secret()),
            ("response", response),
        ];
        let remote_ip = remote_ip.map(|ip| ip.to_string());
        if let Some(remote_ip) = &remote_ip {
            form.push(("remoteip", remote_ip));
        }
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                CaptchaError::TimedOut
            } else {
                CaptchaError::Unavailable(e.without_url().to_string())
            }
        };
        let answer = self
            .client
            .post(&self.verify_url)
            .form(&form)
            .send()
            .await
            .map_err(failed)?;
        if !answer.status().is_success() {
            return Err(CaptchaError::Unavailable(format!(
                "verifier answered {}",
                answer.status()
            )));
        }
        let verdict: SiteVerify = answer.json().await.map_err(failed)?;
        if verdict.success {
            Ok(())
        } else {
            Err(CaptchaError::Rejected)
        }
    }
}
