//! Step: remember. Every conversation, its state between turns (verified identity, order in
//! focus, what the assistant is waiting for), and every turn with its reply, citations, gate
//! decision, actions and hand-off, in SQLite beside the order data.
//!
//! The journal records what happened; it does not decide anything. The desk reads it.
//! [`live`] pushes turns written outside a customer's request (a person's reply) to whoever is
//! watching the conversation. `search` finds conversations for the desk: full-text search of
//! the turns and paging through the list.

mod email;
mod learn;
pub mod live;
pub mod packet;
mod search;
pub mod turn;

pub use email::{EmailRecord, OutboxEntry};
pub use learn::{Centroid, ClusterRecord, GapRecord, NewGap};
pub use live::WatchRefused;
pub use search::{
    fts_query, ConversationPage, PageParams, DEFAULT_PAGE, MARK_END, MARK_START, MAX_PAGE,
};

use std::{path::Path, sync::Arc};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::storage::{Database, StorageError};

pub use packet::{
    HandoffPacket, PacketIdentity, PacketIntent, PacketLine, PacketPassage, PacketReason,
    PACKET_VERSION,
};
pub use turn::{TurnDetail, DETAIL_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal database: {0}")]
    Sqlite(rusqlite::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("journal record {id}: {message}")]
    Corrupt { id: String, message: String },
    #[error("the page cursor is not one this listing gave out (give cursor or newer, not both)")]
    BadCursor,
}

impl From<rusqlite::Error> for JournalError {
    /// A row whose stored record does not decode (see [`handoff_row`]) is `Corrupt`, with the
    /// record's id, not a database failure.
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::FromSqlConversionFailure(_, _, inner) = &e {
            if let Some(u) = inner.downcast_ref::<Unreadable>() {
                return Self::Corrupt {
                    id: u.id.clone(),
                    message: u.why.clone(),
                };
            }
        }
        Self::Sqlite(e)
    }
}

/// A stored record that does not decode, carried through rusqlite's row mapping.
#[derive(Debug, thiserror::Error)]
#[error("record {id}: {why}")]
struct Unreadable {
    id: String,
    why: String,
}

/// The `version` of a typed record written before records carried one.
fn first_version() -> u32 {
    1
}

/// Reads a typed record stored as JSON (`what` names it in the error): an error, with why, for
/// one that does not decode or whose version is newer than `newest`.
fn decode_versioned<T: serde::de::DeserializeOwned>(
    stored: &str,
    what: &str,
    version: impl Fn(&T) -> u32,
    newest: u32,
) -> Result<T, String> {
    let record: T = serde_json::from_str(stored).map_err(|e| e.to_string())?;
    match version(&record) {
        v if v > newest => Err(format!(
            "{what} version {v} is newer than this release reads ({newest})"
        )),
        _ => Ok(record),
    }
}

/// What the assistant carries from one turn to the next.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConversationState {
    /// The verified customer, once verification succeeded.
    pub customer_id: Option<String>,
    /// How they were verified ("order_email", "order_postcode", "email", "name_postcode", "token").
    pub verified_by: Option<String>,
    /// The order the conversation is about.
    pub order_in_focus: Option<String>,
    /// A question waiting on verification (the intent to resume once identity is known).
    pub pending_intent: Option<String>,
    /// The email or order number the customer gave so far, while verification is incomplete.
    pub pending_order: Option<String>,
    pub pending_email: Option<String>,
    /// Consecutive turns that ended without an answer (unclear intent, weak grounding).
    pub failed_turns: u32,
    pub failed_verifications: u32,
    /// Set once the conversation is with a person: later messages go to them.
    pub handed_off: bool,
    /// Open guided action awaiting the customer (serialized flow state, owned by `actions`).
    pub flow: Option<serde_json::Value>,
}

/// A conversation's header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub channel: String,
    pub created_at: String,
    pub updated_at: String,
    pub state: ConversationState,
}

/// One turn as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TurnRecord {
    pub conversation_id: String,
    pub role: String,
    pub text: String,
    pub intent: Option<String>,
    pub confidence: Option<f32>,
    /// The rest of what the turn produced (citations, gate, order, actions, hand-off).
    pub detail: TurnDetail,
    pub latency_ms: Option<u64>,
}

