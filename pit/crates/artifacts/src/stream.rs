//! Large blobs without copies of them in memory: puts that stream from a
//! reader into a temporary file (hashed and compressed on the way), gets
//! that stream to a writer or a file, and raw blobs read through a memory
//! map. Also the clean-up of temporary files that killed writers left.
//!
//! Memory stays bounded by a few chunks of [`CHUNK`] bytes whatever the
//! blob's size. A put reads on the caller's thread (hashing as it goes)
//! while a second thread compresses and writes, so reading (possibly from
//! Python) and compressing overlap.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::OptionalExtension;

use crate::error::{ArtifactError, Result, io};
use crate::{Encoding, Hash, INLINE_MAX, Item, Meta, Put, Staged, Store, blob, check_meta, check_name, sync_dir};

/// How much a streaming put or get reads at a time.
pub const CHUNK: usize = 1 << 20;

/// A blob's bytes for reading in place: a raw blob's file mapped into
/// memory (no copy), or the decoded bytes of an inline or compressed one.
/// Checked against the hash before it is handed out.
///
/// A mapped file is never changed in place by a store (blobs are replaced
/// by rename and removed by unlink, which leave a mapping intact); only
/// someone editing the file by hand while it is mapped could change the
/// bytes seen through it.
pub struct Mapped(Inner);

enum Inner {
    Map(memmap2::Mmap),
    Bytes(Vec<u8>),
}

impl Mapped {
    /// Whether the bytes are a memory map of the blob's file (a raw blob),
    /// rather than a decoded copy.
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Inner::Map(_))
    }
}

impl Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Inner::Map(m) => m,
            Inner::Bytes(b) => b,
        }
    }
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for Mapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapped")
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

/// A temporary file, removed when dropped unless [`Temp::keep`] was called.
struct Temp {
    path: PathBuf,
    armed: bool,
}

