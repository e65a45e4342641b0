//! One turn of a conversation: understand → verify → retrieve / look up the order → compose →
//! gate → journal. Every channel (HTTP, widget, email, CLI) calls [`Assistant::handle`]; none has
//! answering logic of its own.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    actions::{Flow, Guide},
    answer::{
        compose::{self, Voice},
        gate, Citation, Handoff, HandoffReason, OrderCard,
    },
    config::Config,
    index::{Hit, SearchOptions},
    journal::{
        Conversation, ConversationState, Exchange, HandoffPacket, Journal, JournalError,
        PacketIdentity, PacketIntent, PacketLine, PacketPassage, TurnDetail, TurnRecord,
        PACKET_VERSION,
    },
    orders::{Order, OrderError, OrderStore},
    retrieve::{RetrieveError, Retriever},
    understand::{Intent, UnderstandError, Understander, Understanding},
    verify::{self, Claim, Verdict, WindowCounter},
};

/// Longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// A customer's message as a channel hands it over.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Question {
    pub conversation_id: Option<String>,
    pub channel: String,
    pub message: String,
    /// What the channel knows of the customer (a logged-in shopper's signed token).
    pub customer: Option<CustomerHint>,
    /// Where the customer is asking from (a product page).
    pub context: Option<PageContext>,
    /// The client's address, for rate limits (set by the channel, never by the customer).
    #[serde(skip)]
    pub client: Option<String>,
    /// The sender's address as the email channel vouches for it (the From of a mail whose
    /// Authentication-Results did not fail). It stands where a customer would type their email:
    /// the email half of "order number + email", or the email alone where the policy allows.
    /// Set by the channel, never by an HTTP client.
    #[serde(skip)]
    pub sender_email: Option<String>,
}

impl Question {
    /// The key the per-address limits count this message under.
    fn client_key(&self) -> String {
        format!("client:{}", self.client.as_deref().unwrap_or("local"))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CustomerHint {
    /// Only trusted together with a valid token.
    pub email: Option<String>,
    pub token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageContext {
    pub product_id: Option<String>,
    pub page_url: Option<String>,
}

/// The assistant's answer to one message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Answer {
    /// Send it with the next message to continue the conversation.
    pub conversation_id: String,
    pub reply: String,
    pub intent: Option<String>,
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub confidence: f32,
    pub citations: Vec<Citation>,
    /// The order facts the reply showed.
    pub order: Option<OrderCard>,
    /// Guided actions proposed or carried out on this turn (a return, a cancellation…).
    pub actions: Vec<serde_json::Value>,
    /// The hand-off this message caused (only on the turn it happened).
    pub handoff: Option<Handoff>,
    /// The conversation is with a person now (handed off on this turn or earlier): the reply
    /// says so, and a person answers later messages.
    pub with_person: bool,
    /// The reply stated a change and waits for a yes or a no (channels offer confirm buttons).
    pub awaiting_confirmation: bool,
}

/// Conversation ids: 1–64 letters, digits, '-' or '_' (they appear in URLs and logs).
pub fn valid_conversation_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    #[error("message is empty")]
    EmptyMessage,
    #[error("message is longer than {MAX_MESSAGE_CHARS} characters")]
    MessageTooLong,
    #[error("conversation_id must be 1–64 letters, digits, '-' or '_'")]
    BadConversationId,
    #[error("channel must be one of api, widget, email, cli")]
    BadChannel,
    /// A conversation id the server never issued: ids are chosen by the server, so a client
    /// cannot fix one in advance (conversation fixation) or guess its way into another's.
    #[error("no such conversation: send no conversation_id to start one")]
    ConversationNotFound,
    #[error(transparent)]
    Retrieve(#[from] RetrieveError),
    #[error(transparent)]
    Understand(#[from] UnderstandError),
    #[error(transparent)]
    Orders(#[from] OrderError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("worker stopped: {0}")]
    Worker(String),
    /// Too many failed identity checks from this conversation, client address or against this
    /// order: refused outright (HTTP 429) until the oldest failure leaves the window. A refusal
    /// is not a hand-off, so failed guesses cannot fill the team's queue.
    #[error("{message}")]
    VerificationLimited {
        retry_after_secs: u64,
        message: String,
    },
    /// This client (or everyone together) opened as many hand-offs as `handoff.*` allows in
    /// the last hour: refused (HTTP 429) rather than queued.
    #[error("{message}")]
    HandoffLimited {
        retry_after_secs: u64,
        message: String,
    },
}

impl AssistantError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyMessage => "empty_message",
            Self::MessageTooLong => "message_too_long",
            Self::BadConversationId => "invalid_conversation_id",
            Self::BadChannel => "invalid_channel",
            Self::ConversationNotFound => "conversation_not_found",
            Self::Retrieve(_) => "retrieval_failed",
            Self::Understand(_) => "understanding_failed",
            Self::Orders(_) => "order_store_failed",
            Self::Journal(_) => "journal_failed",
            Self::Worker(_) => "internal",
            Self::VerificationLimited { .. } => "verification_limited",
            Self::HandoffLimited { .. } => "handoff_limited",
        }
    }

    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::EmptyMessage
                | Self::MessageTooLong
                | Self::BadConversationId
                | Self::BadChannel
                | Self::ConversationNotFound
        )
    }
}

/// Intents answered from order data, so they need a verified customer.
fn needs_order(intent: Intent) -> bool {
    matches!(
        intent,
        Intent::OrderStatus
            | Intent::RefundStatus
            | Intent::CancelOrder
            | Intent::ChangeOrder
            | Intent::ChangeAddress
            | Intent::ReturnRequest
            | Intent::ExchangeRequest
            | Intent::RefundRequest
    )
}

