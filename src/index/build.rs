//! Building a new generation: load and chunk the knowledge base, embed what changed, write the
//! generation beside the live one, swap `CURRENT`, and remove generations no longer needed.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use tantivy::{doc, Index};

use super::{
    generation::{
        read_current_name, schema, write_current_name, Generation, Manifest, ManifestDoc,
        StoredPassage,
    },
    io_err, IndexError,
};
use crate::{
    embed::Embedder,
    kb::{self, Document, Passage, CHUNKER_VERSION},
};

/// Passages embedded per call: large enough for the embedder's length-sorted batching, small
/// enough to report progress often.
const EMBED_CHUNK: usize = 128;

/// What to build from and where.
pub struct BuildOptions<'a> {
    pub kb_dir: &'a Path,
    pub index_root: &'a Path,
    /// Extra documents not on disk (the store's product content from the order database).
    pub extra_documents: Vec<Document>,
}

/// Progress reports while building.
pub trait BuildProgress {
    /// Called once the passages are known: `to_embed` of `total` need new vectors.
    fn start(&mut self, _total: usize, _to_embed: usize) {}
    /// Called after each embedded chunk with the number embedded so far.
    fn embedded(&mut self, _done: usize) {}
}

impl BuildProgress for () {}

/// The figures `shopkeep reindex` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildSummary {
    pub generation: String,
    pub documents: usize,
    pub passages: usize,
    /// Passages whose vectors were computed in this build (the rest were reused).
    pub embedded: usize,
    pub reused: usize,
    /// Files that could not be read, with the reason. They are left out of the index.
    pub skipped: Vec<String>,
    pub seconds: f64,
    /// Embedded passages per second of embedding time.
    pub passages_per_second: f64,
}

/// Builds a new generation and makes it current. Holds an exclusive lock on the index root, so
/// two reindexes never interleave; a server reading the index is never blocked.
pub fn build(
    opts: BuildOptions<'_>,
    embedder: &dyn Embedder,
    progress: &mut dyn BuildProgress,
) -> Result<BuildSummary, IndexError> {
    let started = Instant::now();
    let root = opts.index_root;
    let _lock = lock_root(root)?;

    let loaded = kb::load_dir(opts.kb_dir)?;
    let skipped: Vec<String> = loaded.skipped.iter().map(|e| e.to_string()).collect();
    for s in &skipped {
        tracing::warn!("skipped: {s}");
    }
    let mut documents = loaded.documents;
    documents.extend(opts.extra_documents);
    let passages: Vec<Passage> = documents.iter().flat_map(kb::chunk).collect();

    // Vectors of the live generation, by content hash, when they were made the same way.
    let previous = read_current_name(root)
        .ok()
        .and_then(|name| Generation::open(root, &name).ok());
    let mut reuse: HashMap<&str, &[f32]> = HashMap::new();
    if let Some(prev) = &previous {
        let m = &prev.manifest;
        if m.model_id == embedder.model_id()
            && m.dim == embedder.dim()
            && m.chunker_version == CHUNKER_VERSION
        {
            for (ord, p) in prev.passages().iter().enumerate() {
                reuse.insert(p.hash.as_str(), prev.vector(ord));
            }
        }
    }

    let dim = embedder.dim();
    let mut vectors = vec![0f32; passages.len() * dim];
    let mut missing = Vec::new();
    for (ord, p) in passages.iter().enumerate() {
        match reuse.get(p.hash.as_str()) {
            Some(v) => vectors[ord * dim..(ord + 1) * dim].copy_from_slice(v),
            None => missing.push(ord),
        }
    }
    progress.start(passages.len(), missing.len());
    let embed_started = Instant::now();
    for (n, chunk) in missing.chunks(EMBED_CHUNK).enumerate() {
        let texts: Vec<String> = chunk
            .iter()
            .map(|&ord| passages[ord].embedding_text())
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for (&ord, v) in chunk.iter().zip(embedder.embed(&refs)?) {
            vectors[ord * dim..(ord + 1) * dim].copy_from_slice(&v);
        }
        progress.embedded((n * EMBED_CHUNK + chunk.len()).min(missing.len()));
    }
    let embed_seconds = embed_started.elapsed().as_secs_f64();
    drop(previous);

    let name = new_generation_name(root);
    let dir = root.join(&name);
    let result = write_generation(&dir, &documents, &passages, &vectors, embedder);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    write_current_name(root, &name)?;
    remove_old_generations(root, &name);

    Ok(BuildSummary {
        generation: name,
        documents: documents.len(),
        passages: passages.len(),
        embedded: missing.len(),
        reused: passages.len() - missing.len(),
        skipped,
        seconds: started.elapsed().as_secs_f64(),
        passages_per_second: if embed_seconds > 0.0 {
            missing.len() as f64 / embed_seconds
        } else {
            0.0
        },
    })
}

