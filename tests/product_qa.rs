//! The product answer selector as shipped: the committed model file loads, and on the product-qa
//! set's held-out part (cases it was never trained on) it answers from the product's own passages
//! about as well as when it was trained.

mod common;

use shopkeep::{
    answer::select::{AnswerSelector, FEATURES},
    embed::Embedder,
    eval::product_qa::{evaluate, Case, Split},
};

fn committed() -> AnswerSelector {
    AnswerSelector::load(&AnswerSelector::default_path(
        &common::root().join("models"),
    ))
    .expect("models/answer-select.json loads")
}

#[test]
fn the_committed_selector_matches_this_build() {
    let s = committed();
    assert_eq!(s.features.len(), FEATURES.len());
    assert!(
        s.threshold > 0.0 && s.threshold < 1.0,
        "threshold {}",
        s.threshold
    );
    assert_eq!(
        s.model_id,
        common::model().model_id(),
        "trained on another embedder's cosines"
    );
    assert!(
        s.training.split.contains("fnv1a64(qid) % 5 == 0"),
        "{}",
        s.training.split
    );
}

#[test]
fn held_out_product_questions_are_answered_or_abstained_on() {
    let shared = require_shared!();
    let text = std::fs::read_to_string(shared.join("eval/product-qa/dev.jsonl")).unwrap();
    let cases: Vec<Case> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let work = tempfile::tempdir().unwrap();
    let r = evaluate(
        &cases,
        &committed(),
        common::model().as_ref(),
        work.path(),
        Split::HeldOut,
    )
    .unwrap();
    assert_eq!(r.trained_on, 0);
    assert!(r.n > 50, "held-out part has {} cases", r.n);
    // Loose bounds (the held-out part is ~100 cases, so one answer moves precision by ~2.5
    // points): these catch a broken feature or a stale file, not a one-answer wobble. The dense
    // gate this replaced scored precision 0.63, coverage 0.26 on the whole file.
    assert!(r.precision >= 0.65, "{r:?}");
    assert!(r.coverage >= 0.38, "{r:?}");
    assert!(r.abstention >= 0.6, "{r:?}");
}
