//! Channel: email. A customer's mail arrives (IMAP polling or IDLE in [`imap`], the inbound
//! webhook `POST /v1/email/inbound`, or `shopkeep email ingest FILE.eml`), is parsed
//! ([`parse`]), cut to what they wrote this time ([`strip`]), threaded into its conversation by
//! Message-ID, In-Reply-To and References ([`thread`], `journal::email`), answered by
//! [`Assistant::handle`] on channel "email", and the reply goes back by SMTP ([`send`]) with
//! threading headers and the store's From. A hand-off is forwarded to the team's helpdesk
//! address with its packet, and a person's reply to it (`/v1/handoffs/{id}/reply`) reaches the
//! customer by email, in the same thread.
//!
//! Identity: the From address is offered as the customer's email (order number + email, or
//! email alone where the policy allows), unless the receiving server's Authentication-Results
//! say the sender failed DMARC, DKIM or SPF (with `email.authserv_id` set, only that server's
//! results are believed: a sender can write such headers into the mail itself). Replies always go to the From address, never to a
//! Reply-To, so order data only ever goes to the address that was checked.
//!
//! No mail loops: auto-replies, bounces, list mail and the store's own address are recognised
//! and never answered, the assistant's own replies are marked `Auto-Submitted: auto-replied`,
//! and a Message-ID seen before is not answered twice.
//!
//! Both servers are reached with TLS, STARTTLS or, on this machine only, plain text
//! (`email.smtp_tls`, `email.imap_tls`; roots and the IMAP stream in [`tls`]).
//!
//! A send that fails for a reason that may pass is tried twice more over five seconds, then kept
//! in the [`outbox`] and tried again later, for hours; a refusal that will not pass is reported.
//!
//! This module does not answer anything itself.

pub mod imap;
pub mod outbox;
pub mod parse;
pub mod send;
pub mod strip;
pub mod thread;
pub mod tls;

use std::sync::Arc;

use serde::Serialize;

pub use crate::config::address_domain;
pub use parse::{Auth, InboundMail};
pub use send::{Mailer, Outgoing, SmtpMailer};

use crate::{
    assistant::{Answer, Assistant, AssistantError, Question, MAX_MESSAGE_CHARS},
    config::{Config, EmailConfig, StoreConfig},
    journal::{EmailRecord, Journal, JournalError},
};

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error(transparent)]
    Parse(#[from] parse::ParseError),
    #[error(transparent)]
    Assistant(#[from] AssistantError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("sending mail: {0}")]
    Send(#[from] send::SendError),
}

impl EmailError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Parse(_) => "invalid_email",
            Self::Assistant(e) => e.code(),
            Self::Journal(_) => "journal_failed",
            Self::Send(_) => "email_send_failed",
        }
    }
}

/// What became of one message to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    Sent,
    /// In the outbox, to be sent when the server can take it.
    Queued,
    /// No SMTP server is configured (or `--no-send`), or there was nothing to send.
    NotSent,
}

/// What became of one inbound mail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[schema(as = EmailOutcome)]
// One outcome per message handled, moved once to the caller.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// Answered (and sent, when a mailer is configured).
    Answered {
        conversation_id: String,
        message_id: String,
        reply_message_id: String,
        /// The reply went out by SMTP (false: no SMTP server configured, `--no-send`, or queued).
        sent: bool,
        /// The server could not take it now; the outbox sends it when it can.
        queued: bool,
        /// The hand-off this mail caused, if any, and whether the helpdesk was sent the packet.
        handoff: Option<String>,
        forwarded_to_helpdesk: bool,
        /// The reply as composed: from, to, subject, message_id, in_reply_to, references, text.
        #[schema(value_type = Object)]
        reply: Outgoing,
    },
    /// Deliberately not answered: machine-sent mail (a loop would follow), or a duplicate.
    Ignored { reason: String },
    /// Not answerable: no sender, or nothing new written.
    Rejected {
        #[schema(value_type = String)]
        code: &'static str,
        message: String,
    },
}

