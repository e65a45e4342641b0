//! Readers for each supported file type. Each turns a file into a [`Document`]: metadata plus
//! [`Block`]s under their heading paths. Markdown is the native format; HTML is converted to
//! Markdown-like text first so that headings survive; text and PDF become paragraphs.

use std::path::Path;

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use sha2::{Digest, Sha256};

use super::{front_matter::FrontMatter, Block, Document, KbError};

/// The file types a knowledge base is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Markdown,
    Text,
    Html,
    Pdf,
}

impl DocKind {
    pub const ALL: [DocKind; 4] = [Self::Markdown, Self::Text, Self::Html, Self::Pdf];

    /// The kind a file extension names (any case); `None` for files that are not documents.
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(Self::Markdown),
            "txt" => Some(Self::Text),
            "html" | "htm" => Some(Self::Html),
            "pdf" => Some(Self::Pdf),
            _ => None,
        }
    }
}

/// Reads one file; `Ok(None)` for files that are not documents (unknown extensions, sidecars).
pub fn read(path: &Path, rel: &str) -> Result<Option<Document>, KbError> {
    let Some(kind) = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(DocKind::from_extension)
    else {
        return Ok(None);
    };
    let bytes = std::fs::read(path).map_err(|source| KbError::Io {
        path: rel.to_string(),
        source,
    })?;
    // A PDF's metadata lives in a `FILE.pdf.meta` sidecar (a PDF has no front matter).
    let pdf_meta = match kind {
        DocKind::Pdf => std::fs::read_to_string(path.with_extension("pdf.meta")).ok(),
        _ => None,
    };
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("document");
    parse(&bytes, kind, stem, rel, pdf_meta.as_deref()).map(Some)
}

/// One document from its bytes: what [`read`] does once the file (and a PDF's sidecar) is read.
/// `stem` names the document when its metadata gives no id or title; `rel` names it in errors.
pub fn parse(
    bytes: &[u8],
    kind: DocKind,
    stem: &str,
    rel: &str,
    pdf_meta: Option<&str>,
) -> Result<Document, KbError> {
    let hash = hex::encode(Sha256::digest(bytes));
    let fm_err = |message: String| KbError::FrontMatter {
        path: rel.to_string(),
        message,
    };
    let fmt_err = |message: String| KbError::Format {
        path: rel.to_string(),
        message,
    };

    let (fm, title_from_body, blocks) = match kind {
        DocKind::Markdown => {
            let text =
                String::from_utf8(bytes.to_vec()).map_err(|_| fmt_err("not valid UTF-8".into()))?;
            let (fm, body) = FrontMatter::split(&text).map_err(fm_err)?;
            let (title, blocks) = markdown_blocks(body);
            (fm, title, blocks)
        }
        DocKind::Text => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let (fm, body) = FrontMatter::split(&text).map_err(fm_err)?;
            (fm, None, paragraph_blocks(body))
        }
        DocKind::Html => {
            let html = String::from_utf8_lossy(bytes).into_owned();
            let fm = html_meta(&html);
            let cleaned = strip_elements(
                &html,
                &["script", "style", "nav", "header", "footer", "noscript"],
            );
            let text = html2text::from_read(cleaned.as_bytes(), 10_000)
                .map_err(|e| fmt_err(format!("html: {e}")))?;
            let (h1, blocks) = markdown_blocks(&text);
            (fm, h1, blocks)
        }
        DocKind::Pdf => {
            let fm = match pdf_meta {
                Some(meta) => {
                    let meta = if meta.trim_start().starts_with("---") {
                        meta.to_string()
                    } else {
                        format!("---\n{meta}\n---\n")
                    };
                    FrontMatter::split(&meta).map_err(fm_err)?.0
                }
                None => FrontMatter::default(),
            };
            // pdf-extract panics on some malformed files (`expect`s in its object lookups, found
            // by fuzz/fuzz_targets/kb_formats.rs): one bad file in the knowledge base must be
            // a skipped document with a reason, not a crashed reindex.
            if pdf_page_tree_loops(bytes) {
                return Err(fmt_err(
                    "pdf: its page tree loops (a page is its own ancestor)".into(),
                ));
            }
            let text = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes))
                .map_err(|_| fmt_err("pdf: the file is malformed (the PDF reader gave up)".into()))?
                .map_err(|e| fmt_err(format!("pdf: {e}")))?;
            (fm, None, paragraph_blocks(&text))
        }
    };

    let id = fm.id.clone().unwrap_or_else(|| slug(stem));
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(fmt_err(format!(
            "document id {id:?} must be letters, digits, '-' or '_'"
        )));
    }
    let blocks: Vec<Block> = blocks
        .into_iter()
        .filter(|b| !b.text.trim().is_empty())
        .collect();
    if blocks.is_empty() {
        return Err(fmt_err("no text found".into()));
    }
    Ok(Document {
        title: fm
            .title
            .clone()
            .or(title_from_body)
            .unwrap_or_else(|| stem.replace(['-', '_'], " ")),
        id,
        url: fm.url,
        topics: fm.topics,
        updated: fm.updated,
        product_id: fm.product_id,
        source: rel.to_string(),
        blocks,
        hash,
    })
}

