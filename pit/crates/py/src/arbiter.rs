//! `Arbiter` and `ResourceLock` for Python: the selector, the admission
//! scheduler and the lock table behind one lock, on a wall or virtual clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The most choices one `choose_many` call returns (a 400 MB answer).
const MAX_BATCH: usize = 100_000_000;

use parking_lot::{Condvar, Mutex, MutexGuard};
use pit_arbiter::{
    ArbiterError, CandidateSpec, Conflict, Decision, LockId, LockTable, Mode, Outcome, Policy, Priority, Request,
    Scheduler, Selector,
};
use pit_pool::Clock;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use rustc_hash::FxHashMap;

use crate::errors::{arbiter_error, arbiter_to_py, lock_error, lock_timeout};
use crate::pool::deadline_in;

const SIGNAL_POLL: Duration = Duration::from_millis(100);

struct Inner {
    selector: Selector,
    scheduler: Scheduler,
    locks: LockTable,
    clock: Clock,
    /// Lock owners are names on the Python side, numbers in the table.
    owner_ids: FxHashMap<String, u64>,
    owner_names: Vec<String>,
    scratch: Vec<usize>,
}

impl Inner {
    fn owner(&mut self, name: &str) -> u64 {
        if let Some(&id) = self.owner_ids.get(name) {
            return id;
        }
        let id = self.owner_names.len() as u64;
        self.owner_names.push(name.to_owned());
        self.owner_ids.insert(name.to_owned(), id);
        id
    }

    fn candidate(&self, name: &str) -> Result<usize, ArbiterError> {
        self.selector
            .index(name)
            .ok_or_else(|| ArbiterError::UnknownCandidate(format!("'{name}'")))
    }
}

/// Chooses among alternatives, admits requests for shared resources by
/// priority and fair share, and grants shared/exclusive locks on named
/// resources. Deterministic for a given ``seed``.
#[pyclass(module = "symphony_lab.pit._pit", name = "Arbiter", subclass, frozen)]
pub struct PyArbiter {
    inner: Mutex<Inner>,
    cond: Condvar,
    is_virtual: bool,
    /// Locks dropped unreleased while the lock was busy, released later.
    orphans: Mutex<Vec<LockId>>,
    has_orphans: AtomicBool,
}

/// Locks on named resources, held until released; a context manager.
#[pyclass(module = "symphony_lab.pit._pit", name = "ResourceLock", frozen)]
pub struct PyResourceLock {
    arbiter: Py<PyArbiter>,
    id: LockId,
    owner: String,
    items: Vec<(String, Mode)>,
    released: AtomicBool,
}

fn bad(msg: String) -> PyErr {
    PyValueError::new_err(msg)
}

fn decision_tuple<'py>(py: Python<'py>, d: &Decision) -> PyResult<Bound<'py, PyTuple>> {
    (
        d.request,
        d.verdict.name(),
        d.rationale.as_str(),
        d.requester.as_str(),
        d.resource.as_str(),
        d.conflict.name(),
        d.amount,
        d.priority.name(),
        d.waited,
    )
        .into_pyobject(py)
}

fn decisions<'py>(py: Python<'py>, ds: &[Decision]) -> PyResult<Vec<Bound<'py, PyTuple>>> {
    ds.iter().map(|d| decision_tuple(py, d)).collect()
}

impl PyArbiter {
    /// Runs `f` under the lock and maps its error once the lock is dropped:
    /// no Python object is made while it is held (see pool.rs for why).
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut Inner) -> Result<R, ArbiterError>) -> PyResult<R> {
        let r = {
            let mut g = self.lock(py);
            self.drain(&mut g);
            f(&mut g)
        };
        map(py, r)
    }

    /// Releases locks whose objects were dropped while the lock was busy.
    /// Plain Rust, so detached waiters call it too.
    fn drain(&self, g: &mut Inner) {
        if !self.has_orphans.swap(false, Ordering::AcqRel) {
            return;
        }
        let orphans = std::mem::take(&mut *self.orphans.lock());
        let mut granted = false;
        for id in orphans {
            granted |= g.locks.release(id).is_ok_and(|waiters| !waiters.is_empty());
        }
        if granted {
            self.cond.notify_all();
        }
    }

    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, Inner> {
        match self.inner.try_lock() {
            Some(g) => g,
            None => py.detach(|| self.inner.lock()),
        }
    }
}

fn map<T>(py: Python<'_>, r: Result<T, ArbiterError>) -> PyResult<T> {
    r.map_err(|e| arbiter_to_py(py, e))
}

