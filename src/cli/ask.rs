//! `shopkeep ask "…"` answers one message; `shopkeep ask` alone starts an interactive
//! conversation on the terminal (one conversation, until an empty line or end of input).

use std::io::{BufRead, Write};

use crate::{
    app::App,
    assistant::{Answer, Question},
    config::Config,
};

#[derive(clap::Args)]
pub struct Args {
    /// The message; omit for an interactive conversation.
    pub message: Option<String>,
    /// Continue this conversation.
    #[arg(long)]
    pub conversation: Option<String>,
    /// Print the whole answer as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cfg: Config, args: Args) -> anyhow::Result<()> {
    let app = App::open(cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ask = |conversation: Option<String>, message: String| -> anyhow::Result<Answer> {
        let q = Question {
            conversation_id: conversation,
            channel: "cli".into(),
            message,
            ..Default::default()
        };
        Ok(rt.block_on(app.assistant.handle(q))?)
    };
    if let Some(message) = args.message {
        let answer = ask(args.conversation, message)?;
        print(&answer, args.json)?;
        return Ok(());
    }
    let mut conversation = args.conversation;
    let stdin = std::io::stdin();
    loop {
        print!("you> ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 || line.trim().is_empty() {
            return Ok(());
        }
        let answer = ask(conversation.clone(), line.trim().to_string())?;
        conversation = Some(answer.conversation_id.clone());
        print(&answer, args.json)?;
    }
}

fn print(a: &Answer, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(a)?);
        return Ok(());
    }
    println!("{}", a.reply);
    for c in &a.citations {
        println!(
            "  [source] {}{} {}",
            c.title,
            if c.heading.is_empty() {
                String::new()
            } else {
                format!(" › {}", c.heading)
            },
            c.url.as_deref().unwrap_or("")
        );
    }
    if let Some(h) = &a.handoff {
        println!("  [handed off: {} ({})]", h.id, h.reason.code());
    }
    println!(
        "  [intent {} {:.2} · conversation {}]",
        a.intent.as_deref().unwrap_or("-"),
        a.confidence,
        a.conversation_id
    );
    Ok(())
}
