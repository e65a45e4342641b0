//! The database a store keeps across upgrades and crashes: one file, opened in one place, whose
//! schema moves forward in place, and whose acknowledged writes are there after a restart.
//!
//! The kill -9 test under real load is `scripts/crash-test.py` (it needs a release server);
//! here the same promises are checked in-process.

use std::{net::IpAddr, sync::Arc};

use shopkeep::{
    desk::accounts::{Accounts, Limits},
    journal::{ConversationState, Exchange, Journal, TurnRecord},
    orders::{OrderStore, SqliteOrderStore},
    storage::{migrations, Database, StorageError},
};

const RELEASE_2026_12_04: &str = include_str!("fixtures/database-2026-12-04.sql");

/// A database file as the 2026-12-04 release left it.
fn old_database(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("shopkeep.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL").unwrap();
    conn.execute_batch(RELEASE_2026_12_04).unwrap();
    path
}

fn turn(conversation_id: &str, role: &str, text: &str) -> TurnRecord {
    TurnRecord {
        conversation_id: conversation_id.into(),
        role: role.into(),
        text: text.into(),
        intent: None,
        confidence: None,
        detail: shopkeep::journal::TurnDetail::new(),
        latency_ms: None,
    }
}

#[tokio::test]
async fn a_database_written_by_the_previous_release_opens_and_migrates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = old_database(dir.path());

    let db = Database::open(&path).unwrap();
    let journal = Journal::new(db.clone());
    let orders = SqliteOrderStore::new(db.clone());
    let accounts = Accounts::new(db.clone(), Limits::default());

    // Every step is recorded once; the ones the old release had made its own way are adopted,
    // not run again (running the desk's would fail: its tables exist).
    let applied: Vec<i64> = {
        let conn = db.reader().unwrap();
        let mut s = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(applied, (1..=migrations::newest()).collect::<Vec<_>>());

    // What the old release wrote is all readable by today's code.
    let conversations: Vec<String> = {
        let conn = db.reader().unwrap();
        let mut s = conn.prepare("SELECT id FROM conversations").unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(conversations.len(), 1);
    let id = &conversations[0];
    let turns = journal.turns(id).unwrap();
    assert_eq!(turns.len(), 6, "three exchanges");
    assert!(journal.conversation(id).unwrap().unwrap().state.handed_off);
    let handoffs = journal.handoffs_of(id).unwrap();
    assert_eq!(handoffs.len(), 1);
    // Its packet and turn details, written before they were typed records, read as version 1
    // with what they held.
    let packet = &handoffs[0].packet;
    assert_eq!(packet.version, 1);
    assert_eq!(packet.reason.code(), handoffs[0].reason);
    assert!(packet.last_customer_message().is_some(), "{packet:?}");
    assert!(
        turns
            .iter()
            .filter(|t| t.role == "customer")
            .all(|t| t.detail.understanding.is_some()),
        "every customer turn kept how it was understood"
    );
    assert!(
        !journal.turns_matching("shipping").unwrap().is_empty(),
        "the full-text index carried over"
    );
    let order = orders.order("LF-100004").unwrap().expect("the demo order");
    assert_eq!(order.customer_id, "cus_001");
    let (_, session) = accounts
        .login(
            "ana@larkfield.example",
            "correct horse battery staple",
            IpAddr::from([127, 0, 0, 1]),
            1_900_000_000,
        )
        .expect("the desk admin of the old release signs in");
    assert_eq!(session.staff.email, "ana@larkfield.example");

    // And it takes new writes.
    journal
        .commit_exchange(Exchange {
            conversation_id: id.clone(),
            new_channel: None,
            state: ConversationState::default(),
            outcome: "answered".into(),
            turns: vec![turn(
                id,
                "customer",
                "thanks, one more question about parcels",
            )],
        })
        .await
        .unwrap();
    assert_eq!(journal.turns_matching("parcels").unwrap().len(), 1);
    assert_eq!(db.integrity_check().unwrap(), "ok");
    drop((journal, orders, accounts, db));

    // Opening again changes nothing.
    let db = Database::open(&path).unwrap();
    assert_eq!(
        migrations::current(&db.reader().unwrap()).unwrap(),
        migrations::newest()
    );
    assert_eq!(Journal::new(db).turns(&conversations[0]).unwrap().len(), 7);
}

#[test]
fn a_database_from_a_newer_release_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shopkeep.db");
    drop(Database::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', '2031-01-01T00:00:00Z')", [])
        .unwrap();
    let err = Database::open(&path).err().expect("refused");
    assert!(matches!(err, StorageError::SchemaTooNew { found: 999, .. }));
    assert_eq!(err.code(), "schema_too_new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_exchange_is_on_disk_for_the_next_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shopkeep.db");
    let journal = Arc::new(Journal::new(Database::open(&path).unwrap()));
    let mut tasks = Vec::new();
    for i in 0..300 {
        let journal = journal.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("c_{i:04}");
            journal
                .commit_exchange(Exchange {
                    conversation_id: id.clone(),
                    new_channel: Some("api".into()),
                    state: ConversationState::default(),
                    outcome: "answered".into(),
                    turns: vec![
                        turn(&id, "customer", &format!("question {i}")),
                        turn(&id, "assistant", &format!("answer {i}")),
                    ],
                })
                .await
                .map(|()| id)
        }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.push(t.await.unwrap().unwrap());
    }
    // A second, independent connection (another process would see the same): each
    // acknowledged exchange is committed, with both turns.
    let other = rusqlite::Connection::open(&path).unwrap();
    for id in &acknowledged {
        let n: i64 = other
            .query_row(
                "SELECT COUNT(*) FROM turns WHERE conversation_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 2, "{id}");
    }
}

#[test]
fn the_service_parts_share_one_database_and_see_each_others_writes() {
    let db = Database::open_in_memory().unwrap();
    let orders = SqliteOrderStore::new(db.clone());
    let journal = Journal::new(db.clone());
    journal.create("c_shared", "api").unwrap();
    // The journal's conversation and the order tables live in the same file and transactions.
    let n: i64 = db
        .reader()
        .unwrap()
        .query_row(
            "SELECT (SELECT COUNT(*) FROM conversations) + (SELECT COUNT(*) FROM orders)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(orders.counts().unwrap().orders, 0);
}
