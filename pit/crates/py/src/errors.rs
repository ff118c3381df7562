//! Maps `DagError` to the exception classes defined in `symphony_lab/pit/errors.py`.

use pit_dag::DagError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyType};

use crate::convert::key_to_py;

static CYCLE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UNKNOWN: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DUPLICATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CHECKPOINT: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, cell: &'static PyOnceLock<Py<PyType>>, name: &str) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "symphony_lab.pit.errors", name)
}

fn raise(ty: PyResult<&Bound<'_, PyType>>, msg: String) -> PyErr {
    match ty.and_then(|t| t.call1((msg,))) {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
}

pub fn to_py(py: Python<'_>, e: DagError) -> PyErr {
    let msg = e.to_string();
    match e {
        DagError::Cycle { path } => {
            let keys = PyList::new(py, path.iter().map(|k| key_to_py(py, k.as_ref())));
            match (class(py, &CYCLE, "CycleError"), keys) {
                (Ok(t), Ok(keys)) => match t.call1((msg, keys)) {
                    Ok(instance) => PyErr::from_value(instance),
                    Err(err) => err,
                },
                (Err(err), _) | (_, Err(err)) => err,
            }
        }
        DagError::UnknownTask(_) => raise(class(py, &UNKNOWN, "TaskNotFoundError"), msg),
        DagError::DuplicateTask(_) => raise(class(py, &DUPLICATE, "DuplicateTaskError"), msg),
        DagError::State { .. } | DagError::EdgeState { .. } => raise(class(py, &STATE, "StateError"), msg),
        DagError::Checkpoint(_) => checkpoint_error(py, msg),
        DagError::Invalid(_) => PyValueError::new_err(msg),
    }
}

pub fn checkpoint_error(py: Python<'_>, msg: String) -> PyErr {
    raise(class(py, &CHECKPOINT, "CheckpointError"), msg)
}

static POOL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static POOL_TIMEOUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static POOL_CLOSED: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static LEASE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UNKNOWN_FUNCTION: PyOnceLock<Py<PyType>> = PyOnceLock::new();

pub fn pool_to_py(py: Python<'_>, e: pit_pool::PoolError) -> PyErr {
    use pit_pool::PoolError as E;
    let msg = e.to_string();
    match e {
        E::UnknownFunction(_) | E::UnknownInstance(_) => {
            raise(class(py, &UNKNOWN_FUNCTION, "UnknownFunctionError"), msg)
        }
        E::DuplicateFunction(_) | E::InvalidSpec(_) => PyValueError::new_err(msg),
        E::InvalidLease(_) => lease_error(py, msg),
        E::Timeout { .. } | E::ShutdownTimeout { .. } => raise(class(py, &POOL_TIMEOUT, "PoolTimeout"), msg),
        E::Closed => raise(class(py, &POOL_CLOSED, "PoolClosed"), msg),
        E::Clock(_) | E::InstanceFailed(_) => raise(class(py, &POOL, "PoolError"), msg),
    }
}

pub fn lease_error(py: Python<'_>, msg: String) -> PyErr {
    raise(class(py, &LEASE, "LeaseError"), msg)
}

static ARBITER: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UNKNOWN_NAME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static LOCK_TIMEOUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();

pub fn arbiter_to_py(py: Python<'_>, e: pit_arbiter::ArbiterError) -> PyErr {
    use pit_arbiter::ArbiterError as E;
    let msg = e.to_string();
    match e {
        E::InvalidPolicy(_) | E::DuplicateCandidate(_) | E::DuplicateResource(_) | E::InvalidArgument(_) => {
            PyValueError::new_err(msg)
        }
        E::UnknownCandidate(_) | E::UnknownResource(_) | E::UnknownRequest(_) | E::UnknownLock(_) => {
            raise(class(py, &UNKNOWN_NAME, "UnknownNameError"), msg)
        }
        E::NoCandidates => raise(class(py, &ARBITER, "ArbiterError"), msg),
    }
}

static LOCK_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

pub fn lock_error(py: Python<'_>, msg: String) -> PyErr {
    raise(class(py, &LOCK_ERROR, "LockError"), msg)
}

pub fn arbiter_error(py: Python<'_>, msg: String) -> PyErr {
    raise(class(py, &ARBITER, "ArbiterError"), msg)
}

pub fn lock_timeout(py: Python<'_>, msg: String) -> PyErr {
    raise(class(py, &LOCK_TIMEOUT, "LockTimeout"), msg)
}

static ARTIFACT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UNKNOWN_ARTIFACT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CORRUPT_ARTIFACT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STORE_FORMAT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STORE_FULL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

pub fn artifact_to_py(py: Python<'_>, e: pit_artifacts::ArtifactError) -> PyErr {
    use pit_artifacts::ArtifactError as E;
    let msg = e.to_string();
    if e.is_disk_full() {
        return raise(
            class(py, &STORE_FULL, "StoreFull"),
            format!("{msg} (the disk is full: nothing was stored, and what was stored before is intact)"),
        );
    }
    match e {
        E::UnknownHash(_) | E::UnknownName { .. } | E::Removed { .. } | E::MissingInput { .. } => {
            raise(class(py, &UNKNOWN_ARTIFACT, "UnknownArtifact"), msg)
        }
        E::Corrupt { .. } => raise(class(py, &CORRUPT_ARTIFACT, "CorruptArtifact"), msg),
        E::NotAStore { .. } | E::NewerFormat { .. } => raise(class(py, &STORE_FORMAT, "StoreFormatError"), msg),
        E::Invalid(_) => PyValueError::new_err(msg),
        E::Io { source, .. } => pyo3::exceptions::PyOSError::new_err((source.raw_os_error().unwrap_or(0), msg)),
        E::Index(_) | E::InUse { .. } | E::SnapshotTooOld { .. } => raise(class(py, &ARTIFACT, "ArtifactError"), msg),
    }
}

static BUS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static FRAME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static MISMATCH: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static BUS_TIMEOUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static BUS_CLOSED: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static REMOTE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CANCELLED: PyOnceLock<Py<PyType>> = PyOnceLock::new();

pub fn bus_to_py(py: Python<'_>, e: pit_bus::BusError) -> PyErr {
    use pit_bus::BusError as E;
    let msg = e.to_string();
    match e {
        E::Oversized { .. } | E::Truncated { .. } | E::Malformed(_) => raise(class(py, &FRAME, "FrameError"), msg),
        E::Incompatible { .. } => raise(class(py, &MISMATCH, "ProtocolMismatch"), msg),
        E::Timeout { .. } => raise(class(py, &BUS_TIMEOUT, "BusTimeout"), msg),
        E::Closed(_) => raise(class(py, &BUS_CLOSED, "BusClosed"), msg),
        E::Cancelled(_) => raise(class(py, &CANCELLED, "CallCancelled"), msg),
        E::Io(_) => raise(class(py, &BUS, "BusError"), msg),
        E::Remote(payload) => remote_error(py, &payload),
    }
}

/// An error frame's payload `{type, message, traceback}` as a `RemoteError`.
fn remote_error(py: Python<'_>, payload: &[u8]) -> PyErr {
    let fields = crate::bus_msgpack::read(py, payload).and_then(|v| {
        let d = v.bind(py).cast::<pyo3::types::PyDict>().map_err(PyErr::from)?.clone();
        let get = |k: &str| -> PyResult<String> {
            Ok(d.get_item(k)?
                .map(|v| v.str().map(|s| s.to_string()))
                .transpose()?
                .unwrap_or_default())
        };
        Ok((get("type")?, get("message")?, get("traceback")?))
    });
    match fields {
        Ok((ty, message, tb)) => match class(py, &REMOTE, "RemoteError").and_then(|t| t.call1((ty, message, tb))) {
            Ok(instance) => PyErr::from_value(instance),
            Err(err) => err,
        },
        Err(_) => raise(
            class(py, &FRAME, "FrameError"),
            "the extension's error frame is not a {type, message} map".into(),
        ),
    }
}
