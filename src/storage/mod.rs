//! Under every step that keeps data: the one place that opens `shopkeep.db`.
//!
//! [`Database`] owns the connections to one SQLite file and its schema:
//! - one **writer** connection behind a mutex: SQLite has one writer at a time anyway, and a
//!   mutex that times out says so in [`StorageError::Busy`] instead of every repository
//!   discovering `SQLITE_BUSY` on its own;
//! - a pool of **readers** (WAL mode: they read the last commit while the writer writes), so the
//!   desk's listings and a turn's lookups never queue behind a commit;
//! - a **group commit** queue ([`Database::commit`]): the writes of concurrent requests run on one
//!   thread, each in its own savepoint, and go to disk in one transaction; every caller hears
//!   back only after that transaction committed. While one batch commits the next one gathers,
//!   so the batch grows with the load and an idle server commits each write at once (no timer
//!   adds latency);
//! - the **migrations** ([`migrations`]): one ordered list for every table, applied in one
//!   immediate transaction on open, and the adoption of databases written by releases that
//!   migrated each module on its own.
//!
//! Repositories (the journal, the order store, the desk's accounts) sit above this module and
//! hold an `Arc<Database>`; none opens a connection of its own. This module knows nothing of
//! what the tables mean: it runs statements, it decides nothing.
//!
//! Durability: WAL with `synchronous = NORMAL`. A commit is in the WAL file before the call
//! returns, so a crashed or killed process loses no acknowledged write; only a power loss can
//! take the last transactions back (the trade SQLite documents for WAL + NORMAL).

pub mod migrations;

use std::{
    ops::{Deref, DerefMut},
    path::{Path, PathBuf},
    sync::{mpsc, Arc},
    time::Duration,
};

use parking_lot::{Mutex, MutexGuard};
use rusqlite::{Connection, OpenFlags};

/// How long a write waits for the writer before giving up with [`StorageError::Busy`] (SQLite's
/// own busy timeout on other processes is the same).
const WRITER_WAIT: Duration = Duration::from_secs(5);
/// Idle readers kept open; more are opened when needed and closed when given back.
const IDLE_READERS: usize = 8;
/// At most this many writes in one group commit (a bound on one transaction's size, so one
/// batch cannot hold the writer for long).
const MAX_BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("opening the database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("applying migration {version} ({name}): {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error("the database was written by a newer shopkeep (schema {found}; this one knows up to {supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("the database stayed busy for {}s (another write held it)", WRITER_WAIT.as_secs())]
    Busy,
    #[error("the database's commit thread has stopped")]
    Stopped,
}

impl StorageError {
    /// A stable code for logs and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            StorageError::Open { .. } => "storage_open_failed",
            StorageError::Sqlite(_) => "storage_error",
            StorageError::Migration { .. } => "storage_migration_failed",
            StorageError::SchemaTooNew { .. } => "schema_too_new",
            StorageError::Busy => "storage_busy",
            StorageError::Stopped => "storage_stopped",
        }
    }
}

/// One SQLite database: its writer, its readers, its commit queue and its schema.
pub struct Database {
    shared: Arc<Shared>,
    /// The group-commit queue; its thread ends when this is dropped.
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
}

struct Shared {
    writer: Mutex<Connection>,
    /// `None` for an in-memory database: its one connection serves reads too.
    path: Option<PathBuf>,
    idle: Mutex<Vec<Connection>>,
}

/// Settings every connection gets.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(WRITER_WAIT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // In WAL mode NORMAL never corrupts the database (see the module note on durability).
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Imports reuse a handful of statements thousands of times; keep them prepared.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

impl Database {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Arc<Self>, StorageError> {
        let open_err = |source| StorageError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        // journal_mode answers with a row, so it is read rather than just set.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        migrations::apply(&mut conn)?;
        Ok(Self::start(conn, Some(path.to_path_buf())))
    }

    /// A private, empty in-memory database with the whole schema (tests, evaluation).
    pub fn open_in_memory() -> Result<Arc<Self>, StorageError> {
        let open_err = |source| StorageError::Open {
            path: ":memory:".into(),
            source,
        };
        let mut conn = Connection::open_in_memory().map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        migrations::apply(&mut conn)?;
        Ok(Self::start(conn, None))
    }

