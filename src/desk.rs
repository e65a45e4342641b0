//! The team's side of a hand-off, as far as the channels need it: the open hand-offs, and a
//! person's reply, journaled as an `agent` turn and pushed live to the customer's chat widget.
//!
//! The desk proper: a hand-off's status goes open → claimed (by whom, when) → resolved, each
//! change written to the journal only if nobody changed it first (a second agent's claim is a
//! conflict, not a silent takeover). [`accounts`] holds the people (users, roles, sessions, API
//! tokens). The pages and the JSON API over all this are the HTTP channel's (`http::admin`).
//! Replying does not require a claim: the claim tells colleagues who is on it.
//!
//! For a shift, [`queue`] lists hand-offs with each one's age against the reply-time target
//! (`admin.reply_target_mins`), filtered by reason, channel and who claimed it, or only one's
//! own; [`queue_counts`] gives the navigation its numbers. [`replies`] holds the saved replies
//! admins keep and agents insert, filled from the verified order; [`present`] says times,
//! codes and amounts in words.

pub mod accounts;
pub mod present;
pub mod replies;

use serde::Serialize;

use crate::{
    journal::{
        live::Live, Conversation, HandoffRecord, HandoffTransition, Journal, JournalError,
        QueueCounts, QueuedHandoff, StoredTurn, TurnRecord,
    },
    orders::{LoggedAction, OrderStore},
};
use accounts::{Role, Staff};

/// Longest agent reply accepted, in characters (the customer's own limit).
pub const MAX_REPLY_CHARS: usize = crate::assistant::MAX_MESSAGE_CHARS;

/// Who the reply is signed as when the agent gives no name.
pub const DEFAULT_AGENT: &str = "Support team";

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("no hand-off {0}")]
    HandoffNotFound(String),
    #[error("reply is empty")]
    EmptyReply,
    #[error("reply is longer than {MAX_REPLY_CHARS} characters")]
    ReplyTooLong,
    #[error("agent name must be 1–80 characters")]
    BadAgentName,
    #[error("hand-off {id} is claimed by {by}")]
    HandoffClaimed { id: String, by: String },
    #[error("hand-off {0} is already resolved")]
    HandoffResolved(String),
    #[error("status must be open, claimed or resolved, not {0:?}")]
    BadStatus(String),
    #[error("no conversation {0}")]
    ConversationNotFound(String),
    #[error(transparent)]
    Access(#[from] accounts::AccountError),
    #[error(transparent)]
    Action(#[from] crate::actions::ActionError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl DeskError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::HandoffNotFound(_) => "handoff_not_found",
            Self::EmptyReply => "empty_message",
            Self::ReplyTooLong => "message_too_long",
            Self::BadAgentName => "invalid_agent",
            Self::HandoffClaimed { .. } => "handoff_claimed",
            Self::HandoffResolved(_) => "handoff_resolved",
            Self::BadStatus(_) => "invalid_status",
            Self::ConversationNotFound(_) => "conversation_not_found",
            Self::Access(e) => e.code(),
            Self::Action(crate::actions::ActionError::NotFound(_)) => "action_not_found",
            Self::Action(crate::actions::ActionError::Refused(_)) => "action_not_revertible",
            Self::Action(crate::actions::ActionError::UnreadableRecord { .. }) => {
                "action_record_unreadable"
            }
            Self::Action(_) => "actions_failed",
            Self::Journal(_) => "journal_failed",
        }
    }
}

/// A reply as delivered.
#[derive(Debug, Clone, Serialize)]
pub struct Delivered {
    pub handoff_id: String,
    pub conversation_id: String,
    pub turn: StoredTurn,
    /// Open widgets that received it at once (0: the customer sees it when they come back).
    pub live_watchers: usize,
}

/// Hand-offs waiting for a person, oldest first.
pub fn open_handoffs(journal: &Journal) -> Result<Vec<HandoffRecord>, DeskError> {
    Ok(journal.handoffs_with_status("open")?)
}

/// The statuses a hand-off moves through.
pub const STATUSES: [&str; 3] = ["open", "claimed", "resolved"];

