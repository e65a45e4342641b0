//! Step: understand a customer's message, with local models only.
//!
//! ```text
//! message ── clauses::split_clauses ──► [message, clause…] ── spelling::repair_keywords
//!    │                                          │ one Embedder::embed batch
//!    │                                          │
//!    │                         head::IntentHead (softmax over MiniLM) ──► intent, confidence,
//!    │                                                                    ranked, requests
//!    ├── entities::Entities::extract ──► order numbers, emails, postcodes, names, options…
//!    ├── sensitive::detect ──► legal threat, chargeback, fraud, injury, harassment, anger
//!    └── human::asks_for_human
//! ```
//!
//! [`Understander::understand`] returns an [`Understanding`]: the intent of the whole message
//! (from the learned head), the separate requests when the message makes several, the entities,
//! a sensitive-topic flag, whether a person is asked for, and the message's embedding (so
//! retrieval need not embed it again). The head is trained by `shopkeep train intents`
//! ([`train`]); `scripts/train-intents.sh` writes `models/intent-head.json`.
//!
//! This step does not look anything up (orders, products, policies), does not decide what to
//! answer, and does not keep conversation state.

mod clauses;
mod entities;
mod head;
mod human;
mod intent;
mod sensitive;
mod spelling;
mod text;
pub mod train;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::embed::{EmbedError, Embedder};

pub use clauses::{split_clauses, MAX_CLAUSES};
pub use entities::{Entities, Quantity};
pub use head::{IntentHead, TrainingInfo, HEAD_FILE, HEAD_FORMAT};
pub use human::asks_for_human;
pub use intent::{Intent, UnknownIntent};
pub use sensitive::{detect as detect_sensitive, Sensitive, SensitiveKind};
pub use spelling::repair_keywords;
pub use text::fnv1a64;
pub use train::{is_held_out, LabelledText, TrainOptions, SPLIT_RULE};

/// A clause counts as a separate request only when the head gives its intent at least this
/// probability. Below it, a clause is too vague to act on alone ("can you help?") and the
/// whole message's classification stands. Chosen on the phrasing fixture's multi-request lines
/// and the development set's training part (false splits there cost accuracy).
pub const REQUEST_THRESHOLD: f32 = 0.5;

/// Errors loading the head, reading labelled data, training, or embedding.
#[derive(Debug, thiserror::Error)]
pub enum UnderstandError {
    #[error("no intent head at {path}; run `scripts/train-intents.sh` to train it")]
    HeadMissing { path: String },
    #[error("intent head {path}: {message}")]
    HeadFile { path: String, message: String },
    #[error("the intent head was trained on {trained} vectors ({trained_dim}-d) but the embedder is {running} ({running_dim}-d); run `scripts/train-intents.sh`")]
    ModelMismatch {
        trained: String,
        trained_dim: usize,
        running: String,
        running_dim: usize,
    },
    #[error("{file} line {line}: {message}")]
    Data {
        file: String,
        line: usize,
        message: String,
    },
    #[error("reading {path}: {message}")]
    Io { path: String, message: String },
    #[error("training: {0}")]
    Training(String),
    #[error("the embedder returned {got} vectors of the wrong shape for {asked} texts")]
    EmbedShape { asked: usize, got: usize },
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// One request within a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    pub intent: Intent,
    pub confidence: f32,
    /// The clause that carries it (the whole message for a single request).
    pub text: String,
}

/// What a message says and asks.
#[derive(Debug, Clone, Serialize)]
pub struct Understanding {
    /// The message's intent: the whole message's classification, or for a multi-request
    /// message the first request's.
    pub intent: Intent,
    pub confidence: f32,
    /// Probability of the whole message's top intent minus that of its second.
    pub margin: f32,
    /// The whole message's three most probable intents.
    pub ranked: Vec<(Intent, f32)>,
    /// Every request, in message order; one entry (the whole message) when there is one request.
    pub requests: Vec<Request>,
    pub entities: Entities,
    pub sensitive: Option<Sensitive>,
    pub asks_for_human: bool,
    /// The whole message's embedding (of its keyword-repaired text, see [`repair_keywords`]),
    /// for retrieval to reuse.
    #[serde(skip)]
    pub vector: Vec<f32>,
}

impl Understanding {
    /// Whether the message carries more than one request.
    pub fn is_multi_request(&self) -> bool {
        self.requests.len() > 1
    }
}

/// The understanding step: the learned head plus the rules.
pub struct Understander {
    head: IntentHead,
}

