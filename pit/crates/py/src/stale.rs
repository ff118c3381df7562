//! `StaleManager` for Python: the policy as keyword arguments, an archive in
//! a folder (Rust) or any object with `put`/`get` (the fsspec archive of
//! `symphony_lab.pit.stale`), roots from a Python callable; the interpreter is
//! released during runs, and taken back only to call those objects.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pit_artifacts::{Encoding, Hash, Info, Stored};
use pit_stale::{Action, Archive, DirArchive, Periodic, Plan, Policy, StaleError, StaleManager, Verdict, Weights};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyType};

use crate::artifacts::{PyArtifactStore, hash};

static STALE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UNKNOWN: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn to_py(py: Python<'_>, e: StaleError) -> PyErr {
    let class =
        |cell: &'static PyOnceLock<Py<PyType>>, name: &str| cell.import(py, "symphony_lab.pit.errors", name).cloned();
    let raise = |ty: PyResult<Bound<'_, PyType>>, msg: String| match ty.and_then(|t| t.call1((msg,))) {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    };
    match e {
        StaleError::Store(e) => crate::errors::artifact_to_py(py, e),
        StaleError::Policy(_) => PyValueError::new_err(e.to_string()),
        StaleError::NotArchived(_) => raise(class(&UNKNOWN, "UnknownArtifact"), e.to_string()),
        StaleError::Archive(_) | StaleError::Roots(_) => raise(class(&STALE, "StaleError"), e.to_string()),
    }
}

/// An archive written by Python code: `put(hash, stored, encoding, record)`
/// and `get(hash) -> (stored, encoding, record)`, record being JSON text.
struct PyArchive {
    obj: Py<PyAny>,
    description: String,
}

impl Archive for PyArchive {
    fn put(&self, hash: &Hash, stored: &Stored, encoding: Encoding, info: &Info) -> pit_stale::Result<()> {
        let bytes = match stored {
            Stored::Inline(b) => b.clone(),
            Stored::File(p) => std::fs::read(p).map_err(|e| StaleError::Archive(format!("{}: {e}", p.display())))?,
        };
        let record = pit_stale::info_to_json(info, encoding).to_string();
        Python::attach(|py| {
            self.obj
                .call_method1(
                    py,
                    "put",
                    (hash.to_hex(), PyBytes::new(py, &bytes), encoding.name(), record),
                )
                .map(|_| ())
                .map_err(|e| StaleError::Archive(format!("{}: {e}", self.description)))
        })
    }

