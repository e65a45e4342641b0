//! Step: choose the passage that answers a product-page question, or abstain.
//!
//! Given the question and the product's candidate passages (the hybrid search's hits, each with
//! its cosine to the question), the selector scores every candidate with a logistic regression
//! over a few dozen features and returns the best one with its probability of *fully answering*
//! the question, or `None` when that probability is under the threshold stored with the model.
//! The features are cheap and spelled out in [`FEATURES`]: the cosine and where it stands among
//! the product's candidates, overlap of the question's content words (weighted by how rare they
//! are among this product's passages), the passage's shape (a shopper Q&A, an attribute, a first-
//! person review, a passage that is itself a question or says "not sure"), the question's shape
//! (yes/no, how many/much, what/which) and, for a shopper Q&A, the cosine between the question
//! and the shopper question the passage quotes (the caller embeds those; see
//! [`quoted_question`]).
//!
//! The model is `models/answer-select.json`, written by `shopkeep train answer-select`
//! ([`train`]). This module does not search, compose a reply or decide hand-offs; it only says
//! which passage, if any, to answer from.

pub mod train;

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
};

use serde::{Deserialize, Serialize};

use crate::{
    embed::{dot, EmbedError, Embedder},
    index::Hit,
};

/// The file format version this code reads and writes.
pub const SELECT_FORMAT: u32 = 1;
/// Where the selector lives under the models root.
pub const SELECT_FILE: &str = "answer-select.json";
/// How many of the product's passages the selector weighs (the search's `k`). The features that
/// compare a passage with the others are computed over this set, so callers use the same number.
pub const CANDIDATES: usize = 10;

/// The features, in the order of the model's weights. A model file naming other features (an
/// older or newer version of this code) is refused at load rather than silently misread.
pub const FEATURES: &[&str] = &[
    "cos",           // cosine of question and passage (the index's dense score)
    "cos_minus_max", // how far below the product's best cosine
    "cos_margin",    // top: lead over the second; others: gap to the top
    "cos_z",         // cosine standardised over the product's candidates
    "top1",
    "top3",
    "recip_rank",
    "group_max", // the best cosine among the candidates (how on-topic the product is at all)
    "group_mean",
    "idf_overlap",  // question content words in the passage, weighted by local rarity
    "overlap",      // share of question content words in the passage
    "is_qa",        // a shopper Q&A ("answer … Question: …")
    "is_attribute", // a `name: { value: … }` attribute
    "quoted_cos",   // Q&A only: cosine of the question and the quoted shopper question
    "qa_yes_no",    // Q&A answered yes/no, to a yes/no question
    "starts_yes_no",
    "first_person",
    "first_person_not_qa",
    "log_len",
    "has_number",
    "how_many_number", // a how-many/much question and a passage with a number
    "q_yes_no",
    "q_how_many",
    "q_what",
    "q_how",
    "yes_no_qa",
    "yes_no_attribute",
    "attribute_cos",
    "qa_cos",
    "is_question", // the passage (its answer part) asks rather than tells
    "non_answer",  // "not sure", "no idea", "sorry", "asked" …
];

/// Errors loading, saving or training a selector.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("no answer selector at {path}; run scripts/train-answer-select.sh")]
    Missing { path: String },
    #[error("answer selector {path}: {message}")]
    File { path: String, message: String },
    #[error("training the answer selector: {0}")]
    Training(String),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// One candidate passage as the selector sees it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The passage text (without the title the index prefixes for embedding).
    pub text: &'a str,
    /// Cosine of the question and the passage (the index's `dense` score).
    pub dense: f32,
    /// For a shopper Q&A passage: cosine of the question and the quoted shopper question.
    pub quoted_dense: Option<f32>,
}

/// The passage to answer from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Selection {
    /// Index into the candidates given.
    pub index: usize,
    /// Estimated probability that the passage fully answers the question.
    pub probability: f32,
    /// The threshold it cleared.
    pub threshold: f32,
}

/// How a selector was trained (kept in the file so a reader can tell what it is looking at).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub split: String,
    pub train_cases: usize,
    pub held_out_cases: usize,
    pub train_rows: usize,
    pub l2: f32,
    pub iterations: usize,
    pub final_loss: f32,
    /// How the threshold was chosen, and the training part's out-of-fold figures at it.
    pub threshold_rule: String,
    pub oof_precision: f32,
    pub oof_irrelevant: f32,
    pub oof_coverage: f32,
    pub oof_abstention: f32,
}