/// A turn as stored, with its id (increasing within the database) and time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTurn {
    pub id: i64,
    pub at: String,
    #[serde(flatten)]
    pub turn: TurnRecord,
}

/// A hand-off as stored.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HandoffRecord {
    pub id: String,
    pub conversation_id: String,
    pub created_at: String,
    pub reason: String,
    /// `open`, `claimed` or `resolved`.
    #[schema(pattern = "^(open|claimed|resolved)$")]
    pub status: String,
    /// What the person needs: transcript, intent, identity, order, passages, gate scores,
    /// suggested reply.
    pub packet: HandoffPacket,
    /// The person working on it (`claimed`, and kept once `resolved`), and since when.
    #[serde(default)]
    pub claimed_by: Option<String>,
    #[serde(default)]
    pub claimed_at: Option<String>,
    #[serde(default)]
    pub resolved_by: Option<String>,
    #[serde(default)]
    pub resolved_at: Option<String>,
}

/// What a deletion removed (an erasure or a retention purge).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Deleted {
    pub conversations: usize,
    pub turns: usize,
    pub handoffs: usize,
    /// Unanswered questions taken out of the suggestion clusters (see `learn`).
    pub questions: usize,
    /// The conversations removed, so whoever ran it can say exactly what went.
    pub conversation_ids: Vec<String>,
}

/// How many hand-offs wait, are someone's, and are overdue (see [`Journal::queue_counts`]).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct QueueCounts {
    pub open: i64,
    pub mine: i64,
    pub overdue: i64,
}

/// A hand-off as the desk's queue lists it.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedHandoff {
    pub handoff: HandoffRecord,
    /// The conversation's channel (`widget`, `email`, `api`, `cli`).
    pub channel: String,
    /// When a person first replied after the hand-off opened.
    pub first_reply_at: Option<String>,
}

/// A hand-off's new status, written only if it still has the status (and claimant) the caller
/// read: two people acting at once cannot both win.
#[derive(Debug, Clone)]
pub struct HandoffTransition<'a> {
    pub from_status: &'a str,
    pub from_claimant: Option<&'a str>,
    pub status: &'a str,
    pub claimed_by: Option<&'a str>,
    pub claimed_at: Option<&'a str>,
    pub resolved_by: Option<&'a str>,
    pub resolved_at: Option<&'a str>,
}

/// Which conversations to list (all `None`: the latest ones).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConversationFilter {
    pub channel: Option<String>,
    /// Any customer turn with this intent.
    pub intent: Option<String>,
    /// `answered`, `unresolved` or `handoff` (the latest exchange's).
    pub outcome: Option<String>,
    /// Started on or after this day (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Started on or before this day (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// Words in any turn (full-text: whole words, the last one also as a prefix; see
    /// [`fts_query`]).
    pub q: Option<String>,
}

/// One line of the conversation list.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationSummary {
    pub id: String,
    pub channel: String,
    pub created_at: String,
    pub updated_at: String,
    pub outcome: Option<String>,
    pub customer_id: Option<String>,
    pub turns: i64,
    /// The customer's first message.
    pub first_message: Option<String>,
    /// The latest intent understood.
    pub intent: Option<String>,
    /// With a search: a passage of the first matching turn, the matches between [`MARK_START`]
    /// and [`MARK_END`] (raw text: whoever shows it escapes it).
    #[serde(skip)]
    pub snippet: Option<String>,
}

/// Counts over the whole journal, for the desk's metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JournalStats {
    /// Conversations by their latest exchange's outcome (`answered`, `unresolved`, `handoff`).
    pub outcomes: Vec<(String, i64)>,
    pub handoff_reasons: Vec<(String, i64)>,
    /// Customer turns by understood intent.
    pub intents: Vec<(String, i64)>,
    /// Every assistant reply's latency, ascending.
    pub latencies_ms: Vec<u64>,
    /// Conversations started per day (`YYYY-MM-DD`) and channel.
    pub daily: Vec<(String, String, i64)>,
    /// Customers' ratings of replies: (`up` or `down`, count).
    pub feedback: Vec<(String, i64)>,
}

