//! Mail in by IMAP: a task of `shopkeep serve` that logs in to the store's mailbox, answers
//! every unseen message (oldest first) and marks it \Seen, then waits: with IDLE where the
//! server offers it (new mail is answered at once; `email.poll_secs` is the longest wait before
//! looking anyway), else by polling every `email.poll_secs`. A lost connection is retried with
//! a growing pause. The connection is protected as `email.imap_tls` says (TLS from the first
//! byte, STARTTLS, or plain to a server on this machine; see `tls`).

use std::{sync::Arc, time::Duration};

use async_imap::Session;
use futures_util::StreamExt;
use tokio::net::TcpStream;

use super::{
    tls::{self, BoxedStream, TlsError, TlsMode},
    Email, Outcome,
};
use crate::{assistant::Assistant, config::EmailConfig};

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("connecting to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        source: std::io::Error,
    },
    #[error("the server sent no greeting")]
    NoGreeting,
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("TLS with {host}: {source}")]
    Handshake {
        host: String,
        source: std::io::Error,
    },
}

/// Starts the poller when `email.imap_host` is set (and the channel is on).
pub fn spawn(
    email: Option<Arc<Email>>,
    assistant: Arc<Assistant>,
) -> Option<tokio::task::JoinHandle<()>> {
    let email = email.filter(|e| !e.config.imap_host.is_empty())?;
    Some(tokio::spawn(async move {
        let mut pause = Duration::from_secs(1);
        loop {
            match run(&email, &assistant).await {
                Ok(()) => pause = Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!(
                        "email: IMAP {}:{}: {e}; retrying in {}s",
                        email.config.imap_host,
                        email.config.imap_port,
                        pause.as_secs()
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(300));
                }
            }
        }
    }))
}

/// Connects, protects the connection as `email.imap_tls` says, and logs in. A server that
/// refuses STARTTLS, or whose certificate does not verify, is an error: the password is never
/// sent over a connection that was meant to be protected and is not.
pub async fn connect(cfg: &EmailConfig) -> Result<Session<BoxedStream>, ImapError> {
    let err = |source| ImapError::Connect {
        host: cfg.imap_host.clone(),
        port: cfg.imap_port,
        source,
    };
    let tcp = tokio::time::timeout(
        Duration::from_secs(30),
        TcpStream::connect((cfg.imap_host.as_str(), cfg.imap_port)),
    )
    .await
    .map_err(|_| {
        err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out",
        ))
    })?
    .map_err(err)?;
    let handshake = |tcp: TcpStream| async {
        let connector = tokio_rustls::TlsConnector::from(tls::client_config(&tls::read_ca_file(
            &cfg.tls_ca_file,
        )?)?);
        let name = tls::server_name(&cfg.imap_host)?;
        let stream = tokio::time::timeout(Duration::from_secs(30), connector.connect(name, tcp))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))
            .and_then(|r| r)
            .map_err(|source| ImapError::Handshake {
                host: cfg.imap_host.clone(),
                source,
            })?;
        Ok::<BoxedStream, ImapError>(Box::new(stream))
    };
    let greeting = |e: Option<std::io::Result<_>>| -> Result<(), ImapError> {
        e.ok_or(ImapError::NoGreeting)?
            .map_err(|e| ImapError::Imap(e.into()))?;
        Ok(())
    };
    let client = match cfg.imap_tls {
        TlsMode::None => {
            let mut client = async_imap::Client::new(Box::new(tcp) as BoxedStream);
            greeting(client.read_response().await)?;
            client
        }
        TlsMode::Tls => {
            let mut client = async_imap::Client::new(handshake(tcp).await?);
            greeting(client.read_response().await)?;
            client
        }
        TlsMode::Starttls => {
            let mut plain = async_imap::Client::new(tcp);
            greeting(plain.read_response().await)?;
            plain.run_command_and_check_ok("STARTTLS", None).await?;
            // The server says nothing more until the handshake; the session starts over on TLS.
            async_imap::Client::new(handshake(plain.into_inner()).await?)
        }
    };
    let session = client
        .login(&cfg.imap_username, &cfg.imap_password)
        .await
        .map_err(|(e, _)| e)?;
    Ok(session)
}

/// One connection's life: answer what is waiting, then wait for more, until an error.
async fn run(email: &Email, assistant: &Arc<Assistant>) -> Result<(), ImapError> {
    let cfg = &email.config;
    let mut session = connect(cfg).await?;
    session.select(&cfg.imap_mailbox).await?;
    let idle = cfg.idle && session.capabilities().await?.has_str("IDLE");
    tracing::info!(host = %cfg.imap_host, mailbox = %cfg.imap_mailbox, idle, "email: watching the mailbox");
    let wait = Duration::from_secs(cfg.poll_secs.max(1));
    loop {
        answer_unseen(&mut session, email, assistant).await?;
        if idle {
            let mut handle = session.idle();
            handle.init().await?;
            // New mail, or the timeout: either way, look at what is unseen now. (Mail that came
            // between the search and IDLE starting is caught at the latest by the timeout.)
            let (wait_for_mail, _stop) = handle.wait_with_timeout(wait);
            wait_for_mail.await?;
            session = handle.done().await?;
        } else {
            tokio::time::sleep(wait).await;
            session.noop().await?;
        }
    }
}

/// Answers every unseen message, oldest first, marking each \Seen once handled. A message that
/// can't be handled is logged and marked too: retrying it forever would block the mailbox.
pub async fn answer_unseen(
    session: &mut Session<BoxedStream>,
    email: &Email,
    assistant: &Arc<Assistant>,
) -> Result<usize, ImapError> {
    let mut uids: Vec<u32> = session.uid_search("UNSEEN").await?.into_iter().collect();
    uids.sort_unstable();
    for uid in &uids {
        let raw = {
            let mut fetches = session.uid_fetch(uid.to_string(), "BODY.PEEK[]").await?;
            let mut raw = None;
            while let Some(f) = fetches.next().await {
                if let Some(body) = f?.body() {
                    raw = Some(body.to_vec());
                }
            }
            raw
        };
        if let Some(raw) = raw {
            match email.handle(assistant, &raw).await {
                Ok(Outcome::Answered {
                    conversation_id,
                    reply_message_id,
                    sent,
                    ..
                }) => tracing::info!(
                    uid,
                    conversation_id,
                    reply_message_id,
                    sent,
                    "email: answered"
                ),
                Ok(Outcome::Ignored { reason }) => {
                    tracing::info!(uid, reason, "email: not answered")
                }
                Ok(Outcome::Rejected { code, message }) => {
                    tracing::info!(uid, code, message, "email: not answerable")
                }
                Err(e) => tracing::warn!(uid, "email: {e}"),
            }
        }
        let mut stored = session
            .uid_store(uid.to_string(), "+FLAGS (\\Seen)")
            .await?;
        while let Some(r) = stored.next().await {
            r?;
        }
    }
    Ok(uids.len())
}
