//! The command line: `serve`, `ask`, `email`, `reindex`, `search`, `import`, `eval`, `train`, `bench`, `actions`, `admin`, `privacy`, `connect`. Parses flags into the one
//! [`Config`] (defaults < file < env < flags) and calls the library; `anyhow` lives only here.

mod actions;
mod admin;
mod ask;
mod bench;
mod connect;
mod email;
mod eval;
mod import;
mod privacy;
mod reindex;
mod search;
mod serve;
mod train;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "shopkeep",
    version,
    about = "Self-hosted order-support answers, grounded in the store's own documents and order data"
)]
pub struct Cli {
    /// Config file (default: ./shopkeep.toml when present).
    #[arg(long, global = true, env = "SHOPKEEP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory holding the database and the index.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Model directory (model.safetensors, tokenizer.json, config.json).
    #[arg(long, global = true)]
    pub model: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP service (builds the index first when there is none).
    Serve(serve::Args),
    /// Build the index from the knowledge base (incremental; swapped in atomically).
    Reindex(reindex::Args),
    /// Search the index and show each passage's BM25, dense and fused scores.
    Search(search::Args),
    /// Answer a message (or talk interactively without one).
    Ask(ask::Args),
    /// Import orders, customers and products.
    Import(import::Args),
    /// Score the service on an evaluation set.
    #[command(subcommand)]
    Eval(eval::Command),
    /// Train the learned parts (the intent head, the product answer selector).
    #[command(subcommand)]
    Train(train::Command),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::Command),
    /// The guided-actions log, and an admin's reversal of an action.
    #[command(subcommand)]
    Actions(actions::Command),
    /// Erasing a customer's conversations, and purging those past the retention period.
    #[command(subcommand)]
    Privacy(privacy::Command),
    /// The email channel: answer a raw message (.eml) as if it had arrived.
    #[command(subcommand)]
    Email(email::Command),
    /// The desk's users and their API tokens.
    #[command(subcommand)]
    Admin(admin::Command),
    /// Check a store platform's credentials and say what is missing (medusa, shopify).
    Connect(connect::Args),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut cfg = Config::load(cli.config.as_deref())?;
    if let Some(d) = cli.data_dir {
        cfg.data_dir = d;
    }
    if let Some(m) = cli.model {
        cfg.model.dir = Some(m);
    }
    match cli.command {
        Command::Serve(args) => serve::run(cfg, args),
        Command::Reindex(args) => reindex::run(cfg, args),
        Command::Search(args) => search::run(cfg, args),
        Command::Bench(cmd) => bench::run(cfg, cmd),
        Command::Ask(args) => ask::run(cfg, args),
        Command::Import(args) => import::run(cfg, args),
        Command::Eval(cmd) => eval::run(cfg, cmd),
        Command::Train(cmd) => train::run(cfg, cmd),
        Command::Actions(cmd) => actions::run(cfg, cmd),
        Command::Privacy(cmd) => privacy::run(cfg, cmd),
        Command::Email(cmd) => email::run(cfg, cmd),
        Command::Admin(cmd) => admin::run(cfg, cmd),
        Command::Connect(args) => connect::run(cfg, args),
    }
}
