//! `shopkeep serve [--host H] [--port N] [--data-dir DIR] [--demo]`

use std::sync::Arc;

use crate::{app::App, config::Config};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub host: Option<String>,
    #[arg(long)]
    pub port: Option<u16>,
    /// Seed the demo store (Larkfield Goods) into an empty order database, and link product
    /// pages to its demo addresses (scripts/run.sh passes this).
    #[arg(long)]
    pub demo: bool,
}

pub fn run(mut cfg: Config, args: Args) -> anyhow::Result<()> {
    if let Some(h) = args.host {
        cfg.server.host = h;
    }
    if let Some(p) = args.port {
        cfg.server.port = p;
    }
    if args.demo {
        cfg.demo = true;
    }
    // On an empty data dir this builds the index first (after seeding the demo store with --demo).
    let app = Arc::new(App::open(cfg)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let addr = format!("{}:{}", app.config.server.host, app.config.server.port);
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        eprintln!("shopkeep listening on http://{}", listener.local_addr()?);
        tokio::spawn(purge_daily(app.clone()));
        tokio::spawn(crate::webhook::run(
            app.config.webhook.clone(),
            app.assistant.journal.clone(),
        ));
        // Mail in by IMAP, when configured (`email.imap_host`).
        let _poller = crate::email::imap::spawn(app.email.clone(), app.assistant.clone());
        // Mail the SMTP server could not take at once goes out from the outbox.
        if let Some(email) = app.email.clone() {
            tokio::spawn(crate::email::outbox::run(
                email,
                app.assistant.journal.clone(),
            ));
        }
        crate::http::serve(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}

/// Applies the retention period at start and then once a day, off the async runtime.
async fn purge_daily(app: Arc<App>) {
    let days = app.config.privacy.retention_days;
    if days == 0 {
        return;
    }
    let mut every_day = tokio::time::interval(std::time::Duration::from_secs(24 * 3600));
    loop {
        every_day.tick().await;
        let app = app.clone();
        let purged = tokio::task::spawn_blocking(move || {
            crate::privacy::purge_older_than(
                &app.assistant.journal,
                days,
                time::OffsetDateTime::now_utc(),
            )
        })
        .await;
        match purged {
            Ok(Ok(r)) if r.conversations > 0 => tracing::info!(
                conversations = r.conversations,
                turns = r.turns,
                handoffs = r.handoffs,
                "purged conversations idle for more than {days} days"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(code = e.code(), "retention purge failed: {e}"),
            Err(e) => tracing::error!("retention purge panicked: {e}"),
        }
    }
}
