//! The schema: every table of `shopkeep.db`, as one ordered list of steps.
//!
//! A step is only ever appended; a released step is never edited (a database that applied it
//! must end up where a new one does). Each step runs once, in order, recorded in
//! `schema_migrations`, all pending ones in one immediate transaction so two processes opening a
//! new file at once cannot both apply them.
//!
//! Releases before this list migrated each part on its own: the order store in
//! `schema_migrations` (steps 1 and 2 here, unchanged), the journal by `CREATE … IF NOT EXISTS`
//! on every start, the desk's accounts in `desk_migrations`. Step 3 is written to be safe on a
//! journal that exists already; steps 4 and 5 are taken as applied when `desk_migrations` says
//! the earlier release applied them. So a database from any of those releases opens and
//! migrates in place (tests/storage.rs opens one).

use rusqlite::{params, Connection, Transaction, TransactionBehavior};

use super::StorageError;

/// One step of the schema.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    up: Up,
    /// When an earlier release already made this step its own way: the step of its own
    /// migration table that did.
    adopted_if: Option<Legacy>,
}

/// A step as an earlier release's own migration table recorded it.
struct Legacy {
    table: &'static str,
    version: i64,
}

enum Up {
    Sql(&'static str),
    /// Steps that need more than SQL (looking at what is there first).
    Code(fn(&Transaction) -> rusqlite::Result<()>),
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "customers, products, variants and orders as JSON documents",
        up: Up::Sql(ORDERS),
        adopted_if: None,
    },
    Migration {
        version: 2,
        name: "action log",
        up: Up::Sql(ACTION_LOG),
        adopted_if: None,
    },
    Migration {
        version: 3,
        name: "conversation journal: turns, hand-offs, deliveries, feedback, email, gaps, search",
        up: Up::Code(journal),
        adopted_if: None,
    },
    Migration {
        version: 4,
        name: "desk users, sessions and tokens",
        up: Up::Sql(DESK_USERS),
        adopted_if: Some(Legacy {
            table: "desk_migrations",
            version: 1,
        }),
    },
    Migration {
        version: 5,
        name: "desk user management: disabling, last sign-in, audit log",
        up: Up::Sql(DESK_AUDIT),
        adopted_if: Some(Legacy {
            table: "desk_migrations",
            version: 2,
        }),
    },
    Migration {
        version: 6,
        name: "saved replies: templates admins keep and agents insert into a reply",
        up: Up::Sql(DESK_REPLIES),
        adopted_if: None,
    },
];

/// The newest step this binary knows.
pub fn newest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The newest step the database has applied.
pub fn current(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )
}

pub(super) fn apply(conn: &mut Connection) -> Result<(), StorageError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = current(&tx)?;
    let supported = newest();
    if found > supported {
        return Err(StorageError::SchemaTooNew { found, supported });
    }
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let failed = |source| StorageError::Migration {
            version: m.version,
            name: m.name,
            source,
        };
        let adopted = match &m.adopted_if {
            Some(legacy) => applied_before(&tx, legacy).map_err(failed)?,
            None => false,
        };
        if !adopted {
            match &m.up {
                Up::Sql(sql) => tx.execute_batch(sql),
                Up::Code(step) => step(&tx),
            }
            .map_err(failed)?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, now],
        )
        .map_err(failed)?;
    }
    tx.commit()?;
    Ok(())
}

