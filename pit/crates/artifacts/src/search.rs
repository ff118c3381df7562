//! Full-text search over the store: a tantivy index in `search/`, one
//! document per stored artifact (its names, kind, media type, producer,
//! tags, and the text of text artifacts).
//!
//! The index is derived data, kept in step lazily: a put never touches it
//! (puts stay one SQLite commit). Every change to what a search can see
//! (put, tag, new version of a name, pin, removal, restore) appends the
//! artifact's hash to the `journal` table in the same transaction as the
//! change; a search first replays the journal past the sequence number
//! stored in the payload of the index's last commit: for each hash, drop
//! its document and, if the artifact is still stored, add its current one.
//! When the journal has nothing new, the writer is not opened at all.
//!
//! Several processes may share a store: tantivy's writer lock (a `flock`ed
//! file, so also exclusive between two stores of one process) lets one of
//! them catch up at a time; the others wait for it, then find the payload
//! advanced and only reload their reader. The folder is made in `tmp/` and
//! renamed into place, so two processes creating it at once cannot undo
//! each other's commits. A missing index, or a journal that no longer
//! reaches back to the index's last commit, is rebuilt from the artifacts
//! table: deleting `search/` is always safe.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::OptionalExtension;
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::directory::error::LockError;
use tantivy::indexer::IndexWriterOptions;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TEXT, Value};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

use crate::error::{ArtifactError, Result, io};
use crate::{Encoding, Hash, Store, blob};

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub hash: Hash,
    /// BM25 relevance: higher is better. Comparable within one search only.
    pub score: f32,
    pub kind: Option<String>,
    pub media_type: Option<String>,
    /// Every name with a version pointing to it, sorted.
    pub names: Vec<String>,
}

/// The index's folder in the store.
const FOLDER: &str = "search";
/// Text indexed per artifact, at most (the rest of a longer one is not).
const CONTENT_MAX: usize = 1 << 20;
/// Journal entries read at a time while catching up.
const BATCH: usize = 4096;
/// Journal entries applied between two commits during a long catch-up, so
/// that an interrupted one keeps what it did.
const COMMIT_EVERY: usize = 65_536;
/// How long a search waits for another process's catch-up.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// Weight of a match in a name, or a tag, over one in the text.
const NAMES_BOOST: f32 = 3.0;
const TAGS_BOOST: f32 = 2.0;
/// The commit payload: the last journal entry the index reflects.
const PAYLOAD_PREFIX: &str = "journal_seq=";
/// Indexes kept open in this process (their readers map segment files).
const OPEN_MAX: usize = 16;

#[derive(Clone, Copy)]
struct Fields {
    hash: Field,
    names: Field,
    kind: Field,
    media_type: Field,
    producer: Field,
    tags: Field,
    content: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        hash: b.add_text_field("hash", STRING | STORED),
        names: b.add_text_field("names", TEXT | STORED),
        kind: b.add_text_field("kind", STRING | STORED),
        media_type: b.add_text_field("media_type", STRING | STORED),
        producer: b.add_text_field("producer", TEXT),
        tags: b.add_text_field("tags", TEXT),
        content: b.add_text_field("content", TEXT),
    };
    (b.build(), fields)
}

/// An open index: what its folder holds, and what this process has read of it.
struct SearchIndex {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    parser: QueryParser,
    /// The journal entry the reader reflects (at least); held while
    /// catching up, so that one thread of this process does it at a time.
    loaded: Mutex<i64>,
}

/// Indexes open in this process, most recently used last: `(folder,
/// (device, inode) of the folder, index)`. Two stores of one folder share
/// its reader; a folder deleted and made again is opened anew.
type Open = Vec<(PathBuf, (u64, u64), Arc<SearchIndex>)>;
static OPEN: Mutex<Open> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A tantivy error as a store error about the index's folder.
fn tantivy_err(dir: &Path) -> impl Fn(TantivyError) -> ArtifactError + '_ {
    move |e| ArtifactError::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::other(format!("the search index: {e}")),
    }
}