/// The journal over one SQLite database (its tables are in [`crate::storage::migrations`]).
pub struct Journal {
    db: Arc<Database>,
}

/// A hand-off's delivery to the helpdesk webhook, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliveryRecord {
    pub handoff_id: String,
    /// `pending`, `delivered`, or `failed` (every attempt spent).
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

const HANDOFF_COLUMNS: &str = "id, conversation_id, created_at, reason, status, packet, claimed_by, claimed_at, resolved_by, resolved_at";

/// One exchange of a conversation as the assistant commits it ([`Journal::commit_exchange`]).
#[derive(Debug, Clone)]
pub struct Exchange {
    pub conversation_id: String,
    /// The channel, when this exchange starts the conversation (it is written in the same
    /// transaction: a turn that fails leaves no empty conversation behind).
    pub new_channel: Option<String>,
    pub state: ConversationState,
    /// `answered`, `unresolved` or `handoff`.
    pub outcome: String,
    pub turns: Vec<TurnRecord>,
}

fn conversation_in(conn: &Connection, id: &str) -> Result<Option<Conversation>, JournalError> {
    let row = conn
        .query_row(
            "SELECT id, channel, created_at, updated_at, state FROM conversations WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            },
        )
        .optional()?;
    row.map(|(id, channel, created_at, updated_at, state)| {
        let state = serde_json::from_str(&state).map_err(|e| JournalError::Corrupt {
            id: id.clone(),
            message: e.to_string(),
        })?;
        Ok(Conversation {
            id,
            channel,
            created_at,
            updated_at,
            state,
        })
    })
    .transpose()
}

