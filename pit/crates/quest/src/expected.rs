//! The best policy's expected cost when calls can fail, by value iteration
//! over every state reachable from the start.
//!
//! A call of `f` from `(held, warm)` pays its price; it succeeds with
//! probability `1 − failure[f]`, moving to `((held − consumes) ∪ produces,
//! warm ∪ {f})`, and otherwise changes nothing but `f`'s warmth (the failed
//! instance goes cold). A state holding every essential kind ends the episode
//! and pays the reward of the extras not held (as [`crate::solve`] does). The
//! budget is set aside: the expectation is over runs that go on until they win.
//!
//! Value iteration runs from above on the lexicographic cost (objective, calls):
//! each call adds one to the second part, so a policy that never wins costs
//! infinitely much, the iteration has one fixed point, and the policy it picks
//! wins with probability 1 even where calls cost nothing.

use rustc_hash::FxHashMap;

use crate::Problem;

/// The best policy's expected `cost`, expected `bonus` of the extras held at
/// the end, and the calls it makes when every call succeeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub cost: f64,
    pub bonus: f64,
    pub calls: Vec<u32>,
    /// States the iteration ran over.
    pub states: usize,
}

/// Why no expectation came out.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedError {
    /// The problem or the failure list is malformed.
    Invalid(String),
    /// More than `max_states` states are reachable.
    TooManyStates(usize),
    /// The values still moved after the sweep limit.
    NoConvergence(usize),
}

impl std::fmt::Display for ExpectedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedError::Invalid(why) => f.write_str(why),
            ExpectedError::TooManyStates(n) => write!(f, "more than {n} states are reachable"),
            ExpectedError::NoConvergence(n) => write!(f, "values still moved after {n} sweeps"),
        }
    }
}

struct Move {
    f: u32,
    price: f64,
    failure: f64,
    success: u32,
    /// Where a failure leads; `None` when the call cannot fail.
    fail: Option<u32>,
}

/// Converged when no value moves by more than this, relative to its size.
const TOLERANCE: f64 = 1e-12;
const MAX_SWEEPS: usize = 200_000;
/// The values start here, above any real expectation, and come down.
const ABOVE: f64 = 1e15;

/// The best policy's expectation over the states reachable from the start;
/// `Ok(None)` when no policy wins with probability 1.
pub fn expected(p: &Problem, failure: &[f64], max_states: usize) -> Result<Option<Expected>, ExpectedError> {
    p.check().map_err(ExpectedError::Invalid)?;
    if failure.len() != p.len() {
        return Err(ExpectedError::Invalid(format!(
            "failure has {} entries for {} functions",
            failure.len(),
            p.len()
        )));
    }
    if let Some(i) = failure.iter().position(|x| !(0.0..=1.0).contains(x)) {
        return Err(ExpectedError::Invalid(format!(
            "function {i}: failure must be in [0, 1], got {}",
            failure[i]
        )));
    }
    let (states, moves, terminal) = explore(p, failure, max_states)?;
    let n = states.len();
    let alive = can_win(&moves, &terminal);
    if !alive[0] {
        return Ok(None);
    }
    let max_bonus: f64 = p.extras.iter().map(|(_, r)| r).sum();
    // Per state: objective (cost + forgone), calls, cost; and the move taken.
    let mut obj = vec![ABOVE; n];
    let mut calls = vec![ABOVE; n];
    let mut cost = vec![ABOVE; n];
    let mut pick = vec![u32::MAX; n];
    for s in 0..n {
        if terminal[s] {
            obj[s] = max_bonus - p.bonus(states[s].0);
            calls[s] = 0.0;
            cost[s] = 0.0;
        }
    }
    // States nearer the goal were found later; sweeping them first carries
    // the terminal values back faster.
    let order: Vec<usize> = (0..n).rev().filter(|&s| !terminal[s] && alive[s]).collect();
    let mut sweeps = 0;
    loop {
        sweeps += 1;
        let mut moved: f64 = 0.0;
        for &s in &order {
            let mut best: Option<(f64, f64, f64, u32)> = None;
            for (i, m) in moves[s].iter().enumerate() {
                let go = m.success as usize;
                if !alive[go] || m.fail.is_some_and(|t| !alive[t as usize]) {
                    continue;
                }
                let q = |v: &[f64], step: f64| match m.fail {
                    // A failure that leads back here (the function was cold,
                    // or warmth does not matter): retrying until success is
                    // solved in closed form rather than by iterating, which
                    // would shrink the error only by `failure` per sweep.
                    Some(t) if t as usize == s => (step + (1.0 - m.failure) * v[go]) / (1.0 - m.failure),
                    Some(t) => step + (1.0 - m.failure) * v[go] + m.failure * v[t as usize],
                    None => step + v[go],
                };
                let cand = (q(&obj, m.price), q(&calls, 1.0), q(&cost, m.price), i as u32);
                let better = match best {
                    None => true,
                    Some((o, c, ..)) => {
                        cand.0 < o - TOLERANCE * o.abs().max(1.0)
                            || (cand.0 <= o + TOLERANCE * o.abs().max(1.0) && cand.1 < c)
                    }
                };
                if better {
                    best = Some(cand);
                }
            }
            let (o, c, k, i) = best.expect("an alive state has a move to an alive state");
            let change = ((o - obj[s]).abs() / o.abs().max(1.0)).max((k - cost[s]).abs() / k.abs().max(1.0));
            moved = moved.max(change);
            (obj[s], calls[s], cost[s], pick[s]) = (o, c, k, i);
        }
        if moved <= TOLERANCE {
            break;
        }
        if sweeps == MAX_SWEEPS {
            return Err(ExpectedError::NoConvergence(MAX_SWEEPS));
        }
    }
    // The calls made when each succeeds, from the start to a terminal state.
    let mut path = Vec::new();
    let mut s = 0usize;
    while !terminal[s] {
        if path.len() == n {
            // The picks loop: the values have not settled into a policy.
            return Err(ExpectedError::NoConvergence(sweeps));
        }
        let m = &moves[s][pick[s] as usize];
        path.push(m.f);
        s = m.success as usize;
    }
    Ok(Some(Expected {
        cost: cost[0],
        bonus: max_bonus - (obj[0] - cost[0]),
        calls: path,
        states: n,
    }))
}