fn new_generation_name(root: &Path) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut name = format!("gen-{nanos}");
    while root.join(&name).exists() {
        name.push('x');
    }
    name
}

fn write_generation(
    dir: &Path,
    documents: &[Document],
    passages: &[Passage],
    vectors: &[f32],
    embedder: &dyn Embedder,
) -> Result<(), IndexError> {
    let tantivy_dir = dir.join("tantivy");
    std::fs::create_dir_all(&tantivy_dir).map_err(io_err(&tantivy_dir))?;
    let (schema, f) = schema();
    let index = Index::create_in_dir(&tantivy_dir, schema)?;
    super::generation::register_tokenizer(&index);
    add_to_tantivy(&index, f, passages, 0)?;

    let mut docs = std::collections::BTreeMap::new();
    for d in documents {
        docs.insert(
            d.id.clone(),
            ManifestDoc {
                source: d.source.clone(),
                hash: d.hash.clone(),
                passages: Vec::new(),
            },
        );
    }
    for p in passages {
        if let Some(d) = docs.get_mut(&p.doc_id) {
            d.passages.push(p.id.clone());
        }
    }
    let manifest = Manifest {
        model_id: embedder.model_id().to_string(),
        dim: embedder.dim(),
        chunker_version: CHUNKER_VERSION,
        created_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        passages: passages.len(),
        documents: docs,
    };
    let stored: Vec<StoredPassage> = passages.iter().map(StoredPassage::from).collect();
    write_contents(dir, &stored, vectors, &manifest)
}

/// Indexes `passages` for BM25, numbering them from `first_ord` (their rows in the passage and
/// vector arrays).
fn add_to_tantivy(
    index: &Index,
    f: super::generation::Fields,
    passages: &[Passage],
    first_ord: usize,
) -> Result<(), IndexError> {
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 50_000_000)?;
    for (i, p) in passages.iter().enumerate() {
        let mut d = doc!(f.ord => (first_ord + i) as u64, f.title => p.title.clone(), f.heading => p.heading.clone(), f.body => p.text.clone());
        if let Some(pid) = &p.product_id {
            d.add_text(f.product_id, pid);
            // A second value marking every product passage, so a help-centre search can exclude
            // them inside the BM25 query (see `search::PRODUCT_MARKER`).
            d.add_text(f.product_id, super::search::PRODUCT_MARKER);
        }
        writer.add_document(d)?;
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(())
}

/// Writes a generation's passages, vectors and, last, its manifest: a generation without one is
/// incomplete and never opened.
fn write_contents(
    dir: &Path,
    stored: &[StoredPassage],
    vectors: &[f32],
    manifest: &Manifest,
) -> Result<(), IndexError> {
    write_file(
        &dir.join("passages.json"),
        &serde_json::to_vec(stored).expect("passages serialise"),
    )?;
    let bytes: Vec<u8> = vectors.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_file(&dir.join("vectors.f32"), &bytes)?;
    write_file(
        &dir.join("manifest.json"),
        &serde_json::to_vec_pretty(manifest).expect("manifest serialises"),
    )
}

/// Takes the index root's exclusive lock (held until the file is dropped), so two builds never
/// interleave; readers never take it.
fn lock_root(root: &Path) -> Result<std::fs::File, IndexError> {
    std::fs::create_dir_all(root).map_err(io_err(root))?;
    let lock_path = root.join(".lock");
    let lock = std::fs::File::create(&lock_path).map_err(io_err(&lock_path))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(IndexError::Locked(root.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(&lock_path)(e)),
    }
}

