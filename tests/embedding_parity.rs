//! The embedder reproduces sentence-transformers' all-MiniLM-L6-v2 vectors.

mod common;

use shopkeep::embed::{dot, Embedder};

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
