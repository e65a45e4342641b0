//! shopkeep: a self-hosted order-support answer service.
//!
//! The data flow, and where each step lives:
//!
//! ```text
//! kb/ (md, txt, html, pdf) ── kb::load_dir ── kb::chunk ──► Passages ◄── orders (product pages)
//!                                                   │ embed::Embedder (MiniLM on candle)
//!                                                   ▼
//!                          index::build ──► generation dir (tantivy BM25 + vectors + manifest)
//!                                                   │ CURRENT swapped atomically
//!                                                   ▼
//! Question (http /v1/answer · chat widget · email · cli ask)
//!   └─► assistant::Assistant::handle
//!         ├─ understand   intent + confidence, entities, several requests, sensitive topics
//!         ├─ verify       identity before any order data (order + email/postcode, token)
//!         ├─ platform     where orders live: re-read from a store platform (Medusa) into
//!         │               the order store before a turn looks at them
//!         ├─ orders       the OrderStore (SQLite): orders, fulfilments, products, stock
//!         ├─ retrieve     Evidence: hybrid search (BM25 + dense, RRF) on the current generation
//!         ├─ answer       gate (answer or hand off), compose (templates + quoted passages)
//!         └─ journal      conversations, turns, gate decisions, hand-off packets: the exchange
//!                         goes in the database's next group commit (storage), answered after it
//!   ◄── Answer { reply, citations, order, actions, handoff, with_person, awaiting_confirmation }
//!
//! the desk (pages /admin/…, JSON /v1/admin/… and /v1/handoffs/…; http::admin)
//!   ├─ desk::accounts   who: users (argon2id), sessions + CSRF, API tokens, roles, login limit
//!   ├─ desk             the queue: claim → resolve; the conversation record; metrics; undo
//!   └─ a person's reply ── desk::reply ── journal (agent turn)
//!        └─► journal::live ──► the customer's widget (SSE /v1/conversations/{id}/events)
//!   └─► email::Email::send_agent_reply ──► the customer's mailbox, in their thread
//!
//! unanswered questions (weak grounding, repeated failure, low-confidence answers)
//!   └─► learn::record ── clusters by embedding, online ── + the person's reply (desk::reply)
//!         └─► /admin/suggestions: an admin edits and approves the draft
//!               └─► kb/<slug>.md ── index::add_documents (new passages only) ── refresh
//!
//! mail (IMAP poll/IDLE · POST /v1/email/inbound · shopkeep email ingest; TLS in email::tls)
//!   └─► email::parse ── strip ── loop check ── thread (journal::email: Message-ID → conversation)
//!         └─► Assistant::handle (channel "email"; the From as the customer's email unless the
//!             store's server's Authentication-Results fail) ──► reply by SMTP (email::send),
//!             threaded; what the server cannot take now ──► email::outbox (retried for hours);
//!             a hand-off's packet, and later mail while it is with a person ──► the helpdesk
//! ```
//!
//! Everything kept lives in one SQLite file owned by [`storage::Database`] (one writer, pooled
//! readers, the group commit, the ordered migrations); the journal, the order store and the
//! desk's accounts are repositories over it and open no connection of their own.
//!
//! Model work runs off the async runtime: requests share one worker that embeds concurrent
//! questions together (`embed::batch`) behind a cache of repeat questions (`embed::cache`).
//!
//! - [`config`]: the one `Config` (defaults < shopkeep.toml < SHOPKEEP_* env < flags).
//! - [`embed`]: the `Embedder` seam, the candle MiniLM implementation, batching, the cache,
//!   and model location.
//! - [`kb`]: reading documents and cutting them into passages.
//! - [`index`]: building, swapping and searching index generations.
//! - [`retrieve`]: a question's evidence, with the concurrency bound on model work.
//! - [`understand`]: what the customer wants; [`verify`]: who is asking.
//! - [`orders`]: the order store, importers and the demo store.
//! - [`platform`]: where the store's orders live and who carries out changes: the embedded
//!   order store, or a Medusa 2.x store through its Admin API (reads re-read each turn; a
//!   confirmed change executed by the platform, its refusal told in plain words, an operation it
//!   cannot do by API prepared as a staff task).
//! - [`answer`]: the confidence gate, reply composition, citations and hand-off reasons.
//! - [`assistant`]: one turn of a conversation, end to end; [`journal`]: its record, and
//!   [`journal::live`]: turns pushed to open chat widgets.
//! - [`desk`]: the team's side: the hand-off queue (claim, reply, resolve), the conversation
//!   record, metrics and an admin's undo; [`desk::accounts`]: the people and their access.
//! - [`learn`]: the knowledge base that grows: unanswered questions clustered, drafted into
//!   suggested articles, and an admin's approved article written to kb/ and indexed at once.
//! - [`privacy`]: masking personal data in log views, retention purges, erasing a customer.
//! - [`money`]: amounts in the store's currency, as every reply, plan and page writes them.
//! - [`retry`]: the backoff and attempt outcomes the outboxes (webhook, email) share.
//! - [`webhook`]: every hand-off POSTed to the store's helpdesk, HMAC-signed, with retries.
//! - [`email`]: the email channel: mail in (IMAP, webhook, file), parsed, stripped, threaded,
//!   answered and replied to by SMTP; loops refused.
//! - [`eval`]: the development-set evaluations behind `shopkeep eval`.
//! - [`actions`]: guided returns, exchanges, cancellations and order changes: policy as
//!   configuration, flows across turns, idempotent execution with an action log.
//! - [`storage`]: the database: connections, group commit, the schema and its migrations.
//! - [`app`]: shared services built once; [`http`]: the HTTP channel (its connections bounded
//!   and timed out in [`http::conn`]); [`cli`]: the commands.

pub mod actions;
pub mod answer;
pub mod app;
pub mod assistant;
pub mod cli;
pub mod config;
pub mod desk;
pub mod email;
pub mod embed;
pub mod eval;
pub mod http;
pub mod index;
pub mod journal;
pub mod kb;
pub mod learn;
pub mod money;
pub mod orders;
pub mod platform;
pub mod privacy;
pub mod retrieve;
pub mod retry;
pub mod storage;
pub mod understand;
pub mod verify;
pub mod webhook;
