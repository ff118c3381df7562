//! Maps `DagError` to the exception classes defined in `symphony_lab/errors.py`.

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
    cell.import(py, "symphony_lab.errors", name)
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
