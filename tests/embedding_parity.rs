//! The embedder reproduces sentence-transformers' all-MiniLM-L6-v2 vectors.

mod common;

use std::sync::{Arc, OnceLock};

use shopkeep::embed::{dot, locate_model, Embedder, Kernels, MiniLm, Precision, KERNELS_ENV};

/// The model with int8 matrix products (fp32 on the portable kernels, which have none).
fn int8_model() -> Arc<MiniLm> {
    static MODEL: OnceLock<Arc<MiniLm>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let files =
                locate_model(None, &common::root().join("models"), false).expect("model present");
            let m = MiniLm::load(&files)
                .expect("model loads")
                .with_precision(Precision::Int8);
            if m.precision() != Precision::Int8 {
                eprintln!(
                    "note: the portable kernels have no int8; the int8 tests run the fp32 fallback"
                );
            }
            Arc::new(m)
        })
        .clone()
}

fn reference() -> Option<(Vec<String>, Vec<Vec<f32>>)> {
    let shared = common::shared_dir()?;
    let text =
        std::fs::read_to_string(shared.join("fixtures/minilm-l6-v2-reference.jsonl")).unwrap();
    let (mut texts, mut refs) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        texts.push(v["text"].as_str().unwrap().to_string());
        let mut e: Vec<f32> = v["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        shopkeep::embed::normalize(&mut e);
        refs.push(e);
    }
    Some((texts, refs))
}

#[test]
fn every_reference_text_matches_sentence_transformers() {
    let shared = require_shared!();
    let text =
        std::fs::read_to_string(shared.join("fixtures/minilm-l6-v2-reference.jsonl")).unwrap();
    let mut texts = Vec::new();
    let mut refs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        texts.push(v["text"].as_str().unwrap().to_string());
        refs.push(
            v["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect::<Vec<f32>>(),
        );
    }
    assert_eq!(texts.len(), 64);
    let model = common::model();
    let refs_text: Vec<&str> = texts.iter().map(String::as_str).collect();

    // All at once (length-sorted, padded batches) and one at a time must both match.
    let batched = model.embed(&refs_text).unwrap();
    let mut worst = (1.0f32, String::new());
    for (i, (got, want)) in batched.iter().zip(&refs).enumerate() {
        let want_norm = want.iter().map(|x| x * x).sum::<f32>().sqrt();
        let cos = dot(got, want) / want_norm;
        if cos < worst.0 {
            worst = (cos, texts[i].clone());
        }
        let single = model.embed_one(&texts[i]).unwrap();
        let cos_single = dot(&single, want) / want_norm;
        assert!(
            cos_single >= 0.9999,
            "text {i} alone: cosine {cos_single} for {:?}",
            texts[i]
        );
    }
    assert!(
        worst.0 >= 0.9999,
        "worst cosine {} for {:?}",
        worst.0,
        worst.1
    );
}

#[test]
fn int8_vectors_stay_within_cosine_0_99_of_sentence_transformers() {
    let Some((texts, refs)) = reference() else {
        eprintln!("skipped: ../shared is absent (the reference vectors live there)");
        return;
    };
    let model = int8_model();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let got = model.embed(&texts).unwrap();
    let worst = got
        .iter()
        .zip(&refs)
        .map(|(g, r)| dot(g, r))
        .fold(1.0f32, f32::min);
    assert!(worst >= 0.99, "worst int8 cosine {worst}");
    for (i, t) in texts.iter().enumerate().step_by(8) {
        let one = model.embed_one(t).unwrap();
        assert!(dot(&one, &refs[i]) >= 0.99, "text {i} alone");
    }
}

#[test]
fn int8_and_fp32_agree_on_the_store_s_own_questions_and_passages() {
    // Independent of ../shared: the project's own KB passages and customer questions.
    let texts = [
        "where is my order LF-100002?",
        "can I return a sale item after 30 days",
        "Returns are accepted within 30 days of delivery for unworn items with their tags attached; sale items are final.",
        "Do you ship to Canada and how long does standard delivery take?",
        "The linen shirt shrank after one wash, I want my money back",
        "",
    ];
    let (fp32, int8) = (common::model(), int8_model());
    let (a, b) = (fp32.embed(&texts).unwrap(), int8.embed(&texts).unwrap());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(dot(x, y) >= 0.99, "text {i}: cosine {}", dot(x, y));
        assert!((dot(y, y) - 1.0).abs() < 1e-4, "unit length");
    }
}

#[test]
fn vectors_are_unit_length_and_order_preserving() {
    let model = common::model();
    let texts = [
        "where is my order",
        "a much longer question about returning a pair of linen trousers that did not fit",
        "",
    ];
    let out = model.embed(&texts).unwrap();
    assert_eq!(out.len(), 3);
    for v in &out {
        assert_eq!(v.len(), 384);
        assert!((dot(v, v) - 1.0).abs() < 1e-4);
    }
    assert!(dot(&out[0], &model.embed_one(texts[0]).unwrap()) > 0.9999);
}

#[test]
fn long_texts_are_truncated_not_rejected() {
    let model = common::model();
    let long = "refund ".repeat(2000);
    let v = model.embed_one(&long).unwrap();
    assert_eq!(v.len(), 384);
    assert_eq!(model.tokenize(&[&long]).unwrap()[0].len(), 256);
}

