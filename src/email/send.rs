//! Mail out. [`Mailer`] is the seam: [`SmtpMailer`] sends by SMTP (lettre; with STARTTLS or
//! TLS as `email.smtp_tls` says, see `tls`); unit tests record instead.

use futures_util::future::BoxFuture;
use lettre::{
    message::{
        header::{ContentType, HeaderName, HeaderValue},
        Mailbox,
    },
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
    },
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use serde::Serialize;

use super::tls::{self, TlsMode};
use crate::config::EmailConfig;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("composing the message: {0}")]
    Compose(String),
    #[error("SMTP: {0}")]
    Smtp(String),
    /// The server said "try later" or could not be reached, even after the quick retries: the
    /// outbox tries again later (see `outbox`).
    #[error("SMTP, for now: {0}")]
    Unavailable(String),
    #[error("SMTP TLS setup: {0}")]
    Tls(String),
}

/// A message to send.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
        let address = addr
            .parse()
            .map_err(|_| SendError::Address(addr.to_string()))?;
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
        b = b.references(
            mail.references
                .iter()
                .map(|r| format!("<{r}>"))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    if mail.automatic {
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-replied".into(),
        ));
    }
    b.header(ContentType::TEXT_PLAIN)
        .body(mail.text.clone())
        .map_err(|e| SendError::Compose(e.to_string()))
}

/// SMTP through the configured server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SendError {
    /// Whether the same send may succeed later (the outbox keeps it).
    pub fn may_pass(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl SmtpMailer {
    /// The transport `email.smtp_tls` asks for. With STARTTLS a server that does not offer it
    /// is an error at send time, never a silent fallback to plain text.
    pub fn new(cfg: &EmailConfig) -> Result<Self, SendError> {
        // "dangerous" only in that TLS is chosen here rather than by lettre's defaults.
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.smtp_host)
            .port(cfg.smtp_port)
            .timeout(Some(std::time::Duration::from_secs(30)));
        if cfg.smtp_tls != TlsMode::None {
            let tls_err = |e: &dyn std::fmt::Display| SendError::Tls(e.to_string());
            let mut params = TlsParameters::builder(cfg.smtp_host.clone());
            let pem = tls::read_ca_file(&cfg.tls_ca_file).map_err(|e| tls_err(&e))?;
            if !pem.is_empty() {
                params = params
                    .add_root_certificate(Certificate::from_pem(&pem).map_err(|e| tls_err(&e))?);
            }
            let params = params.build_rustls().map_err(|e| tls_err(&e))?;
            b = b.tls(if cfg.smtp_tls == TlsMode::Starttls {
                Tls::Required(params)
            } else {
                Tls::Wrapper(params)
            });
        }
        if !cfg.smtp_username.is_empty() {
            b = b.credentials(Credentials::new(
                cfg.smtp_username.clone(),
                cfg.smtp_password.clone(),
            ));
        }
        Ok(Self {
            transport: b.build(),
        })
    }
}

/// Waits before the second and third try of a send that failed for a reason that may pass.
const RETRY_AFTER: [std::time::Duration; 2] = [
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(4),
];

/// Whether trying the same send again may succeed: the server said "try later" (4xx: greylisting,
/// a full queue, a restart) or the connection failed. A 5xx refusal, a malformed reply, a
/// certificate that does not verify or a message lettre cannot send are final.
fn worth_retrying(e: &lettre::transport::smtp::Error) -> bool {
    e.is_transient()
        || !(e.is_permanent()
            || e.is_client()
            || e.is_response()
            || e.is_transport_shutdown()
            || e.is_tls())
}