/// Hand-offs with one status, oldest first.
pub fn handoffs(journal: &Journal, status: &str) -> Result<Vec<HandoffRecord>, DeskError> {
    if !STATUSES.contains(&status) {
        return Err(DeskError::BadStatus(status.to_string()));
    }
    Ok(journal.handoffs_with_status(status)?)
}

/// What the queue page asks for. Empty strings mean "any".
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct QueueFilter {
    pub status: Option<String>,
    pub reason: Option<String>,
    pub channel: Option<String>,
    /// A person's email, or `nobody` for unclaimed ones.
    pub claimed_by: Option<String>,
    /// `mine`: the hand-offs the viewer has claimed (and not resolved).
    pub view: Option<String>,
    /// `show`: list repeats (see [`QueueItem::repeat_of`]) in their own rows too.
    pub repeats: Option<String>,
}

impl QueueFilter {
    fn get(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
    pub fn mine(&self) -> bool {
        Self::get(&self.view) == Some("mine")
    }
    /// The status listed: `claimed` for the "mine" view, else the one asked for (`open`).
    pub fn status(&self) -> &str {
        if self.mine() {
            "claimed"
        } else {
            Self::get(&self.status).unwrap_or("open")
        }
    }
    pub fn reason(&self) -> Option<&str> {
        Self::get(&self.reason)
    }
    pub fn channel(&self) -> Option<&str> {
        Self::get(&self.channel)
    }
    pub fn claimed_by(&self) -> Option<&str> {
        Self::get(&self.claimed_by)
    }
    pub fn show_repeats(&self) -> bool {
        Self::get(&self.repeats) == Some("show")
    }
}

/// What makes hand-offs repeats of one another in the queue: the same verified customer, or,
/// unverified, the same reason and the same last message (a flood of "a person please" from
/// many conversations). `None`: nothing to group by.
fn repeat_key(q: &QueuedHandoff) -> Option<String> {
    let p = &q.handoff.packet;
    if let Some(c) = &p.identity.customer_id {
        return Some(format!("customer\u{1f}{c}"));
    }
    let said = p.last_customer_message()?;
    let said: Vec<String> = said.split_whitespace().map(str::to_lowercase).collect();
    (!said.is_empty()).then(|| format!("said\u{1f}{}\u{1f}{}", q.handoff.reason, said.join(" ")))
}

/// One line of the queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    #[serde(flatten)]
    pub queued: QueuedHandoff,
    /// Minutes from opening to the first reply, or to now while nobody has replied.
    pub age_mins: i64,
    /// No reply yet and older than the target.
    pub overdue: bool,
    /// Later hand-offs in this listing from the same customer, or (unverified) with the same
    /// reason and message: the queue folds them under this one.
    pub repeats: usize,
    /// The oldest hand-off this one repeats (then it is folded unless asked for).
    pub repeat_of: Option<String>,
    /// Whether the repeat is of the same verified customer (else of the same message).
    pub same_customer: bool,
}

/// The queue for one status, filtered, and what the filters can choose from.
#[derive(Debug, Clone, Serialize)]
pub struct Queue {
    pub status: String,
    pub items: Vec<QueueItem>,
    /// Every reason, channel and claimant among this status's hand-offs, with counts.
    pub reasons: Vec<(String, usize)>,
    pub channels: Vec<(String, usize)>,
    pub claimants: Vec<(String, usize)>,
    /// Hand-offs of this status before filtering.
    pub unfiltered: usize,
    /// Repeats left out of `items` (folded under the hand-off they repeat).
    pub folded: usize,
    pub target_mins: i64,
}

