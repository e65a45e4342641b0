//! `shopkeep admin create-user --email E --role agent|admin [--name N] [--password-stdin]`,
//! `shopkeep admin create-token --email E` and `shopkeep admin users`: the desk's people,
//! managed on the server itself so a password never crosses the network or the shell history.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};

use crate::{app::open_accounts, config::Config, desk::accounts::Role};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Adds a desk user. The password is read from stdin (--password-stdin) or asked for.
    CreateUser {
        #[arg(long)]
        email: String,
        /// agent (queue, conversations, replies) or admin (also undo and users).
        #[arg(long, default_value = "agent")]
        role: String,
        /// The name customers see on replies (default: the email's local part).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of stdin instead of asking.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Prints a new API token for the user (shown once; only its hash is kept).
    CreateToken {
        #[arg(long)]
        email: String,
    },
    /// Lists the desk's users.
    Users,
}

pub fn run(cfg: Config, cmd: Command) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("data directory {}", cfg.data_dir.display()))?;
    let accounts = open_accounts(&cfg)?;
    match cmd {
        Command::CreateUser {
            email,
            role,
            name,
            password_stdin,
        } => {
            let role: Role = role.parse()?;
            let password = if password_stdin {
                read_stdin_line()?
            } else {
                prompt_password()?
            };
            let user = accounts.create_user(&email, name.as_deref(), role, &password)?;
            println!(
                "created {} ({}), signed \"{}\"",
                user.email, user.role, user.name
            );
        }
        Command::CreateToken { email } => {
            let token = accounts.create_token(&email)?;
            eprintln!(
                "API token for {email} (shown once; send it as Authorization: Bearer <token>):"
            );
            println!("{token}");
        }
        Command::Users => {
            for u in accounts.users()? {
                let status = if u.disabled { "disabled" } else { "active" };
                println!(
                    "{:<32} {:<6} {:<8} {:<20} {} (last sign-in: {})",
                    u.email,
                    u.role,
                    status,
                    u.name,
                    u.created_at,
                    u.last_login_at.as_deref().unwrap_or("never")
                );
            }
        }
    }
    Ok(())
}

fn read_stdin_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Asks twice on the terminal with echo off (`stty`; no extra crate for one prompt).
fn prompt_password() -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password: pass --password-stdin and pipe it in");
    }
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    let ask = |label: &str| -> anyhow::Result<String> {
        eprint!("{label}: ");
        std::io::stderr().flush()?;
        let _ = stty("-echo");
        let line = read_stdin_line();
        let _ = stty("echo");
        eprintln!();
        line
    };
    let first = ask("Password")?;
    if ask("Again")? != first {
        bail!("the passwords differ");
    }
    Ok(first)
}
