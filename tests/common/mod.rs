//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod visitor;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use shopkeep::embed::{locate_model, Embedder, MiniLm};

/// One multi-threaded runtime per test binary, for the servers under test and their clients.
pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Serves `app` on 127.0.0.1, port 0, on [`rt`]; returns its base URL.
pub fn serve(app: Arc<shopkeep::app::App>) -> String {
    let listener = rt()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt().spawn(shopkeep::http::serve(listener, app, std::future::pending()));
    format!("http://{addr}")
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the project, when present (CI always has it; a user's clone does not).
pub fn shared_dir() -> Option<PathBuf> {
    let p = root().join("../shared");
    p.is_dir().then_some(p)
}

/// Skips the calling test (returns early) with a message when ../shared is absent.
#[macro_export]
macro_rules! require_shared {
    () => {
        match common::shared_dir() {
            Some(d) => d,
            None => {
                eprintln!("skipped: ../shared is absent (third-party evaluation data lives there)");
                return;
            }
        }
    };
}

/// The real model, loaded once per test binary.
pub fn model() -> Arc<MiniLm> {
    static MODEL: OnceLock<Arc<MiniLm>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let files = locate_model(None, &root().join("models"), false).unwrap_or_else(|e| {
                panic!("{e}\n(the README's test command runs scripts/fetch-models.sh first)")
            });
            Arc::new(MiniLm::load(&files).expect("model loads"))
        })
        .clone()
}

pub fn model_dyn() -> Arc<dyn Embedder> {
    model()
}

/// The service's config for a test: the bundled KB, the local model only, data in `data_dir`.
pub fn config(data_dir: &Path) -> shopkeep::config::Config {
    let mut cfg = shopkeep::config::Config {
        data_dir: data_dir.to_path_buf(),
        kb_dir: kb_dir(),
        ..Default::default()
    };
    cfg.model.models_root = root().join("models");
    cfg.model.allow_hub = false;
    cfg
}

/// [`config`] for a test that relies on the demo store *Larkfield Goods* (its customers, orders
/// and products): it is seeded into the empty database only because this asks for it.
pub fn demo_config(data_dir: &Path) -> shopkeep::config::Config {
    let mut cfg = config(data_dir);
    cfg.demo = true;
    cfg
}

pub fn kb_dir() -> PathBuf {
    root().join("kb")
}

/// Copies a directory tree (tests edit copies of the KB, never the real one).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
