//! Privacy: a customer's conversations can be erased on request, conversations past the
//! retention period are purged, and both say exactly what they removed. The store's own records
//! (orders) are not conversation data and stay.

use shopkeep::{answer::HandoffReason, journal::HandoffPacket};
use std::path::Path;

use shopkeep::{
    journal::{ConversationState, Journal, TurnRecord},
    orders::{demo::seed_demo, OrderStore, SqliteOrderStore},
    privacy::{erase_customer, purge_older_than},
};
use time::{macros::date, Duration, OffsetDateTime};

const MAYA: &str = "maya.chen@example.com";

fn store(db: &Path) -> SqliteOrderStore {
    let store = SqliteOrderStore::open(db).unwrap();
    seed_demo(&store, date!(2026 - 11 - 27)).unwrap();
    store
}

/// A conversation with one exchange; `verified_as` is the customer the assistant verified.
fn conversation(journal: &Journal, id: &str, customer_says: &str, verified_as: Option<&str>) {
    journal.create(id, "widget").unwrap();
    let state = ConversationState {
        customer_id: verified_as.map(String::from),
        ..Default::default()
    };
    let turn = |role: &str, text: &str| TurnRecord {
        conversation_id: id.into(),
        role: role.into(),
        text: text.into(),
        intent: None,
        confidence: None,
        detail: shopkeep::journal::TurnDetail::new(),
        latency_ms: None,
    };
    journal
        .record(
            id,
            &state,
            "answered",
            &[
                turn("customer", customer_says),
                turn("assistant", "Thanks, here is what I found."),
            ],
        )
        .unwrap();
}

#[test]
fn erasing_a_customer_removes_their_conversations_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shopkeep.db");
    let store = store(&db);
    let journal = Journal::open(&db).unwrap();
    let maya = store
        .customer_by_email(MAYA)
        .unwrap()
        .expect("demo customer");

    conversation(
        &journal,
        "c_verified",
        "Where is order LF-100001?",
        Some(&maya.id),
    );
    journal
        .open_handoff(&HandoffPacket::new(
            "c_verified",
            HandoffReason::CustomerAsked,
        ))
        .unwrap();
    // Never verified, but she wrote her address (in another case).
    conversation(
        &journal,
        "c_typed",
        "my email is Maya.Chen@Example.com, where is my parcel?",
        None,
    );
    conversation(
        &journal,
        "c_other",
        "Where is my order? I'm someone.else@example.com",
        None,
    );
    // By email from her address, never verified and the address never typed.
    conversation(&journal, "c_mail", "Where is my parcel?", None);
    let mail = |id: &str, dir: &str| shopkeep::journal::EmailRecord {
        message_id: id.into(),
        conversation_id: "c_mail".into(),
        direction: dir.into(),
        customer_address: "Maya.Chen@example.com".into(),
        subject: "parcel".into(),
        references: vec![],
    };
    journal
        .record_email(&mail("m1@mail.example", "in"))
        .unwrap();
    journal
        .record_email(&mail("r1@larkfield.example", "out"))
        .unwrap();

    let removed = erase_customer(&journal, &store, MAYA).unwrap();
    assert_eq!(
        removed.conversation_ids,
        ["c_mail", "c_typed", "c_verified"]
            .map(String::from)
            .to_vec()
    );
    assert_eq!(
        (removed.conversations, removed.turns, removed.handoffs),
        (3, 6, 1)
    );
    assert!(
        journal.email("m1@mail.example").unwrap().is_none(),
        "the mail records go with it"
    );
    assert!(journal.conversation("c_verified").unwrap().is_none());
    assert!(journal.turns("c_typed").unwrap().is_empty());
    assert!(journal.handoffs_with_status("open").unwrap().is_empty());
    // Another customer's conversation and the store's orders stay.
    assert_eq!(journal.turns("c_other").unwrap().len(), 2);
    assert!(!store.orders_for_customer(&maya.id).unwrap().is_empty());

    // Erasing again finds nothing: it is idempotent, not an error.
    assert_eq!(
        erase_customer(&journal, &store, MAYA)
            .unwrap()
            .conversations,
        0
    );
}