/// Whether a page's `Parent` chain comes back on itself: pdf-extract follows it (looking up
/// inherited resources and the media box) without end. Found by fuzz/fuzz_targets/kb_formats.rs.
/// A file lopdf cannot read at all is left to pdf-extract, which reports it as an error.
fn pdf_page_tree_loops(bytes: &[u8]) -> bool {
    let Ok(doc) = lopdf::Document::load_mem(bytes) else {
        return false;
    };
    doc.get_pages().values().any(|&page| {
        let mut seen = std::collections::HashSet::from([page]);
        let mut id = page;
        while let Some(parent) = doc
            .get_dictionary(id)
            .ok()
            .and_then(|d| d.get(b"Parent").ok())
            .and_then(|p| p.as_reference().ok())
        {
            if !seen.insert(parent) {
                return true;
            }
            id = parent;
        }
        false
    })
}

/// Lower-case kebab form of a name: "Return Policy" → "return-policy".
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Markdown into blocks. The first H1 is the title (returned, not a heading of any block);
/// deeper headings form each block's heading path. Paragraphs, whole lists, tables and code
/// blocks are one block each.
pub fn markdown_blocks(md: &str) -> (Option<String>, Vec<Block>) {
    let mut title = None;
    let mut headings: Vec<(u8, String)> = Vec::new();
    let mut blocks = Vec::new();
    let mut buf = String::new();
    let mut heading: Option<(u8, String)> = None;
    let mut container_depth = 0usize; // lists, tables, block quotes: flush when the outermost ends
                                      // Tables: each body row is written as "Header: cell; Header: cell", so a row reads (and
                                      // embeds) as a statement ("Shipping method: Standard; Delivery time: 3–5 business days").
    let mut table_head: Vec<String> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut cell: Option<String> = None;

    let flush = |buf: &mut String, headings: &Vec<(u8, String)>, blocks: &mut Vec<Block>| {
        let text = buf.trim().to_string();
        if !text.is_empty() {
            blocks.push(Block {
                headings: headings.iter().map(|(_, h)| h.clone()).collect(),
                text,
            });
        }
        buf.clear();
    };

    for event in Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                flush(&mut buf, &headings, &mut blocks);
                heading = Some((level_num(level), String::new()));
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text)) = heading.take() {
                    let text = text.trim().to_string();
                    if level == 1 && title.is_none() {
                        title = Some(text);
                    } else {
                        headings.retain(|(l, _)| *l < level);
                        headings.push((level, text));
                    }
                }
            }
            Event::Text(t) | Event::Code(t) => match (heading.as_mut(), cell.as_mut()) {
                (Some((_, h)), _) => h.push_str(&t),
                (None, Some(c)) => c.push_str(&t),
                (None, None) => buf.push_str(&t),
            },
            Event::SoftBreak => buf.push(' '),
            Event::HardBreak => buf.push('\n'),
            Event::Start(Tag::List(_) | Tag::Table(_) | Tag::BlockQuote(_)) => {
                if container_depth == 0 {
                    flush(&mut buf, &headings, &mut blocks);
                }
                container_depth += 1;
            }
            Event::End(TagEnd::List(_) | TagEnd::BlockQuote(_)) => {
                container_depth = container_depth.saturating_sub(1);
                if container_depth == 0 {
                    flush(&mut buf, &headings, &mut blocks);
                }
            }
            Event::Start(Tag::Item) => {
                if !buf.is_empty() && !buf.ends_with('\n') {
                    buf.push('\n');
                }
                buf.push_str("- ");
            }
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                row.push(cell.take().unwrap_or_default().trim().to_string())
            }
            Event::End(TagEnd::TableHead) => table_head = std::mem::take(&mut row),
            Event::End(TagEnd::TableRow) => {
                let cells = std::mem::take(&mut row);
                let line = if table_head.len() == cells.len() {
                    table_head
                        .iter()
                        .zip(&cells)
                        .filter(|(_, c)| !c.is_empty())
                        .map(|(h, c)| format!("{h}: {c}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                } else {
                    cells.join("; ")
                };
                if !buf.is_empty() && !buf.ends_with('\n') {
                    buf.push('\n');
                }
                buf.push_str(&line);
                buf.push('\n');
            }
            Event::End(TagEnd::Table) => {
                table_head.clear();
                container_depth = container_depth.saturating_sub(1);
                if container_depth == 0 {
                    flush(&mut buf, &headings, &mut blocks);
                }
            }
            Event::End(TagEnd::Paragraph) => {
                if container_depth == 0 {
                    flush(&mut buf, &headings, &mut blocks);
                } else {
                    buf.push(' ');
                }
            }
            Event::End(TagEnd::CodeBlock) => flush(&mut buf, &headings, &mut blocks),
            _ => {}
        }
    }
    flush(&mut buf, &headings, &mut blocks);
    (title, blocks)
}

