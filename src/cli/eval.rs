//! `shopkeep eval intents FILE [--split held-out|all] [--json]`: scores the understanding step
//! on labelled messages (see [`crate::eval::intents`]). With `--json` the last line of output is
//! one JSON object with `n`, `accuracy`, `macro_f1` and `order_number_accuracy` (and the rest of
//! the report).

use std::path::PathBuf;

use anyhow::Context;

use crate::{
    answer::select::{train::SPLIT_RULE, AnswerSelector},
    app::load_embedder,
    config::Config,
    eval::{
        intents::{evaluate, IntentReport, Split},
        product_qa::{Case as ProductCase, Split as ProductSplit},
        retrieval::Labelled,
    },
    index::IndexHandle,
    understand::{train::read_jsonl, Understander},
};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Intent accuracy, macro-F1 and order-number extraction on a labelled JSON Lines file.
    Intents {
        /// `{"text","intent","intents"?,"order_number"?}` lines.
        file: PathBuf,
        /// Print the report as JSON on the last line.
        #[arg(long)]
        json: bool,
        /// `held-out` scores only the lines the head was not trained on (the development set's
        /// fnv1a64(text) % 5 == 0 part); `all` scores every line (for files never trained on).
        #[arg(long, default_value = "held-out")]
        split: Split,
        /// The head to evaluate (default: <models-root>/intent-head.json).
        #[arg(long)]
        head: Option<PathBuf>,
    },
    /// Recall@1/@3 of hybrid, BM25-only and dense-only search on the intents file's
    /// delivery_info, return_policy, payment_methods and cancellation_fee questions (a hit is a
    /// passage whose document carries that topic).
    Retrieval {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Product questions answered from each product's own content, or abstained on (the answer
    /// selector decides which passage, if any).
    ProductQa {
        file: PathBuf,
        #[arg(long)]
        json: bool,
        /// `all` scores every case (the selector's training part included); `held-out` only the
        /// cases it was not trained on (fnv1a64(qid) % 5 == 0).
        #[arg(long, default_value = "all")]
        split: ProductSplit,
        /// The selector to evaluate (default: <models-root>/answer-select.json).
        #[arg(long)]
        selector: Option<PathBuf>,
        /// Probability the chosen passage needs for an answer (default: the selector's own).
        #[arg(long)]
        threshold: Option<f32>,
    },
    /// τ-bench retail requests through the whole assistant with the tau-retail policy: a fresh
    /// store per case, "yes" to every confirmation; executed writes against the expected ones.
    TauRetail(TauArgs),
}

#[derive(clap::Args)]
pub struct TauArgs {
    /// `{"id","message","expected_actions"}` lines.
    file: PathBuf,
    /// Print the figures as JSON on the last line.
    #[arg(long)]
    json: bool,
    /// The store to load for every case (default: db.json beside FILE).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Print each case's transcript and actions (`all`, or `failed` for the inexact ones).
    #[arg(long)]
    show: Option<String>,
}

pub fn run(cfg: Config, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::TauRetail(args) => tau_retail(cfg, args),
        Command::Intents {
            file,
            json,
            split,
            head,
        } => {
            let lines = read_jsonl(&file).with_context(|| format!("reading {}", file.display()))?;
            let understander = match head {
                Some(p) => Understander::load(&p)?,
                None => Understander::from_default_location(&cfg.model.models_root)?,
            };
            let embedder = load_embedder(&cfg)?;
            let report = evaluate(&understander, embedder.as_ref(), &lines, split)?;
            print_table(&report);
            if json {
                println!("{}", serde_json::to_string(&report)?);
            }
            Ok(())
        }
        Command::Retrieval { file, json } => {
            let topics = [
                "delivery_info",
                "return_policy",
                "payment_methods",
                "cancellation_fee",
            ];
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let questions: Vec<Labelled> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| topics.contains(&v["intent"].as_str().unwrap_or("")))
                .map(|v| Labelled {
                    text: v["text"].as_str().unwrap_or("").to_string(),
                    topic: v["intent"].as_str().unwrap_or("").to_string(),
                })
                .collect();
            let index = IndexHandle::open(&cfg.index_root())?;
            let embedder = load_embedder(&cfg)?;
            let r =
                crate::eval::retrieval::evaluate(&index.current(), embedder.as_ref(), &questions)?;
            println!("{} questions        R@1     R@3", r.n);
            for (name, rec) in [
                ("hybrid", &r.hybrid),
                ("bm25", &r.bm25),
                ("dense", &r.dense),
            ] {
                println!("{name:<20} {:.3}   {:.3}", rec.at1, rec.at3);
            }
            for (topic, n, rec) in &r.per_topic {
                println!(
                    "  hybrid {topic:<17} n={n:<4} R@1 {:.3}  R@3 {:.3}",
                    rec.at1, rec.at3
                );
            }
            if json {
                println!("{}", serde_json::to_string(&r)?);
            }
            Ok(())
        }
        Command::ProductQa {
            file,
            json,
            split,
            selector,
            threshold,
        } => {
            let cases = read_product_cases(&file)?;
            let path =
                selector.unwrap_or_else(|| AnswerSelector::default_path(&cfg.model.models_root));
            let mut selector = AnswerSelector::load(&path)?;
            if let Some(t) = threshold {
                selector.threshold = t;
            }
            let embedder = load_embedder(&cfg)?;
            if selector.model_id != embedder.model_id() {
                eprintln!(
                    "warning: the selector was trained on {} cosines; the embedder is {}",
                    selector.model_id,
                    embedder.model_id()
                );
            }
            let work = tempfile_dir()?;
            let r = crate::eval::product_qa::evaluate(
                &cases,
                &selector,
                embedder.as_ref(),
                &work,
                split,
            );
            let _ = std::fs::remove_dir_all(&work);
            let r = r?;
            println!(
                "split: {} ({}; {} of the {} scored cases were trained on)",
                r.split, SPLIT_RULE, r.trained_on, r.n
            );
            println!(
                "n {}  answered {}  precision {:.3}  irrelevant {:.3}  coverage {:.3}  abstention {:.3}  (selector threshold {:.3})",
                r.n, r.answered, r.precision, r.irrelevant, r.coverage, r.abstention, r.threshold
            );
            if json {
                println!("{}", serde_json::to_string(&r)?);
            }
            Ok(())
        }
    }
}