const ORDERS: &str = "
    CREATE TABLE customers (
        id            TEXT PRIMARY KEY,
        email_lower   TEXT NOT NULL,
        first_norm    TEXT NOT NULL,
        last_norm     TEXT NOT NULL,
        postcode_norm TEXT NOT NULL,
        doc           TEXT NOT NULL
    );
    CREATE UNIQUE INDEX customers_email ON customers(email_lower) WHERE email_lower <> '';
    CREATE INDEX customers_name_postcode ON customers(last_norm, postcode_norm, first_norm);

    CREATE TABLE products (
        id       TEXT PRIMARY KEY,
        name     TEXT NOT NULL,
        category TEXT NOT NULL,
        doc      TEXT NOT NULL
    );

    CREATE TABLE variants (
        item_id     TEXT PRIMARY KEY,
        product_id  TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
        price_cents INTEGER NOT NULL,
        available   INTEGER NOT NULL,
        stock       INTEGER,
        doc         TEXT NOT NULL
    );
    CREATE INDEX variants_product ON variants(product_id);

    CREATE TABLE orders (
        number      TEXT PRIMARY KEY,
        number_norm TEXT NOT NULL,
        customer_id TEXT NOT NULL REFERENCES customers(id),
        status      TEXT NOT NULL,
        created_at  INTEGER,
        doc         TEXT NOT NULL
    );
    CREATE UNIQUE INDEX orders_number_norm ON orders(number_norm);
    CREATE INDEX orders_customer ON orders(customer_id, created_at);
    CREATE INDEX orders_status ON orders(status);
    CREATE INDEX orders_created ON orders(created_at);

";

const ACTION_LOG: &str = "
    CREATE TABLE actions (
        id              TEXT PRIMARY KEY,
        idempotency_key TEXT NOT NULL,
        at              TEXT NOT NULL,
        customer_id     TEXT NOT NULL,
        order_number    TEXT,
        kind            TEXT NOT NULL,
        status          TEXT NOT NULL,
        doc             TEXT NOT NULL
    );
    CREATE UNIQUE INDEX actions_key ON actions(idempotency_key);
    CREATE INDEX actions_order ON actions(order_number, at);
    CREATE INDEX actions_customer ON actions(customer_id, at);

";

