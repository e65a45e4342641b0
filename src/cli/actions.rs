//! `shopkeep actions list [--order N] [--customer ID]` and `shopkeep actions revert ID --admin
//! NAME`: the action log of guided actions, and an admin's reversal of one (only while the order
//! is still exactly as the action left it).

use crate::{
    actions::revert,
    config::Config,
    orders::{OrderStore, SqliteOrderStore},
};

#[derive(clap::Subcommand)]
pub enum Command {
    /// The action log, oldest first.
    List {
        #[arg(long)]
        order: Option<String>,
        #[arg(long)]
        customer: Option<String>,
        /// One JSON object per line, with before and after.
        #[arg(long)]
        json: bool,
    },
    /// Undoes an action (restores the order and account as they were before it).
    Revert {
        /// The action id (ACT-…).
        id: String,
        /// Who is undoing it (kept in the log).
        #[arg(long)]
        admin: String,
    },
}

pub fn run(cfg: Config, cmd: Command) -> anyhow::Result<()> {
    let store = SqliteOrderStore::open(&cfg.database_path())
        .map_err(|e| anyhow::anyhow!("{e} [{}]", e.code()))?;
    match cmd {
        Command::List {
            order,
            customer,
            json,
        } => {
            let order = order.map(|n| store.order(&n).ok().flatten().map_or(n, |o| o.number));
            for a in store
                .actions_for(order.as_deref(), customer.as_deref())
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                if json {
                    println!("{}", serde_json::to_string(&a)?);
                } else {
                    let at =
                        a.at.format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default();
                    println!(
                        "{}  {at}  {:<9} {:<24} {:<12} {:<16} {}",
                        a.id,
                        a.status,
                        a.kind,
                        a.order_number.as_deref().unwrap_or("-"),
                        a.customer_id,
                        a.doc["summary"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        Command::Revert { id, admin } => {
            let undo = revert(&store, &id, &admin, time::OffsetDateTime::now_utc())
                .map_err(|e| anyhow::anyhow!("{e} [{}]", e.code()))?;
            println!("reverted {id} (logged as {undo})");
            Ok(())
        }
    }
}
