//! A deterministic bag-of-words embedder for unit tests: similar words give similar vectors,
//! no model file needed. Never used by the service.

use super::{normalize, EmbedError, Embedder};

/// Hashes lower-cased word unigrams and character trigrams into a fixed number of buckets.
pub struct HashEmbedder {
    dim: usize,
}

impl HashEmbedder {
    pub fn new(dim: usize) -> Self {
        Self { dim }
    }

    fn bucket(&self, s: &str) -> usize {
        // FNV-1a: stable across runs and platforms, unlike std's RandomState.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in s.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        (h % self.dim as u64) as usize
    }
}

impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        "hash-test-embedder"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; self.dim];
                for w in t
                    .to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    v[self.bucket(w)] += 1.0;
                    let chars: Vec<char> = format!("#{w}#").chars().collect();
                    for tri in chars.windows(3) {
                        v[self.bucket(&tri.iter().collect::<String>())] += 0.3;
                    }
                }
                normalize(&mut v);
                v
            })
            .collect())
    }
}
