//! Where archived artifacts go: their stored bytes (as kept: a zstd frame or
//! raw) and what the index knew of them, enough to restore both.
//!
//! A folder archive mirrors the store's layout:
//!
//! ```text
//! objects/ab/cdef….zst|.raw   the stored bytes
//! meta/ab/cdef….json          the index's record (kind, lineage, tags, times…)
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use pit_artifacts::{Encoding, Hash, Info, Stored};
use serde_json::{Value, json};

use crate::{Result, StaleError};

/// A place that keeps archived artifacts.
pub trait Archive: Send + Sync {
    /// Keeps `hash`'s stored bytes and record; done when it returns.
    fn put(&self, hash: &Hash, stored: &Stored, encoding: Encoding, info: &Info) -> Result<()>;
    /// The stored bytes, their encoding and the record of `hash`.
    fn get(&self, hash: &Hash) -> Result<(Vec<u8>, Encoding, Info)>;
    /// Where it is, for messages.
    fn describe(&self) -> String;
}

/// An archive in a local folder; every file is written to a temporary name,
/// fsynced and renamed, so an archived artifact is whole before the store
/// lets it go.
pub struct DirArchive {
    root: PathBuf,
}

impl DirArchive {
    pub fn new(root: impl AsRef<Path>) -> Result<DirArchive> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(|e| StaleError::Archive(format!("{}: {e}", root.display())))?;
        Ok(DirArchive { root })
    }

    fn paths(&self, hash: &Hash, encoding: Encoding) -> (PathBuf, PathBuf) {
        let hex = hash.to_hex();
        let (fan, rest) = hex.split_at(2);
        (
            self.root
                .join("objects")
                .join(fan)
                .join(format!("{rest}.{}", encoding.suffix())),
            self.root.join("meta").join(fan).join(format!("{rest}.json")),
        )
    }
}

fn write_durable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = path.parent().expect("archive paths have folders");
    fs::create_dir_all(folder)?;
    let tmp = folder.join(format!(".{}.{}.tmp", std::process::id(), unique()));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    fs::File::open(folder)?.sync_all()
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Archive for DirArchive {
    fn put(&self, hash: &Hash, stored: &Stored, encoding: Encoding, info: &Info) -> Result<()> {
        let (object, meta) = self.paths(hash, encoding);
        let fail = |p: &Path, e: std::io::Error| StaleError::Archive(format!("{}: {e}", p.display()));
        match stored {
            Stored::Inline(bytes) => write_durable(&object, bytes).map_err(|e| fail(&object, e))?,
            Stored::File(path) => {
                let bytes = fs::read(path).map_err(|e| fail(path, e))?;
                write_durable(&object, &bytes).map_err(|e| fail(&object, e))?;
            }
        }
        let record = info_to_json(info, encoding).to_string();
        write_durable(&meta, record.as_bytes()).map_err(|e| fail(&meta, e))
    }

    fn get(&self, hash: &Hash) -> Result<(Vec<u8>, Encoding, Info)> {
        let (_, meta) = self.paths(hash, Encoding::Raw);
        let text = fs::read_to_string(&meta)
            .map_err(|e| StaleError::NotArchived(format!("{hash} is not in {} ({e})", self.describe())))?;
        let (info, encoding) = info_from_json(&text)?;
        let (object, _) = self.paths(hash, encoding);
        let bytes = fs::read(&object).map_err(|e| StaleError::Archive(format!("{}: {e}", object.display())))?;
        Ok((bytes, encoding, info))
    }

    fn describe(&self) -> String {
        format!("the archive at {}", self.root.display())
    }
}

/// The record an archive keeps beside the bytes, as JSON.
pub fn info_to_json(info: &Info, encoding: Encoding) -> Value {
    json!({
        "hash": info.hash.to_hex(),
        "size": info.size,
        "stored_size": info.stored_size,
        "encoding": encoding.name(),
        "kind": info.kind,
        "media_type": info.media_type,
        "producer": info.producer,
        "quality": info.quality,
        "created": info.created,
        "accessed": info.accessed,
        "access_count": info.access_count,
        "inputs": info.inputs.iter().map(Hash::to_hex).collect::<Vec<_>>(),
        "tags": info.tags,
    })
}

/// Reads a record written by [`info_to_json`].
pub fn info_from_json(text: &str) -> Result<(Info, Encoding)> {
    let bad = |why: &str| StaleError::Archive(format!("an archived record is damaged: {why}"));
    let v: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let n = |k: &str| v.get(k).and_then(Value::as_u64).ok_or_else(|| bad(k));
    let f = |k: &str| v.get(k).and_then(Value::as_f64).ok_or_else(|| bad(k));
    let hash = Hash::from_hex(&s("hash").ok_or_else(|| bad("hash"))?).map_err(|e| bad(&e.to_string()))?;
    let encoding = s("encoding")
        .as_deref()
        .and_then(Encoding::parse)
        .ok_or_else(|| bad("encoding"))?;
    let list = |k: &str| -> Vec<String> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let inputs = list("inputs")
        .iter()
        .map(|h| Hash::from_hex(h).map_err(|e| bad(&e.to_string())))
        .collect::<Result<_>>()?;
    let info = Info {
        hash,
        size: n("size")?,
        stored_size: n("stored_size")?,
        encoding: encoding.name().to_owned(),
        kind: s("kind"),
        media_type: s("media_type"),
        producer: s("producer"),
        quality: v.get("quality").and_then(Value::as_f64),
        created: f("created")?,
        accessed: f("accessed")?,
        access_count: n("access_count")?,
        inline: false,
        inputs,
        tags: list("tags"),
    };
    Ok((info, encoding))
}