/// The shared services a turn uses.
pub struct Assistant {
    pub config: Config,
    pub retriever: Retriever,
    pub understander: Arc<Understander>,
    pub orders: Arc<dyn OrderStore>,
    pub journal: Arc<Journal>,
    /// Guided actions and the policy they follow.
    pub guide: Arc<Guide>,
    /// Where orders live when not in `orders` itself: a turn about an order re-reads it from
    /// here into `orders` first (see [`crate::platform::refresh`]).
    pub platform: Option<Arc<dyn crate::platform::Platform>>,
    /// Failed identity checks per conversation, client address and order number (keys are
    /// prefixed with which), in one sliding window.
    failures: WindowCounter,
    /// New hand-offs in the last hour, per client address and in all ("all").
    handoffs: WindowCounter,
    /// Turns being answered, per conversation (see [`TurnLocks`]).
    turn_locks: TurnLocks,
    /// `store.currency`: what order amounts in replies are written in.
    currency: crate::money::Currency,
}

/// One turn at a time per conversation. A turn reads the conversation's state, awaits model
/// work, and writes the state back: two messages of one conversation answered at once would
/// each start from the same state and one update would be lost (and their turns could
/// interleave). Messages of different conversations never wait for each other. Entries live only
/// while a turn holds or waits for them.
#[derive(Default)]
struct TurnLocks(
    parking_lot::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
);

/// Held for the length of a turn; gives the conversation's entry back when the last holder goes.
struct TurnGuard<'a> {
    locks: &'a TurnLocks,
    id: String,
    lock: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl TurnLocks {
    async fn lock(&self, id: &str) -> TurnGuard<'_> {
        let lock = self.0.lock().entry(id.to_string()).or_default().clone();
        TurnGuard {
            locks: self,
            id: id.to_string(),
            lock: Some(lock.lock_owned().await),
        }
    }
}

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.locks.0.lock();
        drop(self.lock.take());
        // Only the map's own reference left: nobody holds or awaits this conversation.
        if map.get(&self.id).is_some_and(|l| Arc::strong_count(l) == 1) {
            map.remove(&self.id);
        }
    }
}

/// What one part of a reply produced.
#[derive(Default)]
struct Part {
    text: String,
    citations: Vec<Citation>,
    order: Option<OrderCard>,
    handoff: Option<HandoffReason>,
    /// Scores and decisions for the log.
    gate: Option<serde_json::Value>,
    hits: Vec<Hit>,
    /// Guided actions proposed, executed or refused.
    actions: Vec<serde_json::Value>,
    /// The turn did not move the conversation forward (unclear, unanswerable).
    failed: bool,
    /// A help-centre answer that passed the gate only just (`learn.low_confidence_dense`).
    low_confidence: bool,
}

impl Part {
    fn text(t: impl Into<String>) -> Self {
        Self {
            text: t.into(),
            ..Default::default()
        }
    }
}

impl Assistant {
    /// The policy's identity methods decide which identity checks run.
    pub fn new(
        mut config: Config,
        retriever: Retriever,
        understander: Arc<Understander>,
        orders: Arc<dyn OrderStore>,
        journal: Journal,
        guide: Guide,
    ) -> Self {
        guide.policy.apply_identity(&mut config.identity);
        let window = std::time::Duration::from_secs(config.identity.failure_window_secs);
        let currency = config.store.currency();
        Self {
            config,
            retriever,
            understander,
            orders,
            journal: Arc::new(journal),
            guide: Arc::new(guide),
            platform: None,
            failures: WindowCounter::new(window),
            handoffs: WindowCounter::new(Duration::from_secs(3600)),
            turn_locks: TurnLocks::default(),
            currency,
        }
    }

    /// Answers from, and carries changes out on, `platform` (an embedded one changes nothing:
    /// its orders are `orders`).
    pub fn with_platform(mut self, platform: Arc<dyn crate::platform::Platform>) -> Self {
        if platform.is_embedded() {
            return self;
        }
        let guide = (*self.guide).clone().with_platform(platform.clone());
        self.guide = Arc::new(guide);
        self.platform = Some(platform);
        self
    }

    /// Re-reads from the platform what this turn may look at: the orders named so far, the
    /// offered email's customer, the verified customer's orders. A platform that does not answer
    /// leaves the last copy in place (logged): reads degrade, writes are refused at execution.
    async fn refresh(&self, u: &Understanding, state: &ConversationState) {
        let Some(platform) = self.platform.clone() else {
            return;
        };
        let mut want = crate::platform::Want {
            email: state.pending_email.clone(),
            customer_id: state.customer_id.clone(),
            ..Default::default()
        };
        want.order_numbers
            .extend(u.entities.order_numbers.iter().cloned());
        want.order_numbers
            .extend(state.pending_order.iter().cloned());
        want.order_numbers
            .extend(state.order_in_focus.iter().cloned());
        want.order_numbers.dedup();
        if want.order_numbers.is_empty() && want.email.is_none() && want.customer_id.is_none() {
            return;
        }
        let orders = self.orders.clone();
        let started = Instant::now();
        match tokio::task::spawn_blocking(move || {
            crate::platform::refresh(platform.as_ref(), orders.as_ref(), &want)
        })
        .await
        {
            Ok(Ok(r)) => tracing::debug!(
                orders = r.orders,
                customers = r.customers,
                ms = started.elapsed().as_millis() as u64,
                "re-read from the store platform"
            ),
            Ok(Err(e)) => {
                tracing::warn!(code = e.code(), error = %e, "could not re-read from the store platform; answering from the last copy")
            }
            Err(e) => tracing::warn!(error = %e, "platform refresh stopped"),
        }
    }

