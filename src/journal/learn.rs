//! The learning side of the journal: questions the assistant could not answer well ("gaps"),
//! grouped into clusters of the same question asked different ways, with what a person replied
//! and what the team decided (an approved article, or dismissed). The grouping rule is
//! `learn`'s; this file only stores it, and keeps each cluster's centre right when members come
//! and go (an erased customer's questions leave their cluster too).

use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use super::{now, Journal, JournalError};

/// A question to remember, before it has a cluster.
#[derive(Debug, Clone)]
pub struct NewGap<'a> {
    pub conversation_id: &'a str,
    pub question: &'a str,
    /// Why it counts as unanswered: `weak_grounding`, `repeated_failure` or `low_confidence`.
    pub reason: &'a str,
    pub intent: Option<&'a str>,
    /// The question's embedding (understanding computed it already).
    pub vector: &'a [f32],
}

/// A cluster's centre as the grouping rule sees it.
#[derive(Debug, Clone)]
pub struct Centroid {
    pub cluster_id: i64,
    /// The sum of the members' vectors (not normalised).
    pub sum: Vec<f32>,
    pub members: i64,
}

/// A cluster as stored.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterRecord {
    pub id: i64,
    pub created_at: String,
    pub updated_at: String,
    pub members: i64,
    /// `open`, `approved` (an article was written from it) or `dismissed`.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub article_id: Option<String>,
    pub article_path: Option<String>,
    /// Members that arrived after the decision (approved clusters that still collect questions
    /// may need their article improved).
    pub since_decision: i64,
    /// Members a person has replied to.
    pub replied: i64,
    /// The newest member's question.
    pub latest_question: String,
    #[serde(skip)]
    pub centroid: Vec<f32>,
}

/// One remembered question.
#[derive(Debug, Clone, Serialize)]
pub struct GapRecord {
    pub id: i64,
    pub cluster_id: i64,
    pub conversation_id: String,
    pub at: String,
    pub question: String,
    pub reason: String,
    pub intent: Option<String>,
    pub reply: Option<String>,
    pub replied_by: Option<String>,
    #[serde(skip)]
    pub vector: Vec<f32>,
}

fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

const CLUSTER_COLUMNS: &str = "c.id, c.created_at, c.updated_at, c.members, c.status, c.decided_by, c.decided_at, c.article_id, c.article_path, c.centroid,
    (SELECT COUNT(*) FROM gaps g WHERE g.cluster_id = c.id AND c.decided_at IS NOT NULL AND g.at > c.decided_at),
    (SELECT COUNT(*) FROM gaps g WHERE g.cluster_id = c.id AND g.reply IS NOT NULL),
    COALESCE((SELECT g.question FROM gaps g WHERE g.cluster_id = c.id ORDER BY g.id DESC LIMIT 1), '')";

fn cluster_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClusterRecord> {
    Ok(ClusterRecord {
        id: r.get(0)?,
        created_at: r.get(1)?,
        updated_at: r.get(2)?,
        members: r.get(3)?,
        status: r.get(4)?,
        decided_by: r.get(5)?,
        decided_at: r.get(6)?,
        article_id: r.get(7)?,
        article_path: r.get(8)?,
        centroid: from_blob(&r.get::<_, Vec<u8>>(9)?),
        since_decision: r.get(10)?,
        replied: r.get(11)?,
        latest_question: r.get(12)?,
    })
}

impl Journal {
    /// Remembers a question. `assign` sees every cluster's centre and names the cluster the
    /// question joins, or `None` for a new one; both happen in one transaction, so two questions
    /// recorded at once never both found a cluster for the same new question. Returns the
    /// cluster's id.
    pub fn record_gap(
        &self,
        gap: &NewGap<'_>,
        assign: impl FnOnce(&[Centroid]) -> Option<i64>,
    ) -> Result<i64, JournalError> {
        let mut conn = self.write()?;
        let tx = conn.transaction()?;
        let centroids: Vec<Centroid> = {
            let mut stmt = tx.prepare("SELECT id, centroid, members FROM gap_clusters")?;
            let rows = stmt.query_map([], |r| {
                Ok(Centroid {
                    cluster_id: r.get(0)?,
                    sum: from_blob(&r.get::<_, Vec<u8>>(1)?),
                    members: r.get(2)?,
                })
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let at = now();
        let cluster_id = match assign(&centroids)
            .and_then(|id| centroids.iter().find(|c| c.cluster_id == id))
        {
            Some(c) => {
                let sum: Vec<f32> = c.sum.iter().zip(gap.vector).map(|(a, b)| a + b).collect();
                tx.execute("UPDATE gap_clusters SET centroid = ?2, members = members + 1, updated_at = ?3 WHERE id = ?1", params![c.cluster_id, to_blob(&sum), at])?;
                c.cluster_id
            }
            None => {
                tx.execute("INSERT INTO gap_clusters (created_at, updated_at, centroid, members) VALUES (?1, ?1, ?2, 1)", params![at, to_blob(gap.vector)])?;
                tx.last_insert_rowid()
            }
        };
        tx.execute(
            "INSERT INTO gaps (cluster_id, conversation_id, at, question, reason, intent, vector) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![cluster_id, gap.conversation_id, at, gap.question, gap.reason, gap.intent, to_blob(gap.vector)],
        )?;
        tx.commit()?;
        Ok(cluster_id)
    }

    /// Notes a person's reply against the conversation's latest gap (the question they were
    /// answering). Only the first reply counts: a second one is a follow-up ("anything else?"),
    /// not the answer. Returns whether a gap took the reply.
    pub fn attach_gap_reply(
        &self,
        conversation_id: &str,
        reply: &str,
        by: &str,
    ) -> Result<bool, JournalError> {
        let n = self.write()?.execute(
            "UPDATE gaps SET reply = ?2, replied_by = ?3 WHERE id = (SELECT MAX(id) FROM gaps WHERE conversation_id = ?1) AND reply IS NULL",
            params![conversation_id, reply, by],
        )?;
        Ok(n == 1)
    }

    /// Clusters with `status` (any when `None`) and at least `min_members` questions, the most
    /// asked first.
    pub fn gap_clusters(
        &self,
        status: Option<&str>,
        min_members: i64,
    ) -> Result<Vec<ClusterRecord>, JournalError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {CLUSTER_COLUMNS} FROM gap_clusters c WHERE (?1 IS NULL OR c.status = ?1) AND c.members >= ?2 ORDER BY c.members DESC, c.updated_at DESC LIMIT 500"
        ))?;
        let rows = stmt.query_map(params![status, min_members], cluster_row)?;
        rows.collect::<Result<_, _>>().map_err(Into::into)
    }

