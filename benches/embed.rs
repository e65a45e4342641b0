//! Embedding throughput and latency: one question, a batch of 32 questions, a batch of 32
//! passages. Inputs are ../shared/bench/{questions,passages}.txt when present (the same inputs as
//! the ONNX Runtime baseline), else the demo KB's passages.
//!
//!   cargo bench --bench embed

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shopkeep::{
    embed::{locate_model, Embedder, MiniLm},
    kb,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lines(name: &str) -> Vec<String> {
    let shared = root().join("../shared/bench").join(name);
    if let Ok(text) = std::fs::read_to_string(&shared) {
        return text.lines().map(str::to_string).collect();
    }
    eprintln!("../shared/bench/{name} absent: using the demo KB's passages");
    let loaded = kb::load_dir(&root().join("kb")).expect("kb loads");
    loaded
        .documents
        .iter()
        .flat_map(kb::chunk)
        .map(|p| {
            if name.starts_with("questions") {
                p.heading.clone() + "?"
            } else {
                p.text
            }
        })
        .collect()
}

fn model() -> MiniLm {
    let files = locate_model(None, &root().join("models"), false)
        .expect("run scripts/fetch-models.sh first");
    let model = MiniLm::load(&files).expect("model loads");
    // SHOPKEEP_CPU_KERNELS=avx512|avx2-vnni|avx2|portable forces the kernels measured.
    eprintln!("embedding path: {}", model.path());
    model
}

fn bench(c: &mut Criterion) {
    let model = model();
    let questions = lines("questions.txt");
    let passages = lines("passages.txt");
    let _ = Path::new(".");

    let mut g = c.benchmark_group("embed");
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("one_question", |b| {
        b.iter(|| {
            i = (i + 1) % questions.len();
            model.embed_one(&questions[i]).unwrap()
        })
    });
    g.throughput(Throughput::Elements(32));
    let qbatch: Vec<&str> = questions.iter().take(32).map(String::as_str).collect();
    g.bench_function("batch32_questions", |b| {
        b.iter(|| model.embed(&qbatch).unwrap())
    });
    let pbatch: Vec<&str> = passages.iter().take(32).map(String::as_str).collect();
    g.bench_function("batch32_passages", |b| {
        b.iter(|| model.embed(&pbatch).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