    /// Answers one message.
    pub async fn handle(self: &Arc<Self>, mut q: Question) -> Result<Answer, AssistantError> {
        let started = Instant::now();
        let message = q.message.trim().to_string();
        if message.is_empty() {
            return Err(AssistantError::EmptyMessage);
        }
        if message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(AssistantError::MessageTooLong);
        }
        if !matches!(q.channel.as_str(), "api" | "widget" | "email" | "cli") {
            return Err(AssistantError::BadChannel);
        }
        // Journal reads run on the blocking pool; the exchange's writes go in the database's
        // next group commit, once the answer is known (see `storage`).
        let (conversation_id, mut conversation, first_turn, stored, _turn) =
            match &q.conversation_id {
                Some(id) if !valid_conversation_id(id) => {
                    return Err(AssistantError::BadConversationId)
                }
                Some(id) => {
                    // Taken before the state is read, held until it is written back.
                    let turn = self.turn_locks.lock(id).await;
                    match self.journal.conversation_opening(id).await? {
                        Some((c, has_turns)) => (id.clone(), c, !has_turns, true, Some(turn)),
                        None => return Err(AssistantError::ConversationNotFound),
                    }
                }
                None => {
                    // A new id is known to nobody else yet: no other turn can race this one. The
                    // conversation is written with its first exchange.
                    let id = format!("c_{}", uuid::Uuid::new_v4().simple());
                    let at = crate::journal::now();
                    let c = Conversation {
                        id: id.clone(),
                        channel: q.channel.clone(),
                        created_at: at.clone(),
                        updated_at: at,
                        state: ConversationState::default(),
                    };
                    (id, c, true, false, None)
                }
            };
        // Set while the conversation is not in the journal yet.
        let new_channel = (!stored).then(|| q.channel.clone());
        // From here on the question carries the id it is answered in (the action log records it).
        q.conversation_id = Some(conversation_id.clone());

        // A conversation with a person stays with the person.
        if conversation.state.handed_off {
            let reply = Voice::new(&self.config.store).with_person();
            let turns = [
                TurnRecord {
                    conversation_id: conversation_id.clone(),
                    role: "customer".into(),
                    text: message.clone(),
                    intent: None,
                    confidence: None,
                    detail: TurnDetail::new(),
                    latency_ms: None,
                },
                TurnRecord {
                    conversation_id: conversation_id.clone(),
                    role: "assistant".into(),
                    text: reply.clone(),
                    intent: None,
                    confidence: None,
                    detail: TurnDetail {
                        with_person: true,
                        ..TurnDetail::new()
                    },
                    latency_ms: Some(started.elapsed().as_millis() as u64),
                },
            ];
            self.journal
                .commit_exchange(Exchange {
                    conversation_id: conversation_id.clone(),
                    new_channel: None,
                    state: conversation.state.clone(),
                    outcome: "handoff".into(),
                    turns: turns.to_vec(),
                })
                .await?;
            return Ok(Answer {
                conversation_id,
                reply,
                intent: None,
                confidence: 1.0,
                citations: vec![],
                order: None,
                actions: vec![],
                handoff: None,
                with_person: true,
                awaiting_confirmation: false,
            });
        }

        let understanding = self.understand(&message).await?;
        let mut state = conversation.state.clone();
        let part = self
            .respond(&q, &message, &understanding, &mut state, first_turn)
            .await?;

        let voice = Voice::new(&self.config.store);
        let mut reply = part.text.clone();
        let mut handoff = None;
        if part.failed {
            state.failed_turns += 1;
        } else {
            state.failed_turns = 0;
        }
        let mut reason = part.handoff.clone();
        if reason.is_none() && state.failed_turns >= 2 {
            reason = Some(HandoffReason::RepeatedFailure);
        }
        let outcome;
        if let Some(reason) = reason {
            self.admit_handoff(&q)?;
            let packet = self.packet(
                &conversation_id,
                &message,
                &understanding,
                &state,
                &part,
                &reason,
            )?;
            if new_channel.is_some() {
                // The hand-off refers to its conversation, so a first turn that hands off
                // starts the conversation now rather than with the exchange.
                self.journal.create(&conversation_id, &q.channel)?;
            }
            let id = self.journal.open_handoff(&packet)?;
            crate::webhook::queue(&self.config.webhook, &self.journal, &id)?;
            reply = if reply.is_empty() {
                voice.handed_off(&id)
            } else {
                format!("{reply}\n\n{}", voice.handed_off(&id))
            };
            state.handed_off = true;
            handoff = Some(Handoff { id, reason });
            outcome = "handoff";
        } else {
            outcome = if part.failed {
                "unresolved"
            } else {
                "answered"
            };
        }
        conversation.state = state;