    /// A private in-memory copy of this database, made page by page with SQLite's backup API:
    /// an evaluation loads a dataset once and gives every case its own copy to modify.
    pub fn copy_into_memory(&self) -> Result<Arc<Self>, StorageError> {
        let src = self.writer()?;
        let mut dst = Connection::open_in_memory()?;
        {
            let backup = rusqlite::backup::Backup::new(&src, &mut dst)?;
            // All pages in one step. Busy/Locked only happen while another process writes the
            // source file; waiting briefly and retrying is what SQLite recommends.
            let mut tries = 0;
            loop {
                match backup.step(-1)? {
                    rusqlite::backup::StepResult::Done => break,
                    _ if tries < 200 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    _ => return Err(StorageError::Busy),
                }
            }
        }
        configure(&dst)?;
        Ok(Self::start(dst, None))
    }

    fn start(writer: Connection, path: Option<PathBuf>) -> Arc<Self> {
        let shared = Arc::new(Shared {
            writer: Mutex::new(writer),
            path,
            idle: Mutex::new(Vec::new()),
        });
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let committer = shared.clone();
        let started = std::thread::Builder::new()
            .name("shopkeep-commit".into())
            .spawn(move || commit_loop(&committer, &rx));
        // Without the thread, `commit` runs each write on its caller's thread instead.
        let queue = started.ok().map(|_| tx);
        Arc::new(Self { shared, queue })
    }

    /// The file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.shared.path.as_deref()
    }

    /// The writer connection, for a write that needs its own transaction (an import, a
    /// migration-like repair, a read-modify-write the caller must see atomically). Waits for
    /// the writer at most [`WRITER_WAIT`].
    pub fn writer(&self) -> Result<MutexGuard<'_, Connection>, StorageError> {
        self.shared
            .writer
            .try_lock_for(WRITER_WAIT)
            .ok_or(StorageError::Busy)
    }

    /// A connection to read with. It sees the last committed state, never a write in progress.
    pub fn reader(&self) -> Result<Reader<'_>, StorageError> {
        let Some(path) = &self.shared.path else {
            return Ok(Reader(Held::Writer(self.writer()?)));
        };
        if let Some(conn) = self.shared.idle.lock().pop() {
            return Ok(Reader(Held::Pooled {
                db: &self.shared,
                conn: Some(conn),
            }));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|source| StorageError::Open {
            path: path.display().to_string(),
            source,
        })?;
        configure(&conn)?;
        // Opened read-write so it can take part in WAL's shared memory like any connection,
        // but refused any write: writes go through the writer or the commit queue.
        conn.pragma_update(None, "query_only", true)?;
        Ok(Reader(Held::Pooled {
            db: &self.shared,
            conn: Some(conn),
        }))
    }

    /// Runs `write` in the next group commit and returns its result once that commit is on disk.
    ///
    /// `write` runs on the commit thread, in one transaction with the other writes of its
    /// batch. If any of them fails, the batch is rolled back and each write runs again alone,
    /// so a failing write takes only its own changes back; `write` may therefore run twice,
    /// and only the run that committed counts (it must touch nothing but the database). It
    /// must not wait on anything but the database (no network, no locks another write could
    /// hold): the whole batch waits with it.
    ///
    /// (Per-write savepoints would avoid the re-run, but SQLite's FTS5 flushes its pending
    /// index at every savepoint and each one writes a statement journal: measured, they cost
    /// more than the batching saved.)
    pub async fn commit<T, E, F>(&self, write: F) -> Result<T, E>
    where
        F: FnMut(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Box<dyn Job> = Box::new(Pending {
            write,
            result: None,
            reply: Some(reply),
        });
        let sent = match &self.queue {
            Some(queue) => queue.send(job).map_err(|e| e.0),
            None => Err(job),
        };
        if let Err(job) = sent {
            // No commit thread: run it here, in its own transaction, off the runtime.
            let shared = self.shared.clone();
            tokio::task::spawn_blocking(move || {
                let Some(conn) = shared.writer.try_lock_for(WRITER_WAIT) else {
                    job.finish(Err(StorageError::Busy));
                    return;
                };
                run_batch(&conn, vec![job]);
            })
            .await
            .map_err(|_| E::from(StorageError::Stopped))?;
        }
        answer.await.map_err(|_| E::from(StorageError::Stopped))?
    }

    /// Runs `read` on a reader, on the blocking pool (a read never holds a runtime worker).
    pub async fn read<T, E, F>(self: &Arc<Self>, read: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = db.reader()?;
            read(&conn)
        })
        .await
        .map_err(|_| E::from(StorageError::Stopped))?
    }

    /// `PRAGMA integrity_check`: "ok", or what SQLite found.
    pub fn integrity_check(&self) -> Result<String, StorageError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows.join("; "))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Closing the queue ends the commit thread once it has committed what it holds.
        self.queue.take();
    }
}

