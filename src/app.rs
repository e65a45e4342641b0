//! Builds the shared services once (embedder, index, order store, journal, assistant) from the
//! [`Config`], for the server and the CLI alike. On an empty data directory it builds the index
//! from the knowledge base first, after seeding the demo store when asked (`config.demo`,
//! `serve --demo`); otherwise an empty order database stays empty until an import or a platform
//! fills it.

use std::sync::Arc;

use crate::{
    assistant::Assistant,
    config::Config,
    desk::accounts::{Accounts, Limits},
    embed::{locate_model, Batching, Cached, EmbedError, Embedder, MiniLm},
    index::{build, BuildOptions, BuildSummary, IndexError, IndexHandle},
    journal::{live::Live, Journal, JournalError},
    orders::{demo, OrderError, OrderStore, SqliteOrderStore},
    retrieve::Retriever,
    storage::Database,
    understand::{UnderstandError, Understander},
};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Orders(#[from] OrderError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    Understand(#[from] UnderstandError),
    #[error(transparent)]
    Accounts(#[from] crate::desk::accounts::AccountError),
    #[error(transparent)]
    Policy(#[from] crate::actions::PolicyError),
    #[error(transparent)]
    Email(#[from] crate::email::send::SendError),
    #[error(transparent)]
    Platform(#[from] crate::platform::PlatformError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

/// Finds and loads the embedding model the config points at.
pub fn load_embedder(cfg: &Config) -> Result<Arc<dyn Embedder>, EmbedError> {
    Ok(Arc::new(load_model(cfg)?))
}

/// [`load_embedder`], as the model itself (`shopkeep bench embed` reports its [`MiniLm::path`]).
pub fn load_model(cfg: &Config) -> Result<MiniLm, EmbedError> {
    let files = locate_model(
        cfg.model.dir.as_deref(),
        &cfg.model.models_root,
        cfg.model.allow_hub,
    )?;
    tracing::info!(weights = %files.weights.display(), precision = %cfg.model.precision, "loading embedding model");
    let model = MiniLm::load(&files)?.with_precision(cfg.model.precision);
    // `path` says which kernels run (AVX-512, AVX2, portable; SHOPKEEP_CPU_KERNELS forces one).
    tracing::info!(device = model.device_name(), path = %model.path(), "embedding model loaded");
    Ok(model)
}

/// Opens the service's database (creating the data dir and the file if needed): the one
/// [`Database`] every part of a running service shares.
pub fn open_database(cfg: &Config) -> Result<Arc<Database>, AppError> {
    std::fs::create_dir_all(&cfg.data_dir).map_err(|source| AppError::DataDir {
        path: cfg.data_dir.display().to_string(),
        source,
    })?;
    Ok(Database::open(&cfg.database_path())?)
}

/// Opens the order database, seeding the demo store into an empty one when `cfg.demo` asks for it
/// (never when orders live on a store platform: then the database holds the copies read from it).
pub fn open_orders(cfg: &Config) -> Result<Arc<SqliteOrderStore>, AppError> {
    orders_in(cfg, open_database(cfg)?)
}

fn orders_in(cfg: &Config, db: Arc<Database>) -> Result<Arc<SqliteOrderStore>, AppError> {
    let store = SqliteOrderStore::new(db);
    let embedded = cfg.platform.kind == crate::config::PlatformKind::Embedded;
    let empty = store.counts()?.orders == 0 && store.counts()?.products == 0;
    if cfg.demo && !embedded {
        tracing::warn!("the demo store is not seeded: orders live on a store platform");
    } else if cfg.demo && empty {
        tracing::info!("empty order database: seeding the demo store (--demo)");
        demo::seed_demo(&store, time::OffsetDateTime::now_utc().date())?;
    } else if empty && embedded {
        tracing::info!("empty order database: import the store's orders (`shopkeep import`), connect a platform, or run `serve --demo`");
    }
    Ok(Arc::new(store))
}

/// Builds the index from the knowledge base plus the store's product content.
pub fn build_index(
    cfg: &Config,
    orders: &dyn OrderStore,
    embedder: &dyn Embedder,
    progress: &mut dyn crate::index::BuildProgress,
) -> Result<BuildSummary, AppError> {
    // A product's page: the platform's URL for it (the demo's products carry theirs), else the
    // store's `store.product_url` template, else no link.
    let template = Some(cfg.store.product_url.as_str()).filter(|t| !t.trim().is_empty());
    let extra = demo::product_documents(orders, template, cfg.store.currency())?;
    Ok(build(
        BuildOptions {
            kb_dir: &cfg.kb_dir,
            index_root: &cfg.index_root(),
            extra_documents: extra,
        },
        embedder,
        progress,
    )?)
}

/// Everything a request needs.
pub struct App {
    pub config: Config,
    pub assistant: Arc<Assistant>,
    /// Turns pushed to open chat widgets (a person's replies).
    pub live: Arc<Live>,
    /// The email channel, when `email.store_address` is set.
    pub email: Option<Arc<crate::email::Email>>,
    /// The desk's users, sessions and API tokens.
    pub accounts: Arc<Accounts>,
}

/// Opens the desk's users, sessions and tokens (in the service's database) with the config's
/// login limits.
pub fn open_accounts(cfg: &Config) -> Result<Arc<Accounts>, AppError> {
    accounts_in(cfg, open_database(cfg)?)
}

fn accounts_in(cfg: &Config, db: Arc<Database>) -> Result<Arc<Accounts>, AppError> {
    let a = &cfg.admin;
    let limits = Limits::new(
        a.session_hours as i64 * 3600,
        a.login_failures,
        a.login_window_secs as i64,
    );
    Ok(Arc::new(Accounts::new(db, limits)))
}

impl App {
    /// Loads the model, opens (or seeds) the store and opens (or builds) the index.
    pub fn open(config: Config) -> Result<Self, AppError> {
        let embedder = load_embedder(&config)?;
        Self::with_embedder(config, embedder)
    }

    /// As [`App::open`], with a given embedder.
    pub fn with_embedder(config: Config, embedder: Arc<dyn Embedder>) -> Result<Self, AppError> {
        let db = open_database(&config)?;
        let orders = orders_in(&config, db.clone())?;
        let index = match IndexHandle::open(&config.index_root()) {
            Ok(h) => h,
            Err(IndexError::Missing(_)) => {
                eprintln!("no index yet: building it from {}", config.kb_dir.display());
                let summary = build_index(&config, orders.as_ref(), embedder.as_ref(), &mut ())?;
                eprintln!(
                    "indexed {} documents, {} passages in {:.1}s",
                    summary.documents, summary.passages, summary.seconds
                );
                IndexHandle::open(&config.index_root())?
            }
            Err(e) => return Err(e.into()),
        };
        let index = Arc::new(index);
        let generation = index.current();
        if generation.manifest.model_id != embedder.model_id()
            || generation.manifest.dim != embedder.dim()
        {
            return Err(IndexError::ModelMismatch {
                built: generation.manifest.model_id.clone(),
                running: embedder.model_id().to_string(),
            }
            .into());
        }
        // Requests share one model worker that batches concurrent questions, behind a cache
        // of repeat questions (see `embed::batch` and `embed::cache`).
        let mut embedder: Arc<dyn Embedder> =
            Arc::new(Batching::new(embedder, config.model.max_batch));
        if config.model.cache_entries > 0 {
            embedder = Arc::new(Cached::new(embedder, config.model.cache_entries));
        }
        let understander = Arc::new(Understander::from_default_location(
            &config.model.models_root,
        )?);
        let journal = Journal::new(db.clone());
        let retriever = Retriever::new(embedder, index, config.model.max_concurrent);
        let guide =
            crate::actions::Guide::new(crate::actions::Policy::from_config(&config.policy)?)
                .with_currency(config.store.currency());
        let platform = crate::platform::from_config(&config.platform, orders.clone())?;
        tracing::info!(platform = platform.name(), "orders live on this platform");
        let assistant = Arc::new(
            Assistant::new(
                config.clone(),
                retriever,
                understander,
                orders,
                journal,
                guide,
            )
            .with_platform(platform),
        );
        let email = crate::email::Email::from_config(&config)?.map(Arc::new);
        let accounts = accounts_in(&config, db)?;
        let live = Arc::new(Live::new(config.server.max_streams));
        Ok(Self {
            config,
            assistant,
            live,
            email,
            accounts,
        })
    }
}
