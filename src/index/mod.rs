//! Step: find the passages that ground a question.
//!
//! An index *generation* is a directory holding a tantivy index (BM25 with English stemming,
//! title and heading boosted), the passages' vectors (a flat f32 matrix searched by exact dot
//! product), the passages themselves and a [`Manifest`]. [`build`] writes a new generation beside
//! the current one, reusing the vectors of passages whose content hash is unchanged, and then
//! swaps the `CURRENT` pointer file atomically (write + rename). [`IndexHandle`] is the one reader
//! for the process: it holds the current generation behind an `Arc`, and re-reads `CURRENT` when
//! asked ([`IndexHandle::refresh`]), so a running server picks up a new index without a restart
//! while searches already in flight finish on the generation they started with.
//!
//! Hybrid retrieval fuses the BM25 and dense rankings by reciprocal rank fusion (k = 60) and keeps
//! all three scores on every hit for the confidence gate. This module does not decide whether the
//! evidence is good enough to answer from; the answer step does.

mod build;
mod generation;
mod search;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use parking_lot::RwLock;

pub use build::{add_documents, build, BuildOptions, BuildProgress, BuildSummary};
pub use generation::{Generation, Manifest, ManifestDoc, STOP_WORDS};
pub use search::{Hit, SearchOptions, RRF_K};

/// Errors building, opening or searching an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("no index at {0}; run `shopkeep reindex` to build one")]
    Missing(String),
    #[error("index I/O at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("query: {0}")]
    Query(String),
    #[error("index at {path} is corrupt: {message}")]
    Corrupt { path: String, message: String },
    #[error(
        "the index was built with {built} but the embedder is {running}; run `shopkeep reindex`"
    )]
    ModelMismatch { built: String, running: String },
    #[error("document {0:?} is already in the index; change it in the knowledge base and run `shopkeep reindex`")]
    DocumentExists(String),
    #[error("another reindex holds the lock on {0}")]
    Locked(String),
    #[error(transparent)]
    Kb(#[from] crate::kb::KbError),
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The I/O error mapper, for other modules that write beside an index.
pub fn io_err_pub(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    io_err(path)
}

/// The process's view of the index directory: the current generation, swappable.
pub struct IndexHandle {
    root: PathBuf,
    current: RwLock<Arc<Generation>>,
}

impl IndexHandle {
    /// Opens the generation that `root/CURRENT` names.
    pub fn open(root: &Path) -> Result<Self, IndexError> {
        let generation = Generation::open_current(root)?;
        Ok(Self {
            root: root.to_path_buf(),
            current: RwLock::new(Arc::new(generation)),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The generation to search. Callers hold the `Arc` for the length of one request, so a swap
    /// in between never changes the index under a search.
    pub fn current(&self) -> Arc<Generation> {
        self.current.read().clone()
    }

    /// Switches to the generation `CURRENT` now names, if it changed. Returns whether it did.
    /// Cheap when nothing changed (one small file read), so servers call it on a timer.
    pub fn refresh(&self) -> Result<bool, IndexError> {
        let name = generation::read_current_name(&self.root)?;
        if self.current.read().name() == name {
            return Ok(false);
        }
        let generation = Generation::open(&self.root, &name)?;
        *self.current.write() = Arc::new(generation);
        tracing::info!(generation = %name, "switched to the new index generation");
        Ok(true)
    }
}
