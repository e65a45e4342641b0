//! `shopkeep reindex [--kb DIR] [--index DIR]`

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    app::{build_index, load_embedder, open_orders},
    config::Config,
    index::{BuildProgress, BuildSummary},
};

#[derive(clap::Args)]
pub struct Args {
    /// Knowledge-base directory (default: kb/).
    #[arg(long)]
    pub kb: Option<PathBuf>,
    /// Index root (default: <data-dir>/index).
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A progress bar on stderr; indicatif hides it when stderr is not a terminal.
struct Bar(Option<ProgressBar>);

impl BuildProgress for Bar {
    fn start(&mut self, total: usize, to_embed: usize) {
        let bar = ProgressBar::new(to_embed as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} passages ({per_sec}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("embedding {to_embed} of {total}"));
        self.0 = Some(bar);
    }
    fn embedded(&mut self, done: usize) {
        if let Some(b) = &self.0 {
            b.set_position(done as u64);
        }
    }
}

pub fn run(mut cfg: Config, args: Args) -> anyhow::Result<()> {
    if let Some(kb) = args.kb {
        cfg.kb_dir = kb;
    }
    if let Some(index) = args.index {
        cfg.index_dir = Some(index);
    }
    let embedder = load_embedder(&cfg)?;
    let mut bar = Bar(None);
    // Product content (descriptions, options) comes from the order database, so product page
    // questions can search it (an empty database is seeded with the demo store under --demo).
    let orders = open_orders(&cfg)?;
    let summary = build_index(&cfg, orders.as_ref(), embedder.as_ref(), &mut bar)?;
    if let Some(b) = bar.0 {
        b.finish_and_clear();
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(())
}

pub fn print_summary(s: &BuildSummary) {
    for skipped in &s.skipped {
        eprintln!("skipped: {skipped}");
    }
    println!(
        "indexed {} documents, {} passages ({} re-embedded, {} reused) in {:.2}s, {:.1} passages/s -> {}",
        s.documents, s.passages, s.embedded, s.reused, s.seconds, s.passages_per_second, s.generation
    );
}
