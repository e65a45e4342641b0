//! Retrieval on the demo knowledge base with the real model: the right document comes back.

mod common;

use std::sync::OnceLock;

use shopkeep::{
    embed::Embedder,
    eval::retrieval::{evaluate, Labelled},
    index::{build, BuildOptions, IndexHandle, SearchOptions},
};

/// One index of the demo KB for this test binary.
fn demo_index() -> &'static IndexHandle {
    static INDEX: OnceLock<(tempfile::TempDir, IndexHandle)> = OnceLock::new();
    &INDEX
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let summary = build(
                BuildOptions {
                    kb_dir: &common::kb_dir(),
                    index_root: dir.path(),
                    extra_documents: Vec::new(),
                },
                common::model().as_ref(),
                &mut (),
            )
            .unwrap();
            assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
            let handle = IndexHandle::open(dir.path()).unwrap();
            (dir, handle)
        })
        .1
}

#[test]
fn each_fixture_question_finds_its_document_in_the_top_three() {
    let model = common::model();
    let text =
        std::fs::read_to_string(common::root().join("tests/fixtures/kb-questions.jsonl")).unwrap();
    let generation = demo_index().current();
    let mut misses = Vec::new();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (q, want) = (v["question"].as_str().unwrap(), v["doc"].as_str().unwrap());
        assert!(
            generation.passages().iter().any(|p| p.doc_id == want),
            "fixture names unknown doc {want}"
        );
        let hits = generation
            .search(
                q,
                &model.embed_one(q).unwrap(),
                &SearchOptions {
                    k: 3,
                    product_id: None,
                    help_only: false,
                },
            )
            .unwrap();
        n += 1;
        if !hits.iter().any(|h| h.passage.doc_id == want) {
            misses.push(format!(
                "{q:?}: want {want}, got {:?}",
                hits.iter()
                    .map(|h| h.passage.doc_id.as_str())
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(n >= 20);
    assert!(
        misses.is_empty(),
        "{} of {n} missed:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

#[test]
fn hits_carry_bm25_dense_and_fused_scores_in_fused_order() {
    let model = common::model();
    let q = "what payment methods do you accept";
    let hits = demo_index()
        .current()
        .search(
            q,
            &model.embed_one(q).unwrap(),
            &SearchOptions {
                k: 5,
                product_id: None,
                help_only: false,
            },
        )
        .unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits.windows(2).all(|w| w[0].fused >= w[1].fused));
    assert!(hits[0].bm25.is_some() && hits[0].dense > 0.3);
    assert_eq!(hits[0].passage.doc_id, "payment-methods");
}

#[test]
fn customer_text_that_looks_like_query_syntax_is_searched_not_parsed() {
    let model = common::model();
    for q in [
        "refund AND (\"order",
        "title:returns -- ++ !!",
        "???",
        "C++ mug: 50% off?",
    ] {
        let r = demo_index().current().search(
            q,
            &model.embed_one(q).unwrap(),
            &SearchOptions::default(),
        );
        assert!(r.is_ok(), "{q}: {r:?}");
    }
}

#[test]
fn bitext_policy_questions_reach_documents_with_their_topic() {
    let shared = require_shared!();
    let text = std::fs::read_to_string(shared.join("eval/intents/dev.jsonl")).unwrap();
    let topics = [
        "delivery_info",
        "return_policy",
        "payment_methods",
        "cancellation_fee",
    ];
    let questions: Vec<Labelled> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| topics.contains(&v["intent"].as_str().unwrap_or("")))
        .map(|v| Labelled {
            text: v["text"].as_str().unwrap().to_string(),
            topic: v["intent"].as_str().unwrap().to_string(),
        })
        .collect();
    let report = evaluate(
        &demo_index().current(),
        common::model().as_ref(),
        &questions,
    )
    .unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert!(report.n > 1000);
    assert!(
        report.hybrid.at3 >= 0.9,
        "hybrid Recall@3 {}",
        report.hybrid.at3
    );
}

#[test]
fn a_large_catalogue_never_crowds_help_passages_out_of_a_help_centre_search() {
    use shopkeep::{
        embed::HashEmbedder,
        kb::{Block, Document},
    };
    // 60 product pages that all talk about returns, beside the help centre: more than the 50
    // BM25 candidates a search takes.
    let products: Vec<Document> = (0..60)
        .map(|i| Document {
            id: format!("product-{i}"),
            title: "Return zebra item".into(),
            url: None,
            topics: vec!["product_question".into()],
            updated: None,
            product_id: Some(format!("P{i}")),
            source: format!("product-{i}"),
            blocks: vec![Block {
                headings: vec![],
                text: "Return zebra item.".into(),
            }],
            hash: String::new(),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let embedder = HashEmbedder::new(64);
    build(
        BuildOptions {
            kb_dir: &common::kb_dir(),
            index_root: dir.path(),
            extra_documents: products,
        },
        &embedder,
        &mut (),
    )
    .unwrap();
    let generation = IndexHandle::open(dir.path()).unwrap().current();
    // The catalogue matches every word of the question, so it takes the unrestricted top 50.
    let q = "how do I return a zebra item";
    let v = embedder.embed_one(q).unwrap();

    let everything = generation.search_bm25(q, 50, None).unwrap();
    let help_in_top50 = everything
        .iter()
        .filter(|(ord, _)| generation.passages()[*ord].product_id.is_none())
        .count();
    assert!(
        help_in_top50 <= 1,
        "the catalogue takes the unrestricted top 50 ({help_in_top50} help passages left)"
    );
    let help = generation
        .search(
            q,
            &v,
            &SearchOptions {
                k: 5,
                product_id: None,
                help_only: true,
            },
        )
        .unwrap();
    assert_eq!(help.len(), 5);
    assert!(help.iter().all(|h| h.passage.product_id.is_none()));
    // BM25 ranks help passages found past the catalogue: a filter applied after taking the top
    // 50 candidates could contribute at most the one help passage among them.
    let with_bm25 = help.iter().filter(|h| h.bm25.is_some()).count();
    assert!(
        with_bm25 > help_in_top50.max(1),
        "only {with_bm25} help hits carry a BM25 score"
    );
}
