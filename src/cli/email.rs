//! `shopkeep email ingest FILE.eml [--no-send] [--json]`: one mail through the email channel,
//! as if it had arrived in the store's mailbox: threaded, answered, and the reply sent by SMTP
//! when `email.smtp_host` is set (not with `--no-send`). Prints what became of it.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;

use crate::{
    app::App,
    config::Config,
    email::{Email, Outcome},
};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Answer one raw message (.eml), as if it had arrived by IMAP.
    Ingest(IngestArgs),
}

#[derive(clap::Args)]
pub struct IngestArgs {
    /// The message, as raw RFC 5322 (an .eml file); `-` reads standard input.
    pub file: PathBuf,
    /// Compose and journal the reply, but don't send it.
    #[arg(long)]
    pub no_send: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cfg: Config, cmd: Command) -> anyhow::Result<()> {
    let Command::Ingest(args) = cmd;
    let raw = if args.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        buf
    } else {
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?
    };
    if cfg.email.store_address.is_empty() {
        anyhow::bail!(
            "the email channel is off: set email.store_address (or SHOPKEEP_EMAIL_STORE_ADDRESS)"
        );
    }
    let app = App::open(cfg)?;
    let email = if args.no_send {
        Arc::new(Email::with_mailer(&app.config, None))
    } else {
        app.email.clone().expect("store_address is set")
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = rt.block_on(email.handle(&app.assistant, &raw))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
        return Ok(());
    }
    match outcome {
        Outcome::Answered {
            conversation_id,
            reply,
            sent,
            handoff,
            forwarded_to_helpdesk,
            ..
        } => {
            println!(
                "answered in conversation {conversation_id}{}",
                if sent {
                    format!(", sent to {}", reply.to)
                } else {
                    " (not sent)".into()
                }
            );
            if let Some(h) = handoff {
                println!(
                    "handed off: {h}{}",
                    if forwarded_to_helpdesk {
                        " (packet sent to the helpdesk)"
                    } else {
                        ""
                    }
                );
            }
            println!(
                "\nSubject: {}\nIn-Reply-To: <{}>\n\n{}",
                reply.subject,
                reply.in_reply_to.unwrap_or_default(),
                reply.text
            );
        }
        Outcome::Ignored { reason } => println!("not answered: {reason}"),
        Outcome::Rejected { code, message } => println!("not answerable ({code}): {message}"),
    }
    Ok(())
}
