//! A customer's message through every step of understanding: clause splitting, keyword spelling
//! repair, the intent head and the requests it finds, entities, sensitive topics, asking for a
//! person. The embeddings come from the deterministic hash embedder (MiniLM would run a model
//! per input); what the message's text does to the steps is the same.
#![no_main]

use std::{path::Path, sync::LazyLock};

use libfuzzer_sys::fuzz_target;
use shopkeep::{
    embed::{Embedder, HashEmbedder},
    understand::{repair_keywords, split_clauses, Understander},
};

static HEAD: LazyLock<Understander> = LazyLock::new(|| {
    Understander::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/intent-head.json"))
        .expect("models/intent-head.json (in the repository)")
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let clauses = split_clauses(&text);
    let mut repaired = vec![repair_keywords(&text).into_owned()];
    if clauses.len() > 1 {
        repaired.extend(clauses.iter().map(|c| repair_keywords(c).into_owned()));
    }
    let batch: Vec<&str> = repaired.iter().map(String::as_str).collect();
    let embedder = HashEmbedder::new(HEAD.head().dim);
    let mut vectors = embedder
        .embed(&batch)
        .expect("the hash embedder cannot fail");
    let clause_vectors = vectors.split_off(1);
    let vector = vectors.pop().expect("one vector per text");
    let u = HEAD.understand_embedded(&text, vector, &clauses, &clause_vectors);
    assert!(u.confidence.is_finite() && !u.requests.is_empty());
    let _ = u.entities.first_order_number();
});
