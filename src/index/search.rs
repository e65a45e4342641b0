//! Hybrid search over one generation: BM25 (tantivy) and exact dense dot product, fused by
//! reciprocal rank fusion.
//!
//! Exact search scans every vector: at 384 dimensions that is ~1 ms per 10k passages on one core,
//! and exact beats approximate on recall. Past roughly 100k passages (a catalogue-sized store) an
//! ANN index (HNSW) would take over the dense side; the fusion above it would not change.

use std::{cmp::Ordering, sync::Arc};

use tantivy::{
    collector::TopDocs,
    query::{BooleanQuery, Occur, Query, QueryParser, TermQuery},
    schema::{IndexRecordOption, Value},
    TantivyDocument, Term,
};

use super::{generation::Generation, IndexError};
use crate::{embed::dot, kb::Passage};

/// Reciprocal rank fusion constant (Cormack et al.): damps the weight of the very top ranks.
pub const RRF_K: f32 = 60.0;
/// Candidates taken from each ranking before fusion.
const CANDIDATES: usize = 50;

/// Indexed as an extra `product_id` value of every product passage. A help-centre search
/// excludes it in the query itself: filtering after taking the top candidates would let a large
/// catalogue crowd help passages out of the candidate set. (Not a valid product id: ids never
/// contain spaces.)
pub const PRODUCT_MARKER: &str = "any product";

/// How to search.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub k: usize,
    /// Only passages of this product (product page questions).
    pub product_id: Option<String>,
    /// Only help-centre passages, no product pages (policy and order questions).
    pub help_only: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            k: 5,
            product_id: None,
            help_only: false,
        }
    }
}

/// One retrieved passage with every score the confidence gate may weigh.
#[derive(Debug, Clone)]
pub struct Hit {
    pub passage: Arc<Passage>,
    /// BM25 score, when the passage was among the BM25 candidates.
    pub bm25: Option<f32>,
    pub bm25_rank: Option<usize>,
    /// Cosine similarity to the question (always known: vectors are scanned exactly).
    pub dense: f32,
    pub dense_rank: Option<usize>,
    /// Reciprocal rank fusion score.
    pub fused: f32,
}

impl Generation {
    /// BM25 only: (ord, score), best first.
    pub fn search_bm25(
        &self,
        query: &str,
        limit: usize,
        product_id: Option<&str>,
    ) -> Result<Vec<(usize, f32)>, IndexError> {
        self.search_bm25_scoped(query, limit, product_id, false)
    }

    /// BM25, restricted to one product's passages or to help-centre passages only.
    fn search_bm25_scoped(
        &self,
        query: &str,
        limit: usize,
        product_id: Option<&str>,
        help_only: bool,
    ) -> Result<Vec<(usize, f32)>, IndexError> {
        let f = self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.heading, f.body]);
        parser.set_field_boost(f.title, 2.0);
        parser.set_field_boost(f.heading, 1.5);
        // Customers' text is not query syntax: strip operators so "can't" or "C++" never errors.
        let cleaned: String = query
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c.is_whitespace() {
                    c
                } else {
                    ' '
                }
            })
            .collect();
        if cleaned.trim().is_empty() {
            return Ok(Vec::new());
        }
        let (text_query, _errors) = parser.parse_query_lenient(&cleaned);
        let term = |v: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(f.product_id, v),
                IndexRecordOption::Basic,
            ))
        };
        let query: Box<dyn Query> = match (product_id, help_only) {
            (Some(pid), _) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, text_query),
                (Occur::Must, term(pid)),
            ])),
            (None, true) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, text_query),
                (Occur::MustNot, term(PRODUCT_MARKER)),
            ])),
            (None, false) => text_query,
        };
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit))?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr)?;
            let ord = d
                .get_first(f.ord)
                .and_then(|v| v.as_u64())
                .ok_or_else(|| IndexError::Query("hit without ord".into()))?;
            out.push((ord as usize, score));
        }
        Ok(out)
    }

    /// Dense only: (ord, cosine), best first.
    pub fn search_dense(
        &self,
        qvec: &[f32],
        limit: usize,
        product_id: Option<&str>,
    ) -> Vec<(usize, f32)> {
        let d = self.dim();
        if qvec.len() != d {
            return Vec::new();
        }
        let mut scored: Vec<(usize, f32)> = self
            .vectors
            .chunks_exact(d)
            .enumerate()
            .filter(|(ord, _)| {
                product_id.is_none_or(|pid| self.passages[*ord].product_id.as_deref() == Some(pid))
            })
            .map(|(ord, v)| (ord, dot(qvec, v)))
            .collect();
        let limit = limit.min(scored.len());
        if limit == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(limit - 1, |a, b| {
            b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal)
        });
        scored.truncate(limit);
        scored.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal));
        scored
    }

    /// Hybrid: both rankings fused by RRF; the top `k` with all their scores.
    pub fn search(
        &self,
        query: &str,
        qvec: &[f32],
        opts: &SearchOptions,
    ) -> Result<Vec<Hit>, IndexError> {
        let pid = opts.product_id.as_deref();
        let keep = |ord: &usize| !opts.help_only || self.passages[*ord].product_id.is_none();
        let mut bm25 =
            self.search_bm25_scoped(query, CANDIDATES.max(opts.k), pid, opts.help_only)?;
        let mut dense = self.search_dense(
            qvec,
            if opts.help_only {
                self.passages.len()
            } else {
                CANDIDATES.max(opts.k)
            },
            pid,
        );
        // Indexes built before the product marker existed still need the filter here.
        bm25.retain(|(o, _)| keep(o));
        dense.retain(|(o, _)| keep(o));
        dense.truncate(CANDIDATES.max(opts.k));
        let mut fused: std::collections::HashMap<usize, Hit> = std::collections::HashMap::new();
        let hit = |ord: usize| Hit {
            passage: self.passages[ord].clone(),
            bm25: None,
            bm25_rank: None,
            dense: dot(qvec, self.vector(ord)),
            dense_rank: None,
            fused: 0.0,
        };
        for (rank, (ord, score)) in bm25.into_iter().enumerate() {
            let h = fused.entry(ord).or_insert_with(|| hit(ord));
            h.bm25 = Some(score);
            h.bm25_rank = Some(rank + 1);
            h.fused += 1.0 / (RRF_K + (rank + 1) as f32);
        }
        for (rank, (ord, _)) in dense.into_iter().enumerate() {
            let h = fused.entry(ord).or_insert_with(|| hit(ord));
            h.dense_rank = Some(rank + 1);
            h.fused += 1.0 / (RRF_K + (rank + 1) as f32);
        }
        let mut hits: Vec<Hit> = fused.into_values().collect();
        // Ties (rare) break on the dense score, then on passage id, so results are deterministic.
        hits.sort_by(|a, b| {
            b.fused
                .partial_cmp(&a.fused)
                .unwrap_or(Ordering::Equal)
                .then(b.dense.partial_cmp(&a.dense).unwrap_or(Ordering::Equal))
                .then_with(|| a.passage.id.cmp(&b.passage.id))
        });
        hits.truncate(opts.k);
        Ok(hits)
    }
}
