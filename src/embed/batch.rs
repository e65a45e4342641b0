//! Dynamic batching: many callers, one model worker.
//!
//! Under load, questions arrive one per request. Embedding each alone streams every weight
//! matrix through the cache once per question; embedding the questions that are waiting together
//! streams them once per batch, and the packed forward pass spends no work on padding. So every
//! call goes into a queue, and a single worker thread takes *everything queued* (up to
//! `max_texts`) as one batch. There is no timer: an idle worker runs a lone question at once (no
//! added latency), a busy one collects what arrived while it worked, and embeds each distinct text
//! of the batch once. This module does not cache
//! (see [`super::cache`]) and does not bound how many callers wait (the retriever's semaphore and
//! the server's load shedding do).

use std::{
    collections::HashMap,
    sync::{mpsc, Arc, Mutex},
    thread,
};

use super::{EmbedError, Embedder};

struct Job {
    texts: Vec<String>,
    reply: mpsc::SyncSender<Result<Vec<Vec<f32>>, String>>,
}

/// An [`Embedder`] that coalesces concurrent calls into batches for an inner embedder.
pub struct Batching {
    model_id: String,
    dim: usize,
    // A `Mutex` only because `Sender` must be shared by `&self` callers on any thread; sending
    // is a pointer push, so the lock is held for nanoseconds.
    queue: Mutex<mpsc::Sender<Job>>,
}

impl Batching {
    /// Starts the worker thread. It ends when the `Batching` is dropped.
    pub fn new(inner: Arc<dyn Embedder>, max_texts: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let (model_id, dim) = (inner.model_id().to_string(), inner.dim());
        let max_texts = max_texts.max(1);
        thread::Builder::new()
            .name("shopkeep-embed".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut jobs = vec![first];
                    let mut count = jobs[0].texts.len();
                    while count < max_texts {
                        match rx.try_recv() {
                            Ok(job) => {
                                count += job.texts.len();
                                jobs.push(job);
                            }
                            Err(_) => break,
                        }
                    }
                    // A burst of one question (before the cache has it: a sale, an outage) puts
                    // the same text in many jobs; it is embedded once and shared.
                    let mut unique: Vec<&str> = Vec::new();
                    let mut slot_of: HashMap<&str, usize> = HashMap::new();
                    let slots: Vec<usize> = jobs
                        .iter()
                        .flat_map(|j| j.texts.iter().map(String::as_str))
                        .map(|t| {
                            *slot_of.entry(t).or_insert_with(|| {
                                unique.push(t);
                                unique.len() - 1
                            })
                        })
                        .collect();
                    match inner.embed(&unique) {
                        Ok(vectors) => {
                            let mut slots = slots.into_iter();
                            for job in jobs {
                                let mine: Vec<Vec<f32>> = slots
                                    .by_ref()
                                    .take(job.texts.len())
                                    .map(|s| vectors[s].clone())
                                    .collect();
                                // A caller that gave up (timed-out request) is not an error.
                                let _ = job.reply.send(Ok(mine));
                            }
                        }
                        Err(e) => {
                            let message = e.to_string();
                            for job in jobs {
                                let _ = job.reply.send(Err(message.clone()));
                            }
                        }
                    }
                }
            })
            .expect("spawning the embedding worker thread");
        Self {
            model_id,
            dim,
            queue: Mutex::new(tx),
        }
    }
}

impl Embedder for Batching {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job {
            texts: texts.iter().map(|t| t.to_string()).collect(),
            reply,
        };
        {
            let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue
                .send(job)
                .map_err(|_| EmbedError::Worker("embedding worker stopped".into()))?;
        }
        answer
            .recv()
            .map_err(|_| EmbedError::Worker("embedding worker stopped".into()))?
            .map_err(EmbedError::Worker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::HashEmbedder;

    /// Counts the texts it embeds; its first call is slow, so later callers queue up behind it.
    struct Counting {
        inner: HashEmbedder,
        texts: std::sync::atomic::AtomicUsize,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl Embedder for Counting {
        fn model_id(&self) -> &str {
            "counting"
        }
        fn dim(&self) -> usize {
            self.inner.dim()
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            use std::sync::atomic::Ordering::SeqCst;
            if self.calls.fetch_add(1, SeqCst) == 0 {
                thread::sleep(std::time::Duration::from_millis(300));
            }
            self.texts.fetch_add(texts.len(), SeqCst);
            self.inner.embed(texts)
        }
    }

    #[test]
    fn a_burst_of_the_same_question_is_embedded_once_per_batch() {
        let counting = Arc::new(Counting {
            inner: HashEmbedder::new(64),
            texts: 0.into(),
            calls: 0.into(),
        });
        let batching = Arc::new(Batching::new(counting.clone(), 64));
        let expected = HashEmbedder::new(64)
            .embed(&["where is my order?"])
            .unwrap();
        let callers: Vec<_> = (0..16)
            .map(|_| {
                let b = batching.clone();
                thread::spawn(move || b.embed(&["where is my order?"]).unwrap())
            })
            .collect();
        for c in callers {
            assert_eq!(c.join().unwrap(), expected, "every caller gets the vector");
        }
        // Each batch embedded the text once, however the sixteen calls fell into batches; and the
        // callers that queued behind the slow first batch shared one. (Typically two batches: the
        // first caller's and the fifteen that waited. Not asserted exactly: on a loaded machine a
        // thread may only start after the second batch has begun, which is still correct.)
        use std::sync::atomic::Ordering::SeqCst;
        let (texts, calls) = (counting.texts.load(SeqCst), counting.calls.load(SeqCst));
        assert_eq!(texts, calls, "one text embedded per batch");
        assert!(
            calls < 16,
            "callers that waited were batched together ({calls} batches for 16 calls)"
        );
    }

    #[test]
    fn concurrent_callers_each_get_their_own_vectors_in_order() {
        let inner: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(64));
        let batching = Arc::new(Batching::new(inner.clone(), 16));
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (b, inner) = (batching.clone(), inner.clone());
                thread::spawn(move || {
                    for i in 0..20 {
                        let texts = [format!("question {t} {i}"), format!("another {t} {i}")];
                        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                        assert_eq!(b.embed(&refs).unwrap(), inner.embed(&refs).unwrap());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
