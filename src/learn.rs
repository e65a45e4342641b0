//! Step: learn from what could not be answered. The knowledge base grows from the questions the
//! assistant handed off for weak grounding (or after failing twice), or answered with low
//! confidence:
//!
//! ```text
//! Assistant::handle ── a gap ──► learn::record ── nearest cluster centre ≥ learn.similarity?
//!                                                   ├─ yes: join it (its centre moves)
//!                                                   └─ no:  a new cluster
//! desk::reply (a person answers the hand-off) ──► learn::attach_reply (the gap's human reply)
//! the desk (/admin/suggestions) ── a cluster with ≥ learn.min_questions questions:
//!     its questions, the replies they got, and a draft article (the most central question as
//!     the title, the replies as the body, personal data masked)
//!   ── an admin edits and approves ──► learn::approve
//!        ├─ kb_dir/<slug>.md (front matter + Markdown, written atomically, never overwriting)
//!        ├─ index::add_documents (only the new passages are embedded; a new generation)
//!        └─ IndexHandle::refresh: the next such question is answered from it, with a citation
//! ```
//!
//! Clustering is online (leader clustering on the running centre): each question is compared
//! with every cluster's centre once, when it arrives, so nothing is recomputed as the log grows.
//! This module does not decide whether a question is answered; the gate does, and the assistant
//! tells this step when it was not. It never publishes anything by itself: only an admin's
//! approval writes to the knowledge base.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use serde::Serialize;

use crate::{
    config::LearnConfig,
    desk::accounts::{AccountError, Role, Staff},
    embed::{dot, normalize, Embedder},
    index::{IndexError, IndexHandle},
    journal::{Centroid, ClusterRecord, GapRecord, Journal, JournalError},
    kb::KbError,
};

/// Longest title and body an approved article may have.
pub const MAX_TITLE_CHARS: usize = 150;
pub const MAX_BODY_CHARS: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("no suggestion {0}")]
    NotFound(i64),
    #[error("suggestion {id} is already {status}")]
    Decided { id: i64, status: String },
    #[error("the article needs a title of 1–{MAX_TITLE_CHARS} characters on one line")]
    BadTitle,
    #[error("the article needs a body of 1–{MAX_BODY_CHARS} characters")]
    BadBody,
    #[error("the knowledge base already has {0}; choose another title")]
    ArticleExists(String),
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Access(#[from] AccountError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Kb(#[from] KbError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl LearnError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "suggestion_not_found",
            Self::Decided { .. } => "suggestion_decided",
            Self::BadTitle | Self::BadBody => "invalid_article",
            Self::ArticleExists(_) | Self::Index(IndexError::DocumentExists(_)) => "article_exists",
            Self::Index(IndexError::Locked(_)) => "index_busy",
            Self::Access(e) => e.code(),
            Self::Io { .. } | Self::Kb(_) => "kb_write_failed",
            Self::Index(_) => "index_failed",
            Self::Journal(_) => "journal_failed",
        }
    }
}

/// A question the assistant could not answer well, as the assistant reports it: the journal's
/// record of one (its `vector` is the question's embedding; `record` normalises it).
pub use crate::journal::NewGap as Gap;

/// Remembers `gap` in the cluster of its nearest centre, or a new one. Returns the cluster id.
pub fn record(journal: &Journal, cfg: &LearnConfig, gap: &Gap<'_>) -> Result<i64, LearnError> {
    let vector = unit(gap.vector);
    let gap = Gap {
        vector: &vector,
        ..gap.clone()
    };
    Ok(journal.record_gap(&gap, |centroids| {
        nearest(centroids, &vector, cfg.similarity)
    })?)
}

/// The cluster whose centre is closest to `v`, when at least `threshold` close.
fn nearest(centroids: &[Centroid], v: &[f32], threshold: f32) -> Option<i64> {
    centroids
        .iter()
        .filter(|c| c.members > 0 && c.sum.len() == v.len())
        .map(|c| (c.cluster_id, dot(&unit(&c.sum), v)))
        .filter(|(_, s)| *s >= threshold)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(id, _)| id)
}

/// `v` scaled to unit length: cosines are then dot products.
fn unit(v: &[f32]) -> Vec<f32> {
    let mut u = v.to_vec();
    normalize(&mut u);
    u
}

