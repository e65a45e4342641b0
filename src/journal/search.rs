//! Finding conversations for the desk: full-text search over every turn's text (SQLite FTS5,
//! kept in step with `turns` by triggers, so erasure and purging take the words out of the index
//! with the turns), and keyset paging through the list, newest first.
//!
//! Pages are cut by the conversation's start time and id, which never change: a page's cursor
//! names the last conversation shown, and the next page is everything older than it. New
//! conversations start after every existing one, so they only ever appear on the first page, and
//! paging on through older ones shows each exactly once however many arrive meanwhile.
//!
//! The search box is typed by people: [`fts_query`] turns it into an FTS5 query of quoted terms
//! only, so no input reaches FTS5's own syntax (`NEAR`, `*`, `-`, column filters) or can make it
//! fail.

use rusqlite::{params_from_iter, types::Value};
use serde::{Deserialize, Serialize};

use super::{ConversationFilter, ConversationSummary, Journal, JournalError};

/// Conversations one page shows unless asked otherwise, and at most.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;

/// Around a match in a snippet (private-use characters, which typed text practically never
/// holds; a page escapes the text first and only then turns these into markup).
pub const MARK_START: char = '\u{E000}';
pub const MARK_END: char = '\u{E001}';

/// Words of a search taken into account; the rest are ignored.
const MAX_TERMS: usize = 16;
/// Tokens of context a snippet shows around its match.
const SNIPPET_TOKENS: i64 = 12;
/// Longest cursor accepted (ours are well under this; longer ones are not ours).
const MAX_CURSOR_CHARS: usize = 2048;

/// The FTS5 query for what someone typed in the search box, or `None` when it holds no word
/// to search for. Every term is quoted as an FTS5 string (a `"` doubled), so operators,
/// parentheses, `*`, `-`, `:` and `NEAR(` are plain text; terms are ANDed; the last one also
/// matches as a prefix unless the input ends in a space (so results come while typing). Terms
/// without a letter or digit are dropped: the tokenizer would find no word in them.
pub fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<&str> = input
        .split_whitespace()
        .filter(|t| t.chars().any(char::is_alphanumeric))
        .take(MAX_TERMS)
        .collect();
    let prefix = !input.ends_with(char::is_whitespace);
    let last = terms.len().checked_sub(1)?;
    let quoted: Vec<String> = terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let star = if i == last && prefix { "*" } else { "" };
            format!("\"{}\"{star}", t.replace('"', "\"\""))
        })
        .collect();
    Some(quoted.join(" "))
}

/// Which page of the listing: `cursor` (older than that point, the API's `next_cursor`) or
/// `newer` (newer than it, the API's `prev_cursor`), neither for the newest; `limit` per page
/// ([`DEFAULT_PAGE`]; at most [`MAX_PAGE`], more is capped).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PageParams {
    pub cursor: Option<String>,
    pub newer: Option<String>,
    pub limit: Option<usize>,
}

/// One page of conversations, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationPage {
    pub conversations: Vec<ConversationSummary>,
    /// For the next, older page (`?cursor=`); `None` at the end.
    pub next_cursor: Option<String>,
    /// For the previous, newer page (`?newer=`); `None` on the newest page.
    pub prev_cursor: Option<String>,
    pub limit: usize,
}

/// A point in the listing: a conversation's start time and id.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    created_at: String,
    id: String,
}

impl Key {
    /// Opaque to callers (hex), so nobody builds one by hand and comes to rely on its shape.
    fn encode(&self) -> String {
        hex::encode(format!("{}\n{}", self.created_at, self.id))
    }

    /// Only what [`Key::encode`] writes: lower-case hex of a stored time (`timestamp`'s shape),
    /// a newline and a non-empty printable-ASCII id. Anything else was not issued by us (the
    /// API's description states this shape, and a cursor outside it is refused, not guessed at).
    fn decode(s: &str) -> Result<Self, JournalError> {
        if s.len() > MAX_CURSOR_CHARS || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(JournalError::BadCursor);
        }
        let bytes = hex::decode(s).map_err(|_| JournalError::BadCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| JournalError::BadCursor)?;
        // The time never holds a newline; an id might, so split at the first.
        let (created_at, id) = text.split_once('\n').ok_or(JournalError::BadCursor)?;
        let time_shape = created_at.len() == 27
            && created_at.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                10 => b == b'T',
                13 | 16 => b == b':',
                19 => b == b'.',
                26 => b == b'Z',
                _ => b.is_ascii_digit(),
            });
        if !time_shape || id.is_empty() || !id.bytes().all(|b| (0x20..=0x7f).contains(&b)) {
            return Err(JournalError::BadCursor);
        }
        Ok(Self {
            created_at: created_at.into(),
            id: id.into(),
        })
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Older,
    Newer,
}

