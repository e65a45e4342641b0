//! An order import file of each format (the first byte picks canonical, Shopify or τ-retail),
//! imported into an in-memory order store, as `shopkeep import` does.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use shopkeep::orders::{import_str, Format, SqliteOrderStore};

// One store for the process: opening one per input would dominate the run. What a valid input
// imports stays, so later inputs also meet existing records (replacements, references).
static STORE: LazyLock<SqliteOrderStore> =
    LazyLock::new(|| SqliteOrderStore::open_in_memory().expect("in-memory order store"));

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = Format::ALL[pick as usize % Format::ALL.len()];
    let _ = import_str(&*STORE, text, format, "fuzz.json");
});
