//! `PoolManager` and `Lease` for Python. The core pool never blocks; waiting
//! happens here, detached from the interpreter, on one condition variable.
//!
//! Rule: nothing Python is created, called or released while the pool's
//! lock is held. Allocating a Python object can run the cyclic collector,
//! whose finalizers may call back into the pool (release a lease) on this
//! very thread; so the lock guards plain Rust data only, and every result,
//! exception, event and callback is made after it is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use pit_pool::{
    Clock, Event, Eviction, FunctionSpec, Grant, Health, InstanceState, Lease, Pool, PoolConfig, PoolError, Ticket,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use rustc_hash::FxHashMap;

use crate::errors::{lease_error, pool_to_py};

/// Longest stretch a waiting thread stays detached before it looks for
/// Ctrl-C; a release or tick wakes it sooner.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Enough for every name a program spells out; dynamically built names past
/// this are looked up by content each time.
const ADDRESS_CACHE: usize = 1024;

/// Instance slots are allocated at registration; past this a typo, not a plan.
const MAX_INSTANCES: i64 = 1_000_000;

pub(crate) struct Shared {
    pub(crate) pool: Pool,
    pub(crate) clock: Clock,
    /// Async acquires waiting on a ticket, woken when it leaves the queue.
    wakers: FxHashMap<u64, Py<PyAny>>,
    /// Function ids by the address of a name string seen before. The string
    /// is kept alive here, so its address cannot be reused by another one.
    by_address: FxHashMap<usize, (Py<PyString>, u32)>,
}

/// Keeps instances of functions (models, tools, extension processes) warm or
/// cold within a memory budget, on the wall clock or on a virtual one.
#[pyclass(module = "symphony_lab.pit._pit", name = "PoolManager", subclass, frozen)]
pub struct PyPool {
    inner: Mutex<Shared>,
    cond: Condvar,
    on_event: Option<Py<PyAny>>,
    pub(crate) is_virtual: bool,
    /// Leases dropped unreleased while the lock was busy, released later.
    orphans: Mutex<Vec<Lease>>,
    has_orphans: AtomicBool,
}

/// A held instance. Use it as a context manager, or call `release()`.
#[pyclass(module = "symphony_lab.pit._pit", name = "Lease", frozen, freelist = 64)]
pub struct PyLease {
    pool: Py<PyPool>,
    lease: Lease,
    grant: Grant,
    /// Written only under the pool's lock, so check-then-release is atomic.
    released: AtomicBool,
}

pub(crate) type Guard<'a> = MutexGuard<'a, Shared>;

fn bad(msg: String) -> PyErr {
    PyValueError::new_err(msg)
}

fn int_in(name: &str, v: Option<&Bound<'_, PyAny>>, default: u64, max: u64) -> PyResult<u64> {
    let Some(v) = v else { return Ok(default) };
    let n: i128 = v.extract().map_err(|_| {
        let ty = v.get_type().name().map(|s| s.to_string()).unwrap_or_default();
        bad(format!("{name} must be an int, not {ty}"))
    })?;
    u64::try_from(n)
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| bad(format!("{name} must be between 0 and {max}, got {n}")))
}

/// `now + secs` as an instant, or `None` (no deadline) when it does not fit.
pub(crate) fn deadline_in(secs: f64) -> Option<Instant> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .and_then(|d| Instant::now().checked_add(d))
}

/// A wait of `secs`, cut to one signal poll.
fn poll_wait(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs.max(0.0)).map_or(SIGNAL_POLL, |d| d.min(SIGNAL_POLL))
}

fn check_timeout(timeout: Option<f64>) -> PyResult<()> {
    match timeout {
        Some(t) if t.is_nan() || t < 0.0 => Err(bad(format!("timeout must be >= 0 or None, got {t}"))),
        _ => Ok(()),
    }
}

fn health_of(name: &str) -> PyResult<Health> {
    Health::ALL.into_iter().find(|h| h.name() == name).ok_or_else(|| {
        bad(format!(
            "unknown health '{name}'; expected one of: healthy, degraded, unhealthy, unknown"
        ))
    })
}

/// An event with its function's name, taken out from under the lock.
type RawEvent = (Event, String);

fn raw_events<'a>(pool: &Pool, events: impl Iterator<Item = &'a Event>) -> Vec<RawEvent> {
    events
        .map(|e| (*e, pool.function_name(e.function).to_owned()))
        .collect()
}

fn event_tuple<'py>(py: Python<'py>, (e, function): &RawEvent) -> PyResult<Bound<'py, PyTuple>> {
    (
        e.seq,
        e.time,
        function.as_str(),
        e.instance,
        e.from.name(),
        e.to.name(),
        e.reason.name(),
    )
        .into_pyobject(py)
}