impl Store {
    /// The artifacts matching `query`, best first, at most `limit`; only
    /// those of `kind` when given. The query is tantivy's syntax over an
    /// artifact's names, text (text artifacts: the first MiB), tags,
    /// producer and kind: words (any may match; `+word` must, `-word` must
    /// not), `"a phrase"`, `field:word` (also `hash:` and `media_type:`),
    /// `prefix*`. Brings the index up to date with the journal first.
    pub fn search(&self, query: &str, kind: Option<&str>, limit: usize) -> Result<Vec<Hit>> {
        if limit == 0 {
            return Err(ArtifactError::Invalid("a search's limit must be at least 1".into()));
        }
        if query.trim().is_empty() {
            return Err(ArtifactError::Invalid(
                "a search query must not be empty (find() lists artifacts by kind, tag or producer)".into(),
            ));
        }
        let ix = self.search_index()?;
        let f = ix.fields;
        let err = tantivy_err(&ix.dir);
        let parsed = ix
            .parser
            .parse_query(query)
            .map_err(|e| ArtifactError::Invalid(format!("the search query {query:?} does not parse: {e}")))?;
        let query: Box<dyn Query> = match kind {
            None => parsed,
            Some(k) => {
                // A filter: it adds nothing to the score.
                let kind = TermQuery::new(Term::from_field_text(f.kind, k), IndexRecordOption::Basic);
                Box::new(BooleanQuery::new(vec![
                    (Occur::Must, parsed),
                    (Occur::Must, Box::new(ConstScoreQuery::new(Box::new(kind), 0.0))),
                ]))
            }
        };
        ix.catch_up(self)?;
        let searcher = ix.reader.searcher();
        // TopDocs allocates for its limit: no more than there are documents.
        let n = limit.min(searcher.num_docs() as usize).max(1);
        let top = searcher.search(&query, &TopDocs::with_limit(n)).map_err(&err)?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, at) in top {
            let doc: TantivyDocument = searcher.doc(at).map_err(&err)?;
            let text = |field| doc.get_first(field).and_then(|v| v.as_str()).map(str::to_owned);
            let Some(hex) = text(f.hash) else { continue };
            hits.push(Hit {
                hash: Hash::from_hex(&hex)?,
                score,
                kind: text(f.kind),
                media_type: text(f.media_type),
                names: doc
                    .get_all(f.names)
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            });
        }
        Ok(hits)
    }

    /// This store's index, opened (or made) once per process.
    fn search_index(&self) -> Result<Arc<SearchIndex>> {
        let dir = std::path::absolute(self.root.join(FOLDER)).map_err(io(self.root.join(FOLDER)))?;
        let mut made = false;
        let meta = loop {
            match fs::metadata(&dir) {
                Ok(m) => break m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !made => {
                    self.create_search_index(&dir)?;
                    made = true;
                }
                Err(e) => return Err(io(&dir)(e)),
            }
        };
        let id = (meta.dev(), meta.ino());
        let mut open = lock(&OPEN);
        if let Some(i) = open.iter().position(|(d, at, _)| *d == dir && *at == id) {
            let entry = open.remove(i);
            let ix = entry.2.clone();
            open.push(entry);
            return Ok(ix);
        }
        open.retain(|(d, _, _)| *d != dir);
        let ix = Arc::new(SearchIndex::open(dir.clone())?);
        if open.len() >= OPEN_MAX {
            open.remove(0);
        }
        open.push((dir, id, ix.clone()));
        Ok(ix)
    }

    /// Makes an empty index in `tmp/` and renames it to `dir`, unless
    /// another process got there first.
    fn create_search_index(&self, dir: &Path) -> Result<()> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let staging = self.tmp.join(format!(
            "search.{}-{}.tmp",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        let made = (|| {
            let directory = MmapDirectory::open(&staging).map_err(|e| tantivy_err(&staging)(e.into()))?;
            Index::create(directory, schema().0, Default::default()).map_err(tantivy_err(&staging))?;
            crate::sync_dir(&staging, self.options.durable)
        })();
        let renamed = made.and_then(|()| fs::rename(&staging, dir).map_err(io(dir)));
        match renamed {
            Ok(()) => crate::sync_dir(&self.root, self.options.durable),
            // Made by another process meanwhile (a rename cannot replace a
            // folder that has files): use theirs.
            Err(_) if dir.join("meta.json").exists() => {
                let _ = fs::remove_dir_all(&staging);
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&staging);
                Err(e)
            }
        }
    }
}

