//! Function Quest's planning core for Python: plain lists of bit masks in,
//! the plan out; the search runs detached from the interpreter.

use pit_quest::Problem;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

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
/// bonus, held)`` with calls as function indices, or ``None``.
#[pyfunction]
#[pyo3(signature = (needs, consumes, produces, cost, warmup, essential, extras, start, start_warm, budget))]
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
) -> PyResult<Option<Found>> {
    let p = problem(
        needs, consumes, produces, cost, warmup, essential, extras, start, start_warm, budget,
    )?;
    let s = py.detach(|| pit_quest::solve(&p));
    Ok(s.map(|s| (s.calls, s.cost, s.bonus, s.held)))
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