/// The turns of one exchange and the conversation's new state, inside the caller's transaction.
fn record_in(
    conn: &Connection,
    id: &str,
    state: &ConversationState,
    outcome: &str,
    turns: &[TurnRecord],
) -> Result<(), JournalError> {
    let at = now();
    conn.execute(
        "UPDATE conversations SET updated_at = ?2, state = ?3, customer_id = ?4, outcome = ?5 WHERE id = ?1",
        params![id, at, serde_json::to_string(state).expect("state serialises"), state.customer_id, outcome],
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO turns (conversation_id, at, role, text, intent, confidence, detail, latency_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for t in turns {
        insert.execute(params![
            t.conversation_id,
            at,
            t.role,
            t.text,
            t.intent,
            t.confidence,
            serde_json::to_string(&t.detail).unwrap_or_default(),
            t.latency_ms.map(|l| l as i64)
        ])?;
    }
    Ok(())
}

pub fn now() -> String {
    timestamp(time::OffsetDateTime::now_utc())
}

/// A UTC time as stored: RFC 3339 with exactly six fractional digits, so that text order is time
/// order. (`Rfc3339` formatting drops trailing zeros, and "…05.12Z" sorts after "…05.1234Z";
/// paging, purges and every `ORDER BY` on these columns compare text.)
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

impl Journal {
    /// The journal of `db`.
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    /// Opens (creating if needed) the database at `path` for a journal alone (the service opens
    /// one [`Database`] for all its parts and uses [`Journal::new`]).
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        Ok(Self::new(Database::open(path)?))
    }

    pub fn open_in_memory() -> Result<Self, JournalError> {
        Ok(Self::new(Database::open_in_memory()?))
    }

    /// The database under this journal.
    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    fn read(&self) -> Result<crate::storage::Reader<'_>, JournalError> {
        Ok(self.db.reader()?)
    }

    fn write(&self) -> Result<parking_lot::MutexGuard<'_, Connection>, JournalError> {
        Ok(self.db.writer()?)
    }

    /// The conversation, or `None` when the id is unknown.
    pub fn conversation(&self, id: &str) -> Result<Option<Conversation>, JournalError> {
        conversation_in(&*self.read()?, id)
    }

    /// As [`Journal::conversation`], read on the blocking pool, with whether it has any turns
    /// yet (a turn's opening looks at both).
    pub async fn conversation_opening(
        &self,
        id: &str,
    ) -> Result<Option<(Conversation, bool)>, JournalError> {
        let id = id.to_string();
        self.db
            .read(move |conn| {
                let Some(c) = conversation_in(conn, &id)? else {
                    return Ok(None);
                };
                let has_turns: bool = conn.query_row(
                    "SELECT EXISTS(SELECT 1 FROM turns WHERE conversation_id = ?1)",
                    [&id],
                    |r| r.get(0),
                )?;
                Ok(Some((c, has_turns)))
            })
            .await
    }

    /// Commits one exchange (the conversation, if it starts here, its new state and the turns)
    /// in the database's next group commit; returns once that commit is on disk.
    pub async fn commit_exchange(&self, exchange: Exchange) -> Result<(), JournalError> {
        self.db
            .commit(move |conn| {
                if let Some(channel) = &exchange.new_channel {
                    // A turn that handed off opened its conversation already (the hand-off
                    // refers to it): then there is nothing to start.
                    conn.execute(
                        "INSERT INTO conversations (id, channel, created_at, updated_at, state) VALUES (?1, ?2, ?3, ?3, '{}') ON CONFLICT(id) DO NOTHING",
                        params![exchange.conversation_id, channel, now()],
                    )?;
                }
                record_in(
                    conn,
                    &exchange.conversation_id,
                    &exchange.state,
                    &exchange.outcome,
                    &exchange.turns,
                )
            })
            .await
    }

    /// Starts a conversation.
    pub fn create(&self, id: &str, channel: &str) -> Result<Conversation, JournalError> {
        let at = now();
        let state = ConversationState::default();
        self.write()?.execute(
            "INSERT INTO conversations (id, channel, created_at, updated_at, state) VALUES (?1, ?2, ?3, ?3, ?4)",
            params![id, channel, at, serde_json::to_string(&state).expect("state serialises")],
        )?;
        Ok(Conversation {
            id: id.into(),
            channel: channel.into(),
            created_at: at.clone(),
            updated_at: at,
            state,
        })
    }

    /// Records the turns of one exchange and the conversation's new state, atomically.
    pub fn record(
        &self,
        id: &str,
        state: &ConversationState,
        outcome: &str,
        turns: &[TurnRecord],
    ) -> Result<(), JournalError> {
        let mut conn = self.write()?;
        let tx = conn.transaction()?;
        record_in(&tx, id, state, outcome, turns)?;
        tx.commit()?;
        Ok(())
    }

    /// Stores a hand-off packet; returns its id.
    /// Opens a hand-off for the conversation, or returns the one it already has unresolved: a
    /// conversation has at most one open hand-off, so two messages racing each other (or a
    /// client repeating itself) reach one person once, not the queue twice.
    pub fn open_handoff(&self, packet: &HandoffPacket) -> Result<String, JournalError> {
        let (conversation_id, reason) = (packet.conversation_id.as_str(), packet.reason.code());
        let mut conn = self.write()?;
        let tx = conn.transaction()?;
        let open: Option<String> = tx
            .query_row("SELECT id FROM handoffs WHERE conversation_id = ?1 AND status != 'resolved' ORDER BY created_at LIMIT 1", [conversation_id], |r| r.get(0))
            .optional()?;
        if let Some(id) = open {
            return Ok(id);
        }
        let id = format!(
            "HO-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10].to_uppercase()
        );
        tx.execute(
            "INSERT INTO handoffs (id, conversation_id, created_at, reason, packet) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id,
                conversation_id,
                now(),
                reason,
                serde_json::to_string(packet).map_err(|e| JournalError::Corrupt {
                    id: id.clone(),
                    message: e.to_string()
                })?
            ],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// A conversation's turns, oldest first.
    pub fn turns(&self, conversation_id: &str) -> Result<Vec<TurnRecord>, JournalError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare("SELECT role, text, intent, confidence, detail, latency_ms FROM turns WHERE conversation_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map([conversation_id], |r| {
            Ok(TurnRecord {
                conversation_id: conversation_id.to_string(),
                role: r.get(0)?,
                text: r.get(1)?,
                intent: r.get(2)?,
                confidence: r.get(3)?,
                detail: detail_at(r, 4)?,
                latency_ms: r.get::<_, Option<i64>>(5)?.map(|l| l as u64),
            })
        })?;
        rows.collect::<Result<_, _>>().map_err(Into::into)
    }

    /// A conversation's turns after turn `after` (0: all), oldest first, optionally of one role.
    pub fn turns_since(
        &self,
        conversation_id: &str,
        after: i64,
        role: Option<&str>,
    ) -> Result<Vec<StoredTurn>, JournalError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(
            "SELECT id, at, role, text, intent, confidence, detail, latency_ms FROM turns
             WHERE conversation_id = ?1 AND id > ?2 AND (?3 IS NULL OR role = ?3) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![conversation_id, after, role], |r| {
            Ok(StoredTurn {
                id: r.get(0)?,
                at: r.get(1)?,
                turn: TurnRecord {
                    conversation_id: conversation_id.to_string(),
                    role: r.get(2)?,
                    text: r.get(3)?,
                    intent: r.get(4)?,
                    confidence: r.get(5)?,
                    detail: detail_at(r, 6)?,
                    latency_ms: r.get::<_, Option<i64>>(7)?.map(|l| l as u64),
                },
            })
        })?;
        rows.collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Records one turn that is not part of a customer's exchange (a person's reply), leaving the
    /// conversation's state as it is.
    pub fn append(&self, turn: &TurnRecord) -> Result<StoredTurn, JournalError> {
        let mut conn = self.write()?;
        let tx = conn.transaction()?;
        let at = now();
        tx.execute(
            "UPDATE conversations SET updated_at = ?2 WHERE id = ?1",
            params![turn.conversation_id, at],
        )?;
        tx.execute(
            "INSERT INTO turns (conversation_id, at, role, text, intent, confidence, detail, latency_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![turn.conversation_id, at, turn.role, turn.text, turn.intent, turn.confidence, serde_json::to_string(&turn.detail).unwrap_or_default(), turn.latency_ms.map(|l| l as i64)],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(StoredTurn {
            id,
            at,
            turn: turn.clone(),
        })
    }

    /// One hand-off, whatever its status.
    pub fn handoff(&self, id: &str) -> Result<Option<HandoffRecord>, JournalError> {
        let conn = self.read()?;
        conn.query_row(
            &format!("SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE id = ?1"),
            [id],
            handoff_row,
        )
        .optional()
        .map_err(Into::into)
    }

    /// Hand-offs with `status` ("open"), oldest first.
    pub fn handoffs_with_status(&self, status: &str) -> Result<Vec<HandoffRecord>, JournalError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE status = ?1 ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([status], handoff_row)?;
        rows.collect::<Result<_, _>>().map_err(Into::into)
    }

    /// The desk's queue: hand-offs with `status`, oldest first, each with its conversation's
    /// channel and when a person first replied after it opened (`None`: nobody yet).
    pub fn handoff_queue(&self, status: &str) -> Result<Vec<QueuedHandoff>, JournalError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(
            "SELECT h.id, h.conversation_id, h.created_at, h.reason, h.status, h.packet, h.claimed_by, h.claimed_at, h.resolved_by, h.resolved_at,
                    c.channel,
                    (SELECT MIN(t.at) FROM turns t WHERE t.conversation_id = h.conversation_id AND t.role = 'agent' AND t.at >= h.created_at)
             FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
             WHERE h.status = ?1 ORDER BY h.created_at, h.id",
        )?;
        let rows = stmt.query_map([status], |r| {
            Ok(QueuedHandoff {
                handoff: handoff_row(r)?,
                channel: r.get(10)?,
                first_reply_at: r.get(11)?,
            })
        })?;
        rows.collect::<Result<_, _>>().map_err(Into::into)
    }

    /// The queue's counts for the desk's navigation: open hand-offs, those `me` has claimed,
    /// and those not resolved, opened before `cutoff` and still without a person's reply.
    pub fn queue_counts(&self, me: &str, cutoff: &str) -> Result<QueueCounts, JournalError> {
        let conn = self.read()?;
        conn.query_row(
            "SELECT COUNT(*) FILTER (WHERE h.status = 'open'),
                    COUNT(*) FILTER (WHERE h.status = 'claimed' AND h.claimed_by = ?1),
                    COUNT(*) FILTER (WHERE h.created_at < ?2 AND NOT EXISTS
                        (SELECT 1 FROM turns t WHERE t.conversation_id = h.conversation_id AND t.role = 'agent' AND t.at >= h.created_at))
             FROM handoffs h WHERE h.status != 'resolved'",
            params![me, cutoff],
            |r| {
                Ok(QueueCounts {
                    open: r.get(0)?,
                    mine: r.get(1)?,
                    overdue: r.get(2)?,
                })
            },
        )
        .map_err(Into::into)
    }

    /// A conversation's hand-offs, oldest first.
    pub fn handoffs_of(&self, conversation_id: &str) -> Result<Vec<HandoffRecord>, JournalError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(&format!("SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE conversation_id = ?1 ORDER BY created_at, id"))?;
        let rows = stmt.query_map([conversation_id], handoff_row)?;
        rows.collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Moves a hand-off to a new status if it is still as the caller read it; `false` when
    /// someone else changed it first.
    pub fn transition_handoff(
        &self,
        id: &str,
        t: &HandoffTransition<'_>,
    ) -> Result<bool, JournalError> {
        let changed = self.write()?.execute(
            "UPDATE handoffs SET status = ?3, claimed_by = ?4, claimed_at = ?5, resolved_by = ?6, resolved_at = ?7
             WHERE id = ?1 AND status = ?2 AND claimed_by IS ?8",
            params![id, t.from_status, t.status, t.claimed_by, t.claimed_at, t.resolved_by, t.resolved_at, t.from_claimant],
        )?;
        Ok(changed == 1)
    }

    /// Records the customer's rating (`up` or `down`) of the conversation's latest assistant
    /// reply, replacing an earlier rating of it; returns the rated turn, or `None` when there is
    /// no reply to rate yet.
    pub fn rate_latest_reply(
        &self,
        conversation_id: &str,
        rating: &str,
    ) -> Result<Option<i64>, JournalError> {
        let conn = self.write()?;
        let turn: Option<i64> = conn.query_row(
            "SELECT MAX(id) FROM turns WHERE conversation_id = ?1 AND role = 'assistant'",
            [conversation_id],
            |r| r.get(0),
        )?;
        if let Some(turn) = turn {
            conn.execute(
                "INSERT INTO feedback (turn_id, conversation_id, rating, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(turn_id) DO UPDATE SET rating = excluded.rating, at = excluded.at",
                params![turn, conversation_id, rating, now()],
            )?;
        }
        Ok(turn)
    }

    /// Counts for the metrics page.
    pub fn stats(&self) -> Result<JournalStats, JournalError> {
        let conn = self.read()?;
        let pairs = |sql: &str| -> Result<Vec<(String, i64)>, JournalError> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>().map_err(Into::into)
        };
        let outcomes = pairs("SELECT COALESCE(outcome, 'none'), COUNT(*) FROM conversations GROUP BY 1 ORDER BY 2 DESC")?;
        let handoff_reasons =
            pairs("SELECT reason, COUNT(*) FROM handoffs GROUP BY 1 ORDER BY 2 DESC")?;
        let intents = pairs("SELECT intent, COUNT(*) FROM turns WHERE role = 'customer' AND intent IS NOT NULL GROUP BY 1 ORDER BY 2 DESC")?;
        let mut stmt = conn.prepare("SELECT latency_ms FROM turns WHERE role = 'assistant' AND latency_ms IS NOT NULL ORDER BY latency_ms")?;
        let latencies_ms = stmt
            .query_map([], |r| r.get::<_, i64>(0))?
            .map(|r| r.map(|l| l.max(0) as u64))
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare("SELECT substr(created_at, 1, 10), channel, COUNT(*) FROM conversations GROUP BY 1, 2 ORDER BY 1, 2")?;
        let daily = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let feedback = pairs("SELECT rating, COUNT(*) FROM feedback GROUP BY 1 ORDER BY 1 DESC")?;
        Ok(JournalStats {
            outcomes,
            handoff_reasons,
            intents,
            latencies_ms,
            daily,
            feedback,
        })
    }
}