impl SearchIndex {
    fn open(dir: PathBuf) -> Result<SearchIndex> {
        let (index, reader) = {
            let err = tantivy_err(&dir);
            let directory = MmapDirectory::open(&dir).map_err(|e| err(e.into()))?;
            let index = Index::open(directory).map_err(&err)?;
            let reader = index
                .reader_builder()
                .reload_policy(ReloadPolicy::Manual)
                .try_into()
                .map_err(&err)?;
            (index, reader)
        };
        let (schema, fields) = schema();
        if index.schema() != schema {
            return Err(ArtifactError::Invalid(format!(
                "the search index in {} was made by another version of this code; \
                 delete the folder and the next search rebuilds it",
                dir.display()
            )));
        }
        let mut parser = QueryParser::for_index(
            &index,
            vec![fields.names, fields.content, fields.tags, fields.producer, fields.kind],
        );
        parser.set_field_boost(fields.names, NAMES_BOOST);
        parser.set_field_boost(fields.tags, TAGS_BOOST);
        // The reader starts at the last commit: catching up will check
        // whether that is the journal's head.
        Ok(SearchIndex {
            dir,
            index,
            reader,
            fields,
            parser,
            loaded: Mutex::new(-1),
        })
    }

    /// The journal entry the last commit on disk reflects; `None` for an
    /// index never committed to (or by something else).
    fn committed(&self) -> Result<Option<i64>> {
        let metas = self.index.load_metas().map_err(tantivy_err(&self.dir))?;
        Ok(metas
            .payload
            .as_deref()
            .and_then(|p| p.strip_prefix(PAYLOAD_PREFIX))
            .and_then(|s| s.parse().ok()))
    }

    /// Brings the reader up to the journal's head, replaying the journal
    /// into the index first when no process has yet.
    fn catch_up(&self, store: &Store) -> Result<()> {
        let err = tantivy_err(&self.dir);
        let mut loaded = lock(&self.loaded);
        let mut head = journal_head(store)?;
        if *loaded == head {
            return Ok(());
        }
        let committed = self.committed()?;
        if committed.is_some_and(|c| c > head) {
            // Another process got further meanwhile (or the journal went
            // back, which `apply` mends).
            head = journal_head(store)?;
        }
        if committed != Some(head) {
            let writer = self.writer()?;
            self.apply(store, writer)?;
        }
        self.reader.reload().map_err(&err)?;
        // What was committed may be newer than `head`: a later search
        // checks again, it never misses it.
        *loaded = head;
        Ok(())
    }

    /// Tantivy's writer, waiting while another process (or another store
    /// of this process) holds its lock.
    fn writer(&self) -> Result<IndexWriter> {
        let options = IndexWriterOptions::builder()
            .num_worker_threads(1)
            .num_merge_threads(1)
            // The memory budget is left at its default, tantivy's least (15 MB).
            .build();
        let deadline = Instant::now() + LOCK_WAIT;
        let mut pause = Duration::from_millis(2);
        loop {
            match self.index.writer_with_options(options.clone()) {
                Ok(w) => return Ok(w),
                Err(TantivyError::LockFailure(LockError::LockBusy, _)) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(TantivyError::LockFailure(LockError::LockBusy, _)) => {
                    return Err(ArtifactError::Io {
                        path: self.dir.clone(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!(
                                "another process has been updating the search index for {}s",
                                LOCK_WAIT.as_secs()
                            ),
                        ),
                    });
                }
                Err(e) => return Err(tantivy_err(&self.dir)(e)),
            }
        }
    }

