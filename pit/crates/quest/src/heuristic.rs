//! Delete-relaxation heuristics: costs to reach kinds when nothing is ever
//! consumed and warm-ups are free.

use crate::Problem;

/// Cheapest relaxed cost of every kind from `held`, combining a function's
/// needs by `max` (h_max) or by sum (h_add).
fn relaxed_costs(p: &Problem, held: u64, add: bool) -> [f64; 64] {
    let mut cost = [f64::INFINITY; 64];
    for (i, c) in cost.iter_mut().enumerate() {
        if held >> i & 1 == 1 {
            *c = 0.0;
        }
    }
    loop {
        let mut changed = false;
        for f in 0..p.len() {
            let mut needs = p.needs[f];
            let mut c: f64 = 0.0;
            while needs != 0 {
                let i = needs.trailing_zeros() as usize;
                needs &= needs - 1;
                c = if add { c + cost[i] } else { c.max(cost[i]) };
                if c == f64::INFINITY {
                    break;
                }
            }
            if c == f64::INFINITY {
                continue;
            }
            let c = c + p.cost[f];
            let mut out = p.produces[f];
            while out != 0 {
                let i = out.trailing_zeros() as usize;
                out &= out - 1;
                if c < cost[i] {
                    cost[i] = c;
                    changed = true;
                }
            }
        }
        if !changed {
            return cost;
        }
    }
}

fn over_missing(p: &Problem, held: u64, add: bool) -> f64 {
    let mut missing = p.essential & !held;
    if missing == 0 {
        return 0.0;
    }
    let cost = relaxed_costs(p, held, add);
    let mut h: f64 = 0.0;
    while missing != 0 {
        let i = missing.trailing_zeros() as usize;
        missing &= missing - 1;
        h = if add { h + cost[i] } else { h.max(cost[i]) };
    }
    h
}

/// The dearest missing essential kind's relaxed cost: admissible.
pub fn h_max(p: &Problem, held: u64) -> f64 {
    over_missing(p, held, false)
}

/// A lower bound on the rest of the objective (cost − bonus, shifted by the
/// sum of the extras' rewards so that it never goes below zero) from `held`:
/// the win costs at least `h_max`, and each extra not held is either made
/// (at least its own relaxed cost, beside the win's) or forgone (its reward).
/// Admissible; without the extras' term, A* on a level with a large reward
/// expands every state whose cost is within that reward of the optimum.
pub fn h_objective(p: &Problem, held: u64) -> f64 {
    objective_bound(p, held, false)
}

/// [`h_objective`] on h_add costs (needs and missing kinds summed): not
/// admissible, but it falls as each independent part of a goal is made,
/// where h_max stays flat; what a search that must answer fast follows.
pub fn h_objective_add(p: &Problem, held: u64) -> f64 {
    objective_bound(p, held, true)
}

fn objective_bound(p: &Problem, held: u64, add: bool) -> f64 {
    let missing = p.essential & !held;
    let lost = p.extras.iter().any(|&(bit, _)| held & bit != bit);
    if missing == 0 && !lost {
        return 0.0;
    }
    let cost = relaxed_costs(p, held, add);
    let mut win: f64 = 0.0;
    let mut m = missing;
    while m != 0 {
        let i = m.trailing_zeros() as usize;
        m &= m - 1;
        win = if add { win + cost[i] } else { win.max(cost[i]) };
    }
    let mut h = win;
    for &(bit, reward) in &p.extras {
        if held & bit == bit || bit == 0 {
            continue;
        }
        let made = cost[bit.trailing_zeros() as usize].max(win);
        h = h.max(made.min(reward));
    }
    h
}

/// The sum of the missing essential kinds' relaxed costs, needs summed too:
/// informative, not admissible (what the relaxed-plan greedy follows).
pub fn h_add(p: &Problem, held: u64) -> f64 {
    over_missing(p, held, true)
}
