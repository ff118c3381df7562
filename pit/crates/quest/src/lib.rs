//! The Pit's planning core for Function Quest.
//!
//! A problem is a set of functions over at most 64 artifact kinds, each a bit:
//! a function needs `needs ⊆ held`, then `held ← (held − consumes) ∪ produces`
//! at `cost`, plus `warmup` on its first call. A state holding every
//! `essential` kind ends the episode; the reward of the `extras` (non-essential
//! goals) held then is a bonus. [`solve`] finds the plan of least
//! `cost − bonus` within the budget by A* over `(held, warm)` with an
//! admissible delete-relaxation bound ([`h_objective`]: h_max for the win,
//! each missing extra made or forgone). [`expected`] gives
//! the best policy's expected cost when calls can fail. [`Episode`] plays
//! the same rules one call at a time, with failures, for the environment.

mod episode;
mod expected;
mod heuristic;
mod search;

pub use episode::{Call, Episode};
pub use expected::{Expected, ExpectedError, expected};
pub use heuristic::{h_add, h_max, h_objective, h_objective_add};
pub use search::{Guide, Solution, StateLimit, solve, solve_within};

/// A planning problem in bit masks.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub needs: Vec<u64>,
    pub consumes: Vec<u64>,
    pub produces: Vec<u64>,
    pub cost: Vec<f64>,
    pub warmup: Vec<f64>,
    pub essential: u64,
    /// Non-essential goals: (kind bit, reward).
    pub extras: Vec<(u64, f64)>,
    pub start: u64,
    /// Functions warm at the start, by index bit (at most 64 functions).
    pub start_warm: u64,
    pub budget: f64,
}

impl Problem {
    pub fn len(&self) -> usize {
        self.needs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.needs.is_empty()
    }

    /// Refuses a malformed problem, naming what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let n = self.needs.len();
        if [
            self.consumes.len(),
            self.produces.len(),
            self.cost.len(),
            self.warmup.len(),
        ]
        .iter()
        .any(|&m| m != n)
        {
            return Err("needs, consumes, produces, cost and warmup must have one length".into());
        }
        if n > 64 {
            return Err(format!("at most 64 functions can be planned over, got {n}"));
        }
        for (i, (&c, &w)) in self.cost.iter().zip(&self.warmup).enumerate() {
            if !(c.is_finite() && c >= 0.0 && w.is_finite() && w >= 0.0) {
                return Err(format!("function {i}: cost and warmup must be finite and >= 0"));
            }
        }
        if self.budget.is_nan() || self.budget < 0.0 {
            return Err(format!("budget must be >= 0, got {}", self.budget));
        }
        Ok(())
    }

    pub(crate) fn bonus(&self, held: u64) -> f64 {
        self.extras
            .iter()
            .filter(|(bit, _)| held & bit != 0)
            .map(|(_, r)| r)
            .sum()
    }
}
