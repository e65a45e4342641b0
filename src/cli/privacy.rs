//! `shopkeep privacy erase --email X` and `shopkeep privacy purge [--older-than-days N]`:
//! removing a customer's conversations on request, and conversations past the retention period.
//! Both say exactly what they removed.

use crate::{
    config::Config,
    journal::{Deleted, Journal},
    orders::SqliteOrderStore,
    privacy::{erase_customer, purge_older_than},
};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Removes every conversation of one customer (verified as them, or where they wrote the
    /// address), with its turns and hand-offs. Orders, returns and the action log are the
    /// store's records and stay.
    Erase {
        #[arg(long)]
        email: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Removes conversations idle for longer than the retention period (`privacy.retention_days`).
    Purge {
        /// Overrides the configured retention period.
        #[arg(long)]
        older_than_days: Option<u32>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cfg: Config, cmd: Command) -> anyhow::Result<()> {
    // One database for both repositories, as in the running service.
    let db = crate::app::open_database(&cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let journal = Journal::new(db.clone());
    let (what, removed, json) = match cmd {
        Command::Erase { email, json } => {
            let store = SqliteOrderStore::new(db);
            let removed = erase_customer(&journal, &store, &email)
                .map_err(|e| anyhow::anyhow!("{e} [{}]", e.code()))?;
            (format!("for {email}"), removed, json)
        }
        Command::Purge {
            older_than_days,
            json,
        } => {
            let days = older_than_days.unwrap_or(cfg.privacy.retention_days);
            if days == 0 {
                eprintln!("retention is 0 (keep for ever): nothing purged");
            }
            let removed = purge_older_than(&journal, days, time::OffsetDateTime::now_utc())
                .map_err(|e| anyhow::anyhow!("{e} [{}]", e.code()))?;
            (format!("idle for more than {days} days"), removed, json)
        }
    };
    if json {
        println!("{}", serde_json::to_string(&removed)?);
    } else {
        print_removed(&what, &removed);
    }
    Ok(())
}

fn print_removed(what: &str, r: &Deleted) {
    println!(
        "removed {} conversations {what} ({} turns, {} hand-offs)",
        r.conversations, r.turns, r.handoffs
    );
    for id in &r.conversation_ids {
        println!("  {id}");
    }
}
