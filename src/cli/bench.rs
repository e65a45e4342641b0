//! `shopkeep bench embed --input FILE --batch N`: prints one line in the same form as
//! ../shared/bench/ort_baseline.py (texts, seconds, texts/s), so both can be compared in one run,
//! followed by the path that embedded (e.g. `[cpu avx2 fp32]`; `SHOPKEEP_CPU_KERNELS` forces one).

use std::{path::PathBuf, time::Instant};

use crate::{app::load_model, config::Config, embed::Embedder};

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
        Command::Embed {
            input,
            batch,
            precision,
        } => {
            let mut cfg = cfg;
            if let Some(p) = precision {
                cfg.model.precision = p;
            }
            anyhow::ensure!(batch >= 1, "--batch must be at least 1");
            let text = std::fs::read_to_string(&input)?;
            let lines: Vec<&str> = text.lines().collect();
            let embedder = load_model(&cfg)?;
            // Same protocol as the baseline: one warm-up batch of the first 32 lines, then batches
            // formed after sorting by length.
            embedder.embed(&lines[..lines.len().min(32)])?;
            let mut order: Vec<&str> = lines.clone();
            order.sort_by_key(|l| l.len());
            let started = Instant::now();
            let mut each = Vec::with_capacity(order.len().div_ceil(batch));
            for chunk in order.chunks(batch) {
                let t = Instant::now();
                embedder.embed(chunk)?;
                each.push(t.elapsed().as_secs_f64());
            }
            let secs = started.elapsed().as_secs_f64();
            each.sort_by(f64::total_cmp);
            let p50 = each[each.len() / 2] * 1e3;
            // The median batch's time and the path after the rate, which scripts/bench-embed.sh
            // reads as it is (one question's latency is the p50 at --batch 1).
            println!(
                "shopkeep {} texts batch {}: {:.3} s, {:.1} texts/s, p50 {:.2} ms a batch [{}]",
                lines.len(),
                batch,
                secs,
                lines.len() as f64 / secs,
                p50,
                embedder.path()
            );
            Ok(())
        }
    }
}
