//! What a collector (the stale manager) needs of a store: a snapshot of all
//! it weighs, the stored bytes to archive, pins, and removal and restore
//! that keep the index, the files and the journal in step.
//!
//! A removal runs in one IMMEDIATE transaction and unlinks files before it
//! commits; a put checks its new file under the same write lock, so a blob
//! is never indexed without its file. Anything the journal shows changed
//! since the snapshot (a new ref, pin or child) is spared, with its
//! ancestors: a collector working from an old snapshot cannot remove what
//! became reachable meanwhile.

use std::collections::hash_map::Entry as Entry_;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::hash::BuildHasherDefault;
use std::path::PathBuf;

use rusqlite::{OptionalExtension, params};

use crate::error::{ArtifactError, Result};
use crate::{Encoding, Hash, Info, Item, Meta, Store, blob, index};

/// One artifact as a collector weighs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub hash: Hash,
    pub size: u64,
    pub stored_size: u64,
    pub created: f64,
    pub accessed: f64,
    pub access_count: u64,
    pub quality: Option<f64>,
    pub kind: Option<String>,
}

/// Everything in the index that decides what may go, read at one instant.
/// Links are indices into `entries`; links to artifacts not stored are left
/// out (but for odds of 1 in 2^64 per link, see `HashIndex::get`).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub entries: Vec<Entry>,
    /// `(artifact, input)`.
    pub edges: Vec<(u32, u32)>,
    /// Versions of names: `(newer versions of the same name, artifact)`;
    /// 0 marks a name's latest version.
    pub refs: Vec<(u32, u32)>,
    pub pins: Vec<u32>,
    /// The artifacts carrying each tag asked for.
    pub tagged: HashMap<String, Vec<u32>>,
    /// The last journal entry the snapshot reflects.
    pub seq: i64,
    /// When it was taken (seconds since the Unix epoch).
    pub taken: f64,
}

/// Where an artifact's stored bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    Inline(Vec<u8>),
    File(PathBuf),
}

/// An artifact to remove, how, and by which rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Removal {
    pub hash: Hash,
    /// `"archive"` (restorable) or `"delete"`.
    pub action: String,
    pub rule: String,
}

