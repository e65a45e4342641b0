//! One index generation on disk, and the `CURRENT` pointer that names the live one.
//!
//! Layout of `ROOT/gen-<time>/`: `tantivy/` (BM25), `vectors.f32` (row-major little-endian f32,
//! one row per passage, in passage order), `passages.json` and `manifest.json`.

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, Serialize};
use tantivy::{
    schema::{
        Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, STORED, STRING,
    },
    Index, IndexReader, ReloadPolicy,
};

use super::{io_err, IndexError};
use crate::kb::Passage;

pub const CURRENT_FILE: &str = "CURRENT";

/// What an index was built from and with. A reindex reuses stored vectors only when model id,
/// dimension and chunker version all match.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub model_id: String,
    pub dim: usize,
    pub chunker_version: u32,
    pub created_unix: u64,
    pub passages: usize,
    /// Per document: the source file's hash and its passage ids.
    pub documents: BTreeMap<String, ManifestDoc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestDoc {
    pub source: String,
    pub hash: String,
    pub passages: Vec<String>,
}

/// Passages as stored in `passages.json` (the same fields as [`Passage`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredPassage {
    pub id: String,
    pub doc_id: String,
    pub title: String,
    pub url: Option<String>,
    pub heading: String,
    pub text: String,
    pub topics: Vec<String>,
    pub product_id: Option<String>,
    pub hash: String,
}

impl From<&Passage> for StoredPassage {
    fn from(p: &Passage) -> Self {
        Self {
            id: p.id.clone(),
            doc_id: p.doc_id.clone(),
            title: p.title.clone(),
            url: p.url.clone(),
            heading: p.heading.clone(),
            text: p.text.clone(),
            topics: p.topics.clone(),
            product_id: p.product_id.clone(),
            hash: p.hash.clone(),
        }
    }
}

impl From<StoredPassage> for Passage {
    fn from(p: StoredPassage) -> Self {
        Self {
            id: p.id,
            doc_id: p.doc_id,
            title: p.title,
            url: p.url,
            heading: p.heading,
            text: p.text,
            topics: p.topics,
            product_id: p.product_id,
            hash: p.hash,
        }
    }
}

/// The tantivy fields. `ord` links a BM25 hit to its row in the passage and vector arrays.
#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub ord: Field,
    pub title: Field,
    pub heading: Field,
    pub body: Field,
    pub product_id: Field,
}

pub(crate) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let ord = b.add_u64_field("ord", FAST | STORED);
    let title = b.add_text_field("title", text.clone());
    let heading = b.add_text_field("heading", text.clone());
    let body = b.add_text_field("body", text);
    let product_id = b.add_text_field("product_id", STRING);
    (
        b.build(),
        Fields {
            ord,
            title,
            heading,
            body,
            product_id,
        },
    )
}

/// The analyzer of every text field: lower-cased, English-stemmed, without stop words.
pub(crate) const TOKENIZER: &str = "shopkeep_en";

/// Words that carry no topic in a customer's message ("I need help to check how I can …").
/// BM25's idf already discounts frequent words, but a help centre is small: in a few hundred
/// passages "help" or "check" are rare enough to outrank the words that matter.
pub const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "assist",
    "assistance",
    "at",
    "be",
    "been",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "for",
    "from",
    "got",
    "gotta",
    "has",
    "have",
    "hello",
    "help",
    "hey",
    "hi",
    "how",
    "i",
    "id",
    "if",
    "im",
    "in",
    "info",
    "information",
    "into",
    "is",
    "it",
    "its",
    "ive",
    "just",
    "know",
    "like",
    "me",
    "mine",
    "my",
    "need",
    "of",
    "on",
    "or",
    "our",
    "please",
    "should",
    "show",
    "so",
    "some",
    "someone",
    "tell",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "u",
    "ur",
    "us",
    "wanna",
    "want",
    "was",
    "way",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "check",
    "checking",
    "see",
    "seeing",
    "let",
    "thanks",
    "thank",
];

/// Registers [`TOKENIZER`] on an index (tantivy keeps analyzers in memory, not on disk, so this
/// runs on create and on every open).
pub(crate) fn register_tokenizer(index: &Index) {
    use tantivy::tokenizer::{
        Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter,
        TextAnalyzer,
    };
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|w| w.to_string()),
        ))
        .filter(Stemmer::new(Language::English))
        .build();
    index.tokenizers().register(TOKENIZER, analyzer);
}

/// A loaded, searchable generation. Immutable once opened.
pub struct Generation {
    name: String,
    pub(crate) dir: PathBuf,
    pub(crate) index: Index,
    pub(crate) reader: IndexReader,
    pub(crate) fields: Fields,
    pub(crate) passages: Vec<Arc<Passage>>,
    /// Row-major, `passages.len() * dim`.
    pub(crate) vectors: Vec<f32>,
    pub manifest: Manifest,
}

impl Generation {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn passages(&self) -> &[Arc<Passage>] {
        &self.passages
    }
    pub fn dim(&self) -> usize {
        self.manifest.dim
    }
    /// The stored vector of passage `ord`.
    pub fn vector(&self, ord: usize) -> &[f32] {
        let d = self.manifest.dim;
        &self.vectors[ord * d..(ord + 1) * d]
    }

    pub fn open_current(root: &Path) -> Result<Self, IndexError> {
        let name = read_current_name(root)?;
        Self::open(root, &name)
    }

    pub fn open(root: &Path, name: &str) -> Result<Self, IndexError> {
        let dir = root.join(name);
        let corrupt = |message: String| IndexError::Corrupt {
            path: dir.display().to_string(),
            message,
        };
        let manifest: Manifest = serde_json::from_slice(
            &std::fs::read(dir.join("manifest.json")).map_err(io_err(&dir))?,
        )
        .map_err(|e| corrupt(format!("manifest.json: {e}")))?;
        let stored: Vec<StoredPassage> = serde_json::from_slice(
            &std::fs::read(dir.join("passages.json")).map_err(io_err(&dir))?,
        )
        .map_err(|e| corrupt(format!("passages.json: {e}")))?;
        let raw = std::fs::read(dir.join("vectors.f32")).map_err(io_err(&dir))?;
        if raw.len() != stored.len() * manifest.dim * 4 {
            return Err(corrupt(format!(
                "vectors.f32 has {} bytes for {} passages of dimension {}",
                raw.len(),
                stored.len(),
                manifest.dim
            )));
        }
        let vectors = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let index = Index::open_in_dir(dir.join("tantivy"))?;
        register_tokenizer(&index);
        let (_, fields) = schema();
        // A generation never changes after it is written, so the reader never needs reloading.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            name: name.to_string(),
            dir,
            index,
            reader,
            fields,
            passages: stored.into_iter().map(|p| Arc::new(p.into())).collect(),
            vectors,
            manifest,
        })
    }
}

/// Reads `ROOT/CURRENT`: the directory name of the live generation.
pub(crate) fn read_current_name(root: &Path) -> Result<String, IndexError> {
    let path = root.join(CURRENT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Ok(_) => Err(IndexError::Missing(root.display().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(IndexError::Missing(root.display().to_string()))
        }
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Points `CURRENT` at `name` atomically: readers see the old name or the new one, never a mix.
pub(crate) fn write_current_name(root: &Path, name: &str) -> Result<(), IndexError> {
    let tmp = root.join(format!("{CURRENT_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(name.as_bytes()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, root.join(CURRENT_FILE)).map_err(io_err(root))?;
    Ok(())
}