/// Deleting: erasure and retention (see `privacy`).
impl Journal {
    /// Conversations verified as customer `customer_id`.
    pub fn conversations_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Vec<String>, JournalError> {
        self.ids(
            "SELECT id FROM conversations WHERE customer_id = ?1",
            customer_id,
        )
    }

    /// Conversations where a customer's turn contains `needle`, ignoring ASCII case (an email
    /// address the customer typed, whether or not they were verified).
    pub fn conversations_mentioning(&self, needle: &str) -> Result<Vec<String>, JournalError> {
        let escaped = needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        self.ids("SELECT DISTINCT conversation_id FROM turns WHERE role = 'customer' AND text LIKE '%' || ?1 || '%' ESCAPE '\\'", &escaped)
    }

    /// Conversations with no turn since `cutoff`.
    pub fn conversations_idle_since(
        &self,
        cutoff: time::OffsetDateTime,
    ) -> Result<Vec<String>, JournalError> {
        let cutoff = timestamp(cutoff);
        self.ids(
            "SELECT id FROM conversations WHERE updated_at < ?1",
            &cutoff,
        )
    }

    fn ids(&self, sql: &str, arg: &str) -> Result<Vec<String>, JournalError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([arg], |r| r.get(0))?;
        rows.collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Deletes conversations with their turns and hand-offs, in one transaction.
    pub fn delete_conversations(&self, ids: &[String]) -> Result<Deleted, JournalError> {
        let mut conn = self.write()?;
        let tx = conn.transaction()?;
        let mut deleted = Deleted::default();
        for id in ids {
            deleted.questions += learn::forget_conversation(&tx, id)?;
            deleted.turns += tx.execute("DELETE FROM turns WHERE conversation_id = ?1", [id])?;
            tx.execute("DELETE FROM webhook_deliveries WHERE handoff_id IN (SELECT id FROM handoffs WHERE conversation_id = ?1)", [id])?;
            deleted.handoffs +=
                tx.execute("DELETE FROM handoffs WHERE conversation_id = ?1", [id])?;
            if tx.execute("DELETE FROM conversations WHERE id = ?1", [id])? > 0 {
                deleted.conversations += 1;
                deleted.conversation_ids.push(id.clone());
            }
        }
        tx.commit()?;
        Ok(deleted)
    }
}