/// A trained selector: standardisation, weights, bias and the answer threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerSelector {
    pub format: u32,
    /// The embedder the cosines came from; another model's cosines live on another scale.
    pub model_id: String,
    pub features: Vec<String>,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// Answer only when the best candidate's probability is at least this.
    pub threshold: f32,
    #[serde(default)]
    pub training: TrainingInfo,
}

impl AnswerSelector {
    pub fn default_path(models_root: &Path) -> PathBuf {
        models_root.join(SELECT_FILE)
    }

    /// Reads and checks a selector file.
    pub fn load(path: &Path) -> Result<Self, SelectError> {
        let file_err = |message: String| SelectError::File {
            path: path.display().to_string(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SelectError::Missing {
                path: path.display().to_string(),
            },
            _ => file_err(e.to_string()),
        })?;
        let s: AnswerSelector =
            serde_json::from_slice(&bytes).map_err(|e| file_err(e.to_string()))?;
        s.validate().map_err(file_err)?;
        Ok(s)
    }

    /// Writes the selector as pretty JSON (reviewable, diffable).
    pub fn save(&self, path: &Path) -> Result<(), SelectError> {
        let file_err = |message: String| SelectError::File {
            path: path.display().to_string(),
            message,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| file_err(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(|e| file_err(e.to_string()))
    }

    /// Shape checks: a file that would misalign features or produce NaN is refused at load.
    fn validate(&self) -> Result<(), String> {
        if self.format != SELECT_FORMAT {
            return Err(format!("format {} (this build reads {SELECT_FORMAT}); retrain with scripts/train-answer-select.sh", self.format));
        }
        if self
            .features
            .iter()
            .map(String::as_str)
            .ne(FEATURES.iter().copied())
        {
            return Err("its feature list differs from this build's; retrain with scripts/train-answer-select.sh".into());
        }
        let n = FEATURES.len();
        if self.mean.len() != n || self.scale.len() != n || self.weights.len() != n {
            return Err(format!("expected {n} means, scales and weights"));
        }
        let all = self
            .mean
            .iter()
            .chain(&self.scale)
            .chain(&self.weights)
            .chain([&self.bias, &self.threshold]);
        if all.clone().any(|v| !v.is_finite()) || self.scale.iter().any(|&s| s <= 0.0) {
            return Err("non-finite number or non-positive scale".into());
        }
        Ok(())
    }

    /// Probability that each candidate fully answers the question, in candidate order.
    pub fn probabilities(&self, question: &str, candidates: &[Candidate]) -> Vec<f32> {
        features(question, candidates)
            .iter()
            .map(|f| {
                let z = self.bias
                    + f.iter()
                        .zip(&self.mean)
                        .zip(&self.scale)
                        .zip(&self.weights)
                        .map(|(((x, m), s), w)| w * (x - m) / s)
                        .sum::<f32>();
                1.0 / (1.0 + (-z).exp())
            })
            .collect()
    }

    /// The candidate to answer from, or `None` to abstain (no candidates, or none likely enough).
    pub fn select(&self, question: &str, candidates: &[Candidate]) -> Option<Selection> {
        let p = self.probabilities(question, candidates);
        // Ties go to the earlier candidate (the search's better-ranked one).
        let (index, &probability) =
            p.iter()
                .enumerate()
                .fold(None, |best: Option<(usize, &f32)>, (i, v)| match best {
                    Some((_, b)) if b >= v => best,
                    _ => Some((i, v)),
                })?;
        (probability >= self.threshold).then_some(Selection {
            index,
            probability,
            threshold: self.threshold,
        })
    }

    /// [`Self::select`] over search hits: embeds the shopper questions that Q&A passages quote
    /// (one small batch) and compares them with `qvec`, the question's vector.
    pub fn select_hits(
        &self,
        question: &str,
        qvec: &[f32],
        hits: &[Hit],
        embedder: &dyn Embedder,
    ) -> Result<Option<Selection>, EmbedError> {
        let quoted = quoted_cosines(qvec, hits.iter().map(|h| h.passage.text.as_str()), embedder)?;
        let candidates: Vec<Candidate> = hits
            .iter()
            .zip(quoted)
            .map(|(h, q)| Candidate {
                text: &h.passage.text,
                dense: h.dense,
                quoted_dense: q,
            })
            .collect();
        Ok(self.select(question, &candidates))
    }
}

/// For each text, the cosine of `qvec` and the shopper question it quotes, if it quotes one.
pub fn quoted_cosines<'a>(
    qvec: &[f32],
    texts: impl Iterator<Item = &'a str>,
    embedder: &dyn Embedder,
) -> Result<Vec<Option<f32>>, EmbedError> {
    let quoted: Vec<Option<&str>> = texts.map(quoted_question).collect();
    let batch: Vec<&str> = quoted.iter().flatten().copied().collect();
    let mut vectors = if batch.is_empty() {
        Vec::new()
    } else {
        embedder.embed(&batch)?
    }
    .into_iter();
    Ok(quoted
        .iter()
        .map(|q| q.and_then(|_| vectors.next()).map(|v| dot(qvec, &v)))
        .collect())
}

/// A process-wide selector per models root, loaded on first use: the assistant asks for it on
/// every product-page question and must not re-read the file each time. Failures are not
/// cached, so a selector written after start-up is picked up on the next question.
pub fn shared(models_root: &Path) -> Result<Arc<AnswerSelector>, SelectError> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<AnswerSelector>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(s) = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(models_root)
    {
        return Ok(s.clone());
    }
    let s = Arc::new(AnswerSelector::load(&AnswerSelector::default_path(
        models_root,
    ))?);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(models_root.to_path_buf(), s.clone());
    Ok(s)
}