impl Mailer for SmtpMailer {
    /// Sends, trying twice more over five seconds when the failure may pass (see
    /// [`worth_retrying`]), so a mail server restarting or greylisting does not cost a customer
    /// their reply. A message the server took but whose acknowledgement was lost may then arrive
    /// twice; it carries the same Message-ID, which mail clients show once.
    fn send<'a>(&'a self, mail: &'a Outgoing) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let message = compose(mail)?;
            let mut waits = RETRY_AFTER.iter();
            loop {
                match self.transport.send(message.clone()).await {
                    Ok(_) => return Ok(()),
                    Err(e) => match waits.next() {
                        Some(wait) if worth_retrying(&e) => {
                            tracing::warn!(to = %mail.to, error = %e, "SMTP send failed; trying again in {wait:?}");
                            tokio::time::sleep(*wait).await;
                        }
                        Some(_) => return Err(SendError::Smtp(e.to_string())),
                        None if worth_retrying(&e) => {
                            return Err(SendError::Unavailable(e.to_string()))
                        }
                        None => return Err(SendError::Smtp(e.to_string())),
                    },
                }
            }
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
        assert!(
            parsed.loop_signal.is_some(),
            "our own answers read as automatic, so we never answer them: {raw}"
        );
    }

    /// A scripted SMTP server on loopback: connection `i` is greeted with `greetings[i]` (the
    /// last one repeats); a 220 greeting then gets a plain successful exchange. Returns the port
    /// and the number of connections and of messages accepted so far.
    async fn scripted_server(
        greetings: Vec<&'static str>,
    ) -> (u16, std::sync::Arc<[std::sync::atomic::AtomicUsize; 2]>) {
        use std::sync::atomic::Ordering::SeqCst;
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = std::sync::Arc::new([
            std::sync::atomic::AtomicUsize::new(0),
            std::sync::atomic::AtomicUsize::new(0),
        ]);
        let seen = counts.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let i = seen[0].fetch_add(1, SeqCst);
                let greeting = greetings[i.min(greetings.len() - 1)];
                let (read, mut write) = socket.into_split();
                write
                    .write_all(format!("{greeting}\r\n").as_bytes())
                    .await
                    .unwrap();
                if !greeting.starts_with("220") {
                    continue;
                }
                let mut lines = BufReader::new(read).lines();
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply = if in_data {
                        if line != "." {
                            continue;
                        }
                        in_data = false;
                        seen[1].fetch_add(1, SeqCst);
                        "250 2.0.0 queued"
                    } else {
                        match line.get(..4).unwrap_or("").to_ascii_uppercase().as_str() {
                            "DATA" => {
                                in_data = true;
                                "354 go ahead"
                            }
                            "QUIT" => "221 bye",
                            _ => "250 ok",
                        }
                    };
                    write
                        .write_all(format!("{reply}\r\n").as_bytes())
                        .await
                        .unwrap();
                    if reply.starts_with("221") {
                        break;
                    }
                }
            }
        });
        (port, counts)
    }

    fn mailer(port: u16) -> SmtpMailer {
        SmtpMailer::new(&EmailConfig {
            smtp_host: "127.0.0.1".into(),
            smtp_port: port,
            ..EmailConfig::default()
        })
        .unwrap()
    }

    fn outgoing() -> Outgoing {
        Outgoing {
            from: "support@shop.test".into(),
            from_name: None,
            to: "customer@customer.test".into(),
            reply_to: None,
            subject: "Re: Refunds".into(),
            message_id: "r2@shop.test".into(),
            in_reply_to: None,
            references: Vec::new(),
            text: "Refunds take 5–7 business days.".into(),
            automatic: true,
        }
    }

    #[tokio::test]
    async fn a_server_that_says_try_later_gets_the_mail_on_a_later_try() {
        use std::sync::atomic::Ordering::SeqCst;
        let (port, counts) = scripted_server(vec![
            "421 4.3.2 restarting, try again later",
            "220 mail.shop.test ESMTP",
        ])
        .await;
        mailer(port)
            .send(&outgoing())
            .await
            .expect("sent on the second try");
        assert_eq!(
            (counts[0].load(SeqCst), counts[1].load(SeqCst)),
            (2, 1),
            "two connections, one message"
        );
    }

    #[tokio::test]
    async fn a_refusal_is_final_and_reported() {
        use std::sync::atomic::Ordering::SeqCst;
        let (port, counts) = scripted_server(vec!["554 5.7.1 no service for you"]).await;
        let err = mailer(port).send(&outgoing()).await.unwrap_err();
        assert!(matches!(err, SendError::Smtp(_)), "{err}");
        assert!(!err.may_pass(), "a refusal does not go to the outbox");
        assert_eq!(counts[0].load(SeqCst), 1, "a 5xx is not retried");
    }

    #[tokio::test]
    async fn a_server_still_saying_try_later_after_the_quick_retries_may_pass() {
        use std::sync::atomic::Ordering::SeqCst;
        let (port, counts) = scripted_server(vec!["421 4.3.2 restarting, try again later"]).await;
        let err = mailer(port).send(&outgoing()).await.unwrap_err();
        assert!(err.may_pass(), "kept for the outbox: {err}");
        assert_eq!(counts[0].load(SeqCst), 3, "three tries");
    }
}