/// The hand-off webhook's outbox.
impl Journal {
    /// Queues hand-off `handoff_id` for delivery at `at_ms` (unix milliseconds); queuing twice
    /// keeps the first.
    pub fn queue_delivery(&self, handoff_id: &str, at_ms: i64) -> Result<(), JournalError> {
        self.write()?.execute(
            "INSERT OR IGNORE INTO webhook_deliveries (handoff_id, next_at_ms) VALUES (?1, ?2)",
            params![handoff_id, at_ms],
        )?;
        Ok(())
    }

    /// Pending deliveries due by `now_ms`, oldest first: (hand-off id, attempts so far).
    pub fn due_deliveries(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, u32)>, JournalError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare("SELECT handoff_id, attempts FROM webhook_deliveries WHERE status = 'pending' AND next_at_ms <= ?1 ORDER BY next_at_ms LIMIT ?2")?;
        let rows = stmt.query_map(params![now_ms, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Records attempt number `attempt` of a delivery and what follows from it.
    pub fn record_delivery(
        &self,
        handoff_id: &str,
        attempt: u32,
        outcome: &crate::retry::Attempt,
    ) -> Result<(), JournalError> {
        use crate::retry::Attempt;
        let conn = self.write()?;
        match outcome {
            Attempt::Delivered => conn.execute(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = ?2, delivered_at = ?3 WHERE handoff_id = ?1",
                params![handoff_id, attempt, now()],
            )?,
            Attempt::Retry { error, at_ms } => conn.execute(
                "UPDATE webhook_deliveries SET attempts = ?2, last_error = ?3, next_at_ms = ?4 WHERE handoff_id = ?1",
                params![handoff_id, attempt, error, at_ms],
            )?,
            Attempt::GaveUp(error) => conn.execute(
                "UPDATE webhook_deliveries SET status = 'failed', attempts = ?2, last_error = ?3 WHERE handoff_id = ?1",
                params![handoff_id, attempt, error],
            )?,
        };
        Ok(())
    }

    /// The delivery of one hand-off, if it was queued.
    pub fn delivery(&self, handoff_id: &str) -> Result<Option<DeliveryRecord>, JournalError> {
        let conn = self.read()?;
        conn.query_row("SELECT handoff_id, status, attempts, last_error, delivered_at FROM webhook_deliveries WHERE handoff_id = ?1", [handoff_id], |r| {
            Ok(DeliveryRecord { handoff_id: r.get(0)?, status: r.get(1)?, attempts: r.get(2)?, last_error: r.get(3)?, delivered_at: r.get(4)? })
        })
        .optional()
        .map_err(Into::into)
    }
}

/// A turn's stored detail in column `i`; one that does not decode is `Corrupt` (see
/// [`Unreadable`]), named by the conversation (column 0 of the queries is not the turn id
/// everywhere, so the message says which column).
fn detail_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<TurnDetail> {
    let stored: String = r.get(i)?;
    TurnDetail::decode(&stored).map_err(|why| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            Box::new(Unreadable {
                id: "turn".into(),
                why: format!("turn detail: {why}"),
            }),
        )
    })
}

