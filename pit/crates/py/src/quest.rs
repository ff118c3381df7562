//! Function Quest's core for Python: plain lists of bit masks in, the plan
//! out (the search runs detached from the interpreter); and the episode,
//! stepped in one call.

use pit_dag::{FailPolicy, KeyRef};
use pit_pool::FunctionSpec;
use pit_quest::{Call, Episode, ExpectedError, Problem};
use pyo3::exceptions::{PyOverflowError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::dag::PyDagTracker;
use crate::errors::{pool_to_py, to_py};
use crate::pool::{Guard, PyPool};

/// A plan as Python gets it: (calls, cost, bonus, kinds held at the end).
type Found = (Vec<u32>, f64, f64, u64);

#[allow(clippy::too_many_arguments)]
fn problem(
    needs: Vec<u64>,
    consumes: Vec<u64>,
    produces: Vec<u64>,
    cost: Vec<f64>,
    warmup: Vec<f64>,
    essential: u64,
    extras: Vec<(u64, f64)>,
    start: u64,
    start_warm: u64,
    budget: f64,
) -> PyResult<Problem> {
    let p = Problem {
        needs,
        consumes,
        produces,
        cost,
        warmup,
        essential,
        extras,
        start,
        start_warm,
        budget,
    };
    p.check().map_err(PyValueError::new_err)?;
    Ok(p)
}

/// The plan of least ``cost - bonus`` within ``budget``: ``(calls, cost,
/// bonus, held)`` with calls as function indices, ``None``, or a message when
/// the search reached ``max_states`` states first. ``fast`` (a weight >= 1)
/// follows the h_add bound times that weight instead of the admissible one:
/// a good plan, not always the best, in far fewer states.
#[pyfunction]
#[pyo3(signature = (needs, consumes, produces, cost, warmup, essential, extras, start, start_warm, budget, max_states=None, fast=None))]
#[allow(clippy::too_many_arguments)]
pub fn quest_solve(
    py: Python<'_>,
    needs: Vec<u64>,
    consumes: Vec<u64>,
    produces: Vec<u64>,
    cost: Vec<f64>,
    warmup: Vec<f64>,
    essential: u64,
    extras: Vec<(u64, f64)>,
    start: u64,
    start_warm: u64,
    budget: f64,
    max_states: Option<usize>,
    fast: Option<f64>,
) -> PyResult<Option<SolveFound>> {
    let guide = match fast {
        None => pit_quest::Guide::Exact,
        Some(w) if w.is_finite() && w >= 1.0 => pit_quest::Guide::Fast(w),
        Some(w) => {
            return Err(PyValueError::new_err(format!(
                "fast must be a finite weight >= 1, got {w}"
            )));
        }
    };
    let p = problem(
        needs, consumes, produces, cost, warmup, essential, extras, start, start_warm, budget,
    )?;
    let found = py.detach(|| pit_quest::solve_within(&p, max_states.unwrap_or(usize::MAX), guide));
    Ok(match found {
        Ok(s) => s.map(|s| SolveFound::Found((s.calls, s.cost, s.bonus, s.held))),
        Err(limit) => Some(SolveFound::Reason(format!(
            "the search reached {} states without finishing",
            limit.0
        ))),
    })
}

/// What ``quest_solve`` found: a plan, or why it stopped (a message).
#[derive(IntoPyObject)]
pub enum SolveFound {
    Found(Found),
    Reason(String),
}

/// What ``quest_expected`` found: the plan and its expectation, no policy
/// that wins surely (``None``), or why it could not run (a message).
#[derive(IntoPyObject)]
pub enum ExpectedFound {
    Found((Vec<u32>, f64, f64, usize)),
    Reason(String),
}

/// The best policy's expected ``(calls, cost, bonus, states)`` when calls fail
/// with ``failure``, by value iteration over at most ``max_states`` states;
/// ``calls`` is its path when every call succeeds.
#[pyfunction]
#[pyo3(signature = (needs, consumes, produces, cost, warmup, failure, essential, extras, start, start_warm, max_states))]
#[allow(clippy::too_many_arguments)]
pub fn quest_expected(
    py: Python<'_>,
    needs: Vec<u64>,
    consumes: Vec<u64>,
    produces: Vec<u64>,
    cost: Vec<f64>,
    warmup: Vec<f64>,
    failure: Vec<f64>,
    essential: u64,
    extras: Vec<(u64, f64)>,
    start: u64,
    start_warm: u64,
    max_states: usize,
) -> PyResult<Option<ExpectedFound>> {
    let p = problem(
        needs,
        consumes,
        produces,
        cost,
        warmup,
        essential,
        extras,
        start,
        start_warm,
        f64::INFINITY,
    )?;
    Ok(match py.detach(|| pit_quest::expected(&p, &failure, max_states)) {
        Ok(Some(e)) => Some(ExpectedFound::Found((e.calls, e.cost, e.bonus, e.states))),
        Ok(None) => None,
        Err(ExpectedError::Invalid(why)) => return Err(PyValueError::new_err(why)),
        Err(e) => Some(ExpectedFound::Reason(e.to_string())),
    })
}

/// The h_add relaxed cost-to-goal from each of ``helds``.
#[pyfunction]
pub fn quest_h_add(
    needs: Vec<u64>,
    produces: Vec<u64>,
    cost: Vec<f64>,
    essential: u64,
    helds: Vec<u64>,
) -> PyResult<Vec<f64>> {
    let n = needs.len();
    let p = problem(
        needs,
        vec![0; n],
        produces,
        cost,
        vec![0.0; n],
        essential,
        vec![],
        0,
        0,
        f64::INFINITY,
    )?;
    Ok(helds.iter().map(|&h| pit_quest::h_add(&p, h)).collect())
}

/// One call's outcome as Python gets it: (cost, illegal, failed, won, stuck),
/// where stuck means no call is legal any more.
type Stepped = (f64, bool, bool, bool, bool);

/// One Function Quest episode: the rules in Rust (`pit_quest::Episode`), the
/// warm instances in a `PoolManager` on a virtual clock, the calls made in a
/// `DagTracker`; `step` does all three in one call.
#[pyclass(module = "symphony_lab.pit._pit", name = "QuestEpisode")]
pub struct PyQuestEpisode {
    episode: Episode,
    names: Vec<String>,
    latency: Vec<f64>,
    pool: Option<Py<PyPool>>,
    dag: Option<Py<PyDagTracker>>,
    /// Pool function ids by function index.
    ids: Vec<u32>,
    warm: u64,
    legal: u64,
}

impl PyQuestEpisode {
    fn outcome(&self, call: Call) -> Stepped {
        let failed = matches!(call, Call::Failed { .. });
        let illegal = call == Call::Illegal;
        (call.cost(), illegal, failed, self.episode.won(), self.legal == 0)
    }

    fn parts(&self) -> PyResult<(&Py<PyPool>, &Py<PyDagTracker>)> {
        match (&self.pool, &self.dag) {
            (Some(p), Some(d)) => Ok((p, d)),
            _ => Err(PyRuntimeError::new_err(
                "QuestEpisode: call reset(pool, dag, seed) first",
            )),
        }
    }

    /// Functions with a hot instance, as bits, read from the pool.
    fn warm_bits(&self, g: &Guard<'_>) -> u64 {
        let hot = g.pool.hot_counts();
        self.ids
            .iter()
            .enumerate()
            .filter(|&(_, &id)| hot.get(id as usize).is_some_and(|&n| n > 0))
            .fold(0, |m, (f, _)| m | 1 << f)
    }

    /// Runs a legal call through the pool: leases the function's instance,
    /// lets the clock pass its warm-up and latency, and ends the lease.
    fn call_in_pool(&mut self, py: Python<'_>, f: usize) -> PyResult<Call> {
        let pool = self.pool.as_ref().expect("checked by parts").get();
        let mut g = pool.lock(py);
        let now = g.clock.now();
        let grant = match g.pool.try_acquire(self.ids[f], now) {
            Ok(Some(grant)) => grant,
            Ok(None) => {
                drop(g);
                return Err(PyRuntimeError::new_err(format!(
                    "function '{}' has no instance free in this episode's pool",
                    self.names[f]
                )));
            }
            Err(e) => {
                drop(g);
                return Err(pool_to_py(py, e));
            }
        };
        // The pool is the truth on warmth (someone may have cooled an
        // instance through `env.pool`): the price includes the warm-up
        // exactly when the pool starts an instance.
        let bit = 1u64 << f;
        let warm_now = if grant.cold_start {
            self.warm & !bit
        } else {
            self.warm | bit
        };
        let call = self.episode.call(f, warm_now);
        let ended = if call == Call::Illegal {
            // A cold start the budget left cannot pay for: nothing happened.
            g.pool.release(grant.lease, now)
        } else {
            let end = grant.ready_at.max(now) + self.latency[f];
            g.clock.advance_to(end).and_then(|t| {
                g.pool.tick(t);
                match call {
                    Call::Failed { .. } => g.pool.fail(grant.lease, t),
                    _ => g.pool.release(grant.lease, t),
                }
            })
        };
        self.warm = self.warm_bits(&g);
        if !pool.quiet(&g) {
            pool.finish(py, g);
        } else {
            drop(g);
        }
        ended.map_err(|e| pool_to_py(py, e))?;
        Ok(call)
    }

    /// Records call number `number` of function `f`, with edges from the
    /// calls that made its inputs.
    fn record(&self, py: Python<'_>, number: usize, f: usize, deps: &[u32], call: Call) -> PyResult<()> {
        let dag = self.dag.as_ref().expect("checked by parts").get();
        let mut held = dag.lock(py)?;
        let inner = &mut *held;
        let d = &mut inner.dag;
        let r = (|| {
            let id = d.add_task(
                KeyRef::Int(number as i64),
                call.cost(),
                Some(self.names[f].as_bytes().into()),
            )?;
            for &dep in deps {
                let from = d.id(KeyRef::Int(dep as i64))?;
                d.add_edge(from, id)?;
            }
            // Its inputs' makers all succeeded, so it is ready.
            d.start(id)?;
            match call {
                Call::Failed { .. } => d.fail(id, FailPolicy::Block),
                _ => d.done(id, &mut inner.scratch),
            }
        })();
        inner.scratch.clear();
        drop(held);
        r.map_err(|e| to_py(py, e))
    }
}

#[pymethods]
impl PyQuestEpisode {
    /// A level in bit masks (kinds and functions each at most 64), with each
    /// function's ``latency`` (virtual seconds) and ``failure`` probability,
    /// and its ``names`` for the pool and the DAG. ``allow_idle=False``
    /// refuses (and never offers) a call that would change nothing.
    #[new]
    #[pyo3(signature = (*, needs, consumes, produces, cost, warmup, latency, failure, essential, start, budget, names, allow_idle=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        needs: Vec<u64>,
        consumes: Vec<u64>,
        produces: Vec<u64>,
        cost: Vec<f64>,
        warmup: Vec<f64>,
        latency: Vec<f64>,
        failure: Vec<f64>,
        essential: u64,
        start: u64,
        budget: f64,
        names: Vec<String>,
        allow_idle: bool,
    ) -> PyResult<Self> {
        let n = needs.len();
        if latency.len() != n || names.len() != n {
            return Err(PyValueError::new_err(format!(
                "latency and names need one entry per function ({n})"
            )));
        }
        if let Some(i) = latency.iter().position(|l| !(l.is_finite() && *l >= 0.0)) {
            return Err(PyValueError::new_err(format!(
                "function '{}': latency must be finite and >= 0",
                names[i]
            )));
        }
        let p = problem(
            needs,
            consumes,
            produces,
            cost,
            warmup,
            essential,
            vec![],
            start,
            0,
            budget,
        )?;
        let mut episode = Episode::new(p, failure).map_err(PyValueError::new_err)?;
        episode.set_allow_idle(allow_idle);
        Ok(PyQuestEpisode {
            episode,
            names,
            latency,
            pool: None,
            dag: None,
            ids: Vec::new(),
            warm: 0,
            legal: 0,
        })
    }

    /// Starts an episode on a fresh ``pool`` (its functions are registered
    /// here, one instance each, never idling out) and a fresh ``dag``;
    /// ``seed`` draws the failures.
    fn reset(&mut self, py: Python<'_>, pool: Py<PyPool>, dag: Py<PyDagTracker>, seed: u64) -> PyResult<()> {
        // Checked before anything changes, so that no step can fail halfway
        // on a pool or DAG it does not own.
        if !dag.get().lock(py)?.dag.is_empty() {
            return Err(PyValueError::new_err(
                "QuestEpisode.reset needs an empty DagTracker: the episode records every call in it",
            ));
        }
        let p = pool.get();
        if !p.is_virtual {
            return Err(PyValueError::new_err(
                "QuestEpisode.reset needs a PoolManager on a virtual clock (clock='virtual')",
            ));
        }
        let mut g = p.lock(py);
        if let Some(name) = self.names.iter().find(|n| g.pool.function(n).is_ok()) {
            let name = name.clone();
            drop(g);
            return Err(PyValueError::new_err(format!(
                "QuestEpisode.reset needs a fresh PoolManager: it already has function '{name}'"
            )));
        }
        let mut ids = Vec::with_capacity(self.names.len());
        for (f, name) in self.names.iter().enumerate() {
            let spec = FunctionSpec {
                warmup: self.episode.problem().warmup[f],
                idle_timeout: f64::INFINITY,
                ..FunctionSpec::default()
            };
            match g.pool.register(name, spec) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    drop(g);
                    return Err(pool_to_py(py, e));
                }
            }
        }
        drop(g);
        self.ids = ids;
        self.warm = 0; // every function was just registered, so cold
        self.episode.reset(seed);
        self.pool = Some(pool);
        self.dag = Some(dag);
        self.legal = self.episode.legal(self.warm);
        Ok(())
    }

    /// Calls function ``action``: ``(cost, illegal, failed, won, stuck)``.
    /// An illegal call (needs not held, price over the budget left, no such
    /// function) changes nothing; ``stuck`` means no call is legal now.
    fn step(&mut self, py: Python<'_>, action: &Bound<'_, PyAny>) -> PyResult<Stepped> {
        self.parts()?;
        let f = match action.extract::<i64>() {
            Ok(a) => usize::try_from(a).unwrap_or(usize::MAX),
            Err(e) if e.is_instance_of::<PyOverflowError>(py) => usize::MAX,
            Err(e) => return Err(e),
        };
        if f >= self.names.len() || self.legal >> f & 1 == 0 {
            return Ok(self.outcome(Call::Illegal));
        }
        let number = self.episode.calls().len();
        let dag = self.dag.as_ref().expect("checked by parts").get();
        if dag.lock(py)?.dag.id(KeyRef::Int(number as i64)).is_ok() {
            return Err(PyRuntimeError::new_err(format!(
                "the episode's DagTracker already has a task {number}: only the episode may add tasks to it"
            )));
        }
        let deps = self.episode.made_needs(f);
        let call = self.call_in_pool(py, f)?;
        self.legal = self.episode.legal(self.warm);
        if call != Call::Illegal {
            self.record(py, number, f, &deps, call)?;
        }
        Ok(self.outcome(call))
    }

    /// Kinds held, as bits by kind index.
    #[getter]
    fn held(&self) -> u64 {
        self.episode.held()
    }

    /// Functions with a hot instance in the pool, as bits by function index.
    #[getter]
    fn warm(&self) -> u64 {
        self.warm
    }

    /// Legal calls now, as bits by function index.
    #[getter]
    fn legal(&self) -> u64 {
        self.legal
    }

    #[getter]
    fn spent(&self) -> f64 {
        self.episode.spent()
    }

    #[getter]
    fn budget_left(&self) -> f64 {
        self.episode.budget_left()
    }

    #[getter]
    fn failures(&self) -> u32 {
        self.episode.failures()
    }

    #[getter]
    fn call_count(&self) -> usize {
        self.episode.calls().len()
    }

    /// Function indices in call order, failed calls included.
    #[getter]
    fn calls(&self) -> Vec<u32> {
        self.episode.calls().to_vec()
    }

    #[getter]
    fn won(&self) -> bool {
        self.episode.won()
    }

    /// Per function, its price now plus the h_add cost-to-goal after it;
    /// ``inf`` where it is not legal.
    fn cost_to_go(&self) -> Vec<f64> {
        self.episode.cost_to_go(self.warm)
    }
}
