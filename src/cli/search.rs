//! `shopkeep search "QUESTION" [--k N] [--json] [--index DIR]`

use std::path::PathBuf;

use crate::{
    app::load_embedder,
    config::Config,
    index::{IndexHandle, SearchOptions},
};

#[derive(clap::Args)]
pub struct Args {
    pub question: String,
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Search only this product's passages.
    #[arg(long)]
    pub product: Option<String>,
}

pub fn run(mut cfg: Config, args: Args) -> anyhow::Result<()> {
    if let Some(index) = args.index {
        cfg.index_dir = Some(index);
    }
    let index = IndexHandle::open(&cfg.index_root())?;
    let embedder = load_embedder(&cfg)?;
    let qvec = embedder.embed_one(&args.question)?;
    let hits = index.current().search(
        &args.question,
        &qvec,
        &SearchOptions {
            k: args.k,
            product_id: args.product,
            help_only: false,
        },
    )?;
    if args.json {
        let rows: Vec<_> = hits
            .iter()
            .map(|h| {
                serde_json::json!({
                    "passage_id": h.passage.id, "doc_id": h.passage.doc_id, "title": h.passage.title,
                    "heading": h.passage.heading, "url": h.passage.url, "bm25": h.bm25, "dense": h.dense, "fused": h.fused,
                    "text": h.passage.text,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:>3}  {:<28} {:<40} {:>7} {:>6} {:>7}",
        "#", "doc", "heading", "bm25", "dense", "fused"
    );
    for (i, h) in hits.iter().enumerate() {
        let heading = if h.passage.heading.is_empty() {
            h.passage.title.clone()
        } else {
            h.passage.heading.clone()
        };
        println!(
            "{:>3}  {:<28} {:<40} {:>7} {:>6.3} {:>7.4}",
            i + 1,
            truncate(&h.passage.doc_id, 28),
            truncate(&heading, 40),
            h.bm25
                .map(|b| format!("{b:.2}"))
                .unwrap_or_else(|| "-".into()),
            h.dense,
            h.fused
        );
        println!("     {}", truncate(&h.passage.text.replace('\n', " "), 110));
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}