/// The shopper question a Q&A passage quotes: the text after its last "Question:", when there is
/// one (product Q&A is stored as "answer … Question: the shopper's question").
pub fn quoted_question(text: &str) -> Option<&str> {
    let at = find_question_marker(text)?;
    let q = text[at + "question:".len()..].trim();
    (!q.is_empty()).then_some(q)
}

/// Byte offset of the last "question:" (any case). ASCII-only lowercasing keeps offsets valid.
fn find_question_marker(text: &str) -> Option<usize> {
    text.to_ascii_lowercase().rfind("question:")
}

/// Words that carry no content in a question (matching them says nothing about an answer).
const STOP: &[&str] = &[
    "a", "about", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by",
    "can", "could", "did", "do", "does", "for", "from", "get", "got", "has", "have", "how", "i",
    "id", "if", "im", "in", "into", "is", "it", "its", "ive", "just", "know", "like", "me", "mine",
    "my", "need", "of", "on", "one", "or", "our", "please", "should", "so", "some", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "u", "ur", "us",
    "was", "way", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with",
    "would", "you", "your",
];
/// First words of a yes/no question.
const YES_NO_STARTS: &[&str] = &[
    "do", "does", "did", "is", "are", "was", "were", "can", "could", "will", "would", "should",
    "has", "have", "had",
];
/// First words of a passage that asks rather than tells.
const QUESTION_STARTS: &[&str] = &[
    "how", "what", "which", "does", "do", "is", "are", "can", "will", "would", "should", "did",
    "has", "have", "where", "when", "why", "who",
];
/// After "how": a question about an amount or a size.
const HOW_AMOUNT: &[&str] = &[
    "many", "much", "long", "big", "tall", "wide", "heavy", "deep", "high", "thick", "large", "far",
];
/// Phrases of a reply that does not answer.
const NON_ANSWER: &[&str] = &[
    "not sure",
    "don't know",
    "dont know",
    "no idea",
    "sorry",
    "i wonder",
    "wondering",
    "asked",
    "can't say",
    "cant say",
    "unsure",
    "not certain",
    "can't tell",
    "cant tell",
    "don't have it",
    "don't have the",
    "don't have this",
    "dont have it",
    "dont have the",
    "dont have this",
];

/// Lowercase ASCII words (letters and digits; everything else separates), curly apostrophes
/// folded so "don’t" and "don't" read alike.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A crude suffix stemmer: enough that "replaced"/"replacing"/"replaces" meet, and identical at
/// training and answer time (which matters more than linguistic accuracy).
fn stem(w: &str) -> String {
    for (suffix, replacement) in [
        ("ies", "y"),
        ("sses", "ss"),
        ("es", ""),
        ("s", ""),
        ("ing", ""),
        ("ed", ""),
    ] {
        if w.len() >= suffix.len() + 3 && w.ends_with(suffix) {
            return format!("{}{replacement}", &w[..w.len() - suffix.len()]);
        }
    }
    w.to_string()
}

fn content_words(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| !STOP.contains(&w.as_str()))
        .map(|w| stem(&w))
        .collect()
}

/// The first word, skipping leading punctuation, with apostrophes kept ("what's").
fn first_word(text: &str) -> String {
    text.trim_start_matches(|c: char| !c.is_alphanumeric())
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '\'')
        .collect::<String>()
        .to_lowercase()
}

struct QuestionShape {
    yes_no: bool,
    how_many: bool,
    what: bool,
    how: bool,
}

