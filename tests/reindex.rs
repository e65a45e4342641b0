//! Reindexing is incremental and swaps generations atomically under live searches.

mod common;

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use shopkeep::{
    embed::{EmbedError, Embedder, HashEmbedder},
    index::{build, BuildOptions, IndexError, IndexHandle, SearchOptions},
};

/// Records every text it embeds, so a test can say exactly what was re-embedded.
struct Recording {
    inner: HashEmbedder,
    seen: Mutex<Vec<String>>,
}

impl Recording {
    fn new() -> Self {
        Self {
            inner: HashEmbedder::new(256),
            seen: Mutex::new(Vec::new()),
        }
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.seen.lock().unwrap())
    }
}

impl Embedder for Recording {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.seen
            .lock()
            .unwrap()
            .extend(texts.iter().map(|t| t.to_string()));
        self.inner.embed(texts)
    }
}

fn reindex(kb: &Path, index: &Path, e: &dyn Embedder) -> shopkeep::index::BuildSummary {
    build(
        BuildOptions {
            kb_dir: kb,
            index_root: index,
            extra_documents: Vec::new(),
        },
        e,
        &mut (),
    )
    .unwrap()
}

#[test]
fn editing_one_document_re_embeds_only_its_changed_passages() {
    let tmp = tempfile::tempdir().unwrap();
    let kb = tmp.path().join("kb");
    let index = tmp.path().join("index");
    common::copy_dir(&common::kb_dir(), &kb);
    let e = Recording::new();

    let first = reindex(&kb, &index, &e);
    assert_eq!(first.embedded, first.passages);
    assert_eq!(e.take().len(), first.passages);

    // Nothing changed: nothing is embedded again.
    let second = reindex(&kb, &index, &e);
    assert_eq!((second.embedded, second.reused), (0, first.passages));
    assert!(e.take().is_empty());

    // Edit one section of one document.
    let path = kb.join("refunds.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen("business days", "business days (weekends excluded)", 1);
    assert_ne!(text, edited, "fixture must contain the phrase being edited");
    std::fs::write(&path, edited).unwrap();

    let third = reindex(&kb, &index, &e);
    let embedded = e.take();
    assert!(
        third.embedded >= 1 && third.embedded < 3,
        "re-embedded {} passages",
        third.embedded
    );
    assert!(
        embedded.iter().all(|t| t.contains("weekends excluded")),
        "re-embedded other passages: {embedded:?}"
    );
    assert_eq!(third.reused + third.embedded, third.passages);

    // The new text is what the live index now finds.
    let handle = IndexHandle::open(&index).unwrap();
    let q = "weekends excluded";
    let hits = handle
        .current()
        .search(q, &e.inner.embed_one(q).unwrap(), &SearchOptions::default())
        .unwrap();
    assert_eq!(hits[0].passage.doc_id, "refunds");
}

#[test]
fn a_changed_model_re_embeds_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let first = reindex(&common::kb_dir(), &index, &HashEmbedder::new(256));
    let other = HashEmbedder::new(128); // same id, different dimension
    let second = reindex(&common::kb_dir(), &index, &other);
    assert_eq!(second.embedded, first.passages);
}

#[test]
fn searches_keep_succeeding_while_a_reindex_swaps_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let kb = tmp.path().join("kb");
    let index = tmp.path().join("index");
    common::copy_dir(&common::kb_dir(), &kb);
    let e = Arc::new(HashEmbedder::new(256));
    reindex(&kb, &index, e.as_ref());
    let handle = Arc::new(IndexHandle::open(&index).unwrap());
    let first_generation = handle.current().name().to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let searches = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (handle, e, stop, searches) =
                (handle.clone(), e.clone(), stop.clone(), searches.clone());
            std::thread::spawn(move || {
                let q = "how long does a refund take";
                let v = e.embed_one(q).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    handle.refresh().expect("refresh never fails mid-swap");
                    let hits = handle
                        .current()
                        .search(q, &v, &SearchOptions::default())
                        .expect("search never fails mid-swap");
                    assert!(!hits.is_empty());
                    searches.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    for round in 0..4 {
        let path = kb.join("refunds.md");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}\n\nRevision {round}.\n")).unwrap();
        reindex(&kb, &index, e.as_ref());
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(searches.load(Ordering::Relaxed) > 0);
    handle.refresh().unwrap();
    assert_ne!(handle.current().name(), first_generation);
    // Old generations are cleaned up: the current one and the one before it remain.
    let gens = std::fs::read_dir(&index)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("gen-")
        })
        .count();
    assert_eq!(gens, 2);
}