/// What a call leaves to do once the lock is dropped.
#[derive(Default)]
struct After {
    wake: Vec<Py<PyAny>>,
    events: Vec<RawEvent>,
}

impl PyPool {
    /// The lock, never waited for while attached: a holder may be detached
    /// and need the interpreter to finish.
    #[inline]
    pub(crate) fn lock<'a>(&'a self, py: Python<'_>) -> Guard<'a> {
        match self.inner.try_lock() {
            Some(g) => g,
            None => py.detach(|| self.inner.lock()),
        }
    }

    /// The lock and `function`'s id. A name string seen before costs one
    /// pointer-keyed lookup; a new one is read outside the lock.
    #[inline]
    fn lookup<'a>(&'a self, py: Python<'_>, function: &Bound<'_, PyString>) -> PyResult<(Guard<'a>, u32)> {
        let address = function.as_ptr() as usize;
        let g = self.lock(py);
        if let Some((_, id)) = g.by_address.get(&address) {
            let id = *id;
            return Ok((g, id));
        }
        drop(g);
        let name = function.to_str()?;
        let mut g = self.lock(py);
        match g.pool.function(name) {
            Ok(id) => {
                if g.by_address.len() < ADDRESS_CACHE {
                    g.by_address.insert(address, (function.clone().unbind(), id));
                }
                Ok((g, id))
            }
            Err(e) => {
                drop(g);
                Err(pool_to_py(py, e))
            }
        }
    }

    /// `lookup` by a plain name, for the calls off the hot path.
    fn lookup_name<'a>(&'a self, py: Python<'_>, function: &str) -> PyResult<(Guard<'a>, u32)> {
        let g = self.lock(py);
        match g.pool.function(function) {
            Ok(id) => Ok((g, id)),
            Err(e) => {
                drop(g);
                Err(pool_to_py(py, e))
            }
        }
    }

    /// Under the lock, after a call that may have moved tickets or made
    /// events: releases orphaned leases, wakes waiting threads, and collects
    /// the async wakers and events to hand out once the lock is dropped.
    fn settle(&self, g: &mut Shared) -> After {
        self.drain_orphans(g);
        if g.pool.tickets() > 0 {
            self.cond.notify_all();
        }
        let mut after = After::default();
        if !g.wakers.is_empty() {
            let done: Vec<u64> = g
                .wakers
                .keys()
                .copied()
                .filter(|t| !matches!(g.pool.ticket(*t), Some(Ticket::Waiting)))
                .collect();
            after.wake = done.into_iter().filter_map(|t| g.wakers.remove(&t)).collect();
        }
        if g.pool.has_pending() {
            let pending = g.pool.take_pending();
            after.events = raw_events(&g.pool, pending.iter());
        }
        after
    }

    /// Calls wakers and the event callback. Their exceptions cannot undo
    /// what the pool already did, so they go to `sys.unraisablehook`.
    fn deliver(&self, py: Python<'_>, after: After) {
        for w in after.wake {
            if let Err(e) = w.call0(py) {
                e.write_unraisable(py, Some(w.bind(py)));
            }
        }
        if let Some(cb) = &self.on_event {
            for raw in &after.events {
                let r = event_tuple(py, raw).and_then(|t| cb.call1(py, (t,)));
                if let Err(e) = r {
                    e.write_unraisable(py, Some(cb.bind(py)));
                }
            }
        }
    }

    /// Releases leases that were dropped while the lock was busy. Plain Rust,
    /// so detached waiters call it too: they may be what an orphan frees.
    fn drain_orphans(&self, g: &mut Shared) -> bool {
        if !self.has_orphans.swap(false, Ordering::AcqRel) {
            return false;
        }
        let orphans = std::mem::take(&mut *self.orphans.lock());
        let now = g.clock.now();
        for lease in &orphans {
            let _ = g.pool.release(*lease, now);
        }
        !orphans.is_empty()
    }

    /// `settle`, drop the lock, `deliver`.
    pub(crate) fn finish(&self, py: Python<'_>, mut g: Guard<'_>) {
        let after = self.settle(&mut g);
        drop(g);
        self.deliver(py, after);
    }

    /// Whether a call must go through `finish` rather than just unlock.
    #[inline]
    pub(crate) fn quiet(&self, g: &Guard<'_>) -> bool {
        g.pool.tickets() == 0
            && g.wakers.is_empty()
            && !g.pool.has_pending()
            && !self.has_orphans.load(Ordering::Relaxed)
    }

    fn make_lease(slf: &Bound<'_, Self>, grant: Grant) -> PyLease {
        PyLease {
            pool: slf.clone().unbind(),
            lease: grant.lease,
            grant,
            released: AtomicBool::new(false),
        }
    }

    /// On the wall clock, waits out a warm-up the lease must sit through;
    /// a lease whose instance failed meanwhile is released and refused.
    fn wait_ready(&self, py: Python<'_>, lease: &PyLease) -> PyResult<()> {
        if !self.is_virtual {
            loop {
                let left = lease.grant.ready_at - self.lock(py).clock.now();
                if left <= 0.0 {
                    break;
                }
                py.detach(|| std::thread::sleep(poll_wait(left)));
                if let Err(e) = py.check_signals() {
                    let _ = lease.end(py, false);
                    return Err(e);
                }
            }
        }
        let mut g = self.lock(py);
        if !self.is_virtual {
            let now = g.clock.now();
            g.pool.tick(now);
        }
        let failed = g.pool.lease_state(lease.lease) == Ok(InstanceState::Failed);
        let name = g.pool.function_name(lease.grant.function).to_owned();
        self.finish(py, g);
        if failed {
            lease.end(py, false)?;
            let msg = format!("the instance of '{name}' failed while it warmed up");
            return Err(pool_to_py(py, PoolError::InstanceFailed(msg)));
        }
        Ok(())
    }

    /// Waits for a queued ticket; on the wall clock also runs the timers that
    /// fall due meanwhile (timeouts, cooldowns), since nobody else may.
    fn wait_ticket(&self, py: Python<'_>, t: u64) -> PyResult<Ticket> {
        loop {
            let outcome = py.detach(|| {
                let mut g = self.inner.lock();
                let wake = Instant::now() + SIGNAL_POLL;
                loop {
                    if self.drain_orphans(&mut g) {
                        self.cond.notify_all();
                    }
                    if !matches!(g.pool.ticket(t), Some(Ticket::Waiting)) {
                        return g.pool.take_ticket(t);
                    }
                    if Instant::now() >= wake {
                        return None;
                    }
                    match g.pool.next_deadline() {
                        Some(due) if !self.is_virtual => {
                            let now = g.clock.now();
                            if due <= now {
                                g.pool.tick(now);
                                self.cond.notify_all();
                                continue;
                            }
                            let at = Instant::now() + poll_wait(due - now);
                            self.cond.wait_until(&mut g, at.min(wake));
                        }
                        _ => {
                            self.cond.wait_until(&mut g, wake);
                        }
                    }
                }
            });
            if let Some(ticket) = outcome {
                // Events and wakers from the ticks run while detached.
                self.finish(py, self.lock(py));
                return Ok(ticket);
            }
            if let Err(e) = py.check_signals() {
                self.withdraw(py, t);
                return Err(e);
            }
        }
    }

    /// Withdraws a ticket; a grant that raced the withdrawal goes back.
    fn withdraw(&self, py: Python<'_>, t: u64) {
        let mut g = self.lock(py);
        let waker = g.wakers.remove(&t);
        let now = g.clock.now();
        if let Some(grant) = g.pool.cancel_ticket(t, now) {
            let _ = g.pool.release(grant.lease, now);
        }
        self.finish(py, g);
        drop(waker);
    }

    /// The lease of a finished ticket, or the error it ended in.
    fn ticket_result(slf: &Bound<'_, Self>, function: &str, ticket: Ticket) -> PyResult<Option<PyLease>> {
        let py = slf.py();
        match ticket {
            Ticket::Granted(grant) => Ok(Some(Self::make_lease(slf, grant))),
            Ticket::TimedOut { waited } => Err(pool_to_py(
                py,
                PoolError::Timeout {
                    function: function.to_owned(),
                    waited,
                },
            )),
            Ticket::Closed => Err(pool_to_py(py, PoolError::Closed)),
            Ticket::Waiting => Ok(None),
        }
    }

    /// Queues `f` until `timeout` and serves the queue once; `Err` if the
    /// pool refused (closed). The ticket may already be finished.
    fn enqueue(g: &mut Guard<'_>, f: u32, now: f64, timeout: Option<f64>) -> Result<u64, PoolError> {
        let deadline = now + timeout.unwrap_or(f64::INFINITY);
        let t = g.pool.enqueue(f, now, deadline)?;
        g.pool.serve(now);
        if deadline <= now {
            g.pool.tick(now);
        }
        Ok(t)
    }
}

