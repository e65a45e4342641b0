//! Step: turn text into vectors.
//!
//! The [`Embedder`] trait is the model seam: everything above it (the index, understanding, the
//! desk's clustering) asks for unit-length vectors and never sees tensors. [`MiniLm`] is the real
//! implementation (all-MiniLM-L6-v2 on candle); [`HashEmbedder`] is a deterministic stand-in for
//! unit tests that must not load a model. Locating the model on disk (or on the hub) lives in
//! [`locate`]. This module does not know about passages, indexes or questions.

pub mod batch;
pub mod cache;
mod cpu;
mod hash;
pub mod locate;
mod minilm;

pub use batch::Batching;
pub use cache::Cached;
pub use cpu::{Kernels, KERNELS_ENV};
pub use hash::HashEmbedder;
pub use locate::{locate_model, ModelFiles};
pub use minilm::{Backend, MiniLm};

pub use crate::config::Precision;

/// Errors from loading or running an embedding model.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("no embedding model found ({searched}); run `scripts/fetch-models.sh` to fetch all-MiniLM-L6-v2 into models/, or pass --model DIR")]
    ModelNotFound { searched: String },
    #[error("model file {path}: {message}")]
    ModelFile { path: String, message: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("inference: {0}")]
    Inference(#[from] candle_core::Error),
    #[error("hub download: {0}")]
    Hub(String),
    #[error("embedding worker: {0}")]
    Worker(String),
}

/// Text in, unit-length vectors out. Implementations are cheap to share (`Arc`) and thread-safe;
/// callers run them off the async runtime because a batch is CPU-bound work.
pub trait Embedder: Send + Sync {
    /// A stable identifier of the model (recorded in index manifests: vectors from different
    /// models must never be mixed).
    fn model_id(&self) -> &str;
    /// Vector length.
    fn dim(&self) -> usize;
    /// Embeds each text; the result has one L2-normalised vector per input, in input order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// Embeds one text.
    fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed(&[text])?.pop().unwrap_or_default())
    }
}

/// Dot product of two equal-length vectors (cosine for unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Sixteen independent partial sums. A plain `.sum()` is one serial chain of float adds
    // that the compiler may not reorder, so it never vectorises: scoring every passage of the
    // index for a question took ~9% of a loaded server's CPU that way.
    const LANES: usize = 16;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    for (ca, cb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for i in 0..LANES {
            acc[i] += ca[i] * cb[i];
        }
    }
    let tail: f32 = a[n / LANES * LANES..]
        .iter()
        .zip(&b[n / LANES * LANES..])
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// Scales `v` to unit length in place (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_agrees_with_the_plain_sum_at_every_length() {
        for n in [0, 1, 7, 15, 16, 17, 31, 384, 385] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - plain).abs() < 1e-4, "n = {n}");
        }
        // Unequal lengths: the common prefix, as `zip` did.
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[1.0, 1.0]), 3.0);
    }
}