/// The queue as `me` asked for it, at `now`, against a reply-time target of `target_mins`.
pub fn queue(
    journal: &Journal,
    filter: &QueueFilter,
    me: &str,
    target_mins: i64,
    now: jiff::Timestamp,
) -> Result<Queue, DeskError> {
    let status = filter.status();
    if !STATUSES.contains(&status) {
        return Err(DeskError::BadStatus(status.to_string()));
    }
    let all = journal.handoff_queue(status)?;
    let tally = |key: &dyn Fn(&QueuedHandoff) -> String| {
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for q in &all {
            *counts.entry(key(q)).or_default() += 1;
        }
        counts.into_iter().collect::<Vec<_>>()
    };
    let reasons = tally(&|q| q.handoff.reason.clone());
    let channels = tally(&|q| q.channel.clone());
    let claimants: Vec<(String, usize)> =
        tally(&|q| q.handoff.claimed_by.clone().unwrap_or_default())
            .into_iter()
            .filter(|(c, _)| !c.is_empty())
            .collect();
    let unfiltered = all.len();
    let items = all
        .into_iter()
        .filter(|q| filter.reason().is_none_or(|r| q.handoff.reason == r))
        .filter(|q| filter.channel().is_none_or(|c| q.channel == c))
        .filter(|q| match filter.claimed_by() {
            None => true,
            Some("nobody") => q.handoff.claimed_by.is_none(),
            Some(who) => q.handoff.claimed_by.as_deref() == Some(who),
        })
        .filter(|q| !filter.mine() || q.handoff.claimed_by.as_deref() == Some(me))
        .map(|q| {
            let end = q
                .first_reply_at
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .unwrap_or(now);
            let opened = q
                .handoff
                .created_at
                .parse::<jiff::Timestamp>()
                .unwrap_or(end);
            let age_secs = (end.as_second() - opened.as_second()).max(0);
            let age_mins = age_secs / 60;
            // The same rule as `queue_counts`: older than the target, no reply, not resolved.
            let overdue = q.first_reply_at.is_none()
                && q.handoff.status != "resolved"
                && age_secs > target_mins * 60;
            QueueItem {
                queued: q,
                age_mins,
                overdue,
                repeats: 0,
                repeat_of: None,
                same_customer: false,
            }
        })
        .collect();
    // Oldest first, so the first of each group is the one a person should open.
    let mut items: Vec<QueueItem> = items;
    let mut heads: std::collections::HashMap<String, usize> = Default::default();
    for i in 0..items.len() {
        let Some(key) = repeat_key(&items[i].queued) else {
            continue;
        };
        match heads.get(&key) {
            Some(&head) => {
                items[head].repeats += 1;
                items[i].repeat_of = Some(items[head].queued.handoff.id.clone());
                items[i].same_customer = key.starts_with("customer");
                items[head].same_customer = items[i].same_customer;
            }
            None => {
                heads.insert(key, i);
            }
        }
    }
    let before = items.len();
    if !filter.show_repeats() {
        items.retain(|i| i.repeat_of.is_none());
    }
    let folded = before - items.len();
    Ok(Queue {
        status: status.to_string(),
        items,
        reasons,
        channels,
        claimants,
        unfiltered,
        folded,
        target_mins,
    })
}

/// The navigation's numbers for `me`: open hand-offs, mine, and overdue at `now`.
pub fn queue_counts(
    journal: &Journal,
    me: &str,
    target_mins: i64,
    now: jiff::Timestamp,
) -> Result<QueueCounts, DeskError> {
    let cutoff = now
        .checked_sub(jiff::SignedDuration::from_mins(target_mins))
        .unwrap_or(now);
    let cutoff = crate::journal::timestamp(
        time::OffsetDateTime::from_unix_timestamp(cutoff.as_second())
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    );
    Ok(journal.queue_counts(me, &cutoff)?)
}

/// One hand-off, whatever its status.
pub fn handoff(journal: &Journal, id: &str) -> Result<HandoffRecord, DeskError> {
    journal
        .handoff(id)?
        .ok_or_else(|| DeskError::HandoffNotFound(id.to_string()))
}