    fn get(&self, hash: &Hash) -> pit_stale::Result<(Vec<u8>, Encoding, Info)> {
        let (bytes, record) = Python::attach(|py| {
            let got = self.obj.call_method1(py, "get", (hash.to_hex(),)).map_err(|e| {
                if e.is_instance_of::<pyo3::exceptions::PyFileNotFoundError>(py)
                    || e.is_instance_of::<pyo3::exceptions::PyKeyError>(py)
                {
                    StaleError::NotArchived(format!("{hash} is not in {}", self.description))
                } else {
                    StaleError::Archive(format!("{}: {e}", self.description))
                }
            })?;
            got.extract::<(Vec<u8>, String, String)>(py)
                .map(|(b, _, r)| (b, r))
                .map_err(|e| {
                    StaleError::Archive(format!(
                        "{}: get() must return (bytes, str, str): {e}",
                        self.description
                    ))
                })
        })?;
        let (info, encoding) = pit_stale::info_from_json(&record)?;
        Ok((bytes, encoding, info))
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// Keeps an artifact store within its limits: see `symphony_lab.pit.stale`.
#[pyclass(module = "symphony_lab.pit._pit", name = "StaleManager", frozen)]
pub struct PyStaleManager {
    manager: Arc<StaleManager>,
    periodic: Mutex<Option<Periodic>>,
}

#[pymethods]
impl PyStaleManager {
    #[new]
    #[pyo3(signature = (store, *, grace = 3_600.0, max_age = None, min_access_count = None, access_grace = 86_400.0,
        min_quality = None, max_total_bytes = None, preserve_training = true,
        training_tag = "training".to_owned(), keep_tags = Vec::new(), keep_last_versions = None,
        weights = None, half_life = 7.0 * 86_400.0, action = "archive", archive_dir = None,
        archive = None, roots = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        store: &Bound<'_, PyArtifactStore>,
        grace: f64,
        max_age: Option<f64>,
        min_access_count: Option<u64>,
        access_grace: f64,
        min_quality: Option<f64>,
        max_total_bytes: Option<u64>,
        preserve_training: bool,
        training_tag: String,
        keep_tags: Vec<String>,
        keep_last_versions: Option<u32>,
        weights: Option<(f64, f64, f64, f64)>,
        half_life: f64,
        action: &str,
        archive_dir: Option<std::path::PathBuf>,
        archive: Option<Py<PyAny>>,
        roots: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let action = match action {
            "archive" => Action::Archive,
            "delete" => Action::Delete,
            other => {
                return Err(PyValueError::new_err(format!(
                    "action must be 'archive' or 'delete', got {other:?}"
                )));
            }
        };
        let (recency, frequency, quality, training) = weights.unwrap_or((0.4, 0.3, 0.2, 0.1));
        let policy = Policy {
            grace,
            max_age,
            min_access_count,
            access_grace,
            min_quality,
            max_total_bytes,
            preserve_training,
            training_tag,
            keep_tags,
            keep_last_versions,
            weights: Weights {
                recency,
                frequency,
                quality,
                training,
                half_life,
            },
            action,
        };
        let archive: Option<Arc<dyn Archive>> = match (archive_dir, archive) {
            (Some(_), Some(_)) => return Err(PyValueError::new_err("give archive_dir or archive, not both")),
            (Some(dir), None) => Some(Arc::new(DirArchive::new(dir).map_err(|e| to_py(py, e))?)),
            (None, Some(obj)) => {
                let description = obj.bind(py).repr()?.to_string();
                Some(Arc::new(PyArchive { obj, description }))
            }
            (None, None) => None,
        };
        let store = store.get().store.clone();
        let mut manager = StaleManager::new(store, policy, archive).map_err(|e| to_py(py, e))?;
        if let Some(roots) = roots {
            manager.add_roots(Box::new(move || {
                Python::attach(|py| {
                    let found = roots
                        .call0(py)
                        .and_then(|r| r.extract::<Vec<String>>(py))
                        .map_err(|e| StaleError::Roots(e.to_string()))?;
                    found
                        .iter()
                        .map(|h| Hash::from_hex(h).map_err(|e| StaleError::Roots(e.to_string())))
                        .collect()
                })
            }));
        }
        Ok(PyStaleManager {
            manager: Arc::new(manager),
            periodic: Mutex::new(None),
        })
    }

    /// The dry run: what a run now would do, and why.
    fn plan(&self, py: Python<'_>) -> PyResult<PyPlan> {
        let plan = py.detach(|| self.manager.plan()).map_err(|e| to_py(py, e))?;
        Ok(PyPlan { plan })
    }

    /// Archives, then removes, what the policy lets go; waits for a run in
    /// progress (here or in another process) to end first.
    fn run<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let report = py.detach(|| self.manager.run()).map_err(|e| to_py(py, e))?;
        let d = PyDict::new(py);
        d.set_item("archived", report.archived)?;
        d.set_item("deleted", report.deleted)?;
        d.set_item("kept", report.kept)?;
        d.set_item("spared", report.spared)?;
        d.set_item("orphans", report.orphans)?;
        d.set_item(
            "failed",
            report
                .failed
                .iter()
                .map(|(h, why)| (h.to_hex(), why.clone()))
                .collect::<Vec<_>>(),
        )?;
        d.set_item("freed_bytes", report.freed_bytes)?;
        d.set_item("seconds", report.seconds)?;
        d.set_item("plan", PyPlan { plan: report.plan })?;
        Ok(d)
    }

    /// Puts an archived artifact back, with its metadata and lineage.
    fn restore(&self, py: Python<'_>, hash_hex: &str) -> PyResult<()> {
        let h = hash(py, hash_hex)?;
        py.detach(|| self.manager.restore(&h)).map_err(|e| to_py(py, e))
    }