impl Store {
    /// Reads all a collector weighs in one read transaction.
    pub fn snapshot(&self, tags: &[&str]) -> Result<Snapshot> {
        self.flush_reads()?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut snap = Snapshot {
            taken: index::now(),
            ..Snapshot::default()
        };
        let mut at = HashIndex::default();
        {
            let mut stmt = tx.prepare(
                "SELECT hash, size, stored_size, created, accessed, access_count, quality, kind FROM artifacts",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let hash = parse_hex(r.get_ref(0)?.as_bytes().map_err(rusqlite::Error::from)?)
                    .ok_or_else(|| ArtifactError::Invalid("the index holds a malformed hash".into()))?;
                at.insert(hash, snap.entries.len() as u32, &snap.entries);
                snap.entries.push(Entry {
                    hash,
                    size: r.get::<_, i64>(1)? as u64,
                    stored_size: r.get::<_, i64>(2)? as u64,
                    created: r.get(3)?,
                    accessed: r.get(4)?,
                    access_count: r.get::<_, i64>(5)? as u64,
                    quality: r.get(6)?,
                    kind: r.get(7)?,
                });
            }
        }
        let lookup = |hex: &[u8]| at.get(hex);
        {
            let mut stmt = tx.prepare("SELECT hash, input FROM inputs")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let a = lookup(r.get_ref(0)?.as_bytes().map_err(rusqlite::Error::from)?);
                let b = lookup(r.get_ref(1)?.as_bytes().map_err(rusqlite::Error::from)?);
                if let (Some(a), Some(b)) = (a, b) {
                    snap.edges.push((a, b));
                }
            }
        }
        {
            // In name order, newest first: a version's rank is the count of
            // rows of its name seen before it. No name is copied out.
            let mut stmt = tx.prepare("SELECT name, hash FROM refs ORDER BY name, version DESC")?;
            let mut rows = stmt.query([])?;
            let mut name: Vec<u8> = Vec::new();
            let mut rank = 0u32;
            while let Some(r) = rows.next()? {
                let this = r.get_ref(0)?.as_bytes().map_err(rusqlite::Error::from)?;
                if this == name.as_slice() {
                    rank += 1;
                } else {
                    name.clear();
                    name.extend_from_slice(this);
                    rank = 0;
                }
                if let Some(i) = lookup(r.get_ref(1)?.as_bytes().map_err(rusqlite::Error::from)?) {
                    snap.refs.push((rank, i));
                }
            }
        }
        let lookup = |hex: &str| lookup(hex.as_bytes());
        for hex in column_all(&tx, "SELECT hash FROM pins")? {
            if let Some(i) = lookup(&hex) {
                snap.pins.push(i);
            }
        }
        for tag in tags {
            let found = index::column(&tx, "SELECT hash FROM tags WHERE tag = ?1", tag)?;
            snap.tagged
                .insert((*tag).to_owned(), found.iter().filter_map(|h| lookup(h)).collect());
        }
        snap.seq = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM journal", [], |r| r.get(0))?;
        Ok(snap)
    }

    /// The stored bytes of `hash` (as kept: possibly a zstd frame), their
    /// encoding, and what the index knows of it: what an archive keeps.
    pub fn stored(&self, hash: &Hash) -> Result<(Stored, Encoding, Info)> {
        let info = self.info(hash)?;
        let mut encoding = Encoding::parse(&info.encoding).ok_or_else(|| ArtifactError::Corrupt {
            hash: *hash,
            why: format!("the index gives it the unknown encoding '{}'", info.encoding),
        })?;
        let stored = if info.inline {
            let data: Option<Vec<u8>> = self
                .conn()
                .query_row("SELECT data FROM artifacts WHERE hash = ?1", [hash.to_hex()], |r| {
                    r.get(0)
                })
                .optional()?
                .flatten();
            Stored::Inline(data.ok_or_else(|| self.why_unknown(hash))?)
        } else {
            // The file says how it is encoded: that is what an archive keeps.
            let (path, found) = blob::find(&self.objects, hash).ok_or_else(|| ArtifactError::Corrupt {
                hash: *hash,
                why: "its file is missing".into(),
            })?;
            encoding = found;
            Stored::File(path)
        };
        Ok((stored, encoding, info))
    }

    /// Removes what `removals` name, in one transaction, except what the
    /// journal shows changed after `since` (and its ancestors). Returns the
    /// hashes removed.
    pub fn remove(&self, removals: &[Removal], since: i64) -> Result<Vec<Hash>> {
        let mut removed = Vec::new();
        let mut files = Vec::new();
        {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let oldest: Option<i64> = tx.query_row("SELECT MIN(seq) FROM journal", [], |r| r.get(0))?;
            if let Some(oldest) = oldest.filter(|&o| o > since.saturating_add(1)) {
                return Err(ArtifactError::SnapshotTooOld { since, oldest });
            }
            let spared = spared_since(&tx, since)?;
            let now = index::now();
            // In key order: neighbours share index pages, so fewer pages are
            // dirtied (and written to the WAL) per removal.
            let mut ordered: Vec<&Removal> = removals.iter().collect();
            ordered.sort_unstable_by_key(|r| r.hash);
            for r in ordered {
                let h = r.hash.to_hex();
                if spared.contains(&h) {
                    continue;
                }
                let inline: Option<bool> = tx
                    .prepare_cached("DELETE FROM artifacts WHERE hash = ?1 RETURNING data IS NOT NULL")?
                    .query_row([&h], |row| row.get(0))
                    .optional()?;
                let Some(inline) = inline else { continue };
                tx.prepare_cached("DELETE FROM tags WHERE hash = ?1")?.execute([&h])?;
                tx.prepare_cached("DELETE FROM inputs WHERE hash = ?1")?.execute([&h])?;
                tx.prepare_cached("INSERT OR REPLACE INTO removed (hash, at, action, rule) VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![h, now, r.action, r.rule])?;
                index::journal(&tx, &h)?;
                if !inline {
                    for encoding in [Encoding::Zstd, Encoding::Raw] {
                        files.push((r.hash, blob::path_of(&self.objects, &r.hash, encoding)));
                    }
                }
                removed.push(r.hash);
            }
            tx.commit()?;
        }
        // Rows first, files second: a crash between the two leaves files
        // nobody refers to (swept later), never a row without its file. The
        // files go under the write lock, only where no row came back: a put
        // of the same content checks its file under the same lock.
        if !files.is_empty() {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for (hash, path) in &files {
                if tx
                    .prepare_cached("SELECT 1 FROM artifacts WHERE hash = ?1")?
                    .exists([hash.to_hex()])?
                {
                    continue;
                }
                match fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(crate::error::io(path)(e)),
                }
            }
            tx.commit()?;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        for h in &removed {
            cache.remove(h);
        }
        Ok(removed)
    }

    /// Deletes one artifact for good. Refused while it is pinned, a version
    /// of a name, or an input of a stored artifact: unpin it, delete the
    /// name, or delete what was made from it, first.
    pub fn delete(&self, hash: &Hash) -> Result<()> {
        if !self.contains(hash)? {
            return Err(self.why_unknown(hash));
        }
        // A pin or name added after this look is in the journal past here:
        // the removal then spares it.
        let since: i64 = self
            .conn()
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM journal", [], |r| r.get(0))?;
        let (pinned, names, child) = {
            let conn = self.conn();
            let h = hash.to_hex();
            let pinned = conn
                .prepare_cached("SELECT 1 FROM pins WHERE hash = ?1")?
                .exists([&h])?;
            let names = index::column(&conn, "SELECT name || ' v' || version FROM refs WHERE hash = ?1", &h)?;
            let child = index::column(
                &conn,
                "SELECT i.hash FROM inputs i JOIN artifacts a ON a.hash = i.hash WHERE i.input = ?1 LIMIT 1",
                &h,
            )?;
            (pinned, names, child)
        };
        if let Some(child) = child.first() {
            return Err(ArtifactError::InUse {
                hash: *hash,
                why: format!("artifact {child} was made from it (its lineage would break)"),
            });
        }
        if pinned {
            return Err(ArtifactError::InUse {
                hash: *hash,
                why: "it is pinned".into(),
            });
        }
        if !names.is_empty() {
            return Err(ArtifactError::InUse {
                hash: *hash,
                why: format!("it is {}", names.join(", ")),
            });
        }
        let removal = Removal {
            hash: *hash,
            action: "delete".into(),
            rule: "deleted by the user".into(),
        };
        if self.remove(&[removal], since)?.is_empty() && self.contains(hash)? {
            return Err(ArtifactError::InUse {
                hash: *hash,
                why: "it was pinned, named or put again while being deleted".into(),
            });
        }
        Ok(())
    }

    /// Forgets every version of `name`; returns how many there were. The
    /// artifacts stay until a collector finds them unreachable.
    pub fn delete_ref(&self, name: &str) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let hashes = index::column(&tx, "SELECT hash FROM refs WHERE name = ?1", name)?;
        if hashes.is_empty() {
            return Err(ArtifactError::UnknownName {
                name: name.to_owned(),
                version: None,
            });
        }
        tx.execute("DELETE FROM refs WHERE name = ?1", [name])?;
        for h in &hashes {
            index::journal(&tx, h)?;
        }
        tx.commit()?;
        Ok(hashes.len())
    }

    /// Keeps `hash` whatever a collector's rules say, until unpinned.
    pub fn pin(&self, hash: &Hash, reason: Option<&str>) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let h = hash.to_hex();
        if !tx
            .prepare_cached("SELECT 1 FROM artifacts WHERE hash = ?1")?
            .exists([&h])?
        {
            drop(tx);
            drop(conn);
            return Err(self.why_unknown(hash));
        }
        tx.execute(
            "INSERT OR REPLACE INTO pins (hash, reason, created) VALUES (?1, ?2, ?3)",
            params![h, reason, index::now()],
        )?;
        index::journal(&tx, &h)?;
        tx.commit()?;
        Ok(())
    }

    /// Whether `hash` was pinned.
    pub fn unpin(&self, hash: &Hash) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let h = hash.to_hex();
        let was = tx.execute("DELETE FROM pins WHERE hash = ?1", [&h])? > 0;
        if was {
            index::journal(&tx, &h)?;
        }
        tx.commit()?;
        Ok(was)
    }

    /// Pinned artifacts: `(hash, reason, pinned at)`.
    pub fn pins(&self) -> Result<Vec<(Hash, Option<String>, f64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT hash, reason, created FROM pins ORDER BY created")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (h, reason, at) = row?;
            out.push((Hash::from_hex(&h)?, reason, at));
        }
        Ok(out)
    }

    /// Puts an archived artifact back: `stored` (as kept, in `encoding`) is
    /// checked against the hash first, then recorded with its metadata and
    /// lineage as they were, in one transaction. It counts as new (created
    /// now): the stale manager's grace covers it, so a restore sticks.
    pub fn restore(&self, stored: Vec<u8>, encoding: Encoding, info: &Info) -> Result<()> {
        let data = blob::decode(stored, encoding, info.size, &info.hash)?;
        let meta = Meta {
            kind: info.kind.clone(),
            media_type: info.media_type.clone(),
            producer: info.producer.clone(),
            inputs: info.inputs.clone(),
            quality: info.quality,
            tags: info.tags.clone(),
        };
        self.put_checked(
            &[Item {
                data: &data,
                meta: &meta,
                name: None,
            }],
            false,
        )?;
        Ok(())
    }

    /// Deletes files in `objects/` that the index does not name and that
    /// were last changed more than `older_than` seconds ago: left by puts
    /// that failed (a full disk, a missing input) or were killed between
    /// writing a blob and recording it. The age spares puts in progress.
    /// Returns how many went.
    pub fn sweep_orphans(&self, older_than: f64) -> Result<usize> {
        let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs_f64(older_than.max(0.0));
        let mut candidates = Vec::new();
        let fans = match fs::read_dir(&self.objects) {
            Ok(d) => d,
            Err(e) => return Err(crate::error::io(&self.objects)(e)),
        };
        for fan in fans.flatten() {
            let Ok(files) = fs::read_dir(fan.path()) else { continue };
            let prefix = fan.file_name().to_string_lossy().into_owned();
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                let Some((rest, _)) = name.rsplit_once('.') else {
                    continue;
                };
                let Ok(hash) = Hash::from_hex(&format!("{prefix}{rest}")) else {
                    continue;
                };
                let old = f.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
                if old {
                    candidates.push((hash, f.path()));
                }
            }
        }
        if candidates.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut swept = 0;
        for (hash, path) in candidates {
            let indexed: Option<String> = tx
                .prepare_cached("SELECT encoding FROM artifacts WHERE hash = ?1")?
                .query_row([hash.to_hex()], |r| r.get(0))
                .optional()?;
            let ours = indexed
                .as_deref()
                .and_then(Encoding::parse)
                .is_some_and(|e| path.extension().is_some_and(|x| x == e.suffix()));
            if !ours && fs::remove_file(&path).is_ok() {
                swept += 1;
            }
        }
        tx.commit()?;
        Ok(swept)
    }

    /// Journal entries after `since`: `(seq, hash)`, oldest first, at most `limit`.
    pub fn journal_since(&self, since: i64, limit: usize) -> Result<Vec<(i64, Hash)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT seq, hash FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let rows = stmt.query_map(params![since, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, h) = row?;
            out.push((seq, Hash::from_hex(&h)?));
        }
        Ok(out)
    }
}