/// The store's own questions and passages: the texts the kernel tests use where ../shared (the
/// reference vectors) is absent, and beside them where it is present.
const OWN_TEXTS: [&str; 6] = [
    "where is my order LF-100002?",
    "can I return a sale item after 30 days",
    "Returns are accepted within 30 days of delivery for unworn items with their tags attached; sale items are final.",
    "Do you ship to Canada and how long does standard delivery take?",
    "The linen shirt shrank after one wash, I want my money back",
    "",
];

fn worst_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f32, usize) {
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(i, (x, y))| (dot(x, y), i))
        .fold((1.0, 0), |w, c| if c.0 < w.0 { c } else { w })
}

#[test]
fn every_kernel_path_this_cpu_has_matches_the_portable_path_and_the_reference() {
    // Each level this machine can run (AVX-512, AVX2 with and without AVX-VNNI, portable),
    // loaded explicitly, so one run covers them all whatever SHOPKEEP_CPU_KERNELS says. fp32:
    // cosine ≥ 0.9999 to the portable path and to sentence-transformers' vectors, batched and
    // one text at a time; int8: ≥ 0.99 to the same level's fp32 and to the reference.
    let files = locate_model(None, &common::root().join("models"), false).expect("model present");
    let (mut texts, refs): (Vec<String>, Option<Vec<Vec<f32>>>) = match reference() {
        Some((t, r)) => (t, Some(r)),
        None => {
            eprintln!("note: ../shared is absent; the kernel paths are compared with the portable path only");
            (Vec::new(), None)
        }
    };
    let n_ref = texts.len();
    texts.extend(OWN_TEXTS.iter().map(|t| t.to_string()));
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let portable = MiniLm::load_with_kernels(&files, Kernels::Portable).unwrap();
    let base = portable.embed(&texts).unwrap();
    drop(portable);
    if let Some(refs) = &refs {
        let (cos, i) = worst_cosine(&base[..n_ref], refs);
        assert!(
            cos >= 0.9999,
            "portable: cosine {cos} to the reference for {:?}",
            texts[i]
        );
    }
    let mut ran = vec![];
    for kernels in Kernels::available() {
        let model = MiniLm::load_with_kernels(&files, kernels).unwrap();
        assert_eq!(model.kernels(), Some(kernels));
        assert_eq!(model.path(), format!("cpu {kernels} fp32"));
        let got = model.embed(&texts).unwrap();
        let (cos, i) = worst_cosine(&got, &base);
        assert!(
            cos >= 0.9999,
            "{kernels}: cosine {cos} to the portable path for {:?}",
            texts[i]
        );
        if let Some(refs) = &refs {
            let (cos, i) = worst_cosine(&got[..n_ref], refs);
            assert!(
                cos >= 0.9999,
                "{kernels}: cosine {cos} to the reference for {:?}",
                texts[i]
            );
        }
        for (i, t) in texts.iter().enumerate().step_by(5) {
            let one = model.embed_one(t).unwrap();
            assert!(
                dot(&one, &base[i]) >= 0.9999,
                "{kernels}: {t:?} alone: cosine {}",
                dot(&one, &base[i])
            );
        }
        let int8 = model.with_precision(Precision::Int8);
        if kernels == Kernels::Portable {
            assert_eq!(
                int8.precision(),
                Precision::Fp32,
                "the portable path has no int8"
            );
        } else {
            assert_eq!(
                int8.precision(),
                Precision::Int8,
                "{kernels} has an int8 kernel"
            );
            assert!(
                int8.path().starts_with(&format!("cpu {kernels} int8 (")),
                "{}",
                int8.path()
            );
            let q = int8.embed(&texts).unwrap();
            let (cos, i) = worst_cosine(&q, &got);
            assert!(
                cos >= 0.99,
                "{}: cosine {cos} to fp32 for {:?}",
                int8.path(),
                texts[i]
            );
            if let Some(refs) = &refs {
                let (cos, i) = worst_cosine(&q[..n_ref], refs);
                assert!(
                    cos >= 0.99,
                    "{}: cosine {cos} to the reference for {:?}",
                    int8.path(),
                    texts[i]
                );
            }
            let one = int8.embed_one(texts[0]).unwrap();
            assert!(
                dot(&one, &q[0]) >= 0.9999,
                "{}: one text alone as in a batch",
                int8.path()
            );
            ran.push(int8.path());
        }
        ran.push(format!("cpu {kernels} fp32"));
    }
    eprintln!("kernel paths checked: {}", ran.join(", "));
}

#[test]
fn the_environment_variable_forces_the_kernels_and_bench_embed_says_which_ran() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("q.txt");
    std::fs::write(&input, OWN_TEXTS.join("\n")).unwrap();
    for kernels in Kernels::available() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shopkeep"))
            .current_dir(common::root())
            .env(KERNELS_ENV, kernels.to_string())
            .env("SHOPKEEP_DATA_DIR", dir.path().join("data"))
            .args([
                "bench",
                "embed",
                "--input",
                input.to_str().unwrap(),
                "--batch",
                "2",
                "--precision",
                "int8",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = if kernels == Kernels::Portable {
            "[cpu portable fp32]".to_string()
        } else {
            format!("[cpu {kernels} int8 (")
        };
        assert!(
            stdout.contains("texts/s") && stdout.contains(&want),
            "{KERNELS_ENV}={kernels}: {stdout}"
        );
    }
}
