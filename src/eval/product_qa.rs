//! Product questions, and knowing when not to answer (Amazon ePQA development set).
//!
//! How a case runs, as the service runs it: each question's candidate passages become one
//! product's content in an index (documents with that `product_id`), the question is searched
//! with the product filter (hybrid BM25 + dense, exactly the path of a question asked on a product
//! page), and the product answer gate decides: answer with the best passage when its cosine to
//! the question is at least `gate.product_min_dense`, otherwise abstain (hand off / "I don't
//! know").
//!
//! Scores: precision = answered questions whose cited passage is labelled 2; irrelevant =
//! answered questions whose cited passage is labelled 0; coverage = answered / answerable;
//! abstention = unanswerable questions not answered / unanswerable.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{
    embed::Embedder,
    index::{build, BuildOptions, IndexError, IndexHandle, SearchOptions},
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

#[derive(Debug, Clone, Serialize)]
pub struct ProductQaReport {
    pub n: usize,
    pub answered: usize,
    pub precision: f64,
    pub irrelevant: f64,
    pub coverage: f64,
    pub abstention: f64,
    pub threshold: f32,
}

/// Runs every case; `work_dir` receives the evaluation index.
pub fn evaluate(cases: &[Case], embedder: &dyn Embedder, work_dir: &Path, threshold: f32) -> Result<ProductQaReport, IndexError> {
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
                blocks: vec![Block { headings: vec![], text: p.text.clone() }],
                hash: String::new(),
            });
        }
    }
    let empty_kb = work_dir.join("kb");
    std::fs::create_dir_all(&empty_kb).map_err(crate::index::io_err_pub(&empty_kb))?;
    let index_root = work_dir.join("index");
    build(BuildOptions { kb_dir: &empty_kb, index_root: &index_root, extra_documents: docs }, embedder, &mut ())?;
    let handle = IndexHandle::open(&index_root)?;
    let generation = handle.current();

    let questions: Vec<&str> = cases.iter().map(|c| c.question.as_str()).collect();
    let vectors = embedder.embed(&questions)?;
    let (mut answered, mut good, mut bad, mut answered_answerable, mut abstained_unanswerable) = (0, 0, 0, 0, 0);
    for (n, (case, v)) in cases.iter().zip(&vectors).enumerate() {
        let hits = generation.search(&case.question, v, &SearchOptions { k: 1, product_id: Some(format!("case-{n}")), help_only: false })?;
        let chosen = hits.first().filter(|h| h.dense >= threshold);
        match chosen {
            Some(h) => {
                answered += 1;
                let m: usize = h.passage.doc_id.rsplit("-p").next().and_then(|s| s.parse().ok()).unwrap_or(0);
                match case.passages[m].label {
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
    let answerable = cases.iter().filter(|c| c.answerable).count().max(1);
    let unanswerable = cases.iter().filter(|c| !c.answerable).count().max(1);
    Ok(ProductQaReport {
        n: cases.len(),
        answered,
        precision: good as f64 / answered.max(1) as f64,
        irrelevant: bad as f64 / answered.max(1) as f64,
        coverage: answered_answerable as f64 / answerable as f64,
        abstention: abstained_unanswerable as f64 / unanswerable as f64,
        threshold,
    })
}