impl Direction {
    fn comparison(self) -> &'static str {
        match self {
            Self::Older => "<",
            Self::Newer => ">",
        }
    }
}

/// A WHERE clause over `conversations c` and its numbered arguments.
#[derive(Clone, Default)]
struct Where {
    clauses: Vec<String>,
    args: Vec<Value>,
}

impl Where {
    /// Adds `clause`, where `?` stands for `value`'s position.
    fn push(&mut self, clause: &str, value: impl Into<Value>) {
        self.args.push(value.into());
        self.clauses
            .push(clause.replace('?', &format!("?{}", self.args.len())));
    }

    fn beyond(&self, key: &Key, direction: Direction) -> Self {
        let mut w = self.clone();
        w.args.push(key.created_at.clone().into());
        w.args.push(key.id.clone().into());
        let n = w.args.len();
        w.clauses.push(format!(
            "(c.created_at, c.id) {} (?{}, ?{n})",
            direction.comparison(),
            n - 1
        ));
        w
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1".into()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

impl Journal {
    /// One page of the conversations matching `f`, newest first (by start), with the cursors of
    /// the pages on either side.
    pub fn conversations_page(
        &self,
        f: &ConversationFilter,
        page: &PageParams,
    ) -> Result<ConversationPage, JournalError> {
        let limit = page.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let blank = |o: &Option<String>| {
            o.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        // An empty cursor (a form's blank field) is no cursor; with both, `cursor` (the older
        // page) is followed, so every well-formed request has one meaning. Both are checked,
        // though: a malformed one is refused even when the other is followed.
        let older = blank(&page.cursor).map(|c| Key::decode(&c)).transpose()?;
        let newer = blank(&page.newer).map(|c| Key::decode(&c)).transpose()?;
        let (anchor, direction) = match (older, newer) {
            (Some(k), _) => (Some(k), Direction::Older),
            (None, Some(k)) => (Some(k), Direction::Newer),
            (None, None) => (None, Direction::Older),
        };
        let empty = ConversationPage {
            conversations: Vec::new(),
            next_cursor: None,
            prev_cursor: None,
            limit,
        };
        let mut w = Where::default();
        if let Some(channel) = blank(&f.channel) {
            w.push("c.channel = ?", channel);
        }
        if let Some(intent) = blank(&f.intent) {
            w.push("EXISTS (SELECT 1 FROM turns t WHERE t.conversation_id = c.id AND t.role = 'customer' AND t.intent = ?)", intent);
        }
        if let Some(outcome) = blank(&f.outcome) {
            w.push("c.outcome = ?", outcome);
        }
        if let Some(from) = blank(&f.from) {
            w.push("c.created_at >= ?", from);
        }
        // `to` is a day: everything started before the next one (RFC 3339 sorts as text).
        if let Some(to) = blank(&f.to) {
            w.push("c.created_at < ?", format!("{to}T99"));
        }
        let search = match blank(&f.q) {
            None => None,
            // Untrimmed: a trailing space says the last word is finished (no prefix match).
            Some(_) => match fts_query(f.q.as_deref().unwrap_or_default()) {
                Some(q) => Some(q),
                // Typed, but nothing in it is a word: nothing can match.
                None => return Ok(empty),
            },
        };
        if let Some(q) = &search {
            // The matching turns are found once (an uncorrelated subquery), not per conversation.
            w.push("c.id IN (SELECT t.conversation_id FROM turns t WHERE t.id IN (SELECT rowid FROM turns_fts WHERE turns_fts MATCH ?))", q.clone());
        }

        let conn = self.read()?;
        let filtered = match &anchor {
            Some(key) => w.beyond(key, direction),
            None => w.clone(),
        };
        let order = match direction {
            Direction::Older => "DESC",
            Direction::Newer => "ASC",
        };
        let sql = format!(
            "SELECT c.id, c.channel, c.created_at, c.updated_at, c.outcome, c.customer_id,
                    (SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id),
                    (SELECT text FROM turns t WHERE t.conversation_id = c.id AND t.role = 'customer' ORDER BY t.id LIMIT 1),
                    (SELECT intent FROM turns t WHERE t.conversation_id = c.id AND t.role = 'customer' AND t.intent IS NOT NULL ORDER BY t.id DESC LIMIT 1)
             FROM conversations c WHERE {} ORDER BY c.created_at {order}, c.id {order} LIMIT {}",
            filtered.sql(),
            limit + 1
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(filtered.args.iter()), |r| {
            Ok(ConversationSummary {
                id: r.get(0)?,
                channel: r.get(1)?,
                created_at: r.get(2)?,
                updated_at: r.get(3)?,
                outcome: r.get(4)?,
                customer_id: r.get(5)?,
                turns: r.get(6)?,
                first_message: r.get(7)?,
                intent: r.get(8)?,
                snippet: None,
            })
        })?;
        let mut list: Vec<ConversationSummary> = rows.collect::<Result<_, _>>()?;
        // One more than a page was asked for: whether it came says if there is more that way.
        let more_that_way = list.len() > limit;
        list.truncate(limit);
        if direction == Direction::Newer {
            list.reverse();
        }
        let key = |c: &ConversationSummary| Key {
            created_at: c.created_at.clone(),
            id: c.id.clone(),
        };
        let exists = |key: &Key, d: Direction| -> Result<bool, JournalError> {
            let b = w.beyond(key, d);
            Ok(conn.query_row(
                &format!(
                    "SELECT EXISTS(SELECT 1 FROM conversations c WHERE {})",
                    b.sql()
                ),
                params_from_iter(b.args.iter()),
                |r| r.get(0),
            )?)
        };
        let (next_cursor, prev_cursor) = match (list.first(), list.last()) {
            (Some(newest), Some(oldest)) => match direction {
                Direction::Older => (
                    more_that_way.then(|| key(oldest).encode()),
                    if anchor.is_some() && exists(&key(newest), Direction::Newer)? {
                        Some(key(newest).encode())
                    } else {
                        None
                    },
                ),
                Direction::Newer => (
                    exists(&key(oldest), Direction::Older)?.then(|| key(oldest).encode()),
                    more_that_way.then(|| key(newest).encode()),
                ),
            },
            // Past either end (the conversations around the cursor were deleted, or it was made
            // up): nothing to link to but the newest page.
            _ => (None, None),
        };

        if let Some(q) = &search {
            if !list.is_empty() {
                let ids =
                    serde_json::to_string(&list.iter().map(|c| c.id.as_str()).collect::<Vec<_>>())
                        .unwrap_or_default();
                let mut stmt = conn.prepare(
                    "SELECT t.conversation_id, snippet(turns_fts, 0, ?2, ?3, '…', ?4) FROM turns_fts JOIN turns t ON t.id = turns_fts.rowid
                     WHERE turns_fts MATCH ?1 AND t.conversation_id IN (SELECT value FROM json_each(?5)) ORDER BY t.id",
                )?;
                let rows = stmt.query_map(
                    rusqlite::params![
                        q,
                        MARK_START.to_string(),
                        MARK_END.to_string(),
                        SNIPPET_TOKENS,
                        ids
                    ],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )?;
                for row in rows {
                    let (id, snippet) = row?;
                    // The first matching turn of each conversation.
                    if let Some(c) = list.iter_mut().find(|c| c.id == id && c.snippet.is_none()) {
                        c.snippet = Some(snippet);
                    }
                }
            }
        }
        Ok(ConversationPage {
            conversations: list,
            next_cursor,
            prev_cursor,
            limit,
        })
    }

    /// Ids of the turns whose text matches `query` (typed text, as for [`fts_query`]), read from
    /// the search index alone: what an erasure must leave nothing of.
    pub fn turns_matching(&self, query: &str) -> Result<Vec<i64>, JournalError> {
        let Some(q) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let conn = self.read()?;
        let mut stmt =
            conn.prepare("SELECT rowid FROM turns_fts WHERE turns_fts MATCH ?1 ORDER BY rowid")?;
        let rows = stmt.query_map([q], |r| r.get(0))?;
        rows.collect::<Result<_, _>>().map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{ConversationState, TurnRecord};

    fn said(journal: &Journal, id: &str, text: &str) {
        if journal.conversation(id).unwrap().is_none() {
            journal.create(id, "widget").unwrap();
        }
        let turn = TurnRecord {
            conversation_id: id.into(),
            role: "customer".into(),
            text: text.into(),
            intent: None,
            confidence: None,
            detail: crate::journal::TurnDetail::new(),
            latency_ms: None,
        };
        journal
            .record(id, &ConversationState::default(), "answered", &[turn])
            .unwrap();
    }

    fn search(journal: &Journal, q: &str) -> Vec<String> {
        let f = ConversationFilter {
            q: Some(q.into()),
            ..Default::default()
        };
        journal
            .conversations_page(&f, &PageParams::default())
            .unwrap()
            .conversations
            .into_iter()
            .map(|c| c.id)
            .collect()
    }

    #[test]
    fn typed_text_becomes_quoted_terms_with_a_prefix_on_the_last() {
        assert_eq!(
            fts_query("refund  parcel").as_deref(),
            Some("\"refund\" \"parcel\"*")
        );
        assert_eq!(
            fts_query("refund ").as_deref(),
            Some("\"refund\""),
            "a finished word is not a prefix"
        );
        assert_eq!(
            fts_query("say \"hi\"").as_deref(),
            Some("\"say\" \"\"\"hi\"\"\"*")
        );
        assert_eq!(
            fts_query("NEAR(a b)").as_deref(),
            Some("\"NEAR(a\" \"b)\"*")
        );
        for nothing in ["", "   ", "\"", "*", "-", "( ) : ^ + -"] {
            assert_eq!(fts_query(nothing), None, "{nothing:?}");
        }
    }

    #[test]
    fn words_are_found_in_any_turn_and_hostile_input_never_fails() {
        let j = Journal::open_in_memory().unwrap();
        said(&j, "a", "My parcel to Zürich never arrived");
        said(&j, "b", "Where is my refund? maya.chen@example.com");
        assert_eq!(search(&j, "PARCEL"), vec!["a"]);
        assert_eq!(search(&j, "zurich"), vec!["a"], "diacritics folded");
        assert_eq!(search(&j, "ref"), vec!["b"], "prefix on the last word");
        assert!(search(&j, "ref ").is_empty(), "only while typing it");
        assert_eq!(search(&j, "maya.chen@example.com"), vec!["b"]);
        assert!(
            search(&j, "parcel refund").is_empty(),
            "all words, in one turn"
        );
        for hostile in [
            "\"",
            "*",
            "NEAR(",
            "-",
            "",
            "\"unbalanced",
            "a OR b",
            "text:parcel",
            "parcel)",
            "^parcel",
            "NOT",
            "AND",
            "((",
            "'; DROP TABLE turns; --",
            "\u{0}",
            "\u{E000}",
        ] {
            let f = ConversationFilter {
                q: Some(hostile.into()),
                ..Default::default()
            };
            assert!(
                j.conversations_page(&f, &PageParams::default()).is_ok(),
                "{hostile:?}"
            );
            assert!(j.turns_matching(hostile).is_ok(), "{hostile:?}");
        }
        let page = j
            .conversations_page(
                &ConversationFilter {
                    q: Some("parc".into()),
                    ..Default::default()
                },
                &PageParams::default(),
            )
            .unwrap();
        assert_eq!(
            page.conversations[0].snippet.as_deref(),
            Some("My \u{E000}parcel\u{E001} to Zürich never arrived")
        );
    }

    #[test]
    fn an_older_database_gets_its_turns_indexed_and_deletes_leave_no_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // The journal as it was before the search index.
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(crate::storage::migrations::JOURNAL)
                .unwrap();
            conn.execute_batch(
                "INSERT INTO conversations (id, channel, created_at, updated_at, state) VALUES ('old', 'widget', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '{}');
                 INSERT INTO turns (conversation_id, at, role, text, detail) VALUES ('old', '2026-01-01T00:00:00Z', 'customer', 'a wobbly lampshade', '{}');",
            )
            .unwrap();
        }
        let j = Journal::open(&path).unwrap();
        assert_eq!(search(&j, "lampshade"), vec!["old"]);
        drop(j);
        let j = Journal::open(&path).unwrap();
        assert_eq!(
            j.turns_matching("lampshade").unwrap().len(),
            1,
            "indexed once, not again on every open"
        );
        j.delete_conversations(&["old".into()]).unwrap();
        assert!(j.turns_matching("wobbly").unwrap().is_empty());
        j.database()
            .writer()
            .unwrap()
            .execute_batch("INSERT INTO turns_fts (turns_fts) VALUES ('integrity-check')")
            .unwrap();
    }

    #[test]
    fn pages_cover_every_conversation_once_in_both_directions() {
        let j = Journal::open_in_memory().unwrap();
        for i in 0..23 {
            j.create(
                &format!("c{i:02}"),
                if i % 2 == 0 { "widget" } else { "api" },
            )
            .unwrap();
        }
        let params = |cursor: Option<String>, newer: Option<String>| PageParams {
            cursor,
            newer,
            limit: Some(5),
        };
        let f = ConversationFilter::default();
        let mut seen = Vec::new();
        let mut pages = Vec::new();
        let mut page = j.conversations_page(&f, &params(None, None)).unwrap();
        assert_eq!(page.prev_cursor, None);
        loop {
            seen.extend(page.conversations.iter().map(|c| c.id.clone()));
            pages.push(page.clone());
            // A conversation started while paging goes to the front, not into the next page.
            j.create(&format!("new{}", pages.len()), "widget").unwrap();
            match page.next_cursor.clone() {
                Some(c) => page = j.conversations_page(&f, &params(Some(c), None)).unwrap(),
                None => break,
            }
        }
        let expected: Vec<String> = (0..23).rev().map(|i| format!("c{i:02}")).collect();
        assert_eq!(seen, expected);
        assert_eq!(pages.len(), 5);
        // Back up from the last page: the same pages, newest last.
        let mut back = pages.last().unwrap().prev_cursor.clone();
        for expected in pages.iter().rev().skip(1).take(3) {
            let p = j
                .conversations_page(&f, &params(None, back.clone()))
                .unwrap();
            assert_eq!(
                p.conversations.iter().map(|c| &c.id).collect::<Vec<_>>(),
                expected
                    .conversations
                    .iter()
                    .map(|c| &c.id)
                    .collect::<Vec<_>>()
            );
            back = p.prev_cursor;
        }
        // Filters hold across pages.
        let widget = ConversationFilter {
            channel: Some("api".into()),
            ..Default::default()
        };
        let first = j.conversations_page(&widget, &params(None, None)).unwrap();
        let second = j
            .conversations_page(&widget, &params(first.next_cursor.clone(), None))
            .unwrap();
        assert!(first
            .conversations
            .iter()
            .chain(&second.conversations)
            .all(|c| c.channel == "api"));
        assert_eq!(first.conversations.len() + second.conversations.len(), 10);
        assert_eq!(
            second.next_cursor.map(|c| j
                .conversations_page(&widget, &params(Some(c), None))
                .unwrap()
                .conversations
                .len()),
            Some(1)
        );

        for bad in ["zz", "00", &"ab".repeat(2000)] {
            assert!(
                matches!(
                    j.conversations_page(&f, &params(Some(bad.to_string()), None)),
                    Err(JournalError::BadCursor)
                ),
                "{bad}"
            );
        }
        let older = j
            .conversations_page(&widget, &params(first.next_cursor.clone(), None))
            .unwrap();
        let both = j
            .conversations_page(
                &widget,
                &params(first.next_cursor.clone(), first.next_cursor.clone()),
            )
            .unwrap();
        assert_eq!(
            both.conversations.iter().map(|c| &c.id).collect::<Vec<_>>(),
            older
                .conversations
                .iter()
                .map(|c| &c.id)
                .collect::<Vec<_>>(),
            "with both, the cursor is followed"
        );
        assert!(
            matches!(
                j.conversations_page(&f, &params(Some("".into()), Some("00".into()))),
                Err(JournalError::BadCursor)
            ),
            "an empty cursor is none: the bad newer is read"
        );
        assert!(
            matches!(
                j.conversations_page(&f, &params(first.next_cursor.clone(), Some("00".into()))),
                Err(JournalError::BadCursor)
            ),
            "a bad newer is refused even when the cursor is followed"
        );
        assert_eq!(
            j.conversations_page(
                &f,
                &PageParams {
                    limit: Some(100_000),
                    ..Default::default()
                }
            )
            .unwrap()
            .limit,
            MAX_PAGE
        );
    }
}