#[test]
fn a_second_reindex_waits_its_turn_instead_of_corrupting_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    std::fs::create_dir_all(&index).unwrap();
    let lock = std::fs::File::create(index.join(".lock")).unwrap();
    lock.lock().unwrap();
    let err = build(
        BuildOptions {
            kb_dir: &common::kb_dir(),
            index_root: &index,
            extra_documents: Vec::new(),
        },
        &HashEmbedder::new(64),
        &mut (),
    )
    .unwrap_err();
    assert!(matches!(err, IndexError::Locked(_)), "{err}");
}

#[test]
fn opening_an_index_that_was_never_built_says_how_to_build_one() {
    let tmp = tempfile::tempdir().unwrap();
    let err = IndexHandle::open(tmp.path()).err().unwrap();
    assert!(err.to_string().contains("shopkeep reindex"), "{err}");
}

#[test]
fn adding_a_document_embeds_only_its_passages_and_leaves_the_old_generation_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let kb = tmp.path().join("kb");
    let index = tmp.path().join("index");
    common::copy_dir(&common::kb_dir(), &kb);
    let e = Recording::new();
    let first = reindex(&kb, &index, &e);
    e.take();
    let handle = IndexHandle::open(&index).unwrap();
    let old = handle.current();

    let article = kb.join("gift-wrapping.md");
    std::fs::write(&article, "---\nid: gift-wrapping\ntitle: Gift wrapping\n---\n# Gift wrapping\n\nTick \"Gift wrap\" at checkout: recycled paper and a handwritten card, £3 per order.\n").unwrap();
    let doc = shopkeep::kb::read_document(&article, "gift-wrapping.md").unwrap();
    let added = shopkeep::index::add_documents(&index, vec![doc.clone()], &e).unwrap();
    assert_eq!(
        (added.embedded, added.reused, added.passages),
        (1, first.passages, first.passages + 1)
    );
    assert_eq!(e.take().len(), 1, "only the new passage is embedded");

    assert!(handle.refresh().unwrap());
    let new = handle.current();
    let qvec = e.embed(&["gift wrap handwritten card"]).unwrap().remove(0);
    let hits = new
        .search(
            "gift wrap handwritten card",
            &qvec,
            &SearchOptions {
                k: 3,
                product_id: None,
                help_only: false,
            },
        )
        .unwrap();
    assert_eq!(
        hits[0].passage.doc_id, "gift-wrapping",
        "BM25 and dense both see the new passage"
    );
    assert!(new.manifest.documents.contains_key("gift-wrapping"));
    // The generation the server held before is untouched (its searches finish on it).
    let old_hits = old
        .search(
            "gift wrap handwritten card",
            &qvec,
            &SearchOptions {
                k: 3,
                product_id: None,
                help_only: false,
            },
        )
        .unwrap();
    assert!(old_hits.iter().all(|h| h.passage.doc_id != "gift-wrapping"));
    assert_eq!(old.passages().len(), first.passages);

    // A document already indexed goes through a reindex instead; a full reindex then agrees.
    assert!(
        matches!(shopkeep::index::add_documents(&index, vec![doc], &e), Err(IndexError::DocumentExists(id)) if id == "gift-wrapping")
    );
    let full = reindex(&kb, &index, &e);
    assert_eq!((full.embedded, full.passages), (0, first.passages + 1));
}
