//! `ArtifactStore` for Python: hashes as hex strings; any buffer in (bytes,
//! bytearray, memoryview, numpy), bytes out; the interpreter released while
//! blobs are hashed, compressed, written or read.

use pit_artifacts::{Hash, Item, Meta, Options, Store};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::errors::artifact_to_py;

/// A content-addressed, versioned store of artifacts in one folder.
#[pyclass(module = "symphony_lab.pit._pit", name = "ArtifactStore", frozen)]
pub struct PyArtifactStore {
    pub(crate) store: std::sync::Arc<Store>,
}

pub(crate) fn hash(py: Python<'_>, hex: &str) -> PyResult<Hash> {
    Hash::from_hex(hex).map_err(|e| artifact_to_py(py, e))
}

/// Versions count from 1; anything else is a clear error, not an overflow.
fn version_of(version: Option<i64>) -> PyResult<Option<u32>> {
    version
        .map(|v| {
            u32::try_from(v)
                .ok()
                .filter(|&v| v >= 1)
                .ok_or_else(|| pyo3::exceptions::PyValueError::new_err(format!("versions count from 1, got {v}")))
        })
        .transpose()
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn meta(
    py: Python<'_>,
    kind: Option<String>,
    media_type: Option<String>,
    producer: Option<String>,
    inputs: Vec<String>,
    quality: Option<f64>,
    tags: Vec<String>,
) -> PyResult<Meta> {
    let inputs = inputs.iter().map(|h| hash(py, h)).collect::<PyResult<_>>()?;
    Ok(Meta {
        kind,
        media_type,
        producer,
        inputs,
        quality,
        tags,
    })
}

impl PyArtifactStore {
    /// The artifact's bytes read straight into the ``bytes`` returned: no
    /// copy between the file (or the cache) and Python's object.
    fn read<'py>(&self, py: Python<'py>, h: &Hash) -> PyResult<Bound<'py, PyBytes>> {
        let found = py.detach(|| self.store.locate(h)).map_err(|e| artifact_to_py(py, e))?;
        let len = found.size();
        // SAFETY: a bytes object of `len` bytes not yet set (no zeroing pass,
        // which on a large blob costs as much as the read); it is filled
        // whole below before Python sees it, or dropped on error.
        let bytes = unsafe {
            let raw = pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), len as pyo3::ffi::Py_ssize_t);
            Bound::from_owned_ptr_or_err(py, raw)?.cast_into_unchecked::<PyBytes>()
        };
        // SAFETY: the object was made just above and is referenced only here.
        let buf =
            unsafe { std::slice::from_raw_parts_mut(pyo3::ffi::PyBytes_AsString(bytes.as_ptr()).cast::<u8>(), len) };
        py.detach(|| self.store.read_into(found, buf))
            .map_err(|e| artifact_to_py(py, e))?;
        Ok(bytes)
    }
}

#[pymethods]
impl PyArtifactStore {
    /// Opens (or creates, in a missing or empty folder) the store at ``path``.
    /// ``level``: zstd level 1-22. ``durable=False`` skips the fsyncs: faster,
    /// but a power cut may lose the latest puts. ``cache_bytes``: recently
    /// used blobs kept in memory (content never changes, so never stale).
    #[new]
    #[pyo3(signature = (path, *, level = 3, durable = true, cache_bytes = 64 << 20))]
    fn new(py: Python<'_>, path: std::path::PathBuf, level: i32, durable: bool, cache_bytes: usize) -> PyResult<Self> {
        let options = Options {
            level,
            durable,
            cache_bytes,
        };
        let store = py
            .detach(|| Store::open(&path, options))
            .map_err(|e| artifact_to_py(py, e))?;
        Ok(PyArtifactStore {
            store: std::sync::Arc::new(store),
        })
    }

