//! The Pit's artifact store.
//!
//! Every artifact is immutable and named by the BLAKE3 hash of its bytes, so
//! identical content is stored once. A store is a folder a person can read:
//!
//! ```text
//! FORMAT               "symphony-artifacts <version>"
//! objects/ab/cdef….zst a blob as a plain zstd frame (`zstd -d` reads it)
//! objects/ab/cdef….raw a blob stored as is (small, or incompressible)
//! index.sqlite         metadata, lineage, tags and named versions (WAL)
//! tmp/                 blobs being written (a killed writer's are removed at open)
//! ```
//!
//! A put writes the blob first (temporary file, fsync, rename, fsync of the
//! folder) and then records it in one SQLite transaction, so a crash leaves
//! at worst a blob nobody refers to; a read re-hashes what it returns, so a
//! damaged blob raises [`ArtifactError::Corrupt`] rather than wrong bytes.
//! Several processes may share a store.

mod blob;
mod cache;
mod collect;
mod error;
mod index;
mod search;
mod stream;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

pub use blob::Encoding;
pub use collect::{Entry, Removal, Snapshot, Stored};
pub use error::{ArtifactError, Result};
pub use index::{JOURNAL_KEEP, JOURNAL_TRIM_EVERY};
pub use search::Hit;
pub use stream::Mapped;

use error::io;

/// The layout version this code writes and reads. Version 1 (every blob in
/// a file) is upgraded in place when opened.
pub const FORMAT_VERSION: u32 = 2;

/// Blobs up to this size are kept in the index beside their metadata, as
/// diskcache and git's packs keep small objects: a put is then one SQLite
/// commit, not a file created, renamed and committed.
pub const INLINE_MAX: usize = 16 << 10;

/// One blob to put: its bytes, what to record of it, and the name whose
/// next version it becomes, if any.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub data: &'a [u8],
    pub meta: &'a Meta,
    pub name: Option<&'a str>,
}

/// Blobs from this size on are hashed on several threads.
const PARALLEL_HASH: usize = 1 << 20;

/// An artifact found by [`Store::locate`], to be read by [`Store::read_into`].
pub struct Located {
    hash: Hash,
    size: usize,
    source: Source,
}

enum Source {
    /// Checked when it was cached.
    Cached(std::sync::Arc<[u8]>),
    /// Inline in the index.
    Stored(Vec<u8>, Encoding),
    File(PathBuf, Encoding),
}

impl Located {
    /// Bytes the artifact holds.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// What a put gave: the hash, and the version when the item had a name.
pub type Put = (Hash, Option<u32>);

/// A blob encoded and ready to record.
struct Staged {
    size: usize,
    stored: usize,
    encoding: Encoding,
    /// The stored bytes of a blob kept in the index; `None`: in its file.
    inline: Option<Vec<u8>>,
}

/// A BLAKE3 content hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub fn of(data: &[u8]) -> Hash {
        // Large inputs are hashed on every core: BLAKE3's tree splits them.
        if data.len() >= PARALLEL_HASH {
            let mut hasher = blake3::Hasher::new();
            hasher.update_rayon(data);
            return Hash(*hasher.finalize().as_bytes());
        }
        Hash(*blake3::hash(data).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    pub fn from_hex(s: &str) -> Result<Hash> {
        blake3::Hash::from_hex(s)
            .map(|h| Hash(*h.as_bytes()))
            .map_err(|_| ArtifactError::Invalid(format!("'{s}' is not a 64-digit hex BLAKE3 hash")))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_hex()[..12])
    }
}

/// What a put records beside the bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub kind: Option<String>,
    pub media_type: Option<String>,
    /// The function that made it.
    pub producer: Option<String>,
    /// The artifacts it was made from.
    pub inputs: Vec<Hash>,
    pub quality: Option<f64>,
    pub tags: Vec<String>,
}

/// What the index knows of one artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub hash: Hash,
    pub size: u64,
    pub stored_size: u64,
    /// `"zstd"` or `"raw"`.
    pub encoding: String,
    pub kind: Option<String>,
    pub media_type: Option<String>,
    pub producer: Option<String>,
    pub quality: Option<f64>,
    /// Seconds since the Unix epoch.
    pub created: f64,
    pub accessed: f64,
    pub access_count: u64,
    /// Kept in the index rather than in a file of its own.
    pub inline: bool,
    pub inputs: Vec<Hash>,
    pub tags: Vec<String>,
}