    /// Runs every ``interval`` seconds on a background thread until `stop`.
    fn start(&self, interval: f64) -> PyResult<()> {
        if !(interval.is_finite() && interval > 0.0) {
            return Err(PyValueError::new_err(format!(
                "interval must be seconds > 0, got {interval}"
            )));
        }
        let mut slot = self.periodic.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return Err(PyValueError::new_err(
                "the background thread is already running; stop() it first",
            ));
        }
        let interval = Duration::try_from_secs_f64(interval)
            .map_err(|_| PyValueError::new_err(format!("interval must be seconds > 0, got {interval}")))?;
        *slot = Some(Periodic::start(self.manager.clone(), interval));
        Ok(())
    }

    /// Stops the background thread, after the run in progress if any.
    fn stop(&self, py: Python<'_>) {
        let taken = self.periodic.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut p) = taken {
            // Detached: the thread may need the interpreter to finish its run.
            py.detach(|| p.stop());
        }
    }

    /// Whether the background thread is running.
    #[getter]
    fn running(&self) -> bool {
        self.periodic.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Runs the background thread has completed.
    #[getter]
    fn background_runs(&self) -> u64 {
        self.periodic
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, Periodic::runs)
    }

    /// The background thread's last error, if its last run failed.
    #[getter]
    fn background_error(&self) -> Option<String> {
        let slot = self.periodic.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref().and_then(Periodic::last) {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    }
}

impl Drop for PyStaleManager {
    /// Dropped while the interpreter is held, the thread may be waiting for
    /// it (to call roots or an archive): tell it to stop, never wait for it.
    fn drop(&mut self) {
        if let Some(p) = self.periodic.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            p.signal_stop();
        }
    }
}

/// What a run would do: a decision per artifact, with its rule and value.
#[pyclass(module = "symphony_lab.pit._pit", name = "StalePlan", frozen)]
pub struct PyPlan {
    plan: Plan,
}

/// `(hash, decision, rule, value, stored_size)`.
type Row = (String, &'static str, &'static str, f64, u64);

fn verdict(name: &str) -> PyResult<Verdict> {
    match name {
        "keep" => Ok(Verdict::Keep),
        "archive" => Ok(Verdict::Archive),
        "delete" => Ok(Verdict::Delete),
        other => Err(PyValueError::new_err(format!(
            "a decision is 'keep', 'archive' or 'delete', got {other:?}"
        ))),
    }
}

#[pymethods]
impl PyPlan {
    /// ``(hash, decision, rule, value, stored_size)`` per artifact, or only
    /// those with ``decision``.
    #[pyo3(signature = (decision = None))]
    fn rows(&self, decision: Option<&str>) -> PyResult<Vec<Row>> {
        let only = decision.map(verdict).transpose()?;
        Ok(self
            .plan
            .decisions
            .iter()
            .filter(|d| only.is_none_or(|v| d.verdict == v))
            .map(|d| (d.hash.to_hex(), d.verdict.name(), d.rule.name(), d.value, d.stored_size))
            .collect())
    }

    /// ``(decision, rule)`` for one artifact.
    fn explain(&self, py: Python<'_>, hash_hex: &str) -> PyResult<(&'static str, &'static str)> {
        let h = hash(py, hash_hex)?;
        self.plan
            .decisions
            .iter()
            .find(|d| d.hash == h)
            .map(|d| (d.verdict.name(), d.rule.name()))
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(format!("{hash_hex} is not in this plan")))
    }

    /// Artifacts per decision.
    #[getter]
    fn counts(&self) -> std::collections::BTreeMap<&'static str, usize> {
        [Verdict::Keep, Verdict::Archive, Verdict::Delete]
            .into_iter()
            .map(|v| (v.name(), self.plan.count(v)))
            .collect()
    }

    #[getter]
    fn kept_bytes(&self) -> u64 {
        self.plan.kept_bytes
    }

    #[getter]
    fn freed_bytes(&self) -> u64 {
        self.plan.freed_bytes
    }

    /// Bytes over ``max_total_bytes`` that protected artifacts alone take.
    #[getter]
    fn over_limit_bytes(&self) -> u64 {
        self.plan.over_limit_bytes
    }

    fn __len__(&self) -> usize {
        self.plan.decisions.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "StalePlan(keep={}, archive={}, delete={}, freed_bytes={})",
            self.plan.count(Verdict::Keep),
            self.plan.count(Verdict::Archive),
            self.plan.count(Verdict::Delete),
            self.plan.freed_bytes
        )
    }
}