    /// Stores ``data`` as the next version of ``name``: ``(hash, version)``.
    #[pyo3(signature = (name, data, *, kind = None, media_type = None, producer = None,
        inputs = Vec::new(), quality = None, tags = Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        py: Python<'_>,
        name: &str,
        data: PyBuffer<u8>,
        kind: Option<String>,
        media_type: Option<String>,
        producer: Option<String>,
        inputs: Vec<String>,
        quality: Option<f64>,
        tags: Vec<String>,
    ) -> PyResult<(String, u32)> {
        let m = meta(py, kind, media_type, producer, inputs, quality, tags)?;
        let data = data.to_vec(py)?;
        let (h, v) = py
            .detach(|| self.store.put(name, &data, &m))
            .map_err(|e| artifact_to_py(py, e))?;
        Ok((h.to_hex(), v))
    }

    /// Stores ``data`` without a name: its hash.
    #[pyo3(signature = (data, *, kind = None, media_type = None, producer = None,
        inputs = Vec::new(), quality = None, tags = Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn put_blob(
        &self,
        py: Python<'_>,
        data: PyBuffer<u8>,
        kind: Option<String>,
        media_type: Option<String>,
        producer: Option<String>,
        inputs: Vec<String>,
        quality: Option<f64>,
        tags: Vec<String>,
    ) -> PyResult<String> {
        let m = meta(py, kind, media_type, producer, inputs, quality, tags)?;
        let data = data.to_vec(py)?;
        let h = py
            .detach(|| self.store.put_blob(&data, &m))
            .map_err(|e| artifact_to_py(py, e))?;
        Ok(h.to_hex())
    }

    /// The bytes of ``name`` (its latest version, or ``version``).
    #[pyo3(signature = (name, version = None))]
    fn get<'py>(&self, py: Python<'py>, name: &str, version: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let version = version_of(version)?;
        let h = py
            .detach(|| self.store.resolve(name, version))
            .map_err(|e| artifact_to_py(py, e))?;
        self.read(py, &h)
    }

    /// The bytes of the artifact ``hash``, checked against it.
    fn get_by_hash<'py>(&self, py: Python<'py>, hash_hex: &str) -> PyResult<Bound<'py, PyBytes>> {
        let h = hash(py, hash_hex)?;
        self.read(py, &h)
    }

    /// The hash of ``name`` (its latest version, or ``version``).
    #[pyo3(signature = (name, version = None))]
    fn resolve(&self, py: Python<'_>, name: &str, version: Option<i64>) -> PyResult<String> {
        let version = version_of(version)?;
        let h = py
            .detach(|| self.store.resolve(name, version))
            .map_err(|e| artifact_to_py(py, e))?;
        Ok(h.to_hex())
    }

    fn __contains__(&self, py: Python<'_>, hash_hex: &str) -> PyResult<bool> {
        match Hash::from_hex(hash_hex) {
            Ok(h) => py.detach(|| self.store.contains(&h)).map_err(|e| artifact_to_py(py, e)),
            Err(_) => Ok(false),
        }
    }

    /// What the index knows of ``hash``, as a dict.
    fn info<'py>(&self, py: Python<'py>, hash_hex: &str) -> PyResult<Bound<'py, PyDict>> {
        let h = hash(py, hash_hex)?;
        let i = py.detach(|| self.store.info(&h)).map_err(|e| artifact_to_py(py, e))?;
        let d = PyDict::new(py);
        d.set_item("hash", i.hash.to_hex())?;
        d.set_item("size", i.size)?;
        d.set_item("stored_size", i.stored_size)?;
        d.set_item("encoding", i.encoding)?;
        d.set_item("kind", i.kind)?;
        d.set_item("media_type", i.media_type)?;
        d.set_item("producer", i.producer)?;
        d.set_item("quality", i.quality)?;
        d.set_item("created", i.created)?;
        d.set_item("accessed", i.accessed)?;
        d.set_item("access_count", i.access_count)?;
        d.set_item("inline", i.inline)?;
        d.set_item("inputs", i.inputs.iter().map(Hash::to_hex).collect::<Vec<_>>())?;
        d.set_item("tags", i.tags)?;
        Ok(d)
    }

    /// ``name``'s versions, oldest first: ``(version, hash, created)``.
    fn history(&self, py: Python<'_>, name: &str) -> PyResult<Vec<(u32, String, f64)>> {
        let h = py
            .detach(|| self.store.history(name))
            .map_err(|e| artifact_to_py(py, e))?;
        Ok(h.into_iter().map(|(v, h, t)| (v, h.to_hex(), t)).collect())
    }

    /// Every ancestor edge ``(artifact, input)`` reachable from ``hash``.
    fn lineage(&self, py: Python<'_>, hash_hex: &str) -> PyResult<Vec<(String, String)>> {
        let h = hash(py, hash_hex)?;
        let edges = py
            .detach(|| self.store.lineage(&h))
            .map_err(|e| artifact_to_py(py, e))?;
        Ok(edges.into_iter().map(|(a, b)| (a.to_hex(), b.to_hex())).collect())
    }

    /// Hashes of the artifacts matching every filter given, oldest first.
    #[pyo3(signature = (*, kind = None, tag = None, producer = None))]
    fn find(
        &self,
        py: Python<'_>,
        kind: Option<&str>,
        tag: Option<&str>,
        producer: Option<&str>,
    ) -> PyResult<Vec<String>> {
        let found = py
            .detach(|| self.store.find(kind, tag, producer))
            .map_err(|e| artifact_to_py(py, e))?;
        Ok(found.iter().map(Hash::to_hex).collect())
    }

    /// A page of the store, newest first: ``(total, items)``, each item a
    /// dict of hash, size, kind, media_type, producer, created, name and
    /// version (its newest name, or None) and pinned.
    #[pyo3(signature = (offset = 0, limit = 50, *, kind = None))]
    fn page<'py>(
        &self,
        py: Python<'py>,
        offset: u64,
        limit: u32,
        kind: Option<&str>,
    ) -> PyResult<(u64, Vec<Bound<'py, PyDict>>)> {
        let (total, listed) = py
            .detach(|| self.store.page(offset, limit, kind))
            .map_err(|e| artifact_to_py(py, e))?;
        let mut items = Vec::with_capacity(listed.len());
        for l in listed {
            let d = PyDict::new(py);
            d.set_item("hash", l.hash.to_hex())?;
            d.set_item("size", l.size)?;
            d.set_item("kind", l.kind)?;
            d.set_item("media_type", l.media_type)?;
            d.set_item("producer", l.producer)?;
            d.set_item("created", l.created)?;
            let (name, version) = l.name.map_or((None, None), |(n, v)| (Some(n), Some(v)));
            d.set_item("name", name)?;
            d.set_item("version", version)?;
            d.set_item("pinned", l.pinned)?;
            items.push(d);
        }
        Ok((total, items))
    }

    /// Re-hashes every blob: ``{"checked": n, "missing": [...], "corrupt": [...]}``.
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = py.detach(|| self.store.verify()).map_err(|e| artifact_to_py(py, e))?;
        let d = PyDict::new(py);
        d.set_item("checked", r.checked)?;
        d.set_item("missing", r.missing.iter().map(Hash::to_hex).collect::<Vec<_>>())?;
        d.set_item("corrupt", r.corrupt.iter().map(Hash::to_hex).collect::<Vec<_>>())?;
        Ok(d)
    }

    /// Stores many blobs in one commit: ``items`` are buffers, or
    /// ``(name, data)`` pairs whose data becomes the next version of name
    /// (name may be ``None``). Every item gets the same metadata. Returns
    /// ``(hash, version or None)`` per item.
    #[pyo3(signature = (items, *, kind = None, media_type = None, producer = None,
        inputs = Vec::new(), quality = None, tags = Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn put_many(
        &self,
        py: Python<'_>,
        items: Vec<Bound<'_, PyAny>>,
        kind: Option<String>,
        media_type: Option<String>,
        producer: Option<String>,
        inputs: Vec<String>,
        quality: Option<f64>,
        tags: Vec<String>,
    ) -> PyResult<Vec<(String, Option<u32>)>> {
        let m = meta(py, kind, media_type, producer, inputs, quality, tags)?;
        let mut owned: Vec<(Option<String>, Vec<u8>)> = Vec::with_capacity(items.len());
        for item in &items {
            if let Ok(buf) = PyBuffer::<u8>::get(item) {
                owned.push((None, buf.to_vec(py)?));
            } else {
                let (name, data): (Option<String>, PyBuffer<u8>) = item.extract().map_err(|_| {
                    pyo3::exceptions::PyTypeError::new_err(format!(
                        "put_many takes buffers or (name, buffer) pairs, got {}",
                        item.get_type().name().map(|n| n.to_string()).unwrap_or_default()
                    ))
                })?;
                owned.push((name, data.to_vec(py)?));
            }
        }
        let out = py
            .detach(|| {
                let batch: Vec<Item<'_>> = owned
                    .iter()
                    .map(|(name, data)| Item {
                        data,
                        meta: &m,
                        name: name.as_deref(),
                    })
                    .collect();
                self.store.put_many(&batch)
            })
            .map_err(|e| artifact_to_py(py, e))?;
        Ok(out.into_iter().map(|(h, v)| (h.to_hex(), v)).collect())
    }

    /// Keeps ``hash`` whatever the stale manager's rules say, until unpinned.
    #[pyo3(signature = (hash_hex, reason = None))]
    fn pin(&self, py: Python<'_>, hash_hex: &str, reason: Option<&str>) -> PyResult<()> {
        let h = hash(py, hash_hex)?;
        py.detach(|| self.store.pin(&h, reason))
            .map_err(|e| artifact_to_py(py, e))
    }

    /// Whether ``hash`` was pinned.
    fn unpin(&self, py: Python<'_>, hash_hex: &str) -> PyResult<bool> {
        let h = hash(py, hash_hex)?;
        py.detach(|| self.store.unpin(&h)).map_err(|e| artifact_to_py(py, e))
    }

    /// Pinned artifacts: ``(hash, reason, pinned at)``.
    fn pins(&self, py: Python<'_>) -> PyResult<Vec<(String, Option<String>, f64)>> {
        let pins = py.detach(|| self.store.pins()).map_err(|e| artifact_to_py(py, e))?;
        Ok(pins.into_iter().map(|(h, r, t)| (h.to_hex(), r, t)).collect())
    }

    /// Deletes one artifact for good; refused while it is pinned or a
    /// version of a name.
    fn delete(&self, py: Python<'_>, hash_hex: &str) -> PyResult<()> {
        let h = hash(py, hash_hex)?;
        py.detach(|| self.store.delete(&h)).map_err(|e| artifact_to_py(py, e))
    }

    /// Forgets every version of ``name`` (the artifacts stay until the
    /// stale manager finds them unreachable); returns how many there were.
    fn delete_ref(&self, py: Python<'_>, name: &str) -> PyResult<usize> {
        py.detach(|| self.store.delete_ref(name))
            .map_err(|e| artifact_to_py(py, e))
    }

    /// The file holding ``hash`` (a ``.zst`` zstd frame or a ``.raw`` file);
    /// ``None`` for a small blob kept in the index.
    fn object_path(&self, py: Python<'_>, hash_hex: &str) -> PyResult<Option<std::path::PathBuf>> {
        let h = hash(py, hash_hex)?;
        Ok(self.store.object_path(&h).map(|(p, _)| p))
    }

    #[getter]
    fn root(&self) -> std::path::PathBuf {
        self.store.root().to_path_buf()
    }

    fn __repr__(&self) -> String {
        format!("ArtifactStore({:?})", self.store.root())
    }
}