#[pymethods]
impl PyPool {
    #[new]
    #[pyo3(signature = (*, memory_budget = None, eviction = "lru", clock = "wall", start = 0.0, rate_tau = 60.0,
        prewarm_horizon = 30.0, prewarm_threshold = 1.0, predictive = false, event_capacity = 10_000,
        on_event = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        memory_budget: Option<&Bound<'_, PyAny>>,
        eviction: &str,
        clock: &str,
        start: f64,
        rate_tau: f64,
        prewarm_horizon: f64,
        prewarm_threshold: f64,
        predictive: bool,
        event_capacity: usize,
        on_event: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let memory_budget = int_in("memory_budget", memory_budget, u64::MAX, u64::MAX)?;
        let eviction: Eviction = eviction.parse().map_err(|e: PoolError| bad(e.to_string()))?;
        let clock = match clock {
            "wall" => Clock::wall(),
            "virtual" if start.is_finite() => Clock::virtual_at(start),
            "virtual" => return Err(bad(format!("start must be finite, got {start}"))),
            other => return Err(bad(format!("clock must be 'wall' or 'virtual', not '{other}'"))),
        };
        let config = PoolConfig {
            memory_budget,
            eviction,
            event_capacity,
            rate_tau,
            prewarm_horizon,
            prewarm_threshold,
            predictive,
        };
        let mut pool = Pool::new(config).map_err(|e| bad(e.to_string()))?;
        if on_event.is_some() {
            pool.subscribe();
        }
        Ok(PyPool {
            is_virtual: clock.is_virtual(),
            inner: Mutex::new(Shared {
                pool,
                clock,
                wakers: FxHashMap::default(),
                by_address: FxHashMap::default(),
            }),
            cond: Condvar::new(),
            on_event,
            orphans: Mutex::new(Vec::new()),
            has_orphans: AtomicBool::new(false),
        })
    }

    /// Registers a function; its instances start cold. ``idle_timeout=None``
    /// keeps idle instances hot until evicted.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (name, *, max_instances = 1, warmup = 0.0, cooldown = 0.0, memory = None, idle_timeout = Some(300.0)))]
    fn register(
        &self,
        py: Python<'_>,
        name: &str,
        max_instances: i64,
        warmup: f64,
        cooldown: f64,
        memory: Option<&Bound<'_, PyAny>>,
        idle_timeout: Option<f64>,
    ) -> PyResult<()> {
        let memory = int_in("memory", memory, 0, u64::MAX)?;
        if !(1..=MAX_INSTANCES).contains(&max_instances) {
            return Err(bad(format!(
                "function '{name}': max_instances must be between 1 and {MAX_INSTANCES}, got {max_instances}"
            )));
        }
        let spec = FunctionSpec {
            max_instances: max_instances as u32,
            warmup,
            cooldown,
            memory,
            idle_timeout: idle_timeout.unwrap_or(f64::INFINITY),
        };
        let r = self.lock(py).pool.register(name, spec);
        r.map(|_| ()).map_err(|e| pool_to_py(py, e))
    }

    /// Leases an instance of ``function``: a hot idle one at once, else one
    /// warmed within the budget (evicting idle ones), else waits in line up to
    /// ``timeout`` seconds (``None``: no limit) and raises ``PoolTimeout``.
    /// The timeout bounds the wait in line; a granted instance's warm-up is
    /// then waited out on the wall clock (the instance is yours). On a virtual
    /// clock it returns at once, with ``lease.ready_at`` telling when the
    /// instance will be warm, and a wait in line lasts until another thread
    /// advances the clock or releases: a single-threaded simulator uses
    /// ``try_acquire`` or ``timeout=0``.
    #[pyo3(signature = (function, timeout = None))]
    fn acquire(slf: &Bound<'_, Self>, function: &Bound<'_, PyString>, timeout: Option<f64>) -> PyResult<PyLease> {
        let py = slf.py();
        let this = slf.get();
        check_timeout(timeout)?;
        let (mut g, f) = this.lookup(py, function)?;
        let now = g.clock.now_fast();
        let first = match g.pool.try_acquire(f, now) {
            Ok(first) => first,
            Err(e) => {
                drop(g);
                return Err(pool_to_py(py, e));
            }
        };
        let lease = match first {
            Some(grant) => {
                let hit = !grant.cold_start && grant.ready_at <= now;
                if hit && this.quiet(&g) {
                    drop(g);
                    return Ok(Self::make_lease(slf, grant));
                }
                this.finish(py, g);
                Self::make_lease(slf, grant)
            }
            None => {
                let now = g.clock.now();
                let t = Self::enqueue(&mut g, f, now, timeout);
                this.finish(py, g);
                let t = t.map_err(|e| pool_to_py(py, e))?;
                let ticket = this.wait_ticket(py, t)?;
                let name = function.to_str()?;
                Self::ticket_result(slf, name, ticket)?.expect("a finished ticket")
            }
        };
        this.wait_ready(py, &lease)?;
        Ok(lease)
    }

    /// Leases an instance only if one can be had without waiting in line;
    /// never blocks (a cold start returns at once, not yet ready).
    fn try_acquire(slf: &Bound<'_, Self>, function: &Bound<'_, PyString>) -> PyResult<Option<PyLease>> {
        let py = slf.py();
        let this = slf.get();
        let (mut g, f) = this.lookup(py, function)?;
        let now = g.clock.now();
        let grant = g.pool.try_acquire(f, now);
        this.finish(py, g);
        let grant = grant.map_err(|e| pool_to_py(py, e))?;
        Ok(grant.map(|grant| Self::make_lease(slf, grant)))
    }

    /// Queues an acquire for the asyncio variant: returns ``(lease, None)``
    /// when granted at once, else ``(None, ticket)``; ``waker()`` is called
    /// when the ticket leaves the queue.
    fn _enqueue(
        slf: &Bound<'_, Self>,
        function: &Bound<'_, PyString>,
        timeout: Option<f64>,
        waker: Py<PyAny>,
    ) -> PyResult<(Option<PyLease>, Option<u64>)> {
        enum Queued {
            Now(Grant),
            Finished(Ticket),
            Waiting(u64),
        }
        let py = slf.py();
        let this = slf.get();
        check_timeout(timeout)?;
        let (mut g, f) = this.lookup(py, function)?;
        let now = g.clock.now();
        let queued = match g.pool.try_acquire(f, now) {
            Err(e) => Err(e),
            Ok(Some(grant)) => Ok(Queued::Now(grant)),
            Ok(None) => Self::enqueue(&mut g, f, now, timeout).map(|t| match g.pool.take_ticket(t) {
                Some(ticket) => Queued::Finished(ticket),
                None => {
                    g.wakers.insert(t, waker);
                    Queued::Waiting(t)
                }
            }),
        };
        this.finish(py, g);
        match queued.map_err(|e| pool_to_py(py, e))? {
            Queued::Now(grant) => Ok((Some(Self::make_lease(slf, grant)), None)),
            Queued::Finished(ticket) => Ok((Self::ticket_result(slf, function.to_str()?, ticket)?, None)),
            Queued::Waiting(t) => Ok((None, Some(t))),
        }
    }

    /// The lease of a finished ticket, ``None`` while it waits; raises
    /// ``PoolTimeout`` or ``PoolClosed`` as the blocking ``acquire`` would.
    fn _take(slf: &Bound<'_, Self>, function: &str, ticket: u64) -> PyResult<Option<PyLease>> {
        let py = slf.py();
        let this = slf.get();
        let mut g = this.lock(py);
        let t = g.pool.take_ticket(ticket);
        let waker = if t.is_some() { g.wakers.remove(&ticket) } else { None };
        drop(g);
        drop(waker);
        match t {
            Some(t) => Self::ticket_result(slf, function, t),
            None => Ok(None),
        }
    }

    /// Withdraws a ticket; a grant that raced the cancel is released.
    fn _cancel(&self, py: Python<'_>, ticket: u64) {
        self.withdraw(py, ticket);
    }

    /// Seconds until the next timer falls due, ``None`` if none is set.
    fn _next_timer(&self, py: Python<'_>) -> Option<f64> {
        let mut g = self.lock(py);
        let now = g.clock.now();
        g.pool.next_deadline().map(|t| (t - now).max(0.0))
    }

    /// Returns a lease (``lease.release()`` does the same).
    fn release(slf: &Bound<'_, Self>, lease: &Bound<'_, PyLease>) -> PyResult<()> {
        let py = slf.py();
        let l = lease.get();
        if !l.pool.bind(py).is(slf) {
            let name = l.pool.get().lock(py).pool.function_name(l.grant.function).to_owned();
            return Err(lease_error(
                py,
                format!("{} was handed out by another PoolManager", l.describe(&name)),
            ));
        }
        l.end(py, false)
    }

    /// Runs the timers due now: finished warm-ups, idle timeouts, cooldowns
    /// and expired waits; then serves the queue.
    fn tick(&self, py: Python<'_>) {
        let mut g = self.lock(py);
        let now = g.clock.now();
        g.pool.tick(now);
        self.finish(py, g);
    }

    /// The clock's time in seconds.
    #[getter]
    fn now(&self, py: Python<'_>) -> f64 {
        self.lock(py).clock.now()
    }

    #[getter]
    fn is_virtual(&self) -> bool {
        self.is_virtual
    }

    /// Moves a virtual clock on by ``dt`` seconds and runs what fell due.
    fn advance(&self, py: Python<'_>, dt: f64) -> PyResult<f64> {
        if !dt.is_finite() || dt < 0.0 {
            return Err(bad(format!("dt must be finite and >= 0, got {dt}")));
        }
        let now = self.lock(py).clock.now();
        self.advance_to(py, now + dt)
    }

    /// Moves a virtual clock to ``t`` and runs what fell due, in time order.
    fn advance_to(&self, py: Python<'_>, t: f64) -> PyResult<f64> {
        let mut g = self.lock(py);
        let moved = g.clock.advance_to(t);
        if let Ok(now) = moved {
            g.pool.tick(now);
        }
        self.finish(py, g);
        moved.map_err(|e| pool_to_py(py, e))
    }

    /// Seconds from now until the next timer (warm-up end, idle timeout,
    /// cooldown end, wait deadline), ``None`` when nothing is pending; lets a
    /// simulator jump straight to the next thing that happens.
    fn next_event_in(&self, py: Python<'_>) -> Option<f64> {
        self._next_timer(py)
    }

    /// Lifecycle transitions with ``seq >= since`` still retained, as tuples
    /// ``(seq, time, function, instance, from, to, reason)``.
    #[pyo3(signature = (since = 0))]
    fn _events<'py>(&self, py: Python<'py>, since: u64) -> PyResult<Bound<'py, PyList>> {
        let raw = {
            let g = self.lock(py);
            raw_events(&g.pool, g.pool.events_since(since))
        };
        let tuples = raw.iter().map(|r| event_tuple(py, r)).collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, tuples)
    }

    fn _hot_instances(&self, py: Python<'_>) -> Vec<(u32, String)> {
        let g = self.lock(py);
        g.pool
            .hot_instances()
            .into_iter()
            .map(|(i, f)| (i, g.pool.function_name(f).to_owned()))
            .collect()
    }

    /// Records a health verdict (``healthy``, ``degraded``, ``unhealthy``,
    /// ``unknown``); an unhealthy instance fails and goes cold.
    fn set_health(&self, py: Python<'_>, instance: u32, health: &str) -> PyResult<()> {
        let h = health_of(health)?;
        let mut g = self.lock(py);
        let now = g.clock.now();
        let r = g.pool.set_health(instance, h, now);
        self.finish(py, g);
        r.map_err(|e| pool_to_py(py, e))
    }

    /// Cools an idle instance now; false if it was not idle.
    fn cool(&self, py: Python<'_>, instance: u32) -> PyResult<bool> {
        let mut g = self.lock(py);
        let now = g.clock.now();
        let r = g.pool.cool_instance(instance, now);
        self.finish(py, g);
        r.map_err(|e| pool_to_py(py, e))
    }

    /// ``(instance, state, health)`` for each instance slot of ``function``.
    fn instances(&self, py: Python<'_>, function: &str) -> PyResult<Vec<(u32, &'static str, &'static str)>> {
        let (g, f) = self.lookup_name(py, function)?;
        Ok(g.pool
            .instances(f)
            .into_iter()
            .map(|(i, s, h)| (i, s.name(), h.name()))
            .collect())
    }

    /// Hot instances (idle or busy) per function, in the order of ``functions``.
    fn hot_counts(&self, py: Python<'_>) -> Vec<u32> {
        self.lock(py).pool.hot_counts()
    }

    /// Names of the registered functions.
    #[getter]
    fn functions(&self, py: Python<'_>) -> Vec<String> {
        self.lock(py).pool.functions().map(str::to_owned).collect()
    }

    /// Counters over the pool's life: hits, misses, hit_rate, cold_starts,
    /// evictions, timeouts, prewarms, failures, transitions by reason and by
    /// ``"from->to"``, memory.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (s, busy, waiting) = {
            let g = self.lock(py);
            (g.pool.stats(), g.pool.busy(), g.pool.waiting())
        };
        let d = PyDict::new(py);
        for (k, v) in [
            ("acquires", s.acquires),
            ("releases", s.releases),
            ("hits", s.hits),
            ("misses", s.misses),
            ("cold_starts", s.cold_starts),
            ("evictions", s.evictions),
            ("timeouts", s.timeouts),
            ("prewarms", s.prewarms),
            ("failures", s.failures),
            ("events", s.events),
            ("memory_used", s.memory_used),
        ] {
            d.set_item(k, v)?;
        }
        d.set_item(
            "memory_budget",
            (s.memory_budget != u64::MAX).then_some(s.memory_budget),
        )?;
        d.set_item("hit_rate", s.hit_rate())?;
        d.set_item("leased", busy)?;
        d.set_item("waiting", waiting)?;
        let reasons = PyDict::new(py);
        for r in pit_pool::Reason::ALL {
            reasons.set_item(r.name(), s.reasons[r as usize])?;
        }
        d.set_item("reasons", reasons)?;
        let transitions = PyDict::new(py);
        for from in InstanceState::ALL {
            for to in InstanceState::ALL {
                let n = s.transitions[from as usize][to as usize];
                if n > 0 {
                    transitions.set_item(format!("{}->{}", from.name(), to.name()), n)?;
                }
            }
        }
        d.set_item("transitions", transitions)?;
        Ok(d)
    }

    /// One function's instances by state, queue, hits and demand estimate.
    fn function_stats<'py>(&self, py: Python<'py>, function: &str) -> PyResult<Bound<'py, PyDict>> {
        let (s, desired) = {
            let (mut g, f) = self.lookup_name(py, function)?;
            let now = g.clock.now();
            (g.pool.function_stats(f, now), g.pool.desired(f, now))
        };
        let d = PyDict::new(py);
        for st in InstanceState::ALL {
            d.set_item(st.name(), s.counts[st as usize])?;
        }
        d.set_item("waiting", s.waiting)?;
        d.set_item("hits", s.hits)?;
        d.set_item("misses", s.misses)?;
        d.set_item("cold_starts", s.cold_starts)?;
        d.set_item("rate", s.rate)?;
        d.set_item("peak", s.peak)?;
        d.set_item("mean_hold", s.mean_hold)?;
        d.set_item("desired", desired)?;
        Ok(d)
    }

    /// Functions whose recent demand (usage-rate EWMA and recent peak of
    /// concurrent leases) calls for more hot instances, with how many more.
    fn suggest_prewarm(&self, py: Python<'_>) -> FxHashMap<String, u32> {
        let mut g = self.lock(py);
        let now = g.clock.now();
        g.pool
            .suggest_prewarm(now)
            .into_iter()
            .map(|(f, n)| (g.pool.function_name(f).to_owned(), n))
            .collect()
    }

    /// Starts warming up to ``n`` instances of ``function`` with free memory
    /// (never evicting); returns how many started.
    #[pyo3(signature = (function, n = 1))]
    fn prewarm(&self, py: Python<'_>, function: &str, n: u32) -> PyResult<u32> {
        let (mut g, f) = self.lookup_name(py, function)?;
        let now = g.clock.now();
        let r = g.pool.prewarm(f, n, now);
        self.finish(py, g);
        r.map_err(|e| pool_to_py(py, e))
    }

    /// Follows every ``suggest_prewarm()`` suggestion; returns how many started.
    fn prewarm_suggested(&self, py: Python<'_>) -> u32 {
        let mut g = self.lock(py);
        let now = g.clock.now();
        let n = g.pool.prewarm_suggested(now);
        self.finish(py, g);
        n
    }

    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        self.lock(py).pool.is_closed()
    }

    /// Stops new acquires (queued ones raise ``PoolClosed``), cools idle
    /// instances, then waits up to ``timeout`` seconds for leases to come
    /// back, cooling each as it does; raises ``PoolTimeout`` naming how many
    /// are still out. On a virtual clock it waits for the leases only.
    #[pyo3(signature = (timeout = None))]
    fn shutdown(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        check_timeout(timeout)?;
        let mut g = self.lock(py);
        let now = g.clock.now();
        g.pool.begin_shutdown(now);
        self.finish(py, g);
        let deadline = timeout.and_then(deadline_in);
        loop {
            let left = py.detach(|| {
                let mut g = self.inner.lock();
                self.drain_orphans(&mut g);
                let now = g.clock.now();
                g.pool.tick(now);
                let drained = if self.is_virtual {
                    g.pool.busy() == 0
                } else {
                    g.pool.is_drained()
                };
                if drained {
                    return Some(0);
                }
                let wake = Instant::now() + SIGNAL_POLL;
                let wake = deadline.map_or(wake, |d| d.min(wake));
                self.cond.wait_until(&mut g, wake);
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Some(g.pool.busy().max(1));
                }
                None
            });
            // Events from the ticks above.
            self.finish(py, self.lock(py));
            match left {
                Some(0) => return Ok(()),
                Some(n) => {
                    return Err(pool_to_py(
                        py,
                        PoolError::ShutdownTimeout {
                            leased: n,
                            waited: timeout.unwrap_or(0.0),
                        },
                    ));
                }
                None => py.check_signals()?,
            }
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let g = self.lock(py);
        let s = g.pool.stats();
        let budget = if s.memory_budget == u64::MAX {
            "unlimited".to_owned()
        } else {
            s.memory_budget.to_string()
        };
        format!(
            "PoolManager(functions={}, leased={}, waiting={}, memory={}/{budget}, clock={})",
            g.pool.len_functions(),
            g.pool.busy(),
            g.pool.waiting(),
            s.memory_used,
            if self.is_virtual { "virtual" } else { "wall" },
        )
    }
}