        let answer = Answer {
            conversation_id: conversation_id.clone(),
            reply,
            intent: Some(understanding.intent.as_str().to_string()),
            confidence: understanding.confidence,
            citations: part.citations.clone(),
            order: part.order.clone(),
            actions: part.actions.clone(),
            handoff,
            with_person: conversation.state.handed_off,
            awaiting_confirmation: !conversation.state.handed_off
                && crate::actions::awaits_confirmation(conversation.state.flow.as_ref()),
        };
        let latency = started.elapsed().as_millis() as u64;
        let turns = [
            TurnRecord {
                conversation_id: conversation_id.clone(),
                role: "customer".into(),
                text: message.clone(),
                intent: Some(understanding.intent.as_str().to_string()),
                confidence: Some(understanding.confidence),
                detail: TurnDetail {
                    understanding: serde_json::to_value(&understanding).ok(),
                    channel: Some(q.channel.clone()),
                    ..TurnDetail::new()
                },
                latency_ms: None,
            },
            TurnRecord {
                conversation_id: conversation_id.clone(),
                role: "assistant".into(),
                text: answer.reply.clone(),
                intent: answer.intent.clone(),
                confidence: Some(answer.confidence),
                detail: TurnDetail {
                    citations: answer.citations.clone(),
                    gate: part.gate.clone(),
                    order: answer.order.clone(),
                    actions: answer.actions.clone(),
                    handoff: answer.handoff.clone(),
                    awaiting_confirmation: answer.awaiting_confirmation,
                    ..TurnDetail::new()
                },
                latency_ms: Some(latency),
            },
        ];
        self.journal
            .commit_exchange(Exchange {
                conversation_id: conversation_id.clone(),
                new_channel,
                state: conversation.state.clone(),
                outcome: outcome.into(),
                turns: turns.into(),
            })
            .await?;
        self.remember_gap(
            &conversation_id,
            &message,
            &understanding,
            &answer,
            part.low_confidence,
        );
        Ok(answer)
    }

    /// A question the knowledge base could not answer well feeds the suggestions (`learn`):
    /// handed off for weak grounding or after repeated failure, or answered only just. Hand-offs
    /// for other reasons (a person asked for, a sensitive topic, an order change) are not gaps
    /// in the knowledge base. Remembering is best effort: it never fails the customer's answer.
    fn remember_gap(
        &self,
        conversation_id: &str,
        message: &str,
        u: &Understanding,
        answer: &Answer,
        low_confidence: bool,
    ) {
        if !self.config.learn.enabled || u.vector.is_empty() {
            return;
        }
        let reason = match &answer.handoff {
            Some(h)
                if matches!(
                    h.reason,
                    HandoffReason::WeakGrounding { .. } | HandoffReason::RepeatedFailure
                ) =>
            {
                h.reason.code()
            }
            None if low_confidence => "low_confidence",
            _ => return,
        };
        let gap = crate::learn::Gap {
            conversation_id,
            question: message,
            reason,
            intent: answer.intent.as_deref(),
            vector: &u.vector,
        };
        if let Err(e) = crate::learn::record(&self.journal, &self.config.learn, &gap) {
            tracing::warn!(error = %e, "could not remember an unanswered question");
        }
    }

    async fn understand(&self, message: &str) -> Result<Understanding, AssistantError> {
        let text = message.to_string();
        let understander = self.understander.clone();
        let embedder = self.retriever.embedder().clone();
        self.retriever
            .run_model(move || understander.understand(embedder.as_ref(), &text))
            .await
            .map_err(AssistantError::from)?
            .map_err(Into::into)
    }

    /// Decides what to say (before the repeated-failure rule and hand-off packaging).
    async fn respond(
        &self,
        q: &Question,
        message: &str,
        u: &Understanding,
        state: &mut ConversationState,
        first_turn: bool,
    ) -> Result<Part, AssistantError> {
        let voice = Voice::new(&self.config.store);
        if let Some(s) = &u.sensitive {
            return Ok(Part {
                handoff: Some(HandoffReason::Sensitive {
                    kind: serde_json::to_value(s.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    matched: s.matched.clone(),
                }),
                ..Default::default()
            });
        }
        if u.asks_for_human {
            return Ok(Part {
                handoff: Some(HandoffReason::CustomerAsked),
                ..Default::default()
            });
        }

        // Identity: a signed token, or what the customer has told us so far.
        self.update_identity(q, u, state)?;
        // Orders on a store platform are read fresh before anything looks at them.
        self.refresh(u, state).await;

        // A guided action waiting on this reply, or a request to change something.
        if let Some(part) = self.guided(q, message, u, state).await? {
            return Ok(part);
        }

        // A reply to our request for details resumes the question that was waiting on them.
        let resumed = state
            .pending_intent
            .as_deref()
            .and_then(|s| s.parse::<Intent>().ok())
            .filter(|_| {
                !u.entities.order_numbers.is_empty()
                    || !u.entities.emails.is_empty()
                    || !u.entities.postcodes.is_empty()
            });
        let follow_up = state.order_in_focus.is_some()
            && matches!(u.intent, Intent::DeliveryInfo)
            && mentions_own_order(message);
        let mut intents: Vec<Intent> = if let Some(i) = resumed.filter(|_| {
            u.confidence < 0.9 || !needs_order(u.intent) || u.intent == Intent::OrderStatus
        }) {
            vec![i]
        } else if follow_up {
            vec![Intent::OrderStatus]
        } else {
            let mut v: Vec<Intent> = u.requests.iter().map(|r| r.intent).collect();
            if v.is_empty() {
                v.push(u.intent);
            }
            v
        };
        // "When will order LF-100001 arrive?" is about that order, not shipping in general.
        for i in intents.iter_mut() {
            if *i == Intent::DeliveryInfo
                && (!u.entities.order_numbers.is_empty()
                    || mentions_own_order(message) && state.order_in_focus.is_some())
            {
                *i = Intent::OrderStatus;
            }
        }
        intents.dedup();

        if resumed.is_none()
            && u.confidence < self.config.gate.min_intent_confidence
            && u.requests.len() <= 1
        {
            // Unsure what they want. A question whose words strongly match a help-centre passage
            // is still answered from it; anything else gets a clarifying question, never a
            // guess at an order action.
            let clarify = Part {
                text: voice.clarify(),
                failed: true,
                gate: Some(
                    json!({"decision": "clarify", "intent_confidence": u.confidence, "margin": u.margin}),
                ),
                ..Default::default()
            };
            let about_an_order = needs_order(u.intent) && !u.entities.order_numbers.is_empty();
            if about_an_order
                || matches!(
                    u.intent,
                    Intent::Greeting | Intent::ContactHuman | Intent::Complaint
                )
            {
                return Ok(clarify);
            }
            let part = self.kb_answer(message, None, Some(u.intent)).await?;
            return Ok(if part.handoff.is_some() {
                clarify
            } else {
                part
            });
        }

        let mut parts = Vec::new();
        for intent in intents {
            parts.push(self.respond_to(intent, q, message, u, state).await?);
        }
        let mut combined = Part::default();
        let mut texts = Vec::new();
        if first_turn
            && parts.iter().all(|p| p.handoff.is_none())
            && !matches!(u.intent, Intent::Greeting)
        {
            texts.push(voice.greeting());
        }
        combined.failed = !parts.is_empty() && parts.iter().all(|p| p.failed);
        let mut gates = Vec::new();
        for p in parts {
            if !p.text.is_empty() {
                texts.push(p.text);
            }
            combined.citations.extend(p.citations);
            combined.order = combined.order.or(p.order);
            combined.handoff = combined.handoff.or(p.handoff);
            combined.hits.extend(p.hits);
            if let Some(g) = p.gate {
                gates.push(g);
            }
        }
        combined.text = texts.join("\n\n");
        combined.gate = Some(json!(gates));
        Ok(combined)
    }

    fn update_identity(
        &self,
        q: &Question,
        u: &Understanding,
        state: &mut ConversationState,
    ) -> Result<(), AssistantError> {
        if let Some(token) = q.customer.as_ref().and_then(|c| c.token.as_deref()) {
            let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
            if let Some(id) = verify::verify_token(&self.config.identity.token_secret, token, now) {
                state.customer_id = Some(id.customer_id);
                state.verified_by = Some(id.method.as_str().into());
            }
        }
        if let Some(n) = u.entities.order_numbers.first() {
            state.pending_order = Some(n.clone());
        }
        if let Some(e) = u.entities.emails.first() {
            state.pending_email = Some(e.clone());
        } else if state.pending_email.is_none() {
            // A failed check clears the pending email, so a mail's own From is offered again on
            // the next turn, under the same failure limits as a typed one.
            state.pending_email = q.sender_email.clone();
        }
        Ok(())
    }

    /// Counts a new hand-off against the hourly caps, or refuses it when a cap is reached.
    fn admit_handoff(&self, q: &Question) -> Result<(), AssistantError> {
        let cfg = &self.config.handoff;
        let client_key = q.client_key();
        let waits = [
            self.handoffs
                .retry_after(&client_key, cfg.max_per_client_per_hour as usize),
            self.handoffs.retry_after("all", cfg.max_per_hour as usize),
        ];
        if let Some(wait) = waits.into_iter().flatten().max() {
            let retry_after_secs = wait.as_secs().max(1);
            let message = Voice::new(&self.config.store).handoffs_limited(retry_after_secs);
            return Err(AssistantError::HandoffLimited {
                retry_after_secs,
                message,
            });
        }
        self.handoffs.record(&client_key);
        self.handoffs.record("all");
        Ok(())
    }

    /// Verifies what the customer offered; returns the verdict (recording failures), or
    /// [`AssistantError::VerificationLimited`] when this conversation, client or order has had
    /// too many failed checks.
    fn try_verify(
        &self,
        q: &Question,
        u: &Understanding,
        state: &mut ConversationState,
    ) -> Result<Verdict, AssistantError> {
        let cfg = &self.config.identity;
        let client_key = q.client_key();
        let order_key = state
            .pending_order
            .as_deref()
            .map(|n| format!("order:{}", crate::orders::normalise_order_number(n)));
        let conversation_key = format!(
            "conversation:{}",
            q.conversation_id.as_deref().unwrap_or_default()
        );
        let waits = [
            self.failures.retry_after(
                &conversation_key,
                cfg.max_failures_per_conversation as usize,
            ),
            self.failures
                .retry_after(&client_key, cfg.max_failures_per_client as usize),
            order_key.as_deref().and_then(|k| {
                self.failures
                    .retry_after(k, cfg.max_failures_per_order as usize)
            }),
        ];
        if let Some(wait) = waits.into_iter().flatten().max() {
            // The refused claim is forgotten, as after a failure, so it is not retried by itself.
            state.pending_order = None;
            state.pending_email = None;
            let retry_after_secs = wait.as_secs().max(1);
            let message = Voice::new(&self.config.store).verification_limited(retry_after_secs);
            return Err(AssistantError::VerificationLimited {
                retry_after_secs,
                message,
            });
        }
        let (first_name, last_name) = match u
            .entities
            .names
            .first()
            .map(|n| n.split_whitespace().collect::<Vec<_>>())
        {
            Some(parts) if parts.len() >= 2 => (
                Some(parts[0].to_string()),
                Some(parts[parts.len() - 1].to_string()),
            ),
            _ => (None, None),
        };
        let claim = Claim {
            order_number: state.pending_order.clone(),
            email: state.pending_email.clone(),
            postcode: u.entities.postcodes.first().cloned(),
            first_name,
            last_name,
            user_id: u.entities.user_ids.first().cloned(),
            more_emails: u.entities.emails.iter().skip(1).cloned().collect(),
        };
        let verdict = verify::check(self.orders.as_ref(), cfg, &claim)
            .map_err(|verify::VerifyError::Orders(e)| AssistantError::Orders(e))?;
        match &verdict {
            Verdict::Verified(id) => {
                state.customer_id = Some(id.customer_id.clone());
                state.verified_by = Some(id.method.as_str().into());
                // An account-level check (email alone, a user id) verifies the person, not the
                // order number they typed: only an order they own comes into focus, so another
                // customer's order never reaches a reply, a packet or the desk.
                if let Some(number) = &claim.order_number {
                    if self
                        .orders
                        .order(number)?
                        .is_some_and(|o| o.customer_id == id.customer_id)
                    {
                        state.order_in_focus = Some(number.clone());
                    }
                }
            }
            Verdict::Failed => {
                state.failed_verifications += 1;
                self.failures.record(&client_key);
                self.failures.record(&conversation_key);
                if let Some(k) = &order_key {
                    self.failures.record(k);
                }
                // Forget the failed claim so the next attempt starts clean.
                state.pending_order = None;
                state.pending_email = None;
            }
            _ => {}
        }
        Ok(verdict)
    }

    /// Guided actions (see [`crate::actions`]): runs when a flow is waiting on the customer or
    /// the message asks to return, exchange, cancel or change something. `None` leaves the
    /// message to the rest of `respond`.
    async fn guided(
        &self,
        q: &Question,
        message: &str,
        u: &Understanding,
        state: &mut ConversationState,
    ) -> Result<Option<Part>, AssistantError> {
        let flow: Option<Flow> = state
            .flow
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        // The intent model, or a plain request verb next to an order number or an identity (the
        // model can be unsure of a long, many-part request).
        let names_something = !u.entities.order_numbers.is_empty()
            || !u.entities.emails.is_empty()
            || !u.entities.user_ids.is_empty()
            || state.customer_id.is_some();
        let asks = is_action(u.intent)
            || u.requests.iter().any(|r| is_action(r.intent))
            || names_something && crate::actions::read::asks_for_operation(message);
        if flow.is_none() && !asks {
            return Ok(None);
        }
        if state.customer_id.is_none() {
            let voice = Voice::new(&self.config.store);
            let request = match &flow {
                Some(f) => format!("{}\n{message}", f.request),
                None => message.to_string(),
            };
            match self.try_verify(q, u, state)? {
                Verdict::Verified(_) => {}
                Verdict::Incomplete => {
                    state.flow = serde_json::to_value(Flow::awaiting_identity(&request)).ok();
                    let ask = self.guide.ask_identity();
                    // "Can I return these earrings?" is also a policy question: on the first ask,
                    // answer what the help centre says (when it is well grounded), then ask for
                    // what the order needs.
                    if flow.is_none() {
                        let part = self.kb_answer(message, None, Some(u.intent)).await?;
                        if part.handoff.is_none() && !part.failed && !part.citations.is_empty() {
                            return Ok(Some(Part {
                                text: format!("{}\n\n{ask}", part.text),
                                ..part
                            }));
                        }
                    }
                    return Ok(Some(Part {
                        text: ask,
                        gate: Some(json!({"decision": "verify"})),
                        ..Default::default()
                    }));
                }
                Verdict::Failed => {
                    state.flow = serde_json::to_value(Flow::awaiting_identity(&request)).ok();
                    return Ok(Some(Part {
                        text: voice.verification_failed(self.config.identity.allow_order_postcode),
                        gate: Some(json!({"decision": "verification_failed"})),
                        ..Default::default()
                    }));
                }
            }
        }
        let customer = state.customer_id.clone().expect("verified above");
        let (guide, orders, conversation, text) = (
            self.guide.clone(),
            self.orders.clone(),
            state_conversation(q),
            message.to_string(),
        );
        let now = time::OffsetDateTime::now_utc();
        let turn = tokio::task::spawn_blocking(move || {
            guide.turn(orders.as_ref(), &customer, &conversation, &text, flow, now)
        })
        .await
        .map_err(|e| AssistantError::Worker(e.to_string()))?
        .map_err(|e| match e {
            crate::actions::ActionError::Orders(o) => AssistantError::Orders(o),
            other => AssistantError::Worker(other.to_string()),
        })?;
        let Some(turn) = turn else {
            state.flow = None;
            return Ok(None);
        };
        state.flow = turn
            .flow
            .as_ref()
            .and_then(|f| serde_json::to_value(f).ok());
        state.pending_intent = None;
        if let Some(n) = &turn.order {
            state.order_in_focus = Some(n.clone());
        }
        let order = match &turn.order {
            Some(n) => self
                .orders
                .order(n)?
                .filter(|o| Some(&o.customer_id) == state.customer_id.as_ref())
                .map(|o| compose::order_card(&o, self.currency)),
            None => None,
        };
        Ok(Some(Part {
            text: turn.text,
            order,
            actions: turn.actions,
            handoff: turn
                .handoff
                .map(|detail| HandoffReason::OutsidePolicy { detail }),
            gate: Some(json!({"decision": "guided_action"})),
            ..Default::default()
        }))
    }

    /// The verified customer's order for this turn: named in the message, else the one in focus,
    /// else their only recent order. `Err(Part)` carries the reply when there is none to show.
    fn order_for_turn(
        &self,
        u: &Understanding,
        state: &mut ConversationState,
    ) -> Result<Result<Order, Part>, AssistantError> {
        let voice = Voice::new(&self.config.store);
        let customer_id = state.customer_id.clone().expect("verified");
        let wanted = u
            .entities
            .order_numbers
            .first()
            .cloned()
            .or_else(|| state.order_in_focus.clone());
        if let Some(number) = wanted {
            return Ok(match self.orders.order(&number)? {
                // Another customer's order gets the same reply as a wrong guess.
                Some(o) if o.customer_id == customer_id => {
                    state.order_in_focus = Some(o.number.clone());
                    Ok(o)
                }
                _ => Err(Part {
                    text: voice.verification_failed(self.config.identity.allow_order_postcode),
                    failed: true,
                    ..Default::default()
                }),
            });
        }
        let orders = self.orders.orders_for_customer(&customer_id)?;
        Ok(match orders.as_slice() {
            [] => Err(Part::text("I couldn't find any orders on your account.")),
            [one] => {
                state.order_in_focus = Some(one.number.clone());
                Ok(one.clone())
            }
            many => {
                let list: Vec<String> = many
                    .iter()
                    .take(5)
                    .map(|o| format!("{} ({})", o.number, o.status.label().to_lowercase()))
                    .collect();
                Err(Part::text(format!(
                    "Which order do you mean? Your most recent orders are: {}.",
                    list.join(", ")
                )))
            }
        })
    }

    async fn respond_to(
        &self,
        intent: Intent,
        q: &Question,
        message: &str,
        u: &Understanding,
        state: &mut ConversationState,
    ) -> Result<Part, AssistantError> {
        let voice = Voice::new(&self.config.store);
        if needs_order(intent) {
            if state.customer_id.is_none() {
                match self.try_verify(q, u, state)? {
                    Verdict::Verified(_) => {}
                    Verdict::Incomplete => {
                        state.pending_intent = Some(intent.as_str().to_string());
                        let ask = if state.pending_order.is_some() {
                            voice.ask_for_contact_detail(self.config.identity.allow_order_postcode)
                        } else {
                            voice.ask_for_identity(self.config.identity.allow_order_postcode)
                        };
                        // "Can I swap these trousers for a bigger size?" is also a policy question:
                        // answer what the help centre says, then ask for what the order needs.
                        let mut part = self.kb_answer(message, None, Some(intent)).await?;
                        if part.handoff.is_some() {
                            return Ok(Part {
                                text: ask,
                                gate: Some(json!({"decision": "verify"})),
                                ..Default::default()
                            });
                        }
                        part.text = format!("{}\n\n{ask}", part.text);
                        return Ok(part);
                    }
                    Verdict::Failed => {
                        // Not a failed turn: the limit on verification attempts governs these.
                        state.pending_intent = Some(intent.as_str().to_string());
                        return Ok(Part {
                            text: voice
                                .verification_failed(self.config.identity.allow_order_postcode),
                            gate: Some(json!({"decision": "verification_failed"})),
                            ..Default::default()
                        });
                    }
                }
            }
            state.pending_intent = None;
            let order = match self.order_for_turn(u, state)? {
                Ok(o) => o,
                Err(part) => return Ok(part),
            };
            let card = compose::order_card(&order, self.currency);
            return Ok(match intent {
                Intent::OrderStatus => {
                    let text = if asks_when(message) {
                        compose::delivery_reply(&order, self.currency)
                    } else {
                        compose::order_status_reply(&order, self.currency)
                    };
                    Part {
                        text,
                        order: Some(card),
                        gate: Some(json!({"decision": "answer", "source": "order"})),
                        ..Default::default()
                    }
                }
                Intent::RefundStatus => match compose::refund_status_reply(&order, self.currency) {
                    Some(text) => Part {
                        text,
                        order: Some(card),
                        ..Default::default()
                    },
                    None => {
                        // No refund on record: say so from the data, and quote refund timing.
                        let mut p = self
                            .kb_answer("how long do refunds take", None, None)
                            .await?;
                        p.text = format!(
                            "There's no refund recorded on order {} yet. {}",
                            order.number, p.text
                        );
                        p.order = Some(card);
                        p
                    }
                },
                _ => {
                    // Guided changes are carried out by a person for now, with everything attached.
                    let mut p = self.kb_answer(message, None, None).await?;
                    p.text = format!(
                        "{}\n\n{}",
                        compose::order_status_reply(&order, self.currency),
                        p.text
                    );
                    p.order = Some(card);
                    p.handoff = Some(HandoffReason::ActionRequested {
                        action: intent.as_str().to_string(),
                        order: Some(order.number.clone()),
                    });
                    p.failed = false;
                    p
                }
            });
        }
        Ok(match intent {
            Intent::Greeting => Part::text(voice.welcome()),
            Intent::OutOfScope => {
                // The intent model knows the support taxonomy, not every topic the store's help
                // centre covers (privacy, membership): a strongly grounded passage still answers.
                let p = self.kb_answer(message, None, Some(intent)).await?;
                if p.handoff.is_none() {
                    p
                } else {
                    Part {
                        text: voice.out_of_scope(),
                        gate: Some(json!({"decision": "out_of_scope"})),
                        ..Default::default()
                    }
                }
            }
            Intent::Complaint => Part {
                handoff: Some(HandoffReason::Complaint),
                ..Default::default()
            },
            Intent::Feedback => {
                let mut p = self.kb_answer(message, None, None).await?;
                p.text = if p.handoff.is_some() {
                    voice.thanks_for_feedback()
                } else {
                    format!("{}\n\n{}", voice.thanks_for_feedback(), p.text)
                };
                p.handoff = None;
                p.failed = false;
                p
            }
            Intent::StockCheck | Intent::ProductQuestion => {
                let product = q.context.as_ref().and_then(|c| c.product_id.clone());
                let mut p = self
                    .kb_answer(message, product.as_deref(), Some(intent))
                    .await?;
                if intent == Intent::StockCheck {
                    if let Some(pid) = &product {
                        if let Some(text) = self.stock_reply(pid)? {
                            p = Part {
                                text,
                                ..Default::default()
                            };
                        }
                    }
                }
                p
            }
            _ => self.kb_answer(message, None, Some(intent)).await?,
        })
    }

    /// Stock from the order store's variants, for a product page question.
    fn stock_reply(&self, product_id: &str) -> Result<Option<String>, AssistantError> {
        let Some(product) = self.orders.product(product_id)? else {
            return Ok(None);
        };
        let (in_stock, out): (Vec<_>, Vec<_>) = product.variants.iter().partition(|v| v.in_stock());
        let label = |v: &&crate::orders::Variant| v.options_label();
        Ok(Some(if out.is_empty() {
            format!(
                "Good news: every option of the {} is in stock.",
                product.name
            )
        } else if in_stock.is_empty() {
            format!(
                "The {} is out of stock in every option right now.",
                product.name
            )
        } else {
            format!(
                "The {} is in stock in: {}. Out of stock: {}.",
                product.name,
                in_stock.iter().map(label).collect::<Vec<_>>().join("; "),
                out.iter().map(label).collect::<Vec<_>>().join("; ")
            )
        }))
    }

    /// A knowledge-base answer, gated on grounding.
    async fn kb_answer(
        &self,
        question: &str,
        product_id: Option<&str>,
        intent: Option<Intent>,
    ) -> Result<Part, AssistantError> {
        let voice = Voice::new(&self.config.store);
        // A product page question searches that product first, then the whole help centre.
        if let Some(pid) = product_id {
            // The answer selector weighs all of the product's candidates, not only the closest,
            // and abstains when none is likely to answer. Without its file: no product answers.
            match crate::answer::select::shared(&self.config.model.models_root) {
                Ok(selector) => {
                    let qvec = self
                        .retriever
                        .embed(vec![question.to_string()])
                        .await?
                        .pop()
                        .unwrap_or_default();
                    let opts = SearchOptions {
                        k: crate::answer::select::CANDIDATES,
                        product_id: Some(pid.to_string()),
                        help_only: false,
                    };
                    let hits = self
                        .retriever
                        .search_with_vector(question, &qvec, &opts)?
                        .hits;
                    let (embedder, q, candidates) = (
                        self.retriever.embedder().clone(),
                        question.to_string(),
                        hits.clone(),
                    );
                    let choice = self
                        .retriever
                        .run_model(move || {
                            selector.select_hits(&q, &qvec, &candidates, embedder.as_ref())
                        })
                        .await?
                        .map_err(RetrieveError::from)?;
                    if let Some(choice) = choice {
                        let top = &hits[choice.index];
                        let (text, citation) = compose::policy_reply(&voice, question, top);
                        let gate_log = json!({"decision": "answer", "source": "product", "probability": choice.probability, "threshold": choice.threshold, "dense": top.dense});
                        return Ok(Part {
                            text,
                            citations: vec![citation],
                            gate: Some(gate_log),
                            hits,
                            ..Default::default()
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "product questions go to the help centre until the answer selector loads")
                }
            }
        }
        // Product pages answer product questions; policy and order questions are answered by the
        // help centre, never by a product page that happens to share words.
        let help_only = !matches!(
            intent,
            None | Some(Intent::ProductQuestion | Intent::StockCheck | Intent::OutOfScope)
        );
        let hits = self
            .retriever
            .search(
                question,
                &SearchOptions {
                    k: 5,
                    product_id: None,
                    help_only,
                },
            )
            .await?
            .hits;
        let grounding = gate::assess(question, &hits, &self.config.gate);
        let gate_log = json!({"decision": if grounding.strong { "answer" } else { "handoff" }, "grounding": grounding, "intent": intent.map(|i| i.as_str())});
        if !grounding.strong {
            return Ok(Part {
                handoff: Some(HandoffReason::WeakGrounding {
                    dense: grounding.dense,
                    bm25: grounding.bm25,
                }),
                gate: Some(gate_log),
                hits,
                failed: true,
                ..Default::default()
            });
        }
        let (text, citation) = compose::policy_reply(&voice, question, &hits[0]);
        let low_confidence = grounding.dense < self.config.learn.low_confidence_dense;
        Ok(Part {
            text,
            citations: vec![citation],
            gate: Some(gate_log),
            hits,
            low_confidence,
            ..Default::default()
        })
    }

    /// Everything a person needs to pick the conversation up.
    fn packet(
        &self,
        conversation_id: &str,
        message: &str,
        u: &Understanding,
        state: &ConversationState,
        part: &Part,
        reason: &HandoffReason,
    ) -> Result<HandoffPacket, AssistantError> {
        let line = |role: &str, text: &str| PacketLine {
            role: role.to_string(),
            text: text.to_string(),
        };
        let transcript: Vec<PacketLine> = self
            .journal
            .turns(conversation_id)?
            .into_iter()
            .map(|t| line(&t.role, &t.text))
            .chain([line("customer", message)])
            .collect();
        // Only an order the verified customer owns goes to the person: the focus is checked when
        // it is set, and again here, because the packet is what the desk shows as theirs.
        let order = match (&state.order_in_focus, &state.customer_id) {
            (Some(n), Some(customer)) => {
                self.orders.order(n)?.filter(|o| &o.customer_id == customer)
            }
            _ => None,
        };
        let passages = part.hits.iter().take(3).map(PacketPassage::from).collect();
        // The draft quotes the best passage when there is one; a person edits before sending.
        let draft = match part.hits.first() {
            Some(h) => compose::policy_reply(&Voice::new(&self.config.store), message, h).0,
            None if !part.text.is_empty() => part.text.clone(),
            None => String::new(),
        };
        Ok(HandoffPacket {
            version: PACKET_VERSION,
            conversation_id: conversation_id.to_string(),
            reason: reason.clone().into(),
            transcript,
            intent: PacketIntent {
                intent: u.intent.as_str().to_string(),
                confidence: u.confidence,
                margin: u.margin,
                ranked: u
                    .ranked
                    .iter()
                    .map(|(i, p)| (i.as_str().to_string(), *p))
                    .collect(),
            },
            entities: u.entities.clone(),
            identity: PacketIdentity {
                customer_id: state.customer_id.clone(),
                verified_by: state.verified_by.clone(),
            },
            order,
            passages,
            gate: part.gate.clone(),
            suggested_reply: draft,
        })
    }
}

/// Intents that ask for a change guided actions carry out.
fn is_action(intent: Intent) -> bool {
    matches!(
        intent,
        Intent::CancelOrder
            | Intent::ChangeOrder
            | Intent::ChangeAddress
            | Intent::ReturnRequest
            | Intent::ExchangeRequest
            | Intent::RefundRequest
    )
}

fn state_conversation(q: &Question) -> String {
    q.conversation_id.clone().unwrap_or_default()
}

fn mentions_own_order(message: &str) -> bool {
    let m = message.to_lowercase();
    [
        "my order",
        "my package",
        "my parcel",
        "my shipment",
        "my delivery",
        "it arrive",
        "it get here",
        "it come",
        "it ship",
        "arrive",
        "get here",
    ]
    .iter()
    .any(|p| m.contains(p))
}

fn asks_when(message: &str) -> bool {
    let m = message.to_lowercase();
    m.contains("when") || m.contains("arrive") || m.contains("how long") || m.contains("eta")
}