type Explored = (Vec<(u64, u64)>, Vec<Vec<Move>>, Vec<bool>);

/// Every state reachable from the start (the start first), the moves out of
/// each, and which states end the episode.
fn explore(p: &Problem, failure: &[f64], max_states: usize) -> Result<Explored, ExpectedError> {
    // Warmth matters only for functions with a warm-up.
    let warms: u64 = (0..p.len()).filter(|&f| p.warmup[f] > 0.0).fold(0, |m, f| m | 1 << f);
    let start = (p.start, p.start_warm & warms);
    let mut index: FxHashMap<(u64, u64), u32> = FxHashMap::default();
    let mut states = vec![start];
    index.insert(start, 0);
    let mut moves: Vec<Vec<Move>> = Vec::new();
    let mut terminal = Vec::new();
    let mut intern = |s: (u64, u64), states: &mut Vec<(u64, u64)>| -> Result<u32, ExpectedError> {
        if let Some(&i) = index.get(&s) {
            return Ok(i);
        }
        if states.len() >= max_states {
            return Err(ExpectedError::TooManyStates(max_states));
        }
        let i = states.len() as u32;
        index.insert(s, i);
        states.push(s);
        Ok(i)
    };
    let mut next = 0;
    while next < states.len() {
        let (held, warm) = states[next];
        next += 1;
        let done = p.essential & !held == 0;
        terminal.push(done);
        let mut out = Vec::new();
        if !done {
            for (f, &fails) in failure.iter().enumerate() {
                if p.needs[f] & !held != 0 || fails >= 1.0 {
                    continue; // cannot be called, or never succeeds
                }
                let bit = 1u64 << f;
                let won = ((held & !p.consumes[f]) | p.produces[f], warm | (bit & warms));
                if won == (held, warm) {
                    continue; // changes nothing, so never worth its price
                }
                let success = intern(won, &mut states)?;
                let fail = if fails > 0.0 {
                    Some(intern((held, warm & !bit), &mut states)?)
                } else {
                    None
                };
                let price = p.cost[f] + if warm & bit != 0 { 0.0 } else { p.warmup[f] };
                out.push(Move {
                    f: f as u32,
                    price,
                    failure: fails,
                    success,
                    fail,
                });
            }
        }
        moves.push(out);
    }
    Ok((states, moves, terminal))
}

/// States from which some policy wins with probability 1: the greatest set
/// where every state is terminal or has a move whose outcomes all stay in the
/// set and that can reach a terminal state within it.
fn can_win(moves: &[Vec<Move>], terminal: &[bool]) -> Vec<bool> {
    let n = moves.len();
    let mut alive = vec![true; n];
    loop {
        // Within `alive`, states that reach a terminal state through moves
        // whose every outcome stays alive.
        let mut reach: Vec<bool> = terminal.to_vec();
        loop {
            let mut grew = false;
            // Nearer the goal were found later: go backwards.
            for s in (0..n).rev() {
                if reach[s] || !alive[s] {
                    continue;
                }
                let ok = moves[s].iter().any(|m| {
                    let safe = alive[m.success as usize] && m.fail.is_none_or(|t| alive[t as usize]);
                    safe && (reach[m.success as usize] || m.fail.is_some_and(|t| reach[t as usize]))
                });
                if ok {
                    reach[s] = true;
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        if reach == alive {
            return alive;
        }
        alive = reach;
    }
}
