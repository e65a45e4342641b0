//! `shopkeep serve [--host H] [--port N]`

use std::sync::Arc;

use crate::{
    app::{load_embedder, App},
    config::Config,
    index::{build, BuildOptions, IndexError, IndexHandle},
};

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
    std::fs::create_dir_all(&cfg.data_dir)?;
    let embedder = load_embedder(&cfg)?;
    // An empty data dir gets its index built from the knowledge base first.
    if let Err(IndexError::Missing(_)) = IndexHandle::open(&cfg.index_root()) {
        eprintln!("no index yet: building it from {}", cfg.kb_dir.display());
        let summary = build(BuildOptions { kb_dir: &cfg.kb_dir, index_root: &cfg.index_root(), extra_documents: Vec::new() }, embedder.as_ref(), &mut ())?;
        super::reindex::print_summary(&summary);
    }
    let app = Arc::new(App::with_embedder(cfg, embedder)?);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let addr = format!("{}:{}", app.config.server.host, app.config.server.port);
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        eprintln!("shopkeep listening on http://{}", listener.local_addr()?);
        crate::http::serve(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}
