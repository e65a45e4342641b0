//! Hybrid search latency on a 10k-passage index (BM25 + exact dense scan + RRF), excluding the
//! question's embedding (measured in the embed bench). The index is the demo KB's passages
//! repeated with variations up to 10,000; vectors come from a cheap deterministic embedder, which
//! does not change the cost of the scan.
//!
//!   cargo bench --bench search

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use shopkeep::{
    embed::{Embedder, HashEmbedder},
    index::{build, BuildOptions, IndexHandle, SearchOptions},
    kb::{self, Block, Document},
};

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let loaded = kb::load_dir(&root.join("kb")).expect("kb loads");
    let base: Vec<kb::Passage> = loaded.documents.iter().flat_map(kb::chunk).collect();
    let mut extra = Vec::new();
    let mut n = 0;
    'outer: for copy in 0.. {
        for p in &base {
            if n >= 10_000 {
                break 'outer;
            }
            extra.push(Document {
                id: format!("doc-{copy}-{n}"),
                title: format!("{} (variant {copy})", p.title),
                url: None,
                topics: p.topics.clone(),
                updated: None,
                product_id: None,
                source: String::new(),
                blocks: vec![Block {
                    headings: vec![p.heading.clone()],
                    text: format!("{} Reference {copy}-{n}.", p.text),
                }],
                hash: String::new(),
            });
            n += 1;
        }
    }
    let empty_kb = tempfile::tempdir().unwrap();
    std::fs::write(
        empty_kb.path().join("placeholder.md"),
        "---\nid: placeholder\ntopics: [x]\n---\n# Placeholder\nNothing.\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let embedder = HashEmbedder::new(384);
    let summary = build(
        BuildOptions {
            kb_dir: empty_kb.path(),
            index_root: dir.path(),
            extra_documents: extra,
        },
        &embedder,
        &mut (),
    )
    .unwrap();
    eprintln!("index of {} passages", summary.passages);
    let handle = IndexHandle::open(dir.path()).unwrap();
    let questions = [
        "how long does standard shipping take",
        "can I return a final sale item",
        "what payment methods do you accept",
        "is there a fee to cancel my membership",
    ];
    let vectors: Vec<Vec<f32>> = questions
        .iter()
        .map(|q| embedder.embed_one(q).unwrap())
        .collect();
    let mut i = 0;
    c.bench_function("hybrid_search_10k", |b| {
        b.iter(|| {
            i = (i + 1) % questions.len();
            handle
                .current()
                .search(
                    questions[i],
                    &vectors[i],
                    &SearchOptions {
                        k: 5,
                        product_id: None,
                        help_only: false,
                    },
                )
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