impl PyLease {
    fn describe(&self, function: &str) -> String {
        format!(
            "lease #{} on '{function}' instance {}",
            self.lease.serial, self.lease.instance
        )
    }

    /// Ends the lease by `release` or `fail`; `released` is checked and set
    /// under the pool's lock, so two threads cannot both end it.
    fn end(&self, py: Python<'_>, fail: bool) -> PyResult<()> {
        let pool = self.pool.get();
        let mut g = pool.lock(py);
        if self.released.load(Ordering::Relaxed) {
            let name = g.pool.function_name(self.grant.function).to_owned();
            drop(g);
            return Err(lease_error(
                py,
                format!("{} was already released", self.describe(&name)),
            ));
        }
        let r = if fail {
            let now = g.clock.now();
            g.pool.fail(self.lease, now)
        } else {
            let now = g.clock.now_fast();
            g.pool.release(self.lease, now)
        };
        self.released.store(true, Ordering::Relaxed);
        if r.is_ok() && pool.quiet(&g) {
            return Ok(());
        }
        pool.finish(py, g);
        r.map_err(|e| pool_to_py(py, e))
    }
}

/// A lease dropped while held goes back to the pool: at once if the lock is
/// free, else by the next call that settles (never waiting here, since the
/// drop may run under the lock on this thread).
impl Drop for PyLease {
    fn drop(&mut self) {
        if self.released.load(Ordering::Relaxed) {
            return;
        }
        let pool = self.pool.get();
        if let Some(mut g) = pool.inner.try_lock() {
            let now = g.clock.now();
            let _ = g.pool.release(self.lease, now);
            let after = pool.settle(&mut g);
            drop(g);
            if !after.wake.is_empty() || !after.events.is_empty() {
                // A destructor runs attached; wakers and callbacks may run here.
                Python::attach(|py| pool.deliver(py, after));
            }
            return;
        }
        pool.orphans.lock().push(self.lease);
        pool.has_orphans.store(true, Ordering::Release);
        // A waiter wakes, drains the orphan and may take its instance.
        pool.cond.notify_all();
    }
}

