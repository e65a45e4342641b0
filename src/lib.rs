//! shopkeep: a self-hosted order-support answer service.
//!
//! The data flow, and where each step lives:
//!
//! ```text
//! kb/ (md, txt, html, pdf) ── kb::load_dir ── kb::chunk ──► Passages
//!                                                   │ embed::Embedder (MiniLM on candle)
//!                                                   ▼
//!                          index::build ──► generation dir (tantivy BM25 + vectors + manifest)
//!                                                   │ CURRENT swapped atomically
//!                                                   ▼
//! Question ── retrieve::Retriever (embed off the runtime, hybrid search, RRF) ──► Evidence
//!                                                   │
//! channels: http (axum: /v1/search, /healthz, /readyz) · cli (serve, reindex, search, bench)
//! ```
//!
//! - [`config`]: the one `Config` (defaults < shopkeep.toml < SHOPKEEP_* env < flags).
//! - [`embed`]: the `Embedder` seam, the candle MiniLM implementation, and model location.
//! - [`kb`]: reading documents and cutting them into passages.
//! - [`index`]: building, swapping and searching index generations.
//! - [`retrieve`]: a question's evidence, with the concurrency bound on model work.
//! - [`actions`]: guided returns, exchanges, cancellations and order changes: policy as
//!   configuration, flows across turns, idempotent execution with an action log.
//! - [`app`]: shared services built once; [`http`]: the HTTP channel; [`cli`]: the commands.

pub mod actions;
pub mod answer;
pub mod app;
pub mod assistant;
pub mod cli;
pub mod config;
pub mod embed;
pub mod http;
pub mod index;
pub mod journal;
pub mod kb;
pub mod orders;
pub mod retrieve;
pub mod understand;
pub mod verify;
pub mod eval;