#[pymethods]
impl PyArbiter {
    #[new]
    #[pyo3(signature = (*, policy = "thompson", seed = 0, aging_interval = 30.0, clock = "wall", start = 0.0))]
    fn new(py: Python<'_>, policy: &str, seed: u64, aging_interval: f64, clock: &str, start: f64) -> PyResult<Self> {
        let policy: Policy = map(py, policy.parse())?;
        let scheduler = map(py, Scheduler::new(aging_interval))?;
        let clock = match clock {
            "wall" => Clock::wall(),
            "virtual" if start.is_finite() => Clock::virtual_at(start),
            "virtual" => return Err(bad(format!("start must be finite, got {start}"))),
            other => return Err(bad(format!("clock must be 'wall' or 'virtual', not '{other}'"))),
        };
        Ok(PyArbiter {
            is_virtual: clock.is_virtual(),
            inner: Mutex::new(Inner {
                selector: Selector::new(policy, seed),
                scheduler,
                locks: LockTable::new(),
                clock,
                owner_ids: FxHashMap::default(),
                owner_names: Vec::new(),
                scratch: Vec::new(),
            }),
            cond: Condvar::new(),
            orphans: Mutex::new(Vec::new()),
            has_orphans: AtomicBool::new(false),
        })
    }

    // ---- choosing among alternatives ----

