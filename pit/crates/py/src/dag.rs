//! `DagTracker` for Python: every method takes and returns user keys.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};
use pit_dag::{DagError, DagTracker, FailPolicy, Key, KeyRef, TaskState};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyList, PySet, PyTuple};
use rustc_hash::FxHashMap;

use crate::convert::{edge_batch, float_batch, key_batch, key_ref, key_to_py};
use crate::errors::{checkpoint_error, to_py};

pub(crate) struct Inner {
    pub(crate) dag: DagTracker,
    /// Payloads that are Python objects rather than bytes stay on this side.
    objects: FxHashMap<u32, Py<PyAny>>,
    /// Reused buffer for the ids a call makes ready.
    pub(crate) scratch: Vec<u32>,
}

/// A DAG of tasks with states, a ready set and incremental cycle refusal.
///
/// Tasks have a key (``int`` or ``str``), a cost and an optional payload.
/// ``add_edge(a, b)`` means *a* must be done before *b* can start. Also speaks
/// the ``graphlib.TopologicalSorter`` protocol (``prepare``, ``is_active``,
/// ``get_ready``, ``done``, ``static_order``).
#[pyclass(module = "symphony_lab.pit._pit", name = "DagTracker", frozen)]
pub struct PyDagTracker {
    inner: Mutex<Inner>,
    /// The thread holding `inner` while attached, so that a call back into the
    /// tracker from Python run under the lock raises instead of deadlocking.
    owner: AtomicUsize,
}

type Res<T> = Result<T, DagError>;

fn this_thread() -> usize {
    thread_local!(static TOKEN: u8 = const { 0 });
    TOKEN.with(|t| t as *const u8 as usize)
}

/// The tracker's lock, held by an attached thread.
pub(crate) struct Held<'a> {
    guard: MutexGuard<'a, Inner>,
    owner: &'a AtomicUsize,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.owner.store(0, Ordering::Relaxed);
    }
}

impl std::ops::Deref for Held<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.guard
    }
}

impl std::ops::DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.guard
    }
}

impl PyDagTracker {
    fn wrap(dag: DagTracker, objects: FxHashMap<u32, Py<PyAny>>) -> Self {
        PyDagTracker {
            inner: Mutex::new(Inner {
                dag,
                objects,
                scratch: Vec::new(),
            }),
            owner: AtomicUsize::new(0),
        }
    }

    fn refuse_reentry(&self) -> PyResult<()> {
        if self.owner.load(Ordering::Relaxed) == this_thread() {
            return Err(PyRuntimeError::new_err(
                "DagTracker was called from Python code running inside one of its own calls \
                 (a key's __index__, a finalizer); waiting for itself would deadlock",
            ));
        }
        Ok(())
    }

    /// The lock for a short call. Never wait for it while attached: the holder
    /// may be working detached and need the interpreter back to finish.
    pub(crate) fn lock(&self, py: Python<'_>) -> PyResult<Held<'_>> {
        let guard = match self.inner.try_lock() {
            Some(g) => g,
            None => {
                self.refuse_reentry()?;
                py.detach(|| self.inner.lock())
            }
        };
        self.owner.store(this_thread(), Ordering::Relaxed);
        Ok(Held {
            guard,
            owner: &self.owner,
        })
    }

    /// A long call: runs detached so other Python threads go on meanwhile.
    fn detached<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Inner) -> R + Send) -> PyResult<R> {
        self.refuse_reentry()?;
        Ok(py.detach(|| f(&mut self.inner.lock())))
    }
}

fn keys_list<'py>(py: Python<'py>, dag: &DagTracker, ids: &[u32]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, ids.iter().map(|&v| key_to_py(py, dag.key(v))))
}

fn id_of(py: Python<'_>, dag: &DagTracker, k: KeyRef<'_>) -> PyResult<u32> {
    dag.id(k).map_err(|e| to_py(py, e))
}

