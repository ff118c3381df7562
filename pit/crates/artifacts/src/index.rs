//! The metadata index: one SQLite database in WAL mode, readable with the
//! `sqlite3` command line. Tables:
//!
//! - `artifacts(hash, size, stored_size, encoding, kind, media_type,
//!   producer, quality, created, accessed, access_count)`
//! - `inputs(hash, input)`: lineage, the artifacts each one was made from
//! - `tags(hash, tag)`
//! - `refs(name, version, hash, created)`: named versions
//! - `pins(hash, reason, created)`: kept by the stale manager whatever its rules
//! - `removed(hash, at, action, rule)`: what the stale manager archived or
//!   deleted, so that a read can say so
//! - `journal(seq, hash)`: every change to an artifact, in order; the search
//!   index and the stale manager catch up from it
//!
//! `artifacts.data` holds the stored bytes of small blobs (up to
//! [`crate::INLINE_MAX`]); larger ones live in `objects/`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;
use crate::{Hash, Info};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS artifacts (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    stored_size INTEGER NOT NULL,
    encoding TEXT NOT NULL,
    kind TEXT,
    media_type TEXT,
    producer TEXT,
    quality REAL,
    created REAL NOT NULL,
    accessed REAL NOT NULL,
    access_count INTEGER NOT NULL DEFAULT 0,
    data BLOB
);
CREATE TABLE IF NOT EXISTS inputs (
    hash TEXT NOT NULL REFERENCES artifacts(hash),
    input TEXT NOT NULL,
    PRIMARY KEY (hash, input)
);
CREATE TABLE IF NOT EXISTS tags (
    hash TEXT NOT NULL REFERENCES artifacts(hash),
    tag TEXT NOT NULL,
    PRIMARY KEY (hash, tag)
);
CREATE INDEX IF NOT EXISTS tags_by_tag ON tags(tag);
CREATE TABLE IF NOT EXISTS refs (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    hash TEXT NOT NULL REFERENCES artifacts(hash),
    created REAL NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS refs_by_hash ON refs(hash);
CREATE TABLE IF NOT EXISTS pins (
    hash TEXT PRIMARY KEY,
    reason TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS removed (
    hash TEXT PRIMARY KEY,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    rule TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inputs_by_input ON inputs(input);
CREATE INDEX IF NOT EXISTS artifacts_by_kind ON artifacts(kind);
CREATE INDEX IF NOT EXISTS artifacts_by_producer ON artifacts(producer);
CREATE INDEX IF NOT EXISTS artifacts_by_created ON artifacts(created);
";

pub(crate) fn open(path: &Path, durable: bool) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // Several processes share one store: wait for a writer rather than fail.
    conn.busy_timeout(Duration::from_secs(30))?;
    // Switching to WAL and creating the schema can meet a lock that the busy
    // handler does not wait for (another process doing the same): retry.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let setup = conn
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|_| conn.execute_batch(SCHEMA))
            .and_then(|_| upgrade(&conn));
        match setup {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => {
                other?;
                break;
            }
        }
    }
    conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
    // The REFERENCES clauses document; they are not enforced (rusqlite's
    // bundled SQLite would): a version of a name outlives its archived
    // artifact, so that `history` still lists it.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // Hashes are random keys: every insert or delete lands on a random page
    // of the indexes. A larger cache and reads through mmap keep that off
    // the system-call path (SQLite's default cache is 2 MB).
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
    Ok(conn)
}

/// A version 1 store kept every blob in a file: give `artifacts` the column
/// for inline blobs.
fn upgrade(conn: &Connection) -> rusqlite::Result<()> {
    let has_data: bool = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('artifacts') WHERE name = 'data'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has_data {
        conn.execute_batch("ALTER TABLE artifacts ADD COLUMN data BLOB")?;
    }
    Ok(())
}

/// Journal entries kept. A reader further behind than this (a search index
/// last updated that many changes ago, a collector's snapshot) starts over:
/// the search indexes every artifact, the collector takes a new snapshot.
pub const JOURNAL_KEEP: i64 = 1 << 16;
/// The journal is trimmed once per this many entries, so a put pays for a
/// trim rarely and the table stays under `JOURNAL_KEEP + JOURNAL_TRIM_EVERY`.
pub const JOURNAL_TRIM_EVERY: i64 = 1 << 12;

/// Appends `hash` to the journal: something about it changed. In the same
/// transaction, now and then, forgets the entries older than the last
/// `JOURNAL_KEEP` (the sequence never goes back: AUTOINCREMENT).
pub(crate) fn journal(conn: &Connection, hash: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO journal (hash) VALUES (?1)")?
        .execute([hash])?;
    let seq = conn.last_insert_rowid();
    if seq % JOURNAL_TRIM_EVERY == 0 && seq > JOURNAL_KEEP {
        conn.prepare_cached("DELETE FROM journal WHERE seq <= ?1")?
            .execute([seq - JOURNAL_KEEP])?;
    }
    Ok(())
}

pub(crate) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(crate) fn info(conn: &Connection, hash: &Hash) -> Result<Option<Info>> {
    let h = hash.to_hex();
    let row = conn
        .query_row(
            "SELECT size, stored_size, encoding, kind, media_type, producer, quality, created, accessed,
                    access_count, data IS NOT NULL
             FROM artifacts WHERE hash = ?1",
            [&h],
            |r| {
                Ok(Info {
                    hash: *hash,
                    size: r.get::<_, i64>(0)? as u64,
                    stored_size: r.get::<_, i64>(1)? as u64,
                    encoding: r.get(2)?,
                    kind: r.get(3)?,
                    media_type: r.get(4)?,
                    producer: r.get(5)?,
                    quality: r.get(6)?,
                    created: r.get(7)?,
                    accessed: r.get(8)?,
                    access_count: r.get::<_, i64>(9)? as u64,
                    inline: r.get(10)?,
                    inputs: Vec::new(),
                    tags: Vec::new(),
                })
            },
        )
        .optional()?;
    let Some(mut info) = row else { return Ok(None) };
    info.inputs = column(conn, "SELECT input FROM inputs WHERE hash = ?1 ORDER BY rowid", &h)?
        .iter()
        .filter_map(|s| Hash::from_hex(s).ok())
        .collect();
    info.tags = column(conn, "SELECT tag FROM tags WHERE hash = ?1 ORDER BY tag", &h)?;
    Ok(Some(info))
}

pub(crate) fn column(conn: &Connection, sql: &str, arg: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params![arg], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