    /// The choice policy: priority, round_robin, weighted_random,
    /// least_loaded, quality_first, ucb1 or thompson.
    #[getter]
    fn get_policy(&self, py: Python<'_>) -> &'static str {
        self.lock(py).selector.policy().name()
    }

    #[setter]
    fn set_policy(&self, py: Python<'_>, policy: &str) -> PyResult<()> {
        let p: Policy = map(py, policy.parse())?;
        self.lock(py).selector.set_policy(p);
        Ok(())
    }

    /// Adds an alternative; returns its index (the order of ``candidates``).
    #[pyo3(signature = (name, *, weight = 1.0, priority = 0, prior_quality = 1.0))]
    fn add_candidate(
        &self,
        py: Python<'_>,
        name: &str,
        weight: f64,
        priority: i32,
        prior_quality: f64,
    ) -> PyResult<usize> {
        let spec = CandidateSpec {
            weight,
            priority,
            prior_quality,
        };
        if name.is_empty() {
            return Err(bad("a candidate name must not be empty".into()));
        }
        self.with(py, |g| g.selector.add(name, spec))
    }

    /// Candidate names, by index.
    #[getter]
    fn candidates(&self, py: Python<'_>) -> Vec<String> {
        let g = self.lock(py);
        (0..g.selector.len())
            .map(|i| g.selector.name(i).unwrap_or_default().to_owned())
            .collect()
    }

    /// Chooses one candidate by the policy, among all or among ``among``.
    #[pyo3(signature = (among = None))]
    fn choose(&self, py: Python<'_>, among: Option<Vec<String>>) -> PyResult<String> {
        self.with(py, |g| {
            let idx = match among {
                None => g.selector.choose()?,
                Some(names) => {
                    let ids = names.iter().map(|n| g.candidate(n)).collect::<Result<Vec<_>, _>>()?;
                    g.selector.choose_among(&ids)?
                }
            };
            Ok(g.selector.name(idx).unwrap_or_default().to_owned())
        })
    }

    /// ``n`` choices with no outcomes recorded in between, as little-endian
    /// u32 candidate indices.
    fn _choose_many<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyBytes>> {
        if n > MAX_BATCH {
            return Err(bad(format!(
                "n must be at most {MAX_BATCH} per call, got {n}; ask in batches"
            )));
        }
        let bytes = py.detach(|| {
            let mut g = self.inner.lock();
            let mut out = std::mem::take(&mut g.scratch);
            out.clear();
            let r = g.selector.choose_many(n, &mut out);
            let bytes: Vec<u8> = out.iter().flat_map(|&i| (i as u32).to_le_bytes()).collect();
            g.scratch = out;
            r.map(|_| bytes)
        });
        Ok(PyBytes::new(py, &map(py, bytes)?))
    }

    /// Records what came of a choice: success, latency (s), cost, quality in [0, 1].
    #[pyo3(signature = (candidate, success, *, latency = 0.0, cost = 0.0, quality = 1.0))]
    fn record(
        &self,
        py: Python<'_>,
        candidate: &str,
        success: bool,
        latency: f64,
        cost: f64,
        quality: f64,
    ) -> PyResult<()> {
        let outcome = Outcome {
            success,
            latency,
            cost,
            quality,
        };
        self.with(py, |g| {
            let idx = g.candidate(candidate)?;
            g.selector.record(idx, outcome)
        })
    }

    /// Records many outcomes by candidate index, all or none.
    fn _record_many(
        &self,
        py: Python<'_>,
        index: Vec<usize>,
        success: Vec<bool>,
        latency: Vec<f64>,
        cost: Vec<f64>,
        quality: Vec<f64>,
    ) -> PyResult<()> {
        let n = index.len();
        if [success.len(), latency.len(), cost.len(), quality.len()]
            .iter()
            .any(|&m| m != n)
        {
            return Err(bad(format!(
                "record_many: candidates, success, latency, cost and quality must have one length, got {n}, {}, {}, {}, {}",
                success.len(),
                latency.len(),
                cost.len(),
                quality.len()
            )));
        }
        let outcomes: Vec<(usize, Outcome)> = (0..n)
            .map(|i| {
                (
                    index[i],
                    Outcome {
                        success: success[i],
                        latency: latency[i],
                        cost: cost[i],
                        quality: quality[i],
                    },
                )
            })
            .collect();
        self.with(py, |g| g.selector.record_many(&outcomes))
    }

    /// Running statistics of one candidate.
    fn candidate_stats<'py>(&self, py: Python<'py>, candidate: &str) -> PyResult<Bound<'py, PyDict>> {
        let (s, spec) = self.with(py, |g| {
            let idx = g.candidate(candidate)?;
            Ok((*g.selector.stats(idx), *g.selector.spec(idx)))
        })?;
        let d = PyDict::new(py);
        d.set_item("successes", s.successes)?;
        d.set_item("failures", s.failures)?;
        d.set_item("in_flight", s.in_flight)?;
        d.set_item("chosen", s.chosen)?;
        d.set_item("mean_latency", s.mean_latency)?;
        d.set_item("mean_cost", s.mean_cost)?;
        d.set_item("mean_quality", s.mean_quality)?;
        d.set_item("weight", spec.weight)?;
        d.set_item("priority", spec.priority)?;
        d.set_item("prior_quality", spec.prior_quality)?;
        Ok(d)
    }

    // ---- admission ----

    /// A resource requests compete for. ``conflict`` names the kind:
    /// model_contention, memory_pressure, cpu_saturation (capacity comes back
    /// on release) or cost_limit (a budget that is spent).
    #[pyo3(signature = (name, capacity, *, conflict = "model_contention"))]
    fn add_resource(&self, py: Python<'_>, name: &str, capacity: f64, conflict: &str) -> PyResult<()> {
        let c: Conflict = map(py, conflict.parse())?;
        self.with(py, |g| g.scheduler.add_resource(name, capacity, c).map(|_| ()))
    }

    /// A requester's share weight (default 1).
    fn set_weight(&self, py: Python<'_>, requester: &str, weight: f64) -> PyResult<()> {
        self.with(py, |g| g.scheduler.set_weight(requester, weight))
    }

    /// Capacity of ``resource`` not granted now.
    fn free(&self, py: Python<'_>, resource: &str) -> PyResult<f64> {
        self.with(py, |g| g.scheduler.free(resource))
    }

    fn _submit<'py>(
        &self,
        py: Python<'py>,
        requester: &str,
        resource: &str,
        amount: f64,
        priority: &str,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let priority: Priority = map(py, priority.parse())?;
        let req = Request {
            requester: requester.to_owned(),
            resource: resource.to_owned(),
            amount,
            priority,
        };
        let d = self.with(py, |g| {
            let now = g.clock.now();
            g.scheduler.submit(req, now)
        })?;
        decision_tuple(py, &d)
    }

    fn _release<'py>(&self, py: Python<'py>, request: u64) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let ds = self.with(py, |g| {
            let now = g.clock.now();
            g.scheduler.release(request, now)
        })?;
        decisions(py, &ds)
    }

    fn _cancel<'py>(&self, py: Python<'py>, request: u64) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let ds = self.with(py, |g| {
            let now = g.clock.now();
            g.scheduler.cancel(request, now)?;
            // The cancelled request may have held back the ones behind it.
            Ok(g.scheduler.tick(now))
        })?;
        decisions(py, &ds)
    }

    fn _tick<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let mut g = self.lock(py);
        let now = g.clock.now();
        let ds = g.scheduler.tick(now);
        drop(g);
        decisions(py, &ds)
    }

    /// Requests waiting for a grant.
    #[getter]
    fn waiting(&self, py: Python<'_>) -> usize {
        self.lock(py).scheduler.waiting()
    }

    fn _stats<'py>(&self, py: Python<'py>) -> PyResult<(Vec<Bound<'py, PyDict>>, f64)> {
        let s = self.lock(py).scheduler.stats();
        let mut rows = Vec::with_capacity(s.requesters.len());
        for r in &s.requesters {
            let d = PyDict::new(py);
            d.set_item("name", &r.name)?;
            d.set_item("weight", r.weight)?;
            d.set_item("submitted", r.submitted)?;
            d.set_item("granted", r.granted)?;
            d.set_item("denied", r.denied)?;
            d.set_item("deferred", r.deferred)?;
            d.set_item("cancelled", r.cancelled)?;
            d.set_item("served", r.served)?;
            d.set_item("total_wait", r.total_wait)?;
            d.set_item("max_wait", r.max_wait)?;
            rows.push(d);
        }
        Ok((rows, s.gini))
    }

    // ---- time ----

    #[getter]
    fn now(&self, py: Python<'_>) -> f64 {
        self.lock(py).clock.now()
    }

    #[getter]
    fn is_virtual(&self) -> bool {
        self.is_virtual
    }

    /// Moves a virtual clock to ``t``; waiting requests age accordingly.
    fn _advance_to<'py>(&self, py: Python<'py>, t: f64) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let ds = {
            let mut g = self.lock(py);
            g.clock.advance_to(t).map(|now| g.scheduler.tick(now))
        };
        let ds = ds.map_err(|e| arbiter_error(py, e.to_string()))?;
        decisions(py, &ds)
    }

    // ---- locks on named resources ----

    /// Locks every ``(resource, mode)`` pair at once (mode ``shared`` or
    /// ``exclusive``), waiting up to ``timeout`` seconds (``None``: no limit)
    /// behind earlier conflicting requests, then raises ``LockTimeout``.
    /// All-or-nothing, so two callers locking in opposite orders cannot deadlock.
    #[pyo3(signature = (items, *, owner = "", timeout = None))]
    fn _lock(
        slf: &Bound<'_, Self>,
        items: Vec<(String, String)>,
        owner: &str,
        timeout: Option<f64>,
    ) -> PyResult<PyResourceLock> {
        let py = slf.py();
        let this = slf.get();
        if let Some(t) = timeout.filter(|t| t.is_nan() || *t < 0.0) {
            return Err(bad(format!("timeout must be >= 0 or None, got {t}")));
        }
        let items = parse_items(py, items)?;
        let refs: Vec<(&str, Mode)> = items.iter().map(|(r, m)| (r.as_str(), *m)).collect();
        let (id, granted) = this.with(py, |g| {
            let owner_id = g.owner(owner);
            g.locks.request(owner_id, &refs)
        })?;
        let lock = PyResourceLock {
            arbiter: slf.clone().unbind(),
            id,
            owner: owner.to_owned(),
            items,
            released: AtomicBool::new(false),
        };
        if granted {
            return Ok(lock);
        }
        let deadline = timeout.and_then(deadline_in);
        loop {
            let done = py.detach(|| {
                let mut g = this.inner.lock();
                let wake = Instant::now() + SIGNAL_POLL;
                loop {
                    this.drain(&mut g);
                    if g.locks.is_granted(id) {
                        return Some(true);
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Some(false);
                    }
                    let until = deadline.map_or(wake, |d| d.min(wake));
                    if this.cond.wait_until(&mut g, until).timed_out() && Instant::now() >= wake {
                        return None;
                    }
                }
            });
            let interrupted = if done.is_none() { py.check_signals().err() } else { None };
            if done == Some(false) || interrupted.is_some() {
                let granted = {
                    let mut g = this.lock(py);
                    let granted = g.locks.is_granted(id) && interrupted.is_none();
                    if !granted {
                        let _ = g.locks.cancel(id).or_else(|_| g.locks.release(id));
                    }
                    granted
                };
                if granted {
                    return Ok(lock);
                }
                this.cond.notify_all();
                lock.released.store(true, Ordering::Release);
                return Err(interrupted.unwrap_or_else(|| {
                    lock_timeout(
                        py,
                        format!(
                            "could not lock {} for '{owner}' within {:.3} s",
                            describe_items(&lock.items),
                            timeout.unwrap_or(0.0)
                        ),
                    )
                }));
            }
            if done == Some(true) {
                return Ok(lock);
            }
        }
    }

    /// Locks the whole set only if it can be had now, else ``None``.
    #[pyo3(signature = (items, *, owner = ""))]
    fn _try_lock(slf: &Bound<'_, Self>, items: Vec<(String, String)>, owner: &str) -> PyResult<Option<PyResourceLock>> {
        let py = slf.py();
        let this = slf.get();
        let items = parse_items(py, items)?;
        let refs: Vec<(&str, Mode)> = items.iter().map(|(r, m)| (r.as_str(), *m)).collect();
        let (id, granted) = this.with(py, |g| {
            let owner_id = g.owner(owner);
            let (id, granted) = g.locks.request(owner_id, &refs)?;
            if !granted {
                let _ = g.locks.cancel(id);
            }
            Ok((id, granted))
        })?;
        if !granted {
            return Ok(None);
        }
        Ok(Some(PyResourceLock {
            arbiter: slf.clone().unbind(),
            id,
            owner: owner.to_owned(),
            items,
            released: AtomicBool::new(false),
        }))
    }

    /// Owners holding ``resource``: ``(shared owners, exclusive owner)``.
    fn holders(&self, py: Python<'_>, resource: &str) -> (Vec<String>, Option<String>) {
        let mut g = self.lock(py);
        self.drain(&mut g);
        let (shared, exclusive) = g.locks.holders(resource);
        let name = |id: u64| g.owner_names[id as usize].clone();
        (shared.into_iter().map(name).collect(), exclusive.map(name))
    }

    /// Lock requests waiting.
    #[getter]
    fn locks_waiting(&self, py: Python<'_>) -> usize {
        self.lock(py).locks.waiting()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let g = self.lock(py);
        format!(
            "Arbiter(policy={}, candidates={}, requests_waiting={}, locks_held={}, clock={})",
            g.selector.policy().name(),
            g.selector.len(),
            g.scheduler.waiting(),
            g.locks.granted(),
            if self.is_virtual { "virtual" } else { "wall" }
        )
    }
}

