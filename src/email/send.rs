//! Mail out. [`Mailer`] is the seam: [`SmtpMailer`] sends by SMTP (lettre, plain SMTP to the
//! store's own mail server, which relays onwards); unit tests record instead.

use futures_util::future::BoxFuture;
use lettre::{
    message::{
        header::{ContentType, HeaderName, HeaderValue},
        Mailbox,
    },
    transport::smtp::authentication::Credentials,
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use serde::Serialize;

use crate::config::EmailConfig;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("composing the message: {0}")]
    Compose(String),
    #[error("SMTP: {0}")]
    Smtp(String),
}

/// A message to send.
#[derive(Debug, Clone, Serialize)]
pub struct Outgoing {
    pub from: String,
    pub from_name: Option<String>,
    pub to: String,
    pub reply_to: Option<String>,
    pub subject: String,
    /// Without angle brackets.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub text: String,
    /// `Auto-Submitted: auto-replied` (RFC 3834): the assistant's answers are automatic, so other
    /// responders must not answer them. A person's reply is not.
    pub automatic: bool,
}

/// Sends mail.
pub trait Mailer: Send + Sync {
    fn send<'a>(&'a self, mail: &'a Outgoing) -> BoxFuture<'a, Result<(), SendError>>;
}

/// Builds the RFC 5322 message.
pub fn compose(mail: &Outgoing) -> Result<Message, SendError> {
    let mailbox = |addr: &str, name: Option<&String>| -> Result<Mailbox, SendError> {
        let address = addr.parse().map_err(|_| SendError::Address(addr.to_string()))?;
        Ok(Mailbox::new(name.cloned(), address))
    };
    let mut b = Message::builder()
        .from(mailbox(&mail.from, mail.from_name.as_ref())?)
        .to(mailbox(&mail.to, None)?)
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{}>", mail.message_id)))
        .date_now();
    if let Some(r) = &mail.reply_to {
        b = b.reply_to(mailbox(r, None)?);
    }
    if let Some(id) = &mail.in_reply_to {
        b = b.in_reply_to(format!("<{id}>"));
    }
    if !mail.references.is_empty() {
        b = b.references(mail.references.iter().map(|r| format!("<{r}>")).collect::<Vec<_>>().join(" "));
    }
    if mail.automatic {
        b = b.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-replied".into()));
    }
    b.header(ContentType::TEXT_PLAIN).body(mail.text.clone()).map_err(|e| SendError::Compose(e.to_string()))
}

/// SMTP through the configured server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    pub fn new(cfg: &EmailConfig) -> Self {
        // Plain SMTP (no TLS stack in the binary): the store's own mail server, on this machine
        // or its network, takes the mail and relays it with TLS.
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.smtp_host).port(cfg.smtp_port).timeout(Some(std::time::Duration::from_secs(30)));
        if !cfg.smtp_username.is_empty() {
            b = b.credentials(Credentials::new(cfg.smtp_username.clone(), cfg.smtp_password.clone()));
        }
        Self { transport: b.build() }
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, mail: &'a Outgoing) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let message = compose(mail)?;
            self.transport.send(message).await.map_err(|e| SendError::Smtp(e.to_string()))?;
            Ok(())
        })
    }
}

/// Keeps what would have been sent (unit tests).
#[cfg(test)]
#[derive(Default)]
pub struct Recorder(pub parking_lot::Mutex<Vec<Outgoing>>);

#[cfg(test)]
impl Mailer for Recorder {
    fn send<'a>(&'a self, mail: &'a Outgoing) -> BoxFuture<'a, Result<(), SendError>> {
        compose(mail).expect("composes");
        self.0.lock().push(mail.clone());
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_carries_threading_headers_and_the_auto_reply_mark() {
        let mail = Outgoing {
            from: "support@shop.test".into(),
            from_name: Some("Larkfield Goods".into()),
            to: "customer@customer.test".into(),
            reply_to: None,
            subject: "Re: Refunds".into(),
            message_id: "r1@shop.test".into(),
            in_reply_to: Some("m1@customer.test".into()),
            references: vec!["m0@customer.test".into(), "m1@customer.test".into()],
            text: "Refunds take 5–7 business days.".into(),
            automatic: true,
        };
        let raw = String::from_utf8(compose(&mail).unwrap().formatted()).unwrap();
        let parsed = crate::email::parse::parse(raw.as_bytes()).unwrap();
        assert_eq!(parsed.message_id.as_deref(), Some("r1@shop.test"));
        assert_eq!(parsed.in_reply_to, ["m1@customer.test"]);
        assert_eq!(parsed.references, ["m0@customer.test", "m1@customer.test"]);
        assert_eq!(parsed.from.as_deref(), Some("support@shop.test"));
        assert_eq!(parsed.subject, "Re: Refunds");
        assert!(parsed.text.contains("5–7 business days"));
        assert!(parsed.loop_signal.is_some(), "our own answers read as automatic, so we never answer them: {raw}");
    }
}