/// One artifact in a page of [`Store::page`]: what a list shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub hash: Hash,
    pub size: u64,
    pub kind: Option<String>,
    pub media_type: Option<String>,
    pub producer: Option<String>,
    pub created: f64,
    /// Its newest name and that name's version, if a name points at it.
    pub name: Option<(String, u32)>,
    pub pinned: bool,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub checked: usize,
    /// Indexed, but no file holds the blob.
    pub missing: Vec<Hash>,
    /// A file holds it, but its bytes are wrong.
    pub corrupt: Vec<Hash>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty()
    }
}

/// How a store writes.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// zstd level, 1 (fast) to 22 (small).
    pub level: i32,
    /// fsync every blob and its folder, and the index at commit. Off: faster
    /// (training throughput), but a power cut may lose the latest puts.
    pub durable: bool,
    /// Bytes of recently used blobs kept in memory (blobs over an eighth of
    /// this are not kept). A blob another process deletes may still be read
    /// from here until it is pushed out; its bytes are never wrong.
    pub cache_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            level: 3,
            durable: true,
            cache_bytes: 64 << 20,
        }
    }
}

/// An artifact store in one folder.
pub struct Store {
    root: PathBuf,
    objects: PathBuf,
    tmp: PathBuf,
    options: Options,
    conn: Mutex<Connection>,
    /// Reads not yet counted in the index: (reads, last read time) per blob.
    /// Written in batches, so that a read is not a database commit.
    reads: Mutex<Reads>,
    cache: Mutex<cache::BlobCache>,
}

/// Reads kept in memory before they are written to the index in one go,
/// and the longest they wait (seconds).
const READS_BATCH: u64 = 1024;
const READS_EVERY: f64 = 10.0;

/// Reads not yet counted in the index.
#[derive(Default)]
struct Reads {
    /// Per blob: reads, last read time.
    counts: std::collections::HashMap<Hash, (u64, f64)>,
    total: u64,
    since: f64,
}

