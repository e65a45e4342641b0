//! Builds the shared services once (embedder, index, retriever) from the [`Config`], for the
//! server and the CLI alike.

use std::sync::Arc;

use crate::{
    config::Config,
    embed::{locate_model, EmbedError, Embedder, MiniLm},
    index::{IndexError, IndexHandle},
    retrieve::Retriever,
};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Finds and loads the embedding model the config points at.
pub fn load_embedder(cfg: &Config) -> Result<Arc<dyn Embedder>, EmbedError> {
    let files = locate_model(cfg.model.dir.as_deref(), &cfg.model.models_root, cfg.model.allow_hub)?;
    tracing::info!(weights = %files.weights.display(), "loading embedding model");
    Ok(Arc::new(MiniLm::load(&files)?))
}

/// Everything a request needs.
pub struct App {
    pub config: Config,
    pub retriever: Retriever,
}

impl App {
    /// Loads the model and opens the index (which must exist).
    pub fn open(config: Config) -> Result<Self, AppError> {
        let embedder = load_embedder(&config)?;
        Self::with_embedder(config, embedder)
    }

    /// As [`App::open`], with a given embedder (tests pass a small one).
    pub fn with_embedder(config: Config, embedder: Arc<dyn Embedder>) -> Result<Self, AppError> {
        let index = Arc::new(IndexHandle::open(&config.index_root())?);
        let generation = index.current();
        if generation.manifest.model_id != embedder.model_id() {
            return Err(IndexError::ModelMismatch { built: generation.manifest.model_id.clone(), running: embedder.model_id().to_string() }.into());
        }
        let retriever = Retriever::new(embedder, index, config.model.max_concurrent);
        Ok(Self { config, retriever })
    }
}