/// Notes a person's reply to a handed-off conversation against its latest gap.
pub fn attach_reply(
    journal: &Journal,
    conversation_id: &str,
    reply: &str,
    by: &str,
) -> Result<bool, LearnError> {
    Ok(journal.attach_gap_reply(conversation_id, reply, by)?)
}

/// Suggestions with `status` (`open`, `approved`, `dismissed`; any when `None`). Open ones are
/// listed once they have `learn.min_questions` questions.
pub fn suggestions(
    journal: &Journal,
    cfg: &LearnConfig,
    status: Option<&str>,
) -> Result<Vec<ClusterRecord>, LearnError> {
    let min = if status == Some("open") {
        cfg.min_questions.max(1) as i64
    } else {
        1
    };
    Ok(journal.gap_clusters(status, min)?)
}

/// A suggested article: a cluster with its questions, the replies they got, and a draft.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    pub cluster: ClusterRecord,
    /// Most central first.
    pub questions: Vec<GapRecord>,
    pub draft: Draft,
}

/// What the desk offers to approve, to be edited first.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Draft {
    pub title: String,
    /// Markdown, without the title heading.
    pub body: String,
}

/// One suggestion, its questions ordered by closeness to the cluster's centre.
pub fn suggestion(journal: &Journal, id: i64) -> Result<Suggestion, LearnError> {
    let (cluster, mut questions) = journal.gap_cluster(id)?.ok_or(LearnError::NotFound(id))?;
    let centre = unit(&cluster.centroid);
    // Stored question vectors are unit length (`record` normalises them).
    questions.sort_by(|a, b| dot(&b.vector, &centre).total_cmp(&dot(&a.vector, &centre)));
    let draft = draft(&questions);
    Ok(Suggestion {
        cluster,
        questions,
        draft,
    })
}

/// The draft article of a cluster whose questions are ordered most central first. The title is
/// the most central question that carries no personal details (digits or an address suggest an
/// order number or an email); the body is what people replied, greetings and sign-offs left
/// out, repeated replies once. Everything is masked: an article is read by every customer.
pub fn draft(questions: &[GapRecord]) -> Draft {
    let title_source = questions
        .iter()
        .find(|q| !q.question.chars().any(|c| c.is_ascii_digit() || c == '@'))
        .or(questions.first())
        .map(|q| q.question.as_str())
        .unwrap_or("");
    let title = crate::privacy::mask(&as_title(title_source));
    let mut replies: Vec<String> = Vec::new();
    for q in questions {
        if let Some(r) = &q.reply {
            let r = crate::privacy::mask(&without_salutations(r));
            if !r.is_empty() && !replies.contains(&r) {
                replies.push(r);
            }
        }
    }
    Draft {
        title,
        body: replies.join("\n\n"),
    }
}

/// A customer's question as an article title: one line, trimmed, capitalised, at most
/// [`MAX_TITLE_CHARS`].
fn as_title(q: &str) -> String {
    let line: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = line.chars();
    let title: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    title.chars().take(MAX_TITLE_CHARS).collect()
}

/// A person's reply without its greeting line ("Hi Sam,") and sign-off ("Thanks, Priya").
fn without_salutations(reply: &str) -> String {
    let mut lines: Vec<&str> = reply.lines().map(str::trim_end).collect();
    let is_greeting = |l: &str| {
        let w = l.trim().to_lowercase();
        (w.starts_with("hi")
            || w.starts_with("hello")
            || w.starts_with("hey")
            || w.starts_with("dear"))
            && w.len() < 40
            && (w.ends_with(',')
                || w.ends_with('!')
                || !w.contains(' ')
                || w.split_whitespace().count() <= 3)
    };
    let is_sign_off = |l: &str| {
        let w = l.trim().to_lowercase();
        let w = w.trim_end_matches([',', '!', '.']);
        matches!(
            w,
            "thanks"
                | "thank you"
                | "best"
                | "best wishes"
                | "kind regards"
                | "regards"
                | "cheers"
                | "all the best"
                | "many thanks"
        ) || (l.trim().starts_with('—') || l.trim().starts_with("--")) && l.len() < 60
    };
    while lines
        .first()
        .is_some_and(|l| l.trim().is_empty() || is_greeting(l))
    {
        lines.remove(0);
    }
    // Sign-offs are the last lines: drop from the first sign-off line on, when what follows is
    // short (a name).
    if let Some(i) = lines.iter().position(|l| is_sign_off(l)) {
        if lines[i..].iter().map(|l| l.len()).sum::<usize>() < 120 {
            lines.truncate(i);
        }
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines.join("\n").trim().to_string()
}

/// An approved article, as written and indexed.
#[derive(Debug, Clone, Serialize)]
pub struct Article {
    pub suggestion: i64,
    /// The document id (and file name stem).
    pub id: String,
    /// The file, relative to the knowledge base.
    pub path: String,
    pub title: String,
    /// Passages the article was cut into and indexed as.
    pub passages: usize,
    /// The index generation that has it.
    pub generation: String,
}

/// Where an approval writes and indexes.
pub struct Publish<'a> {
    pub kb_dir: &'a Path,
    pub index: &'a IndexHandle,
    pub embedder: &'a dyn Embedder,
}