/// Words that may surround a name, email, user id or postcode in a clause that only says who
/// the customer is ("I am Yusuf Rossi in zip code 19122"): such a clause is not a request.
const IDENTITY_WORDS: &[&str] = &[
    "i",
    "i'm",
    "im",
    "am",
    "my",
    "name",
    "name's",
    "is",
    "this",
    "here",
    "hi",
    "hello",
    "hey",
    "and",
    "in",
    "at",
    "with",
    "from",
    "the",
    "zip",
    "code",
    "zipcode",
    "postcode",
    "postal",
    "email",
    "e",
    "mail",
    "address",
    "user",
    "id",
    "username",
    "living",
    "live",
    "lives",
    "located",
    "based",
    "of",
    "a",
    "customer",
    "it's",
    "me",
    "called",
    "by",
    "way",
    "account",
    "under",
    "registered",
    "s",
];

impl Understander {
    pub fn new(head: IntentHead) -> Self {
        Self { head }
    }

    /// Loads a head file.
    pub fn load(path: &Path) -> Result<Self, UnderstandError> {
        Ok(Self::new(IntentHead::load(path)?))
    }

    /// `<models_root>/intent-head.json`.
    pub fn default_path(models_root: &Path) -> PathBuf {
        models_root.join(HEAD_FILE)
    }

    /// Loads `<models_root>/intent-head.json`.
    pub fn from_default_location(models_root: &Path) -> Result<Self, UnderstandError> {
        Self::load(&Self::default_path(models_root))
    }

    pub fn head(&self) -> &IntentHead {
        &self.head
    }

    fn check_embedder(&self, embedder: &dyn Embedder) -> Result<(), UnderstandError> {
        if embedder.model_id() != self.head.model_id || embedder.dim() != self.head.dim {
            return Err(UnderstandError::ModelMismatch {
                trained: self.head.model_id.clone(),
                trained_dim: self.head.dim,
                running: embedder.model_id().to_string(),
                running_dim: embedder.dim(),
            });
        }
        Ok(())
    }

    /// Understands one message with one embedding call (the message and its clauses together).
    pub fn understand(
        &self,
        embedder: &dyn Embedder,
        text: &str,
    ) -> Result<Understanding, UnderstandError> {
        self.check_embedder(embedder)?;
        let clauses = split_clauses(text);
        // The head reads keyword-repaired text (as it was trained); the rules read the original.
        let mut repaired: Vec<String> = vec![repair_keywords(text).into_owned()];
        if clauses.len() > 1 {
            repaired.extend(clauses.iter().map(|c| repair_keywords(c).into_owned()));
        }
        let batch: Vec<&str> = repaired.iter().map(String::as_str).collect();
        let mut vectors = embedder.embed(&batch)?;
        if vectors.len() != batch.len() || vectors.iter().any(|v| v.len() != self.head.dim) {
            return Err(UnderstandError::EmbedShape {
                asked: batch.len(),
                got: vectors.len(),
            });
        }
        let clause_vectors = vectors.split_off(1);
        let vector = vectors.pop().unwrap_or_default();
        Ok(self.understand_embedded(text, vector, &clauses, &clause_vectors))
    }

    /// The rest of [`Understander::understand`], given the embeddings (the whole message's, and
    /// one per clause when there are several clauses; `clauses` is [`split_clauses`] of `text`).
    /// For callers that embed elsewhere; `vector` must have the head's dimension.
    pub fn understand_embedded(
        &self,
        text: &str,
        vector: Vec<f32>,
        clauses: &[String],
        clause_vectors: &[Vec<f32>],
    ) -> Understanding {
        let ranked_all = self.head.ranked(&vector);
        let (top, p1) = ranked_all[0];
        let p2 = ranked_all.get(1).map_or(0.0, |r| r.1);
        let ranked: Vec<(Intent, f32)> = ranked_all.iter().take(3).copied().collect();

        // Several clauses: each confident clause is a request, unless it is social, only says who
        // the customer is or what happened, or is an information intent not phrased as a question
        // ("The sheets pilled after two washes." describes, it does not ask about the product).
        // The first occurrence of an intent keeps its place.
        let mut requests: Vec<Request> = Vec::new();
        for (clause, v) in clauses.iter().zip(clause_vectors) {
            if is_identity_only(clause) || is_context_only(clause) {
                continue;
            }
            let (intent, p) = self.head.ranked(v)[0];
            if p < REQUEST_THRESHOLD
                || intent.is_chit_chat()
                || intent.is_question() && !is_question(clause)
            {
                continue;
            }
            match requests.iter_mut().find(|r| r.intent == intent) {
                Some(r) if p > r.confidence => r.confidence = p,
                Some(_) => {}
                None => requests.push(Request {
                    intent,
                    confidence: p,
                    text: clause.clone(),
                }),
            }
        }
        // Several clauses but one request among them ("Hi! I'm Dana in 30307. I want to return
        // the boots."): that clause, free of the greeting and the introduction, says it best.
        // One clause, or no confident one: the whole message's classification.
        let (intent, confidence) = if !requests.is_empty() && clauses.len() > 1 {
            (requests[0].intent, requests[0].confidence)
        } else {
            requests = vec![Request {
                intent: top,
                confidence: p1,
                text: text.trim().to_string(),
            }];
            (top, p1)
        };
        Understanding {
            intent,
            confidence,
            margin: p1 - p2,
            ranked,
            requests,
            entities: Entities::extract(text),
            sensitive: sensitive::detect(text),
            asks_for_human: asks_for_human(text),
            vector,
        }
    }
}