fn parse_items(py: Python<'_>, items: Vec<(String, String)>) -> PyResult<Vec<(String, Mode)>> {
    items
        .into_iter()
        .map(|(r, m)| map(py, m.parse::<Mode>()).map(|m| (r, m)))
        .collect()
}

fn describe_items(items: &[(String, Mode)]) -> String {
    items
        .iter()
        .map(|(r, m)| format!("'{r}' ({})", m.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PyResourceLock {
    fn release_inner(&self, py: Python<'_>) -> PyResult<()> {
        if self.released.swap(true, Ordering::AcqRel) {
            let msg = format!(
                "lock #{} on {} was already released",
                self.id.0,
                describe_items(&self.items)
            );
            return Err(lock_error(py, msg));
        }
        let arbiter = self.arbiter.get();
        let granted = arbiter.with(py, |g| g.locks.release(self.id))?;
        if !granted.is_empty() {
            arbiter.cond.notify_all();
        }
        Ok(())
    }
}

/// A lock dropped while held is released: at once if the arbiter's lock is
/// free, else by the next lock call (never waiting here, since the drop may
/// run under that lock on this thread).
impl Drop for PyResourceLock {
    fn drop(&mut self) {
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        let arbiter = self.arbiter.get();
        if let Some(mut g) = arbiter.inner.try_lock() {
            if g.locks.release(self.id).is_ok_and(|granted| !granted.is_empty()) {
                arbiter.cond.notify_all();
            }
            return;
        }
        arbiter.orphans.lock().push(self.id);
        arbiter.has_orphans.store(true, Ordering::Release);
        arbiter.cond.notify_all();
    }
}

#[pymethods]
impl PyResourceLock {
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.release_inner(py)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if !self.released.load(Ordering::Acquire) {
            self.release_inner(py)?;
        }
        Ok(false)
    }

    #[getter]
    fn id(&self) -> u64 {
        self.id.0
    }

    #[getter]
    fn owner(&self) -> &str {
        &self.owner
    }

    /// ``(resource, mode)`` pairs held.
    #[getter]
    fn items(&self) -> Vec<(String, &'static str)> {
        self.items.iter().map(|(r, m)| (r.clone(), m.name())).collect()
    }

    #[getter]
    fn held(&self) -> bool {
        !self.released.load(Ordering::Acquire)
    }

    fn __repr__(&self) -> String {
        format!(
            "ResourceLock(#{}, owner='{}', {}, {})",
            self.id.0,
            self.owner,
            describe_items(&self.items),
            if self.held() { "held" } else { "released" }
        )
    }
}
