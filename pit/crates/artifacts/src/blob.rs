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

/// Decodes `stored` into `out` (its original size) and checks it against `hash`.
pub(crate) fn decode_into(stored: &[u8], encoding: Encoding, hash: &Hash, out: &mut [u8]) -> Result<()> {
    let corrupt = |why: String| ArtifactError::Corrupt { hash: *hash, why };
    if encoding == Encoding::Zstd && out.len() >= OVERLAP_FROM {
        let actual = decompress_hashing(stored, out).map_err(corrupt)?;
        if actual != *hash {
            return Err(corrupt(format!("its bytes hash to {actual}")));
        }
        return Ok(());
    }
    match encoding {
        Encoding::Raw if stored.len() != out.len() => {
            return Err(corrupt(format!(
                "it holds {} bytes, the index says {}",
                stored.len(),
                out.len()
            )));
        }
        Encoding::Raw => out.copy_from_slice(stored),
        Encoding::Zstd => decompress_into(stored, out).map_err(corrupt)?,
    }
    verify(hash, out)
}

/// Compressed files of blobs this large are mapped rather than read: no
/// buffer to fill and fault in before decompressing.
const MAP_FROM: usize = 1 << 20;

/// Reads the file of a blob into `out` and checks it: a raw file straight
/// into `out`, a compressed one decompressed there.
pub(crate) fn read_into(path: &Path, encoding: Encoding, hash: &Hash, out: &mut [u8]) -> Result<()> {
    use std::io::Read;
    match encoding {
        Encoding::Zstd if out.len() >= MAP_FROM => {
            let file = fs::File::open(path).map_err(io(path))?;
            // SAFETY: blob files are written once, under a temporary name,
            // and renamed into place: nobody writes to one that is mapped.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io(path))?;
            decode_into(&map, encoding, hash, out)
        }
        Encoding::Zstd => {
            let stored = fs::read(path).map_err(io(path))?;
            decode_into(&stored, encoding, hash, out)
        }
        Encoding::Raw => {
            let mut file = fs::File::open(path).map_err(io(path))?;
            file.read_exact(out).map_err(|e| ArtifactError::Corrupt {
                hash: *hash,
                why: format!("its file is shorter than the index says ({e})"),
            })?;
            if file.read(&mut [0u8; 1]).map_err(io(path))? != 0 {
                return Err(ArtifactError::Corrupt {
                    hash: *hash,
                    why: "its file is longer than the index says".into(),
                });
            }
            verify(hash, out)
        }
    }
}

fn verify(hash: &Hash, data: &[u8]) -> Result<()> {
    let actual = Hash::of(data);
    if actual != *hash {
        return Err(ArtifactError::Corrupt {
            hash: *hash,
            why: format!("its bytes hash to {actual}"),
        });
    }
    Ok(())
}

/// Blobs from this size on are decompressed and hashed at once, on two threads.
const OVERLAP_FROM: usize = 4 << 20;
const OVERLAP_CHUNK: usize = 1 << 20;

/// `frame` decompressed into `out`, which it must fill exactly, and the hash
/// of what came out: each chunk is hashed on a second thread while the next
/// is decompressed, so a large read costs about the longer of the two.
fn decompress_hashing(frame: &[u8], out: &mut [u8]) -> std::result::Result<Hash, String> {
    use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};
    let size = out.len() as u64;
    match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n == size => {}
        Ok(Some(n)) => return Err(format!("its zstd frame holds {n} bytes, the index says {size}")),
        Ok(None) => {}
        Err(_) => return Err("it is not a zstd frame".into()),
    }
    let mut decoder = Decoder::new().map_err(|e| e.to_string())?;
    let mut input = InBuffer::around(frame);
    std::thread::scope(|scope| {
        let (done, chunks) = std::sync::mpsc::sync_channel::<&[u8]>(4);
        let hasher = scope.spawn(move || {
            let mut h = blake3::Hasher::new();
            for chunk in chunks {
                h.update(chunk);
            }
            Hash(*h.finalize().as_bytes())
        });
        let mut left = usize::MAX;
        for chunk in out.chunks_mut(OVERLAP_CHUNK) {
            let mut output = OutBuffer::around(&mut *chunk);
            while output.pos() < output.capacity() {
                let before = (input.pos(), output.pos());
                left = decoder
                    .run(&mut input, &mut output)
                    .map_err(|e| format!("it does not decompress ({e})"))?;
                if (input.pos(), output.pos()) == before {
                    return Err(format!("its zstd frame ends before the {size} bytes the index says"));
                }
            }
            let filled: &[u8] = chunk;
            if done.send(filled).is_err() {
                break;
            }
        }
        drop(done);
        // The output is full: what is left of the frame is its end (a
        // checksum, an empty last block), or bytes beyond the index's size.
        while left != 0 {
            let before = input.pos();
            let mut nothing = OutBuffer::around(&mut [][..]);
            left = decoder
                .run(&mut input, &mut nothing)
                .map_err(|e| format!("it does not decompress ({e})"))?;
            if input.pos() == before {
                break;
            }
        }
        let hash = hasher.join().map_err(|_| "the hashing thread panicked".to_string())?;
        // Every byte given, and the frame over exactly there.
        if left != 0 || input.pos() != frame.len() {
            return Err(format!(
                "its zstd frame holds more than the {size} bytes the index says"
            ));
        }
        Ok(hash)
    })
}

/// `frame` decompressed into `out`, which it must fill exactly.
fn decompress_into(frame: &[u8], out: &mut [u8]) -> std::result::Result<(), String> {
    let size = out.len() as u64;
    match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n == size => {}
        Ok(Some(n)) => return Err(format!("its zstd frame holds {n} bytes, the index says {size}")),
        Ok(None) => {
            let data = decompress_stream(frame, size)?;
            out.copy_from_slice(&data);
            return Ok(());
        }
        Err(_) => return Err("it is not a zstd frame".into()),
    }
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?);
        }
        let d = slot.as_mut().expect("just made");
        match d.decompress_to_buffer(frame, out) {
            Ok(n) if n == out.len() => Ok(()),
            Ok(n) => Err(format!("its zstd frame gave {n} bytes, the index says {size}")),
            Err(e) => Err(format!("it does not decompress ({e})")),
        }
    })
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