    /// One cluster and its questions, oldest first.
    pub fn gap_cluster(
        &self,
        id: i64,
    ) -> Result<Option<(ClusterRecord, Vec<GapRecord>)>, JournalError> {
        let conn = self.read()?;
        let Some(cluster) = conn
            .query_row(
                &format!("SELECT {CLUSTER_COLUMNS} FROM gap_clusters c WHERE c.id = ?1"),
                [id],
                cluster_row,
            )
            .optional()?
        else {
            return Ok(None);
        };
        let mut stmt = conn.prepare("SELECT id, cluster_id, conversation_id, at, question, reason, intent, reply, replied_by, vector FROM gaps WHERE cluster_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map([id], |r| {
            Ok(GapRecord {
                id: r.get(0)?,
                cluster_id: r.get(1)?,
                conversation_id: r.get(2)?,
                at: r.get(3)?,
                question: r.get(4)?,
                reason: r.get(5)?,
                intent: r.get(6)?,
                reply: r.get(7)?,
                replied_by: r.get(8)?,
                vector: from_blob(&r.get::<_, Vec<u8>>(9)?),
            })
        })?;
        let gaps = rows.collect::<Result<_, _>>()?;
        Ok(Some((cluster, gaps)))
    }

    /// Records the team's decision on an open cluster: `approved` (with the article written from
    /// it) or `dismissed`. Returns false when the cluster was not open (someone decided first).
    pub fn decide_gap_cluster(
        &self,
        id: i64,
        status: &str,
        by: &str,
        article: Option<(&str, &str)>,
    ) -> Result<bool, JournalError> {
        let at = now();
        let n = self.write()?.execute(
            "UPDATE gap_clusters SET status = ?2, decided_by = ?3, decided_at = ?4, updated_at = ?4, article_id = ?5, article_path = ?6 WHERE id = ?1 AND status = 'open'",
            params![id, status, by, at, article.map(|a| a.0), article.map(|a| a.1)],
        )?;
        Ok(n == 1)
    }
}

/// Takes a conversation's gaps out of their clusters before the conversation is deleted: each
/// cluster's centre loses the member's vector, and a cluster left empty and undecided goes.
pub(super) fn forget_conversation(
    tx: &Transaction<'_>,
    conversation_id: &str,
) -> Result<usize, JournalError> {
    let members: Vec<(i64, i64, Vec<f32>)> = {
        let mut stmt =
            tx.prepare("SELECT id, cluster_id, vector FROM gaps WHERE conversation_id = ?1")?;
        let rows = stmt.query_map([conversation_id], |r| {
            Ok((r.get(0)?, r.get(1)?, from_blob(&r.get::<_, Vec<u8>>(2)?)))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    for (gap_id, cluster_id, vector) in &members {
        let sum: Option<Vec<u8>> = tx
            .query_row(
                "SELECT centroid FROM gap_clusters WHERE id = ?1",
                [cluster_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(sum) = sum {
            let sum: Vec<f32> = from_blob(&sum)
                .iter()
                .zip(vector)
                .map(|(a, b)| a - b)
                .collect();
            tx.execute(
                "UPDATE gap_clusters SET centroid = ?2, members = members - 1 WHERE id = ?1",
                params![cluster_id, to_blob(&sum)],
            )?;
        }
        tx.execute("DELETE FROM gaps WHERE id = ?1", [gap_id])?;
        tx.execute(
            "DELETE FROM gap_clusters WHERE id = ?1 AND members <= 0 AND status = 'open'",
            [cluster_id],
        )?;
    }
    Ok(members.len())
}