fn level_num(l: HeadingLevel) -> u8 {
    match l {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Plain text into paragraph blocks (split on blank lines; lines joined with spaces).
pub fn paragraph_blocks(text: &str) -> Vec<Block> {
    text.split("\n\n")
        .map(|p| {
            p.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|p| !p.is_empty())
        .map(|text| Block {
            headings: Vec::new(),
            text,
        })
        .collect()
}

/// Metadata from an HTML page: `<title>` and `<meta name="id|url|topics|updated|title" content>`.
fn html_meta(html: &str) -> FrontMatter {
    let mut fm = FrontMatter::default();
    let lower = html.to_ascii_lowercase();
    if let (Some(s), Some(e)) = (lower.find("<title>"), lower.find("</title>")) {
        if s + 7 <= e {
            fm.title = Some(decode_entities(html[s + 7..e].trim()));
        }
    }
    let mut at = 0;
    while let Some(i) = lower[at..].find("<meta") {
        let start = at + i;
        let end = lower[start..]
            .find('>')
            .map(|e| start + e)
            .unwrap_or(lower.len());
        let tag = &html[start..end];
        if let (Some(name), Some(content)) = (attr(tag, "name"), attr(tag, "content")) {
            let content = decode_entities(&content);
            match name.to_ascii_lowercase().as_str() {
                "id" => fm.id = Some(content),
                "url" => fm.url = Some(content),
                "updated" => fm.updated = Some(content),
                "title" => fm.title = Some(content),
                "topics" | "keywords" => fm.topics = super::front_matter::parse_list(&content),
                "product_id" => fm.product_id = Some(content),
                _ => {}
            }
        }
        at = end;
    }
    fm
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let pos = from + i;
        let before_ok = pos == 0 || lower.as_bytes()[pos - 1].is_ascii_whitespace();
        let rest = lower[pos + name.len()..].trim_start();
        if before_ok && rest.starts_with('=') {
            let offset = tag.len() - rest.len() + 1;
            let value = tag[offset..].trim_start();
            let quote = value.chars().next()?;
            if quote == '"' || quote == '\'' {
                let inner = &value[1..];
                return inner.find(quote).map(|e| inner[..e].to_string());
            }
            return Some(
                value
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_end_matches('/')
                    .to_string(),
            );
        }
        from = pos + name.len();
    }
    None
}

fn decode_entities(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

/// Removes `<tag …>…</tag>` elements whose content is not page text (scripts, navigation).
fn strip_elements(html: &str, tags: &[&str]) -> String {
    let mut out = html.to_string();
    for tag in tags {
        loop {
            let lower = out.to_ascii_lowercase();
            let open = format!("<{tag}");
            let Some(s) = lower.find(&open).filter(|&s| {
                lower[s + open.len()..].starts_with(|c: char| c == '>' || c.is_ascii_whitespace())
            }) else {
                break;
            };
            let close = format!("</{tag}>");
            let e = lower[s..]
                .find(&close)
                .map(|e| s + e + close.len())
                .unwrap_or(out.len());
            out.replace_range(s..e, " ");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pdf_whose_page_tree_loops_is_a_format_error_not_a_hang() {
        // Found by fuzz/fuzz_targets/kb_formats.rs: pdf-extract followed the page's Parent
        // chain round its loop for good.
        let bytes = include_bytes!("../../tests/fixtures/kb/looping-pages.pdf");
        let err = parse(bytes, DocKind::Pdf, "gift-cards", "gift-cards.pdf", None).unwrap_err();
        assert!(
            matches!(&err, KbError::Format { message, .. } if message.contains("loops")),
            "{err}"
        );
    }

    #[test]
    fn a_pdf_the_reader_panics_on_is_a_format_error() {
        // Found by fuzz/fuzz_targets/kb_formats.rs: pdf-extract `expect`s a name where this
        // file has none.
        let bytes = include_bytes!("../../tests/fixtures/kb/malformed.pdf");
        let err = parse(bytes, DocKind::Pdf, "gift-cards", "gift-cards.pdf", None).unwrap_err();
        assert!(
            matches!(&err, KbError::Format { message, .. } if message.contains("malformed")),
            "{err}"
        );
    }

    use super::*;

    #[test]
    fn markdown_headings_become_paths_and_lists_stay_whole() {
        let md = "# Returns\nIntro text.\n\n## Window\nThirty days.\n\n### Exceptions\n- Final sale\n- Gift cards\n\n## How\nStart online.";
        let (title, blocks) = markdown_blocks(md);
        assert_eq!(title.as_deref(), Some("Returns"));
        assert_eq!(
            blocks[0],
            Block {
                headings: vec![],
                text: "Intro text.".into()
            }
        );
        assert_eq!(blocks[1].headings, vec!["Window"]);
        assert_eq!(
            blocks[2],
            Block {
                headings: vec!["Window".into(), "Exceptions".into()],
                text: "- Final sale\n- Gift cards".into()
            }
        );
        assert_eq!(blocks[3].headings, vec!["How"]);
    }

    #[test]
    fn table_rows_become_labelled_statements() {
        let (_, blocks) =
            markdown_blocks("| Method | Days |\n|---|---|\n| Standard | 3–5 |\n| Express | 2 |\n");
        assert_eq!(
            blocks[0].text,
            "Method: Standard; Days: 3–5\nMethod: Express; Days: 2"
        );
    }

    #[test]
    fn html_meta_and_script_stripping() {
        let html = r#"<html><head><title>Candles</title><meta name="id" content="candle-safety"><meta name="topics" content="product_question, safety"></head>
            <body><nav>Home | Shop</nav><script>var x = "secret";</script><h1>Candle safety</h1><h2>Burning</h2><p>Trim the wick.</p></body></html>"#;
        let fm = html_meta(html);
        assert_eq!(fm.id.as_deref(), Some("candle-safety"));
        assert_eq!(fm.topics, vec!["product_question", "safety"]);
        let cleaned = strip_elements(html, &["script", "nav"]);
        assert!(!cleaned.contains("secret") && !cleaned.contains("Home | Shop"));
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Return Policy (US)"), "return-policy-us");
    }
}
