//! Heading-aware chunking. A passage never spans two sections, so its heading path is exact and
//! a citation can point at "Returns › Final sale" rather than at a whole page. Within a section,
//! blocks are packed up to [`MAX_TOKENS`]; a lone oversized block is split at sentence ends; a
//! short tail is folded into the passage before it so few passages fall under [`MIN_TOKENS`].
//!
//! Passage ids are `{doc}#{heading-slug}` plus `-{n}` for the n-th passage of a section (n > 0),
//! so they stay the same when other sections or other documents change. The content hash covers
//! exactly the text that is embedded, so an unchanged hash means the stored vector is still right.

use sha2::{Digest, Sha256};

use super::{formats::slug, Block, Document};

/// Bumped whenever chunking output changes for the same input: recorded in the index manifest so
/// that a chunker change forces a full rebuild.
pub const CHUNKER_VERSION: u32 = 2;
/// Target upper bound per passage, in estimated model tokens.
pub const MAX_TOKENS: usize = 250;
/// Passages shorter than this are merged into their neighbour in the same section when possible.
pub const MIN_TOKENS: usize = 100;

/// A retrievable unit of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    pub id: String,
    pub doc_id: String,
    pub title: String,
    pub url: Option<String>,
    /// Heading path inside the document, joined with " › " (empty for text before any heading).
    pub heading: String,
    pub text: String,
    pub topics: Vec<String>,
    pub product_id: Option<String>,
    /// Truncated sha256 of [`Passage::embedding_text`].
    pub hash: String,
}

impl Passage {
    /// What the embedder sees: the title and heading give a short passage its context
    /// ("Returns › Final sale: Items marked…").
    pub fn embedding_text(&self) -> String {
        embedding_text(&self.title, &self.heading, &self.text)
    }
}

fn embedding_text(title: &str, heading: &str, text: &str) -> String {
    if heading.is_empty() {
        format!("{title}: {text}")
    } else {
        format!("{title} › {heading}: {text}")
    }
}

/// Estimated WordPiece tokens: words plus punctuation, with long words counting extra (they split
/// into several pieces). Close enough to size passages without loading the tokenizer.
pub fn estimate_tokens(text: &str) -> usize {
    text.split_whitespace()
        .map(|w| {
            let alnum = w.chars().filter(|c| c.is_alphanumeric()).count();
            let punct = w.chars().count() - alnum;
            1 + punct + alnum / 9
        })
        .sum()
}

/// Cuts a document into passages.
pub fn chunk(doc: &Document) -> Vec<Passage> {
    // Group consecutive blocks by heading path: one group per section.
    let mut sections: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for Block { headings, text } in &doc.blocks {
        match sections.last_mut() {
            Some((h, texts)) if h == headings => texts.push(text.clone()),
            _ => sections.push((headings.clone(), vec![text.clone()])),
        }
    }

    let mut passages = Vec::new();
    for (headings, texts) in sections {
        let heading = headings.join(" › ");
        let base = if headings.is_empty() {
            format!("{}#intro", doc.id)
        } else {
            format!("{}#{}", doc.id, slug(&heading))
        };
        for (n, text) in pack(&texts).into_iter().enumerate() {
            let id = if n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let hash = hex::encode(
                &Sha256::digest(embedding_text(&doc.title, &heading, &text).as_bytes())[..8],
            );
            passages.push(Passage {
                id,
                doc_id: doc.id.clone(),
                title: doc.title.clone(),
                url: doc.url.clone(),
                heading: heading.clone(),
                text,
                topics: doc.topics.clone(),
                product_id: doc.product_id.clone(),
                hash,
            });
        }
    }
    // Two sections can share a heading path ("FAQ" twice): keep ids unique.
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for p in &mut passages {
        let count = seen.entry(p.id.clone()).or_insert(0);
        if *count > 0 {
            p.id = format!("{}~{}", p.id, count);
        }
        *count += 1;
    }
    passages
}

/// Packs a section's blocks into texts of at most MAX_TOKENS (estimated).
fn pack(blocks: &[String]) -> Vec<String> {
    // Split oversized blocks first so packing only ever deals with pieces that fit.
    let pieces: Vec<String> = blocks.iter().flat_map(|b| split_long(b)).collect();
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for piece in pieces {
        if !current.is_empty() && estimate_tokens(&current) + estimate_tokens(&piece) > MAX_TOKENS {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(&piece);
    }
    if !current.is_empty() {
        // Fold a short tail into the previous passage when the result stays reasonable.
        match out.last_mut() {
            Some(prev)
                if estimate_tokens(&current) < MIN_TOKENS / 2
                    && estimate_tokens(prev) + estimate_tokens(&current)
                        <= MAX_TOKENS + MIN_TOKENS / 2 =>
            {
                prev.push_str("\n\n");
                prev.push_str(&current);
            }
            _ => out.push(current),
        }
    }
    out
}

/// Splits a block larger than MAX_TOKENS at sentence (or line) ends, then at word boundaries if a
/// single sentence is still too long.
fn split_long(block: &str) -> Vec<String> {
    if estimate_tokens(block) <= MAX_TOKENS {
        return vec![block.to_string()];
    }
    let mut sentences = Vec::new();
    let mut start = 0;
    let bytes: Vec<(usize, char)> = block.char_indices().collect();
    for (i, &(pos, c)) in bytes.iter().enumerate() {
        let next_is_space = bytes.get(i + 1).is_none_or(|&(_, n)| n.is_whitespace());
        if c == '\n' || (matches!(c, '.' | '!' | '?') && next_is_space) {
            let end = pos + c.len_utf8();
            let s = block[start..end].trim();
            if !s.is_empty() {
                sentences.push(s.to_string());
            }
            start = end;
        }
    }
    if start < block.len() && !block[start..].trim().is_empty() {
        sentences.push(block[start..].trim().to_string());
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for s in sentences {
        for piece in split_words(&s) {
            if !current.is_empty()
                && estimate_tokens(&current) + estimate_tokens(&piece) > MAX_TOKENS
            {
                out.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&piece);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn split_words(sentence: &str) -> Vec<String> {
    if estimate_tokens(sentence) <= MAX_TOKENS {
        return vec![sentence.to_string()];
    }
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for w in sentence.split_whitespace() {
        current.push(w);
        if estimate_tokens(&current.join(" ")) >= MAX_TOKENS * 4 / 5 {
            out.push(current.join(" "));
            current.clear();
        }
    }
    if !current.is_empty() {
        out.push(current.join(" "));
    }
    out
}
