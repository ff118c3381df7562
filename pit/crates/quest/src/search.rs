//! A* over `(held, warm)`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use crate::{Problem, h_objective, h_objective_add};

/// A plan that wins, with its cost and the bonus of the extras held at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub calls: Vec<u32>,
    pub cost: f64,
    pub bonus: f64,
    pub held: u64,
}

/// A state: kinds held, functions warm.
type State = (u64, u64);

/// Per state reached: the best cost so far, the state before, the call made.
type Reached = FxHashMap<State, (f64, State, u32)>;

#[derive(PartialEq)]
struct Entry {
    f: f64,
    g: f64,
    tie: u64,
    state: State,
    finished: bool,
}

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on f, then FIFO.
        other.f.total_cmp(&self.f).then_with(|| other.tie.cmp(&self.tie))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The search stopped after reaching `max_states` states without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateLimit(pub usize);

/// The plan of least `cost − bonus` within the budget, or `None`.
pub fn solve(p: &Problem) -> Option<Solution> {
    solve_within(p, usize::MAX, Guide::Exact).unwrap_or(None)
}

/// What guides the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Guide {
    /// The admissible bound ([`h_objective`]): the optimum.
    Exact,
    /// The h_add bound ([`h_objective_add`]) weighted by the given factor:
    /// a good plan, not always the best, in far fewer states where a goal
    /// has many independent parts (h_max stays flat across them).
    Fast(f64),
}

/// [`solve`], giving up once `max_states` states are reached: a level whose
/// plans interleave many independent parts can take more than memory holds.
pub fn solve_within(p: &Problem, max_states: usize, guide: Guide) -> Result<Option<Solution>, StateLimit> {
    let max_bonus: f64 = p.extras.iter().map(|(_, r)| r).sum();
    let mut h_cache: FxHashMap<u64, f64> = FxHashMap::default();
    let mut h = |held: u64| {
        *h_cache.entry(held).or_insert_with(|| match guide {
            Guide::Exact => h_objective(p, held),
            Guide::Fast(weight) => weight * h_objective_add(p, held),
        })
    };
    // best g and the move that reached each state
    let mut best: Reached = FxHashMap::default();
    let start = (p.start, p.start_warm);
    best.insert(start, (0.0, start, u32::MAX));
    let mut heap = BinaryHeap::new();
    let mut tie = 0u64;
    heap.push(Entry {
        f: h(p.start),
        g: 0.0,
        tie,
        state: start,
        finished: false,
    });
    while let Some(Entry { g, state, finished, .. }) = heap.pop() {
        let (held, warm) = state;
        if finished {
            // A cheaper way to this state may have replaced its parents since.
            if g <= best.get(&state).map_or(f64::INFINITY, |b| b.0) {
                return Ok(Some(rebuild(p, &best, state, g)));
            }
            continue;
        }
        if g > best.get(&state).map_or(f64::INFINITY, |b| b.0) {
            continue;
        }
        if held & p.essential == p.essential {
            tie += 1;
            heap.push(Entry {
                f: g + max_bonus - p.bonus(held),
                g,
                tie,
                state,
                finished: true,
            });
            continue;
        }
        for f in 0..p.len() {
            if held & p.needs[f] != p.needs[f] {
                continue;
            }
            let next_held = (held & !p.consumes[f]) | p.produces[f];
            let bit = 1u64 << f;
            let next_warm = if p.warmup[f] > 0.0 { warm | bit } else { warm };
            let next = (next_held, next_warm);
            if next == state {
                continue;
            }
            let ng = g + p.cost[f] + if warm & bit != 0 { 0.0 } else { p.warmup[f] };
            if ng > p.budget + 1e-9 || ng >= best.get(&next).map_or(f64::INFINITY, |b| b.0) {
                continue;
            }
            best.insert(next, (ng, state, f as u32));
            if best.len() > max_states {
                return Err(StateLimit(max_states));
            }
            tie += 1;
            heap.push(Entry {
                f: ng + h(next_held),
                g: ng,
                tie,
                state: next,
                finished: false,
            });
        }
    }
    Ok(None)
}

fn rebuild(p: &Problem, best: &Reached, end: State, cost: f64) -> Solution {
    let mut calls = Vec::new();
    let mut at = end;
    while let Some(&(_, parent, f)) = best.get(&at) {
        if f == u32::MAX {
            break;
        }
        calls.push(f);
        at = parent;
    }
    calls.reverse();
    Solution {
        calls,
        cost,
        bonus: p.bonus(end.0),
        held: end.0,
    }
}