/// The email channel's settings and its way out.
pub struct Email {
    config: EmailConfig,
    store: StoreConfig,
    /// `None`: replies are composed and journaled but not sent.
    mailer: Option<Arc<dyn Mailer>>,
}

impl Email {
    /// The channel as configured: `None` when `email.store_address` is unset; SMTP when
    /// `email.smtp_host` is set.
    /// Fails when the SMTP transport cannot be set up (its TLS roots).
    pub fn from_config(config: &Config) -> Result<Option<Self>, send::SendError> {
        if config.email.store_address.is_empty() {
            return Ok(None);
        }
        let mailer: Option<Arc<dyn Mailer>> = if config.email.smtp_host.is_empty() {
            None
        } else {
            Some(Arc::new(SmtpMailer::new(&config.email)?))
        };
        Ok(Some(Self::with_mailer(config, mailer)))
    }

    pub fn with_mailer(config: &Config, mailer: Option<Arc<dyn Mailer>>) -> Self {
        Self {
            config: config.email.clone(),
            store: config.store.clone(),
            mailer,
        }
    }

    pub fn config(&self) -> &EmailConfig {
        &self.config
    }

    fn store_domain(&self) -> &str {
        address_domain(&self.config.store_address).unwrap_or("shopkeep.invalid")
    }

    /// Handles one raw message end to end.
    pub async fn handle(
        &self,
        assistant: &Arc<Assistant>,
        raw: &[u8],
    ) -> Result<Outcome, EmailError> {
        let mail = parse::parse(raw)?;
        self.handle_mail(assistant, mail, raw).await
    }

