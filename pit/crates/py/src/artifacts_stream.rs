//! Large artifacts without copies: `ArtifactStore.put_file` and `get_file`
//! stream between the store and a path or a binary file-like object, a
//! chunk at a time (a path is read or written with the interpreter
//! released; a file-like takes it for each chunk), and `get_buffer` hands
//! a raw blob's memory-mapped file to Python as a read-only buffer.

use std::ffi::{c_int, c_void};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use pit_artifacts::{ArtifactError, Mapped};
use pyo3::exceptions::{PyNotImplementedError, PyOSError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

use crate::artifacts::{PyArtifactStore, hash, meta};
use crate::errors::artifact_to_py;

/// How much a file-like object is asked for at a time.
const CHUNK: usize = 1 << 20;

/// A path (`str` or `os.PathLike`), or a file-like object.
enum Target {
    Path(PathBuf),
    Object(Py<PyAny>),
}

fn target(obj: &Bound<'_, PyAny>, method: &str, needs: &str, what: &str) -> PyResult<Target> {
    if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
        return Ok(Target::Path(obj.extract()?));
    }
    if needs.split('/').any(|m| obj.hasattr(m).unwrap_or(false)) {
        return Ok(Target::Object(obj.clone().unbind()));
    }
    Err(PyTypeError::new_err(format!(
        "{method} takes a path or a binary file-like object with {}, got {}{what}",
        needs.replace('/', " or "),
        obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
    )))
}

/// The store's error as a Python exception; an I/O error about a file
/// outside the store (the caller's source or destination) is a plain
/// `OSError`, not `StoreFull` even when that disk is full.
fn to_py(py: Python<'_>, root: &Path, e: ArtifactError) -> PyErr {
    if let ArtifactError::Io { path, source } = &e
        && !path.starts_with(root)
    {
        return PyOSError::new_err((source.raw_os_error().unwrap_or(0), e.to_string()));
    }
    artifact_to_py(py, e)
}

/// A Python binary file-like object as a `Read`: `readinto` a bytearray
/// kept for the purpose (or `read` where there is no `readinto`), copied
/// out under the interpreter's lock.
struct PyReader {
    obj: Py<PyAny>,
    buf: Option<Py<PyByteArray>>,
    readinto: bool,
    /// What Python raised: it is raised again in place of the I/O error.
    error: Option<PyErr>,
}

impl PyReader {
    fn read_chunk(&mut self, py: Python<'_>, out: &mut [u8]) -> PyResult<usize> {
        py.check_signals()?;
        let want = out.len().min(CHUNK);
        if self.readinto {
            let buf = match &self.buf {
                Some(b) => b.bind(py).clone(),
                None => {
                    let b = PyByteArray::new_with(py, want, |_| Ok(()))?;
                    self.buf = Some(b.clone().unbind());
                    b
                }
            };
            if buf.len() != want {
                buf.resize(want)?;
            }
            match self.obj.bind(py).call_method1("readinto", (&buf,)) {
                Ok(n) => {
                    if n.is_none() {
                        return Err(PyValueError::new_err(
                            "put_file: readinto gave None (a non-blocking stream with no data)",
                        ));
                    }
                    let n: usize = n.extract()?;
                    if n > want {
                        return Err(PyValueError::new_err(format!(
                            "put_file: readinto said {n} bytes into a buffer of {want}"
                        )));
                    }
                    // SAFETY: no Python code runs while the bytes are copied.
                    out[..n].copy_from_slice(unsafe { &buf.as_bytes()[..n] });
                    return Ok(n);
                }
                // A class that declares readinto without having it.
                Err(e)
                    if e.is_instance_of::<PyNotImplementedError>(py)
                        || e.is_instance(py, &py.import("io")?.getattr("UnsupportedOperation")?) =>
                {
                    self.readinto = false;
                }
                Err(e) => return Err(e),
            }
        }
        let data = self.obj.bind(py).call_method1("read", (want,))?;
        if data.is_none() {
            return Err(PyValueError::new_err(
                "put_file: read gave None (a non-blocking stream with no data)",
            ));
        }
        let n = if let Ok(b) = data.cast::<PyBytes>() {
            let bytes = b.as_bytes();
            if bytes.len() > want {
                return Err(PyValueError::new_err(format!(
                    "put_file: read({want}) gave {} bytes",
                    bytes.len()
                )));
            }
            out[..bytes.len()].copy_from_slice(bytes);
            bytes.len()
        } else {
            let buffer = pyo3::buffer::PyBuffer::<u8>::get(&data).map_err(|_| {
                PyTypeError::new_err(format!(
                    "put_file needs a binary file: read gave {}",
                    data.get_type().name().map(|n| n.to_string()).unwrap_or_default()
                ))
            })?;
            let bytes = buffer.to_vec(py)?;
            if bytes.len() > want {
                return Err(PyValueError::new_err(format!(
                    "put_file: read({want}) gave {} bytes",
                    bytes.len()
                )));
            }
            out[..bytes.len()].copy_from_slice(&bytes);
            bytes.len()
        };
        Ok(n)
    }
}

impl Read for PyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || self.error.is_some() {
            return Ok(0);
        }
        Python::attach(|py| match self.read_chunk(py, out) {
            Ok(n) => Ok(n),
            Err(e) => {
                self.error = Some(e);
                Err(io::Error::other("the Python file object raised"))
            }
        })
    }
}

