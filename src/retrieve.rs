//! Step: gather [`Evidence`] for a question: embed it (off the async runtime, behind a bound on
//! concurrent model work) and run hybrid search on the current index generation. This step does
//! not judge the evidence; the answer step's confidence gate does.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::{
    embed::{EmbedError, Embedder},
    index::{Hit, IndexError, IndexHandle, SearchOptions},
};

#[derive(Debug, thiserror::Error)]
pub enum RetrieveError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("model worker stopped: {0}")]
    Worker(String),
}

/// Passages retrieved for one question, best first, with their scores.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub hits: Vec<Hit>,
    /// The index generation searched (for the log).
    pub generation: String,
}

/// Embedder + index + the concurrency bound, shared by every request.
pub struct Retriever {
    embedder: Arc<dyn Embedder>,
    index: Arc<IndexHandle>,
    permits: Arc<Semaphore>,
}

impl Retriever {
    pub fn new(
        embedder: Arc<dyn Embedder>,
        index: Arc<IndexHandle>,
        max_concurrent: usize,
    ) -> Self {
        Self {
            embedder,
            index,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    pub fn index(&self) -> &Arc<IndexHandle> {
        &self.index
    }

    /// Embeds texts on the blocking pool, at most `max_concurrent` batches at a time.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, RetrieveError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| RetrieveError::Worker(e.to_string()))?;
        let embedder = self.embedder.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            embedder.embed(&refs)
        })
        .await
        .map_err(|e| RetrieveError::Worker(e.to_string()))?
        .map_err(Into::into)
    }

    /// Runs other model work (understanding) on the blocking pool under the same bound.
    pub async fn run_model<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, RetrieveError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| RetrieveError::Worker(e.to_string()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| RetrieveError::Worker(e.to_string()))
    }

    /// Hybrid search for `question`.
    pub async fn search(
        &self,
        question: &str,
        opts: &SearchOptions,
    ) -> Result<Evidence, RetrieveError> {
        let qvec = self
            .embed(vec![question.to_string()])
            .await?
            .pop()
            .unwrap_or_default();
        self.search_with_vector(question, &qvec, opts)
    }

    /// Hybrid search when the question's vector is already known (understanding embeds it too).
    pub fn search_with_vector(
        &self,
        question: &str,
        qvec: &[f32],
        opts: &SearchOptions,
    ) -> Result<Evidence, RetrieveError> {
        let generation = self.index.current();
        let hits = generation.search(question, qvec, opts)?;
        Ok(Evidence {
            hits,
            generation: generation.name().to_string(),
        })
    }
}
