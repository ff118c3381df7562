//! One Function Quest episode's rules: which calls are legal, what a call
//! costs, what it changes, and whether it fails. Which functions are warm is
//! the caller's to say (the binding asks the Pit's pool), and so is the
//! record of calls (the binding writes the Pit's DAG tracker), so this core
//! stays plain data.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::Problem;

/// No call has made this kind (it was held from the start).
const NOBODY: u32 = u32::MAX;

/// What one call did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Call {
    /// Its needs were not held, its price did not fit the budget left, or the
    /// index names no function: nothing changed.
    Illegal,
    /// Paid for; the kinds held stay as they were.
    Failed { cost: f64 },
    /// Paid for; consumed kinds are gone and produced kinds are held.
    Done { cost: f64 },
}

impl Call {
    pub fn cost(self) -> f64 {
        match self {
            Call::Illegal => 0.0,
            Call::Failed { cost } | Call::Done { cost } => cost,
        }
    }
}

/// A problem with failure probabilities, and the state of one episode on it.
#[derive(Debug, Clone)]
pub struct Episode {
    problem: Problem,
    failure: Vec<f64>,
    held: u64,
    spent: f64,
    calls: Vec<u32>,
    failures: u32,
    /// Per kind, the call (by number) that last produced it.
    made_by: [u32; 64],
    rng: Xoshiro256PlusPlus,
    /// Whether a call that would change nothing is allowed (see `is_idle`).
    allow_idle: bool,
}

impl Episode {
    /// Refuses a malformed problem or failure list, naming what is wrong.
    pub fn new(problem: Problem, failure: Vec<f64>) -> Result<Self, String> {
        problem.check()?;
        if failure.len() != problem.len() {
            return Err(format!(
                "failure has {} entries for {} functions",
                failure.len(),
                problem.len()
            ));
        }
        if let Some(i) = failure.iter().position(|p| !(0.0..=1.0).contains(p)) {
            return Err(format!("function {i}: failure must be in [0, 1], got {}", failure[i]));
        }
        let mut e = Episode {
            held: problem.start,
            problem,
            failure,
            spent: 0.0,
            calls: Vec::new(),
            failures: 0,
            made_by: [NOBODY; 64],
            rng: Xoshiro256PlusPlus::seed_from_u64(0),
            allow_idle: true,
        };
        e.reset(0);
        Ok(e)
    }

    /// Back to the start; `seed` draws the failures from here on.
    pub fn reset(&mut self, seed: u64) {
        self.held = self.problem.start;
        self.spent = 0.0;
        self.calls.clear();
        self.failures = 0;
        self.made_by = [NOBODY; 64];
        self.rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    }

    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    pub fn held(&self) -> u64 {
        self.held
    }

    pub fn spent(&self) -> f64 {
        self.spent
    }

    pub fn budget_left(&self) -> f64 {
        self.problem.budget - self.spent
    }

    /// Function indices in call order, failed calls included.
    pub fn calls(&self) -> &[u32] {
        &self.calls
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Every essential kind is held.
    pub fn won(&self) -> bool {
        self.problem.essential & !self.held == 0
    }

    /// What calling `f` costs now: its cost, plus its warm-up when cold.
    pub fn price(&self, f: usize, warm: bool) -> f64 {
        self.problem.cost[f] + if warm { 0.0 } else { self.problem.warmup[f] }
    }

    /// Allows or refuses calls that would change nothing (`is_idle`); allowed
    /// by default. Refused, such a call is illegal and never offered, so an
    /// agent cannot repeat one until the budget runs out.
    pub fn set_allow_idle(&mut self, allow: bool) {
        self.allow_idle = allow;
    }

    pub fn allows_idle(&self) -> bool {
        self.allow_idle
    }

    /// Whether calling `f` now would change nothing: it consumes nothing and
    /// everything it produces is held already.
    pub fn is_idle(&self, f: usize) -> bool {
        let p = &self.problem;
        p.consumes[f] == 0 && p.produces[f] & !self.held == 0
    }

    /// Whether `f` may be called: its needs are held, its price fits the
    /// budget left (within rounding, so a plan costing exactly the budget
    /// fits), and, unless idle calls are allowed, it would change something.
    pub fn is_legal(&self, f: usize, warm: u64) -> bool {
        f < self.problem.len()
            && self.problem.needs[f] & !self.held == 0
            && self.spent + self.price(f, warm >> f & 1 == 1) <= self.problem.budget + 1e-9
            && (self.allow_idle || !self.is_idle(f))
    }

    /// The legal calls as bits over functions, `warm` likewise.
    pub fn legal(&self, warm: u64) -> u64 {
        (0..self.problem.len())
            .filter(|&f| self.is_legal(f, warm))
            .fold(0, |m, f| m | 1 << f)
    }

    /// Calls `f` if legal, failing with its failure probability.
    pub fn call(&mut self, f: usize, warm: u64) -> Call {
        if !self.is_legal(f, warm) {
            return Call::Illegal;
        }
        let cost = self.price(f, warm >> f & 1 == 1);
        self.spent += cost;
        let number = self.calls.len() as u32;
        self.calls.push(f as u32);
        // Drawn only when it can matter, so a level without failures draws nothing.
        let p = self.failure[f];
        if p > 0.0 && self.rng.random::<f64>() < p {
            self.failures += 1;
            return Call::Failed { cost };
        }
        let p = &self.problem;
        self.held = (self.held & !p.consumes[f]) | p.produces[f];
        let mut out = p.produces[f];
        while out != 0 {
            self.made_by[out.trailing_zeros() as usize] = number;
            out &= out - 1;
        }
        Call::Done { cost }
    }

    /// The calls (by number) that made the kinds `f` needs, each once, in
    /// kind order; kinds held from the start have none.
    pub fn made_needs(&self, f: usize) -> Vec<u32> {
        let mut needs = self.problem.needs[f];
        let mut out = Vec::new();
        while needs != 0 {
            let by = self.made_by[needs.trailing_zeros() as usize];
            needs &= needs - 1;
            if by != NOBODY && !out.contains(&by) {
                out.push(by);
            }
        }
        out
    }

    /// Per function, its price now plus the h_add cost-to-goal from the
    /// state after it succeeds; infinite where it is not legal.
    pub fn cost_to_go(&self, warm: u64) -> Vec<f64> {
        let p = &self.problem;
        (0..p.len())
            .map(|f| {
                if !self.is_legal(f, warm) {
                    return f64::INFINITY;
                }
                let after = (self.held & !p.consumes[f]) | p.produces[f];
                self.price(f, warm >> f & 1 == 1) + crate::h_add(p, after)
            })
            .collect()
    }
}