/// An admin approves suggestion `id` with their edited `title` and `body`: the article is
/// written into the knowledge base as Markdown, added to the index, and the index swapped, so
/// the next customer who asks is answered from it. A failure to index removes the file again:
/// the knowledge base and the index never disagree about an approval.
pub fn approve(
    journal: &Journal,
    publish: &Publish<'_>,
    staff: &Staff,
    id: i64,
    title: &str,
    body: &str,
) -> Result<Article, LearnError> {
    staff.require(Role::Admin)?;
    let title = title.trim();
    let body = body.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS || title.contains(['\n', '\r']) {
        return Err(LearnError::BadTitle);
    }
    if body.is_empty() || body.chars().count() > MAX_BODY_CHARS {
        return Err(LearnError::BadBody);
    }
    let (cluster, questions) = journal.gap_cluster(id)?.ok_or(LearnError::NotFound(id))?;
    if cluster.status != "open" {
        return Err(LearnError::Decided {
            id,
            status: cluster.status,
        });
    }
    let slug = slug(title, id);
    let rel = format!("{slug}.md");
    let path = publish.kb_dir.join(&rel);
    let topics: Vec<String> = {
        let mut t: Vec<String> = questions
            .iter()
            .filter_map(|q| q.intent.clone())
            .filter(|i| i != "out_of_scope")
            .collect();
        t.sort();
        t.dedup();
        t
    };
    let today = time::OffsetDateTime::now_utc().date();
    let text = format!(
        "---\nid: {slug}\ntitle: {}\ntopics: [{}]\nupdated: {today}\n---\n# {title}\n\n{body}\n",
        front_matter_value(title),
        topics.join(", "),
    );
    write_new(&path, text.as_bytes())?;
    let indexed = (|| -> Result<_, LearnError> {
        let doc = crate::kb::read_document(&path, &rel)?;
        let summary =
            crate::index::add_documents(publish.index.root(), vec![doc], publish.embedder)?;
        publish.index.refresh()?;
        Ok(summary)
    })();
    let summary = match indexed {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    if !journal.decide_gap_cluster(id, "approved", &staff.email, Some((&slug, &rel)))? {
        // Someone decided in between; the article stands (it is in the index now) and the
        // cluster keeps their decision.
        tracing::warn!(
            suggestion = id,
            "suggestion was decided while its article was being published"
        );
    }
    Ok(Article {
        suggestion: id,
        id: slug,
        path: rel,
        title: title.to_string(),
        passages: summary.embedded,
        generation: summary.generation,
    })
}

/// An admin dismisses suggestion `id`: not something the knowledge base should answer. Its
/// cluster stays, so later rewordings of the question join it instead of suggesting it again.
pub fn dismiss(journal: &Journal, staff: &Staff, id: i64) -> Result<(), LearnError> {
    staff.require(Role::Admin)?;
    let (cluster, _) = journal.gap_cluster(id)?.ok_or(LearnError::NotFound(id))?;
    if !journal.decide_gap_cluster(id, "dismissed", &staff.email, None)? {
        return Err(LearnError::Decided {
            id,
            status: cluster.status,
        });
    }
    Ok(())
}

/// A file name from a title: lower-case ASCII words joined by `-`, at most 60 characters;
/// `suggestion-<id>` when the title has no such words.
pub fn slug(title: &str, id: i64) -> String {
    let mut s = String::new();
    for word in title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if s.len() + word.len() + 1 > 60 {
            break;
        }
        if !s.is_empty() {
            s.push('-');
        }
        s.push_str(&word.to_ascii_lowercase());
    }
    if s.is_empty() {
        format!("suggestion-{id}")
    } else {
        s
    }
}