/// Openers of a clause that only sets the scene ("I received my order #W2378156", "I bought
/// two towels last week"): what follows it is the request.
const CONTEXT_OPENERS: &[&[&str]] = &[
    &["i", "received"],
    &["i", "got"],
    &["i", "ordered"],
    &["i", "bought"],
    &["i", "purchased"],
    &["i", "placed"],
    &["i", "have", "received"],
    &["i've", "received"],
    &["i", "just", "received"],
    &["i", "just", "got"],
    &["my", "order", "arrived"],
    &["my", "order", "came"],
    &["my", "package", "arrived"],
    &["my", "parcel", "arrived"],
];
/// Words that make a scene-setting clause a request or a problem after all ("I received my order
/// but the mug is broken", "I ordered a candle, where is it?").
const REQUEST_CUES: &[&str] = &[
    "want", "wanna", "need", "like", "please", "pls", "can", "could", "would", "how", "where",
    "when", "why", "what", "which", "is", "isn't", "has", "hasn't", "haven't", "didn't", "not",
    "never", "no", "still", "yet", "wrong", "missing", "late", "broken", "damaged", "cracked",
    "but", "only", "without", "instead", "twice", "help",
];

/// A clause that only sets the scene, asking nothing.
fn is_context_only(clause: &str) -> bool {
    let w = text::words(clause);
    let start = w
        .iter()
        .position(|x| {
            !matches!(
                x.as_str(),
                "hi" | "hello" | "hey" | "so" | "ok" | "okay" | "well"
            )
        })
        .unwrap_or(0);
    let w = &w[start..];
    CONTEXT_OPENERS
        .iter()
        .any(|o| w.len() >= o.len() && o.iter().zip(w).all(|(a, b)| *a == b.as_str()))
        && !clause.contains('?')
        && !w.iter().any(|x| REQUEST_CUES.contains(&x.as_str()))
}

/// Openers of a question (or of a statement that asks: "I want to know", "tell me").
const QUESTION_OPENERS: &[&str] = &[
    "what",
    "what's",
    "whats",
    "which",
    "how",
    "how's",
    "where",
    "where's",
    "when",
    "why",
    "who",
    "is",
    "isn't",
    "are",
    "aren't",
    "do",
    "does",
    "did",
    "can",
    "could",
    "would",
    "will",
    "should",
    "may",
    "have",
    "has",
    "any",
    "tell",
    "wondering",
    "curious",
    "know",
];

/// Whether a clause asks something: a question mark, or a question word among its first words.
fn is_question(clause: &str) -> bool {
    clause.contains('?')
        || text::words(clause)
            .iter()
            .take(6)
            .any(|w| QUESTION_OPENERS.contains(&w.as_str()))
}

/// A clause that only says who the customer is.
fn is_identity_only(clause: &str) -> bool {
    let e = Entities::extract(clause);
    if e.names.is_empty() && e.emails.is_empty() && e.user_ids.is_empty() && e.postcodes.is_empty()
    {
        return false;
    }
    let mut rest = clause.to_string();
    for s in e.names.iter().chain(&e.user_ids).chain(&e.postcodes) {
        rest = rest.replace(s.as_str(), " ");
    }
    // Emails are normalised (lower-cased domain), so drop any piece containing '@'.
    let rest: String = rest
        .split_whitespace()
        .filter(|w| !w.contains('@'))
        .collect::<Vec<_>>()
        .join(" ");
    text::words(&rest)
        .iter()
        .all(|w| IDENTITY_WORDS.contains(&w.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_clauses_are_not_requests() {
        assert!(is_identity_only("I am Yusuf Rossi in zip code 19122."));
        assert!(is_identity_only(
            "I am mia_garcia_4516 (mia.garcia2723@example.com)."
        ));
        assert!(!is_identity_only(
            "I am Yusuf Rossi and I want to cancel my order"
        ));
        assert!(!is_identity_only("where is my order"));
    }

    #[test]
    fn scene_setting_clauses_are_not_requests() {
        assert!(is_context_only("Hi, I received my order #W2378156"));
        assert!(is_context_only("I bought two towels last week"));
        assert!(!is_context_only(
            "I received my order but the mug is cracked"
        ));
        assert!(!is_context_only("I ordered a candle, where is it?"));
        assert!(!is_context_only("I want to return the boots"));
    }
}