    async fn handle_mail(
        &self,
        assistant: &Arc<Assistant>,
        mail: InboundMail,
        raw: &[u8],
    ) -> Result<Outcome, EmailError> {
        let Some(from) = mail.from.clone() else {
            return Ok(Outcome::Rejected {
                code: "no_sender",
                message: "the mail has no From address".into(),
            });
        };
        if let Some(reason) = &mail.loop_signal {
            tracing::info!(%from, reason, "email not answered");
            return Ok(Outcome::Ignored {
                reason: reason.clone(),
            });
        }
        if from.eq_ignore_ascii_case(&self.config.store_address)
            || (!self.config.helpdesk_address.is_empty()
                && from.eq_ignore_ascii_case(&self.config.helpdesk_address))
        {
            return Ok(Outcome::Ignored {
                reason: "sent from the store's own address".into(),
            });
        }
        // A mail without a Message-ID still gets a stable one, so a second delivery is noticed.
        let message_id = mail.message_id.clone().unwrap_or_else(|| {
            use sha2::Digest;
            format!(
                "{}@no-message-id.invalid",
                &hex::encode(sha2::Sha256::digest(raw))[..32]
            )
        });
        let journal = &assistant.journal;
        if journal.email(&message_id)?.is_some() {
            return Ok(Outcome::Ignored {
                reason: "duplicate: this Message-ID was handled before".into(),
            });
        }
        // The same conversation when the mail answers one of ours (or theirs) from the same
        // address; a thread forwarded to someone else starts afresh, so a verified customer's
        // conversation never opens to another sender.
        let conversation_id = match journal
            .email_conversation(&thread::lookup_ids(&mail.in_reply_to, &mail.references))?
        {
            Some(c)
                if journal
                    .last_inbound_email(&c)?
                    .is_some_and(|r| r.customer_address.eq_ignore_ascii_case(&from)) =>
            {
                Some(c)
            }
            _ => None,
        };
        let mut text = strip::strip(&mail.text);
        // A first mail often says it all in the subject ("Where is order LF-100001?").
        if conversation_id.is_none()
            && !mail.subject.is_empty()
            && !thread::is_reply(&mail.subject)
            && !text.contains(&mail.subject)
        {
            text = format!("{}\n\n{text}", mail.subject);
        }
        let text = text.trim();
        if text.is_empty() {
            return Ok(Outcome::Rejected {
                code: "empty_message",
                message: "nothing new was written above the quoted history".into(),
            });
        }
        let message: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
        let question = Question {
            conversation_id: conversation_id.clone(),
            channel: "email".into(),
            message,
            client: Some(format!("email:{from}")),
            sender_email: (mail.auth(&self.config.authserv_id) != Auth::Fail).then(|| from.clone()),
            ..Default::default()
        };
        let answer = match assistant.handle(question).await {
            Ok(a) => a,
            // Mail cannot be told to retry later: the sender is not answered (and not handed
            // off) until the failures leave the window, and the refusal is logged.
            Err(
                e @ (AssistantError::VerificationLimited { .. }
                | AssistantError::HandoffLimited { .. }),
            ) => {
                tracing::info!(%from, code = e.code(), "email not answered: {e}");
                return Ok(Outcome::Rejected {
                    code: e.code(),
                    message: e.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let subject = thread::reply_subject(&mail.subject);
        let references = thread::reply_references(&mail.references, &message_id);
        journal.record_email(&EmailRecord {
            message_id: message_id.clone(),
            conversation_id: answer.conversation_id.clone(),
            direction: "in".into(),
            customer_address: from.clone(),
            subject: mail.subject.clone(),
            references: mail.references.clone(),
        })?;
        let reply = Outgoing {
            from: self.config.store_address.clone(),
            from_name: Some(self.store.name.clone()),
            to: from.clone(),
            reply_to: None,
            subject: subject.clone(),
            message_id: thread::new_message_id(self.store_domain()),
            in_reply_to: Some(message_id.clone()),
            references: references.clone(),
            text: self.reply_text(&answer, mail.from_name.as_deref().unwrap_or(&from), text),
            automatic: true,
        };
        journal.record_email(&EmailRecord {
            message_id: reply.message_id.clone(),
            conversation_id: answer.conversation_id.clone(),
            direction: "out".into(),
            customer_address: from.clone(),
            subject: subject.clone(),
            references,
        })?;
        let delivery = self
            .send(&assistant.journal, &answer.conversation_id, &reply)
            .await?;
        let mut forwarded = false;
        if let Some(h) = &answer.handoff {
            forwarded =
                self.forward_handoff(assistant, &h.id, &mail, &from).await? != Dispatch::NotSent;
        } else if answer.with_person {
            // The conversation is already with a person: they hear of the new mail too.
            forwarded = self
                .forward_follow_up(assistant, &answer.conversation_id, &mail, &from, text)
                .await?
                != Dispatch::NotSent;
        }
        Ok(Outcome::Answered {
            conversation_id: answer.conversation_id,
            message_id,
            reply_message_id: reply.message_id.clone(),
            sent: delivery == Dispatch::Sent,
            queued: delivery == Dispatch::Queued,
            handoff: answer.handoff.map(|h| h.id),
            forwarded_to_helpdesk: forwarded,
            reply,
        })
    }

    /// Sends now, or, when the server cannot take it now (after the quick retries), keeps it in
    /// the outbox for [`outbox::run`] to send later: a mail server restarting for a minute must
    /// not cost a customer their answer. A refusal that will not pass is an error, as before.
    pub async fn send(
        &self,
        journal: &Journal,
        conversation_id: &str,
        mail: &Outgoing,
    ) -> Result<Dispatch, EmailError> {
        let Some(m) = &self.mailer else {
            return Ok(Dispatch::NotSent);
        };
        match m.send(mail).await {
            Ok(()) => Ok(Dispatch::Sent),
            Err(e) if e.may_pass() => {
                outbox::queue(journal, conversation_id, mail, &e.to_string())?;
                tracing::warn!(to = %mail.to, message_id = %mail.message_id, "email: {e}; kept in the outbox to send later");
                Ok(Dispatch::Queued)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The mailer, when SMTP is configured.
    pub fn mailer(&self) -> Option<&Arc<dyn Mailer>> {
        self.mailer.as_ref()
    }

    /// The answer as an email: the reply, its sources as links, the sign-off, and the
    /// customer's words quoted below.
    fn reply_text(&self, answer: &Answer, who: &str, asked: &str) -> String {
        let mut out = answer.reply.trim().to_string();
        let mut seen = Vec::new();
        let sources: Vec<String> = answer
            .citations
            .iter()
            .filter(|c| {
                let key = (c.title.clone(), c.url.clone());
                let new = !seen.contains(&key);
                seen.push(key);
                new
            })
            .map(|c| match &c.url {
                Some(url) => format!("- {}: {url}", c.title),
                None => format!("- {}", c.title),
            })
            .collect();
        if !sources.is_empty() {
            out.push_str("\n\nSources:\n");
            out.push_str(&sources.join("\n"));
        }
        if let Some(order) = &answer.order {
            if let Some(url) = &order.tracking_url {
                out.push_str(&format!("\n\nTracking: {url}"));
            }
        }
        if !self.store.sign_off.is_empty() {
            out.push_str("\n\n");
            out.push_str(&self.store.sign_off);
        }
        out.push_str(&format!("\n\n{who} wrote:\n"));
        for line in asked.lines() {
            out.push_str("> ");
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// Sends the hand-off packet to the helpdesk (Reply-To: the customer).
    async fn forward_handoff(
        &self,
        assistant: &Arc<Assistant>,
        handoff_id: &str,
        mail: &InboundMail,
        from: &str,
    ) -> Result<Dispatch, EmailError> {
        if self.config.helpdesk_address.is_empty() {
            return Ok(Dispatch::NotSent);
        }
        let Some(h) = assistant.journal.handoff(handoff_id)? else {
            return Ok(Dispatch::NotSent);
        };
        let p = &h.packet;
        let mut body = format!(
            "A customer's email was handed to the team.\n\nHand-off: {}\nReason: {}\nConversation: {}\nCustomer: {}\nIdentity: {}\nIntent: {}\n",
            h.id,
            h.reason,
            h.conversation_id,
            from,
            match (&p.identity.customer_id, &p.identity.verified_by) {
                (Some(c), Some(by)) => format!("{c} (verified by {by})"),
                (Some(c), None) => c.clone(),
                _ => "not verified".to_string(),
            },
            p.intent.intent,
        );
        if let Some(o) = &p.order {
            body.push_str(&format!("Order: {} ({})\n", o.number, o.status.label()));
        }
        body.push_str("\nTranscript:\n");
        for t in &p.transcript {
            body.push_str(&format!("[{}] {}\n", t.role, t.text));
        }
        if !p.passages.is_empty() {
            body.push_str("\nPassages:\n");
            for x in &p.passages {
                body.push_str(&format!(
                    "- {} ({}), cosine {:.2}\n",
                    x.title,
                    x.url.as_deref().unwrap_or(""),
                    x.dense
                ));
            }
        }
        if !p.suggested_reply.is_empty() {
            body.push_str(&format!("\nSuggested reply:\n{}\n", p.suggested_reply));
        }
        let packet = format!(
            "\nThe packet:\n{}\n",
            serde_json::to_string_pretty(p).unwrap_or_default()
        );
        let forward = self.helpdesk_mail(&h.id, "", from, mail, body, &packet);
        self.send(&assistant.journal, &h.conversation_id, &forward)
            .await
    }

    /// A customer's new mail in a conversation already handed to the team, forwarded to the
    /// helpdesk under the hand-off's reference (Reply-To: the customer), so the person handling
    /// it does not have to watch the desk for it.
    async fn forward_follow_up(
        &self,
        assistant: &Arc<Assistant>,
        conversation_id: &str,
        mail: &InboundMail,
        from: &str,
        message: &str,
    ) -> Result<Dispatch, EmailError> {
        if self.config.helpdesk_address.is_empty() {
            return Ok(Dispatch::NotSent);
        }
        // Oldest first: the latest hand-off is the one the team is working on.
        let Some(h) = assistant.journal.handoffs_of(conversation_id)?.pop() else {
            return Ok(Dispatch::NotSent);
        };
        let body = format!(
            "The customer wrote again in a conversation handed to the team.\n\nHand-off: {} ({})\nConversation: {}\nCustomer: {}\n\nThey wrote:\n{}\n",
            h.id,
            h.status,
            conversation_id,
            from,
            message.trim()
        );
        let forward = self.helpdesk_mail(&h.id, "Follow-up: ", from, mail, body, "");
        self.send(&assistant.journal, conversation_id, &forward)
            .await
    }

    /// A message to the team's helpdesk about hand-off `handoff_id`: Reply-To the customer,
    /// the subject tagged with the hand-off, the mail's attachments noted (not opened), how to
    /// answer, then `appendix`.
    fn helpdesk_mail(
        &self,
        handoff_id: &str,
        label: &str,
        customer: &str,
        mail: &InboundMail,
        mut body: String,
        appendix: &str,
    ) -> Outgoing {
        if !mail.attachments.is_empty() {
            body.push_str("\nAttachments (not opened):\n");
            for a in &mail.attachments {
                body.push_str(&format!(
                    "- {} ({}, {} bytes)\n",
                    a.name.as_deref().unwrap_or("unnamed"),
                    a.content_type,
                    a.size
                ));
            }
        }
        body.push_str(&format!("\nReply to the customer on the desk or with POST /v1/handoffs/{handoff_id}/reply: the answer reaches them by email, in their thread.\n"));
        body.push_str(appendix);
        Outgoing {
            from: self.config.store_address.clone(),
            from_name: Some(self.store.name.clone()),
            to: self.config.helpdesk_address.clone(),
            reply_to: Some(customer.to_string()),
            subject: format!(
                "[{handoff_id}] {label}{}",
                if mail.subject.is_empty() {
                    "Customer email"
                } else {
                    &mail.subject
                }
            ),
            message_id: thread::new_message_id(self.store_domain()),
            in_reply_to: None,
            references: vec![],
            text: body,
            automatic: true,
        }
    }

    /// A person's reply to an email conversation, sent to the customer under their latest mail
    /// (from the desk's page or the API alike), with what became of it. `Ok(None)` when the
    /// conversation did not come by email.
    pub async fn send_agent_reply(
        &self,
        assistant: &Assistant,
        reply: &crate::desk::Delivered,
    ) -> Result<Option<(Outgoing, Dispatch)>, EmailError> {
        let (conversation_id, text) = (
            reply.conversation_id.as_str(),
            reply.turn.turn.text.as_str(),
        );
        let agent = reply
            .turn
            .turn
            .detail
            .agent
            .as_deref()
            .unwrap_or(crate::desk::DEFAULT_AGENT);
        let Some(last) = assistant.journal.last_inbound_email(conversation_id)? else {
            return Ok(None);
        };
        let subject = thread::reply_subject(&last.subject);
        let references = thread::reply_references(&last.references, &last.message_id);
        let mail = Outgoing {
            from: self.config.store_address.clone(),
            from_name: Some(self.store.name.clone()),
            to: last.customer_address.clone(),
            reply_to: None,
            subject: subject.clone(),
            message_id: thread::new_message_id(self.store_domain()),
            in_reply_to: Some(last.message_id.clone()),
            references: references.clone(),
            text: format!("{}\n\n{agent}, {}", text.trim(), self.store.name),
            automatic: false,
        };
        assistant.journal.record_email(&EmailRecord {
            message_id: mail.message_id.clone(),
            conversation_id: conversation_id.into(),
            direction: "out".into(),
            customer_address: last.customer_address,
            subject,
            references,
        })?;
        let delivery = self
            .send(&assistant.journal, conversation_id, &mail)
            .await?;
        Ok(Some((mail, delivery)))
    }
}
