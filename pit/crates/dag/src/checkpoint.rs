//! The binary checkpoint: a versioned, checksummed snapshot of a tracker.
//!
//! ```text
//! magic "PITDAG\r\n" | version u32 | body length u64 | CRC-32 of body u32 | body
//! body: tasks u64, edges u64, key mode u8 (0: keys are ids, 1: listed),
//!       [keys: tag u8 (0 int i64 | 1 str u32 length + UTF-8)], states u8 × tasks,
//!       costs f64 × tasks, edges (u32 src, u32 dst) × edges,
//!       ready queue u64 + u32 × n, failure policies u64 + (u32, u8) × n,
//!       payloads u64 + (u32 id, u64 length, bytes) × n
//! ```
//! All integers little-endian. Every length is checked against the bytes
//! left before anything is allocated, so bad input is an error, never a
//! crash or a huge allocation.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use rustc_hash::FxHashMap;

use crate::error::{DagError, Result};
use crate::key::{KeyIndex, KeyRef};
use crate::state::{FailPolicy, TaskState};
use crate::tracker::{DagTracker, Parts};

const MAGIC: &[u8; 8] = b"PITDAG\r\n";
pub const CHECKPOINT_VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 8 + 4;

/// Writes `bytes` to `path` so that a crash leaves the old file or the new
/// one, never a torn one: a temporary file beside it, fsync, rename over
/// `path`, fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| DagError::Checkpoint(format!("cannot {what} {}: {e}", path.display()));
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| DagError::Checkpoint(format!("{} names no file", path.display())))?;
    // Unique per process and call: two threads saving the same file, or a
    // temporary file a crash left behind, never collide.
    static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = folder.join(format!(
        ".{}.{}.{n}.{nanos}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(fail("write", e));
    }
    File::open(folder)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("sync the folder of", e))
}

