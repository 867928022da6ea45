//! E-mail by SMTP (`[smtp]` in the settings), for password-reset links
//! people ask for themselves at `/forgot`. Without a mail server the links
//! come from `carrel admin reset-link`, as before.
//!
//! The wing's only outgoing network IO: one [`Mailer`] (lettre, tokio and
//! rustls) speaks to the configured relay, in the clear, upgraded with
//! STARTTLS or in TLS from the first byte. Links in mails are built from
//! the configured public address (or the address the server listens on),
//! never from a request's `Host` header, which whoever asks could forge.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use carrel_core::account::Email;
use carrel_core::time::Timestamp;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::Accounts;
use crate::error::{AccountsError, Result};

/// How the connection to the mail server is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a relay on the same machine or network only).
    None,
    /// Plain text upgraded with STARTTLS, which the server must offer (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte ("SMTPS", port 465).
    Tls,
}

/// The mail server (`[smtp]`); without `host`, carrel sends no mail.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// The mail server's host name (or address).
    pub host: Option<String>,
    /// Its port; by default 25 without TLS, 587 with STARTTLS, 465 with TLS.
    pub port: Option<u16>,
    /// The sender, e.g. `carrel <files@example.org>`.
    pub from: Option<String>,
    /// User name and password for the server's AUTH, if it wants them.
    pub user: Option<String>,
    pub password: Option<String>,
    /// `none`, `starttls` (the default) or `tls`.
    pub tls: SmtpTls,
    /// A PEM file of certificate authorities to trust besides the public
    /// ones (a relay with a private CA).
    pub ca_file: Option<PathBuf>,
    /// Seconds a conversation with the server may take (default 20).
    pub timeout_secs: Option<u64>,
}

/// Sends carrel's mails through the configured server.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// The mailer of these settings: `None` without a `host`, an error
    /// when they are incomplete or wrong (checked at start-up). Called
    /// within a tokio runtime (the transport keeps a connection pool there).
    pub fn new(c: &SmtpConfig) -> Result<Option<Self>> {
        let Some(host) = c.host.as_deref().map(str::trim).filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        let bad = |m: String| AccountsError::Mail(format!("smtp settings: {m}"));
        let from: Mailbox = c
            .from
            .as_deref()
            .ok_or_else(|| bad("`from` (the sender's address) is missing".into()))?
            .parse()
            .map_err(|e| bad(format!("`from` is not an e-mail address: {e}")))?;
        let tls = match c.tls {
            SmtpTls::None => Tls::None,
            mode => {
                let mut p = TlsParameters::builder(host.to_owned());
                if let Some(path) = &c.ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
                    let cert = Certificate::from_pem(&pem).map_err(|e| {
                        bad(format!("{} is not a PEM certificate: {e}", path.display()))
                    })?;
                    p = p.add_root_certificate(cert);
                }
                let p = p.build().map_err(|e| bad(format!("TLS: {e}")))?;
                if mode == SmtpTls::Tls {
                    Tls::Wrapper(p)
                } else {
                    Tls::Required(p)
                }
            }
        };
        let port = c.port.unwrap_or(match c.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        });
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(
                c.timeout_secs.unwrap_or(20).clamp(1, 600),
            )));
        match (&c.user, &c.password) {
            (Some(u), Some(p)) => b = b.credentials(Credentials::new(u.clone(), p.clone())),
            (None, None) => {}
            _ => return Err(bad("`user` and `password` go together".into())),
        }
        Ok(Some(Self {
            transport: b.build(),
            from,
        }))
    }

    /// Sends a plain-text mail to `to`.
    pub async fn send(&self, to: &Email, subject: &str, body: String) -> Result<()> {
        let to: Mailbox = to
            .as_str()
            .parse()
            .map_err(|_| AccountsError::Mail("the recipient's address cannot be mailed".into()))?;
        let m = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| AccountsError::Mail(format!("the mail could not be built: {e}")))?;
        self.transport.send(m).await.map_err(|e| {
            // The server's own words may quote the address: keep only their code.
            let what = if e.is_timeout() {
                "timed out".to_owned()
            } else if let Some(code) = e.status() {
                format!("refused with {code}")
            } else {
                let mut m = format!("failed: {e}");
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    m.push_str(&format!(": {s}"));
                    src = s.source();
                }
                m
            };
            AccountsError::Mail(format!("the mail server {what}"))
        })?;
        Ok(())
    }
}