    /// Replays the journal from where the index's last commit left it (or
    /// indexes every artifact, when the journal cannot tell), committing
    /// the journal entry reached.
    fn apply(&self, store: &Store, mut writer: IndexWriter) -> Result<()> {
        let err = tantivy_err(&self.dir);
        // Read under the lock: another process may have caught up while
        // this one waited for it.
        let from = self.committed()?;
        let oldest: Option<i64> = store
            .conn()
            .query_row("SELECT MIN(seq) FROM journal", [], |r| r.get(0))?;
        let head = journal_head(store)?;
        // `head` is read after `from`, so it is not behind it, unless the
        // journal went back (the SQLite index replaced by an older one).
        let replay = match from {
            Some(s) if s == head => Some(None),
            // The journal still holds every entry after `s`.
            Some(s) if s < head && oldest.is_none_or(|o| o <= s + 1) => Some(Some(s)),
            _ => None,
        };
        match replay {
            Some(None) => {}
            Some(Some(mut seq)) => {
                let mut since_commit = 0;
                // Up to `head` only: a busy store does not keep a search
                // catching up; later entries are for a later search.
                while seq < head {
                    let mut rows = store.journal_since(seq, BATCH)?;
                    rows.retain(|&(s, _)| s <= head);
                    let Some(&(last, _)) = rows.last() else { break };
                    let hashes: HashSet<Hash> = rows.iter().map(|(_, h)| *h).collect();
                    self.reindex(store, &writer, hashes)?;
                    seq = last;
                    since_commit += rows.len();
                    if since_commit >= COMMIT_EVERY {
                        commit(&mut writer, seq).map_err(&err)?;
                        since_commit = 0;
                    }
                }
                commit(&mut writer, seq).map_err(&err)?;
            }
            None => {
                // A new index, a journal that was cut, or one that went
                // back (the SQLite index replaced): index every artifact.
                // Its state is read after `head`: anything that changes
                // later is replayed by a later search.
                writer.delete_all_documents().map_err(&err)?;
                let hashes: Vec<String> = {
                    let conn = store.conn();
                    let mut stmt = conn.prepare("SELECT hash FROM artifacts ORDER BY rowid")?;
                    stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
                };
                for chunk in hashes.chunks(BATCH) {
                    let chunk = chunk
                        .iter()
                        .map(|h| Hash::from_hex(h))
                        .collect::<Result<HashSet<_>>>()?;
                    self.reindex(store, &writer, chunk)?;
                }
                commit(&mut writer, head).map_err(&err)?;
            }
        }
        // Merges started by the commits finish before the lock is let go
        // (dropping the writer would cancel them). One that fails leaves
        // more segments, not a wrong index: the commit stands.
        let _ = writer.wait_merging_threads();
        Ok(())
    }

    /// Replaces the documents of `hashes` by their current state.
    fn reindex(&self, store: &Store, writer: &IndexWriter, hashes: HashSet<Hash>) -> Result<()> {
        let err = tantivy_err(&self.dir);
        for hash in hashes {
            let hex = hash.to_hex();
            writer.delete_term(Term::from_field_text(self.fields.hash, &hex));
            if let Some(doc) = self.document(store, &hash, &hex)? {
                writer.add_document(doc).map_err(&err)?;
            }
        }
        Ok(())
    }

    /// The document of an artifact as stored now; `None` once it is gone.
    fn document(&self, store: &Store, hash: &Hash, hex: &str) -> Result<Option<TantivyDocument>> {
        let f = self.fields;
        let (row, tags, names) = {
            let conn = store.conn();
            let row = conn
                .prepare_cached(
                    "SELECT kind, media_type, producer, size, data IS NOT NULL
                     FROM artifacts WHERE hash = ?1",
                )?
                .query_row([hex], |r| {
                    Ok(Row {
                        kind: r.get(0)?,
                        media_type: r.get(1)?,
                        producer: r.get(2)?,
                        size: r.get::<_, i64>(3)? as u64,
                        inline: r.get(4)?,
                    })
                })
                .optional()?;
            let Some(row) = row else { return Ok(None) };
            let tags = crate::index::column(&conn, "SELECT tag FROM tags WHERE hash = ?1 ORDER BY tag", hex)?;
            let names = crate::index::column(
                &conn,
                "SELECT DISTINCT name FROM refs WHERE hash = ?1 ORDER BY name",
                hex,
            )?;
            (row, tags, names)
        };
        let Row {
            kind,
            media_type,
            producer,
            size,
            inline,
        } = row;
        let mut doc = TantivyDocument::new();
        doc.add_text(f.hash, hex);
        for name in &names {
            doc.add_text(f.names, name);
        }
        for tag in &tags {
            doc.add_text(f.tags, tag);
        }
        if let Some(k) = &kind {
            doc.add_text(f.kind, k);
        }
        if let Some(m) = &media_type {
            doc.add_text(f.media_type, m);
        }
        if let Some(p) = &producer {
            doc.add_text(f.producer, p);
        }
        let declared = media_type.as_deref().map(is_text_type);
        if declared != Some(false) {
            // Damaged or removed meanwhile: indexed without its text (a
            // removal is in the journal, and verify() reports damage).
            if let Ok(Some(text)) = content(store, hash, size, inline, declared.is_some()) {
                doc.add_text(f.content, &text);
            }
        }
        Ok(Some(doc))
    }
}