/// A reading connection: pooled for a file, the writer itself in memory. Given back on drop.
pub struct Reader<'a>(Held<'a>);

enum Held<'a> {
    Pooled {
        db: &'a Shared,
        conn: Option<Connection>,
    },
    Writer(MutexGuard<'a, Connection>),
}

impl Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match &self.0 {
            Held::Pooled { conn, .. } => conn.as_ref().expect("a pooled reader until dropped"),
            Held::Writer(conn) => conn,
        }
    }
}

impl DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        match &mut self.0 {
            Held::Pooled { conn, .. } => conn.as_mut().expect("a pooled reader until dropped"),
            Held::Writer(conn) => &mut *conn,
        }
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Held::Pooled { db, conn } = &mut self.0 {
            let mut idle = db.idle.lock();
            if idle.len() < IDLE_READERS {
                if let Some(conn) = conn.take() {
                    idle.push(conn);
                }
            }
        }
    }
}

/// A write waiting for its group commit.
trait Job: Send {
    /// Runs the write inside the open transaction; false when it failed (its error is kept).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Tells the caller: its write's result, or why the transaction did not commit.
    fn finish(self: Box<Self>, committed: Result<(), StorageError>);
}

struct Pending<F, T, E> {
    write: F,
    result: Option<Result<T, E>>,
    reply: Option<tokio::sync::oneshot::Sender<Result<T, E>>>,
}

impl<F, T, E> Job for Pending<F, T, E>
where
    F: FnMut(&Connection) -> Result<T, E> + Send,
    T: Send,
    E: From<StorageError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        // A panic in a write must not take the batch (or the commit thread) with it.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.write)(conn)))
            .unwrap_or_else(|_| Err(StorageError::Stopped.into()));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(mut self: Box<Self>, committed: Result<(), StorageError>) {
        let outcome = match (committed, self.result.take()) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StorageError::Stopped.into()),
            // The transaction rolled back: whatever this write did is gone too.
            (Err(e), _) => Err(e.into()),
        };
        if let Some(reply) = self.reply.take() {
            // The caller may have gone (a client hung up); the write stands regardless.
            let _ = reply.send(outcome);
        }
    }
}

fn commit_loop(shared: &Shared, queue: &mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match shared.writer.try_lock_for(WRITER_WAIT) {
            Some(conn) => run_batch(&conn, batch),
            None => {
                for job in batch {
                    job.finish(Err(StorageError::Busy));
                }
            }
        }
    }
}

/// One transaction for the whole batch; every job hears the commit's outcome. When a job fails,
/// the batch is rolled back and each job runs again in a transaction of its own.
fn run_batch(conn: &Connection, mut batch: Vec<Box<dyn Job>>) {
    if batch.len() > 1 {
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let e = StorageError::from(e);
            for job in batch {
                job.finish(Err(clone_error(&e)));
            }
            return;
        }
        let all_ran = batch.iter_mut().all(|job| job.run(conn));
        if all_ran {
            let committed = conn.execute_batch("COMMIT").map_err(StorageError::from);
            if committed.is_err() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            for job in batch {
                job.finish(match &committed {
                    Ok(()) => Ok(()),
                    Err(e) => Err(clone_error(e)),
                });
            }
            return;
        }
        let _ = conn.execute_batch("ROLLBACK");
    }
    for mut job in batch {
        let committed = conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(StorageError::from)
            .and_then(|()| {
                if job.run(conn) {
                    conn.execute_batch("COMMIT").map_err(StorageError::from)
                } else {
                    // Its own error is what the caller hears (`finish` with Ok passes it on).
                    conn.execute_batch("ROLLBACK").map_err(StorageError::from)
                }
            });
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        job.finish(committed);
    }
}

