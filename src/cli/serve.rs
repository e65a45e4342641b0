//! `shopkeep serve [--host H] [--port N] [--data-dir DIR]`

use std::sync::Arc;

use crate::{app::App, config::Config};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub host: Option<String>,
    #[arg(long)]
    pub port: Option<u16>,
}

pub fn run(mut cfg: Config, args: Args) -> anyhow::Result<()> {
    if let Some(h) = args.host {
        cfg.server.host = h;
    }
    if let Some(p) = args.port {
        cfg.server.port = p;
    }
    // On an empty data dir this seeds the demo store and builds the index first.
    let app = Arc::new(App::open(cfg)?);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let addr = format!("{}:{}", app.config.server.host, app.config.server.port);
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        eprintln!("shopkeep listening on http://{}", listener.local_addr()?);
        // Mail in by IMAP, when configured (`email.imap_host`).
        let _poller = crate::email::imap::spawn(app.email.clone(), app.assistant.clone());
        crate::http::serve(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}
