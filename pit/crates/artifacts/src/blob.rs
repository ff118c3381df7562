//! Blobs on disk: one file per content hash under a two-character fan-out
//! folder, `objects/ab/cdef….zst` (a plain zstd frame: `zstd -d` reads it)
//! or `….raw` when compressing would not pay. Written atomically.

use std::cell::RefCell;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Hash;
use crate::error::{ArtifactError, Result, io};

/// Below this size a blob is stored raw: zstd's frame would eat the gain.
const SMALL: usize = 256;
/// Stored raw unless compression saves at least this fraction.
const MIN_SAVING: f64 = 0.03;

/// How a blob is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Raw,
    Zstd,
}

impl Encoding {
    pub fn parse(name: &str) -> Option<Encoding> {
        match name {
            "raw" => Some(Encoding::Raw),
            "zstd" => Some(Encoding::Zstd),
            _ => None,
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            Encoding::Raw => "raw",
            Encoding::Zstd => "zst",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Raw => "raw",
            Encoding::Zstd => "zstd",
        }
    }
}

pub(crate) fn path_of(objects: &Path, hash: &Hash, encoding: Encoding) -> PathBuf {
    let hex = hash.to_hex();
    objects
        .join(&hex[..2])
        .join(format!("{}.{}", &hex[2..], encoding.suffix()))
}

/// The file holding `hash`, whichever encoding it has, if any.
pub(crate) fn find(objects: &Path, hash: &Hash) -> Option<(PathBuf, Encoding)> {
    [Encoding::Zstd, Encoding::Raw]
        .into_iter()
        .map(|e| (path_of(objects, hash, e), e))
        .find(|(p, _)| p.exists())
}

thread_local! {
    // zstd contexts cost more to make than to use on a small blob: one per
    // thread, kept (the compressor with the level it was made for).
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn compress(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if !matches!(&*slot, Some((l, _)) if *l == level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        let (_, c) = slot.as_mut().expect("just made");
        c.compress(data)
    })
}

/// `frame` decompressed, which must give exactly `size` bytes (the index's
/// figure): a damaged header cannot make it allocate more. A frame written
/// by a streaming put may not state its size; it is then read through a
/// stream, and a byte past `size` is an error.
fn decompress(frame: &[u8], size: u64) -> std::result::Result<Vec<u8>, String> {
    match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n == size => {}
        Ok(Some(n)) => return Err(format!("its zstd frame holds {n} bytes, the index says {size}")),
        Ok(None) => return decompress_stream(frame, size),
        Err(_) => return Err("it is not a zstd frame".into()),
    }
    let size = size as usize;
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?);
        }
        let d = slot.as_mut().expect("just made");
        d.decompress(frame, size)
            .map_err(|e| format!("it does not decompress ({e})"))
    })
}

fn decompress_stream(frame: &[u8], size: u64) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let decoder = zstd::stream::read::Decoder::new(frame).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(size.min(1 << 30) as usize);
    decoder
        .take(size + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("it does not decompress ({e})"))?;
    if out.len() as u64 != size {
        return Err(format!(
            "its zstd frame holds {} bytes, the index says {size}",
            out.len()
        ));
    }
    Ok(out)
}

/// The original bytes of a stored blob, checked against `hash`.
pub(crate) fn decode(stored: Vec<u8>, encoding: Encoding, size: u64, hash: &Hash) -> Result<Vec<u8>> {
    let data = match encoding {
        Encoding::Raw => stored,
        Encoding::Zstd => decompress(&stored, size).map_err(|why| ArtifactError::Corrupt { hash: *hash, why })?,
    };
    let actual = Hash::of(&data);
    if actual != *hash {
        return Err(ArtifactError::Corrupt {
            hash: *hash,
            why: format!("its bytes hash to {actual}"),
        });
    }
    Ok(data)
}

/// The bytes to store and how: zstd at `level` when it saves enough.
pub(crate) fn encode(data: &[u8], level: i32) -> Result<(Vec<u8>, Encoding)> {
    if data.len() >= SMALL {
        let packed =
            compress(data, level).map_err(|e| ArtifactError::Invalid(format!("zstd could not compress: {e}")))?;
        if (packed.len() as f64) <= data.len() as f64 * (1.0 - MIN_SAVING) {
            return Ok((packed, Encoding::Zstd));
        }
    }
    Ok((data.to_vec(), Encoding::Raw))
}

/// Writes `bytes` to `target` through a temporary file in `tmp`: the target
/// appears whole or not at all. `durable` adds fsync of the file and of the
/// target's folder, so the blob survives a power cut once this returns.
pub(crate) fn write_atomic(tmp: &Path, target: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let folder = target.parent().expect("objects/ab/file");
    let fresh = !folder.exists();
    fs::create_dir_all(folder).map_err(io(folder))?;
    if fresh && durable {
        // A new fan-out folder is an entry of objects/: make it last too.
        let objects = folder.parent().expect("objects/ab");
        File::open(objects).and_then(|d| d.sync_all()).map_err(io(objects))?;
    }
    // Unique per process and per write: two threads putting the same content
    // must not write into one temporary file.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "{}.{}-{}.tmp",
        target.file_name().and_then(|n| n.to_str()).unwrap_or("blob"),
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    );
    let staging = tmp.join(name);
    let mut f = File::create(&staging).map_err(io(&staging))?;
    let written = f
        .write_all(bytes)
        .and_then(|_| if durable { f.sync_all() } else { Ok(()) });
    drop(f);
    if let Err(e) = written {
        let _ = fs::remove_file(&staging);
        return Err(io(&staging)(e));
    }
    if let Err(e) = fs::rename(&staging, target) {
        let _ = fs::remove_file(&staging);
        return Err(io(target)(e));
    }
    if durable {
        File::open(folder).and_then(|d| d.sync_all()).map_err(io(folder))?;
    }
    Ok(())
}

/// The blob's original bytes (`size` of them, as indexed), checked against its hash.
pub(crate) fn read(objects: &Path, hash: &Hash, size: u64) -> Result<Vec<u8>> {
    let (path, encoding) = find(objects, hash).ok_or_else(|| ArtifactError::Corrupt {
        hash: *hash,
        why: "its file is missing".into(),
    })?;
    let stored = fs::read(&path).map_err(io(&path))?;
    decode(stored, encoding, size, hash)
}