/// What the artifacts table says of one artifact, for its document.
struct Row {
    kind: Option<String>,
    media_type: Option<String>,
    producer: Option<String>,
    size: u64,
    inline: bool,
}

/// The last journal entry (0 for none).
fn journal_head(store: &Store) -> Result<i64> {
    Ok(store
        .conn()
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM journal", [], |r| r.get(0))?)
}

fn commit(writer: &mut IndexWriter, seq: i64) -> tantivy::Result<()> {
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&format!("{PAYLOAD_PREFIX}{seq}"));
    prepared.commit()?;
    Ok(())
}

/// Whether a media type says text: `text/*`, JSON, TOML, YAML, XML (also
/// as a suffix: `application/ld+json`, `image/svg+xml`).
fn is_text_type(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((top, sub)) = essence.split_once('/') else {
        return false;
    };
    let structured = ["+json", "+xml", "+yaml"].iter().any(|s| sub.ends_with(s));
    top == "text"
        || structured
        || (top == "application"
            && matches!(
                sub,
                "json" | "x-ndjson" | "jsonl" | "toml" | "x-toml" | "yaml" | "x-yaml" | "xml"
            ))
}

/// The first [`CONTENT_MAX`] bytes of an artifact as text. `declared`: its
/// media type says text (bytes that are not UTF-8 are replaced); otherwise
/// it is text only when those bytes are UTF-8 without a NUL (git's test
/// for binary).
fn content(store: &Store, hash: &Hash, size: u64, inline: bool, declared: bool) -> Result<Option<String>> {
    let bytes = if inline || size as usize <= CONTENT_MAX {
        // Small: read whole, and checked against the hash.
        let mut all = store.read_stored(hash)?;
        all.truncate(CONTENT_MAX);
        all
    } else {
        // Large: only the beginning is read, not the whole blob to hash it.
        let Some((path, enc)) = blob::find(&store.objects, hash) else {
            return Ok(None);
        };
        let file = fs::File::open(&path).map_err(io(&path))?;
        let mut out = Vec::with_capacity(CONTENT_MAX);
        let read = match enc {
            Encoding::Raw => file.take(CONTENT_MAX as u64).read_to_end(&mut out),
            Encoding::Zstd => {
                zstd::stream::read::Decoder::new(file).and_then(|d| d.take(CONTENT_MAX as u64).read_to_end(&mut out))
            }
        };
        read.map_err(io(&path))?;
        out
    };
    if declared {
        return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()));
    }
    let text = match std::str::from_utf8(&bytes) {
        Ok(s) => s,
        // Cut inside a character at the limit: what comes before it.
        Err(e) if e.error_len().is_none() && bytes.len() == CONTENT_MAX => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).expect("valid up to there")
        }
        Err(_) => return Ok(None),
    };
    if text.contains('\0') {
        return Ok(None);
    }
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::is_text_type;

    #[test]
    fn text_media_types() {
        for t in [
            "text/plain",
            "text/markdown; charset=utf-8",
            "application/json",
            "application/ld+json",
            "application/toml",
            "application/x-yaml",
            "application/xml",
            "image/svg+xml",
        ] {
            assert!(is_text_type(t), "{t}");
        }
        for t in ["application/octet-stream", "image/png", "application/x-npy", "nonsense"] {
            assert!(!is_text_type(t), "{t}");
        }
    }
}