fn handoff_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HandoffRecord> {
    Ok(HandoffRecord {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        created_at: r.get(2)?,
        reason: r.get(3)?,
        status: r.get(4)?,
        packet: {
            let stored: String = r.get(5)?;
            HandoffPacket::decode(&stored).map_err(|why| {
                rusqlite::Error::FromSqlConversionFailure(
                    5,
                    rusqlite::types::Type::Text,
                    Box::new(Unreadable {
                        id: r.get::<_, String>(0).unwrap_or_default(),
                        why: format!("hand-off packet: {why}"),
                    }),
                )
            })?
        },
        claimed_by: r.get(6)?,
        claimed_at: r.get(7)?,
        resolved_by: r.get(8)?,
        resolved_at: r.get(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_sort_as_text_in_time_order() {
        let base = time::OffsetDateTime::from_unix_timestamp(1_795_770_300).unwrap();
        let a = timestamp(base + time::Duration::milliseconds(120));
        let b = timestamp(base + time::Duration::microseconds(123_400));
        assert_eq!(a, "2026-11-27T09:05:00.120000Z");
        assert!(a < b, "{a} < {b}");
        assert!(timestamp(base) < a);
    }

    #[test]
    fn a_hand_off_whose_packet_does_not_decode_is_an_error_not_an_empty_packet() {
        use crate::answer::HandoffReason;
        let j = Journal::open_in_memory().unwrap();
        j.create("c_1", "widget").unwrap();
        let packet = HandoffPacket::new("c_1", HandoffReason::CustomerAsked)
            .with_line("customer", "a person please");
        let id = j.open_handoff(&packet).unwrap();
        assert_eq!(j.handoff(&id).unwrap().unwrap().packet, packet);
        // As a later release might write it.
        j.write()
            .unwrap()
            .execute(
                "UPDATE handoffs SET packet = json_set(packet, '$.version', 99) WHERE id = ?1",
                [&id],
            )
            .unwrap();
        match j.handoff(&id) {
            Err(JournalError::Corrupt { id: which, message }) => {
                assert_eq!(which, id);
                assert!(message.contains("newer"), "{message}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert!(matches!(
            j.handoffs_with_status("open"),
            Err(JournalError::Corrupt { .. })
        ));
        // A turn's detail likewise: the conversation's record says it cannot be read.
        j.append(&TurnRecord {
            conversation_id: "c_1".into(),
            role: "agent".into(),
            text: "On its way".into(),
            intent: None,
            confidence: None,
            detail: TurnDetail::new(),
            latency_ms: None,
        })
        .unwrap();
        assert_eq!(j.turns("c_1").unwrap().len(), 1);
        j.write()
            .unwrap()
            .execute("UPDATE turns SET detail = '{\"version\": 7}'", [])
            .unwrap();
        assert!(matches!(j.turns("c_1"), Err(JournalError::Corrupt { .. })));
        assert!(matches!(
            j.turns_since("c_1", 0, None),
            Err(JournalError::Corrupt { .. })
        ));
    }
}
