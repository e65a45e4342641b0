//! Retrieval quality on labelled questions: Recall@1 and Recall@3 of hybrid, BM25-only and
//! dense-only search, counting a hit when a retrieved passage's document carries the question's
//! topic in its front matter (`topics:`), e.g. a `delivery_info` question is answered by a
//! document tagged `delivery_info`.

use serde::Serialize;

use crate::{
    embed::Embedder,
    index::{Generation, IndexError, SearchOptions},
};

/// A question and the topic its answer must carry.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub text: String,
    pub topic: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Recall {
    pub at1: f64,
    pub at3: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetrievalReport {
    pub n: usize,
    pub hybrid: Recall,
    pub bm25: Recall,
    pub dense: Recall,
    /// Per topic: (n, hybrid recall).
    pub per_topic: Vec<(String, usize, Recall)>,
}

/// Runs all three retrieval modes over `questions`.
pub fn evaluate(
    generation: &Generation,
    embedder: &dyn Embedder,
    questions: &[Labelled],
) -> Result<RetrievalReport, IndexError> {
    let texts: Vec<&str> = questions.iter().map(|q| q.text.as_str()).collect();
    let vectors = embedder.embed(&texts)?;
    let has_topic =
        |ord: usize, topic: &str| generation.passages()[ord].topics.iter().any(|t| t == topic);
    let mut rows: Vec<(String, [bool; 6])> = Vec::with_capacity(questions.len());
    for (q, v) in questions.iter().zip(&vectors) {
        let hybrid: Vec<bool> = generation
            .search(
                &q.text,
                v,
                &SearchOptions {
                    k: 3,
                    product_id: None,
                    help_only: false,
                },
            )?
            .iter()
            .map(|h| h.passage.topics.iter().any(|t| t == &q.topic))
            .collect();
        let bm25: Vec<bool> = generation
            .search_bm25(&q.text, 3, None)?
            .iter()
            .map(|(o, _)| has_topic(*o, &q.topic))
            .collect();
        let dense: Vec<bool> = generation
            .search_dense(v, 3, None)
            .iter()
            .map(|(o, _)| has_topic(*o, &q.topic))
            .collect();
        let first = |r: &[bool]| r.first().copied().unwrap_or(false);
        let any = |r: &[bool]| r.iter().any(|&b| b);
        rows.push((
            q.topic.clone(),
            [
                first(&hybrid),
                any(&hybrid),
                first(&bm25),
                any(&bm25),
                first(&dense),
                any(&dense),
            ],
        ));
    }
    let recall = |rows: &[&(String, [bool; 6])], i: usize| -> Recall {
        let n = rows.len().max(1) as f64;
        Recall {
            at1: rows.iter().filter(|r| r.1[i]).count() as f64 / n,
            at3: rows.iter().filter(|r| r.1[i + 1]).count() as f64 / n,
        }
    };
    let all: Vec<&(String, [bool; 6])> = rows.iter().collect();
    let mut topics: Vec<String> = questions.iter().map(|q| q.topic.clone()).collect();
    topics.sort();
    topics.dedup();
    let per_topic = topics
        .into_iter()
        .map(|t| {
            let sel: Vec<&(String, [bool; 6])> = rows.iter().filter(|r| r.0 == t).collect();
            let n = sel.len();
            (t, n, recall(&sel, 0))
        })
        .collect();
    Ok(RetrievalReport {
        n: rows.len(),
        hybrid: recall(&all, 0),
        bm25: recall(&all, 2),
        dense: recall(&all, 4),
        per_topic,
    })
}