impl Store {
    /// Opens the store at `root`, creating it in a folder that is missing or
    /// empty; refuses a folder with other files, and a newer format.
    pub fn open(root: impl AsRef<Path>, options: Options) -> Result<Store> {
        let root = root.as_ref().to_path_buf();
        if !(1..=22).contains(&options.level) {
            return Err(ArtifactError::Invalid(format!(
                "zstd level must be between 1 and 22, got {}",
                options.level
            )));
        }
        let format = root.join("FORMAT");
        let mut upgrade = false;
        if format.exists() {
            let text = fs::read_to_string(&format).map_err(io(&format))?;
            let found = text
                .trim()
                .strip_prefix("symphony-artifacts ")
                .and_then(|v| v.parse::<u32>().ok())
                .ok_or_else(|| ArtifactError::NotAStore {
                    path: root.clone(),
                    why: format!(
                        "its FORMAT file says {:?}, not 'symphony-artifacts <version>'",
                        text.trim()
                    ),
                })?;
            if found > FORMAT_VERSION {
                return Err(ArtifactError::NewerFormat {
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            upgrade = found < FORMAT_VERSION;
        } else {
            if root.exists() {
                if !root.is_dir() {
                    return Err(ArtifactError::NotAStore {
                        path: root,
                        why: "it is a file, not a folder".into(),
                    });
                }
                // Only what another process creating the store at this very
                // moment would have made so far.
                for entry in fs::read_dir(&root).map_err(io(&root))? {
                    let name = entry.map_err(io(&root))?.file_name();
                    let name = name.to_string_lossy();
                    let ours = name.starts_with(".FORMAT.")
                        || ["objects", "tmp", "search"].contains(&name.as_ref())
                        || name.starts_with("index.sqlite");
                    if !ours {
                        return Err(ArtifactError::NotAStore {
                            path: root,
                            why: "it has files but no FORMAT file".into(),
                        });
                    }
                }
            }
            fs::create_dir_all(&root).map_err(io(&root))?;
            write_format(&root, options.durable)?;
        }
        let objects = root.join("objects");
        let tmp = root.join("tmp");
        fs::create_dir_all(&objects).map_err(io(&objects))?;
        fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        stream::remove_orphans(&tmp);
        sync_dir(&root, options.durable)?;
        let conn = index::open(&root.join("index.sqlite"), options.durable)?;
        if upgrade {
            // The index has its new columns now: say so.
            write_format(&root, options.durable)?;
        }
        Ok(Store {
            root,
            objects,
            tmp,
            options,
            conn: Mutex::new(conn),
            reads: Mutex::new(Reads {
                since: index::now(),
                ..Reads::default()
            }),
            cache: Mutex::new(cache::BlobCache::new(options.cache_bytes)),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic elsewhere cannot leave SQLite's state half-done: it rolls back.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `data` with `meta`; the hash names it. Content already stored
    /// is not written again (its metadata stays as first recorded, tags are
    /// added).
    pub fn put_blob(&self, data: &[u8], meta: &Meta) -> Result<Hash> {
        Ok(self.put_many(&[Item { data, meta, name: None }])?[0].0)
    }

    /// Stores `data` as the next version of `name` (1 for a new name);
    /// returns its hash and version.
    pub fn put(&self, name: &str, data: &[u8], meta: &Meta) -> Result<(Hash, u32)> {
        let (hash, version) = self.put_many(&[Item {
            data,
            meta,
            name: Some(name),
        }])?[0];
        Ok((hash, version.expect("a named put gets a version")))
    }

    /// Stores every item in one commit (large blobs are written to their
    /// files first): the fast way to store many small artifacts. Returns
    /// each item's hash, and its version when it has a name.
    pub fn put_many(&self, items: &[Item<'_>]) -> Result<Vec<Put>> {
        for item in items {
            check_meta(item.meta)?;
            if let Some(name) = item.name {
                check_name(name)?;
            }
        }
        self.put_checked(items, true)
    }

    /// `put_many`; `check_inputs: false` records lineage to artifacts that
    /// are gone (a restore brings lineage back as it was).
    pub(crate) fn put_checked(&self, items: &[Item<'_>], check_inputs: bool) -> Result<Vec<Put>> {
        let hashes: Vec<Hash> = items.iter().map(|i| Hash::of(i.data)).collect();
        let mut staged: Vec<Option<Staged>> = (0..items.len()).map(|_| None).collect();
        // A collector may remove content between our look and our commit:
        // the commit then names the item, and we stage it again.
        let mut redo: Option<usize> = None;
        for _ in 0..8 {
            let known = self.stored_sizes(&hashes)?;
            for (i, item) in items.iter().enumerate() {
                let missing = staged[i].is_none() && !self.is_whole(&hashes[i], known.get(&hashes[i]).copied());
                if missing || redo == Some(i) {
                    staged[i] = Some(self.stage(&hashes[i], item.data)?);
                }
            }
            match self.commit(items, &hashes, &staged, check_inputs)? {
                Ok(out) => {
                    let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                    for (item, hash) in items.iter().zip(&hashes) {
                        cache.insert(*hash, item.data);
                    }
                    return Ok(out);
                }
                Err(i) => redo = Some(i),
            }
        }
        Err(ArtifactError::Invalid(
            "a put kept racing a collector removing the same content; try again".into(),
        ))
    }

    /// Stored sizes of those of `hashes` that are indexed; `-1` for inline.
    fn stored_sizes(&self, hashes: &[Hash]) -> Result<std::collections::HashMap<Hash, i64>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT CASE WHEN data IS NULL THEN stored_size ELSE -1 END FROM artifacts WHERE hash = ?1",
        )?;
        let mut out = std::collections::HashMap::new();
        for h in hashes {
            if let Some(n) = stmt.query_row([h.to_hex()], |r| r.get::<_, i64>(0)).optional()? {
                out.insert(*h, n);
            }
        }
        Ok(out)
    }

    /// Whether an indexed blob is whole: inline, or its file has the stored
    /// length (a power cut in non-durable mode can leave a file torn).
    fn is_whole(&self, hash: &Hash, stored: Option<i64>) -> bool {
        match stored {
            None => false,
            Some(-1) => true,
            Some(n) => {
                blob::find(&self.objects, hash).is_some_and(|(p, _)| fs::metadata(p).is_ok_and(|m| m.len() as i64 == n))
            }
        }
    }

    /// Encodes a blob; a large one is written to its file now.
    fn stage(&self, hash: &Hash, data: &[u8]) -> Result<Staged> {
        let (bytes, encoding) = blob::encode(data, self.options.level)?;
        let stored = bytes.len();
        if data.len() <= INLINE_MAX {
            return Ok(Staged {
                size: data.len(),
                stored,
                encoding,
                inline: Some(bytes),
            });
        }
        let target = blob::path_of(&self.objects, hash, encoding);
        blob::write_atomic(&self.tmp, &target, &bytes, self.options.durable)?;
        Ok(Staged {
            size: data.len(),
            stored,
            encoding,
            inline: None,
        })
    }

    /// Records `items` (their metadata and names: the bytes are staged
    /// already) in one IMMEDIATE transaction, or names an item whose blob
    /// must be staged (again): content it did not stage that has gone
    /// meanwhile, or a file removed after it was written. The file of a
    /// new blob is checked under the write lock, which a collector holds
    /// while it unlinks: a blob is never indexed without its file.
    /// `check_inputs`: refuse inputs that are not stored (a restore brings
    /// lineage back as it was, and skips it).
    pub(crate) fn commit(
        &self,
        items: &[Item<'_>],
        hashes: &[Hash],
        staged: &[Option<Staged>],
        check_inputs: bool,
    ) -> Result<std::result::Result<Vec<Put>, usize>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = index::now();
        let mut out = Vec::with_capacity(items.len());
        for (n, ((item, hash), staged)) in items.iter().zip(hashes).zip(staged).enumerate() {
            let h = hash.to_hex();
            let indexed: Option<(String, i64)> = tx
                .prepare_cached("SELECT encoding, stored_size FROM artifacts WHERE hash = ?1")?
                .query_row([&h], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let file_of = |st: &Staged| -> Option<PathBuf> {
                st.inline
                    .is_none()
                    .then(|| blob::path_of(&self.objects, hash, st.encoding))
            };
            let whole = |st: &Staged, path: &Path| fs::metadata(path).is_ok_and(|m| m.len() as usize == st.stored);
            match (&indexed, staged) {
                (None, None) => return Ok(Err(n)),
                (None, Some(st)) => {
                    if let Some(path) = file_of(st) {
                        if !whole(st, &path) {
                            return Ok(Err(n));
                        }
                        // A file of this content in the other encoding is a
                        // leftover (nothing indexes it): reads must not find it.
                        self.remove_other_encoding(hash, st.encoding)?;
                    }
                    let meta = item.meta;
                    tx.prepare_cached(
                        "INSERT INTO artifacts
                         (hash, size, stored_size, encoding, kind, media_type, producer, quality, created, accessed, data)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
                    )?
                    .execute(params![
                        h,
                        st.size as i64,
                        st.stored as i64,
                        st.encoding.name(),
                        meta.kind,
                        meta.media_type,
                        meta.producer,
                        meta.quality,
                        now,
                        st.inline
                    ])?;
                    let mut input = tx.prepare_cached("INSERT OR IGNORE INTO inputs (hash, input) VALUES (?1, ?2)")?;
                    for i in &meta.inputs {
                        let ih = i.to_hex();
                        // Lineage names stored artifacts only: an input the stale
                        // manager removed meanwhile is an error, not a dangling link.
                        if check_inputs
                            && !tx
                                .prepare_cached("SELECT 1 FROM artifacts WHERE hash = ?1")?
                                .exists([&ih])?
                        {
                            let removed: Option<(String, String)> = tx
                                .prepare_cached("SELECT action, rule FROM removed WHERE hash = ?1")?
                                .query_row([&ih], |r| Ok((r.get(0)?, r.get(1)?)))
                                .optional()?;
                            let why = match removed {
                                Some((action, rule)) => format!("the stale manager's rule '{rule}' did {action} it"),
                                None => "it was never stored".to_owned(),
                            };
                            return Err(ArtifactError::MissingInput { input: *i, why });
                        }
                        input.execute(params![h, ih])?;
                    }
                    tx.prepare_cached("DELETE FROM removed WHERE hash = ?1")?
                        .execute([&h])?;
                }
                (Some((encoding, stored)), staged) => {
                    // Put again: as good as a read for the stale manager, and
                    // journaled below, so a collector's run in progress spares it.
                    tx.prepare_cached("UPDATE artifacts SET accessed = ?2 WHERE hash = ?1")?
                        .execute(params![h, now])?;
                    if let Some(st) = staged
                        && let Some(path) = file_of(st)
                    {
                        // Staged because the indexed file was missing or torn:
                        // ours replaces it, in whichever encoding we wrote.
                        if !whole(st, &path) {
                            return Ok(Err(n));
                        }
                        if encoding != st.encoding.name() || *stored != st.stored as i64 {
                            tx.prepare_cached("UPDATE artifacts SET encoding = ?2, stored_size = ?3 WHERE hash = ?1")?
                                .execute(params![h, st.encoding.name(), st.stored as i64])?;
                            self.remove_other_encoding(hash, st.encoding)?;
                        }
                    }
                }
            }
            let mut tag = tx.prepare_cached("INSERT OR IGNORE INTO tags (hash, tag) VALUES (?1, ?2)")?;
            for t in &item.meta.tags {
                tag.execute(params![h, t])?;
            }
            let version = match item.name {
                None => None,
                Some(name) => {
                    let v: u32 = tx
                        .prepare_cached("SELECT COALESCE(MAX(version), 0) + 1 FROM refs WHERE name = ?1")?
                        .query_row([name], |r| r.get(0))?;
                    tx.prepare_cached("INSERT INTO refs (name, version, hash, created) VALUES (?1, ?2, ?3, ?4)")?
                        .execute(params![name, v, h, now])?;
                    Some(v)
                }
            };
            index::journal(&tx, &h)?;
            out.push((*hash, version));
        }
        tx.commit()?;
        Ok(Ok(out))
    }

    fn remove_other_encoding(&self, hash: &Hash, keep: Encoding) -> Result<()> {
        let other = match keep {
            Encoding::Raw => Encoding::Zstd,
            Encoding::Zstd => Encoding::Raw,
        };
        let path = blob::path_of(&self.objects, hash, other);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        }
    }

    /// The hash of `name`'s `version` (the latest when `None`).
    pub fn resolve(&self, name: &str, version: Option<u32>) -> Result<Hash> {
        let conn = self.conn();
        let found: Option<String> = match version {
            None => conn
                .query_row(
                    "SELECT hash FROM refs WHERE name = ?1 ORDER BY version DESC LIMIT 1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?,
            Some(v) => conn
                .query_row(
                    "SELECT hash FROM refs WHERE name = ?1 AND version = ?2",
                    params![name, v],
                    |r| r.get(0),
                )
                .optional()?,
        };
        let hex = found.ok_or_else(|| ArtifactError::UnknownName {
            name: name.to_owned(),
            version,
        })?;
        Hash::from_hex(&hex)
    }

    /// The bytes of `name`'s `version` (the latest when `None`).
    pub fn get(&self, name: &str, version: Option<u32>) -> Result<Vec<u8>> {
        let hash = self.resolve(name, version)?;
        self.get_by_hash(&hash)
    }

    /// The bytes of the artifact `hash`, checked against it.
    pub fn get_by_hash(&self, hash: &Hash) -> Result<Vec<u8>> {
        let found = self.locate(hash)?;
        let mut data = vec![0; found.size()];
        self.read_into(found, &mut data)?;
        Ok(data)
    }

    /// Where the bytes of `hash` are: the first half of a read that fills a
    /// buffer the caller made ([`Store::read_into`]), so that a binding
    /// writes straight into the object it returns.
    pub fn locate(&self, hash: &Hash) -> Result<Located> {
        if let Some(data) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(hash) {
            return Ok(Located {
                hash: *hash,
                size: data.len(),
                source: Source::Cached(data),
            });
        }
        self.locate_stored(hash)
    }

    /// Where the stored bytes of `hash` are, the cache left aside.
    fn locate_stored(&self, hash: &Hash) -> Result<Located> {
        let row: Option<(i64, String, Option<Vec<u8>>)> = self
            .conn()
            .prepare_cached("SELECT size, encoding, data FROM artifacts WHERE hash = ?1")?
            .query_row([hash.to_hex()], |r| {
                Ok((r.get(0)?, r.get(1)?, stored_bytes(r.get_ref(2)?)))
            })
            .optional()?;
        let Some((size, encoding, data)) = row else {
            return Err(self.why_unknown(hash));
        };
        let source = match data {
            Some(stored) => {
                let encoding = Encoding::parse(&encoding).ok_or_else(|| ArtifactError::Corrupt {
                    hash: *hash,
                    why: format!("the index gives it the unknown encoding '{encoding}'"),
                })?;
                Source::Stored(stored, encoding)
            }
            None => match blob::find(&self.objects, hash) {
                Some((path, encoding)) => Source::File(path, encoding),
                // Removed by another process between our look and our read.
                None if !self.contains(hash)? => return Err(self.why_unknown(hash)),
                None => {
                    return Err(ArtifactError::Corrupt {
                        hash: *hash,
                        why: "its file is missing".into(),
                    });
                }
            },
        };
        let size = usize::try_from(size).map_err(|_| ArtifactError::Corrupt {
            hash: *hash,
            why: format!("the index gives it the size {size}"),
        })?;
        Ok(Located {
            hash: *hash,
            size,
            source,
        })
    }

    /// Fills `out` (exactly [`Located::size`] bytes) with the artifact's
    /// bytes, decompressed and checked against its hash.
    pub fn read_into(&self, found: Located, out: &mut [u8]) -> Result<()> {
        let Located { hash, size, source } = found;
        if out.len() != size {
            return Err(ArtifactError::Invalid(format!(
                "a buffer of {} bytes for an artifact of {size}",
                out.len()
            )));
        }
        self.decode(hash, source, out)?;
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(hash, out);
        self.note_read(&hash);
        Ok(())
    }

    /// The bytes `source` holds, decoded into `out` and checked.
    fn decode(&self, hash: Hash, source: Source, out: &mut [u8]) -> Result<()> {
        match source {
            Source::Cached(data) => out.copy_from_slice(&data),
            Source::Stored(stored, encoding) => blob::decode_into(&stored, encoding, &hash, out)?,
            Source::File(path, encoding) => match blob::read_into(&path, encoding, &hash, out) {
                // Removed by another process between our look and our read.
                Err(ArtifactError::Io { .. }) if !self.contains(&hash)? => return Err(self.why_unknown(&hash)),
                other => other?,
            },
        }
        Ok(())
    }

    /// Counts a read of `hash` in memory; writes the counts to the index
    /// when a batch is due.
    fn note_read(&self, hash: &Hash) {
        let due = {
            let mut reads = self.reads.lock().unwrap_or_else(|p| p.into_inner());
            let now = index::now();
            let entry = reads.counts.entry(*hash).or_insert((0, 0.0));
            entry.0 += 1;
            entry.1 = now;
            reads.total += 1;
            reads.total >= READS_BATCH || now - reads.since > READS_EVERY
        };
        if due {
            // The bytes are good; a busy index only delays the counts.
            let _ = self.flush_reads();
        }
    }

    /// Writes the reads counted in memory to the index (access counts and
    /// times, which the stale manager weighs). Queries that show them call
    /// it first, and so does dropping the store; a crash loses at most the
    /// last batch of counts, never data.
    pub fn flush_reads(&self) -> Result<()> {
        let pending = {
            let mut reads = self.reads.lock().unwrap_or_else(|p| p.into_inner());
            reads.total = 0;
            reads.since = index::now();
            std::mem::take(&mut reads.counts)
        };
        if pending.is_empty() {
            return Ok(());
        }
        let written = (|| {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE artifacts SET accessed = MAX(accessed, ?2), access_count = access_count + ?3
                     WHERE hash = ?1",
                )?;
                for (hash, (count, last)) in &pending {
                    update.execute(params![hash.to_hex(), last, *count as i64])?;
                }
            }
            tx.commit()
        })();
        if let Err(e) = written {
            // Kept for the next flush rather than lost.
            let mut reads = self.reads.lock().unwrap_or_else(|p| p.into_inner());
            for (hash, (count, last)) in pending {
                let entry = reads.counts.entry(hash).or_insert((0, 0.0));
                entry.0 += count;
                entry.1 = entry.1.max(last);
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Reads and checks a blob from the index or its file, past the cache
    /// and without counting a read (checks and the search index use it).
    fn read_stored(&self, hash: &Hash) -> Result<Vec<u8>> {
        let found = self.locate_stored(hash)?;
        let mut out = vec![0; found.size];
        self.decode(found.hash, found.source, &mut out)?;
        Ok(out)
    }

    /// The error for a hash the index does not hold: removed by the stale
    /// manager (and how), or never stored.
    pub(crate) fn why_unknown(&self, hash: &Hash) -> ArtifactError {
        let removed: Option<(f64, String, String)> = self
            .conn()
            .prepare_cached("SELECT at, action, rule FROM removed WHERE hash = ?1")
            .and_then(|mut s| {
                s.query_row([hash.to_hex()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
            })
            .ok()
            .flatten();
        match removed {
            Some((at, action, rule)) => ArtifactError::Removed {
                hash: *hash,
                at,
                action,
                rule,
            },
            None => ArtifactError::UnknownHash(*hash),
        }
    }

    /// Reads and re-hashes one blob: `Ok` when its bytes are whole.
    pub fn check(&self, hash: &Hash) -> Result<()> {
        self.read_stored(hash).map(|_| ())
    }

    pub fn contains(&self, hash: &Hash) -> Result<bool> {
        Ok(self.size_of(hash)?.is_some())
    }

    /// The indexed size of `hash`, if it is indexed.
    fn size_of(&self, hash: &Hash) -> Result<Option<u64>> {
        let size: Option<i64> = self
            .conn()
            .query_row("SELECT size FROM artifacts WHERE hash = ?1", [hash.to_hex()], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(size.map(|n| n as u64))
    }

    /// What the index knows of `hash`.
    pub fn info(&self, hash: &Hash) -> Result<Info> {
        self.flush_reads()?;
        let found = index::info(&self.conn(), hash)?;
        found.ok_or_else(|| self.why_unknown(hash))
    }

    /// `name`'s versions, oldest first: (version, hash, created).
    pub fn history(&self, name: &str) -> Result<Vec<(u32, Hash, f64)>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT version, hash, created FROM refs WHERE name = ?1 ORDER BY version")?;
        let rows = stmt.query_map([name], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?, r.get::<_, f64>(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (v, h, t) = row?;
            out.push((v, Hash::from_hex(&h)?, t));
        }
        if out.is_empty() {
            return Err(ArtifactError::UnknownName {
                name: name.to_owned(),
                version: None,
            });
        }
        Ok(out)
    }

    /// Every ancestor edge `(artifact, input)` reachable from `hash`, breadth first.
    pub fn lineage(&self, hash: &Hash) -> Result<Vec<(Hash, Hash)>> {
        if !self.contains(hash)? {
            return Err(ArtifactError::UnknownHash(*hash));
        }
        let conn = self.conn();
        let mut edges = Vec::new();
        let mut seen = std::collections::HashSet::from([*hash]);
        let mut queue = std::collections::VecDeque::from([*hash]);
        while let Some(h) = queue.pop_front() {
            for input in index::column(
                &conn,
                "SELECT input FROM inputs WHERE hash = ?1 ORDER BY rowid",
                &h.to_hex(),
            )? {
                let input = Hash::from_hex(&input)?;
                edges.push((h, input));
                if seen.insert(input) {
                    queue.push_back(input);
                }
            }
        }
        Ok(edges)
    }

    /// Artifacts matching every filter given, oldest first.
    pub fn find(&self, kind: Option<&str>, tag: Option<&str>, producer: Option<&str>) -> Result<Vec<Hash>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT a.hash FROM artifacts a
             WHERE (?1 IS NULL OR a.kind = ?1)
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM tags t WHERE t.hash = a.hash AND t.tag = ?2))
               AND (?3 IS NULL OR a.producer = ?3)
             ORDER BY a.created, a.rowid",
        )?;
        let rows = stmt.query_map(params![kind, tag, producer], |r| r.get::<_, String>(0))?;
        rows.map(|r| Hash::from_hex(&r?)).collect()
    }

    /// A page of the store, newest first: how many artifacts match in all,
    /// and those from `offset` to `offset + limit`. Paged in SQLite (an
    /// index on `created`), so the first page of a large store is as quick
    /// as that of a small one.
    pub fn page(&self, offset: u64, limit: u32, kind: Option<&str>) -> Result<(u64, Vec<Listed>)> {
        let conn = self.conn();
        // One read transaction: the total and the page see the same store.
        let tx = conn.unchecked_transaction()?;
        let total: i64 = tx
            .prepare_cached("SELECT COUNT(*) FROM artifacts WHERE (?1 IS NULL OR kind = ?1)")?
            .query_row(params![kind], |r| r.get(0))?;
        // Both subqueries order alike down to the rowid, so name and version are one ref's.
        let mut stmt = tx.prepare_cached(
            "SELECT a.hash, a.size, a.kind, a.media_type, a.producer, a.created,
                    (SELECT r.name FROM refs r WHERE r.hash = a.hash
                     ORDER BY r.created DESC, r.version DESC, r.rowid DESC LIMIT 1),
                    (SELECT r.version FROM refs r WHERE r.hash = a.hash
                     ORDER BY r.created DESC, r.version DESC, r.rowid DESC LIMIT 1),
                    EXISTS (SELECT 1 FROM pins p WHERE p.hash = a.hash)
             FROM artifacts a
             WHERE (?1 IS NULL OR a.kind = ?1)
             ORDER BY a.created DESC, a.rowid DESC
             LIMIT ?2 OFFSET ?3",
        )?;
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![kind, limit, offset], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Listed {
                    hash: Hash([0; 32]),
                    size: r.get::<_, i64>(1)? as u64,
                    kind: r.get(2)?,
                    media_type: r.get(3)?,
                    producer: r.get(4)?,
                    created: r.get(5)?,
                    name: match (r.get::<_, Option<String>>(6)?, r.get::<_, Option<u32>>(7)?) {
                        (Some(n), Some(v)) => Some((n, v)),
                        _ => None,
                    },
                    pinned: r.get(8)?,
                },
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (hex, mut listed) = row?;
            listed.hash = Hash::from_hex(&hex)?;
            out.push(listed);
        }
        drop(stmt);
        tx.commit()?;
        Ok((total as u64, out))
    }

    /// Re-hashes every indexed blob; reports the missing and the corrupt.
    pub fn verify(&self) -> Result<Report> {
        let rows: Vec<(String, bool)> = {
            let conn = self.conn();
            let mut stmt = conn.prepare("SELECT hash, data IS NOT NULL FROM artifacts ORDER BY rowid")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut report = Report::default();
        for (hex, inline) in rows {
            let hash = Hash::from_hex(&hex)?;
            report.checked += 1;
            if !inline && blob::find(&self.objects, &hash).is_none() {
                report.missing.push(hash);
                continue;
            }
            match self.read_stored(&hash) {
                Ok(_) => {}
                // Removed meanwhile by another process: not damage.
                Err(ArtifactError::UnknownHash(_) | ArtifactError::Removed { .. }) => report.checked -= 1,
                Err(_) => report.corrupt.push(hash),
            }
        }
        Ok(report)
    }

    /// Where the blob of `hash` lies, and how it is encoded; `None` for a
    /// blob kept in the index (see [`INLINE_MAX`]) or not stored.
    pub fn object_path(&self, hash: &Hash) -> Option<(PathBuf, Encoding)> {
        blob::find(&self.objects, hash)
    }
}

/// An inline blob's bytes however SQLite typed them (an edit by hand can
/// leave text): wrong bytes are then caught by the hash, not by a type error.
fn stored_bytes(v: rusqlite::types::ValueRef<'_>) -> Option<Vec<u8>> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Blob(b) | ValueRef::Text(b) => Some(b.to_vec()),
        ValueRef::Integer(i) => Some(i.to_string().into_bytes()),
        ValueRef::Real(x) => Some(x.to_string().into_bytes()),
        ValueRef::Null => None,
    }
}

fn write_format(root: &Path, durable: bool) -> Result<()> {
    let staging = root.join(format!(".FORMAT.{}.tmp", std::process::id()));
    fs::write(&staging, format!("symphony-artifacts {FORMAT_VERSION}\n")).map_err(io(&staging))?;
    // Whoever renames last wins; every writer writes the same text.
    let format = root.join("FORMAT");
    fs::rename(&staging, &format).map_err(io(&format))?;
    sync_dir(root, durable)
}

/// fsync of a folder, so that the entries made in it survive a power cut.
pub(crate) fn sync_dir(dir: &Path, durable: bool) -> Result<()> {
    if durable {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    }
    Ok(())
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.flush_reads();
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 1024 || name.chars().any(char::is_control) {
        return Err(ArtifactError::Invalid(format!(
            "an artifact name must be 1 to 1024 printable characters, got {name:?}"
        )));
    }
    Ok(())
}

fn check_meta(meta: &Meta) -> Result<()> {
    if let Some(q) = meta.quality
        && !q.is_finite()
    {
        return Err(ArtifactError::Invalid(format!("quality must be finite, got {q}")));
    }
    Ok(())
}