/// Adds new documents to the live index without rebuilding it (an approved article, see
/// `learn`): a new generation that shares the current one's tantivy segments, which never change
/// once written (hard links; copies where links are refused), plus one new segment with the new
/// passages; the current passages and vectors are carried over and only the new passages are
/// embedded. Then `CURRENT` is swapped, as after a full build. A document whose id is already
/// indexed is refused ([`IndexError::DocumentExists`]): changing one goes through [`build`],
/// which re-reads the knowledge base and still reuses every unchanged vector.
pub fn add_documents(
    index_root: &Path,
    documents: Vec<Document>,
    embedder: &dyn Embedder,
) -> Result<BuildSummary, IndexError> {
    let started = Instant::now();
    let root = index_root;
    let _lock = lock_root(root)?;
    let prev = Generation::open(root, &read_current_name(root)?)?;
    let m = &prev.manifest;
    if m.model_id != embedder.model_id() || m.dim != embedder.dim() {
        return Err(IndexError::ModelMismatch {
            built: m.model_id.clone(),
            running: embedder.model_id().to_string(),
        });
    }
    if let Some(d) = documents.iter().find(|d| m.documents.contains_key(&d.id)) {
        return Err(IndexError::DocumentExists(d.id.clone()));
    }
    let passages: Vec<Passage> = documents.iter().flat_map(kb::chunk).collect();
    let embed_started = Instant::now();
    let texts: Vec<String> = passages.iter().map(Passage::embedding_text).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let fresh = if refs.is_empty() {
        Vec::new()
    } else {
        embedder.embed(&refs)?
    };
    let embed_seconds = embed_started.elapsed().as_secs_f64();

    let name = new_generation_name(root);
    let dir = root.join(&name);
    let result = (|| {
        let tantivy_dir = dir.join("tantivy");
        std::fs::create_dir_all(&tantivy_dir).map_err(io_err(&tantivy_dir))?;
        let from = prev.dir().join("tantivy");
        for entry in std::fs::read_dir(&from).map_err(io_err(&from))? {
            let entry = entry.map_err(io_err(&from))?;
            let file = entry.file_name();
            let file_name = file.to_string_lossy();
            // Lock files belong to the old directory; the small JSON files tantivy rewrites
            // (meta.json, .managed.json) are replaced by rename, so linking them is safe too, but
            // a copy keeps the old generation's files untouched by construction.
            if file_name.starts_with(".tantivy-") {
                continue;
            }
            let (src, dst) = (entry.path(), tantivy_dir.join(&file));
            if file_name.ends_with(".json") || std::fs::hard_link(&src, &dst).is_err() {
                std::fs::copy(&src, &dst).map_err(io_err(&dst))?;
            }
        }
        let index = Index::open_in_dir(&tantivy_dir)?;
        super::generation::register_tokenizer(&index);
        let (_, f) = super::generation::schema();
        add_to_tantivy(&index, f, &passages, prev.passages().len())?;

        let mut stored: Vec<StoredPassage> = prev
            .passages()
            .iter()
            .map(|p| StoredPassage::from(p.as_ref()))
            .collect();
        stored.extend(passages.iter().map(StoredPassage::from));
        let mut vectors = prev.vectors.clone();
        vectors.extend(fresh.iter().flatten());
        let mut manifest = prev.manifest.clone();
        manifest.created_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        manifest.passages = stored.len();
        for d in &documents {
            let ids = passages
                .iter()
                .filter(|p| p.doc_id == d.id)
                .map(|p| p.id.clone())
                .collect();
            manifest.documents.insert(
                d.id.clone(),
                ManifestDoc {
                    source: d.source.clone(),
                    hash: d.hash.clone(),
                    passages: ids,
                },
            );
        }
        write_contents(&dir, &stored, &vectors, &manifest)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    let total = prev.passages().len() + passages.len();
    drop(prev);
    write_current_name(root, &name)?;
    remove_old_generations(root, &name);
    Ok(BuildSummary {
        generation: name,
        documents: documents.len(),
        passages: total,
        embedded: passages.len(),
        reused: total - passages.len(),
        skipped: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
        passages_per_second: if embed_seconds > 0.0 {
            passages.len() as f64 / embed_seconds
        } else {
            0.0
        },
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let mut f = std::fs::File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Keeps the new generation and the one before it (a server may still be finishing searches on
/// it, or not have refreshed yet); removes the rest, and any half-written build left by a crash.
fn remove_old_generations(root: &Path, current: &str) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut gens: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.starts_with("gen-").then(|| (name, e.path()))
        })
        .collect();
    gens.sort();
    let keep_from = gens
        .iter()
        .position(|(n, _)| n == current)
        .map(|i| i.saturating_sub(1))
        .unwrap_or(0);
    for (i, (name, path)) in gens.iter().enumerate() {
        if i < keep_from && name != current {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}
