//! Documents are cut into heading-aware passages with stable ids and content hashes.

mod common;

use shopkeep::kb::{chunk, estimate_tokens, load_dir, Block, Document};

fn doc(blocks: Vec<(&[&str], String)>) -> Document {
    Document {
        id: "returns".into(),
        title: "Returns".into(),
        url: Some("https://example.test/returns".into()),
        topics: vec!["return_policy".into()],
        updated: None,
        product_id: None,
        source: "returns.md".into(),
        blocks: blocks
            .into_iter()
            .map(|(h, text)| Block {
                headings: h.iter().map(|s| s.to_string()).collect(),
                text,
            })
            .collect(),
        hash: "x".into(),
    }
}

fn sentence(n: usize) -> String {
    format!("Sentence number {n} explains one more detail of the returns process for customers. ")
}

#[test]
fn a_passage_never_spans_two_sections_and_keeps_its_heading_path() {
    let d = doc(vec![
        (&[], "Intro.".into()),
        (&["Window"], "Thirty days from delivery.".into()),
        (&["Window", "Exceptions"], "Final sale items.".into()),
        (&["How to return"], "Start online.".into()),
    ]);
    let passages = chunk(&d);
    let headings: Vec<&str> = passages.iter().map(|p| p.heading.as_str()).collect();
    assert_eq!(
        headings,
        vec!["", "Window", "Window › Exceptions", "How to return"]
    );
    let ids: Vec<&str> = passages.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "returns#intro",
            "returns#window",
            "returns#window-exceptions",
            "returns#how-to-return"
        ]
    );
    assert!(passages
        .iter()
        .all(|p| p.title == "Returns" && p.doc_id == "returns"));
    assert!(passages[1]
        .embedding_text()
        .starts_with("Returns › Window: "));
}

#[test]
fn long_sections_are_split_into_passages_of_bounded_size() {
    let long: String = (0..120).map(sentence).collect();
    let passages = chunk(&doc(vec![(&["Policy"], long)]));
    assert!(passages.len() >= 4, "got {} passages", passages.len());
    for p in &passages {
        let t = estimate_tokens(&p.text);
        assert!(t <= 250, "passage {} has {t} tokens", p.id);
    }
    for p in &passages[..passages.len() - 1] {
        assert!(
            estimate_tokens(&p.text) >= 100,
            "non-final passage {} too short",
            p.id
        );
    }
    assert_eq!(passages[0].id, "returns#policy");
    assert_eq!(passages[1].id, "returns#policy-1");
}

#[test]
fn small_blocks_in_a_section_are_packed_together() {
    let blocks = (0..6).map(|i| (&["Policy"][..], sentence(i))).collect();
    let passages = chunk(&doc(blocks));
    assert_eq!(passages.len(), 1);
}

#[test]
fn editing_one_section_changes_only_that_passage() {
    let before = chunk(&doc(vec![
        (&["A"], "Alpha text.".into()),
        (&["B"], "Beta text.".into()),
    ]));
    let after = chunk(&doc(vec![
        (&["A"], "Alpha text, edited.".into()),
        (&["B"], "Beta text.".into()),
    ]));
    assert_eq!(
        before.iter().map(|p| &p.id).collect::<Vec<_>>(),
        after.iter().map(|p| &p.id).collect::<Vec<_>>()
    );
    assert_ne!(before[0].hash, after[0].hash);
    assert_eq!(before[1].hash, after[1].hash);
}

#[test]
fn the_demo_knowledge_base_loads_in_every_format() {
    let loaded = load_dir(&common::kb_dir()).unwrap();
    assert!(loaded.skipped.is_empty(), "skipped: {:?}", loaded.skipped);
    assert!(loaded.documents.len() >= 20);
    let by_id = |id: &str| {
        loaded
            .documents
            .iter()
            .find(|d| d.id == id)
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    let html = by_id("candle-safety");
    assert!(html.source.ends_with(".html"));
    assert!(!html
        .blocks
        .iter()
        .any(|b| b.text.contains("<script") || b.text.contains("function(")));
    let pdf = by_id("warranty-claim-form");
    assert!(pdf
        .blocks
        .iter()
        .map(|b| b.text.as_str())
        .collect::<String>()
        .to_lowercase()
        .contains("warranty"));
    assert!(loaded.documents.iter().any(|d| d.source.ends_with(".txt")));
    for d in &loaded.documents {
        assert!(!d.topics.is_empty(), "{} has no topics", d.id);
        assert!(d.url.is_some(), "{} has no url", d.id);
        let passages = chunk(d);
        for p in &passages {
            assert!(estimate_tokens(&p.text) <= 300, "{} too long", p.id);
        }
    }
}
