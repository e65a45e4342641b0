//! Step: the store's documents, read from disk and cut into passages.
//!
//! [`load_dir`] reads every Markdown, text, HTML and PDF file under a knowledge-base directory
//! into [`Document`]s (metadata from front matter, `<meta>` tags or a `.meta` sidecar), and
//! [`chunk`] cuts each document into heading-aware [`Passage`]s with stable ids and content
//! hashes; [`parse_document`] is the same reading from bytes already in memory. This module does
//! not embed or index anything.

mod chunk;
mod formats;
mod front_matter;

use std::path::{Path, PathBuf};

pub use chunk::{chunk, estimate_tokens, Passage, CHUNKER_VERSION};
pub use formats::{parse as parse_document, DocKind};
pub use front_matter::FrontMatter;

/// Errors reading one document. Loading a directory collects these per file instead of failing
/// the whole knowledge base on one bad file.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: front matter: {message}")]
    FrontMatter { path: String, message: String },
    #[error("{path}: {message}")]
    Format { path: String, message: String },
    #[error("knowledge base directory {0} does not exist")]
    NoDir(String),
}

/// A block of text under a heading path: the unit the chunker packs into passages.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Headings above this block, outermost first, the document title excluded.
    pub headings: Vec<String>,
    pub text: String,
}

/// One knowledge-base document.
#[derive(Debug, Clone)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub url: Option<String>,
    pub topics: Vec<String>,
    pub updated: Option<String>,
    /// Set for product content (descriptions, attributes, Q&A) so a question asked on a product's
    /// page can search that product first.
    pub product_id: Option<String>,
    /// Path relative to the knowledge-base root.
    pub source: String,
    pub blocks: Vec<Block>,
    /// sha256 of the file's bytes: the manifest's per-document hash.
    pub hash: String,
}

/// The result of loading a directory: documents, and files that could not be read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub documents: Vec<Document>,
    pub skipped: Vec<KbError>,
}

/// Reads every supported file under `dir`, recursively, in path order (so passage order and ids
/// never depend on directory iteration order). Hidden files and `*.meta` sidecars are not
/// documents. Duplicate document ids are reported as skipped, keeping the first.
pub fn load_dir(dir: &Path) -> Result<Loaded, KbError> {
    if !dir.is_dir() {
        return Err(KbError::NoDir(dir.display().to_string()));
    }
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|source| KbError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    files.sort();
    let mut loaded = Loaded::default();
    let mut seen = std::collections::HashSet::new();
    for path in files {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        match formats::read(&path, &rel) {
            Ok(Some(doc)) => {
                if seen.insert(doc.id.clone()) {
                    loaded.documents.push(doc);
                } else {
                    loaded.skipped.push(KbError::Format {
                        path: rel,
                        message: format!("duplicate document id {:?}", doc.id),
                    });
                }
            }
            Ok(None) => {}
            Err(e) => loaded.skipped.push(e),
        }
    }
    Ok(loaded)
}

/// Reads one document (`rel` is its path under the knowledge base), as [`load_dir`] would.
pub fn read_document(path: &Path, rel: &str) -> Result<Document, KbError> {
    formats::read(path, rel)?.ok_or_else(|| KbError::Format {
        path: rel.to_string(),
        message: "not a knowledge-base document (md, txt, html or pdf)".into(),
    })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