/// `rusqlite::Error` is not `Clone`; every job of a failed batch gets the same message.
fn clone_error(e: &StorageError) -> StorageError {
    match e {
        StorageError::Busy => StorageError::Busy,
        StorageError::Stopped => StorageError::Stopped,
        other => StorageError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_db() -> (tempfile::TempDir, Arc<Database>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("shopkeep.db")).unwrap();
        (dir, db)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_all_commit_and_each_caller_gets_its_own_result() {
        let (_dir, db) = file_db();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.commit(move |c| -> Result<i64, StorageError> {
                    c.execute(
                        "INSERT INTO conversations (id, channel, created_at, updated_at, state) VALUES (?1, 'api', 'now', 'now', '{}')",
                        [format!("c_{i}")],
                    )?;
                    Ok(c.last_insert_rowid())
                })
                .await
            }));
        }
        let mut rowids = Vec::new();
        for t in tasks {
            rowids.push(t.await.unwrap().unwrap());
        }
        rowids.sort();
        rowids.dedup();
        assert_eq!(rowids.len(), 200, "each write saw its own row");
        let n: i64 = db
            .reader()
            .unwrap()
            .query_row("SELECT COUNT(*) FROM conversations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 200);
    }

    #[tokio::test]
    async fn a_failing_write_rolls_back_alone() {
        let (_dir, db) = file_db();
        let ok = db.commit(|c| -> Result<(), StorageError> {
            c.execute("INSERT INTO conversations (id, channel, created_at, updated_at, state) VALUES ('c_a', 'api', 'now', 'now', '{}')", [])?;
            Ok(())
        });
        let failing = db.commit(|c| -> Result<(), StorageError> {
            c.execute("INSERT INTO conversations (id, channel, created_at, updated_at, state) VALUES ('c_b', 'api', 'now', 'now', '{}')", [])?;
            // Same primary key again: this write fails after its first statement succeeded.
            c.execute("INSERT INTO conversations (id, channel, created_at, updated_at, state) VALUES ('c_b', 'api', 'now', 'now', '{}')", [])?;
            Ok(())
        });
        let (ok, failing) = tokio::join!(ok, failing);
        ok.unwrap();
        assert!(failing.is_err());
        let ids: Vec<String> = {
            let conn = db.reader().unwrap();
            let mut s = conn
                .prepare("SELECT id FROM conversations ORDER BY id")
                .unwrap();
            s.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        assert_eq!(
            ids,
            vec!["c_a".to_string()],
            "c_b's first insert went with it"
        );
    }

    #[tokio::test]
    async fn a_reader_sees_what_was_committed_and_never_an_open_write() {
        let (_dir, db) = file_db();
        let writer = db.writer().unwrap();
        writer.execute_batch("BEGIN IMMEDIATE; INSERT INTO conversations (id, channel, created_at, updated_at, state) VALUES ('c_x', 'api', 'now', 'now', '{}')").unwrap();
        let count = |db: &Database| -> i64 {
            db.reader()
                .unwrap()
                .query_row("SELECT COUNT(*) FROM conversations", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(
            count(&db),
            0,
            "the open write is invisible, and reading did not wait"
        );
        writer.execute_batch("COMMIT").unwrap();
        drop(writer);
        assert_eq!(count(&db), 1);
    }

    #[test]
    fn in_memory_databases_read_through_their_one_connection() {
        let db = Database::open_in_memory().unwrap();
        db.writer().unwrap().execute("INSERT INTO conversations (id, channel, created_at, updated_at, state) VALUES ('c_m', 'api', 'now', 'now', '{}')", []).unwrap();
        let n: i64 = db
            .reader()
            .unwrap()
            .query_row("SELECT COUNT(*) FROM conversations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(db.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn a_held_writer_makes_other_writes_wait_then_fail_busy_not_hang() {
        let db = Database::open_in_memory().unwrap();
        let _held = db.writer().unwrap();
        let db2 = db.clone();
        let started = std::time::Instant::now();
        let r = std::thread::spawn(move || db2.writer().map(|_| ()))
            .join()
            .unwrap();
        assert!(matches!(r, Err(StorageError::Busy)));
        assert!(started.elapsed() >= WRITER_WAIT - Duration::from_millis(50));
    }
}