impl Temp {
    /// A fresh name in `dir`: `<stem>.<pid>-<n>.tmp`, the pattern
    /// [`remove_orphans`] knows (and `blob::write_atomic` uses).
    fn new(dir: &Path, stem: &str) -> Temp {
        static NAMES: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{stem}.{}-{}.tmp",
            std::process::id(),
            NAMES.fetch_add(1, Ordering::Relaxed)
        );
        Temp {
            path: dir.join(name),
            armed: true,
        }
    }

    fn keep(mut self) -> PathBuf {
        self.armed = false;
        std::mem::take(&mut self.path)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Where errors of a caller's reader or writer are said to come from.
const INPUT: &str = "<input>";
const OUTPUT: &str = "<output>";

/// Reads until `buf` is full or the reader is at its end; how much it read.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Where a streaming put writes: the temporary file, through zstd or not.
enum Sink {
    Raw(File),
    Zstd(zstd::stream::write::Encoder<'static, File>),
}

impl Sink {
    fn write_all(&mut self, chunk: &[u8]) -> io::Result<()> {
        match self {
            Sink::Raw(f) => f.write_all(chunk),
            Sink::Zstd(e) => e.write_all(chunk),
        }
    }

    /// Ends the frame, syncs when `durable`; the stored size.
    fn finish(self, durable: bool) -> io::Result<u64> {
        let file = match self {
            Sink::Raw(f) => f,
            Sink::Zstd(e) => e.finish()?,
        };
        if durable {
            file.sync_all()?;
        }
        Ok(file.metadata()?.len())
    }
}

/// What the first pass over a stored blob found, and where it is.
enum Source {
    /// Inline or cached: already checked.
    Bytes(Vec<u8>),
    File {
        file: File,
        path: PathBuf,
        encoding: Encoding,
        size: u64,
    },
}

impl Store {
    /// Stores what `reader` gives, read [`CHUNK`] bytes at a time: the
    /// whole blob is never in memory. Data up to [`INLINE_MAX`] takes the
    /// usual put; larger data is hashed as it is read and written to a
    /// temporary file in `tmp/` (a zstd frame at the store's level, or raw
    /// when compressing the first chunk saves less than 3%), then moved
    /// under its hash into `objects/` and recorded. The hash is the one
    /// [`Store::put_blob`] gives the same bytes; `name`, when given, gets
    /// a new version.
    pub fn put_reader(&self, reader: impl Read, name: Option<&str>, meta: &Meta) -> Result<Put> {
        self.put_stream(reader, Path::new(INPUT), name, meta)
    }

    /// [`Store::put_reader`] from the file at `path`.
    pub fn put_path(&self, path: impl AsRef<Path>, name: Option<&str>, meta: &Meta) -> Result<Put> {
        let path = path.as_ref();
        let file = File::open(path).map_err(io(path))?;
        self.put_stream(file, path, name, meta)
    }

    fn put_stream(&self, mut reader: impl Read, source: &Path, name: Option<&str>, meta: &Meta) -> Result<Put> {
        check_meta(meta)?;
        if let Some(name) = name {
            check_name(name)?;
        }
        let mut first = vec![0; CHUNK];
        let n = fill(&mut reader, &mut first).map_err(io(source))?;
        first.truncate(n);
        if n <= INLINE_MAX {
            return Ok(self.put_many(&[Item {
                data: &first,
                meta,
                name,
            }])?[0]);
        }
        // The first chunk decides, as a put of the whole blob would.
        let (_, encoding) = blob::encode(&first, self.options.level)?;
        let temp = Temp::new(&self.tmp, "stream");
        let (hash, size, stored) = self.spool(reader, source, first, encoding, &temp.path)?;
        let item = Item { data: &[], meta, name };
        // The temporary file stays until the commit: a collector removing
        // the same content meanwhile takes the file we placed, and the next
        // round places it again.
        let mut again = false;
        for _ in 0..8 {
            let known = self.stored_sizes(&[hash])?;
            let staged = if !again && self.is_whole(&hash, known.get(&hash).copied()) {
                None
            } else {
                self.place(&temp.path, &hash, encoding)?;
                Some(Staged {
                    size: size as usize,
                    stored: stored as usize,
                    encoding,
                    inline: None,
                })
            };
            match self.commit(&[item], &[hash], &[staged], true)? {
                Ok(out) => return Ok(out[0]),
                Err(_) => again = true,
            }
        }
        Err(ArtifactError::Invalid(
            "a put kept racing a collector removing the same content; try again".into(),
        ))
    }

    /// Hashes what `first` and then `reader` give while a second thread
    /// writes it to `path` in `encoding`: (hash, size, stored size).
    fn spool(
        &self,
        mut reader: impl Read,
        source: &Path,
        first: Vec<u8>,
        encoding: Encoding,
        path: &Path,
    ) -> Result<(Hash, u64, u64)> {
        let file = File::create_new(path).map_err(io(path))?;
        let sink = match encoding {
            Encoding::Raw => Sink::Raw(file),
            Encoding::Zstd => Sink::Zstd(
                zstd::stream::write::Encoder::new(file, self.options.level)
                    .map_err(|e| ArtifactError::Invalid(format!("zstd could not start a frame: {e}")))?,
            ),
        };
        let durable = self.options.durable;
        // Two chunks queued, one being written, one being read: bounded.
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(2);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        std::thread::scope(|scope| {
            let writer = scope.spawn(move || -> io::Result<u64> {
                let mut sink = sink;
                for chunk in full_rx {
                    sink.write_all(&chunk)?;
                    let _ = empty_tx.send(chunk);
                }
                sink.finish(durable)
            });
            let mut hasher = blake3::Hasher::new();
            let mut size = 0u64;
            let mut chunk = first;
            let read: io::Result<()> = loop {
                hasher.update(&chunk);
                size += chunk.len() as u64;
                let end = chunk.len() < CHUNK;
                if full_tx.send(chunk).is_err() || end {
                    // The writer stopped (its error says why), or all is read.
                    break Ok(());
                }
                let mut next = empty_rx.try_recv().unwrap_or_default();
                next.resize(CHUNK, 0);
                match fill(&mut reader, &mut next) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        next.truncate(n);
                        chunk = next;
                    }
                    Err(e) => break Err(e),
                }
            };
            drop(full_tx);
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")));
            let stored = written.map_err(io(path))?;
            read.map_err(io(source))?;
            Ok((Hash(*hasher.finalize().as_bytes()), size, stored))
        })
    }

    /// Gives `hash` the file `temp` holds, as `objects/ab/….<encoding>`:
    /// through a hard link, so that `temp` stays for another round.
    fn place(&self, temp: &Path, hash: &Hash, encoding: Encoding) -> Result<()> {
        let durable = self.options.durable;
        let target = blob::path_of(&self.objects, hash, encoding);
        let folder = target.parent().expect("objects/ab/file");
        let fresh = !folder.exists();
        fs::create_dir_all(folder).map_err(io(folder))?;
        if fresh {
            sync_dir(&self.objects, durable)?;
        }
        // A file of this content in the other encoding is dealt with by the
        // commit, under the write lock: it may be the indexed one.
        let link = Temp::new(&self.tmp, "link");
        if fs::hard_link(temp, &link.path).is_err() {
            // A file system without hard links: a copy does.
            let copied = fs::copy(temp, &link.path).and_then(|_| {
                if durable {
                    File::open(&link.path)?.sync_all()
                } else {
                    Ok(())
                }
            });
            copied.map_err(io(&link.path))?;
        }
        fs::rename(&link.path, &target).map_err(io(&target))?;
        link.keep();
        sync_dir(folder, durable)
    }

    /// Writes the bytes of `hash` to `out`, [`CHUNK`] bytes at a time, and
    /// returns how many. A blob in a file is checked in a first pass and
    /// written in a second: `out` never gets a byte of a corrupt blob.
    pub fn get_to_writer(&self, hash: &Hash, mut out: impl Write) -> Result<u64> {
        let output = Path::new(OUTPUT);
        match self.open_blob(hash)? {
            Source::Bytes(data) => {
                out.write_all(&data).map_err(io(output))?;
                Ok(data.len() as u64)
            }
            Source::File {
                mut file,
                path,
                encoding,
                size,
            } => {
                let mut buf = vec![0; CHUNK];
                pass(hash, &mut file, &path, encoding, size, &mut buf, |_| Ok(()))?;
                file.seek(SeekFrom::Start(0)).map_err(io(&path))?;
                let n = pass(hash, &mut file, &path, encoding, size, &mut buf, |chunk| {
                    out.write_all(chunk).map_err(io(output))
                })?;
                self.note_read(hash);
                Ok(n)
            }
        }
    }

    /// Writes the bytes of `hash` to the file `dest` (replacing it) and
    /// returns how many. They go to a temporary file beside `dest` first,
    /// renamed only once the hash checked: a corrupt blob leaves no `dest`.
    pub fn get_to_path(&self, hash: &Hash, dest: impl AsRef<Path>) -> Result<u64> {
        let dest = dest.as_ref();
        let source = self.open_blob(hash)?;
        let folder = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let stem = format!(".{}", dest.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
        let temp = Temp::new(folder, &stem);
        let mut out = File::create_new(&temp.path).map_err(io(&temp.path))?;
        let n = match source {
            Source::Bytes(data) => {
                out.write_all(&data).map_err(io(&temp.path))?;
                data.len() as u64
            }
            Source::File {
                mut file,
                path,
                encoding,
                size,
            } => {
                let mut buf = vec![0; CHUNK];
                pass(hash, &mut file, &path, encoding, size, &mut buf, |chunk| {
                    out.write_all(chunk).map_err(io(&temp.path))
                })?
            }
        };
        if self.options.durable {
            out.sync_all().map_err(io(&temp.path))?;
        }
        drop(out);
        fs::rename(&temp.path, dest).map_err(io(dest))?;
        temp.keep();
        sync_dir(folder, self.options.durable)?;
        self.note_read(hash);
        Ok(n)
    }

    /// The bytes of `hash` to read in place: a raw blob's file is mapped
    /// (no copy) and checked against the hash before it is returned; an
    /// inline or compressed blob is decoded into memory.
    pub fn map(&self, hash: &Hash) -> Result<Mapped> {
        let row: Option<(i64, String, bool)> = self
            .conn()
            .prepare_cached("SELECT size, encoding, data IS NOT NULL FROM artifacts WHERE hash = ?1")?
            .query_row([hash.to_hex()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((size, encoding, inline)) = row else {
            return Err(self.why_unknown(hash));
        };
        if inline || encoding != Encoding::Raw.name() {
            return Ok(Mapped(Inner::Bytes(self.get_by_hash(hash)?)));
        }
        let (file, path, encoding) = self.open_file(hash)?;
        if encoding != Encoding::Raw {
            // Stored again meanwhile, compressed.
            return Ok(Mapped(Inner::Bytes(self.get_by_hash(hash)?)));
        }
        let len = file.metadata().map_err(io(&path))?.len();
        if len != size as u64 {
            return Err(ArtifactError::Corrupt {
                hash: *hash,
                why: format!("its file holds {len} bytes, the index says {size}"),
            });
        }
        // SAFETY: blob files are never written in place once they have
        // their name (see `Mapped`); a file replaced or removed meanwhile
        // stays mapped as it was.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io(&path))?;
        let mut hasher = blake3::Hasher::new();
        hasher.update(&map);
        let actual = Hash(*hasher.finalize().as_bytes());
        if actual != *hash {
            return Err(ArtifactError::Corrupt {
                hash: *hash,
                why: format!("its bytes hash to {actual}"),
            });
        }
        self.note_read(hash);
        Ok(Mapped(Inner::Map(map)))
    }

    /// A stored blob to stream: inline (or cached) bytes, checked, or its
    /// open file.
    fn open_blob(&self, hash: &Hash) -> Result<Source> {
        let row: Option<(i64, bool)> = self
            .conn()
            .prepare_cached("SELECT size, data IS NOT NULL FROM artifacts WHERE hash = ?1")?
            .query_row([hash.to_hex()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((size, inline)) = row else {
            return Err(self.why_unknown(hash));
        };
        if inline {
            return Ok(Source::Bytes(self.get_by_hash(hash)?));
        }
        let (file, path, encoding) = self.open_file(hash)?;
        Ok(Source::File {
            file,
            path,
            encoding,
            size: size as u64,
        })
    }

    /// The blob's file, opened (so that a collector removing it meanwhile
    /// does not matter), with its path and encoding.
    fn open_file(&self, hash: &Hash) -> Result<(File, PathBuf, Encoding)> {
        for (path, encoding) in [Encoding::Zstd, Encoding::Raw].map(|e| (blob::path_of(&self.objects, hash, e), e)) {
            match File::open(&path) {
                Ok(file) => return Ok((file, path, encoding)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        if !self.contains(hash)? {
            // Removed by a collector since we looked.
            return Err(self.why_unknown(hash));
        }
        Err(ArtifactError::Corrupt {
            hash: *hash,
            why: "its file is missing".into(),
        })
    }
}

/// Decodes the blob in `file` chunk by chunk into `sink`, checking that it
/// gives `size` bytes hashing to `hash`; how many it gave.
fn pass(
    hash: &Hash,
    file: &mut File,
    path: &Path,
    encoding: Encoding,
    size: u64,
    buf: &mut [u8],
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    let corrupt = |why: String| ArtifactError::Corrupt { hash: *hash, why };
    let mut reader: Box<dyn Read + '_> = match encoding {
        Encoding::Raw => Box::new(&mut *file),
        Encoding::Zstd => Box::new(
            zstd::stream::read::Decoder::new(&mut *file)
                .map_err(|e| corrupt(format!("it does not decompress ({e})")))?,
        ),
    };
    let mut reader = reader.by_ref().take(size + 1);
    let mut hasher = blake3::Hasher::new();
    let mut total = 0u64;
    loop {
        let n = fill(&mut reader, buf).map_err(|e| match encoding {
            Encoding::Raw => io(path)(e),
            Encoding::Zstd => corrupt(format!("it does not decompress ({e})")),
        })?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > size {
            return Err(corrupt(format!("it holds more than the {size} bytes the index says")));
        }
        hasher.update(&buf[..n]);
        sink(&buf[..n])?;
    }
    if total != size {
        return Err(corrupt(format!("it holds {total} bytes, the index says {size}")));
    }
    let actual = Hash(*hasher.finalize().as_bytes());
    if actual != *hash {
        return Err(corrupt(format!("its bytes hash to {actual}")));
    }
    Ok(total)
}

/// Removes the temporary files in `tmp` whose writer is gone: names are
/// `<file>.<pid>-<n>.tmp`, and a pid that no process has any more
/// (`kill(pid, 0)` fails with ESRCH) was killed mid-write. Files of live
/// processes, and names of another shape, stay.
pub(crate) fn remove_orphans(tmp: &Path) -> usize {
    let Ok(entries) = fs::read_dir(tmp) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(writer_pid) else {
            continue;
        };
        if !alive(pid) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn writer_pid(name: &str) -> Option<i32> {
    let (_, tail) = name.strip_suffix(".tmp")?.rsplit_once('.')?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    let pid: i32 = pid.parse().ok()?;
    // 0 and negative pids name process groups, not a writer.
    (pid > 0).then_some(pid)
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; it only asks whether `pid` exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::writer_pid;

    #[test]
    fn temporary_names_give_their_writer() {
        assert_eq!(writer_pid("abc.zst.123-4.tmp"), Some(123));
        assert_eq!(writer_pid("stream.77-0.tmp"), Some(77));
        assert_eq!(writer_pid(".out.bin.9-1.tmp"), Some(9));
        assert_eq!(writer_pid("stream.0-1.tmp"), None);
        assert_eq!(writer_pid("stream.-5-1.tmp"), None);
        assert_eq!(writer_pid("stream.12.tmp"), None);
        assert_eq!(writer_pid("stream.12-x.tmp"), None);
        assert_eq!(writer_pid("notes.txt"), None);
    }
}