fn question_shape(question: &str) -> QuestionShape {
    let first = first_word(question);
    let w = words(question);
    let how_many = w
        .windows(2)
        .any(|p| p[0] == "how" && HOW_AMOUNT.contains(&p[1].as_str()));
    QuestionShape {
        yes_no: YES_NO_STARTS.contains(&first.as_str()),
        how_many,
        what: first == "what" || first == "which",
        how: first == "how",
    }
}

/// `name: {` at the start (an attribute dump) or `{ value:` anywhere.
fn looks_like_attribute(lower: &str) -> bool {
    let name_len = lower
        .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
        .unwrap_or(lower.len());
    let after_name = &lower[name_len..];
    (name_len > 0 && after_name.starts_with(':') && after_name[1..].trim_start().starts_with('{'))
        || lower.contains("{ value:")
}

/// Feature rows, one per candidate, in [`FEATURES`] order.
pub fn features(question: &str, candidates: &[Candidate]) -> Vec<Vec<f32>> {
    let n = candidates.len();
    if n == 0 {
        return Vec::new();
    }
    let shape = question_shape(question);
    let (q_yn, q_hm) = (f(shape.yes_no), f(shape.how_many));
    let q_words: HashSet<String> = content_words(question).into_iter().collect();
    let passage_words: Vec<Vec<String>> =
        candidates.iter().map(|c| content_words(c.text)).collect();
    let passage_sets: Vec<HashSet<&str>> = passage_words
        .iter()
        .map(|w| w.iter().map(String::as_str).collect())
        .collect();
    // Rarity among this product's own passages: the product's name, in every passage, says
    // nothing about which one answers.
    let idf: HashMap<&str, f32> = q_words
        .iter()
        .map(|w| {
            let df = passage_sets
                .iter()
                .filter(|s| s.contains(w.as_str()))
                .count() as f32;
            (w.as_str(), ((n as f32 + 1.0) / (df + 0.5)).ln())
        })
        .collect();
    let idf_total = idf.values().sum::<f32>();
    let idf_total = if idf_total > 0.0 { idf_total } else { 1.0 };

    let cos: Vec<f32> = candidates.iter().map(|c| c.dense).collect();
    let mut sorted = cos.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let (best, second) = (sorted[0], sorted.get(1).copied().unwrap_or(sorted[0]));
    let mean = cos.iter().sum::<f32>() / n as f32;
    let std = (cos.iter().map(|c| (c - mean).powi(2)).sum::<f32>() / n as f32).sqrt();

    candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // Rank by cosine, ties to the earlier candidate.
            let rank = cos
                .iter()
                .enumerate()
                .filter(|&(j, &o)| o > cos[i] || (o == cos[i] && j < i))
                .count();
            let lower = c.text.to_lowercase().replace('\u{2019}', "'");
            let marker = find_question_marker(&lower);
            let is_qa = marker.is_some();
            // A Q&A's own answer is what precedes the quoted question.
            let answer_part = match marker {
                Some(at) => &lower[..at],
                None => lower.as_str(),
            };
            let is_attribute = looks_like_attribute(&lower);
            let first = first_word(answer_part);
            let starts_yes_no = matches!(first.as_str(), "yes" | "no" | "yeah" | "nope" | "yep");
            let is_question =
                answer_part.contains('?') || QUESTION_STARTS.contains(&first.as_str());
            let non_answer = NON_ANSWER.iter().any(|p| answer_part.contains(p));
            let first_person = words(&lower)
                .iter()
                .any(|w| matches!(w.as_str(), "i" | "my" | "me"));
            let has_number = c.text.chars().any(|ch| ch.is_ascii_digit());
            let set = &passage_sets[i];
            let idf_overlap = q_words
                .iter()
                .filter(|w| set.contains(w.as_str()))
                .map(|w| idf[w.as_str()])
                .sum::<f32>()
                / idf_total;
            let overlap = q_words.iter().filter(|w| set.contains(w.as_str())).count() as f32
                / q_words.len().max(1) as f32;
            let margin = if rank == 0 {
                cos[i] - second
            } else {
                cos[i] - best
            };
            vec![
                cos[i],
                cos[i] - best,
                margin,
                (cos[i] - mean) / (std + 1e-6),
                f(rank == 0),
                f(rank < 3),
                1.0 / (rank as f32 + 1.0),
                best,
                mean,
                idf_overlap,
                overlap,
                f(is_qa),
                f(is_attribute),
                if is_qa {
                    c.quoted_dense.unwrap_or(0.0)
                } else {
                    0.0
                },
                f(is_qa && starts_yes_no && shape.yes_no),
                f(starts_yes_no),
                f(first_person),
                f(first_person && !is_qa),
                (1.0 + passage_words[i].len() as f32).ln(),
                f(has_number),
                f(has_number) * q_hm,
                q_yn,
                q_hm,
                f(shape.what),
                f(shape.how),
                q_yn * f(is_qa),
                q_yn * f(is_attribute),
                f(is_attribute) * cos[i],
                f(is_qa) * cos[i],
                f(is_question),
                f(non_answer),
            ]
        })
        .collect()
}

