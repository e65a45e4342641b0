//! A bounded cache of question vectors.
//!
//! A store's customers ask the same few hundred questions all day ("where is my order", "how do
//! I return this"), and one message is embedded by understanding and again by retrieval. A hit
//! costs a hash lookup instead of a forward pass. Keys are the exact text: the model is
//! deterministic, so a cached vector is the vector. Eviction drops the least recently used
//! quarter at once, which keeps the bookkeeping off the hot path. This module does not batch
//! (see [`super::batch`]); passages for the index never go through it.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use super::{EmbedError, Embedder};

struct Entry {
    vector: Arc<Vec<f32>>,
    used: u64,
}

/// An [`Embedder`] that remembers the vectors of up to `capacity` texts.
pub struct Cached {
    inner: Arc<dyn Embedder>,
    capacity: usize,
    entries: Mutex<HashMap<String, Entry>>,
    clock: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Cached {
    pub fn new(inner: Arc<dyn Embedder>, capacity: usize) -> Self {
        Self {
            inner,
            capacity: capacity.max(4),
            entries: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// (hits, misses) since start, for the metrics.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // The map holds no invariant a panicking holder could break half-way.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Embedder for Cached {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        let mut missing: Vec<usize> = Vec::new();
        {
            let mut entries = self.lock();
            for (i, t) in texts.iter().enumerate() {
                match entries.get_mut(*t) {
                    Some(e) => {
                        e.used = self.clock.fetch_add(1, Ordering::Relaxed);
                        out[i] = Some(e.vector.as_ref().clone());
                    }
                    None => missing.push(i),
                }
            }
        }
        self.hits
            .fetch_add((texts.len() - missing.len()) as u64, Ordering::Relaxed);
        self.misses
            .fetch_add(missing.len() as u64, Ordering::Relaxed);
        if !missing.is_empty() {
            // The model runs outside the lock: other callers keep hitting the cache meanwhile.
            let batch: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
            let vectors = self.inner.embed(&batch)?;
            let mut entries = self.lock();
            if entries.len() + missing.len() > self.capacity && !entries.is_empty() {
                let mut ages: Vec<u64> = entries.values().map(|e| e.used).collect();
                let cut = ages.len() / 4;
                let (_, &mut oldest_kept, _) = ages.select_nth_unstable(cut);
                entries.retain(|_, e| e.used >= oldest_kept);
            }
            for (&i, v) in missing.iter().zip(vectors) {
                let used = self.clock.fetch_add(1, Ordering::Relaxed);
                entries.insert(
                    texts[i].to_string(),
                    Entry {
                        vector: Arc::new(v.clone()),
                        used,
                    },
                );
                out[i] = Some(v);
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::HashEmbedder;

    #[test]
    fn a_cached_vector_equals_the_models_and_repeats_skip_the_model() {
        let inner: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(32));
        let cached = Cached::new(inner.clone(), 100);
        let first = cached
            .embed(&["where is my order", "how do I return this"])
            .unwrap();
        let again = cached
            .embed(&["how do I return this", "where is my order", "new one"])
            .unwrap();
        assert_eq!(
            first,
            inner
                .embed(&["where is my order", "how do I return this"])
                .unwrap()
        );
        assert_eq!(again[0], first[1]);
        assert_eq!(again[1], first[0]);
        assert_eq!(cached.stats(), (2, 3));
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cached = Cached::new(Arc::new(HashEmbedder::new(8)), 40);
        for i in 0..500 {
            cached.embed(&[&format!("question number {i}")]).unwrap();
        }
        assert!(cached.lock().len() <= 40);
        // The most recent question is still there.
        cached.embed(&["question number 499"]).unwrap();
        assert_eq!(cached.stats().0, 1);
    }
}