/// A title as a front matter value: quoted when it would otherwise lose its quotes or look like
/// a list (the front matter reader strips one pair of quotes).
fn front_matter_value(title: &str) -> String {
    if title.starts_with(['"', '\'', '[']) || title.ends_with(['"', '\'']) {
        format!("\"{title}\"")
    } else {
        title.to_string()
    }
}

/// Writes `bytes` to `path`, which must not exist yet: first to a hidden temporary file beside it
/// (the knowledge base loader skips hidden files), then linked into place, which fails if the
/// name was taken meanwhile. A reader never sees a half-written article.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), LearnError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| LearnError::Io { path, source }
    };
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if path.exists() {
        return Err(LearnError::ArticleExists(name));
    }
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let written = f.write_all(bytes).and_then(|_| f.sync_all());
    drop(f);
    let placed = written.and_then(|_| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match placed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(LearnError::ArticleExists(name))
        }
        Err(e) => Err(io(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(j: &Journal, cfg: &LearnConfig, conversation: &str, question: &str, v: &[f32]) -> i64 {
        if j.conversation(conversation).unwrap().is_none() {
            j.create(conversation, "api").unwrap();
        }
        record(
            j,
            cfg,
            &Gap {
                conversation_id: conversation,
                question,
                reason: "weak_grounding",
                intent: Some("place_order"),
                vector: v,
            },
        )
        .unwrap()
    }

    #[test]
    fn close_questions_share_a_cluster_and_distant_ones_start_their_own() {
        let j = Journal::open_in_memory().unwrap();
        let cfg = LearnConfig::default();
        let a = gap(
            &j,
            &cfg,
            "c_1",
            "Do you offer gift wrapping?",
            &[1.0, 0.0, 0.0],
        );
        let b = gap(
            &j,
            &cfg,
            "c_2",
            "Can you gift wrap my order?",
            &[0.9, 0.3, 0.0],
        );
        let c = gap(&j, &cfg, "c_3", "Do you plant trees?", &[0.0, 0.0, 1.0]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let listed = suggestions(&j, &cfg, Some("open")).unwrap();
        assert_eq!(
            listed.iter().map(|c| (c.id, c.members)).collect::<Vec<_>>(),
            vec![(a, 2)],
            "a lone question is not suggested yet"
        );
    }

    #[test]
    fn the_centre_moves_with_its_members() {
        let j = Journal::open_in_memory().unwrap();
        let cfg = LearnConfig {
            similarity: 0.8,
            ..Default::default()
        };
        let a = gap(&j, &cfg, "c_1", "q1", &[1.0, 0.0]);
        // 0.77 from the first question: too far on its own.
        assert_ne!(gap(&j, &cfg, "c_2", "q2", &[0.77, 0.64]), a);
        let j = Journal::open_in_memory().unwrap();
        let a = gap(&j, &cfg, "c_1", "q1", &[1.0, 0.0]);
        assert_eq!(gap(&j, &cfg, "c_2", "q2", &[0.95, 0.31]), a);
        // The centre is now between the two, and the same question is close enough to it.
        assert_eq!(gap(&j, &cfg, "c_3", "q3", &[0.77, 0.64]), a);
    }

    #[test]
    fn the_first_reply_a_person_sends_is_the_answer() {
        let j = Journal::open_in_memory().unwrap();
        let cfg = LearnConfig::default();
        let id = gap(&j, &cfg, "c_1", "Do you offer gift wrapping?", &[1.0, 0.0]);
        assert!(attach_reply(&j, "c_1", "Yes, for £3 at checkout.", "Priya").unwrap());
        assert!(!attach_reply(&j, "c_1", "Anything else I can help with?", "Priya").unwrap());
        assert!(!attach_reply(&j, "c_unknown", "Hello", "Priya").unwrap());
        let s = suggestion(&j, id).unwrap();
        assert_eq!(
            s.questions[0].reply.as_deref(),
            Some("Yes, for £3 at checkout.")
        );
        assert_eq!(
            s.draft,
            Draft {
                title: "Do you offer gift wrapping?".into(),
                body: "Yes, for £3 at checkout.".into()
            }
        );
    }

    #[test]
    fn drafts_leave_out_salutations_and_personal_details() {
        let q = |question: &str, reply: Option<&str>| GapRecord {
            id: 1,
            cluster_id: 1,
            conversation_id: "c".into(),
            at: String::new(),
            question: question.into(),
            reason: "weak_grounding".into(),
            intent: None,
            reply: reply.map(String::from),
            replied_by: None,
            vector: vec![],
        };
        let d = draft(&[
            q("can I gift wrap LF-100003? my email is sam@example.com", Some("Hi Sam,\n\nYes: tick \"gift wrap\" at checkout, £3 per order.\nWrite to sam@example.com if not.\n\nThanks,\nPriya")),
            q("do you  gift wrap\npresents?", Some("Hello!\nYes: tick \"gift wrap\" at checkout, £3 per order.\nWrite to sam@example.com if not.")),
        ]);
        assert_eq!(
            d.title, "Do you gift wrap presents?",
            "the question without an order number or address gives the title"
        );
        assert_eq!(
            d.body,
            "Yes: tick \"gift wrap\" at checkout, £3 per order.\nWrite to s***@example.com if not.",
            "one copy of a repeated reply, masked"
        );
    }

    #[test]
    fn slugs_are_safe_file_names() {
        assert_eq!(
            slug("Do you offer gift-wrapping?", 7),
            "do-you-offer-gift-wrapping"
        );
        assert_eq!(slug("../../etc/passwd", 7), "etc-passwd");
        assert_eq!(slug("¿¡!!", 7), "suggestion-7");
        assert!(slug(&"word ".repeat(40), 1).len() <= 60);
    }

    #[test]
    fn erasing_a_conversation_takes_its_questions_out_of_their_cluster() {
        let j = Journal::open_in_memory().unwrap();
        let cfg = LearnConfig::default();
        let a = gap(&j, &cfg, "c_1", "Do you offer gift wrapping?", &[1.0, 0.0]);
        gap(&j, &cfg, "c_2", "Gift wrap?", &[0.95, 0.31]);
        let solo = gap(&j, &cfg, "c_3", "Trees?", &[0.0, 1.0]);
        let deleted = j
            .delete_conversations(&["c_2".into(), "c_3".into()])
            .unwrap();
        assert_eq!(deleted.questions, 2);
        let (cluster, questions) = j.gap_cluster(a).unwrap().unwrap();
        assert_eq!((cluster.members, questions.len()), (1, 1));
        assert!(
            (dot(&unit(&cluster.centroid), &[1.0, 0.0]) - 1.0).abs() < 1e-5,
            "the centre is the remaining question again"
        );
        assert!(
            j.gap_cluster(solo).unwrap().is_none(),
            "an emptied open cluster goes"
        );
    }

    #[test]
    fn only_admins_decide_and_only_once() {
        let j = Journal::open_in_memory().unwrap();
        let cfg = LearnConfig::default();
        let id = gap(&j, &cfg, "c_1", "Do you offer gift wrapping?", &[1.0, 0.0]);
        let agent = Staff {
            user_id: None,
            email: "priya@example.com".into(),
            name: "Priya".into(),
            role: Role::Agent,
        };
        assert!(matches!(
            dismiss(&j, &agent, id),
            Err(LearnError::Access(_))
        ));
        let admin = Staff {
            user_id: None,
            email: "ada@example.com".into(),
            name: "Ada".into(),
            role: Role::Admin,
        };
        dismiss(&j, &admin, id).unwrap();
        assert!(matches!(
            dismiss(&j, &admin, id),
            Err(LearnError::Decided { .. })
        ));
        assert!(matches!(
            dismiss(&j, &admin, 999),
            Err(LearnError::NotFound(999))
        ));
    }
}