/// Entry indices by hash, keyed on the hash's first 8 bytes: hashes are
/// uniformly random, so that is as good a key as the whole and makes a
/// table of a million half the size, with no hashing to do. The rare prefix
/// two hashes share moves both to a map keyed on the whole hash.
#[derive(Default)]
struct HashIndex {
    by_prefix: HashMap<u64, u32, BuildHasherDefault<Identity>>,
    shared: HashMap<Hash, u32>,
}

/// In `by_prefix`: look in `shared`.
const SHARED: u32 = u32::MAX;

fn prefix(h: &Hash) -> u64 {
    u64::from_le_bytes(h.0[..8].try_into().expect("8 bytes"))
}

impl HashIndex {
    fn insert(&mut self, hash: Hash, i: u32, entries: &[Entry]) {
        match self.by_prefix.entry(prefix(&hash)) {
            Entry_::Vacant(v) => {
                v.insert(i);
            }
            Entry_::Occupied(mut o) => {
                let j = *o.get();
                if j != SHARED {
                    self.shared.insert(entries[j as usize].hash, j);
                    o.insert(SHARED);
                }
                self.shared.insert(hash, i);
            }
        }
    }

    /// The entry whose hash `hex` spells. A hash that is not stored but
    /// shares a stored one's first 8 bytes (odds of 1 in 2^64 per lookup)
    /// finds that one: a collector then keeps an artifact it could have
    /// let go, never the reverse. Checking the whole hash would cost a
    /// second cache miss per lookup, and there are millions.
    fn get(&self, hex: &[u8]) -> Option<u32> {
        if hex.len() != 64 {
            return None;
        }
        let mut first = [0u8; 8];
        let mut bad = 0u8;
        for (o, pair) in first.iter_mut().zip(hex[..16].chunks_exact(2)) {
            let (hi, lo) = (HEX[pair[0] as usize], HEX[pair[1] as usize]);
            bad |= hi | lo;
            *o = (hi << 4) | (lo & 0x0F);
        }
        if bad & 0xF0 != 0 {
            return None;
        }
        match *self.by_prefix.get(&u64::from_le_bytes(first))? {
            SHARED => self.shared.get(&parse_hex(hex)?).copied(),
            i => Some(i),
        }
    }
}