fn f(b: bool) -> f32 {
    if b {
        1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-set selector: answers when the passage is close to the question and shares its
    /// rare words, penalises passages that only ask back. Enough to test the mechanics without a
    /// trained file.
    fn hand_selector() -> AnswerSelector {
        let n = FEATURES.len();
        let mut weights = vec![0.0; n];
        let at = |name: &str| FEATURES.iter().position(|f| *f == name).unwrap();
        weights[at("cos")] = 8.0;
        weights[at("idf_overlap")] = 3.0;
        weights[at("is_question")] = -4.0;
        weights[at("non_answer")] = -4.0;
        AnswerSelector {
            format: SELECT_FORMAT,
            model_id: "test".into(),
            features: FEATURES.iter().map(|s| s.to_string()).collect(),
            mean: vec![0.0; n],
            scale: vec![1.0; n],
            weights,
            bias: -6.0,
            threshold: 0.5,
            training: TrainingInfo::default(),
        }
    }

    #[test]
    fn every_candidate_gets_one_row_of_every_feature() {
        let c = [
            Candidate {
                text: "color: { value:\"white\" }",
                dense: 0.6,
                quoted_dense: None,
            },
            Candidate {
                text: "yes it does. Question: does it come in white?",
                dense: 0.5,
                quoted_dense: Some(0.9),
            },
        ];
        let rows = features("does the latch come in white?", &c);
        assert_eq!(rows.len(), 2);
        assert!(rows
            .iter()
            .all(|r| r.len() == FEATURES.len() && r.iter().all(|v| v.is_finite())));
        let at = |name: &str| FEATURES.iter().position(|f| *f == name).unwrap();
        assert_eq!(rows[0][at("is_attribute")], 1.0);
        assert_eq!(rows[1][at("is_qa")], 1.0);
        assert_eq!(rows[1][at("quoted_cos")], 0.9);
        assert_eq!(rows[1][at("qa_yes_no")], 1.0);
        assert_eq!(rows[0][at("top1")], 1.0);
    }

    #[test]
    fn picks_the_passage_that_answers() {
        let s = hand_selector();
        let c = [
            Candidate {
                text: "Great little kettle, my kitchen looks nicer.",
                dense: 0.35,
                quoted_dense: None,
            },
            Candidate {
                text: "The kettle holds 1.7 litres of water.",
                dense: 0.72,
                quoted_dense: None,
            },
            Candidate {
                text: "How much water does it hold?",
                dense: 0.80,
                quoted_dense: None,
            },
        ];
        let choice = s
            .select("how much water does the kettle hold?", &c)
            .expect("answers");
        assert_eq!(
            choice.index, 1,
            "the passage that answers, not the one that asks the same thing back"
        );
        assert!(choice.probability >= s.threshold);
    }

    #[test]
    fn abstains_when_nothing_is_related() {
        let s = hand_selector();
        let c = [
            Candidate {
                text: "batteries_included: { value:false }",
                dense: 0.12,
                quoted_dense: None,
            },
            Candidate {
                text: "Arrived quickly and well packed.",
                dense: 0.18,
                quoted_dense: None,
            },
        ];
        assert_eq!(s.select("is this dishwasher safe?", &c), None);
        assert_eq!(s.select("is this dishwasher safe?", &[]), None);
    }

    #[test]
    fn quoted_question_is_the_text_after_the_last_marker() {
        assert_eq!(
            quoted_question("yes, it fits. Question: will it fit a 2014 sentra? "),
            Some("will it fit a 2014 sentra?")
        );
        assert_eq!(quoted_question("a plain review"), None);
        assert_eq!(quoted_question("dangling Question:  "), None);
    }

    #[test]
    fn a_file_with_other_features_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SELECT_FILE);
        let mut s = hand_selector();
        s.save(&path).unwrap();
        assert_eq!(AnswerSelector::load(&path).unwrap(), s);
        s.features.pop();
        s.save(&path).unwrap();
        assert!(matches!(
            AnswerSelector::load(&path),
            Err(SelectError::File { .. })
        ));
        assert!(matches!(
            AnswerSelector::load(&dir.path().join("none.json")),
            Err(SelectError::Missing { .. })
        ));
    }
}
