//! Product questions, and knowing when not to answer (Amazon ePQA development set).
//!
//! How a case runs, as the service runs it: each question's candidate passages become one
//! product's content in an index (documents with that `product_id`), the question is searched
//! with the product filter (hybrid BM25 + dense, exactly the path of a question asked on a product
//! page, `k` = [`select::CANDIDATES`]), and the answer selector ([`crate::answer::select`])
//! either picks one of the hits to answer from or abstains (hand off / "I don't know").
//!
//! Scores: precision = answered questions whose cited passage is labelled 2; irrelevant =
//! answered questions whose cited passage is labelled 0; coverage = answered answerable
//! questions / answerable; abstention = unanswerable questions not answered / unanswerable.
//!
//! The selector is trained on part of this file (see [`select::train::SPLIT_RULE`]), so
//! [`Split::HeldOut`] scores only the cases it never saw; [`Split::All`] includes its training
//! data. This module also prepares the training cases for `shopkeep train answer-select`, from the
//! same retrieval, so the trainer sees exactly the candidates and scores the evaluation does.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{
    answer::select::{self, train::TrainingCase, AnswerSelector},
    embed::Embedder,
    index::{build, BuildOptions, Hit, IndexError, IndexHandle, SearchOptions},
    kb::{Block, Document},
};

#[derive(Debug, Deserialize)]
pub struct Case {
    pub qid: String,
    pub question: String,
    pub passages: Vec<CasePassage>,
    pub answerable: bool,
}

#[derive(Debug, Deserialize)]
pub struct CasePassage {
    pub id: String,
    pub source: String,
    pub text: String,
    pub label: u8,
}

/// Which cases to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Only the cases the selector was not trained on (fnv1a64(qid) % 5 == 0).
    HeldOut,
    /// Every case (includes the selector's training data).
    All,
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "held-out" | "heldout" | "held_out" => Ok(Split::HeldOut),
            "all" => Ok(Split::All),
            other => Err(format!("unknown split {other:?} (held-out or all)")),
        }
    }
}

impl Split {
    pub fn keeps(self, case: &Case) -> bool {
        match self {
            Split::HeldOut => select::train::is_held_out(&case.qid),
            Split::All => true,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Split::HeldOut => "held-out",
            Split::All => "all",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductQaReport {
    pub n: usize,
    pub answered: usize,
    pub precision: f64,
    pub irrelevant: f64,
    pub coverage: f64,
    pub abstention: f64,
    pub threshold: f32,
    pub split: String,
    /// Scored cases the selector was trained on (0 on the held-out split).
    pub trained_on: usize,
}

/// A case's question vector and its product-filtered hits, best first.
pub struct Retrieved {
    pub qvec: Vec<f32>,
    pub hits: Vec<Hit>,
}

/// Indexes every case's passages as one product each (under `work_dir`) and runs the product
/// search for each question.
pub fn retrieve(
    cases: &[&Case],
    embedder: &dyn Embedder,
    work_dir: &Path,
) -> Result<Vec<Retrieved>, IndexError> {
    // One "product" per case; one document per candidate passage (its own heading-less page).
    let mut docs = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        for (m, p) in case.passages.iter().enumerate() {
            docs.push(Document {
                id: format!("q{n}-p{m}"),
                title: p.source.clone(),
                url: None,
                topics: vec!["product_question".into()],
                updated: None,
                product_id: Some(format!("case-{n}")),
                source: p.id.clone(),
                blocks: vec![Block {
                    headings: vec![],
                    text: p.text.clone(),
                }],
                hash: String::new(),
            });
        }
    }
    let empty_kb = work_dir.join("kb");
    std::fs::create_dir_all(&empty_kb).map_err(crate::index::io_err_pub(&empty_kb))?;
    let index_root = work_dir.join("index");
    build(
        BuildOptions {
            kb_dir: &empty_kb,
            index_root: &index_root,
            extra_documents: docs,
        },
        embedder,
        &mut (),
    )?;
    let handle = IndexHandle::open(&index_root)?;
    let generation = handle.current();

    let questions: Vec<&str> = cases.iter().map(|c| c.question.as_str()).collect();
    let vectors = embedder.embed(&questions)?;
    let mut out = Vec::with_capacity(cases.len());
    for (n, (case, qvec)) in cases.iter().zip(vectors).enumerate() {
        let opts = SearchOptions {
            k: select::CANDIDATES,
            product_id: Some(format!("case-{n}")),
            help_only: false,
        };
        let hits = generation.search(&case.question, &qvec, &opts)?;
        out.push(Retrieved { qvec, hits });
    }
    Ok(out)
}

/// The case passage a hit came from (its document id is `q{case}-p{passage}`; a long passage
/// may be cut into several hits, all of which map back to it).
pub fn passage_of(hit: &Hit) -> usize {
    hit.passage
        .doc_id
        .rsplit("-p")
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The training cases for the selector: each hit with its label.
pub fn training_cases(
    cases: &[&Case],
    retrieved: &[Retrieved],
    embedder: &dyn Embedder,
) -> Result<Vec<TrainingCase>, IndexError> {
    let mut out = Vec::with_capacity(cases.len());
    for (case, r) in cases.iter().zip(retrieved) {
        let quoted = select::quoted_cosines(
            &r.qvec,
            r.hits.iter().map(|h| h.passage.text.as_str()),
            embedder,
        )?;
        out.push(TrainingCase {
            question: case.question.clone(),
            candidates: r
                .hits
                .iter()
                .zip(quoted)
                .map(|(h, q)| (h.passage.text.clone(), h.dense, q))
                .collect(),
            labels: r
                .hits
                .iter()
                .map(|h| case.passages[passage_of(h)].label)
                .collect(),
            answerable: case.answerable,
        });
    }
    Ok(out)
}

/// Runs every case of `split`; `work_dir` receives the evaluation index.
pub fn evaluate(
    cases: &[Case],
    selector: &AnswerSelector,
    embedder: &dyn Embedder,
    work_dir: &Path,
    split: Split,
) -> Result<ProductQaReport, IndexError> {
    let kept: Vec<&Case> = cases.iter().filter(|c| split.keeps(c)).collect();
    let retrieved = retrieve(&kept, embedder, work_dir)?;
    let (mut answered, mut good, mut bad, mut answered_answerable, mut abstained_unanswerable) =
        (0, 0, 0, 0, 0);
    for (case, r) in kept.iter().zip(&retrieved) {
        match selector.select_hits(&case.question, &r.qvec, &r.hits, embedder)? {
            Some(choice) => {
                answered += 1;
                match case.passages[passage_of(&r.hits[choice.index])].label {
                    2 => good += 1,
                    0 => bad += 1,
                    _ => {}
                }
                if case.answerable {
                    answered_answerable += 1;
                }
            }
            None if !case.answerable => abstained_unanswerable += 1,
            None => {}
        }
    }
    let answerable = kept.iter().filter(|c| c.answerable).count().max(1);
    let unanswerable = kept.iter().filter(|c| !c.answerable).count().max(1);
    Ok(ProductQaReport {
        n: kept.len(),
        answered,
        precision: good as f64 / answered.max(1) as f64,
        irrelevant: bad as f64 / answered.max(1) as f64,
        coverage: answered_answerable as f64 / answerable as f64,
        abstention: abstained_unanswerable as f64 / unanswerable as f64,
        threshold: selector.threshold,
        split: split.name().to_string(),
        trained_on: kept
            .iter()
            .filter(|c| !select::train::is_held_out(&c.qid))
            .count(),
    })
}