/// `who` takes an open hand-off. Claiming one's own claim again is fine (a double click);
/// someone else's is [`DeskError::HandoffClaimed`].
pub fn claim(journal: &Journal, id: &str, who: &str) -> Result<HandoffRecord, DeskError> {
    let h = handoff(journal, id)?;
    match h.status.as_str() {
        "resolved" => Err(DeskError::HandoffResolved(h.id)),
        "claimed" if h.claimed_by.as_deref() == Some(who) => Ok(h),
        "claimed" => Err(DeskError::HandoffClaimed {
            id: h.id,
            by: h.claimed_by.unwrap_or_default(),
        }),
        _ => {
            let at = crate::journal::now();
            let t = HandoffTransition {
                from_status: &h.status,
                from_claimant: h.claimed_by.as_deref(),
                status: "claimed",
                claimed_by: Some(who),
                claimed_at: Some(&at),
                resolved_by: None,
                resolved_at: None,
            };
            if journal.transition_handoff(id, &t)? {
                handoff(journal, id)
            } else {
                // Someone acted in between: report what they did.
                claim(journal, id, who)
            }
        }
    }
}

/// Closes a hand-off: an open one, one's own claim, or (`overrule`, for admins) anyone's.
pub fn resolve(
    journal: &Journal,
    id: &str,
    who: &str,
    overrule: bool,
) -> Result<HandoffRecord, DeskError> {
    let h = handoff(journal, id)?;
    match (h.status.as_str(), h.claimed_by.as_deref()) {
        ("resolved", _) => Err(DeskError::HandoffResolved(h.id)),
        ("claimed", Some(by)) if by != who && !overrule => Err(DeskError::HandoffClaimed {
            id: h.id,
            by: by.to_string(),
        }),
        _ => {
            let at = crate::journal::now();
            let claimed_by = h.claimed_by.as_deref().unwrap_or(who);
            let claimed_at = h.claimed_at.clone().unwrap_or_else(|| at.clone());
            let t = HandoffTransition {
                from_status: &h.status,
                from_claimant: h.claimed_by.as_deref(),
                status: "resolved",
                claimed_by: Some(claimed_by),
                claimed_at: Some(&claimed_at),
                resolved_by: Some(who),
                resolved_at: Some(&at),
            };
            if journal.transition_handoff(id, &t)? {
                handoff(journal, id)
            } else {
                resolve(journal, id, who, overrule)
            }
        }
    }
}

/// Everything recorded about one conversation, for the team: every turn with its detail
/// (citations, gate decisions and scores, actions), its hand-offs and its logged actions.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationRecord {
    pub conversation: Conversation,
    pub turns: Vec<StoredTurn>,
    pub handoffs: Vec<HandoffRecord>,
    pub actions: Vec<LoggedAction>,
}

pub fn conversation(
    journal: &Journal,
    orders: &dyn OrderStore,
    id: &str,
) -> Result<ConversationRecord, DeskError> {
    let conversation = journal
        .conversation(id)?
        .ok_or_else(|| DeskError::ConversationNotFound(id.to_string()))?;
    let turns = journal.turns_since(id, 0, None)?;
    let handoffs = journal.handoffs_of(id)?;
    let actions = action_log(orders)?
        .into_iter()
        .filter(|a| a.conversation_id.as_deref() == Some(id))
        .collect();
    Ok(ConversationRecord {
        conversation,
        turns,
        handoffs,
        actions,
    })
}

/// The action log, newest first.
pub fn action_log(orders: &dyn OrderStore) -> Result<Vec<LoggedAction>, DeskError> {
    let mut all = orders
        .actions_for(None, None)
        .map_err(crate::actions::ActionError::from)?;
    all.reverse();
    Ok(all)
}

/// An admin undoes a logged action (see [`crate::actions::revert`]); returns the reversal's id.
pub fn undo_action(
    orders: &dyn OrderStore,
    staff: &Staff,
    action_id: &str,
) -> Result<String, DeskError> {
    staff.require(Role::Admin)?;
    Ok(crate::actions::revert(
        orders,
        action_id,
        &staff.email,
        time::OffsetDateTime::now_utc(),
    )?)
}