/// Reads product-qa JSON Lines (`{"qid","question","passages",…}`).
pub fn read_product_cases(file: &std::path::Path) -> anyhow::Result<Vec<ProductCase>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("parsing product-qa lines")
}

fn tau_retail(cfg: Config, args: TauArgs) -> anyhow::Result<()> {
    use crate::eval::tau_retail::{evaluate, Case};
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let cases: Vec<Case> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("parsing tau-retail lines")?;
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| args.file.with_file_name("db.json"));
    let embedder = load_embedder(&cfg)?;
    let understander =
        std::sync::Arc::new(Understander::from_default_location(&cfg.model.models_root)?);
    let work = tempfile_dir()?;
    let show = args.show.clone();
    let report = evaluate(&cfg, &db, &cases, embedder, understander, &work, &mut |r| {
        let print = match show.as_deref() {
            Some("all") => true,
            Some("failed") => !r.exact,
            _ => false,
        };
        if print {
            println!(
                "=== {} exact={} wrong_write={} handoff={}/{}",
                r.id, r.exact, r.wrong_write, r.handoff_done, r.handoff_expected
            );
            for t in &r.transcript {
                println!("  {}", t.replace('\n', "\n    "));
            }
            println!(
                "  executed: {}",
                serde_json::to_string(&r.executed).unwrap_or_default()
            );
            println!(
                "  expected: {}",
                serde_json::to_string(&r.expected).unwrap_or_default()
            );
        }
    });
    let _ = std::fs::remove_dir_all(&work);
    let report = report?;
    println!(
        "n {}  exact {:.3} ({} cases)  wrong_writes {}  handoffs expected {} done {}  unexpected handoffs {}",
        report.n, report.exact, report.exact_cases, report.wrong_writes, report.handoff_expected, report.handoff_done, report.handoff_unexpected
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({"n": report.n, "exact": report.exact, "wrong_writes": report.wrong_writes, "handoff_expected": report.handoff_expected, "handoff_done": report.handoff_done})
        );
    }
    Ok(())
}

/// A scratch directory for an evaluation index, removed afterwards.
pub(crate) fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("shopkeep-eval-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{:.2}%", v * 100.0))
}

fn print_table(r: &IntentReport) {
    println!("split: {}", r.split);
    println!(
        "{:<18} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "intent", "support", "predicted", "precision", "recall", "f1"
    );
    for s in &r.per_intent {
        println!(
            "{:<18} {:>7} {:>9} {:>9.4} {:>9.4} {:>9.4}",
            s.intent.as_str(),
            s.support,
            s.predicted,
            s.precision,
            s.recall,
            s.f1
        );
    }
    if !r.confusions.is_empty() {
        println!("most frequent confusions (expected -> got):");
        for c in &r.confusions {
            println!("  {:>4}  {} -> {}", c.count, c.expected, c.got);
        }
    }
    if !r.misses.is_empty() {
        println!("some misses:");
        for m in r.misses.iter().take(15) {
            let on = match (&m.expected_order_number, &m.got_order_number) {
                (Some(want), got) if Some(want) != got.as_ref() => format!(
                    "  [order number {want} got {}]",
                    got.as_deref().unwrap_or("none")
                ),
                _ => String::new(),
            };
            println!(
                "  {} -> {} ({:.2}): {}{on}",
                m.expected, m.got, m.confidence, m.text
            );
        }
    }
    println!(
        "n {}  accuracy {}  macro-F1 {}  order numbers {} of {} lines  multi-request {} of {} lines  {:.1} ms/message",
        r.n,
        pct(Some(r.accuracy)),
        pct(Some(r.macro_f1)),
        pct(r.order_number_accuracy),
        r.order_number_n,
        pct(r.multi_request_accuracy),
        r.multi_request_n,
        r.ms_per_message
    );
}
