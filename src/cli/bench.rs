//! `shopkeep bench embed --input FILE --batch N`: prints one line in the same form as
//! ../shared/bench/ort_baseline.py (texts, seconds, texts/s), so both can be compared in one run.

use std::{path::PathBuf, time::Instant};

use crate::{app::load_embedder, config::Config};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Embed every line of a file in batches and report the rate.
    Embed {
        #[arg(long)]
        input: PathBuf,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// fp32 or int8 (default: the config's `model.precision`).
        #[arg(long)]
        precision: Option<crate::embed::Precision>,
    },
}

pub fn run(cfg: Config, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Embed { input, batch, precision } => {
            let mut cfg = cfg;
            if let Some(p) = precision {
                cfg.model.precision = p;
            }
            anyhow::ensure!(batch >= 1, "--batch must be at least 1");
            let text = std::fs::read_to_string(&input)?;
            let lines: Vec<&str> = text.lines().collect();
            let embedder = load_embedder(&cfg)?;
            // Same protocol as the baseline: one warm-up batch of the first 32 lines, then batches
            // formed after sorting by length.
            embedder.embed(&lines[..lines.len().min(32)])?;
            let mut order: Vec<&str> = lines.clone();
            order.sort_by_key(|l| l.len());
            let started = Instant::now();
            for chunk in order.chunks(batch) {
                embedder.embed(chunk)?;
            }
            let secs = started.elapsed().as_secs_f64();
            println!("shopkeep {} texts batch {}: {:.3} s, {:.1} texts/s", lines.len(), batch, secs, lines.len() as f64 / secs);
            Ok(())
        }
    }
}