/// The desk's metrics: how much the assistant handles alone, why it hands off, what customers
/// ask, how fast it answers, and how many conversations each channel brings.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub conversations: i64,
    /// Share of conversations whose latest exchange was answered without a person.
    pub automation_rate: f64,
    pub outcomes: Vec<(String, i64)>,
    pub handoff_reasons: Vec<(String, i64)>,
    pub intents: Vec<(String, i64)>,
    /// Answer latency percentiles in ms (`None` before the first answer).
    pub latency_p50_ms: Option<u64>,
    pub latency_p90_ms: Option<u64>,
    pub latency_p99_ms: Option<u64>,
    /// Conversations started per day and channel.
    pub daily: Vec<(String, String, i64)>,
    /// Replies customers rated helpful and not helpful in the widget.
    pub feedback_up: i64,
    pub feedback_down: i64,
}

pub fn metrics(journal: &Journal) -> Result<Metrics, DeskError> {
    let s = journal.stats()?;
    let conversations: i64 = s.outcomes.iter().map(|(_, n)| n).sum();
    let answered = s
        .outcomes
        .iter()
        .find(|(o, _)| o == "answered")
        .map_or(0, |(_, n)| *n);
    // Nearest-rank percentile over the sorted latencies.
    let pct = |p: f64| {
        (!s.latencies_ms.is_empty()).then(|| {
            s.latencies_ms[((p * s.latencies_ms.len() as f64).ceil() as usize)
                .clamp(1, s.latencies_ms.len())
                - 1]
        })
    };
    Ok(Metrics {
        conversations,
        automation_rate: if conversations > 0 {
            answered as f64 / conversations as f64
        } else {
            0.0
        },
        latency_p50_ms: pct(0.5),
        latency_p90_ms: pct(0.9),
        latency_p99_ms: pct(0.99),
        outcomes: s.outcomes,
        handoff_reasons: s.handoff_reasons,
        intents: s.intents,
        daily: s.daily,
        feedback_up: s
            .feedback
            .iter()
            .find(|(r, _)| r == "up")
            .map_or(0, |(_, n)| *n),
        feedback_down: s
            .feedback
            .iter()
            .find(|(r, _)| r == "down")
            .map_or(0, |(_, n)| *n),
    })
}