/// A Python binary file-like object as a `Write`: `write(bytes)`.
struct PyWriter {
    obj: Py<PyAny>,
    error: Option<PyErr>,
}

impl Write for PyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let written = (|| -> PyResult<usize> {
                py.check_signals()?;
                let n = self.obj.bind(py).call_method1("write", (PyBytes::new(py, data),))?;
                // Some writers return None: they took it all.
                if n.is_none() {
                    return Ok(data.len());
                }
                Ok(n.extract::<usize>()?.min(data.len()))
            })();
            written.map_err(|e| {
                self.error = Some(e);
                io::Error::other("the Python file object raised")
            })
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A blob's bytes as a read-only buffer: `memoryview(buf)`,
/// `numpy.frombuffer(buf, ...)`. A raw blob's file is memory-mapped (no
/// copy; the mapping lives as long as this object or a view of it); other
/// blobs are decoded into memory. Checked against the hash when made.
#[pyclass(module = "symphony_lab.pit._pit", name = "ArtifactBuffer", frozen)]
pub struct PyArtifactBuffer {
    data: Mapped,
}

#[pymethods]
impl PyArtifactBuffer {
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let bytes: &[u8] = &slf.get().data;
        // SAFETY: the bytes live as long as `slf`, which the view holds a
        // reference to (PyBuffer_FillInfo takes one); readonly=1 refuses
        // a writable request with BufferError.
        let filled = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                bytes.as_ptr() as *mut c_void,
                bytes.len() as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if filled == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        // Nothing was allocated for the view; the mapping goes with `self`.
    }

    fn __len__(&self) -> usize {
        self.data.len()
    }

    /// Whether the bytes are the blob's memory-mapped file (a raw blob)
    /// rather than a decoded copy.
    #[getter]
    fn mapped(&self) -> bool {
        self.data.is_mapped()
    }

    fn __repr__(&self) -> String {
        format!(
            "ArtifactBuffer({} bytes, {})",
            self.data.len(),
            if self.data.is_mapped() { "mapped" } else { "in memory" }
        )
    }
}

#[pymethods]
impl PyArtifactStore {
    /// Stores what ``source`` holds without reading it all into memory: a
    /// path (read with the interpreter released) or a binary file-like
    /// object (``readinto`` or ``read``, 1 MiB at a time). Returns
    /// ``(hash, version)``, the version ``None`` without a ``name``.
    #[pyo3(signature = (source, *, name = None, kind = None, media_type = None, producer = None,
        inputs = Vec::new(), quality = None, tags = Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn put_file(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        name: Option<&str>,
        kind: Option<String>,
        media_type: Option<String>,
        producer: Option<String>,
        inputs: Vec<String>,
        quality: Option<f64>,
        tags: Vec<String>,
    ) -> PyResult<(String, Option<u32>)> {
        let meta = meta(py, kind, media_type, producer, inputs, quality, tags)?;
        let root = self.store.root();
        let put = match target(source, "put_file", "readinto/read", "; for bytes use put_blob")? {
            Target::Path(path) => py.detach(|| self.store.put_path(&path, name, &meta)),
            Target::Object(obj) => {
                let mut reader = PyReader {
                    readinto: obj.bind(py).hasattr("readinto")?,
                    obj,
                    buf: None,
                    error: None,
                };
                let put = py.detach(|| self.store.put_reader(&mut reader, name, &meta));
                if let Some(e) = reader.error.take() {
                    return Err(e);
                }
                put
            }
        };
        let (h, v) = put.map_err(|e| to_py(py, root, e))?;
        Ok((h.to_hex(), v))
    }

    /// Writes the bytes of ``hash`` to ``dest`` without holding them all in
    /// memory, and returns how many. A path gets a temporary file beside it,
    /// renamed once the hash checked (a corrupt blob leaves no file); a
    /// writable binary file-like object gets ``write`` calls of up to 1 MiB,
    /// only after a first pass checked the hash.
    fn get_file(&self, py: Python<'_>, hash_hex: &str, dest: &Bound<'_, PyAny>) -> PyResult<u64> {
        let h = hash(py, hash_hex)?;
        let root = self.store.root();
        let got = match target(dest, "get_file", "write", "")? {
            Target::Path(path) => py.detach(|| self.store.get_to_path(&h, &path)),
            Target::Object(obj) => {
                let mut writer = PyWriter { obj, error: None };
                let got = py.detach(|| self.store.get_to_writer(&h, &mut writer));
                if let Some(e) = writer.error.take() {
                    return Err(e);
                }
                got
            }
        };
        got.map_err(|e| to_py(py, root, e))
    }

    /// The bytes of ``hash`` as a read-only buffer, checked against the
    /// hash: ``memoryview(store.get_buffer(h))``. A raw blob's file is
    /// memory-mapped, not copied; other blobs are decoded into memory.
    fn get_buffer(&self, py: Python<'_>, hash_hex: &str) -> PyResult<PyArtifactBuffer> {
        let h = hash(py, hash_hex)?;
        let data = py
            .detach(|| self.store.map(&h))
            .map_err(|e| to_py(py, self.store.root(), e))?;
        Ok(PyArtifactBuffer { data })
    }
}