#[pymethods]
impl PyLease {
    /// Hands the instance back; a second call raises ``LeaseError``.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.end(py, false)
    }

    /// Reports that the instance broke while held: it fails, goes cold, and
    /// the lease ends.
    fn fail(&self, py: Python<'_>) -> PyResult<()> {
        self.end(py, true)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Releases unless already released inside the block.
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if !self.released.load(Ordering::Relaxed) {
            self.end(py, false)?;
        }
        Ok(false)
    }

    #[getter]
    fn function(&self, py: Python<'_>) -> String {
        self.pool
            .get()
            .lock(py)
            .pool
            .function_name(self.grant.function)
            .to_owned()
    }

    #[getter]
    fn instance(&self) -> u32 {
        self.lease.instance
    }

    /// Unique over the pool's life.
    #[getter]
    fn serial(&self) -> u64 {
        self.lease.serial
    }

    /// This acquire started a cold instance.
    #[getter]
    fn cold_start(&self) -> bool {
        self.grant.cold_start
    }

    /// Clock time at which the instance is (or was) warm.
    #[getter]
    fn ready_at(&self) -> f64 {
        self.grant.ready_at
    }

    /// Seconds the acquire spent queued.
    #[getter]
    fn waited(&self) -> f64 {
        self.grant.waited
    }

    #[getter]
    fn pool(&self, py: Python<'_>) -> Py<PyPool> {
        self.pool.clone_ref(py)
    }

    /// Not yet released.
    #[getter]
    fn held(&self, py: Python<'_>) -> bool {
        !self.released.load(Ordering::Relaxed) && self.pool.get().lock(py).pool.is_held(self.lease)
    }

    /// ``warming``, ``busy``, ``failed`` while held; ``released`` after.
    #[getter]
    fn state(&self, py: Python<'_>) -> &'static str {
        if self.released.load(Ordering::Relaxed) {
            return "released";
        }
        match self.pool.get().lock(py).pool.lease_state(self.lease) {
            Ok(s) => s.name(),
            Err(_) => "released",
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = self.state(py);
        format!("Lease({}, state={state})", self.describe(&self.function(py)))
    }
}