/// Passes a u64 key through: it is already uniformly random.
#[derive(Default)]
struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Hex digit values; 0xFF for anything else.
const HEX: [u8; 256] = {
    let mut t = [0xFF; 256];
    let mut c = 0;
    while c < 10 {
        t[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        t[b'a' as usize + c] = 10 + c as u8;
        t[b'A' as usize + c] = 10 + c as u8;
        c += 1;
    }
    t
};

/// 64 hex digits to a hash, without blake3's general parser.
fn parse_hex(hex: &[u8]) -> Option<Hash> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (hi, lo) = (HEX[pair[0] as usize], HEX[pair[1] as usize]);
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0F);
    }
    (bad & 0xF0 == 0).then_some(Hash(out))
}

/// Hashes (hex) the journal shows changed after `since`, with every
/// ancestor of each.
fn spared_since(tx: &rusqlite::Transaction<'_>, since: i64) -> Result<HashSet<String>> {
    let changed = {
        let mut stmt = tx.prepare_cached("SELECT DISTINCT hash FROM journal WHERE seq > ?1")?;
        let rows = stmt.query_map([since], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    let mut spared: HashSet<String> = changed.iter().cloned().collect();
    let mut queue: VecDeque<String> = changed.into();
    let mut inputs = tx.prepare_cached("SELECT input FROM inputs WHERE hash = ?1")?;
    while let Some(h) = queue.pop_front() {
        let found = inputs.query_map([&h], |r| r.get::<_, String>(0))?;
        for input in found {
            let input = input?;
            if spared.insert(input.clone()) {
                queue.push_back(input);
            }
        }
    }
    Ok(spared)
}

fn column_all(conn: &rusqlite::Connection, sql: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
