//! One [`Config`], loaded once: built-in defaults < `shopkeep.toml` < `SHOPKEEP_*` environment
//! variables < command-line flags (applied by the CLI). Everything else receives the struct, or
//! the part of it it needs, instead of long argument lists.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration. Every field has a default, so an empty file is a valid config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Holds the database and (unless `index_dir` is set) the index.
    pub data_dir: PathBuf,
    /// The knowledge base: Markdown, text, HTML and PDF documents.
    pub kb_dir: PathBuf,
    /// The index root; defaults to `<data_dir>/index`.
    pub index_dir: Option<PathBuf>,
    pub model: ModelConfig,
    pub server: ServerConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// A directory with model.safetensors, tokenizer.json and config.json. When unset, the
    /// embedder looks in `<models_root>/all-minilm-l6-v2`, then on the hub.
    pub dir: Option<PathBuf>,
    pub models_root: PathBuf,
    /// Whether to try the Hugging Face hub when no model is on disk.
    pub allow_hub: bool,
    /// At most this many embedding batches run at once (CPU-bound work off the async runtime).
    pub max_concurrent: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// How often the server checks for a newly built index generation.
    pub index_refresh_secs: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Requests taking longer than this are answered with a timeout error.
    pub request_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self { data_dir: PathBuf::from("."), kb_dir: PathBuf::from("kb"), index_dir: None, model: ModelConfig::default(), server: ServerConfig::default() }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { dir: None, models_root: PathBuf::from("models"), allow_hub: true, max_concurrent: 2 }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { host: "127.0.0.1".into(), port: 8080, index_refresh_secs: 2, max_body_bytes: 64 * 1024, request_timeout_secs: 30 }
    }
}

impl Config {
    /// Defaults, then the file (if `path` is given, or `./shopkeep.toml` exists), then env.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg = match path {
            Some(p) => Self::from_file(p)?,
            None if Path::new("shopkeep.toml").is_file() => Self::from_file(Path::new("shopkeep.toml"))?,
            None => Self::default(),
        };
        cfg.apply_env(|name| std::env::var(name).ok())?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File { path: path.display().to_string(), message: e.to_string() })?;
        toml::from_str(&text).map_err(|e| ConfigError::File { path: path.display().to_string(), message: e.to_string() })
    }

    /// Applies `SHOPKEEP_*` variables through `get` (a parameter so tests need not touch the
    /// process environment).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, v: String) -> Result<T, ConfigError> {
            v.parse().map_err(|_| ConfigError::Env { name: name.into(), message: format!("cannot parse {v:?}") })
        }
        if let Some(v) = get("SHOPKEEP_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("SHOPKEEP_KB_DIR") {
            self.kb_dir = v.into();
        }
        if let Some(v) = get("SHOPKEEP_INDEX_DIR") {
            self.index_dir = Some(v.into());
        }
        if let Some(v) = get("SHOPKEEP_MODEL_DIR") {
            self.model.dir = Some(v.into());
        }
        if let Some(v) = get("SHOPKEEP_MODELS_ROOT") {
            self.model.models_root = v.into();
        }
        if let Some(v) = get("SHOPKEEP_ALLOW_HUB") {
            self.model.allow_hub = parse("SHOPKEEP_ALLOW_HUB", v)?;
        }
        if let Some(v) = get("SHOPKEEP_HOST") {
            self.server.host = v;
        }
        if let Some(v) = get("SHOPKEEP_PORT") {
            self.server.port = parse("SHOPKEEP_PORT", v)?;
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.model.max_concurrent == 0 {
            return Err(ConfigError::Invalid("model.max_concurrent must be at least 1".into()));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid("server.max_body_bytes must be at least 1024".into()));
        }
        Ok(())
    }

    /// The index root in effect.
    pub fn index_root(&self) -> PathBuf {
        self.index_dir.clone().unwrap_or_else(|| self.data_dir.join("index"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_override_defaults() {
        let mut cfg: Config = toml::from_str("kb_dir = \"docs\"\n[server]\nport = 9000\n").unwrap();
        assert_eq!(cfg.kb_dir, PathBuf::from("docs"));
        assert_eq!(cfg.server.port, 9000);
        assert_eq!(cfg.server.host, "127.0.0.1");
        cfg.apply_env(|n| (n == "SHOPKEEP_PORT").then(|| "9100".to_string())).unwrap();
        assert_eq!(cfg.server.port, 9100);
        assert_eq!(cfg.index_root(), PathBuf::from("./index"));
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        assert!(toml::from_str::<Config>("kb_dri = \"x\"").is_err());
        let mut cfg = Config::default();
        assert!(cfg.apply_env(|n| (n == "SHOPKEEP_PORT").then(|| "eighty".to_string())).is_err());
    }
}