/// The journal's tables as the releases before this list created them on every start (hence
/// `IF NOT EXISTS` throughout: an existing journal is left as it is, then completed).
pub(crate) const JOURNAL: &str = "
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    customer_id TEXT,
    outcome TEXT,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(updated_at);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    intent TEXT,
    confidence REAL,
    detail TEXT NOT NULL,
    latency_ms INTEGER
);
CREATE INDEX IF NOT EXISTS turns_conversation ON turns(conversation_id, id);
CREATE TABLE IF NOT EXISTS handoffs (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    packet TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS handoffs_status ON handoffs(status, created_at);
CREATE INDEX IF NOT EXISTS handoffs_conversation ON handoffs(conversation_id);
-- The hand-off webhook's outbox: one row per hand-off to deliver (see `webhook`).
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    handoff_id TEXT PRIMARY KEY REFERENCES handoffs(id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at_ms INTEGER NOT NULL,
    last_error TEXT,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(status, next_at_ms);
-- Thumbs up or down from the widget, one per assistant reply (the latest rating counts).
CREATE TABLE IF NOT EXISTS feedback (
    turn_id INTEGER PRIMARY KEY REFERENCES turns(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    rating TEXT NOT NULL,
    at TEXT NOT NULL
);
";

/// Added with the email channel.
const JOURNAL_EMAIL: &str = "
CREATE TABLE IF NOT EXISTS email_messages (
    message_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    at TEXT NOT NULL,
    customer_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    refs TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS email_messages_conversation ON email_messages(conversation_id, at);
-- Mail that could not be sent at once, tried again until sent or given up (see `email::outbox`).
-- The message itself is kept as JSON so a restart loses nothing; it goes with its conversation.
CREATE TABLE IF NOT EXISTS email_outbox (
    message_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    mail TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at_ms INTEGER NOT NULL,
    last_error TEXT,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS email_outbox_due ON email_outbox(status, next_at_ms);
";

/// Added with the knowledge base that grows (`learn`).
const JOURNAL_GAPS: &str = "
CREATE TABLE IF NOT EXISTS gap_clusters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- The sum of the members' unit vectors: its direction is the cluster's centre, and a member
    -- joining or leaving is one vector addition.
    centroid BLOB NOT NULL,
    members INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    decided_by TEXT,
    decided_at TEXT,
    article_id TEXT,
    article_path TEXT
);
CREATE INDEX IF NOT EXISTS gap_clusters_status ON gap_clusters(status, updated_at);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster_id INTEGER NOT NULL REFERENCES gap_clusters(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    question TEXT NOT NULL,
    reason TEXT NOT NULL,
    intent TEXT,
    vector BLOB NOT NULL,
    reply TEXT,
    replied_by TEXT
);
CREATE INDEX IF NOT EXISTS gaps_cluster ON gaps(cluster_id, id);
CREATE INDEX IF NOT EXISTS gaps_conversation ON gaps(conversation_id, id);
";

/// Added with the desk's paging and full-text search.
const JOURNAL_SEARCH: &str = "
CREATE INDEX IF NOT EXISTS conversations_created ON conversations(created_at, id);
-- An external-content index: the text lives once, in `turns`; the index holds only the words.
CREATE VIRTUAL TABLE IF NOT EXISTS turns_fts USING fts5(
    text, content = 'turns', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
-- FTS5 needs the old text to remove a row's words: the triggers pass what was stored.
CREATE TRIGGER IF NOT EXISTS turns_fts_insert AFTER INSERT ON turns BEGIN
    INSERT INTO turns_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS turns_fts_delete AFTER DELETE ON turns BEGIN
    INSERT INTO turns_fts (turns_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER IF NOT EXISTS turns_fts_update AFTER UPDATE OF text ON turns BEGIN
    INSERT INTO turns_fts (turns_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO turns_fts (rowid, text) VALUES (new.id, new.text);
END;
";

/// Columns added to tables of older journals (`CREATE TABLE IF NOT EXISTS` leaves those as they
/// were): the desk's claim and resolution of a hand-off.
const JOURNAL_ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("handoffs", "claimed_by", "TEXT"),
    ("handoffs", "claimed_at", "TEXT"),
    ("handoffs", "resolved_by", "TEXT"),
    ("handoffs", "resolved_at", "TEXT"),
];

fn journal(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(JOURNAL)?;
    tx.execute_batch(JOURNAL_EMAIL)?;
    tx.execute_batch(JOURNAL_GAPS)?;
    for (table, column, ty) in JOURNAL_ADDED_COLUMNS {
        let present: bool = tx.query_row(
            &format!("SELECT EXISTS(SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1)"),
            [column],
            |r| r.get(0),
        )?;
        if !present {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"))?;
        }
    }
    let indexed: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'turns_fts')",
        [],
        |r| r.get(0),
    )?;
    tx.execute_batch(JOURNAL_SEARCH)?;
    if !indexed {
        // Turns written before the index existed; afterwards the triggers keep it current.
        tx.execute_batch("INSERT INTO turns_fts (turns_fts) VALUES ('rebuild')")?;
    }
    Ok(())
}

const DESK_USERS: &str = "
    CREATE TABLE desk_users (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        email         TEXT NOT NULL UNIQUE,
        name          TEXT NOT NULL,
        role          TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at    TEXT NOT NULL
    );
    CREATE TABLE desk_sessions (
        id_hash    TEXT PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES desk_users(id) ON DELETE CASCADE,
        csrf       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX desk_sessions_expiry ON desk_sessions(expires_at);
    CREATE TABLE desk_tokens (
        token_hash TEXT PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES desk_users(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL
    );

";

const DESK_AUDIT: &str = "
    ALTER TABLE desk_users ADD COLUMN disabled_at TEXT;
    ALTER TABLE desk_users ADD COLUMN last_login_at TEXT;
    CREATE TABLE desk_audit (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at     TEXT NOT NULL,
        actor  TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    );

";

const DESK_REPLIES: &str = "
    CREATE TABLE desk_replies (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        title      TEXT NOT NULL UNIQUE,
        body       TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
";

/// Whether an earlier release's own migration table records the step (the table exists only in
/// databases of the releases that kept one).
fn applied_before(tx: &Transaction, legacy: &Legacy) -> rusqlite::Result<bool> {
    let has_table: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [legacy.table],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(false);
    }
    tx.query_row(
        &format!(
            "SELECT EXISTS(SELECT 1 FROM {} WHERE version = ?1)",
            legacy.table
        ),
        [legacy.version],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_only_go_up_one_step_at_a_time() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
    }
}
