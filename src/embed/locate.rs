//! Where the model's files come from: an explicit directory (config or flag), then the project's
//! models/ directory, then the Hugging Face hub for users with internet access.

use std::path::{Path, PathBuf};

use super::EmbedError;

/// The directory name under models/ that `scripts/fetch-models.sh` fills.
pub const DEFAULT_MODEL_DIR: &str = "all-minilm-l6-v2";
/// The hub repository of the same weights.
pub const HUB_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The three files the embedder needs.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub weights: PathBuf,
    pub tokenizer: PathBuf,
    pub config: PathBuf,
}

impl ModelFiles {
    /// The files inside `dir`, if all three are there.
    pub fn in_dir(dir: &Path) -> Option<Self> {
        let files = Self {
            weights: dir.join("model.safetensors"),
            tokenizer: dir.join("tokenizer.json"),
            config: dir.join("config.json"),
        };
        (files.weights.is_file() && files.tokenizer.is_file() && files.config.is_file())
            .then_some(files)
    }
}

/// Finds the model: `explicit` (from config or `--model`) if given, else `models/all-minilm-l6-v2`
/// under `models_root`, else the hub when `allow_hub` (it caches under ~/.cache/huggingface).
/// An explicit directory that lacks the files is an error rather than a silent fallback: the
/// admin asked for that model.
pub fn locate_model(
    explicit: Option<&Path>,
    models_root: &Path,
    allow_hub: bool,
) -> Result<ModelFiles, EmbedError> {
    if let Some(dir) = explicit {
        return ModelFiles::in_dir(dir).ok_or_else(|| EmbedError::ModelNotFound {
            searched: format!(
                "{} lacks model.safetensors, tokenizer.json or config.json",
                dir.display()
            ),
        });
    }
    let local = models_root.join(DEFAULT_MODEL_DIR);
    if let Some(files) = ModelFiles::in_dir(&local) {
        return Ok(files);
    }
    if allow_hub {
        match from_hub() {
            Ok(files) => return Ok(files),
            Err(e) => tracing::warn!("model not on disk and the hub is unreachable: {e}"),
        }
    }
    Err(EmbedError::ModelNotFound {
        searched: format!(
            "looked in {}{}",
            local.display(),
            if allow_hub { " and on the hub" } else { "" }
        ),
    })
}

fn from_hub() -> Result<ModelFiles, EmbedError> {
    let api = hf_hub::api::sync::Api::new().map_err(|e| EmbedError::Hub(e.to_string()))?;
    let repo = api.model(HUB_REPO.to_string());
    let get = |name: &str| {
        repo.get(name)
            .map_err(|e| EmbedError::Hub(format!("{name}: {e}")))
    };
    Ok(ModelFiles {
        weights: get("model.safetensors")?,
        tokenizer: get("tokenizer.json")?,
        config: get("config.json")?,
    })
}
