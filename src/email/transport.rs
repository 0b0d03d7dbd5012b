//! Where rendered messages go: `log` (the default: the log and the outbox table only) or SMTP through
//! lettre (`smtp://host:port` plain, `smtp://…?tls=required` STARTTLS, `smtps://` TLS; user and
//! password in the URL), or a Resend-style HTTP email API (`resend+https://API_KEY@host`, see
//! [`super::http_api`]).

use lettre::message::{Mailbox, MultiPart, header};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message as Mail, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use super::http_api::HttpApi;

/// A rendered message addressed for sending.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Stable per campaign step: also the `Message-ID`, so a receiving system can drop a copy.
    pub id: String,
    pub from_name: String,
    pub from_address: String,
    pub reply_to: Option<String>,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// Worth another try later (connection refused, an SMTP 4xx, an HTTP 429 or 5xx).
    #[error("{0}")]
    Transient(String),
    /// Will not succeed (a malformed or refused address, an SMTP 5xx, an HTTP 422): recorded, not
    /// retried.
    #[error("{0}")]
    Permanent(String),
}

pub enum Mailer {
    Log,
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
    Http(Box<HttpApi>),
}

impl Mailer {
    /// From `DUNNING_EMAIL`. The error never repeats the URL (it may hold a password).
    pub fn from_setting(setting: &SecretString) -> Result<Mailer, String> {
        let s = setting.expose_secret();
        if s == "log" {
            return Ok(Mailer::Log);
        }
        if s.starts_with("smtp://") || s.starts_with("smtps://") {
            return AsyncSmtpTransport::<Tokio1Executor>::from_url(s)
                .map(|b| Mailer::Smtp(Box::new(b.build())))
                .map_err(|e| format!("DUNNING_EMAIL is not a usable SMTP URL: {}", kind_of(&e)));
        }
        if s.starts_with("resend+") {
            return HttpApi::from_url(s).map(|api| Mailer::Http(Box::new(api)));
        }
        Err("DUNNING_EMAIL: expected log, smtp[s]://… or resend+https://API_KEY@host".into())
    }

    pub fn name(&self) -> &'static str {
        match self {
            Mailer::Log => "log",
            Mailer::Smtp(_) => "smtp",
            Mailer::Http(_) => "http_api",
        }
    }

    /// Sends `e`; `Ok` carries the provider's id for the message when the transport gives one.
    pub async fn send(&self, e: &Envelope) -> Result<Option<String>, SendError> {
        match self {
            Mailer::Log => {
                tracing::info!(
                    message = %e.id, to = %e.to, subject = %e.subject,
                    "email (DUNNING_EMAIL=log, not sent):\n{}", e.text
                );
                Ok(None)
            }
            Mailer::Smtp(smtp) => {
                let mail = build(e)?;
                match smtp.send(mail).await {
                    Ok(_) => Ok(None),
                    Err(err) if err.is_permanent() => Err(SendError::Permanent(kind_of(&err))),
                    Err(err) => Err(SendError::Transient(kind_of(&err))),
                }
            }
            Mailer::Http(api) => api.send(e).await,
        }
    }
}

fn build(e: &Envelope) -> Result<Mail, SendError> {
    let bad = |what: &str, err: &dyn std::fmt::Display| {
        SendError::Permanent(format!("{what} is not a valid address: {err}"))
    };
    let from = Mailbox::new(
        Some(e.from_name.clone()),
        e.from_address
            .parse()
            .map_err(|err| bad("the sender", &err))?,
    );
    let to: Mailbox = e.to.parse().map_err(|err| bad("the recipient", &err))?;
    let mut builder = Mail::builder()
        .from(from)
        .to(to)
        .subject(e.subject.clone())
        .message_id(Some(format!(
            "<{}@dunning>",
            e.id.replace(['<', '>', '@', ' '], "-")
        )));
    if let Some(reply_to) = &e.reply_to {
        builder = builder.reply_to(reply_to.parse().map_err(|err| bad("the reply-to", &err))?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            e.text.clone(),
            e.html.clone(),
        ))
        .map_err(|err| SendError::Permanent(format!("the message could not be built: {err}")))
        .map(|mut m| {
            // Automated, not bulk: asks auto-responders to stay quiet.
            m.headers_mut().insert_raw(header::HeaderValue::new(
                header::HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ));
            m
        })
}

/// An SMTP error without anything that could be a credential: its kind and the server's reply code.
fn kind_of(e: &lettre::transport::smtp::Error) -> String {
    let code = e
        .status()
        .map(|c| format!(" (SMTP {c})"))
        .unwrap_or_default();
    let what = if e.is_permanent() {
        "the server refused the message"
    } else if e.is_transient() {
        "the server deferred the message"
    } else if e.is_timeout() {
        "the SMTP server did not answer in time"
    } else if e.is_tls() {
        "TLS with the SMTP server failed"
    } else if e.is_client() {
        "the SMTP settings are invalid"
    } else {
        "the SMTP server could not be reached"
    };
    format!("{what}{code}")
}
