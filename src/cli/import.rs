//! `shopkeep import FILE --format canonical|shopify|tau-retail`: loads an export into the order
//! database at `<data-dir>/shopkeep.db`, all or nothing.

use std::{path::PathBuf, time::Instant};

use anyhow::Context;

use crate::{
    config::Config,
    orders::{self, OrderStore, SqliteOrderStore},
};

#[derive(clap::Args)]
pub struct Args {
    /// The export to load (JSON).
    pub file: PathBuf,
    /// What kind of export it is.
    #[arg(long, value_enum)]
    pub format: Format,
}

/// The file formats, as the command line spells them (see `orders::import` for each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// shopkeep's own JSON: {"customers": [...], "products": [...], "orders": [...]}.
    Canonical,
    /// Shopify Admin REST API exports: {"orders": [...]} and/or {"products": [...]}.
    Shopify,
    /// The τ-bench retail db.json.
    TauRetail,
}

impl From<Format> for orders::Format {
    fn from(f: Format) -> Self {
        match f {
            Format::Canonical => orders::Format::Canonical,
            Format::Shopify => orders::Format::Shopify,
            Format::TauRetail => orders::Format::TauRetail,
        }
    }
}

pub fn run(cfg: Config, args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    let db = cfg.data_dir.join("shopkeep.db");
    let store = SqliteOrderStore::open(&db).map_err(|e| anyhow::anyhow!("{e} [{}]", e.code()))?;
    let started = Instant::now();
    let s = orders::import(&store, &args.file, args.format.into())
        .map_err(|e| anyhow::anyhow!("{e} [{}]", e.code()))?;
    let total = store
        .counts()
        .map_err(|e| anyhow::anyhow!("{e} [{}]", e.code()))?;
    println!(
        "imported {} customers, {} products, {} orders from {} in {:.2}s -> {} (now {} customers, {} products, {} orders)",
        s.customers,
        s.products,
        s.orders,
        args.file.display(),
        started.elapsed().as_secs_f64(),
        db.display(),
        total.customers,
        total.products,
        total.orders
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn importing_creates_the_database_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/shopify-orders.json");
        run(
            cfg.clone(),
            Args {
                file,
                format: Format::Shopify,
            },
        )
        .unwrap();
        let store = SqliteOrderStore::open(&cfg.data_dir.join("shopkeep.db")).unwrap();
        assert_eq!(store.counts().unwrap().orders, 3);
    }

    #[test]
    fn formats_are_spelled_as_the_library_spells_them() {
        for f in Format::value_variants() {
            let name = f
                .to_possible_value()
                .map(|v| v.get_name().to_string())
                .unwrap_or_default();
            assert_eq!(name, orders::Format::from(*f).as_str());
        }
    }
}