fn policy(name: &str) -> PyResult<FailPolicy> {
    FailPolicy::from_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("policy must be 'block' or 'skip', not {name:?}")))
}

#[pymethods]
impl PyDagTracker {
    #[new]
    fn new() -> Self {
        Self::wrap(DagTracker::new(), FxHashMap::default())
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.lock(py)?.dag.len())
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        self.keys(py)?.try_iter()
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        match key_ref(key) {
            Ok(k) => Ok(self.lock(py)?.dag.id(k).is_ok()),
            Err(_) => Ok(false),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let g = self.lock(py)?;
        let c = g.dag.counts();
        let states: Vec<String> = TaskState::ALL
            .iter()
            .filter(|s| c[**s as usize] > 0)
            .map(|s| format!("{}={}", s.name(), c[*s as usize]))
            .collect();
        let states = if states.is_empty() {
            String::new()
        } else {
            format!(", {}", states.join(", "))
        };
        Ok(format!(
            "DagTracker(tasks={}, edges={}{states})",
            g.dag.len(),
            g.dag.edge_count()
        ))
    }

    /// Number of edges.
    #[getter]
    fn edge_count(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.lock(py)?.dag.edge_count())
    }

    // ---- building ----------------------------------------------------------

    /// Adds one task; it is ready until an edge into it says otherwise.
    /// ``payload`` may be ``bytes`` (kept in the Pit, saved in checkpoints) or
    /// any Python object (kept on the Python side).
    #[pyo3(signature = (key, *, cost = 0.0, payload = None))]
    fn add_task(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        cost: f64,
        payload: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let k = key_ref(key)?;
        let bytes = payload
            .and_then(|p| p.cast::<PyBytes>().ok())
            .map(|b| Box::from(b.as_bytes()));
        let mut g = self.lock(py)?;
        let id = g.dag.add_task(k, cost, bytes).map_err(|e| to_py(py, e))?;
        if let Some(p) = payload.filter(|p| !p.is_instance_of::<PyBytes>()) {
            g.objects.insert(id, p.clone().unbind());
        }
        Ok(())
    }

    /// Adds many tasks at once (a list, or an integer numpy array); all or none.
    #[pyo3(signature = (keys, *, costs = None))]
    fn add_tasks(&self, py: Python<'_>, keys: &Bound<'_, PyAny>, costs: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let keys = key_batch(keys, "keys")?;
        let costs = costs.map(|c| float_batch(c, "costs")).transpose()?;
        self.detached(py, |g| g.dag.add_tasks(&keys, costs.as_deref()).map(|_| ()))?
            .map_err(|e| to_py(py, e))
    }

    /// Adds the edge ``src -> dst``: ``src`` must be done before ``dst`` starts.
    /// Returns ``False`` if it was already there. Raises ``CycleError`` naming
    /// the cycle if the edge would close one.
    fn add_edge(&self, py: Python<'_>, src: &Bound<'_, PyAny>, dst: &Bound<'_, PyAny>) -> PyResult<bool> {
        let (s, d) = (key_ref(src)?, key_ref(dst)?);
        let mut g = self.lock(py)?;
        let r: Res<bool> = (|| {
            let (s, d) = (g.dag.id(s)?, g.dag.id(d)?);
            g.dag.add_edge(s, d)
        })();
        r.map_err(|e| to_py(py, e))
    }

    /// Adds many edges; all or none. Either two sequences ``src`` and ``dst``
    /// (lists or integer arrays), or one sequence of pairs or an ``(m, 2)``
    /// array. Returns how many edges were new.
    #[pyo3(signature = (src, dst = None))]
    fn add_edges(&self, py: Python<'_>, src: &Bound<'_, PyAny>, dst: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
        let (s, d) = edge_batch(src, dst)?;
        if s.len() != d.len() {
            return Err(PyValueError::new_err(format!(
                "add_edges got {} sources but {} targets",
                s.len(),
                d.len()
            )));
        }
        self.detached(py, |g| {
            let (s, d) = (g.dag.ids(&s)?, g.dag.ids(&d)?);
            g.dag.add_edges(&s, &d)
        })?
        .map_err(|e| to_py(py, e))
    }

    /// ``graphlib`` style: adds ``node`` and its ``predecessors`` (any that are
    /// missing) and an edge from each predecessor to ``node``.
    #[pyo3(signature = (node, *predecessors))]
    fn add(&self, py: Python<'_>, node: &Bound<'_, PyAny>, predecessors: &Bound<'_, PyTuple>) -> PyResult<()> {
        let node = key_ref(node)?;
        let preds: Vec<Key> = predecessors
            .iter()
            .map(|p| key_ref(&p).map(KeyRef::to_owned))
            .collect::<PyResult<_>>()?;
        let preds: Vec<KeyRef<'_>> = preds.iter().map(Key::as_ref).collect();
        let mut g = self.lock(py)?;
        g.dag.add_with_predecessors(node, &preds).map_err(|e| to_py(py, e))
    }

    // ---- states ------------------------------------------------------------

    /// The state of a task: ``pending``, ``ready``, ``running``, ``done``,
    /// ``failed``, ``skipped`` or ``cancelled``.
    fn state(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<&'static str> {
        let k = key_ref(key)?;
        let g = self.lock(py)?;
        Ok(g.dag.state(id_of(py, &g.dag, k)?).name())
    }

    fn cost(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<f64> {
        let k = key_ref(key)?;
        let g = self.lock(py)?;
        Ok(g.dag.cost(id_of(py, &g.dag, k)?))
    }

    /// The task's payload, or ``None``.
    fn payload(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        let k = key_ref(key)?;
        let g = self.lock(py)?;
        let id = id_of(py, &g.dag, k)?;
        if let Some(obj) = g.objects.get(&id) {
            return Ok(Some(obj.clone_ref(py)));
        }
        Ok(g.dag.payload(id).map(|b| PyBytes::new(py, b).into_any().unbind()))
    }

    /// Number of tasks in each state.
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.lock(py)?.dag.counts();
        let d = PyDict::new(py);
        for s in TaskState::ALL {
            d.set_item(s.name(), c[s as usize])?;
        }
        Ok(d)
    }

    /// Every task's state as one byte, in id order (the order of
    /// ``keys()``): 0 pending, 1 ready, 2 running, 3 done, 4 failed,
    /// 5 skipped, 6 cancelled. For watching a large DAG without a call per task.
    fn state_codes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let g = self.lock(py)?;
        let codes: Vec<u8> = (0..g.dag.len() as u32).map(|i| g.dag.state(i) as u8).collect();
        Ok(PyBytes::new(py, &codes))
    }

    /// Ready tasks, oldest first, without taking them.
    fn ready<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let g = self.lock(py)?;
        keys_list(py, &g.dag, &g.dag.ready())
    }

    /// Takes up to ``n`` ready tasks (all if ``None``), oldest first, and marks
    /// them running.
    #[pyo3(signature = (n = None))]
    fn take_ready<'py>(&self, py: Python<'py>, n: Option<usize>) -> PyResult<Bound<'py, PyList>> {
        let mut g = self.lock(py)?;
        let mut out = std::mem::take(&mut g.scratch);
        out.clear();
        g.dag.take_ready(n.unwrap_or(usize::MAX), &mut out);
        let list = keys_list(py, &g.dag, &out);
        g.scratch = out;
        list
    }

    /// ready -> running.
    fn start(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = key_ref(key)?;
        let mut g = self.lock(py)?;
        let id = id_of(py, &g.dag, k)?;
        g.dag.start(id).map_err(|e| to_py(py, e))
    }

    /// running -> done, for any number of tasks (none does nothing, as in
    /// ``graphlib``). Returns the tasks that became ready (``graphlib`` code
    /// may ignore it).
    #[pyo3(signature = (key=None, *more))]
    fn done<'py>(
        &self,
        py: Python<'py>,
        key: Option<&Bound<'py, PyAny>>,
        more: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyList>> {
        // The first key is a parameter of its own: one task at a time is the
        // hot path, and a tuple of one would cost an allocation per call.
        let Some(key) = key else {
            return Ok(PyList::empty(py));
        };
        let k = key_ref(key)?;
        let more: Vec<Key> = more
            .iter()
            .map(|m| key_ref(&m).map(KeyRef::to_owned))
            .collect::<PyResult<_>>()?;
        let mut g = self.lock(py)?;
        let mut out = std::mem::take(&mut g.scratch);
        out.clear();
        let mut r = g.dag.id(k).and_then(|id| g.dag.done(id, &mut out));
        for extra in &more {
            if r.is_err() {
                break;
            }
            r = g.dag.id(extra.as_ref()).and_then(|id| g.dag.done(id, &mut out));
        }
        let result = match r {
            Ok(()) => keys_list(py, &g.dag, &out),
            Err(e) => Err(to_py(py, e)),
        };
        g.scratch = out;
        result
    }

    /// running -> done for every task in ``keys`` (a list or integer array);
    /// all or none. Returns the tasks that became ready.
    fn done_many<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let keys = key_batch(keys, "keys")?;
        let out = self
            .detached(py, |g| -> Res<Vec<u32>> {
                let ids = g.dag.ids(&keys)?;
                let mut out = Vec::new();
                g.dag.done_many(&ids, &mut out)?;
                Ok(out)
            })?
            .map_err(|e| to_py(py, e))?;
        let g = self.lock(py)?;
        keys_list(py, &g.dag, &out)
    }

    /// ready | running -> failed. ``policy="block"`` leaves descendants
    /// pending until a retry succeeds; ``"skip"`` marks them skipped.
    #[pyo3(signature = (key, policy = "block"))]
    fn fail(&self, py: Python<'_>, key: &Bound<'_, PyAny>, policy: &str) -> PyResult<()> {
        let p = self::policy(policy)?;
        let k = key_ref(key)?;
        let mut g = self.lock(py)?;
        let id = id_of(py, &g.dag, k)?;
        g.dag.fail(id, p).map_err(|e| to_py(py, e))
    }

    /// failed | cancelled -> ready (or pending); tasks skipped because of it
    /// return to pending.
    fn retry(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = key_ref(key)?;
        let mut g = self.lock(py)?;
        let id = id_of(py, &g.dag, k)?;
        g.dag.retry(id).map_err(|e| to_py(py, e))
    }

    /// pending | ready | running -> cancelled; its pending descendants are skipped.
    fn cancel(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = key_ref(key)?;
        let mut g = self.lock(py)?;
        let id = id_of(py, &g.dag, k)?;
        g.dag.cancel(id).map_err(|e| to_py(py, e))
    }

    // ---- graphlib.TopologicalSorter ------------------------------------------

    /// Part of the ``graphlib`` protocol. Cycles are refused as edges arrive,
    /// so there is nothing left to check.
    fn prepare(&self) {}

    /// True while a task is ready or running.
    fn is_active(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.lock(py)?.dag.is_active())
    }

    /// ``is_active()``, so that ``while ts:`` works as with ``graphlib``.
    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        self.is_active(py)
    }

    /// Every ready task, marked running, as a tuple (``graphlib`` protocol).
    fn get_ready<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let mut g = self.lock(py)?;
        let mut out = std::mem::take(&mut g.scratch);
        out.clear();
        g.dag.take_ready(usize::MAX, &mut out);
        let t = PyTuple::new(py, out.iter().map(|&v| key_to_py(py, g.dag.key(v))));
        g.scratch = out;
        t
    }

    /// All tasks in a topological order; changes no state.
    fn static_order<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.topological_order(py)
    }

    // ---- queries -------------------------------------------------------------

    /// All tasks in a topological order.
    fn topological_order<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let g = self.lock(py)?;
        keys_list(py, &g.dag, g.dag.topological_order())
    }

    /// Every task that ``key`` depends on, directly or not.
    fn ancestors<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PySet>> {
        self.reach(py, key, true)
    }

    /// Every task that depends on ``key``, directly or not.
    fn descendants<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PySet>> {
        self.reach(py, key, false)
    }

    fn predecessors<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let k = key_ref(key)?;
        let g = self.lock(py)?;
        let id = id_of(py, &g.dag, k)?;
        keys_list(py, &g.dag, &g.dag.predecessors(id))
    }

    fn successors<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let k = key_ref(key)?;
        let g = self.lock(py)?;
        let id = id_of(py, &g.dag, k)?;
        keys_list(py, &g.dag, &g.dag.successors(id))
    }

    /// The path of greatest total task cost: ``(cost, [keys])``.
    fn critical_path<'py>(&self, py: Python<'py>) -> PyResult<(f64, Bound<'py, PyList>)> {
        let (total, path) = self.detached(py, |g| g.dag.critical_path())?;
        let g = self.lock(py)?;
        Ok((total, keys_list(py, &g.dag, &path)?))
    }

    /// A layered drawing: ``{"keys", "layer", "x", "edges", "crossings",
    /// "width"}``; ``layer[i]``, ``x[i]`` place ``keys[i]``; each edge is
    /// ``(src index, dst index, [(x, layer) bend points])``. Computed with
    /// the interpreter released (Sugiyama layering, barycentre sweeps).
    fn layout<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let l = self.detached(py, |g| g.dag.layout())?;
        let d = PyDict::new(py);
        d.set_item("keys", self.keys(py)?)?;
        d.set_item("layer", l.layer)?;
        d.set_item("x", l.x)?;
        d.set_item("edges", l.edges)?;
        d.set_item("crossings", l.crossings)?;
        d.set_item("width", l.width)?;
        Ok(d)
    }

    /// Every task key, in insertion order.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let g = self.lock(py)?;
        let ids: Vec<u32> = (0..g.dag.len() as u32).collect();
        keys_list(py, &g.dag, &ids)
    }

    /// Every edge as a ``(src, dst)`` tuple.
    fn edges<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let edges = self.detached(py, |g| g.dag.edges())?;
        let g = self.lock(py)?;
        PyList::new(
            py,
            edges
                .iter()
                .map(|&(s, d)| (key_to_py(py, g.dag.key(s)), key_to_py(py, g.dag.key(d)))),
        )
    }

    /// A new tracker with the tasks ``keys`` and the edges among them. States
    /// are kept; a pending task whose unfinished predecessors all lie outside
    /// becomes ready.
    fn subgraph(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<Self> {
        let keys = key_batch(keys, "keys")?;
        let (sub, kept) = self
            .detached(py, |g| -> Res<(DagTracker, Vec<u32>)> {
                let ids = g.dag.ids(&keys)?;
                Ok((g.dag.subgraph(&ids)?, ids))
            })?
            .map_err(|e| to_py(py, e))?;
        let g = self.lock(py)?;
        let mut objects = FxHashMap::default();
        for old in kept {
            if let (Some(o), Ok(new)) = (g.objects.get(&old), sub.id(g.dag.key(old))) {
                objects.entry(new).or_insert_with(|| o.clone_ref(py));
            }
        }
        Ok(Self::wrap(sub, objects))
    }

    // ---- serialisation -------------------------------------------------------

    /// A versioned, checksummed binary checkpoint. Payloads must be bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        // One hold of the lock, so no object payload can arrive between the check and the write.
        let bytes = self.detached(py, |g| match g.objects.keys().min() {
            Some(&id) => Err(id),
            None => Ok(g.dag.to_bytes()),
        })?;
        match bytes {
            Ok(bytes) => Ok(PyBytes::new(py, &bytes)),
            Err(id) => {
                let g = self.lock(py)?;
                let kind = match g.objects.get(&id) {
                    Some(obj) => obj.bind(py).get_type().name()?.to_string(),
                    None => "object".to_string(),
                };
                Err(checkpoint_error(
                    py,
                    format!(
                        "task {} has a payload of type {kind}; checkpoints hold bytes payloads only \
                         (encode it first, e.g. with msgpack)",
                        g.dag.key(id)
                    ),
                ))
            }
        }
    }

    /// Writes the checkpoint to ``path`` atomically (temporary file, fsync,
    /// rename, fsync of the folder): a crash leaves the old file or the new.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let bytes = self.to_bytes(py)?;
        let raw = bytes.as_bytes();
        py.detach(|| pit_dag::write_atomic(&path, raw))
            .map_err(|e| to_py(py, e))
    }

    /// Reads a checkpoint written by ``save``; ``CheckpointError`` names the
    /// file and what is wrong with it (truncated, corrupt, another version).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        py.detach(|| DagTracker::load(&path))
            .map(|dag| Self::wrap(dag, FxHashMap::default()))
            .map_err(|e| to_py(py, e))
    }

    /// Restores a tracker from ``to_bytes()``; raises ``CheckpointError`` on
    /// truncated, corrupt or incompatible data.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let r = if let Ok(b) = data.cast::<PyBytes>() {
            let raw = b.as_bytes();
            py.detach(|| DagTracker::from_bytes(raw))
        } else {
            let raw: Vec<u8> = pyo3::buffer::PyBuffer::<u8>::get(data)
                .and_then(|b| b.to_vec(py))
                .map_err(|_| {
                    checkpoint_error(
                        py,
                        format!(
                            "expected bytes, got {}",
                            data.get_type().name().map(|n| n.to_string()).unwrap_or_default()
                        ),
                    )
                })?;
            py.detach(|| DagTracker::from_bytes(&raw))
        };
        r.map(|dag| Self::wrap(dag, FxHashMap::default()))
            .map_err(|e| to_py(py, e))
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let ctor = py.get_type::<PyDagTracker>().getattr("from_bytes")?;
        Ok((ctor, (self.to_bytes(py)?,)))
    }

    /// ``{"nodes": [{"id", "key", "state", "cost"}], "edges": [[src_id, dst_id]]}``
    /// as a JSON string, for widgets.
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        self.detached(py, |g| g.dag.to_json())
    }

    /// A ``networkx.DiGraph`` with ``state``, ``cost`` and ``payload`` node attributes.
    fn to_networkx<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let nx = py.import("networkx")?;
        let graph = nx.getattr("DiGraph")?.call0()?;
        let edges = self.edges(py)?;
        let g = self.lock(py)?;
        let nodes = PyList::empty(py);
        for v in 0..g.dag.len() as u32 {
            let attrs = PyDict::new(py);
            attrs.set_item("state", g.dag.state(v).name())?;
            attrs.set_item("cost", g.dag.cost(v))?;
            let payload = match (g.objects.get(&v), g.dag.payload(v)) {
                (Some(o), _) => o.clone_ref(py).into_bound(py),
                (None, Some(b)) => PyBytes::new(py, b).into_any(),
                (None, None) => py.None().into_bound(py),
            };
            attrs.set_item("payload", payload)?;
            nodes.append((key_to_py(py, g.dag.key(v)), attrs))?;
        }
        drop(g);
        graph.call_method1("add_nodes_from", (nodes,))?;
        graph.call_method1("add_edges_from", (edges,))?;
        Ok(graph)
    }
}

impl PyDagTracker {
    fn reach<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>, up: bool) -> PyResult<Bound<'py, PySet>> {
        let k = key_ref(key)?.to_owned();
        let ids = self
            .detached(py, |g| -> Res<Vec<u32>> {
                let id = g.dag.id(k.as_ref())?;
                Ok(if up { g.dag.ancestors(id) } else { g.dag.descendants(id) })
            })?
            .map_err(|e| to_py(py, e))?;
        let g = self.lock(py)?;
        PySet::new(py, keys_list(py, &g.dag, &ids)?.iter())
    }
}
