//! The embedder reproduces sentence-transformers' all-MiniLM-L6-v2 vectors.

mod common;

use std::sync::{Arc, OnceLock};

use shopkeep::embed::{dot, locate_model, Embedder, MiniLm, Precision};

/// The model with int8 matrix products (fp32 where the CPU lacks AVX-512 VNNI).
fn int8_model() -> Arc<MiniLm> {
    static MODEL: OnceLock<Arc<MiniLm>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let files = locate_model(None, &common::root().join("models"), false).expect("model present");
            let m = MiniLm::load(&files).expect("model loads").with_precision(Precision::Int8);
            if m.precision() != Precision::Int8 {
                eprintln!("note: this CPU has no AVX-512 VNNI; the int8 tests run the fp32 fallback");
            }
            Arc::new(m)
        })
        .clone()
}

fn reference() -> Option<(Vec<String>, Vec<Vec<f32>>)> {
    let shared = common::shared_dir()?;
    let text = std::fs::read_to_string(shared.join("fixtures/minilm-l6-v2-reference.jsonl")).unwrap();
    let (mut texts, mut refs) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        texts.push(v["text"].as_str().unwrap().to_string());
        let mut e: Vec<f32> = v["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        shopkeep::embed::normalize(&mut e);
        refs.push(e);
    }
    Some((texts, refs))
}

#[test]
fn every_reference_text_matches_sentence_transformers() {
    let shared = require_shared!();
    let text = std::fs::read_to_string(shared.join("fixtures/minilm-l6-v2-reference.jsonl")).unwrap();
    let mut texts = Vec::new();
    let mut refs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        texts.push(v["text"].as_str().unwrap().to_string());
        refs.push(v["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect::<Vec<f32>>());
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
        assert!(cos_single >= 0.9999, "text {i} alone: cosine {cos_single} for {:?}", texts[i]);
    }
    assert!(worst.0 >= 0.9999, "worst cosine {} for {:?}", worst.0, worst.1);
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
    let worst = got.iter().zip(&refs).map(|(g, r)| dot(g, r)).fold(1.0f32, f32::min);
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
    let texts = ["where is my order", "a much longer question about returning a pair of linen trousers that did not fit", ""];
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