#[test]
fn an_erased_customers_words_are_gone_from_the_search_index() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shopkeep.db");
    let store = store(&db);
    let journal = Journal::open(&db).unwrap();
    conversation(
        &journal,
        "c_typed",
        "my email is maya.chen@example.com and my cat is called Marmaduke",
        None,
    );
    conversation(&journal, "c_other", "my dog is called Marmalade", None);
    assert_eq!(journal.turns_matching("Marmaduke").unwrap().len(), 1);
    assert_eq!(journal.turns_matching("marma").unwrap().len(), 2, "prefix");

    erase_customer(&journal, &store, MAYA).unwrap();
    // Read from the index itself, not through the turns: no word of hers is left in it.
    assert!(journal.turns_matching("Marmaduke").unwrap().is_empty());
    assert!(journal
        .turns_matching("maya.chen@example.com")
        .unwrap()
        .is_empty());
    assert_eq!(
        journal.turns_matching("marma").unwrap().len(),
        1,
        "the other customer's stay"
    );
    let search = shopkeep::journal::ConversationFilter {
        q: Some("Marmaduke".into()),
        ..Default::default()
    };
    assert!(journal
        .conversations_page(&search, &Default::default())
        .unwrap()
        .conversations
        .is_empty());

    // Purging takes the words of what it removes too.
    purge_older_than(&journal, 30, OffsetDateTime::now_utc() + Duration::days(31)).unwrap();
    assert!(journal.turns_matching("marma").unwrap().is_empty());
    assert!(
        journal.turns_matching("thanks").unwrap().is_empty(),
        "the replies' words too"
    );
}

#[test]
fn an_email_that_is_a_pattern_matches_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shopkeep.db");
    let store = store(&db);
    let journal = Journal::open(&db).unwrap();
    conversation(&journal, "c1", "I am a_b@example.com", None);
    conversation(&journal, "c2", "I am axb@example.com", None);
    // '_' is a LIKE wildcard; an erasure for a_b@ must not take axb@'s conversation with it.
    let removed = erase_customer(&journal, &store, "a_b@example.com").unwrap();
    assert_eq!(removed.conversation_ids, vec!["c1".to_string()]);
    let e = erase_customer(&journal, &store, "not an email").unwrap_err();
    assert_eq!(e.code(), "invalid_email");
}

#[test]
fn purging_removes_only_conversations_idle_past_the_retention_period() {
    let journal = Journal::open_in_memory().unwrap();
    conversation(&journal, "c1", "hello", None);
    conversation(&journal, "c2", "hi", None);
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        purge_older_than(&journal, 30, now).unwrap().conversations,
        0,
        "fresh conversations stay"
    );
    assert_eq!(
        purge_older_than(&journal, 0, now + Duration::days(4000))
            .unwrap()
            .conversations,
        0,
        "0 keeps for ever"
    );
    let removed = purge_older_than(&journal, 30, now + Duration::days(31)).unwrap();
    assert_eq!((removed.conversations, removed.turns), (2, 4));
    assert!(journal.conversation("c1").unwrap().is_none());
}

#[test]
fn the_erase_command_says_what_it_removed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shopkeep.db");
    let store = store(&db);
    let journal = Journal::open(&db).unwrap();
    let maya = store.customer_by_email(MAYA).unwrap().unwrap();
    conversation(
        &journal,
        "c_verified",
        "Where is order LF-100001?",
        Some(&maya.id),
    );
    drop(journal);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shopkeep"))
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "privacy",
            "erase",
            "--email",
            MAYA,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("removed 1 conversations for maya.chen@example.com (2 turns, 0 hand-offs)"),
        "{stdout}"
    );
    assert!(stdout.contains("c_verified"), "{stdout}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shopkeep"))
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "privacy",
            "erase",
            "--email",
            "nobody",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_email"));
}