/// A person's reply to the customer of hand-off `handoff_id`.
pub fn reply(
    journal: &Journal,
    live: &Live,
    handoff_id: &str,
    agent: Option<&str>,
    text: &str,
) -> Result<Delivered, DeskError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DeskError::EmptyReply);
    }
    if text.chars().count() > MAX_REPLY_CHARS {
        return Err(DeskError::ReplyTooLong);
    }
    let agent = agent.map(str::trim).unwrap_or(DEFAULT_AGENT);
    if agent.is_empty() || agent.chars().count() > 80 {
        return Err(DeskError::BadAgentName);
    }
    let handoff = journal
        .handoff(handoff_id)?
        .ok_or_else(|| DeskError::HandoffNotFound(handoff_id.to_string()))?;
    let turn = journal.append(&TurnRecord {
        conversation_id: handoff.conversation_id.clone(),
        role: "agent".into(),
        text: text.to_string(),
        intent: None,
        confidence: None,
        detail: crate::journal::TurnDetail {
            agent: Some(agent.to_string()),
            handoff_id: Some(handoff.id.clone()),
            ..crate::journal::TurnDetail::new()
        },
        latency_ms: None,
    })?;
    // The first thing a person answers to an unanswered question drafts its suggested article.
    if let Err(e) = crate::learn::attach_reply(journal, &handoff.conversation_id, text, agent) {
        tracing::warn!(error = %e, "could not note the reply for the suggested articles");
    }
    let live_watchers = live.publish(&turn);
    Ok(Delivered {
        handoff_id: handoff.id,
        conversation_id: handoff.conversation_id,
        turn,
        live_watchers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{answer::HandoffReason, journal::HandoffPacket};

    #[test]
    fn a_reply_is_journaled_as_an_agent_turn_and_reaches_a_watching_widget() {
        let journal = Journal::open_in_memory().unwrap();
        let live = Live::new(8);
        journal.create("c1", "widget").unwrap();
        let id = journal
            .open_handoff(&HandoffPacket::new("c1", HandoffReason::CustomerAsked))
            .unwrap();
        let mut watcher = live.watch("c1").unwrap();
        let d = reply(
            &journal,
            &live,
            &id,
            Some("Priya"),
            "  Hi, Priya here. Let me look.  ",
        )
        .unwrap();
        assert_eq!((d.conversation_id.as_str(), d.live_watchers), ("c1", 1));
        let pushed = watcher.try_recv().unwrap();
        assert_eq!(
            (pushed.turn.role.as_str(), pushed.turn.text.as_str()),
            ("agent", "Hi, Priya here. Let me look.")
        );
        assert_eq!(pushed.turn.detail.agent.as_deref(), Some("Priya"));
        let stored = journal.turns_since("c1", 0, Some("agent")).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].id, pushed.id);
    }

    #[test]
    fn unknown_hand_offs_and_empty_replies_are_refused() {
        let journal = Journal::open_in_memory().unwrap();
        let live = Live::new(8);
        assert_eq!(
            reply(&journal, &live, "HO-NOPE", None, "hello")
                .unwrap_err()
                .code(),
            "handoff_not_found"
        );
        journal.create("c1", "widget").unwrap();
        let id = journal
            .open_handoff(&HandoffPacket::new("c1", HandoffReason::CustomerAsked))
            .unwrap();
        assert_eq!(
            reply(&journal, &live, &id, None, "   ").unwrap_err().code(),
            "empty_message"
        );
        assert_eq!(
            reply(&journal, &live, &id, None, &"x".repeat(MAX_REPLY_CHARS + 1))
                .unwrap_err()
                .code(),
            "message_too_long"
        );
    }

    #[test]
    fn a_hand_off_is_claimed_once_and_resolved_by_its_claimant_or_an_admin() {
        let journal = Journal::open_in_memory().unwrap();
        journal.create("c1", "widget").unwrap();
        let id = journal
            .open_handoff(&HandoffPacket::new("c1", HandoffReason::CustomerAsked))
            .unwrap();
        let h = claim(&journal, &id, "priya@example.com").unwrap();
        assert_eq!(
            (h.status.as_str(), h.claimed_by.as_deref()),
            ("claimed", Some("priya@example.com"))
        );
        assert!(h.claimed_at.is_some());
        assert_eq!(
            claim(&journal, &id, "priya@example.com").unwrap().status,
            "claimed",
            "claiming one's own again is fine"
        );
        assert_eq!(
            claim(&journal, &id, "sam@example.com").unwrap_err().code(),
            "handoff_claimed"
        );
        assert_eq!(
            resolve(&journal, &id, "sam@example.com", false)
                .unwrap_err()
                .code(),
            "handoff_claimed"
        );
        let done = resolve(&journal, &id, "priya@example.com", false).unwrap();
        assert_eq!(
            (done.status.as_str(), done.resolved_by.as_deref()),
            ("resolved", Some("priya@example.com"))
        );
        assert_eq!(
            claim(&journal, &id, "sam@example.com").unwrap_err().code(),
            "handoff_resolved"
        );
        assert_eq!(
            resolve(&journal, &id, "priya@example.com", false)
                .unwrap_err()
                .code(),
            "handoff_resolved"
        );
        assert_eq!(handoffs(&journal, "resolved").unwrap().len(), 1);
        assert_eq!(
            handoffs(&journal, "pending").unwrap_err().code(),
            "invalid_status"
        );

        let m = metrics(&journal).unwrap();
        assert_eq!(
            (m.conversations, m.handoff_reasons.clone()),
            (1, vec![("customer_asked".to_string(), 1)])
        );
        assert_eq!(m.latency_p50_ms, None);

        let other = journal
            .open_handoff(&HandoffPacket::new("c1", HandoffReason::CustomerAsked))
            .unwrap();
        claim(&journal, &other, "priya@example.com").unwrap();
        assert_eq!(
            resolve(&journal, &other, "admin@example.com", true)
                .unwrap()
                .resolved_by
                .as_deref(),
            Some("admin@example.com")
        );
    }
}