/// Mail as the running server sends it: the mailer and the base of links.
pub struct Mail {
    pub mailer: Mailer,
    /// `https://files.example.org`: the public address, or the listening one.
    pub base: String,
}

/// Someone at `ip` asks for a reset link for `email` (`/forgot`): checked
/// and throttled here; the account is looked up, the link made and mailed
/// after the answer, so the answer is the same, as fast, and as throttled
/// whether or not an account uses the address. A crash before the mail
/// leaves it unsent (the person asks again); the link's secret is never
/// written anywhere but into the mail.
pub fn ask_reset(a: &Arc<Accounts>, email: &str, ip: IpAddr) -> Result<()> {
    let mail = a.mail().ok_or_else(|| {
        AccountsError::Mail(
            "this server sends no e-mail; ask its administrator for a reset link".into(),
        )
    })?;
    let email: Email = email.parse()?;
    let now = Timestamp::now();
    let wait = a.reset_throttle.wait(email.as_str(), ip, now);
    if wait > 0 {
        return Err(AccountsError::TooManyResets(wait as u64));
    }
    a.reset_throttle.fail(email.as_str(), ip, now);
    let a = a.clone();
    tokio::spawn(async move {
        if let Err(e) = mail_reset(&a, &mail, &email).await {
            tracing::warn!(error = %e, "a reset mail was not sent");
        }
    });
    Ok(())
}

async fn mail_reset(a: &Accounts, mail: &Mail, email: &Email) -> Result<()> {
    let Some(acct) = a.db.account_by_email(email).await? else {
        return Ok(());
    };
    if acct.suspended_at.is_some() || acct.deleted_at.is_some() {
        return Ok(());
    }
    let link = crate::api::reset_link(a, &acct.id, &mail.base).await?;
    let text = reset_text(&acct.email, &link, a.config.reset_minutes);
    match mail
        .mailer
        .send(&acct.email, "Your new carrel password", text)
        .await
    {
        Ok(()) => {
            tracing::info!(target: "carrel::audit", event = "reset_mailed", account = %acct.id, "reset link mailed");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(account = %acct.id, error = %e, "a reset mail could not be sent");
            Ok(())
        }
    }
}

/// The text of a reset mail.
pub fn reset_text(email: &Email, link: &str, minutes: f64) -> String {
    format!(
        "Someone, hopefully you, asked for a new password for the carrel account \
         {email}.\n\nChoose one here (the link works once, for {} minutes):\n\n{link}\n\n\
         Setting it logs you out everywhere. If you did not ask, ignore this mail: \
         your password stays as it is.\n",
        minutes,
        email = email.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // The transport's connection pool lives on a tokio runtime, as in the server.
    #[tokio::test]
    async fn settings_are_checked() {
        assert!(Mailer::new(&SmtpConfig::default()).unwrap().is_none());
        let c = SmtpConfig {
            host: Some("mail.example.org".into()),
            ..SmtpConfig::default()
        };
        assert!(
            matches!(Mailer::new(&c), Err(AccountsError::Mail(_))),
            "no from"
        );
        let c = SmtpConfig {
            from: Some("not an address".into()),
            ..c
        };
        assert!(Mailer::new(&c).is_err());
        let c = SmtpConfig {
            from: Some("carrel <files@example.org>".into()),
            user: Some("u".into()),
            ..c
        };
        assert!(Mailer::new(&c).is_err(), "a user without a password");
        let c = SmtpConfig {
            password: Some("p".into()),
            ..c
        };
        assert!(Mailer::new(&c).unwrap().is_some());
        let c = SmtpConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..c
        };
        assert!(Mailer::new(&c).is_err());
    }
}
