//! `shopkeep train intents [--data DEV.jsonl] [--examples FILE] [--out FILE]`: fits the intent
//! head on the development set's training part plus the project's own examples, and writes
//! `models/intent-head.json`. `scripts/train-intents.sh` runs it with the usual paths.
//!
//! `shopkeep train answer-select --data PRODUCT-QA.jsonl [--out FILE]`: fits the product answer
//! selector on the product-qa set's training part (cases with fnv1a64(qid) % 5 != 0) and writes
//! `models/answer-select.json`. `scripts/train-answer-select.sh` runs it.

use std::{path::PathBuf, time::Instant};

use anyhow::Context;

use crate::{
    answer::select::{
        self,
        train::{figures_at, TrainOptions as SelectOptions},
        AnswerSelector,
    },
    app::load_embedder,
    config::Config,
    understand::{
        is_held_out,
        train::{read_jsonl, train_head},
        Intent, TrainOptions, Understander, SPLIT_RULE,
    },
};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Train the intent classifier head (softmax over MiniLM embeddings).
    Intents {
        /// The development set (`{"text","intent",…}` lines); only its training part is used.
        /// Without it the head learns from the examples alone.
        #[arg(long)]
        data: Option<PathBuf>,
        /// The project's own labelled examples (default: <models-root>/intent-examples.jsonl).
        #[arg(long)]
        examples: Option<PathBuf>,
        /// Where to write the head (default: <models-root>/intent-head.json).
        #[arg(long)]
        out: Option<PathBuf>,
        /// L2 penalty on the weights.
        #[arg(long, default_value_t = TrainOptions::default().l2)]
        l2: f32,
        #[arg(long, default_value_t = TrainOptions::default().max_iterations)]
        max_iterations: usize,
    },
    /// Train the product answer selector (logistic regression over passage features).
    AnswerSelect {
        /// The product-qa development set; only its training part is used.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the selector (default: <models-root>/answer-select.json).
        #[arg(long)]
        out: Option<PathBuf>,
        /// L2 penalty on the standardised weights.
        #[arg(long, default_value_t = SelectOptions::default().l2)]
        l2: f64,
        /// Out-of-fold coverage (answered / answerable) the threshold is set to reach.
        #[arg(long, default_value_t = SelectOptions::default().target_coverage)]
        coverage: f64,
    },
}

pub fn run(cfg: Config, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Intents {
            data,
            examples,
            out,
            l2,
            max_iterations,
        } => {
            let started = Instant::now();
            let examples_path =
                examples.unwrap_or_else(|| cfg.model.models_root.join("intent-examples.jsonl"));
            let out = out.unwrap_or_else(|| Understander::default_path(&cfg.model.models_root));
            let examples = read_jsonl(&examples_path)
                .with_context(|| format!("reading examples {}", examples_path.display()))?;
            let dev = match &data {
                Some(p) => read_jsonl(p)
                    .with_context(|| format!("reading development set {}", p.display()))?,
                None => {
                    eprintln!(
                        "warning: no --data; training on {} alone",
                        examples_path.display()
                    );
                    Vec::new()
                }
            };
            let held_out = dev.iter().filter(|l| is_held_out(&l.text)).count();
            println!("split: {SPLIT_RULE}");
            println!(
                "development set: {} lines, {} for training, {} held out; examples: {}",
                dev.len(),
                dev.len() - held_out,
                held_out,
                examples.len()
            );
            let embedder = load_embedder(&cfg)?;
            let opts = TrainOptions {
                l2,
                max_iterations,
                ..TrainOptions::default()
            };
            let head = train_head(embedder.as_ref(), &dev, &examples, &opts)?;
            head.save(&out)?;
            println!("{:<18} {:>6} {:>9}", "intent", "dev", "examples");
            for i in &head.labels {
                let count = |ls: &[crate::understand::LabelledText], held: bool| {
                    ls.iter()
                        .filter(|l| l.intent == *i && (!held || !is_held_out(&l.text)))
                        .count()
                };
                println!(
                    "{:<18} {:>6} {:>9}",
                    i.as_str(),
                    count(&dev, true),
                    count(&examples, false)
                );
            }
            let missing: Vec<&str> = Intent::ALL
                .iter()
                .filter(|i| !head.labels.contains(i))
                .map(|i| i.as_str())
                .collect();
            if !missing.is_empty() {
                eprintln!(
                    "warning: no examples for {}; the head cannot predict them",
                    missing.join(", ")
                );
            }
            let t = &head.training;
            println!(
                "trained {} labels on {} lines: {} L-BFGS iterations, loss {:.4}, training accuracy {:.4}, l2 {}; {:.1} s",
                head.labels.len(),
                t.dev_lines + t.example_lines,
                t.iterations,
                t.final_loss,
                t.train_accuracy,
                t.l2,
                started.elapsed().as_secs_f64()
            );
            println!("wrote {}", out.display());
            Ok(())
        }
        Command::AnswerSelect {
            data,
            out,
            l2,
            coverage,
        } => {
            let started = Instant::now();
            let out = out.unwrap_or_else(|| AnswerSelector::default_path(&cfg.model.models_root));
            let cases = super::eval::read_product_cases(&data)?;
            let train: Vec<_> = cases
                .iter()
                .filter(|c| !select::train::is_held_out(&c.qid))
                .collect();
            println!("split: {}", select::train::SPLIT_RULE);
            println!(
                "product-qa set: {} cases, {} for training, {} held out",
                cases.len(),
                train.len(),
                cases.len() - train.len()
            );
            let embedder = load_embedder(&cfg)?;
            let work = super::eval::tempfile_dir()?;
            let retrieved = crate::eval::product_qa::retrieve(&train, embedder.as_ref(), &work);
            let _ = std::fs::remove_dir_all(&work);
            let training =
                crate::eval::product_qa::training_cases(&train, &retrieved?, embedder.as_ref())?;
            let opts = SelectOptions {
                l2,
                target_coverage: coverage,
                ..SelectOptions::default()
            };
            let selector = select::train::fit(
                &training,
                embedder.model_id(),
                cases.len() - train.len(),
                &opts,
            )?;
            selector.save(&out)?;
            let t = &selector.training;
            println!("{}", t.threshold_rule);
            println!(
                "threshold {:.3}: out-of-fold on the training part: precision {:.3}  irrelevant {:.3}  coverage {:.3}  abstention {:.3}",
                selector.threshold, t.oof_precision, t.oof_irrelevant, t.oof_coverage, t.oof_abstention
            );
            let fitted = figures_at(&selector, &training, selector.threshold);
            println!(
                "final weights on their own training data (optimistic): precision {:.3}  irrelevant {:.3}  coverage {:.3}  abstention {:.3}",
                fitted.precision, fitted.irrelevant, fitted.coverage, fitted.abstention
            );
            println!(
                "trained on {} cases, {} candidate rows: {} Newton iterations, loss {:.4}, l2 {}; {:.1} s",
                t.train_cases,
                t.train_rows,
                t.iterations,
                t.final_loss,
                t.l2,
                started.elapsed().as_secs_f64()
            );
            println!("wrote {}", out.display());
            Ok(())
        }
    }
}