impl DagTracker {
    /// Writes the checkpoint to `path` (see [`write_atomic`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes())
    }

    /// Reads a checkpoint `save` wrote; a truncated or corrupt file is a
    /// `Checkpoint` error naming what is wrong.
    pub fn load(path: &Path) -> Result<DagTracker> {
        let data = fs::read(path).map_err(|e| DagError::Checkpoint(format!("cannot read {}: {e}", path.display())))?;
        DagTracker::from_bytes(&data).map_err(|e| match e {
            DagError::Checkpoint(m) => DagError::Checkpoint(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let (n, e) = (self.len(), self.edge_count());
        let mut body = Vec::with_capacity(16 + 1 + n * 9 + e * 8 + 64);
        body.extend_from_slice(&(n as u64).to_le_bytes());
        body.extend_from_slice(&(e as u64).to_le_bytes());
        if self.keys_are_ids() {
            body.push(0);
        } else {
            body.push(1);
            for v in 0..n as u32 {
                match self.key(v) {
                    KeyRef::Int(i) => {
                        body.push(0);
                        body.extend_from_slice(&i.to_le_bytes());
                    }
                    KeyRef::Str(s) => {
                        body.push(1);
                        body.extend_from_slice(&(s.len() as u32).to_le_bytes());
                        body.extend_from_slice(s.as_bytes());
                    }
                }
            }
        }
        body.extend(self.state.iter().map(|&s| s as u8));
        for c in &self.cost {
            body.extend_from_slice(&c.to_le_bytes());
        }
        for (s, d) in self.edges() {
            body.extend_from_slice(&s.to_le_bytes());
            body.extend_from_slice(&d.to_le_bytes());
        }
        let ready = self.ready();
        body.extend_from_slice(&(ready.len() as u64).to_le_bytes());
        for v in ready {
            body.extend_from_slice(&v.to_le_bytes());
        }
        let mut policies: Vec<_> = self.fail_policy.iter().collect();
        policies.sort_unstable();
        body.extend_from_slice(&(policies.len() as u64).to_le_bytes());
        for (&v, &p) in policies {
            body.extend_from_slice(&v.to_le_bytes());
            body.push(p as u8);
        }
        let mut payloads: Vec<_> = self.payloads.iter().collect();
        payloads.sort_unstable_by_key(|(v, _)| **v);
        body.extend_from_slice(&(payloads.len() as u64).to_le_bytes());
        for (&v, p) in payloads {
            body.extend_from_slice(&v.to_le_bytes());
            body.extend_from_slice(&(p.len() as u64).to_le_bytes());
            body.extend_from_slice(p);
        }
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    pub fn from_bytes(data: &[u8]) -> Result<DagTracker> {
        let mut head = Reader::new(data);
        if head.take(8, "magic")? != MAGIC {
            return Err(bad("not a DagTracker checkpoint (wrong magic bytes)"));
        }
        let version = head.u32("version")?;
        if version != CHECKPOINT_VERSION {
            return Err(bad(&format!(
                "checkpoint version {version} is not supported; this build reads version {CHECKPOINT_VERSION}"
            )));
        }
        let len = head.u64("body length")?;
        let crc = head.u32("checksum")?;
        let body = &data[HEADER..];
        if (body.len() as u64) < len {
            return Err(bad(&format!(
                "truncated: body should be {len} bytes, found {}",
                body.len()
            )));
        }
        if (body.len() as u64) > len {
            return Err(bad(&format!(
                "{} unexpected bytes after the body",
                body.len() as u64 - len
            )));
        }
        if crc32fast::hash(body) != crc {
            return Err(bad("checksum mismatch: the checkpoint is corrupt"));
        }
        read_body(&mut Reader::new(body))
    }
}

fn read_body(r: &mut Reader<'_>) -> Result<DagTracker> {
    let n = r.count(9, "task count")?;
    let e = r.count(8, "edge count")?;
    if n > u32::MAX as usize - 1 {
        return Err(bad("too many tasks"));
    }
    let mut keys = KeyIndex::new();
    match r.u8("key mode")? {
        0 => {
            for i in 0..n {
                keys.insert(KeyRef::Int(i as i64));
            }
        }
        1 => {
            for _ in 0..n {
                let key = match r.u8("key tag")? {
                    0 => crate::key::Key::Int(r.u64("int key")? as i64),
                    1 => {
                        let len = r.u32("key length")? as usize;
                        let raw = r.take(len, "key text")?;
                        let s = std::str::from_utf8(raw).map_err(|_| bad("a key is not valid UTF-8"))?;
                        crate::key::Key::Str(s.into())
                    }
                    t => return Err(bad(&format!("unknown key tag {t}"))),
                };
                if keys.insert(key.as_ref()).is_none() {
                    return Err(bad(&format!("task {key} appears twice")));
                }
            }
        }
        m => return Err(bad(&format!("unknown key mode {m}"))),
    }
    let state = r
        .take(n, "states")?
        .iter()
        .map(|&b| TaskState::from_u8(b).ok_or_else(|| bad(&format!("unknown task state {b}"))))
        .collect::<Result<Vec<_>>>()?;
    let cost: Vec<f64> = r
        .take(n * 8, "costs")?
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    if let Some(c) = cost.iter().find(|c| !(c.is_finite() && **c >= 0.0)) {
        return Err(bad(&format!("a task has cost {c}")));
    }
    let raw = r.take(e * 8, "edges")?;
    let mut src = Vec::with_capacity(e);
    let mut dst = Vec::with_capacity(e);
    for c in raw.chunks_exact(8) {
        src.push(u32::from_le_bytes(c[..4].try_into().unwrap()));
        dst.push(u32::from_le_bytes(c[4..].try_into().unwrap()));
    }
    let ready_len = r.count(4, "ready queue length")?;
    let ready_order = r
        .take(ready_len * 4, "ready queue")?
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let mut fail_policy = FxHashMap::default();
    for _ in 0..r.count(5, "failure policy count")? {
        let v = r.u32("failure policy task")?;
        let p = r.u8("failure policy")?;
        fail_policy.insert(
            v,
            FailPolicy::from_u8(p).ok_or_else(|| bad(&format!("unknown failure policy {p}")))?,
        );
    }
    let mut payloads = FxHashMap::default();
    for _ in 0..r.count(12, "payload count")? {
        let v = r.u32("payload task")?;
        let len = r.u64("payload length")?;
        let len = usize::try_from(len).map_err(|_| bad("payload too large"))?;
        payloads.insert(v, Box::from(r.take(len, "payload")?));
    }
    if r.rest() > 0 {
        return Err(bad(&format!("{} unexpected bytes after the payloads", r.rest())));
    }
    DagTracker::from_parts(
        Parts {
            keys,
            state,
            cost,
            edges: (src, dst),
            ready_order,
            payloads,
            fail_policy,
        },
        true,
    )
}

fn bad(msg: &str) -> DagError {
    DagError::Checkpoint(msg.to_string())
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn rest(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8]> {
        if len > self.rest() {
            return Err(bad(&format!(
                "truncated: {what} needs {len} bytes at offset {}, only {} left",
                self.pos,
                self.rest()
            )));
        }
        let s = &self.data[self.pos..self.pos + len];
        self.pos += len;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }

    /// A count of items each at least `min_size` bytes, refused if the bytes
    /// left could not hold them.
    fn count(&mut self, min_size: usize, what: &str) -> Result<usize> {
        let c = self.u64(what)?;
        if c > (self.rest() / min_size) as u64 {
            return Err(bad(&format!(
                "{what} says {c}, more than the {} bytes left can hold",
                self.rest()
            )));
        }
        Ok(c as usize)
    }
}
